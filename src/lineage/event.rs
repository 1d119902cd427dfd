//! OpenLineage 2-0-2 `RunEvent`s and the facets Floe fills in. Datasets are
//! named as Spark's Iceberg integration names them: by where the table
//! lives (`s3://bucket` + path, or `file` + path), with the catalog's
//! `namespace.table` name as a `symlinks` identifier.

use serde_json::{json, Map, Value};
use sha2::Digest;

const SPEC: &str = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent";
const PRODUCER: &str = concat!("https://github.com/floe-lake/floe/tree/v", env!("CARGO_PKG_VERSION"));

fn facet_url(facet: &str, version: &str) -> String {
    format!("https://openlineage.io/spec/facets/{version}/{facet}.json#/$defs/{facet}")
}

/// A facet object: its fields plus the `_producer` and `_schemaURL` every facet carries.
fn facet(name: &str, version: &str, fields: Value) -> Value {
    let mut object = match fields {
        Value::Object(object) => object,
        _ => Map::new(),
    };
    object.insert("_producer".into(), PRODUCER.into());
    object.insert("_schemaURL".into(), facet_url(name, version).into());
    Value::Object(object)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Query,
    Script,
}

/// The job's name: given by the caller, or derived from the statement so
/// that the same statement is the same job run after run.
#[derive(Debug, Clone)]
pub enum JobName {
    Given(String),
    Statement(String),
}

impl JobName {
    fn resolve(&self) -> String {
        match self {
            JobName::Given(name) => name.clone(),
            JobName::Statement(text) => {
                let normalized = text.split_whitespace().collect::<Vec<_>>().join(" ");
                let digest = sha2::Sha256::digest(normalized.as_bytes());
                let kind = first_word(&normalized);
                format!("{kind}_{}", digest.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>())
            }
        }
    }
}

pub(crate) fn first_word(text: &str) -> String {
    text.split(|c: char| !c.is_alphanumeric()).find(|w| !w.is_empty()).unwrap_or("statement").to_ascii_lowercase()
}

/// The run (Dagster's, Airflow's) a client says this one belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parent {
    pub run_id: String,
    pub job_namespace: String,
    pub job_name: String,
}

#[derive(Debug, Clone)]
pub struct Field {
    pub name: String,
    pub type_name: String,
}

/// One Iceberg table as read or written.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// The table's location (`s3://…`, `file:/…` or a path).
    pub location: String,
    /// `catalog.namespace.table`.
    pub qualified_name: String,
    pub catalog: String,
    /// `sql` or `rest`.
    pub catalog_kind: String,
    pub catalog_uri: Option<String>,
    pub warehouse: Option<String>,
    pub metadata_location: Option<String>,
    pub fields: Vec<Field>,
    /// The snapshot read, or committed by a write.
    pub snapshot_id: Option<i64>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct OutputStatistics {
    pub rows: u64,
    pub bytes: u64,
    pub files: u64,
}

pub enum Outcome {
    Complete,
    Failed(String),
    Aborted,
}

/// One run of a job: what it read and wrote, filled in as it goes.
#[derive(Debug, Clone)]
pub struct Run {
    run_id: String,
    namespace: String,
    job: String,
    kind: JobKind,
    parent: Option<Parent>,
    pub sql: Option<String>,
    pub inputs: Vec<Dataset>,
    pub outputs: Vec<(Dataset, Option<OutputStatistics>)>,
    /// For each output column (of the first output), the input columns it derives from:
    /// (input `qualified_name`, column).
    pub column_lineage: Vec<(String, Vec<(String, String)>)>,
}

