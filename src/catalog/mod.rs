//! The lake: named Iceberg catalogs and how SQL names resolve to their tables.

mod cache;
pub mod config;
mod demo;
mod expire;
mod pointer;
mod names;
mod rest_commit;

pub use names::Names;
pub mod storage;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use std::str::FromStr;

use iceberg::spec::{Snapshot, SnapshotReference, SnapshotRetention, MAIN_BRANCH};
use iceberg::table::Table;
use iceberg::{Catalog, CatalogBuilder, MetadataLocation, NamespaceIdent, TableIdent, TableRequirement, TableUpdate};
use iceberg_catalog_sql::{SqlBindStyle, SqlCatalogBuilder};

pub use demo::ensure_demo_table;


/// Namespace used for single-part table names when the session sets none.
pub const DEFAULT_SCHEMA: &str = "default";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("table `{0}` not found")]
    TableNotFound(String),
    #[error("schema `{0}` not found")]
    SchemaNotFound(String),
    #[error("catalog `{name}` not found (known catalogs: {known})")]
    CatalogNotFound { name: String, known: String },
    #[error("invalid table name `{0}`")]
    InvalidName(String),
    #[error("loading table `{table}`: {source}")]
    Load {
        table: String,
        #[source]
        source: iceberg::Error,
    },
    #[error("catalog `{catalog}`: {source}")]
    Iceberg {
        catalog: String,
        #[source]
        source: iceberg::Error,
    },
    #[error("cannot open catalog `{catalog}` at {uri}: {source}")]
    Open {
        catalog: String,
        uri: String,
        #[source]
        source: iceberg::Error,
    },
    #[error("demo data: {0}")]
    Demo(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("catalog `{catalog}`: committing: {message}")]
    Pointer { catalog: String, message: String },
    #[error("{0}")]
    Unsupported(String),
    #[error("table `{table}`: the catalog did not answer within {seconds} s")]
    Timeout { table: String, seconds: u64 },
}

pub type Result<T> = std::result::Result<T, Error>;

/// A fully resolved table name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableRef {
    pub catalog: String,
    pub ident: TableIdent,
}

impl std::fmt::Display for TableRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.catalog, self.ident.namespace().join("."), self.ident.name())
    }
}

/// Every catalog Floe serves, by name.
pub struct Lake {
    catalogs: BTreeMap<String, Arc<dyn Catalog>>,
    pointers: BTreeMap<String, pointer::SqlPointer>,
    /// Loaded tables of SQL catalogs, checked against their pointer per use.
    loaded: cache::TableCache,
    committers: BTreeMap<String, rest_commit::RestCommitter>,
    infos: BTreeMap<String, config::CatalogInfo>,
    names: Names,
    /// Bound on one catalog request (REST call, metadata file read), so an
    /// unreachable catalog or store fails a query instead of hanging it.
    request_timeout: std::time::Duration,
}

impl Lake {
    /// Opens SQL catalogs (SQLite or Postgres) and REST catalogs; the first is
    /// the default for names without a catalog part.
    pub async fn open(specs: &[config::CatalogSpec]) -> Result<Self> {
        let mut catalogs: BTreeMap<String, Arc<dyn Catalog>> = BTreeMap::new();
        let mut pointers = BTreeMap::new();
        let mut committers = BTreeMap::new();
        for spec in specs {
            if catalogs.contains_key(spec.name()) {
                return Err(Error::Config(format!("catalog `{}` is defined twice", spec.name())));
            }
            match spec {
                config::CatalogSpec::Sql(spec) => {
                    catalogs.insert(spec.name.clone(), Self::sql_catalog(spec).await?);
                    pointers.insert(spec.name.clone(), pointer::SqlPointer::connect(&spec.name, &spec.uri).await?);
                }
                config::CatalogSpec::Rest(spec) => {
                    catalogs.insert(spec.name.clone(), Self::rest_catalog(spec).await?);
                    let timeout = std::time::Duration::from_secs(60);
                    let committer = rest_commit::RestCommitter::connect(&spec.name, &spec.uri, &spec.props, timeout).await?;
                    committers.insert(spec.name.clone(), committer);
                }
            }
        }
        let infos = specs.iter().map(|spec| (spec.name().to_string(), spec.info())).collect();
        let default_catalog =
            specs.first().map(|s| s.name().to_string()).ok_or_else(|| Error::Config("no catalog configured".into()))?;
        let names = Names { catalogs: catalogs.keys().cloned().collect(), default_catalog };
        Ok(Self { catalogs, pointers, loaded: Default::default(), committers, infos, names, request_timeout: std::time::Duration::from_secs(60) })
    }

