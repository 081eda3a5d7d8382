//! `/api/discovery/…`: ingest of vendor records, and the inventory of
//! discovered agents.
//!
//! An ingest reads the body as it arrives: a blocking task decompresses
//! it, frames it into records ([`lictor_discovery::frame`]), reads each
//! with its vendor's parser and matches it with the AI-service catalogue,
//! and hands batches to the store, one transaction each. A batch's records
//! are recorded by digest in the same transaction as what they add, so a
//! record sent again (in this body or another, through any source) adds
//! nothing, and a body that fails half-way keeps what it had added: it can
//! be sent again whole.

use std::collections::{BTreeMap, HashMap};
use std::io::{self, BufRead, Read};
use std::pin::Pin;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use lictor_api::ApiError;
use lictor_api::agents::TenantScope;
use lictor_api::discovery::{
    Attestation, AttestationCreate, AttestationListParams, AttestationPage, CatalogueService,
    CatalogueServiceCreate, CatalogueServicePath, CatalogueServiceWrite, CatalogueView, DiscoveredAgent,
    DiscoveredAgentListParams, DiscoveredAgentPage, DiscoveredAgentPath, DiscoveredAgentUpdate,
    DiscoveredIdentity, DiscoveryFormat, DiscoverySettings, IdentityKind, IngestError, IngestParams,
    IngestResult, ServiceDomains, ServiceKind, ServiceMdcaIds, ServiceOrigin, ServiceRef, ServiceUrlPattern,
    ServiceVendorIds, SourceSighting,
};
use lictor_api::ids::{DiscoveredAgentId, TenantId};
use lictor_discovery::catalogue::{Catalogue, Classification};
use lictor_discovery::{Format, Raw, Record, frame};
use sha2::{Digest, Sha256};

use crate::audit::writer::{AdminJob, AdminOp, AdminOutcome, DiscoveredChange};
use crate::caller::Caller;
use crate::clock::Timestamp;
use crate::cursor;
use crate::error::{Error, Object};
use crate::store::{AttestationRow, DiscoveredFilter, DiscoveredRow, Sighting, SourceRow};

const LIST: &str = "discovered-agents";
const ATTESTATIONS: &str = "attestations";

/// Records per store transaction.
const BATCH: usize = 500;
/// Refused records listed in the answer.
const MAX_ERRORS: usize = 100;
/// The most an ingest body may decompress to.
pub(crate) const MAX_DECOMPRESSED_BYTES: u64 = 1 << 30;
/// How long a record's digest is remembered: the same record sent again
/// within this time adds nothing.
pub(crate) const DIGEST_RETENTION: std::time::Duration = std::time::Duration::from_secs(35 * 86_400);
/// When this process last forgot old digests (microseconds).
static LAST_PRUNE: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Forgets digests older than [`DIGEST_RETENTION`], at most once an hour
/// per process, after an ingest.
async fn prune_digests(caller: &Caller<'_>) {
    use std::sync::atomic::Ordering;
    let now = Timestamp::now();
    let last = LAST_PRUNE.load(Ordering::Relaxed);
    if now.micros().saturating_sub(last) < 3_600_000_000
        || LAST_PRUNE.compare_exchange(last, now.micros(), Ordering::Relaxed, Ordering::Relaxed).is_err()
    {
        return;
    }
    // A failure here costs nothing but space: the next ingest an hour on
    // tries again.
    let _ = caller.state.store.prune_discovery_records(now - DIGEST_RETENTION).await;
}

/// An ingest body: its bytes as they arrive, and the headers that say how
/// to read them.
pub(crate) struct IngestBody {
    /// The bytes.
    pub(crate) stream: Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>,
    /// `Content-Type`.
    pub(crate) content_type: Option<String>,
    /// `Content-Encoding`.
    pub(crate) content_encoding: Option<String>,
}

fn format_of(format: DiscoveryFormat) -> Format {
    match format {
        DiscoveryFormat::ZscalerNssJson => Format::ZscalerNssJson,
        DiscoveryFormat::ZscalerNssCsv => Format::ZscalerNssCsv,
        DiscoveryFormat::NetskopeEvents => Format::NetskopeEvents,
        DiscoveryFormat::MdcaActivities => Format::MdcaActivities,
        DiscoveryFormat::MdcaDiscovery => Format::MdcaDiscovery,
        DiscoveryFormat::InfobloxDnsJson => Format::InfobloxDnsJson,
        DiscoveryFormat::InfobloxCef => Format::InfobloxCef,
        DiscoveryFormat::InfobloxNiosQueries => Format::InfobloxNiosQueries,
        DiscoveryFormat::InfobloxIpam => Format::InfobloxIpam,
        DiscoveryFormat::Generic => Format::Generic,
    }
}

