//! Cutting a body into records, one at a time, each with the line it
//! starts on.
//!
//! - [`Layout::Json`]: a JSON array of records is read element by element
//!   (never the whole array at once); anything else is NDJSON, a record per
//!   non-blank line.
//! - [`Layout::Csv`]: RFC 4180 through the `csv` crate, the first row
//!   naming the columns unless the columns are given (NSS CSV feeds have no
//!   header row); each row becomes an object of strings.
//! - [`Layout::Lines`]: a record per non-blank line.
//!
//! A record that is not valid JSON, not UTF-8, has the wrong number of
//! columns or is longer than [`MAX_RECORD_BYTES`] is an error *for that
//! record*, and framing goes on with the next. Only a failure to read the
//! body at all ends the frames.

use std::io::{self, BufRead};

use serde_json::{Map, Value};

use crate::{Layout, Raw, RecordError};

/// The longest record accepted, in bytes.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// A framed record.
#[derive(Debug)]
pub struct Framed {
    /// The line (from 1) the record starts on.
    pub line: u64,
    /// The record, or why it could not be framed.
    pub raw: Result<Raw, RecordError>,
}

/// The records of a body, in order.
pub struct Frames<R: BufRead> {
    inner: Inner<R>,
}

enum Inner<R: BufRead> {
    /// Not yet known whether JSON is an array or NDJSON.
    Json(Option<R>),
    Array(ArrayScanner<R>),
    Lines {
        reader: R,
        line: u64,
        json: bool,
    },
    Csv {
        reader: csv::Reader<R>,
        headers: Option<Vec<String>>,
        record: csv::StringRecord,
    },
    Done,
}

/// Frames `reader` as `layout` says. `columns` names the CSV columns when
/// the body has no header row.
pub fn frames<R: BufRead>(reader: R, layout: Layout, columns: Option<Vec<String>>) -> Frames<R> {
    let inner = match layout {
        Layout::Json => Inner::Json(Some(reader)),
        Layout::Lines => Inner::Lines { reader, line: 0, json: false },
        Layout::Csv => Inner::Csv {
            reader: csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(reader),
            headers: columns,
            record: csv::StringRecord::new(),
        },
    };
    Frames { inner }
}

impl<R: BufRead> Iterator for Frames<R> {
    type Item = io::Result<Framed>;

    fn next(&mut self) -> Option<io::Result<Framed>> {
        loop {
            match &mut self.inner {
                Inner::Done => return None,
                Inner::Json(reader) => {
                    let mut reader = reader.take()?;
                    let mut line = 1;
                    match skip_space(&mut reader, &mut line) {
                        Err(e) => return Some(Err(e)),
                        Ok(Some(b'[')) => {
                            reader.consume(1);
                            self.inner = Inner::Array(ArrayScanner::new(reader, line));
                        }
                        Ok(Some(_)) => self.inner = Inner::Lines { reader, line: line - 1, json: true },
                        Ok(None) => self.inner = Inner::Done,
                    }
                }
                Inner::Array(scanner) => {
                    let next = scanner.next();
                    if matches!(next, None | Some(Err(_))) {
                        self.inner = Inner::Done;
                    }
                    return next;
                }
                Inner::Lines { reader, line, json } => match read_line(reader) {
                    Err(e) => return Some(Err(e)),
                    Ok(None) => self.inner = Inner::Done,
                    Ok(Some(text)) => {
                        *line += 1;
                        let raw = match text {
                            Err(error) => Err(error),
                            Ok(text) if text.trim().is_empty() => continue,
                            Ok(text) if *json => parse_json(text.trim().as_bytes()),
                            Ok(text) => Ok(Raw::Line(text)),
                        };
                        return Some(Ok(Framed { line: *line, raw }));
                    }
                },
                Inner::Csv { reader, headers, record } => match reader.read_record(record) {
                    Err(e) => match e.kind() {
                        csv::ErrorKind::Io(_) => return Some(Err(io::Error::other(e.to_string()))),
                        csv::ErrorKind::Utf8 { .. } => {
                            let line = e.position().map(|p| p.line()).unwrap_or(0);
                            return Some(Ok(Framed {
                                line,
                                raw: Err(RecordError::record("the row is not UTF-8")),
                            }));
                        }
                        _ => return Some(Err(io::Error::other(e.to_string()))),
                    },
                    Ok(false) => self.inner = Inner::Done,
                    Ok(true) => {
                        let line = record.position().map(|p| p.line()).unwrap_or(0);
                        if record.len() == 1 && record.get(0).is_some_and(|f| f.trim().is_empty()) {
                            continue;
                        }
                        let Some(names) = headers else {
                            *headers = Some(record.iter().map(|h| h.trim().to_string()).collect());
                            continue;
                        };
                        let raw = if record.len() != names.len() {
                            Err(RecordError::record(format!(
                                "{} columns where the header names {}",
                                record.len(),
                                names.len()
                            )))
                        } else if record.as_byte_record().as_slice().len() > MAX_RECORD_BYTES {
                            Err(too_long())
                        } else {
                            let object: Map<String, Value> = names
                                .iter()
                                .zip(record.iter())
                                .map(|(name, value)| (name.clone(), Value::String(value.to_string())))
                                .collect();
                            Ok(Raw::Json(Value::Object(object)))
                        };
                        return Some(Ok(Framed { line, raw }));
                    }
                },
            }
        }
    }
}

