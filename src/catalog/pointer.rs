//! The SQL catalog's table pointer, swapped with a compare-and-set: the same
//! atomic step iceberg's SqlCatalog commits with, used by the commits Floe
//! builds itself (overwrite) that the iceberg crate's public API cannot make.

use sqlx::any::{install_default_drivers, AnyPoolOptions};
use sqlx::AnyPool;

use super::{Error, Result, TableRef};

pub struct SqlPointer {
    pool: AnyPool,
    postgres: bool,
}

impl SqlPointer {
    pub async fn connect(catalog: &str, uri: &str) -> Result<Self> {
        install_default_drivers();
        let postgres = uri.starts_with("postgres");
        // Each read is one indexed row; a SQLite file has no connection to
        // lose, so pinging it before every read only doubled the round trips
        // to its worker thread.
        let pool = AnyPoolOptions::new().max_connections(2).test_before_acquire(postgres).connect(uri).await.map_err(|e| Error::Pointer {
            catalog: catalog.to_string(),
            message: e.to_string(),
        })?;
        Ok(Self { pool, postgres })
    }

    /// Points `table` at `new_location` if it still points at `expected`.
    /// Returns false when another writer committed first.
    pub async fn swap(&self, table: &TableRef, expected: &str, new_location: &str) -> Result<bool> {
        let sql = "UPDATE iceberg_tables SET metadata_location = ?, previous_metadata_location = ? \
                   WHERE catalog_name = ? AND table_namespace = ? AND table_name = ? AND metadata_location = ?";
        let sql = if self.postgres { numbered(sql) } else { sql.to_string() };
        let namespace = table.ident.namespace().join(".");
        let done = sqlx::query(&sql)
            .bind(new_location)
            .bind(expected)
            .bind(&table.catalog)
            .bind(&namespace)
            .bind(table.ident.name())
            .bind(expected)
            .execute(&self.pool)
            .await
            .map_err(|e| Error::Pointer { catalog: table.catalog.clone(), message: e.to_string() })?;
        Ok(done.rows_affected() == 1)
    }
}

impl SqlPointer {
    /// Where the catalog points `table` now (None: no such table): one
    /// indexed read, how a cached load is checked before it is used.
    pub async fn location(&self, table: &TableRef) -> Result<Option<String>> {
        let sql = "SELECT metadata_location FROM iceberg_tables \
                   WHERE catalog_name = ? AND table_namespace = ? AND table_name = ?";
        let sql = if self.postgres { numbered(sql) } else { sql.to_string() };
        let namespace = table.ident.namespace().join(".");
        let row: Option<(Option<String>,)> = sqlx::query_as(&sql)
            .bind(&table.catalog)
            .bind(&namespace)
            .bind(table.ident.name())
            .fetch_optional(&self.pool)
            .await
            .map_err(|e| Error::Pointer { catalog: table.catalog.clone(), message: e.to_string() })?;
        Ok(row.and_then(|(location,)| location))
    }
}

/// sqlx's Any driver passes placeholders through; Postgres wants `$n`.
fn numbered(sql: &str) -> String {
    let mut count = 0;
    sql.chars()
        .flat_map(|c| {
            if c == '?' {
                count += 1;
                format!("${count}").chars().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}