fn api_format(format: Format) -> DiscoveryFormat {
    match format {
        Format::ZscalerNssJson => DiscoveryFormat::ZscalerNssJson,
        Format::ZscalerNssCsv => DiscoveryFormat::ZscalerNssCsv,
        Format::NetskopeEvents => DiscoveryFormat::NetskopeEvents,
        Format::MdcaActivities => DiscoveryFormat::MdcaActivities,
        Format::MdcaDiscovery => DiscoveryFormat::MdcaDiscovery,
        Format::InfobloxDnsJson => DiscoveryFormat::InfobloxDnsJson,
        Format::InfobloxCef => DiscoveryFormat::InfobloxCef,
        Format::InfobloxNiosQueries => DiscoveryFormat::InfobloxNiosQueries,
        Format::InfobloxIpam => DiscoveryFormat::InfobloxIpam,
        Format::Generic => DiscoveryFormat::Generic,
    }
}

fn identity_kind(kind: lictor_discovery::IdentityKind) -> IdentityKind {
    match kind {
        lictor_discovery::IdentityKind::User => IdentityKind::User,
        lictor_discovery::IdentityKind::Host => IdentityKind::Host,
        lictor_discovery::IdentityKind::ServiceAccount => IdentityKind::ServiceAccount,
        lictor_discovery::IdentityKind::Ip => IdentityKind::Ip,
    }
}

/// The format a request names: the `format` parameter, else the `format`
/// parameter of its `Content-Type`.
fn requested_format(params: &IngestParams, content_type: Option<&str>) -> Result<Format, Error> {
    if let Some(format) = params.format {
        return Ok(format_of(format));
    }
    let named = content_type.and_then(|value| {
        value.split(';').skip(1).find_map(|parameter| {
            let (name, value) = parameter.split_once('=')?;
            name.trim().eq_ignore_ascii_case("format").then(|| value.trim().trim_matches('"').to_string())
        })
    });
    match named {
        Some(name) => Format::parse(&name).ok_or_else(|| Error::InvalidParameter {
            parameter: "Content-Type".into(),
            message: format!("`format={name}` is not a discovery format"),
        }),
        None => Err(Error::InvalidParameter {
            parameter: "format".into(),
            message: "name the records' format: the `format` parameter, or `format=` in the Content-Type"
                .into(),
        }),
    }
}

/// The CSV columns of a `columns` parameter.
fn columns(value: Option<&str>) -> Result<Option<Vec<String>>, Error> {
    let Some(value) = value else { return Ok(None) };
    let bad =
        |message: &str| Error::InvalidParameter { parameter: "columns".into(), message: message.into() };
    let mut reader = csv::ReaderBuilder::new().has_headers(false).from_reader(value.as_bytes());
    let record = reader.records().next().transpose().map_err(|_| bad("not a CSV row of column names"))?;
    let names: Vec<String> = record.iter().flatten().map(|c| c.trim().to_string()).collect();
    if names.is_empty() || names.iter().any(String::is_empty) || names.len() > 500 {
        return Err(bad("1 to 500 column names, none empty"));
    }
    Ok(Some(names))
}

/// A discovered agent's id: the same for the same identity and service.
pub(crate) fn discovered_id(
    tenant: &TenantId,
    kind: IdentityKind,
    identity: &str,
    service: &str,
) -> Result<DiscoveredAgentId, Error> {
    let mut hash = Sha256::new();
    for part in [tenant.as_str(), crate::store::identity_kind_str(kind), identity, service] {
        hash.update(part.as_bytes());
        hash.update([0]);
    }
    let digest = hex::encode(&hash.finalize()[..16]);
    DiscoveredAgentId::parse(format!("dag_{digest}")).map_err(|e| Error::Internal(e.to_string()))
}

/// An observation of an AI service, read and classified.
#[derive(Debug)]
struct Seen {
    digest: String,
    kind: IdentityKind,
    identity: String,
    service: String,
    service_name: String,
    at: Timestamp,
    requests: u64,
    bytes: u64,
    department: Option<String>,
}

/// What the parsing task hands the store, a batch at a time.
#[derive(Debug, Default)]
struct Batch {
    seen: Vec<Seen>,
    hosts: Vec<(String, String)>,
}

/// What the parsing task counted.
#[derive(Debug, Default)]
struct Parsed {
    records: u64,
    refused: u64,
    other: u64,
    hosts: u64,
    errors: Vec<IngestError>,
    /// Why reading the body stopped before its end.
    failed: Option<io::Error>,
}

/// What the store side counted.
#[derive(Debug, Default)]
struct Written {
    accepted: u64,
    duplicates: u64,
    agents_new: u64,
    agents_updated: u64,
}

/// Reads the body's chunks, as the request task forwards them.
struct ChunkReader {
    chunks: tokio::sync::mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

impl Read for ChunkReader {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                None => return Ok(0),
                Some(Err(e)) => return Err(e),
                Some(Ok(chunk)) => self.current = chunk,
            }
        }
        let n = buffer.len().min(self.current.len());
        buffer[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

/// Fails a read past `left` bytes: a decompressed body's bound.
struct Bounded<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buffer)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::FileTooLarge,
                format!("the body decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes"),
            )
        })?;
        Ok(n)
    }
}

