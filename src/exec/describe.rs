//! DESCRIBE's answer: the columns a query returns (a table described is
//! `SELECT *` of it), a row each, named and typed as SQL names types.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use polars::prelude::{Column, DataFrame, IntoLazy, LazyFrame};

use super::convert::sql_type_name;
use super::Result;

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new("column_name", DataType::Utf8, true), Field::new("column_type", DataType::Utf8, true)]))
}

/// One row per column of `described`, in its order. Polars keeps no
/// nullability, so none is claimed.
pub(super) fn frame(described: &Schema) -> Result<LazyFrame> {
    let names: Vec<&str> = described.fields().iter().map(|field| field.name().as_str()).collect();
    let types: Vec<String> = described.fields().iter().map(|field| column_type(field.data_type())).collect();
    let columns = vec![Column::new("column_name".into(), names), Column::new("column_type".into(), types)];
    Ok(DataFrame::new_infer_height(columns)?.lazy())
}

/// A type as DuckDB writes it: a DECIMAL with its precision and scale, a
/// list as its element type and `[]`, a struct with its fields.
fn column_type(data_type: &DataType) -> String {
    match data_type {
        DataType::Decimal32(p, s) | DataType::Decimal64(p, s) => format!("DECIMAL({p},{s})"),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p},{s})"),
        DataType::List(item) | DataType::LargeList(item) | DataType::FixedSizeList(item, _) | DataType::ListView(item) | DataType::LargeListView(item) => {
            format!("{}[]", column_type(item.data_type()))
        }
        DataType::Struct(fields) => {
            let fields: Vec<String> = fields.iter().map(|field| format!("{} {}", field.name(), column_type(field.data_type()))).collect();
            format!("STRUCT({})", fields.join(", "))
        }
        DataType::Dictionary(_, value) => column_type(value),
        other => sql_type_name(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_written_as_sql_writes_them() {
        let item = Arc::new(Field::new("item", DataType::Int64, true));
        let point = DataType::Struct(vec![Field::new("x", DataType::Float64, true), Field::new("tags", DataType::List(item.clone()), true)].into());
        let cases = [
            (DataType::Decimal128(15, 2), "DECIMAL(15,2)"),
            (DataType::List(item), "BIGINT[]"),
            (point, "STRUCT(x DOUBLE, tags BIGINT[])"),
            (DataType::Utf8View, "VARCHAR"),
            (DataType::Date32, "DATE"),
        ];
        for (data_type, written) in cases {
            assert_eq!(column_type(&data_type), written);
        }
    }
}
