//! Rows answered inline: the first `inline_rows` go in the answer; past
//! that the whole result is also written to the result store, and the
//! answer links to it.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use futures::TryStreamExt;

use crate::error::Result;
use crate::exec::BatchStream;
use crate::results::{ResultStore, Stored};

pub struct Inline {
    pub schema: SchemaRef,
    /// At most the store's `inline_rows` rows.
    pub head: Vec<RecordBatch>,
    /// Rows in the whole result.
    pub row_count: u64,
    /// Set when the result was larger than the answer holds.
    pub stored: Option<Stored>,
}

pub async fn collect(store: &ResultStore, schema: SchemaRef, mut batches: BatchStream) -> Result<Inline> {
    let max_rows = store.inline_rows();
    let mut head = Vec::new();
    let mut rows = 0usize;
    while let Some(batch) = batches.try_next().await? {
        rows += batch.num_rows();
        head.push(batch);
        if rows > max_rows {
            let stored = store.write(schema.clone(), head.clone(), batches).await?;
            let row_count = stored.rows;
            return Ok(Inline { schema, head: first_rows(head, max_rows), row_count, stored: Some(stored) });
        }
    }
    Ok(Inline { schema, head, row_count: rows as u64, stored: None })
}

fn first_rows(batches: Vec<RecordBatch>, max_rows: usize) -> Vec<RecordBatch> {
    let mut left = max_rows;
    let mut kept = Vec::new();
    for batch in batches {
        if left == 0 {
            break;
        }
        let take = batch.num_rows().min(left);
        left -= take;
        kept.push(batch.slice(0, take));
    }
    kept
}
