//! Starts the real `floe` binary on port 0 and reads back its address.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use arrow_flight::sql::client::FlightSqlServiceClient;
use tonic::transport::Channel;

pub struct Server {
    pub address: String,
    pub dir: tempfile::TempDir,
    child: Child,
}

impl Server {
    pub fn start(extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let addr_file = dir.path().join("addr");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log file");
        let mut child = Command::new(env!("CARGO_BIN_EXE_floe"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path())
            .arg("--addr-file")
            .arg(&addr_file)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start floe");
        let deadline = Instant::now() + Duration::from_secs(60);
        while !addr_file.exists() {
            if let Some(status) = child.try_wait().expect("poll floe") {
                panic!("floe exited with {status}:\n{}", read_log(dir.path()));
            }
            assert!(Instant::now() < deadline, "floe did not start:\n{}", read_log(dir.path()));
            std::thread::sleep(Duration::from_millis(20));
        }
        let address = std::fs::read_to_string(&addr_file).expect("addr file").trim().to_string();
        Self { address, dir, child }
    }

    pub async fn client(&self) -> FlightSqlServiceClient<Channel> {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", self.address))
            .expect("endpoint")
            .connect()
            .await
            .expect("connect");
        FlightSqlServiceClient::new(channel)
    }

    pub fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("poll floe").is_none()
    }

    pub fn log(&self) -> String {
        read_log(self.dir.path())
    }

    pub fn binary() -> PathBuf {
        PathBuf::from(env!("CARGO_BIN_EXE_floe"))
    }
}

fn read_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("server.log")).unwrap_or_default()
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM first: the server shuts down gracefully.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
