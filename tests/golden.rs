//! Golden SQL tests: every `tests/sql/*.slt` file runs against the real server.
//!
//! ```text
//! query                      error InvalidArgument      statement ok
//! SELECT …                   SELECT …                   CREATE TABLE … AS …
//! ----
//! value|value
//! ```
//! A block ends at a blank line. Values print as Arrow displays them, NULL as `NULL`.
//! After an error's code, the rest of its line is text the message must hold.
//! `statement ok` runs a write (through CommandStatementUpdate) that later blocks read.
//! Expected rows come from DuckDB: `python tests/sql/answers.py <file> --write`.

mod common;

use arrow::array::{ArrayRef, RecordBatch};
use arrow::compute::cast;
use arrow::datatypes::DataType;
use arrow::util::display::{ArrayFormatter, FormatOptions};
use futures::TryStreamExt;

enum Expect {
    Done,
    Rows(Vec<String>),
    Error { code: String, message: String },
}

struct Case {
    file: String,
    line: usize,
    sql: String,
    expect: Expect,
}

fn parse(file: &str, text: &str) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((number, line)) = lines.next() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = line.strip_prefix("error ").map(str::to_string);
        let statement = line == "statement ok";
        assert!(
            error.is_some() || statement || line == "query",
            "{file}:{}: expected `query`, `statement ok` or `error <Code>`",
            number + 1
        );
        let mut sql = Vec::new();
        let mut rows = Vec::new();
        let mut in_rows = false;
        while let Some((_, next)) = lines.peek() {
            let next = next.trim_end();
            if next.is_empty() {
                break;
            }
            if next == "----" {
                in_rows = true;
            } else if in_rows {
                rows.push(next.to_string());
            } else {
                sql.push(next.to_string());
            }
            lines.next();
        }
        let expect = match error {
            Some(error) => {
                let (code, message) = error.split_once(' ').unwrap_or((&error, ""));
                Expect::Error { code: code.to_string(), message: message.trim().to_string() }
            }
            None if statement => Expect::Done,
            None => Expect::Rows(rows),
        };
        cases.push(Case { file: file.to_string(), line: number + 1, sql: sql.join("\n"), expect });
    }
    cases
}

fn render(batches: &[RecordBatch]) -> Vec<String> {
    let options = FormatOptions::default().with_null("NULL");
    let mut rows = Vec::new();
    for batch in batches {
        let columns: Vec<ArrayRef> = batch.columns().iter().map(zone_as_offset).collect();
        let formatters: Vec<_> = columns.iter().map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap()).collect();
        for row in 0..batch.num_rows() {
            rows.push(formatters.iter().map(|f| f.value(row).to_string()).collect::<Vec<_>>().join("|"));
        }
    }
    rows
}

/// Instants in UTC as the offset it is: arrow-rs formats a named zone
/// only with its chrono-tz feature, which nothing but this harness would
/// need (clients read the name).
fn zone_as_offset(column: &ArrayRef) -> ArrayRef {
    match column.data_type() {
        DataType::Timestamp(unit, Some(zone)) if zone.as_ref() == "UTC" => cast(column, &DataType::Timestamp(*unit, Some("+00:00".into()))).unwrap(),
        _ => column.clone(),
    }
}

/// Rows equal field by field, floating-point fields to the last few bits:
/// engines sum and divide in different orders (Polars' in-memory and
/// streaming engines differ in the 15th digit), and DuckDB's expected
/// answers are one such order. Fields that are not floats compare exactly.
fn same_rows(got: &[String], expected: &[String]) -> bool {
    got.len() == expected.len() && got.iter().zip(expected).all(|(got, expected)| same_row(got, expected))
}

fn same_row(got: &str, expected: &str) -> bool {
    let (got, expected): (Vec<_>, Vec<_>) = (got.split('|').collect(), expected.split('|').collect());
    got.len() == expected.len() && got.iter().zip(&expected).all(|(got, expected)| got == expected || same_float(got, expected))
}

fn same_float(got: &str, expected: &str) -> bool {
    let is_float = |text: &str| text.contains(['.', 'e']) && text.parse::<f64>().is_ok();
    if !(is_float(got) && is_float(expected)) {
        return false;
    }
    let (got, expected) = (got.parse::<f64>().unwrap(), expected.parse::<f64>().unwrap());
    (got - expected).abs() <= 1e-12 * expected.abs().max(1.0)
}

#[tokio::test(flavor = "multi_thread")]
async fn golden_sql_files() {
    let server = common::Server::start(&[]);
    let mut client = server.client().await;
    // Read at run time: a test binary reused from a clone elsewhere (one shared target
    // directory) would carry that clone's path, and cargo does not rebuild it for a move.
    let root = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_string());
    let dir = std::path::Path::new(&root).join("tests/sql");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut failures = Vec::new();
    let mut count = 0;
    for path in files.iter().filter(|p| p.extension().is_some_and(|e| e == "slt")) {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        for case in parse(&name, &std::fs::read_to_string(path).unwrap()) {
            count += 1;
            let location = format!("{}:{}", case.file, case.line);
            if let Expect::Done = case.expect {
                if let Err(err) = client.execute_update(case.sql.clone(), None).await {
                    failures.push(format!("{location}: statement failed: {err}"));
                }
                continue;
            }
            let outcome = async {
                let info = client.execute(case.sql.clone(), None).await?;
                let mut batches = Vec::new();
                for endpoint in info.endpoint {
                    batches.extend(client.do_get(endpoint.ticket.unwrap()).await?.try_collect::<Vec<_>>().await?);
                }
                Ok::<_, arrow_flight::error::FlightError>(batches)
            }
            .await;
            match (&case.expect, outcome) {
                (Expect::Rows(expected), Ok(batches)) => {
                    let got = render(&batches);
                    if !same_rows(&got, expected) {
                        failures.push(format!("{location}: expected\n{}\ngot\n{}", expected.join("\n"), got.join("\n")));
                    }
                }
                (Expect::Error { code, message }, Err(arrow_flight::error::FlightError::Tonic(status))) => {
                    if format!("{:?}", status.code()) != *code || !status.message().contains(message.as_str()) {
                        failures.push(format!("{location}: expected {code} {message:?}, got {:?}: {}", status.code(), status.message()));
                    }
                }
                (Expect::Rows(_), Err(err)) => failures.push(format!("{location}: unexpected error {err}")),
                (Expect::Done, _) => unreachable!("statements ran above"),
                (Expect::Error { code, .. }, other) => failures.push(format!("{location}: expected {code}, got {:?}", other.map(|b| render(&b)))),
            }
        }
    }
    assert!(count > 0, "no golden cases found in {}", dir.display());
    assert!(failures.is_empty(), "{} of {count} golden cases failed:\n\n{}", failures.len(), failures.join("\n\n"));
}
