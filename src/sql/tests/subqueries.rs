//! How subqueries render for polars-sql: the joins, CTEs and windows the
//! subquery passes write in their place.

use super::*;

fn render_with_columns(sql: &str, columns: &[(&str, &[&str])]) -> String {
    let query = Query::analyze(sql, &[]).unwrap();
    let columns: rewrite::Columns = columns
        .iter()
        .map(|(table, cols)| (vec![table.to_string()], cols.iter().map(|c| c.to_string()).collect()))
        .collect();
    query.render(&frames_for(&query), &columns).unwrap()
}

#[test]
fn correlated_scalar_subquery_becomes_a_grouped_join() {
    // A sum counts each row the window would repeat, so it stays a grouped join.
    let rendered = render_with_columns(
        "SELECT sum(l_price) FROM lineitem, part WHERE p_key = l_key AND l_qty < (SELECT 0.2 * sum(l_qty) FROM lineitem WHERE l_key = p_key)",
        &[("lineitem", &["l_key", "l_qty", "l_price"]), ("part", &["p_key"])],
    );
    // Inside the CTE, names are qualified by their relation (src/sql/qualify.rs).
    assert!(
        rendered.starts_with(
            "WITH __floe_sq1 AS (SELECT lineitem.l_key AS __floe_k1, 0.2 * sum(lineitem.l_qty) AS __floe_v \
             FROM __floe_0 AS lineitem GROUP BY lineitem.l_key)"
        ),
        "{rendered}"
    );
    // The comma joins became explicit joins on the equalities, the new key included.
    assert!(rendered.contains("JOIN __floe_sq1 ON __floe_sq1.__floe_k1 = p_key"), "{rendered}");
    assert!(rendered.contains("WHERE l_qty < __floe_sq1.__floe_v"), "{rendered}");
}

#[test]
fn an_average_over_the_outer_join_again_is_a_window_over_it() {
    let rendered = render_with_columns(
        "SELECT sum(l_price) FROM lineitem, part WHERE p_key = l_key AND p_brand = 'B' AND l_qty < (SELECT 0.2 * avg(l_qty) FROM lineitem WHERE l_key = p_key)",
        &[("lineitem", &["l_key", "l_qty", "l_price"]), ("part", &["p_key", "p_brand"])],
    );
    // Later passes qualify the names inside the derived table and make its joins explicit.
    assert!(rendered.contains("0.2 * avg(lineitem.l_qty) OVER (PARTITION BY part.p_key) AS __floe_w1v"), "{rendered}");
    assert!(rendered.contains("WHERE l_qty < __floe_w1v"), "{rendered}");
    assert!(!rendered.contains("__floe_sq"), "{rendered}");
}

#[test]
fn a_subquery_beside_aggregates_without_group_by_reads_them_from_below() {
    let rendered = render_with_columns(
        "SELECT count(*), sum(l_qty) / (SELECT sum(l_qty) FROM lineitem) AS share FROM lineitem WHERE l_price > 5 \
         HAVING count(*) > (SELECT count(*) FROM part) ORDER BY count(*)",
        &[("lineitem", &["l_key", "l_qty", "l_price"]), ("part", &["p_key", "p_brand"])],
    );
    // Over no rows the one row stays; `len` is the name Polars gives count(*).
    assert!(
        rendered.contains(
            "SELECT __floe_agg.__floe_a1 AS \"len\", CAST(__floe_agg.__floe_a2 AS DOUBLE) / __floe_sq2.__floe_sq2_v AS share FROM \
             (SELECT DISTINCT CAST(count(*) AS BIGINT) AS __floe_a1, sum(lineitem.l_qty) AS __floe_a2 FROM __floe_0 AS lineitem WHERE lineitem.l_price > 5) \
             AS __floe_agg CROSS JOIN __floe_sq1 CROSS JOIN __floe_sq2 WHERE (__floe_agg.__floe_a1 > __floe_sq1.__floe_sq1_v) IS TRUE"
        ),
        "{rendered}"
    );
    assert!(!rendered.contains("ORDER BY"), "{rendered}");
    // An input column read outside the aggregates has no one value: refused.
    assert!(matches!(Query::analyze("SELECT l_key, count(*), (SELECT 1) FROM lineitem", &[]), Err(Error::Invalid(_))));
}