/// The digest a record is known by: the vendor's record id when it has
/// one, else the record itself. Scoped by vendor, not by source: the same
/// record pushed and pulled counts once.
fn digest(format: Format, raw: &Raw, record_id: Option<&str>) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("{:?}", format.vendor()).as_bytes());
    hash.update([0]);
    match (record_id, raw) {
        (Some(id), _) => {
            hash.update(b"id:");
            hash.update(id.as_bytes());
        }
        (None, Raw::Json(value)) => hash.update(value.to_string().as_bytes()),
        (None, Raw::Line(line)) => hash.update(line.as_bytes()),
    }
    hex::encode(hash.finalize())
}

/// The parsing task: frames, reads and classifies the body's records,
/// sending batches to `batches`.
fn parse(
    reader: impl Read,
    gzip_header: bool,
    format: Format,
    columns: Option<Vec<String>>,
    options: lictor_discovery::Options,
    catalogue: &Catalogue,
    batches: tokio::sync::mpsc::Sender<Batch>,
) -> Parsed {
    let mut parsed = Parsed::default();
    let mut buffered = io::BufReader::with_capacity(64 * 1024, reader);
    // gzip by header, or by its magic bytes.
    let gzip = gzip_header || matches!(buffered.fill_buf(), Ok([0x1f, 0x8b, ..]));
    let body: Box<dyn BufRead> = if gzip {
        Box::new(io::BufReader::with_capacity(
            64 * 1024,
            Bounded { inner: flate2::read::MultiGzDecoder::new(buffered), left: MAX_DECOMPRESSED_BYTES },
        ))
    } else {
        Box::new(io::BufReader::new(Bounded { inner: buffered, left: MAX_DECOMPRESSED_BYTES }))
    };
    let mut batch = Batch::default();
    for framed in frame::frames(body, format.layout(), columns) {
        let framed = match framed {
            Ok(framed) => framed,
            Err(error) => {
                parsed.failed = Some(error);
                break;
            }
        };
        parsed.records += 1;
        let read = framed.raw.and_then(|raw| {
            let record = lictor_discovery::read(format, raw.clone(), &options)?;
            Ok((raw, record))
        });
        match read {
            Err(error) => {
                parsed.refused += 1;
                if parsed.errors.len() < MAX_ERRORS {
                    parsed.errors.push(IngestError {
                        line: framed.line,
                        reason: error.reason,
                        field: error.field,
                    });
                }
            }
            Ok((_, Record::Host(host))) => {
                parsed.hosts += 1;
                batch.hosts.push((host.ip, host.name));
            }
            Ok((raw, Record::Observation(observation))) => {
                let (service, service_name) = match catalogue.classify(&observation, format.vendor()) {
                    Some(Classification::Service { service, .. }) => {
                        (service.id.clone(), service.name.clone())
                    }
                    Some(Classification::UnlistedGenerativeAi { name }) => {
                        (format!("unlisted:{}", name.to_lowercase()), name)
                    }
                    None => {
                        parsed.other += 1;
                        continue;
                    }
                };
                batch.seen.push(Seen {
                    digest: digest(format, &raw, observation.record_id.as_deref()),
                    kind: identity_kind(observation.identity.kind),
                    identity: observation.identity.value,
                    service,
                    service_name,
                    at: Timestamp::from_datetime(observation.at),
                    requests: observation.requests.max(1),
                    bytes: observation.bytes,
                    department: observation.department,
                });
            }
        }
        if batch.seen.len() + batch.hosts.len() >= BATCH
            && batches.blocking_send(std::mem::take(&mut batch)).is_err()
        {
            return parsed;
        }
    }
    if !(batch.seen.is_empty() && batch.hosts.is_empty()) {
        let _ = batches.blocking_send(batch);
    }
    parsed
}

/// Writes one batch: its new records' sightings, its hosts.
async fn write(
    caller: &Caller<'_>,
    tenant: &TenantId,
    source: &str,
    batch: Batch,
    written: &mut Written,
) -> Result<(), Error> {
    let store = &caller.state.store;
    // Addresses IPAM names count for their host.
    let ips: Vec<String> =
        batch.seen.iter().filter(|s| s.kind == IdentityKind::Ip).map(|s| s.identity.clone()).collect();
    let hosts = if ips.is_empty() { HashMap::new() } else { store.discovery_hosts(tenant, &ips).await? };
    let now = Timestamp::now();
    let mut tx = store.begin().await?;
    if !batch.hosts.is_empty() {
        tx.put_discovery_hosts(tenant, &batch.hosts, source, now).await?;
    }
    let digests: Vec<String> = batch.seen.iter().map(|s| s.digest.clone()).collect();
    let new = tx.new_discovery_records(tenant, &digests, now).await?;
    let mut sightings: BTreeMap<String, Sighting> = BTreeMap::new();
    let mut counted = std::collections::HashSet::new();
    for seen in batch.seen {
        // A digest new to the store, counted once even if the batch repeats it.
        if !new.contains(&seen.digest) || !counted.insert(seen.digest.clone()) {
            written.duplicates += 1;
            continue;
        }
        written.accepted += 1;
        let (kind, identity) = match hosts.get(&seen.identity) {
            Some(host) if seen.kind == IdentityKind::Ip => (IdentityKind::Host, host.clone()),
            _ => (seen.kind, seen.identity),
        };
        let id = discovered_id(tenant, kind, &identity, &seen.service)?;
        sightings
            .entry(id.to_string())
            .and_modify(|s| {
                s.first_seen = s.first_seen.min(seen.at);
                s.last_seen = s.last_seen.max(seen.at);
                s.requests = s.requests.saturating_add(seen.requests);
                s.bytes = s.bytes.saturating_add(seen.bytes);
                if seen.department.is_some() {
                    s.department.clone_from(&seen.department);
                }
            })
            .or_insert(Sighting {
                id,
                identity_kind: kind,
                identity,
                service: seen.service,
                service_name: seen.service_name,
                source: source.to_string(),
                first_seen: seen.at,
                last_seen: seen.at,
                requests: seen.requests,
                bytes: seen.bytes,
                department: seen.department,
            });
    }
    let sightings: Vec<Sighting> = sightings.into_values().collect();
    if !sightings.is_empty() {
        let (agents_new, agents_updated) = tx.add_sightings(tenant, &sightings, now).await?;
        written.agents_new += agents_new;
        written.agents_updated += agents_updated;
    }
    tx.commit().await?;
    Ok(())
}

