"""Query Floe with ADBC: pip install adbc-driver-flightsql pyarrow"""

import adbc_driver_flightsql.dbapi as flightsql

URI = "grpc://127.0.0.1:50051"

with flightsql.connect(URI, db_kwargs={"adbc.flight.sql.rpc.with_cookie_middleware": "true"}) as conn:
    with conn.cursor() as cur:
        cur.execute(
            "SELECT species, avg(sepal_length) AS avg_sepal_length FROM default.flowers "
            "GROUP BY species ORDER BY avg_sepal_length DESC"
        )
        print(cur.fetch_arrow_table())

        # Parameters are bound server-side: `?` or `$1`.
        cur.execute("SELECT count(*) AS n FROM default.flowers WHERE sepal_length > ?", (5.8,))
        print(cur.fetch_arrow_table())

    # Catalog browsing, as BI tools do it.
    print(conn.adbc_get_objects(depth="all").read_all().to_pylist())
    print(conn.adbc_get_table_schema("flowers", db_schema_filter="default"))
