//! The window frames Floe computes (`exec::functions`, `exec::value_frames`)
//! and how their functions are named: each function partitions and orders
//! its rows itself, since polars-sql applies no OVER clause to a registered
//! function, so the name carries the aggregate, the partition keys' count
//! and the keys' orders.

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
        keyed_name(PEERS, self.aggregate, self.partitions, &self.keys)
    }

    pub fn parse(name: &str) -> Option<Self> {
        let (aggregate, partitions, keys) = parse_keyed(PEERS, name)?;
        Some(Self { aggregate, keys, partitions })
    }
}

const ROWS: &str = "floe_rows_";

/// An aggregate over a ROWS frame with an offset (`ROWS BETWEEN 2
/// PRECEDING AND CURRENT ROW`): each row's frame is the rows of its
/// partition at those distances from it in the window's order, ties in
/// the rows' own order. Called as `floe_rows_<aggregate>_p<partition
/// keys>_<order>…(value, start, end, order key…, partition key…)`, `start`
/// and `end` signed row counts (preceding negative, NULL for unbounded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowsFrame {
    pub aggregate: PeerAggregate,
    pub keys: Vec<KeyOrder>,
    pub partitions: usize,
}

impl RowsFrame {
    pub fn name(&self) -> String {
        keyed_name(ROWS, self.aggregate, self.partitions, &self.keys)
    }

    pub fn parse(name: &str) -> Option<Self> {
        let (aggregate, partitions, keys) = parse_keyed(ROWS, name)?;
        Some(Self { aggregate, keys, partitions })
    }
}

fn keyed_name(prefix: &str, aggregate: PeerAggregate, partitions: usize, keys: &[KeyOrder]) -> String {
    let aggregate = AGGREGATES.iter().find(|(a, _)| *a == aggregate).map_or("", |(_, name)| name);
    let keys: Vec<&str> = keys.iter().map(|key| order_code(*key)).collect();
    format!("{prefix}{aggregate}_p{partitions}_{}", keys.join("_"))
}

/// A frame function's aggregate, partition keys' count and keys' orders (at least one).
fn parse_keyed(prefix: &str, name: &str) -> Option<(PeerAggregate, usize, Vec<KeyOrder>)> {
    let mut parts = name.strip_prefix(prefix)?.split('_');
    let first = parts.next()?;
    let aggregate = AGGREGATES.iter().find(|(_, name)| *name == first)?.0;
    let partitions = parts.next()?.strip_prefix('p')?.parse().ok()?;
    let keys = parts.map(parse_order).collect::<Option<Vec<_>>>()?;
    (!keys.is_empty()).then_some((aggregate, partitions, keys))
}

const RANGE: &str = "floe_range_";

/// An aggregate over a frame by value distance, `RANGE BETWEEN <a> PRECEDING
/// AND <b> FOLLOWING` (either end may be UNBOUNDED or CURRENT ROW), over one
/// ORDER BY key, which polars-sql lacks. Called as
/// `floe_range_<aggregate>_p<partition keys>_<order>_<n|t>(value, key, start,
/// end, partition key…)`: `start` and `end` are the bounds' signed distances
/// in the window's order (preceding negative, NULL for unbounded); `n` when
/// they are numbers for a numeric key, `t` when they are intervals (as
/// microseconds) for a DATE or TIMESTAMP key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueFrame {
    pub aggregate: PeerAggregate,
    pub key: KeyOrder,
    pub partitions: usize,
    pub temporal: bool,
}

impl ValueFrame {
    pub fn name(&self) -> String {
        let aggregate = AGGREGATES.iter().find(|(a, _)| *a == self.aggregate).map_or("", |(_, name)| name);
        let unit = if self.temporal { "t" } else { "n" };
        format!("{RANGE}{aggregate}_p{}_{}_{unit}", self.partitions, order_code(self.key))
    }

