//! Polars ↔ arrow-rs through the Arrow C Data Interface: buffers change hands,
//! they are not copied. The two crates' C structs are the same ABI type
//! declared twice, which is what makes the transmutes below sound.

use std::sync::Arc;

use arrow::array::{make_array, Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions, StringArray, StringViewArray};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, FieldRef, Fields, Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::ffi::{FFI_ArrowArray, FFI_ArrowSchema};
use polars::prelude::{CompatLevel, DataFrame, Schema as PolarsSchema, SchemaExt};
use polars_arrow::ffi as pffi;

fn polars_field_to_arrow(field: &polars_arrow::datatypes::Field) -> Result<Field, ArrowError> {
    let exported = pffi::export_field_to_c(field);
    // SAFETY: both are the C Data Interface's `ArrowSchema`; ownership (and the
    // release callback) moves to arrow-rs, which releases it on drop.
    let schema: FFI_ArrowSchema = unsafe { std::mem::transmute(exported) };
    Field::try_from(&schema)
}

fn arrow_field_to_polars(field: &Field) -> Result<polars_arrow::datatypes::Field, ArrowError> {
    let exported = FFI_ArrowSchema::try_from(field)?;
    // SAFETY: as above, in the other direction; polars copies what it reads and
    // `exported` is released by arrow-rs when it goes out of scope here.
    let schema: &pffi::ArrowSchema = unsafe { &*(&exported as *const FFI_ArrowSchema as *const pffi::ArrowSchema) };
    unsafe { pffi::import_field_from_c(schema) }.map_err(|e| ArrowError::ExternalError(Box::new(e)))
}

/// The Polars schema a frame read from this Arrow schema has.
pub fn polars_schema(schema: &Schema) -> Result<PolarsSchema, ArrowError> {
    let mut out = PolarsSchema::with_capacity(schema.fields().len());
    for field in schema.fields() {
        let field = arrow_field_to_polars(&readable_by_polars(field))?;
        out.insert(field.name.clone(), polars::prelude::DataType::from_arrow_field(&field));
    }
    Ok(out)
}

/// Iceberg field ids of every column, nested ones included, as Polars'
/// Parquet reader takes them to match file columns by id rather than by name
/// (so renamed, dropped and re-added columns read correctly). `schema` is an
/// Arrow schema from iceberg, which carries `PARQUET:field_id` on every field.
pub fn iceberg_column_mapping(schema: &Schema) -> polars::prelude::PolarsResult<polars::prelude::iceberg::IcebergSchema> {
    let fields = schema
        .fields()
        .iter()
        .map(|field| arrow_field_to_polars(&readable_by_polars(field)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| polars::prelude::PolarsError::ComputeError(e.to_string().into()))?;
    polars::prelude::iceberg::IcebergSchema::try_from_arrow_fields_iter(fields.iter())
}

/// Polars has no fixed-size binary (Iceberg `fixed` and `uuid`) and rejects
/// extension types; its Parquet reader yields such columns as plain binary,
/// so that is what the planned schema says too.
fn readable_by_polars(field: &Field) -> Field {
    let data_type = match field.data_type() {
        DataType::FixedSizeBinary(_) => DataType::Binary,
        DataType::List(inner) => DataType::List(Arc::new(readable_by_polars(inner))),
        DataType::LargeList(inner) => DataType::LargeList(Arc::new(readable_by_polars(inner))),
        DataType::Struct(fields) => {
            DataType::Struct(fields.iter().map(|f| Arc::new(readable_by_polars(f))).collect::<Fields>())
        }
        DataType::Map(entries, sorted) => DataType::Map(Arc::new(readable_by_polars(entries)), *sorted),
        other => other.clone(),
    };
    let mut metadata = field.metadata().clone();
    metadata.retain(|key, _| !key.starts_with("ARROW:extension:"));
    field.clone().with_data_type(data_type).with_metadata(metadata)
}

/// Older JDBC and ODBC drivers reject Arrow's view and dictionary types, so
/// strings and binaries go out as plain `Utf8`/`Binary`, recursively. Iceberg
/// and JDBC have no unsigned integers; Polars produces them for counts and
/// lengths, so they widen to the signed type SQL clients expect (`count(*)` is
/// a BIGINT). A UInt64 above i64::MAX becomes NULL rather than wrapping.
pub fn wire_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::UInt8 => DataType::Int16,
        DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Dictionary(_, value) => wire_type(value),
        DataType::List(f) => DataType::List(wire_field(f)),
        DataType::LargeList(f) | DataType::ListView(f) | DataType::LargeListView(f) => DataType::List(wire_field(f)),
        DataType::FixedSizeList(f, n) => DataType::FixedSizeList(wire_field(f), *n),
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(wire_field).collect::<Fields>()),
        DataType::Map(f, sorted) => DataType::Map(wire_field(f), *sorted),
        other => other.clone(),
    }
}

