//! The lineage of what the engine reads and writes: Iceberg tables as
//! OpenLineage datasets, and a statement's inputs and column lineage.
//! Only called when lineage is on: each dataset is a catalog round trip.

use crate::catalog::TableRef;
use crate::lineage::{Dataset, Field, OutputStatistics, Run};
use crate::proto::{SessionDefaults, TablePin};

use super::Engine;

impl Engine {
    /// `table` as a dataset at `snapshot` (its current one when `None`).
    async fn dataset(&self, table_ref: &TableRef, snapshot: Option<i64>) -> Option<(Dataset, iceberg::table::Table)> {
        let table = match self.lake.load(table_ref).await {
            Ok(table) => table,
            Err(err) => {
                tracing::warn!(target: "floe::lineage", table = %table_ref, %err, "lineage leaves out a table it cannot load");
                return None;
            }
        };
        let metadata = table.metadata();
        let info = self.lake.info(&table_ref.catalog).ok();
        let fields = super::table_schema(&table)
            .map(|schema| {
                schema.fields().iter().map(|f| Field { name: f.name().clone(), type_name: super::convert::sql_type_name(f.data_type()).into() }).collect()
            })
            .unwrap_or_default();
        let dataset = Dataset {
            location: metadata.location().to_string(),
            qualified_name: table_ref.to_string(),
            catalog: table_ref.catalog.clone(),
            catalog_kind: info.map(|i| i.kind.to_string()).unwrap_or_default(),
            catalog_uri: info.and_then(|i| i.properties.get("uri").cloned()),
            warehouse: info.and_then(|i| i.properties.get("warehouse").cloned()),
            metadata_location: table.metadata_location().map(str::to_string),
            fields,
            snapshot_id: snapshot.or_else(|| metadata.current_snapshot_id()),
        };
        Some((dataset, table))
    }

    /// `table` as a dataset at `snapshot`, if it loads.
    pub async fn table_dataset(&self, table_ref: &TableRef, snapshot: Option<i64>) -> Option<Dataset> {
        self.dataset(table_ref, snapshot).await.map(|(dataset, _)| dataset)
    }

    /// The tables a planned query reads, at the snapshots it pinned.
    pub async fn read_datasets(&self, pins: &[TablePin]) -> Vec<Dataset> {
        let mut datasets = Vec::new();
        for pin in pins {
            let Ok(ident) = iceberg::TableIdent::from_strs(pin.namespace.iter().chain(std::iter::once(&pin.name))) else { continue };
            let table_ref = TableRef { catalog: pin.catalog.clone(), ident };
            if let Some((dataset, _)) = self.dataset(&table_ref, pin.snapshot_id).await {
                if !datasets.iter().any(|d: &Dataset| d.qualified_name == dataset.qualified_name) {
                    datasets.push(dataset);
                }
            }
        }
        datasets
    }

    /// A table just written, with what its latest snapshot added.
    pub async fn written_dataset(&self, table_ref: &TableRef) -> Option<(Dataset, OutputStatistics)> {
        let (dataset, table) = self.dataset(table_ref, None).await?;
        let summary = table.metadata().current_snapshot().map(|s| s.summary().additional_properties.clone()).unwrap_or_default();
        let count = |key: &str| summary.get(key).and_then(|v| v.parse().ok()).unwrap_or(0);
        let statistics = OutputStatistics { rows: count("added-records"), bytes: count("added-files-size"), files: count("added-data-files") };
        Some((dataset, statistics))
    }

    /// Fills in what `sql` reads and, when it writes rows from a query,
    /// where each written column comes from.
    pub async fn describe_statement(&self, run: &mut Run, sql: &str, session: &SessionDefaults, target: Option<&TableRef>) {
        let Ok(lineage) = crate::sql::lineage::statement_lineage(sql) else { return };
        let mut inputs: Vec<(Vec<String>, Dataset)> = Vec::new();
        for relation in &lineage.reads {
            let Ok(written) = self.lake.names().resolve(relation, session) else { continue };
            let Ok(table_ref) = self.lake.existing_or_written(written).await else { continue };
            if let Some((dataset, _)) = self.dataset(&table_ref, None).await {
                inputs.push((relation.clone(), dataset));
            }
        }
        let output_fields: Vec<String> = match (target, run.outputs.first()) {
            _ if !lineage.target_columns.is_empty() => lineage.target_columns.clone(),
            (Some(_), Some((dataset, _))) => dataset.fields.iter().map(|f| f.name.clone()).collect(),
            _ => lineage.outputs.iter().map(|o| o.name.clone()).collect(),
        };
        for (position, output) in lineage.outputs.iter().enumerate() {
            let Some(name) = output_fields.get(position) else { break };
            let sources = output
                .sources
                .iter()
                .flat_map(|source| {
                    inputs
                        .iter()
                        .filter(|(relation, dataset)| match &source.relation {
                            Some(wanted) => wanted == relation,
                            None => dataset.fields.iter().any(|f| f.name.eq_ignore_ascii_case(&source.column)),
                        })
                        .map(|(_, dataset)| (dataset.qualified_name.clone(), source.column.clone()))
                        .collect::<Vec<_>>()
                })
                .collect();
            run.column_lineage.push((name.clone(), sources));
        }
        run.inputs.extend(inputs.into_iter().map(|(_, dataset)| dataset));
    }
}
