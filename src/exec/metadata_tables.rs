//! Trino-style metadata tables: `ns."t$snapshots"`, `$history`, `$refs`,
//! `$manifests`, `$files`, `$partitions`, `$properties`, queryable with SQL
//! like any table.
//! They are small, so they are built in memory from the table's metadata.

use std::collections::BTreeMap;

use ::iceberg::spec::{DataContentType, ManifestContentType, PrimitiveLiteral, Struct};
use ::iceberg::table::Table;
use polars::prelude::*;

use super::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataTable {
    Snapshots,
    History,
    Refs,
    Manifests,
    Files,
    Partitions,
    Properties,
}

/// Splits `t$snapshots` into the table name and the metadata table it names.
pub fn split_metadata(name: &str) -> Result<(&str, Option<MetadataTable>)> {
    let Some((table, kind)) = name.rsplit_once('$') else { return Ok((name, None)) };
    let kind = match kind.to_ascii_lowercase().as_str() {
        "snapshots" => MetadataTable::Snapshots,
        "history" => MetadataTable::History,
        "refs" => MetadataTable::Refs,
        "manifests" => MetadataTable::Manifests,
        "files" => MetadataTable::Files,
        "partitions" => MetadataTable::Partitions,
        "properties" => MetadataTable::Properties,
        _ => {
            return Err(Error::NotFound(format!(
                "unknown metadata table `${kind}`: use $snapshots, $history, $refs, $manifests, $files, $partitions or $properties"
            )))
        }
    };
    Ok((table, Some(kind)))
}

fn utc_millis(name: &str, millis: Vec<i64>) -> PolarsResult<Column> {
    Series::new(name.into(), millis)
        .cast(&DataType::Datetime(TimeUnit::Milliseconds, Some(TimeZone::UTC)))
        .map(Column::from)
}

pub async fn load(table: &Table, kind: MetadataTable) -> Result<DataFrame> {
    let metadata = table.metadata();
    let frame = match kind {
        MetadataTable::Snapshots => {
            let snapshots: Vec<_> = metadata.snapshots().collect();
            DataFrame::new_infer_height(vec![
                utc_millis("committed_at", snapshots.iter().map(|s| s.timestamp_ms()).collect())?,
                Column::new("snapshot_id".into(), snapshots.iter().map(|s| s.snapshot_id()).collect::<Vec<_>>()),
                Column::new("parent_id".into(), snapshots.iter().map(|s| s.parent_snapshot_id()).collect::<Vec<_>>()),
                Column::new("operation".into(), snapshots.iter().map(|s| s.summary().operation.as_str().to_string()).collect::<Vec<_>>()),
                Column::new("manifest_list".into(), snapshots.iter().map(|s| s.manifest_list().to_string()).collect::<Vec<_>>()),
                Column::new(
                    "summary".into(),
                    snapshots
                        .iter()
                        .map(|s| serde_json::to_string(&s.summary().additional_properties).unwrap_or_default())
                        .collect::<Vec<_>>(),
                ),
            ])?
        }
        MetadataTable::History => {
            let mut ancestors = std::collections::HashSet::new();
            let mut cursor = metadata.current_snapshot();
            while let Some(snapshot) = cursor {
                ancestors.insert(snapshot.snapshot_id());
                cursor = snapshot.parent_snapshot_id().and_then(|id| metadata.snapshot_by_id(id));
            }
            let log = metadata.history();
            let parent = |id: i64| metadata.snapshot_by_id(id).and_then(|s| s.parent_snapshot_id());
            DataFrame::new_infer_height(vec![
                utc_millis("made_current_at", log.iter().map(|e| e.timestamp_ms).collect())?,
                Column::new("snapshot_id".into(), log.iter().map(|e| e.snapshot_id).collect::<Vec<_>>()),
                Column::new("parent_id".into(), log.iter().map(|e| parent(e.snapshot_id)).collect::<Vec<_>>()),
                Column::new("is_current_ancestor".into(), log.iter().map(|e| ancestors.contains(&e.snapshot_id)).collect::<Vec<_>>()),
            ])?
        }
        MetadataTable::Refs => {
            // TableMetadata keeps `refs` crate-private; its serialized form is public.
            let json = serde_json::to_value(metadata).map_err(|e| Error::Worker(e.to_string()))?;
            let refs: BTreeMap<String, serde_json::Value> =
                serde_json::from_value(json["refs"].clone()).unwrap_or_default();
            let field = |key: &str| refs.values().map(|r| r[key].as_i64()).collect::<Vec<_>>();
            DataFrame::new_infer_height(vec![
                Column::new("name".into(), refs.keys().cloned().collect::<Vec<_>>()),
                Column::new(
                    "type".into(),
                    refs.values().map(|r| r["type"].as_str().unwrap_or_default().to_uppercase()).collect::<Vec<_>>(),
                ),
                Column::new("snapshot_id".into(), field("snapshot-id")),
                Column::new("max_reference_age_in_ms".into(), field("max-ref-age-ms")),
                Column::new("min_snapshots_to_keep".into(), field("min-snapshots-to-keep")),
                Column::new("max_snapshot_age_in_ms".into(), field("max-snapshot-age-ms")),
            ])?
        }
        MetadataTable::Properties => {
            let properties: BTreeMap<&String, &String> = metadata.properties().iter().collect();
            DataFrame::new_infer_height(vec![
                Column::new("key".into(), properties.keys().map(|key| key.to_string()).collect::<Vec<_>>()),
                Column::new("value".into(), properties.values().map(|value| value.to_string()).collect::<Vec<_>>()),
            ])?
        }
        MetadataTable::Manifests => {
            let manifests = crate::write::snapshot::current_manifests(table).await?;
            let count = |f: fn(&::iceberg::spec::ManifestFile) -> Option<u32>| {
                manifests.iter().map(|m| f(m).map(i64::from)).collect::<Vec<_>>()
            };
            DataFrame::new_infer_height(vec![
                Column::new("content".into(), manifests.iter().map(|m| (m.content == ManifestContentType::Deletes) as i32).collect::<Vec<_>>()),
                Column::new("path".into(), manifests.iter().map(|m| m.manifest_path.clone()).collect::<Vec<_>>()),
                Column::new("length".into(), manifests.iter().map(|m| m.manifest_length).collect::<Vec<_>>()),
                Column::new("partition_spec_id".into(), manifests.iter().map(|m| m.partition_spec_id).collect::<Vec<_>>()),
                Column::new("added_snapshot_id".into(), manifests.iter().map(|m| m.added_snapshot_id).collect::<Vec<_>>()),
                Column::new("added_data_files_count".into(), count(|m| m.added_files_count)),
                Column::new("existing_data_files_count".into(), count(|m| m.existing_files_count)),
                Column::new("deleted_data_files_count".into(), count(|m| m.deleted_files_count)),
            ])?
        }
        MetadataTable::Files | MetadataTable::Partitions => {
            let files = live_files(table).await?;
            let files_frame = DataFrame::new_infer_height(vec![
                Column::new("content".into(), files.iter().map(|f| f.content).collect::<Vec<_>>()),
                Column::new("file_path".into(), files.iter().map(|f| f.path.clone()).collect::<Vec<_>>()),
                Column::new("file_format".into(), files.iter().map(|f| f.format.clone()).collect::<Vec<_>>()),
                Column::new("spec_id".into(), files.iter().map(|f| f.spec_id).collect::<Vec<_>>()),
                Column::new("partition".into(), files.iter().map(|f| f.partition.clone()).collect::<Vec<_>>()),
                Column::new("record_count".into(), files.iter().map(|f| f.records).collect::<Vec<_>>()),
                Column::new("file_size_in_bytes".into(), files.iter().map(|f| f.bytes).collect::<Vec<_>>()),
            ])?;
            if kind == MetadataTable::Files {
                files_frame
            } else {
                files_frame
                    .lazy()
                    .filter(col("content").eq(lit(0)))
                    .group_by_stable([col("partition")])
                    .agg([col("record_count").sum(), col("file_path").count().cast(DataType::Int64).alias("file_count")])
                    .sort(["partition"], Default::default())
                    .collect()?
            }
        }
    };
    Ok(frame)
}