fn too_long() -> RecordError {
    RecordError::record(format!("the record is longer than {MAX_RECORD_BYTES} bytes"))
}

fn parse_json(bytes: &[u8]) -> Result<Raw, RecordError> {
    serde_json::from_slice::<Value>(bytes)
        .map(Raw::Json)
        .map_err(|e| RecordError::record(format!("not JSON: {e}")))
}

/// Skips white space, counting lines; the next byte, left unread.
fn skip_space<R: BufRead>(reader: &mut R, line: &mut u64) -> io::Result<Option<u8>> {
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            return Ok(None);
        }
        let mut used = 0;
        for &byte in buffer {
            match byte {
                b'\n' => *line += 1,
                b' ' | b'\t' | b'\r' => {}
                0xEF | 0xBB | 0xBF if *line == 1 => {} // a UTF-8 byte-order mark
                other => {
                    reader.consume(used);
                    return Ok(Some(other));
                }
            }
            used += 1;
        }
        reader.consume(used);
    }
}

/// Reads a line (without its end) of at most [`MAX_RECORD_BYTES`]; a
/// longer one is skipped to its end and reported. `None` at the end.
fn read_line<R: BufRead>(reader: &mut R) -> io::Result<Option<Result<String, RecordError>>> {
    let mut bytes = Vec::new();
    let mut too_long_line = false;
    let mut any = false;
    loop {
        let buffer = reader.fill_buf()?;
        if buffer.is_empty() {
            break;
        }
        any = true;
        let (taken, done) = match buffer.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (buffer.len(), false),
        };
        if !too_long_line {
            if bytes.len() + taken > MAX_RECORD_BYTES + 2 {
                too_long_line = true;
                bytes = Vec::new();
            } else {
                bytes.extend_from_slice(&buffer[..taken]);
            }
        }
        reader.consume(taken);
        if done {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if too_long_line {
        return Ok(Some(Err(too_long())));
    }
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
    Ok(Some(String::from_utf8(bytes).map_err(|_| RecordError::record("the line is not UTF-8"))))
}

/// Reads the elements of a JSON array one at a time: it finds where each
/// element ends (tracking strings and nesting) and parses only that.
struct ArrayScanner<R> {
    reader: R,
    line: u64,
    ended: bool,
}

impl<R: BufRead> ArrayScanner<R> {
    fn new(reader: R, line: u64) -> Self {
        ArrayScanner { reader, line, ended: false }
    }

    fn next(&mut self) -> Option<io::Result<Framed>> {
        if self.ended {
            return None;
        }
        let first = match skip_space(&mut self.reader, &mut self.line) {
            Err(e) => return Some(Err(e)),
            Ok(None) => return Some(Err(truncated())),
            Ok(Some(byte)) => byte,
        };
        if first == b']' {
            self.reader.consume(1);
            self.ended = true;
            return None;
        }
        let start = self.line;
        let mut bytes = Vec::new();
        let mut oversized = false;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut escaped = false;
        loop {
            let buffer = match self.reader.fill_buf() {
                Err(e) => return Some(Err(e)),
                Ok([]) => return Some(Err(truncated())),
                Ok(buffer) => buffer,
            };
            let mut used = 0;
            let mut end = None;
            for &byte in buffer {
                if in_string {
                    match (escaped, byte) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => in_string = false,
                        _ => {}
                    }
                } else {
                    match byte {
                        b'"' => in_string = true,
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' if depth > 0 => depth -= 1,
                        b',' | b']' if depth == 0 => {
                            end = Some(byte);
                            break;
                        }
                        _ => {}
                    }
                }
                if byte == b'\n' {
                    self.line += 1;
                }
                used += 1;
            }
            if !oversized {
                if bytes.len() + used > MAX_RECORD_BYTES {
                    oversized = true;
                    bytes = Vec::new();
                } else {
                    bytes.extend_from_slice(&buffer[..used]);
                }
            }
            match end {
                None => self.reader.consume(used),
                Some(byte) => {
                    // The separator is consumed; the closing bracket ends
                    // the array.
                    self.reader.consume(used + 1);
                    if byte == b']' {
                        self.ended = true;
                    }
                    let raw = if oversized { Err(too_long()) } else { parse_json(&bytes) };
                    return Some(Ok(Framed { line: start, raw }));
                }
            }
        }
    }
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the JSON array is not closed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(body: &str, layout: Layout, columns: Option<Vec<String>>) -> Vec<(u64, Result<Raw, RecordError>)> {
        frames(io::BufReader::with_capacity(7, body.as_bytes()), layout, columns)
            .map(|f| f.map(|f| (f.line, f.raw)).unwrap())
            .collect()
    }

    #[test]
    fn ndjson_is_a_record_per_line_and_a_bad_line_is_its_own_error() {
        let framed = all("{\"a\":1}\n\n{\"a\":\n{\"a\":3}\r\n", Layout::Json, None);
        assert_eq!(framed.len(), 3);
        assert_eq!(framed[0], (1, Ok(Raw::Json(serde_json::json!({"a": 1})))));
        assert_eq!(framed[1].0, 3);
        assert!(framed[1].1.as_ref().unwrap_err().reason.starts_with("not JSON"));
        assert_eq!(framed[2], (4, Ok(Raw::Json(serde_json::json!({"a": 3})))));
    }

    #[test]
    fn an_array_is_read_element_by_element_with_lines() {
        let body = "\u{feff}[\n {\"a\": \"x,]}\\\"\"},\n {\"b\": [1, {\"c\": 2}]},\n nope,\n 4\n]";
        let framed = all(body, Layout::Json, None);
        assert_eq!(framed.len(), 4);
        assert_eq!(framed[0], (2, Ok(Raw::Json(serde_json::json!({"a": "x,]}\""})))));
        assert_eq!(framed[1], (3, Ok(Raw::Json(serde_json::json!({"b": [1, {"c": 2}]})))));
        assert_eq!(framed[2].0, 4);
        assert!(framed[2].1.is_err());
        assert_eq!(framed[3], (5, Ok(Raw::Json(serde_json::json!(4)))));
        assert!(all("[]", Layout::Json, None).is_empty());
        assert!(all("  \n ", Layout::Json, None).is_empty());
    }

    #[test]
    fn an_unclosed_array_ends_the_frames_with_an_error() {
        let mut frames = frames("[{\"a\":1}, {\"b\"".as_bytes(), Layout::Json, None);
        assert!(frames.next().unwrap().is_ok());
        assert_eq!(frames.next().unwrap().unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(frames.next().is_none());
    }

    #[test]
    fn csv_rows_become_objects_keyed_by_the_header_or_the_given_columns() {
        let framed = all("user,host\nalice,\"api.openai.com\"\nbob\n\"multi\nline\",x\n", Layout::Csv, None);
        assert_eq!(framed.len(), 3);
        assert_eq!(
            framed[0],
            (2, Ok(Raw::Json(serde_json::json!({"user": "alice", "host": "api.openai.com"}))))
        );
        assert_eq!(framed[1].0, 3);
        assert!(framed[1].1.as_ref().unwrap_err().reason.contains("1 columns"));
        assert_eq!(framed[2], (4, Ok(Raw::Json(serde_json::json!({"user": "multi\nline", "host": "x"})))));
        let framed = all("alice,claude.ai\n", Layout::Csv, Some(vec!["user".into(), "host".into()]));
        assert_eq!(
            framed,
            vec![(1, Ok(Raw::Json(serde_json::json!({"user": "alice", "host": "claude.ai"}))))]
        );
    }

    #[test]
    fn lines_skip_blanks_and_refuse_what_is_too_long_or_not_utf8() {
        let mut body = b"first\n\nsecond\r\n".to_vec();
        body.extend_from_slice(&[0xff, 0xfe, b'\n']);
        body.extend(std::iter::repeat_n(b'x', MAX_RECORD_BYTES + 10));
        body.extend_from_slice(b"\nlast");
        let framed: Vec<_> = frames(body.as_slice(), Layout::Lines, None).map(|f| f.unwrap()).collect();
        let lines: Vec<u64> = framed.iter().map(|f| f.line).collect();
        assert_eq!(lines, vec![1, 3, 4, 5, 6]);
        assert_eq!(framed[0].raw, Ok(Raw::Line("first".into())));
        assert_eq!(framed[1].raw, Ok(Raw::Line("second".into())));
        assert!(framed[2].raw.is_err());
        assert!(framed[3].raw.as_ref().unwrap_err().reason.contains("longer"));
        assert_eq!(framed[4].raw, Ok(Raw::Line("last".into())));
    }
}
