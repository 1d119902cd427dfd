//! Plans kept by everything that decides them: the statement, its
//! parameters, the session and the snapshot each relation reads (which
//! fixes its files, columns and row count). ADBC and the JDBC driver
//! prepare a query and then ask for its FlightInfo on every execute, and
//! dashboards run the same tickets again and again: each call resolved,
//! planned scans and planned with Polars from scratch to reach the same plan.
//!
//! Tickets stay self-contained: a node that kept nothing plans from the
//! ticket alone, so any node still runs any ticket.

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use polars::prelude::LazyFrame;
use prost::Message;

use super::scan::ScanStats;
use crate::bounded::BoundedMap;
use crate::proto::QueryTicket;

/// Beyond this many result schemas the memo starts over.
const MAX_SCHEMAS: usize = 1024;
/// Beyond this many runnable plans the memo starts over. A plan holds file
/// lists and Parquet footers, never rows (plans over held data are kept apart).
const MAX_FRAMES: usize = 256;
/// Beyond this many plans over columns the data cache held the memo starts over.
const MAX_HELD_FRAMES: usize = 64;

/// The result schema of each ticket planned before.
pub(super) type PlannedSchemas = TicketMemo<SchemaRef>;
/// The runnable plan of each ticket run before.
pub(super) type PlannedFrames = TicketMemo<Arc<PlannedFrame>>;
/// What each ticket run before read through the data cache.
pub(super) type PlannedReads = TicketMemo<super::materialized::CachedReads>;

/// A ticket's Polars plan over its pinned files, ready to run again. Its
/// scans keep what Polars learnt of the files (their footers), so a rerun
/// does not read them again; the data files of a snapshot never change.
pub(super) struct PlannedFrame {
    pub frame: LazyFrame,
    pub schema: SchemaRef,
    /// What each relation's scan selected, for the query's history.
    pub scans: Vec<(String, ScanStats)>,
    /// Which engine its inputs call for.
    pub placement: super::inputs::Placement,
    /// The columns it holds of the data cache's, read again on each run.
    pub held: Vec<super::materialized::HeldRead>,
}

/// Plans over columns the data cache held, whose planning (Floe's rewrites,
/// the ranges and values they read from the data, polars-sql) took as long
/// as running them on TPC-DS 7 (90 of 150 ms). Such a plan holds those
/// columns' rows, so it is kept only while the cache has let no column go
/// since it was planned: it then holds nothing the cache does not. Each
/// eviction lets every kept plan go (`forget`, called by the cache).
pub(super) struct HeldFrames {
    /// The cache's evictions when the plans were kept, and the plans.
    kept: Mutex<(u64, PlannedFrames)>,
}

impl Default for HeldFrames {
    fn default() -> Self {
        Self { kept: Mutex::new(none_kept(0)) }
    }
}

/// No plan kept, the cache having let columns go `evictions` times.
fn none_kept(evictions: u64) -> (u64, PlannedFrames) {
    (evictions, TicketMemo { entries: BoundedMap::new(MAX_HELD_FRAMES) })
}

impl HeldFrames {
    /// The plan kept for `ticket`, where the cache has let nothing go
    /// since (its `evictions` when the caller took its columns).
    pub fn get(&self, ticket: &QueryTicket, evictions: u64) -> Option<Arc<PlannedFrame>> {
        let kept = self.kept.lock().expect("held plans lock");
        (kept.0 == evictions).then(|| kept.1.get(ticket)).flatten()
    }

    /// Keeps `ticket`'s plan, planned when the cache had let columns go
    /// `planned_at` times, where it has let none go since (`evictions` now).
    pub fn put(&self, ticket: &QueryTicket, plan: Arc<PlannedFrame>, planned_at: u64, evictions: u64) {
        if planned_at != evictions {
            return;
        }
        self.forget(evictions);
        let kept = self.kept.lock().expect("held plans lock");
        // Not where another eviction came in between.
        if kept.0 == evictions {
            kept.1.put(ticket, plan);
        }
    }

    /// Lets every kept plan go: the cache has let columns go `evictions` times.
    pub fn forget(&self, evictions: u64) {
        let mut kept = self.kept.lock().expect("held plans lock");
        if kept.0 < evictions {
            let forgotten = std::mem::replace(&mut *kept, none_kept(evictions));
            drop(kept);
            drop(forgotten);
        }
    }
}

