"""Differential tester: random SQL asked of Floe (over ADBC) and of DuckDB (in
process) on the same four small tables, their answers compared as multisets.

    python tests/sql/differential.py --queries 700 --seed 14        # starts ./floe's release build
    python tests/sql/differential.py --floe grpc://127.0.0.1:31337  # a running server (tables made once)

Each query is classified: `agreed`; `wrong` (both answered, the rows differ);
`gap` (Floe refused it as InvalidArgument or NotImplemented: SQL it does not
take yet, with a message); `failed` (any other Floe error: a bug); `invalid`
(DuckDB refused it: the generator wrote SQL outside the common dialect). The
generator keeps to what SQL defines one way (no LIMIT without a total order,
no row_number over ties, no integer division), so a `wrong` is a bug of one
of the two. The seed fixes the queries; the exit status is 1 on any wrong
answer (and with --strict on any failure too).
Values compare after rounding to 9 significant digits (sums of doubles in
another order) with numbers of every type as one kind (DuckDB's avg of a
DECIMAL is a DOUBLE, Floe's a DECIMAL).
"""

import argparse
import datetime
import decimal
import math
import random
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "python"))

# Column types: int, dec, dbl (numbers), text, date, bool.
TABLES = {
    "dept": {"id": "int", "name": "text", "region": "text", "budget": "dec"},
    "emp": {"id": "int", "name": "text", "dept_id": "int", "salary": "dec", "bonus": "dbl", "hired": "date", "active": "bool"},
    "sales": {"id": "int", "emp_id": "int", "amount": "dbl", "qty": "int", "day": "date", "region": "text"},
    "nums": {"a": "int", "b": "int", "c": "dbl", "s": "text"},
}
# Columns that join (either order).
JOINS = [("emp", "dept_id", "dept", "id"), ("sales", "emp_id", "emp", "id"), ("sales", "region", "dept", "region"),
         ("nums", "a", "emp", "id"), ("nums", "b", "sales", "qty"), ("nums", "s", "dept", "region")]
NUMERIC = ("int", "dec", "dbl")
# Integer columns stored as Iceberg's `int` (32 bits), beside the BIGINT ones.
INT32 = {("sales", "qty"), ("nums", "b")}


def tables(seed: int = 7) -> dict[str, pa.Table]:
    """The same small tables every run, NULLs and unmatched keys included."""
    rng = random.Random(seed)
    maybe = lambda value, p=0.15: None if rng.random() < p else value  # noqa: E731
    regions = ["north", "south", "east", "west"]
    names = ["Ada", "bob", "Cy", "dee", "Eve", "fay", "Gus", "hal", "Ivy", "jo", "Kai", "Lu"]
    dept = {"id": list(range(1, 7)), "name": ["Sales", "eng", "Ops", "hr", "Legal", "data"],
            "region": [maybe(rng.choice(regions), 0.2) for _ in range(6)],
            "budget": [maybe(decimal.Decimal(rng.randint(1000, 90000)) / 100) for _ in range(6)]}
    start = datetime.date(2023, 1, 1)
    emp = {"id": list(range(1, 41)), "name": [maybe(rng.choice(names), 0.05) for _ in range(40)],
           "dept_id": [maybe(rng.randint(1, 8)) for _ in range(40)],
           "salary": [maybe(decimal.Decimal(rng.randint(300000, 1500000)) / 100, 0.1) for _ in range(40)],
           "bonus": [maybe(round(rng.uniform(0, 500), 2), 0.3) for _ in range(40)],
           "hired": [maybe(start + datetime.timedelta(days=rng.randint(0, 700)), 0.1) for _ in range(40)],
           "active": [maybe(rng.random() < 0.7, 0.1) for _ in range(40)]}
    sales = {"id": list(range(1, 121)), "emp_id": [maybe(rng.randint(1, 45), 0.05) for _ in range(120)],
             "amount": [maybe(round(rng.uniform(-50, 1000), 2), 0.1) for _ in range(120)],
             "qty": [maybe(rng.randint(0, 12), 0.1) for _ in range(120)],
             "day": [start + datetime.timedelta(days=rng.randint(0, 500)) for _ in range(120)],
             "region": [maybe(rng.choice(regions), 0.15) for _ in range(120)]}
    nums = {"a": [maybe(rng.randint(-5, 45)) for _ in range(30)], "b": [maybe(rng.randint(0, 12)) for _ in range(30)],
            "c": [maybe(rng.choice([0.5, -1.25, 3.0, 2.75, 10.0, -0.0])) for _ in range(30)],
            "s": [maybe(rng.choice([*regions, "North", "x%y", ""])) for _ in range(30)]}
    arrow = {"int": pa.int64(), "dec": pa.decimal128(10, 2), "dbl": pa.float64(), "text": pa.string(),
             "date": pa.date32(), "bool": pa.bool_()}
    data = {"dept": dept, "emp": emp, "sales": sales, "nums": nums}
    typed = lambda name, c, kind: pa.int32() if (name, c) in INT32 else arrow[kind]  # noqa: E731
    return {name: pa.table({c: pa.array(data[name][c], typed(name, c, kind)) for c, kind in TABLES[name].items()})
            for name in TABLES}


