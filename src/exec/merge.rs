//! MERGE INTO, copy-on-write like DELETE and UPDATE: the target is read at
//! one pinned snapshot; the data files holding matched target rows are
//! rewritten with each matched row updated, deleted or kept by the first
//! clause that applies; source rows without a match are inserted by theirs;
//! one commit swaps the files. A target row matched by several source rows
//! makes the change ambiguous, which the SQL standard makes an error.

use arrow::datatypes::Schema;
use futures::StreamExt;

use super::row_changes::{count, files_with_rows, only_files, pinned_relation, quoted, sql_type};
use super::{Engine, Error, Result};
use crate::access::Principal;
use crate::catalog::TableRef;
use crate::proto::SessionDefaults;
use crate::sql::merge::{Matched, Merge};
use crate::write;
use crate::write::schema::stored_name;

const MATCHED: &str = "__floe_matched";

fn holds(condition: &Option<String>) -> String {
    condition.as_ref().map_or("TRUE".to_string(), |c| format!("COALESCE(({c}), FALSE)"))
}

/// For each clause, the condition that it is the first to apply.
fn first_applicable(conditions: &[String], base: &str) -> Vec<String> {
    conditions
        .iter()
        .enumerate()
        .map(|(i, condition)| {
            let earlier: Vec<String> = conditions[..i].iter().map(|c| format!("NOT ({c})")).collect();
            std::iter::once(base.to_string()).chain(std::iter::once(condition.clone())).chain(earlier).collect::<Vec<_>>().join(" AND ")
        })
        .collect()
}

fn cast(value: &str, field: &arrow::datatypes::Field) -> String {
    match sql_type(field.data_type()) {
        Some(sql_type) => format!("CAST({value} AS {sql_type})"),
        None => value.to_string(),
    }
}

/// Whether SQL's `column` names the target's column `field` (whatever its case).
fn names(schema: &Schema, column: &str, field: &arrow::datatypes::Field) -> bool {
    stored_name(schema, column) == Some(field.name())
}

fn check_columns(schema: &Schema, columns: &[&String], what: &str) -> Result<()> {
    let mut seen = Vec::new();
    for column in columns {
        let Some(stored) = stored_name(schema, column) else {
            return Err(Error::Invalid(format!("MERGE {what} names `{column}`, which the target does not have")));
        };
        if seen.contains(&stored) {
            return Err(Error::Invalid(format!("MERGE {what} names `{column}` twice")));
        }
        seen.push(stored);
    }
    Ok(())
}

/// The rows of the rewritten target files.
fn rewrite_sql(merge: &Merge, target: &str, schema: &Schema) -> Result<String> {
    let (ta, sa) = (quoted(&merge.target_alias), quoted(&merge.source_alias));
    let matched = format!("COALESCE({sa}.{MATCHED}, FALSE)");
    let conditions: Vec<String> = merge.matched.iter().map(|clause| holds(&clause.condition)).collect();
    let firsts = first_applicable(&conditions, &matched);
    let mut deleted = Vec::new();
    for (clause, first) in merge.matched.iter().zip(&firsts) {
        match &clause.action {
            Matched::Delete => deleted.push(format!("({first})")),
            Matched::Update(assignments) => check_columns(schema, &assignments.iter().map(|(c, _)| c).collect::<Vec<_>>(), "UPDATE SET")?,
        }
    }
    let items: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| {
            let current = format!("{ta}.{}", quoted(field.name()));
            let cases: Vec<String> = merge
                .matched
                .iter()
                .zip(&firsts)
                .filter_map(|(clause, first)| match &clause.action {
                    Matched::Update(assignments) => assignments
                        .iter()
                        .find(|(column, _)| names(schema, column, field))
                        .map(|(_, value)| format!("WHEN {first} THEN {}", cast(&format!("({value})"), field))),
                    Matched::Delete => None,
                })
                .collect();
            if cases.is_empty() {
                format!("{current} AS {}", quoted(field.name()))
            } else {
                format!("CASE {} ELSE {current} END AS {}", cases.join(" "), quoted(field.name()))
            }
        })
        .collect();
    let keep = if deleted.is_empty() { String::new() } else { format!(" WHERE NOT ({})", deleted.join(" OR ")) };
    Ok(format!(
        "SELECT {} FROM {target} AS {ta} LEFT JOIN (SELECT *, TRUE AS {MATCHED} FROM {} AS __floe_source) AS {sa} ON {}{keep}",
        items.join(", "),
        merge.source,
        merge.on
    ))
}

