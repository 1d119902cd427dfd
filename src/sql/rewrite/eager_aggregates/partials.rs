//! What a grouped SELECT's aggregates read, and the partial values each is
//! computed from once its side is grouped first.

use std::collections::{BTreeSet, HashMap};
use std::ops::ControlFlow;

use sqlparser::ast::{Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments, TableFactor};

use crate::sql::visit::{Visit, Visitor};
use super::super::aggregates::{aggregate_call, holds_aggregate, opens_subquery, window_call};
use super::super::scope::*;
use super::EAGER;

/// What the outputs, keys, HAVING and ORDER BY read: each aggregate call
/// (once), the relations their arguments read, and the relations read
/// outside them; `refused` where something has no partials or no owner.
pub(super) struct Reads<'a> {
    scopes: &'a [Scope],
    pub calls: Vec<Function>,
    pub aggregated: BTreeSet<usize>,
    pub named: BTreeSet<usize>,
    inside: usize,
    pub refused: bool,
}

impl<'a> Reads<'a> {
    pub fn new(scopes: &'a [Scope]) -> Self {
        Self { scopes, calls: Vec::new(), aggregated: BTreeSet::new(), named: BTreeSet::new(), inside: 0, refused: false }
    }

    /// `columns`: whether columns outside aggregates are the query's own
    /// (ORDER BY may name an output instead).
    pub fn read(&mut self, expr: &Expr, columns: bool) {
        struct Walk<'r, 'a> {
            reads: &'r mut Reads<'a>,
            columns: bool,
        }
        impl Visitor for Walk<'_, '_> {
            type Break = ();
            fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
                let reads = &mut *self.reads;
                if opens_subquery(expr) || window_call(expr) {
                    reads.refused = true;
                    return ControlFlow::Break(());
                }
                if aggregate_call(expr) {
                    if let (Expr::Function(function), 0) = (expr, reads.inside) {
                        reads.call(function.clone());
                    }
                    reads.inside += 1;
                } else if reads.inside == 0 && self.columns && is_column(expr) {
                    match owning_relations(expr, reads.scopes) {
                        Some(owners) => reads.named.extend(owners),
                        None => reads.refused = true,
                    }
                }
                ControlFlow::Continue(())
            }
            fn post_visit_expr(&mut self, expr: &Expr) -> ControlFlow<()> {
                self.reads.inside -= usize::from(aggregate_call(expr));
                ControlFlow::Continue(())
            }
        }
        let _ = expr.visit(&mut Walk { reads: self, columns });
    }

    fn call(&mut self, function: Function) {
        let plain = function.filter.is_none() && function.within_group.is_empty() && function.null_treatment.is_none();
        let argument = match argument(&function) {
            Some(Some(argument)) => owning_relations(argument, self.scopes).filter(|_| !holds_aggregate(argument)),
            Some(None) => Some(BTreeSet::new()),
            None => None,
        };
        match argument.filter(|_| plain && Partial::of(&function).is_some()) {
            Some(owners) => self.aggregated.extend(owners),
            None => self.refused = true,
        }
        if !self.calls.iter().any(|c| c.to_string() == function.to_string()) {
            self.calls.push(function);
        }
    }
}

/// A call's one plain argument (`Some(None)` for `count(*)`).
fn argument(function: &Function) -> Option<Option<&Expr>> {
    let FunctionArguments::List(list) = &function.args else { return None };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() || list.args.len() != 1 {
        return None;
    }
    match &list.args[0] {
        FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(Some(expr)),
        FunctionArg::Unnamed(FunctionArgExpr::Wildcard) if function.name.to_string().eq_ignore_ascii_case("count") => Some(None),
        _ => None,
    }
}

#[derive(Clone, Copy)]
enum Partial {
    Sum,
    Count,
    Min,
    Max,
    Mean,
}

impl Partial {
    fn of(function: &Function) -> Option<Self> {
        Some(match function.name.to_string().to_ascii_lowercase().as_str() {
            "sum" => Self::Sum,
            "count" => Self::Count,
            "min" => Self::Min,
            "max" => Self::Max,
            "avg" | "mean" => Self::Mean,
            _ => return None,
        })
    }
}

/// The partial groups' items for every call, and what each call becomes.
pub(super) struct Partials {
    pub items: Vec<String>,
    /// By the call's SQL.
    pub replacements: HashMap<String, Expr>,
}

pub(super) fn partials(resolver: &Resolver, calls: &[Function], relations: &[(TableFactor, Option<Scope>)]) -> Option<Partials> {
    let mut items = Vec::new();
    let mut replacements = HashMap::new();
    for (i, call) in calls.iter().enumerate() {
        let argument = argument(call)?;
        let value = argument.map_or("*".to_string(), ToString::to_string);
        let name = |part: &str| format!("{EAGER}_a{i}{part}");
        let read = |part: &str| format!("{EAGER}.{}", name(part));
        let outer = match Partial::of(call)? {
            Partial::Sum | Partial::Min | Partial::Max => {
                let function = call.name.to_string();
                items.push(format!("{function}({value}) AS {}", name("")));
                format!("{function}({})", read(""))
            }
            // A grand total over no rows has no partials: its count is 0.
            Partial::Count => {
                items.push(format!("CAST(count({value}) AS BIGINT) AS {}", name("")));
                format!("coalesce(sum({}), 0)", read(""))
            }
            // Of integers only: Polars' mean of a REAL is a REAL, and a DECIMAL's has its own exact form
            // (decimals.rs). Summed as Polars' mean sums them, in DOUBLE: a BIGINT sum could wrap.
            Partial::Mean => {
                if resolver.value_kind(argument?, relations)? != ColumnKind::Integer {
                    return None;
                }
                items.push(format!("sum(CAST({value} AS DOUBLE)) AS {}", name("s")));
                items.push(format!("CAST(count({value}) AS BIGINT) AS {}", name("c")));
                format!("(sum({}) / CAST(sum({}) AS DOUBLE))", read("s"), read("c"))
            }
        };
        replacements.insert(call.to_string(), parse_expr(&outer)?);
    }
    Some(Partials { items, replacements })
}
