use super::*;

fn rewritten(sql: &str) -> String {
    crate::sql::rewrite::scope::rewritten_by(sql, |statement| {
        rewrite(statement);
        peer_frames(statement).expect("frames run where they are");
    })
}

#[test]
fn range_offsets_become_value_frames_where_floe_functions_reach() {
    let sql = rewritten("SELECT sum(x) OVER (PARTITION BY p ORDER BY o RANGE BETWEEN 2 PRECEDING AND 1.5 FOLLOWING) FROM t");
    assert_eq!(sql, "SELECT floe_range_sum_p1_al_n(x, o, -2, 1.5, p) OVER () FROM t");
    let sql = rewritten("SELECT count(*) OVER (ORDER BY d DESC RANGE INTERVAL '1' DAY PRECEDING) FROM t");
    assert_eq!(sql, "SELECT floe_range_rows_p0_df_t(1, d, -86400000000, 0) OVER () FROM t");
    let sql = rewritten("SELECT avg(x) OVER (ORDER BY o RANGE BETWEEN CURRENT ROW AND 3 FOLLOWING) FROM t");
    assert_eq!(sql, "SELECT floe_range_avg_p0_al_n(x, o, 0, 3) OVER () FROM t");
    // In an expression's subquery Floe's functions do not reach: refused by name.
    let mut statement = crate::sql::parse::parse_single(
        "SELECT * FROM t WHERE x IN (SELECT sum(x) OVER (ORDER BY o RANGE 2 PRECEDING) FROM t)",
    )
    .unwrap();
    rewrite(&mut statement);
    assert!(peer_frames(&mut statement).is_err());
    // GROUPS: a value frame over the peer group's number, any number of keys.
    let sql = rewritten("SELECT sum(x) OVER (PARTITION BY p ORDER BY o, q GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t");
    assert_eq!(sql, "SELECT floe_range_sum_p1_al_n(x, dense_rank() OVER (PARTITION BY p ORDER BY o, q), -1, 0, p) OVER () FROM t");
    // RANGE offsets over several keys, or months (no fixed length), are refused up front; so are GROUPS without order.
    for sql in [
        "SELECT sum(x) OVER (GROUPS BETWEEN 1 PRECEDING AND CURRENT ROW) FROM t",
        "SELECT sum(x) OVER (ORDER BY o, q RANGE 2 PRECEDING) FROM t",
        "SELECT sum(x) OVER (ORDER BY d RANGE INTERVAL '1 month' PRECEDING) FROM t",
    ] {
        assert!(refuse_unsupported_frames(&crate::sql::parse::parse_single(sql).unwrap()).is_err(), "{sql}");
    }
}

#[test]
fn frames_that_start_after_they_end_are_refused() {
    let refused = |frame: &str| {
        let sql = format!("SELECT sum(x) OVER (ORDER BY o {frame}) FROM t");
        matches!(refuse_unsupported_frames(&crate::sql::parse::parse_single(&sql).unwrap()), Err(crate::sql::Error::Invalid(_)))
    };
    for frame in ["ROWS BETWEEN 1 FOLLOWING AND CURRENT ROW", "ROWS BETWEEN CURRENT ROW AND 2 PRECEDING", "ROWS BETWEEN UNBOUNDED FOLLOWING AND UNBOUNDED FOLLOWING", "RANGE BETWEEN 1 PRECEDING AND UNBOUNDED PRECEDING", "GROUPS 1 FOLLOWING"] {
        assert!(refused(frame), "{frame}");
    }
    for frame in ["ROWS BETWEEN 1 FOLLOWING AND 3 FOLLOWING", "ROWS BETWEEN 3 PRECEDING AND 5 PRECEDING", "ROWS BETWEEN CURRENT ROW AND CURRENT ROW", "ROWS 2 PRECEDING"] {
        assert!(!refused(frame), "{frame}");
    }
}

#[test]
fn whole_partition_frames_drop_the_order() {
    let sql = rewritten("SELECT last_value(x) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) FROM t");
    assert_eq!(sql, "SELECT first_value(x) OVER (PARTITION BY p ORDER BY o DESC) FROM t");
}

