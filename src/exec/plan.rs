//! The Polars plan of an analyzed query: its relations registered as frames
//! in a polars-sql context that knows Floe's functions, the parts Floe hands
//! over one by one (`sql/parts.rs`) run and registered in order, then the rest.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use polars::prelude::{AnyValue, Column, DataFrame, DataType, IntoLazy, LazyFrame, PolarsError, Schema, UniqueKeepStrategy};

use super::key_extents::{self, Keyed};
use super::scan::FrameInput;
use super::{convert, functions, Result};
use crate::sql::rewrite::{ColumnKind, Extent, Probe, RelationName};
use crate::sql::Query;

/// What EXPLAIN shows of Floe's rewrites.
#[derive(Default)]
pub(super) struct Rewritten {
    /// The query after them.
    pub sql: String,
    /// What the data told the rewrites: join-key ranges
    /// (`rewrite::key_ranges`), subqueries' values (`rewrite::subquery_values`).
    pub data_told: Vec<String>,
}

impl Rewritten {
    /// Whether a subquery's value was read ahead: which columns the plan
    /// reads then depends on that value, not on the ticket alone.
    pub fn read_subqueries_ahead(&self) -> bool {
        self.data_told.iter().any(|line| line.starts_with(crate::sql::rewrite::SUBQUERY_NOTE))
    }
}

/// Builds the Polars plan for `query` over `inputs`, its wire schema, and
/// for EXPLAIN the query after Floe's rewrites. `running`, when the plan
/// will run: its recursive CTEs are computed now, until it says to stop
/// (planning only for the schema, each reads as its first part's rows
/// would), and join keys are narrowed by ranges read from the inputs.
pub(super) fn polars_plan(query: &Query, inputs: &[FrameInput], running: Option<&super::recursion::StopCheck>) -> Result<(LazyFrame, SchemaRef, Rewritten)> {
    // A recursive query plans its parts again each round: its ranges would be read each time.
    let probing = running.is_some() && query.recursions().is_empty();
    let context = functions::sql_context();
    let mut planner = Planner { context, frames: HashMap::with_capacity(inputs.len()), columns: Default::default(), data_told: Vec::new(), keyed: HashMap::new() };
    planner.context.register(crate::sql::rewrite::ONE_ROW, one_row()?);
    for (index, input) in inputs.iter().enumerate() {
        let name = format!("__floe_{index}");
        let frame = input.lazy_frame()?;
        if probing {
            planner.keyed.insert(input.relation.clone(), Keyed::of(input, frame.clone(), &name)?);
        }
        planner.provide(input.relation.clone(), name, frame, &input.schema);
        if let Some(rows) = input.rows {
            planner.columns.set_rows(input.relation.clone(), rows);
        }
    }
    for (index, recursion) in query.recursions().iter().enumerate() {
        super::recursion::provide(&mut planner, recursion, index, running)?;
    }
    let mut frame = planner.frame(query)?;
    let schema = presented(convert::wire_schema(frame.collect_schema()?.as_ref())?);
    let sql = if query.is_explain() { query.rewritten(&planner.columns)? } else { String::new() };
    Ok((frame, schema, Rewritten { sql, data_told: planner.data_told }))
}

/// A polars-sql context that knows Floe's functions and the relations a
/// query reads, registered under the names its rendering gives them.
pub(super) struct Planner {
    context: polars_sql::SQLContext,
    frames: HashMap<RelationName, String>,
    columns: crate::sql::rewrite::Columns,
    data_told: Vec<String>,
    /// Each catalog relation, for the key ranges' probes: only where the
    /// plan will run, so ranges are read from its inputs then alone.
    keyed: HashMap<RelationName, Keyed>,
}

impl Planner {
    /// `frame`, of `schema`, read wherever a query names `relation`.
    pub(super) fn provide(&mut self, relation: RelationName, registered: String, frame: LazyFrame, schema: &Schema) {
        self.context.register(&registered, frame);
        let kinds: Vec<ColumnKind> = schema.iter_values().map(column_kind).collect();
        self.columns.insert(relation.clone(), schema.iter_names().map(|n| n.to_string()).collect(), &kinds);
        self.frames.insert(relation, registered);
    }

    /// The plan of `query` over what is provided: its parts run and
    /// registered in order, then the rest.
    pub(super) fn frame(&mut self, query: &Query) -> Result<LazyFrame> {
        let Self { context, frames, columns, data_told, keyed } = self;
        let mut probe = Evaluator { context, frames, columns, data_told, keyed };
        let rendered = query.render_parts(frames, columns, &mut probe)?;
        planned_parts(context, rendered, query)
    }
}

