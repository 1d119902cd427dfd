//! Arrow IPC record-batch messages whose bodies are the batch's own buffers.
//! arrow-ipc's encoder copies every buffer into one growing body (~13% of the
//! server's CPU while draining `lineitem`, `perf`: the copy and the doublings
//! of its `Vec`); here a body is the list of those buffers, sliced, with
//! padding between them, and `wire.rs` hands the list to the socket as is.
//! Only flat columns are written this way (numbers, dates and times, booleans,
//! strings and binaries); a schema with anything else, or a compressed
//! stream, goes through arrow-ipc's encoder.

use arrow::array::{ArrayData, RecordBatch};
use arrow::buffer::{BooleanBuffer, Buffer};
use arrow::datatypes::{DataType, Schema};
use arrow::error::ArrowError;
use arrow_flight::FlightData;
use bytes::Bytes;

/// Buffers start at multiples of 64 bytes, as arrow-ipc writes them: readers
/// can then use them in place for every type's alignment.
const ALIGNMENT: usize = 64;
static PADDING: [u8; ALIGNMENT] = [0; ALIGNMENT];

/// One Flight message on its way out: every field but the body, and the body
/// as the parts that make it up, in order.
pub struct Message {
    pub fields: FlightData,
    pub body: Vec<Bytes>,
}

impl Message {
    pub fn from_flight_data(mut data: FlightData) -> Self {
        let body = std::mem::take(&mut data.data_body);
        Self { fields: data, body: if body.is_empty() { Vec::new() } else { vec![body] } }
    }

    pub fn body_len(&self) -> usize {
        self.body.iter().map(Bytes::len).sum()
    }

    /// The message as one FlightData, for paths that need the body whole
    /// (tonic's codec): one copy when the body has several parts.
    pub fn into_flight_data(self) -> FlightData {
        let data_body = match <[Bytes; 1]>::try_from(self.body) {
            Ok([whole]) => whole,
            Err(parts) => parts.concat().into(),
        };
        FlightData { data_body, ..self.fields }
    }
}

/// Whether [`encode`] writes every column of `schema`.
pub fn writes_directly(schema: &Schema) -> bool {
    schema.fields().iter().all(|field| {
        let data_type = field.data_type();
        data_type.primitive_width().is_some()
            || matches!(
                data_type,
                DataType::Null
                    | DataType::Boolean
                    | DataType::Utf8
                    | DataType::Binary
                    | DataType::LargeUtf8
                    | DataType::LargeBinary
                    | DataType::FixedSizeBinary(_)
            )
    })
}

/// `batch` as record-batch messages of about `target_bytes` of body each
/// (rows split evenly, as arrow-flight's encoder splits them), for a schema
/// [`writes_directly`] accepts.
pub fn encode(batch: &RecordBatch, target_bytes: usize) -> Result<Vec<Message>, ArrowError> {
    let size = batch.columns().iter().map(|column| column.to_data().get_slice_memory_size()).sum::<Result<usize, _>>()?;
    let rows = batch.num_rows();
    if size <= target_bytes || rows <= 1 {
        return Ok(vec![encode_one(batch)?]);
    }
    let pieces = size.div_ceil(target_bytes).min(rows);
    let rows_per_piece = rows.div_ceil(pieces);
    (0..rows)
        .step_by(rows_per_piece)
        .map(|start| encode_one(&batch.slice(start, rows_per_piece.min(rows - start))))
        .collect()
}

fn encode_one(batch: &RecordBatch) -> Result<Message, ArrowError> {
    let mut nodes = Vec::with_capacity(batch.num_columns());
    let mut buffers = Vec::new();
    let mut body = Vec::new();
    let mut offset = 0;
    for column in batch.columns() {
        let data = column.to_data();
        // Every slot of a Null column is null, which readers check.
        let nulls = if data.data_type() == &DataType::Null { data.len() } else { data.null_count() };
        nodes.push(arrow::ipc::FieldNode::new(data.len() as i64, nulls as i64));
        for part in column_buffers(&data)? {
            buffers.push(arrow::ipc::Buffer::new(offset as i64, part.len() as i64));
            let padding = part.len().next_multiple_of(ALIGNMENT) - part.len();
            offset += part.len() + padding;
            if !part.is_empty() {
                body.push(part);
            }
            if padding > 0 {
                body.push(Bytes::from_static(&PADDING[..padding]));
            }
        }
    }
    let data_header = header(batch.num_rows(), &nodes, &buffers, offset);
    Ok(Message { fields: FlightData { data_header, ..Default::default() }, body })
}

