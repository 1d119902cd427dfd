//! Prepared statements with stateless handles: the handle is the statement,
//! sealed like a ticket. Binding parameters answers with a new handle that
//! carries their values.

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
use tonic::{Request, Response, Status};

use super::{principal, session, statement, FloeService};
use crate::access::Principal;
use crate::error::Error;
use crate::proto::PreparedHandle;
use crate::sql;
use crate::ticket::Kind;

/// What a client should bind for a parameter of type `inferred`: the widest
/// type of its kind, in the units the JDBC driver writes (epoch
/// milliseconds, days, milliseconds of the day). Unknown types take text.
fn bind_type(inferred: Option<DataType>) -> DataType {
    use arrow::datatypes::TimeUnit;
    match inferred {
        Some(DataType::Boolean) => DataType::Boolean,
        Some(t) if t.is_integer() => DataType::Int64,
        Some(t) if t.is_floating() => DataType::Float64,
        Some(DataType::Decimal128(p, s) | DataType::Decimal256(p, s)) => DataType::Decimal128(p.min(38), s),
        Some(DataType::Date32 | DataType::Date64) => DataType::Date32,
        Some(DataType::Timestamp(_, zone)) => DataType::Timestamp(TimeUnit::Millisecond, zone),
        Some(DataType::Time32(_) | DataType::Time64(_)) => DataType::Time32(TimeUnit::Millisecond),
        Some(DataType::Binary | DataType::LargeBinary | DataType::BinaryView | DataType::FixedSizeBinary(_)) => DataType::Binary,
        _ => DataType::Utf8,
    }
}

/// The Go `database/sql` Flight SQL driver (grpc-go) fills a parameter
/// schema only with Go's own types (int64, float64, string, bool) and
/// builds one from the values when the server sends none, as ADBC (also
/// grpc-go) always does; so grpc-go clients get no parameter schema.
fn binds_its_own_types(metadata: &tonic::metadata::MetadataMap) -> bool {
    metadata.get("user-agent").and_then(|v| v.to_str().ok()).is_some_and(|agent| agent.contains("grpc-go"))
}

/// A handle this server sealed for `caller`.
fn open_handle(service: &FloeService, bytes: &[u8], caller: &Principal) -> Result<PreparedHandle, Status> {
    let handle = service.engine().keyring().open::<PreparedHandle>(bytes, Kind::Prepared, caller).map_err(Error::from)?.payload;
    if handle.sql.is_empty() {
        return Err(Error::InvalidArgument("malformed prepared statement handle".into()).into());
    }
    Ok(handle)
}

fn seal_handle(service: &FloeService, handle: &PreparedHandle, owner: &Principal) -> bytes::Bytes {
    service.engine().keyring().seal(Kind::Prepared, handle, owner).into()
}

pub(super) fn schema_bytes(schema: &Schema) -> Result<bytes::Bytes, Status> {
    let IpcMessage(bytes) = SchemaAsIpc::new(schema, &IpcWriteOptions::default())
        .try_into()
        .map_err(|e: arrow::error::ArrowError| Error::Internal(format!("cannot encode schema: {e}")))?;
    Ok(bytes)
}

pub async fn create(
    service: &FloeService,
    request: ActionCreatePreparedStatementRequest,
    call: &Request<arrow_flight::Action>,
) -> Result<ActionCreatePreparedStatementResult, Status> {
    let session = session::defaults(call.metadata());
    let described = sql::describe(&request.query)?;
    let parameters = described.parameters;
    let (caller, client) = (principal(call), super::client(call));
    let types = bind_types(service, &request.query, parameters, &session, &caller).await;
    // Statements that write return no rows.
    let dataset_schema = if described.is_query {
        dataset_schema(service, &request.query, &types, &session, &caller, &client).await?
    } else {
        Arc::new(Schema::empty())
    };
    let parameter_schema = if binds_its_own_types(call.metadata()) {
        bytes::Bytes::new()
    } else {
        let fields: Vec<Field> = types.iter().enumerate().map(|(i, t)| Field::new(format!("${}", i + 1), t.clone(), true)).collect();
        schema_bytes(&Schema::new(fields))?
    };
    let handle = PreparedHandle {
        sql: request.query,
        params: Vec::new(),
        params_bound: parameters == 0,
        session: Some(session),
    };
    Ok(ActionCreatePreparedStatementResult {
        prepared_statement_handle: seal_handle(service, &handle, &principal(call)),
        dataset_schema: schema_bytes(&super::columns::result_schema(&dataset_schema))?,
        parameter_schema,
    })
}

/// A query's result schema before its parameters are bound: planned with
/// NULLs, or, where NULL cannot plan (`s LIKE NULL`), with a value of each
/// parameter's type. The JDBC driver 19 takes an empty schema to mean the
/// statement updates; only when neither plans do clients learn the schema
/// from GetFlightInfo.
async fn dataset_schema(
    service: &FloeService,
    sql: &str,
    types: &[DataType],
    session: &crate::proto::SessionDefaults,
    caller: &Principal,
    client: &str,
) -> Result<arrow::datatypes::SchemaRef, Status> {
    let engine = service.engine();
    let err = match engine.plan(sql, vec!["NULL".into(); types.len()], session.clone(), caller).await {
        Ok(plan) => return Ok(plan.schema),
        Err(err) => err,
    };
    if types.is_empty() {
        // The statement ends here (ADBC prepares everything): audit it.
        let status = Status::from(Error::from(err));
        let kind = crate::access::statement_kind(sql);
        super::audited(caller, client, &kind, &[], &Err::<(), _>(status.clone()));
        return Err(status);
    }
    let samples = types.iter().map(sample_literal).collect();
    Ok(engine.plan(sql, samples, session.clone(), caller).await.map(|plan| plan.schema).unwrap_or_else(|_| Arc::new(Schema::empty())))
}

