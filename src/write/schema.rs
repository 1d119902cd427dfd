//! Arrow schemas meeting Iceberg tables: new tables get Iceberg-representable
//! types, and incoming batches are matched to a table's columns by name with
//! only lossless widenings (int→long, float→double, views→plain types).

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};

use super::{Error, Result};

/// The type a new Iceberg column gets for an Arrow type: Iceberg has no 8/16
/// bit or unsigned integers, no nanosecond time before v3, no views.
pub fn iceberg_compatible(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Int8 | DataType::Int16 | DataType::UInt8 | DataType::UInt16 => DataType::Int32,
        DataType::UInt32 | DataType::UInt64 => DataType::Int64,
        DataType::Float16 => DataType::Float32,
        DataType::Utf8View | DataType::LargeUtf8 => DataType::Utf8,
        DataType::BinaryView | DataType::LargeBinary => DataType::Binary,
        DataType::Date64 => DataType::Date32,
        DataType::Timestamp(_, tz) => DataType::Timestamp(TimeUnit::Microsecond, tz.clone()),
        DataType::Time32(_) | DataType::Time64(_) => DataType::Time64(TimeUnit::Microsecond),
        DataType::Dictionary(_, value) => iceberg_compatible(value),
        DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) | DataType::LargeListView(f) => {
            DataType::List(compatible_field(f))
        }
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(compatible_field).collect::<Fields>()),
        DataType::Map(f, sorted) => DataType::Map(compatible_field(f), *sorted),
        other => other.clone(),
    }
}

fn compatible_field(field: &Arc<Field>) -> Arc<Field> {
    Arc::new(Field::new(field.name(), iceberg_compatible(field.data_type()), field.is_nullable()))
}

/// An Iceberg schema (fresh field ids) for a new table holding `schema`'s columns.
pub fn new_table_schema(schema: &Schema) -> Result<iceberg::spec::Schema> {
    let mut names = std::collections::HashSet::new();
    if let Some(repeated) = schema.fields().iter().map(|f| f.name()).find(|name| !names.insert(*name)) {
        return Err(Error::Schema(format!(
            "column `{repeated}` appears more than once; a table needs distinct column names (name them with AS)"
        )));
    }
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| Field::new(f.name(), iceberg_compatible(f.data_type()), f.is_nullable()))
        .collect();
    iceberg::arrow::arrow_schema_to_schema_auto_assign_ids(&Schema::new(fields))
        .map_err(|e| Error::Schema(format!("cannot store this result as an Iceberg table: {e}")))
}

/// Whether values of `from` fit `to` without loss.
fn widens(from: &DataType, to: &DataType) -> bool {
    use DataType::*;
    if from == to || iceberg_compatible(from) == *to {
        return true;
    }
    match (from, to) {
        (Int8 | Int16 | UInt8 | UInt16, Int32 | Int64) | (Int32 | UInt32, Int64) | (Float16, Float32 | Float64) => true,
        (Float32, Float64) | (Null, _) => true,
        (Binary | BinaryView | FixedSizeBinary(_), LargeBinary) | (Utf8 | Utf8View, LargeUtf8) => true,
        (Decimal128(p1, s1), Decimal128(p2, s2)) => s1 == s2 && p1 <= p2,
        (Timestamp(_, tz1), Timestamp(TimeUnit::Microsecond, tz2)) => tz1.is_some() == tz2.is_some(),
        (List(a) | LargeList(a), List(b)) => widens(a.data_type(), b.data_type()),
        (Struct(a), Struct(b)) => b.iter().all(|target| {
            a.iter().find(|f| f.name() == target.name()).is_some_and(|f| widens(f.data_type(), target.data_type()))
        }),
        _ => false,
    }
}

/// The position of the field named `name` in `schema`: spelled so, else the
/// one spelled so but for case (SQL's unquoted names, an ingest's columns).
fn position(schema: &Schema, name: &str) -> Option<usize> {
    crate::spelling::one_spelled(schema.fields().iter().enumerate(), name, |(_, field)| field.name()).map(|(index, _)| index)
}

/// The name of the column of `schema` that SQL's `name` names: spelled so,
/// else the one spelled so but for case.
pub fn stored_name<'a>(schema: &'a Schema, name: &str) -> Option<&'a String> {
    position(schema, name).map(|index| schema.field(index).name())
}

/// For each of the table's columns, the incoming column that fills it:
/// spelled so, else the one spelled so but for case, where neither has
/// another match (`a` fills `a`, not `A` too).
fn filling(incoming: &Schema, table: &Schema) -> Vec<Option<usize>> {
    let alike = |schema: &Schema, name: &str| schema.fields().iter().filter(|field| field.name().eq_ignore_ascii_case(name)).count();
    let fills = |target: &Field, field: &Field| {
        field.name().eq_ignore_ascii_case(target.name()) && table.index_of(field.name()).is_err() && alike(table, field.name()) == 1
    };
    let one = |target: &Field| {
        let mut found = incoming.fields().iter().enumerate().filter(|(_, field)| fills(target, field));
        found.next().filter(|_| found.next().is_none()).map(|(index, _)| index)
    };
    table.fields().iter().map(|target| incoming.index_of(target.name()).ok().or_else(|| one(target))).collect()
}