class Generator:
    """Random queries over TABLES. `scope` is a list of (alias, table)."""

    def __init__(self, rng: random.Random):
        self.rng, self.aliases = rng, 0
        # Subqueries as values (off where a value must not be one).
        self.subqueries = True
        # Derived tables' columns and kinds, by a name no catalog table has.
        self.derived_tables = {}

    def kinds_of(self, table: str) -> dict:
        return TABLES.get(table) or self.derived_tables[table]

    def alias(self, table: str) -> str:
        self.aliases += 1
        return f"{table[0]}{self.aliases}"

    def column(self, scope, kinds) -> str | None:
        found = [f"{a}.{c}" for a, t in scope for c, k in self.kinds_of(t).items() if k in kinds]
        return self.rng.choice(found) if found else None

    def literal(self, kind: str) -> str:
        r = self.rng
        return {"int": lambda: str(r.randint(-2, 40)), "dec": lambda: f"{r.randint(0, 9000) / 100:.2f}",
                "dbl": lambda: f"CAST({r.choice([0.5, 2.25, 100.0, -3.5])} AS DOUBLE)",
                "text": lambda: "'" + r.choice(["north", "Ada", "eng", "x", "", "bob"]) + "'",
                "date": lambda: f"DATE '2023-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}'",
                "bool": lambda: r.choice(["TRUE", "FALSE"])}[kind]()

    def value(self, scope, kind: str, depth: int = 0) -> str:
        r = self.rng
        kinds = NUMERIC if kind == "num" else (kind,)
        column = self.column(scope, kinds)
        if depth >= 2 or r.random() < 0.5:
            return column if column and r.random() < 0.85 else self.literal(kinds[0] if kind != "num" else r.choice(NUMERIC))
        if depth <= 1 and self.subqueries and r.random() < 0.08:
            return self.scalar_subquery(scope, kind, depth)
        if kind in ("num", *NUMERIC):
            choice = r.randrange(6)
            if choice == 0:
                return f"({self.value(scope, kind, depth + 1)} {r.choice('+-*')} {self.value(scope, 'num', depth + 1)})"
            if choice == 1:
                return f"COALESCE({self.value(scope, kind, depth + 1)}, {self.literal('int')})"
            if choice == 2:
                return f"abs({self.value(scope, kind, depth + 1)})"
            if choice == 3 and r.random() < 0.2:
                return f"CAST({self.value(scope, r.choice(['dec', 'dbl']), depth + 1)} AS DECIMAL(12,{r.randint(0, 1)}))"
            if choice == 3:
                rounded = self.value(scope, r.choice(["dec", "dbl"]), depth + 1)
                # DuckDB 1.5 rounds a narrow decimal literal past its precision to 0 (`round(5.52, -1)`,
                # `round(abs(5.36), -1)`): past the point only what reads a column.
                digits = r.randint(-1 if re.search(r"\b[a-z]+[0-9]+\.[a-z_]+", rounded) else 0, 2)
                return f"round({rounded}, {digits})"
        if kind == "text":
            choice = r.randrange(6)
            if choice == 0:
                return f"upper({self.value(scope, 'text', depth + 1)})"
            if choice == 1:
                return f"({self.value(scope, 'text', depth + 1)} || '-')"
            if choice == 2:
                return f"substring({self.value(scope, 'text', depth + 1)}, {r.randint(1, 3)}, {r.randint(1, 4)})"
            if choice == 3:
                return f"COALESCE({self.value(scope, 'text', depth + 1)}, 'none')"
            if choice == 4:
                return r.choice([f"lower({self.value(scope, 'text', depth + 1)})", f"trim(' ' || {self.value(scope, 'text', depth + 1)})",
                                 f"replace({self.value(scope, 'text', depth + 1)}, 'o', '0')", f"left({self.value(scope, 'text', depth + 1)}, 2)",
                                 f"CAST({self.value(scope, 'int', depth + 1)} AS VARCHAR)", f"nullif({self.value(scope, 'text', depth + 1)}, 'north')",
                                 f"concat({self.value(scope, 'text', depth + 1)}, {self.value(scope, 'text', depth + 1)})"])
        if kind == "int" and r.random() < 0.4:
            choice = r.randrange(5)
            date = self.column(scope, ("date",))
            if choice == 1 and date:
                return f"extract({r.choice(['year', 'month', 'day', 'dow', 'quarter'])} FROM {self.value(scope, 'date', depth + 1)})"
            if choice == 2 and date:
                return f"({self.value(scope, 'date', depth + 1)} - {self.value(scope, 'date', depth + 1)})"
            if choice == 3:
                return f"({self.value(scope, 'int', depth + 1)} % {r.randint(2, 5)})"
            if choice == 4:
                return f"CAST({self.value(scope, r.choice(['dec', 'dbl']), depth + 1)} AS INTEGER)"
            return f"length({self.value(scope, 'text', depth + 1)})"
        if kind == "date" and r.random() < 0.5:
            date = self.value(scope, "date", depth + 1)
            return r.choice([f"({date} + {r.randint(-40, 40)})", f"CAST(date_trunc('{r.choice(['month', 'year', 'week'])}', {date}) AS DATE)",
                             f"CAST({date} + INTERVAL '{r.randint(1, 3)} {r.choice(['month', 'day', 'year'])}' AS DATE)"])
        if r.random() < 0.3 and (more := self.function(scope, kind, depth)):
            return more
        return f"CASE WHEN {self.predicate(scope, depth + 1)} THEN {self.value(scope, kind, depth + 1)} ELSE {self.value(scope, kind, depth + 1)} END"

    def function(self, scope, kind: str, depth: int) -> str | None:
        """Scalar functions every engine names alike, of the kind asked for."""
        r = self.rng
        v = lambda k: self.value(scope, k, depth + 1)  # noqa: E731
        if kind in ("num", "int"):
            return r.choice([f"greatest({v('int')}, {v('int')})", f"least({v('int')}, {v('int')}, {r.randint(0, 9)})",
                             f"nullif({v('int')}, {r.randint(0, 5)})", f"sign({v('int')})",
                             f"CASE {v('int')} WHEN 1 THEN 10 WHEN 2 THEN 20 ELSE {v('int')} END",
                             f"strpos({v('text')}, '{r.choice(['o', 'a', 'th', ''])}')",
                             f"date_diff('{r.choice(['day', 'month', 'year'])}', {v('date')}, {v('date')})",
                             f"CAST(floor({v('dbl')}) AS INTEGER)", f"CAST(ceil({v('dec')}) AS INTEGER)",
                             f"mod({v('int')}, {r.randint(2, 7)})"])
        if kind == "dec":
            return r.choice([f"greatest({v('dec')}, {v('dec')})", f"floor({v('dec')})", f"ceil({v('dec')})",
                             f"nullif({v('dec')}, {self.literal('dec')})"])
        if kind == "dbl":
            return r.choice([f"sqrt(abs({v('dbl')}))", f"power({v('dbl')}, 2)", f"least({v('dbl')}, {v('num')})",
                             f"({v('num')} / NULLIF({v('dbl')}, 0))"])
        if kind == "text":
            return r.choice([f"lpad({v('text')}, {r.randint(0, 6)}, '*')", f"rpad({v('text')}, {r.randint(0, 6)}, '.')",
                             f"reverse({v('text')})", f"split_part({v('text')}, '{r.choice(['o', 'a', '-'])}', {r.randint(1, 2)})",
                             f"CASE {v('text')} WHEN 'north' THEN 'N' WHEN 'Ada' THEN 'A' END",
                             f"greatest({v('text')}, {v('text')})", f"right({v('text')}, {r.randint(1, 3)})",
                             f"repeat({v('text')}, {r.randint(0, 2)})"])
        if kind == "date":
            return r.choice([f"greatest({v('date')}, {v('date')})", f"least({v('date')}, {self.literal('date')})",
                             f"make_date(2023, {r.randint(1, 12)}, {r.randint(1, 28)})"])
        return None

    def predicate(self, scope, depth: int = 0) -> str:
        r = self.rng
        choice = r.randrange(13 if depth < 2 else 8)
        if choice == 0:
            return f"{self.value(scope, 'num', depth + 1)} {r.choice(['=', '<>', '<', '<=', '>', '>='])} {self.value(scope, 'num', depth + 1)}"
        if choice == 1:
            return f"{self.value(scope, 'text', depth + 1)} {r.choice(['=', '<>', '<'])} {self.value(scope, 'text', depth + 1)}"
        if choice == 2:
            return f"{self.value(scope, r.choice(['num', 'text', 'date']), depth + 1)} IS {r.choice(['', 'NOT '])}NULL"
        if choice == 3:
            low = r.randint(-5, 20)
            return f"{self.value(scope, 'num', depth + 1)} {r.choice(['', 'NOT '])}BETWEEN {low} AND {low + r.randint(0, 30)}"
        if choice == 4:
            kind = r.choice(["int", "text"])
            values = ", ".join(self.literal(kind) if r.random() > 0.1 else "NULL" for _ in range(r.randint(1, 4)))
            return f"{self.value(scope, kind, depth + 1)} {r.choice(['', 'NOT '])}IN ({values})"
        if choice == 5:
            return f"{self.value(scope, 'text', depth + 1)} {r.choice(['', 'NOT '])}LIKE '{r.choice(['a%', '%o%', 'N%', '_o%', '%'])}'"
        if choice == 6:
            column = self.column(scope, ("date",))
            if column:
                return f"{column} {r.choice(['<', '>=', '='])} {self.literal('date')}"
            return self.predicate(scope, depth + 1)
        if choice == 7:
            column = self.column(scope, ("bool",))
            return (f"{'NOT ' if r.random() < 0.3 else ''}{column}" if column else self.predicate(scope, depth + 1))
        if choice in (8, 9):
            return f"({self.predicate(scope, depth + 1)} {r.choice(['AND', 'OR'])} {self.predicate(scope, depth + 1)})"
        if choice == 10 and r.random() < 0.4:
            kind = r.choice(["int", "text", "date", "dec"])
            return r.choice([f"{self.value(scope, kind, depth + 1)} IS {r.choice(['', 'NOT '])}DISTINCT FROM {self.value(scope, kind, depth + 1)}",
                             f"starts_with({self.value(scope, 'text', depth + 1)}, '{r.choice(['n', 'A', 'e', ''])}')"])
        if choice == 10:
            return f"NOT ({self.predicate(scope, depth + 1)})"
        return self.subquery_predicate(scope, depth)

    def correlation(self, inner, scope, among=None) -> str | None:
        """An equality between the inner relation and one outer, if any joins
        (with one of the outer columns `among`, where given)."""
        alias, table = inner
        pairs = [(f"{alias}.{c1}", f"{a}.{c2}") for a, t in scope for (t1, c1, t2, c2) in JOINS if t1 == table and t2 == t]
        pairs += [(f"{alias}.{c2}", f"{a}.{c1}") for a, t in scope for (t1, c1, t2, c2) in JOINS if t2 == table and t1 == t]
        pairs = [pair for pair in pairs if among is None or pair[1] in among]
        if not pairs:
            return None
        inner_column, outer_column = self.rng.choice(pairs)
        op = "=" if self.rng.random() < 0.8 else self.rng.choice(["<", "<>", ">="])
        return f"{inner_column} {op} {outer_column}"

    def subquery_predicate(self, scope, depth: int) -> str:
        r = self.rng
        table = r.choice(list(TABLES))
        inner = (self.alias(table), table)
        conditions = []
        if r.random() < 0.7 and (correlated := self.correlation(inner, scope)):
            conditions.append(correlated)
        if r.random() < 0.5:
            conditions.append(self.predicate([inner], depth + 2))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        kind = r.randrange(3)
        if kind == 0:
            return f"{'NOT ' if r.random() < 0.3 else ''}EXISTS (SELECT 1 FROM fz.{table} AS {inner[0]}{where})"
        if kind == 1:
            column_kind = r.choice(["int", "text"])
            inner_column = self.column([inner], (column_kind,))
            outer = self.column(scope, (column_kind,))
            if inner_column and outer:
                return f"{outer} {r.choice(['', 'NOT '])}IN (SELECT {inner_column} FROM fz.{table} AS {inner[0]}{where})"
        inner_number = self.column([inner], NUMERIC)
        outer = self.column(scope, NUMERIC)
        if inner_number and outer and r.random() < 0.3:
            quantifier = r.choice(["ANY", "ALL", "SOME"])
            return f"{outer} {r.choice(['<', '<=', '>', '>=', '=', '<>'])} {quantifier} (SELECT {inner_number} FROM fz.{table} AS {inner[0]}{where})"
        if inner_number and outer:
            aggregate = r.choice(["avg", "max", "min", "sum", "count"])
            return f"{outer} {r.choice(['<', '>', '='])} (SELECT {aggregate}({inner_number}) FROM fz.{table} AS {inner[0]}{where})"
        return self.predicate(scope, depth + 1)

    def scalar_subquery(self, scope, kind: str, depth: int) -> str:
        """A subquery read as a value: an aggregate of the rows it finds, or
        a lookup by a table's unique `id` (no row, and so NULL, for an id
        none has), correlated with the outer query or not."""
        r = self.rng
        kinds = NUMERIC if kind == "num" else (kind,)
        table = r.choice([t for t in TABLES if any(k in kinds for k in TABLES[t].values())])
        inner = (self.alias(table), table)
        column = self.column([inner], kinds)
        conditions = []
        if "id" in TABLES[table] and r.random() < 0.4:
            outer = self.column(scope, ("int",)) if r.random() < 0.6 else None
            conditions.append(f"{inner[0]}.id = {outer or self.literal('int')}")
            if r.random() < 0.3:
                conditions.append(self.predicate([inner], 2))
            return f"(SELECT {column} FROM fz.{table} AS {inner[0]} WHERE {' AND '.join(conditions)})"
        if r.random() < 0.6 and (correlated := self.correlation(inner, scope)):
            conditions.append(correlated)
        if r.random() < 0.4:
            conditions.append(self.predicate([inner], 2))
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        aggregate = r.choice(["max", "min"] + (["sum", "count"] if kind in ("int", "num") else []))
        return f"(SELECT {aggregate}({column}) FROM fz.{table} AS {inner[0]}{where})"

    def relations(self):
        """A FROM clause and its scope: one table, or two or three joined."""
        r = self.rng
        first = r.choice(list(TABLES))
        scope = [(self.alias(first), first)]
        text = f"fz.{first} AS {scope[0][0]}"
        for _ in range(r.choice([0, 0, 1, 1, 1, 2])):
            options = [(t1, c1, t2, c2) for (t1, c1, t2, c2) in JOINS for a, t in scope if t in (t1, t2)]
            t1, c1, t2, c2 = r.choice(options)
            joined_from = [(a, t) for a, t in scope if t in (t1, t2)]
            outer_alias, outer_table = r.choice(joined_from)
            table, column, outer_column = (t2, c2, c1) if outer_table == t1 else (t1, c1, c2)
            alias = self.alias(table)
            condition = f"{alias}.{column} = {outer_alias}.{outer_column}"
            kind = r.choice(["JOIN", "JOIN", "LEFT JOIN", "LEFT JOIN", "RIGHT JOIN", "FULL JOIN"])
            if kind == "JOIN" and r.random() < 0.1 and TABLES[table][column] in NUMERIC:
                # A join on an inequality alone: a range join.
                condition = f"{alias}.{column} {r.choice(['<', '>=', '<>'])} {outer_alias}.{outer_column}"
            elif kind == "JOIN" and r.random() < 0.15:
                # Conditions Polars evaluates inside the join: an OR of both
                # sides, comparisons of numbers of unlike kinds.
                mine, theirs = self.column([(alias, table)], NUMERIC), self.column([(outer_alias, outer_table)], NUMERIC)
                compare = f"{mine} {r.choice(['<', '>=', '<>'])} {theirs}"
                condition = r.choice([f"{condition} OR {compare}", f"{condition} AND {compare}", compare])
            elif r.random() < 0.3:
                condition += f" AND {self.predicate([(alias, table)] if r.random() < 0.5 else scope, 2)}"
            if column == outer_column and len(scope) == 1 and kind in ("JOIN", "LEFT JOIN") and r.random() < 0.3:
                text += f" {kind} fz.{table} AS {alias} USING ({column})"
            else:
                text += f" {kind} fz.{table} AS {alias} ON {condition}"
            scope.append((alias, table))
        if r.random() < 0.08:
            # An ungrouped aggregate joined for its one row (none past its HAVING), its column unread.
            table = r.choice(list(TABLES))
            inner = (self.alias(table), table)
            having = " HAVING count(*) > 1000" if r.random() < 0.3 else ""
            text += f" CROSS JOIN (SELECT {self.aggregate([inner])} AS m FROM fz.{table} AS {inner[0]}{having}) AS {self.alias(table)}"
        return text, scope

    def items(self, scope, count: int) -> list[str]:
        kinds = self.rng.choices(["int", "dec", "dbl", "text", "date", "bool", "num"], k=count)
        return [self.value(scope, kind) if kind != "bool" else self.predicate(scope, 1) for kind in kinds]

    def aggregate(self, scope) -> str:
        r = self.rng
        choice = r.randrange(9)
        if choice == 7:
            text = self.value(scope, "text")
            return f"string_agg({text}, ',' ORDER BY {text})"
        if choice == 8:
            pair = f"{self.value(scope, 'num')}, {self.value(scope, 'num')}"
            return r.choice([f"stddev_samp({self.value(scope, 'num')})", f"var_pop({self.value(scope, 'num')})",
                             f"{r.choice(['regr_intercept', 'regr_r2', 'regr_count', 'regr_sxy', 'regr_avgx', 'regr_syy'])}({pair})",
                             f"bool_and({self.predicate(scope, 2)})", f"bool_or({self.predicate(scope, 2)})"])
        if choice == 0:
            return "count(*)"
        if choice == 1:
            return f"count({r.choice(['', 'DISTINCT '])}{self.value(scope, r.choice(['int', 'text']))})"
        if choice in (2, 3):
            return f"{r.choice(['sum', 'avg'])}({self.value(scope, 'num')})"
        kind = r.choice(["int", "dec", "text", "date"])
        return f"{r.choice(['min', 'max'])}({self.value(scope, kind)})"

    def query(self) -> str:
        shape = self.rng.choices(["plain", "grouped", "window", "set", "cte", "lookup", "recursive", "derived", "frames", "sets_nested"],
                                 weights=[4, 4, 2, 1, 1, 1, 1, 2, 1, 1])[0]
        return getattr(self, shape)()

    def named(self, items) -> str:
        return ", ".join(f"{item} AS c{i + 1}" for i, item in enumerate(items))

    def plain(self, count: int | None = None) -> str:
        r = self.rng
        text, scope = self.relations()
        items = self.items(scope, count or r.randint(1, 4))
        where = f" WHERE {self.predicate(scope)}" if r.random() < 0.75 else ""
        distinct = "DISTINCT " if r.random() < 0.2 else ""
        tail = ""
        if count is None and r.random() < 0.2:
            # LIMIT over a total order of the output, so the rows kept are defined.
            order = ", ".join(f"c{i + 1} {r.choice(['ASC', 'DESC'])} NULLS {r.choice(['FIRST', 'LAST'])}" for i in range(len(items)))
            tail = f" ORDER BY {order} LIMIT {r.randint(1, 10)}" + (f" OFFSET {r.randint(0, 5)}" if r.random() < 0.4 else "")
        return f"SELECT {distinct}{self.named(items)} FROM {text}{where}{tail}"

    def grouped(self) -> str:
        r = self.rng
        text, scope = self.relations()
        # Keys are columns or expressions of them: a literal key would be a position.
        keys = [] if r.random() < 0.15 else [self.column(scope, (r.choice(["int", "text", "date", "bool"]),)) or self.value(scope, "text", 1)
                                             for _ in range(r.randint(1, 2))]
        number = self.column(scope, ("int",))
        if keys and number and r.random() < 0.15:
            # A key that reads a subquery, selected as written.
            keys[-1] = f"CASE WHEN {number} > {self.scalar_subquery([], 'int', 1)} THEN 'hi' ELSE 'lo' END"
        aggregates = [self.aggregate(scope) for _ in range(r.randint(1, 3))]
        if r.random() < 0.2:
            # A subquery outside the aggregates: one value for every group (the one group without keys).
            kind = r.choice(["int", "num", "text", "count"])
            if kind == "count":
                aggregates.append(f"count(*) - {self.scalar_subquery([], 'int', 1)}")
            else:
                aggregates.append(f"{keys[0]} || {self.scalar_subquery([], 'text', 1)}" if keys and kind == "text" and r.random() < 0.5
                                  else self.scalar_subquery([], kind, 1))
        where = f" WHERE {self.predicate(scope)}" if r.random() < 0.5 else ""
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
        having = ""
        if r.random() < 0.3:
            measure = r.choice(["count(*)", f"sum({self.value(scope, 'num')})", f"count(DISTINCT {self.value(scope, 'text')})"])
            bound = str(r.randint(0, 5))
            if keys and r.random() < 0.4:
                # Correlated with the keys: one value per group.
                table = r.choice(list(TABLES))
                inner = (self.alias(table), table)
                if (correlated := self.correlation(inner, scope, among=keys)) and (number := self.column([inner], NUMERIC)):
                    aggregate = r.choice(["max", "min", "sum", "count", "avg"])
                    bound = f"(SELECT {aggregate}({number}) FROM fz.{table} AS {inner[0]} WHERE {correlated})"
            having = f" HAVING {measure} {r.choice(['>', '<', '>='])} {bound}"
        items = keys + aggregates
        if keys and r.random() < 0.1:
            # A window over the groups.
            items.append(r.choice(["sum(count(*)) OVER ()", "rank() OVER (ORDER BY count(*) DESC)",
                                   f"max(count(*)) OVER (PARTITION BY {keys[0]})"]))
        if keys and not having and "SELECT" not in group and r.random() < 0.1:
            group = f" GROUP BY ROLLUP ({', '.join(keys)})"
        tail = ""
        if r.random() < 0.15:
            # LIMIT over a total order of the output (the keys, and so every item, tell groups apart).
            order = ", ".join(f"c{i + 1} {r.choice(['ASC', 'DESC'])} NULLS {r.choice(['FIRST', 'LAST'])}" for i in range(len(items)))
            tail = f" ORDER BY {order} LIMIT {r.randint(1, 6)}"
        return f"SELECT {self.named(items)} FROM {text}{where}{group}{having}{tail}"

    def window(self) -> str:
        r = self.rng
        text, scope = self.relations()
        partition = self.column(scope, ("int", "text"))
        order = self.column(scope, ("int", "dec", "dbl", "date"))
        over = f"PARTITION BY {partition}" if r.random() < 0.8 else ""
        functions = [f"rank() OVER ({over} ORDER BY {order})", f"dense_rank() OVER ({over} ORDER BY {order} DESC)",
                     f"sum({self.column(scope, NUMERIC)}) OVER ({over})", f"count(*) OVER ({over})",
                     f"max({self.column(scope, NUMERIC)}) OVER ({over} ORDER BY {order})",
                     f"avg({self.column(scope, NUMERIC)}) OVER ({over})",
                     f"count(*) FILTER (WHERE {self.predicate(scope, 2)}) OVER ({over})",
                     f"sum({self.column(scope, NUMERIC)}) FILTER (WHERE {self.predicate(scope, 2)}) OVER ({over} ORDER BY {order})"]
        if all("id" in TABLES[t] for _, t in scope):
            # Ordered by every relation's id too, a total order: functions of a row's neighbours are defined.
            total = ", ".join([order, *(f"{a}.id" for a, _ in scope)])
            number = self.column(scope, NUMERIC)
            functions += [f"row_number() OVER ({over} ORDER BY {total})", f"lag({number}) OVER ({over} ORDER BY {total})",
                          f"lead({self.column(scope, ('text', 'date'))}, 2) OVER ({over} ORDER BY {total} DESC)",
                          f"sum({number}) OVER ({over} ORDER BY {total} ROWS BETWEEN 1 PRECEDING AND CURRENT ROW)",
                          f"first_value({number}) OVER ({over} ORDER BY {total})", f"ntile(3) OVER ({over} ORDER BY {total})"]
        items = [partition, order, *r.sample(functions, r.randint(1, 2))]
        where = f" WHERE {self.predicate(scope)}" if r.random() < 0.5 else ""
        return f"SELECT {self.named(items)} FROM {text}{where}"

    def set_sides(self, count: int) -> tuple[list[str], list[str]]:
        """`count` SELECTs of the same kinds of columns, and those kinds."""
        r = self.rng
        kinds = r.choices(["int", "text", "date"], k=r.randint(1, 2))
        sides = []
        for _ in range(count):
            text, scope = self.relations()
            where = f" WHERE {self.predicate(scope)}" if r.random() < 0.6 else ""
            sides.append(f"SELECT {self.named([self.value(scope, k, 1) for k in kinds])} FROM {text}{where}")
        return kinds, sides

    def set(self) -> str:
        r = self.rng
        _, sides = self.set_sides(2)
        operator = r.choice(["UNION", "UNION ALL", "INTERSECT", "EXCEPT"])
        return f"{sides[0]} {operator} {sides[1]}"

    def cte(self) -> str:
        r = self.rng
        text, scope = self.relations()
        key = self.column(scope, ("int",))
        measure = self.aggregate(scope)
        where = f" WHERE {self.predicate(scope)}" if r.random() < 0.5 else ""
        grouped = f"SELECT {key} AS k, {measure} AS m FROM {text}{where} GROUP BY {key}"
        table = r.choice(list(TABLES))
        alias = self.alias(table)
        column = self.column([(alias, table)], ("int",))
        kind = r.choice(["JOIN", "LEFT JOIN"])
        items = self.items([(alias, table)], r.randint(1, 2))
        return (f"WITH g AS ({grouped}) SELECT g.k AS k, g.m AS m, {self.named(items)} "
                f"FROM fz.{table} AS {alias} {kind} g ON g.k = {column}")

    def recursive(self) -> str:
        """A walk along `emp`'s links (a dept_id read as an employee's id: a graph with cycles), ended by
        UNION once a round adds nothing new, or by a depth under UNION ALL; then read as a table."""
        r = self.rng
        kind = r.choice(["int", "text", "dec", "date"])
        first, step = (self.value([(alias, "emp")], kind, 1) for alias in ("e", "n"))
        if kind == "dec":
            # One type for both parts: DuckDB casts the second's values to the
            # first's (`floor` of a DECIMAL(10,2) is a DECIMAL(10,0)), PostgreSQL
            # refuses them, Floe takes the wider.
            first, step = (f"CAST({value} AS DECIMAL(12,2))" for value in (first, step))
        link = r.choice(["n.dept_id = w.id", "n.id = w.dept_id"])
        start = self.predicate([("e", "emp")])
        if r.random() < 0.5:
            walk = (f"walk(id, dept_id, v) AS (SELECT e.id, e.dept_id, {first} FROM fz.emp AS e WHERE {start} "
                    f"UNION SELECT n.id, n.dept_id, {step} FROM fz.emp AS n JOIN walk AS w ON {link})")
        else:
            walk = (f"walk(id, dept_id, v, d) AS (SELECT e.id, e.dept_id, {first}, 0 FROM fz.emp AS e WHERE {start} "
                    f"UNION ALL SELECT n.id, n.dept_id, {step}, w.d + 1 FROM fz.emp AS n JOIN walk AS w ON {link} "
                    f"WHERE w.d < {r.randint(1, 3)})")
        reads = r.choice([
            "SELECT id AS c1, v AS c2 FROM walk",
            "SELECT v AS c1, count(*) AS c2, count(DISTINCT id) AS c3 FROM walk GROUP BY v",
            f"SELECT {self.named(self.items([('x', 'emp')], 2))} FROM fz.emp AS x WHERE x.id IN (SELECT id FROM walk)",
        ])
        return f"WITH RECURSIVE {walk} {reads}"

    def typed_aggregate(self, scope) -> tuple[str, str]:
        """An aggregate and the kind of its value."""
        r = self.rng
        choice = r.randrange(5)
        if choice == 0:
            return "count(*)", "int"
        if choice == 1:
            return f"count({self.value(scope, r.choice(['int', 'text']))})", "int"
        if choice == 2:
            return f"sum({self.value(scope, 'int')})", "int"
        if choice == 3:
            return f"avg({self.value(scope, 'num')})", "dbl"
        kind = r.choice(["int", "dec", "text", "date"])
        return f"{r.choice(['min', 'max'])}({self.value(scope, kind)})", kind

    def derived(self) -> str:
        """A query over a derived table: grouped, one aggregate row, or rows filtered; read, filtered,
        counted or joined again."""
        r = self.rng
        text, scope = self.relations()
        columns, items = {}, []
        grouped = r.random() < 0.7
        if grouped and (key := self.column(scope, ("int", "text", "date"))) and r.random() < 0.8:
            kind = next(k for a, t in scope for c, k in self.kinds_of(t).items() if f"{a}.{c}" == key)
            items.append(f"{key} AS k")
            columns["k"] = kind
        elif not grouped:
            for i in range(r.randint(1, 3)):
                kind = r.choice(["int", "dec", "text", "date"])
                items.append(f"{self.value(scope, kind, 1)} AS v{i}")
                columns[f"v{i}"] = kind
        if grouped:
            for i in range(r.randint(1, 2)):
                aggregate, kind = self.typed_aggregate(scope)
                items.append(f"{aggregate} AS m{i}")
                columns[f"m{i}"] = kind
        where = f" WHERE {self.predicate(scope)}" if r.random() < 0.4 else ""
        group = " GROUP BY k" if "k" in columns else ""
        having = f" HAVING count(*) > {r.randint(0, 3)}" if grouped and r.random() < 0.2 else ""
        name = f"derived{self.aliases}"
        self.derived_tables[name] = columns
        alias = self.alias(name)
        inner = f"(SELECT {', '.join(items)} FROM {text}{where}{group}{having}) AS {alias}"
        outer = [(alias, name)]
        try:
            choice = r.randrange(4)
            if choice == 0:
                return f"SELECT count(*) {r.choice(['+ 0', '* 2', ''])} AS c1 FROM {inner}"
            if choice == 1:
                aggregate, _ = self.typed_aggregate(outer)
                return f"SELECT {aggregate} AS c1, count(*) AS c2 FROM {inner}{' WHERE ' + self.predicate(outer, 1) if r.random() < 0.5 else ''}"
            if choice == 2 and (number := self.column(outer, ("int",))):
                table = r.choice(list(TABLES))
                other = (self.alias(table), table)
                join_column = self.column([other], ("int",))
                kind = r.choice(["JOIN", "LEFT JOIN"])
                return (f"SELECT {self.named(self.items(outer + [other], r.randint(1, 3)))} FROM {inner} "
                        f"{kind} fz.{table} AS {other[0]} ON {other[0]}.{join_column.split('.')[1]} = {number}")
            named = self.named(self.items(outer, r.randint(1, 3)))
            return f"SELECT {named} FROM {inner}{' WHERE ' + self.predicate(outer, 1) if r.random() < 0.6 else ''}"
        finally:
            del self.derived_tables[name]

    def frames(self) -> str:
        """Windows with explicit frames and the distribution functions, over a total order."""
        r = self.rng
        table = r.choice(["emp", "sales"])
        alias = self.alias(table)
        scope = [(alias, table)]
        partition = self.column(scope, ("int", "text"))
        order = self.column(scope, ("int", "dec", "dbl", "date"))
        integer_order = self.column(scope, ("int",))
        number = self.column(scope, NUMERIC)
        over = f"PARTITION BY {partition} " if r.random() < 0.7 else ""
        total = f"{order}, {alias}.id"
        k, j = r.randint(0, 3), r.randint(0, 3)
        functions = [
            f"sum({number}) OVER ({over}ORDER BY {total} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)",
            f"last_value({number}) OVER ({over}ORDER BY {total} ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)",
            f"avg({number}) OVER ({over}ORDER BY {total} ROWS BETWEEN {k} PRECEDING AND {j} FOLLOWING)",
            f"min({number}) OVER ({over}ORDER BY {total} ROWS BETWEEN CURRENT ROW AND {k} FOLLOWING)",
            f"count({number}) OVER ({over}ORDER BY {total} ROWS BETWEEN UNBOUNDED PRECEDING AND {j} PRECEDING)",
            f"sum({number}) OVER ({over}ORDER BY {integer_order} RANGE BETWEEN {k} PRECEDING AND CURRENT ROW)",
            f"max({number}) OVER ({over}ORDER BY {integer_order} RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING)",
            f"count(*) OVER ({over}ORDER BY {order} GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW)",
            f"percent_rank() OVER ({over}ORDER BY {order})", f"cume_dist() OVER ({over}ORDER BY {order} DESC)",
            f"sum({number}) OVER ({over}ORDER BY {order})",
            f"rank() OVER ({over}ORDER BY {order} DESC NULLS LAST, {alias}.id)",
        ]
        items = [f"{alias}.id", *r.sample(functions, r.randint(1, 3))]
        where = f" WHERE {self.predicate(scope)}" if r.random() < 0.4 else ""
        return f"SELECT {self.named(items)} FROM fz.{table} AS {alias}{where}"

    def sets_nested(self) -> str:
        """Three SELECTs under two set operators, parenthesized either way, ALL or not; some sorted and cut."""
        r = self.rng
        kinds, sides = self.set_sides(3)
        first, second = (r.choice(["UNION", "UNION ALL", "INTERSECT", "EXCEPT", "INTERSECT ALL", "EXCEPT ALL"]) for _ in range(2))
        if r.random() < 0.5:
            body = f"({sides[0]} {first} {sides[1]}) {second} {sides[2]}"
        else:
            body = f"{sides[0]} {first} ({sides[1]} {second} {sides[2]})"
        if r.random() < 0.3:
            order = ", ".join(f"{i + 1} {r.choice(['ASC', 'DESC'])} NULLS {r.choice(['FIRST', 'LAST'])}" for i in range(len(kinds)))
            if not any(op.endswith("ALL") for op in (first, second)):
                body += f" ORDER BY {order} LIMIT {r.randint(1, 5)}"
        return body

    def lookup(self) -> str:
        r = self.rng
        text, scope = self.relations()
        table = r.choice(list(TABLES))
        inner = (self.alias(table), table)
        correlated = self.correlation(inner, scope) or "TRUE"
        number = self.column([inner], NUMERIC)
        aggregate = r.choice(["max", "min", "sum", "count", "avg", "stddev_samp", "count(DISTINCT"])
        value = f"{aggregate}({number})" if aggregate != "count(DISTINCT" else f"count(DISTINCT {number})"
        if r.random() < 0.1 and (text := self.column([inner], ("text",))):
            value = f"string_agg({text}, ',' ORDER BY {text})"
        items = [*self.items(scope, r.randint(1, 2)),
                 f"(SELECT {value} FROM fz.{table} AS {inner[0]} WHERE {correlated})"]
        where = f" WHERE {self.predicate(scope)}" if r.random() < 0.4 else ""
        return f"SELECT {self.named(items)} FROM {text}{where}"


