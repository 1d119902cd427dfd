//! The server through arrow-rs' Flight SQL client and through the `floe` CLI.

mod common;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::{CommandGetDbSchemas, CommandGetPrimaryKeys, CommandGetTables};
use arrow_flight::{FlightInfo, Ticket};
use common::Server;
use futures::TryStreamExt;
use std::sync::Arc;
use tonic::transport::Channel;
use tonic::Code;

async fn fetch(client: &mut FlightSqlServiceClient<Channel>, info: FlightInfo) -> Result<Vec<RecordBatch>, FlightError> {
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let stream = client.do_get(endpoint.ticket.expect("ticket")).await?;
        batches.extend(stream.try_collect::<Vec<_>>().await?);
    }
    Ok(batches)
}

async fn query(client: &mut FlightSqlServiceClient<Channel>, sql: &str) -> Result<Vec<RecordBatch>, FlightError> {
    let info = client.execute(sql.to_string(), None).await?;
    fetch(client, info).await
}

fn code(err: FlightError) -> Code {
    match err {
        FlightError::Tonic(status) => status.code(),
        other => panic!("expected a gRPC status, got {other:?}"),
    }
}

fn single_i64(batches: &[RecordBatch]) -> i64 {
    batches[0].column(0).as_primitive::<Int64Type>().value(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn statement_query_prepared_statement_and_metadata() {
    let server = Server::start(&[]);
    let mut client = server.client().await;

    let batches = query(&mut client, "SELECT count(*) AS n FROM floe.default.flowers").await.unwrap();
    assert_eq!(single_i64(&batches), 150);

    // Prepared statement: `?` bound through DoPut gives the literal query's answer.
    let literal = single_i64(&query(&mut client, "SELECT count(*) AS n FROM default.flowers WHERE petal_length > 4.5").await.unwrap());
    let mut prepared = client.prepare("SELECT count(*) AS n FROM default.flowers WHERE petal_length > ?".into(), None).await.unwrap();
    assert_eq!(prepared.parameter_schema().unwrap().fields().len(), 1);
    let params = RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("p", DataType::Float64, false)])),
        vec![Arc::new(arrow::array::Float64Array::from(vec![4.5]))],
    )
    .unwrap();
    prepared.set_parameters(params).unwrap();
    let info = prepared.execute().await.unwrap();
    assert_eq!(single_i64(&fetch(&mut client, info).await.unwrap()), literal);
    prepared.close().await.unwrap();

    // Nested metadata: schemas and tables with their Arrow schema.
    let info = client.get_db_schemas(CommandGetDbSchemas { catalog: None, db_schema_filter_pattern: Some("def%".into()) }).await.unwrap();
    let schemas = fetch(&mut client, info).await.unwrap();
    assert_eq!(schemas[0].column(1).as_string::<i32>().value(0), "default");
    let request = CommandGetTables { include_schema: true, table_name_filter_pattern: Some("flowers".into()), ..Default::default() };
    let info = client.get_tables(request).await.unwrap();
    let tables = fetch(&mut client, info).await.unwrap();
    assert_eq!(tables[0].num_rows(), 1);
    let schema_bytes = tables[0].column(4).as_binary::<i32>().value(0);
    let schema = arrow::ipc::convert::try_schema_from_ipc_buffer(schema_bytes).unwrap();
    assert_eq!(schema.fields().len(), 5);

    let info = client
        .get_primary_keys(CommandGetPrimaryKeys { catalog: None, db_schema: Some("default".into()), table: "flowers".into() })
        .await
        .unwrap();
    let keys = fetch(&mut client, info).await.unwrap();
    assert_eq!(keys.iter().map(RecordBatch::num_rows).sum::<usize>(), 0, "flowers has no identifier fields");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_the_right_code_and_the_server_survives() {
    let mut server = Server::start(&[]);
    let mut client = server.client().await;
    for (sql, expected) in [
        ("SELEC * FROM default.flowers", Code::InvalidArgument),
        ("SELECT * FROM default.flowers WHERE", Code::InvalidArgument),
        ("SELECT * FROM default.missing", Code::NotFound),
        ("SELECT nope FROM default.flowers", Code::InvalidArgument),
        ("SELECT * FROM read_csv('/etc/passwd')", Code::InvalidArgument),
        ("ALTER TABLE default.flowers ADD COLUMN x INT", Code::Unimplemented),
        ("DELETE FROM default.flowers AS f USING default.flowers AS g WHERE f.species = g.species", Code::Unimplemented),
        ("SELECT * FROM default.flowers WHERE species = ?", Code::InvalidArgument),
    ] {
        let err = query(&mut client, sql).await.expect_err(sql);
        assert_eq!(code(err), expected, "{sql}");
    }
    let err = client.do_get(Ticket::new(b"garbage".to_vec())).await.expect_err("garbage ticket");
    assert_eq!(code(err), Code::InvalidArgument);
    let err = client.execute_update("SELECT 1".into(), None).await.expect_err("select as update");
    assert_eq!(code(err), Code::InvalidArgument);

    assert!(server.is_running(), "{}", server.log());
    assert_eq!(single_i64(&query(&mut client, "SELECT count(*) FROM default.flowers").await.unwrap()), 150);
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_token_is_required_for_every_call() {
    let server = Server::start(&["--token", "t1", "--token", "t2"]);
    let mut client = server.client().await;
    assert_eq!(code(query(&mut client, "SELECT count(*) FROM default.flowers").await.unwrap_err()), Code::Unauthenticated);
    assert_eq!(code(client.get_catalogs().await.unwrap_err()), Code::Unauthenticated);
    client.set_token("t2".into());
    assert_eq!(single_i64(&query(&mut client, "SELECT count(*) FROM default.flowers").await.unwrap()), 150);
}

#[test]
fn cli_prints_results_and_fails_clearly() {
    let server = Server::start(&[]);
    let run = |args: &[&str]| std::process::Command::new(Server::binary()).args(args).output().expect("run floe");

    let out = run(&["sql", "--host", &server.address, "--format", "csv",
        "SELECT species, count(*) AS n FROM default.flowers GROUP BY species ORDER BY species"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "species,n\nsetosa,50\nversicolor,50\nvirginica,50\n");

    let out = run(&["sql", "--host", &server.address, "--format", "json", "SELECT max(sepal_length) AS m FROM default.flowers"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#"[{"m":7.9}]"#), "{}", String::from_utf8_lossy(&out.stdout));

    let request = r#"{"mode": "query", "query": "SELECT count(*) AS n FROM iris", "tables": ["iris=default.flowers"]}"#;
    let out = run(&["run", "--host", &server.address, "--fetch", "--format", "csv", request]);
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && printed.contains(r#""row_count": 1"#) && printed.ends_with("n\n150\n"), "{printed}");
    let request = r#"{"mode": "query", "query": "SELECT * FROM default.flowers WHERE species = 'setosa'", "destination": "cli.saved"}"#;
    let out = run(&["run", "--host", &server.address, request]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(r#""rows_written": 50"#));
    let out = run(&["run", "--host", &server.address, r#"{"mode": "query", "query": "SELECT 1", "oops": true}"#]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("unknown field `oops`"));

    let out = run(&["tables", "--host", &server.address]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains("flowers") && listing.contains("default"), "{listing}");

    let out = run(&["sql", "--host", &server.address, "SELECT * FROM nowhere.none"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("NotFound") && stderr.contains("nowhere.none"), "{stderr}");

    let out = run(&["sql", "--host", "127.0.0.1:1", "SELECT 1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot connect"));
}
