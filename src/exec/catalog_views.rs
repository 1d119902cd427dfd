//! `information_schema.schemata`, `.tables` and `.columns`: the catalogs as
//! tables, for the BI tools and editors that introspect with SQL (Grafana's
//! query editor, Metabase, Superset) rather than with Flight SQL's metadata
//! calls. Built when a query reads them, from what the caller may read.

use polars::prelude::*;

use super::{convert, Engine, Error, Result};
use crate::access::{Principal, Right};
use crate::sql::RelationName;

enum View {
    Schemata,
    Tables,
    Columns,
}

/// A view's rows, one column at a time.
#[derive(Default)]
struct Rows {
    catalog: Vec<String>,
    schema: Vec<String>,
    table: Vec<String>,
    column: Vec<String>,
    ordinal: Vec<i32>,
    nullable: Vec<&'static str>,
    data_type: Vec<&'static str>,
    precision: Vec<Option<i32>>,
    scale: Vec<Option<i32>>,
}

fn view_of(relation: &RelationName) -> Result<(Option<&str>, View)> {
    let (name, rest) = relation.split_last().expect("relations have a name");
    let view = match name.to_ascii_lowercase().as_str() {
        "schemata" => View::Schemata,
        "tables" => View::Tables,
        "columns" => View::Columns,
        other => {
            return Err(Error::NotFound(format!(
                "information_schema has no `{other}`: it holds `schemata`, `tables` and `columns`"
            )))
        }
    };
    let catalog = (rest.len() == 2).then(|| rest[0].as_str());
    Ok((catalog, view))
}

/// A view's columns without rows.
pub(super) fn empty_view(relation: &RelationName) -> Result<DataFrame> {
    if super::system_views::is_system(relation) {
        return super::system_views::frame(relation, Vec::new(), Vec::new());
    }
    let (_, view) = view_of(relation)?;
    Rows::default().frame(&view)
}

impl Engine {
    /// The rows of an `information_schema` view, as `who` may see them.
    pub(super) async fn catalog_view(&self, relation: &RelationName, who: &Principal) -> Result<DataFrame> {
        if super::system_views::is_system(relation) {
            return super::system_views::frame(relation, self.history.visible_to(who), self.nodes());
        }
        let (only_catalog, view) = view_of(relation)?;
        let lake = self.lake();
        let mut rows = Rows::default();
        let catalogs: Vec<String> = lake.catalog_names().filter(|c| only_catalog.is_none_or(|only| only == *c)).map(String::from).collect();
        for catalog in catalogs {
            for namespace in lake.namespaces(&catalog).await? {
                let schema = namespace.join(".");
                if !self.policy().allows(who, &catalog, &schema, Right::Read) {
                    continue;
                }
                if matches!(view, View::Schemata) {
                    rows.catalog.push(catalog.clone());
                    rows.schema.push(schema);
                    continue;
                }
                for ident in lake.tables(&catalog, &namespace).await? {
                    if matches!(view, View::Tables) {
                        rows.catalog.push(catalog.clone());
                        rows.schema.push(schema.clone());
                        rows.table.push(ident.name().to_string());
                        continue;
                    }
                    let table_ref = crate::catalog::TableRef { catalog: catalog.clone(), ident };
                    // One unreadable table (its metadata lost, say) must not hide every other's columns.
                    match lake.load(&table_ref).await.map_err(Error::from).and_then(|table| super::table_schema(&table)) {
                        Ok(columns) => rows.add_columns(&catalog, &schema, table_ref.ident.name(), columns.as_ref()),
                        Err(err) => tracing::warn!(table = %table_ref, "information_schema.columns leaves out a table it cannot load: {err}"),
                    }
                }
            }
        }
        rows.frame(&view)
    }
}

impl Rows {
    fn add_columns(&mut self, catalog: &str, schema: &str, table: &str, columns: &arrow::datatypes::Schema) {
        for (index, field) in columns.fields().iter().enumerate() {
            let (precision, scale) = match field.data_type() {
                arrow::datatypes::DataType::Decimal128(p, s) => (Some(i32::from(*p)), Some(i32::from(*s))),
                _ => (None, None),
            };
            self.catalog.push(catalog.to_string());
            self.schema.push(schema.to_string());
            self.table.push(table.to_string());
            self.column.push(field.name().clone());
            self.ordinal.push(index as i32 + 1);
            self.nullable.push(if field.is_nullable() { "YES" } else { "NO" });
            self.data_type.push(convert::sql_type_name(field.data_type()));
            self.precision.push(precision);
            self.scale.push(scale);
        }
    }

    fn frame(self, view: &View) -> Result<DataFrame> {
        let text = |name: &str, values: Vec<String>| Column::new(name.into(), values);
        let columns = match view {
            View::Schemata => vec![text("catalog_name", self.catalog), text("schema_name", self.schema)],
            View::Tables => {
                let kinds = vec!["BASE TABLE"; self.table.len()];
                vec![
                    text("table_catalog", self.catalog),
                    text("table_schema", self.schema),
                    text("table_name", self.table),
                    Column::new("table_type".into(), kinds),
                ]
            }
            View::Columns => vec![
                text("table_catalog", self.catalog),
                text("table_schema", self.schema),
                text("table_name", self.table),
                text("column_name", self.column),
                Column::new("ordinal_position".into(), self.ordinal),
                Column::new("is_nullable".into(), self.nullable),
                Column::new("data_type".into(), self.data_type),
                Column::new("numeric_precision".into(), self.precision),
                Column::new("numeric_scale".into(), self.scale),
            ],
        };
        Ok(DataFrame::new_infer_height(columns)?)
    }
}