#[test]
fn a_subquery_in_a_grouping_key_is_read_by_the_items_that_repeat_it() {
    let rendered = render_with_columns(
        "SELECT l_qty > (SELECT avg(l_qty) FROM lineitem) AS big, count(*) FROM lineitem GROUP BY l_qty > (SELECT avg(l_qty) FROM lineitem)",
        &[("lineitem", &["l_key", "l_qty"])],
    );
    // One CTE, the key the item (by position, as later passes name it).
    assert!(
        rendered.ends_with("SELECT l_qty > __floe_sq1.__floe_sq1_v AS big, count(*) FROM __floe_0 AS lineitem CROSS JOIN __floe_sq1 GROUP BY 1"),
        "{rendered}"
    );
    assert!(!rendered.contains("__floe_sq2"), "{rendered}");
}

#[test]
fn a_correlated_subquery_groups_only_the_keys_the_outer_filters_keep() {
    let rendered = render_with_columns(
        "SELECT sum(l_price) FROM lineitem, part WHERE p_key = l_key AND p_brand = 'B' AND l_qty < (SELECT 0.2 * sum(l_qty) FROM lineitem WHERE l_key = p_key)",
        &[("lineitem", &["l_key", "l_qty", "l_price"]), ("part", &["p_key", "p_brand"])],
    );
    assert!(
        rendered.contains(
            "WHERE lineitem.l_key IN (SELECT __floe_in.__floe_v FROM \
             (SELECT part.p_key AS __floe_v FROM __floe_1 AS part WHERE part.p_brand = 'B') AS __floe_in) GROUP BY lineitem.l_key"
        ),
        "{rendered}"
    );
}

#[test]
fn exists_by_inequality_groups_only_keys_the_joined_filters_keep() {
    // TPC-H 21's shape: `lineitem l1` has no filter on constants of its own,
    // but meets only the suppliers of one nation.
    let query = Query::analyze(
        "SELECT s_name, count(*) FROM supplier, lineitem l1, nation WHERE s_key = l1.l_supp AND l1.l_late > l1.l_due \
         AND EXISTS (SELECT * FROM lineitem l2 WHERE l2.l_order = l1.l_order AND l2.l_supp <> l1.l_supp) \
         AND s_nation = n_key AND n_name = 'PERU' GROUP BY s_name",
        &[],
    )
    .unwrap();
    let mut columns: rewrite::Columns = [
        ("supplier", &["s_key", "s_name", "s_nation"][..]),
        ("lineitem", &["l_order", "l_supp", "l_late", "l_due"]),
        ("nation", &["n_key", "n_name"]),
    ]
    .iter()
    .map(|(table, cols)| (vec![table.to_string()], cols.iter().map(|c| c.to_string()).collect()))
    .collect();
    for (name, rows) in [("supplier", 100), ("lineitem", 60_000), ("nation", 25)] {
        columns.set_rows(vec![name.into()], rows);
    }
    let rendered = query.render(&frames_for(&query), &columns).unwrap();
    assert!(
        rendered.contains(
            "WHERE l2.l_order IN (SELECT __floe_in.__floe_v FROM (SELECT l1.l_order AS __floe_v FROM __floe_1 l1 \
             JOIN __floe_0 AS supplier ON supplier.s_key = l1.l_supp JOIN __floe_2 AS nation ON supplier.s_nation = nation.n_key \
             WHERE l1.l_late > l1.l_due AND nation.n_name = 'PERU') AS __floe_in) GROUP BY l2.l_order"
        ),
        "{rendered}"
    );
}

#[test]
fn select_list_subqueries_correlated_by_inequalities_join_distinct_outer_values() {
    let rendered = render_with_columns(
        "SELECT id, (SELECT count(*) FROM t AS b WHERE a.ts > b.ts AND b.k = a.k) AS earlier FROM t AS a",
        &[("t", &["id", "k", "ts"])],
    );
    // One row per distinct pair of outer values, the equality a join and the
    // inequality a filter; LEFT JOINed back, a missing group counting 0.
    assert!(
        rendered.starts_with(
            "WITH __floe_sq1 AS (SELECT __floe_sq1_o.__floe_k1, __floe_sq1_o.__floe_k2, CAST(count(*) AS BIGINT) AS __floe_sq1_v \
             FROM (SELECT DISTINCT a.ts AS __floe_k1, a.k AS __floe_k2 FROM __floe_0 AS a) AS __floe_sq1_o \
             JOIN __floe_0 AS b ON b.k = __floe_sq1_o.__floe_k2 WHERE (b.ts < __floe_sq1_o.__floe_k1) IS TRUE"
        ),
        "{rendered}"
    );
    assert!(rendered.contains("SELECT id, coalesce(__floe_sq1.__floe_sq1_v, 0) AS earlier FROM __floe_0 AS a LEFT JOIN __floe_sq1 ON __floe_sq1.__floe_k1 = a.ts AND __floe_sq1.__floe_k2 = a.k"), "{rendered}");
    // By equalities only: grouped by the inner keys.
    let rendered = render_with_columns("SELECT id, (SELECT max(b.ts) FROM t AS b WHERE b.k = a.k) FROM t AS a", &[("t", &["id", "k", "ts"])]);
    assert!(rendered.contains("GROUP BY b.k"), "{rendered}");
    // Named as written, not after the CTE's column it now reads.
    assert!(rendered.contains("SELECT id, __floe_sq1.__floe_sq1_v AS \"(SELECT max(b.ts) FROM t AS b WHERE b.k = a.k)\" FROM"), "{rendered}");
}

