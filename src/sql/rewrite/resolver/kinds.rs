//! The kind of a value a query computes, where its expression says it for
//! certain: what the join and membership passes cast to the wider type of
//! two sides by, for a derived table's columns as for the catalog's.

use sqlparser::ast::{BinaryOperator, CeilFloorKind, DataType, DateTimeField, Expr, Function, Query, Select, SelectItem, SetExpr, TableFactor, UnaryOperator, Value};

use super::super::scope::{decimal_scale, integer_literal, is_null_literal, item_expr, leftmost_select, output_names, plain_args};
use super::super::ColumnKind::{self, Decimal, Float, Integer};
use super::{Resolver, Scope};
use crate::sql::functions::{round_digits, ExactOp, PeerAggregate, PeerFrame, RowsFrame, ValueFrame};

impl Resolver<'_> {
    /// The kind of a derived table's column, a number's: a join on it with a
    /// key of another kind (`ON e.dept_id = d.avg_x`) is cast as one on
    /// catalog columns is.
    pub(super) fn derived_kind(&self, subquery: &Query, column: &str) -> Option<ColumnKind> {
        let select = leftmost_select(&subquery.body)?;
        let position = output_names(select).iter().position(|name| name.as_deref().is_some_and(|name| name.eq_ignore_ascii_case(column)));
        let Some(position) = position else {
            // `SELECT * FROM r WHERE …`, a filter the join passes pushed down
            // (`SELECT *, e AS n …` of `sum_arguments.rs` alike): r's column.
            let [table] = select.from.as_slice() else { return None };
            let wildcard = matches!(select.projection.first(), Some(SelectItem::Wildcard(_)));
            return (wildcard && table.joins.is_empty()).then(|| self.kind_of(&table.relation, column)).flatten();
        };
        // Of a set operation, every side's item at that place: one kind, or
        // numbers of which one is a DOUBLE (Polars' common type then).
        let kinds: Option<Vec<ColumnKind>> = branches(&subquery.body)?.into_iter().map(|select| self.item_kind(select, position)).collect();
        common(&kinds?)
    }

    /// The kind of an unqualified column of the one unaliased derived table
    /// among `relations`, where every other relation's columns are known and
    /// lack it (`SELECT sum(x) FROM (SELECT x FROM t)`): no qualifier names it.
    pub fn unaliased_kind(&self, expr: &Expr, relations: &[(TableFactor, Option<Scope>)]) -> Option<ColumnKind> {
        let Expr::Identifier(ident) = expr else { return None };
        let unaliased = |factor: &TableFactor| matches!(factor, TableFactor::Derived { alias: None, .. });
        let mut derived = relations.iter().filter_map(|(factor, _)| match factor {
            TableFactor::Derived { alias: None, subquery, .. } => Some(subquery),
            _ => None,
        });
        let (Some(subquery), None) = (derived.next(), derived.next()) else { return None };
        let others_known = relations.iter().all(|(factor, scope)| unaliased(factor) || scope.is_some());
        (others_known && !self.in_scope(expr, relations)).then(|| self.derived_kind(subquery, &ident.value)).flatten()
    }

    fn item_kind(&self, select: &Select, position: usize) -> Option<ColumnKind> {
        let item = item_expr(select.projection.get(position)?)?;
        self.value_kind(item, &self.relations(&select.from))
    }

    /// The kind of a value computed from columns of `relations`. A DECIMAL
    /// is known only with its scale exact, which decides a cast.
    pub fn value_kind(&self, expr: &Expr, relations: &[(TableFactor, Option<Scope>)]) -> Option<ColumnKind> {
        match expr {
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => self.column_kind(expr, relations),
            Expr::Nested(inner) | Expr::UnaryOp { op: UnaryOperator::Minus | UnaryOperator::Plus, expr: inner } => self.value_kind(inner, relations),
            Expr::BinaryOp { left, op, right } => {
                let kinds = (self.value_kind(left, relations)?, self.value_kind(right, relations)?);
                arithmetic(op, kinds)
            }
            Expr::Cast { data_type, .. } => match data_type {
                DataType::Double(_) | DataType::DoublePrecision | DataType::Float(_) | DataType::Real | DataType::Float64 => Some(Float),
                data_type if super::super::scope::is_integer_type(data_type) => Some(Integer),
                _ => decimal_scale(data_type).and_then(|scale| u8::try_from(scale).ok()).map(Decimal),
            },
            // Polars reads a number with a point as a DOUBLE (DuckDB: a DECIMAL).
            Expr::Value(value) => match &value.value {
                Value::Number(text, _) if text.bytes().all(|b| b.is_ascii_digit()) => Some(Integer),
                Value::Number(text, _) if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') => Some(Float),
                _ => None,
            },
            // Every result of one kind (NULL is of any).
            Expr::Case { conditions, else_result, .. } => {
                let results = conditions.iter().map(|when| &when.result).chain(else_result.as_deref());
                let kinds: Option<Vec<ColumnKind>> = results.filter(|result| !is_null_literal(result)).map(|result| self.value_kind(result, relations)).collect();
                supertype(&kinds?)
            }
            Expr::Function(function) if function.over.is_none() => self.function_kind(function, relations),
            Expr::Function(function) => self.window_kind(function, relations),
            // Polars' ceil and floor keep a DECIMAL's type (DuckDB's drop its scale).
            Expr::Ceil { expr, field: CeilFloorKind::DateTimeField(DateTimeField::NoDateTime) }
            | Expr::Floor { expr, field: CeilFloorKind::DateTimeField(DateTimeField::NoDateTime) } => self.value_kind(expr, relations),
            _ => None,
        }
    }

    /// A window's value: a count or rank is a BIGINT; a neighbour's value, a
    /// running minimum, maximum or sum has its argument's kind.
    fn window_kind(&self, function: &Function, relations: &[(TableFactor, Option<Scope>)]) -> Option<ColumnKind> {
        let name = function.name.to_string().to_ascii_lowercase();
        let first_arg_kind = || self.value_kind(plain_args(function)?.first()?, relations);
        // As `window_functions.rs` writes frames Floe computes, the value first.
        let computed = PeerFrame::parse(&name)
            .map(|frame| frame.aggregate)
            .or_else(|| ValueFrame::parse(&name).map(|frame| frame.aggregate))
            .or_else(|| RowsFrame::parse(&name).map(|frame| frame.aggregate));
        match (computed, name.as_str()) {
            (Some(PeerAggregate::Count | PeerAggregate::Rows), _) => Some(Integer),
            (Some(PeerAggregate::Avg), _) => Some(Float),
            (Some(PeerAggregate::Sum | PeerAggregate::Min | PeerAggregate::Max), _) => first_arg_kind(),
            (None, "count" | "row_number" | "rank" | "dense_rank" | "ntile") => Some(Integer),
            (None, "lag" | "lead" | "first_value" | "last_value" | "nth_value" | "min" | "max" | "sum") => first_arg_kind(),
            _ => None,
        }
    }

    fn function_kind(&self, function: &Function, relations: &[(TableFactor, Option<Scope>)]) -> Option<ColumnKind> {
        let name = function.name.to_string().to_ascii_lowercase();
        if name == "count" {
            return Some(Integer);
        }
        let args = plain_args(function)?;
        let kind = |arg: &Expr| self.value_kind(arg, relations);
        match (name.as_str(), args.as_slice()) {
            ("avg" | "mean" | "stddev" | "stddev_samp" | "variance" | "var_samp", [_]) => Some(Float),
            ("coalesce" | "ifnull" | "nvl" | "greatest" | "least", _) => {
                let kinds: Option<Vec<ColumnKind>> = args.iter().filter(|arg| !is_null_literal(arg)).map(|arg| kind(arg)).collect();
                supertype(&kinds?)
            }
            ("nullif", [arg, _]) => kind(arg),
            ("min" | "max" | "sum" | "abs" | "any_value" | "first" | "last", [arg]) => kind(arg),
            ("round", [arg, ..]) => rounded(kind(arg)?, args.get(1).map_or(Some(0), |digits| integer_literal(digits))?),
            // As `rounding.rs` writes round, and `decimals.rs` exact arithmetic.
            (name, [arg]) if round_digits(name).is_some() => rounded(kind(arg)?, round_digits(name)?.into()),
            (name, [left, right]) => {
                let op = match ExactOp::parse(name)? {
                    ExactOp::Add => BinaryOperator::Plus,
                    ExactOp::Sub => BinaryOperator::Minus,
                    ExactOp::Mul => BinaryOperator::Multiply,
                    ExactOp::Rem => return None,
                };
                match (kind(left)?, kind(right)?) {
                    (Integer, Integer) => Some(Integer),
                    kinds => exact(&op, kinds),
                }
            }
            _ => None,
        }
    }
}

