//! Floe's scan filters (`sql::pushdown`) as an Iceberg predicate, so that
//! iceberg-rust prunes data files by their manifests' column bounds. A filter
//! it cannot type is left out: Polars applies every filter anyway.

use ::iceberg::expr::{Predicate, Reference};
use ::iceberg::spec::{Datum, PrimitiveType};
use ::iceberg::table::Table;

use crate::sql::pushdown::{Comparison, Filter, Literal};

/// The Iceberg predicate for `filters`, typed by the snapshot's schema.
pub(super) fn predicate(table: &Table, snapshot_id: i64, filters: &[Filter]) -> Option<Predicate> {
    let metadata = table.metadata();
    let schema = metadata.snapshot_by_id(snapshot_id)?.schema(metadata).ok()?;
    filters.iter().filter_map(|filter| pushed(&schema, filter)).reduce(Predicate::and)
}

fn pushed(schema: &::iceberg::spec::Schema, filter: &Filter) -> Option<Predicate> {
    let column = match filter {
        Filter::Compare { column, .. } | Filter::In { column, .. } | Filter::IsNull { column, .. } | Filter::StartsWith { column, .. } => column,
    };
    // SQL names match columns whatever their case (`sql::rewrite::identifiers`).
    let field = schema.field_by_name(column).or_else(|| crate::spelling::one_spelled(schema.as_struct().fields(), column, |field| field.name.as_str()))?;
    let ::iceberg::spec::Type::Primitive(primitive) = field.field_type.as_ref() else { return None };
    let reference = Reference::new(field.name.clone());
    Some(match filter {
        Filter::Compare { op, value, .. } => {
            let datum = datum(primitive, value)?;
            match op {
                Comparison::Eq => reference.equal_to(datum),
                Comparison::NotEq => reference.not_equal_to(datum),
                Comparison::Lt => reference.less_than(datum),
                Comparison::LtEq => reference.less_than_or_equal_to(datum),
                Comparison::Gt => reference.greater_than(datum),
                Comparison::GtEq => reference.greater_than_or_equal_to(datum),
            }
        }
        Filter::In { values, .. } => {
            let data: Option<Vec<_>> = values.iter().map(|v| datum(primitive, v)).collect();
            reference.is_in(data?)
        }
        Filter::IsNull { negated: false, .. } => reference.is_null(),
        Filter::IsNull { negated: true, .. } => reference.is_not_null(),
        Filter::StartsWith { prefix, .. } if *primitive == PrimitiveType::String => reference.starts_with(Datum::string(prefix)),
        Filter::StartsWith { .. } => return None,
    })
}

/// A literal as a value of the column's type; None when it is not one, and
/// then the filter is simply not pushed (Polars applies it anyway).
fn datum(column_type: &PrimitiveType, value: &Literal) -> Option<Datum> {
    match (column_type, value) {
        (PrimitiveType::Int, Literal::Number(n)) => n.parse::<i32>().ok().map(Datum::int),
        (PrimitiveType::Long, Literal::Number(n)) => n.parse::<i64>().ok().map(Datum::long),
        (PrimitiveType::Float, Literal::Number(n)) => n.parse::<f32>().ok().map(Datum::float),
        (PrimitiveType::Double, Literal::Number(n)) => n.parse::<f64>().ok().map(Datum::double),
        (PrimitiveType::String, Literal::Text(s)) => Some(Datum::string(s)),
        (PrimitiveType::Boolean, Literal::Bool(b)) => Some(Datum::bool(*b)),
        (PrimitiveType::Date, Literal::Text(s)) => Datum::date_from_str(s).ok(),
        // SQL writes `2024-01-01 10:00:00`; iceberg parses ISO 8601 (`T`, and an offset for tz).
        (PrimitiveType::Timestamp, Literal::Text(s)) => Datum::timestamp_from_str(s.trim().replacen(' ', "T", 1)).ok(),
        (PrimitiveType::Timestamptz, Literal::Text(s)) => {
            let iso = s.trim().replacen(' ', "T", 1);
            let has_offset = iso.ends_with('Z') || iso.rsplit_once('T').is_some_and(|(_, time)| time.contains(['+', '-']));
            Datum::timestamptz_from_str(if has_offset { iso } else { format!("{iso}+00:00") }).ok()
        }
        _ => None,
    }
}
