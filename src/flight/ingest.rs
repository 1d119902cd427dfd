//! DoPut with CommandStatementIngest: bulk loads from ADBC's `adbc_ingest`.

use arrow_flight::decode::FlightRecordBatchStream;
use arrow_flight::error::FlightError;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::sql::CommandStatementIngest;
use futures::{StreamExt, TryStreamExt};
use tonic::{Request, Status};

use super::{session, FloeService};
use crate::exec::{self, BatchStream};
use crate::write;

pub async fn ingest(
    service: &FloeService,
    command: CommandStatementIngest,
    request: Request<PeekableFlightDataStream>,
) -> Result<i64, Status> {
    let session = session::defaults(request.metadata());
    let flight_data = request.into_inner().map_err(FlightError::from);
    let mut stream = FlightRecordBatchStream::new_from_flight_data(flight_data);
    // The schema message comes first; peek one batch so it has been read.
    let first = stream.try_next().await.map_err(|e| Status::invalid_argument(format!("cannot read the ingest stream: {e}")))?;
    let schema = match (&first, stream.schema()) {
        (Some(batch), _) => batch.schema(),
        (None, Some(schema)) => schema.clone(),
        (None, None) => return Err(Status::invalid_argument("the ingest stream carries no schema")),
    };
    let rest = stream.map_err(|e| exec::Error::Arrow(arrow::error::ArrowError::ExternalError(Box::new(e))));
    let batches: BatchStream = Box::pin(futures::stream::iter(first.map(Ok)).chain(rest));
    Ok(write::ingest::execute(service.engine.lake(), command, schema, batches, &session).await?)
}
