//! Polars' own Parquet reader on object storage: its cloud options come from
//! the table's Iceberg FileIO properties, so the catalog's settings and any
//! credentials a REST catalog vended with the table apply to both readers.

use std::collections::HashMap;
use std::time::Duration;

use polars::io::cloud::{AmazonS3ConfigKey, CloudOptions, CloudRetryConfig};

/// How long and how often remote reads are retried before a query fails.
#[derive(Debug, Clone, Copy)]
pub struct RemoteLimits {
    pub request_timeout: Duration,
    pub retries: usize,
}

impl Default for RemoteLimits {
    fn default() -> Self {
        Self { request_timeout: Duration::from_secs(30), retries: 3 }
    }
}

/// Polars cloud options for S3 files read with these FileIO properties.
pub fn s3_options(props: &HashMap<String, String>, limits: RemoteLimits) -> CloudOptions {
    let mut config: Vec<(AmazonS3ConfigKey, String)> = Vec::new();
    let mut set = |key: &str, value: String| {
        if let Ok(key) = key.parse::<AmazonS3ConfigKey>() {
            config.push((key, value));
        }
    };
    for (iceberg_key, polars_key) in [
        (iceberg::io::S3_ENDPOINT, "aws_endpoint"),
        (iceberg::io::S3_REGION, "aws_region"),
        (iceberg::io::CLIENT_REGION, "aws_region"),
        (iceberg::io::S3_ACCESS_KEY_ID, "aws_access_key_id"),
        (iceberg::io::S3_SECRET_ACCESS_KEY, "aws_secret_access_key"),
        (iceberg::io::S3_SESSION_TOKEN, "aws_session_token"),
    ] {
        if let Some(value) = props.get(iceberg_key) {
            set(polars_key, value.clone());
        }
    }
    let path_style = props.get(iceberg::io::S3_PATH_STYLE_ACCESS).is_some_and(|v| v.eq_ignore_ascii_case("true"));
    set("aws_virtual_hosted_style_request", (!path_style).to_string());
    if props.get(iceberg::io::S3_ENDPOINT).is_some_and(|e| e.starts_with("http://")) {
        set("aws_allow_http", "true".into());
    }
    // Garage and MinIO accept any region name but object_store insists on one.
    if !props.contains_key(iceberg::io::S3_REGION) && !props.contains_key(iceberg::io::CLIENT_REGION) {
        if let Ok(region) = std::env::var("AWS_REGION").or_else(|_| std::env::var("AWS_DEFAULT_REGION")) {
            set("aws_region", region);
        } else if props.contains_key(iceberg::io::S3_ENDPOINT) {
            set("aws_region", "us-east-1".into());
        }
    }
    set("timeout", format!("{}s", limits.request_timeout.as_secs().max(1)));
    set("connect_timeout", "5s".into());
    let retry_config = CloudRetryConfig {
        max_retries: Some(limits.retries),
        retry_timeout: Some(limits.request_timeout * (limits.retries as u32 + 1)),
        ..Default::default()
    };
    CloudOptions::default().with_aws(config).with_retry_config(retry_config)
}

pub fn is_s3(location: &str) -> bool {
    ["s3://", "s3a://", "s3n://"].iter().any(|scheme| location.starts_with(scheme))
}

/// Polars reads `s3://` only; Hadoop-era `s3a://`/`s3n://` name the same objects.
pub fn polars_s3_path(location: &str) -> String {
    match location.split_once("://") {
        Some((_, rest)) => format!("s3://{rest}"),
        None => location.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garage_style_settings_become_path_style_http_with_a_region() {
        let props: HashMap<String, String> = [
            ("s3.endpoint", "http://127.0.0.1:3900"),
            ("s3.path-style-access", "true"),
            ("s3.access-key-id", "GK1"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let options = format!("{:?}", s3_options(&props, RemoteLimits::default()));
        for expected in ["Endpoint, \"http://127.0.0.1:3900\"", "VirtualHostedStyleRequest, \"false\"", "AllowHttp), \"true\"", "AccessKeyId, \"GK1\""] {
            assert!(options.contains(expected), "{expected} missing from {options}");
        }
        assert_eq!(polars_s3_path("s3a://b/k.parquet"), "s3://b/k.parquet");
        assert!(is_s3("s3://b/k") && !is_s3("/w/k"));
    }
}