/// The SELECTs of a query's body, every side of its set operations; None
/// where one side is no SELECT (VALUES).
fn branches(body: &SetExpr) -> Option<Vec<&Select>> {
    match body {
        SetExpr::Select(select) => Some(vec![select]),
        SetExpr::Query(query) => branches(&query.body),
        SetExpr::SetOperation { left, right, .. } => {
            let mut selects = branches(left)?;
            selects.extend(branches(right)?);
            Some(selects)
        }
        _ => None,
    }
}

/// The kind of a set operation's column whose sides are of `kinds`: all
/// alike, or numbers of which one is a DOUBLE (Polars' common type then).
fn common(kinds: &[ColumnKind]) -> Option<ColumnKind> {
    let numbers = kinds.iter().all(|kind| matches!(kind, Integer | Float | Decimal(_)));
    match kinds {
        [first, rest @ ..] if numbers && rest.iter().all(|kind| kind == first) => Some(*first),
        _ if numbers && kinds.contains(&Float) => Some(Float),
        _ => None,
    }
}

/// The kind Polars gives one expression's values of `kinds` (a CASE's
/// results, a COALESCE's arguments), as its supertype does: a DOUBLE with
/// any DOUBLE, else a DECIMAL of the largest scale with any DECIMAL.
fn supertype(kinds: &[ColumnKind]) -> Option<ColumnKind> {
    let (first, rest) = kinds.split_first()?;
    if rest.iter().all(|kind| kind == first) {
        return Some(*first);
    }
    if !kinds.iter().all(|kind| matches!(kind, Integer | Float | Decimal(_))) {
        return None;
    }
    if kinds.contains(&Float) {
        return Some(Float);
    }
    kinds.iter().filter_map(|kind| if let Decimal(scale) = kind { Some(*scale) } else { None }).max().map(Decimal)
}