fn wire_field(field: &FieldRef) -> FieldRef {
    Arc::new(field.as_ref().clone().with_data_type(wire_type(field.data_type())))
}

/// The schema clients see for a Polars result.
pub fn wire_schema(schema: &PolarsSchema) -> Result<SchemaRef, ArrowError> {
    let fields = schema
        .iter_fields()
        .map(|field| match field.dtype() {
            polars::prelude::DataType::Int128 => polars::prelude::Field::new(field.name().clone(), HUGEINT_ON_THE_WIRE),
            _ => field,
        })
        .map(|field| {
            let arrow_field = polars_field_to_arrow(&field.to_arrow(CompatLevel::newest()))?;
            let wire = wire_type(arrow_field.data_type());
            Ok(arrow_field.with_data_type(wire).with_metadata(Default::default()))
        })
        .collect::<Result<Vec<_>, ArrowError>>()?;
    Ok(Arc::new(Schema::new(fields)))
}

/// Moves a Polars frame's chunks into record batches of `schema` (from
/// [`wire_schema`]), casting only where the wire type differs.
pub fn dataframe_to_batches(df: &DataFrame, schema: &SchemaRef) -> Result<Vec<RecordBatch>, ArrowError> {
    let decimals;
    let df = match df.columns().iter().any(|column| column.dtype() == &polars::prelude::DataType::Int128) {
        true => {
            decimals = hugeints_as_decimals(df).map_err(|e| ArrowError::ExternalError(Box::new(e)))?;
            &decimals
        }
        false => df,
    };
    // Columns of one morsel can be chunked differently (a Parquet scan that
    // filters while decoding yields them so); batches need them aligned.
    let aligned;
    let df = match df.should_rechunk() {
        true => {
            let mut copy = df.clone();
            copy.align_chunks();
            aligned = copy;
            &aligned
        }
        false => df,
    };
    let polars_fields: Vec<_> =
        df.schema().iter_fields().map(|field| field.to_arrow(CompatLevel::newest())).collect();
    let mut batches = Vec::new();
    for chunk in df.iter_chunks(CompatLevel::newest(), false) {
        let rows = chunk.len();
        let columns = chunk
            .into_arrays()
            .into_iter()
            .zip(&polars_fields)
            .zip(schema.fields())
            .map(|((array, polars_field), wire)| {
                let array = polars_array_to_arrow(array, polars_field)?;
                match (array.data_type(), wire.data_type()) {
                    (from, to) if from == to => Ok(array),
                    (DataType::Utf8View, DataType::Utf8) => views_to_utf8(array.as_string_view()),
                    (_, to) => arrow::compute::cast(&array, to),
                }
            })
            .collect::<Result<Vec<ArrayRef>, ArrowError>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        batches.push(RecordBatch::try_new_with_options(schema.clone(), columns, &options)?);
    }
    Ok(batches)
}

/// A HUGEINT (`CAST(x AS HUGEINT)`, Polars' Int128) as clients read one:
/// Arrow has no 128-bit integer, and Polars exports its own as an extension
/// type arrow-rs cannot import. The same 128 bits, at scale 0.
const HUGEINT_ON_THE_WIRE: polars::prelude::DataType = polars::prelude::DataType::Decimal(38, 0);

