//! Writing an export: entries 1..N of a tenant's log, read a page at a time
//! (constant memory), each checkpoint the gateway signed right after the
//! entry it ends — with its consistency proof from the one before — and
//! the checkpoint of size N last. The loop behind
//! `GET /v1/admin/audit/export`, and what the `audit_export` benchmark runs.

use lictor_api::ids::TenantId;

use super::checkpointer::Checkpointer;
use super::export::{ExportCheckpoint, ExportFormat, ExportHeader, ExportWriter};
use super::merkle::Hash;
use super::pages::Pages;
use super::verify::{Anchors, consistency};
use crate::clock::Timestamp;
use crate::store::{CheckpointRow, Store, decode_hash};

/// Bytes gathered before they are handed to the sink: one frame per chunk
/// rather than per entry.
const CHUNK: usize = 64 * 1024;

/// Where an export's bytes go.
pub trait ExportSink: Send {
    /// Takes the next chunk; `false` when the export must stop (the client
    /// went away).
    fn send(&mut self, chunk: Vec<u8>) -> impl Future<Output = bool> + Send;
}

/// How an export ended.
#[derive(Debug, PartialEq, Eq)]
pub enum ExportEnd {
    /// Every entry up to the checkpoint, and the checkpoint, were written.
    Complete {
        /// Entries written.
        entries: u64,
        /// Checkpoints written, the closing one included.
        checkpoints: u64,
    },
    /// The sink refused a chunk.
    Stopped,
}

/// The checkpoints an export carries, in order, and the last one written.
struct Carried<'a> {
    store: &'a Store,
    checkpoints: &'a Checkpointer,
    tenant: &'a TenantId,
    closing: &'a CheckpointRow,
    signed: Anchors,
    last: Option<(u64, Hash)>,
    written: u64,
}

impl Carried<'_> {
    /// The record of the checkpoint ending at entry `size`, if there is
    /// one; its proof from the previous one is checked before it is
    /// written, so an export never carries a proof that does not hold.
    async fn at(&mut self, size: u64) -> Result<Option<ExportCheckpoint>, String> {
        if size == self.closing.tree_size {
            let closing = self.closing;
            return self.record(closing).await.map(Some);
        }
        while let Some(row) = self.signed.peek(self.store).await.map_err(|e| e.to_string())? {
            if row.tree_size > size || row.tree_size >= self.closing.tree_size {
                return Ok(None);
            }
            let row = row.clone();
            self.signed.pop();
            if row.tree_size == size {
                return self.record(&row).await.map(Some);
            }
        }
        Ok(None)
    }

    async fn record(&mut self, row: &CheckpointRow) -> Result<ExportCheckpoint, String> {
        let root = decode_hash(&row.root_hash).map_err(|e| e.to_string())?;
        let record = ExportCheckpoint {
            tree_size: row.tree_size,
            root_hash: row.root_hash.clone(),
            note: row.note.clone(),
            consistency: None,
        };
        let record = match self.last {
            None => record,
            Some(last) => {
                let proven = consistency(self.checkpoints, self.tenant, last, (row.tree_size, root)).await;
                match proven.map_err(|e| e.to_string())? {
                    Ok(proof) => record.extending(&proof),
                    Err(failure) => return Err(format!("{}: {}", failure.reason, failure.found)),
                }
            }
        };
        self.last = Some((row.tree_size, root));
        self.written += 1;
        Ok(record)
    }
}

/// Writes the export of `tenant`'s log up to `closing` (a checkpoint of
/// it, verified by the gateway) to `sink`. An error means the export
/// cannot be completed (the store failed, an entry no longer decodes, the
/// log is shorter than the checkpoint, a proof does not hold): what was
/// written lacks its closing checkpoint and fails verification.
pub async fn write_export(
    store: &Store,
    checkpoints: &Checkpointer,
    tenant: &TenantId,
    closing: &CheckpointRow,
    format: ExportFormat,
    sink: &mut impl ExportSink,
) -> Result<ExportEnd, String> {
    let header = ExportHeader {
        tenant: tenant.clone(),
        origin: checkpoints.origin_of(tenant),
        key_name: checkpoints.key_name().to_string(),
        exported_at: Timestamp::now().to_datetime(),
        entries: closing.tree_size,
    };
    let mut anchors = Carried {
        store,
        checkpoints,
        tenant,
        closing,
        signed: Anchors::new(tenant, 0),
        last: None,
        written: 0,
    };
    let mut writer = ExportWriter::new(format);
    let mut chunk = writer.header(&header).map_err(|e| e.to_string())?;
    let mut after = 0;
    if closing.tree_size == 0 {
        let record = anchors.at(0).await?.ok_or("no checkpoint of the empty log")?;
        chunk.extend(writer.checkpoint(&record, tenant).map_err(|e| e.to_string())?);
    }
    let mut pages = Pages::new(store, tenant, (0, closing.tree_size), |page| page);
    'pages: while after < closing.tree_size {
        let Some(page) = pages.next_page().await.map_err(|e| e.to_string())? else {
            return Err(format!(
                "the log ends at entry {after}, before the checkpoint's {}",
                closing.tree_size
            ));
        };
        for row in page {
            let row = row.map_err(|bad| bad.message)?;
            if row.record.seq > closing.tree_size {
                break 'pages;
            }
            after = row.record.seq;
            chunk.extend(writer.entry(&row.record.to_entry(row.hash)).map_err(|e| e.to_string())?);
            if let Some(record) = anchors.at(after).await? {
                chunk.extend(writer.checkpoint(&record, tenant).map_err(|e| e.to_string())?);
            }
            if chunk.len() >= CHUNK
                && !sink.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))).await
            {
                return Ok(ExportEnd::Stopped);
            }
        }
    }
    if !sink.send(chunk).await {
        return Ok(ExportEnd::Stopped);
    }
    Ok(ExportEnd::Complete { entries: after, checkpoints: anchors.written })
}