/// `rendered` planned in `context`: its parts run and registered in order,
/// then the rest.
fn planned_parts(context: &mut polars_sql::SQLContext, rendered: crate::sql::Rendered, query: &Query) -> Result<LazyFrame> {
    for part in rendered.parts {
        // What polars-sql is given, for when it refuses a query the rewrites produced.
        tracing::debug!(target: "floe::sql", sql = %part.sql, part = %part.name, "rendered for polars-sql");
        let frame = context.execute(&part.sql).map_err(|err| refused(err, query))?;
        let frame = named(frame, &part.columns, &part.name)?;
        context.register(&part.name, frame);
    }
    tracing::debug!(target: "floe::sql", sql = %rendered.main, "rendered for polars-sql");
    context.execute(&rendered.main).map_err(|err| refused(err, query))
}

/// `frame` with its columns renamed to `columns`, the names a WITH gives
/// `name` (`WITH c(a, b) AS …`); as it is when none are given.
pub(super) fn named(mut frame: LazyFrame, columns: &[String], name: &str) -> Result<LazyFrame> {
    if columns.is_empty() {
        return Ok(frame);
    }
    let names: Vec<_> = frame.collect_schema()?.iter_names().cloned().collect();
    if names.len() != columns.len() {
        let message = format!("`{name}` names {} columns but its query has {}", columns.len(), names.len());
        return Err(PolarsError::SQLInterface(message.into()).into());
    }
    Ok(frame.rename(names, columns.iter().map(String::as_str), true))
}

/// polars-sql's refusal of an expression, named as the query wrote it.
fn refused(err: PolarsError, query: &Query) -> super::Error {
    let readable = match &err {
        PolarsError::SQLInterface(message) => query.refusal_of(message),
        // A scalar subquery in a comparison that no rewrite took.
        PolarsError::SQLSyntax(message) if message.starts_with("subquery comparisons with ") => query.refusal_of("unexpected subquery"),
        _ => None,
    };
    readable.map_or_else(|| err.into(), Into::into)
}

/// What the rewrites ask of the data, answered over the registered frames.
struct Evaluator<'a> {
    context: &'a mut polars_sql::SQLContext,
    frames: &'a HashMap<RelationName, String>,
    columns: &'a crate::sql::rewrite::Columns,
    data_told: &'a mut Vec<String>,
    keyed: &'a HashMap<RelationName, Keyed>,
}

impl Probe for Evaluator<'_> {
    fn holds(&mut self, condition: &str) -> bool {
        holds(self.context, condition)
    }

    fn extent(&mut self, relation: &RelationName, sql: &str) -> Option<Extent> {
        self.keyed.get(relation)?.probed(sql)
    }

    fn key_extent(&mut self, relation: &RelationName, column: &str) -> Option<Extent> {
        self.keyed.get(relation)?.key_extent(column)
    }

    fn value(&mut self, subquery: &str) -> Option<String> {
        self.read_ahead(subquery, "value", |rows| {
            let values = rows.limit(2).collect().ok()?;
            let column = values.columns().first().filter(|_| values.shape() == (1, 1));
            Some(column.and_then(|column| literal(&column.get(0).ok()?)))
        })
    }

    fn values(&mut self, subquery: &str) -> Option<String> {
        self.read_ahead(subquery, "values", |rows| {
            let values = rows.unique(None, UniqueKeepStrategy::Any).limit(LISTED as u32 + 1).collect().ok()?;
            let column = values.columns().first().filter(|_| values.width() == 1 && (1..=LISTED).contains(&values.height()));
            let literals: Option<Vec<String>> = column.and_then(|column| column.as_materialized_series().iter().map(|value| literal(&value)).collect());
            Some(literals.map(|literals| literals.join(", ")))
        })
    }

    fn noted(&mut self, line: String) {
        self.data_told.push(line);
    }
}

/// At most this many values of an IN subquery become a list: a list is
/// SQL text every later pass reads through.
const LISTED: usize = 1024;

impl Evaluator<'_> {
    /// What `read` makes of the rows of `subquery`, run over every column of
    /// the relations it reads (the query's own frames may hold only the
    /// columns the query reads once it has the answer), in a context of its
    /// own, kept by their files.
    fn read_ahead(&mut self, subquery: &str, asked: &str, read: impl FnOnce(LazyFrame) -> Option<Option<String>>) -> Option<String> {
        let query = Query::analyze(subquery, &[]).ok()?;
        if !query.recursions().is_empty() || query.is_explain() || query.is_volatile() || !query.catalog_views().is_empty() {
            return None;
        }
        let keyed: Vec<&Keyed> = query.relations().iter().map(|relation| self.keyed.get(relation)).collect::<Option<_>>()?;
        let (frames, columns) = (self.frames, self.columns);
        key_extents::value_of(&keyed, &format!("{asked} {subquery}"), || {
            let mut context = functions::sql_context();
            context.register(crate::sql::rewrite::ONE_ROW, one_row().ok()?);
            keyed.iter().for_each(|keyed| keyed.register_in(&mut context));
            let rendered = query.render_parts(frames, columns, &mut NoProbe).ok()?;
            read(planned_parts(&mut context, rendered, &query).ok()?)
        })
    }
}

/// A subquery's own rewrites ask nothing of the data.
struct NoProbe;

impl Probe for NoProbe {}

