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
//!
//! `sprintf` pads to the width its format asks for in one allocation
//! (`" ".repeat(width)`): `%4000000000d` took 4 GB at once, which pushed
//! the process heap over the limit every other tenant's evaluation is held
//! to, and a width in non-ASCII digits (`%²d`) or one beyond `u32` made
//! regorus panic. The guarded `sprintf` reads the format as regorus does
//! first and refuses what Go's `fmt` (and so OPA) refuses: a width or
//! precision beyond 10^6.
//!
//! The builtins that build one string from their arguments without
//! checking the limit as they grow are guarded alike: `concat` (a long
//! delimiter between many items), `replace` and `strings.replace_n` (a
//! long replacement for every character, with an empty pattern),
//! `regex.replace` (a replacement repeating the whole match with `$0`) and
//! `json.marshal_with_options` (a long indent, once per nesting level and
//! line). Each first bounds the size of its result from its arguments;
//! past half the heap limit it answers the limit's error without
//! allocating.
//!
//! Once its check passes, a guarded builtin answers the common case itself,
//! exactly as regorus does (`concat`, `replace` and `regex.replace`, the
//! ones decisions call; compiled patterns are kept per thread); the rest —
//! `sprintf`, `strings.replace_n`, `json.marshal_with_options`, and any
//! type error — is answered by the real builtin, run in an engine of its
//! own ([`Delegate`]) that holds nothing else.

use std::rc::Rc;

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

/// Go's `fmt`, and so OPA, refuses widths and precisions beyond this.
const MAX_FORMAT_WIDTH: u64 = 1_000_000;

/// Checks every width and precision of `format`, read as regorus' sprintf
/// reads them (`%`, then `.` or digits, then the verb).
fn check_format(format: &str) -> anyhow::Result<()> {
    let digit = |c: char| {
        c.to_digit(10)
            .map(u64::from)
            .ok_or_else(|| anyhow::anyhow!("sprintf: `{c}` in a width is not a digit 0-9"))
    };
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            continue;
        }
        match chars.next() {
            Some(first) if first == '.' || first.is_numeric() => {
                let mut width = if first == '.' { 0 } else { digit(first)? };
                while let Some(&next) = chars.peek()
                    && next.is_numeric()
                {
                    chars.next();
                    width = width.saturating_mul(10).saturating_add(digit(next)?);
                }
                if width > MAX_FORMAT_WIDTH {
                    anyhow::bail!("sprintf: width or precision {width} is beyond {MAX_FORMAT_WIDTH}");
                }
                // The verb.
                chars.next();
            }
            // `%%` or a verb.
            _ => {}
        }
    }
    Ok(())
}

/// The real builtins, one rule each, in an engine without the guards.
const DELEGATE_MODULE: &str = "package lictor_guard
import rego.v1
sprintf := sprintf(input[0], input[1])
concat := concat(input[0], input[1])
replace := replace(input[0], input[1], input[2])
replace_n := strings.replace_n(input[0], input[1])
regex_replace := regex.replace(input[0], input[1], input[2])
regex_match := regex.match(input[0], input[1])
regex_find_n := regex.find_n(input[0], input[1], input[2])
regex_split := regex.split(input[0], input[1])
marshal_with_options := json.marshal_with_options(input[0], input[1])
";

/// Runs a real builtin by its rule in [`DELEGATE_MODULE`].
#[derive(Clone)]
struct Delegate {
    engine: regorus::Engine,
    rule: String,
}

impl Delegate {
    fn new(rule: &str) -> Result<Delegate, PolicyError> {
        let mut engine = regorus::Engine::new();
        engine
            .add_policy("lictor_guard.rego".into(), DELEGATE_MODULE.into())
            .map_err(|e| PolicyError::Compile(format!("guarding builtins: {e}")))?;
        Ok(Delegate { engine, rule: format!("data.lictor_guard.{rule}") })
    }

    fn call(&mut self, args: Vec<Value>) -> anyhow::Result<Value> {
        self.engine.set_input(Value::from(args));
        self.engine.eval_rule(self.rule.clone())
    }
}

/// Refuses a result of `size` bytes when it would take more than half the
/// heap limit (a growing `String` may hold twice its length).
fn bound(size: u128, limit: u64) -> anyhow::Result<()> {
    if size > u128::from(limit / 2) {
        let usage = u64::try_from(size).unwrap_or(u64::MAX);
        let refusal = LimitError::MemoryLimitExceeded { usage, limit };
        REFUSED.with(|refused| refused.set(Some(refusal)));
        return Err(refusal.into());
    }
    Ok(())
}