    /// Opens one Iceberg SQL catalog (SQLite or Postgres) with local-filesystem storage.
    pub async fn open_sql(name: &str, uri: &str, warehouse: &str) -> Result<Self> {
        let spec = config::SqlCatalogSpec {
            name: name.into(),
            uri: uri.into(),
            warehouse: warehouse.into(),
            storage: HashMap::new(),
        };
        Self::open(&[config::CatalogSpec::Sql(spec)]).await
    }

    /// An Iceberg REST catalog. Credentials the server vends with a table
    /// (`load_table`'s config) reach that table's FileIO through iceberg's client.
    async fn rest_catalog(spec: &config::RestCatalogSpec) -> Result<Arc<dyn Catalog>> {
        let mut props = spec.props.clone();
        props.insert(iceberg_catalog_rest::REST_CATALOG_PROP_URI.to_string(), spec.uri.clone());
        let catalog = iceberg_catalog_rest::RestCatalogBuilder::default()
            .with_storage_factory(storage::factory_for(None))
            .load(spec.name.clone(), props)
            .await
            .map_err(|source| Error::Open { catalog: spec.name.clone(), uri: redacted(&spec.uri), source })?;
        // The REST client connects lazily; asking now turns a wrong URI or
        // credential into a start-up error rather than every query's.
        catalog
            .list_namespaces(None)
            .await
            .map_err(|source| Error::Open { catalog: spec.name.clone(), uri: redacted(&spec.uri), source })?;
        Ok(Arc::new(catalog))
    }

    async fn sql_catalog(spec: &config::SqlCatalogSpec) -> Result<Arc<dyn Catalog>> {
        let (name, uri, warehouse) = (spec.name.as_str(), spec.uri.as_str(), spec.warehouse.as_str());
        let bind_style = if uri.starts_with("postgres") {
            SqlBindStyle::DollarNumeric
        } else {
            SqlBindStyle::QMark
        };
        let catalog = SqlCatalogBuilder::default()
            .uri(uri)
            .warehouse_location(warehouse)
            .sql_bind_style(bind_style)
            .with_storage_factory(storage::factory_for(Some(warehouse)))
            .load(name, spec.storage.clone())
            .await
            .map_err(|source| Error::Open { catalog: name.into(), uri: redacted(uri), source })?;
        Ok(Arc::new(catalog))
    }

    pub fn with_request_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    pub fn names(&self) -> &Names {
        &self.names
    }

    pub fn default_catalog(&self) -> &str {
        &self.names.default_catalog
    }

    pub fn catalog_names(&self) -> impl Iterator<Item = &str> {
        self.catalogs.keys().map(String::as_str)
    }

    /// A catalog's type and settings (secrets left out).
    pub fn info(&self, name: &str) -> Result<&config::CatalogInfo> {
        self.infos.get(name).ok_or_else(|| self.unknown_catalog(name))
    }

    pub fn catalog(&self, name: &str) -> Result<&Arc<dyn Catalog>> {
        self.catalogs.get(name).ok_or_else(|| self.unknown_catalog(name))
    }