/// `value` as SQL of its type; None for NULL and types without a literal
/// Floe reads back exactly.
fn literal(value: &AnyValue) -> Option<String> {
    Some(match value {
        // Typed: a bare integer takes the type of what it is compared with
        // (a REAL column's, rounding where the subquery's BIGINT would not).
        AnyValue::Int16(number) => format!("CAST({number} AS SMALLINT)"),
        AnyValue::Int32(number) => format!("CAST({number} AS INTEGER)"),
        AnyValue::Int64(number) if *number > i64::MIN => format!("CAST({number} AS BIGINT)"),
        AnyValue::Boolean(truth) => truth.to_string().to_uppercase(),
        AnyValue::String(text) => crate::sql::params::quoted(text),
        AnyValue::StringOwned(text) => crate::sql::params::quoted(text),
        AnyValue::Date(days) => {
            let date = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?.checked_add_signed(chrono::TimeDelta::days(i64::from(*days)))?;
            // Years past four digits are written with a sign SQL does not read.
            (1..=9999).contains(&chrono::Datelike::year(&date)).then(|| format!("DATE '{date}'"))?
        }
        AnyValue::Decimal(unscaled, _, scale) => {
            format!("CAST('{}' AS DECIMAL(38, {scale}))", crate::sql::rewrite::decimal_text((*unscaled, u32::try_from(*scale).ok()?)))
        }
        AnyValue::Float64(number) if number.is_finite() => format!("CAST('{number:?}' AS DOUBLE)"),
        _ => return None,
    })
}

/// Whether a condition without columns holds, evaluated over the one-row
/// relation; false where Polars cannot evaluate it (a parameter not yet
/// bound), and the query keeps it.
fn holds(context: &mut polars_sql::SQLContext, condition: &str) -> bool {
    let sql = format!("SELECT ({condition}) AS truth FROM {}", crate::sql::rewrite::ONE_ROW);
    let Some(values) = context.execute(&sql).ok().and_then(|frame| frame.collect().ok()) else { return false };
    let truth = values.column("truth").and_then(|column| column.cast(&DataType::Boolean));
    values.height() == 1 && truth.is_ok_and(|truth| truth.bool().is_ok_and(|truth| truth.get(0) == Some(true)))
}

/// What a SELECT without FROM reads (`sql::rewrite::ONE_ROW`).
fn one_row() -> Result<LazyFrame> {
    let placeholder = Column::new(crate::sql::rewrite::ONE_ROW.into(), [true]);
    Ok(DataFrame::new(1, vec![placeholder])?.lazy())
}

fn column_kind(dtype: &DataType) -> ColumnKind {
    match dtype {
        DataType::Date => ColumnKind::Date,
        DataType::String => ColumnKind::Text,
        DataType::Decimal(_, scale) => ColumnKind::Decimal(u8::try_from(*scale).unwrap_or(u8::MAX)),
        dtype if dtype.is_integer() => ColumnKind::Integer,
        dtype if dtype.is_float() => ColumnKind::Float,
        _ => ColumnKind::Other,
    }
}

/// The wire schema under the names the query wrote, repeats included.
fn presented(schema: SchemaRef) -> SchemaRef {
    if !schema.fields().iter().any(|field| crate::sql::rewrite::presented_name(field.name()) != field.name()) {
        return schema;
    }
    let fields: Vec<_> = schema
        .fields()
        .iter()
        .map(|field| field.as_ref().clone().with_name(crate::sql::rewrite::presented_name(field.name())))
        .collect();
    Arc::new(arrow::datatypes::Schema::new_with_metadata(fields, schema.metadata().clone()))
}


#[cfg(test)]
mod tests {
    use polars::prelude::AnyValue;

    #[test]
    fn values_read_back_as_literals_of_their_type() {
        assert_eq!(super::literal(&AnyValue::Int32(-1189)).as_deref(), Some("CAST(-1189 AS INTEGER)"));
        assert_eq!(super::literal(&AnyValue::Int64(i64::MIN)), None);
        assert_eq!(super::literal(&AnyValue::UInt64(u64::MAX)), None);
        assert_eq!(super::literal(&AnyValue::Date(3_000_000)), None);
        assert_eq!(super::literal(&AnyValue::String("O'Neil")).as_deref(), Some("'O''Neil'"));
        assert_eq!(super::literal(&AnyValue::Date(10957)).as_deref(), Some("DATE '2000-01-01'"));
        assert_eq!(super::literal(&AnyValue::Decimal(-5, 38, 2)).as_deref(), Some("CAST('-0.05' AS DECIMAL(38, 2))"));
        assert_eq!(super::literal(&AnyValue::Decimal(12345, 38, 0)).as_deref(), Some("CAST('12345' AS DECIMAL(38, 0))"));
        assert_eq!(super::literal(&AnyValue::Float64(0.1)).as_deref(), Some("CAST('0.1' AS DOUBLE)"));
        assert_eq!(super::literal(&AnyValue::Null), None);
    }
}
