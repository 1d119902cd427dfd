//! Queries as analyzed, by their text and parameters. A Flight SQL client
//! sends one query up to three times (prepare, GetFlightInfo, DoGet) and
//! each arrival parsed and rewrote it again: a tenth of the server's time
//! under many short queries. The analysis depends on nothing but the text
//! and the parameters, except for queries that read the clock (rewritten
//! with the time they arrive), which are never kept.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::LazyLock;

use super::Query;
use crate::bounded::BoundedMap;

/// Beyond this many queries the memo starts over (dashboards repeat a few).
const MAX_QUERIES: usize = 512;

/// Longer statements (generated IN lists) are analyzed each time rather
/// than held.
const MAX_KEPT_BYTES: usize = 16 * 1024;

struct Analyzed {
    sql: String,
    params: Vec<String>,
    query: Query,
}

/// By a hash of the text and parameters, each entry keeping both to tell a
/// collision from a hit.
struct Memo {
    queries: BoundedMap<u64, Analyzed>,
}

impl Default for Memo {
    fn default() -> Self {
        Self { queries: BoundedMap::new(MAX_QUERIES) }
    }
}

static ANALYZED: LazyLock<Memo> = LazyLock::new(Memo::default);

/// `sql` with `params` as analyzed before, if it was.
pub(super) fn analyzed(sql: &str, params: &[String]) -> Option<Query> {
    ANALYZED.get(sql, params)
}

/// Keeps `query`, the analysis of `sql` with `params`, unless it reads the clock.
pub(super) fn keep(sql: &str, params: &[String], query: &Query) {
    ANALYZED.put(sql, params, query)
}

impl Memo {
    fn get(&self, sql: &str, params: &[String]) -> Option<Query> {
        if sql.len() > MAX_KEPT_BYTES {
            return None;
        }
        self.queries.find(&key(sql, params), |kept| (kept.sql == sql && kept.params == params).then(|| kept.query.clone()))
    }

    fn put(&self, sql: &str, params: &[String], query: &Query) {
        if sql.len() > MAX_KEPT_BYTES || query.is_volatile() {
            return;
        }
        self.queries.put(key(sql, params), Analyzed { sql: sql.to_string(), params: params.to_vec(), query: query.clone() });
    }
}

fn key(sql: &str, params: &[String]) -> u64 {
    let mut hasher = DefaultHasher::new();
    (sql, params).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::super::Query;
    use super::Memo;

    #[test]
    fn a_query_is_kept_by_text_and_parameters_unless_it_reads_the_clock() {
        let memo = Memo::default();
        let sql = "SELECT a FROM t WHERE b = ?";
        let (one, two) = (vec!["1".to_string()], vec!["2".to_string()]);
        let first = Query::analyze(sql, &one).unwrap();
        memo.put(sql, &one, &first);
        assert_eq!(memo.get(sql, &one).map(|q| q.sql()), Some(first.sql()));
        assert!(memo.get(sql, &two).is_none());
        assert!(memo.get("SELECT a FROM t WHERE b = 1", &[]).is_none());

        let clock = "SELECT a FROM t WHERE ts < now()";
        memo.put(clock, &[], &Query::analyze(clock, &[]).unwrap());
        assert!(memo.get(clock, &[]).is_none());
    }

    #[test]
    fn the_memo_starts_over_when_full() {
        let memo = Memo::default();
        let kept = |i: usize| format!("SELECT {i}");
        for i in 0..=super::MAX_QUERIES {
            memo.put(&kept(i), &[], &Query::analyze(&kept(i), &[]).unwrap());
        }
        assert!(memo.get(&kept(0), &[]).is_none());
        assert!(memo.get(&kept(super::MAX_QUERIES), &[]).is_some());
    }
}
