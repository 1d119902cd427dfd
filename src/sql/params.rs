//! Parameter values arrive as Arrow (DoPut); they are kept in handles and
//! tickets as SQL literals so the state stays self-describing and re-bindable.

use arrow::array::{Array, AsArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::{Error, Result};

/// One SQL literal per column of a single-row parameter batch.
pub fn literals_from_batch(batch: &RecordBatch) -> Result<Vec<String>> {
    if batch.num_rows() != 1 {
        return Err(Error::Params(format!(
            "a query binds exactly one row of parameters, got {} rows",
            batch.num_rows()
        )));
    }
    batch
        .columns()
        .iter()
        .zip(batch.schema().fields())
        .map(|(column, field)| literal(column.as_ref(), 0).map_err(|reason| {
            Error::Params(format!("parameter `{}`: {reason}", field.name()))
        }))
        .collect()
}

/// `text` as a SQL string literal.
pub(crate) fn quoted(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

fn formatted(array: &dyn Array, row: usize) -> std::result::Result<String, String> {
    let options = FormatOptions::default();
    let formatter = ArrayFormatter::try_new(array, &options).map_err(|e| e.to_string())?;
    Ok(formatter.value(row).to_string())
}

fn literal(array: &dyn Array, row: usize) -> std::result::Result<String, String> {
    if array.is_null(row) {
        return Ok("NULL".into());
    }
    let text = match array.data_type() {
        DataType::Null => "NULL".into(),
        DataType::Boolean => if array.as_boolean().value(row) { "TRUE" } else { "FALSE" }.into(),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64
        | DataType::UInt8 | DataType::UInt16 | DataType::UInt32 | DataType::UInt64 => formatted(array, row)?,
        DataType::Float16 | DataType::Float32 | DataType::Float64 => {
            let value: f64 = formatted(array, row)?.parse().map_err(|_| "not a number".to_string())?;
            if !value.is_finite() {
                return Err(format!("{value} cannot be bound as a SQL literal"));
            }
            // Keep a decimal point so the literal plans as a float, not an integer.
            format!("{value:?}")
        }
        DataType::Decimal128(_, _) | DataType::Decimal256(_, _) => formatted(array, row)?,
        DataType::Utf8 => quoted(array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => quoted(array.as_string::<i64>().value(row)),
        DataType::Utf8View => quoted(array.as_string_view().value(row)),
        DataType::Date32 | DataType::Date64 => format!("CAST({} AS DATE)", quoted(&formatted(array, row)?)),
        DataType::Timestamp(_, _) => format!("CAST({} AS TIMESTAMP)", quoted(&formatted(array, row)?)),
        // polars-sql casts no string to TIME, but takes a typed TIME literal.
        DataType::Time32(_) | DataType::Time64(_) => format!("TIME {}", quoted(&formatted(array, row)?)),
        DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_) => {
            let bytes: Vec<u8> = match array.data_type() {
                DataType::Binary => array.as_binary::<i32>().value(row).to_vec(),
                DataType::LargeBinary => array.as_binary::<i64>().value(row).to_vec(),
                DataType::BinaryView => array.as_binary_view().value(row).to_vec(),
                _ => array.as_fixed_size_binary().value(row).to_vec(),
            };
            format!("X'{}'", bytes.iter().map(|b| format!("{b:02X}")).collect::<String>())
        }
        DataType::Dictionary(_, _) => {
            let values = arrow::compute::cast(&array.slice(row, 1), &DataType::Utf8).map_err(|e| e.to_string())?;
            return literal(values.as_ref(), 0);
        }
        other => return Err(format!("type {other} cannot be bound as a parameter")),
    };
    Ok(text)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Date32Array, Float64Array, Int64Array, StringArray};
    use arrow::datatypes::{Field, Schema};

    use super::*;

    #[test]
    fn converts_each_type_to_a_literal() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![42])),
            Arc::new(Float64Array::from(vec![5.0])),
            Arc::new(StringArray::from(vec!["O'Brien"])),
            Arc::new(Date32Array::from(vec![19_723])),
            Arc::new(Int64Array::from(vec![None])),
        ];
        let schema = Schema::new(
            ["i", "f", "s", "d", "n"]
                .iter()
                .zip(&columns)
                .map(|(name, c)| Field::new(*name, c.data_type().clone(), true))
                .collect::<Vec<_>>(),
        );
        let batch = RecordBatch::try_new(Arc::new(schema), columns).unwrap();
        assert_eq!(
            literals_from_batch(&batch).unwrap(),
            vec!["42", "5.0", "'O''Brien'", "CAST('2024-01-01' AS DATE)", "NULL"]
        );
    }

    #[test]
    fn refuses_several_rows() {
        let schema = Arc::new(Schema::new(vec![Field::new("i", DataType::Int64, false)]));
        let batch = RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![1, 2]))]).unwrap();
        assert!(matches!(literals_from_batch(&batch), Err(Error::Params(_))));
    }
}
