//! `x [NOT] IN (SELECT y FROM … WHERE <correlated>)`, a conjunct of WHERE.
//! polars-sql plans IN only uncorrelated: it failed ("no table or struct
//! column named 'o'"; "joining with repeated key names" where the
//! correlation is `y = x` itself) and answered a correlated NOT IN wrongly
//! where the outer value came from an outer join's NULLs. As the EXISTS
//! forms Floe plans (semi and anti joins; counts where correlated by an
//! inequality), in SQL's three-valued logic (a filter drops unknown):
//!
//! - IN: `EXISTS (SELECT 1 FROM … WHERE … AND y = x)` (correlated by an
//!   inequality, `subquery.rs` counts the members equal to x instead);
//! - NOT IN: no member equals x, none is NULL, and x is not NULL unless
//!   there are no members: `NOT EXISTS (… AND y = x) AND NOT EXISTS (… AND
//!   y IS NULL) AND (x IS NOT NULL OR NOT EXISTS (…))`; correlated by an
//!   inequality, the same tests as counts of rows that are 0, which
//!   `subquery.rs` computes per outer row.

use sqlparser::ast::{BinaryOperator, Expr, Ident, SelectItem};

use super::aggregates::holds_aggregate;
use super::scope::{conjuncts, correlate, from_text, has_group_by, is_column, joined_by, owner, plain_select, replace_outside_subqueries, sides, unnested, Resolver, Scope, Side};

pub(super) fn as_exists(conjunct: &Expr, resolver: &Resolver, outer: &[Scope]) -> Option<String> {
    let membership = Membership::of(conjunct, resolver, outer)?;
    // Correlated by an inequality, an IN is a count (`subquery.rs`); keyed
    // by an expression, which polars-sql's EXISTS join refuses, one too.
    if membership.by_inequality || !membership.keyed_by_columns() {
        return None;
    }
    let (value, member) = (&membership.value, membership.member);
    let exists = |test: Option<Expr>| format!("EXISTS (SELECT 1 FROM {})", membership.rows(test));
    let equal = (!already_equal(membership.selection, member, value))
        .then(|| Expr::BinaryOp { left: Box::new(operand(member)), op: BinaryOperator::Eq, right: Box::new(operand(value)) });
    if !membership.negated {
        return Some(exists(equal));
    }
    let equal = equal.unwrap_or(Expr::value(sqlparser::ast::Value::Boolean(true)));
    let mut parts = vec![format!("NOT {}", exists(Some(equal))), format!("NOT {}", exists(Some(Expr::IsNull(Box::new(operand(member))))))];
    if may_be_null(value) {
        parts.push(format!("({} IS NOT NULL OR NOT {})", operand(value), exists(None)));
    }
    Some(format!("({})", parts.join(" AND ")))
}

/// `x NOT IN (SELECT y …)` correlated by an inequality, or `x [NOT] IN`
/// whose x or y is an expression, which no semi or anti join polars-sql
/// plans can take: `as_counts`, which `subquery.rs` computes per outer row.
pub(super) fn unjoinable_as_counts(conjunct: &Expr, resolver: &Resolver, outer: &[Scope]) -> Option<String> {
    let membership = Membership::of(conjunct, resolver, outer)?;
    ((membership.negated && membership.by_inequality) || !membership.keyed_by_columns()).then(|| membership.counted())
}

/// A correlated `x [NOT] IN (SELECT y …)` as tests of counts of the
/// subquery's rows, true where SQL's answer is and false otherwise (so only
/// where unknown filters as false): IN, some row has y = x; NOT IN, none
/// has, none has a NULL y, and x is not NULL unless there are no rows.
pub(super) fn as_counts(conjunct: &Expr, resolver: &Resolver, outer: &[Scope]) -> Option<String> {
    Some(Membership::of(conjunct, resolver, outer)?.counted())
}

/// A correlated `x [NOT] IN (SELECT y FROM … WHERE …)` taken apart.
struct Membership<'a> {
    /// x, its columns qualified by the outer relations they belong to.
    value: Expr,
    member: &'a Expr,
    negated: bool,
    by_inequality: bool,
    from: String,
    selection: Option<&'a Expr>,
}

impl<'a> Membership<'a> {
    fn of(conjunct: &'a Expr, resolver: &Resolver, outer: &[Scope]) -> Option<Self> {
        let Expr::InSubquery { expr: value, subquery, negated } = conjunct else { return None };
        if matches!(value.as_ref(), Expr::Tuple(_)) || subquery.with.is_some() || subquery.limit_clause.is_some() {
            return None;
        }
        if resolver.self_contained(subquery) {
            return None;
        }
        let select = plain_select(subquery)?;
        let [SelectItem::UnnamedExpr(member) | SelectItem::ExprWithAlias { expr: member, .. }] = select.projection.as_slice() else { return None };
        if select.having.is_some() || has_group_by(select) || holds_aggregate(member) {
            return None;
        }
        let inner = resolver.scopes(&select.from)?;
        // x belongs to the outer query, where SQL resolves its names; read
        // inside the subquery, none of its qualifiers may be the subquery's
        // own. y must be the subquery's alone.
        let value = qualified(value, outer)?;
        if sides(&value, &inner, outer)?.contains(&Side::Inner) || sides(member, &inner, outer)?.contains(&Side::Outer) {
            return None;
        }
        let correlation = correlate(select, &inner, outer)?;
        let by_inequality = correlation.links.iter().any(|(op, ..)| *op != BinaryOperator::Eq);
        let (from, selection) = (from_text(select), select.selection.as_ref());
        Some(Membership { value, member, negated: *negated, by_inequality, from, selection })
    }

