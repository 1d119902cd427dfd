//! Parquet encoding settings for one write, chosen from the first batch.
//!
//! The Parquet crate dictionary-encodes every column until its dictionary
//! reaches 1 MiB. For a column of distinct values (ids, prices, comments) that
//! is all cost: every value is hashed into a growing table, and the dictionary
//! then holds the whole column again. parquet-mr, the writer Iceberg's Java
//! library uses, drops the dictionary after the first page when dictionary
//! plus indices are not smaller than the plain values; the Parquet crate has no
//! such check, so Floe makes the same comparison once per write on a sample of
//! the first batch and turns the dictionary off for the columns that fail it.
//!
//! The codec is the table's: Iceberg's `write.parquet.compression-codec` and
//! `write.parquet.compression-level`, as Spark and pyiceberg obey them.

use std::collections::{HashMap, HashSet};

use arrow::array::{Array, ArrayData, AsArray};
use arrow::datatypes::DataType;
use arrow::record_batch::RecordBatch;
use parquet::basic::{BrotliLevel, Compression, GzipLevel, ZstdLevel};
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;

/// Values sampled per column: about one data page of 8-byte values.
const SAMPLE_ROWS: usize = 32 * 1024;

/// Fewer values than this say too little about the rest of a write (a
/// stream's first batch may be a handful of rows): the default stays.
const MIN_SAMPLE: usize = 1024;

pub const CODEC: &str = "write.parquet.compression-codec";
pub const CODEC_LEVEL: &str = "write.parquet.compression-level";

/// Without a level, zstd's fastest: decoding speed hardly depends on the
/// level, and a load encodes every byte it writes.
const DEFAULT_ZSTD_LEVEL: i32 = 1;

/// The codec a table's properties ask for; zstd, Iceberg's default, without one.
pub fn codec(properties: &HashMap<String, String>) -> Result<Compression, String> {
    let name = properties.get(CODEC).map_or("zstd", |name| name.trim()).to_ascii_lowercase();
    let level = match properties.get(CODEC_LEVEL).map(|level| level.trim()) {
        None | Some("") => None,
        Some(level) => Some(level.parse::<i32>().map_err(|_| format!("table property {CODEC_LEVEL} = `{level}` is not a whole number"))?),
    };
    let invalid = |e: parquet::errors::ParquetError| format!("table property {CODEC_LEVEL}: {e}");
    let unsigned = |level: i32| u32::try_from(level).map_err(|_| format!("table property {CODEC_LEVEL} = {level} is negative"));
    Ok(match name.as_str() {
        "zstd" => Compression::ZSTD(ZstdLevel::try_new(level.unwrap_or(DEFAULT_ZSTD_LEVEL)).map_err(invalid)?),
        "gzip" => Compression::GZIP(level.map_or(Ok(GzipLevel::default()), |l| GzipLevel::try_new(unsigned(l)?).map_err(invalid))?),
        "brotli" => Compression::BROTLI(level.map_or(Ok(BrotliLevel::default()), |l| BrotliLevel::try_new(unsigned(l)?).map_err(invalid))?),
        // Hadoop-framed LZ4 is parquet-mr's `lz4`, what Iceberg's Java writer names so.
        "snappy" | "lz4" | "lz4_raw" | "uncompressed" if level.is_some() => {
            return Err(format!("table property {CODEC_LEVEL} is set, but {CODEC} `{name}` takes no level: unset one of them"))
        }
        "snappy" => Compression::SNAPPY,
        "lz4" => Compression::LZ4,
        "lz4_raw" => Compression::LZ4_RAW,
        "uncompressed" => Compression::UNCOMPRESSED,
        other => {
            return Err(format!(
                "table property {CODEC} = `{other}` names no codec Floe writes: use zstd, snappy, gzip, brotli, lz4, lz4_raw or uncompressed"
            ))
        }
    })
}

/// Writer settings for a write whose first batch is `first`.
pub fn writer_properties(first: Option<&RecordBatch>, row_group_rows: usize, codec: Compression) -> WriterProperties {
    let mut builder = WriterProperties::builder().set_compression(codec).set_max_row_group_row_count(Some(row_group_rows));
    if let Some(batch) = first {
        let schema = batch.schema();
        for (field, column) in schema.fields().iter().zip(batch.columns()) {
            if dictionary_pays(column.as_ref()) == Some(false) {
                builder = builder.set_column_dictionary_enabled(ColumnPath::from(field.name().as_str()), false);
            }
        }
    }
    builder.build()
}

/// Whether a dictionary would make `column`'s sample smaller than its plain
/// encoding; `None` for types the sample does not read and for samples too
/// small to judge (left to the default).
fn dictionary_pays(column: &dyn Array) -> Option<bool> {
    let sample = column.slice(0, column.len().min(SAMPLE_ROWS));
    let data = sample.to_data();
    let values = value_bytes(sample.as_ref(), &data)?;
    if values.len() < MIN_SAMPLE {
        return None;
    }
    // Byte arrays carry a 4-byte length prefix in both encodings.
    let prefix = if fixed_width(sample.data_type()).is_some() { 0 } else { 4 };
    let plain: usize = values.iter().map(|value| value.len() + prefix).sum();
    let distinct: HashSet<&[u8]> = values.iter().copied().collect();
    let dictionary: usize = distinct.iter().map(|value| value.len() + prefix).sum();
    let index_bits = (usize::BITS - distinct.len().saturating_sub(1).leading_zeros()).max(1) as usize;
    let indices = (values.len() * index_bits).div_ceil(8);
    Some(dictionary + indices < plain)
}