#[test]
fn default_and_range_frames_end_at_the_last_peer() {
    let sql = rewritten("SELECT sum(x) OVER (PARTITION BY p ORDER BY o, q DESC) FROM t");
    assert_eq!(sql, "SELECT floe_peers_sum_p1_al_df(x, o, q, p) OVER () FROM t");
    let sql = rewritten("SELECT count(*) OVER (ORDER BY o NULLS FIRST RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM t");
    assert_eq!(sql, "SELECT floe_peers_rows_p0_af(1, o) OVER () FROM t");
    let sql = rewritten("SELECT avg(x) OVER (ORDER BY o RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM t");
    assert_eq!(sql, "SELECT floe_peers_avg_p0_df(x, o) OVER () FROM t");
    // Top-level CTEs and derived tables run on their own, where Floe's
    // functions reach; an expression's subquery left there (one `lift.rs`
    // could not move: it reads the query around it) is refused.
    let sql = rewritten("WITH c AS (SELECT sum(x) OVER (ORDER BY o) AS s FROM t) SELECT * FROM c, (SELECT min(x) OVER (ORDER BY o) AS m FROM t) AS d");
    assert!(sql.contains("floe_peers_sum_p0_al(x, o) OVER () AS s") && sql.contains("floe_peers_min_p0_al(x, o) OVER () AS m"), "{sql}");
    let mut statement = crate::sql::parse::parse_single("SELECT * FROM t WHERE x IN (SELECT avg(x) OVER (ORDER BY o) AS a FROM t)").unwrap();
    rewrite(&mut statement);
    assert!(peer_frames(&mut statement).is_err());
    // Rankings have no frame: they run anywhere.
    let mut statement = crate::sql::parse::parse_single("SELECT * FROM t WHERE x IN (SELECT rank() OVER (ORDER BY o) FROM t)").unwrap();
    assert!(peer_frames(&mut statement).is_ok());
    let sql = rewritten("SELECT sum(x) OVER (ORDER BY o) FROM t UNION ALL SELECT 1");
    assert!(sql.contains("floe_peers"), "{sql}");
    // ROWS frames end at the row, which polars-sql's cumulative windows do.
    let sql = rewritten("SELECT sum(x) OVER (ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM t");
    assert_eq!(sql, "SELECT sum(x) OVER (ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM t");
}

#[test]
fn rows_frames_are_floe_functions_that_sort_the_rows_themselves() {
    let sql = rewritten("SELECT max(x) OVER (PARTITION BY p ORDER BY o DESC ROWS BETWEEN 100 PRECEDING AND 1 FOLLOWING) FROM t");
    assert_eq!(sql, "SELECT floe_rows_max_p1_df(x, -100, 1, o, p) OVER () FROM t");
    let sql = rewritten("SELECT count(*) OVER (ORDER BY o, q ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM t");
    assert_eq!(sql, "SELECT floe_rows_rows_p0_al_al(1, 0, NULL, o, q) OVER () FROM t");
    // The frame polars-sql runs itself stays, but for running minima and maxima (text has none).
    let sql = rewritten("SELECT sum(x) OVER (ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM t");
    assert!(sql.contains("ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"), "{sql}");
    let sql = rewritten("SELECT min(s) OVER (PARTITION BY p ORDER BY o DESC ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM t");
    assert_eq!(sql, "SELECT floe_rows_min_p1_df(s, NULL, 0, o, p) OVER () FROM t");
    // Out of the functions' reach polars-sql's own running maximum stays, not refused.
    let mut statement = crate::sql::parse::parse_single("SELECT * FROM t WHERE x IN (SELECT max(x) OVER (ORDER BY o ROWS UNBOUNDED PRECEDING) FROM t)").unwrap();
    rewrite(&mut statement);
    assert!(peer_frames(&mut statement).is_ok());
}

