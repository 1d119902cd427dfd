//! Listing the files under a table's location (FileIO cannot list): the
//! local filesystem directly, object stores through OpenDAL with the
//! table's own storage settings.

use std::time::SystemTime;

use iceberg::table::Table;

use super::{Error, Result};

/// Every file below `location`: its path (as the table names files), size and modification time.
pub async fn list(table: &Table, location: &str) -> Result<Vec<(String, u64, Option<SystemTime>)>> {
    match location.split_once("://") {
        Some(("s3" | "s3a", rest)) => list_s3(table, location, rest).await,
        Some(("file", path)) => Ok(local(path, "file://")),
        Some((scheme, _)) => Err(Error::Unsupported(format!("listing `{scheme}://` locations is not supported"))),
        None => Ok(local(location, "")),
    }
}

fn local(root: &str, prefix: &str) -> Vec<(String, u64, Option<SystemTime>)> {
    let mut files = Vec::new();
    let mut pending = vec![std::path::PathBuf::from(root)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                files.push((format!("{prefix}{}", entry.path().display()), meta.len(), meta.modified().ok()));
            }
        }
    }
    files
}

async fn list_s3(table: &Table, location: &str, rest: &str) -> Result<Vec<(String, u64, Option<SystemTime>)>> {
    let fail = |e: &dyn std::fmt::Display| Error::Unsupported(format!("listing {location}: {e}"));
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let props = table.file_io().config().props();
    let mut builder = opendal::services::S3::default().bucket(bucket).root("/");
    if let Some(endpoint) = props.get("s3.endpoint") {
        builder = builder.endpoint(endpoint);
    }
    if let Some(region) = props.get("s3.region") {
        builder = builder.region(region);
    }
    if let Some(key) = props.get("s3.access-key-id") {
        builder = builder.access_key_id(key);
    }
    if let Some(secret) = props.get("s3.secret-access-key") {
        builder = builder.secret_access_key(secret);
    }
    let operator = opendal::Operator::new(builder).map_err(|e| fail(&e))?.finish();
    let scheme = location.split_once("://").map_or("s3", |(scheme, _)| scheme);
    let entries = operator.list_with(&format!("{}/", prefix.trim_end_matches('/'))).recursive(true).await.map_err(|e| fail(&e))?;
    Ok(entries
        .into_iter()
        .filter(|entry| entry.metadata().is_file())
        .map(|entry| {
            let meta = entry.metadata();
            let modified = meta.last_modified().map(SystemTime::from);
            (format!("{scheme}://{bucket}/{}", entry.path().trim_start_matches('/')), meta.content_length(), modified)
        })
        .collect())
}
