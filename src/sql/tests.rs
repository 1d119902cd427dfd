use std::collections::HashMap;

use super::*;

fn frames_for(query: &Query) -> HashMap<RelationName, String> {
    query.relations().iter().enumerate().map(|(i, r)| (r.clone(), format!("__floe_{i}"))).collect()
}

#[test]
fn renames_relations_and_keeps_qualified_columns_working() {
    let query = Query::analyze(
        "SELECT flowers.species, default.flowers.petal_width FROM default.flowers WHERE sepal_length > 5",
        &[],
    )
    .unwrap();
    assert_eq!(query.relations(), &[vec!["default".to_string(), "flowers".to_string()]]);
    assert_eq!(
        query.render(&frames_for(&query), &Default::default()).unwrap(),
        "SELECT flowers.species, flowers.petal_width FROM __floe_0 AS flowers WHERE sepal_length > 5"
    );
}

#[test]
fn leaves_ctes_and_explicit_aliases_alone() {
    let query =
        Query::analyze("WITH big AS (SELECT * FROM ns.t AS x) SELECT * FROM big JOIN other o ON big.a = o.a", &[])
            .unwrap();
    assert_eq!(query.relations(), &[vec!["ns".to_string(), "t".to_string()], vec!["other".to_string()]]);
    let rendered = query.render(&frames_for(&query), &Default::default()).unwrap();
    assert!(rendered.contains("FROM __floe_0 AS x"), "{rendered}");
    assert!(rendered.contains("FROM big JOIN __floe_1 o ON"), "{rendered}");
}

#[test]
fn binds_positional_and_numbered_parameters() {
    let query = Query::analyze("SELECT * FROM t WHERE a = ? AND b = ?", &["1".into(), "'x'".into()]).unwrap();
    assert!(query.render(&frames_for(&query), &Default::default()).unwrap().ends_with("WHERE a = (1) AND b = ('x')"));
    let query = Query::analyze("SELECT * FROM t WHERE a = $2 OR b = $1", &["1".into(), "2".into()]).unwrap();
    assert!(query.render(&frames_for(&query), &Default::default()).unwrap().ends_with("WHERE a = (2) OR b = (1)"));
    let query = Query::analyze("SELECT CAST(? AS VARCHAR) AS v", &["-1".into()]).unwrap();
    assert!(query.render(&frames_for(&query), &Default::default()).unwrap().contains("CAST((-1) AS VARCHAR)"));
    // Bare inside IN lists, where polars-sql refuses parentheses.
    let query = Query::analyze("SELECT * FROM t WHERE a IN (?, ?)", &["-1".into(), "CAST('2024-01-01' AS DATE)".into()]).unwrap();
    let rendered = query.render(&frames_for(&query), &Default::default()).unwrap();
    assert!(rendered.ends_with("WHERE a IN (-1, CAST('2024-01-01' AS DATE))"), "{rendered}");
    assert_eq!(parameter_count("SELECT * FROM t WHERE a = $1 OR b = $1").unwrap(), 1);
}

#[test]
fn wrong_parameter_count_is_an_error() {
    let err = Query::analyze("SELECT * FROM t WHERE a = ?", &[]).unwrap_err();
    assert!(matches!(err, Error::Params(ref m) if m.contains("1 parameter(s) but 0")), "{err}");
    assert!(matches!(Query::analyze("SELECT ? + $1", &["1".into(), "1".into()]), Err(Error::Params(_))));
}

#[test]
fn refuses_table_functions_anywhere() {
    for sql in [
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM t WHERE x IN (SELECT a FROM read_parquet('/etc/shadow'))",
        "WITH x AS (SELECT * FROM read_ipc('f')) SELECT * FROM x",
    ] {
        assert!(matches!(Query::analyze(sql, &[]), Err(Error::Forbidden(_))), "{sql}");
    }
}

#[test]
fn writes_are_unsupported_and_bad_sql_is_a_syntax_error() {
    for sql in ["INSERT INTO t VALUES (1)", "CREATE TABLE t (a INT)", "DROP TABLE t", "SELECT 1 INTO t"] {
        assert!(matches!(Query::analyze(sql, &[]), Err(Error::Unsupported(_))), "{sql}");
    }
    assert!(matches!(Query::analyze("SELEC * FROM t", &[]), Err(Error::Syntax(_))));
    assert!(matches!(Query::analyze("", &[]), Err(Error::Syntax(_))));
    assert!(matches!(Query::analyze("SELECT 1; SELECT 2", &[]), Err(Error::Syntax(_))));
}

#[test]
fn colliding_unaliased_expressions_are_named_by_their_sql() {
    let query = Query::analyze("SELECT min(x), max(x), y, count(*) FROM t GROUP BY y", &[]).unwrap();
    assert_eq!(
        query.render(&frames_for(&query), &Default::default()).unwrap(),
        r#"SELECT min(x) AS "min(x)", max(x) AS "max(x)", y, count(*) FROM __floe_0 AS t GROUP BY y"#
    );
    // Names Polars can already tell apart are left as they are.
    let query = Query::analyze("SELECT avg(x), y FROM t GROUP BY y", &[]).unwrap();
    assert_eq!(query.render(&frames_for(&query), &Default::default()).unwrap(), "SELECT avg(x), y FROM __floe_0 AS t GROUP BY y");
}