/// `POST /api/discovery/ingest`.
pub(crate) async fn ingest(
    caller: &Caller<'_>,
    params: Result<IngestParams, ApiError>,
    body: IngestBody,
) -> Result<IngestResult, Error> {
    let (_, tenant, params) = caller.admin(params, |p| p.tenant.as_ref()).await?;
    let format = requested_format(&params, body.content_type.as_deref())?;
    let columns = columns(params.columns.as_deref())?;
    if columns.is_some() && format.layout() != lictor_discovery::Layout::Csv {
        return Err(Error::InvalidParameter {
            parameter: "columns".into(),
            message: format!("`{}` is not a CSV format", format.as_str()),
        });
    }
    let gzip = match body.content_encoding.as_deref().map(str::trim) {
        None | Some("") | Some("identity") => false,
        Some(e) if e.eq_ignore_ascii_case("gzip") || e.eq_ignore_ascii_case("x-gzip") => true,
        Some(other) => {
            return Err(Error::InvalidParameter {
                parameter: "Content-Encoding".into(),
                message: format!("`{other}` is not accepted: send the body as is, or gzip"),
            });
        }
    };
    if format == Format::Generic {
        return Err(Error::InvalidParameter {
            parameter: "source".into(),
            message:
                "the generic format reads records through a source's field mapping: name a generic source"
                    .into(),
        });
    }
    let source = params.source.as_ref().map_or_else(|| vendor_name(format).to_string(), |s| s.to_string());
    let catalogue = tenant_catalogue(caller, &tenant).await?;
    let version = catalogue.version().to_string();

    let (chunks_tx, chunks_rx) = tokio::sync::mpsc::channel::<io::Result<Bytes>>(8);
    let (batches_tx, mut batches_rx) = tokio::sync::mpsc::channel::<Batch>(2);
    let parser = tokio::task::spawn_blocking(move || {
        let reader = ChunkReader { chunks: chunks_rx, current: Bytes::new() };
        parse(reader, gzip, format, columns, lictor_discovery::Options::default(), &catalogue, batches_tx)
    });
    let mut stream = body.stream;
    let forward = async move {
        while let Some(chunk) = stream.next().await {
            let failed = chunk.is_err();
            if chunks_tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    };
    let mut written = Written::default();
    let store_side = async {
        while let Some(batch) = batches_rx.recv().await {
            write(caller, &tenant, &source, batch, &mut written).await?;
        }
        Ok::<(), Error>(())
    };
    let ((), stored) = tokio::join!(forward, store_side);
    let parsed = parser.await.map_err(|e| Error::Internal(format!("the ingest's reader failed: {e}")))?;
    stored?;
    if let Some(error) = parsed.failed {
        let kept = format!(
            "{} records were read before it and {} kept; sending the whole body again adds nothing twice",
            parsed.records, written.accepted
        );
        return Err(match error.kind() {
            io::ErrorKind::FileTooLarge => {
                Error::Invalid(ApiError::new(lictor_api::ErrorCode::BodyTooLarge, format!("{error}: {kept}")))
            }
            _ => Error::Invalid(
                ApiError::new(
                    lictor_api::ErrorCode::InvalidRequest,
                    format!("the body could not be read: {error}; {kept}"),
                )
                .at_path("$"),
            ),
        });
    }
    prune_digests(caller).await;
    let refused_listed = parsed.errors.len() as u64;
    Ok(IngestResult {
        format: api_format(format),
        source,
        catalogue_version: version,
        records: parsed.records,
        accepted: written.accepted + parsed.hosts,
        duplicates: written.duplicates,
        refused: parsed.refused,
        ai_observations: written.accepted,
        other_observations: parsed.other,
        hosts: parsed.hosts,
        agents_new: written.agents_new,
        agents_updated: written.agents_updated,
        errors: parsed.errors,
        errors_truncated: parsed.refused > refused_listed,
    })
}

/// The source an ingest counts for when it names none.
fn vendor_name(format: Format) -> &'static str {
    match format.vendor() {
        lictor_discovery::Vendor::Zscaler => "zscaler",
        lictor_discovery::Vendor::Netskope => "netskope",
        lictor_discovery::Vendor::Mdca => "mdca",
        lictor_discovery::Vendor::Infoblox => "infoblox",
        lictor_discovery::Vendor::Generic => "generic",
    }
}

