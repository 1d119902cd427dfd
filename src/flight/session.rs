//! Flight SQL session options. The session lives in a cookie holding its own
//! state (like tickets), so any node can serve any call of a session and the
//! server keeps nothing per client. Clients need cookie support (ADBC:
//! `adbc.flight.sql.rpc.with_cookie_middleware=true`).

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use prost::Message;
use tonic::metadata::{MetadataMap, MetadataValue};
use tonic::Status;

use super::FloeService;
use crate::proto::session_option_value::OptionValue;
use crate::proto::set_session_options_result::{Error as OptionError, ErrorValue};
use crate::proto::{
    close_session_result, CloseSessionResult, GetSessionOptionsResult, SessionDefaults, SessionOptionValue,
    SetSessionOptionsRequest, SetSessionOptionsResult,
};

const COOKIE_NAME: &str = "floe_session";
const CATALOG: &str = "catalog";
const SCHEMA: &str = "schema";
/// Arrow IPC compression of results: `none`, `lz4` or `zstd` (LZ4 frame / ZSTD buffers).
const COMPRESSION: &str = "compression";
pub const COMPRESSIONS: [&str; 3] = ["none", "lz4", "zstd"];
/// Spread this session's queries over the cluster's workers: `true`/`false`.
const DISTRIBUTED: &str = "distributed";

fn bool_value(value: &SessionOptionValue) -> Option<bool> {
    match &value.option_value {
        None => Some(false),
        Some(OptionValue::BoolValue(flag)) => Some(*flag),
        Some(OptionValue::StringValue(text)) => text.trim().to_ascii_lowercase().parse().ok(),
        Some(_) => None,
    }
}

/// The caller's session defaults; none set yields empty (server) defaults.
pub fn defaults(metadata: &MetadataMap) -> SessionDefaults {
    with_headers(from_cookie(metadata), metadata)
}

/// Clients that cannot set session options (JDBC without `catalog`, Go's
/// `database/sql`, Grafana) send them as `x-floe-<option>` headers, which
/// JDBC URL properties and Go DSN parameters become; a header wins over
/// the cookie for its call.
fn with_headers(mut session: SessionDefaults, metadata: &MetadataMap) -> SessionDefaults {
    let header = |name: &str| {
        let value = metadata.get(format!("x-floe-{name}").as_str())?;
        value.to_str().ok().map(str::trim)
    };
    if let Some(catalog) = header(CATALOG) {
        session.catalog = catalog.to_string();
    }
    if let Some(schema) = header(SCHEMA) {
        session.schema = schema.to_string();
    }
    match header(COMPRESSION).map(str::to_ascii_lowercase) {
        Some(codec) if codec == "none" => session.compression.clear(),
        Some(codec) if COMPRESSIONS.contains(&codec.as_str()) => session.compression = codec,
        Some(codec) => tracing::warn!(codec, "ignoring x-floe-compression: not one of none, lz4, zstd"),
        None => {}
    }
    match header(DISTRIBUTED).map(|flag| flag.to_ascii_lowercase().parse::<bool>()) {
        Some(Ok(flag)) => session.distributed = flag,
        Some(Err(_)) => tracing::warn!("ignoring x-floe-distributed: not true or false"),
        None => {}
    }
    session.lineage = crate::lineage::context(metadata.as_ref());
    session
}


