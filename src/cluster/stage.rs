//! The coordinator's side of hash shuffles for joins of two large tables:
//! each side's file partitions run as map tasks on workers, which hash their
//! rows by the join keys into buckets (`exec::shuffle`); reduce partition
//! `b` then reads bucket `b` of both sides from every map output, so
//! matching keys meet on one worker.

use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use super::{Cluster, Error};
use crate::access::Principal;
use crate::exec::Engine;
use crate::proto::{QueryTicket, ShuffleMap};
use crate::ticket::{Keyring, Kind};

pub const MAP_ACTION: &str = "floe.cluster.shuffle_map";

/// One side of a shuffled join, as the coordinator plans it.
#[derive(Debug, Clone)]
pub struct Side {
    pub relation: String,
    pub keys: Vec<String>,
    pub files: Vec<(String, u64)>,
}

/// The map stage on the coordinator: each side's file partitions on the
/// workers (a failed map task runs on another worker); returns each side's
/// shuffle id and the workers holding its outputs, and how many map tasks
/// had to run again elsewhere.
pub async fn run_map_stage(
    cluster: &Arc<Cluster>,
    engine: &Engine,
    ticket: &QueryTicket,
    sides: &[Side],
    workers: &[String],
    owner: &Principal,
) -> Result<(Vec<(String, Vec<String>)>, usize), Error> {
    let buckets = workers.len() as u32;
    let mut outputs = Vec::new();
    let mut reruns = 0;
    for (side_index, side) in sides.iter().enumerate() {
        let shuffle_id = format!("{}-s{side_index}", ticket.query_id.replace(|c: char| !c.is_ascii_alphanumeric(), ""));
        let partitions = super::plan::balance(&side.files, workers.len());
        let tasks = partitions.into_iter().enumerate().map(|(index, files)| {
            let mut fragment = ticket.clone();
            fragment.sql = format!("SELECT * FROM {}", quoted(&side.relation));
            fragment.query_id = format!("{shuffle_id}-m{index}");
            fragment.tables.retain(|pin| pin.relation == side.relation);
            for pin in &mut fragment.tables {
                pin.partitioned = true;
                pin.files = files.clone();
            }
            let request = ShuffleMap { fragment: Some(fragment), keys: side.keys.clone(), buckets, shuffle_id: shuffle_id.clone() };
            let first = super::gather::round_robin(workers, index);
            let task = super::gather::Task { query_id: &ticket.query_id, what: "shuffle map", index };
            async move { map_with_retries(cluster, engine, task, request, first, owner).await }
        });
        let done: Vec<(String, usize)> = futures::stream::iter(tasks).buffer_unordered(workers.len().max(1)).try_collect().await?;
        reruns += done.iter().map(|(_, attempts)| attempts - 1).sum::<usize>();
        let mut holders: Vec<String> = done.into_iter().map(|(holder, _)| holder).collect();
        holders.sort();
        holders.dedup();
        outputs.push((shuffle_id, holders));
    }
    Ok((outputs, reruns))
}

fn quoted(relation: &str) -> String {
    relation.split('.').map(|part| format!("\"{}\"", part.replace('"', "\"\""))).collect::<Vec<_>>().join(".")
}

/// One map task, on `first` or (when it fails or hangs) another worker;
/// answers where its output is (the worker, or the object prefix the map
/// task names when its store is object storage) and the attempts it took.
async fn map_with_retries(
    cluster: &Arc<Cluster>,
    engine: &Engine,
    task: super::gather::Task<'_>,
    request: ShuffleMap,
    first: Option<String>,
    owner: &Principal,
) -> Result<(String, usize), Error> {
    let body = seal_map(engine.keyring(), &request, owner);
    let size = |bodies: &Vec<bytes::Bytes>| {
        let answer = answer_of(bodies);
        (answer["rows"].as_u64().unwrap_or_default(), answer["bytes"].as_u64().unwrap_or_default())
    };
    let (worker, attempts, bodies) = super::gather::on_some_worker(cluster, task, first, size, |worker| {
        let body = body.clone();
        async move { Ok(engine.peers().action(&worker, MAP_ACTION, body).await?) }
    })
    .await?;
    let source = answer_of(&bodies)["source"].as_str().map(str::to_string).filter(|source| !source.is_empty());
    Ok((source.unwrap_or(worker), attempts))
}

fn answer_of(bodies: &[bytes::Bytes]) -> serde_json::Value {
    bodies.first().and_then(|body| serde_json::from_slice(body).ok()).unwrap_or_default()
}

/// A map task travels sealed, for the principal whose query it serves: its
/// fragment's file pins and the shuffle id (which names files on the
/// worker) are the coordinator's, not a caller's.
fn seal_map(keyring: &Keyring, request: &ShuffleMap, owner: &Principal) -> Vec<u8> {
    keyring.seal(Kind::ShuffleMap, request, owner)
}

/// A worker's side of `floe.cluster.shuffle_map`: verify, then run the map
/// task; answers the rows written and where a reducer finds them.
pub async fn serve_map(engine: &Engine, body: &[u8], caller: &Principal) -> Result<serde_json::Value, Error> {
    let request = engine.keyring().open::<ShuffleMap>(body, Kind::ShuffleMap, caller)?;
    let owner = Principal::owner(&request.principal);
    let output = crate::exec::shuffle::run_map(engine, request.payload, &owner).await?;
    Ok(serde_json::json!({ "rows": output.rows, "bytes": output.bytes, "source": output.source }))
}