#[test]
fn out_of_reach_short_rows_frames_read_neighbours() {
    let mut statement = crate::sql::parse::parse_single(
        "SELECT * FROM t WHERE x IN (SELECT max(x) OVER (ORDER BY o ROWS BETWEEN 1 PRECEDING AND 1 FOLLOWING) FROM t)",
    )
    .unwrap();
    rewrite(&mut statement);
    peer_frames(&mut statement).unwrap();
    assert!(statement.to_string().contains("greatest(lag(x, 1) OVER (ORDER BY o), (x), lead(x, 1) OVER (ORDER BY o))"), "{statement}");
    let mut statement = crate::sql::parse::parse_single(
        "SELECT * FROM t WHERE x IN (SELECT sum(x) OVER (ORDER BY o ROWS BETWEEN 100 PRECEDING AND CURRENT ROW) FROM t)",
    )
    .unwrap();
    rewrite(&mut statement);
    assert!(peer_frames(&mut statement).is_err());
}

#[test]
fn keys_in_mixed_directions_order_by_their_dense_rank() {
    let sql = rewritten("SELECT rank() OVER (PARTITION BY p ORDER BY a DESC, b) FROM t");
    assert_eq!(sql, "SELECT rank() OVER (PARTITION BY p ORDER BY floe_order_df_al(a, b, 'df_al')) FROM t");
    // GROUPS frames then number their groups in one direction too.
    let sql = rewritten("SELECT sum(x) OVER (ORDER BY a DESC, b GROUPS 1 PRECEDING) FROM t");
    assert!(sql.contains("dense_rank() OVER (ORDER BY floe_order_df_al(a, b, 'df_al'))"), "{sql}");
    // One direction is polars-sql's own.
    assert_eq!(rewritten("SELECT rank() OVER (ORDER BY a DESC, b DESC) FROM t"), "SELECT rank() OVER (ORDER BY a DESC, b DESC) FROM t");
}

#[test]
fn aggregates_polars_sql_answers_as_one_row_are_refused_over_windows() {
    for sql in ["SELECT corr(a, b) OVER (PARTITION BY g) FROM t", "SELECT string_agg(s, ',') OVER () FROM t", "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x) OVER (PARTITION BY g) FROM t"] {
        let refused = super::refuse_windowless(&crate::sql::parse::parse_single(sql).unwrap());
        assert!(matches!(&refused, Err(crate::sql::Error::Unsupported(m)) if m.contains("runs grouped, not over a window")), "{sql}: {refused:?}");
    }
    assert!(super::refuse_windowless(&crate::sql::parse::parse_single("SELECT corr(a, b), sum(a) OVER (PARTITION BY g) FROM t GROUP BY g").unwrap()).is_ok());
}

#[test]
fn keys_whose_nulls_go_last_order_by_their_dense_rank() {
    let ordered = |sql: &str| crate::sql::rewrite::scope::rewritten_by(sql, nulls_in_order);
    assert_eq!(ordered("SELECT row_number() OVER (ORDER BY x) FROM t"), "SELECT row_number() OVER (ORDER BY floe_order_al(x, 'al')) FROM t");
    assert_eq!(
        ordered("SELECT lag(v) OVER (PARTITION BY p ORDER BY x DESC NULLS LAST, y DESC) FROM t"),
        "SELECT lag(v) OVER (PARTITION BY p ORDER BY floe_order_dl_df(x, y, 'dl_df')) FROM t"
    );
    // Descending keys sort NULLs first, as polars-sql does; counts and rankings hold none.
    // Polars ranks a NULL key NULL wherever it sorts.
    assert_eq!(ordered("SELECT rank() OVER (ORDER BY x DESC) FROM t"), "SELECT rank() OVER (ORDER BY floe_order_df(x, 'df')) FROM t");
    for sql in [
        "SELECT row_number() OVER (ORDER BY x DESC) FROM t",
        "SELECT lag(v) OVER (ORDER BY x NULLS FIRST) FROM t",
        "SELECT rank() OVER (ORDER BY count(*)) FROM t GROUP BY g",
        "SELECT sum(v) OVER (ORDER BY floe_order_al(x, 'al')) FROM t",
    ] {
        assert_eq!(ordered(sql), sql);
    }
    // Windows Floe's passes wrote are ordered the same way.
    let sql = rewritten("SELECT ntile(2) OVER (ORDER BY x) FROM t");
    let sql = ordered(&sql);
    assert!(sql.contains("row_number() OVER (ORDER BY floe_order_al(x, 'al'))") && !sql.contains("ORDER BY x"), "{sql}");
    // Keys Polars would name alike.
    assert_eq!(
        ordered("SELECT lead(v) OVER (ORDER BY a.id NULLS FIRST, b.id NULLS FIRST) FROM a JOIN b ON a.k = b.k"),
        "SELECT lead(v) OVER (ORDER BY floe_order_af_af(a.id, b.id, 'af_af')) FROM a JOIN b ON a.k = b.k"
    );
    // Out of Floe's functions' reach the order stays polars-sql's.
    let sql = "SELECT * FROM t WHERE v IN (SELECT lag(v) OVER (ORDER BY x) FROM t)";
    assert_eq!(ordered(sql), sql);
}

