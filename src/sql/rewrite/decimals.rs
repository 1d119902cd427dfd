//! `a * b`, `a + b`, `a - b` and `a % b` where one side is a DECIMAL column
//! (or such arithmetic) and the other a DECIMAL or an integer, as Floe's exact
//! decimal functions (`sql::functions::ExactOp`): Polars 0.55 rounds each
//! product back to the larger scale, one 128-bit division per row, and
//! refuses a decimal remainder. And `avg` of a decimal as
//! `floe_decimal_mean(sum(x), count(x))`, the exact unscaled sum divided
//! once, a DOUBLE as DuckDB's mean: Polars' streaming engine adds a decimal
//! mean's values as doubles, each scaled by an inexact power of ten (the
//! mean of 3577.74 alone was 3577.7400000000002, above the salary it
//! averaged), and the sum as a DOUBLE over the count rounds twice (thirteen
//! 1.4s averaged 1.4000000000000001). And `+`, `-`, `*` of two integers
//! (a column among them) as the same functions, in BIGINT checked against
//! its range, where Polars wraps around; `widened_arithmetic.rs` checks
//! those the functions cannot reach.
//!
//! A column's type is its relation's (`Resolver::column_kind`: a catalog
//! column's, a derived table's or a CTE's value whose kind its expression
//! tells; a derived table's DECIMAL named as no catalog column was
//! multiplied by Polars, rounded); an outer query's column by its name
//! (`Columns::kind`). The functions fall back to Polars' arithmetic for any
//! other operand, so one whose type no relation tells (a subquery's value)
//! beside a decimal costs speed, not an answer. Only where Floe's functions
//! reach (`FunctionReach`); in a grouped SELECT only inside aggregates or over them, since polars-sql matches a
//! projection to its GROUP BY key by the expression, and a registered
//! function never equals another call.

use std::ops::ControlFlow;

use sqlparser::ast::{BinaryOperator, DataType, DuplicateTreatment, Expr, FunctionArguments, GroupByExpr, JoinConstraint, Query, Select, Statement, TableFactor, UnaryOperator, Value};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::guarded::Guarded;
use super::resolver::{visit_query, Resolver, Scope};
use super::scope::{call, column_name, is_null_literal, join_constraint, plain_args, reads_column, selects_mut, ColumnKind, Columns, FunctionReach};
use crate::sql::functions::{round_digits, ExactOp, Scalar};

pub(super) fn exact_arithmetic(statement: &mut Statement, columns: &Columns) {
    visit_query(statement, columns, |resolver| Reached { columns, resolver, reach: FunctionReach::default() });
}

struct Reached<'a> {
    columns: &'a Columns,
    resolver: Resolver<'a>,
    reach: FunctionReach,
}

impl VisitorMut for Reached<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        self.reach.enter(query);
        if self.reach.reaches() {
            for select in selects_mut(query.body.as_mut()) {
                let relations = self.resolver.relations(&select.from);
                rewrite_select(select, Kinds { columns: self.columns, resolver: &self.resolver, relations: &relations });
            }
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.reach.leave();
        ControlFlow::Continue(())
    }
}

/// Where a SELECT's operands' types are read from.
#[derive(Clone, Copy)]
struct Kinds<'a> {
    columns: &'a Columns,
    resolver: &'a Resolver<'a>,
    relations: &'a [(TableFactor, Option<Scope>)],
}

impl Kinds<'_> {
    fn column(&self, expr: &Expr) -> Operand {
        if let Some(kind) = self.resolver.column_kind(expr, self.relations) {
            return Operand::of(kind);
        }
        let Some(name) = column_name(expr) else { return Operand::Other };
        match self.columns.kind(name) {
            // Not this SELECT's relations' (an outer query's column): by name.
            Some(kind) if !self.resolver.in_scope(expr, self.relations) => Operand::of(kind),
            _ => Operand::Unknown,
        }
    }
}