    /// Loads the table's current metadata; every call sees the latest commit.
    pub async fn load(&self, table: &TableRef) -> Result<Table> {
        let pointer = self.pointers.get(&table.catalog);
        let key = table.to_string();
        if let Some(pointer) = pointer {
            // A failed pointer read is not an answer: the full load says why.
            if let Ok(Ok(Some(location))) = tokio::time::timeout(self.request_timeout, pointer.location(table)).await {
                if let Some(cached) = self.loaded.get(&key, &location) {
                    return Ok(cached);
                }
            }
        }
        let loaded = self.load_from_catalog(table).await?;
        if pointer.is_some() {
            self.loaded.put(key, loaded.clone());
        }
        Ok(loaded)
    }

    /// `table` to read `snapshot_id`, which a ticket pinned: a load that
    /// holds the snapshot serves as is (a snapshot never changes), so running
    /// a planned query reads no pointer; otherwise as `load`.
    pub async fn load_pinned(&self, table: &TableRef, snapshot_id: i64, schema_id: Option<i32>) -> Result<Table> {
        match self.loaded.holding(&table.to_string(), snapshot_id, schema_id) {
            Some(cached) => Ok(cached),
            None => self.load(table).await,
        }
    }

    async fn load_from_catalog(&self, table: &TableRef) -> Result<Table> {
        let catalog = self.catalog(&table.catalog)?;
        let loaded = crate::telemetry::metrics::timed_storage("load_table", tokio::time::timeout(self.request_timeout, catalog.load_table(&table.ident)))
            .await
            .map_err(|_| Error::Timeout { table: table.to_string(), seconds: self.request_timeout.as_secs() })?;
        match loaded {
            Ok(loaded) => Ok(loaded),
            Err(err) if is_not_found(&err) => Err(Error::TableNotFound(table.to_string())),
            Err(source) => {
                // The SQL catalog reports a missing table as a generic error; ask
                // directly so the user gets NotFound rather than Internal.
                match catalog.table_exists(&table.ident).await {
                    Ok(false) => Err(Error::TableNotFound(table.to_string())),
                    _ => Err(Error::Load { table: table.to_string(), source }),
                }
            }
        }
    }

    fn unknown_catalog(&self, name: &str) -> Error {
        Error::CatalogNotFound {
            name: name.to_string(),
            known: self.catalogs.keys().cloned().collect::<Vec<_>>().join(", "),
        }
    }