fn text(value: Option<&Value>) -> Option<&str> {
    value.and_then(|v| v.as_string().ok()).map(|s| s.as_ref())
}

/// A length, as a size.
fn len(n: usize) -> u128 {
    u128::try_from(n).unwrap_or(u128::MAX)
}

/// How many times `pattern` can match in `s`: every character boundary for
/// an empty one.
fn occurrences(s: &str, pattern: &str) -> u128 {
    if pattern.is_empty() { len(s.chars().count()) + 1 } else { len(s.matches(pattern).count()) }
}

/// `concat(delimiter, strings)`: the items and a delimiter between each two.
fn concat_size(args: &[Value]) -> u128 {
    let delimiter = len(text(args.first()).map_or(0, str::len));
    let items: Vec<&Value> = match args.get(1) {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(Value::Set(items)) => items.iter().collect(),
        _ => return 0,
    };
    let lengths: u128 = items.iter().map(|v| len(text(Some(v)).map_or(0, str::len))).sum();
    lengths.saturating_add(delimiter.saturating_mul(len(items.len())))
}

/// `replace(s, old, new)`: `new` for every match of `old`.
fn replace_size(args: &[Value]) -> u128 {
    let (Some(s), Some(old), Some(new)) = (text(args.first()), text(args.get(1)), text(args.get(2))) else {
        return 0;
    };
    if new.len() <= old.len() && !old.is_empty() {
        return len(s.len());
    }
    len(s.len()).saturating_add(occurrences(s, old).saturating_mul(len(new.len())))
}

/// `strings.replace_n(patterns, s)`: each replacement applied in turn, each
/// bounded by the length the previous ones can reach.
fn replace_n_size(args: &[Value]) -> u128 {
    let (Some(Value::Object(patterns)), Some(s)) = (args.first(), text(args.get(1))) else { return 0 };
    let mut size = len(s.len());
    for (old, new) in patterns.iter() {
        let (Some(old), Some(new)) = (text(Some(old)), text(Some(new))) else { return 0 };
        if new.len() > old.len() {
            let matches = if old.is_empty() { size.saturating_add(1) } else { size / len(old.len()) };
            size = size.saturating_add(matches.saturating_mul(len(new.len())));
        }
    }
    size
}

thread_local! {
    /// Patterns the `regex.*` builtins compiled on this thread: a
    /// decision's policy matches with the same few patterns. Each is kept
    /// and handed out behind an `Rc`, never cloned: a cloned
    /// `regex::Regex` starts with an empty pool of search caches, so
    /// regorus' own cache (which hands out clones) rebuilds the lazy DFA on
    /// every call.
    static PATTERNS: std::cell::RefCell<std::collections::HashMap<String, Rc<regex::Regex>>> =
        std::cell::RefCell::new(std::collections::HashMap::new());
}

/// Patterns kept per thread, at most.
const MAX_PATTERNS: usize = 256;

/// `pattern` compiled as regorus compiles it (its size bound included);
/// `None` when it does not compile (regorus' answer is then its own).
fn compiled(pattern: &str) -> Option<Rc<regex::Regex>> {
    PATTERNS.with(|patterns| {
        let mut patterns = patterns.borrow_mut();
        if let Some(re) = patterns.get(pattern) {
            return Some(Rc::clone(re));
        }
        let re = Rc::new(regex::RegexBuilder::new(pattern).size_limit(100 * 1024).build().ok()?);
        if patterns.len() >= MAX_PATTERNS {
            patterns.clear();
        }
        patterns.insert(pattern.to_string(), Rc::clone(&re));
        Some(re)
    })
}

/// Below this, a coarse bound is kept rather than matching to refine it.
const COARSE_ENOUGH: u128 = 1 << 24;

/// `regex.replace(s, pattern, value)`: `value` for every match, each `$`
/// in it standing for at most the whole match. Bounded first without
/// matching (a match at every character boundary); matched only when that
/// bound is too coarse to keep.
fn regex_replace_size(args: &[Value]) -> u128 {
    let (Some(s), Some(pattern), Some(value)) = (text(args.first()), text(args.get(1)), text(args.get(2)))
    else {
        return 0;
    };
    let references = len(value.matches('$').count());
    let each = |matched: u128| len(value.len()).saturating_add(references.saturating_mul(matched));
    let boundaries = len(s.chars().count()).saturating_add(1);
    let coarse = len(s.len()).saturating_add(boundaries.saturating_mul(each(len(s.len()))));
    if coarse < COARSE_ENOUGH {
        return coarse;
    }
    let Some(re) = compiled(pattern) else { return 0 };
    let replaced = re.find_iter(s).map(|m| each(len(m.len()))).fold(0u128, u128::saturating_add);
    len(s.len()).saturating_add(replaced)
}

