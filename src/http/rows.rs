//! Arrow rows as JSON arrays, the way a JSON client expects them: numbers
//! and booleans as themselves, dates, times, timestamps and decimals as
//! ISO/decimal strings (no precision lost to doubles), binary as base64,
//! lists as arrays, structs as objects, maps as key/value objects (as
//! Polars reads them), and floats that JSON cannot hold (NaN, ±inf) as null.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{self as types, DataType};
use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{Map, Number, Value};

/// Every row of `batches`, each an array of its columns' values.
pub fn json_rows(batches: &[RecordBatch]) -> Result<Vec<Vec<Value>>, arrow::error::ArrowError> {
    let mut rows = Vec::new();
    for batch in batches {
        let columns: Vec<Vec<Value>> = batch.columns().iter().map(column_values).collect::<Result<_, _>>()?;
        let mut columns: Vec<std::vec::IntoIter<Value>> = columns.into_iter().map(Vec::into_iter).collect();
        for _ in 0..batch.num_rows() {
            rows.push(columns.iter_mut().map(|column| column.next().unwrap_or(Value::Null)).collect());
        }
    }
    Ok(rows)
}

fn number<T: Into<Number>>(value: T) -> Value {
    Value::Number(value.into())
}

fn float(value: f64) -> Value {
    Number::from_f64(value).map_or(Value::Null, Value::Number)
}

fn primitive<T: types::ArrowPrimitiveType>(array: &ArrayRef, convert: impl Fn(T::Native) -> Value) -> Vec<Value> {
    let array = array.as_primitive::<T>();
    (0..array.len()).map(|i| if array.is_null(i) { Value::Null } else { convert(array.value(i)) }).collect()
}

/// Values Arrow's display already writes as a JSON client wants them
/// (ISO dates and times, exact decimals).
fn formatted(array: &ArrayRef) -> Result<Vec<Value>, arrow::error::ArrowError> {
    let options = FormatOptions::default().with_display_error(false);
    let formatter = ArrayFormatter::try_new(array.as_ref(), &options)?;
    Ok((0..array.len())
        .map(|i| if array.is_null(i) { Value::Null } else { Value::String(formatter.value(i).to_string()) })
        .collect())
}

fn nested(array: &ArrayRef, offsets: impl Iterator<Item = (usize, usize)>, values: &ArrayRef) -> Result<Vec<Value>, arrow::error::ArrowError> {
    let items = column_values(values)?;
    Ok(offsets
        .enumerate()
        .map(|(i, (start, end))| if array.is_null(i) { Value::Null } else { Value::Array(items[start..end].to_vec()) })
        .collect())
}

