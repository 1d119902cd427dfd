//! Iceberg snapshot → the data files to read → a Polars LazyFrame.
//!
//! Planning (which files) and reading (a frame over given files) are separate
//! so a coordinator can hand any subset of a scan's files to a worker.

mod predicates;

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};
use ::iceberg::table::Table;
use polars::prelude::*;
use polars::prelude::iceberg::IcebergSchema;

use ::iceberg::scan::FileScanTask;

use super::cloud::{self, RemoteLimits};
use predicates::predicate;
use super::{convert, Error, Result};
use crate::sql::pushdown::Filter;
use crate::sql::RelationName;

/// Where a relation's rows come from.
pub enum Source {
    /// Planning only: the schema matters, no data is read.
    Schema,
    /// Data files Polars' own Parquet reader scans, lazily and in parallel
    /// (with cloud options when they are on object storage).
    /// `mapping` matches file columns by Iceberg field id once the table's
    /// schema has evolved (by name it would miss renamed columns).
    Parquet {
        files: Vec<String>,
        cloud: Option<polars::io::cloud::CloudOptions>,
        mapping: Option<Arc<IcebergSchema>>,
    },
    /// Data files read through the data cache (`--data-cache-mb`).
    Cached(Arc<super::data_cache::CachedFiles>),
    /// Rows iceberg-rust's reader produced, for what Polars' reader cannot
    /// do itself (delete files, `uuid`/`fixed` columns). Held in memory.
    Loaded(DataFrame),
}

/// One relation of a query as Polars will read it.
pub struct FrameInput {
    pub relation: RelationName,
    pub schema: Schema,
    pub source: Source,
    /// Rows in the snapshot read, as its summary counts them (join order).
    pub rows: Option<u64>,
    /// The data cache's files that rows held in memory were taken from
    /// (only the columns the plan reads): what stays true of the rows while
    /// the files do, and a scan of every column (`key_extents.rs`).
    pub decoded_from: Option<Arc<super::data_cache::CachedFiles>>,
}

impl FrameInput {
    pub fn lazy_frame(&self) -> PolarsResult<LazyFrame> {
        let frame = match &self.source {
            Source::Parquet { files, cloud, mapping } if !files.is_empty() => {
                let paths: Vec<PlRefPath> = files.iter().map(|f| PlRefPath::from(f.as_str())).collect();
                // The reader itself casts to the table's types: a cast above
                // the scan would keep filters from being pushed into it
                // (no row-group pruning, every column decoded for every row).
                return scan_as_table(paths, cloud.clone(), mapping.clone(), &self.schema);
            }
            Source::Cached(files) => return files.lazy_frame(),
            Source::Loaded(frame) => frame,
            Source::Schema | Source::Parquet { .. } => return Ok(DataFrame::empty_with_schema(&self.schema).lazy()),
        };
        Ok(as_table(frame, &self.schema))
    }
}

/// Rows converted from Arrow may carry narrower types than the table's.
/// Only those columns are cast: Polars pushes no filter below a cast, so a
/// cast of every column kept each filter above the joins over held rows.
fn as_table(frame: &DataFrame, schema: &Schema) -> LazyFrame {
    let held = frame.schema();
    if held.as_ref() == schema {
        return frame.clone().lazy();
    }
    let columns: Vec<Expr> = schema
        .iter()
        .map(|(name, dtype)| match held.get(name) {
            Some(current) if current == dtype => col(name.clone()),
            _ => col(name.clone()).cast(dtype.clone()),
        })
        .collect();
    frame.clone().lazy().select(columns)
}