def canonical(value):
    """A value as compared: numbers of any type as one, rounded."""
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, decimal.Decimal)):
        number = float(value)
        if math.isnan(number):
            return "NaN"
        if math.isinf(number):
            return str(number)
        number = round(number, 6) + 0.0  # -0.0 is 0
        return float(f"{number:.9g}")
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    return value


def multiset(rows) -> Counter:
    return Counter(tuple(canonical(v) for v in row) for row in rows)


def agree(expected: list, got: list) -> bool:
    """The same rows in any order, numbers equal to rounding: a sum's
    last bit differs with the order it adds in, and rounding to 6 places
    can then land either side of a half."""
    if multiset(expected) == multiset(got):
        return True
    if len(expected) != len(got):
        return False

    def numeric(value) -> bool:
        return isinstance(value, (int, float, decimal.Decimal)) and not isinstance(value, bool)

    def coarse(row) -> tuple:
        return tuple(f"{float(v):.3f}" if numeric(v) and math.isfinite(float(v)) else repr(canonical(v)) for v in row)

    def same(a, b) -> bool:
        if numeric(a) and numeric(b) and math.isfinite(float(a)) and math.isfinite(float(b)):
            return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6)
        return canonical(a) == canonical(b)

    pairs = zip(sorted(expected, key=coarse), sorted(got, key=coarse))
    return all(len(e) == len(g) and all(same(a, b) for a, b in zip(e, g)) for e, g in pairs)