/// The rows NOT MATCHED clauses insert (None without such clauses).
fn insert_sql(merge: &Merge, target: Option<&str>, schema: &Schema) -> Result<Option<String>> {
    if merge.not_matched.is_empty() {
        return Ok(None);
    }
    let (ta, sa) = (quoted(&merge.target_alias), quoted(&merge.source_alias));
    let (from, unmatched) = match target {
        Some(target) => (
            format!(
                "{} AS {sa} LEFT JOIN (SELECT *, TRUE AS {MATCHED} FROM {target} AS __floe_target) AS {ta} ON {}",
                merge.source, merge.on
            ),
            format!("{ta}.{MATCHED} IS NULL"),
        ),
        None => (format!("{} AS {sa}", merge.source), "TRUE".to_string()),
    };
    let conditions: Vec<String> = merge.not_matched.iter().map(|clause| holds(&clause.condition)).collect();
    let firsts = first_applicable(&conditions, &unmatched);
    let mut selects = Vec::new();
    for (clause, first) in merge.not_matched.iter().zip(&firsts) {
        let columns: Vec<String> =
            if clause.columns.is_empty() { schema.fields().iter().map(|f| f.name().clone()).collect() } else { clause.columns.clone() };
        if columns.len() != clause.values.len() {
            return Err(Error::Invalid(format!("MERGE INSERT gives {} value(s) for {} column(s)", clause.values.len(), columns.len())));
        }
        check_columns(schema, &columns.iter().collect::<Vec<_>>(), "INSERT")?;
        let items: Vec<String> = schema
            .fields()
            .iter()
            .map(|field| {
                let value = columns.iter().position(|c| names(schema, c, field)).map_or("NULL".to_string(), |i| format!("({})", clause.values[i]));
                format!("{} AS {}", cast(&value, field), quoted(field.name()))
            })
            .collect();
        selects.push(format!("SELECT {} FROM {from} WHERE {first}", items.join(", ")));
    }
    Ok(Some(selects.join(" UNION ALL ")))
}

async fn plan(engine: &Engine, session: &SessionDefaults, who: &Principal, sql: String) -> Result<super::Plan> {
    engine.plan(&sql, Vec::new(), session.clone(), who).await
}

/// Runs a MERGE into `table`; returns the rows updated, deleted and inserted.
pub async fn merge(engine: &Engine, merge: &Merge, table: &TableRef, session: &SessionDefaults, who: &Principal) -> Result<i64> {
    let lake = engine.lake();
    let loaded = lake.load(table).await?;
    write::check_row_level(&loaded)?;
    let schema = super::table_schema(&loaded)?;
    let snapshot_id = loaded.metadata().current_snapshot_id();
    let target = snapshot_id.map(|id| pinned_relation(table, id));
    let (mut affected, mut changed, mut added) = (Vec::new(), 0i64, Vec::new());
    if let (Some(target), Some(snapshot_id), false) = (&target, snapshot_id, merge.matched.is_empty()) {
        let (ta, sa) = (quoted(&merge.target_alias), quoted(&merge.source_alias));
        let joined = format!("{target} AS {ta} JOIN {} AS {sa} ON {}", merge.source, merge.on);
        let pairs = plan(engine, session, who, format!("SELECT count(*) AS n FROM {joined}")).await?;
        let matched_rows = plan(engine, session, who, format!(
            "SELECT count(*) AS n FROM {target} AS {ta} WHERE EXISTS (SELECT 1 FROM {} AS {sa} WHERE {})",
            merge.source, merge.on
        ))
        .await?;
        if count(engine, &pairs.ticket, who).await? != count(engine, &matched_rows.ticket, who).await? {
            return Err(Error::Invalid("MERGE: a target row matches more than one source row; make the ON condition unique".into()));
        }
        let any_clause: Vec<String> = merge.matched.iter().map(|clause| holds(&clause.condition)).collect();
        let acting = plan(engine, session, who, format!("SELECT count(*) AS n FROM {joined} WHERE {}", any_clause.join(" OR "))).await?;
        (affected, changed) = files_with_rows(engine, &acting.ticket, table, snapshot_id, who).await?;
        if !affected.is_empty() {
            let rewriting = plan(engine, session, who, rewrite_sql(merge, target, &schema)?).await?;
            let (_, rows) = engine.execute(&only_files(&rewriting.ticket, table, snapshot_id, &affected), who).await?;
            added = write::write_data_files(&loaded, super::dml::rows_to_write(rows)).await?.files;
        }
    }
    if let Some(sql) = insert_sql(merge, target.as_deref(), &schema)? {
        let inserting = plan(engine, session, who, sql).await?;
        let (_, rows) = engine.execute(&inserting.ticket, who).await?;
        let rows = rows.filter(|batch| futures::future::ready(!matches!(batch, Ok(b) if b.num_rows() == 0)));
        let written = write::write_data_files(&loaded, super::dml::rows_to_write(Box::pin(rows))).await?;
        changed += written.rows as i64;
        added.extend(written.files);
    }
    if affected.is_empty() && added.is_empty() {
        return Ok(0);
    }
    write::replace_files(lake, table, affected, added).await?;
    Ok(changed)
}