/// Whether batches of `incoming` align with `table` by lossless widenings
/// alone: no integer narrowed, which a value past the narrower type refuses.
pub fn widens_into(incoming: &SchemaRef, table: &SchemaRef) -> bool {
    let filling = filling(incoming, table);
    let lossless = table.fields().iter().zip(&filling).all(|(target, index)| index.is_none_or(|index| widens(incoming.field(index).data_type(), target.data_type())));
    lossless && align(&RecordBatch::new_empty(incoming.clone()), table).is_ok()
}

/// Rebuilds `batch` with exactly the table's columns, matched by name.
pub fn align(batch: &RecordBatch, table: &SchemaRef) -> Result<RecordBatch> {
    let incoming = batch.schema();
    let filling = filling(&incoming, table);
    if let Some((_, extra)) = incoming.fields().iter().enumerate().find(|(index, _)| !filling.contains(&Some(*index))) {
        return Err(Error::Schema(format!("column `{}` is not in the table", extra.name())));
    }
    let columns = table
        .fields()
        .iter()
        .zip(&filling)
        .map(|(target, index)| -> Result<ArrayRef> {
            let Some(index) = *index else {
                if target.is_nullable() {
                    return Ok(new_null_array(target.data_type(), batch.num_rows()));
                }
                return Err(Error::Schema(format!("required column `{}` is missing", target.name())));
            };
            let column = batch.column(index);
            // SQL's assignment cast: an INSERT of `x * 10` (BIGINT) into an INTEGER
            // column stores the values that fit and refuses the write otherwise.
            let narrowed = column.data_type().is_integer() && target.data_type().is_integer();
            if !narrowed && !widens(column.data_type(), target.data_type()) {
                return Err(Error::Schema(format!(
                    "column `{}`: cannot write {} into a {} column",
                    target.name(),
                    column.data_type(),
                    target.data_type()
                )));
            }
            if !target.is_nullable() && column.null_count() > 0 {
                return Err(Error::Schema(format!("column `{}` is required but has nulls", target.name())));
            }
            if column.data_type() == target.data_type() {
                return Ok(column.clone());
            }
            let checked = arrow::compute::CastOptions { safe: false, ..Default::default() };
            arrow::compute::cast_with_options(column, target.data_type(), &checked).map_err(|e| match narrowed {
                true => Error::Schema(format!("column `{}`: a value does not fit its type {} ({e})", target.name(), target.data_type())),
                false => Error::Schema(format!("column `{}`: {e}", target.name())),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
    RecordBatch::try_new_with_options(table.clone(), columns, &options).map_err(|e| Error::Schema(e.to_string()))
}

#[cfg(test)]
mod tests {
    use arrow::array::{Float32Array, Int32Array, StringViewArray};

    use super::*;

    fn table() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("score", DataType::Float64, true),
            Field::new("name", DataType::Utf8, true),
        ]))
    }

    #[test]
    fn aligns_by_name_in_any_case_with_safe_widening_and_fills_optional_columns() {
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("Score", DataType::Float32, true),
                Field::new("id", DataType::Int32, false),
            ])),
            vec![Arc::new(Float32Array::from(vec![0.5])), Arc::new(Int32Array::from(vec![7]))],
        )
        .unwrap();
        let aligned = align(&batch, &table()).unwrap();
        assert_eq!(aligned.schema(), table());
        assert_eq!(aligned.column(2).null_count(), 1);
    }

    #[test]
    fn a_column_fills_the_one_spelled_so_before_one_alike_but_for_case() {
        let table: SchemaRef = Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true), Field::new("A", DataType::Int32, true)]));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(vec![Field::new("a", DataType::Int32, true)])), vec![Arc::new(Int32Array::from(vec![2]))]).unwrap();
        let aligned = align(&batch, &table).unwrap();
        assert_eq!((aligned.column(0).null_count(), aligned.column(1).null_count()), (0, 1));
    }

    #[test]
    fn refuses_narrowing_past_the_values_missing_required_and_unknown_columns() {
        let batch = |field: Field, array: ArrayRef| RecordBatch::try_new(Arc::new(Schema::new(vec![field])), vec![array]).unwrap();
        let names = batch(Field::new("name", DataType::Utf8View, true), Arc::new(StringViewArray::from(vec!["a"])));
        assert!(matches!(align(&names, &table()), Err(Error::Schema(m)) if m.contains("`id` is missing")));
        let narrow = batch(Field::new("id", DataType::Float32, false), Arc::new(Float32Array::from(vec![1.0])));
        assert!(matches!(align(&narrow, &table()), Err(Error::Schema(m)) if m.contains("cannot write Float32")));
        let too_big = batch(Field::new("id", DataType::Int64, false), Arc::new(arrow::array::Int64Array::from(vec![1, 1 << 40])));
        let narrow_table: SchemaRef = Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, false)]));
        assert!(matches!(align(&too_big, &narrow_table), Err(Error::Schema(m)) if m.contains("does not fit its type Int32")), "{:?}", align(&too_big, &narrow_table));
        let fits = batch(Field::new("id", DataType::Int64, false), Arc::new(arrow::array::Int64Array::from(vec![1, -7])));
        assert_eq!(align(&fits, &narrow_table).unwrap().column(0).as_ref(), &Int32Array::from(vec![1, -7]) as &dyn arrow::array::Array);
        let unknown = batch(Field::new("colour", DataType::Int32, true), Arc::new(Int32Array::from(vec![1])));
        assert!(matches!(align(&unknown, &table()), Err(Error::Schema(m)) if m.contains("`colour`")));
    }
}
