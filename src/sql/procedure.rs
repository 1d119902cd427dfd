//! `CALL [catalog.]system.<procedure>('ns.table', name => value, …)`, the
//! table-maintenance procedures in the style Spark and Trino use.

use std::collections::HashMap;

use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Statement, Value};

use super::{Error, Result};

/// An argument's value: literals only.
#[derive(Debug, Clone, PartialEq)]
pub enum Arg {
    Text(String),
    Number(i64),
    Bool(bool),
}

#[derive(Debug)]
pub struct Call {
    pub procedure: String,
    /// The table, as written (`ns.table`).
    pub table: Vec<String>,
    /// Named arguments (the table's too, as `table`).
    pub args: HashMap<String, Arg>,
}

fn literal(expr: &Expr) -> Result<Arg> {
    Ok(match expr {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) => Arg::Text(text.clone()),
            Value::Number(number, _) => Arg::Number(number.parse().map_err(|_| Error::Params(format!("`{number}` is not an integer")))?),
            Value::Boolean(flag) => Arg::Bool(*flag),
            other => return Err(Error::Params(format!("unsupported argument `{other}`"))),
        },
        // TIMESTAMP '2026-11-30 12:00:00'
        Expr::TypedString(typed) => match &typed.value.value {
            Value::SingleQuotedString(text) => Arg::Text(text.clone()),
            other => return Err(Error::Params(format!("unsupported argument `{other}`"))),
        },
        other => return Err(Error::Params(format!("procedure arguments are literals, not `{other}`"))),
    })
}

impl Call {
    pub fn classify(statement: &Statement, params: &[String]) -> Result<Self> {
        let mut statement = statement.clone();
        super::rewrite::analyze(&mut statement, params)?;
        let Statement::Call(function) = &statement else { unreachable!("only CALL reaches here") };
        let parts: Vec<String> = function.name.0.iter().filter_map(|p| p.as_ident()).map(|i| i.value.to_lowercase()).collect();
        let procedure = match parts.as_slice() {
            [.., system, procedure] if system == "system" => procedure.clone(),
            _ => return Err(Error::Unsupported(format!("unknown procedure `{}`: call system.<procedure>", function.name))),
        };
        let FunctionArguments::List(list) = &function.args else {
            return Err(Error::Syntax(format!("CALL {procedure}: give the table as the first argument")));
        };
        let mut args = HashMap::new();
        for (index, arg) in list.args.iter().enumerate() {
            let (name, value) = match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) if index == 0 => ("table".to_string(), literal(expr)?),
                FunctionArg::Named { name, arg: FunctionArgExpr::Expr(expr), .. } => (name.value.to_lowercase(), literal(expr)?),
                other => return Err(Error::Syntax(format!("CALL {procedure}: name the argument `{other}` (name => value)"))),
            };
            args.insert(name, value);
        }
        let table = match args.get("table") {
            Some(Arg::Text(table)) => table.split('.').map(str::to_string).collect(),
            _ => return Err(Error::Syntax(format!("CALL {procedure}: give the table as `'namespace.table'`"))),
        };
        Ok(Call { procedure, table, args })
    }

    /// The `floe.maintenance` action's JSON: `{"procedure": …, "table": "ns.t", "args": {name: value}}`.
    pub fn from_json(body: &[u8]) -> Result<Self> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Request {
            procedure: String,
            table: String,
            #[serde(default)]
            args: HashMap<String, serde_json::Value>,
        }
        let request: Request = serde_json::from_slice(body).map_err(|e| Error::Params(format!("invalid floe.maintenance request: {e}")))?;
        let mut args = HashMap::from([("table".to_string(), Arg::Text(request.table.clone()))]);
        for (name, value) in request.args {
            let arg = match value {
                serde_json::Value::String(text) => Arg::Text(text),
                serde_json::Value::Bool(flag) => Arg::Bool(flag),
                serde_json::Value::Number(n) if n.is_i64() => Arg::Number(n.as_i64().unwrap_or_default()),
                other => return Err(Error::Params(format!("`{name}`: arguments are text, integers or booleans, not {other}"))),
            };
            args.insert(name.to_lowercase(), arg);
        }
        let table = request.table.split('.').map(str::to_string).collect();
        Ok(Call { procedure: request.procedure.to_lowercase(), table, args })
    }

    pub fn number(&self, name: &str) -> Result<Option<i64>> {
        match self.args.get(name) {
            None => Ok(None),
            Some(Arg::Number(n)) => Ok(Some(*n)),
            Some(other) => Err(Error::Params(format!("`{name}` is a number, not {other:?}"))),
        }
    }

    pub fn flag(&self, name: &str) -> Result<Option<bool>> {
        match self.args.get(name) {
            None => Ok(None),
            Some(Arg::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Error::Params(format!("`{name}` is true or false, not {other:?}"))),
        }
    }

    /// A timestamp argument (`TIMESTAMP '…'` or text, UTC) in Unix milliseconds.
    pub fn timestamp_ms(&self, name: &str) -> Result<Option<i64>> {
        match self.args.get(name) {
            None => Ok(None),
            Some(Arg::Text(text)) => {
                let parsed = ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d"]
                    .iter()
                    .find_map(|format| {
                        chrono::NaiveDateTime::parse_from_str(text, format)
                            .ok()
                            .or_else(|| chrono::NaiveDate::parse_from_str(text, format).ok().and_then(|d| d.and_hms_opt(0, 0, 0)))
                    })
                    .ok_or_else(|| Error::Params(format!("`{name}`: `{text}` is not a timestamp like '2026-11-30 12:00:00'")))?;
                Ok(Some(parsed.and_utc().timestamp_millis()))
            }
            Some(other) => Err(Error::Params(format!("`{name}` is a timestamp, not {other:?}"))),
        }
    }

    /// Arguments the procedure does not take are mistakes, not options.
    pub fn only(&self, known: &[&str]) -> Result<()> {
        match self.args.keys().find(|name| name.as_str() != "table" && !known.contains(&name.as_str())) {
            Some(unknown) => Err(Error::Params(format!("{} takes no argument `{unknown}` (it takes {})", self.procedure, known.join(", ")))),
            None => Ok(()),
        }
    }
}
