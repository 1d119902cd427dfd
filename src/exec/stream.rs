//! Running a Polars plan off tokio's workers, and streaming its output.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use polars::prelude::{Engine as PolarsEngine, LazyFrame, PlanCallback, PolarsError};

use super::{convert, BatchStream, Error, Result, RunningQuery};

/// Polars has its own thread pool and blocks; keep it off tokio's workers.
/// A panic inside Polars becomes an error instead of taking the server down.
pub(super) async fn run_blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(|join| panicked(panic_message(join)))?
}

/// The error a panic inside Polars stands for. Polars 0.55's Parquet
/// reader unwraps a pushed-down filter's error (an overflow in `WHERE
/// x * 1000000000000000000 > 0`, a failed cast): the error it carried is
/// the query's, with its own message, not the server's fault.
pub(super) fn panicked(text: String) -> Error {
    match super::panics::carried_error(&text) {
        Some(error) => Error::Polars(error),
        None => Error::Worker(text),
    }
}

fn panic_message(join: tokio::task::JoinError) -> String {
    match join.try_into_panic() {
        Ok(payload) => panic_text(payload.as_ref()),
        Err(join) => join.to_string(),
    }
}

/// A panic's message, whether it was raised with a literal or a formatted string.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "Polars panicked".into())
}

/// Failures reading the lake's files (I/O, corrupt Parquet) are the server's
/// problem, not the query's: they must not come back as InvalidArgument.
pub(super) fn as_data_fault(err: Error, tables: &str) -> Error {
    match err {
        Error::Polars(polars) if is_data_fault(&polars) => Error::DataRead { tables: tables.to_string(), message: polars.to_string() },
        Error::Polars(polars) => Error::Polars(overflow_named(polars)),
        other => other,
    }
}

/// A result Floe computed in HUGEINT and cast back to BIGINT (`widened_arithmetic.rs`)
/// that does not fit, said as the overflow it is: Polars' message names the
/// cast and an internal column.
fn overflow_named(err: PolarsError) -> PolarsError {
    let message = err.to_string();
    let Some((_, values)) = message.split_once("conversion from `i128` to `i64` failed").and_then(|(_, rest)| rest.split_once("values: ")) else {
        return err;
    };
    PolarsError::ComputeError(format!("integer overflow: {values} past BIGINT's range; cast an operand to DECIMAL(38, 0) or DOUBLE").into())
}

fn is_data_fault(err: &PolarsError) -> bool {
    match err {
        PolarsError::IO { .. } => true,
        PolarsError::Context { error, .. } | PolarsError::ExprContext { error, .. } => is_data_fault(error),
        other => {
            let message = other.to_string().to_ascii_lowercase();
            message.contains("parquet") || message.contains("out of specification")
        }
    }
}

/// Runs the frame on Polars' in-memory engine, then sends the result on.
/// For small results from plans the in-memory engine runs faster (joins
/// and aggregations on few cores). A stop request cancels a `watched` run
/// between steps; one over small inputs runs unwatched, since watching
/// (polling with sleeps) would add more latency than it could save.
pub(super) fn collect_frame(frame: LazyFrame, schema: SchemaRef, query: RunningQuery, tables: String, watched: bool) -> BatchStream {
    // Polars 0.55's in-memory engine answered one row where common
    // subexpressions were taken out over a filtered cross join (a scalar
    // subquery's: `SELECT x + abs(3), y - abs(3) … WHERE id < (SELECT sum(…))`);
    // its inputs are small, so computing such parts twice costs little.
    let frame = frame.with_comm_subexpr_elim(false);
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
    let span = tracing::info_span!(target: "floe::exec", "execute", engine = "in-memory", tables = tables.as_str());
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| match watched {
            true => collect_stoppable(frame, &query),
            false => frame.collect().map(Some),
        }));
        let sent = match outcome {
            Ok(Ok(Some(df))) => {
                tracing::debug!(target: "floe::exec", rows = df.height(), "result collected in memory");
                convert::dataframe_to_batches(&df, &schema).map_err(Error::from)
            }
            Ok(Ok(None)) => Err(query.stop_reason()),
            Ok(Err(err)) => Err(as_data_fault(Error::Polars(err), &tables)),
            Err(panic) => Err(panicked(panic_text(panic.as_ref()))),
        };
        let items: Vec<Result<RecordBatch>> = match sent {
            Ok(batches) => batches.into_iter().map(Ok).collect(),
            Err(err) => vec![Err(err)],
        };
        for item in items {
            if futures::executor::block_on(sender.send(item)).is_err() {
                break; // the client went away
            }
        }
        drop(query);
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}

