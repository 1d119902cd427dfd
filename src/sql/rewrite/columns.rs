//! What the rewrites know of the catalog relations a query reads: their
//! column names, and what kind of value each name holds.

use std::collections::HashMap;

use super::RelationName;

/// Column names per catalog relation (as written in the query), and the
/// kind of value each name holds wherever it occurs: SQL's `date + 30`
/// needs the type, which polars-sql does not infer, and so does decimal
/// arithmetic (`rewrite/decimals.rs`).
#[derive(Debug, Default, Clone)]
pub struct Columns {
    names: HashMap<RelationName, Vec<String>>,
    /// `None` where relations disagree on a name's kind.
    kinds: HashMap<String, Option<ColumnKind>>,
    /// Each relation's own, in the order of its names.
    relation_kinds: HashMap<RelationName, Vec<ColumnKind>>,
    /// Rows in each relation's snapshot, where known (join order).
    rows: HashMap<RelationName, u64>,
}

/// What the rewrites need to know of a column's type.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Date,
    /// With its scale: digits after the point.
    Decimal(u8),
    Integer,
    /// REAL or DOUBLE.
    Float,
    Text,
    #[default]
    Other,
}

impl Columns {
    pub fn insert(&mut self, relation: RelationName, names: Vec<String>, kinds: &[ColumnKind]) {
        for (name, kind) in names.iter().zip(kinds.iter().chain(std::iter::repeat(&ColumnKind::Other))) {
            self.kinds
                .entry(name.to_ascii_lowercase())
                .and_modify(|known| {
                    if *known != Some(*kind) {
                        *known = None;
                    }
                })
                .or_insert(Some(*kind));
        }
        let own = names.iter().zip(kinds.iter().chain(std::iter::repeat(&ColumnKind::Other))).map(|(_, kind)| *kind).collect();
        self.relation_kinds.insert(relation.clone(), own);
        self.names.insert(relation, names);
    }

    /// The kind of one relation's column.
    pub fn kind_in(&self, relation: &RelationName, column: &str) -> Option<ColumnKind> {
        let position = self.names.get(relation)?.iter().position(|name| name.eq_ignore_ascii_case(column))?;
        self.relation_kinds.get(relation)?.get(position).copied()
    }

    pub fn set_rows(&mut self, relation: RelationName, rows: u64) {
        self.rows.insert(relation, rows);
    }

    pub fn rows(&self, relation: &RelationName) -> Option<u64> {
        self.rows.get(relation).copied()
    }

    pub fn get(&self, relation: &RelationName) -> Option<&Vec<String>> {
        self.names.get(relation)
    }

    /// Every relation's column names, each once.
    pub fn every_name(&self) -> std::collections::BTreeSet<String> {
        self.names.values().flatten().cloned().collect()
    }

    /// The kind of every relation's column of that name, if they agree.
    pub fn kind(&self, name: &str) -> Option<ColumnKind> {
        self.kinds.get(&name.to_ascii_lowercase()).copied().flatten()
    }

    /// A DATE column in every relation that has a column of that name.
    pub fn is_date(&self, name: &str) -> bool {
        self.kind(name) == Some(ColumnKind::Date)
    }

    /// The scale of a DECIMAL column in every relation that has a column of that name.
    pub fn decimal_scale(&self, name: &str) -> Option<u8> {
        match self.kind(name)? {
            ColumnKind::Decimal(scale) => Some(scale),
            _ => None,
        }
    }
}

impl FromIterator<(RelationName, Vec<String>)> for Columns {
    fn from_iter<I: IntoIterator<Item = (RelationName, Vec<String>)>>(iter: I) -> Self {
        let mut columns = Self::default();
        for (relation, names) in iter {
            columns.insert(relation, names, &[]);
        }
        columns
    }
}
