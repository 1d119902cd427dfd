"""Floe from Python: Polars frames in and out of an Iceberg lake through a
Floe server. `connect()` for SQL, lazy scans, writes and workloads;
`floe_lake.dagster` for Dagster's resource and IO manager."""

from .client import Client, RunResult, WriteResult, connect
from .errors import FloeError

__all__ = ["Client", "FloeError", "RunResult", "WriteResult", "connect"]
