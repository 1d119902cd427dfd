//! Aggregate functions by name: the one table every pass reads to tell an
//! aggregate call from a scalar one, and what each pass needs to know of it.
//! A name missing here is a scalar function to all of them.

/// What the passes need to know of one aggregate.
#[derive(Debug, Clone, Copy)]
pub struct Aggregate {
    pub name: &'static str,
    /// Of one numeric value per row (`sum`, `stddev`, …): the passes that
    /// move or retype aggregate arguments (decimals, windows over groups,
    /// SUM arguments) handle these and leave the others as written.
    pub numeric: bool,
    /// Each partition's partial answer combines into the whole one (a
    /// distributed query's partitions run it; the rest keep it on one node).
    pub decomposes: bool,
    /// polars-sql answers it over a window as one row for the whole input
    /// (it applies no window to it), so `… OVER (…)` is refused.
    pub windowless: bool,
}

const fn of(name: &'static str, numeric: bool, decomposes: bool, windowless: bool) -> Aggregate {
    Aggregate { name, numeric, decomposes, windowless }
}

const AGGREGATES: [Aggregate; 54] = [
    of("sum", true, true, false),
    of("avg", true, true, false),
    of("mean", true, true, false),
    of("count", true, true, false),
    of("min", true, true, false),
    of("max", true, true, false),
    of("median", true, false, false),
    of("stddev", true, false, false),
    of("stddev_samp", true, false, false),
    of("stddev_pop", true, false, false),
    of("variance", true, false, false),
    of("var_samp", true, false, false),
    of("stdev", false, false, false),
    of("stdev_samp", false, false, false),
    of("var", false, false, false),
    of("var_pop", false, false, false),
    of("first", false, false, false),
    of("last", false, false, false),
    of("count_distinct", false, false, false),
    of("mode", false, false, false),
    of("string_agg", false, false, true),
    of("listagg", false, false, true),
    of("group_concat", false, false, true),
    of("array_agg", false, false, true),
    of("quantile_cont", false, false, true),
    of("quantile_disc", false, false, true),
    of("percentile_cont", false, false, true),
    of("percentile_disc", false, false, true),
    of("corr", false, false, true),
    of("covar", false, false, true),
    of("covar_pop", false, false, true),
    of("covar_samp", false, false, true),
    of("regr_count", false, false, true),
    of("regr_avgx", false, false, true),
    of("regr_avgy", false, false, true),
    of("regr_sxx", false, false, true),
    of("regr_syy", false, false, true),
    of("regr_sxy", false, false, true),
    of("regr_slope", false, false, true),
    of("regr_intercept", false, false, true),
    of("regr_r2", false, false, true),
    of("approx_count_distinct", false, false, false),
    of("bool_and", false, false, false),
    of("bool_or", false, false, false),
    of("every", false, false, false),
    of("arg_max", false, false, false),
    of("arg_min", false, false, false),
    of("max_by", false, false, false),
    of("min_by", false, false, false),
    // Other engines' names `synonyms.rs` writes as the aggregates above.
    of("count_if", false, false, false),
    of("countif", false, false, false),
    of("any_value", false, false, false),
    of("arbitrary", false, false, false),
    // polars-sql's `sum` by SQLite's name.
    of("total", false, false, false),
];

/// The aggregate a lowercased one-part function name calls.
pub fn aggregate(name: &str) -> Option<&'static Aggregate> {
    AGGREGATES.iter().find(|aggregate| aggregate.name == name)
}

#[cfg(test)]
mod tests {
    #[test]
    fn each_name_once_and_only_numeric_ones_decompose() {
        let names: std::collections::HashSet<_> = super::AGGREGATES.iter().map(|a| a.name).collect();
        assert_eq!(names.len(), super::AGGREGATES.len());
        assert!(super::AGGREGATES.iter().all(|a| !a.decomposes || a.numeric));
        assert!(super::aggregate("string_agg").is_some_and(|a| a.windowless) && super::aggregate("upper").is_none());
    }
}
