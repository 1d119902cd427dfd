//! Table properties written in SQL: `TBLPROPERTIES ('k' = 'v', …)` (Spark,
//! Hive) or `WITH (k = 'v', …)` (Trino) on CREATE TABLE, and `ALTER TABLE t
//! SET TBLPROPERTIES (…)` or `SET (…)` afterwards. Keys and values are text,
//! as Iceberg stores them; what a property means is the writer's business.

use sqlparser::ast::{AlterTable, AlterTableOperation, CreateTableOptions, Expr, SqlOption, Value};

use super::{Error, Result};

/// Properties as written, in order.
pub type Properties = Vec<(String, String)>;

/// The properties a CREATE TABLE declares (none without a clause).
pub(super) fn of_create(options: &CreateTableOptions) -> Result<Properties> {
    match options {
        CreateTableOptions::None => Ok(Vec::new()),
        CreateTableOptions::With(options) | CreateTableOptions::TableProperties(options) => pairs(options),
        other => Err(Error::Unsupported(format!("table options `{other}`: declare properties as TBLPROPERTIES ('key' = 'value', …)"))),
    }
}

/// The properties an `ALTER TABLE … SET TBLPROPERTIES (…)` sets; other ALTER
/// TABLE statements are not supported.
pub(super) fn of_alter(alter: &AlterTable) -> Result<Properties> {
    let mut properties = Vec::new();
    for operation in &alter.operations {
        match operation {
            AlterTableOperation::SetTblProperties { table_properties: options }
            | AlterTableOperation::SetOptionsParens { options } => properties.extend(pairs(options)?),
            other => {
                return Err(Error::Unsupported(format!(
                    "ALTER TABLE … {other} is not supported: ALTER TABLE sets table properties (SET TBLPROPERTIES ('key' = 'value'))"
                )))
            }
        }
    }
    if properties.is_empty() {
        return Err(Error::Unsupported("ALTER TABLE without SET TBLPROPERTIES (…) is not supported".into()));
    }
    Ok(properties)
}

fn pairs(options: &[SqlOption]) -> Result<Properties> {
    options.iter().map(pair).collect()
}

fn pair(option: &SqlOption) -> Result<(String, String)> {
    let SqlOption::KeyValue { key, value } = option else {
        return Err(Error::Unsupported(format!("table property `{option}`: write 'key' = 'value'")));
    };
    let text = match value {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) | Value::DoubleQuotedString(text) => Some(text.clone()),
            Value::Number(number, _) => Some(number.to_string()),
            Value::Boolean(flag) => Some(flag.to_string()),
            _ => None,
        },
        Expr::Identifier(word) => Some(word.value.clone()),
        _ => None,
    };
    let value = text.ok_or_else(|| Error::Unsupported(format!("table property `{}` = {value}: give the value as text ('…')", key.value)))?;
    Ok((key.value.clone(), value))
}

#[cfg(test)]
mod tests {
    use super::super::dml::{classify, Command};

    fn created(sql: &str) -> Vec<(String, String)> {
        match classify(sql, &[]).unwrap() {
            Command::CreateTable { properties, .. } | Command::CreateTableAs { properties, .. } => properties,
            other => panic!("{other:?}"),
        }
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn create_declares_properties_either_way() {
        let codec = owned(&[("write.parquet.compression-codec", "lz4_raw"), ("write.parquet.compression-level", "3")]);
        let spark = "CREATE TABLE t (a INT) TBLPROPERTIES ('write.parquet.compression-codec' = 'lz4_raw', 'write.parquet.compression-level' = 3)";
        assert_eq!(created(spark), codec);
        let trino = "CREATE TABLE t (a INT) WITH (\"write.parquet.compression-codec\" = 'lz4_raw', \"write.parquet.compression-level\" = '3')";
        assert_eq!(created(trino), codec);
        assert_eq!(created("CREATE TABLE t TBLPROPERTIES ('owner' = 'ops') AS SELECT 1 AS a"), owned(&[("owner", "ops")]));
        assert_eq!(created("CREATE TABLE t (a INT)"), Vec::new());
    }

    #[test]
    fn alter_sets_properties_and_nothing_else() {
        match classify("ALTER TABLE ns.t SET TBLPROPERTIES ('write.parquet.compression-codec' = 'snappy')", &[]).unwrap() {
            Command::SetProperties { table, properties, if_exists: false } => {
                assert_eq!(table, vec!["ns".to_string(), "t".to_string()]);
                assert_eq!(properties, owned(&[("write.parquet.compression-codec", "snappy")]));
            }
            other => panic!("{other:?}"),
        }
        for sql in ["ALTER TABLE t ADD COLUMN b INT", "ALTER TABLE t SET TBLPROPERTIES ('k' = now())"] {
            assert!(matches!(classify(sql, &[]), Err(crate::sql::Error::Unsupported(_))), "{sql}");
        }
    }
}
