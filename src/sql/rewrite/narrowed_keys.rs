//! A correlated subquery becomes a CTE grouped by its keys (`subquery.rs`),
//! which computes every group although the outer query meets only the
//! groups of the rows it keeps. Where the outer relation a key comes from
//! has filters of its own in the WHERE, the CTE reads only rows whose key
//! such a row has: `l_partkey IN (SELECT p_partkey FROM part WHERE p_brand =
//! 'Brand#23' AND …)` (magic sets). Each group is every row of one key, so
//! the groups the join can meet are whole and the answer is the same; TPC-H
//! 17 grouped all of `lineitem` by part to read 200 parts' averages.

use sqlparser::ast::{Select, TableFactor};

use super::scope::*;

/// Each outer relation's text and its own deterministic WHERE conjuncts,
/// in the order of the SELECT's scopes; `None` for derived tables and the
/// like, which are not restated.
pub(super) struct OuterFilters {
    relations: Vec<Option<(String, Vec<String>)>>,
}

impl OuterFilters {
    pub fn of(select: &Select, scopes: &[Scope]) -> Self {
        let conjuncts: Vec<_> = select.selection.as_ref().map(conjuncts).unwrap_or_default();
        let relations = factors(&select.from)
            .enumerate()
            .map(|(i, factor)| {
                let TableFactor::Table { args: None, .. } = factor else { return None };
                let own: Vec<String> =
                    conjuncts.iter().filter(|c| owner(c, scopes) == Some(i) && without_calls(**c)).map(ToString::to_string).collect();
                (!own.is_empty()).then(|| (factor.to_string(), own))
            })
            .collect();
        Self { relations }
    }

    /// The conjunct that keeps the inner rows whose key `inner` equals
    /// `outer` of some outer row the filters keep.
    pub fn restriction(&self, inner: &str, outer: &str, scopes: &[Scope]) -> Option<String> {
        let relation = owner(&parse_expr(outer)?, scopes)?;
        let (factor, filters) = self.relations.get(relation)?.as_ref()?;
        Some(format!("{inner} IN (SELECT {outer} FROM {factor} WHERE {})", filters.join(" AND ")))
    }
}
