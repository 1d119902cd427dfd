//! Catalog metadata RPCs mapped onto the Iceberg catalogs. Result schemas come
//! from arrow-flight's builders or are spelled out here exactly as the Flight
//! SQL spec has them (nullability included): ADBC checks them strictly.

use std::sync::{Arc, LazyLock};

use arrow::array::{Int32Builder, RecordBatch, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys,
    CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo,
    ProstMessageExt,
};
use arrow_flight::{FlightDescriptor, FlightInfo, Ticket};
use prost::Message;
use tonic::{Request, Response, Status};

use super::{columns, stream, DoGetStream, FloeService};
use crate::access::{Principal, Right};
use crate::catalog::TableRef;
use crate::exec;

const TABLE_TYPE: &str = "TABLE";

/// Clients spell the table type their own way: JDBC `TABLE`, InfluxDB and
/// Grafana `BASE TABLE` or `table`.
fn names_tables(table_type: &str) -> bool {
    let table_type = table_type.trim();
    table_type.eq_ignore_ascii_case(TABLE_TYPE) || table_type.eq_ignore_ascii_case("BASE TABLE")
}

static PRIMARY_KEYS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]))
});

/// Shared by imported keys, exported keys and cross reference.
static FOREIGN_KEYS_SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("pk_catalog_name", DataType::Utf8, true),
        Field::new("pk_db_schema_name", DataType::Utf8, true),
        Field::new("pk_table_name", DataType::Utf8, false),
        Field::new("pk_column_name", DataType::Utf8, false),
        Field::new("fk_catalog_name", DataType::Utf8, true),
        Field::new("fk_db_schema_name", DataType::Utf8, true),
        Field::new("fk_table_name", DataType::Utf8, false),
        Field::new("fk_column_name", DataType::Utf8, false),
        Field::new("key_sequence", DataType::Int32, false),
        Field::new("fk_key_name", DataType::Utf8, true),
        Field::new("pk_key_name", DataType::Utf8, true),
        Field::new("update_rule", DataType::UInt8, false),
        Field::new("delete_rule", DataType::UInt8, false),
    ]))
});

/// A metadata command: the ticket is the command itself, so DoGet needs no state.
#[tonic::async_trait]
pub trait MetadataCommand: ProstMessageExt + Clone + Send + Sync + 'static {
    fn schema(&self, service: &FloeService) -> SchemaRef;
    async fn batch(self, service: &FloeService, caller: &Principal) -> Result<RecordBatch, Status>;

    /// Refuses requests whose fields exceed their bounds.
    fn check(&self) -> Result<(), Status> {
        Ok(())
    }
}

/// Longest filter pattern a client may send.
const MAX_PATTERN_CHARS: usize = 1024;

/// Filter patterns have a bound, like every unbounded request field.
fn bounded_patterns(patterns: &[&Option<String>]) -> Result<(), Status> {
    for pattern in patterns.iter().copied().flatten() {
        let length = pattern.chars().count();
        if length > MAX_PATTERN_CHARS {
            let limit = MAX_PATTERN_CHARS;
            return Err(crate::error::Error::InvalidArgument(format!("a filter pattern has {length} characters; the limit is {limit}")).into());
        }
    }
    Ok(())
}

pub async fn flight_info<C: MetadataCommand>(
    service: &FloeService,
    command: C,
    request: Request<FlightDescriptor>,
) -> Result<Response<FlightInfo>, Status> {
    command.check()?;
    let ticket = Ticket::new(command.as_any().encode_to_vec());
    Ok(Response::new(stream::flight_info(&command.schema(service), ticket, request.into_inner())?))
}

pub async fn do_get<C: MetadataCommand>(
    service: &FloeService,
    command: C,
    request: Request<Ticket>,
) -> Result<Response<DoGetStream>, Status> {
    command.check()?;
    let caller = super::principal(&request);
    Ok(Response::new(stream::flight_data(stream::single_batch(command.batch(service, &caller).await?))))
}

fn arrow_status(err: impl std::fmt::Display) -> Status {
    crate::error::Error::Internal(format!("building metadata result: {err}")).into()
}

fn pattern_matches(pattern: &Option<String>, text: &str) -> bool {
    pattern.as_deref().is_none_or(|pattern| crate::pattern::like(pattern, text))
}

