//! Column descriptions in Arrow field metadata (`ARROW:FLIGHT:SQL:*`), which
//! the JDBC driver's `ResultSetMetaData` and `DatabaseMetaData.getColumns`,
//! DBeaver and Power BI read. Only query results and `GetTables` schemas carry
//! them: the metadata commands' own result schemas must match the spec exactly.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::exec::convert::sql_type_name;

const TYPE_NAME: &str = "ARROW:FLIGHT:SQL:TYPE_NAME";
const PRECISION: &str = "ARROW:FLIGHT:SQL:PRECISION";
const SCALE: &str = "ARROW:FLIGHT:SQL:SCALE";
const IS_AUTO_INCREMENT: &str = "ARROW:FLIGHT:SQL:IS_AUTO_INCREMENT";
const IS_CASE_SENSITIVE: &str = "ARROW:FLIGHT:SQL:IS_CASE_SENSITIVE";
const IS_READ_ONLY: &str = "ARROW:FLIGHT:SQL:IS_READ_ONLY";
const IS_SEARCHABLE: &str = "ARROW:FLIGHT:SQL:IS_SEARCHABLE";
const CATALOG_NAME: &str = "ARROW:FLIGHT:SQL:CATALOG_NAME";
const SCHEMA_NAME: &str = "ARROW:FLIGHT:SQL:SCHEMA_NAME";
const TABLE_NAME: &str = "ARROW:FLIGHT:SQL:TABLE_NAME";
const REMARKS: &str = "ARROW:FLIGHT:SQL:REMARKS";

fn fraction_digits(unit: &TimeUnit) -> i32 {
    match unit {
        TimeUnit::Second => 0,
        TimeUnit::Millisecond => 3,
        TimeUnit::Microsecond => 6,
        TimeUnit::Nanosecond => 9,
    }
}

/// Precision (digits, or characters for dates and times) and scale, where the type fixes them.
fn precision_and_scale(data_type: &DataType) -> (Option<i32>, Option<i32>) {
    match data_type {
        DataType::Int8 => (Some(3), Some(0)),
        DataType::Int16 | DataType::UInt8 => (Some(5), Some(0)),
        DataType::Int32 | DataType::UInt16 => (Some(10), Some(0)),
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => (Some(19), Some(0)),
        DataType::Float16 | DataType::Float32 => (Some(7), None),
        DataType::Float64 => (Some(15), None),
        DataType::Decimal32(p, s)
        | DataType::Decimal64(p, s)
        | DataType::Decimal128(p, s)
        | DataType::Decimal256(p, s) => (Some(i32::from(*p)), Some(i32::from(*s))),
        DataType::Date32 | DataType::Date64 => (Some(10), None),
        // `hh:mm:ss` and `yyyy-mm-dd hh:mm:ss`, plus a point and the fraction.
        DataType::Time32(unit) | DataType::Time64(unit) => {
            let digits = fraction_digits(unit);
            (Some(8 + digits + i32::from(digits > 0)), Some(digits))
        }
        DataType::Timestamp(unit, _) => {
            let digits = fraction_digits(unit);
            (Some(19 + digits + i32::from(digits > 0)), Some(digits))
        }
        _ => (None, None),
    }
}

fn flag(value: bool) -> String {
    if value { "1" } else { "0" }.to_string()
}

fn describe(field: &Field, read_only: bool) -> HashMap<String, String> {
    let data_type = field.data_type();
    let mut metadata = HashMap::from([
        (TYPE_NAME.to_string(), sql_type_name(data_type).to_string()),
        (IS_AUTO_INCREMENT.to_string(), flag(false)),
        (
            IS_CASE_SENSITIVE.to_string(),
            flag(matches!(
                data_type,
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )),
        ),
        (IS_READ_ONLY.to_string(), flag(read_only)),
        (IS_SEARCHABLE.to_string(), flag(true)),
    ]);
    let (precision, scale) = precision_and_scale(data_type);
    if let Some(precision) = precision {
        metadata.insert(PRECISION.to_string(), precision.to_string());
    }
    if let Some(scale) = scale {
        metadata.insert(SCALE.to_string(), scale.to_string());
    }
    metadata
}

/// A query result's schema as clients should see it: each column described.
pub fn result_schema(schema: &Schema) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| field.as_ref().clone().with_metadata(describe(field, true)))
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// Where a table lives, for the columns `GetTables` describes.
pub struct TableName<'a> {
    pub catalog: &'a str,
    pub schema: &'a str,
    pub table: &'a str,
}

/// A table's schema for `GetTables` with `include_schema`: each column
/// described, named after its table, with the Iceberg column doc as REMARKS.
pub fn table_schema(
    schema: &Schema,
    name: &TableName,
    doc: impl Fn(&str) -> Option<String>,
) -> Schema {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|field| {
            let mut metadata = describe(field, false);
            metadata.insert(CATALOG_NAME.to_string(), name.catalog.to_string());
            metadata.insert(SCHEMA_NAME.to_string(), name.schema.to_string());
            metadata.insert(TABLE_NAME.to_string(), name.table.to_string());
            if let Some(doc) = doc(field.name()) {
                metadata.insert(REMARKS.to_string(), doc);
            }
            field.as_ref().clone().with_metadata(metadata)
        })
        .collect();
    Schema::new(fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_describe_types_the_way_jdbc_reads_them() {
        let schema = Schema::new(vec![
            Field::new("price", DataType::Decimal128(12, 2), true),
            Field::new(
                "at",
                DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
                true,
            ),
            Field::new("name", DataType::Utf8, true),
        ]);
        let described = result_schema(&schema);
        let meta = |i: usize, key: &str| described.field(i).metadata().get(key).cloned();
        assert_eq!(meta(0, TYPE_NAME).as_deref(), Some("DECIMAL"));
        assert_eq!(
            (meta(0, PRECISION).as_deref(), meta(0, SCALE).as_deref()),
            (Some("12"), Some("2"))
        );
        assert_eq!(
            meta(1, TYPE_NAME).as_deref(),
            Some("TIMESTAMP WITH TIME ZONE")
        );
        assert_eq!(
            (meta(1, PRECISION).as_deref(), meta(1, SCALE).as_deref()),
            (Some("26"), Some("6"))
        );
        assert_eq!(meta(2, IS_CASE_SENSITIVE).as_deref(), Some("1"));
        assert_eq!(meta(2, PRECISION), None);
        assert_eq!(meta(2, IS_READ_ONLY).as_deref(), Some("1"));
    }
}
