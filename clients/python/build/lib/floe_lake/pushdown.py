"""Polars predicates as SQL, for what `scan()` pushes to Floe. Only what
translates exactly is pushed (comparisons of a column with a literal,
null checks, AND, OR, NOT); the rest stays with Polars, which filters the
rows again anyway. The expression comes from Polars' JSON serialisation;
a shape this module does not know pushes nothing."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

_OPERATORS = {"Eq": "=", "NotEq": "<>", "Lt": "<", "LtEq": "<=", "Gt": ">", "GtEq": ">="}


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(node: dict) -> str | None:
    value: Any = node.get("Dyn") or node.get("Scalar")
    if not isinstance(value, dict) or len(value) != 1:
        return None
    (kind, inner), = value.items()
    if kind in ("Int", "Int8", "Int16", "Int32", "Int64", "UInt8", "UInt16", "UInt32", "UInt64") and isinstance(inner, int):
        return str(inner)
    if kind in ("Float", "Float32", "Float64") and isinstance(inner, (int, float)):
        return repr(float(inner))
    if kind == "Boolean" and isinstance(inner, bool):
        return "TRUE" if inner else "FALSE"
    if kind == "String" and isinstance(inner, str):
        return "'" + inner.replace("'", "''") + "'"
    return None


def _sql(node: Any) -> str | None:
    if not isinstance(node, dict) or len(node) != 1:
        return None
    (kind, body), = node.items()
    if kind == "Column" and isinstance(body, str):
        return quote_identifier(body)
    if kind == "Literal" and isinstance(body, dict):
        return _literal(body)
    if kind == "BinaryExpr":
        return _binary(body)
    if kind == "Function":
        return _function(body)
    return None


def _binary(body: dict) -> str | None:
    op, left, right = body.get("op"), _sql(body.get("left")), _sql(body.get("right"))
    if left is None or right is None:
        return None
    if op in ("And", "LogicalAnd"):
        return f"({left}) AND ({right})"
    if op in ("Or", "LogicalOr"):
        return f"({left}) OR ({right})"
    if op in _OPERATORS:
        return f"{left} {_OPERATORS[op]} {right}"
    return None


def _function(body: dict) -> str | None:
    function, inputs = body.get("function"), body.get("input") or []
    boolean = function.get("Boolean") if isinstance(function, dict) else None
    if len(inputs) != 1:
        return None
    inner = _sql(inputs[0])
    if inner is None:
        return None
    if boolean == "IsNull":
        return f"{inner} IS NULL"
    if boolean == "IsNotNull":
        return f"{inner} IS NOT NULL"
    if boolean == "Not":
        return f"NOT ({inner})"
    return None


def predicate_sql(predicate: pl.Expr | None) -> str | None:
    """SQL for as much of `predicate` as translates exactly, or None."""
    if predicate is None:
        return None
    try:
        tree = json.loads(predicate.meta.serialize(format="json"))
    except Exception:  # noqa: BLE001 - an unknown serialisation pushes nothing
        return None
    # Top-level conjuncts that do not translate are left out: what remains
    # still only removes rows the whole predicate removes.
    parts = [part for part in map(_sql, _conjuncts(tree)) if part]
    return " AND ".join(f"({part})" for part in parts) or None


def _conjuncts(node: Any) -> list:
    body = node.get("BinaryExpr") if isinstance(node, dict) else None
    if isinstance(body, dict) and body.get("op") in ("And", "LogicalAnd"):
        return _conjuncts(body.get("left")) + _conjuncts(body.get("right"))
    return [node]
