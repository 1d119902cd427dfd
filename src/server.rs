//! `floe serve`: open the lake, bind, announce the address, serve until SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{bail, Context};
use arrow_flight::flight_service_server::FlightServiceServer;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use crate::catalog::{self, Lake};
use crate::config::ServeArgs;
use crate::exec::Engine;
use crate::flight::auth::AuthLayer;
use crate::flight::{Auth, FloeService};
use crate::ticket::Keyring;
use crate::workload::Workloads;

/// Parameter batches and bulk loads arrive in large messages.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    serve(args, None).await
}

/// `floe worker`: the server, heart-beating to its coordinator once it listens.
pub async fn run_worker(args: crate::config::WorkerArgs) -> anyhow::Result<()> {
    let mut serve_args = args.serve;
    // The coordinator's catalog already has its demo table; workers only read.
    serve_args.no_demo = true;
    let heartbeat = (args.coordinator, std::time::Duration::from_secs(args.heartbeat_seconds.max(1)));
    serve(serve_args, Some(heartbeat)).await
}

async fn serve(args: ServeArgs, coordinator: Option<(String, std::time::Duration)>) -> anyhow::Result<()> {
    let _telemetry = crate::telemetry::init(&crate::telemetry::Options {
        json_logs: args.log_format == crate::config::LogFormat::Json,
        otlp_endpoint: args.observability.otlp_endpoint.clone(),
        service_name: if coordinator.is_some() { "floe-worker" } else { "floe" },
    })?;
    // Two rustls providers are compiled in (ring, and aws-lc-rs through
    // other crates), so rustls cannot pick one itself: TLS uses ring.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if !args.has_credentials() && !args.listen.ip().is_loopback() {
        bail!(
            "refusing to serve on {} without credentials; set --token, --user or --tls-client-ca, or listen on 127.0.0.1",
            args.listen
        );
    }
    // One bound for every remote call, and the S3 settings read (from the
    // environment) once, for the catalog's storage and for shuffle files.
    let remote = crate::exec::RemoteLimits {
        request_timeout: std::time::Duration::from_secs(args.storage_timeout_seconds.max(1)),
        retries: args.storage_retries,
    };
    let s3_props = args.s3_settings().file_io_props().map_err(|e| anyhow::anyhow!("S3 settings: {e}"))?;
    let lake = Arc::new(open_lake(&args, &s3_props, remote).await?);
    let listener = TcpListener::bind(args.listen).await.with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;

    let (keyring, generated_key) = keyring(&args)?;
    let peer_tls = peer_tls(&args)?;
    let (policy, mut tokens) = match &args.config {
        Some(path) => crate::access::Policy::load(path).map_err(|e| anyhow::anyhow!("access policy: {e}"))?,
        None => Default::default(),
    };
    tokens.extend(args.named_tokens());
    let scripts = crate::script::Scripts::start(args.scripts.script_config(private_paths(&args)));
    let scan_options = crate::exec::ScanOptions { remote, iceberg_reader_only: args.reader == crate::config::Reader::Iceberg };
    let shuffle_store =
        crate::exec::shuffle::ShuffleStore::new(args.shuffle_location.as_deref(), args.data_dir.join("shuffle"), s3_props.clone());
    let kept = crate::history::Kept { retention: args.observability.history_retention, max_queries: args.observability.history_max_queries };
    let history = crate::history::Store::open(&args.data_dir.join("history.db"), kept)
        .await
        .map_err(|e| anyhow::anyhow!("query history: {e}"))?;
    let history = crate::history::History::open(history, args.observability.admins.clone()).await;
    let advertised = args.advertise_address.clone().unwrap_or_else(|| address.to_string());
    let cluster = args.cluster.cluster.then(|| {
        let cluster = Arc::new(crate::cluster::Cluster::new(cluster_config(&args, &advertised)));
        cluster.spawn_dns_discovery();
        cluster
    });
    let host = crate::host::spawn_sampler();
    let nodes = directory(&advertised, cluster.clone(), host.clone(), coordinator.is_some());
    let engine = Arc::new(
        Engine::new(lake, keyring.clone())
            .with_history(history.clone())
            .with_scan_options(scan_options)
            .with_polars_engine(match args.polars_engine {
                crate::config::PolarsEngine::Auto => crate::exec::PolarsEngine::Auto,
                crate::config::PolarsEngine::Streaming => crate::exec::PolarsEngine::Streaming,
                crate::config::PolarsEngine::InMemory => crate::exec::PolarsEngine::InMemory,
            })
            .with_result_cache(args.result_cache_mb << 20)
            .with_data_cache(data_cache_bytes(&args))
            .with_admission(args.limits.admission())
            .with_policy(policy)
            .with_peer_tls(peer_tls)
            .with_shuffle_store(shuffle_store)
            .with_nodes(nodes),
    );
    let running = engine.running().clone();
    let grace = std::time::Duration::from_secs(args.shutdown_grace_seconds);
    let auth = Arc::new(
        Auth::new(tokens, args.users.clone(), keyring.clone()).with_client_certificates(args.tls.tls_client_ca.is_some()),
    );
    let is_worker = coordinator.is_some();
    if let Some((coordinator, every)) = coordinator {
        crate::cluster::worker::spawn_heartbeat(coordinator, advertised, every, keyring.clone(), engine.peers().clone(), host.clone());
    }
    let executors = executors(&args, generated_key, engine.peers().clone())?;
    let results = Arc::new(crate::results::ResultStore::new(
        args.http.results_location.as_deref(),
        args.data_dir.join("results"),
        s3_props.clone(),
        args.http.results_retention,
        args.http.inline_rows,
    ));
    results.clone().spawn_sweeper();
    let lineage = crate::lineage::Lineage::start(crate::lineage::Config {
        url: args.observability.openlineage_url.clone(),
        api_key: args.observability.openlineage_api_key.clone(),
        file: args.observability.openlineage_file.clone(),
        namespace: args.observability.openlineage_namespace.clone(),
    });
    let workloads = Arc::new(Workloads::new(engine, scripts, cluster, results).with_executors(executors).with_lineage(lineage).with_host(host, is_worker));
    let http = crate::http::router(workloads.clone(), &args.http, args.tls.tls_cert.is_some());
    if let Some(listen) = args.observability.http_listen.0 {
        crate::observatory::serve(listen, workloads.clone(), auth.clone(), &args.http, auth.enabled()).await?;
    }
    let service = FloeService::new(workloads, auth.clone()).with_tls(args.tls.tls_cert.is_some());
    let flight_server = crate::flight::FlightServer::new(service);
    let flight = FlightServiceServer::new(flight_server.clone())
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let flight = crate::flight::DirectDoGet::new(flight, flight_server, MAX_MESSAGE_BYTES);

    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = server_tls(&args)? {
        builder = builder.tls_config(tls).context("TLS settings")?;
    }
    let keepalive = (args.tls.keepalive_seconds > 0).then(|| std::time::Duration::from_secs(args.tls.keepalive_seconds));
    builder = builder.http2_keepalive_interval(keepalive).tcp_keepalive(keepalive);
    if let Some(path) = &args.addr_file {
        write_address(path, address)?;
    }
    let scheme = if args.tls.tls_cert.is_some() { "grpc+tls" } else { "grpc" };
    tracing::info!(%address, auth = auth.enabled(), "Floe Flight SQL server listening on {scheme}://{address}");
    // HTTP/1.1 and gRPC share the port; `Routes::from` an axum router keeps
    // tonic's gRPC "unimplemented" fallback away from HTTP clients.
    let routes = tonic::service::Routes::from(http).add_service(flight);
    builder
        .accept_http1(true)
        .layer(AuthLayer(auth))
        .add_routes(routes)
        .serve_with_incoming_shutdown(without_nagle(listener), shutdown_signal(running, grace))
        .await
        .context("server failed")?;
    history.flush().await;
    tracing::info!("Floe stopped");
    Ok(())
}