fn rewrite_select(select: &mut Select, kinds: Kinds) {
    let grouped = match &select.group_by {
        GroupByExpr::All(_) => true,
        GroupByExpr::Expressions(keys, _) => !keys.is_empty(),
    };
    let guarded = Guarded::of(&*select);
    let mut everywhere = Exact { kinds, guarded: &guarded, only_in_aggregates: false, queries: 0, aggregates: 0 };
    let _ = select.selection.visit(&mut everywhere);
    // A join's condition compares values as WHERE does (a product there
    // at Polars' scale against one computed exactly below was wrong).
    for join in select.from.iter_mut().flat_map(|table| table.joins.iter_mut()) {
        if let Some(JoinConstraint::On(on)) = join_constraint(&mut join.join_operator) {
            let _ = on.visit(&mut everywhere);
        }
    }
    let mut items = Exact { only_in_aggregates: grouped, ..everywhere };
    let _ = select.projection.visit(&mut items);
    let _ = select.having.visit(&mut Exact { only_in_aggregates: true, ..items });
    // Only remainders there, as in the items outside aggregates: one instance
    // of the function, so a key and the item that repeats it still compare equal.
    if let GroupByExpr::Expressions(keys, _) = &mut select.group_by {
        let _ = keys.visit(&mut Exact { only_in_aggregates: true, ..items });
    }
}

#[derive(Clone, Copy)]
struct Exact<'a> {
    kinds: Kinds<'a>,
    /// Arithmetic on rows SQL may not evaluate, left unchecked.
    guarded: &'a Guarded,
    only_in_aggregates: bool,
    /// Depth inside queries nested in the expression (their own SELECTs).
    queries: usize,
    aggregates: usize,
}

impl VisitorMut for Exact<'_> {
    type Break = ();

    fn pre_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.queries += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        self.queries -= 1;
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.aggregates += usize::from(is_aggregate(expr));
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        // Before the rewrite, which may replace the aggregate (a mean).
        let aggregate = is_aggregate(expr);
        // Polars has no decimal remainder at all, so `%` is Floe's wherever it reaches.
        let remainder = matches!(expr, Expr::BinaryOp { op: BinaryOperator::Modulo, .. });
        // Arithmetic over an aggregate (`max(x) * 0.005`) is no grouping key either.
        let over_aggregates = matches!(expr, Expr::BinaryOp { .. }) && super::aggregates::holds_aggregate(expr);
        if self.queries == 0 && (!self.only_in_aggregates || self.aggregates > 0 || remainder || over_aggregates) {
            self.rewrite(expr);
        }
        self.aggregates -= usize::from(aggregate);
        ControlFlow::Continue(())
    }
}

