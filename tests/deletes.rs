//! Row-level deletes pyiceberg cannot write, made here with iceberg-rust's
//! spec types the way Spark or Flink would: equality deletes and position
//! deletes in one snapshot (the server applies both), and a format-v3 table
//! with a deletion vector (a clear Unimplemented).

mod common;

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Schema};
use arrow_flight::error::FlightError;
use arrow_flight::sql::client::FlightSqlServiceClient;
use common::Server;
use floe::catalog::{Lake, TableRef};
use futures::TryStreamExt;
use iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, FormatVersion, ManifestList, ManifestListWriter,
    ManifestWriterBuilder, NestedField, Operation, PrimitiveType, Snapshot, Struct, Summary, Type,
};
use iceberg::table::Table;
use iceberg::{NamespaceIdent, TableCreation, TableIdent};
use tonic::transport::Channel;

async fn query(client: &mut FlightSqlServiceClient<Channel>, sql: &str) -> Result<Vec<RecordBatch>, FlightError> {
    let info = client.execute(sql.to_string(), None).await?;
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        batches.extend(client.do_get(endpoint.ticket.expect("ticket")).await?.try_collect::<Vec<_>>().await?);
    }
    Ok(batches)
}

async fn open_lake(server: &Server) -> Lake {
    let dir = server.dir.path();
    let uri = format!("sqlite://{}?mode=rwc", dir.join("catalog.db").display());
    Lake::open_sql("floe", &uri, &dir.join("warehouse").display().to_string()).await.expect("open the server's catalog")
}

fn table_ref(namespace: &str, name: &str) -> TableRef {
    TableRef { catalog: "floe".into(), ident: TableIdent::new(NamespaceIdent::new(namespace.into()), name.into()) }
}

/// A Parquet file whose columns carry Iceberg field ids, as delete files must.
async fn write_parquet(table: &Table, name: &str, batch: RecordBatch) -> (String, u64) {
    let mut bytes = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut bytes, batch.schema(), None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let path = format!("{}/data/{name}", table.metadata().location());
    let size = bytes.len() as u64;
    table.file_io().new_output(&path).unwrap().write(bytes.into()).await.unwrap();
    (path, size)
}

fn with_field_id(name: &str, data_type: DataType, id: i32) -> Field {
    Field::new(name, data_type, false).with_metadata(HashMap::from([("PARQUET:field_id".to_string(), id.to_string())]))
}

/// A snapshot adding `delete_files` on top of the current one.
async fn commit_deletes(lake: &Lake, table_ref: &TableRef, table: &Table, delete_files: Vec<DataFile>) {
    let metadata = table.metadata();
    let current = metadata.current_snapshot().expect("a snapshot with data");
    let snapshot_id = current.snapshot_id() + 1;
    let sequence_number = metadata.next_sequence_number();
    let file_io = table.file_io();
    let schema = metadata.current_schema().clone();
    let spec = metadata.default_partition_spec().as_ref().clone();

    let manifest_path = format!("{}/metadata/deletes-{snapshot_id}.avro", metadata.location());
    let writer = ManifestWriterBuilder::new(file_io.new_output(&manifest_path).unwrap(), Some(snapshot_id), schema.clone(), spec);
    let mut writer = match metadata.format_version() {
        FormatVersion::V3 => writer.build_v3_deletes(),
        _ => writer.build_v2_deletes(),
    };
    for file in delete_files {
        writer.add_file(file, sequence_number).unwrap();
    }
    let deletes_manifest = writer.write_manifest_file().await.unwrap();

    let bytes = file_io.new_input(current.manifest_list()).unwrap().read().await.unwrap();
    let existing = ManifestList::parse_with_version(&bytes, metadata.format_version()).unwrap();
    let list_path = format!("{}/metadata/snap-{snapshot_id}-deletes.avro", metadata.location());
    let output = file_io.new_output(&list_path).unwrap().writer().await.unwrap();
    let mut list = match metadata.format_version() {
        FormatVersion::V3 => ManifestListWriter::v3(output, snapshot_id, Some(current.snapshot_id()), sequence_number, Some(metadata.next_row_id())),
        _ => ManifestListWriter::v2(output, snapshot_id, Some(current.snapshot_id()), sequence_number),
    };
    list.add_manifests(existing.entries().iter().cloned().chain([deletes_manifest])).unwrap();
    list.close().await.unwrap();

    let builder = Snapshot::builder()
        .with_snapshot_id(snapshot_id)
        .with_parent_snapshot_id(Some(current.snapshot_id()))
        .with_sequence_number(sequence_number)
        .with_timestamp_ms(current.timestamp_ms() + 1)
        .with_manifest_list(list_path)
        .with_summary(Summary { operation: Operation::Delete, additional_properties: HashMap::new() })
        .with_schema_id(schema.schema_id());
    let snapshot = match metadata.format_version() {
        FormatVersion::V3 => builder.with_row_range(metadata.next_row_id(), 0).build(),
        _ => builder.build(),
    };
    assert!(lake.publish_snapshot(table_ref, table, snapshot).await.unwrap(), "no concurrent commit here");
}