/// `concat` where regorus would join: a string and an array or set of
/// strings.
fn concat_direct(args: &[Value]) -> Option<Value> {
    let delimiter = text(args.first())?;
    let items: Vec<&str> = match args.get(1)? {
        Value::Array(items) => items.iter().map(|v| text(Some(v))).collect::<Option<_>>()?,
        Value::Set(items) => items.iter().map(|v| text(Some(v))).collect::<Option<_>>()?,
        _ => return None,
    };
    Some(Value::from(items.join(delimiter)))
}

/// `replace` where regorus would replace: three strings.
fn replace_direct(args: &[Value]) -> Option<Value> {
    let (s, old, new) = (text(args.first())?, text(args.get(1))?, text(args.get(2))?);
    Some(Value::from(s.replace(old, new)))
}

/// `regex.replace` where regorus would replace: three strings and a
/// pattern that compiles.
fn regex_replace_direct(args: &[Value]) -> Option<Value> {
    let (s, pattern, value) = (text(args.first())?, text(args.get(1))?, text(args.get(2))?);
    let re = compiled(pattern)?;
    Some(Value::from(re.replace_all(s, value).into_owned()))
}

/// `regex.match(pattern, value)` where regorus would match: two strings
/// and a pattern that compiles.
fn regex_match_direct(args: &[Value]) -> Option<Value> {
    let (pattern, value) = (text(args.first())?, text(args.get(1))?);
    Some(Value::Bool(compiled(pattern)?.is_match(value)))
}

/// `regex.find_n(pattern, value, n)` where regorus would find: two
/// strings, a pattern that compiles and an integer `n` (negative: all).
fn regex_find_n_direct(args: &[Value]) -> Option<Value> {
    let (pattern, value) = (text(args.first())?, text(args.get(1))?);
    let n = match args.get(2)? {
        Value::Number(n) if n.is_integer() => {
            n.as_i64().and_then(|n| usize::try_from(n).ok()).unwrap_or(usize::MAX)
        }
        _ => return None,
    };
    let re = compiled(pattern)?;
    Some(Value::from(re.find_iter(value).take(n).map(|m| Value::from(m.as_str())).collect::<Vec<_>>()))
}

/// `regex.split(pattern, value)` where regorus would split: two strings
/// and a pattern that compiles.
fn regex_split_direct(args: &[Value]) -> Option<Value> {
    let (pattern, value) = (text(args.first())?, text(args.get(1))?);
    let re = compiled(pattern)?;
    Some(Value::from(re.split(value).map(Value::from).collect::<Vec<_>>()))
}

/// No bound: the result is no larger than its arguments (a match, a
/// split part or a boolean per character at most).
fn unbounded(_: &[Value]) -> u128 {
    0
}

/// The bound on a guarded builtin's result, from its arguments.
type Size = fn(&[Value]) -> u128;

/// A guarded builtin's answer where it is computed here.
type Direct = fn(&[Value]) -> Option<Value>;

/// No answer of its own: the real builtin answers.
fn delegated(_: &[Value]) -> Option<Value> {
    None
}

/// `json.marshal_with_options(value, options)`: each line of the pretty
/// form with the prefix, and the indent once per level.
fn marshal_size(args: &[Value]) -> u128 {
    let Some(Value::Object(options)) = args.get(1) else { return 0 };
    let option =
        |name: &str| len(options.get(&Value::from(name)).and_then(|v| text(Some(v))).map_or(0, str::len));
    let (indent, prefix) = (option("indent"), option("prefix"));
    if indent <= 2 && prefix == 0 {
        return 0;
    }
    let Some(value) = args.first() else { return 0 };
    let Ok(pretty) = serde_json::to_string_pretty(value) else { return 0 };
    pretty
        .split('\n')
        .map(|line| {
            let trimmed = line.trim_start();
            let level = len((line.len() - trimmed.len()) / 2);
            len(trimmed.len()) + 1 + prefix + indent.saturating_mul(level)
        })
        .fold(0u128, u128::saturating_add)
}

/// An integer argument (`None`: not an integer, so the builtin's answer is
/// undefined).
fn integer(value: &Value) -> Option<i64> {
    let number = value.as_number().ok()?;
    if number.is_integer() { number.as_i64() } else { None }
}

