//! The query ticket: a planned query (or one partition of it) with its
//! pinned snapshots, sealed, in Flight SQL's `TicketStatementQuery`. Placement
//! issues it for a whole query, the coordinator for each partition; any Floe
//! node holding the ticket key runs it.

use arrow_flight::sql::{ProstMessageExt, TicketStatementQuery};
use arrow_flight::Ticket;
use prost::Message;

use crate::access::Principal;
use crate::proto::QueryTicket;
use crate::ticket::{self, Keyring, Kind};

pub fn flight_ticket(keyring: &Keyring, query: &QueryTicket, principal: &Principal) -> Ticket {
    let handle = keyring.seal(Kind::Query, query, principal);
    Ticket::new(TicketStatementQuery { statement_handle: handle.into() }.as_any().encode_to_vec())
}

/// Verifies a `TicketStatementQuery`'s handle.
pub fn open(keyring: &Keyring, handle: &[u8], caller: &Principal) -> ticket::Result<ticket::Opened<QueryTicket>> {
    keyring.open(handle, Kind::Query, caller)
}