impl Exact<'_> {
    fn rewrite(&self, expr: &mut Expr) {
        // Polars names the call by its first argument's column, as it named the mean.
        if let Some(value) = self.decimal_mean_of(expr).cloned() {
            *expr = call(Scalar::DecimalMean.name(), [call("sum", [value.clone()]), call("count", [value])]);
            return;
        }
        let guarded = self.guarded.contains(expr);
        let Expr::BinaryOp { left, op, right } = expr else { return };
        let op = match op {
            BinaryOperator::Plus => ExactOp::Add,
            BinaryOperator::Minus => ExactOp::Sub,
            BinaryOperator::Multiply => ExactOp::Mul,
            BinaryOperator::Modulo => ExactOp::Rem,
            _ => return,
        };
        use Operand::{Decimal, DecimalLiteral, Integer, Unknown};
        // A function over literals alone is one polars-sql cannot type.
        let reads = reads_column(left) || reads_column(right);
        let exact = match (self.operand(left), self.operand(right)) {
            (Decimal, Decimal | Integer | Unknown | DecimalLiteral) | (Integer | Unknown | DecimalLiteral, Decimal) => true,
            // Checked against BIGINT's range, where Polars wraps around.
            (Integer, Integer | Unknown) | (Unknown, Integer) => reads && op != ExactOp::Rem && !guarded,
            (DecimalLiteral, Integer | Unknown | DecimalLiteral) | (Integer | Unknown, DecimalLiteral) => reads,
            (Decimal, _) | (_, Decimal) => op == ExactOp::Rem,
            _ => false,
        };
        if exact {
            let args = [left.as_ref().clone(), right.as_ref().clone()];
            *expr = call(op.name(), args);
        }
    }

    /// The argument of a plain `avg` (not a window's, not DISTINCT,
    /// unfiltered) over a decimal.
    fn decimal_mean_of<'e>(&self, expr: &'e Expr) -> Option<&'e Expr> {
        let Expr::Function(function) = expr else { return None };
        let plain = function.over.is_none() && function.filter.is_none() && function.within_group.is_empty();
        let distinct = matches!(&function.args, FunctionArguments::List(list) if list.duplicate_treatment == Some(DuplicateTreatment::Distinct));
        if !plain || distinct || !function.name.to_string().eq_ignore_ascii_case("avg") {
            return None;
        }
        match plain_args(function)?.as_slice() {
            [value] if matches!(self.operand(value), Operand::Decimal) => Some(value),
            _ => None,
        }
    }

    /// A decimal only where a column (or Floe's exact arithmetic) makes it
    /// one: polars-sql cannot type a registered function over literals alone.
    fn operand(&self, expr: &Expr) -> Operand {
        match expr {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => self.kinds.column(expr),
            Expr::Nested(inner) => self.operand(inner),
            Expr::Value(value) => match &value.value {
                Value::Number(digits, _) if digits.chars().all(|c| c.is_ascii_digit()) => Operand::Integer,
                _ => Operand::Other,
            },
            Expr::Function(function) if ExactOp::parse(&function.name.to_string()).is_some() => match plain_args(function).as_deref() {
                Some([left, right]) => match (self.operand(left), self.operand(right)) {
                    (Operand::Integer, Operand::Integer) => Operand::Integer,
                    (Operand::Integer | Operand::Unknown, Operand::Integer | Operand::Unknown) => Operand::Unknown,
                    _ => Operand::Decimal,
                },
                _ => Operand::Decimal,
            },
            // A window's value by its kind (`lag(price) OVER (…)`, Floe's running frames): Polars'
            // product of two decimals kept only the larger scale.
            Expr::Function(function) if function.over.is_some() => self.kinds.resolver.value_kind(expr, self.kinds.relations).map_or(Operand::Other, Operand::of),
            Expr::Function(function) => self.kept_by(function),
            Expr::UnaryOp { op: UnaryOperator::Minus | UnaryOperator::Plus, expr } => self.operand(expr),
            Expr::Cast { data_type: DataType::Decimal(_) | DataType::Numeric(_), expr, .. } if reads_column(expr) => Operand::Decimal,
            Expr::Cast { data_type: DataType::Decimal(_) | DataType::Numeric(_), expr, .. } if super::literals::exact(expr).is_some() => {
                Operand::DecimalLiteral
            }
            Expr::Case { conditions, else_result, .. } => {
                let results = conditions.iter().map(|when| &when.result).chain(else_result.as_deref());
                results.filter(|result| !is_null_literal(result)).map(|result| self.operand(result)).reduce(Operand::widened).unwrap_or(Operand::Other)
            }
            _ => Operand::Other,
        }
    }

    /// What `abs(x)`, `round(x, n)` (as `floe_round_<n>`, or before that
    /// rewrite), `min`, `max` and `sum` return for a decimal or an integer
    /// `x`: a number of the same kind, so `abs(price) * round(rate, 2)` multiplies exactly too. The
    /// same for `COALESCE` of decimals and integers (`COALESCE(price, 0)`),
    /// which is a decimal where any of them is.
    fn kept_by(&self, function: &sqlparser::ast::Function) -> Operand {
        let name = function.name.to_string().to_ascii_lowercase();
        let Some(args) = plain_args(function) else { return Operand::Other };
        if name == "coalesce" {
            return args.iter().map(|arg| self.operand(arg)).reduce(Operand::widened).unwrap_or(Operand::Other);
        }
        let keeps = ["abs", "round", "min", "max", "sum"].contains(&name.as_str()) || round_digits(&name).is_some();
        match args.first() {
            Some(first) if keeps => self.operand(first),
            _ => Operand::Other,
        }
    }
}

enum Operand {
    Decimal,
    Integer,
    /// A column whose type the catalog does not tell (a CTE's, a subquery's
    /// value, a name relations type apart): Floe's functions decide by its
    /// type when it runs.
    Unknown,
    /// A number literal cast to DECIMAL (`rounding.rs` writes one with a
    /// fraction so): exact beside a column of a number type.
    DecimalLiteral,
    Other,
}

impl Operand {
    fn of(kind: ColumnKind) -> Operand {
        match kind {
            ColumnKind::Decimal(_) => Operand::Decimal,
            ColumnKind::Integer => Operand::Integer,
            _ => Operand::Other,
        }
    }

