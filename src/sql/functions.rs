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

/// Whether a lowercased name calls one of the functions Floe registers:
/// the registry answers polars-sql with it, and rewrites that must not
/// touch Floe's own calls (`OVER ()` of a frame Floe computes) ask it.
pub fn is_floe_function(name: &str) -> bool {
    name == CAST_ROUND
        || round_digits(name).is_some()
        || ExactOp::parse(name).is_some()
        || PeerFrame::parse(name).is_some()
        || ValueFrame::parse(name).is_some()
        || RowsFrame::parse(name).is_some()
        || MixedOrder::parse(name).is_some()
        || Scalar::parse(name).is_some()
}

/// `floe_round_<n>(x)`: `round(x, n)` half away from zero, as DuckDB rounds
/// and PostgreSQL rounds a DECIMAL (polars-sql rounds half to even: 2.5 to
/// 2, 0.125 to 0.12); a DECIMAL comes back at scale `n`. `floe_round_m<n>`
/// rounds to 10^n (`round(x, -1)`, which Polars refuses). Reaches as
/// [`CAST_ROUND`] does.
const ROUND_PREFIX: &str = "floe_round_";

pub fn round_name(digits: i32) -> String {
    match digits < 0 {
        true => format!("{ROUND_PREFIX}m{}", digits.unsigned_abs()),
        false => format!("{ROUND_PREFIX}{digits}"),
    }
}

/// The digits a [`round_name`] rounds to.
pub fn round_digits(name: &str) -> Option<i32> {
    let digits = name.strip_prefix(ROUND_PREFIX)?;
    let (sign, digits) = digits.strip_prefix('m').map_or((1, digits), |rest| (-1, rest));
    let digits: i32 = digits.bytes().all(|b| b.is_ascii_digit()).then(|| digits.parse().ok()).flatten()?;
    Some(sign * digits)
}

/// `floe_exact_add(a, b)`, `_sub`, `_mul`, `_rem`: SQL's exact arithmetic.
/// Of decimals, a product's scale is the sum of its operands' scales, where
/// Polars 0.55 casts both sides to DECIMAL(38) and rounds each product back
/// to the larger scale, one 128-bit division per row (TPC-H 1 spent half
/// its time there); integers take part at scale 0. Of two integers, a
/// BIGINT that stops at its range's end, where Polars wraps around
/// (`x + 9223372036854775800` was negative). Other operands get Polars'
/// own arithmetic, so a wrong guess of a column's type costs speed, never
/// an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExactOp {
    Add,
    Sub,
    Mul,
    /// `a % b`, which Polars 0.55 refuses for decimals; NULL for `b` = 0.
    Rem,
}

impl ExactOp {
    pub fn name(self) -> &'static str {
        match self {
            ExactOp::Add => "floe_exact_add",
            ExactOp::Sub => "floe_exact_sub",
            ExactOp::Mul => "floe_exact_mul",
            ExactOp::Rem => "floe_exact_rem",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [ExactOp::Add, ExactOp::Sub, ExactOp::Mul, ExactOp::Rem].into_iter().find(|op| op.name() == name)
    }

    /// As SQL writes it, for messages.
    pub fn symbol(self) -> &'static str {
        match self {
            ExactOp::Add => "+",
            ExactOp::Sub => "-",
            ExactOp::Mul => "*",
            ExactOp::Rem => "%",
        }
    }
}

