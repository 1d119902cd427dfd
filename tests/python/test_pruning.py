"""Filters prune Iceberg manifests and files (EXPLAIN shows it) without ever
changing an answer: every filter shape is checked against the unpruned truth."""

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from floe_sql import run




@pytest.fixture(scope="module")
def parted(server):
    import adbc_driver_flightsql.dbapi as flightsql

    with flightsql.connect(server.uri, autocommit=True) as conn:
        run(conn, "CREATE SCHEMA IF NOT EXISTS prune")
        run(conn, "DROP TABLE IF EXISTS prune.flowers")
        run(conn, "CREATE TABLE prune.flowers (id BIGINT, species VARCHAR, width DOUBLE, day DATE) "
                  "PARTITIONED BY (species)")
        run(conn, "INSERT INTO prune.flowers SELECT 1 AS id, species, sepal_width AS width, "
                  "CAST('2024-01-01' AS DATE) AS day FROM default.flowers")
        truth = run(conn, "SELECT * FROM prune.flowers")
    return truth


def explain(conn, sql) -> str:
    return "\n".join(run(conn, f"EXPLAIN {sql}").column("plan").to_pylist())


@pytest.mark.parametrize("where, expected", [
    ("species = 'setosa'", lambda t: pc.equal(t["species"], "setosa")),
    ("species <> 'setosa'", lambda t: pc.not_equal(t["species"], "setosa")),
    ("'setosa' = species", lambda t: pc.equal(t["species"], "setosa")),
    ("species IN ('setosa', 'virginica')", lambda t: pc.is_in(t["species"], pa.array(["setosa", "virginica"]))),
    ("species LIKE 'vers%'", lambda t: pc.starts_with(t["species"], "vers")),
    ("width BETWEEN 3.0 AND 3.5", lambda t: pc.and_(pc.greater_equal(t["width"], 3.0), pc.less_equal(t["width"], 3.5))),
    ("width > 100", lambda t: pc.greater(t["width"], 100.0)),
    ("width > 3", lambda t: pc.greater(t["width"], 3.0)),
    ("3 < width", lambda t: pc.greater(t["width"], 3.0)),
    ("'virginica' <> species", lambda t: pc.not_equal(t["species"], "virginica")),
    ("species IS NULL", lambda t: pc.is_null(t["species"])),
    ("species = 'setosa' OR width > 4", lambda t: pc.or_(pc.equal(t["species"], "setosa"), pc.greater(t["width"], 4.0))),
    ("day = DATE '2024-01-01' AND species = 'virginica'",
     lambda t: pc.equal(t["species"], "virginica")),
])
def test_pruned_answers_equal_the_truth(conn, parted, where, expected):
    got = run(conn, f"SELECT count(*) AS n FROM prune.flowers WHERE {where}").column("n").to_pylist()[0]
    assert got == (pc.sum(pc.cast(expected(parted), pa.int64())).as_py() or 0)


def test_explain_shows_files_selected_of_total(conn, parted):
    assert "3 of 3 data files selected" in explain(conn, "SELECT * FROM prune.flowers")
    assert "1 of 3 data files selected" in explain(conn, "SELECT * FROM prune.flowers WHERE species = 'setosa'")
    assert "0 of 3 data files selected" in explain(conn, "SELECT * FROM prune.flowers WHERE width > 100")
    plan = explain(conn, "SELECT f.species FROM prune.flowers AS f WHERE f.species LIKE 'virg%'")
    assert "1 of 3 data files selected" in plan
    assert "snapshot " in plan