fn cluster_config(args: &ServeArgs, advertised: &str) -> crate::cluster::ClusterConfig {
    let cluster = &args.cluster;
    crate::cluster::ClusterConfig {
        heartbeat_timeout: std::time::Duration::from_secs(cluster.heartbeat_timeout_seconds.max(1)),
        worker_dns: cluster.worker_dns.clone(),
        fragment_timeout: std::time::Duration::from_secs(cluster.partition_timeout_seconds.max(1)),
        fragment_attempts: cluster.partition_attempts.max(1),
        direct_endpoints: cluster.cluster_endpoints == crate::config::Endpoints::Direct,
        advertise_address: Some(advertised.to_string()),
        broadcast_limit_bytes: cluster.broadcast_limit_bytes,
        group_shuffle_bytes: cluster.group_shuffle_bytes,
    }
}

/// The key that seals tickets: from the flags, else made up (single node;
/// returned as text too, for the server's own query executors).
fn keyring(args: &ServeArgs) -> anyhow::Result<(Keyring, Option<String>)> {
    let lifetime = std::time::Duration::from_secs(args.ticket_lifetime_seconds.max(1));
    let key = match (&args.ticket_key_file, &args.ticket_key) {
        (Some(path), _) => std::fs::read(path).with_context(|| format!("cannot read the ticket key file {}", path.display()))?,
        (None, Some(key)) => key.as_bytes().to_vec(),
        (None, None) => {
            if args.cluster.cluster {
                tracing::warn!("no --ticket-key-file: workers cannot verify this coordinator's tickets unless they share its key");
            }
            let text: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
            let keyring = Keyring::new(text.as_bytes(), lifetime).map_err(|e| anyhow::anyhow!("ticket key: {e}"))?;
            return Ok((keyring, Some(text)));
        }
    };
    let trimmed = String::from_utf8_lossy(&key).trim().as_bytes().to_vec();
    Ok((Keyring::new(&trimmed, lifetime).map_err(|e| anyhow::anyhow!("ticket key: {e}"))?, None))
}