fn from_cookie(metadata: &MetadataMap) -> SessionDefaults {
    metadata
        .get_all("cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|header| header.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE_NAME)?.strip_prefix('='))
        .filter_map(|encoded| URL_SAFE_NO_PAD.decode(encoded).ok())
        .find_map(|bytes| SessionDefaults::decode(bytes.as_slice()).ok())
        .unwrap_or_default()
}

pub struct Reply {
    pub body: Vec<u8>,
    pub set_cookie: Option<MetadataValue<tonic::metadata::Ascii>>,
}

fn cookie(session: &SessionDefaults) -> MetadataValue<tonic::metadata::Ascii> {
    let value = format!("{COOKIE_NAME}={}; Path=/", URL_SAFE_NO_PAD.encode(session.encode_to_vec()));
    value.parse().expect("base64url is a valid header value")
}

fn string_value(value: &SessionOptionValue) -> Option<Option<&str>> {
    match &value.option_value {
        None => Some(None), // an empty value erases the option
        Some(OptionValue::StringValue(text)) => Some(Some(text.as_str())),
        Some(_) => None,
    }
}

pub async fn set(service: &FloeService, body: &[u8], metadata: &MetadataMap) -> Result<Reply, Status> {
    let request = SetSessionOptionsRequest::decode(body)
        .map_err(|e| crate::error::Error::InvalidArgument(format!("malformed SetSessionOptionsRequest: {e}")))?;
    let lake = service.engine().lake();
    // Headers apply per call; only options set here (checked below) go into the cookie.
    let mut session = from_cookie(metadata);
    let mut errors = HashMap::new();
    let invalid = |value| OptionError { value: value as i32 };
    // Apply the catalog first so a schema set in the same call is checked against it.
    let mut options: Vec<_> = request.session_options.into_iter().collect();
    options.sort_by_key(|(name, _)| name != CATALOG);
    for (name, value) in options {
        if name == DISTRIBUTED {
            match bool_value(&value) {
                Some(flag) => session.distributed = flag,
                None => {
                    errors.insert(name, invalid(ErrorValue::InvalidValue));
                }
            }
            continue;
        }
        let Some(text) = string_value(&value) else {
            errors.insert(name, invalid(ErrorValue::InvalidValue));
            continue;
        };
        match name.as_str() {
            CATALOG => match text {
                None => session.catalog.clear(),
                Some(catalog) if lake.catalog(catalog).is_ok() => session.catalog = catalog.to_string(),
                Some(_) => {
                    errors.insert(name, invalid(ErrorValue::InvalidValue));
                }
            },
            SCHEMA => match text {
                None => session.schema.clear(),
                Some(schema) => {
                    let catalog = lake.names().session_catalog(&session);
                    let namespace = iceberg::NamespaceIdent::from_strs(schema.split('.'));
                    let exists = match (lake.catalog(&catalog), namespace) {
                        (Ok(catalog), Ok(namespace)) => catalog.namespace_exists(&namespace).await.unwrap_or(false),
                        _ => false,
                    };
                    if exists {
                        session.schema = schema.to_string();
                    } else {
                        errors.insert(name, invalid(ErrorValue::InvalidValue));
                    }
                }
            },
            COMPRESSION => match text.map(str::to_ascii_lowercase) {
                None => session.compression.clear(),
                Some(codec) if codec == "none" => session.compression.clear(),
                Some(codec) if COMPRESSIONS.contains(&codec.as_str()) => session.compression = codec,
                Some(_) => {
                    errors.insert(name, invalid(ErrorValue::InvalidValue));
                }
            },
            _ => {
                errors.insert(name, invalid(ErrorValue::InvalidName));
            }
        }
    }
    Ok(Reply { body: SetSessionOptionsResult { errors }.encode_to_vec(), set_cookie: Some(cookie(&session)) })
}

pub fn get(service: &FloeService, metadata: &MetadataMap) -> Reply {
    let session = defaults(metadata);
    let names = service.engine().lake().names();
    let string = |text: String| SessionOptionValue { option_value: Some(OptionValue::StringValue(text)) };
    let session_options = HashMap::from([
        (CATALOG.to_string(), string(names.session_catalog(&session))),
        (SCHEMA.to_string(), string(names.session_schema(&session))),
        (COMPRESSION.to_string(), string(if session.compression.is_empty() { "none".into() } else { session.compression.clone() })),
        (DISTRIBUTED.to_string(), SessionOptionValue { option_value: Some(OptionValue::BoolValue(session.distributed)) }),
    ]);
    Reply { body: GetSessionOptionsResult { session_options }.encode_to_vec(), set_cookie: None }
}

pub fn close() -> Reply {
    let expired = format!("{COOKIE_NAME}=; Path=/; Max-Age=0").parse().expect("static header value");
    let result = CloseSessionResult { status: close_session_result::Status::Closed as i32 };
    Reply { body: result.encode_to_vec(), set_cookie: Some(expired) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_round_trips_through_its_cookie() {
        let session = SessionDefaults { catalog: "floe".into(), schema: "sales.eu".into(), compression: "zstd".into(), distributed: true, ..Default::default() };
        let set_cookie = cookie(&session);
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap().to_string();
        let mut metadata = MetadataMap::new();
        metadata.insert("cookie", format!("other=1; {pair}").parse().unwrap());
        assert_eq!(defaults(&metadata), session);
        assert_eq!(defaults(&MetadataMap::new()), SessionDefaults::default());
    }
}
