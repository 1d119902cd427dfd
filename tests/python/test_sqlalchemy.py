"""SQLAlchemy through the `sqlalchemy-adbc` dialect (what Superset, pandas
and marimo connect with): reflection of schemas, tables, columns and keys,
Core queries with bound parameters, and `pandas.read_sql`."""

import pandas as pd
import sqlalchemy as sa


def engine(server) -> sa.Engine:
    return sa.create_engine(f"adbc+flightsql://{server.address}?tls=false")


def test_reflection(client_servers):
    inspector = sa.inspect(engine(client_servers["plain"]))
    assert {"default", "jdbc", "big"} <= set(inspector.get_schema_names())
    # sqlalchemy-adbc 0.3.0 lists only tables typed `table` (SQLite's and
    # PostgreSQL's spelling); Floe reports JDBC's and ODBC's `TABLE`, so
    # get_table_names() is empty while named tables reflect (README, clients).
    assert inspector.has_table("types", schema="jdbc")
    columns = {column["name"]: column for column in inspector.get_columns("types", schema="jdbc")}
    assert list(columns)[:3] == ["id", "b", "i"]
    # The ADBC Flight SQL driver (1.13) fills GetObjects' nullability,
    # remarks and constraints from nothing a server sends, so columns reflect
    # as nullable, without comments or a primary key (JDBC's getColumns and
    # getPrimaryKeys have them).
    assert isinstance(columns["id"]["type"], sa.BigInteger)
    assert isinstance(columns["s"]["type"], sa.String)
    assert isinstance(columns["dec"]["type"], sa.Numeric)


def test_core_query_with_parameters(client_servers):
    eng = engine(client_servers["plain"])
    flowers = sa.Table("flowers", sa.MetaData(), schema="default", autoload_with=eng)
    query = (sa.select(flowers.c.species, sa.func.count().label("n"))
             .where(flowers.c.sepal_length > sa.bindparam("cut", 5.8))
             .group_by(flowers.c.species).order_by(flowers.c.species))
    with eng.connect() as connection:
        got = connection.execute(query).all()
        literal = connection.execute(sa.text(
            "SELECT species, count(*) AS n FROM default.flowers WHERE sepal_length > 5.8 GROUP BY species ORDER BY species"
        )).all()
    assert [tuple(row) for row in got] == [tuple(row) for row in literal]
    assert len(got) >= 2


def test_pandas_read_sql(client_servers):
    frame = pd.read_sql("SELECT id, i, s, dt FROM jdbc.types ORDER BY id", engine(client_servers["plain"]))
    assert list(frame.columns) == ["id", "i", "s", "dt"]
    assert frame["id"].tolist() == [1, 2]
    assert frame["s"].iloc[0] == "héllo" and pd.isna(frame["s"].iloc[1])
    assert str(frame["dt"].iloc[0])[:10] == "2024-02-29"