    /// The kind of a value that is one of two kinds.
    fn widened(self, other: Operand) -> Operand {
        match (self, other) {
            (Operand::Integer, Operand::Integer) => Operand::Integer,
            (Operand::Decimal | Operand::Integer, Operand::Decimal | Operand::Integer) => Operand::Decimal,
            (Operand::Other, _) | (_, Operand::Other) => Operand::Other,
            _ => Operand::Unknown,
        }
    }
}

fn is_aggregate(expr: &Expr) -> bool {
    matches!(expr, Expr::Function(function) if super::scope::is_aggregate(function))
}

#[cfg(test)]
mod tests {
    use super::super::scope::{rewritten_over, ColumnKind, Columns};

    fn rewritten(sql: &str) -> String {
        let mut columns = Columns::default();
        let kinds = [ColumnKind::Decimal(2), ColumnKind::Decimal(2), ColumnKind::Integer, ColumnKind::Other];
        columns.insert(vec!["t".into()], vec!["price".into(), "discount".into(), "qty".into(), "x".into()], &kinds);
        rewritten_over(sql, &columns, super::exact_arithmetic)
    }

    #[test]
    fn decimal_arithmetic_calls_the_exact_functions() {
        assert_eq!(
            rewritten("SELECT price * (1 - discount), qty * t.price, price * x, 2 * 3 FROM t WHERE price + discount > 1"),
            "SELECT floe_exact_mul(price, (floe_exact_sub(1, discount))), floe_exact_mul(qty, t.price), price * x, 2 * 3 \
             FROM t WHERE floe_exact_add(price, discount) > 1"
        );
        assert_eq!(
            rewritten("SELECT abs(price) % abs(2), price % CAST(0 AS DECIMAL(4,2)), count(*) FROM t GROUP BY abs(price) % abs(2), price"),
            "SELECT floe_exact_rem(abs(price), abs(2)), floe_exact_rem(price, CAST(0 AS DECIMAL(4,2))), count(*) FROM t \
             GROUP BY floe_exact_rem(abs(price), abs(2)), price"
        );
    }

    #[test]
    fn integer_arithmetic_calls_the_checked_functions() {
        assert_eq!(
            rewritten("SELECT qty * 2, qty + qty * qty, 2 * 3, qty % 2, qty * x, qty - price FROM t WHERE 1 - qty > 0"),
            "SELECT floe_exact_mul(qty, 2), floe_exact_add(qty, floe_exact_mul(qty, qty)), 2 * 3, qty % 2, qty * x, floe_exact_sub(qty, price) \
             FROM t WHERE floe_exact_sub(1, qty) > 0"
        );
        // A grouping key and the item repeating it stay for `widened_arithmetic.rs`.
        assert_eq!(
            rewritten("SELECT qty + 1, sum(qty * 2), max(qty) - 1 FROM t GROUP BY qty + 1"),
            "SELECT qty + 1, sum(floe_exact_mul(qty, 2)), floe_exact_sub(max(qty), 1) FROM t GROUP BY qty + 1"
        );
    }

    #[test]
    fn windows_have_their_argument_s_kind() {
        assert_eq!(
            rewritten("SELECT lag(price) OVER (ORDER BY qty) * price, floe_peers_min_p0_al(price, qty) OVER () * discount, rank() OVER (ORDER BY qty) * 2 FROM t"),
            "SELECT floe_exact_mul(lag(price) OVER (ORDER BY qty), price), floe_exact_mul(floe_peers_min_p0_al(price, qty) OVER (), discount), \
             floe_exact_mul(rank() OVER (ORDER BY qty), 2) FROM t"
        );
    }

    #[test]
    fn abs_round_signs_and_casts_keep_their_operands_kind() {
        assert_eq!(
            rewritten("SELECT abs(price) * floe_round_2(discount), -price * round(qty), CAST(x AS DECIMAL(10,2)) + 1, abs(x) * price, CAST(1.5 AS DECIMAL(10,2)) * 2, \
                       price * COALESCE(price, 32), COALESCE(qty, 1) * 2, COALESCE(price, x) * 2 FROM t"),
            "SELECT floe_exact_mul(abs(price), floe_round_2(discount)), floe_exact_mul(-price, round(qty)), \
             floe_exact_add(CAST(x AS DECIMAL(10,2)), 1), abs(x) * price, CAST(1.5 AS DECIMAL(10,2)) * 2, \
             floe_exact_mul(price, COALESCE(price, 32)), floe_exact_mul(COALESCE(qty, 1), 2), COALESCE(price, x) * 2 FROM t"
        );
        // A CASE of decimals is one; a column no relation has (a subquery's value) is decided when it runs.
        assert_eq!(
            rewritten("SELECT CASE WHEN qty > 1 THEN price ELSE NULL END * price, price * __floe_sq1.__floe_v, CASE WHEN qty > 1 THEN x ELSE price END * price FROM t"),
            "SELECT floe_exact_mul(CASE WHEN qty > 1 THEN price ELSE NULL END, price), floe_exact_mul(price, __floe_sq1.__floe_v), \
             CASE WHEN qty > 1 THEN x ELSE price END * price FROM t"
        );
    }

