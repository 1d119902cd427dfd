//! The tickets placement issues — a query (or one partition of it), a
//! distributed query the coordinator gathers, a script result — sealed with
//! the server's ticket key, and starting whatever a presented ticket names.
//! Query tickets travel as Flight SQL's `TicketStatementQuery`; the others
//! as `floe.v1.Sealed` inside a protobuf `Any`.

use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow_flight::sql::{Any, TicketStatementQuery};
use arrow_flight::Ticket;
use prost::Message;

use super::Workloads;
use crate::access::Principal;
use crate::error::{Error, Result};
use crate::exec::{shuffle, BatchStream};
use crate::proto::{DistributedTicket, QueryTicket, ResultLink, ScriptTicket, SessionDefaults};
use crate::ticket::{self, Keyring, Kind};

pub use crate::ticket::SEALED_TYPE;

/// A ticket's rows, ready to stream.
pub struct Started {
    pub schema: SchemaRef,
    pub batches: BatchStream,
    /// The session's IPC body compression (`""`, `"lz4"`, `"zstd"`).
    pub compression: String,
    pub work: Work,
    /// The OpenLineage run this stream is, for a client's query (not a peer's fetch).
    pub lineage: Option<crate::lineage::Tracked>,
    /// Its record in this node's history, when it was made before the rows
    /// were ready (a query that waits for a slot shows as queued).
    pub running: Option<crate::history::Running>,
}

/// What a DoGet runs, for the line the server logs when it ends.
#[derive(Debug, Clone, Default)]
pub struct Work {
    pub query_id: String,
    /// The statement's first keyword, or `SCRIPT`, `RESULT`, `SHUFFLE`.
    pub kind: String,
    pub tables: Vec<String>,
    /// The statement (or script) as the client sent it.
    pub sql: String,
}

impl Work {
    fn of_query(query: &QueryTicket) -> Self {
        Self {
            query_id: query.query_id.clone(),
            kind: crate::access::statement_kind(&query.sql),
            tables: query.tables.iter().map(|pin| pin.relation.clone()).collect(),
            sql: query.sql.clone(),
        }
    }

    fn named(kind: &str) -> Self {
        Self { kind: kind.into(), ..Self::default() }
    }

    /// Its record in the history, as `principal` fetched it over Flight from `client`.
    pub fn history_start(&self, principal: &Principal, client: &str) -> crate::history::Start {
        crate::history::Start {
            query_id: self.query_id.clone(),
            protocol: crate::history::Protocol::Flight,
            kind: self.kind.clone(),
            sql: self.sql.clone(),
            principal: principal.to_string(),
            client: client.to_string(),
            tables: self.tables.clone(),
        }
    }
}

fn compression(session: &Option<SessionDefaults>) -> String {
    session.as_ref().map(|s| s.compression.clone()).unwrap_or_default()
}

/// `ran`, its failure (before any row) also ending its history record.
fn failed_in<T>(ran: Result<T>, running: &mut Option<crate::history::Running>) -> Result<T> {
    if let Err(err) = &ran {
        if let Some(running) = running.take() {
            running.finish(Some((format!("{:?}", err.code()), err.to_string())));
        }
    }
    ran
}

pub use crate::exec::ticket::flight_ticket as query_ticket;

/// The Flight ticket of any other kind.
pub fn sealed_ticket(keyring: &Keyring, kind: Kind, message: &impl Message, principal: &Principal) -> Ticket {
    Ticket::new(keyring.seal_ticket(kind, message, principal))
}

/// The ticket of a stored result: DoGet reads it until it expires.
pub fn result_ticket(keyring: &Keyring, stored: &crate::results::Stored, owner: &Principal) -> Ticket {
    let link = ResultLink { path: stored.path.clone(), rows: stored.rows };
    let sealed = keyring.seal_for(Kind::Result, &link, owner, stored.time_left());
    Ticket::new(prost_types::Any { type_url: SEALED_TYPE.into(), value: sealed }.encode_to_vec())
}

pub fn script_job(ticket: ScriptTicket, owner: Principal) -> crate::script::Job {
    crate::script::Job {
        principal: owner,
        script: ticket.script,
        params: ticket.params.into_iter().collect(),
        session: ticket.session.unwrap_or_default(),
        vcpus: ticket.vcpus,
        timeout: Duration::from_secs(ticket.timeout_seconds),
        pins: ticket.pins.into_iter().collect(),
        query_id: ticket.query_id,
    }
}

impl Workloads {
    /// DoGet of a `TicketStatementQuery`: verified, then run here.
    pub async fn start_query(&self, handle: &[u8], caller: &Principal, client: &str) -> Result<Started> {
        let opened = crate::exec::ticket::open(self.engine.keyring(), handle, caller)?;
        let query = opened.payload;
        let work = Work::of_query(&query);
        let mut running = self.track(&work, caller, client, true);
        let lineage = if caller.is_peer() { None } else { self.query_run(&query).await };
        let ran = self.run_local(&query, &Principal::owner(&opened.principal)).await;
        let (schema, batches) = failed_in(ran, &mut running)?;
        Ok(Started { schema, batches, compression: compression(&query.session), work, lineage, running })
    }