#[test]
fn lookup_subqueries_are_the_groups_one_row() {
    let columns: &[(&str, &[&str])] = &[("e", &["id", "dept"]), ("d", &["id", "name"])];
    let rendered = render_with_columns("SELECT id, (SELECT name FROM d WHERE d.id = e.dept AND name <> 'x') AS n FROM e", columns);
    assert!(rendered.contains("floe_one_row(CAST(count(*) AS BIGINT), min(d.name)) AS __floe_sq1_v"), "{rendered}");
    assert!(rendered.contains("GROUP BY d.id"), "{rendered}");
    assert!(rendered.contains("LEFT JOIN __floe_sq1 ON __floe_sq1.__floe_k1 = e.dept"), "{rendered}");
    // A window or a nested subquery is no row's own value: left as written.
    let rendered = render_with_columns("SELECT id, (SELECT rank() OVER (ORDER BY name) FROM d WHERE d.id = e.dept) FROM e", columns);
    assert!(!rendered.contains("floe_one_row"), "{rendered}");
}

#[test]
fn subqueries_it_cannot_prove_safe_are_left_alone_or_joined_as_values() {
    // count() of an empty group is 0, not NULL: an inner join would drop
    // rows, so the count is LEFT JOINed as a SELECT item's is.
    let sql = "SELECT * FROM t AS a WHERE x > (SELECT count(*) FROM t AS b WHERE b.k = a.k)";
    let rendered = render_with_columns(sql, &[("t", &["k", "x"])]);
    assert!(rendered.contains("LEFT JOIN __floe_sq1 ON __floe_sq1.__floe_k1 = a.k WHERE x > coalesce(__floe_sq1.__floe_sq1_v, 0)"), "{rendered}");
    // Correlated by an inequality, in WHERE: a value per distinct outer value.
    let sql = "SELECT * FROM t AS a WHERE x >= (SELECT avg(b.x) FROM t AS b WHERE b.k <> a.k)";
    let rendered = render_with_columns(sql, &[("t", &["k", "x"])]);
    assert!(rendered.contains("FROM (SELECT DISTINCT a.k AS __floe_k1 FROM __floe_0 AS a) AS __floe_sq1_o"), "{rendered}");
    assert!(rendered.contains("WHERE x >= __floe_sq1.__floe_sq1_v"), "{rendered}");
    // A column neither side has: no guessing.
    let sql = "SELECT * FROM t WHERE x > (SELECT avg(y) FROM u WHERE u.k = nowhere)";
    assert!(!render_with_columns(sql, &[("t", &["k", "x"]), ("u", &["k", "y"])]).contains("__floe_sq"));
}

#[test]
fn scalar_subquery_ctes_join_after_the_explicit_joins() {
    // A subquery's one-row CTE, left as a comma item, kept the whole list a
    // cross product polars-sql never undid (TPC-H 16 at SF 1: > 20 GB).
    let rendered = render_with_columns(
        "SELECT count(*) FROM partsupp, part WHERE p_key = ps_key AND ps_supp > (SELECT avg(s_key) FROM supplier WHERE s_note LIKE '%x%')",
        &[("partsupp", &["ps_key", "ps_supp"]), ("part", &["p_key"]), ("supplier", &["s_key", "s_note"])],
    );
    assert!(rendered.contains("JOIN __floe_1 AS part ON p_key = ps_key CROSS JOIN __floe_sq1"), "{rendered}");
    assert!(!rendered.contains(", __floe_sq1"), "{rendered}");
}

