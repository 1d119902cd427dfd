//! How dotted SQL names map to catalogs, namespaces and tables. Unquoted
//! SQL names match the catalog's whatever their case, as DuckDB, Trino and
//! PostgreSQL users expect (`FROM Sales.Orders` reads `sales.orders`); an
//! Iceberg catalog looks names up exactly.

use std::collections::BTreeSet;

use iceberg::{NamespaceIdent, TableIdent};

use super::{Error, Lake, Result, TableRef, DEFAULT_SCHEMA};
use crate::proto::SessionDefaults;

/// How dotted SQL names map to catalogs, namespaces and tables.
#[derive(Debug, Clone)]
pub struct Names {
    pub(super) catalogs: BTreeSet<String>,
    pub(super) default_catalog: String,
}

impl Names {
    /// Resolves a dotted SQL name: `table`, `ns.table`, `catalog.ns.table`, or a
    /// nested namespace `a.b.table`. A leading part names a catalog only when it
    /// is one and at least namespace and table follow it.
    pub fn resolve(&self, parts: &[String], session: &SessionDefaults) -> Result<TableRef> {
        let display = parts.join(".");
        let (catalog, rest) = match parts {
            [] => return Err(Error::InvalidName(display)),
            [first, rest @ ..] if rest.len() >= 2 && self.catalog_named(first).is_some() => {
                (self.catalog_named(first).expect("checked").clone(), rest)
            }
            _ => (self.session_catalog(session), parts),
        };
        let (name, namespace) = rest.split_last().ok_or_else(|| Error::InvalidName(display.clone()))?;
        let namespace = if namespace.is_empty() {
            vec![self.session_schema(session)]
        } else {
            namespace.to_vec()
        };
        let namespace = NamespaceIdent::from_vec(namespace).map_err(|_| Error::InvalidName(display))?;
        Ok(TableRef { catalog, ident: TableIdent::new(namespace, name.clone()) })
    }

    /// The catalog `name` names: spelled so, else the one spelled so but for case.
    fn catalog_named(&self, name: &str) -> Option<&String> {
        self.catalogs.get(name).or_else(|| {
            let mut alike = self.catalogs.iter().filter(|catalog| catalog.eq_ignore_ascii_case(name));
            alike.next().filter(|_| alike.next().is_none())
        })
    }

    pub fn session_catalog(&self, session: &SessionDefaults) -> String {
        if session.catalog.is_empty() {
            self.default_catalog.clone()
        } else {
            session.catalog.clone()
        }
    }

    pub fn session_schema(&self, session: &SessionDefaults) -> String {
        if session.schema.is_empty() {
            DEFAULT_SCHEMA.to_string()
        } else {
            session.schema.clone()
        }
    }
}

impl Lake {
    /// The existing table `table` names (spelled as stored, as
    /// `spelled_as_stored` finds it), else `table` as written: what a
    /// statement that may create it writes to.
    pub async fn existing_or_written(&self, table: TableRef) -> Result<TableRef> {
        let catalog = self.catalog(&table.catalog)?;
        if catalog.table_exists(&table.ident).await.unwrap_or(false) {
            return Ok(table);
        }
        if let Some(stored) = self.spelled_as_stored(&table).await? {
            return Ok(stored);
        }
        // A new table goes into the namespace its name matches but for case.
        let Some(namespace) = self.namespace_as_stored(&table.catalog, table.ident.namespace()).await? else { return Ok(table) };
        Ok(TableRef { ident: TableIdent::new(namespace, table.ident.name().to_string()), ..table })
    }

    /// The namespace of `catalog` that `namespace` names: spelled so, else
    /// the one spelled so but for case; None when there is none.
    pub async fn namespace_as_stored(&self, catalog: &str, namespace: &NamespaceIdent) -> Result<Option<NamespaceIdent>> {
        let namespaces = self.namespaces(catalog).await?;
        Ok(one_match(&namespaces, &namespace.join("."), |namespace: &NamespaceIdent| namespace.join(".")))
    }

    /// The table `table` names as the catalog spells it, when its namespace
    /// and name each match exactly one stored name case-insensitively (an
    /// exact spelling wins); None when nothing or more than one matches.
    pub async fn spelled_as_stored(&self, table: &TableRef) -> Result<Option<TableRef>> {
        let Some(namespace) = self.namespace_as_stored(&table.catalog, table.ident.namespace()).await? else {
            return Ok(None);
        };
        let tables = self.tables(&table.catalog, &namespace).await?;
        let Some(stored) = one_match(&tables, table.ident.name(), |stored| stored.name().to_string()) else {
            return Ok(None);
        };
        Ok(Some(TableRef { catalog: table.catalog.clone(), ident: TableIdent::new(namespace, stored.name().to_string()) }))
    }
}

/// The candidate spelled `wanted` exactly, else the only one spelled so
/// but for case.
fn one_match<T: Clone>(candidates: &[T], wanted: &str, spelled: impl Fn(&T) -> String) -> Option<T> {
    if let Some(exact) = candidates.iter().find(|candidate| spelled(candidate) == wanted) {
        return Some(exact.clone());
    }
    let mut alike = candidates.iter().filter(|candidate| spelled(candidate).eq_ignore_ascii_case(wanted));
    match (alike.next(), alike.next()) {
        (Some(only), None) => Some(only.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(catalogs: &[&str]) -> Names {
        Names {
            catalogs: catalogs.iter().map(|n| n.to_string()).collect(),
            default_catalog: catalogs[0].to_string(),
        }
    }

    fn parts(name: &str) -> Vec<String> {
        name.split('.').map(String::from).collect()
    }

    #[test]
    fn resolves_one_two_and_three_part_names() {
        let lake = names(&["floe"]);
        let session = SessionDefaults { schema: "sales".into(), ..Default::default() };
        assert_eq!(lake.resolve(&parts("t"), &session).unwrap().to_string(), "floe.sales.t");
        assert_eq!(lake.resolve(&parts("ns.t"), &session).unwrap().to_string(), "floe.ns.t");
        assert_eq!(lake.resolve(&parts("floe.ns.t"), &session).unwrap().to_string(), "floe.ns.t");
        assert_eq!(lake.resolve(&parts("FLOE.ns.t"), &session).unwrap().to_string(), "floe.ns.t");
        // `a` is no catalog, so `a.b` is a nested namespace.
        assert_eq!(lake.resolve(&parts("a.b.t"), &session).unwrap().ident.namespace().join("."), "a.b");
        // A namespace that happens to share the catalog's name still works as `ns.table`.
        assert_eq!(lake.resolve(&parts("floe.t"), &session).unwrap().to_string(), "floe.floe.t");
    }
}
