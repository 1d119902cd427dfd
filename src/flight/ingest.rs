//! DoPut with CommandStatementIngest: bulk loads from ADBC's `adbc_ingest`.

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::sql::CommandStatementIngest;
use futures::{StreamExt, TryStreamExt};
use tonic::{Request, Status};

use super::{session, FloeService};
use crate::error::Error;
use crate::write::{self, BatchStream};

pub async fn ingest(
    service: &FloeService,
    command: CommandStatementIngest,
    request: Request<PeekableFlightDataStream>,
) -> Result<i64, Status> {
    let session = session::defaults(request.metadata());
    let caller = super::principal(&request);
    let lake = service.engine().lake();
    // Named and authorized before a byte of the upload is read.
    let table = write::ingest::target(lake, &command, &session).await.map_err(Error::from)?;
    service.engine().authorize(&caller, &table, crate::access::Right::Write).map_err(Error::from)?;
    let tracked = service.workloads.ingest_run(&table, &session);
    let started = std::time::Instant::now();
    let (loaded, committed) = crate::write::noting_commits(load(service, &table, command, request)).await;
    let failure = loaded.as_ref().err().map(|status| (format!("{:?}", status.code()), status.message().to_string()));
    let target = table.to_string();
    let rows = *loaded.as_ref().unwrap_or(&0);
    let write = crate::workload::Write { sql: "", target: &target, rows, started, committed: committed.last().copied(), failure };
    service.workloads.record_write(&caller, write);
    service.workloads.finish_ingest(tracked, &table, loaded.as_ref().err().map(|e| e.message().to_string())).await;
    loaded
}

async fn load(
    service: &FloeService,
    table: &crate::catalog::TableRef,
    command: CommandStatementIngest,
    request: Request<PeekableFlightDataStream>,
) -> Result<i64, Status> {
    let lake = service.engine().lake();
    let flight_data = request.into_inner().map_err(FlightError::from);
    let mut stream = FlightRecordBatchStream::new_from_flight_data(flight_data);
    // The schema message comes first; peek one batch so it has been read.
    let first = stream.try_next().await.map_err(|e| Error::InvalidArgument(format!("cannot read the ingest stream: {e}")))?;
    let schema = match (&first, stream.schema()) {
        (Some(batch), _) => batch.schema(),
        (None, Some(schema)) => schema.clone(),
        (None, None) => return Err(Error::InvalidArgument("the ingest stream carries no schema".into()).into()),
    };
    let rest = stream.map_err(write::Error::input);
    let batches: BatchStream = Box::pin(futures::stream::iter(first.map(Ok)).chain(rest));
    Ok(write::ingest::load(lake, table.clone(), command, schema, batches).await.map_err(Error::from)?)
}