/// Polars' Parquet scan producing the table's schema, the way Polars' own
/// `scan_iceberg` reads: files written by other engines may hold narrower
/// types (int for long, float for double, nanosecond or zoned timestamps),
/// which the reader widens; with `mapping` (an evolved schema) columns are
/// found by Iceberg field id and named as the table names them now,
/// missing ones null, dropped ones ignored. Iceberg never reads values
/// from paths, so hive partitions (`g=x/` directories) are off.
pub(super) fn scan_as_table(
    paths: Vec<PlRefPath>,
    cloud: Option<polars::io::cloud::CloudOptions>,
    mapping: Option<Arc<IcebergSchema>>,
    schema: &Schema,
) -> PolarsResult<LazyFrame> {
    // The output schema is the table's: without it Polars takes the first
    // file's, whose names may be from before a rename.
    let table_schema = Arc::new(schema.clone());
    let options = ParquetOptions {
        schema: Some(table_schema.clone()),
        parallel: Default::default(),
        low_memory: false,
        use_statistics: true,
    };
    let cast_columns_policy = CastColumnsPolicy {
        integer_upcast: true,
        float_upcast: true,
        datetime_nanoseconds_downcast: true,
        datetime_convert_timezone: true,
        null_upcast: true,
        categorical_to_string: true,
        missing_struct_fields: MissingColumnsPolicy::Insert,
        extra_struct_fields: ExtraColumnsPolicy::Ignore,
        ..CastColumnsPolicy::ERROR_ON_MISMATCH
    };
    let args = UnifiedScanArgs {
        schema: Some(table_schema),
        cloud_options: cloud,
        hive_options: HiveOptions { enabled: Some(false), ..Default::default() },
        rechunk: false,
        cache: true,
        glob: false,
        hidden_file_prefix: None,
        projection: None,
        column_mapping: mapping.map(ColumnMapping::Iceberg),
        default_values: None,
        row_index: None,
        pre_slice: None,
        cast_columns_policy,
        missing_columns_policy: MissingColumnsPolicy::Insert,
        extra_columns_policy: ExtraColumnsPolicy::Ignore,
        include_file_paths: None,
        deletion_files: None,
        table_statistics: None,
        row_count: None,
    };
    let sources = ScanSources::Paths(paths.into_iter().collect());
    Ok(DslBuilder::scan_parquet(sources, options, args)?.build().into())
}

/// The schema a read of `snapshot_id` uses: the current one for the current
/// snapshot (or none), since a schema change commits no snapshot (a column
/// renamed after the last write is read by its new name), else the snapshot's.
pub fn read_schema_id(table: &Table, snapshot_id: Option<i64>) -> Option<i32> {
    let metadata = table.metadata();
    match snapshot_id.filter(|id| Some(*id) != metadata.current_snapshot_id()).and_then(|id| metadata.snapshot_by_id(id)) {
        Some(snapshot) => snapshot.schema_id(),
        None => Some(metadata.current_schema_id()),
    }
}

/// The table's Arrow schema `schema_id` (a ticket's pin), or as
/// [`read_schema_id`] picks for `snapshot_id` without one.
fn arrow_schema(table: &Table, snapshot_id: Option<i64>, schema_id: Option<i32>) -> Result<arrow::datatypes::Schema> {
    let metadata = table.metadata();
    let id = schema_id.or_else(|| read_schema_id(table, snapshot_id));
    let iceberg_schema = match id.and_then(|id| metadata.schema_by_id(id)) {
        Some(schema) => schema.clone(),
        None => match snapshot_id.and_then(|id| metadata.snapshot_by_id(id)) {
            Some(snapshot) => snapshot.schema(metadata).map_err(|e| Error::iceberg(table, e))?,
            None => metadata.current_schema().clone(),
        },
    };
    ::iceberg::arrow::schema_to_arrow_schema(&iceberg_schema).map_err(|e| Error::iceberg(table, e))
}

/// The Polars schema of the table as of `snapshot_id`, by `schema_id` where pinned.
pub fn snapshot_schema(table: &Table, snapshot_id: Option<i64>, schema_id: Option<i32>) -> Result<Schema> {
    Ok(convert::polars_schema(&arrow_schema(table, snapshot_id, schema_id)?)?)
}

/// How scans read files: server-wide settings.
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    pub remote: RemoteLimits,
    /// Read everything with iceberg-rust's reader, never Polars' own: an
    /// escape hatch, and how tests show both readers give the same answers.
    pub iceberg_reader_only: bool,
}

/// How much of a table a scan reads, for EXPLAIN.
#[derive(Debug, Clone, Default)]
pub struct ScanStats {
    pub snapshot_id: Option<i64>,
    pub files_selected: usize,
    pub files_total: usize,
    /// The selected files' total size: what the scan reads at most.
    pub bytes_planned: u64,
    /// The selected files' rows, where every manifest entry counts them.
    pub rows_planned: Option<u64>,
    /// Which reader reads the files, and why when it is not Polars' own.
    pub reader: String,
}

impl ScanStats {
    /// The scan of `relation` as the query's history record keeps it.
    pub fn record(&self, relation: &str) -> crate::history::Scan {
        crate::history::Scan {
            table: relation.to_string(),
            snapshot_id: self.snapshot_id,
            files_selected: self.files_selected as u64,
            files_total: self.files_total as u64,
            bytes_planned: self.bytes_planned,
            reader: self.reader.clone(),
        }
    }
}