/// The collected frame, or None when the query was asked to stop first.
fn collect_stoppable(frame: LazyFrame, query: &RunningQuery) -> polars::prelude::PolarsResult<Option<polars::prelude::DataFrame>> {
    let running = frame.collect_concurrently()?;
    let stop = query.stop_check();
    let started = std::time::Instant::now();
    let mut wait = std::time::Duration::from_micros(50);
    loop {
        if let Some(outcome) = running.fetch() {
            return outcome.map(Some);
        }
        if stop() {
            running.cancel();
            return Ok(None);
        }
        // The answer waits for the next poll: at most a twentieth of the time
        // run so far (a millisecond at first), at most 20 ms, so a query is
        // seen done within 5 % of its time (doubling alone added 8 ms to a 17 ms query).
        std::thread::sleep(wait);
        let bound = (started.elapsed() / 20).clamp(std::time::Duration::from_millis(1), std::time::Duration::from_millis(20));
        wait = (wait * 2).min(bound);
    }
}

/// Rows per batch handed to the channel. Polars' Parquet source emits a whole
/// row group (a million rows by default) as one morsel: without a bound the
/// channel held most of a large table before the first byte left (streaming
/// `lineitem` peaked at 1.5 GiB). Slices share the morsel's buffers, so only
/// the row groups in flight stay resident; two slices of 32Ki rows waiting
/// (rather than four of 64Ki) keep a full `lineitem` DoGet under 512 MiB.
const BATCH_ROWS: std::num::NonZeroUsize = std::num::NonZeroUsize::new(32 * 1024).unwrap();

/// Runs the frame on Polars' streaming engine, sending each output morsel on as
/// soon as it exists; the bounded channel applies back-pressure, so a slow
/// client slows the query instead of the server buffering the result.
pub(super) fn stream_frame(frame: LazyFrame, schema: SchemaRef, query: RunningQuery, tables: String) -> BatchStream {
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<RecordBatch>>(2);
    let error_sender = sender.clone();
    // Polars runs on this blocking thread; the span covers the whole run.
    let span = tracing::info_span!(target: "floe::exec", "execute", engine = "streaming", tables = tables.as_str());
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let stop = query.stop_check();
        // Set when the query is cut short, so one that finished just past
        // its deadline is not reported as stopped.
        let halted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let halted_by_callback = halted.clone();
        let callback_schema = schema.clone();
        let callback = PlanCallback::new(move |df: polars::prelude::DataFrame| {
            if stop() {
                halted_by_callback.store(true, std::sync::atomic::Ordering::Relaxed);
                return Ok(true);
            }
            let batches = convert::dataframe_to_batches(&df, &callback_schema)
                .map_err(|e| PolarsError::ComputeError(e.to_string().into()))?;
            for batch in batches {
                // Not tokio's blocking_send: Polars may call this from inside
                // a runtime context of its own, where that panics.
                if futures::executor::block_on(sender.send(Ok(batch))).is_err() {
                    return Ok(true); // the client went away
                }
            }
            Ok(false)
        });
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            frame.sink_batches(callback, true, Some(BATCH_ROWS))?.collect_with_engine(PolarsEngine::Streaming)
        }));
        let failure = match outcome {
            Ok(Ok(_)) if halted.load(std::sync::atomic::Ordering::Relaxed) || query.cancel_requested() => {
                Some(query.stop_reason())
            }
            Ok(Ok(_)) => None,
            Ok(Err(err)) => Some(as_data_fault(Error::Polars(err), &tables)),
            Err(panic) => Some(panicked(panic_text(panic.as_ref()))),
        };
        if let Some(failure) = failure {
            let _ = futures::executor::block_on(error_sender.send(Err(failure)));
        }
        drop(query);
    });
    Box::pin(tokio_stream::wrappers::ReceiverStream::new(receiver))
}


#[cfg(test)]
mod tests {
    use polars::prelude::*;

    #[test]
    fn a_hugeint_cast_back_past_bigint_is_an_overflow() {
        let wide = Series::new("len".into(), [i128::from(i64::MAX) + 2]);
        let err = wide.strict_cast(&DataType::Int64).unwrap_err();
        let named = super::overflow_named(err).to_string();
        assert!(named.starts_with("integer overflow: [9223372036854775809] past BIGINT's range"), "{named}");
        let other = super::overflow_named(polars_err!(ComputeError: "something else")).to_string();
        assert_eq!(other, "something else");
    }
}