fn service_ref(row: &DiscoveredRow, catalogue: &Catalogue) -> ServiceRef {
    match catalogue.service(&row.service) {
        Some(service) => ServiceRef {
            id: row.service.clone(),
            name: service.name.clone(),
            vendor: Some(service.vendor.clone()),
            listed: true,
        },
        None => ServiceRef {
            id: row.service.clone(),
            name: row.service_name.clone(),
            vendor: None,
            listed: false,
        },
    }
}

fn view(
    row: DiscoveredRow,
    sources: Vec<SourceRow>,
    days: u32,
    now: Timestamp,
    catalogue: &Catalogue,
) -> DiscoveredAgent {
    let since = row.attested_at.unwrap_or(row.created_at);
    let due = since + std::time::Duration::from_secs(u64::from(days) * 86_400);
    DiscoveredAgent {
        service: service_ref(&row, catalogue),
        id: row.id,
        tenant: row.tenant,
        identity: DiscoveredIdentity { kind: row.identity_kind, value: row.identity },
        first_seen: row.first_seen.to_datetime(),
        last_seen: row.last_seen.to_datetime(),
        requests: row.requests,
        bytes: row.bytes,
        department: row.department,
        sources: sources
            .into_iter()
            .map(|s| SourceSighting {
                source: s.source,
                first_seen: s.first_seen.to_datetime(),
                last_seen: s.last_seen.to_datetime(),
                requests: s.requests,
                bytes: s.bytes,
            })
            .collect(),
        status: row.status,
        status_reason: row.status_reason,
        agent_id: row.agent_id,
        owner: row.owner,
        attested_at: row.attested_at.map(Timestamp::to_datetime),
        attestation_due: due.to_datetime(),
        overdue: due < now,
        created_at: row.created_at.to_datetime(),
        updated_at: row.updated_at.to_datetime(),
    }
}

/// `GET /api/discovery/agents`.
pub(crate) async fn list(
    caller: &Caller<'_>,
    params: Result<DiscoveredAgentListParams, ApiError>,
) -> Result<DiscoveredAgentPage, Error> {
    let (_, tenant, params) = caller.admin(params, |p| p.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let after: Option<(Timestamp, String)> = cursor::decode_opt(LIST, params.cursor.as_deref())?;
    let filter = DiscoveredFilter {
        status: params.status,
        service: params.service,
        identity_kind: params.identity_kind,
        identity: params.identity,
        governed: params.governed,
        owned: params.owned,
        seen_after: params.seen_after.map(Timestamp::from_datetime),
    };
    let store = &caller.state.store;
    let rows = store.list_discovered(&tenant, &filter, after, limit + 1).await?;
    let (rows, next_cursor) = cursor::page(LIST, rows, limit, |r| (r.last_seen, r.id.to_string()));
    let ids: Vec<&DiscoveredAgentId> = rows.iter().map(|r| &r.id).collect();
    let mut sources = store.discovered_sources(&ids).await?;
    let days = store.attestation_days(&tenant).await?;
    let now = Timestamp::now();
    let catalogue = tenant_catalogue(caller, &tenant).await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let seen = sources.remove(row.id.as_str()).unwrap_or_default();
            view(row, seen, days, now, &catalogue)
        })
        .collect();
    Ok(DiscoveredAgentPage { items, next_cursor })
}

/// `GET /api/discovery/agents/{discovered_id}`.
pub(crate) async fn get(
    caller: &Caller<'_>,
    path: Result<DiscoveredAgentPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
) -> Result<DiscoveredAgent, Error> {
    let (_, tenant, (path, _)) = caller.admin((path, scope), |(_, scope)| scope.tenant.as_ref()).await?;
    read_one(caller, &tenant, &path.discovered_id).await
}

/// Reads one discovered agent as the API shows it.
async fn read_one(
    caller: &Caller<'_>,
    tenant: &TenantId,
    id: &DiscoveredAgentId,
) -> Result<DiscoveredAgent, Error> {
    let store = &caller.state.store;
    let row = store
        .get_discovered(tenant, id)
        .await?
        .ok_or_else(|| Error::not_found(Object::DiscoveredAgent, id))?;
    let mut sources = store.discovered_sources(&[&row.id]).await?;
    let seen = sources.remove(row.id.as_str()).unwrap_or_default();
    let days = store.attestation_days(tenant).await?;
    let catalogue = tenant_catalogue(caller, tenant).await?;
    Ok(view(row, seen, days, Timestamp::now(), &catalogue))
}

