//! How dotted SQL names map to catalogs, namespaces and tables. Unquoted
//! SQL names match the catalog's whatever their case, as DuckDB, Trino and
//! PostgreSQL users expect (`FROM Sales.Orders` reads `sales.orders`); an
//! Iceberg catalog looks names up exactly.

use std::collections::BTreeSet;

use iceberg::{NamespaceIdent, TableIdent};

use super::{Error, Lake, Result, TableRef, DEFAULT_SCHEMA};
use crate::proto::SessionDefaults;
use crate::spelling::one_spelled;

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
        one_spelled(&self.catalogs, name, |catalog| catalog.as_str())
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
    /// `spelled_as_stored` finds it), else `table` as written in the
    /// namespace its name matches but for case: what a statement that may
    /// create it writes to.
    pub async fn existing_or_written(&self, table: TableRef) -> Result<TableRef> {
        let catalog = self.catalog(&table.catalog)?;
        if catalog.table_exists(&table.ident).await.unwrap_or(false) {
            return Ok(table);
        }
        let Some(namespace) = self.namespace_as_stored(&table.catalog, table.ident.namespace()).await? else { return Ok(table) };
        let name = self.table_as_stored(&table.catalog, &namespace, table.ident.name()).await?.unwrap_or_else(|| table.ident.name().to_string());
        Ok(TableRef { ident: TableIdent::new(namespace, name), ..table })
    }

    /// The namespace of `catalog` that `namespace` names: spelled so, else
    /// the one spelled so but for case; None when there is none.
    pub async fn namespace_as_stored(&self, catalog: &str, namespace: &NamespaceIdent) -> Result<Option<NamespaceIdent>> {
        let namespaces = self.namespaces(catalog).await?.into_iter().map(|namespace| (namespace.join("."), namespace));
        Ok(one_spelled(namespaces, &namespace.join("."), |(spelled, _)| spelled.as_str()).map(|(_, namespace)| namespace))
    }

    /// The name of the table of `namespace` that `name` names, as stored.
    async fn table_as_stored(&self, catalog: &str, namespace: &NamespaceIdent, name: &str) -> Result<Option<String>> {
        let tables = self.tables(catalog, namespace).await?;
        Ok(one_spelled(tables, name, |stored| stored.name()).map(|stored| stored.name().to_string()))
    }

    /// The table `table` names as the catalog spells it, when its namespace
    /// and name each match exactly one stored name case-insensitively (an
    /// exact spelling wins); None when nothing or more than one matches.
    pub async fn spelled_as_stored(&self, table: &TableRef) -> Result<Option<TableRef>> {
        let Some(namespace) = self.namespace_as_stored(&table.catalog, table.ident.namespace()).await? else {
            return Ok(None);
        };
        let name = self.table_as_stored(&table.catalog, &namespace, table.ident.name()).await?;
        Ok(name.map(|name| TableRef { catalog: table.catalog.clone(), ident: TableIdent::new(namespace, name) }))
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