    pub fn parse(name: &str) -> Option<Self> {
        let mut parts = name.strip_prefix(RANGE)?.split('_');
        let first = parts.next()?;
        let aggregate = AGGREGATES.iter().find(|(_, name)| *name == first)?.0;
        let partitions = parts.next()?.strip_prefix('p')?.parse().ok()?;
        let key = parse_order(parts.next()?)?;
        let temporal = match parts.next()? {
            "t" => true,
            "n" => false,
            _ => return None,
        };
        parts.next().is_none().then_some(Self { aggregate, key, partitions, temporal })
    }
}

const ORDER: &str = "floe_order_";

/// Each row's place in an order whose keys run in mixed directions (`ORDER
/// BY total DESC, name`), which polars-sql's windows refuse: the rows'
/// dense rank in that order, one ascending key for the window instead.
/// Called as `floe_order_<order>_<order>…(key, key…)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MixedOrder {
    pub keys: Vec<KeyOrder>,
}

impl MixedOrder {
    pub fn name(&self) -> String {
        let keys: Vec<&str> = self.keys.iter().map(|key| order_code(*key)).collect();
        format!("{ORDER}{}", keys.join("_"))
    }

    /// The call over `keys` (SQL text), its order written again as a last,
    /// literal argument: Polars caches a window's sort under the key's
    /// debug text, which names no anonymous function, so two windows ordered
    /// by `floe_order_al_al(a, b)` and `floe_order_al_df(a, b)` shared one sort.
    pub fn call(&self, keys: &[String]) -> String {
        let name = self.name();
        let marker = name.strip_prefix(ORDER).unwrap_or_default();
        format!("{name}({}, '{marker}')", keys.join(", "))
    }

    pub fn parse(name: &str) -> Option<Self> {
        let keys = name.strip_prefix(ORDER)?.split('_').map(parse_order).collect::<Option<Vec<_>>>()?;
        (!keys.is_empty()).then_some(Self { keys })
    }
}

fn order_code(key: KeyOrder) -> &'static str {
    match (key.descending, key.nulls_last) {
        (false, true) => "al",
        (false, false) => "af",
        (true, true) => "dl",
        (true, false) => "df",
    }
}

fn parse_order(code: &str) -> Option<KeyOrder> {
    match code {
        "al" => Some(KeyOrder { descending: false, nulls_last: true }),
        "af" => Some(KeyOrder { descending: false, nulls_last: false }),
        "dl" => Some(KeyOrder { descending: true, nulls_last: true }),
        "df" => Some(KeyOrder { descending: true, nulls_last: false }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::functions::CAST_ROUND;

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

    #[test]
    fn rows_frame_names_read_back() {
        let frame = RowsFrame { aggregate: PeerAggregate::Rows, keys: vec![KeyOrder { descending: true, nulls_last: true }], partitions: 0 };
        assert_eq!(frame.name(), "floe_rows_rows_p0_dl");
        assert_eq!(RowsFrame::parse(&frame.name()), Some(frame));
        assert_eq!(PeerFrame::parse("floe_rows_rows_p0_dl"), None);
        assert_eq!(RowsFrame::parse("floe_peers_rows_p0_dl"), None);
        assert_eq!(RowsFrame::parse("floe_rows_sum_p1"), None);
    }

    #[test]
    fn value_frame_names_read_back() {
        let frame = ValueFrame { aggregate: PeerAggregate::Sum, key: KeyOrder { descending: true, nulls_last: false }, partitions: 1, temporal: true };
        assert_eq!(frame.name(), "floe_range_sum_p1_df_t");
        assert_eq!(ValueFrame::parse(&frame.name()), Some(frame));
        assert_eq!(ValueFrame::parse("floe_range_sum_p1_df"), None);
        assert_eq!(ValueFrame::parse("floe_peers_sum_p1_df"), None);
        assert_eq!(PeerFrame::parse("floe_range_sum_p1_df_t"), None);
    }
}