/// `PATCH /api/discovery/agents/{discovered_id}`.
pub(crate) async fn update(
    caller: &Caller<'_>,
    path: Result<DiscoveredAgentPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
    body: Result<DiscoveredAgentUpdate, ApiError>,
) -> Result<DiscoveredAgent, Error> {
    let (principal, tenant, (path, _, body)) =
        caller.admin((path, scope, body), |(_, scope, _)| scope.tenant.as_ref()).await?;
    let review = match (body.status, body.reason) {
        (Some(status), Some(reason)) => Some((status, reason.to_string())),
        (Some(_), None) => {
            return Err(Error::InvalidField {
                path: "$.reason".into(),
                message: "a review gives its reason: `reason` is required with `status`".into(),
            });
        }
        (None, Some(_)) => {
            return Err(Error::InvalidField {
                path: "$.reason".into(),
                message: "`reason` goes with a `status`".into(),
            });
        }
        (None, None) => None,
    };
    if let Some(Some(agent)) = &body.agent_id
        && caller.state.store.get_agent(&tenant, agent).await?.is_none()
    {
        return Err(Error::InvalidField {
            path: "$.agent_id".into(),
            message: format!("agent `{agent}` is not registered in tenant `{tenant}`"),
        });
    }
    let change = DiscoveredChange {
        review,
        owner: body.owner.map(|owner| owner.map(|o| o.to_string())),
        agent_id: body.agent_id,
    };
    let job = AdminJob {
        tenant: tenant.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::UpdateDiscovered { id: path.discovered_id.clone(), change, now: Timestamp::now() },
    };
    match caller.state.pipeline.writer().append_admin_change(job).await? {
        AdminOutcome::Unchanged => Err(Error::not_found(Object::DiscoveredAgent, &path.discovered_id)),
        _ => read_one(caller, &tenant, &path.discovered_id).await,
    }
}

/// Whether `person` is who `owner` names: their user name or email
/// address, without regard to case.
fn owns(owner: &str, person: &lictor_api::operators::Person) -> bool {
    [person.username.as_deref(), person.email.as_deref()]
        .into_iter()
        .flatten()
        .any(|name| name.eq_ignore_ascii_case(owner.trim()))
}

fn attestation_view(row: AttestationRow) -> Attestation {
    Attestation {
        id: row.id,
        tenant: row.tenant,
        discovered_id: row.discovered_id,
        attester: row.attester,
        person: row.person.as_deref().and_then(|p| serde_json::from_str(p).ok()),
        statement: row.statement,
        attested_at: row.attested_at.to_datetime(),
    }
}

/// `POST /api/discovery/agents/{discovered_id}/attestations`.
pub(crate) async fn attest(
    caller: &Caller<'_>,
    path: Result<DiscoveredAgentPath, ApiError>,
    scope: Result<TenantScope, ApiError>,
    body: Result<AttestationCreate, ApiError>,
) -> Result<Attestation, Error> {
    let (principal, tenant, (path, _, body)) =
        caller.scoped((path, scope, body), |(_, scope, _)| scope.tenant.as_ref()).await?;
    let agent = caller
        .state
        .store
        .get_discovered(&tenant, &path.discovered_id)
        .await?
        .ok_or_else(|| Error::not_found(Object::DiscoveredAgent, &path.discovered_id))?;
    let Some(owner) = agent.owner.as_deref() else {
        return Err(Error::conflict(
            Object::DiscoveredAgent,
            &path.discovered_id,
            "has no owner: an owner attests, so give it one first",
        ));
    };
    let Some(person) = principal.person() else {
        return Err(Error::Forbidden(
            "an attestation is a person's statement: sign in (or use a key you made) as the owner".into(),
        ));
    };
    if !owns(owner, &person) {
        return Err(Error::Forbidden(format!(
            "only its owner (`{owner}`) attests for discovered agent `{}`",
            agent.id
        )));
    }
    let row = AttestationRow {
        id: crate::ids::attestation_id(),
        tenant: tenant.clone(),
        discovered_id: agent.id.clone(),
        attester: principal.describe(),
        person: serde_json::to_string(&person).ok(),
        statement: body.statement.to_string(),
        attested_at: Timestamp::now(),
    };
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: Some(person),
        op: AdminOp::Attest(row.clone()),
    };
    match caller.state.pipeline.writer().append_admin_change(job).await? {
        AdminOutcome::Unchanged => Err(Error::not_found(Object::DiscoveredAgent, &path.discovered_id)),
        _ => Ok(attestation_view(row)),
    }
}

/// `GET /api/discovery/attestations`.
pub(crate) async fn attestations(
    caller: &Caller<'_>,
    params: Result<AttestationListParams, ApiError>,
) -> Result<AttestationPage, Error> {
    let (_, tenant, params) = caller.admin(params, |p| p.tenant.as_ref()).await?;
    let limit = cursor::limit(params.limit)?;
    let after: Option<(Timestamp, String)> = cursor::decode_opt(ATTESTATIONS, params.cursor.as_deref())?;
    let rows = caller
        .state
        .store
        .list_attestations(&tenant, params.discovered_id.as_ref(), after, limit + 1)
        .await?;
    let (rows, next_cursor) = cursor::page(ATTESTATIONS, rows, limit, |r| (r.attested_at, r.id.clone()));
    Ok(AttestationPage { items: rows.into_iter().map(attestation_view).collect(), next_cursor })
}