#[test]
fn repeated_output_names_are_marked_and_presented_as_written() {
    let query = Query::analyze("SELECT a.id, b.id, a.x AS n, b.y AS n, b.id FROM a JOIN b ON a.id = b.id", &[]).unwrap();
    let rendered = query.render(&frames_for(&query), &Default::default()).unwrap();
    assert_eq!(
        rendered,
        r#"SELECT a.id, b.id AS "id__floe_repeat_2", a.x AS n, b.y AS "n__floe_repeat_2", b.id AS "id__floe_repeat_3" FROM __floe_0 AS a JOIN __floe_1 AS b ON a.id = b.id"#
    );
    let presented: Vec<_> =
        ["id", "id__floe_repeat_2", "n", "n__floe_repeat_2", "id__floe_repeat_3"].map(rewrite::presented_name).to_vec();
    assert_eq!(presented, ["id", "id", "n", "n", "id"]);
    // Only the mark and an ordinal are taken off.
    assert_eq!(rewrite::presented_name("x__floe_repeat_"), "x__floe_repeat_");
    assert_eq!(rewrite::presented_name("x__floe_repeat_2b"), "x__floe_repeat_2b");
    // Subqueries keep their names: only the statement's own output is presented.
    let query = Query::analyze("SELECT n FROM (SELECT x AS n FROM a) AS s", &[]).unwrap();
    assert_eq!(query.render(&frames_for(&query), &Default::default()).unwrap(), "SELECT n FROM (SELECT x AS n FROM __floe_0 AS a) AS s");
}

#[test]
fn table_aliases_name_their_tables() {
    let aliases = vec![("f".to_string(), "default.flowers".to_string())];
    assert_eq!(
        with_table_aliases("SELECT count(*) FROM f JOIN f AS g ON f.x = g.x", &aliases).unwrap(),
        "SELECT count(*) FROM default.flowers AS f JOIN default.flowers AS g ON f.x = g.x"
    );
    assert_eq!(
        with_table_aliases("WITH g AS (SELECT * FROM f) SELECT * FROM g WHERE x IN (SELECT x FROM F)", &aliases).unwrap(),
        "WITH g AS (SELECT * FROM default.flowers AS f) SELECT * FROM g WHERE x IN (SELECT x FROM default.flowers AS f)"
    );
    let shadowed = vec![("g".to_string(), "default.flowers".to_string())];
    assert_eq!(
        with_table_aliases("WITH g AS (SELECT 1 AS x) SELECT * FROM g", &shadowed).unwrap(),
        "WITH g AS (SELECT 1 AS x) SELECT * FROM g"
    );
    let hostile = vec![("f".to_string(), "x); DROP TABLE y; --".to_string())];
    assert!(matches!(with_table_aliases("SELECT 1", &hostile), Err(Error::Params(_))));
}

#[test]
fn single_table_conjuncts_become_scan_filters() {
    use pushdown::{Comparison, Filter, Literal};
    let query = Query::analyze(
        "SELECT * FROM ns.t AS x WHERE x.a > 5 AND 3 >= b AND c BETWEEN 1 AND 2 AND d IN ('p', 'q') \
         AND e IS NULL AND f LIKE 'ab%' AND (g = 1 OR h = 2) AND lower(i) = 'z'",
        &[],
    )
    .unwrap();
    let filters = query.scan_filters(&vec!["ns".to_string(), "t".to_string()]);
    let num = |n: &str| Literal::Number(n.into());
    assert_eq!(
        filters,
        &[
            Filter::Compare { column: "a".into(), op: Comparison::Gt, value: num("5") },
            Filter::Compare { column: "b".into(), op: Comparison::LtEq, value: num("3") },
            Filter::Compare { column: "c".into(), op: Comparison::GtEq, value: num("1") },
            Filter::Compare { column: "c".into(), op: Comparison::LtEq, value: num("2") },
            Filter::In { column: "d".into(), values: vec![Literal::Text("p".into()), Literal::Text("q".into())] },
            Filter::IsNull { column: "e".into(), negated: false },
            Filter::StartsWith { column: "f".into(), prefix: "ab".into() },
        ]
    );
    // A subquery reading the relation again shares its scan: nothing is pruned.
    let again = Query::analyze("SELECT * FROM t WHERE a = 1 AND b > (SELECT avg(b) FROM t)", &[]).unwrap();
    assert!(again.scan_filters(&vec!["t".to_string()]).is_empty());
    let quoted = Query::analyze("SELECT * FROM t WHERE a = 1 AND b > (SELECT avg(b) FROM \"t\")", &[]).unwrap();
    assert!(quoted.scan_filters(&vec!["t".to_string()]).is_empty());
    let other = Query::analyze("SELECT * FROM t WHERE a = 1 AND b > (SELECT avg(b) FROM u)", &[]).unwrap();
    assert_eq!(other.scan_filters(&vec!["t".to_string()]).len(), 1);
    // Joins keep every row source whole: nothing is pushed.
    let joined = Query::analyze("SELECT * FROM t JOIN u ON t.k = u.k WHERE t.a > 1", &[]).unwrap();
    assert!(joined.scan_filters(&vec!["t".to_string()]).is_empty());
    assert!(Query::analyze("EXPLAIN SELECT * FROM t", &[]).unwrap().is_explain());
}