fn hugeints_as_decimals(df: &DataFrame) -> polars::prelude::PolarsResult<DataFrame> {
    let mut copy = df.clone();
    for column in df.columns().iter().filter(|column| column.dtype() == &polars::prelude::DataType::Int128) {
        let decimal = column.strict_cast(&HUGEINT_ON_THE_WIRE).map_err(|_| {
            polars::prelude::polars_err!(ComputeError: "`{}` holds a HUGEINT of 39 digits, past what a DECIMAL(38, 0) on the wire holds", column.name())
        })?;
        copy.with_column(decimal)?;
    }
    Ok(copy)
}

/// Polars' string views as the plain Utf8 the wire carries. arrow-cast
/// appends them value by value through a builder, a tenth of a large
/// DoGet's CPU (perf); this copies each view's bytes into one buffer sized
/// up front. A value held in its view (≤ 12 bytes) is copied as the view's
/// whole 12-byte slot, whose bytes past the value the next one overwrites: a
/// fixed-size copy instead of a `memcpy` call per value, 40% faster on short
/// strings (1M `l_shipmode`-like values, 9.6 → 5.9 ms). Null slots take no bytes.
fn views_to_utf8(views: &StringViewArray) -> Result<ArrayRef, ArrowError> {
    const INLINE: usize = 12;
    let raw = views.views();
    let total: usize = raw.iter().map(|view| *view as u32 as usize).sum();
    if i32::try_from(total).is_err() {
        return arrow::compute::cast(views, &DataType::Utf8);
    }
    let buffers = views.data_buffers();
    // The spare slot lets the last value be written as a whole slot too.
    // Left unzeroed: every byte below `end` is written before it is kept, and
    // zeroing the buffer first was 1.5% of a large DoGet's CPU (`perf`).
    let mut values: Vec<u8> = Vec::with_capacity(total + INLINE);
    let out = values.as_mut_ptr();
    let mut offsets: Vec<i32> = Vec::with_capacity(raw.len() + 1);
    offsets.push(0);
    let mut end = 0;
    let nulls = views.nulls();
    for (index, &view) in raw.iter().enumerate() {
        if nulls.is_none_or(|nulls| nulls.is_valid(index)) {
            let length = view as u32 as usize;
            // SAFETY: `end + length` stays within `total` (the sum of every
            // slot's length), and a whole inline slot within `total + INLINE`.
            if length <= INLINE {
                unsafe { out.add(end).cast::<[u8; INLINE]>().write_unaligned(inline_bytes(view)) };
            } else {
                // Longer values: buffer index in bits 64..96, offset in 96..128.
                let (buffer, start) = ((view >> 64) as u32 as usize, (view >> 96) as u32 as usize);
                let source = &buffers[buffer][start..start + length];
                unsafe { std::ptr::copy_nonoverlapping(source.as_ptr(), out.add(end), length) };
            }
            end += length;
        }
        offsets.push(end as i32);
    }
    // SAFETY: bytes 0..end were written above.
    unsafe { values.set_len(end) };
    // SAFETY: the offsets rise from 0 to `values.len()`, one per slot, and each
    // range between them is one whole value of a `StringViewArray`, which is
    // valid UTF-8 by that type's invariant: re-checking it here cost 2% of a
    // large DoGet's CPU (`perf`).
    let array = unsafe { StringArray::new_unchecked(OffsetBuffer::new_unchecked(offsets.into()), values.into(), nulls.cloned()) };
    Ok(Arc::new(array))
}

/// The up to 12 bytes a short view holds in place, past its 4-byte length.
fn inline_bytes(view: u128) -> [u8; 12] {
    let bytes = view.to_le_bytes();
    let mut inline = [0; 12];
    inline.copy_from_slice(&bytes[4..]);
    inline
}

