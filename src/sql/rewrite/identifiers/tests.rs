use super::super::scope::rewritten_by;
use super::super::Columns;
use super::{as_declared, as_stored};

fn stored(sql: &str) -> String {
    let columns: Columns = [(vec!["fz".to_string(), "emp".to_string()], vec!["id".to_string(), "name".to_string(), "Dept".to_string()])]
        .into_iter()
        .collect();
    let mut statement = crate::sql::parse::parse_single(sql).expect("test SQL parses");
    as_stored(&mut statement, &columns);
    statement.to_string()
}

#[test]
fn ctes_are_read_as_declared() {
    assert_eq!(rewritten_by("WITH T AS (SELECT 1 AS a) SELECT * FROM t", as_declared), "WITH T AS (SELECT 1 AS a) SELECT * FROM T");
    // Quoted: exact, as SQL has it.
    let quoted = r#"WITH T AS (SELECT 1 AS a) SELECT * FROM "t""#;
    assert_eq!(rewritten_by(quoted, as_declared), quoted);
}

#[test]
fn qualifiers_name_unaliased_relations_as_declared() {
    assert_eq!(rewritten_by("SELECT EMP.name, Fz.Emp.id FROM fz.emp", as_declared), "SELECT emp.name, fz.emp.id FROM fz.emp");
    assert_eq!(rewritten_by("SELECT emp.name FROM FZ.EMP", as_declared), "SELECT EMP.name FROM FZ.EMP");
    // Two relations alike but for case: neither is guessed.
    let ambiguous = "SELECT AB.x FROM a.Ab, b.t2 AS u, c.aB";
    assert_eq!(rewritten_by(ambiguous, as_declared), ambiguous);
    let struct_field = "SELECT emp.address.City FROM fz.emp";
    assert_eq!(rewritten_by(struct_field, as_declared), struct_field);
}

#[test]
fn sort_keys_name_outputs_as_declared() {
    assert_eq!(rewritten_by("SELECT id AS X FROM t ORDER BY x DESC", as_declared), "SELECT id AS X FROM t ORDER BY X DESC");
    // An output spelled exactly so is the one sorted by.
    let exact = "SELECT name AS ID, id FROM t ORDER BY id";
    assert_eq!(rewritten_by(exact, as_declared), exact);
}

#[test]
fn column_references_are_spelled_as_stored() {
    assert_eq!(
        stored("SELECT NAME, e.ID, dept FROM fz.emp AS e WHERE Id > 1 GROUP BY DEPT ORDER BY Name"),
        "SELECT name, e.id, Dept FROM fz.emp AS e WHERE id > 1 GROUP BY Dept ORDER BY name"
    );
    assert_eq!(stored("SELECT * EXCLUDE (NAME) FROM fz.emp JOIN fz.emp AS f USING (ID)"), "SELECT * EXCLUDE (name) FROM fz.emp JOIN fz.emp AS f USING(id)");
    // The query's own names count: an alias spelled exactly is no column's.
    assert_eq!(stored("SELECT n FROM (SELECT NAME AS N FROM fz.emp) AS d"), "SELECT N FROM (SELECT name AS N FROM fz.emp) AS d");
    let quoted = r#"SELECT "NAME" FROM fz.emp"#;
    assert_eq!(stored(quoted), quoted);
}

#[test]
fn references_resolve_in_the_nearest_scope() {
    // Floe's split of a grouped query with windows keeps the user's spelling as the outer alias.
    assert_eq!(
        stored("SELECT __k AS NAME FROM (SELECT E.NAME AS __k FROM fz.emp AS E GROUP BY E.NAME) AS g ORDER BY NAME"),
        "SELECT __k AS NAME FROM (SELECT E.name AS __k FROM fz.emp AS E GROUP BY E.name) AS g ORDER BY NAME"
    );
    // A derived table's column is spelled as its SELECT ends up naming it.
    assert_eq!(stored("SELECT d.NAME FROM (SELECT NAME FROM fz.emp) AS d"), "SELECT d.name FROM (SELECT name FROM fz.emp) AS d");
    // A correlated subquery sees the outer query's columns; its own come first.
    assert_eq!(
        stored("WITH c AS (SELECT ID AS Key FROM fz.emp) SELECT KEY FROM c WHERE EXISTS (SELECT 1 FROM fz.emp WHERE Id = KEY)"),
        "WITH c AS (SELECT id AS Key FROM fz.emp) SELECT Key FROM c WHERE EXISTS (SELECT 1 FROM fz.emp WHERE id = Key)"
    );
}

#[test]
fn qualified_references_resolve_among_their_relations_columns() {
    let columns: Columns = [
        (vec!["fz".to_string(), "emp".to_string()], vec!["id".to_string(), "dept_id".to_string()]),
        (vec!["walk".to_string()], vec!["Id".to_string(), "d".to_string()]),
    ]
    .into_iter()
    .collect();
    let mut statement = crate::sql::parse::parse_single("SELECT n.ID, w.id FROM fz.emp AS n JOIN walk AS w ON n.DEPT_ID = W.ID").unwrap();
    as_stored(&mut statement, &columns);
    assert_eq!(statement.to_string(), "SELECT n.id, w.Id FROM fz.emp AS n JOIN walk AS w ON n.dept_id = W.Id");
}

