//! Every rewrite Floe applies to a statement, in the order it runs. Two
//! pipelines: `analyze` when the statement is parsed (no catalog needed),
//! `render` at planning time with each relation's columns in hand. The
//! passes share `scope.rs` (and those that ask what aggregates, `aggregates.rs`) and never import
//! each other, except the subquery pass, which hands EXISTS and comma joins inside subqueries to
//! theirs.

mod aggregate_filters;
mod aggregate_rows;
mod aggregates;
mod analyze;
mod columns;
mod column_aliases;
mod comma_joins;
mod constant_aggregates;
mod constant_filters;
mod cte_filters;
mod correlation;
mod correlated_in;
mod correlated_items;
mod decimal_comparisons;
mod decimal_top_k;
mod decimals;
mod distinct;
mod eager_aggregates;
mod exists;
mod exists_values;
mod fromless_subqueries;
mod grouping_sets;
mod guarded;
mod grouped_keys;
mod identifiers;
mod in_lists;
mod inner_join_conditions;
mod like_patterns;
mod limited_unions;
mod join_filter_names;
mod join_filters;
mod key_ranges;
mod probe;
mod filtered_scans;
mod join_keys;
mod lift;
mod literals;
mod marked_memberships;
mod membership_subqueries;
mod names;
mod nested_ctes;
mod narrowed_exists;
mod narrowed_keys;
mod nested_joins;
mod normalize;
mod null_comparisons;
mod null_safe_joins;
mod one_group;
mod one_row;
mod or_filters;
mod ordered_sets;
mod outer_join_conditions;
mod outer_windows;
mod qualify;
mod quantified;
mod replaced_columns;
mod remainders;
mod resolver;
mod rounding;
mod row_values;
mod scalars;
mod scope;
mod semi_join_filters;
mod set_operations;
mod shadowed_sort_keys;
mod similar_to;
mod sorted_aggregates;
mod subquery;
mod subquery_values;
mod sum_arguments;
mod synonyms;
mod temporal;
mod typed_values;
mod ungrouped_having;
mod using_joins;
mod widened_arithmetic;
mod widened_integers;
mod wildcard_excludes;
mod window_functions;
mod windows;

use std::collections::HashMap;

use sqlparser::ast::Statement;

pub use analyze::{catalog_relations, catalog_views, is_catalog_view, placeholder_count, RelationName};
pub(crate) use analyze::{bind_params, divisions_in_double};
pub use names::presented_name;
pub use one_row::ONE_ROW;
pub use constant_filters::{folded as constant_filters_folded, Truth};
pub use columns::{ColumnKind, Columns};
pub use probe::{Extent, Probe, SUBQUERY_NOTE};
pub(crate) use literals::decimal_text;
pub(crate) use scope::{handed_over_derived, parse_query, visit_outside_subqueries};
pub(crate) use ungrouped_having::filtered_after as ungrouped_having_filtered;

use super::Result;

/// At parse time: bind parameters, refuse what must not run, mark repeated
/// output names, normalise what
/// polars-sql would refuse or plan badly (folded literals, bare ON
/// conditions, ORs' common conjuncts), write other engines' functions,
/// aggregates of constants over the rows,
/// dates and times, windows (named ones written out), set
/// operations and DISTINCT forms it lacks with ones it has, name colliding
/// projections, sort by position where it cannot sort by an aggregate (one
/// not selected is selected hidden), and
/// split grouped queries with windows, grouping sets or alike-named keys
/// into groups and an outer query over them, read grouping keys used beside
/// aggregates once per group, and take remainders with the dividend's sign.
pub fn analyze(statement: &mut Statement, params: &[String]) -> Result<()> {
    declare(statement, params)?;
    analyze_declared(statement)
}

/// The start of `analyze`: parameters bound, table functions refused, and
/// the names a query gives itself spelled as it declares them, so that
/// every later pass compares names as spelled. What `respelled` starts from.
pub fn declare(statement: &mut Statement, params: &[String]) -> Result<()> {
    analyze::bind_params(statement, params)?;
    analyze::refuse_table_functions(statement)?;
    identifiers::as_declared(statement);
    Ok(())
}

/// Whether `declared` (a statement after `declare`) named a column in
/// another case than the catalog or the query spells it: then it is
/// respelled, to be analyzed again (`analyze_declared`). Floe's passes
/// copy the names they read into the SQL they write, so only a statement
/// spelled as its columns are can be analyzed once for every catalog.
pub fn respelled(declared: &mut Statement, columns: &Columns) -> bool {
    identifiers::as_stored(declared, columns)
}

