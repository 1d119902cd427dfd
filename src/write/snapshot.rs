//! Staging one commit's snapshot: its manifests and manifest list, written
//! before the catalog publishes it (`commit::publish`). Overwrites, row-level
//! replaces and manifest rewrites stage this way (appends use iceberg-rust's
//! fast append).

use iceberg::spec::{
    DataFile, ManifestContentType, ManifestFile, ManifestList, ManifestListWriter, ManifestWriter, ManifestWriterBuilder,
    PartitionSpec, Snapshot, Summary,
};
use iceberg::table::Table;

use super::{Error, Result};

/// The manifests `snapshot` lists.
pub async fn manifests(table: &Table, snapshot: &Snapshot) -> Result<Vec<ManifestFile>> {
    let iceberg_err = |e| Error::iceberg(table, e);
    let input = table.file_io().new_input(snapshot.manifest_list()).map_err(iceberg_err)?;
    let bytes = input.read().await.map_err(iceberg_err)?;
    let list = ManifestList::parse_with_version(&bytes, table.metadata().format_version()).map_err(iceberg_err)?;
    Ok(list.entries().to_vec())
}

/// The manifests of the table's current snapshot; none for an empty table.
pub async fn current_manifests(table: &Table) -> Result<Vec<ManifestFile>> {
    match table.metadata().current_snapshot() {
        Some(snapshot) => manifests(table, snapshot).await,
        None => Ok(Vec::new()),
    }
}

/// A snapshot being staged on top of the table's current one.
pub struct Staging<'a> {
    table: &'a Table,
    snapshot_id: i64,
    sequence_number: i64,
    commit: uuid::Uuid,
}

impl<'a> Staging<'a> {
    pub fn new(table: &'a Table) -> Self {
        let metadata = table.metadata();
        Self {
            table,
            snapshot_id: new_snapshot_id(metadata),
            sequence_number: metadata.next_sequence_number(),
            commit: uuid::Uuid::new_v4(),
        }
    }

    /// A writer for a new data manifest of `spec`; `tag` tells this commit's manifests apart.
    pub fn manifest_writer(&self, tag: &str, spec: &PartitionSpec) -> Result<ManifestWriter> {
        let metadata = self.table.metadata();
        let path = format!("{}/metadata/{}-{tag}.avro", metadata.location(), self.commit);
        let output = self.table.file_io().new_output(path).map_err(|e| Error::iceberg(self.table, e))?;
        let schema = metadata.current_schema().clone();
        Ok(ManifestWriterBuilder::new(output, Some(self.snapshot_id), schema, spec.clone()).build_v2_data())
    }

    /// A manifest adding `files` under the default partition spec; none for no files.
    pub async fn added(&self, files: Vec<DataFile>) -> Result<Option<ManifestFile>> {
        if files.is_empty() {
            return Ok(None);
        }
        let mut writer = self.manifest_writer("m0", self.table.metadata().default_partition_spec())?;
        for file in files {
            writer.add_file(file, self.sequence_number).map_err(|e| Error::iceberg(self.table, e))?;
        }
        Ok(Some(writer.write_manifest_file().await.map_err(|e| Error::iceberg(self.table, e))?))
    }

    /// Writes the manifest list of `manifests` and returns the snapshot to publish.
    pub async fn finish(self, manifests: Vec<ManifestFile>, summary: Summary) -> Result<Snapshot> {
        let iceberg_err = |e| Error::iceberg(self.table, e);
        let metadata = self.table.metadata();
        let parent = metadata.current_snapshot_id();
        let list_path = format!("{}/metadata/snap-{}-0-{}.avro", metadata.location(), self.snapshot_id, self.commit);
        let output = self.table.file_io().new_output(&list_path).map_err(iceberg_err)?;
        let writer = output.writer().await.map_err(iceberg_err)?;
        let summary = with_totals(summary, &manifests);
        let mut list = ManifestListWriter::v2(writer, self.snapshot_id, parent, self.sequence_number);
        list.add_manifests(manifests.into_iter()).map_err(iceberg_err)?;
        list.close().await.map_err(iceberg_err)?;
        Ok(Snapshot::builder()
            .with_snapshot_id(self.snapshot_id)
            .with_parent_snapshot_id(parent)
            .with_sequence_number(self.sequence_number)
            .with_timestamp_ms(now_ms())
            .with_manifest_list(list_path)
            .with_summary(summary)
            .with_schema_id(metadata.current_schema().schema_id())
            .build())
    }
}

/// `summary` with the snapshot's totals, summed from the counts of live
/// files and rows its manifests keep. Readers size tables by them (Floe's
/// engine choice and data cache admission), and iceberg-rust's appends
/// carry totals on only from a snapshot that has them: without them, one
/// DELETE left a table unsized, and uncached, for good.
fn with_totals(mut summary: Summary, manifests: &[ManifestFile]) -> Summary {
    let live = |content: ManifestContentType, count: fn(&ManifestFile) -> Option<u64>| -> Option<u64> {
        manifests.iter().filter(|manifest| manifest.content == content).map(count).sum()
    };
    let files = |m: &ManifestFile| Some(u64::from(m.added_files_count?) + u64::from(m.existing_files_count?));
    let rows = |m: &ManifestFile| Some(m.added_rows_count? + m.existing_rows_count?);
    let totals = [
        ("total-data-files", live(ManifestContentType::Data, files)),
        ("total-records", live(ManifestContentType::Data, rows)),
        ("total-delete-files", live(ManifestContentType::Deletes, files)),
    ];
    for (key, total) in totals {
        if let Some(total) = total {
            summary.additional_properties.insert(key.to_string(), total.to_string());
        }
    }
    summary
}

/// A positive snapshot id the table does not use yet.
fn new_snapshot_id(metadata: &iceberg::spec::TableMetadata) -> i64 {
    loop {
        let id = (rand::random::<u64>() >> 1) as i64;
        if id != 0 && metadata.snapshot_by_id(id).is_none() {
            return id;
        }
    }
}

pub(super) fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or_default()
}