fn column_values(array: &ArrayRef) -> Result<Vec<Value>, arrow::error::ArrowError> {
    use DataType as D;
    Ok(match array.data_type() {
        D::Null => vec![Value::Null; array.len()],
        D::Boolean => {
            let array = array.as_boolean();
            (0..array.len()).map(|i| if array.is_null(i) { Value::Null } else { Value::Bool(array.value(i)) }).collect()
        }
        D::Int8 => primitive::<types::Int8Type>(array, number),
        D::Int16 => primitive::<types::Int16Type>(array, number),
        D::Int32 => primitive::<types::Int32Type>(array, number),
        D::Int64 => primitive::<types::Int64Type>(array, number),
        D::UInt8 => primitive::<types::UInt8Type>(array, number),
        D::UInt16 => primitive::<types::UInt16Type>(array, number),
        D::UInt32 => primitive::<types::UInt32Type>(array, number),
        D::UInt64 => primitive::<types::UInt64Type>(array, number),
        D::Float16 => primitive::<types::Float16Type>(array, |v| float(v.to_f64())),
        D::Float32 => primitive::<types::Float32Type>(array, |v| float(v as f64)),
        D::Float64 => primitive::<types::Float64Type>(array, float),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => {
            let strings = arrow::compute::cast(array, &D::Utf8)?;
            let strings = strings.as_string::<i32>();
            (0..strings.len()).map(|i| if strings.is_null(i) { Value::Null } else { Value::String(strings.value(i).into()) }).collect()
        }
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => binary(array)?,
        D::List(_) => {
            let list = array.as_list::<i32>();
            let offsets = list.offsets().windows(2).map(|w| (w[0] as usize, w[1] as usize));
            nested(array, offsets, list.values())?
        }
        D::LargeList(_) => {
            let list = array.as_list::<i64>();
            let offsets = list.offsets().windows(2).map(|w| (w[0] as usize, w[1] as usize));
            nested(array, offsets, list.values())?
        }
        D::FixedSizeList(_, size) => {
            let list = array.as_fixed_size_list();
            let size = *size as usize;
            nested(array, (0..list.len()).map(|i| (i * size, (i + 1) * size)), list.values())?
        }
        D::Map(..) => {
            let map = array.as_map();
            let offsets = map.offsets().windows(2).map(|w| (w[0] as usize, w[1] as usize));
            let entries: ArrayRef = std::sync::Arc::new(map.entries().clone());
            nested(array, offsets, &entries)?
        }
        D::Struct(fields) => {
            let rows = array.as_struct();
            let columns: Vec<Vec<Value>> = rows.columns().iter().map(column_values).collect::<Result<_, _>>()?;
            (0..rows.len())
                .map(|i| {
                    if rows.is_null(i) {
                        return Value::Null;
                    }
                    let object: Map<String, Value> =
                        fields.iter().zip(&columns).map(|(field, column)| (field.name().clone(), column[i].clone())).collect();
                    Value::Object(object)
                })
                .collect()
        }
        // Arrow formats named zones only with chrono-tz; Iceberg stores UTC
        // instants, shown with their offset.
        D::Timestamp(unit, Some(_)) => formatted(&arrow::compute::cast(array, &D::Timestamp(*unit, Some("+00:00".into())))?)?,
        D::Dictionary(..) => {
            let values = arrow::compute::cast(array, &D::Utf8)?;
            column_values(&values)?
        }
        _ => formatted(array)?,
    })
}

fn binary(array: &ArrayRef) -> Result<Vec<Value>, arrow::error::ArrowError> {
    let bytes = arrow::compute::cast(array, &DataType::LargeBinary)
        .or_else(|_| Ok::<_, arrow::error::ArrowError>(fixed_to_binary(array)))?;
    let bytes = bytes.as_binary::<i64>();
    Ok((0..bytes.len()).map(|i| if bytes.is_null(i) { Value::Null } else { Value::String(STANDARD.encode(bytes.value(i))) }).collect())
}

/// Fixed-size binary (Iceberg's `fixed` and `uuid`) as plain binary.
fn fixed_to_binary(array: &ArrayRef) -> ArrayRef {
    let fixed = array.as_fixed_size_binary();
    let values: Vec<Option<&[u8]>> = (0..fixed.len()).map(|i| (!fixed.is_null(i)).then(|| fixed.value(i))).collect();
    std::sync::Arc::new(arrow::array::LargeBinaryArray::from(values))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Date32Array, Decimal128Array, Float64Array, Int64Array, ListArray, StringArray};
    use arrow::datatypes::{Field, Int64Type, Schema};

    use super::*;

    #[test]
    fn values_take_the_json_form_a_client_expects() {
        let list = ListArray::from_iter_primitive::<Int64Type, _, _>(vec![Some(vec![Some(1), None]), None]);
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![Some(1), None])),
            Arc::new(Float64Array::from(vec![f64::NAN, 2.5])),
            Arc::new(StringArray::from(vec!["a", "b"])),
            Arc::new(Date32Array::from(vec![19_723, 0])),
            Arc::new(Decimal128Array::from(vec![12_345, -5]).with_precision_and_scale(10, 2).unwrap()),
            Arc::new(list),
        ];
        let fields: Vec<Field> = columns.iter().enumerate().map(|(i, c)| Field::new(format!("c{i}"), c.data_type().clone(), true)).collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
        let rows = json_rows(&[batch]).unwrap();
        assert_eq!(Value::Array(rows[0].clone()), serde_json::json!([1, null, "a", "2024-01-01", "123.45", [1, null]]));
        assert_eq!(Value::Array(rows[1].clone()), serde_json::json!([null, 2.5, "b", "1970-01-01", "-0.05", null]));
    }
}
