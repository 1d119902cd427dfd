//! Streams Arrow batches into Parquet data files for a table: Iceberg field
//! ids and column statistics included, rolled at the table's target file size.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use futures::StreamExt;
use iceberg::spec::{DataFile, DataFileFormat};
use iceberg::table::Table;
use iceberg::writer::base_writer::data_file_writer::DataFileWriterBuilder;
use iceberg::writer::file_writer::location_generator::{DefaultFileNameGenerator, DefaultLocationGenerator};
use iceberg::writer::file_writer::rolling_writer::RollingFileWriterBuilder;
use iceberg::writer::file_writer::ParquetWriterBuilder;
use iceberg::arrow::RecordBatchPartitionSplitter;
use iceberg::writer::partitioning::fanout_writer::FanoutWriter;
use iceberg::writer::partitioning::PartitioningWriter;
use iceberg::writer::{IcebergWriter, IcebergWriterBuilder};
use super::{encoding, schema, BatchStream, Error, Result};

pub struct Written {
    pub files: Vec<DataFile>,
    pub rows: u64,
}

/// Receiving and aligning batches runs on its own task, overlapping with
/// Parquet encoding, so a bulk load keeps two cores busy. Yields non-empty
/// batches already in the table's schema.
fn aligned_in_background(
    mut batches: BatchStream,
    schema: arrow::datatypes::SchemaRef,
) -> tokio::sync::mpsc::Receiver<Result<RecordBatch>> {
    let (sender, receiver) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Some(batch) = batches.next().await {
            let aligned = match batch {
                Ok(batch) if batch.num_rows() == 0 => continue,
                Ok(batch) => schema::align(&batch, &schema),
                Err(err) => Err(err.into()),
            };
            let failed = aligned.is_err();
            if sender.send(aligned).await.is_err() || failed {
                break;
            }
        }
    });
    receiver
}

/// Aligned batches with the first taken out early, so the writer's settings
/// can be chosen from it.
struct Batches {
    first: Option<Result<RecordBatch>>,
    rest: tokio::sync::mpsc::Receiver<Result<RecordBatch>>,
}

impl Batches {
    async fn start(mut rest: tokio::sync::mpsc::Receiver<Result<RecordBatch>>) -> Self {
        Batches { first: rest.recv().await, rest }
    }

    fn first(&self) -> Option<&RecordBatch> {
        self.first.as_ref().and_then(|first| first.as_ref().ok())
    }

    async fn recv(&mut self) -> Option<Result<RecordBatch>> {
        match self.first.take() {
            Some(first) => Some(first),
            None => self.rest.recv().await,
        }
    }
}

/// Rows per Parquet row group unless the table sets `write.parquet.row-group-limit`
/// (pyiceberg's property). Readers decode a row group at a time, so its size is
/// the unit of a streaming scan's memory and of min/max pruning: at the Parquet
/// crate's million rows, Polars held ~250 MB per `lineitem` row group in flight.
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// The table property that overrides [`ROW_GROUP_ROWS`].
pub(super) const ROW_GROUP_LIMIT: &str = "write.parquet.row-group-limit";

fn row_group_rows(table: &Table) -> usize {
    table.metadata().properties().get(ROW_GROUP_LIMIT).and_then(|limit| row_group_limit(limit)).unwrap_or(ROW_GROUP_ROWS)
}

/// The rows per row group a `write.parquet.row-group-limit` value asks
/// for; None unless a positive number.
pub(super) fn row_group_limit(value: &str) -> Option<usize> {
    value.parse::<usize>().ok().filter(|rows| *rows > 0)
}

/// Parquet encoding, the bulk of a load's CPU, runs in up to this many
/// writers at once (one file each), taking turns a row group at a time.
fn max_lanes() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4)
}

/// Writers of one unpartitioned write, each on its own task, taking turns of
/// `turn_rows` rows. A write of fewer rows than a turn uses one and makes one file.
struct Lanes<'a, B: IcebergWriterBuilder> {
    builder: &'a B,
    table: &'a Table,
    turn_rows: usize,
    /// How many writers at most.
    width: usize,
}

type Lane = (tokio::sync::mpsc::Sender<RecordBatch>, tokio::task::JoinHandle<Result<Vec<DataFile>>>);

