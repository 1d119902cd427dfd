//! Which table, and which version of it, each relation of a query reads.

use super::metadata_tables::{self, MetadataTable};
use super::{Error, Result};
use crate::catalog::{Lake, TableRef};
use crate::proto::{SessionDefaults, TablePin};
use crate::sql::time_travel::AsOf;
use crate::sql::{self, Query};

pub(super) struct ResolvedTable {
    pub relation: sql::RelationName,
    pub table_ref: TableRef,
    pub table: iceberg::table::Table,
    pub selects: Selects,
}

/// What a relation reads of its table.
pub(super) enum Selects {
    Snapshot(AsOf),
    Metadata(MetadataTable),
}

impl ResolvedTable {
    pub fn relation_text(&self) -> String {
        self.relation.join(".")
    }

    /// The rows of the snapshot a relation reads, as its summary counts them;
    /// None for metadata tables and summaries without the count.
    pub fn rows(&self, snapshot_id: Option<i64>) -> Option<u64> {
        let Selects::Snapshot(_) = self.selects else { return None };
        let snapshot = self.table.metadata().snapshot_by_id(snapshot_id?)?;
        snapshot.summary().additional_properties.get("total-records")?.parse().ok()
    }

    /// The snapshot this relation reads (None: the table has no data yet).
    pub fn snapshot_id(&self) -> Result<Option<i64>> {
        let metadata = self.table.metadata();
        let as_of = match &self.selects {
            Selects::Metadata(_) => return Ok(metadata.current_snapshot_id()),
            Selects::Snapshot(as_of) => as_of,
        };
        let table = &self.table_ref;
        match as_of {
            AsOf::Current => Ok(metadata.current_snapshot_id()),
            AsOf::Version(version) => {
                let by_id = version.parse::<i64>().ok().filter(|id| metadata.snapshot_by_id(*id).is_some());
                by_id
                    .or_else(|| metadata.snapshot_for_ref(version).map(|s| s.snapshot_id()))
                    .map(Some)
                    .ok_or_else(|| Error::NotFound(format!("table `{table}` has no snapshot, branch or tag `{version}`")))
            }
            AsOf::Timestamp(text) => {
                let millis = parse_timestamp_millis(text)?;
                metadata
                    .history()
                    .iter()
                    .filter(|entry| entry.timestamp_ms <= millis)
                    .max_by_key(|entry| entry.timestamp_ms)
                    .map(|entry| Some(entry.snapshot_id))
                    .ok_or_else(|| Error::NotFound(format!("table `{table}` has no snapshot at or before {text}")))
            }
        }
    }
}

/// `2026-11-21 07:00:00[.fff]` (UTC), `2026-11-21`, or RFC 3339 with an offset.
fn parse_timestamp_millis(text: &str) -> Result<i64> {
    if let Ok(with_offset) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(with_offset.timestamp_millis());
    }
    for format in ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M"] {
        if let Ok(naive) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return Ok(naive.and_utc().timestamp_millis());
        }
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        return Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis());
    }
    Err(Error::Invalid(format!("cannot read `{text}` as a timestamp: use 'YYYY-MM-DD HH:MM:SS' (UTC)")))
}

/// Resolves each relation of `query`; `pins`, a ticket's pinned snapshots
/// (none while planning), let a relation read a load that holds its snapshot.
pub(super) async fn resolve(lake: &Lake, query: &Query, session: &SessionDefaults, pins: &[TablePin]) -> Result<Vec<ResolvedTable>> {
    let loads = query.relations().iter().map(|relation| async move {
        // The last part may carry time travel (`t@version:…`) or name a
        // metadata table (`t$snapshots`).
        let (last, rest) = relation.split_last().expect("relations have a name");
        let (name, as_of) = sql::time_travel::split_as_of(last);
        let (name, metadata) = metadata_tables::split_metadata(name)?;
        let mut parts = rest.to_vec();
        parts.push(name.to_string());
        let written = lake.names().resolve(&parts, session)?;
        let relation_text = relation.join(".");
        let (relation_text, reads_metadata) = (relation_text.as_str(), metadata.is_some());
        let load = |table_ref: TableRef| async move {
            let pin = pin_of(pins, relation_text, &table_ref);
            let table = match (reads_metadata, pin.and_then(|pin| pin.snapshot_id)) {
                (false, Some(snapshot_id)) => lake.load_pinned(&table_ref, snapshot_id, pin.and_then(|pin| pin.schema_id)).await,
                _ => lake.load(&table_ref).await,
            };
            table.map(|table| (table_ref, table))
        };
        let (table_ref, table) = match load(written.clone()).await {
            Err(crate::catalog::Error::TableNotFound(missing)) => match lake.spelled_as_stored(&written).await? {
                Some(stored) if stored != written => load(stored).await?,
                _ => return Err(crate::catalog::Error::TableNotFound(missing).into()),
            },
            loaded => loaded?,
        };
        let selects = match metadata {
            Some(kind) => Selects::Metadata(kind),
            None => Selects::Snapshot(as_of),
        };
        Ok::<_, Error>(ResolvedTable { relation: relation.clone(), table_ref, table, selects })
    });
    futures::future::try_join_all(loads).await
}

/// The pin of `relation` (as the query wrote it) among a ticket's `pins`,
/// if it names `table`.
pub(super) fn pin_of<'a>(pins: &'a [TablePin], relation: &str, table: &TableRef) -> Option<&'a TablePin> {
    pins.iter().find(|pin| {
        pin.relation == relation
            && pin.catalog == table.catalog
            && pin.name == table.ident.name()
            && pin.namespace == *table.ident.namespace().as_ref()
    })
}