    #[test]
    fn columns_have_their_relation_s_kind() {
        // A derived table's DECIMAL, whatever the catalog's column of that name is; its INTEGER stays Polars'.
        assert_eq!(
            rewritten("SELECT d.v * d.v, d.n * d.n, COALESCE(d.x * d.x, 28) FROM (SELECT CAST(x AS DECIMAL(10,2)) AS v, qty AS n, price AS x FROM t) AS d"),
            "SELECT floe_exact_mul(d.v, d.v), floe_exact_mul(d.n, d.n), COALESCE(floe_exact_mul(d.x, d.x), 28) \
             FROM (SELECT CAST(x AS DECIMAL(10,2)) AS v, qty AS n, price AS x FROM t) AS d"
        );
        // A CTE's as a derived table's; one the CTE's SELECT does not type (a column list) is decided when it runs.
        assert_eq!(
            rewritten("WITH c AS (SELECT price AS p, qty AS n FROM t) SELECT c.p * c.p, c.n * c.n, p * 2 FROM c"),
            "WITH c AS (SELECT price AS p, qty AS n FROM t) SELECT floe_exact_mul(c.p, c.p), floe_exact_mul(c.n, c.n), floe_exact_mul(p, 2) FROM c"
        );
        let sql = "WITH c (p, n) AS (SELECT price, qty FROM t) SELECT c.p * c.p FROM c";
        assert_eq!(rewritten(sql), sql);
        // A relation whose columns are not known: by name; an integer beside one is checked when it runs.
        assert_eq!(rewritten("SELECT price * y, qty * y FROM u"), "SELECT floe_exact_mul(price, y), floe_exact_mul(qty, y) FROM u");
    }

    #[test]
    fn grouped_selects_change_only_aggregates_and_subqueries_stay() {
        assert_eq!(
            rewritten("SELECT price * qty, sum(price * qty) FROM t GROUP BY price * qty HAVING sum(price - discount) > 0"),
            "SELECT price * qty, sum(floe_exact_mul(price, qty)) FROM t GROUP BY price * qty \
             HAVING sum(floe_exact_sub(price, discount)) > 0"
        );
        // polars-sql plans an expression's subquery without Floe's functions.
        let sql = "SELECT price FROM t WHERE price > (SELECT max(price * qty) FROM t)";
        assert_eq!(rewritten(sql), sql);
    }

    #[test]
    fn decimal_means_are_exact_sums_over_counts() {
        assert_eq!(
            rewritten("SELECT qty, avg(price) AS a, avg(qty) FROM t GROUP BY qty HAVING avg(t.price) > 1"),
            "SELECT qty, floe_decimal_mean(sum(price), count(price)) AS a, avg(qty) FROM t GROUP BY qty \
             HAVING floe_decimal_mean(sum(t.price), count(t.price)) > 1"
        );
        assert_eq!(
            rewritten("WITH m AS (SELECT avg(price * discount) AS a FROM t) SELECT * FROM (SELECT avg(price) AS a FROM t) AS d, m"),
            "WITH m AS (SELECT floe_decimal_mean(sum(floe_exact_mul(price, discount)), count(floe_exact_mul(price, discount))) AS a FROM t) \
             SELECT * FROM (SELECT floe_decimal_mean(sum(price), count(price)) AS a FROM t) AS d, m"
        );
        for sql in [
            "SELECT avg(price) OVER (PARTITION BY qty) FROM t",
            "SELECT avg(DISTINCT price) FROM t",
            "SELECT avg(price) FILTER (WHERE qty > 1) FROM t",
            // polars-sql plans an expression's subquery without Floe's functions.
            "SELECT x FROM u WHERE x < (SELECT avg(price) FROM t)",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
