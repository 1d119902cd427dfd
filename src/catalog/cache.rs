//! Tables as last loaded, by the metadata file they were read from. A SQL
//! catalog's pointer is read on every use (one indexed row) and a cached
//! table is used only when the pointer still names its metadata file, so a
//! commit by any engine is seen by the next query; a hit skips reading and
//! parsing the metadata JSON, and the table's own cache of manifest lists
//! and manifests lives on with it, so scans stop re-reading them too.

use iceberg::table::Table;

use crate::bounded::BoundedMap;

/// Beyond this many tables the cache starts over: entries are cheap (the
/// metadata plus cached manifests), and a lake that large is rare.
const MAX_TABLES: usize = 4096;

pub(super) struct TableCache {
    tables: BoundedMap<String, Table>,
}

impl Default for TableCache {
    fn default() -> Self {
        Self { tables: BoundedMap::new(MAX_TABLES) }
    }
}

impl TableCache {
    /// The cached table `key` if it was loaded from `location`.
    pub fn get(&self, key: &str, location: &str) -> Option<Table> {
        self.tables.find(key, |table| (table.metadata_location() == Some(location)).then(|| table.clone()))
    }

    /// The cached table `key` if its metadata holds `snapshot_id` (and `schema_id`, where given).
    pub fn holding(&self, key: &str, snapshot_id: i64, schema_id: Option<i32>) -> Option<Table> {
        self.tables.find(key, |table| {
            let metadata = table.metadata();
            let holds = metadata.snapshot_by_id(snapshot_id).is_some() && schema_id.is_none_or(|id| metadata.schema_by_id(id).is_some());
            holds.then(|| table.clone())
        })
    }

    pub fn put(&self, key: String, table: Table) {
        self.tables.put(key, table);
    }
}
