//! `MERGE INTO target USING source ON … WHEN [NOT] MATCHED …`, parsed into
//! the pieces `exec` builds its queries from (SQL text, parameters bound).

use sqlparser::ast::{MergeAction, MergeClauseKind, MergeInsertKind, Statement, TableFactor};

use super::dml::{assignments, column_name, name, Name};
use super::{Error, Result};

#[derive(Debug)]
pub enum Matched {
    Update(Vec<(String, String)>),
    Delete,
}

/// `WHEN MATCHED [AND condition] THEN UPDATE SET … | DELETE`.
#[derive(Debug)]
pub struct MatchedClause {
    pub condition: Option<String>,
    pub action: Matched,
}

/// `WHEN NOT MATCHED [AND condition] THEN INSERT [(columns)] VALUES (…)`.
#[derive(Debug)]
pub struct InsertClause {
    pub condition: Option<String>,
    /// Empty: every column of the target, in order.
    pub columns: Vec<String>,
    pub values: Vec<String>,
}

#[derive(Debug)]
pub struct Merge {
    pub target: Name,
    pub target_alias: String,
    /// The source relation without its alias: a table name or `(subquery)`.
    pub source: String,
    pub source_alias: String,
    pub on: String,
    pub matched: Vec<MatchedClause>,
    pub not_matched: Vec<InsertClause>,
}

fn unsupported(what: &str) -> Error {
    Error::Unsupported(format!("MERGE: {what} is not supported"))
}

impl Merge {
    pub fn classify(mut statement: Statement, params: &[String]) -> Result<Self> {
        super::rewrite::analyze(&mut statement, params)?;
        let Statement::Merge(merge) = statement else { unreachable!("only MERGE reaches here") };
        if merge.output.is_some() {
            return Err(unsupported("OUTPUT"));
        }
        let TableFactor::Table { name: target, alias: target_alias, args: None, .. } = &merge.table else {
            return Err(unsupported("a target that is not a table"));
        };
        let target = name(target)?;
        let target_alias = target_alias.as_ref().map_or_else(|| target.last().cloned().unwrap_or_default(), |a| a.name.value.clone());
        let (source, source_alias) = match &merge.source {
            TableFactor::Table { name: source, alias, args: None, .. } => {
                let alias = alias.as_ref().map_or_else(|| name(source).map(|n| n.last().cloned().unwrap_or_default()), |a| Ok(a.name.value.clone()))?;
                (source.to_string(), alias)
            }
            TableFactor::Derived { subquery, alias: Some(alias), .. } => (format!("({subquery})"), alias.name.value.clone()),
            TableFactor::Derived { alias: None, .. } => return Err(Error::Syntax("MERGE: name the source subquery (`… ) AS s`)".into())),
            _ => return Err(unsupported("this kind of source")),
        };
        if source_alias.eq_ignore_ascii_case(&target_alias) {
            return Err(Error::Syntax("MERGE: give the target and the source different aliases".into()));
        }
        let (mut matched, mut not_matched) = (Vec::new(), Vec::new());
        for clause in merge.clauses {
            let condition = clause.predicate.map(|p| p.to_string());
            match (clause.clause_kind, clause.action) {
                (MergeClauseKind::Matched, MergeAction::Update(update)) => {
                    if update.update_predicate.is_some() || update.delete_predicate.is_some() {
                        return Err(unsupported("UPDATE … WHERE / DELETE WHERE inside a clause"));
                    }
                    matched.push(MatchedClause { condition, action: Matched::Update(assignments(&update.assignments)?) });
                }
                (MergeClauseKind::Matched, MergeAction::Delete { .. }) => matched.push(MatchedClause { condition, action: Matched::Delete }),
                (MergeClauseKind::NotMatched | MergeClauseKind::NotMatchedByTarget, MergeAction::Insert(insert)) => {
                    let MergeInsertKind::Values(values) = insert.kind else { return Err(unsupported("INSERT ROW")) };
                    let [row] = values.rows.as_slice() else { return Err(Error::Syntax("MERGE: INSERT takes one VALUES row".into())) };
                    let columns = insert.columns.iter().map(column_name).collect();
                    let values = row.content.iter().map(|v| v.to_string()).collect();
                    not_matched.push(InsertClause { condition, columns, values });
                }
                (kind, action) => return Err(unsupported(&format!("WHEN {kind} THEN {action}"))),
            }
        }
        Ok(Merge { target, target_alias, source, source_alias, on: merge.on.to_string(), matched, not_matched })
    }
}
