//! DELETE and UPDATE, copy-on-write: every query reads one pinned snapshot;
//! statistics narrow the data files that may hold matching rows, a count
//! per file finds the ones that do, and only those are rewritten (without
//! the deleted rows, or with the new values) and swapped in one commit.

use arrow::datatypes::DataType;
use futures::TryStreamExt;

use super::{Engine, Error, Result};
use crate::access::Principal;
use crate::catalog::TableRef;
use crate::proto::{QueryTicket, SessionDefaults, TablePin};
use crate::sql::time_travel::{split_as_of, AsOf};
use crate::write;

pub(super) fn quoted(part: &str) -> String {
    format!("\"{}\"", part.replace('"', "\"\""))
}

/// The SQL type a column's values are cast back to after an UPDATE, where
/// polars-sql has one.
pub(super) fn sql_type(data_type: &DataType) -> Option<String> {
    Some(match data_type {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "REAL".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Date32 => "DATE".into(),
        DataType::Timestamp(_, None) => "TIMESTAMP".into(),
        DataType::Decimal128(p, s) => format!("DECIMAL({p}, {s})"),
        _ => return None,
    })
}

/// The rows of the rewritten files: the ones DELETE keeps, or every row
/// with UPDATE's new values where the condition holds.
fn rewrite_sql(relation: &str, condition: &str, assignments: &[(String, String)], schema: &arrow::datatypes::Schema) -> Result<String> {
    let matched = format!("COALESCE(({condition}), FALSE)");
    if assignments.is_empty() {
        return Ok(format!("SELECT * FROM {relation} WHERE NOT {matched}"));
    }
    let mut assigned: Vec<(&String, &String)> = Vec::new();
    for (column, value) in assignments {
        let Some(name) = write::schema::stored_name(schema, column) else {
            return Err(Error::Invalid(format!("UPDATE sets `{column}`, which the table does not have")));
        };
        if assigned.iter().any(|(earlier, _)| *earlier == name) {
            return Err(Error::Invalid(format!("UPDATE sets `{column}` twice")));
        }
        assigned.push((name, value));
    }
    let items: Vec<String> = schema
        .fields()
        .iter()
        .map(|field| {
            let name = quoted(field.name());
            match assigned.iter().find(|(column, _)| *column == field.name()) {
                None => name,
                Some((_, value)) => {
                    let chosen = format!("CASE WHEN {matched} THEN ({value}) ELSE {name} END");
                    match sql_type(field.data_type()) {
                        Some(sql_type) => format!("CAST({chosen} AS {sql_type}) AS {name}"),
                        None => format!("{chosen} AS {name}"),
                    }
                }
            }
        })
        .collect();
    Ok(format!("SELECT {} FROM {relation}", items.join(", ")))
}

/// Whether `pin` is the statement's own relation: `table` as
/// [`pinned_relation`] names it. The condition's subqueries may read the
/// same table at the same snapshot, but as written (`WHERE x > (SELECT
/// avg(x) FROM t)`), and those read every file.
fn is_changed_relation(pin: &TablePin, table: &TableRef, snapshot_id: i64) -> bool {
    let last = pin.relation.rsplit_once('.').map_or(pin.relation.as_str(), |(_, last)| last);
    let pinned = matches!(split_as_of(last).1, AsOf::Version(version) if version == snapshot_id.to_string());
    pinned && pin.name == table.ident.name() && pin.namespace == *table.ident.namespace().as_ref() && pin.snapshot_id == Some(snapshot_id)
}

/// This ticket, reading only `files` of `table` at `snapshot_id` where it
/// reads the changed relation (everything else whole).
pub(super) fn only_files(ticket: &QueryTicket, table: &TableRef, snapshot_id: i64, files: &[String]) -> QueryTicket {
    let mut ticket = ticket.clone();
    for pin in &mut ticket.tables {
        if is_changed_relation(pin, table, snapshot_id) {
            pin.partitioned = true;
            pin.files = files.to_vec();
        }
    }
    ticket
}

/// The pinned name of `table` at `snapshot_id`, for every query of one statement.
pub(super) fn pinned_relation(table: &TableRef, snapshot_id: i64) -> String {
    let parts: Vec<String> = std::iter::once(table.catalog.as_str())
        .chain(table.ident.namespace().iter().map(String::as_str))
        .chain(std::iter::once(table.ident.name()))
        .map(quoted)
        .collect();
    format!("{} FOR VERSION AS OF {snapshot_id}", parts.join("."))
}