/// `numbers.range(from, to)` within `limit` bytes.
fn range(args: &[Value], limit: u64) -> anyhow::Result<Value> {
    match (args.first().and_then(integer), args.get(1).and_then(integer)) {
        (Some(from), Some(to)) => stepped(from, to, 1, limit),
        _ => Ok(Value::Undefined),
    }
}

/// `numbers.range_step(from, to, step)` within `limit` bytes.
fn range_step(args: &[Value], limit: u64) -> anyhow::Result<Value> {
    let (Some(from), Some(to)) = (args.first().and_then(integer), args.get(1).and_then(integer)) else {
        return Ok(Value::Undefined);
    };
    match args.get(2).and_then(integer) {
        Some(step) if step > 0 => stepped(from, to, step, limit),
        _ => anyhow::bail!("numbers.range_step: step must be a positive integer"),
    }
}

/// Refuses a `sprintf` whose format asks for more than Go's `fmt` allows.
fn check_sprintf(args: &[Value]) -> anyhow::Result<()> {
    match text(args.first()) {
        Some(format) => check_format(format),
        None => Ok(()),
    }
}

/// Installs the guarded builtins in `engine`, bounded by `limit` bytes.
pub(crate) fn install(engine: &mut regorus::Engine, limit: u64) -> Result<(), PolicyError> {
    let range = move |args: Vec<Value>| range(&args, limit);
    let range_step = move |args: Vec<Value>| range_step(&args, limit);
    let install =
        |engine: &mut regorus::Engine, name: &str, args: u8, function: Box<dyn regorus::Extension>| {
            engine
                .add_extension(name.to_string(), args, function)
                .map_err(|e| PolicyError::Compile(format!("guarding `{name}`: {e}")))
        };
    install(engine, "numbers.range", 2, Box::new(range))?;
    install(engine, "numbers.range_step", 3, Box::new(range_step))?;

    let mut real = Delegate::new("sprintf")?;
    let sprintf = move |args: Vec<Value>| -> anyhow::Result<Value> {
        check_sprintf(&args)?;
        real.call(args)
    };
    install(engine, "sprintf", 2, Box::new(sprintf))?;

    // Each: its name, its rule in the delegate, its arity, the bound on its
    // result, and its answer computed here in the common case (the same as
    // regorus' own; anything else — a type error, a pattern that does not
    // compile — is left to the real builtin, so the answer is regorus').
    let sized: [(&str, &str, u8, Size, Direct); 8] = [
        ("concat", "concat", 2, concat_size, concat_direct),
        ("replace", "replace", 3, replace_size, replace_direct),
        ("strings.replace_n", "replace_n", 2, replace_n_size, delegated),
        ("regex.replace", "regex_replace", 3, regex_replace_size, regex_replace_direct),
        ("json.marshal_with_options", "marshal_with_options", 2, marshal_size, delegated),
        // Not for their size: answered here for speed, with each pattern's
        // compiled form kept whole (see `PATTERNS`).
        ("regex.match", "regex_match", 2, unbounded, regex_match_direct),
        ("regex.find_n", "regex_find_n", 3, unbounded, regex_find_n_direct),
        ("regex.split", "regex_split", 2, unbounded, regex_split_direct),
    ];
    for (name, rule, arity, size, direct) in sized {
        let mut real = Delegate::new(rule)?;
        let guarded = move |args: Vec<Value>| -> anyhow::Result<Value> {
            bound(size(&args), limit)?;
            match direct(&args) {
                Some(value) => Ok(value),
                None => real.call(args),
            }
        };
        install(engine, name, arity, Box::new(guarded))?;
    }
    Ok(())
}

thread_local! {
    /// The heap limit of the evaluation running on this thread on the
    /// compiled VM (its builtins are plain functions: they cannot hold it).
    static VM_LIMIT: std::cell::Cell<u64> = const { std::cell::Cell::new(u64::MAX) };
}

/// Sets the heap limit the guarded builtins of the compiled VM hold this
/// thread's next evaluation to.
pub(crate) fn set_vm_limit(limit: u64) {
    VM_LIMIT.with(|cell| cell.set(limit));
}

fn vm_limit() -> u64 {
    VM_LIMIT.with(std::cell::Cell::get)
}

/// A builtin as regorus' compiled VM calls it.
type VmBuiltin = fn(
    &regorus::unstable::Span,
    &[regorus::unstable::Ref<regorus::unstable::Expr>],
    &[Value],
    bool,
) -> anyhow::Result<Value>;