/// `+ - * /` of two kinds, as Floe computes them: in DOUBLE where either is
/// one (and every division: `divisions_in_double`), exactly for DECIMALs.
fn arithmetic(op: &BinaryOperator, kinds: (ColumnKind, ColumnKind)) -> Option<ColumnKind> {
    use BinaryOperator::{Divide, Minus, Multiply, Plus};
    match (op, kinds) {
        (Plus | Minus | Multiply, (Integer, Integer)) => Some(Integer),
        (Plus | Minus | Multiply | Divide, (Integer | Float, Integer | Float) | (Decimal(_), Float) | (Float, Decimal(_))) => Some(Float),
        // A product of DECIMALs is Polars' (the larger scale) until
        // `decimals.rs` makes it exact (the sum of them): not known here.
        // With an integer both are the DECIMAL's scale.
        (Plus | Minus, _) | (Multiply, (Integer, Decimal(_)) | (Decimal(_), Integer)) => exact(op, kinds),
        _ => None,
    }
}

/// A DECIMAL's sum, difference or exact product with a DECIMAL or an integer (scale 0).
fn exact(op: &BinaryOperator, kinds: (ColumnKind, ColumnKind)) -> Option<ColumnKind> {
    let scale = |kind: ColumnKind| match kind {
        Integer => Some(0),
        Decimal(scale) => Some(scale),
        _ => None,
    };
    if !matches!(kinds, (Decimal(_), _) | (_, Decimal(_))) {
        return None;
    }
    let (left, right) = (scale(kinds.0)?, scale(kinds.1)?);
    match op {
        BinaryOperator::Plus | BinaryOperator::Minus => Some(Decimal(left.max(right))),
        BinaryOperator::Multiply => Some(Decimal(left.checked_add(right)?)),
        _ => None,
    }
}