/// The rest of `analyze`, after `declare`.
pub fn analyze_declared(statement: &mut Statement) -> Result<()> {
    let _span = tracing::info_span!(target: "floe::sql", "sql.rewrite").entered();
    nested_ctes::hoisted(statement);
    cte_filters::copied_into_references(statement);
    typed_values::as_selects(statement);
    window_functions::named::inline(statement);
    window_functions::constant_keys::settled(statement);
    window_functions::refuse_unsupported_frames(statement)?;
    window_functions::refuse_windowless(statement)?;
    one_group::refuse_ungrouped_columns(statement)?;
    scalars::check_calls(statement)?;
    // Before the repeats are marked: `SELECT now(), now()` repeats a name.
    names::clock_items_as_written(statement);
    names::mark_repeated_outputs(statement);
    normalize::normalize(statement)?;
    fromless_subqueries::as_expressions(statement);
    membership_subqueries::plain(statement);
    row_values::as_comparisons(statement);
    synonyms::rewrite(statement);
    temporal::rewrite(statement)?;
    window_functions::rewrite(statement);
    set_operations::rewrite(statement);
    distinct::rewrite(statement);
    names::name_colliding_projections(statement);
    // After the names: `sum(1)` and `b IS TRUE` keep the names they had.
    constant_aggregates::rewrite(statement);
    constant_aggregates::constant_keys(statement);
    normalize::truth_tests(statement);
    normalize::positions_of_null(statement);
    names::order_by_projections(statement);
    sorted_aggregates::selected_for_sorting(statement);
    windows::split_grouped_windows(statement);
    // Again: a grouping set's constant keys (`ROLLUP (k, 'all')`) are its branch's own.
    constant_aggregates::constant_keys(statement);
    grouped_keys::keys_once_per_group(statement);
    analyze::columns_first(statement);
    analyze::divisions_in_double(statement);
    // Last: names for unaliased projections come from the remainders as written.
    remainders::truncated(statement);
    Ok(())
}

