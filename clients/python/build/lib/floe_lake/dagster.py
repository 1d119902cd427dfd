"""Dagster integration: `FloeResource` for SQL in ops and assets, and
`FloeIOManager`, which stores Polars frames (eager or lazy) as Iceberg
tables through Floe and loads them back by type annotation.

Tables are named from the asset key: the last part is the table, the
namespace comes from the asset's `namespace` metadata, else the key's
prefix, else the IO manager's `namespace`. Output metadata `mode` is
`overwrite` (default) or `append`. A partitioned asset with
`partition_expr` (a column; a dict of columns by dimension for
multi-partitions) replaces exactly its partitions' rows, in one commit.
"""

from __future__ import annotations

import typing
import uuid
from typing import Any, Optional, Union

import dagster as dg
import polars as pl

from .client import Client, WriteResult, connect
from .errors import FloeError
from .pushdown import quote_identifier


class FloeResource(dg.ConfigurableResource):
    """A Floe connection for ad-hoc SQL: `floe.get_client().sql("…")`."""

    uri: str
    token: Optional[str] = None
    namespace: Optional[str] = None
    tls_root_certs: Optional[str] = None

    def get_client(self) -> Client:
        return connect(self.uri, token=self.token, namespace=self.namespace, tls_root_certs=self.tls_root_certs)


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _key_filter(column: str, keys: list[str]) -> str:
    return f"CAST({quote_identifier(column)} AS VARCHAR) IN ({', '.join(_literal(k) for k in keys)})"


def _window_filter(column: str, window: dg.TimeWindow) -> str:
    start, end = (moment.strftime("%Y-%m-%d %H:%M:%S") for moment in (window.start, window.end))
    cast = f"CAST({quote_identifier(column)} AS TIMESTAMP)"
    return f"{cast} >= TIMESTAMP {_literal(start)} AND {cast} < TIMESTAMP {_literal(end)}"


def partition_filter(context: dg.OutputContext | dg.InputContext, partition_expr: Any) -> str | None:
    """SQL selecting the rows of the context's partitions, or None when unpartitioned."""
    if not context.has_asset_partitions or not partition_expr:
        return None
    definition = context.asset_partitions_def
    keys = list(context.asset_partition_keys)
    if isinstance(definition, dg.MultiPartitionsDefinition):
        if not isinstance(partition_expr, dict):
            raise dg.DagsterInvariantViolationError("multi-partitioned assets need partition_expr as {dimension: column}")
        parts = []
        for dimension in definition.partitions_defs:
            values = sorted({definition.get_partition_key_from_str(key).keys_by_dimension[dimension.name] for key in keys})
            parts.append(_key_filter(partition_expr[dimension.name], values))
        return " AND ".join(f"({part})" for part in parts)
    if isinstance(definition, dg.TimeWindowPartitionsDefinition):
        return _window_filter(partition_expr, context.asset_partitions_time_window)
    return _key_filter(partition_expr, keys)


def _is_lazy(annotation: Any) -> bool:
    options = typing.get_args(annotation) if typing.get_origin(annotation) is Union else (annotation,)
    return any(option is pl.LazyFrame for option in options)


def _is_optional(annotation: Any) -> bool:
    return typing.get_origin(annotation) is Union and type(None) in typing.get_args(annotation)


class FloeIOManager(dg.ConfigurableIOManager):
    """Stores `pl.DataFrame` and `pl.LazyFrame` outputs as Iceberg tables
    through Floe; loads inputs as either by annotation (lazy ones through
    `scan()`, so filters and column choices reach the server)."""

    uri: str
    token: Optional[str] = None
    namespace: str = "default"
    tls_root_certs: Optional[str] = None

    def _client(self) -> Client:
        return connect(self.uri, token=self.token, tls_root_certs=self.tls_root_certs)

    def _table(self, asset_key: dg.AssetKey, metadata: dict[str, Any]) -> str:
        namespace = metadata.get("namespace") or (".".join(asset_key.path[:-1]) if len(asset_key.path) > 1 else None)
        return f"{namespace or self.namespace}.{asset_key.path[-1]}"

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame | pl.LazyFrame | None) -> None:
        if obj is None:
            return
        metadata = context.definition_metadata or {}
        table = self._table(context.asset_key, metadata)
        mode = metadata.get("mode", "overwrite")
        if mode not in ("overwrite", "append"):
            raise dg.DagsterInvariantViolationError(f"mode must be overwrite or append, not {mode!r}")
        with self._client() as client:
            where = partition_filter(context, metadata.get("partition_expr"))
            if where is not None and mode == "overwrite":
                result = _overwrite_where(client, obj, table, where)
            else:
                result = client.write(obj, table, mode)
            schema = client.schema(table)
        row_count_key = "dagster/partition_row_count" if context.has_asset_partitions else "dagster/row_count"
        context.add_output_metadata({
            row_count_key: dg.MetadataValue.int(result.rows_written),
            "dagster/table_name": table,
            "dagster/uri": f"{self.uri}/{table}",
            "dagster/column_schema": dg.TableSchema(
                columns=[dg.TableColumn(name, str(dtype)) for name, dtype in schema.items()]),
            "floe/snapshot_id": dg.MetadataValue.text(str(result.snapshot_id)),
            "floe/mode": mode,
        })

    def load_input(self, context: dg.InputContext) -> pl.DataFrame | pl.LazyFrame | None:
        upstream = context.upstream_output
        upstream_metadata = (upstream.definition_metadata if upstream else None) or {}
        table = self._table(context.asset_key, upstream_metadata)
        annotation = context.dagster_type.typing_type
        client = self._client()
        if not client.exists(table):
            if _is_optional(annotation):
                return None
            raise FloeError("NotFound", f"table {table} of asset {context.asset_key.to_user_string()} does not exist")
        frame = client.scan(table, where=partition_filter(context, upstream_metadata.get("partition_expr")))
        columns = (context.definition_metadata or {}).get("columns")
        if columns:
            frame = frame.select(columns)
        return frame if _is_lazy(annotation) else frame.collect()


def _overwrite_where(client: Client, frame: pl.DataFrame | pl.LazyFrame, table: str, where: str) -> WriteResult:
    """Replaces the rows matching `where` with `frame` in one commit on
    `table`: the frame goes to a staging table, then one `INSERT OVERWRITE
    … PARTITION (where)` rewrites only the data files holding those rows
    and adds the new ones."""
    if not client.exists(table):
        return client.write(frame, table, "create")
    namespace = table.rpartition(".")[0]
    stage = f"{namespace}.floe_stage_{uuid.uuid4().hex[:12]}"
    staged = client.write(frame, stage, "create")
    target, source = client._relation(table), client._relation(stage)  # noqa: SLF001 - same package
    columns = ", ".join(quote_identifier(column) for column in client.schema(table))
    try:
        client.execute(f"INSERT OVERWRITE {target} PARTITION ({where}) SELECT {columns} FROM {source}")
    finally:
        client.execute(f"DROP TABLE {source}")
    return WriteResult(table, staged.rows_written, client.current_snapshot(table), "overwrite")