async fn bind_types(
    service: &FloeService,
    sql: &str,
    parameters: usize,
    session: &crate::proto::SessionDefaults,
    caller: &Principal,
) -> Vec<DataType> {
    let inferred = if parameters == 0 { Vec::new() } else { service.engine().parameter_types(sql, session, caller).await };
    (0..parameters).map(|i| bind_type(inferred.get(i).cloned().flatten())).collect()
}

/// What GetSchema can tell of a prepared statement from its handle.
pub enum BindState {
    /// Parameters not bound yet, so it cannot plan: the schema it was created with.
    Unbound(Schema),
    /// Bound: its SQL, to plan as it will run.
    Bound(String),
}

pub async fn bind_state(service: &FloeService, bytes: &[u8], caller: &Principal, client: &str) -> Result<BindState, Status> {
    let handle = open_handle(service, bytes, caller)?;
    if handle.params_bound {
        return Ok(BindState::Bound(handle.sql));
    }
    let session = handle.session.unwrap_or_default();
    let types = bind_types(service, &handle.sql, sql::parameter_count(&handle.sql)?, &session, caller).await;
    let schema = dataset_schema(service, &handle.sql, &types, &session, caller, client).await?;
    Ok(BindState::Unbound(super::columns::result_schema(&schema).as_ref().clone()))
}

/// A literal of a parameter type, for planning before values are bound.
fn sample_literal(data_type: &DataType) -> String {
    match data_type {
        DataType::Boolean => "FALSE".into(),
        DataType::Int64 => "0".into(),
        DataType::Float64 => "0.0".into(),
        DataType::Decimal128(p, s) => format!("CAST(0 AS DECIMAL({p},{s}))"),
        DataType::Date32 => "CAST('1970-01-01' AS DATE)".into(),
        DataType::Timestamp(..) => "CAST('1970-01-01T00:00:00' AS TIMESTAMP)".into(),
        DataType::Time32(_) => "TIME '00:00:00'".into(),
        DataType::Binary => "X'00'".into(),
        _ => "''".into(),
    }
}

/// Nothing is held for a handle, so closing only checks it is one of ours.
pub fn close(service: &FloeService, request: ActionClosePreparedStatementRequest, caller: &Principal) -> Result<(), Status> {
    open_handle(service, &request.prepared_statement_handle, caller).map(|_| ())
}

pub async fn bind(
    service: &FloeService,
    command: CommandPreparedStatementQuery,
    request: Request<PeekableFlightDataStream>,
) -> Result<DoPutPreparedStatementResult, Status> {
    let caller = principal(&request);
    let mut handle = open_handle(service, &command.prepared_statement_handle, &caller)?;
    let batches = read_batches(request).await?;
    handle.params = match batches.as_slice() {
        [] => Vec::new(),
        [batch] => sql::params::literals_from_batch(batch)?,
        _ => return Err(Error::InvalidArgument("a query binds exactly one row of parameters".into()).into()),
    };
    handle.params_bound = true;
    Ok(DoPutPreparedStatementResult { prepared_statement_handle: Some(seal_handle(service, &handle, &caller)) })
}

pub async fn flight_info(
    service: &FloeService,
    command: CommandPreparedStatementQuery,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    let handle = open_handle(service, &command.prepared_statement_handle, &principal(&request))?;
    let session = handle.session.clone().unwrap_or_else(|| session::defaults(request.metadata()));
    let info = statement::plan(service, &handle.sql, handle.params, session, request).await?;
    Ok(Response::new(info))
}

/// A prepared statement that writes, run once per row of the bound parameter
/// batches (once when it takes none). Returns the rows affected in total.
pub async fn update(
    service: &FloeService,
    command: CommandPreparedStatementUpdate,
    request: Request<PeekableFlightDataStream>,
) -> Result<i64, Status> {
    let caller = principal(&request);
    let handle = open_handle(service, &command.prepared_statement_handle, &caller)?;
    let session = handle.session.clone().unwrap_or_default();
    let batches = read_batches(request).await?;
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    if rows == 0 {
        return statement::update(service, &handle.sql, &handle.params, &session, &caller).await;
    }
    let mut affected = 0;
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let params = sql::params::literals_from_batch(&batch.slice(row, 1))?;
            affected += statement::update(service, &handle.sql, &params, &session, &caller).await?;
        }
    }
    Ok(affected)
}

async fn read_batches(request: Request<PeekableFlightDataStream>) -> Result<Vec<RecordBatch>, Status> {
    let flight_data = request.into_inner().map_err(FlightError::from);
    let batches: Vec<_> = arrow_flight::decode::FlightRecordBatchStream::new_from_flight_data(flight_data)
        .try_collect()
        .await
        .map_err(|e| Error::InvalidArgument(format!("cannot read the parameter batch: {e}")))?;
    Ok(batches.into_iter().filter(|b| b.num_rows() > 0).collect())
}
