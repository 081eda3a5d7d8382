//! Logs and traces: one `tracing` subscriber for the process.
//!
//! - Logs are written by `tracing-subscriber` to standard error, as text
//!   (the default) or JSON lines (`--log-format json`), filtered by a
//!   `RUST_LOG`-style directive (`--log-level`, `LICTOR_LOG_LEVEL`, else
//!   `RUST_LOG`, else `info`). Every request gets one event
//!   (target `lictor::request`) with its id, tenant, principal,
//!   operation, status, verdict and latency. The gateway's older `slog`
//!   records (and dropshot's) reach the same subscriber through
//!   [`TracingDrain`].
//! - Traces are exported over OTLP gRPC by the OpenTelemetry SDK when the
//!   standard variables ask for it (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//!   `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_SERVICE_NAME`,
//!   `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`,
//!   `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_*`… as the SDK reads them).
//!   Without them no span is recorded at all: the spans in the code are
//!   disabled at their call sites. A caller's W3C `traceparent` becomes the
//!   request span's parent, and the upstream call passes its own on.
//!
//! No input can forge a log line: JSON lines are escaped by the encoder;
//! text lines go through `OneLine`, which writes every control character
//! inside an event as its escape, so an event is always exactly one line.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator as _};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use slog::{Drain, KV as _, Key, OwnedKVList, Record, Serializer};
use tracing::Level;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::filter::{EnvFilter, FilterExt as _, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, fmt};

use lictor_api::intents::Verdict;

/// Whether spans are exported: only then are trace contexts read from
/// requests and written to upstream calls.
static EXPORTING: AtomicBool = AtomicBool::new(false);

/// How log events are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `timestamp LEVEL target: message key=value…`, one line per event.
    #[default]
    Text,
    /// One JSON object per line, its fields at the top level.
    Json,
}

/// Why telemetry could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The log filter does not parse.
    #[error("log level `{directive}`: {reason}")]
    Filter {
        /// The directive given.
        directive: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `OTEL_*` variable asks for something the gateway does not do.
    #[error("{0}")]
    Unsupported(String),
    /// The OTLP exporter could not be built.
    #[error("OTLP exporter: {0}")]
    Exporter(String),
    /// A subscriber was already installed.
    #[error("installing the log subscriber: {0}")]
    Install(String),
}

/// The installed subscriber's exporter, flushed on [`Telemetry::shutdown`].
#[derive(Debug)]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered (within the SDK's timeout).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            EXPORTING.store(false, Ordering::Relaxed);
            if let Err(error) = provider.shutdown() {
                eprintln!("lictor: exporting the last spans failed: {error}");
            }
        }
    }
}

/// The filter directive `level` stands for: `RUST_LOG` syntax, with
/// slog's `critical` read as `error`.
fn directive(level: &str) -> String {
    level
        .split(',')
        .map(|part| match part.trim() {
            "critical" => "error".to_string(),
            other => other.replace("=critical", "=error"),
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// A variable, unless unset or empty.
fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// Whether the `OTEL_*` variables ask for OTLP trace export, refusing
/// what the gateway cannot do rather than ignoring it.
pub fn export_requested() -> Result<bool, TelemetryError> {
    if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    match var("OTEL_TRACES_EXPORTER").as_deref() {
        None | Some("otlp") => {}
        Some("none") => return Ok(false),
        Some(other) => {
            return Err(TelemetryError::Unsupported(format!(
                "OTEL_TRACES_EXPORTER={other}: the gateway exports traces over OTLP (`otlp`) or not at all (`none`)"
            )));
        }
    }
    for name in ["OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"] {
        if let Some(protocol) = var(name).filter(|p| p != "grpc") {
            return Err(TelemetryError::Unsupported(format!(
                "{name}={protocol}: the gateway exports OTLP over gRPC only (`grpc`)"
            )));
        }
    }
    Ok(var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some() || var("OTEL_EXPORTER_OTLP_ENDPOINT").is_some())
}

/// Installs the process's subscriber: logs as `format` filtered by
/// `level`, and OTLP trace export when the environment asks for it. Call
/// once, inside the Tokio runtime (the exporter's channel lives on it).
pub fn init(format: LogFormat, level: &str) -> Result<Telemetry, TelemetryError> {
    let directive = directive(level);
    let filter = EnvFilter::builder()
        .parse(&directive)
        .map_err(|e| TelemetryError::Filter { directive: level.to_string(), reason: e.to_string() })?;
    // Spans are for the exporter: the log writer takes events only, so a
    // gateway without one records no span at all.
    let events = filter.and(filter_fn(|meta| !meta.is_span()));
    let logs = match format {
        LogFormat::Text => fmt::layer()
            .with_ansi(false)
            .with_writer(|| OneLine(std::io::stderr()))
            .with_filter(events)
            .boxed(),
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(events)
            .boxed(),
    };
    let provider = match export_requested()? {
        true => Some(tracer_provider()?),
        false => None,
    };
    let traces = provider.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("lictor"))
            .with_filter(filter_fn(|meta| meta.is_span() && meta.target().starts_with("lictor")))
    });
    tracing_subscriber::registry()
        .with(logs)
        .with(traces)
        .try_init()
        .map_err(|e| TelemetryError::Install(e.to_string()))?;
    if provider.is_some() {
        EXPORTING.store(true, Ordering::Relaxed);
    }
    Ok(Telemetry { provider })
}

