#![recursion_limit = "256"]
//! Floe: an Arrow Flight SQL server for Apache Iceberg lakes, powered by Polars.

//!
//! Layers import only downward (see ARCHITECTURE.md):
//! `server` → `flight`, `http` (protocol adapters) → `workload` (placement, `floe.run`)
//! → `cluster`, `script`, `isolate` → `exec` → `write`, `sql`, `catalog`,
//! `peer`, `results`, `ticket`, `access`, `cgroup`, `bounded`. `error` is the one gate to gRPC statuses.

pub mod access;
pub mod bounded;
pub mod catalog;
pub mod cgroup;
pub mod client;
pub mod cluster;
pub mod config;
pub mod error;
pub mod exec;
pub mod flight;
pub mod history;
pub mod host;
pub mod http;
pub mod isolate;
pub mod observatory;
pub mod lineage;
pub mod pattern;
pub mod spelling;
pub mod peer;
pub mod results;
pub mod script;
pub mod server;
pub mod sql;
pub mod telemetry;
pub mod ticket;
pub mod workload;
pub mod write;

#[cfg(test)]
mod fuzz;

/// Floe's own protobuf messages (`proto/floe.proto`).
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/floe.v1.rs"));
}
