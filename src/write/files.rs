//! Streams Arrow batches into Parquet data files for a table: Iceberg field
//! ids and column statistics included, rolled at the table's target file size.

use std::sync::Arc;

use futures::StreamExt;
use iceberg::spec::{DataFile, DataFileFormat};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, DefaultLocationGenerator};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

use super::{schema, Error, Result};
use crate::exec::BatchStream;

pub struct Written {
    pub files: Vec<DataFile>,
    pub rows: u64,
}

pub async fn write_data_files(table: &Table, mut batches: BatchStream) -> Result<Written> {
    if !table.metadata().default_partition_spec().is_unpartitioned() {
        return Err(Error::Unsupported(format!(
            "writing to partitioned table `{}` is not supported yet",
            table.identifier()
        )));
    }
    let iceberg_err = |e| Error::iceberg(table, e);
    let table_schema = table.metadata().current_schema().clone();
    let arrow_schema = Arc::new(iceberg::arrow::schema_to_arrow_schema(&table_schema).map_err(iceberg_err)?);
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("valid zstd level")))
        .build();
    let rolling = RollingFileWriterBuilder::new_with_default_file_size(
        ParquetWriterBuilder::new(properties, table_schema),
        table.file_io().clone(),
        DefaultLocationGenerator::new(table.metadata()).map_err(iceberg_err)?,
        DefaultFileNameGenerator::new(format!("floe-{}", uuid::Uuid::new_v4()), None, DataFileFormat::Parquet),
    );
    let mut writer = DataFileWriterBuilder::new(rolling).build(None).await.map_err(iceberg_err)?;
    let mut rows = 0u64;
    while let Some(batch) = batches.next().await {
        let batch = batch?;
        if batch.num_rows() == 0 {
            continue;
        }
        let aligned = schema::align(&batch, &arrow_schema)?;
        rows += aligned.num_rows() as u64;
        writer.write(aligned).await.map_err(iceberg_err)?;
    }
    let files = writer.close().await.map_err(iceberg_err)?;
    Ok(Written { files, rows })
}
