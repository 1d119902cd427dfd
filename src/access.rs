//! Who is calling. Authentication (tokens, Basic users, client certificates)
//! happens in the protocol adapters; everything below them only sees the
//! resulting principal.

use crate::pattern::glob;

/// The identity a request runs as.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Principal {
    /// The server has no authentication configured.
    #[default]
    Anonymous,
    /// A user: a named token, a Basic user, or a client certificate's subject.
    Named(String),
    /// Another Floe node of this cluster (it holds the shared ticket key).
    Peer,
}

impl Principal {
    /// The name tickets are bound to; empty for anonymous callers and peers.
    pub fn name(&self) -> &str {
        match self {
            Principal::Named(name) => name,
            Principal::Anonymous | Principal::Peer => "",
        }
    }

    /// The principal a verified ticket names (empty: anonymous).
    pub fn owner(name: &str) -> Self {
        if name.is_empty() {
            Principal::Anonymous
        } else {
            Principal::Named(name.to_string())
        }
    }

    pub fn is_peer(&self) -> bool {
        matches!(self, Principal::Peer)
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::Anonymous => f.write_str("anonymous"),
            Principal::Named(name) => f.write_str(name),
            Principal::Peer => f.write_str("floe-peer"),
        }
    }
}

/// The audit log: one structured line per statement (target `floe::audit`),
/// whatever became of it.
pub fn audit(who: &Principal, client: &str, kind: &str, tables: &[String], outcome: &str) {
    tracing::info!(target: "floe::audit", principal = %who, client, statement = kind, tables = tables.join(",").as_str(), outcome, "audit");
}

/// The statement kind for the audit log: its first keyword.
pub fn statement_kind(sql: &str) -> String {
    let word: String = sql.trim_start().chars().take_while(|c| c.is_ascii_alphabetic()).collect();
    if word.is_empty() {
        "unknown".into()
    } else {
        word.to_ascii_uppercase()
    }
}

/// What a grant allows on a namespace's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Right {
    /// See the tables (names, schemas, metadata) and read their rows.
    Read,
    /// Create, change and drop tables, and write their rows.
    Write,
}

impl std::fmt::Display for Right {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Right::Read => "read",
            Right::Write => "write",
        })
    }
}

/// `[[grants]]` in `--config`: who may do what where. `*` in a pattern
/// matches any run of characters.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// A principal: a token's name, a Basic user, a certificate's common name; `*` for anyone.
    pub principal: String,
    #[serde(default = "any")]
    pub catalog: String,
    /// The dotted namespace (`sales`, `sales.eu`, `sales*`).
    #[serde(default = "any")]
    pub namespace: String,
    pub access: Vec<Right>,
}

fn any() -> String {
    "*".into()
}

/// `[[tokens]]` in `--config`: a static token standing for a named principal.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedToken {
    pub principal: String,
    /// The environment variable holding the token (never the token itself).
    pub token_env: String,
}

#[derive(Debug, Default, serde::Deserialize)]
struct AccessFile {
    #[serde(default)]
    grants: Vec<Grant>,
    #[serde(default)]
    tokens: Vec<NamedToken>,
}

/// A denial a person can act on: the table (or namespace) and the missing right.
#[derive(Debug, thiserror::Error)]
#[error("{principal} lacks `{right}` on {object}")]
pub struct Denied {
    pub principal: String,
    pub right: Right,
    pub object: String,
}

/// The authorization policy. Without grants everyone authenticated may do
/// everything (a single-user server); with grants, only what they allow.
#[derive(Debug, Default, Clone)]
pub struct Policy {
    grants: Vec<Grant>,
}

impl Policy {
    pub fn new(grants: Vec<Grant>) -> Self {
        Self { grants }
    }

    /// Reads `[[grants]]` and `[[tokens]]` from the config file; named
    /// tokens come back with their secrets read from the environment.
    pub fn load(path: &std::path::Path) -> Result<(Self, Vec<(String, String)>), String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let table: toml::Table = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let pick = |key: &str| table.get(key).cloned().map(|value| (key.to_string(), value));
        let access: toml::Table = ["grants", "tokens"].iter().filter_map(|key| pick(key)).collect();
        let file: AccessFile = access.try_into().map_err(|e| format!("{}: {e}", path.display()))?;
        let tokens = file
            .tokens
            .into_iter()
            .map(|token| match std::env::var(&token.token_env) {
                Ok(secret) if !secret.is_empty() => Ok((token.principal, secret)),
                _ => Err(format!("{}: token of `{}`: environment variable {} is not set", path.display(), token.principal, token.token_env)),
            })
            .collect::<Result<_, _>>()?;
        Ok((Self::new(file.grants), tokens))
    }

    pub fn is_open(&self) -> bool {
        self.grants.is_empty()
    }

    /// Whether `who` has `right` on tables of `namespace` in `catalog`. Other
    /// nodes act for a ticket's owner, whose rights were checked when it was sealed.
    pub fn allows(&self, who: &Principal, catalog: &str, namespace: &str, right: Right) -> bool {
        if self.is_open() || who.is_peer() {
            return true;
        }
        let name = match who {
            Principal::Named(name) => name.as_str(),
            _ => "",
        };
        self.grants.iter().any(|grant| {
            (grant.principal == "*" || glob(&grant.principal, name))
                && glob(&grant.catalog, catalog)
                && glob(&grant.namespace, namespace)
                && grant.access.contains(&right)
        })
    }

    /// As [`allows`](Self::allows), with a denial naming `object` when not.
    pub fn check(&self, who: &Principal, catalog: &str, namespace: &str, right: Right, object: &str) -> Result<(), Denied> {
        if self.allows(who, catalog, namespace, right) {
            return Ok(());
        }
        Err(Denied { principal: who.to_string(), right, object: object.to_string() })
    }

    /// Whether `who` may see anything at all in `namespace` (metadata listings).
    pub fn sees(&self, who: &Principal, catalog: &str, namespace: &str) -> bool {
        self.allows(who, catalog, namespace, Right::Read) || self.allows(who, catalog, namespace, Right::Write)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(principal: &str, namespace: &str, access: &[Right]) -> Grant {
        Grant { principal: principal.into(), catalog: "*".into(), namespace: namespace.into(), access: access.to_vec() }
    }

    #[test]
    fn grants_match_principal_catalog_and_namespace_with_wildcards() {
        let policy = Policy::new(vec![grant("ana", "sales*", &[Right::Read]), grant("*", "public", &[Right::Read, Right::Write])]);
        let ana = Principal::Named("ana".into());
        let bob = Principal::Named("bob".into());
        assert!(policy.allows(&ana, "floe", "sales.eu", Right::Read));
        assert!(!policy.allows(&ana, "floe", "sales.eu", Right::Write));
        assert!(!policy.allows(&bob, "floe", "sales", Right::Read));
        assert!(policy.allows(&bob, "floe", "public", Right::Write));
        assert!(policy.allows(&Principal::Peer, "floe", "hr", Right::Write));
        assert!(Policy::default().allows(&bob, "floe", "hr", Right::Write));
        let denied = policy.check(&bob, "floe", "hr", Right::Read, "table `floe.hr.pay`").unwrap_err();
        assert_eq!(denied.to_string(), "bob lacks `read` on table `floe.hr.pay`");
    }
}
