//! An incremental parser for `text/event-stream` (Server-Sent Events), as
//! MCP servers use it to stream JSON-RPC messages in answer to a POST.
//!
//! It follows the WHATWG event-stream interpretation: lines end with CRLF,
//! LF or CR (also when split across chunks); `:` starts a comment; `data:`
//! lines accumulate, joined by `\n`; `event:`, `id:` and `retry:` set the
//! event type, the last event id and the reconnection delay; a blank line
//! dispatches the event; an unterminated event at end of stream is dropped.
//! It parses bytes only: reading the network is the caller's job.

use std::time::Duration;

/// One dispatched event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// The event type (`message` unless an `event:` field said otherwise).
    pub event: String,
    /// The data lines, joined by `\n`.
    pub data: String,
    /// The last event id in force when the event was dispatched.
    pub id: Option<String>,
}

/// Why a stream could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SseError {
    /// A line or an event's data exceeded the configured bound.
    #[error("an event stream line or event exceeded {limit} bytes")]
    TooLarge {
        /// The bound, in bytes.
        limit: usize,
    },
}

/// The parser state between chunks.
#[derive(Debug)]
pub(crate) struct SseParser {
    limit: usize,
    line: Vec<u8>,
    after_cr: bool,
    first_line: bool,
    data: String,
    has_data: bool,
    event: String,
    last_event_id: String,
    retry: Option<Duration>,
}

impl SseParser {
    /// A parser refusing lines and events larger than `limit` bytes.
    pub(crate) fn new(limit: usize) -> Self {
        SseParser {
            limit,
            line: Vec::new(),
            after_cr: false,
            first_line: true,
            data: String::new(),
            has_data: false,
            event: String::new(),
            last_event_id: String::new(),
            retry: None,
        }
    }

    /// Feeds the next chunk of the stream and returns the events it completed.
    pub(crate) fn feed(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>, SseError> {
        let mut events = Vec::new();
        for &byte in chunk {
            let after_cr = std::mem::replace(&mut self.after_cr, false);
            match byte {
                b'\n' if after_cr => {}
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line)? {
                        events.push(event);
                    }
                }
                _ => {
                    if self.line.len() >= self.limit {
                        return Err(SseError::TooLarge { limit: self.limit });
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(events)
    }

    /// The last event id seen (`id:` fields apply even to events that carry
    /// no data), if any.
    pub(crate) fn last_event_id(&self) -> Option<&str> {
        Some(self.last_event_id.as_str()).filter(|id| !id.is_empty())
    }

    /// Forgets a partial line or event after the connection broke, keeping
    /// the last event id and the reconnection delay, which a resumed stream
    /// continues from.
    pub(crate) fn reconnected(&mut self) {
        self.line.clear();
        self.after_cr = false;
        self.first_line = true;
        self.data.clear();
        self.has_data = false;
        self.event.clear();
    }

    /// The reconnection delay the server asked for with `retry:`, if any.
    pub(crate) fn retry(&self) -> Option<Duration> {
        self.retry
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<SseEvent>, SseError> {
        let mut line = line;
        if std::mem::replace(&mut self.first_line, false) {
            line = line.strip_prefix("\u{feff}".as_bytes()).unwrap_or(line);
        }
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        if line.starts_with(b":") {
            return Ok(None);
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_ref(), ""),
        };
        match field {
            "data" => {
                if self.data.len() + value.len() + 1 > self.limit {
                    return Err(SseError::TooLarge { limit: self.limit });
                }
                self.data.push_str(value);
                self.data.push('\n');
                self.has_data = true;
            }
            "event" => self.event = value.to_string(),
            "id" if !value.contains('\0') => self.last_event_id = value.to_string(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok().map(Duration::from_millis);
            }
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        let mut data = std::mem::take(&mut self.data);
        if !std::mem::replace(&mut self.has_data, false) {
            return None;
        }
        data.pop();
        Some(SseEvent {
            event: if event.is_empty() { "message".to_string() } else { event },
            data,
            id: self.last_event_id().map(str::to_string),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&str]) -> Vec<SseEvent> {
        let mut parser = SseParser::new(1 << 16);
        chunks.iter().flat_map(|chunk| parser.feed(chunk.as_bytes()).unwrap()).collect()
    }

    fn event(event: &str, data: &str, id: Option<&str>) -> SseEvent {
        SseEvent { event: event.into(), data: data.into(), id: id.map(Into::into) }
    }

    #[test]
    fn multi_line_data_comments_and_fields_are_interpreted() {
        let got = events(&[": keep-alive\n", "event: message\nid: 7\ndata: {\"a\":\ndata:  1}\n\n"]);
        assert_eq!(got, [event("message", "{\"a\":\n 1}", Some("7"))]);
    }

    #[test]
    fn line_endings_may_be_crlf_cr_or_lf_and_split_across_chunks() {
        let got = events(&["data: one\r", "\n\r", "\ndata: two\r\rdata:three\n", "\n"]);
        assert_eq!(
            got,
            [event("message", "one", None), event("message", "two", None), event("message", "three", None)]
        );
    }

    #[test]
    fn events_without_data_are_not_dispatched_but_their_id_counts() {
        let mut parser = SseParser::new(1024);
        assert_eq!(parser.feed(b"id: 42\nretry: 1500\n\nevent: ping\n\n").unwrap(), []);
        assert_eq!(parser.last_event_id(), Some("42"));
        assert_eq!(parser.retry(), Some(Duration::from_millis(1500)));
        assert_eq!(parser.feed(b"data:\n\n").unwrap(), [event("message", "", Some("42"))]);
    }

    #[test]
    fn an_unterminated_event_at_the_end_is_dropped() {
        assert_eq!(events(&["data: done\n\ndata: partial"]), [event("message", "done", None)]);
    }

    #[test]
    fn a_leading_byte_order_mark_is_ignored() {
        assert_eq!(events(&["\u{feff}data: x\n\n"]), [event("message", "x", None)]);
    }

    #[test]
    fn oversized_lines_and_events_are_refused() {
        let mut parser = SseParser::new(8);
        assert_eq!(parser.feed(b"data: 0123456789").unwrap_err(), SseError::TooLarge { limit: 8 });
        let mut parser = SseParser::new(8);
        assert!(parser.feed(b"data: 12\ndata: 34\ndata: 56\n").is_err());
    }
}
