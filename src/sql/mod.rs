//! SQL in front of Polars: parse with sqlparser, refuse what must not run,
//! bind parameters, and rename catalog relations to the frames Polars sees.
//!
//! polars-sql resolves a dotted name by its first part and offers table
//! functions that read server files, so user SQL never reaches it unchecked.

mod aliases;
pub mod aggregate_names;
pub mod dml;
pub mod functions;
pub mod lineage;
pub mod merge;
mod memo;
pub mod params;
mod parameter_types;
mod parse;
mod parts;
mod precedence;
pub use precedence::bind_as_postgres;
mod recursive;
mod show;
pub mod partition;
pub mod procedure;
pub mod properties;
pub mod pushdown;
pub mod rewrite;
pub mod time_travel;
pub(crate) mod visit;
mod volatile;

use std::collections::HashMap;

use sqlparser::ast::Statement;

pub use aliases::with_table_aliases;
pub use parameter_types::{parameter_probes, Probe};
pub use parts::{Rendered, RenderedPart};
pub use recursive::Recursion;
pub use rewrite::RelationName;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("SQL syntax error: {0}")]
    Syntax(String),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Params(String),
    /// Well-formed SQL asking for what cannot be (a LIKE pattern ending in
    /// its escape character, a percentile fraction past 1, a unit no
    /// calendar has).
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    TooLong(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// A checked, parameter-bound query and the catalog relations it reads.
#[derive(Debug, Clone)]
pub struct Query {
    statement: Statement,
    /// The statement before most of the analysis (`rewrite::declare`): what
    /// is analyzed again when it names columns in another case than the
    /// catalog spells them (`rewrite::respelled`).
    declared: Statement,
    relations: Vec<RelationName>,
    views: Vec<RelationName>,
    filters: HashMap<RelationName, Vec<pushdown::Filter>>,
    explain: bool,
    analyze: bool,
    describe: bool,
    volatile: bool,
    references: usize,
    /// Its recursive CTEs, in order, each read by those after it and by the query.
    recursions: Vec<Recursion>,
    /// The statement whole (parameters bound) when recursive CTEs were taken out of it.
    whole: Option<String>,
}

impl Query {
    /// Parses one read-only statement and binds `params` (SQL literals, in
    /// placeholder order). Fails unless the parameter count matches exactly.
    pub fn analyze(sql: &str, params: &[String]) -> Result<Self> {
        if let Some(query) = memo::analyzed(sql, params) {
            return Ok(query);
        }
        let query = Self::from_statement(parse::parse_single(sql)?, params)?;
        memo::keep(sql, params, &query);
        Ok(query)
    }

    fn from_statement(mut statement: Statement, params: &[String]) -> Result<Self> {
        let (explain, analyze, describe) = match &statement {
            Statement::Explain { describe_alias, .. } if show::is_describe(*describe_alias) => (false, false, true),
            Statement::Explain { analyze, .. } => (true, *analyze, false),
            _ => (false, false, false),
        };
        if let Statement::Explain { statement: inner, .. } = statement {
            statement = *inner;
        }
        parse::ensure_query(&statement)?;
        let volatile = volatile::is_volatile(&statement);
        if !recursive::is_recursive(&statement) {
            return Self::analyzed(statement, params, &[], (explain, analyze, describe), volatile);
        }
        // The parts are queries of their own: placeholders are bound over the whole first.
        rewrite::bind_params(&mut statement, params)?;
        let whole = statement.to_string();
        let mut recursions: Vec<Recursion> = Vec::new();
        for parts in recursive::split(&mut statement)? {
            let mut provided: Vec<String> = recursions.iter().map(|recursion| recursion.name.clone()).collect();
            provided.push(parts.name.clone());
            let part = |statement| Self::analyzed(statement, &[], &provided, (false, false, false), volatile);
            let (first, recursive) = (part(parts.first)?, part(parts.recursive)?);
            recursions.push(Recursion { name: parts.name, columns: parts.columns, first, recursive, distinct: parts.distinct });
        }
        let provided: Vec<String> = recursions.iter().map(|recursion| recursion.name.clone()).collect();
        let mut query = Self::analyzed(statement, &[], &provided, (explain, analyze, describe), volatile)?;
        for part in recursions.iter().flat_map(|recursion| [&recursion.first, &recursion.recursive]) {
            for relation in part.relations.iter().chain(&part.views) {
                let list = if rewrite::is_catalog_view(relation) { &mut query.views } else { &mut query.relations };
                if !list.contains(relation) {
                    list.push(relation.clone());
                }
            }
            query.references += part.references;
        }
        // A relation's scan serves every part: one part's filters must not prune another's rows.
        query.filters.clear();
        query.recursions = recursions;
        query.whole = Some(whole);
        Ok(query)
    }

    /// `statement` analyzed, reading the relations named in `provided` (the
    /// recursive CTEs it sees) from the planner rather than a catalog.
    fn analyzed(mut statement: Statement, params: &[String], provided: &[String], kind: (bool, bool, bool), volatile: bool) -> Result<Self> {
        let (explain, analyze, describe) = kind;
        rewrite::declare(&mut statement, params)?;
        let declared = statement.clone();
        rewrite::analyze_declared(&mut statement)?;
        let is_provided = |relation: &RelationName| relation.len() == 1 && provided.contains(&relation[0]);
        let relations = rewrite::catalog_relations(&statement).into_iter().filter(|relation| !is_provided(relation)).collect();
        let views = rewrite::catalog_views(&statement);
        let filters = pushdown::scan_filters(&statement);
        let references = table_references(&statement);
        Ok(Self { statement, declared, relations, views, filters, explain, analyze, describe, volatile, references, recursions: Vec::new(), whole: None })
    }

    /// Its recursive CTEs (`WITH RECURSIVE`), in the order written: each is
    /// planned before those after it and the query, which read it.
    pub fn recursions(&self) -> &[Recursion] {
        &self.recursions
    }

    /// Distinct relations (as written) that name catalog tables, in first-use order.
    pub fn relations(&self) -> &[RelationName] {
        &self.relations
    }

    /// How many times it names a table or view, repeats included: what its
    /// inputs' rows multiply to at most, whatever it joins.
    pub fn table_references(&self) -> usize {
        self.references
    }

    /// The `information_schema` views it reads (not catalog tables).
    pub fn catalog_views(&self) -> &[RelationName] {
        &self.views
    }

    /// Filters the scan of `relation` may prune with.
    pub fn scan_filters(&self, relation: &RelationName) -> &[pushdown::Filter] {
        self.filters.get(relation).map(Vec::as_slice).unwrap_or_default()
    }

    /// Whether its answer may change between runs over the same snapshots
    /// (the clock, random numbers).
    pub fn is_volatile(&self) -> bool {
        self.volatile
    }

    /// Whether this is `EXPLAIN <query>`: the answer is the plan, not rows.
    pub fn is_explain(&self) -> bool {
        self.explain
    }

    /// Whether this is `EXPLAIN ANALYZE <query>`: the query runs, and the
    /// answer is its plan with each operator's time.
    pub fn is_explain_analyze(&self) -> bool {
        self.analyze
    }

    /// Whether this is `DESCRIBE <query>` (or a table described): the
    /// answer is the query's columns, a row each.
    pub fn is_describe(&self) -> bool {
        self.describe
    }

    /// Whether the answer is the query's own rows, which a cache may keep
    /// (not EXPLAIN's plan or DESCRIBE's columns).
    pub fn answers_rows(&self) -> bool {
        !self.explain && !self.describe
    }

    /// The query as SQL text (parameters bound).
    pub fn sql(&self) -> String {
        self.whole.clone().unwrap_or_else(|| self.statement.to_string())
    }

    /// polars-sql names an expression it cannot plan by its parser's Debug
    /// dump (`expression Exists { subquery: … } is not currently supported`:
    /// kilobytes of AST); this is that refusal with the statement's first
    /// expression of the kind written as SQL. None for other messages.
    pub fn refusal_of(&self, polars_message: &str) -> Option<Error> {
        if polars_message.starts_with("array element ") && polars_message.ends_with(" is not supported") {
            let written = first_of_kind(&self.statement, "Array").unwrap_or_else(|| "an array".into());
            return Some(Error::Unsupported(format!("`{written}` is not supported here: an array literal holds constants only")));
        }
        if polars_message == "unexpected subquery" {
            // What the subquery passes left as written.
            return Some(Error::Unsupported(
                "a scalar subquery is not supported here (correlated with the outer query under an OR, or in a grouped \
                 SELECT's item or HAVING through a column that is no GROUP BY key); compute it in a CTE and join it"
                    .into(),
            ));
        }
        let dump = polars_message.strip_prefix("expression ")?.strip_suffix(" is not currently supported")?;
        let kind: String = dump.chars().take_while(char::is_ascii_alphanumeric).collect();
        let written = first_of_kind(&self.statement, &kind).unwrap_or_else(|| format!("an expression of kind {kind}"));
        Some(Error::Unsupported(format!("`{written}` is not supported here")))
    }

    /// The query after Floe's rewrites, relations as written: what EXPLAIN shows.
    pub fn rewritten(&self, columns: &rewrite::Columns) -> Result<String> {
        let query = self.render(&HashMap::new(), columns)?;
        if self.recursions.is_empty() {
            return Ok(query);
        }
        let cte = |recursion: &Recursion| -> Result<String> {
            let union = if recursion.distinct { "UNION" } else { "UNION ALL" };
            Ok(format!("{} AS ({} {union} {})", recursion.name, recursion.first.rewritten(columns)?, recursion.recursive.rewritten(columns)?))
        };
        let ctes = self.recursions.iter().map(cte).collect::<Result<Vec<_>>>()?;
        Ok(format!("WITH RECURSIVE {} {query}", ctes.join(", ")))
    }

    /// The SQL Polars runs: scalar subqueries turned into joins (which needs
    /// each relation's columns), and each catalog relation renamed to its
    /// registered frame, aliased by its table name so qualified columns keep working.
    pub fn render(&self, frames: &HashMap<RelationName, String>, columns: &rewrite::Columns) -> Result<String> {
        Ok(self.rendered(frames, columns, None)?.to_string())
    }

    fn rendered(&self, frames: &HashMap<RelationName, String>, columns: &rewrite::Columns, probe: Option<&mut dyn rewrite::Probe>) -> Result<Statement> {
        let mut declared = self.declared.clone();
        let mut statement = if rewrite::respelled(&mut declared, columns) {
            rewrite::analyze_declared(&mut declared)?;
            declared
        } else {
            self.statement.clone()
        };
        rewrite::render(&mut statement, frames, columns, probe)?;
        Ok(statement)
    }
}

/// How many parameters a statement takes (`?` or `$n` placeholders).
pub fn parameter_count(sql: &str) -> Result<usize> {
    Ok(describe(sql)?.parameters)
}

/// What preparing a statement needs to know, from one parse.
pub struct Described {
    /// A query (returns rows) rather than a statement that writes.
    pub is_query: bool,
    pub parameters: usize,
}

pub fn describe(sql: &str) -> Result<Described> {
    let statement = parse::parse_single(sql)?;
    Ok(Described { is_query: matches!(statement, Statement::Query(_) | Statement::Explain { .. }), parameters: rewrite::placeholder_count(&statement)? })
}

#[cfg(test)]
mod tests;

/// SQL Floe generates itself and hands to polars-sql directly (a
/// coordinator's final aggregation), with every division in DOUBLE and an
/// ungrouped HAVING filtered after its group, as Floe's planner does; SQL
/// that does not parse is returned as it was.
pub fn generated_for_polars(sql: &str) -> String {
    match sqlparser::parser::Parser::parse_sql(&sqlparser::dialect::GenericDialect {}, sql) {
        Ok(mut statements) if statements.len() == 1 => {
            bind_as_postgres(&mut statements[0]);
            rewrite::divisions_in_double(&mut statements[0]);
            rewrite::ungrouped_having_filtered(&mut statements[0]);
            statements[0].to_string()
        }
        _ => sql.to_string(),
    }
}

/// The first expression whose parser variant is `kind`, as SQL.
fn first_of_kind(statement: &Statement, kind: &str) -> Option<String> {
    struct Finder<'a>(&'a str);
    impl sqlparser::ast::Visitor for Finder<'_> {
        type Break = String;
        fn pre_visit_expr(&mut self, expr: &sqlparser::ast::Expr) -> std::ops::ControlFlow<String> {
            let debug = format!("{expr:?}");
            match debug.strip_prefix(self.0) {
                Some(rest) if rest.starts_with([' ', '(', '{']) || rest.is_empty() => std::ops::ControlFlow::Break(expr.to_string()),
                _ => std::ops::ControlFlow::Continue(()),
            }
        }
    }
    match crate::sql::visit::Visit::visit(statement, &mut Finder(kind)) {
        std::ops::ControlFlow::Break(written) => Some(written),
        std::ops::ControlFlow::Continue(()) => None,
    }
}

fn table_references(statement: &Statement) -> usize {
    struct Counter(usize);
    impl sqlparser::ast::Visitor for Counter {
        type Break = ();
        fn pre_visit_table_factor(&mut self, factor: &sqlparser::ast::TableFactor) -> std::ops::ControlFlow<()> {
            if matches!(factor, sqlparser::ast::TableFactor::Table { .. }) {
                self.0 += 1;
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut counter = Counter(0);
    let _ = crate::sql::visit::Visit::visit(statement, &mut counter);
    counter.0
}
