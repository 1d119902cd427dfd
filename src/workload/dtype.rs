//! Column types as Polars names them (`Int64`, `Utf8`, `Datetime(time_unit='us', time_zone='UTC')`):
//! the `column_types` of oleander's contract, which clients compare with
//! the dtypes of the Polars frames they build.

use arrow::datatypes::{DataType, TimeUnit};

fn unit(unit: &TimeUnit) -> &'static str {
    match unit {
        TimeUnit::Second | TimeUnit::Millisecond => "ms",
        TimeUnit::Microsecond => "us",
        TimeUnit::Nanosecond => "ns",
    }
}

/// The Polars dtype an Arrow column becomes when read into Polars.
pub fn polars_name(data_type: &DataType) -> String {
    use DataType as D;
    match data_type {
        D::Null => "Null".into(),
        D::Boolean => "Boolean".into(),
        D::Int8 => "Int8".into(),
        D::Int16 => "Int16".into(),
        D::Int32 => "Int32".into(),
        D::Int64 => "Int64".into(),
        D::UInt8 => "UInt8".into(),
        D::UInt16 => "UInt16".into(),
        D::UInt32 => "UInt32".into(),
        D::UInt64 => "UInt64".into(),
        D::Float16 | D::Float32 => "Float32".into(),
        D::Float64 => "Float64".into(),
        D::Utf8 | D::LargeUtf8 | D::Utf8View => "Utf8".into(),
        D::Binary | D::LargeBinary | D::BinaryView | D::FixedSizeBinary(_) => "Binary".into(),
        D::Date32 | D::Date64 => "Date".into(),
        D::Time32(_) | D::Time64(_) => "Time".into(),
        D::Timestamp(time_unit, zone) => {
            let zone = zone.as_ref().map_or("None".to_string(), |z| format!("'{z}'"));
            format!("Datetime(time_unit='{}', time_zone={zone})", unit(time_unit))
        }
        D::Duration(time_unit) => format!("Duration(time_unit='{}')", unit(time_unit)),
        D::Decimal32(p, s) | D::Decimal64(p, s) => format!("Decimal(precision={p}, scale={s})"),
        D::Decimal128(p, s) | D::Decimal256(p, s) => format!("Decimal(precision={p}, scale={s})"),
        D::List(field) | D::LargeList(field) | D::ListView(field) | D::LargeListView(field) => {
            format!("List({})", polars_name(field.data_type()))
        }
        D::FixedSizeList(field, size) => format!("Array({}, shape=({size},))", polars_name(field.data_type())),
        D::Struct(fields) => {
            let inner: Vec<String> = fields.iter().map(|f| format!("'{}': {}", f.name(), polars_name(f.data_type()))).collect();
            format!("Struct({{{}}})", inner.join(", "))
        }
        D::Map(entries, _) => match entries.data_type() {
            D::Struct(fields) if fields.len() == 2 => {
                format!("Map({}, {})", polars_name(fields[0].data_type()), polars_name(fields[1].data_type()))
            }
            other => format!("List({})", polars_name(other)),
        },
        D::Dictionary(_, values) => match values.as_ref() {
            D::Utf8 | D::LargeUtf8 | D::Utf8View => "Categorical".into(),
            other => polars_name(other),
        },
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::datatypes::Field;

    use super::*;

    #[test]
    fn names_read_as_polars_prints_them() {
        assert_eq!(polars_name(&DataType::Utf8View), "Utf8");
        assert_eq!(polars_name(&DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))),
            "Datetime(time_unit='us', time_zone='UTC')");
        assert_eq!(polars_name(&DataType::Decimal128(10, 2)), "Decimal(precision=10, scale=2)");
        let list = DataType::List(Arc::new(Field::new("item", DataType::Int64, true)));
        assert_eq!(polars_name(&list), "List(Int64)");
        let row = DataType::Struct(vec![Field::new("a", DataType::Int32, true)].into());
        assert_eq!(polars_name(&row), "Struct({'a': Int32})");
    }
}