#[tokio::test(flavor = "multi_thread")]
async fn equality_and_position_deletes_are_applied() {
    let server = Server::start(&[]);
    let mut client = server.client().await;
    query(&mut client, "CREATE SCHEMA deletes").await.unwrap();
    query(&mut client, "CREATE TABLE deletes.flowers AS SELECT * FROM default.flowers").await.unwrap();
    let before = query(&mut client, "SELECT sepal_length, species FROM deletes.flowers").await.unwrap();
    let before: Vec<(f64, String)> = before
        .iter()
        .flat_map(|b| {
            let lengths = b.column(0).as_primitive::<Float64Type>().clone();
            let species = arrow::compute::cast(b.column(1), &DataType::Utf8).unwrap().as_string::<i32>().clone();
            (0..b.num_rows()).map(move |i| (lengths.value(i), species.value(i).to_string()))
        })
        .collect();
    assert_eq!(before.len(), 150);

    let lake = open_lake(&server).await;
    let flowers = table_ref("deletes", "flowers");
    let table = lake.load(&flowers).await.unwrap();
    let tasks: Vec<_> = table.scan().build().unwrap().plan_files().await.unwrap().try_collect().await.unwrap();
    assert_eq!(tasks.len(), 1, "one data file, so positions are rows in the order read");
    let data_file = tasks[0].data_file_path.clone();
    let species_id = table.metadata().current_schema().field_by_name("species").unwrap().id;

    // Equality delete: every row whose species is 'setosa'.
    let schema = Arc::new(Schema::new(vec![with_field_id("species", DataType::Utf8, species_id)]));
    let batch = RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec!["setosa"]))]).unwrap();
    let (path, size) = write_parquet(&table, "eq-deletes.parquet", batch).await;
    let equality = DataFileBuilder::default()
        .content(DataContentType::EqualityDeletes)
        .file_path(path)
        .file_format(DataFileFormat::Parquet)
        .partition(Struct::empty())
        .record_count(1)
        .file_size_in_bytes(size)
        .equality_ids(Some(vec![species_id]))
        .partition_spec_id(0)
        .build()
        .unwrap();
    // Position deletes: rows 60..70 of the data file (versicolor), and row 0 (setosa, deleted twice).
    let positions: Vec<i64> = std::iter::once(0).chain(60..70).collect();
    let schema = Arc::new(Schema::new(vec![
        with_field_id("file_path", DataType::Utf8, 2147483546),
        with_field_id("pos", DataType::Int64, 2147483545),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![Arc::new(StringArray::from(vec![data_file.as_str(); positions.len()])), Arc::new(Int64Array::from(positions.clone()))],
    )
    .unwrap();
    let (path, size) = write_parquet(&table, "pos-deletes.parquet", batch).await;
    let position = DataFileBuilder::default()
        .content(DataContentType::PositionDeletes)
        .file_path(path)
        .file_format(DataFileFormat::Parquet)
        .partition(Struct::empty())
        .record_count(positions.len() as u64)
        .file_size_in_bytes(size)
        .partition_spec_id(0)
        .build()
        .unwrap();
    commit_deletes(&lake, &flowers, &table, vec![equality, position]).await;

    let expected: Vec<&(f64, String)> = before
        .iter()
        .enumerate()
        .filter(|(i, (_, species))| species != "setosa" && !positions.contains(&(*i as i64)))
        .map(|(_, row)| row)
        .collect();
    let got = query(&mut client, "SELECT count(*) AS n, sum(sepal_length) AS s FROM deletes.flowers").await.unwrap();
    let count = got[0].column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0);
    let sum = got[0].column(1).as_primitive::<Float64Type>().value(0);
    assert_eq!(count as usize, expected.len());
    assert_eq!(expected.len(), 90);
    assert!((sum - expected.iter().map(|(length, _)| length).sum::<f64>()).abs() < 1e-9);
    let plan = query(&mut client, "EXPLAIN SELECT * FROM deletes.flowers").await.unwrap();
    let plan: Vec<String> = plan.iter().flat_map(|b| b.column(0).as_string::<i32>().iter().flatten().map(str::to_string).collect::<Vec<_>>()).collect();
    assert!(plan.iter().any(|line| line.contains("read by iceberg-rust's reader (delete files)")), "{plan:?}");
    // The snapshot before the deletes still reads all rows, through Polars' reader.
    let history = query(&mut client, "SELECT snapshot_id FROM deletes.\"flowers$snapshots\" ORDER BY committed_at").await.unwrap();
    let first = history[0].column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0);
    let old = query(&mut client, &format!("SELECT count(*) AS n FROM deletes.flowers FOR VERSION AS OF {first}")).await.unwrap();
    assert_eq!(old[0].column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0), 150);
}