    /// Whether `y = x` is a join key or a filter (a literal side) to
    /// polars-sql's EXISTS join. A window's value stays in that form as
    /// before: its refusal names frames only Floe computes (`scalars.rs`).
    fn keyed_by_columns(&self) -> bool {
        let keyable = |side: &Expr| is_column(side) || matches!(side, Expr::Value(_));
        super::aggregates::holds_window(self.member) || (keyable(&self.value) && keyable(self.member))
    }

    fn counted(&self) -> String {
        let (value, member) = (operand(&self.value), operand(self.member));
        let count = |test: Option<Expr>| format!("(SELECT count(*) FROM {})", self.rows(test));
        let equal = Expr::BinaryOp { left: Box::new(member.clone()), op: BinaryOperator::Eq, right: Box::new(value.clone()) };
        if !self.negated {
            return format!("{} > 0", count(Some(equal)));
        }
        let mut parts = vec![format!("{} = 0", count(Some(equal))), format!("{} = 0", count(Some(Expr::IsNull(Box::new(member)))))];
        if may_be_null(&self.value) {
            parts.push(format!("({value} IS NOT NULL OR {} = 0)", count(None)));
        }
        format!("({})", parts.join(" AND "))
    }

    /// `<FROM> [WHERE <its filters> AND <test>]`: the subquery's rows passing `test` too.
    fn rows(&self, test: Option<Expr>) -> String {
        let filters = self.selection.map(conjuncts).unwrap_or_default().into_iter().cloned();
        let filter = joined_by(BinaryOperator::And, filters.chain(test).collect());
        format!("{}{}", self.from, filter.map_or(String::new(), |filter| format!(" WHERE {filter}")))
    }
}

/// `value` with each bare column named by the one outer relation that has
/// it; None when none or several have it.
pub(super) fn qualified(value: &Expr, outer: &[Scope]) -> Option<Expr> {
    let mut value = value.clone();
    let mut known = true;
    replace_outside_subqueries(&mut value, |expr| {
        let Expr::Identifier(name) = &*expr else { return };
        match owner(expr, outer) {
            Some(index) => *expr = Expr::CompoundIdentifier(vec![Ident::new(outer[index].qualifier.clone()), name.clone()]),
            None => known = false,
        }
    });
    known.then_some(value)
}

/// Whether `value` can be NULL: anything but a literal that is not NULL.
fn may_be_null(value: &Expr) -> bool {
    !matches!(value, Expr::Value(literal) if literal.value != sqlparser::ast::Value::Null)
}

/// A column or literal as it is, anything else in parentheses: an operand
/// that keeps its meaning beside `=` and `IS NULL`.
fn operand(expr: &Expr) -> Expr {
    if is_column(expr) || matches!(expr, Expr::Value(_)) { expr.clone() } else { Expr::Nested(Box::new(expr.clone())) }
}

