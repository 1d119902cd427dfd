//! Which outer conjuncts restate the subquery's own filters and
//! correlations (`outer_windows.rs`), compared with every column named by
//! its relation, so `p_key = ps_part` and `ps_part = p.p_key` are one.

use sqlparser::ast::{BinaryOperator, Expr, Ident};
use crate::sql::visit::{VisitMut, VisitorMut};

use super::super::scope::*;
use crate::sql::volatile::is_volatile;

/// The outer conjuncts but the subquery's, as written, when they hold each
/// of its filters (`local`) and correlations (`keys`, canonical) and
/// otherwise read only the `extra` relations: one reading a subquery
/// relation would narrow what the window sees below what the subquery reads.
pub(super) fn rest_of_where(all: &[&Expr], at: usize, local: &[String], keys: &[(String, String, String)], outer: &[Scope], extra: &[Scope]) -> Option<Vec<String>> {
    let (mut locals_met, mut keys_met) = (vec![false; local.len()], vec![false; keys.len()]);
    let mut rest = Vec::new();
    for (_, conjunct) in all.iter().enumerate().filter(|(i, _)| *i != at) {
        let written = canonical(conjunct, outer)?;
        let mirrored = mirrored_equality(conjunct).and_then(|m| canonical(&m, outer));
        let is = |target: &String| *target == written || mirrored.as_ref() == Some(target);
        if let Some(l) = local.iter().position(is) {
            locals_met[l] = true;
        } else if let Some(k) = keys.iter().position(|(inner, outer, _)| is(&format!("{inner} = {outer}"))) {
            keys_met[k] = true;
        } else if sides(conjunct, extra, &[]).is_none() || is_volatile(*conjunct) {
            // `random() < 0.5` below the window would sample what it reads.
            return None;
        }
        rest.push(conjunct.to_string());
    }
    (locals_met.iter().all(|m| *m) && keys_met.iter().all(|m| *m)).then_some(rest)
}

/// `expr` with every column named by its relation's qualifier (the first
/// of `scopes` that has it), lower-cased: conjuncts written with and
/// without qualifiers compare equal. None when a name is unknown.
pub(super) fn canonical(expr: &Expr, scopes: &[Scope]) -> Option<String> {
    struct Qualify<'a>(&'a [Scope], bool);
    impl VisitorMut for Qualify<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, expr: &mut Expr) -> std::ops::ControlFlow<()> {
            let qualified = match expr {
                Expr::Identifier(name) => self.0.iter().find(|s| s.has_column(&name.value)).map(|s| (s.qualifier.clone(), name.value.clone())),
                Expr::CompoundIdentifier(parts) if parts.len() == 2 => Some((parts[0].value.clone(), parts[1].value.clone())),
                Expr::CompoundIdentifier(_) => None,
                _ => return std::ops::ControlFlow::Continue(()),
            };
            match qualified {
                Some((qualifier, column)) => {
                    *expr = Expr::CompoundIdentifier(vec![Ident::new(qualifier.to_ascii_lowercase()), Ident::new(column.to_ascii_lowercase())]);
                    std::ops::ControlFlow::Continue(())
                }
                None => {
                    self.1 = false;
                    std::ops::ControlFlow::Break(())
                }
            }
        }
    }
    let mut copy = expr.clone();
    let mut qualify = Qualify(scopes, true);
    let _ = copy.visit(&mut qualify);
    qualify.1.then(|| unnested(&copy).to_string())
}

/// `b = a` for a conjunct `a = b`.
fn mirrored_equality(conjunct: &Expr) -> Option<Expr> {
    let Expr::BinaryOp { left, op: BinaryOperator::Eq, right } = unnested(conjunct) else { return None };
    Some(Expr::BinaryOp { left: right.clone(), op: BinaryOperator::Eq, right: left.clone() })
}