#[test]
fn a_name_no_input_has_may_be_an_outputs() {
    assert_eq!(stored("SELECT DEPT AS K, count(*) FROM fz.emp GROUP BY k"), "SELECT Dept AS K, count(*) FROM fz.emp GROUP BY K");
    // An input's name comes first.
    assert_eq!(stored("SELECT name AS ID FROM fz.emp GROUP BY Id, name"), "SELECT name AS ID FROM fz.emp GROUP BY id, name");
}

#[test]
fn functions_are_named_in_lower_case() {
    assert_eq!(
        rewritten_by(r#"SELECT Max(a), "Odd"(b), COUNT(*) FROM t GROUP BY CASE WHEN Abs(a) > 1 THEN 1 END"#, as_declared),
        r#"SELECT max(a), "Odd"(b), count(*) FROM t GROUP BY CASE WHEN abs(a) > 1 THEN 1 END"#
    );
}

#[test]
fn qualifiers_name_the_nearest_scopes_relations() {
    assert_eq!(rewritten_by("SELECT E.*, EMP.* FROM fz.emp AS e, fz.emp", as_declared), "SELECT e.*, emp.* FROM fz.emp AS e, fz.emp");
    // The subquery's `t` is its own alias; the outer `t` is the CTE `T`.
    assert_eq!(
        rewritten_by("WITH T AS (SELECT 1 AS x) SELECT t.x FROM T WHERE EXISTS (SELECT 1 FROM u AS t WHERE T.y = 1)", as_declared),
        "WITH T AS (SELECT 1 AS x) SELECT T.x FROM T WHERE EXISTS (SELECT 1 FROM u AS t WHERE t.y = 1)"
    );
    // A sort key's qualifier names the SELECT's relation.
    assert_eq!(rewritten_by("SELECT D.x FROM (SELECT 1 AS x) AS d ORDER BY D.x", as_declared), "SELECT d.x FROM (SELECT 1 AS x) AS d ORDER BY d.x");
}

#[test]
fn sort_keys_read_inputs_first_inside_expressions() {
    assert_eq!(stored("SELECT id AS Name FROM fz.emp ORDER BY NAME || '', name"), "SELECT id AS Name FROM fz.emp ORDER BY name || '', Name");
}

#[test]
fn a_wildcards_column_lists_name_columns() {
    assert_eq!(
        stored("SELECT * REPLACE (ID + 1 AS ID) RENAME (NAME AS n) FROM fz.emp"),
        "SELECT * REPLACE (id + 1 AS id) RENAME (name AS n) FROM fz.emp"
    );
}

#[test]
fn an_outer_column_comes_before_a_subquerys_alias() {
    let columns: Columns = [
        (vec!["e".to_string()], vec!["id".to_string(), "dept_id".to_string(), "salary".to_string()]),
        (vec!["d".to_string()], vec!["id".to_string(), "budget".to_string(), "Name".to_string()]),
    ]
    .into_iter()
    .collect();
    let respelled = |sql: &str| {
        let mut statement = crate::sql::parse::parse_single(sql).unwrap();
        as_stored(&mut statement, &columns);
        statement.to_string()
    };
    let exact = "SELECT e.id FROM e WHERE dept_id IN (SELECT d.id AS Salary FROM d WHERE d.budget > salary / 10)";
    assert_eq!(respelled(exact), exact);
    // A qualified wildcard's lists name its own relation's columns; its outputs are that relation's.
    assert_eq!(
        respelled("SELECT X.NAME FROM (SELECT D.* EXCLUDE (ID) FROM d AS D JOIN e ON e.id = D.id) AS X"),
        "SELECT X.Name FROM (SELECT D.* EXCLUDE (id) FROM d AS D JOIN e ON e.id = D.id) AS X"
    );
    assert_eq!(respelled("SELECT NM FROM (SELECT * RENAME (NAME AS Nm) FROM d) AS t"), "SELECT Nm FROM (SELECT * RENAME (Name AS Nm) FROM d) AS t");
}

#[test]
fn qualifiers_are_spelled_as_the_alias_of_their_scope() {
    // `) CATALOG … catalog.item` (TPC-DS 49) is one relation.
    assert_eq!(
        rewritten_by("SELECT catalog.item, x.Y FROM (SELECT 1 AS item) CATALOG, t AS X", as_declared),
        "SELECT CATALOG.item, X.Y FROM (SELECT 1 AS item) CATALOG, t AS X"
    );
    // The outer `T` is the CTE; only the subquery's qualifiers name its alias `t`.
    assert_eq!(
        rewritten_by("WITH T AS (SELECT 1 AS x) SELECT T.x FROM T WHERE EXISTS (SELECT 1 FROM u AS t WHERE T.id = 1)", as_declared),
        "WITH T AS (SELECT 1 AS x) SELECT T.x FROM T WHERE EXISTS (SELECT 1 FROM u AS t WHERE t.id = 1)"
    );
    let quoted = r#"SELECT "E".x FROM t AS "E""#;
    assert_eq!(rewritten_by(quoted, as_declared), quoted);
}