fn tracer_provider() -> Result<SdkTracerProvider, TelemetryError> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .build()
        .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
    let mut resource = opentelemetry_sdk::Resource::builder()
        .with_attribute(opentelemetry::KeyValue::new("service.version", env!("CARGO_PKG_VERSION")));
    // OTEL_SERVICE_NAME (read by the SDK) wins when set.
    if var("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("lictor");
    }
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource.build()).build())
}

/// Headers read as a propagation carrier.
struct HeaderReader<'a>(&'a http::HeaderMap);

impl Extractor for HeaderReader<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

/// Headers written as a propagation carrier.
struct HeaderWriter<'a>(&'a mut http::HeaderMap);

impl Injector for HeaderWriter<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(key.as_bytes()), http::HeaderValue::from_str(&value))
        {
            self.0.insert(name, value);
        }
    }
}

/// The span of one request: its operation and id, and the caller's
/// `traceparent` as its parent when spans are exported.
pub(crate) fn request_span(operation: &str, request_id: &str, headers: &http::HeaderMap) -> tracing::Span {
    let span = tracing::info_span!(
        target: "lictor::request",
        "request",
        otel.name = operation,
        otel.kind = "server",
        request_id,
        operation,
        http.response.status_code = tracing::field::Empty,
        tenant = tracing::field::Empty,
        principal = tracing::field::Empty,
        verdict = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if EXPORTING.load(Ordering::Relaxed) && headers.contains_key("traceparent") {
        let parent = TraceContextPropagator::new().extract(&HeaderReader(headers));
        // A malformed traceparent yields an empty context: a new trace.
        let _ = span.set_parent(parent);
    }
    span
}

/// Writes the current span's context into `headers` (`traceparent`,
/// `tracestate`) when spans are exported.
pub(crate) fn propagate(headers: &mut http::HeaderMap) {
    if EXPORTING.load(Ordering::Relaxed) {
        let context = tracing::Span::current().context();
        TraceContextPropagator::new().inject_context(&context, &mut HeaderWriter(headers));
    }
}

/// What the request event says beyond the operation and the status:
/// filled in as the request goes (its credentials, its tenant, the
/// verdicts it received).
#[derive(Debug, Default)]
pub(crate) struct RequestFacts {
    facts: std::sync::Mutex<Facts>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct Facts {
    pub(crate) tenant: Option<String>,
    pub(crate) principal: Option<String>,
    pub(crate) verdict: Option<Verdict>,
}

tokio::task_local! {
    static CURRENT: Arc<RequestFacts>;
}

impl RequestFacts {
    /// Runs `work` with these facts as the current request's.
    pub(crate) async fn scope<F: Future>(self: &Arc<Self>, work: F) -> F::Output {
        CURRENT.scope(Arc::clone(self), work).await
    }

    fn update(&self, change: impl FnOnce(&mut Facts)) {
        if let Ok(mut facts) = self.facts.lock() {
            change(&mut facts);
        }
    }

    /// Who presented the credentials.
    pub(crate) fn principal(&self, principal: String) {
        self.update(|f| f.principal = Some(principal));
    }

    /// The tenant the request acts in.
    pub(crate) fn tenant(&self, tenant: &str) {
        self.update(|f| f.tenant = Some(tenant.to_string()));
    }

    /// What has been learned so far.
    pub(crate) fn snapshot(&self) -> Facts {
        self.facts.lock().map(|f| f.clone()).unwrap_or_default()
    }
}

/// `work` carrying the current request's span and facts, for a task the
/// request spawns (a batch decides its intents side by side).
pub(crate) fn carried<F: Future>(work: F) -> impl Future<Output = F::Output> {
    use tracing::Instrument as _;
    let span = tracing::Span::current();
    let facts = CURRENT.try_with(Arc::clone).ok();
    async move {
        match facts {
            Some(facts) => CURRENT.scope(facts, work).await,
            None => work.await,
        }
    }
    .instrument(span)
}

/// How much a verdict restricts: a batch's event names its most
/// restrictive one.
fn severity(verdict: Verdict) -> u8 {
    match verdict {
        Verdict::Approve => 0,
        Verdict::ApproveModified => 1,
        Verdict::Escalate => 2,
        Verdict::Block => 3,
    }
}

/// Notes a verdict for the current request's event (nothing outside a
/// request, e.g. an async intent decided in the background).
pub(crate) fn note_verdict(verdict: Verdict) {
    let _ = CURRENT.try_with(|facts| {
        facts.update(|f| {
            if f.verdict.is_none_or(|seen| severity(verdict) > severity(seen)) {
                f.verdict = Some(verdict);
            }
        });
    });
    tracing::Span::current().record("verdict", verdict.as_str());
}

/// One line per event: the text format writes each event with one
/// `write`, and every control character inside it (a newline a value
/// carried, an escape sequence) is written as its escape before the line
/// reaches `W` (standard error), in one write.
pub(crate) struct OneLine<W>(pub(crate) W);

impl<W: std::io::Write> std::io::Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let body = text.strip_suffix('\n').unwrap_or(&text);
        let mut line = crate::logging::escape(body).into_owned();
        line.push('\n');
        self.0.write_all(line.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Forwards `slog` records (the gateway's tasks and dropshot's) to
/// `tracing`, as events of target `lictor` (or `dropshot`) with the
/// record's values in one `fields` value (`key=value …`). Dropshot's own
/// per-request lines are `debug`: the gateway writes its own request event.
#[derive(Debug, Clone, Copy)]
pub struct TracingDrain;

/// Appends `key=value` pairs, quoting values with spaces or quotes.
struct Pairs<'a>(&'a mut String);

impl Serializer for Pairs<'_> {
    fn emit_arguments(&mut self, key: Key, value: &std::fmt::Arguments<'_>) -> slog::Result {
        use std::fmt::Write as _;
        let value = value.to_string();
        if !self.0.is_empty() {
            self.0.push(' ');
        }
        // Values arrive escaped (no control characters); one with a space,
        // a quote or an `=` is quoted so the pairs still split.
        let _ = match value.contains([' ', '"', '=']) || value.is_empty() {
            true => write!(self.0, "{key}=\"{}\"", value.replace('"', "\\\"")),
            false => write!(self.0, "{key}={value}"),
        };
        Ok(())
    }
}

macro_rules! forward {
    ($target:literal, $level:expr, $message:expr, $fields:expr) => {
        match $level {
            Level::ERROR => tracing::error!(target: $target, fields = $fields, "{}", $message),
            Level::WARN => tracing::warn!(target: $target, fields = $fields, "{}", $message),
            Level::INFO => tracing::info!(target: $target, fields = $fields, "{}", $message),
            Level::DEBUG => tracing::debug!(target: $target, fields = $fields, "{}", $message),
            _ => tracing::trace!(target: $target, fields = $fields, "{}", $message),
        }
    };
}

fn level_of(level: slog::Level, from_dropshot: bool) -> Level {
    match level {
        slog::Level::Critical | slog::Level::Error => Level::ERROR,
        slog::Level::Warning => Level::WARN,
        slog::Level::Info if from_dropshot => Level::DEBUG,
        slog::Level::Info => Level::INFO,
        slog::Level::Debug => Level::DEBUG,
        slog::Level::Trace => Level::TRACE,
    }
}

impl Drain for TracingDrain {
    type Ok = ();
    type Err = slog::Never;

    fn log(&self, record: &Record<'_>, values: &OwnedKVList) -> Result<(), slog::Never> {
        let from_dropshot = record.module().starts_with("dropshot");
        let level = level_of(record.level(), from_dropshot);
        let enabled = match from_dropshot {
            true => enabled("dropshot", level),
            false => enabled("lictor", level),
        };
        if !enabled {
            return Ok(());
        }
        let mut fields = String::new();
        let _ = record.kv().serialize(record, &mut Pairs(&mut fields));
        let _ = values.serialize(record, &mut Pairs(&mut fields));
        let fields = (!fields.is_empty()).then_some(tracing::field::display(fields.as_str()));
        let message = record.msg();
        match from_dropshot {
            true => forward!("dropshot", level, message, fields),
            false => forward!("lictor", level, message, fields),
        }
        Ok(())
    }

    fn is_enabled(&self, level: slog::Level) -> bool {
        enabled("lictor", level_of(level, false)) || enabled("dropshot", level_of(level, true))
    }
}

fn enabled(target: &str, level: Level) -> bool {
    match (target, level) {
        ("dropshot", Level::ERROR) => tracing::enabled!(target: "dropshot", Level::ERROR),
        ("dropshot", Level::WARN) => tracing::enabled!(target: "dropshot", Level::WARN),
        ("dropshot", Level::INFO) => tracing::enabled!(target: "dropshot", Level::INFO),
        ("dropshot", Level::DEBUG) => tracing::enabled!(target: "dropshot", Level::DEBUG),
        ("dropshot", _) => tracing::enabled!(target: "dropshot", Level::TRACE),
        (_, Level::ERROR) => tracing::enabled!(target: "lictor", Level::ERROR),
        (_, Level::WARN) => tracing::enabled!(target: "lictor", Level::WARN),
        (_, Level::INFO) => tracing::enabled!(target: "lictor", Level::INFO),
        (_, Level::DEBUG) => tracing::enabled!(target: "lictor", Level::DEBUG),
        (_, _) => tracing::enabled!(target: "lictor", Level::TRACE),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A shared buffer the text format writes into.
    #[derive(Clone, Default)]
    struct Buffer(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn no_value_starts_a_text_line_of_its_own() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(fmt::layer().with_ansi(false).with_writer(move || OneLine(writer.clone())));
        tracing::subscriber::with_default(subscriber, || {
            let forged = "x\n2026-01-01T00:00:00Z  INFO lictor::request: request status=200\u{1b}[2J\u{2028}";
            tracing::info!(target: "lictor", value = forged, shown = %forged, "declared {forged}");
            tracing::warn!(target: "lictor", "second");
        });
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 2, "{out}");
        assert!(
            out.lines().next().is_some_and(|l| l.contains(r"declared x\n2026") && l.contains(r"\u{1b}[2J")),
            "{out}"
        );
        assert!(!out.contains('\u{1b}') && !out.contains('\u{2028}'), "{out}");
    }

    #[test]
    fn json_lines_escape_every_value() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(fmt::layer().json().flatten_event(true).with_writer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(target: "lictor", value = "a\n{\"forged\":true}\u{1b}", "m\r\n");
        });
        let out = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        assert_eq!(out.lines().count(), 1, "{out}");
        let event: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(event["value"], "a\n{\"forged\":true}\u{1b}");
        assert_eq!(event["message"], "m\r\n");
        assert!(event.get("forged").is_none());
    }

    #[test]
    fn critical_reads_as_error() {
        assert_eq!(directive("critical"), "error");
        assert_eq!(directive("info,dropshot=critical"), "info,dropshot=error");
        assert_eq!(directive("lictor=debug"), "lictor=debug");
    }

    #[test]
    fn a_batch_names_its_most_restrictive_verdict() {
        let facts = Arc::new(RequestFacts::default());
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(facts.scope(async {
            for verdict in [Verdict::Approve, Verdict::Block, Verdict::Escalate] {
                note_verdict(verdict);
            }
        }));
        assert_eq!(facts.snapshot().verdict, Some(Verdict::Block));
        // Outside a request nothing is noted, and nothing fails.
        note_verdict(Verdict::Approve);
    }
}