    /// A client's query (not a peer's fetch) in this node's history, from
    /// before it is admitted, planned and started.
    fn track(&self, work: &Work, caller: &Principal, client: &str, queued: bool) -> Option<crate::history::Running> {
        let start = work.history_start(caller, client);
        let history = self.engine.history();
        (!caller.is_peer()).then(|| if queued { history.start_queued(start) } else { history.start(start) })
    }

    /// DoGet of any other Floe ticket: verified before anything in it is used.
    pub async fn start_sealed(&self, any: &Any, caller: &Principal, client: &str) -> Result<Started> {
        if any.type_url != SEALED_TYPE {
            return Err(Error::InvalidArgument(format!("unknown ticket type `{}`: not one this server issued", any.type_url)));
        }
        let body = self.engine.keyring().verify(&any.value, caller)?;
        match body.kind() {
            Kind::Distributed => {
                let opened = ticket::decode_payload::<DistributedTicket>(body)?;
                self.start_distributed(opened.payload, &Principal::owner(&opened.principal), (caller, client)).await
            }
            Kind::Script => {
                let opened = ticket::decode_payload::<ScriptTicket>(body)?;
                self.start_script(opened.payload, Principal::owner(&opened.principal)).await
            }
            Kind::Result => {
                let link = ticket::decode_payload::<ResultLink>(body)?.payload;
                let (schema, batches) = self.results.read_batches(&link.path).await?;
                Ok(Started { schema, batches: crate::exec::in_memory(batches), compression: String::new(), work: Work::named("RESULT"), lineage: None, running: None })
            }
            Kind::ShuffleFetch => {
                let fetch = ticket::decode_payload(body)?.payload;
                let (schema, batches) = shuffle::read_bucket(self.engine.shuffle_store(), &fetch)?;
                Ok(Started { schema, batches: crate::exec::in_memory(batches), compression: String::new(), work: Work::named("SHUFFLE"), lineage: None, running: None })
            }
            other => Err(Error::InvalidArgument(format!("a {other:?} ticket cannot be fetched with DoGet"))),
        }
    }

    async fn start_distributed(&self, ticket: DistributedTicket, owner: &Principal, (caller, client): (&Principal, &str)) -> Result<Started> {
        let Some(cluster) = &self.cluster else {
            return Err(Error::FailedPrecondition("a distributed ticket needs its coordinator (`floe serve --cluster`)".into()));
        };
        let compression = compression(&ticket.session);
        let mut work = ticket.fragments.first().map(Work::of_query).unwrap_or_default();
        work.query_id = ticket.query_id.clone();
        let lineage = match &ticket.statement {
            Some(statement) => {
                work.sql = statement.sql.clone();
                work.tables = statement.tables.iter().map(|pin| pin.relation.clone()).collect();
                self.query_run(statement).await
            }
            None => None,
        };
        let mut running = self.track(&work, caller, client, false);
        let ran = if ticket.final_sql.is_empty() {
            crate::cluster::stream_partitions(cluster, &self.engine, &ticket, owner).map_err(Error::from)
        } else {
            crate::cluster::run_distributed(cluster, &self.engine, &ticket, owner)
                .await
                .map(|(schema, batches, _)| (schema, crate::exec::in_memory(batches)))
                .map_err(Error::from)
        };
        let (schema, batches) = failed_in(ran, &mut running)?;
        Ok(Started { schema, batches, compression, work, lineage, running })
    }

    async fn start_script(&self, ticket: ScriptTicket, owner: Principal) -> Result<Started> {
        let compression = compression(&ticket.session);
        let work = Work {
            query_id: ticket.query_id.clone(),
            kind: "SCRIPT".into(),
            tables: ticket.pins.keys().cloned().collect(),
            sql: ticket.script.clone(),
        };
        let session = ticket.session.clone().unwrap_or_default();
        let lineage = self.start_run(&ticket.query_id, crate::lineage::JobKind::Script, &session, &ticket.script);
        let started = crate::script::start(self.scripts.clone(), self.engine.clone(), script_job(ticket, owner)).await?;
        Ok(Started { schema: started.schema, batches: started.batches, compression, work, lineage, running: None })
    }

    /// The query ids of the tickets this server issued to `caller` inside a
    /// FlightInfo's endpoints (for CancelFlightInfo): tickets that do not
    /// verify name nothing, so nobody cancels another's query.
    pub fn query_ids(&self, tickets: &[&[u8]], caller: &Principal) -> Vec<String> {
        let keyring = self.engine.keyring();
        tickets
            .iter()
            .filter_map(|bytes| Any::decode(*bytes).ok())
            .filter_map(|any| match any.unpack::<TicketStatementQuery>() {
                Ok(Some(command)) => crate::exec::ticket::open(keyring, &command.statement_handle, caller).ok().map(|t| t.payload.query_id),
                _ if any.type_url == SEALED_TYPE => {
                    let body = keyring.verify(&any.value, caller).ok()?;
                    match body.kind() {
                        Kind::Script => ticket::decode_payload::<ScriptTicket>(body).ok().map(|t| t.payload.query_id),
                        Kind::Distributed => ticket::decode_payload::<DistributedTicket>(body).ok().map(|t| t.payload.query_id),
                        _ => None,
                    }
                }
                _ => None,
            })
            .filter(|id| !id.is_empty())
            .collect()
    }
}