#[test]
fn in_subquery_with_a_nested_subquery_reads_through_a_derived_table() {
    // polars-sql semi-joins `IN (SELECT …)` only when the subquery's WHERE
    // holds no subquery; otherwise it tests every row against a list (TPC-H 20).
    let rendered = render_with_columns(
        "SELECT s_name FROM supplier WHERE s_key IN (SELECT ps_supp FROM partsupp WHERE ps_part IN (SELECT p_key FROM part WHERE p_name LIKE 'f%'))",
        &[("supplier", &["s_key", "s_name"]), ("partsupp", &["ps_part", "ps_supp"]), ("part", &["p_key", "p_name"])],
    );
    assert!(rendered.contains("s_key IN (SELECT __floe_in.__floe_v FROM (SELECT"), "{rendered}");
    // Correlated with the outer query: left as written.
    let rendered = render_with_columns(
        "SELECT s_name FROM supplier WHERE s_key IN (SELECT ps_supp FROM partsupp WHERE ps_part = s_name AND ps_part IN (SELECT p_key FROM part))",
        &[("supplier", &["s_key", "s_name"]), ("partsupp", &["ps_part", "ps_supp"]), ("part", &["p_key", "p_name"])],
    );
    assert!(!rendered.contains("__floe_in"), "{rendered}");
}

#[test]
fn in_subquery_on_one_joined_table_filters_it_before_the_joins() {
    let rendered = render_with_columns(
        "SELECT c_name, sum(l_qty) FROM customer, orders, lineitem WHERE o_key IN (SELECT l_okey FROM lineitem GROUP BY l_okey HAVING sum(l_qty) > 300) \
         AND c_key = o_ckey AND o_key = l_okey GROUP BY c_name",
        &[("customer", &["c_key", "c_name"]), ("orders", &["o_key", "o_ckey"]), ("lineitem", &["l_okey", "l_qty"])],
    );
    assert!(rendered.contains("JOIN (SELECT * FROM __floe_1 AS orders WHERE orders.o_key IN (SELECT"), "{rendered}");
    assert!(rendered.contains(") AS orders ON c_key = o_ckey"), "{rendered}");
}

#[test]
fn uncorrelated_exists_is_a_count_of_one_row() {
    let columns: &[(&str, &[&str])] = &[("t", &["id", "x"]), ("u", &["k"])];
    let rendered = render_with_columns("SELECT id FROM t WHERE id = 2 OR NOT EXISTS (SELECT * FROM u WHERE k > 3)", columns);
    assert!(rendered.contains("SELECT DISTINCT count(*) AS __floe_sq1_v FROM (SELECT 1 AS __floe_v FROM __floe_1 AS u WHERE u.k > 3 LIMIT 1) AS __floe_e"), "{rendered}");
    assert!(rendered.contains("__floe_sq1.__floe_sq1_v <> 1"), "{rendered}");
    // An aggregate without GROUP BY answers one row, whatever it reads: always there.
    let rendered = render_with_columns("SELECT id FROM t WHERE EXISTS (SELECT max(k) FROM u)", columns);
    assert_eq!(rendered, "SELECT id FROM __floe_0 AS t WHERE true");
    // Correlated ones are polars-sql's semi joins; by an inequality, a count per distinct outer value.
    let rendered = render_with_columns("SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k = t.x)", columns);
    assert!(rendered.contains("EXISTS"), "{rendered}");
    let rendered = render_with_columns("SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.k > t.x)", columns);
    assert!(rendered.contains("(SELECT DISTINCT t.x AS __floe_k1 FROM __floe_0 AS t) AS __floe_sq1_o"), "{rendered}");
    assert!(rendered.contains("WHERE (coalesce(__floe_sq1.__floe_sq1_v, 0) > 0)"), "{rendered}");
}

#[test]
fn membership_correlated_by_an_inequality_is_a_count() {
    let columns: &[(&str, &[&str])] = &[("t", &["id", "x"]), ("u", &["k", "v"])];
    let rendered = render_with_columns("SELECT id FROM t WHERE x IN (SELECT u.v FROM u WHERE u.k > t.id) AND id > 1", columns);
    assert!(rendered.contains("JOIN __floe_1 AS u ON (u.v) = __floe_sq1_o.__floe_k2"), "{rendered}");
    assert!(rendered.contains("coalesce(__floe_sq1.__floe_sq1_v, 0) > 0"), "{rendered}");
    // `k` would name the subquery's own column: left as written.
    let columns: &[(&str, &[&str])] = &[("t", &["id", "k"]), ("u", &["k", "v"])];
    let rendered = render_with_columns("SELECT id FROM t WHERE k IN (SELECT v FROM u WHERE u.v > t.id)", columns);
    assert!(rendered.contains(" IN (SELECT"), "{rendered}");
}