#[tokio::test(flavor = "multi_thread")]
async fn deletion_vectors_answer_unimplemented_and_name_the_table() {
    let server = Server::start(&[]);
    let mut client = server.client().await;
    let lake = open_lake(&server).await;
    let catalog = lake.catalog("floe").unwrap();
    let namespace = NamespaceIdent::new("v3".into());
    catalog.create_namespace(&namespace, HashMap::new()).await.unwrap();
    let schema = iceberg::spec::Schema::builder()
        .with_fields(vec![Arc::new(NestedField::optional(1, "x", Type::Primitive(PrimitiveType::Double)))])
        .build()
        .unwrap();
    let creation = TableCreation::builder().name("dv".into()).schema(schema).format_version(FormatVersion::V3).build();
    catalog.create_table(&namespace, creation).await.unwrap();
    query(&mut client, "INSERT INTO v3.dv SELECT sepal_length AS x FROM default.flowers").await.unwrap();
    let count = query(&mut client, "SELECT count(*) AS n FROM v3.dv").await.unwrap();
    assert_eq!(count[0].column(0).as_primitive::<arrow::datatypes::Int64Type>().value(0), 150);

    let dv_table = table_ref("v3", "dv");
    let table = lake.load(&dv_table).await.unwrap();
    let tasks: Vec<_> = table.scan().build().unwrap().plan_files().await.unwrap().try_collect().await.unwrap();
    // A deletion vector: a Puffin blob of deleted positions for one data file.
    let (path, size) = write_parquet(&table, "unused.parquet", RecordBatch::try_new(
        Arc::new(Schema::new(vec![Field::new("x", DataType::Float64, false)])),
        vec![Arc::new(Float64Array::from(vec![0.0]))],
    ).unwrap()).await;
    let puffin = path.replace("unused.parquet", "dv.puffin");
    table.file_io().new_output(&puffin).unwrap().write(b"PFA1".to_vec().into()).await.unwrap();
    let vector = DataFileBuilder::default()
        .content(DataContentType::PositionDeletes)
        .file_path(puffin)
        .file_format(DataFileFormat::Puffin)
        .partition(Struct::empty())
        .record_count(1)
        .file_size_in_bytes(size)
        .referenced_data_file(Some(tasks[0].data_file_path.clone()))
        .content_offset(Some(4))
        .content_size_in_bytes(Some(1))
        .partition_spec_id(0)
        .build()
        .unwrap();
    commit_deletes(&lake, &dv_table, &table, vec![vector]).await;

    let err = query(&mut client, "SELECT count(*) FROM v3.dv").await.unwrap_err();
    let FlightError::Tonic(status) = err else { panic!("expected a status, got {err:?}") };
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
    assert!(status.message().contains("v3.dv") && status.message().contains("deletion vectors"), "{}", status.message());
    // Row-level changes need the rows the vectors delete: refused the same way, nothing committed.
    let before = lake.load(&dv_table).await.unwrap().metadata().current_snapshot_id();
    for change in ["DELETE FROM v3.dv WHERE x > 5", "UPDATE v3.dv SET x = 0 WHERE x > 5"] {
        let err = query(&mut client, change).await.unwrap_err();
        let FlightError::Tonic(status) = err else { panic!("expected a status, got {err:?}") };
        assert_eq!(status.code(), tonic::Code::Unimplemented, "{change}: {status:?}");
        assert!(status.message().contains("deletion vectors"), "{change}: {}", status.message());
    }
    assert_eq!(lake.load(&dv_table).await.unwrap().metadata().current_snapshot_id(), before);
    // Other tables keep working.
    assert_eq!(query(&mut client, "SELECT count(*) AS n FROM default.flowers").await.unwrap()[0].num_rows(), 1);
}
