//! Log lines no input can forge.
//!
//! Every message and every value — the record's own and those its logger
//! carries (a request's URI, its id) — passes through [`escape`] before it
//! reaches the output: control characters (newline, carriage return, NUL,
//! escape sequences…) and the Unicode line and paragraph separators are
//! written as Rust escapes (`\n`, `\0`, `\u{1b}`), so a verb, a path or an
//! error message carrying them stays on its own line and cannot paint a
//! terminal.

use std::borrow::Cow;
use std::fmt;

use slog::{Drain, KV, Key, OwnedKVList, Record, RecordStatic, Serializer};

/// Whether `c` must not reach a log line as it is.
fn unsafe_char(c: char) -> bool {
    c.is_control() || c == '\u{2028}' || c == '\u{2029}'
}

/// `text` with every control character (and line or paragraph separator)
/// written as its Rust escape; borrowed when there is none.
pub(crate) fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// A drain that escapes every message and value before `D` writes them.
#[derive(Debug)]
pub(crate) struct Escaping<D>(pub(crate) D);

/// The record's values, then its logger's.
struct Both<'a>(&'a dyn KV, &'a OwnedKVList);

impl KV for Both<'_> {
    fn serialize(&self, record: &Record<'_>, serializer: &mut dyn Serializer) -> slog::Result {
        self.0.serialize(record, serializer)?;
        self.1.serialize(record, serializer)
    }
}

/// `KV` whose strings reach the serializer escaped.
struct Escaped<'a>(&'a dyn KV);

impl KV for Escaped<'_> {
    fn serialize(&self, record: &Record<'_>, serializer: &mut dyn Serializer) -> slog::Result {
        self.0.serialize(record, &mut EscapingSerializer(serializer))
    }
}

struct EscapingSerializer<'a>(&'a mut dyn Serializer);

macro_rules! forward {
    ($($method:ident($type:ty)),* $(,)?) => {
        $(fn $method(&mut self, key: Key, value: $type) -> slog::Result {
            self.0.$method(key, value)
        })*
    };
}

impl Serializer for EscapingSerializer<'_> {
    fn emit_arguments(&mut self, key: Key, value: &fmt::Arguments<'_>) -> slog::Result {
        let text = value.to_string();
        self.0.emit_str(key, &escape(&text))
    }

    fn emit_str(&mut self, key: Key, value: &str) -> slog::Result {
        self.0.emit_str(key, &escape(value))
    }

    fn emit_char(&mut self, key: Key, value: char) -> slog::Result {
        match unsafe_char(value) {
            true => self.0.emit_str(key, &value.escape_default().to_string()),
            false => self.0.emit_char(key, value),
        }
    }

    forward!(
        emit_usize(usize),
        emit_isize(isize),
        emit_bool(bool),
        emit_u8(u8),
        emit_i8(i8),
        emit_u16(u16),
        emit_i16(i16),
        emit_u32(u32),
        emit_i32(i32),
        emit_f32(f32),
        emit_u64(u64),
        emit_i64(i64),
        emit_f64(f64),
        emit_u128(u128),
        emit_i128(i128),
    );

    fn emit_unit(&mut self, key: Key) -> slog::Result {
        self.0.emit_unit(key)
    }

    fn emit_none(&mut self, key: Key) -> slog::Result {
        self.0.emit_none(key)
    }
}

impl<D: Drain> Drain for Escaping<D> {
    type Ok = D::Ok;
    type Err = D::Err;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<D::Ok, D::Err> {
        let message = record.msg().to_string();
        let message = escape(&message);
        let rstatic = RecordStatic { location: record.location(), tag: record.tag(), level: record.level() };
        let kv = Both(&record.kv(), values);
        let escaped = Escaped(&kv);
        let none = OwnedKVList::from(slog::o!());
        self.0.log(&Record::new(&rstatic, &format_args!("{message}"), slog::BorrowedKV(&escaped)), &none)
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        self.0.is_enabled(level)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    /// A drain writing `message key=value …` lines into a string.
    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<String>>);

    struct Text<'a>(&'a mut String);

    impl Serializer for Text<'_> {
        fn emit_arguments(&mut self, key: Key, value: &fmt::Arguments<'_>) -> slog::Result {
            self.0.push_str(&format!(" {key}={value}"));
            Ok(())
        }
    }

    impl Drain for Lines {
        type Ok = ();
        type Err = slog::Never;

        fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
            let mut line = record.msg().to_string();
            let _ = record.kv().serialize(record, &mut Text(&mut line));
            let _ = values.serialize(record, &mut Text(&mut line));
            let mut out = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            out.push_str(&line);
            out.push('\n');
            Ok(())
        }
    }

    #[test]
    fn no_value_can_start_a_line_of_its_own() {
        let lines = Lines::default();
        let log = slog::Logger::root(Escaping(lines.clone()).fuse(), slog::o!());
        let request = log.new(slog::o!("uri" => "/v1/agents/x\r\nFORGED uri=/"));
        let verb = "read\nWARN forged: admin logged in\0\u{1b}[2J\u{2028}";
        slog::info!(request, "declared `{}`", verb; "verb" => verb, "count" => 3, "c" => '\n', "ok" => "plain é");
        let out = lines.0.lock().map(|s| s.clone()).unwrap_or_default();
        assert_eq!(out.lines().count(), 1, "{out}");
        assert!(
            out.starts_with(r"declared `read\nWARN forged: admin logged in\u{0}\u{1b}[2J\u{2028}`"),
            "{out}"
        );
        assert!(out.contains(r" verb=read\nWARN forged"), "{out}");
        assert!(out.contains(r" uri=/v1/agents/x\r\nFORGED uri=/"), "{out}");
        assert!(out.contains(" count=3") && out.contains(r" c=\n") && out.contains(" ok=plain é"), "{out}");
    }

    #[test]
    fn clean_text_is_not_copied() {
        assert!(matches!(escape("nothing to see"), Cow::Borrowed(_)));
        assert_eq!(escape("a\tb"), r"a\tb");
    }
}