#[test]
fn uncorrelated_subqueries_that_may_find_no_row_are_null_there() {
    let columns: &[(&str, &[&str])] = &[("e", &["id", "dept"]), ("d", &["id", "name"])];
    // A cross join with no rows would drop every row of `e`.
    let rendered = render_with_columns("SELECT id, (SELECT name FROM d WHERE id < 0) AS n FROM e", columns);
    assert!(
        rendered.contains("SELECT DISTINCT floe_one_row(CAST(count(*) AS BIGINT), min(__floe_rows.__floe_sq1_v)) AS __floe_sq1_v FROM (SELECT d.name AS __floe_sq1_v FROM __floe_0 AS d WHERE d.id < 0) AS __floe_rows"),
        "{rendered}"
    );
    // An aggregate of all the rows is one row.
    let rendered = render_with_columns("SELECT id, (SELECT max(name) FROM d) AS n FROM e", columns);
    assert!(rendered.starts_with("WITH __floe_sq1 AS (SELECT DISTINCT max(d.name) AS __floe_sq1_v FROM __floe_0 AS d)"), "{rendered}");
}

#[test]
fn subqueries_in_aggregate_arguments_are_values_per_row() {
    let columns: &[(&str, &[&str])] = &[("e", &["id", "dept"]), ("d", &["id", "name"])];
    let rendered = render_with_columns(
        "SELECT dept, max(CASE WHEN id > (SELECT max(d.id) FROM d WHERE d.id < e.dept) THEN 1 END) AS m, (SELECT min(name) FROM d) AS f, \
         count(*) + (SELECT count(*) FROM d) AS g FROM e GROUP BY dept HAVING sum(CASE WHEN e.id IN (SELECT d.id FROM d WHERE d.name <> 'x') THEN 1 END) > 0",
        columns,
    );
    // Outside the aggregates an uncorrelated one is a grouping key, or an aggregate's one value.
    let items = "SELECT dept, max(CASE WHEN id > __floe_sq3.__floe_sq3_v THEN 1 END) AS m, __floe_sq1.__floe_sq1_v AS f, \
                 CAST(CAST(count(*) AS HUGEINT) + max(__floe_sq2.__floe_sq2_v) AS BIGINT) AS g";
    assert!(rendered.contains(items), "{rendered}");
    assert!(rendered.contains("GROUP BY dept, __floe_sq1.__floe_sq1_v HAVING"), "{rendered}");
    assert!(rendered.contains("LEFT JOIN __floe_sq3 ON __floe_sq3.__floe_k1 = e.dept LEFT JOIN __floe_sq4 ON __floe_sq4.__floe_k1 = (e.id)"), "{rendered}");
    assert!(rendered.contains("HAVING CAST(sum(CAST(CASE WHEN (CASE WHEN coalesce(__floe_sq4.__floe_sq4_v, 0) > 0 THEN true"), "{rendered}");
}

#[test]
fn correlated_subqueries_in_having_read_the_keys_per_group() {
    let columns: &[(&str, &[&str])] = &[("s", &["sid", "kind"]), ("k", &["k", "region"])];
    let rendered = render_with_columns(
        "SELECT s.kind FROM s GROUP BY s.kind HAVING max(s.sid) > (SELECT min(region) FROM k WHERE k.k = s.kind) \
         AND count(*) > (SELECT count(*) FROM k WHERE k.k = s.kind)",
        columns,
    );
    // An aggregate joined on the key; a count (0 over no rows) LEFT JOINed; each read by `max`.
    assert!(rendered.contains("JOIN __floe_sq1 ON __floe_sq1.__floe_k1 = s.kind LEFT JOIN __floe_sq2 ON"), "{rendered}");
    assert!(rendered.contains("HAVING max(s.sid) > max(__floe_sq1.__floe_v) AND CAST(count(*) AS BIGINT) > max("), "{rendered}");
    // Reading a column that is no key, it is left as written (and refused).
    let rendered = render_with_columns("SELECT s.kind FROM s GROUP BY s.kind HAVING count(*) > (SELECT count(*) FROM k WHERE k.region < s.sid)", columns);
    assert!(rendered.contains("HAVING CAST(count(*) AS BIGINT) > (SELECT"), "{rendered}");
}