/// Other engines' scalar functions polars-sql lacks and no expression of
/// its own can write (a regular expression's replacement, a digest, a code
/// point), called by their own names and computed by Floe. They reach as
/// [`CAST_ROUND`] does; elsewhere `rewrite::scalars` refuses them by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// `regexp_replace(s, pattern, replacement [, flags])`: the first match
    /// (every one with flag `g`), `\1` naming a group, as PostgreSQL and DuckDB.
    RegexpReplace,
    /// `regexp_extract(s, pattern [, group])`: the match or a group of it,
    /// `''` without one, as DuckDB and Spark.
    RegexpExtract,
    /// `md5(s)` and `sha256(s)`: the digest of the text's UTF-8 bytes, in hex.
    Md5,
    Sha256,
    /// `repeat(s, n)`, `translate(s, from, to)`, `ascii(s)`, `chr(n)`: as PostgreSQL.
    Repeat,
    Translate,
    Ascii,
    Chr,
    /// `isnan(x)`, `isinf(x)`, `isfinite(x)`: false, false and true for
    /// every number that is not a float.
    IsNan,
    IsInf,
    IsFinite,
    /// `sha1(s)`: as `md5`.
    Sha1,
    /// `levenshtein(a, b)`: the fewest characters inserted, deleted or
    /// replaced to make one text the other (PostgreSQL counts characters,
    /// DuckDB bytes: they differ past ASCII).
    Levenshtein,
    /// `hamming(a, b)` (DuckDB's `mismatches`): the places where two texts
    /// of the same length differ, in characters (DuckDB counts bytes).
    Hamming,
    /// `floe_at_time_zone(t, zone)`: SQL's `t AT TIME ZONE zone`. A
    /// timestamp without a zone is read as the zone's wall time and comes
    /// back as the instant (with a zone, UTC); one with a zone comes back as
    /// the zone's wall time at that instant, without one.
    AtTimeZone,
    /// `gcd(a, b)`, `lcm(a, b)`: of integers, never negative, as DuckDB
    /// and PostgreSQL (`gcd(0, 0)` is 0; past BIGINT an error).
    Gcd,
    Lcm,
    /// `to_hex(x)`: an integer in hex (a negative one as its 64-bit two's
    /// complement), a text's UTF-8 bytes, upper case as DuckDB writes it.
    ToHex,
    /// `floe_list_mode(list)`: the value a list holds most often, the
    /// least of those tied, NULLs skipped; NULL for a list of none. What
    /// `mode(x)` (DuckDB) and `mode() WITHIN GROUP (ORDER BY x)`
    /// (PostgreSQL) are written as, over the group's `array_agg(x)`.
    ListMode,
    /// `floe_null_fill(x)`: `x` with NULL as its type's zero (an empty
    /// text), never NULL; and `floe_null_flags(0, x, y, …)`: which of `x`,
    /// `y`, … are NULL, bits of a BIGINT (the literal first names the key
    /// apart from the values', as Polars names a call after its first
    /// argument). Together, join keys that pair NULL with NULL
    /// (`sql::rewrite::null_safe_joins`).
    NullFill,
    NullFlags,
    /// `floe_one_row(n, v)`: `v`, where no `n` (rows a correlated scalar
    /// subquery found for an outer row) is past 1; else an error, as SQL
    /// says of a scalar subquery that returns more than one row
    /// (`sql::rewrite::correlated_items`).
    OneRow,
    /// `initcap(s)`: each word's first letter upper case and its others
    /// lower case, a word being a run of letters and digits, as PostgreSQL
    /// and Snowflake write it.
    Initcap,
    /// `floe_decimal_mean(sum(x), count(x))`: the mean of decimals as one
    /// division of the exact unscaled sum by `count · 10^scale`, as DuckDB
    /// divides (`sql::rewrite::decimals`); a DOUBLE, NULL over no rows.
    DecimalMean,
    /// `floe_log10(x)`: the base-10 logarithm as the platform's `log10`
    /// computes it, exact at powers of ten (Polars divides natural
    /// logarithms: `log10(1000)` was 2.9999999999999996, and `floor` of it
    /// 2). What `log10(x)`, `log(x)` and `log(b, x)` are written as.
    Log10,
}

impl Scalar {
    const ALL: [Scalar; 25] = [
        Scalar::RegexpReplace,
        Scalar::RegexpExtract,
        Scalar::Md5,
        Scalar::Sha256,
        Scalar::Repeat,
        Scalar::Translate,
        Scalar::Ascii,
        Scalar::Chr,
        Scalar::IsNan,
        Scalar::IsInf,
        Scalar::IsFinite,
        Scalar::Sha1,
        Scalar::Levenshtein,
        Scalar::Gcd,
        Scalar::Lcm,
        Scalar::ToHex,
        Scalar::ListMode,
        Scalar::Hamming,
        Scalar::AtTimeZone,
        Scalar::NullFill,
        Scalar::NullFlags,
        Scalar::OneRow,
        Scalar::DecimalMean,
        Scalar::Initcap,
        Scalar::Log10,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scalar::RegexpReplace => "regexp_replace",
            Scalar::RegexpExtract => "regexp_extract",
            Scalar::Md5 => "md5",
            Scalar::Sha256 => "sha256",
            Scalar::Repeat => "repeat",
            Scalar::Translate => "translate",
            Scalar::Ascii => "ascii",
            Scalar::Chr => "chr",
            Scalar::IsNan => "isnan",
            Scalar::IsInf => "isinf",
            Scalar::IsFinite => "isfinite",
            Scalar::Sha1 => "sha1",
            Scalar::Levenshtein => "levenshtein",
            Scalar::Gcd => "gcd",
            Scalar::Lcm => "lcm",
            Scalar::ToHex => "to_hex",
            Scalar::ListMode => "floe_list_mode",
            Scalar::Hamming => "hamming",
            Scalar::AtTimeZone => "floe_at_time_zone",
            Scalar::NullFill => "floe_null_fill",
            Scalar::NullFlags => "floe_null_flags",
            Scalar::OneRow => "floe_one_row",
            Scalar::DecimalMean => "floe_decimal_mean",
            Scalar::Initcap => "initcap",
            Scalar::Log10 => "floe_log10",
        }
    }

    /// The function a lowercased name calls.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scalar| scalar.name() == name)
    }

    /// How many arguments it takes, at least and at most.
    pub fn arity(self) -> (usize, usize) {
        match self {
            Scalar::RegexpReplace => (3, 4),
            Scalar::RegexpExtract => (2, 3),
            Scalar::Repeat | Scalar::Levenshtein | Scalar::Hamming | Scalar::AtTimeZone | Scalar::Gcd | Scalar::Lcm | Scalar::OneRow | Scalar::DecimalMean => (2, 2),
            Scalar::Translate => (3, 3),
            Scalar::NullFlags => (2, 65),
            _ => (1, 1),
        }
    }
}

mod frames;

pub use frames::{KeyOrder, MixedOrder, PeerAggregate, PeerFrame, RowsFrame, ValueFrame};
