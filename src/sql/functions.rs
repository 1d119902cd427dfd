//! Functions the rewrites call that polars-sql does not have: Floe
//! registers them with it (`exec::functions`), for what SQL means and
//! Polars computes otherwise. The names are the contract between the two
//! layers, so both build and read them here.

/// `floe_cast_round(x)`: what `CAST(x AS <integer>)` rounds `x` to, as
/// PostgreSQL and DuckDB cast (Polars truncates): a DOUBLE half to even, a
/// DECIMAL half away from zero; other values pass through, so the rewrite
/// needs no knowledge of `x`'s type.
///
/// polars-sql offers registered functions only to the query it is given
/// (CTEs, derived tables, subqueries and set operations are planned in
/// contexts without them): Floe hands it CTEs, derived tables and set
/// operations' SELECTs one by one (`sql/parts.rs`), and passes call the
/// functions only there (`rewrite::scope::FunctionReach`).
pub const CAST_ROUND: &str = "floe_cast_round";

const PEERS: &str = "floe_peers_";

/// An aggregate over an ordered window's default frame, which ends at the
/// current row's last peer (rows with equal ORDER BY values); polars-sql's
/// cumulative windows end at the row itself. Called as
/// `floe_peers_<aggregate>_p<partition keys>_<order>(value, order key…,
/// partition key…)`: the function partitions itself, since polars-sql
/// applies no OVER clause to a registered function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerFrame {
    pub aggregate: PeerAggregate,
    pub keys: Vec<KeyOrder>,
    pub partitions: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerAggregate {
    Sum,
    /// `count(x)`: the non-NULL values.
    Count,
    /// `count(*)`: the rows.
    Rows,
    Min,
    Max,
    Avg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyOrder {
    pub descending: bool,
    pub nulls_last: bool,
}

const AGGREGATES: [(PeerAggregate, &str); 6] = [
    (PeerAggregate::Sum, "sum"),
    (PeerAggregate::Count, "count"),
    (PeerAggregate::Rows, "rows"),
    (PeerAggregate::Min, "min"),
    (PeerAggregate::Max, "max"),
    (PeerAggregate::Avg, "avg"),
];

impl PeerFrame {
    pub fn name(&self) -> String {
        let aggregate = AGGREGATES.iter().find(|(a, _)| *a == self.aggregate).map_or("", |(_, name)| name);
        let keys: Vec<&str> = self
            .keys
            .iter()
            .map(|key| match (key.descending, key.nulls_last) {
                (false, true) => "al",
                (false, false) => "af",
                (true, true) => "dl",
                (true, false) => "df",
            })
            .collect();
        format!("{PEERS}{aggregate}_p{}_{}", self.partitions, keys.join("_"))
    }

    pub fn parse(name: &str) -> Option<Self> {
        let mut parts = name.strip_prefix(PEERS)?.split('_');
        let first = parts.next()?;
        let aggregate = AGGREGATES.iter().find(|(_, name)| *name == first)?.0;
        let partitions = parts.next()?.strip_prefix('p')?.parse().ok()?;
        let keys = parts
            .map(|code| match code {
                "al" => Some(KeyOrder { descending: false, nulls_last: true }),
                "af" => Some(KeyOrder { descending: false, nulls_last: false }),
                "dl" => Some(KeyOrder { descending: true, nulls_last: true }),
                "df" => Some(KeyOrder { descending: true, nulls_last: false }),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()?;
        (!keys.is_empty()).then_some(Self { aggregate, keys, partitions })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_frame_names_read_back() {
        let frame = PeerFrame {
            aggregate: PeerAggregate::Avg,
            keys: vec![KeyOrder { descending: false, nulls_last: true }, KeyOrder { descending: true, nulls_last: false }],
            partitions: 2,
        };
        assert_eq!(frame.name(), "floe_peers_avg_p2_al_df");
        assert_eq!(PeerFrame::parse(&frame.name()), Some(frame));
        assert_eq!(PeerFrame::parse("floe_peers_avg_p0"), None);
        assert_eq!(PeerFrame::parse("floe_peers_avg_al"), None);
        assert_eq!(PeerFrame::parse("floe_peers_mode_al"), None);
        assert_eq!(PeerFrame::parse(CAST_ROUND), None);
    }
}