/// The flatbuffer `Message` holding a `RecordBatch` of these nodes and buffers.
fn header(rows: usize, nodes: &[arrow::ipc::FieldNode], buffers: &[arrow::ipc::Buffer], body_len: usize) -> Bytes {
    let mut builder = flatbuffers::FlatBufferBuilder::new();
    let nodes = builder.create_vector(nodes);
    let buffers = builder.create_vector(buffers);
    let batch = {
        let mut batch = arrow::ipc::RecordBatchBuilder::new(&mut builder);
        batch.add_length(rows as i64);
        batch.add_nodes(nodes);
        batch.add_buffers(buffers);
        batch.finish().as_union_value()
    };
    let mut message = arrow::ipc::MessageBuilder::new(&mut builder);
    message.add_version(arrow::ipc::MetadataVersion::V5);
    message.add_header_type(arrow::ipc::MessageHeader::RecordBatch);
    message.add_bodyLength(body_len as i64);
    message.add_header(batch);
    let message = message.finish();
    builder.finish(message, None);
    Bytes::copy_from_slice(builder.finished_data())
}

/// A flat column's IPC buffers in order: validity (empty when nothing is
/// null, as the format allows), then offsets and values, or values.
fn column_buffers(data: &ArrayData) -> Result<Vec<Bytes>, ArrowError> {
    let data_type = data.data_type();
    if data_type == &DataType::Null {
        return Ok(Vec::new());
    }
    let validity = match data.nulls() {
        Some(nulls) if data.null_count() > 0 => bits(nulls.inner()),
        _ => Bytes::new(),
    };
    let (start, len) = (data.offset(), data.len());
    let values = &data.buffers()[0];
    let mut parts = vec![validity];
    match data_type {
        DataType::Boolean => parts.push(bits(&BooleanBuffer::new(values.clone(), start, len))),
        DataType::Utf8 | DataType::Binary => parts.extend(variable::<i32>(data)),
        DataType::LargeUtf8 | DataType::LargeBinary => parts.extend(variable::<i64>(data)),
        DataType::FixedSizeBinary(width) => parts.push(shared(values.slice_with_length(start * *width as usize, len * *width as usize))),
        other => {
            let width = other.primitive_width().ok_or_else(|| ArrowError::NotYetImplemented(format!("writing {other} directly")))?;
            parts.push(shared(values.slice_with_length(start * width, len * width)));
        }
    }
    Ok(parts)
}

/// Offsets and values of a string or binary column; offsets that do not
/// start at 0 (a slice) are rewritten to, the values never copied.
fn variable<O: arrow::datatypes::ArrowNativeType + std::ops::Sub<Output = O>>(data: &ArrayData) -> [Bytes; 2] {
    let offsets = &data.buffers()[0].typed_data::<O>()[data.offset()..];
    let offsets = &offsets[..(data.len() + 1).min(offsets.len())];
    let (first, last) = match (offsets.first(), offsets.last()) {
        (Some(first), Some(last)) => (*first, *last),
        // No offsets at all (an empty column may have none): a single zero.
        _ => return [Bytes::from_static(&PADDING[..size_of::<O>()]), Bytes::new()],
    };
    let values = shared(data.buffers()[1].slice_with_length(first.as_usize(), (last - first).as_usize()));
    if first.as_usize() == 0 {
        let width = size_of::<O>();
        return [shared(data.buffers()[0].slice_with_length(data.offset() * width, offsets.len() * width)), values];
    }
    let rebased: Vec<O> = offsets.iter().map(|offset| *offset - first).collect();
    [shared(Buffer::from_vec(rebased)), values]
}

/// A bitmap from its first bit: shared when it starts on a byte, else
/// copied to start at bit 0.
fn bits(bitmap: &BooleanBuffer) -> Bytes {
    if bitmap.offset() % 8 == 0 {
        return shared(bitmap.inner().slice_with_length(bitmap.offset() / 8, bitmap.len().div_ceil(8)));
    }
    shared(bitmap.sliced())
}

/// An arrow buffer as `Bytes` over the same memory.
fn shared(buffer: Buffer) -> Bytes {
    struct Owner(Buffer);
    impl AsRef<[u8]> for Owner {
        fn as_ref(&self) -> &[u8] {
            self.0.as_slice()
        }
    }
    Bytes::from_owner(Owner(buffer))
}

#[cfg(test)]
#[path = "ipc_tests.rs"]
mod tests;