/// Whether the subquery's WHERE already says `y = x` (either way round):
/// polars-sql refuses a join on the same keys twice.
fn already_equal(selection: Option<&Expr>, member: &Expr, value: &Expr) -> bool {
    let (member, value) = (unnested(member).to_string(), unnested(value).to_string());
    selection.map(conjuncts).unwrap_or_default().iter().any(|conjunct| match unnested(conjunct) {
        Expr::BinaryOp { left, op: BinaryOperator::Eq, right } => {
            let (l, r) = (unnested(left).to_string(), unnested(right).to_string());
            (l == member && r == value) || (l == value && r == member)
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::super::scope::{columns_of, rewritten_over};

    #[test]
    fn correlated_memberships_are_exists_forms() {
        let columns = columns_of(&[("s", &["id", "qty", "region"]), ("n", &["a", "b", "s"])]);
        let rewritten = |sql| rewritten_over(sql, &columns, super::super::quantified::rewrite);
        assert_eq!(
            rewritten("SELECT o.id FROM s AS o WHERE o.id > 1 AND o.qty IN (SELECT i.a FROM n AS i WHERE i.s = o.region)"),
            "SELECT o.id FROM s AS o WHERE (o.id > 1) AND EXISTS (SELECT 1 FROM n AS i WHERE i.s = o.region AND i.a = o.qty)"
        );
        // The correlation already says y = x: not a second time.
        assert_eq!(
            rewritten("SELECT o.id FROM s AS o WHERE o.qty IN (SELECT i.b FROM n AS i WHERE i.b = o.qty)"),
            "SELECT o.id FROM s AS o WHERE EXISTS (SELECT 1 FROM n AS i WHERE i.b = o.qty)"
        );
        assert_eq!(
            rewritten("SELECT o.id FROM s AS o WHERE o.qty NOT IN (SELECT i.a FROM n AS i WHERE i.s = o.region AND (i.b = 2 OR i.b = 3))"),
            "SELECT o.id FROM s AS o WHERE (NOT EXISTS (SELECT 1 FROM n AS i WHERE i.s = o.region AND (i.b = 2 OR i.b = 3) AND i.a = o.qty) \
             AND NOT EXISTS (SELECT 1 FROM n AS i WHERE i.s = o.region AND (i.b = 2 OR i.b = 3) AND i.a IS NULL) \
             AND (o.qty IS NOT NULL OR (o.region IS NULL OR NOT (o.region IN (SELECT __floe_in.__floe_v FROM \
             (SELECT i.s AS __floe_v FROM n AS i WHERE (i.b = 2 OR i.b = 3) AND i.s IS NOT NULL) AS __floe_in)))))"
        );
        // The EXISTS under the OR is an IN (`quantified.rs`). A value never
        // NULL needs no third test.
        assert_eq!(
            rewritten("SELECT o.id FROM s AS o WHERE 1 NOT IN (SELECT i.a FROM n AS i WHERE i.s = o.region)"),
            "SELECT o.id FROM s AS o WHERE (NOT EXISTS (SELECT 1 FROM n AS i WHERE i.s = o.region AND i.a = 1) \
             AND NOT EXISTS (SELECT 1 FROM n AS i WHERE i.s = o.region AND i.a IS NULL))"
        );
        // Correlated by an inequality: counts.
        assert_eq!(
            rewritten("SELECT o.id FROM s AS o WHERE o.id NOT IN (SELECT i.a FROM n AS i WHERE i.b < o.qty)"),
            "SELECT o.id FROM s AS o WHERE ((SELECT count(*) FROM n AS i WHERE i.b < o.qty AND i.a = o.id) = 0 \
             AND (SELECT count(*) FROM n AS i WHERE i.b < o.qty AND i.a IS NULL) = 0 \
             AND (o.id IS NOT NULL OR (SELECT count(*) FROM n AS i WHERE i.b < o.qty) = 0))"
        );
        // Keyed by an expression, which polars-sql's EXISTS join refuses: counts.
        assert_eq!(
            rewritten("SELECT o.id FROM s AS o WHERE o.id + 1 IN (SELECT i.a FROM n AS i WHERE i.s = o.region)"),
            "SELECT o.id FROM s AS o WHERE (SELECT count(*) FROM n AS i WHERE i.s = o.region AND i.a = (o.id + 1)) > 0"
        );
        // Under an OR (no NOT above), where unknown filters as false: counts.
        assert_eq!(
            rewritten("SELECT o.id FROM s AS o WHERE o.id > 1 OR o.qty IN (SELECT i.a FROM n AS i WHERE i.s = o.region AND i.b = o.id)"),
            "SELECT o.id FROM s AS o WHERE o.id > 1 OR (SELECT count(*) FROM n AS i WHERE i.s = o.region AND i.b = o.id AND i.a = o.qty) > 0"
        );
        // Under a NOT, the NOT moves inward first.
        assert_eq!(
            rewritten("SELECT o.id FROM s AS o WHERE NOT (o.id > 1 OR o.qty IN (SELECT i.a FROM n AS i WHERE i.s = o.region AND i.b = o.id))"),
            "SELECT o.id FROM s AS o WHERE (NOT (o.id > 1)) AND (NOT EXISTS (SELECT 1 FROM n AS i WHERE i.s = o.region AND i.b = o.id AND i.a = o.qty) \
             AND NOT EXISTS (SELECT 1 FROM n AS i WHERE i.s = o.region AND i.b = o.id AND i.a IS NULL) \
             AND (o.qty IS NOT NULL OR ((SELECT count(*) FROM n AS i WHERE i.s = o.region AND i.b = o.id) = 0)))"
        );
        // `NOT (x IN …)` is `x NOT IN …`.
        assert_eq!(
            rewritten("SELECT o.id FROM s AS o WHERE NOT (o.id IN (SELECT i.a FROM n AS i WHERE i.b < o.qty))"),
            rewritten("SELECT o.id FROM s AS o WHERE o.id NOT IN (SELECT i.a FROM n AS i WHERE i.b < o.qty)")
        );
        // x's bare columns are the outer query's, whatever the subquery holds.
        assert_eq!(
            rewritten("SELECT id FROM s AS o WHERE qty IN (SELECT i.qty FROM s AS i WHERE i.region = o.region)"),
            "SELECT id FROM s AS o WHERE EXISTS (SELECT 1 FROM s AS i WHERE i.region = o.region AND i.qty = o.qty)"
        );
        // Uncorrelated, or x read as the subquery's own column: as written.
        for sql in [
            "SELECT o.id FROM s AS o WHERE o.qty IN (SELECT i.a FROM n AS i WHERE i.b > 2)",
            "SELECT o.id FROM s AS o WHERE b IN (SELECT i.a FROM n AS i WHERE i.s = o.region)",
        ] {
            assert_eq!(rewritten(sql), sql);
        }
    }
}