fn polars_array_to_arrow(
    array: Box<dyn polars_arrow::array::Array>,
    field: &polars_arrow::datatypes::Field,
) -> Result<ArrayRef, ArrowError> {
    // Polars exports Null arrays with a buffer, which arrow-rs (rightly,
    // per the C Data Interface) rejects; a null array has nothing to move.
    if matches!(array.dtype(), polars_arrow::datatypes::ArrowDataType::Null) {
        return Ok(arrow::array::new_null_array(&DataType::Null, array.len()));
    }
    let exported_array = pffi::export_array_to_c(array);
    let exported_schema = pffi::export_field_to_c(field);
    // SAFETY: C Data Interface structs of identical layout; arrow-rs takes
    // ownership of the array and releases it through its release callback.
    let (array, schema): (FFI_ArrowArray, FFI_ArrowSchema) =
        unsafe { (std::mem::transmute(exported_array), std::mem::transmute(exported_schema)) };
    let data = unsafe { arrow::ffi::from_ffi(array, &schema) }?;
    Ok(make_array(data))
}

/// Arrow record batches (from iceberg-rust's reader) into one Polars frame of
/// `schema`, column chunks handed over without copying where types agree.
pub fn batches_to_dataframe(batches: &[RecordBatch], schema: &PolarsSchema) -> polars::prelude::PolarsResult<DataFrame> {
    let Some(first) = batches.first() else { return Ok(DataFrame::empty_with_schema(schema)) };
    let arrow_schema = first.schema();
    let to_polars = |e: ArrowError| polars::prelude::PolarsError::ComputeError(e.to_string().into());
    let mut columns = Vec::with_capacity(arrow_schema.fields().len());
    for (index, field) in arrow_schema.fields().iter().enumerate() {
        let readable = readable_by_polars(field);
        let polars_field = arrow_field_to_polars(&readable).map_err(to_polars)?;
        let chunks = batches
            .iter()
            .map(|batch| {
                let column = batch.column(index);
                let column = if column.data_type() == readable.data_type() {
                    column.clone()
                } else {
                    arrow::compute::cast(column, readable.data_type())?
                };
                arrow_array_to_polars(&column, &polars_field)
            })
            .collect::<Result<Vec<_>, ArrowError>>()
            .map_err(to_polars)?;
        let series = polars::prelude::Series::try_from((&polars_field, chunks))?;
        columns.push(series.into());
    }
    DataFrame::new_infer_height(columns)
}

