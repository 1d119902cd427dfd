//! Small helpers over sqlparser's expressions: building calls, splitting
//! and joining conjunctions, reading columns, arguments and literals.

use sqlparser::ast::{BinaryOperator, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName};
use sqlparser::dialect::GenericDialect;
use sqlparser::parser::Parser;

/// A signed integer type, in any of the spellings SQL dialects use.
pub(crate) fn is_integer_type(data_type: &sqlparser::ast::DataType) -> bool {
    use sqlparser::ast::DataType::*;
    matches!(data_type, Int(_) | Integer(_) | BigInt(_) | SmallInt(_) | TinyInt(_) | Int2(_) | Int4(_) | Int8(_) | Int16 | Int32 | Int64)
}

pub(crate) fn parse_expr(sql: &str) -> Option<Expr> {
    Parser::new(&GenericDialect {}).try_with_sql(sql).ok()?.parse_expr().ok()
}

/// A call of the function `name` with plain arguments.
pub(crate) fn call<const N: usize>(name: &str, args: [Expr; N]) -> Expr {
    call_with(name, args.into())
}

/// A call of the function `name` with as many plain arguments as `args` holds.
pub(crate) fn call_with(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args.into_iter().map(|arg| FunctionArg::Unnamed(FunctionArgExpr::Expr(arg))).collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// The parts of `expr` joined by `op`, through parentheses around more of them.
pub(crate) fn flatten<'a>(expr: &'a Expr, op: &BinaryOperator, into: &mut Vec<&'a Expr>) {
    match expr {
        Expr::BinaryOp { left, op: found, right } if found == op => {
            flatten(left, op, into);
            flatten(right, op, into);
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: found, .. } if found == op) => flatten(inner, op, into),
        other => into.push(other),
    }
}

/// The parts joined by AND or OR; an OR inside an AND keeps its parentheses.
pub(crate) fn joined_by(op: BinaryOperator, parts: Vec<Expr>) -> Option<Expr> {
    let guarded = |part: Expr| match (&op, &part) {
        (BinaryOperator::And, Expr::BinaryOp { op: BinaryOperator::Or, .. }) => Expr::Nested(Box::new(part)),
        _ => part,
    };
    parts.into_iter().map(guarded).reduce(|left, right| Expr::BinaryOp {
        left: Box::new(left),
        op: op.clone(),
        right: Box::new(right),
    })
}

/// A call of a numeric aggregate (not a window over one): see
/// `sql::aggregate_names`.
pub(crate) fn is_aggregate(function: &sqlparser::ast::Function) -> bool {
    function.over.is_none()
        && function.name.0.len() == 1
        && crate::sql::aggregate_names::aggregate(&function.name.to_string().to_ascii_lowercase()).is_some_and(|a| a.numeric)
}

pub(crate) fn conjuncts(expr: &Expr) -> Vec<&Expr> {
    match expr {
        Expr::BinaryOp { left, op: BinaryOperator::And, right } => {
            let mut all = conjuncts(left);
            all.extend(conjuncts(right));
            all
        }
        Expr::Nested(inner) if matches!(inner.as_ref(), Expr::BinaryOp { op: BinaryOperator::And, .. } | Expr::Nested(_)) => conjuncts(inner),
        other => vec![other],
    }
}

/// `expr` without the parentheses around it.
pub(crate) fn unnested(mut expr: &Expr) -> &Expr {
    while let Expr::Nested(inner) = expr {
        expr = inner;
    }
    expr
}

/// A column, by its name alone or qualified.
pub(crate) fn is_column(expr: &Expr) -> bool {
    matches!(expr, Expr::Identifier(_) | Expr::CompoundIdentifier(_))
}

/// The scale a DECIMAL type names (`DECIMAL(10)`: 0); None for another
/// type or a DECIMAL without precision.
pub(crate) fn decimal_scale(data_type: &sqlparser::ast::DataType) -> Option<i64> {
    use sqlparser::ast::{DataType, ExactNumberInfo};
    let (DataType::Decimal(info) | DataType::Numeric(info) | DataType::Dec(info)) = data_type else { return None };
    match info {
        ExactNumberInfo::Precision(_) => Some(0),
        ExactNumberInfo::PrecisionAndScale(_, scale) => Some(*scale),
        ExactNumberInfo::None => None,
    }
}

/// The name of the column `expr` is, by itself or qualified (its last part).
pub(crate) fn column_name(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Identifier(ident) => Some(&ident.value),
        Expr::CompoundIdentifier(parts) => parts.last().map(|part| part.value.as_str()),
        _ => None,
    }
}

/// Whether a column is read anywhere in `expr`.
pub(crate) fn reads_column(expr: &Expr) -> bool {
    let mut found = false;
    let _ = crate::sql::visit::visit_expressions(expr, |expr| {
        found |= is_column(expr);
        if found { std::ops::ControlFlow::Break(()) } else { std::ops::ControlFlow::Continue(()) }
    });
    found
}

pub(crate) fn is_comparison(op: &BinaryOperator) -> bool {
    matches!(
        op,
        BinaryOperator::Eq | BinaryOperator::NotEq | BinaryOperator::Lt | BinaryOperator::LtEq | BinaryOperator::Gt | BinaryOperator::GtEq
    )
}

/// A function's arguments when all are positional expressions, DISTINCT or not.
pub(crate) fn function_args(function: &sqlparser::ast::Function) -> Option<Vec<&Expr>> {
    let sqlparser::ast::FunctionArguments::List(list) = &function.args else { return None };
    list.args
        .iter()
        .map(|arg| match arg {
            sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(expr)) => Some(expr),
            _ => None,
        })
        .collect()
}

/// Each positional expression argument of a call.
pub(crate) fn function_args_mut(function: &mut sqlparser::ast::Function) -> impl Iterator<Item = &mut Expr> {
    let args = match &mut function.args {
        sqlparser::ast::FunctionArguments::List(list) => list.args.as_mut_slice(),
        _ => &mut [],
    };
    args.iter_mut().filter_map(|arg| match arg {
        sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(expr)) => Some(expr),
        _ => None,
    })
}

/// The NULL literal.
pub(crate) fn is_null_literal(expr: &Expr) -> bool {
    matches!(expr, Expr::Value(value) if value.value == sqlparser::ast::Value::Null)
}

/// A function's arguments when all are plain positional expressions (no
/// DISTINCT, no clauses such as ORDER BY inside the call).
pub(crate) fn plain_args(function: &sqlparser::ast::Function) -> Option<Vec<&Expr>> {
    let sqlparser::ast::FunctionArguments::List(list) = &function.args else { return None };
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    function_args(function)
}

/// An integer literal, negated or parenthesised or not.
pub(crate) fn integer_literal(expr: &Expr) -> Option<i64> {
    match expr {
        Expr::Value(value) => match &value.value {
            sqlparser::ast::Value::Number(text, _) => text.parse().ok(),
            _ => None,
        },
        Expr::UnaryOp { op: sqlparser::ast::UnaryOperator::Minus, expr } => integer_literal(expr).map(|v| -v),
        Expr::Nested(inner) => integer_literal(inner),
        _ => None,
    }
}