fn catalogs_matching<'a>(service: &'a FloeService, catalog: &Option<String>) -> Vec<&'a str> {
    let lake = service.engine().lake();
    lake.catalog_names().filter(|name| catalog.as_deref().is_none_or(|c| c == *name)).collect()
}

#[tonic::async_trait]
impl MetadataCommand for CommandGetCatalogs {
    fn schema(&self, _: &FloeService) -> SchemaRef {
        self.clone().into_builder().schema()
    }

    async fn batch(self, service: &FloeService, _: &Principal) -> Result<RecordBatch, Status> {
        let mut builder = self.into_builder();
        for name in service.engine().lake().catalog_names() {
            builder.append(name);
        }
        builder.build().map_err(arrow_status)
    }
}

#[tonic::async_trait]
impl MetadataCommand for CommandGetDbSchemas {
    fn schema(&self, _: &FloeService) -> SchemaRef {
        self.clone().into_builder().schema()
    }

    fn check(&self) -> Result<(), Status> {
        bounded_patterns(&[&self.db_schema_filter_pattern])
    }

    async fn batch(self, service: &FloeService, caller: &Principal) -> Result<RecordBatch, Status> {
        let catalogs = catalogs_matching(service, &self.catalog);
        let mut builder = self.into_builder();
        let policy = service.engine().policy();
        for catalog in catalogs {
            for namespace in service.engine().lake().namespaces(catalog).await? {
                let name = namespace.join(".");
                if policy.sees(caller, catalog, &name) {
                    builder.append(catalog, name);
                }
            }
        }
        builder.build().map_err(arrow_status)
    }
}

#[tonic::async_trait]
impl MetadataCommand for CommandGetTables {
    fn schema(&self, _: &FloeService) -> SchemaRef {
        self.clone().into_builder().schema()
    }

    fn check(&self) -> Result<(), Status> {
        bounded_patterns(&[&self.db_schema_filter_pattern, &self.table_name_filter_pattern])
    }

    async fn batch(mut self, service: &FloeService, caller: &Principal) -> Result<RecordBatch, Status> {
        let lake = service.engine().lake();
        let wants_tables = self.table_types.is_empty() || self.table_types.iter().any(|t| names_tables(t));
        // The builder would filter again by exact type name, dropping `BASE TABLE` matches.
        self.table_types.clear();
        let catalogs = if wants_tables { catalogs_matching(service, &self.catalog) } else { Vec::new() };
        let (schema_pattern, table_pattern, include_schema) =
            (self.db_schema_filter_pattern.clone(), self.table_name_filter_pattern.clone(), self.include_schema);
        let mut builder = self.into_builder();
        let empty = Schema::empty();
        for catalog in catalogs {
            for namespace in lake.namespaces(catalog).await? {
                let schema_name = namespace.join(".");
                // A principal never learns the names of tables it cannot read.
                let readable = service.engine().policy().allows(caller, catalog, &schema_name, Right::Read);
                if !readable || !pattern_matches(&schema_pattern, &schema_name) {
                    continue;
                }
                for ident in lake.tables(catalog, &namespace).await? {
                    if !pattern_matches(&table_pattern, ident.name()) {
                        continue;
                    }
                    let table_schema = if include_schema {
                        let table = lake.load(&TableRef { catalog: catalog.to_string(), ident: ident.clone() }).await?;
                        let name = columns::TableName { catalog, schema: &schema_name, table: ident.name() };
                        let iceberg = table.metadata().current_schema().clone();
                        let doc = |column: &str| iceberg.field_by_name(column).and_then(|field| field.doc.clone());
                        Arc::new(columns::table_schema(exec::table_schema(&table)?.as_ref(), &name, doc))
                    } else {
                        Arc::new(empty.clone())
                    };
                    builder
                        .append(catalog, &schema_name, ident.name(), TABLE_TYPE, &table_schema)
                        .map_err(arrow_status)?;
                }
            }
        }
        builder.build().map_err(arrow_status)
    }
}

#[tonic::async_trait]
impl MetadataCommand for CommandGetTableTypes {
    fn schema(&self, _: &FloeService) -> SchemaRef {
        self.clone().into_builder().schema()
    }