/// The bytes of each non-null value, for the types Parquet dictionary-encodes;
/// `data` is `array`'s, which fixed-width values are read from.
fn value_bytes<'a>(array: &'a dyn Array, data: &'a ArrayData) -> Option<Vec<&'a [u8]>> {
    let valid = |i: usize| array.is_valid(i);
    let values: Vec<&[u8]> = match array.data_type() {
        DataType::Utf8 => array.as_string::<i32>().iter().flatten().map(str::as_bytes).collect(),
        DataType::LargeUtf8 => array.as_string::<i64>().iter().flatten().map(str::as_bytes).collect(),
        DataType::Utf8View => array.as_string_view().iter().flatten().map(str::as_bytes).collect(),
        DataType::Binary => array.as_binary::<i32>().iter().flatten().collect(),
        DataType::LargeBinary => array.as_binary::<i64>().iter().flatten().collect(),
        DataType::BinaryView => array.as_binary_view().iter().flatten().collect(),
        other => {
            let width = fixed_width(other)?;
            let buffer = data.buffers().first()?;
            let start = data.offset() * width;
            let bytes = buffer.as_slice().get(start..start + data.len() * width)?;
            bytes.chunks_exact(width).enumerate().filter(|(i, _)| valid(*i)).map(|(_, value)| value).collect()
        }
    };
    Some(values)
}

/// Bytes per value of the fixed-width types a dictionary applies to.
fn fixed_width(data_type: &DataType) -> Option<usize> {
    match data_type {
        DataType::Boolean => None, // bit-packed, never dictionary-encoded
        DataType::FixedSizeBinary(width) => usize::try_from(*width).ok(),
        other if other.is_primitive() => other.primitive_width(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Float64Array, Int64Array, StringArray};

    use super::*;

    #[test]
    fn distinct_values_skip_the_dictionary_and_repeated_ones_keep_it() {
        let ids = Int64Array::from_iter_values(0..50_000);
        let prices = Float64Array::from_iter_values((0..50_000).map(|i| i as f64 * 0.25));
        let flags = StringArray::from_iter_values((0..50_000).map(|i| ["A", "N", "R"][i % 3]));
        let keys = Int64Array::from_iter_values((0..50_000).map(|i| i / 4));
        assert_eq!(dictionary_pays(&ids), Some(false));
        assert_eq!(dictionary_pays(&prices), Some(false));
        assert_eq!(dictionary_pays(&flags), Some(true));
        assert_eq!(dictionary_pays(&keys), Some(true), "each key four times: 8-byte values, 14-bit indices");
    }

    #[test]
    fn nulls_and_slices_are_read_at_their_offsets() {
        let column = Int64Array::from(vec![Some(7), None, Some(7), Some(7), None, Some(7)]);
        let slice = column.slice(1, 4);
        let data = slice.to_data();
        assert_eq!(value_bytes(&slice, &data).map(|values| values.len()), Some(2));
        assert_eq!(dictionary_pays(&Int64Array::from(vec![None::<i64>; 3])), None);
        assert_eq!(dictionary_pays(&Int64Array::from_iter_values(0..100)), None, "too few values to judge");
    }

    #[test]
    fn properties_name_the_columns_that_skip_it() {
        let batch = RecordBatch::try_from_iter([
            ("id", Arc::new(Int64Array::from_iter_values(0..10_000)) as Arc<dyn Array>),
            ("flag", Arc::new(StringArray::from_iter_values((0..10_000).map(|i| ["A", "B"][i % 2])))),
        ])
        .unwrap();
        let properties = writer_properties(Some(&batch), 1024, Compression::SNAPPY);
        assert!(!properties.dictionary_enabled(&ColumnPath::from("id")));
        assert!(properties.dictionary_enabled(&ColumnPath::from("flag")));
        assert!(writer_properties(None, 1024, Compression::SNAPPY).dictionary_enabled(&ColumnPath::from("id")));
    }

    #[test]
    fn the_codec_is_the_tables() {
        let props = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>();
        assert_eq!(codec(&props(&[])), Ok(Compression::ZSTD(ZstdLevel::try_new(1).unwrap())));
        assert_eq!(codec(&props(&[(CODEC, "ZSTD"), (CODEC_LEVEL, "9")])), Ok(Compression::ZSTD(ZstdLevel::try_new(9).unwrap())));
        assert_eq!(codec(&props(&[(CODEC, "lz4_raw")])), Ok(Compression::LZ4_RAW));
        assert_eq!(codec(&props(&[(CODEC, "snappy")])), Ok(Compression::SNAPPY));
        assert_eq!(codec(&props(&[(CODEC, "gzip")])), Ok(Compression::GZIP(GzipLevel::default())));
        assert_eq!(codec(&props(&[(CODEC, "uncompressed")])), Ok(Compression::UNCOMPRESSED));
        for bad in [&[(CODEC, "lzma")][..], &[(CODEC, "snappy"), (CODEC_LEVEL, "3")], &[(CODEC_LEVEL, "fast")], &[(CODEC, "gzip"), (CODEC_LEVEL, "-1")], &[(CODEC_LEVEL, "99")]] {
            let message = codec(&props(bad)).expect_err("refused");
            assert!(message.contains("write.parquet.compression"), "{message}");
        }
    }
}
