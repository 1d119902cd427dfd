"""A broken table (missing metadata, corrupt data file) fails clearly, naming
the table, with Internal rather than blaming the query; others keep working."""

import pytest
from adbc_driver_manager import AdbcStatusCode, Error as AdbcError
from floe_sql import run




def test_corrupt_data_file_and_missing_metadata(server, conn):
    run(conn, "CREATE SCHEMA IF NOT EXISTS broken")
    for name in ["corrupt", "no_metadata"]:
        run(conn, f"DROP TABLE IF EXISTS broken.{name}")
        run(conn, f"CREATE TABLE broken.{name} AS SELECT * FROM default.flowers")
    table_dir = server.data_dir / "warehouse" / "broken"
    for data_file in (table_dir / "corrupt" / "data").glob("*.parquet"):
        data_file.write_bytes(b"not parquet at all")
    for metadata_file in (table_dir / "no_metadata" / "metadata").glob("*.metadata.json"):
        metadata_file.unlink()

    with pytest.raises(AdbcError) as excinfo:
        run(conn, "SELECT avg(sepal_length) FROM broken.corrupt")
    assert excinfo.value.status_code == AdbcStatusCode.INTERNAL
    assert "broken.corrupt" in str(excinfo.value) and "parquet" in str(excinfo.value).lower()

    with pytest.raises(AdbcError) as excinfo:
        run(conn, "SELECT * FROM broken.no_metadata")
    assert excinfo.value.status_code == AdbcStatusCode.INTERNAL
    assert "broken.no_metadata" in str(excinfo.value)

    assert server.alive()
    assert run(conn, "SELECT count(*) AS n FROM default.flowers").column("n").to_pylist() == [150]