/// How to read `snapshot_id` of the table, skipping files `filters` rule
/// out: Polars' Parquet reader when it can, else iceberg-rust's reader.
pub async fn read_source(
    table: &Table,
    snapshot_id: Option<i64>,
    schema_id: Option<i32>,
    schema: &Schema,
    filters: &[Filter],
    options: ScanOptions,
    only_files: Option<&[String]>,
) -> Result<(Source, ScanStats)> {
    let Some(snapshot_id) = snapshot_id else {
        return Ok((Source::Parquet { files: Vec::new(), cloud: None, mapping: None }, ScanStats::default()));
    };
    let iceberg_err = |e| Error::iceberg(table, e);
    let mut tasks = crate::telemetry::metrics::timed_storage("plan_files", plan_tasks(table, snapshot_id, filters, options.remote)).await?;
    if let Some(only) = only_files {
        let only: std::collections::HashSet<&str> = only.iter().map(String::as_str).collect();
        tasks.retain(|task| only.contains(task.data_file_path.as_str()));
        // The coordinator planned the partition from this same snapshot and
        // filters, so every file it named must be here: anything else is a
        // ticket that does not describe this table.
        if tasks.len() != only.len() {
            return Err(Error::TicketMismatch(format!(
                "the partition names {} data file(s) of `{}`, of which {} are in snapshot {snapshot_id}",
                only.len(),
                table.identifier(),
                tasks.len()
            )));
        }
    }
    if let Some(vector) = tasks.iter().flat_map(|task| &task.deletes).find(|delete| is_deletion_vector(&delete.file_path)) {
        return Err(Error::Unsupported(format!(
            "table `{}` has Iceberg v3 deletion vectors ({}), which Floe cannot apply yet; \
             read a snapshot from before the deletes (FOR VERSION AS OF) or compact the table",
            table.identifier(),
            vector.file_path
        )));
    }
    let files_total = total_files(table, snapshot_id, options.remote).await?;
    let snapshot_schema = arrow_schema(table, Some(snapshot_id), schema_id)?;
    let native_types = polars_reads_natively(&snapshot_schema);
    // Polars matches Parquet columns by name; once a schema has evolved (a
    // rename, drop or re-add) it must match them by Iceberg field id instead.
    let one_schema = table.metadata().schemas_iter().len() == 1;
    let on_s3 = tasks.iter().any(|task| cloud::is_s3(&task.data_file_path));
    let files: Option<Vec<String>> = tasks
        .iter()
        .map(|task| match task.deletes.is_empty() && !options.iceberg_reader_only {
            false => None,
            true if on_s3 => cloud::is_s3(&task.data_file_path).then(|| cloud::polars_s3_path(&task.data_file_path)),
            true => local_path(&task.data_file_path),
        })
        .collect();
    let cloud = on_s3.then(|| cloud::s3_options(table.file_io().config().props(), options.remote));
    let mapping = match one_schema {
        true => None,
        // A schema Polars cannot map (maps, say) leaves it to iceberg-rust.
        false => convert::iceberg_column_mapping(&snapshot_schema).ok().map(Arc::new),
    };
    let reader = match (&files, native_types, one_schema || mapping.is_some()) {
        (Some(_), true, true) if one_schema => "Polars' Parquet reader".into(),
        (Some(_), true, true) => "Polars' Parquet reader (columns by field id)".into(),
        (None, _, _) if options.iceberg_reader_only => "iceberg-rust's reader (--reader iceberg)".into(),
        (None, _, _) if tasks.iter().any(|task| !task.deletes.is_empty()) => "iceberg-rust's reader (delete files)".into(),
        (None, _, _) => "iceberg-rust's reader (storage Polars cannot read)".into(),
        (_, false, _) => "iceberg-rust's reader (uuid/fixed columns)".into(),
        (_, _, false) => "iceberg-rust's reader (evolved schema Polars cannot map)".into(),
    };
    let bytes_planned = tasks.iter().map(|task| task.length).sum();
    let rows_planned = tasks.iter().map(|task| task.record_count).sum();
    let stats = ScanStats { snapshot_id: Some(snapshot_id), files_selected: tasks.len(), files_total, bytes_planned, rows_planned, reader };
    let source = match files {
        Some(files) if native_types && (one_schema || mapping.is_some()) => Source::Parquet { files, cloud, mapping },
        _ => {
            // Exactly the planned tasks (a partition may hold only some of the scan's).
            let reader = ::iceberg::arrow::ArrowReaderBuilder::new(table.file_io().clone(), ::iceberg::Runtime::current()).build();
            let tasks = futures::stream::iter(tasks.into_iter().map(Ok)).boxed();
            let batches: Vec<_> =
                reader.read(tasks).map_err(iceberg_err)?.stream().try_collect().await.map_err(iceberg_err)?;
            let frame = tokio::task::block_in_place(|| convert::batches_to_dataframe(&batches, schema))?;
            Source::Loaded(frame)
        }
    };
    Ok((source, stats))
}

