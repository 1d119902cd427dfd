//! The types a prepared statement's parameters take: each placeholder's
//! probe (see `sql::parameter_probes`) planned like any query, never run.

use std::collections::HashMap;

use arrow::datatypes::{DataType, SchemaRef};

use super::Engine;
use crate::access::Principal;
use crate::proto::SessionDefaults;

impl Engine {
    /// One type per parameter, `None` where nothing in the statement says.
    pub async fn parameter_types(&self, sql: &str, session: &SessionDefaults, who: &Principal) -> Vec<Option<DataType>> {
        let Ok(probes) = crate::sql::parameter_probes(sql) else { return Vec::new() };
        let mut planned: HashMap<String, Option<SchemaRef>> = HashMap::new();
        let mut types = Vec::with_capacity(probes.len());
        for probe in probes {
            let Some(probe) = probe else {
                types.push(None);
                continue;
            };
            if !planned.contains_key(&probe.sql) {
                // A probe that cannot plan (a correlated column, say) leaves its parameter untyped.
                let schema = self.plan(&probe.sql, Vec::new(), session.clone(), who).await.ok().map(|plan| plan.schema);
                planned.insert(probe.sql.clone(), schema);
            }
            let schema = planned.get(&probe.sql).cloned().flatten();
            types.push(schema.and_then(|schema| schema.fields().get(probe.column).map(|field| field.data_type().clone())));
        }
        types
    }
}