def classify(error) -> str:
    """A refusal that names what is not supported is a gap; anything else
    (a column not found inside the plan, an internal error) a failure."""
    text = str(error)
    refused = text.startswith(("INVALID_ARGUMENT", "NOT_IMPLEMENTED")) and re.search(r"not supported|unsupported|not implemented", text)
    return "gap" if refused else "failed"


def load(conn, duck, data: dict[str, pa.Table]) -> None:
    duck.execute("CREATE SCHEMA fz")
    for name, table in data.items():
        duck.register("incoming", table)
        duck.execute(f"CREATE TABLE fz.{name} AS SELECT * FROM incoming")
        duck.unregister("incoming")
        with conn.cursor() as cursor:
            cursor.adbc_ingest(name, table, mode="replace", db_schema_name="fz")


def mixed_case(sql: str, rng: random.Random) -> str:
    """`sql` with each word outside quotes in upper, lower or its own case."""
    def recase(match: re.Match) -> str:
        word = match.group(3)
        if word is None:
            return match.group(0)
        return rng.choice([word.upper(), word.lower(), word.capitalize(), word])
    return re.sub(r"('(?:[^']|'')*')|(\"[^\"]*\")|([A-Za-z_][A-Za-z0-9_]*)", recase, sql)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--floe", help="a running Floe's grpc:// URI (else one is started)")
    parser.add_argument("--show", type=int, default=5, help="queries to print of each kind but agreed")
    parser.add_argument("--strict", action="store_true", help="exit 1 on failures as well as on wrong answers")
    parser.add_argument("--polars-engine", default="auto", choices=["auto", "streaming", "in-memory"],
                        help="the server's engine: `streaming` runs even these small tables as large ones run")
    parser.add_argument("--mixed-case", action="store_true",
                        help="write every unquoted name and keyword in a random case (SQL matches them whatever their case)")
    args = parser.parse_args()
    import adbc_driver_flightsql.dbapi as flight_sql

    server = None
    if not args.floe:
        from harness import FloeServer

        server = FloeServer(Path(tempfile.mkdtemp(prefix="floe-differential-")), "--no-scripts", "--polars-engine", args.polars_engine)
    conn = flight_sql.connect(args.floe or server.uri, autocommit=True)
    duck = duckdb.connect()
    duck.execute("SET TimeZone = 'UTC'")
    # NULLs sort as in PostgreSQL, and Floe: last ascending, first descending.
    duck.execute("SET default_null_order = 'nulls_last_on_asc_first_on_desc'")
    load(conn, duck, tables())
    generator = Generator(random.Random(args.seed))
    casing = random.Random(args.seed)
    outcomes, shown = Counter(), Counter()
    for number in range(args.queries):
        sql = generator.query()
        if args.mixed_case:
            sql = mixed_case(sql, casing)
        try:
            expected = duck.execute(sql).fetchall()
        except duckdb.Error:
            outcomes["invalid"] += 1
            continue
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql)
                got = [tuple(row.values()) for row in cursor.fetch_arrow_table().to_pylist()]
            outcome = "agreed" if agree(expected, got) else "wrong"
            only = lambda a, b: list((multiset(a) - multiset(b)).elements())[:3]  # noqa: E731
            detail = "" if outcome == "agreed" else f"duckdb-only {only(expected, got)}, floe-only {only(got, expected)}"
        except Exception as err:  # noqa: BLE001 - classified and counted, the next query runs
            outcome, detail = classify(err), str(err).splitlines()[0][:300]
        outcomes[outcome] += 1
        if outcome != "agreed" and shown[outcome] < args.show:
            shown[outcome] += 1
            print(f"[{outcome}] #{number}: {sql}\n    {detail}\n")
    print(", ".join(f"{outcomes[k]} {k}" for k in ("agreed", "wrong", "gap", "failed", "invalid")))
    conn.close()
    if server is not None:
        server.stop()
    return 1 if outcomes["wrong"] or (args.strict and outcomes["failed"]) else 0


if __name__ == "__main__":
    sys.exit(main())