/// `GET /api/discovery/settings`.
pub(crate) async fn settings_get(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
) -> Result<DiscoverySettings, Error> {
    let (_, tenant, _) = caller.admin(scope, |s| s.tenant.as_ref()).await?;
    Ok(DiscoverySettings { attestation_days: caller.state.store.attestation_days(&tenant).await? })
}

/// `PUT /api/discovery/settings`.
pub(crate) async fn settings_put(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<DiscoverySettings, ApiError>,
) -> Result<DiscoverySettings, Error> {
    let (principal, tenant, (_, body)) =
        caller.admin((scope, body), |(scope, _)| scope.tenant.as_ref()).await?;
    if !(1..=3650).contains(&body.attestation_days) {
        return Err(Error::InvalidField {
            path: "$.attestation_days".into(),
            message: "1 to 3650 days".into(),
        });
    }
    let job = AdminJob {
        tenant: tenant.clone(),
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::SetDiscoverySettings { attestation_days: body.attestation_days },
    };
    caller.state.pipeline.writer().append_admin_change(job).await?;
    Ok(DiscoverySettings { attestation_days: caller.state.store.attestation_days(&tenant).await? })
}

/// The most AI services a tenant adds to the catalogue.
const MAX_TENANT_SERVICES: usize = 100;

/// The tenant's own services, as stored (those that no longer read are
/// left out).
async fn tenant_services(
    caller: &Caller<'_>,
    tenant: &TenantId,
) -> Result<Vec<lictor_discovery::catalogue::Service>, Error> {
    let rows = caller.state.store.discovery_services(tenant).await?;
    Ok(rows.into_iter().filter_map(|(_, json)| serde_json::from_str(&json).ok()).collect())
}

/// The shipped catalogue with `extra`, leaving out any that no longer
/// fits (a later shipped catalogue may claim a host a tenant claimed
/// first: the shipped service wins); and the services kept.
fn fitting(
    mut extra: Vec<lictor_discovery::catalogue::Service>,
) -> (Catalogue, Vec<lictor_discovery::catalogue::Service>) {
    loop {
        match Catalogue::shipped().extended(&extra) {
            Ok(catalogue) => return (catalogue, extra),
            Err(error) => match error.index {
                Some(at) if at < extra.len() => {
                    extra.remove(at);
                }
                _ => return (Catalogue::shipped().clone(), Vec::new()),
            },
        }
    }
}

fn extend(extra: Vec<lictor_discovery::catalogue::Service>) -> Catalogue {
    fitting(extra).0
}

/// The catalogue the tenant's records are matched with.
pub(crate) async fn tenant_catalogue(caller: &Caller<'_>, tenant: &TenantId) -> Result<Catalogue, Error> {
    let extra = tenant_services(caller, tenant).await?;
    if extra.is_empty() {
        return Ok(Catalogue::shipped().clone());
    }
    Ok(extend(extra))
}

fn api_kind(kind: lictor_discovery::catalogue::ServiceKind) -> ServiceKind {
    match kind {
        lictor_discovery::catalogue::ServiceKind::ModelApi => ServiceKind::ModelApi,
        lictor_discovery::catalogue::ServiceKind::Saas => ServiceKind::Saas,
    }
}

fn service_view(service: &lictor_discovery::catalogue::Service, origin: ServiceOrigin) -> CatalogueService {
    CatalogueService {
        id: service.id.clone(),
        origin,
        name: service.name.clone(),
        vendor: service.vendor.clone(),
        kind: api_kind(service.kind),
        categories: service.categories.clone(),
        domains: ServiceDomains {
            exact: service.domains.exact.clone(),
            wildcard: service.domains.wildcard.clone(),
        },
        url_patterns: service
            .url_patterns
            .iter()
            .map(|p| ServiceUrlPattern { host: p.host.clone(), path_prefix: p.path_prefix.clone() })
            .collect(),
        vendor_ids: ServiceVendorIds {
            netskope: service.vendor_ids.netskope.clone(),
            mdca: Some(ServiceMdcaIds {
                app_ids: service.vendor_ids.mdca.app_ids.clone(),
                names: service.vendor_ids.mdca.names.clone(),
            }),
            zscaler: service.vendor_ids.zscaler.clone(),
        },
        docs: service.docs.clone(),
    }
}

/// `GET /api/discovery/catalogue`.
pub(crate) async fn catalogue(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
) -> Result<CatalogueView, Error> {
    let (_, tenant, _) = caller.admin(scope, |s| s.tenant.as_ref()).await?;
    let extra = tenant_services(caller, &tenant).await?;
    let catalogue = extend(extra);
    let shipped = Catalogue::shipped();
    let services = catalogue
        .services()
        .iter()
        .map(|s| {
            let origin =
                if shipped.service(&s.id).is_some() { ServiceOrigin::Shipped } else { ServiceOrigin::Tenant };
            service_view(s, origin)
        })
        .collect();
    Ok(CatalogueView {
        shipped_version: shipped.version().to_string(),
        version: catalogue.version().to_string(),
        services,
    })
}

