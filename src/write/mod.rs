//! Writing to the lake: results stream into Parquet data files, then one
//! atomic Iceberg commit publishes them (append or overwrite). A writer that
//! dies before its commit leaves the table at its last snapshot; its files
//! stay behind unreferenced (orphans), never visible.

mod commit;
mod encoding;
mod files;
pub mod ingest;
mod listing;
pub mod maintenance;
mod properties;
mod replace;
pub mod snapshot;
pub mod schema;

pub use commit::noting_commits;
pub use files::{write_data_files, write_data_files_sized, Written};
pub use properties::{check_properties, set_properties};
pub use replace::{check_row_level, replace_files, replace_files_as_compaction};

use std::collections::HashMap;

use iceberg::spec::UnboundPartitionSpec;
use iceberg::table::Table;
use iceberg::{ErrorKind, NamespaceIdent, TableCreation};

use crate::catalog::{self, Lake, TableRef};
use crate::sql::partition::PartitionField;

/// Rows to write. A failure of whatever produces them (a query, a client's
/// upload) aborts the write before anything is committed.
pub type BatchStream =
    std::pin::Pin<Box<dyn futures::Stream<Item = std::result::Result<arrow::record_batch::RecordBatch, Error>> + Send>>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Catalog(#[from] catalog::Error),
    /// The rows' producer failed; kept whole so the error gate can tell what it was.
    #[error(transparent)]
    Input(Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Sql(#[from] crate::sql::Error),
    #[error("writing table `{table}`: {source}")]
    Iceberg {
        table: String,
        #[source]
        source: iceberg::Error,
    },
    #[error("{0}")]
    Schema(String),
    #[error("{0}")]
    Unsupported(String),
    /// A table property a write obeys holds a value it cannot use.
    #[error("{0}")]
    Property(String),
    #[error("{0}")]
    AlreadyExists(String),
    #[error("another writer committed first")]
    Conflict,
    #[error("gave up after {0} commit attempts: the table is being written too often; retry")]
    TooManyConflicts(u32),
    #[error("table `{0}` changed while this statement ran: another commit rewrote or removed rows it changes; run it again")]
    RowsChanged(String),
}

impl Error {
    /// A failure of the stream feeding a write.
    pub fn input(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::Input(Box::new(source))
    }

    fn iceberg(table: &Table, source: iceberg::Error) -> Self {
        Error::Iceberg { table: table.identifier().to_string(), source }
    }
}

pub type Result<T> = std::result::Result<T, Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveMode {
    Append,
    Overwrite,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    pub rows_written: u64,
    pub snapshot_id: i64,
}

/// Creates `table` with columns for `schema`, creating its namespace first
/// when `create_namespace` is set.
pub async fn create_table(
    lake: &Lake,
    table: &TableRef,
    schema: &arrow::datatypes::Schema,
    create_namespace: bool,
) -> Result<Table> {
    create(lake, table, schema, create_namespace, &[], &[]).await
}

/// Creates `table` as a CREATE TABLE declares it: partitioned by
/// `partition_by`, with `properties` (its namespace must exist).
pub async fn create_declared_table(
    lake: &Lake,
    table: &TableRef,
    schema: &arrow::datatypes::Schema,
    partition_by: &[PartitionField],
    properties: &[(String, String)],
) -> Result<Table> {
    check_properties(properties)?;
    create(lake, table, schema, false, partition_by, properties).await
}

async fn create(
    lake: &Lake,
    table: &TableRef,
    schema: &arrow::datatypes::Schema,
    create_namespace: bool,
    partition_by: &[PartitionField],
    properties: &[(String, String)],
) -> Result<Table> {
    let catalog = lake.catalog(&table.catalog)?;
    let wrap = |source| catalog::Error::Iceberg { catalog: table.catalog.clone(), source };
    let namespace = table.ident.namespace();
    if create_namespace && !catalog.namespace_exists(namespace).await.map_err(wrap)? {
        match catalog.create_namespace(namespace, HashMap::new()).await {
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::NamespaceAlreadyExists => {}
            Err(e) => return Err(wrap(e).into()),
        }
    }
    let iceberg_schema = schema::new_table_schema(schema)?;
    let mut spec = UnboundPartitionSpec::builder();
    for field in partition_by {
        let source = iceberg_schema
            .field_by_name(&field.column)
            .ok_or_else(|| Error::Schema(format!("partition column `{}` is not a column of the table", field.column)))?;
        spec = spec
            .add_partition_field(source.id, field.name(), field.transform)
            .map_err(|e| Error::Schema(format!("partition `{}`: {e}", field.name())))?;
    }
    let creation = TableCreation::builder()
        .name(table.ident.name().to_string())
        .schema(iceberg_schema)
        .partition_spec(spec.build())
        .properties(properties.iter().cloned())
        .build();
    match catalog.create_table(namespace, creation).await {
        Ok(created) => Ok(created),
        Err(e) if e.kind() == ErrorKind::TableAlreadyExists => Err(Error::AlreadyExists(format!("table `{table}` already exists"))),
        Err(e) if e.kind() == ErrorKind::NamespaceNotFound => {
            Err(catalog::Error::SchemaNotFound(format!("{}.{}", table.catalog, namespace.join("."))).into())
        }
        Err(e) => Err(wrap(e).into()),
    }
}

pub async fn namespace_exists(lake: &Lake, catalog_name: &str, namespace: &NamespaceIdent) -> Result<bool> {
    let catalog = lake.catalog(catalog_name)?;
    catalog
        .namespace_exists(namespace)
        .await
        .map_err(|source| catalog::Error::Iceberg { catalog: catalog_name.to_string(), source }.into())
}

/// Snapshot summary property naming the request that wrote a snapshot.
pub const IDEMPOTENCY_KEY: &str = "floe.idempotency-key";

/// The snapshot an earlier write with this idempotency key committed.
pub fn committed_with_key(table: &Table, key: &str) -> Option<Outcome> {
    table.metadata().snapshots().find_map(|snapshot| {
        let summary = snapshot.summary();
        (summary.additional_properties.get(IDEMPOTENCY_KEY).map(String::as_str) == Some(key)).then(|| Outcome {
            rows_written: summary.additional_properties.get("added-records").and_then(|n| n.parse().ok()).unwrap_or(0),
            snapshot_id: snapshot.snapshot_id(),
        })
    })
}

/// Writes to `table`, creating it (and its namespace) from `schema` when
/// missing. With an idempotency key, a write already committed under that key
/// is not repeated: its outcome is returned instead.
pub async fn write_creating(
    lake: &Lake,
    table_ref: &TableRef,
    schema: &arrow::datatypes::Schema,
    batches: BatchStream,
    mode: SaveMode,
    idempotency_key: Option<String>,
) -> Result<Outcome> {
    match lake.load(table_ref).await {
        Ok(table) => {
            if let Some(done) = idempotency_key.as_deref().and_then(|key| committed_with_key(&table, key)) {
                return Ok(done);
            }
        }
        Err(catalog::Error::TableNotFound(_)) => match create_table(lake, table_ref, schema, true).await {
            Ok(_) | Err(Error::AlreadyExists(_)) => {}
            Err(other) => return Err(other),
        },
        Err(other) => return Err(other.into()),
    }
    let properties = idempotency_key.map(|key| HashMap::from([(IDEMPOTENCY_KEY.to_string(), key)])).unwrap_or_default();
    write(lake, table_ref, batches, mode, properties).await
}

/// Streams `batches` into `table` and commits them atomically.
pub async fn write(
    lake: &Lake,
    table_ref: &TableRef,
    batches: BatchStream,
    mode: SaveMode,
    properties: HashMap<String, String>,
) -> Result<Outcome> {
    if mode == SaveMode::Overwrite {
        // Before any file is written: a refused overwrite must leave nothing behind.
        lake.check_overwrite(table_ref)?;
    }
    let table = lake.load(table_ref).await?;
    let written = files::write_data_files(&table, batches).await?;
    let snapshot_id = match mode {
        SaveMode::Append => commit::append(lake, table_ref, written.files, properties).await?,
        SaveMode::Overwrite => commit::overwrite(lake, table_ref, written.files, properties).await?,
    };
    Ok(Outcome { rows_written: written.rows, snapshot_id })
}
