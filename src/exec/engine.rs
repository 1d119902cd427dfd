//! Building an `Engine` (its settings, from the server's flags) and what
//! the layers above read from it.

use std::sync::Arc;

use super::running::{Admission, Running};
use super::shuffle::ShuffleStore;
use super::{resolve, Engine, Error, Result, ScanOptions};
use crate::access::{Policy, Principal, Right};
use crate::catalog::{Lake, TableRef};
use crate::peer::Peers;
use crate::ticket::Keyring;

impl Engine {
    pub fn new(lake: Arc<Lake>, keyring: Keyring) -> Self {
        Self {
            lake,
            running: Running::default(),
            scan_options: ScanOptions::default(),
            peers: Peers::new(keyring.peer_token(), None),
            keyring,
            policy: Arc::default(),
            shuffle_store: Arc::new(ShuffleStore::Local(std::env::temp_dir().join("floe-shuffle"))),
            history: Default::default(),
            nodes: None,
            polars_engine: Default::default(),
            result_cache: Arc::default(),
            data_cache: Arc::default(),
            planned_schemas: Arc::default(),
            planned_frames: Arc::default(),
            held_frames: Arc::default(),
            planned_reads: Arc::default(),
        }
    }

    /// Where `system.workers` finds the cluster's nodes.
    pub fn with_nodes(mut self, nodes: crate::host::Directory) -> Self {
        self.nodes = Some(nodes);
        self
    }

    pub(super) fn nodes(&self) -> Vec<crate::host::Node> {
        self.nodes.as_ref().map(|list| list()).unwrap_or_default()
    }

    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn with_policy(mut self, policy: Policy) -> Self {
        self.policy = Arc::new(policy);
        self
    }

    /// Refuses `right` on `table` unless `who` holds it.
    pub fn authorize(&self, who: &Principal, table: &TableRef, right: Right) -> Result<()> {
        let namespace = table.ident.namespace().join(".");
        let object = format!("table `{table}`");
        self.policy.check(who, &table.catalog, &namespace, right, &object).map_err(Error::Denied)
    }

    pub(super) fn authorize_reads(&self, tables: &[resolve::ResolvedTable], who: &Principal) -> Result<()> {
        tables.iter().try_for_each(|resolved| self.authorize(who, &resolved.table_ref, Right::Read))
    }

    pub fn peers(&self) -> &Peers {
        &self.peers
    }

    /// Which reader reads files, with what timeouts and retries on object storage.
    pub fn with_scan_options(mut self, scan_options: ScanOptions) -> Self {
        self.scan_options = scan_options;
        self
    }

    /// Which of Polars' engines runs queries.
    pub fn with_polars_engine(mut self, polars_engine: super::PolarsEngine) -> Self {
        self.polars_engine = polars_engine;
        self
    }

    /// Keeps answers of up to `capacity_bytes` in all for repeated queries (0: off).
    pub fn with_result_cache(mut self, capacity_bytes: usize) -> Self {
        self.result_cache = Arc::new(super::result_cache::ResultCache::new(capacity_bytes));
        self
    }

    /// Keeps decoded columns of data files, up to `capacity_bytes` in all, for the next scan (0: off).
    pub fn with_data_cache(mut self, capacity_bytes: usize) -> Self {
        self.data_cache = Arc::new(super::data_cache::DataCache::new(capacity_bytes));
        // Weak: the kept plans hold the cache (through its files) in turn.
        let held_frames = Arc::downgrade(&self.held_frames);
        self.data_cache.on_eviction(Box::new(move |evictions| held_frames.upgrade().into_iter().for_each(|held| held.forget(evictions))));
        self
    }

    /// How many queries run at once, wait, and for how long.
    pub fn with_admission(mut self, admission: Admission) -> Self {
        self.running = Running::new(admission);
        self
    }

    pub fn with_peer_tls(mut self, tls: Option<crate::peer::PeerTls>) -> Self {
        self.peers = Peers::new(self.keyring.peer_token(), tls);
        self
    }

    pub fn with_shuffle_store(mut self, store: ShuffleStore) -> Self {
        self.shuffle_store = Arc::new(store);
        self
    }

    pub fn with_history(mut self, history: crate::history::History) -> Self {
        self.history = history;
        self
    }

    pub fn history(&self) -> &crate::history::History {
        &self.history
    }

    pub fn shuffle_store(&self) -> &ShuffleStore {
        &self.shuffle_store
    }

    pub fn lake(&self) -> &Arc<Lake> {
        &self.lake
    }

    pub fn running(&self) -> &Running {
        &self.running
    }
}