    async fn batch(self, _: &FloeService, _: &Principal) -> Result<RecordBatch, Status> {
        let mut builder = self.into_builder();
        builder.append(TABLE_TYPE);
        builder.build().map_err(arrow_status)
    }
}

#[tonic::async_trait]
impl MetadataCommand for CommandGetSqlInfo {
    fn schema(&self, service: &FloeService) -> SchemaRef {
        self.clone().into_builder(&service.sql_info).schema()
    }

    async fn batch(self, service: &FloeService, _: &Principal) -> Result<RecordBatch, Status> {
        self.into_builder(&service.sql_info).build().map_err(arrow_status)
    }
}

#[tonic::async_trait]
impl MetadataCommand for CommandGetXdbcTypeInfo {
    fn schema(&self, service: &FloeService) -> SchemaRef {
        self.clone().into_builder(&service.xdbc_types).schema()
    }

    async fn batch(self, service: &FloeService, _: &Principal) -> Result<RecordBatch, Status> {
        self.into_builder(&service.xdbc_types).build().map_err(arrow_status)
    }
}

/// Primary keys are the table's Iceberg identifier fields.
#[tonic::async_trait]
impl MetadataCommand for CommandGetPrimaryKeys {
    fn schema(&self, _: &FloeService) -> SchemaRef {
        PRIMARY_KEYS_SCHEMA.clone()
    }

    async fn batch(self, service: &FloeService, caller: &Principal) -> Result<RecordBatch, Status> {
        let lake = service.engine().lake();
        let mut parts: Vec<String> = Vec::new();
        parts.push(self.catalog.clone().unwrap_or_else(|| lake.default_catalog().to_string()));
        let db_schema = self.db_schema.clone().unwrap_or_else(|| crate::catalog::DEFAULT_SCHEMA.to_string());
        parts.extend(db_schema.split('.').map(String::from));
        parts.push(self.table.clone());
        let (mut catalogs, mut schemas, mut tables) = (StringBuilder::new(), StringBuilder::new(), StringBuilder::new());
        let (mut columns, mut key_names, mut sequence) = (StringBuilder::new(), StringBuilder::new(), Int32Builder::new());
        let resolved = lake.names().resolve(&parts, &Default::default());
        let readable = |table_ref: &TableRef| service.engine().authorize(caller, table_ref, Right::Read).is_ok();
        let table = match resolved {
            Ok(table_ref) if readable(&table_ref) => lake.load(&table_ref).await.ok().map(|table| (table_ref, table)),
            _ => None,
        };
        if let Some((table_ref, table)) = table {
            let schema = table.metadata().current_schema();
            for (position, field_id) in schema.identifier_field_ids().enumerate() {
                let Some(field) = schema.field_by_id(field_id) else { continue };
                catalogs.append_value(&table_ref.catalog);
                schemas.append_value(table_ref.ident.namespace().join("."));
                tables.append_value(table_ref.ident.name());
                columns.append_value(&field.name);
                key_names.append_null();
                sequence.append_value(position as i32 + 1);
            }
        }
        RecordBatch::try_new(
            PRIMARY_KEYS_SCHEMA.clone(),
            vec![
                Arc::new(catalogs.finish()),
                Arc::new(schemas.finish()),
                Arc::new(tables.finish()),
                Arc::new(columns.finish()),
                Arc::new(key_names.finish()),
                Arc::new(sequence.finish()),
            ],
        )
        .map_err(arrow_status)
    }
}

/// Iceberg has no foreign keys: these answer with no rows, in the right shape.
macro_rules! no_foreign_keys {
    ($($command:ty),*) => {$(
        #[tonic::async_trait]
        impl MetadataCommand for $command {
            fn schema(&self, _: &FloeService) -> SchemaRef {
                FOREIGN_KEYS_SCHEMA.clone()
            }

            async fn batch(self, _: &FloeService, _: &Principal) -> Result<RecordBatch, Status> {
                Ok(RecordBatch::new_empty(FOREIGN_KEYS_SCHEMA.clone()))
            }
        }
    )*};
}

no_foreign_keys!(CommandGetImportedKeys, CommandGetExportedKeys, CommandGetCrossReference);