impl<B: IcebergWriterBuilder> Lanes<'_, B>
where
    B::R: Send + 'static,
{
    /// The files written and the rows they hold.
    async fn run(self, batches: &mut Batches) -> Result<(Vec<DataFile>, u64)> {
        let mut lanes: Vec<Lane> = Vec::new();
        let mut rows = 0u64;
        let (mut current, mut in_turn) = (0usize, 0usize);
        let mut failure = None;
        while let Some(batch) = batches.recv().await {
            let batch = match batch {
                Ok(batch) => batch,
                Err(err) => {
                    failure = Some(err);
                    break;
                }
            };
            rows += batch.num_rows() as u64;
            if in_turn >= self.turn_rows {
                (current, in_turn) = ((current + 1) % self.width, 0);
            }
            if current == lanes.len() {
                lanes.push(self.open().await?);
            }
            in_turn += batch.num_rows();
            if lanes[current].0.send(batch).await.is_err() {
                break; // that writer failed: its error is collected below
            }
        }
        let mut files = Vec::new();
        for (sender, task) in lanes {
            drop(sender);
            match task.await {
                Ok(Ok(written)) => files.extend(written),
                Ok(Err(err)) => failure = failure.or(Some(err)),
                Err(join) => {
                    let stopped = iceberg::Error::new(iceberg::ErrorKind::Unexpected, format!("a Parquet writer stopped: {join}"));
                    failure = failure.or(Some(Error::iceberg(self.table, stopped)));
                }
            }
        }
        failure.map_or(Ok((files, rows)), Err)
    }

    async fn open(&self) -> Result<Lane> {
        let table = self.table.clone();
        let mut writer = self.builder.build(None).await.map_err(|e| Error::iceberg(&table, e))?;
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<RecordBatch>(2);
        let task = tokio::spawn(async move {
            while let Some(batch) = receiver.recv().await {
                writer.write(batch).await.map_err(|e| Error::iceberg(&table, e))?;
            }
            writer.close().await.map_err(|e| Error::iceberg(&table, e))
        });
        Ok((sender, task))
    }
}

/// Writes `batches` as data files of `table`, split by its partition spec.
pub async fn write_data_files(table: &Table, batches: BatchStream) -> Result<Written> {
    write_data_files_sized(table, batches, iceberg::spec::TableProperties::PROPERTY_WRITE_TARGET_FILE_SIZE_BYTES_DEFAULT).await
}

/// As [`write_data_files`], rolling to a new file at `target_file_size` bytes.
pub async fn write_data_files_sized(table: &Table, batches: BatchStream, target_file_size: usize) -> Result<Written> {
    let iceberg_err = |e| Error::iceberg(table, e);
    let table_schema = table.metadata().current_schema().clone();
    let arrow_schema = Arc::new(iceberg::arrow::schema_to_arrow_schema(&table_schema).map_err(iceberg_err)?);
    let row_group = row_group_rows(table);
    let codec = encoding::codec(table.metadata().properties())
        .map_err(|message| Error::Property(format!("writing `{}`: {message}", table.identifier())))?;
    let mut batches = Batches::start(aligned_in_background(batches, arrow_schema)).await;
    let properties = encoding::writer_properties(batches.first(), row_group, codec);
    let rolling = RollingFileWriterBuilder::new(
        ParquetWriterBuilder::new(properties, table_schema.clone()),
        target_file_size,
        table.file_io().clone(),
        DefaultLocationGenerator::new(table.metadata()).map_err(iceberg_err)?,
        DefaultFileNameGenerator::new(format!("floe-{}", uuid::Uuid::new_v4()), None, DataFileFormat::Parquet),
    );
    let data_files = DataFileWriterBuilder::new(rolling);
    let spec = table.metadata().default_partition_spec().clone();
    let (files, rows) = if spec.is_unpartitioned() {
        let lanes = Lanes { builder: &data_files, table, turn_rows: row_group, width: max_lanes() };
        lanes.run(&mut batches).await?
    } else {
        let splitter =
            RecordBatchPartitionSplitter::try_new_with_computed_values(table_schema, spec).map_err(iceberg_err)?;
        // One open file per partition seen: rows need not arrive sorted.
        let mut writer = FanoutWriter::new(data_files);
        let mut rows = 0u64;
        while let Some(batch) = batches.recv().await {
            let batch = batch?;
            rows += batch.num_rows() as u64;
            for (key, part) in splitter.split(&batch).map_err(iceberg_err)? {
                writer.write(key, part).await.map_err(iceberg_err)?;
            }
        }
        (writer.close().await.map_err(iceberg_err)?, rows)
    };
    Ok(Written { files, rows })
}