struct LiveFile {
    content: i32,
    path: String,
    format: String,
    spec_id: i32,
    partition: String,
    records: i64,
    bytes: i64,
}

async fn live_files(table: &Table) -> Result<Vec<LiveFile>> {
    let metadata = table.metadata();
    let mut files = Vec::new();
    for manifest_file in crate::write::snapshot::current_manifests(table).await? {
        let manifest = manifest_file.load_manifest(table.file_io()).await.map_err(|e| Error::iceberg(table, e))?;
        let names: Vec<String> = metadata
            .partition_spec_by_id(manifest_file.partition_spec_id)
            .map(|spec| spec.fields().iter().map(|f| f.name.clone()).collect())
            .unwrap_or_default();
        for entry in manifest.entries().iter().filter(|e| e.is_alive()) {
            let file = &entry.data_file;
            files.push(LiveFile {
                content: match file.content_type() {
                    DataContentType::Data => 0,
                    DataContentType::PositionDeletes => 1,
                    DataContentType::EqualityDeletes => 2,
                },
                path: file.file_path().to_string(),
                format: format!("{:?}", file.file_format()).to_uppercase(),
                spec_id: manifest_file.partition_spec_id,
                partition: partition_text(&names, file.partition()),
                records: file.record_count() as i64,
                bytes: file.file_size_in_bytes() as i64,
            });
        }
    }
    Ok(files)
}

/// `{species=setosa, id_bucket=2}`: the partition values a file holds.
fn partition_text(names: &[String], partition: &Struct) -> String {
    let values: Vec<String> = names
        .iter()
        .zip(partition.iter())
        .map(|(name, value)| {
            let text = match value {
                None => "null".to_string(),
                Some(::iceberg::spec::Literal::Primitive(p)) => match p {
                    PrimitiveLiteral::Boolean(v) => v.to_string(),
                    PrimitiveLiteral::Int(v) => v.to_string(),
                    PrimitiveLiteral::Long(v) => v.to_string(),
                    PrimitiveLiteral::Float(v) => v.to_string(),
                    PrimitiveLiteral::Double(v) => v.to_string(),
                    PrimitiveLiteral::String(v) => v.clone(),
                    other => format!("{other:?}"),
                },
                Some(other) => format!("{other:?}"),
            };
            format!("{name}={text}")
        })
        .collect();
    format!("{{{}}}", values.join(", "))
}
