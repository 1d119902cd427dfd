//! Frames on the socket shared with a sandboxed runner (see `runner.py`):
//! one kind byte, a big-endian u32 length, the payload.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

pub const JSON: u8 = b'J';
pub const TABLE_CHUNK: u8 = b'A';
pub const TABLE_ERROR: u8 = b'X';
pub const SCAN_END: u8 = b'E';
pub const RESULT_CHUNK: u8 = b'R';

/// A frame larger than this is a broken or hostile runner, not data: result
/// chunks are 64K rows.
const MAX_FRAME_BYTES: u32 = 1 << 30;

pub struct Channel {
    stream: UnixStream,
}

impl Channel {
    pub fn new(stream: UnixStream) -> Self {
        Self { stream }
    }

    pub async fn send(&mut self, kind: u8, payload: &[u8]) -> std::io::Result<()> {
        let len = u32::try_from(payload.len()).map_err(|_| std::io::Error::other("frame too large"))?;
        let mut header = [0u8; 5];
        header[0] = kind;
        header[1..].copy_from_slice(&len.to_be_bytes());
        self.stream.write_all(&header).await?;
        self.stream.write_all(payload).await
    }

    pub async fn send_json(&mut self, message: &serde_json::Value) -> std::io::Result<()> {
        self.send(JSON, &serde_json::to_vec(message).expect("JSON values serialise")).await
    }

    pub async fn recv(&mut self) -> std::io::Result<(u8, Vec<u8>)> {
        let mut header = [0u8; 5];
        self.stream.read_exact(&mut header).await?;
        let len = u32::from_be_bytes(header[1..].try_into().expect("4 bytes"));
        if len > MAX_FRAME_BYTES {
            return Err(std::io::Error::other(format!("the runner sent a {len}-byte frame")));
        }
        let mut payload = vec![0u8; len as usize];
        self.stream.read_exact(&mut payload).await?;
        Ok((header[0], payload))
    }
}