impl Run {
    pub(super) fn new(run_id: &str, namespace: &str, kind: JobKind, job: JobName, parent: Option<Parent>) -> Self {
        // OpenLineage run ids are UUIDs; Floe's query ids are too, others are hashed into one.
        let run_id = match uuid::Uuid::parse_str(run_id) {
            Ok(id) => id.to_string(),
            Err(_) => uuid::Uuid::from_slice(&sha2::Sha256::digest(run_id.as_bytes())[..16]).expect("16 bytes").to_string(),
        };
        Self {
            run_id,
            namespace: namespace.to_string(),
            job: job.resolve(),
            kind,
            parent,
            sql: None,
            inputs: Vec::new(),
            outputs: Vec::new(),
            column_lineage: Vec::new(),
        }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub(super) fn event(&self, event_type: &str, error: Option<&str>) -> Value {
        let outputs: Vec<Value> = self
            .outputs
            .iter()
            .enumerate()
            .map(|(index, (dataset, statistics))| {
                let mut value = dataset_json(dataset);
                if index == 0 && !self.column_lineage.is_empty() {
                    value["facets"]["columnLineage"] = self.column_lineage_facet();
                }
                if let Some(statistics) = statistics {
                    value["outputFacets"] = json!({"outputStatistics": facet("OutputStatisticsOutputDatasetFacet", "1-0-2", json!({
                        "rowCount": statistics.rows, "size": statistics.bytes, "fileCount": statistics.files,
                    }))});
                }
                value
            })
            .collect();
        json!({
            "eventType": event_type,
            "eventTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            "producer": PRODUCER,
            "schemaURL": SPEC,
            "run": {"runId": self.run_id, "facets": self.run_facets(error)},
            "job": {"namespace": self.namespace, "name": self.job, "facets": self.job_facets()},
            "inputs": self.inputs.iter().map(dataset_json).collect::<Vec<_>>(),
            "outputs": outputs,
        })
    }

    fn run_facets(&self, error: Option<&str>) -> Value {
        let mut facets = Map::new();
        facets.insert(
            "processing_engine".into(),
            facet("ProcessingEngineRunFacet", "1-1-1", json!({
                "version": env!("CARGO_PKG_VERSION"), "name": "Floe", "openlineageAdapterVersion": env!("CARGO_PKG_VERSION"),
            })),
        );
        if let Some(parent) = &self.parent {
            facets.insert(
                "parent".into(),
                facet("ParentRunFacet", "1-2-0", json!({
                    "run": {"runId": parent.run_id},
                    "job": {"namespace": parent.job_namespace, "name": parent.job_name},
                })),
            );
        }
        if let Some(message) = error {
            let language = if self.kind == JobKind::Script { "PYTHON" } else { "SQL" };
            facets.insert("errorMessage".into(), facet("ErrorMessageRunFacet", "1-0-1", json!({"message": message, "programmingLanguage": language})));
        }
        Value::Object(facets)
    }

    fn job_facets(&self) -> Value {
        let job_type = if self.kind == JobKind::Script { "SCRIPT" } else { "QUERY" };
        let mut facets = Map::new();
        facets.insert("jobType".into(), facet("JobTypeJobFacet", "2-0-4", json!({"processingType": "BATCH", "integration": "FLOE", "jobType": job_type})));
        if let Some(sql) = &self.sql {
            facets.insert("sql".into(), facet("SQLJobFacet", "1-1-0", json!({"query": sql, "dialect": "polars"})));
        }
        Value::Object(facets)
    }

    fn column_lineage_facet(&self) -> Value {
        let mut fields = Map::new();
        for (output, sources) in &self.column_lineage {
            let inputs: Vec<Value> = sources
                .iter()
                .filter_map(|(table, column)| {
                    let input = self.inputs.iter().find(|d| &d.qualified_name == table)?;
                    let (namespace, name) = location_name(&input.location);
                    Some(json!({"namespace": namespace, "name": name, "field": column}))
                })
                .collect();
            fields.insert(output.clone(), json!({"inputFields": inputs}));
        }
        facet("ColumnLineageDatasetFacet", "1-2-0", json!({"fields": fields}))
    }
}

/// A table location as an OpenLineage (namespace, name): `s3://bucket` and the
/// key path, or `file` and the absolute path.
pub fn location_name(location: &str) -> (String, String) {
    if let Some((scheme, rest)) = location.split_once("://") {
        if scheme == "file" {
            return ("file".into(), rest.trim_end_matches('/').to_string());
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        return (format!("{scheme}://{authority}"), path.trim_end_matches('/').to_string());
    }
    let path = location.strip_prefix("file:").unwrap_or(location);
    ("file".into(), path.trim_end_matches('/').to_string())
}

fn dataset_json(dataset: &Dataset) -> Value {
    let (namespace, name) = location_name(&dataset.location);
    let table_name = dataset.qualified_name.splitn(2, '.').nth(1).unwrap_or(&dataset.qualified_name);
    let symlink_namespace = dataset.catalog_uri.clone().unwrap_or_else(|| format!("iceberg://{}", dataset.catalog));
    let mut facets = Map::new();
    let fields: Vec<Value> = dataset.fields.iter().map(|f| json!({"name": f.name, "type": f.type_name})).collect();
    facets.insert("schema".into(), facet("SchemaDatasetFacet", "1-2-0", json!({"fields": fields})));
    facets.insert("dataSource".into(), facet("DatasourceDatasetFacet", "1-0-1", json!({"name": namespace, "uri": namespace})));
    facets.insert(
        "symlinks".into(),
        facet("SymlinksDatasetFacet", "1-0-1", json!({"identifiers": [{"namespace": symlink_namespace, "name": table_name, "type": "TABLE"}]})),
    );
    facets.insert("storage".into(), facet("StorageDatasetFacet", "1-0-1", json!({"storageLayer": "iceberg", "fileFormat": "parquet"})));
    let mut catalog = json!({"framework": "iceberg", "type": dataset.catalog_kind, "name": dataset.catalog, "source": "floe"});
    if let Some(uri) = &dataset.metadata_location {
        catalog["metadataUri"] = uri.clone().into();
    }
    if let Some(warehouse) = &dataset.warehouse {
        catalog["warehouseUri"] = warehouse.clone().into();
    }
    facets.insert("catalog".into(), facet("CatalogDatasetFacet", "1-1-0", catalog));
    if let Some(snapshot) = dataset.snapshot_id {
        facets.insert("version".into(), facet("DatasetVersionDatasetFacet", "1-0-1", json!({"datasetVersion": snapshot.to_string()})));
    }
    json!({"namespace": namespace, "name": name, "facets": facets})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_are_named_by_location() {
        assert_eq!(location_name("s3://lake/warehouse/db/t"), ("s3://lake".into(), "warehouse/db/t".into()));
        assert_eq!(location_name("file:///data/w/db/t/"), ("file".into(), "/data/w/db/t".into()));
        assert_eq!(location_name("/data/w/db/t"), ("file".into(), "/data/w/db/t".into()));
    }

    #[test]
    fn a_statement_is_the_same_job_whatever_its_spacing() {
        let a = JobName::Statement("SELECT *  FROM t".into()).resolve();
        let b = JobName::Statement("SELECT *\nFROM t".into()).resolve();
        assert_eq!(a, b);
        assert!(a.starts_with("select_"), "{a}");
    }

    #[test]
    fn non_uuid_run_ids_become_stable_uuids() {
        let run = Run::new("script-1", "floe", JobKind::Script, JobName::Given("j".into()), None);
        let again = Run::new("script-1", "floe", JobKind::Script, JobName::Given("j".into()), None);
        assert_eq!(run.run_id(), again.run_id());
        assert!(uuid::Uuid::parse_str(run.run_id()).is_ok());
    }
}
