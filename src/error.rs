//! The one place errors become gRPC statuses: it picks the code a client can
//! act on and decides what the server logs (user mistakes quietly, faults loudly).

use polars::prelude::PolarsError;
use tonic::{Code, Status};

use crate::{catalog, cluster, exec, isolate, peer, results, script, sql, ticket, write};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Sql(#[from] sql::Error),
    #[error(transparent)]
    Catalog(#[from] catalog::Error),
    #[error(transparent)]
    Exec(#[from] exec::Error),
    #[error(transparent)]
    Write(#[from] write::Error),
    #[error(transparent)]
    Cluster(#[from] cluster::Error),
    #[error(transparent)]
    Script(#[from] script::Error),
    #[error(transparent)]
    Ticket(#[from] ticket::Error),
    #[error(transparent)]
    Isolate(#[from] isolate::Error),
    #[error(transparent)]
    Results(#[from] results::Error),
    #[error("{0}")]
    InvalidArgument(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FailedPrecondition(String),
    #[error("{0}")]
    ResourceExhausted(String),
    #[error("{0}")]
    DeadlineExceeded(String),
    #[error("{0}")]
    Unimplemented(String),
    #[error("{0}")]
    Internal(String),
}

pub type Result<T> = std::result::Result<T, Error>;

fn sql_code(err: &sql::Error) -> Code {
    match err {
        sql::Error::Unsupported(_) => Code::Unimplemented,
        sql::Error::Syntax(_) | sql::Error::Forbidden(_) | sql::Error::Params(_) | sql::Error::Invalid(_) | sql::Error::TooLong(_) => Code::InvalidArgument,
    }
}

fn catalog_code(err: &catalog::Error) -> Code {
    use catalog::Error as E;
    match err {
        E::TableNotFound(_) | E::SchemaNotFound(_) | E::CatalogNotFound { .. } => Code::NotFound,
        E::InvalidName(_) => Code::InvalidArgument,
        E::Unsupported(_) => Code::Unimplemented,
        E::Timeout { .. } => Code::Unavailable,
        E::Iceberg { .. } | E::Load { .. } | E::Open { .. } | E::Demo(_) | E::Pointer { .. } | E::Config(_) => {
            Code::Internal
        }
    }
}

fn polars_code(err: &PolarsError) -> Code {
    match err {
        PolarsError::ColumnNotFound(_)
        | PolarsError::SQLInterface(_)
        | PolarsError::SQLSyntax(_)
        | PolarsError::SchemaMismatch(_)
        | PolarsError::SchemaFieldNotFound(_)
        | PolarsError::StructFieldNotFound(_)
        | PolarsError::InvalidOperation(_)
        | PolarsError::Duplicate(_)
        | PolarsError::ComputeError(_)
        | PolarsError::OutOfBounds(_) => Code::InvalidArgument,
        PolarsError::Context { error, .. } | PolarsError::ExprContext { error, .. } => polars_code(error),
        _ => Code::Internal,
    }
}

fn exec_code(err: &exec::Error) -> Code {
    use exec::Error as E;
    match err {
        E::Sql(e) => sql_code(e),
        E::Catalog(e) => catalog_code(e),
        E::Polars(e) => polars_code(e),
        E::TicketMismatch(_) => Code::InvalidArgument,
        E::Cancelled => Code::Cancelled,
        E::TimedOut(_) => Code::DeadlineExceeded,
        E::Overloaded(_) => Code::ResourceExhausted,
        E::NotFound(_) => Code::NotFound,
        E::Invalid(_) => Code::InvalidArgument,
        E::Unsupported(_) => Code::Unimplemented,
        E::Remote(_) => Code::Unavailable,
        E::Write(e) => write_code(e),
        E::Denied(_) => Code::PermissionDenied,
        E::Upstream(source) => upstream_code(source.as_ref()),
        // A value Polars could not hand over as the wire's type (a HUGEINT past 38 digits) is the query's.
        E::Arrow(arrow::error::ArrowError::ExternalError(source)) => source.downcast_ref::<PolarsError>().map_or(Code::Internal, polars_code),
        E::Arrow(_) | E::Iceberg { .. } | E::Worker(_) | E::DataRead { .. } | E::Shuffle(_) => Code::Internal,
    }
}

/// A failure that reached a lower layer's stream from above it keeps its own code.
fn upstream_code(source: &(dyn std::error::Error + Send + Sync + 'static)) -> Code {
    if let Some(err) = source.downcast_ref::<exec::Error>() {
        exec_code(err)
    } else if let Some(err) = source.downcast_ref::<script::Error>() {
        script_code(err)
    } else if let Some(err) = source.downcast_ref::<cluster::Error>() {
        cluster_code(err)
    } else if let Some(err) = source.downcast_ref::<isolate::Error>() {
        isolate_code(err)
    } else {
        Code::Internal
    }
}

fn write_code(err: &write::Error) -> Code {
    use write::Error as E;
    match err {
        E::Catalog(e) => catalog_code(e),
        E::Input(source) => match source.downcast_ref::<write::Error>() {
            Some(e) => write_code(e),
            None => upstream_code(source.as_ref()),
        },
        E::Sql(e) => sql_code(e),
        E::Schema(_) => Code::InvalidArgument,
        E::Unsupported(_) => Code::Unimplemented,
        E::Property(_) => Code::FailedPrecondition,
        E::AlreadyExists(_) => Code::AlreadyExists,
        E::Conflict | E::TooManyConflicts(_) | E::RowsChanged(_) => Code::Aborted,
        E::Iceberg { .. } => Code::Internal,
    }
}

fn cluster_code(err: &cluster::Error) -> Code {
    use cluster::Error as E;
    match err {
        E::NoWorkers { .. } => Code::Unavailable,
        E::Peer(e) => peer_code(e),
        E::Ticket(e) => ticket_code(e),
        E::Exec(e) => exec_code(e),
        E::NotCoordinator(_) => Code::FailedPrecondition,
        E::Final(_) => Code::Internal,
    }
}

fn peer_code(err: &peer::Error) -> Code {
    match err {
        peer::Error::Unreachable { .. } => Code::Unavailable,
        peer::Error::Refused { code, .. } => *code,
    }
}

fn isolate_code(err: &isolate::Error) -> Code {
    match err {
        isolate::Error::OverBudget(_) | isolate::Error::AllocationFailed(_) => Code::ResourceExhausted,
        isolate::Error::Died(_) => Code::Internal,
        isolate::Error::Spawn(_) => Code::Unavailable,
        isolate::Error::Peer(e) => peer_code(e),
    }
}

fn ticket_code(err: &ticket::Error) -> Code {
    use ticket::Error as E;
    match err {
        E::Malformed { .. } | E::WrongKind { .. } => Code::InvalidArgument,
        E::BadSignature { .. } | E::Expired { .. } => Code::Unauthenticated,
        E::Foreign { .. } => Code::PermissionDenied,
    }
}

fn results_code(err: &results::Error) -> Code {
    match err {
        results::Error::Storage { .. } => Code::Unavailable,
        results::Error::Gone => Code::NotFound,
        results::Error::Input(source) => upstream_code(source.as_ref()),
    }
}

fn script_code(err: &script::Error) -> Code {
    use script::Error as E;
    match err {
        E::Script { .. } | E::Request(_) => Code::InvalidArgument,
        E::Limit(_) => Code::ResourceExhausted,
        E::Timeout(_) => Code::DeadlineExceeded,
        E::Cancelled => Code::Cancelled,
        E::Unavailable(_) | E::Runtime(_) => Code::FailedPrecondition,
        E::Preparing(_) => Code::Unavailable,
        E::Crashed(_) | E::RunnerGone(_) | E::Io { .. } => Code::Internal,
    }
}

/// Failures of a catalog server or object store surface through several
/// libraries (iceberg, OpenDAL, object_store, reqwest) with no shared kind, so
/// they are recognised by what those libraries say: a client can retry an
/// unreachable store later, but must fix credentials first.
fn remote_code(err: &(dyn std::error::Error + 'static)) -> Option<Code> {
    const DENIED: [&str; 7] = [
        "invalidaccesskeyid", "signaturedoesnotmatch", "accessdenied", "permissiondenied",
        "permission denied", "401 unauthorized", "status: 403",
    ];
    const UNREACHABLE: [&str; 7] = [
        "connection refused", "connectionrefused", "tcp connect error", "dns error",
        "operation timed out", "error sending request", "did not answer within",
    ];
    let mut text = String::new();
    let mut next = Some(err);
    while let Some(current) = next {
        text.push_str(&format!("{current} {current:?} ").to_ascii_lowercase());
        next = current.source();
    }
    if DENIED.iter().any(|marker| text.contains(marker)) {
        Some(Code::Unauthenticated)
    } else if UNREACHABLE.iter().any(|marker| text.contains(marker)) {
        Some(Code::Unavailable)
    } else {
        None
    }
}

impl Error {
    pub fn code(&self) -> Code {
        let code = self.own_code();
        match code {
            Code::Internal => remote_code(self).unwrap_or(code),
            _ => code,
        }
    }

    fn own_code(&self) -> Code {
        match self {
            Error::Sql(e) => sql_code(e),
            Error::Catalog(e) => catalog_code(e),
            Error::Exec(e) => exec_code(e),
            Error::Write(e) => write_code(e),
            Error::Cluster(e) => cluster_code(e),
            Error::Script(e) => script_code(e),
            Error::Ticket(e) => ticket_code(e),
            Error::Isolate(e) => isolate_code(e),
            Error::Results(e) => results_code(e),
            Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::Unauthenticated(_) => Code::Unauthenticated,
            Error::PermissionDenied(_) => Code::PermissionDenied,
            Error::FailedPrecondition(_) => Code::FailedPrecondition,
            Error::ResourceExhausted(_) => Code::ResourceExhausted,
            Error::DeadlineExceeded(_) => Code::DeadlineExceeded,
            Error::Unimplemented(_) => Code::Unimplemented,
            Error::Internal(_) => Code::Internal,
        }
    }
}

/// Logs an error as its code deserves: user mistakes quietly, faults loudly.
fn log(code: Code, message: &str) {
    match code {
        Code::Internal | Code::Unknown | Code::DataLoss => tracing::error!(?code, "{message}"),
        Code::Unavailable | Code::ResourceExhausted => tracing::warn!(?code, "{message}"),
        // Someone presenting forged or foreign tickets is worth an operator's eye.
        Code::Unauthenticated | Code::PermissionDenied => tracing::warn!(?code, "{message}"),
        _ => tracing::debug!(?code, "{message}"),
    }
}

/// The HTTP status that says what a gRPC code says.
pub fn http_status(code: Code) -> http::StatusCode {
    use http::StatusCode as S;
    match code {
        Code::Ok => S::OK,
        Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition | Code::Cancelled => S::BAD_REQUEST,
        Code::Unauthenticated => S::UNAUTHORIZED,
        Code::PermissionDenied => S::FORBIDDEN,
        Code::NotFound => S::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => S::CONFLICT,
        Code::ResourceExhausted => S::TOO_MANY_REQUESTS,
        Code::Unimplemented => S::NOT_IMPLEMENTED,
        Code::Unavailable => S::SERVICE_UNAVAILABLE,
        Code::DeadlineExceeded => S::GATEWAY_TIMEOUT,
        Code::Internal | Code::Unknown | Code::DataLoss => S::INTERNAL_SERVER_ERROR,
    }
}

impl Error {
    /// The status for this error with its message in a given body (JSON for `floe.run`).
    pub fn into_status_with(self, body: impl FnOnce(&Self) -> String) -> Status {
        let code = self.code();
        log(code, &self.to_string());
        Status::new(code, body(&self))
    }

    /// The HTTP API's side of the gate: the code (logged as for gRPC) and
    /// the message a person reads.
    pub fn into_http(self) -> (Code, String) {
        let code = self.code();
        let message = self.to_string();
        log(code, &message);
        (code, message)
    }
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        err.into_status_with(|err| err.to_string())
    }
}

impl From<exec::Error> for Status {
    fn from(err: exec::Error) -> Self {
        Error::from(err).into()
    }
}

impl From<sql::Error> for Status {
    fn from(err: sql::Error) -> Self {
        Error::from(err).into()
    }
}

impl From<catalog::Error> for Status {
    fn from(err: catalog::Error) -> Self {
        Error::from(err).into()
    }
}

impl From<write::Error> for Status {
    fn from(err: write::Error) -> Self {
        Error::from(err).into()
    }
}