#[test]
fn comparisons_put_the_column_first() {
    let query = Query::analyze("SELECT * FROM t WHERE 'a' = s AND 5 < x AND 1 + 1 = 2", &[]).unwrap();
    // (Literal arithmetic is folded; two literals keep their order.)
    assert!(query.render(&frames_for(&query), &Default::default()).unwrap().ends_with("WHERE s = 'a' AND x > 5 AND 2 = 2"));
}

#[test]
fn table_references_count_every_naming_of_a_table() {
    let references = |sql: &str| Query::analyze(sql, &[]).unwrap().table_references();
    assert_eq!(references("SELECT 1"), 0);
    assert_eq!(references("SELECT * FROM db.t a, db.t b, db.t c"), 3);
    assert_eq!(references("SELECT * FROM db.t WHERE x IN (SELECT x FROM db.u)"), 2);
}

#[test]
fn polars_sql_refusals_name_the_expression_as_written() {
    // A pattern that is no literal stays polars-sql's to refuse.
    let query = Query::analyze("SELECT id, who SIMILAR TO pat AS a FROM t", &[]).unwrap();
    let dump = "expression SimilarTo { negated: false, expr: Identifier(Ident { value: \"who\", quote_style: None }), pattern: Value(…) } is not currently supported";
    let refusal = query.refusal_of(dump).expect("an expression refusal");
    assert!(matches!(&refusal, Error::Unsupported(m) if m == "`who SIMILAR TO pat` is not supported here"), "{refusal}");
    assert!(query.refusal_of("unsupported function 'repeat'").is_none());
    let refusal = query.refusal_of("unexpected subquery").unwrap();
    assert!(matches!(&refusal, Error::Unsupported(m) if m.starts_with("a scalar subquery is not supported here")), "{refusal}");
    let query = Query::analyze("SELECT [id, 2] AS pair FROM t", &[]).unwrap();
    let refusal = query.refusal_of("array element Identifier(Ident { value: \"id\", quote_style: None }) is not supported").unwrap();
    assert!(matches!(&refusal, Error::Unsupported(m) if m.starts_with("`[id, 2]` is not supported here")), "{refusal}");
}

/// Scalar, EXISTS and IN subqueries as rendered for polars-sql.
mod subqueries;

#[test]
fn a_recursive_cte_is_taken_apart_and_read_as_a_relation() {
    let sql = "WITH RECURSIVE base AS (SELECT id, boss FROM ns.staff WHERE id > ?), \
               chain(id, depth) AS (SELECT id, 0 FROM base WHERE boss IS NULL UNION SELECT b.id, c.depth + 1 FROM base b JOIN chain c ON b.boss = c.id), \
               sizes AS (SELECT depth, count(*) AS n FROM chain GROUP BY depth) \
               SELECT s.n, o.x FROM sizes s JOIN ns.other o ON o.depth = s.depth WHERE o.x = 1";
    let query = Query::analyze(sql, &["0".to_string()]).unwrap();
    // The CTE is no catalog table; the tables its parts read are the query's.
    assert_eq!(query.relations(), &[vec!["ns".to_string(), "staff".to_string()], vec!["ns".to_string(), "other".to_string()]]);
    assert!(query.scan_filters(&vec!["ns".to_string(), "other".to_string()]).is_empty(), "one scan serves every part");
    let [chain] = query.recursions() else { panic!("one recursion: {:?}", query.recursions()) };
    assert_eq!((chain.name.as_str(), chain.columns.as_slice(), chain.distinct), ("chain", &["id".to_string(), "depth".to_string()][..], true));
    // Each part sees the ordinary CTE before it, the parameter bound.
    for part in [&chain.first, &chain.recursive] {
        assert!(part.sql().starts_with("WITH base AS (SELECT id, boss FROM ns.staff WHERE id > (0))"), "{}", part.sql());
    }
    assert!(chain.recursive.sql().contains("JOIN chain c ON"), "{}", chain.recursive.sql());
    assert!(query.sql().starts_with("WITH RECURSIVE base AS"), "the statement whole, for a ticket: {}", query.sql());
    let shape = Query::analyze("WITH RECURSIVE r(n) AS (SELECT n FROM r UNION ALL SELECT 1) SELECT n FROM r", &[]).unwrap_err();
    assert!(shape.to_string().contains("must be `<query not reading r> UNION [ALL] <query reading r>`"), "{shape}");
}