/// `--data-cache-mb`, or a quarter of the memory this process may use; none
/// where queries run in executors or every query streams.
fn data_cache_bytes(args: &ServeArgs) -> usize {
    let unused = args.limits.query_memory_mb > 0 || args.polars_engine == crate::config::PolarsEngine::Streaming;
    let bytes = match args.data_cache_mb {
        _ if unused => 0,
        Some(mb) => mb << 20,
        None => crate::host::memory_limit_bytes() as usize / 4,
    };
    tracing::info!(data_cache_mb = bytes >> 20, "data cache");
    bytes
}

/// With `--query-memory-mb`, the pool of executor processes queries run in.
fn executors(args: &ServeArgs, generated_key: Option<String>, peers: crate::peer::Peers) -> anyhow::Result<Option<Arc<crate::isolate::Executors>>> {
    if args.limits.query_memory_mb == 0 {
        return Ok(None);
    }
    let argv: Vec<String> = std::env::args().collect();
    let spec = crate::isolate::ExecutorSpec {
        program: std::env::current_exe().context("cannot find the floe binary to start query executors")?,
        args: crate::isolate::shared_args(&argv),
        ticket_key: generated_key,
        budget_mb: args.limits.query_memory_mb,
        scratch: args.data_dir.join("executors"),
    };
    let executors = crate::isolate::Executors::new(spec, peers);
    tracing::info!(budget_mb = args.limits.query_memory_mb, limits = executors.describe(), "queries run in capped executor processes");
    Ok(Some(Arc::new(executors)))
}

fn read_pem(path: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))
}

fn server_tls(args: &ServeArgs) -> anyhow::Result<Option<tonic::transport::ServerTlsConfig>> {
    let (Some(cert), Some(key)) = (&args.tls.tls_cert, &args.tls.tls_key) else { return Ok(None) };
    let client_ca = args.tls.tls_client_ca.as_deref().map(read_pem).transpose()?;
    Ok(Some(crate::flight::tls::server_config(&read_pem(cert)?, &read_pem(key)?, client_ca.as_deref())))
}

/// Nodes of a TLS cluster check each other against the peer (or client)
/// CA, and show their own certificate (which mTLS listeners require).
fn peer_tls(args: &ServeArgs) -> anyhow::Result<Option<crate::peer::PeerTls>> {
    let (Some(cert), Some(key)) = (&args.tls.tls_cert, &args.tls.tls_key) else { return Ok(None) };
    let Some(ca) = args.tls.tls_peer_ca.as_ref().or(args.tls.tls_client_ca.as_ref()) else {
        tracing::warn!("TLS without --tls-peer-ca or --tls-client-ca: calls to other nodes cannot verify them and are not made over TLS");
        return Ok(None);
    };
    Ok(Some(crate::peer::PeerTls { ca: read_pem(ca)?, identity: Some((read_pem(cert)?, read_pem(key)?)) }))
}

/// What a script sandbox must never see; the start-up probe checks each.
fn private_paths(args: &ServeArgs) -> Vec<std::path::PathBuf> {
    let mut paths = vec![
        std::path::absolute(&args.data_dir).unwrap_or_else(|_| args.data_dir.clone()),
        "/etc/shadow".into(),
        "/var".into(),
    ];
    if let Some(config) = &args.config {
        paths.push(std::path::absolute(config).unwrap_or_else(|_| config.clone()));
    }
    paths
}

