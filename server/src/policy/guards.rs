//! Builtins that would allocate, in one step, memory their arguments size.
//!
//! regorus' `numbers.range` and `numbers.range_step` reserve their whole
//! result (`Vec::with_capacity`) before the memory limit can see it: a
//! policy asking for `numbers.range(1, 1000000000000)` requests 24 TB at
//! once, the allocator fails, and the process aborts — for every tenant,
//! and again on each decision after a restart if the bundle was promoted.
//! regorus looks extensions up before its builtins, so the engine gets
//! these two as extensions of the same names: they compute the result's
//! size first and answer the memory limit's own error
//! ([`regorus::LimitError`]) when it would not fit under it, which every
//! caller already types as `policy_limit_exceeded` (a decision: a
//! fail-closed `block`). Within the limit they answer what the builtins
//! answer.

use regorus::{LimitError, Value};

use super::PolicyError;

thread_local! {
    /// The limit a guarded builtin refused on this thread, since the last
    /// [`take_refusal`]: regorus turns an extension's error into text, so
    /// the refusal is kept here for the evaluation to be typed a limit.
    static REFUSED: std::cell::Cell<Option<LimitError>> = const { std::cell::Cell::new(None) };
}

/// The refusal of a guarded builtin since the last call, on this thread.
pub(crate) fn take_refusal() -> Option<LimitError> {
    REFUSED.with(std::cell::Cell::take)
}

/// What one element of a range costs, at least (a `Value` and its number).
const BYTES_PER_ELEMENT: u64 = 48;

/// `from..=to` by `step` (positive): its elements, or the limit it exceeds.
fn stepped(from: i64, to: i64, step: i64, limit: u64) -> anyhow::Result<Value> {
    let span = i128::from(to) - i128::from(from);
    let count = span.unsigned_abs() / step.unsigned_abs() as u128 + 1;
    let usage = u64::try_from(count.saturating_mul(u128::from(BYTES_PER_ELEMENT))).unwrap_or(u64::MAX);
    if usage > limit {
        let refusal = LimitError::MemoryLimitExceeded { usage, limit };
        REFUSED.with(|refused| refused.set(Some(refusal)));
        return Err(refusal.into());
    }
    let step = if span >= 0 { i128::from(step.abs()) } else { -i128::from(step.abs()) };
    let mut values = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let mut at = i128::from(from);
    while (step > 0 && at <= i128::from(to)) || (step < 0 && at >= i128::from(to)) {
        values.push(Value::from(at));
        at += step;
    }
    Ok(Value::from(values))
}

/// An integer argument (`None`: not an integer, so the builtin's answer is
/// undefined).
fn integer(value: &Value) -> Option<i64> {
    let number = value.as_number().ok()?;
    if number.is_integer() { number.as_i64() } else { None }
}

/// Installs the guarded builtins in `engine`, bounded by `limit` bytes.
pub(crate) fn install(engine: &mut regorus::Engine, limit: u64) -> Result<(), PolicyError> {
    let range = move |args: Vec<Value>| -> anyhow::Result<Value> {
        match (args.first().and_then(integer), args.get(1).and_then(integer)) {
            (Some(from), Some(to)) => stepped(from, to, 1, limit),
            _ => Ok(Value::Undefined),
        }
    };
    let range_step = move |args: Vec<Value>| -> anyhow::Result<Value> {
        let (from, to) = match (args.first().and_then(integer), args.get(1).and_then(integer)) {
            (Some(from), Some(to)) => (from, to),
            _ => return Ok(Value::Undefined),
        };
        match args.get(2).and_then(integer) {
            Some(step) if step > 0 => stepped(from, to, step, limit),
            _ => anyhow::bail!("numbers.range_step: step must be a positive integer"),
        }
    };
    let install =
        |engine: &mut regorus::Engine, name: &str, args: u8, function: Box<dyn regorus::Extension>| {
            engine
                .add_extension(name.to_string(), args, function)
                .map_err(|e| PolicyError::Compile(format!("guarding `{name}`: {e}")))
        };
    install(engine, "numbers.range", 2, Box::new(range))?;
    install(engine, "numbers.range_step", 3, Box::new(range_step))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(range: anyhow::Result<Value>) -> Vec<i64> {
        let value = range.unwrap_or_else(|e| panic!("{e}"));
        let json = serde_json::to_value(&value).unwrap_or_default();
        serde_json::from_value(json).unwrap_or_default()
    }

    #[test]
    fn ranges_within_the_limit_are_the_builtins() {
        assert_eq!(numbers(stepped(1, 4, 1, 1 << 20)), [1, 2, 3, 4]);
        assert_eq!(numbers(stepped(4, 1, 1, 1 << 20)), [4, 3, 2, 1]);
        assert_eq!(numbers(stepped(1, 10, 4, 1 << 20)), [1, 5, 9]);
        assert_eq!(numbers(stepped(10, 1, 4, 1 << 20)), [10, 6, 2]);
        assert_eq!(numbers(stepped(3, 3, 1, 1 << 20)), [3]);
    }

    #[test]
    fn ranges_beyond_it_are_the_limit_error_before_any_allocation() {
        for (from, to) in [(1, 1_000_000_000_000), (i64::MIN, i64::MAX), (0, 1 << 20)] {
            let error = stepped(from, to, 1, 1 << 20).err().unwrap_or_else(|| panic!("{from}..{to} fits"));
            assert!(matches!(error.downcast_ref(), Some(LimitError::MemoryLimitExceeded { .. })), "{error}");
        }
    }
}
