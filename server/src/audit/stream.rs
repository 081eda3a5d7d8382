//! Writing an export: entries 1..N of a tenant's log, read a page at a time
//! (constant memory), then the checkpoint of size N. The loop behind
//! `GET /v1/admin/audit/export`, and what the `audit_export` benchmark runs.

use super::export::{ExportCheckpoint, ExportFormat, ExportHeader, ExportWriter};
use super::pages::Pages;
use crate::store::Store;

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
    },
    /// The sink refused a chunk.
    Stopped,
}

/// Writes the export described by `header`, up to and including
/// `trailer` (a checkpoint of the tenant's log), to `sink`. An error means
/// the export cannot be completed (the store failed, an entry no longer
/// decodes, or the log is shorter than the checkpoint): what was written
/// lacks its checkpoint and fails verification.
pub async fn write_export(
    store: &Store,
    header: &ExportHeader,
    trailer: &ExportCheckpoint,
    format: ExportFormat,
    sink: &mut impl ExportSink,
) -> Result<ExportEnd, String> {
    let tenant = &header.tenant;
    let mut writer = ExportWriter::new(format);
    let mut chunk = writer.header(header).map_err(|e| e.to_string())?;
    let mut after = 0;
    let mut pages = Pages::new(store, tenant, (0, trailer.tree_size), |page| page);
    'pages: while after < trailer.tree_size {
        let Some(page) = pages.next_page().await.map_err(|e| e.to_string())? else {
            return Err(format!(
                "the log ends at entry {after}, before the checkpoint's {}",
                trailer.tree_size
            ));
        };
        for row in page {
            let row = row.map_err(|bad| bad.message)?;
            if row.record.seq > trailer.tree_size {
                break 'pages;
            }
            after = row.record.seq;
            chunk.extend(writer.entry(&row.record.to_entry(row.hash)).map_err(|e| e.to_string())?);
            if chunk.len() >= CHUNK
                && !sink.send(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))).await
            {
                return Ok(ExportEnd::Stopped);
            }
        }
    }
    chunk.extend(writer.checkpoint(trailer, tenant).map_err(|e| e.to_string())?);
    if !sink.send(chunk).await {
        return Ok(ExportEnd::Stopped);
    }
    Ok(ExportEnd::Complete { entries: after })
}