fn arrow_array_to_polars(
    array: &ArrayRef,
    field: &polars_arrow::datatypes::Field,
) -> Result<Box<dyn polars_arrow::array::Array>, ArrowError> {
    let (exported, _schema) = arrow::ffi::to_ffi(&array.to_data())?;
    // SAFETY: C Data Interface structs of identical layout; polars takes
    // ownership of the array and calls its release callback when done.
    let exported: pffi::ArrowArray = unsafe { std::mem::transmute(exported) };
    unsafe { pffi::import_array_from_c(exported, field.dtype().clone()) }
        .map_err(|e| ArrowError::ExternalError(Box::new(e)))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, AsArray, Float64Array, Int64Array};
    use polars::prelude::{df, DataType as PolarsType, NamedFrom, Series, TimeUnit as PolarsUnit};

    use super::*;

    #[test]
    fn frame_round_trips_into_wire_batches() {
        let mut df = df!(
            "n" => [1u32, 2, 3],
            "x" => [Some(1.5f64), None, Some(3.0)],
            "s" => ["a", "bb", "ccc"],
        )
        .unwrap();
        df.with_column(polars::prelude::Series::full_null("nothing".into(), 3, &PolarsType::Null).into()).unwrap();
        let schema = wire_schema(df.schema()).unwrap();
        assert_eq!(schema.field(2).data_type(), &DataType::Utf8);
        assert_eq!(schema.field(3).data_type(), &DataType::Null);
        let batches = dataframe_to_batches(&df, &schema).unwrap();
        let batch = &batches[0];
        assert_eq!(batch.column(0).as_any().downcast_ref::<Int64Array>().unwrap().values(), &[1, 2, 3]);
        assert!(batch.column(1).as_any().downcast_ref::<Float64Array>().unwrap().is_null(1));
        assert_eq!(batch.column(2).as_string::<i32>().value(2), "ccc");
        assert_eq!(batch.column(3).logical_null_count(), 3);
    }

    #[test]
    fn string_views_become_utf8_with_nulls_inline_and_long_values() {
        let long = "a value longer than twelve bytes";
        let views = StringViewArray::from(vec![
            Some("short"),
            None,
            Some(long),
            Some(""),
            Some(long),
            Some("thirteen byte"),
            Some("twelve bytes"),
            Some("last"),
        ]);
        let sliced = views.slice(1, 4);
        for array in [&views, &sliced] {
            let converted = views_to_utf8(array).unwrap();
            let expected = arrow::compute::cast(array, &DataType::Utf8).unwrap();
            assert_eq!(converted.as_ref(), expected.as_ref());
        }
    }

    #[test]
    fn columns_chunked_differently_still_make_whole_batches() {
        let mut a = Series::new("a".into(), &[1i64, 2]);
        a.append(&Series::new("a".into(), &[3i64, 4])).unwrap();
        let b = Series::new("b".into(), &[10i64, 20, 30, 40]);
        let df = DataFrame::new(4, vec![a.into(), b.into()]).unwrap();
        assert!(df.should_rechunk());
        let schema = wire_schema(df.schema()).unwrap();
        let batches = dataframe_to_batches(&df, &schema).unwrap();
        assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 4);
    }

    #[test]
    fn arrow_schema_maps_to_polars_types() {
        let schema = Schema::new(vec![
            Field::new("d", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("t", DataType::Timestamp(arrow::datatypes::TimeUnit::Microsecond, None), true),
        ]);
        let polars = polars_schema(&schema).unwrap();
        let uuid = Field::new("u", DataType::FixedSizeBinary(16), true).with_metadata(
            [("ARROW:extension:name".to_string(), "arrow.uuid".to_string())].into(),
        );
        let odd = polars_schema(&Schema::new(vec![uuid])).unwrap();
        assert_eq!(odd.get("u"), Some(&PolarsType::Binary));
        assert_eq!(polars.get("d"), Some(&PolarsType::Float64));
        assert_eq!(polars.get("s"), Some(&PolarsType::String));
        assert!(matches!(polars.get("t"), Some(PolarsType::Datetime(PolarsUnit::Microseconds, None))));
    }
}

/// The SQL name of a wire type: the names `GetXdbcTypeInfo` lists and CAST accepts.
pub fn sql_type_name(data_type: &DataType) -> &'static str {
    match data_type {
        DataType::Null => "NULL",
        DataType::Boolean => "BOOLEAN",
        DataType::Int8 => "TINYINT",
        DataType::Int16 | DataType::UInt8 => "SMALLINT",
        DataType::Int32 | DataType::UInt16 => "INTEGER",
        DataType::Int64 | DataType::UInt32 | DataType::UInt64 => "BIGINT",
        DataType::Float16 | DataType::Float32 => "REAL",
        DataType::Float64 => "DOUBLE",
        DataType::Decimal32(..)
        | DataType::Decimal64(..)
        | DataType::Decimal128(..)
        | DataType::Decimal256(..) => "DECIMAL",
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR",
        DataType::Binary
        | DataType::LargeBinary
        | DataType::BinaryView
        | DataType::FixedSizeBinary(_) => "BINARY",
        DataType::Date32 | DataType::Date64 => "DATE",
        DataType::Time32(_) | DataType::Time64(_) => "TIME",
        DataType::Timestamp(_, None) => "TIMESTAMP",
        DataType::Timestamp(_, Some(_)) => "TIMESTAMP WITH TIME ZONE",
        DataType::Duration(_) | DataType::Interval(_) => "INTERVAL",
        DataType::List(_)
        | DataType::LargeList(_)
        | DataType::FixedSizeList(..)
        | DataType::ListView(_)
        | DataType::LargeListView(_) => "ARRAY",
        DataType::Struct(_) => "STRUCT",
        DataType::Map(..) => "MAP",
        DataType::Dictionary(_, value) => sql_type_name(value),
        _ => "OTHER",
    }
}