/// The data files of `table` (as pinned by `ticket`) holding rows `ticket` counts, and how many.
pub(super) async fn files_with_rows(
    engine: &Engine,
    ticket: &QueryTicket,
    table: &TableRef,
    snapshot_id: i64,
    who: &Principal,
) -> Result<(Vec<String>, i64)> {
    let target: Vec<&str> =
        ticket.tables.iter().filter(|pin| is_changed_relation(pin, table, snapshot_id)).map(|pin| pin.relation.as_str()).collect();
    let mut candidates: Vec<String> = engine
        .planned_files(ticket)
        .await?
        .into_iter()
        .filter(|(relation, _)| target.contains(&relation.as_str()))
        .flat_map(|(_, scan)| scan.files)
        .map(|(path, _)| path)
        .collect();
    candidates.sort();
    candidates.dedup();
    let (mut affected, mut rows) = (Vec::new(), 0i64);
    for file in candidates {
        let in_file = count(engine, &only_files(ticket, table, snapshot_id, std::slice::from_ref(&file)), who).await?;
        if in_file > 0 {
            rows += in_file;
            affected.push(file);
        }
    }
    Ok((affected, rows))
}

pub(super) async fn count(engine: &Engine, ticket: &QueryTicket, who: &Principal) -> Result<i64> {
    let (_, batches) = engine.execute(ticket, who).await?;
    let batches: Vec<_> = batches.try_collect().await?;
    let column = batches.first().map(|b| b.column(0).clone()).ok_or_else(|| Error::Invalid("count returned no rows".into()))?;
    let column = arrow::compute::cast(&column, &DataType::Int64)?;
    Ok(arrow::array::AsArray::as_primitive::<arrow::datatypes::Int64Type>(&column).value(0))
}

/// The data files of `table` at `snapshot_id` holding rows where
/// `condition` holds, and how many such rows there are.
async fn files_matching(
    engine: &Engine,
    table: &TableRef,
    snapshot_id: i64,
    condition: &str,
    session: &SessionDefaults,
    who: &Principal,
) -> Result<(Vec<String>, i64)> {
    let sql = format!("SELECT count(*) AS n FROM {} WHERE {condition}", pinned_relation(table, snapshot_id));
    let counting = engine.plan(&sql, Vec::new(), session.clone(), who).await?;
    files_with_rows(engine, &counting.ticket, table, snapshot_id, who).await
}

/// Deletes (no `assignments`) or updates the rows of `table` where
/// `condition` holds; returns how many.
pub async fn change_rows(
    engine: &Engine,
    table: &TableRef,
    condition: &str,
    assignments: &[(String, String)],
    session: &SessionDefaults,
    who: &Principal,
) -> Result<i64> {
    let lake = engine.lake();
    let loaded = lake.load(table).await?;
    write::check_row_level(&loaded)?;
    let Some(snapshot_id) = loaded.metadata().current_snapshot_id() else { return Ok(0) };
    let relation = pinned_relation(table, snapshot_id);
    let (affected, matched) = files_matching(engine, table, snapshot_id, condition, session, who).await?;
    if affected.is_empty() {
        return Ok(0);
    }
    let schema = super::table_schema(&loaded)?;
    let rewriting = engine.plan(&rewrite_sql(&relation, condition, assignments, &schema)?, Vec::new(), session.clone(), who).await?;
    let (_, rows) = engine.execute(&only_files(&rewriting.ticket, table, snapshot_id, &affected), who).await?;
    let written = write::write_data_files(&loaded, super::dml::rows_to_write(rows)).await?;
    write::replace_files(lake, table, affected, written.files).await?;
    Ok(matched)
}

/// Replaces the rows of `table` where `condition` holds with `rows`, in one
/// commit (`INSERT OVERWRITE … PARTITION (…)`); returns the rows written.
pub async fn replace_rows(
    engine: &Engine,
    table: &TableRef,
    condition: &str,
    rows: write::BatchStream,
    session: &SessionDefaults,
    who: &Principal,
) -> Result<i64> {
    let lake = engine.lake();
    let loaded = lake.load(table).await?;
    write::check_row_level(&loaded)?;
    let (mut removed, mut added) = (Vec::new(), Vec::new());
    if let Some(snapshot_id) = loaded.metadata().current_snapshot_id() {
        let relation = pinned_relation(table, snapshot_id);
        (removed, _) = files_matching(engine, table, snapshot_id, condition, session, who).await?;
        if !removed.is_empty() {
            let keeping = format!("SELECT * FROM {relation} WHERE NOT COALESCE(({condition}), FALSE)");
            let keeping = engine.plan(&keeping, Vec::new(), session.clone(), who).await?;
            let (_, kept) = engine.execute(&only_files(&keeping.ticket, table, snapshot_id, &removed), who).await?;
            added = write::write_data_files(&loaded, super::dml::rows_to_write(kept)).await?.files;
        }
    }
    let written = write::write_data_files(&loaded, rows).await?;
    added.extend(written.files);
    if !removed.is_empty() || !added.is_empty() {
        write::replace_files(lake, table, removed, added).await?;
    }
    Ok(written.rows as i64)
}