    /// Makes `snapshot` (its manifests already written) the table's current
    /// snapshot if `table` is still current; false when another commit won.
    /// SQL catalogs: a new metadata file and a compare-and-set of the
    /// catalog's pointer. REST catalogs: the server's commit endpoint with
    /// requirements on the table's identity and its main branch.
    pub async fn publish_snapshot(&self, table_ref: &TableRef, table: &Table, snapshot: Snapshot) -> Result<bool> {
        self.check_overwrite(table_ref)?;
        let metadata = table.metadata();
        let load_err = |source| Error::Load { table: table_ref.to_string(), source };
        if self.pointers.contains_key(&table_ref.catalog) {
            let current = metadata_location(table_ref, table)?;
            let next = metadata
                .clone()
                .into_builder(Some(current))
                .set_branch_snapshot(snapshot, MAIN_BRANCH)
                .map_err(load_err)?
                .build()
                .map_err(load_err)?
                .metadata;
            return self.swap_metadata(table_ref, table, next).await;
        }
        let committer = self.committers.get(&table_ref.catalog).ok_or_else(|| self.unknown_catalog(&table_ref.catalog))?;
        let requirements = vec![
            TableRequirement::UuidMatch { uuid: metadata.uuid() },
            TableRequirement::RefSnapshotIdMatch { r#ref: MAIN_BRANCH.to_string(), snapshot_id: metadata.current_snapshot_id() },
        ];
        let branch = SnapshotReference::new(snapshot.snapshot_id(), SnapshotRetention::branch(None, None, None));
        let updates = vec![
            TableUpdate::AddSnapshot { snapshot },
            TableUpdate::SetSnapshotRef { ref_name: MAIN_BRANCH.to_string(), reference: branch },
        ];
        committer.commit(&table_ref.ident, requirements, updates).await
    }

    /// SQL catalogs: writes `next` as the table's next metadata file and
    /// swaps the catalog's pointer to it from `table`'s; false when another commit won.
    async fn swap_metadata(&self, table_ref: &TableRef, table: &Table, next: iceberg::spec::TableMetadata) -> Result<bool> {
        let pointer = self.pointers.get(&table_ref.catalog).ok_or_else(|| self.unknown_catalog(&table_ref.catalog))?;
        let load_err = |source| Error::Load { table: table_ref.to_string(), source };
        let current = metadata_location(table_ref, table)?;
        // A new file each commit: rewriting the current one in place would
        // let readers see it half-written and make the swap below a no-op.
        let location = MetadataLocation::from_str(&current).map_err(load_err)?.with_next_version().with_new_metadata(&next);
        next.write_to(table.file_io(), &location).await.map_err(load_err)?;
        pointer.swap(table_ref, &current, &location.to_string()).await
    }

    /// Overwrite snapshots are published by Floe itself (`publish_snapshot`),
    /// which knows SQL catalogs' pointers and the REST commit endpoint.
    pub fn check_overwrite(&self, table: &TableRef) -> Result<()> {
        self.catalog(&table.catalog)?;
        if self.pointers.contains_key(&table.catalog) || self.committers.contains_key(&table.catalog) {
            return Ok(());
        }
        Err(Error::Unsupported(format!("overwriting `{table}`: catalog `{}` cannot publish Floe's commits", table.catalog)))
    }

    /// All namespaces of a catalog, nested ones included, parents first.
    pub async fn namespaces(&self, catalog_name: &str) -> Result<Vec<NamespaceIdent>> {
        let catalog = self.catalog(catalog_name)?;
        let wrap = |source| Error::Iceberg { catalog: catalog_name.to_string(), source };
        let mut found = Vec::new();
        let mut frontier = catalog.list_namespaces(None).await.map_err(wrap)?;
        while let Some(namespace) = frontier.pop() {
            if found.contains(&namespace) {
                continue;
            }
            let children = catalog.list_namespaces(Some(&namespace)).await.unwrap_or_default();
            frontier.extend(children.into_iter().filter(|child| child != &namespace));
            found.push(namespace);
        }
        found.sort_by_key(|ns| ns.join("."));
        Ok(found)
    }

    pub async fn tables(&self, catalog_name: &str, namespace: &NamespaceIdent) -> Result<Vec<TableIdent>> {
        let catalog = self.catalog(catalog_name)?;
        let mut tables = catalog.list_tables(namespace).await.map_err(|source| Error::Iceberg {
            catalog: catalog_name.to_string(),
            source,
        })?;
        tables.sort_by(|a, b| a.name().cmp(b.name()));
        Ok(tables)
    }
}

/// A URI fit for messages and logs: any password replaced.
fn metadata_location(table_ref: &TableRef, table: &Table) -> Result<String> {
    table
        .metadata_location()
        .map(str::to_string)
        .ok_or_else(|| Error::Unsupported(format!("table `{table_ref}` has no metadata location")))
}

fn redacted(uri: &str) -> String {
    match uri.split_once("://").and_then(|(scheme, rest)| Some((scheme, rest.split_once('@')?))) {
        Some((scheme, (credentials, host))) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}")
        }
        _ => uri.to_string(),
    }
}

fn is_not_found(err: &iceberg::Error) -> bool {
    matches!(err.kind(), iceberg::ErrorKind::TableNotFound | iceberg::ErrorKind::NamespaceNotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redacted("postgres://floe:s3cret@db:5432/x"), "postgres://floe:***@db:5432/x");
        assert_eq!(redacted("sqlite:///tmp/c.db?mode=rwc"), "sqlite:///tmp/c.db?mode=rwc");
    }
}