/// At planning time, with each relation's columns: sort keys that read an
/// input column an item replaces selected hidden, `date ± n` by the
/// columns' types, the two sides of an IN subquery cast to their wider
/// numeric type, ANY/ALL/NOT IN/EXISTS forms into ones polars-sql joins on
/// (an EXISTS read as a value into a count),
/// subqueries that read the outer query's own join again into windows over it,
/// other subqueries into joins, null-safe join equalities into keys, join filters into derived tables (or, on an
/// outer join's preserved side, into its keys; on an inner join, what
/// polars-sql cannot join on into WHERE), comma joins made
/// explicit, IN filters on one joined table applied to it first, names
/// inside subqueries qualified, EXISTS subqueries narrowed to the outer
/// filters' keys, expressions' subqueries that need Floe's
/// functions moved into CTEs, frames that end at a peer or reach by value
/// and integer casts as SQL rounds them, short IN lists as comparisons
/// Polars pushes down, decimal columns compared with decimal literals, SUM
/// arguments computed once below a grouping, integer sums and arithmetic in
/// BIGINT, an ungrouped HAVING's one group
/// filtered after it, decimal means as exact sums over counts, SELECTs without FROM given a
/// relation of one row, LIKE patterns with a floating end as prefix, suffix or
/// unanchored tests, counts, lengths and date parts computed as BIGINT,
/// grouping keys that are SELECT items named by position, join keys of
/// different numeric types cast to the wider, join keys and the outer
/// columns of semi-join subqueries read by the suffixed names of the joined
/// frame, those subqueries' own filters over an outer name filtered first,
/// a decimal sort key under LIMIT given a second key that orders nothing apart,
/// nested ungrouped aggregates made DISTINCT (Polars keeps their one row),
/// a joined relation's column another relation also has read under a name of
/// its own where Polars evaluates the condition inside the join, a
/// wildcard's excluded names left out of every joined relation and the
/// columns of Floe's own joined relations out of `*`,
/// a nested UNION ALL's LIMIT kept over the union where nothing reads its columns,
/// IN lists of literals that stay memberships as arrays (which keep a
/// WHERE's other filters pushed below its joins),
/// aggregates over one side of inner joins grouped by its join keys before
/// the few unfiltered relations that name the groups join it,
/// filters on one relation of an inner join moved into a derived table over
/// it where the statement reads that relation again (Polars' shared joins),
/// a large relation's join key narrowed to the range a filtered small
/// relation's keys span, read by `probe` where the query will run,
/// and catalog relations renamed to the frames Polars has registered. Fails on
/// a frame only Floe computes where its functions cannot reach.
pub fn render(statement: &mut Statement, frames: &HashMap<RelationName, String>, columns: &Columns, mut probe: Option<&mut dyn Probe>) -> Result<()> {
    // First, while each scalar subquery is as written.
    if let Some(probe) = probe.as_deref_mut() {
        subquery_values::known(statement, columns, probe);
    }
    one_group::having_of_one_group(statement);
    one_group::exists_of_one_group(statement);
    one_group::memberships_of_one_group(statement);
    // A FILTER that EXISTS became a constant in is Polars' to misapply.
    aggregate_filters::constant(statement);
    // First, while each SELECT's FROM clause is as written.
    nested_joins::unnested(statement, columns);
    column_aliases::renamed(statement, columns);
    shadowed_sort_keys::unshadowed(statement, columns);
    using_joins::merged_keys(statement, columns);
    replaced_columns::spelled_out(statement, columns);
    // Again, for the statement's wildcard spelled out beside an item of its column's name.
    names::mark_repeated_outputs(statement);
    temporal::date_arithmetic(statement, columns);
    join_keys::memberships_joinable(statement, columns);
    exists_values::rewrite(statement, columns);
    quantified::rewrite(statement, columns);
    outer_windows::over_outer_joins(statement, columns);
    subquery::decorrelate(statement, columns);
    join_filters::push_into_joined_relations(statement, columns);
    null_safe_joins::keyed(statement, columns);
    outer_join_conditions::keyed(statement, columns)?;
    inner_join_conditions::filtered_after_joining(statement);
    or_filters::implied_filters(statement, columns);
    comma_joins::make_explicit(statement, columns);
    join_filters::semi_joins_first(statement, columns);
    qualify::subquery_columns(statement, columns);
    narrowed_exists::narrowed_exists(statement, columns);
    // Again for the memberships the passes above wrote (`EXISTS` correlated by
    // an equality as `IN` over its key, narrowed keys); those cast already are
    // of one kind (or text) now, so they stay as they are.
    join_keys::memberships_joinable(statement, columns);
    // After the memberships above are final and their sides cast alike.
    marked_memberships::left_joined(statement, columns);
    // Floe's functions reach only the parts Floe hands polars-sql on their
    // own, so they go in once every other pass has placed what it moves.
    lift::expression_subqueries(statement, columns);
    window_functions::peer_frames(statement)?;
    // After every pass that writes a window (peer frames read NULLs' place themselves).
    window_functions::nulls_in_order(statement);
    window_functions::over_every_row(statement);
    scalars::refuse_out_of_reach(statement)?;
    rounding::rewrite(statement);
    synonyms::decimal_math(statement, columns);
    decimals::exact_arithmetic(statement, columns);
    in_lists::as_comparisons(statement);
    null_comparisons::unknown(statement);
    decimal_comparisons::exact_comparisons(statement, columns);
    // After the decimal passes, which cast a list's values as they do a comparison's.
    in_lists::as_array_memberships(statement);
    // After the decimal passes, which read an integer operand as written.
    widened_arithmetic::widened(statement, columns);
    // Last: the arguments it moves are final, and no pass after it needs to
    // see through the derived table it adds.
    sum_arguments::computed_below(statement);
    // After the subquery passes, which take a scalar subquery with an
    // ungrouped HAVING whole but could not see through its wrapper.
    ungrouped_having::filtered_after(statement);
    one_row::from_one_row(statement);
    like_patterns::simplify(statement);
    // After every pass that reads a count or a length as written.
    widened_integers::widened(statement);
    // Last of all: the items and keys it compares are final.
    grouped_keys::keys_by_position(statement, columns);
    decimal_top_k::pruned_safely(statement, columns);
    set_operations::of_unlike_columns(statement, columns);
    set_operations::nested_in_queries(statement);
    // After the joins are explicit and the aggregates final (counts widened,
    // DECIMAL means exact); before the passes that read the joins it writes.
    eager_aggregates::grouped_before_joining(statement, columns);
    // After every pass that writes or reorders joins and their subqueries.
    semi_join_filters::filtered_first(statement, columns);
    join_keys::joinable(statement, columns);
    aggregate_rows::kept_when_unread(statement);
    wildcard_excludes::every_relations(statement);
    wildcard_excludes::without_floe_relations(statement);
    // After every pass that reads a relation's columns by the names it has.
    join_filter_names::unsuffixed(statement, columns);
    // Last before the relations' renaming: no pass after it sees through its wrapper.
    limited_unions::sliced_whole(statement, columns);
    // Where the query will run: ranges read from its data, over the final joins and filters.
    if let Some(probe) = probe {
        key_ranges::narrowed(statement, columns, frames, probe);
    }
    // After the ranges, which it moves below the joins with the other filters.
    filtered_scans::filtered_first(statement, columns);
    analyze::rename_relations(statement, frames);
    Ok(())
}
