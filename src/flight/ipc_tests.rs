use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Date32Array, Decimal128Array, FixedSizeBinaryArray, Float64Array,
    Int64Array, Int8Array, LargeStringArray, NullArray, StringArray,
};
use arrow::datatypes::{Field, SchemaRef};

use super::*;

fn every_flat_type() -> RecordBatch {
    let rows = 20;
    let columns: Vec<(&str, ArrayRef)> = vec![
        ("i64", Arc::new(Int64Array::from_iter((0..rows).map(|i| (i % 3 != 0).then_some(i as i64 * 1000))))),
        ("i8", Arc::new(Int8Array::from_iter_values((0..rows).map(|i| i as i8)))),
        ("f64", Arc::new(Float64Array::from_iter((0..rows).map(|i| (i % 5 != 1).then_some(i as f64 / 4.0))))),
        ("bool", Arc::new(BooleanArray::from_iter((0..rows).map(|i| (i % 4 != 2).then_some(i % 3 == 0))))),
        ("date", Arc::new(Date32Array::from_iter_values((0..rows).map(|i| 19_000 + i as i32)))),
        (
            "dec",
            Arc::new(
                Decimal128Array::from_iter((0..rows).map(|i| (i % 7 != 3).then_some(i as i128 * 12_345)))
                    .with_precision_and_scale(15, 2)
                    .unwrap(),
            ),
        ),
        ("utf8", Arc::new(StringArray::from_iter((0..rows).map(|i| (i % 6 != 5).then(|| "x".repeat(i)))))),
        ("large", Arc::new(LargeStringArray::from_iter_values((0..rows).map(|i| format!("row {i}"))))),
        ("bin", Arc::new(BinaryArray::from_iter_values((0..rows).map(|i| vec![i as u8; i % 4])))),
        ("fixed", Arc::new(FixedSizeBinaryArray::try_from_iter((0..rows).map(|i| [i as u8, 7, 9])).unwrap())),
        ("nothing", Arc::new(NullArray::new(rows))),
    ];
    RecordBatch::try_from_iter(columns).unwrap()
}

fn decode(messages: Vec<Message>, schema: &SchemaRef) -> Vec<RecordBatch> {
    messages
        .into_iter()
        .map(|message| arrow_flight::utils::flight_data_to_arrow_batch(&message.into_flight_data(), schema.clone(), &HashMap::new()).unwrap())
        .collect()
}

#[test]
fn every_flat_type_decodes_to_the_batch_it_came_from_whole_and_sliced() {
    let batch = every_flat_type();
    assert!(writes_directly(&batch.schema()));
    // Slices starting mid-byte (bitmaps copied, offsets rebased), on a byte, and empty.
    for (start, len) in [(0, 20), (3, 11), (8, 9), (19, 1), (5, 0)] {
        let slice = batch.slice(start, len);
        let decoded = decode(encode(&slice, usize::MAX).unwrap(), &batch.schema());
        assert_eq!(decoded, vec![slice], "rows {start}..{}", start + len);
    }
}

#[test]
fn bodies_are_the_columns_own_memory_at_the_alignment_readers_expect() {
    let values = Int64Array::from_iter_values(0..1000);
    let strings = StringArray::from_iter_values((0..1000).map(|i| format!("value {i}")));
    let batch = RecordBatch::try_from_iter([("n", Arc::new(values.clone()) as ArrayRef), ("s", Arc::new(strings.clone()))]).unwrap();
    let [message] = <[Message; 1]>::try_from(encode(&batch, usize::MAX).unwrap()).ok().unwrap();
    let pointers: Vec<*const u8> = message.body.iter().map(|part| part.as_ptr()).collect();
    for column_memory in [values.values().inner().as_ptr(), strings.offsets().inner().inner().as_ptr(), strings.values().as_ptr()] {
        assert!(pointers.contains(&column_memory), "a column's buffer was copied");
    }
    let header = arrow::ipc::root_as_message(&message.fields.data_header).unwrap();
    let buffers = header.header_as_record_batch().unwrap().buffers().unwrap();
    assert!(buffers.iter().all(|buffer| buffer.offset() % ALIGNMENT as i64 == 0));
    assert_eq!(header.bodyLength() as usize, message.body_len());
}

#[test]
fn large_batches_split_into_messages_near_the_target_size() {
    let batch = RecordBatch::try_from_iter([("n", Arc::new(Int64Array::from_iter_values(0..100_000)) as ArrayRef)]).unwrap();
    let messages = encode(&batch, 100_000).unwrap();
    assert_eq!(messages.len(), 8);
    assert!(messages.iter().all(|message| message.body_len() <= 100_032));
    let decoded = decode(messages, &batch.schema());
    assert_eq!(arrow::compute::concat_batches(&batch.schema(), &decoded).unwrap(), batch);
}

#[test]
fn nested_columns_are_left_to_arrow_ipc() {
    let list = Field::new("l", DataType::List(Arc::new(Field::new("item", DataType::Int64, true))), true);
    let view = Field::new("v", DataType::Utf8View, true);
    assert!(!writes_directly(&Schema::new(vec![list])));
    assert!(!writes_directly(&Schema::new(vec![view])));
}

#[test]
fn a_message_of_parts_becomes_one_flight_data_with_the_whole_body() {
    let message = Message {
        fields: FlightData { data_header: Bytes::from_static(b"head"), ..Default::default() },
        body: vec![Bytes::from_static(b"ab"), Bytes::from_static(b"cde")],
    };
    let data = message.into_flight_data();
    assert_eq!((&data.data_header[..], &data.data_body[..]), (&b"head"[..], &b"abcde"[..]));
    let back = Message::from_flight_data(data);
    assert_eq!(back.body.len(), 1);
}