/// Iceberg's own IO (manifest lists, manifests) has no timeout of its own: a
/// store that stops answering would hold the query forever.
async fn bounded<T>(
    table: &Table,
    limits: RemoteLimits,
    what: &str,
    work: impl std::future::Future<Output = ::iceberg::Result<T>>,
) -> Result<T> {
    let limit = limits.request_timeout * (limits.retries as u32 + 1);
    match tokio::time::timeout(limit, work).await {
        Ok(outcome) => outcome.map_err(|e| Error::iceberg(table, e)),
        Err(_) => Err(Error::Remote(format!(
            "reading table `{}`: {what} did not finish within {} s; is its storage answering?",
            table.identifier(),
            limit.as_secs()
        ))),
    }
}

/// The scan tasks of `snapshot_id` left after pruning by `filters`.
async fn plan_tasks(table: &Table, snapshot_id: i64, filters: &[Filter], limits: RemoteLimits) -> Result<Vec<FileScanTask>> {
    // Selecting columns made iceberg-rust build an error (and, with
    // RUST_BACKTRACE set, capture a backtrace) per column while checking for
    // metadata columns; the columns only become each task's projection,
    // which is set below to what `select_all` would have made it.
    let mut builder = table.scan().snapshot_id(snapshot_id).select(std::iter::empty::<&str>());
    if let Some(predicate) = predicate(table, snapshot_id, filters) {
        builder = builder.with_filter(predicate);
    }
    let scan = builder.build().map_err(|e| Error::iceberg(table, e))?;
    let planning = async { scan.plan_files().await?.try_collect::<Vec<_>>().await };
    let mut tasks = bounded(table, limits, "reading its manifests", planning).await?;
    if let Some(task) = tasks.first() {
        let columns: Vec<i32> = task.schema.as_struct().fields().iter().map(|field| field.id).collect();
        tasks.iter_mut().for_each(|task| task.project_field_ids = columns.clone());
    }
    Ok(tasks)
}

/// The data files a scan of `snapshot_id` reads after pruning by `filters`,
/// with the bytes each reads: what a coordinator balances over workers.
pub async fn planned_files(table: &Table, snapshot_id: i64, filters: &[Filter], limits: RemoteLimits) -> Result<Vec<(String, u64)>> {
    let tasks = plan_tasks(table, snapshot_id, filters, limits).await?;
    Ok(tasks.into_iter().map(|task| (task.data_file_path, task.length)).collect())
}

/// Data files in the snapshot: from its summary when it records them.
async fn total_files(table: &Table, snapshot_id: i64, limits: RemoteLimits) -> Result<usize> {
    let recorded = table
        .metadata()
        .snapshot_by_id(snapshot_id)
        .and_then(|s| s.summary().additional_properties.get("total-data-files").and_then(|n| n.parse().ok()));
    match recorded {
        Some(total) => Ok(total),
        None => Ok(plan_tasks(table, snapshot_id, &[], limits).await?.len()),
    }
}

/// Polars' Parquet reader has no fixed-size binary, which Iceberg `uuid` and
/// `fixed` columns are.
fn polars_reads_natively(schema: &arrow::datatypes::Schema) -> bool {
    fn native(data_type: &arrow::datatypes::DataType) -> bool {
        use arrow::datatypes::DataType as D;
        match data_type {
            D::FixedSizeBinary(_) => false,
            D::List(f) | D::LargeList(f) | D::Map(f, _) => native(f.data_type()),
            D::Struct(fields) => fields.iter().all(|f| native(f.data_type())),
            _ => true,
        }
    }
    schema.fields().iter().all(|f| native(f.data_type()))
}

/// Deletion vectors live in Puffin files; iceberg-rust 0.10 would try to read
/// them as Parquet position deletes and fail obscurely (scan tasks do not
/// carry the delete file's format, so its name is what tells).
fn is_deletion_vector(delete_file_path: &str) -> bool {
    delete_file_path.to_ascii_lowercase().ends_with(".puffin")
}

fn local_path(location: &str) -> Option<String> {
    if let Some(rest) = location.strip_prefix("file://") {
        Some(if rest.starts_with('/') { rest.to_string() } else { format!("/{rest}") })
    } else if let Some(rest) = location.strip_prefix("file:") {
        Some(rest.to_string())
    } else if location.starts_with('/') {
        Some(location.to_string())
    } else {
        None
    }
}


#[cfg(test)]
mod tests {
    #[test]
    fn local_paths_accept_file_uris_and_refuse_object_stores() {
        assert_eq!(super::local_path("file:///w/a.parquet").as_deref(), Some("/w/a.parquet"));
        assert_eq!(super::local_path("file:/w/a.parquet").as_deref(), Some("/w/a.parquet"));
        assert_eq!(super::local_path("/w/a.parquet").as_deref(), Some("/w/a.parquet"));
        assert_eq!(super::local_path("s3://bucket/a.parquet"), None);
    }
}
