//! The demo table `default.flowers`: Fisher's iris data, created on first start
//! so a fresh `floe serve` has something to query.

use std::io::Cursor;
use std::sync::Arc;

use iceberg::spec::{DataFileFormat, NestedField, PrimitiveType, Schema, Type};
use iceberg::transaction::{ApplyTransactionAction, Transaction};
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, DefaultLocationGenerator};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use iceberg::{NamespaceIdent, TableCreation};
use parquet::file::properties::WriterProperties;

use super::{Error, Lake, Result, DEFAULT_SCHEMA};

const IRIS_CSV: &[u8] = include_bytes!("../demo/iris.csv");
const DEMO_TABLE: &str = "flowers";

/// Creates `default.flowers` when the default catalog has no namespaces at all,
/// so a catalog someone already uses is never touched. Returns whether it did.
pub async fn ensure_demo_table(lake: &Lake) -> Result<bool> {
    let catalog_name = lake.default_catalog().to_string();
    let catalog = lake.catalog(&catalog_name)?.clone();
    let iceberg_err = |source| Error::Iceberg { catalog: catalog_name.clone(), source };
    if !catalog.list_namespaces(None).await.map_err(iceberg_err)?.is_empty() {
        return Ok(false);
    }
    let namespace = NamespaceIdent::new(DEFAULT_SCHEMA.to_string());
    catalog.create_namespace(&namespace, Default::default()).await.map_err(iceberg_err)?;
    let creation = TableCreation::builder().name(DEMO_TABLE.to_string()).schema(iris_schema()?).build();
    let table = catalog.create_table(&namespace, creation).await.map_err(iceberg_err)?;

    let arrow_schema = Arc::new(iceberg::arrow::schema_to_arrow_schema(table.metadata().current_schema()).map_err(iceberg_err)?);
    let reader = arrow::csv::ReaderBuilder::new(arrow_schema)
        .with_header(true)
        .build(Cursor::new(IRIS_CSV))
        .map_err(|err| Error::Demo(err.to_string()))?;

    let parquet = ParquetWriterBuilder::new(WriterProperties::default(), table.metadata().current_schema().clone());
    let rolling = RollingFileWriterBuilder::new_with_default_file_size(
        parquet,
        table.file_io().clone(),
        DefaultLocationGenerator::new(table.metadata()).map_err(iceberg_err)?,
        DefaultFileNameGenerator::new("demo".to_string(), None, DataFileFormat::Parquet),
    );
    let mut writer = DataFileWriterBuilder::new(rolling).build(None).await.map_err(iceberg_err)?;
    for batch in reader {
        writer.write(batch.map_err(|err| Error::Demo(err.to_string()))?).await.map_err(iceberg_err)?;
    }
    let data_files = writer.close().await.map_err(iceberg_err)?;

    let tx = Transaction::new(&table);
    let tx = tx.fast_append().add_data_files(data_files).apply(tx).map_err(iceberg_err)?;
    tx.commit(catalog.as_ref()).await.map_err(iceberg_err)?;
    Ok(true)
}

fn iris_schema() -> Result<Schema> {
    let double = |id, name: &str| Arc::new(NestedField::optional(id, name, Type::Primitive(PrimitiveType::Double)));
    Schema::builder()
        .with_fields([
            double(1, "sepal_length"),
            double(2, "sepal_width"),
            double(3, "petal_length"),
            double(4, "petal_width"),
            Arc::new(NestedField::optional(5, "species", Type::Primitive(PrimitiveType::String))),
        ])
        .build()
        .map_err(|err| Error::Demo(err.to_string()))
}
