//! Iceberg snapshot → the data files to read → a Polars LazyFrame.
//!
//! Planning (which files) and reading (a frame over given files) are separate
//! so a coordinator can hand any subset of a scan's files to a worker.

use futures::TryStreamExt;
use ::iceberg::table::Table;
use polars::prelude::*;

use super::{convert, Error, Result};
use crate::sql::RelationName;

/// One relation of a query as Polars will read it.
pub struct FrameInput {
    pub relation: RelationName,
    pub schema: Schema,
    /// `None` while planning (only the schema matters), the data files when running.
    pub files: Option<Vec<String>>,
}

impl FrameInput {
    pub fn lazy_frame(&self) -> PolarsResult<LazyFrame> {
        let files = match &self.files {
            Some(files) if !files.is_empty() => files,
            _ => return Ok(DataFrame::empty_with_schema(&self.schema).lazy()),
        };
        let paths: Vec<PlRefPath> = files.iter().map(|f| PlRefPath::from(f.as_str())).collect();
        let args = ScanArgsParquet { allow_missing_columns: true, glob: false, ..Default::default() };
        let frame = LazyFrame::scan_parquet_files(paths.into_iter().collect(), args)?;
        // Files written by other engines may use narrower physical types (or
        // lack newer columns); the table schema is what queries see.
        let columns: Vec<Expr> =
            self.schema.iter().map(|(name, dtype)| col(name.clone()).cast(dtype.clone())).collect();
        Ok(frame.select(columns))
    }
}

/// The table's schema as of `snapshot_id` (the current schema without one).
pub fn snapshot_schema(table: &Table, snapshot_id: Option<i64>) -> Result<Schema> {
    let metadata = table.metadata();
    let iceberg_schema = match snapshot_id.and_then(|id| metadata.snapshot_by_id(id)) {
        Some(snapshot) => snapshot.schema(metadata).map_err(|e| Error::iceberg(table, e))?,
        None => metadata.current_schema().clone(),
    };
    let arrow_schema = ::iceberg::arrow::schema_to_arrow_schema(&iceberg_schema).map_err(|e| Error::iceberg(table, e))?;
    Ok(convert::polars_schema(&arrow_schema)?)
}

/// Local paths of the data files making up `snapshot_id`.
pub async fn data_files(table: &Table, snapshot_id: Option<i64>) -> Result<Vec<String>> {
    let Some(snapshot_id) = snapshot_id else { return Ok(Vec::new()) };
    let scan = table.scan().snapshot_id(snapshot_id).select_all().build().map_err(|e| Error::iceberg(table, e))?;
    let tasks: Vec<_> =
        scan.plan_files().await.map_err(|e| Error::iceberg(table, e))?.try_collect().await.map_err(|e| Error::iceberg(table, e))?;
    let mut files = Vec::with_capacity(tasks.len());
    for task in tasks {
        if !task.deletes.is_empty() {
            return Err(Error::Unsupported(format!(
                "table `{}` has delete files, which this version of Floe cannot apply yet",
                table.identifier()
            )));
        }
        files.push(local_path(&task.data_file_path).ok_or_else(|| {
            Error::Unsupported(format!(
                "table `{}` stores data at `{}`; only local warehouses are supported yet",
                table.identifier(),
                task.data_file_path
            ))
        })?);
    }
    Ok(files)
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
