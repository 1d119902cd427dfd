//! `PARTITIONED BY (…)` in Iceberg's Spark DDL form: columns and transforms
//! (`bucket(16, id)`, `truncate(4, name)`, `years|months|days|hours(ts)`).
//! sqlparser does not parse transforms, so the clause is split off first.

use iceberg::spec::Transform;

use super::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct PartitionField {
    pub column: String,
    pub transform: Transform,
}

impl PartitionField {
    /// The partition field's name, as Iceberg's own engines name them.
    pub fn name(&self) -> String {
        match self.transform {
            Transform::Identity => self.column.clone(),
            Transform::Bucket(_) => format!("{}_bucket", self.column),
            Transform::Truncate(_) => format!("{}_trunc", self.column),
            Transform::Year => format!("{}_year", self.column),
            Transform::Month => format!("{}_month", self.column),
            Transform::Day => format!("{}_day", self.column),
            Transform::Hour => format!("{}_hour", self.column),
            _ => format!("{}_{}", self.column, self.transform),
        }
    }
}

/// Splits a trailing `PARTITIONED BY (…)` off a CREATE TABLE statement.
pub fn split_partitioned_by(sql: &str) -> Result<(String, Vec<PartitionField>)> {
    // Every statement passes here: compiling the pattern per call cost more
    // server time than planning `SELECT 1`.
    static PATTERN: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(?is)^(\s*CREATE\s+TABLE\b.*\))\s*PARTITIONED\s+BY\s*\((.*)\)\s*;?\s*$").expect("static regex")
    });
    let Some(captures) = PATTERN.captures(sql) else { return Ok((sql.to_string(), Vec::new())) };
    let fields = split_top_level(&captures[2]).iter().map(|item| field(item)).collect::<Result<Vec<_>>>()?;
    Ok((captures[1].to_string(), fields))
}

fn split_top_level(list: &str) -> Vec<String> {
    let (mut items, mut current, mut depth) = (Vec::new(), String::new(), 0);
    for c in list.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items.into_iter().map(|i| i.trim().to_string()).filter(|i| !i.is_empty()).collect()
}

fn unquote(name: &str) -> String {
    name.trim().trim_matches('"').trim_matches('`').to_string()
}

fn field(item: &str) -> Result<PartitionField> {
    let bad = || Error::Syntax(format!("unsupported partition transform `{item}`"));
    let Some((function, rest)) = item.split_once('(') else {
        return Ok(PartitionField { column: unquote(item), transform: Transform::Identity });
    };
    let args: Vec<String> = split_top_level(rest.strip_suffix(')').ok_or_else(bad)?);
    let width = |args: &[String]| -> Result<(u32, String)> {
        match args {
            [a, b] => match (a.parse::<u32>(), b.parse::<u32>()) {
                (Ok(n), Err(_)) => Ok((n, unquote(b))),
                (Err(_), Ok(n)) => Ok((n, unquote(a))),
                _ => Err(bad()),
            },
            _ => Err(bad()),
        }
    };
    let single = |args: &[String]| match args {
        [column] => Ok(unquote(column)),
        _ => Err(bad()),
    };
    let (column, transform) = match function.trim().to_ascii_lowercase().as_str() {
        "bucket" => width(&args).map(|(n, c)| (c, Transform::Bucket(n)))?,
        "truncate" => width(&args).map(|(n, c)| (c, Transform::Truncate(n)))?,
        "year" | "years" => (single(&args)?, Transform::Year),
        "month" | "months" => (single(&args)?, Transform::Month),
        "day" | "days" | "date" => (single(&args)?, Transform::Day),
        "hour" | "hours" => (single(&args)?, Transform::Hour),
        "identity" => (single(&args)?, Transform::Identity),
        _ => return Err(bad()),
    };
    Ok(PartitionField { column, transform })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_columns_and_transforms() {
        let (rest, fields) = split_partitioned_by(
            "CREATE TABLE t (id BIGINT, ts TIMESTAMP, name VARCHAR) PARTITIONED BY (bucket(16, id), days(ts), truncate(name, 2), name)",
        )
        .unwrap();
        assert_eq!(rest, "CREATE TABLE t (id BIGINT, ts TIMESTAMP, name VARCHAR)");
        let shapes: Vec<_> = fields.iter().map(|f| (f.name(), f.transform)).collect();
        assert_eq!(
            shapes,
            vec![
                ("id_bucket".into(), Transform::Bucket(16)),
                ("ts_day".into(), Transform::Day),
                ("name_trunc".into(), Transform::Truncate(2)),
                ("name".into(), Transform::Identity),
            ]
        );
        assert!(matches!(split_partitioned_by("CREATE TABLE t (a INT) PARTITIONED BY (zorder(a))"), Err(Error::Syntax(_))));
        assert_eq!(split_partitioned_by("SELECT 1").unwrap().1, vec![]);
    }
}
