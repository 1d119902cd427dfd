//! SQL's `t AT TIME ZONE zone` (`floe_at_time_zone`): from a wall time to
//! the instant it names in the zone, and from an instant to the zone's
//! wall time then.

use polars::prelude::*;

use super::constant;
use super::super::functions::spanning;
use crate::sql::functions::Scalar;

/// What `t AT TIME ZONE zone` answers for a `t` of this type: an instant
/// (kept in UTC) from a wall time or a date, a wall time from an instant.
pub(super) fn shifted_type(dtype: &DataType) -> DataType {
    match dtype {
        DataType::Datetime(unit, Some(_)) => DataType::Datetime(*unit, None),
        DataType::Datetime(unit, None) => DataType::Datetime(*unit, Some(TimeZone::UTC)),
        _ => DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)),
    }
}

pub(super) fn at_time_zone(columns: &[Column], height: usize) -> PolarsResult<Series> {
    let values = spanning(&columns[0], height).as_materialized_series().clone();
    let values = match values.dtype() {
        DataType::Datetime(..) => values,
        DataType::Date | DataType::Null => values.cast(&DataType::Datetime(TimeUnit::Microseconds, None))?,
        other => polars_bail!(InvalidOperation: "AT TIME ZONE takes a timestamp or a date, not {other}"),
    };
    let Some(zone) = constant(Scalar::AtTimeZone, "time zone", &columns[1])? else {
        return Ok(Series::full_null(values.name().clone(), height, &shifted_type(values.dtype())));
    };
    let zone = time_zone(&zone)?;
    let times = values.datetime()?;
    let raise = StringChunked::from_slice(PlSmallStr::EMPTY, &["raise"]);
    let shifted = match times.time_zone() {
        Some(_) => {
            let mut instants = times.clone();
            instants.set_time_zone(zone)?;
            replace_time_zone(&instants, None, &raise, NonExistent::Raise)?
        }
        None => wall_times_in(times, &zone)?,
    };
    Ok(shifted.into_series())
}

/// Named zones only: a bare offset means opposite things to PostgreSQL
/// (POSIX: `'+02'` is west of Greenwich) and to the ISO forms others read.
fn time_zone(zone: &str) -> PolarsResult<TimeZone> {
    polars_ensure!(
        TimeZone::validate_time_zone(zone).is_ok(),
        InvalidOperation: "AT TIME ZONE '{zone}': not a time zone Floe knows; write an IANA name such as 'UTC', 'Europe/Berlin' or 'America/New_York'"
    );
    Ok(TimeZone::opt_try_new(Some(zone))?.unwrap_or(TimeZone::UTC))
}

/// Each wall time's instant in `zone`, in UTC. A wall time the clocks
/// pass twice (autumn) is the earlier instant; one they skip (spring) has
/// none, and is named.
fn wall_times_in(times: &DatetimeChunked, zone: &TimeZone) -> PolarsResult<DatetimeChunked> {
    let earliest = StringChunked::from_slice(PlSmallStr::EMPTY, &["earliest"]);
    let mut instants = replace_time_zone(times, Some(zone), &earliest, NonExistent::Null)?;
    if instants.physical().null_count() > times.physical().null_count() {
        let skipped = times.physical().iter().zip(instants.physical().iter()).position(|(time, instant)| time.is_some() && instant.is_none());
        let named = skipped.and_then(|at| times.get_any_value(at).ok()).map_or_else(String::new, |time| format!("{time} "));
        polars_bail!(InvalidOperation: "AT TIME ZONE '{}': the wall time {named}does not exist there (the clocks skip it)", zone.as_str());
    }
    instants.set_time_zone(TimeZone::UTC)?;
    Ok(instants)
}

#[cfg(test)]
mod tests {
    use super::super::compute;
    use super::*;

    fn wall(text: &[Option<&str>]) -> Column {
        let micros = text.iter().map(|text| text.map(|t| chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%d %H:%M:%S").unwrap().and_utc().timestamp_micros()));
        micros.collect::<Int64Chunked>().with_name("t".into()).into_datetime(TimeUnit::Microseconds, None).into_column()
    }

    fn zone(name: &str) -> Column {
        Column::new("z".into(), [name])
    }

    fn shown(column: Column) -> Vec<String> {
        column.as_materialized_series().iter().map(|value| value.to_string()).collect()
    }

    #[test]
    fn wall_times_become_instants_and_back() {
        let times = wall(&[Some("2026-07-01 12:00:00"), Some("2026-10-25 02:30:00"), None]);
        let instants = compute(Scalar::AtTimeZone, &[times, zone("Europe/Berlin")]).unwrap();
        assert_eq!(instants.dtype(), &DataType::Datetime(TimeUnit::Microseconds, Some(TimeZone::UTC)));
        assert_eq!(shown(instants.clone()), ["2026-07-01 10:00:00 UTC", "2026-10-25 00:30:00 UTC", "null"]);
        let walls = compute(Scalar::AtTimeZone, &[instants, zone("America/New_York")]).unwrap();
        assert_eq!(walls.dtype(), &DataType::Datetime(TimeUnit::Microseconds, None));
        assert_eq!(shown(walls), ["2026-07-01 06:00:00", "2026-10-24 20:30:00", "null"]);
    }

    #[test]
    fn skipped_wall_times_and_unknown_zones_are_named() {
        let err = compute(Scalar::AtTimeZone, &[wall(&[Some("2026-03-29 02:30:00")]), zone("Europe/Berlin")]).unwrap_err();
        assert!(err.to_string().contains("the wall time 2026-03-29 02:30:00 does not exist there"), "{err}");
        let err = compute(Scalar::AtTimeZone, &[wall(&[Some("2026-03-29 02:30:00")]), zone("+02:00")]).unwrap_err();
        assert!(err.to_string().contains("not a time zone Floe knows"), "{err}");
        let err = compute(Scalar::AtTimeZone, &[Column::new("n".into(), [1i64]), zone("UTC")]).unwrap_err();
        assert!(err.to_string().contains("takes a timestamp or a date, not i64"), "{err}");
    }
}