/// `floe setup`: prepares script mode in the foreground.
pub async fn setup(args: crate::config::SetupArgs) -> anyhow::Result<()> {
    let _telemetry = crate::telemetry::init(&crate::telemetry::Options { service_name: "floe", ..Default::default() })?;
    let config = args.scripts.script_config(vec!["/etc/shadow".into(), "/var".into()]);
    let message = crate::script::setup(config).await?;
    println!("{message}");
    Ok(())
}

async fn open_lake(
    args: &ServeArgs,
    s3_props: &std::collections::HashMap<String, String>,
    remote: crate::exec::RemoteLimits,
) -> anyhow::Result<Lake> {
    let uses_embedded_files = args.catalog_uri.is_none() || args.warehouse.is_none();
    if uses_embedded_files {
        std::fs::create_dir_all(args.data_dir.join("warehouse"))
            .with_context(|| format!("cannot create data dir {}", args.data_dir.display()))?;
    }
    let mut catalogs = vec![catalog::config::CatalogSpec::Sql(catalog::config::SqlCatalogSpec {
        name: args.catalog_name.clone(),
        uri: args.catalog_uri(),
        warehouse: args.warehouse(),
        storage: s3_props.clone(),
    })];
    if let Some(path) = &args.config {
        catalogs.extend(catalog::config::load(path)?);
    }
    let lake = Lake::open(&catalogs).await?.with_request_timeout(remote.request_timeout);
    if !args.no_demo && catalog::ensure_demo_table(&lake).await? {
        tracing::info!("created demo table {}.default.flowers (150 rows)", args.catalog_name);
    }
    Ok(lake)
}

/// Accepted connections with TCP_NODELAY: gRPC writes a response as several
/// small frames, and Nagle's algorithm held each small reply back ~40 ms
/// waiting for a delayed ACK (every short query paid it, twice).
fn without_nagle(listener: TcpListener) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use futures::StreamExt;
    TcpListenerStream::new(listener).map(|accepted| {
        let stream = accepted?;
        stream.set_nodelay(true)?;
        Ok(stream)
    })
}

/// Written atomically (rename), so a reader never sees half an address.
fn write_address(path: &std::path::Path, address: SocketAddr) -> anyhow::Result<()> {
    let partial = path.with_extension("partial");
    std::fs::write(&partial, address.to_string()).with_context(|| format!("cannot write {}", partial.display()))?;
    std::fs::rename(&partial, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Waits for SIGINT/SIGTERM, then stops running queries. Polars cannot be
/// interrupted inside a long operator, so after `grace` the process exits
/// anyway: commits are atomic, so no table is left half-written.
async fn shutdown_signal(running: crate::exec::Running, grace: std::time::Duration) {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    let cancelled = running.cancel_all();
    tracing::info!(cancelled, "shutting down: finishing in-flight calls for up to {}s", grace.as_secs());
    tokio::spawn(async move {
        tokio::time::sleep(grace).await;
        tracing::warn!("in-flight calls did not finish within the shutdown grace period; exiting");
        std::process::exit(0);
    });
}

/// `system.workers`: this node, then (on a coordinator) each live worker
/// with the host sample its last heartbeat carried and its task totals.
fn directory(advertised: &str, cluster: Option<Arc<crate::cluster::Cluster>>, host: crate::host::Samples, worker: bool) -> crate::host::Directory {
    let address = advertised.to_string();
    Arc::new(move || {
        let role = match (&cluster, worker) {
            (Some(_), _) => "coordinator",
            (None, true) => "worker",
            (None, false) => "single",
        };
        let this = crate::host::Node { address: address.clone(), role: role.into(), latest: host.latest(), ..Default::default() };
        let workers = cluster.iter().flat_map(|cluster| cluster.workers()).map(|view| crate::host::Node {
            address: view.address,
            role: "worker".into(),
            worker_id: view.worker_id,
            last_heartbeat_ms: Some(view.last_heartbeat_ms),
            latest: view.host.last().copied(),
            tasks_running: view.tasks.tasks_running,
            tasks_done: view.tasks.tasks_done,
            tasks_failed: view.tasks.tasks_failed,
            shuffle_bytes: view.tasks.shuffle_bytes,
        });
        std::iter::once(this).chain(workers).collect()
    })
}
