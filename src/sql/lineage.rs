//! What a statement reads and, for a statement that writes rows from a
//! query, which source columns each written column comes from: the parsed
//! statement's answer, for OpenLineage's inputs and `columnLineage`.

use std::collections::{HashMap, HashSet};
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Query, SelectItem, SetExpr, Statement, TableFactor, TableObject};

use super::parse::parse_single;
use super::Result;

/// A column of a relation the statement reads; `relation` is `None` when
/// the column is unqualified and several relations could hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceColumn {
    pub relation: Option<Vec<String>>,
    pub column: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputColumn {
    /// The name the query gives the column; a write matches it by position.
    pub name: String,
    pub sources: Vec<SourceColumn>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatementLineage {
    /// Tables read, as written (CTE names and the written table left out).
    pub reads: Vec<Vec<String>>,
    /// The written table's column list (`INSERT INTO t (a, b)`), if given.
    pub target_columns: Vec<String>,
    /// The source query's columns in order; empty where its shape is not a
    /// plain SELECT (set operations, `*`), since positions cannot be traced.
    pub outputs: Vec<OutputColumn>,
}

pub fn statement_lineage(sql: &str) -> Result<StatementLineage> {
    let statement = parse_single(sql)?;
    let (target, source, target_columns): (Option<Vec<String>>, Option<&Query>, Vec<String>) = match &statement {
        Statement::Insert(insert) => {
            let target = match &insert.table {
                TableObject::TableName(name) => Some(parts(name)),
                _ => None,
            };
            (target, insert.source.as_deref(), insert.columns.iter().map(|c| c.to_string().trim_matches('"').to_string()).collect())
        }
        Statement::CreateTable(create) => (Some(parts(&create.name)), create.query.as_deref(), Vec::new()),
        Statement::Query(query) => (None, Some(query.as_ref()), Vec::new()),
        _ => (None, None, Vec::new()),
    };
    let ctes = cte_names(&statement);
    let mut reads = Vec::new();
    let _ = crate::sql::visit::visit_relations(&statement, |name| {
        let relation = parts(name);
        let is_cte = relation.len() == 1 && ctes.contains(&relation[0].to_ascii_lowercase());
        if !is_cte && Some(&relation) != target.as_ref() && !reads.contains(&relation) {
            reads.push(relation);
        }
        ControlFlow::<()>::Continue(())
    });
    let outputs = source.map(outputs_of).unwrap_or_default();
    Ok(StatementLineage { reads, target_columns, outputs })
}

fn parts(name: &sqlparser::ast::ObjectName) -> Vec<String> {
    name.0.iter().filter_map(|part| part.as_ident()).map(|ident| ident.value.clone()).collect()
}

fn cte_names(statement: &Statement) -> HashSet<String> {
    let mut names = HashSet::new();
    collect_ctes(statement, &mut names);
    names
}

fn collect_ctes(statement: &Statement, names: &mut HashSet<String>) {
    let query = match statement {
        Statement::Query(query) => Some(query.as_ref()),
        Statement::Insert(insert) => insert.source.as_deref(),
        Statement::CreateTable(create) => create.query.as_deref(),
        _ => None,
    };
    if let Some(with) = query.and_then(|q| q.with.as_ref()) {
        names.extend(with.cte_tables.iter().map(|cte| cte.alias.name.value.to_ascii_lowercase()));
    }
}

fn outputs_of(query: &Query) -> Vec<OutputColumn> {
    let SetExpr::Select(select) = query.body.as_ref() else { return Vec::new() };
    // Each alias (or bare table name) in FROM and its joins, to the relation it names.
    let mut aliases: HashMap<String, Vec<String>> = HashMap::new();
    let mut relations = Vec::new();
    for from in &select.from {
        for factor in std::iter::once(&from.relation).chain(from.joins.iter().map(|join| &join.relation)) {
            if let TableFactor::Table { name, alias, .. } = factor {
                let relation = parts(name);
                let key = alias.as_ref().map(|a| a.name.value.clone()).or_else(|| relation.last().cloned()).unwrap_or_default();
                aliases.insert(key.to_ascii_lowercase(), relation.clone());
                relations.push(relation);
            }
        }
    }
    let mut outputs = Vec::new();
    for item in &select.projection {
        let (expr, name) = match item {
            SelectItem::UnnamedExpr(expr) => (expr, column_name(expr)),
            SelectItem::ExprWithAlias { expr, alias } => (expr, alias.value.clone()),
            _ => return Vec::new(),
        };
        let sources = columns_in(expr)
            .into_iter()
            .map(|(qualifier, column)| {
                let relation = match qualifier {
                    Some(q) => aliases.get(&q.to_ascii_lowercase()).cloned(),
                    None if relations.len() == 1 => Some(relations[0].clone()),
                    None => None,
                };
                SourceColumn { relation, column }
            })
            .collect();
        outputs.push(OutputColumn { name, sources });
    }
    outputs
}

fn column_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(idents) => idents.last().map(|i| i.value.clone()).unwrap_or_default(),
        other => other.to_string(),
    }
}

/// The columns an expression reads, with their qualifier if written.
fn columns_in(expr: &Expr) -> Vec<(Option<String>, String)> {
    let mut columns = Vec::new();
    let _ = crate::sql::visit::visit_expressions(expr, |e| {
        match e {
            Expr::Identifier(ident) => columns.push((None, ident.value.clone())),
            Expr::CompoundIdentifier(idents) if idents.len() >= 2 => {
                let qualifier = idents[idents.len() - 2].value.clone();
                columns.push((Some(qualifier), idents[idents.len() - 1].value.clone()));
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
    columns.dedup();
    columns
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(relation: &[&str], column: &str) -> SourceColumn {
        SourceColumn { relation: Some(relation.iter().map(|s| s.to_string()).collect()), column: column.into() }
    }

    #[test]
    fn an_insert_from_a_join_traces_each_written_column() {
        let lineage = statement_lineage(
            "INSERT INTO sales.totals (region, amount) SELECT r.name, o.price * o.qty AS amount FROM sales.orders o JOIN sales.regions r ON o.region_id = r.id",
        )
        .unwrap();
        assert_eq!(lineage.reads, vec![vec!["sales".to_string(), "orders".into()], vec!["sales".into(), "regions".into()]]);
        assert_eq!(lineage.target_columns, vec!["region", "amount"]);
        assert_eq!(lineage.outputs[0], OutputColumn { name: "name".into(), sources: vec![source(&["sales", "regions"], "name")] });
        assert_eq!(
            lineage.outputs[1],
            OutputColumn { name: "amount".into(), sources: vec![source(&["sales", "orders"], "price"), source(&["sales", "orders"], "qty")] }
        );
    }

    #[test]
    fn ctes_and_the_target_are_not_inputs() {
        let lineage = statement_lineage("CREATE TABLE t2 AS WITH x AS (SELECT a FROM t1) SELECT a FROM x").unwrap();
        assert_eq!(lineage.reads, vec![vec!["t1".to_string()]]);
        assert_eq!(lineage.outputs, vec![OutputColumn { name: "a".into(), sources: vec![source(&["x"], "a")] }]);
    }

    #[test]
    fn a_star_has_no_positional_lineage() {
        assert!(statement_lineage("INSERT INTO t SELECT * FROM s").unwrap().outputs.is_empty());
    }
}
