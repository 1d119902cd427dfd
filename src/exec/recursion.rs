//! A recursive CTE's rows (`sql/recursive.rs` took it apart): its first
//! part, then round by round its recursive part over the rows the round
//! before added, until a round adds none. The recursive part is planned once
//! over a placeholder whose rows each round replaces, so a round costs its
//! execution, not parsing and planning again.

use std::sync::{Arc, Mutex};

use polars::prelude::{col, DataFrame, DataType, Expr, IntoLazy, LazyFrame, OptFlags, PlSmallStr, PolarsError, RoundMode, Schema, UniqueKeepStrategy};

use super::plan::{named, Planner};
use super::Result;
use crate::sql::Recursion;

/// Rounds after which a recursion that still adds rows is refused: a
/// condition that never ends it would otherwise hold the server's memory.
const MAX_ROUNDS: usize = 100_000;

/// Whether the query was cancelled or ran out of time.
pub(super) type StopCheck = dyn Fn() -> bool + Send + Sync;

/// Provides `recursion`'s rows to the planner under its name: computed when
/// the plan will run (`running`, checked between rounds), else (planning
/// only for a schema) as its first part's.
pub(super) fn provide(planner: &mut Planner, recursion: &Recursion, index: usize, running: Option<&StopCheck>) -> Result<()> {
    let relation = vec![recursion.name.clone()];
    let registered = format!("__floe_recursive_{index}");
    let mut first = named(planner.frame(&recursion.first)?, &recursion.columns, &recursion.name)?;
    let first_schema = first.collect_schema()?;
    // The recursive part reads the rows the round before added, typed as the first part's.
    let added = Arc::new(Mutex::new(DataFrame::empty_with_schema(&first_schema)));
    planner.provide(relation.clone(), registered.clone(), placeholder(&first_schema, added.clone()), &first_schema);
    let mut recursive = planner.frame(&recursion.recursive)?;
    let mut recursive_schema = recursive.collect_schema()?;
    let schema = Arc::new(unified(&first_schema, &recursive_schema, &recursion.name)?);
    let first = cast(first, &first_schema, &schema);
    let Some(stopped) = running else {
        planner.provide(relation, registered, first, &schema);
        return Ok(());
    };
    if schema != first_schema {
        // A column the first part left NULL has a type now: planned again over rows of it.
        *added.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = DataFrame::empty_with_schema(&schema);
        planner.provide(relation.clone(), registered.clone(), placeholder(&schema, added.clone()), &schema);
        recursive = planner.frame(&recursion.recursive)?;
        recursive_schema = recursive.collect_schema()?;
    }
    let recursive = cast(recursive, &recursive_schema, &schema);
    let rows = rounds(first.collect()?, &recursive, &added, recursion, stopped)?;
    planner.provide(relation, registered, rows.lazy(), &schema);
    Ok(())
}

/// Every round's rows, the first part's first.
fn rounds(first: DataFrame, recursive: &LazyFrame, added: &Mutex<DataFrame>, recursion: &Recursion, stopped: &StopCheck) -> Result<DataFrame> {
    let mut all = if recursion.distinct { first.unique_stable(None, UniqueKeepStrategy::First, None)? } else { first };
    let mut last = all.clone();
    for _ in 0..MAX_ROUNDS {
        if last.height() == 0 {
            // One chunk a round would slow every read of the rows after.
            all.rechunk_mut_par();
            return Ok(all);
        }
        if stopped() {
            return Err(PolarsError::ComputeError(format!("recursive CTE `{}` stopped", recursion.name).into()).into());
        }
        *added.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = last;
        let mut round = recursive.clone().collect()?;
        if recursion.distinct {
            round = unseen(&all, round.unique_stable(None, UniqueKeepStrategy::First, None)?)?;
        }
        all.vstack_mut(&round)?;
        last = round;
    }
    let message = format!(
        "recursive CTE `{}` still added rows after {MAX_ROUNDS} rounds: its recursive part needs a condition that ends it",
        recursion.name
    );
    Err(PolarsError::ComputeError(message.into()).into())
}

/// The rows of `round` (distinct) that `seen` (distinct) lacks, NULLs
/// alike as UNION compares them.
fn unseen(seen: &DataFrame, round: DataFrame) -> Result<DataFrame> {
    let mut both = seen.clone();
    both.vstack_mut(&round)?;
    let repeated = both.is_duplicated()?.slice(seen.height() as i64, round.height());
    Ok(round.filter(&!repeated)?)
}

/// The rows the round before added, read where the recursive part names the
/// CTE: a plan node that takes no optimization through it, so each run
/// reads what `added` holds then.
fn placeholder(schema: &Schema, added: Arc<Mutex<DataFrame>>) -> LazyFrame {
    let read = move |_: DataFrame| Ok(added.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone());
    DataFrame::empty_with_schema(schema).lazy().map(read, OptFlags::empty(), None, Some("recursive CTE rows"))
}

/// The CTE's columns: the first part's names and types, but where the first
/// part is NULL, the recursive part's type (as DuckDB types them).
fn unified(first: &Schema, recursive: &Schema, name: &str) -> Result<Schema> {
    if first.len() != recursive.len() {
        let message = format!("recursive CTE `{name}`: its first part has {} columns but its recursive part {}", first.len(), recursive.len());
        return Err(PolarsError::SQLInterface(message.into()).into());
    }
    let typed = |(first, recursive): (&DataType, &DataType)| if first.is_null() { recursive.clone() } else { first.clone() };
    let dtypes = first.iter_values().zip(recursive.iter_values()).map(typed);
    Ok(first.iter_names().cloned().zip(dtypes).collect())
}

/// `frame` (of `from`) as the CTE's columns: named and typed by position,
/// a fraction cast to an integer or to fewer decimal places rounded as SQL's
/// casts round it.
fn cast(frame: LazyFrame, from: &Schema, to: &Schema) -> LazyFrame {
    if from == to {
        return frame;
    }
    let column = |((old, source), (new, target)): ((&PlSmallStr, &DataType), (&PlSmallStr, &DataType))| {
        let value = col(old.clone());
        let value = match (source, target) {
            (source, target) if source.is_float() && target.is_integer() => value.round(0, RoundMode::HalfToEven),
            (source, target) if source.is_decimal() && target.is_integer() => value.round(0, RoundMode::HalfAwayFromZero),
            (DataType::Decimal(_, from), DataType::Decimal(_, to)) if from > to => value.round(*to as u32, RoundMode::HalfAwayFromZero),
            (source, DataType::Decimal(_, to)) if source.is_float() => value.round(*to as u32, RoundMode::HalfAwayFromZero),
            _ => value,
        };
        value.strict_cast(target.clone()).alias(new.clone())
    };
    frame.select(from.iter().zip(to.iter()).map(column).collect::<Vec<Expr>>())
}
