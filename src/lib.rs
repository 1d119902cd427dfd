//! Floe: an Arrow Flight SQL server for Apache Iceberg lakes, powered by Polars.

pub mod catalog;
pub mod client;
pub mod cluster;
pub mod config;
pub mod error;
pub mod exec;
pub mod flight;
pub mod run;
pub mod script;
pub mod server;
pub mod sql;
pub mod write;

/// Floe's own protobuf messages (`proto/floe.proto`).
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/floe.v1.rs"));
}