pub(super) struct TicketMemo<V> {
    entries: BoundedMap<Vec<u8>, V>,
}

impl Default for TicketMemo<SchemaRef> {
    fn default() -> Self {
        Self { entries: BoundedMap::new(MAX_SCHEMAS) }
    }
}

impl Default for TicketMemo<Arc<PlannedFrame>> {
    fn default() -> Self {
        Self { entries: BoundedMap::new(MAX_FRAMES) }
    }
}

impl Default for TicketMemo<super::materialized::CachedReads> {
    fn default() -> Self {
        Self { entries: BoundedMap::new(MAX_SCHEMAS) }
    }
}

impl<V: Clone> TicketMemo<V> {
    pub fn get(&self, ticket: &QueryTicket) -> Option<V> {
        self.entries.get(&key(ticket))
    }

    pub fn put(&self, ticket: &QueryTicket, value: V) {
        self.entries.put(key(ticket), value);
    }
}

/// Whether `ticket`'s plan is decided by the ticket alone: every relation
/// pinned to a snapshot and none a shuffle bucket of a distributed run.
pub(super) fn pinned(ticket: &QueryTicket) -> bool {
    ticket.tables.iter().all(|pin| pin.snapshot_id.is_some() && pin.shuffle.is_none())
}

/// The ticket without its query id: every plan has its own.
fn key(ticket: &QueryTicket) -> Vec<u8> {
    let mut stable = ticket.clone();
    stable.query_id.clear();
    stable.encode_to_vec()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::proto::TablePin;

    fn ticket(snapshot_id: i64, query_id: &str) -> QueryTicket {
        QueryTicket {
            sql: "SELECT a FROM t".into(),
            tables: vec![TablePin { relation: "t".into(), name: "t".into(), snapshot_id: Some(snapshot_id), ..Default::default() }],
            query_id: query_id.into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_plan_is_reused_for_the_same_statement_over_the_same_snapshots_only() {
        let memo = PlannedSchemas::default();
        let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
        memo.put(&ticket(1, "first"), schema.clone());
        assert_eq!(memo.get(&ticket(1, "second")), Some(schema));
        assert_eq!(memo.get(&ticket(2, "second")), None);
    }

    #[test]
    fn a_plan_over_held_columns_is_kept_only_while_the_cache_lets_none_go() {
        let plan = || {
            let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
            let frame = polars::prelude::IntoLazy::lazy(polars::prelude::DataFrame::empty());
            Arc::new(PlannedFrame { frame, schema, scans: Vec::new(), placement: super::super::inputs::Placement::Held, held: Vec::new() })
        };
        let held = HeldFrames::default();
        held.put(&ticket(1, "first"), plan(), 0, 0);
        assert!(held.get(&ticket(1, "second"), 0).is_some());
        // Planned before an eviction, done after it: it may hold a column the cache let go.
        held.put(&ticket(2, "first"), plan(), 0, 1);
        assert!(held.get(&ticket(2, "second"), 1).is_none());
        held.forget(1);
        assert!(held.get(&ticket(1, "third"), 1).is_none());
        held.put(&ticket(3, "first"), plan(), 1, 1);
        assert!(held.get(&ticket(3, "second"), 1).is_some());
        // A query that took its columns before the eviction neither finds nor keeps plans.
        assert!(held.get(&ticket(3, "third"), 0).is_none());
        held.put(&ticket(4, "first"), plan(), 0, 0);
        assert!(held.get(&ticket(4, "second"), 1).is_none() && held.get(&ticket(3, "fourth"), 1).is_some());
        // A count told late (another eviction's) forgets nothing newer.
        held.forget(1);
        assert!(held.get(&ticket(3, "fifth"), 1).is_some());
    }

    #[test]
    fn only_tickets_pinned_to_snapshots_decide_their_plans() {
        assert!(pinned(&ticket(1, "q")));
        let mut unpinned = ticket(1, "q");
        unpinned.tables[0].snapshot_id = None;
        assert!(!pinned(&unpinned));
    }
}