/// `POST /api/discovery/catalogue/services`.
pub(crate) async fn service_create(
    caller: &Caller<'_>,
    scope: Result<TenantScope, ApiError>,
    body: Result<CatalogueServiceCreate, ApiError>,
) -> Result<CatalogueService, Error> {
    let (principal, tenant, (_, body)) =
        caller.admin((scope, body), |(scope, _)| scope.tenant.as_ref()).await?;
    let (id, write) = body.split();
    if Catalogue::shipped().service(&id).is_some() {
        return Err(Error::conflict(
            Object::CatalogueService,
            &id,
            "is a shipped service: a tenant adds services under ids of its own",
        ));
    }
    let others = tenant_services(caller, &tenant).await?;
    if others.iter().any(|s| s.id == id) {
        return Err(Error::AlreadyExists { object: Object::CatalogueService, id });
    }
    if others.len() >= MAX_TENANT_SERVICES {
        return Err(Error::conflict(
            Object::CatalogueService,
            &id,
            format!("cannot be added: a tenant adds at most {MAX_TENANT_SERVICES} services"),
        ));
    }
    save_service(caller, principal, tenant, id, write, others).await
}

/// `PUT /api/discovery/catalogue/services/{service_id}`.
pub(crate) async fn service_put(
    caller: &Caller<'_>,
    path: Result<CatalogueServicePath, ApiError>,
    scope: Result<TenantScope, ApiError>,
    body: Result<CatalogueServiceWrite, ApiError>,
) -> Result<CatalogueService, Error> {
    let (principal, tenant, (path, _, body)) =
        caller.admin((path, scope, body), |(_, scope, _)| scope.tenant.as_ref()).await?;
    let id = path.service_id;
    let mut others = tenant_services(caller, &tenant).await?;
    let before = others.len();
    others.retain(|s| s.id != id);
    if others.len() == before {
        return Err(Error::not_found(Object::CatalogueService, &id));
    }
    save_service(caller, principal, tenant, id, body, others).await
}

/// Checks a tenant service against the shipped catalogue and the tenant's
/// `others`, and records it.
async fn save_service(
    caller: &Caller<'_>,
    principal: crate::auth::Principal,
    tenant: TenantId,
    id: String,
    body: CatalogueServiceWrite,
    others: Vec<lictor_discovery::catalogue::Service>,
) -> Result<CatalogueService, Error> {
    use lictor_discovery::catalogue as cat;
    let domains = body.domains.unwrap_or_default();
    let vendor_ids = body.vendor_ids.unwrap_or_default();
    let mdca = vendor_ids.mdca.unwrap_or_default();
    let service = cat::Service {
        id: id.clone(),
        name: body.name.to_string(),
        vendor: body.vendor.to_string(),
        kind: match body.kind {
            ServiceKind::ModelApi => cat::ServiceKind::ModelApi,
            ServiceKind::Saas => cat::ServiceKind::Saas,
        },
        categories: body.categories,
        domains: cat::Domains { exact: domains.exact, wildcard: domains.wildcard },
        url_patterns: body
            .url_patterns
            .into_iter()
            .map(|p| cat::UrlPattern { host: p.host, path_prefix: p.path_prefix })
            .collect(),
        vendor_ids: cat::VendorIds {
            netskope: vendor_ids.netskope,
            mdca: cat::MdcaIds { app_ids: mdca.app_ids, names: mdca.names },
            zscaler: vendor_ids.zscaler,
        },
        docs: body.docs,
    };
    let bad = |error: cat::CatalogueError| Error::InvalidField {
        path: if error.path.is_empty() { "$".into() } else { format!("$.{}", error.path) },
        message: error.reason,
    };
    service.check().map_err(bad)?;
    // The tenant's others that still fit, and this one: every claim its own.
    let (_, mut kept) = fitting(others);
    kept.push(service.clone());
    Catalogue::shipped().extended(&kept).map_err(bad)?;
    let json = serde_json::to_string(&service).map_err(|e| Error::Internal(e.to_string()))?;
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::SaveDiscoveryService { id, service: json },
    };
    caller.state.pipeline.writer().append_admin_change(job).await?;
    Ok(service_view(&service, ServiceOrigin::Tenant))
}

/// `DELETE /api/discovery/catalogue/services/{service_id}`.
pub(crate) async fn service_delete(
    caller: &Caller<'_>,
    path: Result<CatalogueServicePath, ApiError>,
    scope: Result<TenantScope, ApiError>,
) -> Result<(), Error> {
    let (principal, tenant, (path, _)) =
        caller.admin((path, scope), |(_, scope)| scope.tenant.as_ref()).await?;
    let job = AdminJob {
        tenant,
        principal: principal.describe(),
        person: principal.person(),
        op: AdminOp::DeleteDiscoveryService(path.service_id.clone()),
    };
    match caller.state.pipeline.writer().append_admin_change(job).await? {
        AdminOutcome::Unchanged => Err(Error::not_found(Object::CatalogueService, &path.service_id)),
        _ => Ok(()),
    }
}