/// Calls regorus' own builtin `name`.
fn real(
    name: &str,
    span: &regorus::unstable::Span,
    params: &[regorus::unstable::Ref<regorus::unstable::Expr>],
    args: &[Value],
    strict: bool,
) -> anyhow::Result<Value> {
    match regorus::unstable::BUILTINS.get(name) {
        Some((builtin, _)) => builtin(span, params, args, strict),
        None => anyhow::bail!("unknown builtin `{name}`"),
    }
}

/// The compiled VM's version of each guarded builtin: the same check and
/// the same direct answer as the interpreter's extension, then regorus'
/// own builtin.
macro_rules! vm_guard {
    ($function:ident, $name:literal, $size:expr, $direct:expr) => {
        fn $function(
            span: &regorus::unstable::Span,
            params: &[regorus::unstable::Ref<regorus::unstable::Expr>],
            args: &[Value],
            strict: bool,
        ) -> anyhow::Result<Value> {
            bound($size(args), vm_limit())?;
            match $direct(args) {
                Some(value) => Ok(value),
                None => real($name, span, params, args, strict),
            }
        }
    };
}

vm_guard!(vm_concat, "concat", concat_size, concat_direct);
vm_guard!(vm_replace, "replace", replace_size, replace_direct);
vm_guard!(vm_replace_n, "strings.replace_n", replace_n_size, delegated);
vm_guard!(vm_regex_replace, "regex.replace", regex_replace_size, regex_replace_direct);
vm_guard!(vm_marshal, "json.marshal_with_options", marshal_size, delegated);
vm_guard!(vm_regex_match, "regex.match", unbounded, regex_match_direct);
vm_guard!(vm_regex_find_n, "regex.find_n", unbounded, regex_find_n_direct);
vm_guard!(vm_regex_split, "regex.split", unbounded, regex_split_direct);

fn vm_sprintf(
    span: &regorus::unstable::Span,
    params: &[regorus::unstable::Ref<regorus::unstable::Expr>],
    args: &[Value],
    strict: bool,
) -> anyhow::Result<Value> {
    check_sprintf(args)?;
    real("sprintf", span, params, args, strict)
}

