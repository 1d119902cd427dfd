//! Prepared statements with stateless handles: the handle is the statement.
//! Binding parameters answers with a new handle that carries their values.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::ipc::writer::IpcWriteOptions;
use arrow_flight::error::FlightError;
use arrow_flight::sql::server::PeekableFlightDataStream;
use arrow_flight::sql::{
    ActionClosePreparedStatementRequest, ActionCreatePreparedStatementRequest, ActionCreatePreparedStatementResult,
    CommandPreparedStatementQuery, CommandPreparedStatementUpdate, DoPutPreparedStatementResult,
};
use arrow_flight::{FlightDescriptor, FlightInfo, IpcMessage, SchemaAsIpc};
use futures::TryStreamExt;
use prost::Message;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};

use super::{session, statement, FloeService};
use crate::proto::PreparedHandle;
use crate::sql;

pub fn decode_handle(bytes: &[u8]) -> Result<PreparedHandle, Status> {
    PreparedHandle::decode(bytes)
        .ok()
        .filter(|handle| !handle.sql.is_empty())
        .ok_or_else(|| Status::invalid_argument("malformed prepared statement handle"))
}

fn schema_bytes(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Status::internal(format!("cannot encode schema: {e}")))?;
    Ok(bytes)
}

pub async fn create(
    service: &FloeService,
    request: ActionCreatePreparedStatementRequest,
    metadata: &MetadataMap,
) -> Result<ActionCreatePreparedStatementResult, Status> {
    let session = session::defaults(metadata);
    let parameters = sql::parameter_count(&request.query)?;
    // Placeholder types are unknown until bound, so the result schema is
    // planned with NULLs; when that cannot plan, clients learn it from
    // GetFlightInfo. Statements that write return no rows.
    let dataset_schema = if !sql::is_query(&request.query)? {
        Arc::new(Schema::empty())
    } else {
        match service.engine.plan(&request.query, vec!["NULL".into(); parameters], session.clone()).await {
            Ok(plan) => plan.schema,
            Err(err) if parameters == 0 => return Err(err.into()),
            Err(_) => Arc::new(Schema::empty()),
        }
    };
    let parameter_schema =
        Schema::new((1..=parameters).map(|i| Field::new(format!("${i}"), DataType::Null, true)).collect::<Vec<_>>());
    let handle = PreparedHandle {
        sql: request.query,
        params: Vec::new(),
        params_bound: parameters == 0,
        session: Some(session),
    };
    Ok(ActionCreatePreparedStatementResult {
        prepared_statement_handle: handle.encode_to_vec().into(),
        dataset_schema: schema_bytes(&dataset_schema)?,
        parameter_schema: schema_bytes(&parameter_schema)?,
    })
}

/// Nothing is held for a handle, so closing only checks it is one of ours.
pub fn close(request: ActionClosePreparedStatementRequest) -> Result<(), Status> {
    decode_handle(&request.prepared_statement_handle).map(|_| ())
}

pub async fn bind(
    command: CommandPreparedStatementQuery,
    request: Request<PeekableFlightDataStream>,
) -> Result<DoPutPreparedStatementResult, Status> {
    let mut handle = decode_handle(&command.prepared_statement_handle)?;
    let batches = read_batches(request).await?;
    handle.params = match batches.as_slice() {
        [] => Vec::new(),
        [batch] => sql::params::literals_from_batch(batch)?,
        _ => return Err(Status::invalid_argument("a query binds exactly one row of parameters")),
    };
    handle.params_bound = true;
    Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(handle.encode_to_vec().into()) })
}

pub async fn flight_info(
    service: &FloeService,
    command: CommandPreparedStatementQuery,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    let handle = decode_handle(&command.prepared_statement_handle)?;
    let session = handle.session.clone().unwrap_or_else(|| session::defaults(request.metadata()));
    let proxy = super::cluster::cannot_reach_workers(request.metadata());
    let info = statement::plan_or_write(service, &handle.sql, handle.params, session, request.into_inner(), proxy).await?;
    Ok(Response::new(info))
}

/// A prepared statement that writes, run once per row of the bound parameter
/// batches (once when it takes none). Returns the rows affected in total.
pub async fn update(
    service: &FloeService,
    command: CommandPreparedStatementUpdate,
    request: Request<PeekableFlightDataStream>,
) -> Result<i64, Status> {
    let handle = decode_handle(&command.prepared_statement_handle)?;
    let session = handle.session.clone().unwrap_or_default();
    let batches = read_batches(request).await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows == 0 {
        return statement::update(service, &handle.sql, &handle.params, &session).await;
    }
    let mut affected = 0;
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let params = sql::params::literals_from_batch(&batch.slice(row, 1))?;
            affected += statement::update(service, &handle.sql, &params, &session).await?;
        }
    }
    Ok(affected)
}

async fn read_batches(request: Request<PeekableFlightDataStream>) -> Result<Vec<RecordBatch>, Status> {
    let flight_data = request.into_inner().map_err(FlightError::from);
    let batches: Vec<_> = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(flight_data)
        .try_collect()
        .await
        .map_err(|e| Status::invalid_argument(format!("cannot read the parameter batch: {e}")))?;
    Ok(batches.into_iter().filter(|b| b.num_rows() > 0).collect())
}