/// A value of `kind` rounded to `digits` as `floe_round_<n>` types it: a
/// DOUBLE or an integer stays one, a DECIMAL comes back at that scale where
/// it had more digits (`round(d, -1)` at scale 0, `round(d, 4)` of a scale
/// of 2 at 2).
fn rounded(kind: ColumnKind, digits: i64) -> Option<ColumnKind> {
    match kind {
        Float | Integer => Some(kind),
        Decimal(scale) => Some(Decimal(scale.min(u8::try_from(digits.max(0)).unwrap_or(u8::MAX)))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::scope::parse_query;
    use super::super::super::{ColumnKind, Columns};
    use super::super::Resolver;
    use super::ColumnKind::{Decimal, Float, Integer};

    /// The kind of each item of `sql`'s SELECT, over `t(i INTEGER, f DOUBLE, d DECIMAL(_, 2))`.
    fn kinds(sql: &str) -> Vec<Option<ColumnKind>> {
        let mut columns = Columns::default();
        columns.insert(vec!["t".into()], vec!["i".into(), "f".into(), "d".into()], &[Integer, Float, Decimal(2)]);
        let query = parse_query(sql).expect("parses");
        let resolver = Resolver::new(&query, &columns);
        let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else { panic!("a SELECT") };
        let relations = resolver.relations(&select.from);
        let items = select.projection.iter().map(|item| super::item_expr(item).expect("an expression"));
        items.map(|item| resolver.value_kind(item, &relations)).collect()
    }

    #[test]
    fn decimals_are_known_only_with_their_scale_exact() {
        assert_eq!(
            kinds("SELECT d + i, d - d, d * d, floe_exact_mul(d, d), round(d, 0), floe_round_1(d), CASE WHEN i > 0 THEN d ELSE NULL END FROM t"),
            [Some(Decimal(2)), Some(Decimal(2)), None, Some(Decimal(4)), Some(Decimal(0)), Some(Decimal(1)), Some(Decimal(2))]
        );
        // A HUGEINT is past what Floe types: its arithmetic is Polars' in 128 bits.
        assert_eq!(kinds("SELECT floe_exact_add(i, 1), floe_exact_mul(i, d), CAST(i AS HUGEINT) FROM t"), [Some(Integer), Some(Decimal(2)), None]);
        assert_eq!(
            kinds("SELECT lag(i) OVER (ORDER BY f), sum(d) OVER (), rank() OVER (ORDER BY i), percent_rank() OVER (ORDER BY i), any_value(f) FROM t"),
            [Some(Integer), Some(Decimal(2)), Some(Integer), None, Some(Float)]
        );
        assert_eq!(kinds("SELECT d * d, round(i, 1), CASE WHEN i > 0 THEN d ELSE f END, greatest(i, 2), round(i, -1) FROM t"), [None, Some(Integer), Some(Float), Some(Integer), Some(Integer)]);
        assert_eq!(kinds("SELECT round(d, -1), round(d, 4), floe_round_m2(d), floe_round_3(d) FROM t"), [Some(Decimal(0)), Some(Decimal(2)), Some(Decimal(0)), Some(Decimal(2))]);
        // A CASE of a DECIMAL and an integer is that DECIMAL, as Polars' supertype is.
        assert_eq!(kinds("SELECT CASE WHEN i > 0 THEN d ELSE i END, CASE WHEN i > 0 THEN d * i ELSE 8 END FROM t"), [Some(Decimal(2)), Some(Decimal(2))]);
        assert_eq!(kinds("SELECT d * i, d + f, CAST(f AS DECIMAL(12,1)), CAST(i AS NUMERIC(9)) FROM t"), [Some(Decimal(2)), Some(Float), Some(Decimal(1)), Some(Decimal(0))]);
        // A set operation's sides must agree.
        assert_eq!(
            kinds("SELECT u.v, w.v, x.v FROM (SELECT d AS v FROM t UNION ALL SELECT d + 0.001 FROM t) AS u, (SELECT i AS v FROM t UNION SELECT i + 1 FROM t) AS w, (SELECT d AS v FROM t UNION SELECT i FROM t) AS x"),
            [Some(Float), Some(Integer), None]
        );
        // Columns renamed by the alias are not the catalog's of those names.
        assert_eq!(kinds("SELECT y.d FROM t AS y(d, f, i)"), [None]);
    }

    #[test]
    fn a_coalesce_is_of_its_arguments_kind() {
        assert_eq!(
            kinds("SELECT COALESCE(f, 20), COALESCE(i, NULL, 2), sum(round(COALESCE(f, 20), 2)), COALESCE(d, d), COALESCE(d, i), nullif(d, 0), COALESCE(d, f), COALESCE(d, 'x') FROM t"),
            [Some(Float), Some(Integer), Some(Float), Some(Decimal(2)), Some(Decimal(2)), Some(Decimal(2)), Some(Float), None]
        );
    }

    #[test]
    fn numbers_with_a_point_are_doubles_as_polars_reads_them() {
        assert_eq!(kinds("SELECT 1.5, abs(40.90) + i, 7, count(*) FROM t"), [Some(Float), Some(Float), Some(Integer), Some(Integer)]);
        assert_eq!(kinds("SELECT ceil(d), floor(f), ceil(i) FROM t"), [Some(Decimal(2)), Some(Float), Some(Integer)]);
    }

    #[test]
    fn a_filtered_relation_s_columns_keep_their_kinds() {
        assert_eq!(kinds("SELECT s.d, s.i FROM (SELECT * FROM t WHERE i > 1) AS s"), [Some(Decimal(2)), Some(Integer)]);
        // SUM arguments computed below a grouping, `sum_arguments.rs`.
        assert_eq!(kinds("SELECT s.d, sum(s.n), sum(n) FROM (SELECT *, i - f AS n FROM t WHERE i > 1) AS s"), [Some(Decimal(2)), Some(Float), Some(Float)]);
    }
}