fn vm_range(
    _: &regorus::unstable::Span,
    _: &[regorus::unstable::Ref<regorus::unstable::Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    range(args, vm_limit())
}

fn vm_range_step(
    _: &regorus::unstable::Span,
    _: &[regorus::unstable::Ref<regorus::unstable::Expr>],
    args: &[Value],
    _: bool,
) -> anyhow::Result<Value> {
    range_step(args, vm_limit())
}

/// The guarded builtins, by name, for the compiled VM.
const VM_GUARDS: [(&str, VmBuiltin); 11] = [
    ("numbers.range", vm_range),
    ("numbers.range_step", vm_range_step),
    ("sprintf", vm_sprintf),
    ("concat", vm_concat),
    ("replace", vm_replace),
    ("strings.replace_n", vm_replace_n),
    ("regex.replace", vm_regex_replace),
    ("json.marshal_with_options", vm_marshal),
    ("regex.match", vm_regex_match),
    ("regex.find_n", vm_regex_find_n),
    ("regex.split", vm_regex_split),
];

/// Points every call of a guarded builtin in `program` at its guard: the
/// compiled VM calls builtins straight from the program's table, where the
/// interpreter's extensions cannot reach.
pub(crate) fn guard_program(program: &mut regorus::rvm::program::Program) {
    let names: Vec<String> = program.builtin_info_table.iter().map(|info| info.name.clone()).collect();
    for (index, name) in names.iter().enumerate() {
        if let Some((_, guard)) = VM_GUARDS.iter().find(|(guarded, _)| guarded == name)
            && let Some(slot) = program.resolved_builtins.get_mut(index)
        {
            slot.0 = *guard;
        }
    }
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
    fn formats_are_read_as_regorus_reads_them() {
        for ok in ["", "%d", "%5d|%.2f|%05d|%%|%x", "%1000000d", "%.1000000f", "100%", "%"] {
            assert!(check_format(ok).is_ok(), "{ok}");
        }
        for refused in ["%1000001d", "%.4000000000f", "%99999999999999999999999s", "%\u{b2}d", "%1\u{663}d"] {
            assert!(check_format(refused).is_err(), "{refused}");
        }
    }

    fn strings(items: &[&str]) -> Value {
        Value::from(items.iter().map(|s| Value::from(*s)).collect::<Vec<_>>())
    }

    #[test]
    fn result_sizes_are_bounded_from_the_arguments() {
        let big = "a".repeat(1000);
        assert_eq!(concat_size(&[Value::from(","), strings(&["ab", "c"])]), 3 + 2);
        assert_eq!(concat_size(&[Value::from(big.as_str()), strings(&["x"; 10])]), 10 + 10_000);
        assert_eq!(replace_size(&[Value::from("abc"), Value::from("b"), Value::from("x")]), 3);
        assert_eq!(
            replace_size(&[Value::from("abc"), Value::from(""), Value::from(big.as_str())]),
            3 + 4 * 1000
        );
        assert_eq!(replace_size(&[Value::from("abab"), Value::from("ab"), Value::from("xyz")]), 4 + 2 * 3);
        // Small inputs: the coarse bound, a match of all of it at every boundary.
        let regex = regex_replace_size(&[Value::from("aaaa"), Value::from("a+"), Value::from("$0$0")]);
        assert_eq!(regex, 4 + 5 * (4 + 2 * 4));
        // Large ones are matched: one match of the whole string here.
        let long = "a".repeat(100_000);
        let regex = regex_replace_size(&[Value::from(long.as_str()), Value::from("a+"), Value::from("$0$0")]);
        assert_eq!(regex, 100_000 + (4 + 2 * 100_000));
        assert!(bound(1 << 20, 1 << 30).is_ok());
        assert!(bound(1 << 40, 1 << 30).is_err());
        assert!(take_refusal().is_some());
    }

    /// What is answered here is what regorus answers.
    #[test]
    fn direct_answers_are_the_builtins() {
        let cases: [(&str, &str, Direct); 14] = [
            ("concat", r#"[", ", ["a", "b", "c"]]"#, concat_direct),
            ("concat", r#"["", {"b", "a"}]"#, concat_direct),
            ("concat", r#"["-", []]"#, concat_direct),
            ("replace", r#"["a.b.c", ".", "::"]"#, replace_direct),
            ("replace", r#"["abc", "", "-"]"#, replace_direct),
            ("regex.replace", r#"["deleteMany", `([a-z0-9])([A-Z])`, "${1} ${2}"]"#, regex_replace_direct),
            ("regex.replace", r#"["aXbX", "X", "$0$0"]"#, regex_replace_direct),
            ("regex.replace", r#"["héllo wörld", `\w+`, "<$0>"]"#, regex_replace_direct),
            ("regex.match", r#"[`^a+b$`, "aaab"]"#, regex_match_direct),
            ("regex.match", r#"[`[\x00-\x1f]`, "no control"]"#, regex_match_direct),
            ("regex.find_n", r#"[`\d`, "a1b22c333", -1]"#, regex_find_n_direct),
            ("regex.find_n", r#"[`\d+`, "a1b22c333", 2]"#, regex_find_n_direct),
            ("regex.split", r#"[`[^a-z0-9]+`, "bulk_delete-all now"]"#, regex_split_direct),
            ("regex.split", r#"[`,`, ""]"#, regex_split_direct),
        ];
        for (builtin, args, direct) in cases {
            let call = if ["concat", "regex.match", "regex.split"].contains(&builtin) {
                format!("{builtin}(args[0], args[1])")
            } else {
                format!("{builtin}(args[0], args[1], args[2])")
            };
            let module = format!("package p\nimport rego.v1\nargs := {args}\nx := {call}\n");
            let mut engine = regorus::Engine::new();
            engine.add_policy("p.rego".into(), module).unwrap_or_else(|e| panic!("{e}"));
            let args = engine.eval_rule("data.p.args".into()).unwrap_or_else(|e| panic!("{e}"));
            let args = args.as_array().unwrap_or_else(|e| panic!("{e}")).to_vec();
            let expected = engine.eval_rule("data.p.x".into()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(direct(&args), Some(expected), "{builtin}{args:?}");
        }
        // A type error or a pattern that does not compile: regorus answers.
        assert_eq!(concat_direct(&[Value::from(","), Value::from(vec![Value::from(1)])]), None);
        assert_eq!(regex_replace_direct(&[Value::from("a"), Value::from("("), Value::from("b")]), None);
        assert_eq!(regex_match_direct(&[Value::from("("), Value::from("a")]), None);
        assert_eq!(regex_find_n_direct(&[Value::from("a"), Value::from("aa"), Value::from(1.5)]), None);
        assert_eq!(regex_split_direct(&[Value::from(1), Value::from("a")]), None);
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