#[test]
fn empty_windows_beside_no_row_partition_by_a_constant() {
    let every = |sql: &str| crate::sql::rewrite::scope::rewritten_by(sql, over_every_row);
    assert_eq!(every("SELECT 1, count(*) OVER () FROM t"), "SELECT 1, count(*) OVER (PARTITION BY 1) FROM t");
    assert_eq!(
        every("SELECT sum(x) OVER () / (SELECT max(y) FROM u) FROM t"),
        "SELECT sum(x) OVER (PARTITION BY 1) / (SELECT max(y) FROM u) FROM t"
    );
    // Beside a column Polars repeats the value itself; an aggregate query has one row.
    for sql in [
        "SELECT id, count(*) OVER () FROM t",
        "SELECT count(*), count(*) OVER () FROM t",
        "SELECT 1, count(*) OVER () FROM t GROUP BY g",
        "SELECT 1, count(*) OVER (ORDER BY x) FROM t",
    ] {
        assert_eq!(every(sql), sql);
    }
}

#[test]
fn first_and_last_values_of_rows_frames_read_the_frames_edge() {
    let sql = rewritten("SELECT last_value(v) OVER (ORDER BY o ROWS BETWEEN CURRENT ROW AND 2 FOLLOWING) FROM t");
    assert_eq!(
        sql,
        "SELECT CASE WHEN CAST(row_number() OVER (ORDER BY o) AS BIGINT) + 2 > count(*) OVER () \
         THEN first_value(v) OVER (ORDER BY o DESC) ELSE lead(v, 2) OVER (ORDER BY o) END FROM t"
    );
    let sql = rewritten("SELECT first_value(v) OVER (PARTITION BY p ORDER BY o ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) FROM t");
    assert_eq!(
        sql,
        "SELECT CASE WHEN CAST(row_number() OVER (PARTITION BY p ORDER BY o) AS BIGINT) + 1 > count(*) OVER (PARTITION BY p) \
         THEN NULL ELSE lead(v, 1) OVER (PARTITION BY p ORDER BY o) END FROM t"
    );
    let sql = rewritten("SELECT first_value(v) OVER (ORDER BY o ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) FROM t");
    assert_eq!(sql, "SELECT first_value(v) OVER (ORDER BY o) FROM t");
}

#[test]
fn rankings_without_an_order_are_all_first() {
    assert_eq!(rewritten("SELECT dense_rank() OVER (PARTITION BY g) FROM t"), "SELECT CAST(count(*) OVER (PARTITION BY g) > 0 AS BIGINT) FROM t");
}

#[test]
fn values_at_a_peer_edge_read_one_peer_for_all() {
    assert_eq!(rewritten("SELECT last_value(v) OVER (PARTITION BY p ORDER BY o) FROM t"), "SELECT first_value(v) OVER (PARTITION BY p, o) FROM t");
    assert_eq!(
        rewritten("SELECT last_value(v) OVER (ORDER BY o RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING), first_value(v) OVER (ORDER BY o RANGE BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) FROM t"),
        "SELECT first_value(v) OVER (ORDER BY o DESC), first_value(v) OVER (PARTITION BY o) FROM t"
    );
    assert_eq!(rewritten("SELECT first_value(v) OVER (ORDER BY o) FROM t"), "SELECT first_value(v) OVER (ORDER BY o) FROM t");
}
