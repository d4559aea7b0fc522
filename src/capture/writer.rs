//! The capture writer: a dedicated thread that appends records to a capture file.
//!
//! Producers (the proxy's connection tasks) never wait for it: they hand records over
//! with [`CaptureSink::try_send`], which fails fast when the writer is behind (by record
//! count or by queued bytes). The writer flushes at record boundaries whenever its queue
//! runs dry, so a reader (or a `kill -9`) sees only whole lines, except possibly a torn
//! last one. A failing disk is reported once and counted; it never stops the producers.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

use anyhow::Context as _;

use super::format::{CaptureHeader, Chunk, Record, Side, INLINE_LIMIT};
use super::reader::{CaptureReader, LastIds};

/// The write buffer; records reach the file when it fills or the queue runs dry.
const BUFFER: usize = 256 << 10;
/// Size of the chunk lines [`write_capture`] writes for large bodies (as the proxy does).
const CHUNK_BYTES: usize = 256 << 10;
/// How many records may wait for the writer.
const QUEUE_RECORDS: usize = 4096;
/// How many body bytes may wait for the writer before producers drop copies.
const QUEUE_BYTES: usize = 32 << 20;

/// Counters shared by the sink and the writer thread.
#[derive(Debug, Default)]
pub struct CaptureStats {
    /// Exchange records written.
    pub exchanges: AtomicU64,
    /// Bytes written to the file.
    pub bytes_written: AtomicU64,
    /// Records the producers dropped because the writer was behind.
    pub dropped: AtomicU64,
    /// Records lost to write errors.
    pub failed: AtomicU64,
    queued_bytes: AtomicUsize,
}

/// The producer side: cheap to clone, never blocks.
#[derive(Clone, Debug)]
pub struct CaptureSink {
    tx: Option<SyncSender<(Record, usize)>>,
    stats: Arc<CaptureStats>,
    after: LastIds,
}

impl CaptureSink {
    /// A sink that throws everything away (no capture file).
    pub fn disabled() -> Self {
        Self {
            tx: None,
            stats: Arc::default(),
            after: LastIds::default(),
        }
    }

    /// The first exchange id this session may use: 1 for a new capture, one past the
    /// highest id (of an exchange or a chunk line) of the capture appended to. Ids stay
    /// unique in the file, so chunk lines an earlier, killed session left behind never
    /// attach to an exchange of this one.
    pub fn first_exchange_id(&self) -> u64 {
        self.after.exchange.saturating_add(1)
    }

    /// The first connection id this session may use (as for exchange ids).
    pub fn first_connection_id(&self) -> u64 {
        self.after.connection.saturating_add(1)
    }

    /// Hands a record to the writer; `weight` is the number of body bytes it carries.
    /// Returns false (and counts a drop) when the writer is behind.
    pub fn try_send(&self, record: Record, weight: usize) -> bool {
        let Some(tx) = &self.tx else { return true };
        let queued = self.stats.queued_bytes.fetch_add(weight, Ordering::Relaxed);
        if queued + weight > QUEUE_BYTES && weight > 0 {
            self.stats.queued_bytes.fetch_sub(weight, Ordering::Relaxed);
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        match tx.try_send((record, weight)) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.queued_bytes.fetch_sub(weight, Ordering::Relaxed);
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Whether records go anywhere.
    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<CaptureStats> {
        &self.stats
    }
}

/// The running writer; [`CaptureWriter::finish`] flushes and closes the file.
#[derive(Debug)]
pub struct CaptureWriter {
    path: PathBuf,
    thread: Option<JoinHandle<()>>,
    stats: Arc<CaptureStats>,
}

impl CaptureWriter {
    /// Creates (or appends to) the capture at `path` and starts the writer thread. A new
    /// or empty file gets a header line. An existing capture is appended to: its ids are
    /// read first, so this session's ids continue after them
    /// ([`CaptureSink::first_exchange_id`]), and a torn last line (a writer killed
    /// mid-line) is ended with a newline, so it stays one skipped line instead of
    /// swallowing this session's first record.
    ///
    /// # Errors
    /// When the file cannot be opened or the header cannot be written, and when an
    /// existing file is not a capture or is from a newer format version.
    pub fn start(path: &Path) -> anyhow::Result<(Self, CaptureSink)> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create capture folder {}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .read(true)
            .open(path)
            .with_context(|| format!("cannot open capture file {}", path.display()))?;
        let size = file.metadata().map(|m| m.len()).unwrap_or(0);
        let stats = Arc::new(CaptureStats::default());
        let mut after = LastIds::default();
        let mut start = Vec::new();
        if size == 0 {
            start = serde_json::to_vec(&Record::Header(CaptureHeader::now()))?;
            start.push(b'\n');
        } else {
            after = CaptureReader::last_ids(path)
                .map_err(|e| anyhow::anyhow!("cannot append to {}: {e}", path.display()))?;
            if !ends_with_newline(&mut file, size)
                .with_context(|| format!("cannot read capture file {}", path.display()))?
            {
                start.push(b'\n');
            }
        }
        let mut out = BufWriter::with_capacity(BUFFER, file);
        if !start.is_empty() {
            match out.write_all(&start).and_then(|()| out.flush()) {
                Ok(()) => {
                    stats
                        .bytes_written
                        .fetch_add(start.len() as u64, Ordering::Relaxed);
                }
                // A full or failing disk: traffic still flows; the loss is counted and
                // reported, as for every later record.
                Err(e) => {
                    let mut reported = false;
                    report(&mut reported, path, &e);
                    stats.failed.fetch_add(1, Ordering::Relaxed);
                    out = discard(out);
                }
            }
        }
        let (tx, rx) = mpsc::sync_channel(QUEUE_RECORDS);
        let thread_stats = Arc::clone(&stats);
        let thread_path = path.to_path_buf();
        let thread = std::thread::Builder::new()
            .name("capture-writer".into())
            .spawn(move || write_loop(&rx, out, &thread_stats, &thread_path))
            .context("cannot start the capture writer thread")?;
        let sink = CaptureSink {
            tx: Some(tx),
            stats: Arc::clone(&stats),
            after,
        };
        Ok((
            Self {
                path: path.to_path_buf(),
                thread: Some(thread),
                stats,
            },
            sink,
        ))
    }

    /// The capture file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The shared counters.
    pub fn stats(&self) -> &Arc<CaptureStats> {
        &self.stats
    }

    /// Waits until every sink is dropped and the queue is written, then closes the file.
    pub fn finish(mut self) {
        if let Some(t) = self.thread.take() {
            // A panic in the writer thread has already been reported by the panic hook.
            let _ = t.join();
        }
    }
}

/// Whether the last byte of `file` (of `size` bytes) is a newline.
fn ends_with_newline(file: &mut File, size: u64) -> std::io::Result<bool> {
    use std::io::{Read as _, Seek as _, SeekFrom};
    let mut last = [0u8; 1];
    file.seek(SeekFrom::Start(size - 1))?;
    file.read_exact(&mut last)?;
    Ok(last[0] == b'\n')
}

fn write_loop(
    rx: &Receiver<(Record, usize)>,
    mut out: BufWriter<File>,
    stats: &CaptureStats,
    path: &Path,
) {
    let mut reported = false;
    let mut line = Vec::with_capacity(64 << 10);
    // Records (and exchange records among them) in the buffer, not yet in the file.
    let mut pending = (0u64, 0u64);
    loop {
        let (record, weight) = match rx.try_recv() {
            Ok(r) => r,
            Err(TryRecvError::Empty) => {
                out = flush(out, &mut pending, stats, &mut reported, path);
                match rx.recv() {
                    Ok(r) => r,
                    Err(_) => break,
                }
            }
            Err(TryRecvError::Disconnected) => break,
        };
        stats.queued_bytes.fetch_sub(weight, Ordering::Relaxed);
        line.clear();
        if serde_json::to_writer(&mut line, &record).is_err() {
            stats.failed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        line.push(b'\n');
        let exchange = u64::from(matches!(record, Record::Exchange(_)));
        match out.write_all(&line) {
            Ok(()) => {
                stats
                    .bytes_written
                    .fetch_add(line.len() as u64, Ordering::Relaxed);
                pending.0 += 1;
                pending.1 += exchange;
            }
            Err(e) => {
                // This record and whatever the buffer held are lost.
                stats.failed.fetch_add(pending.0 + 1, Ordering::Relaxed);
                pending = (0, 0);
                report(&mut reported, path, &e);
                out = discard(out);
            }
        }
    }
    flush(out, &mut pending, stats, &mut reported, path);
}

/// Flushes the buffer; on failure its records are counted as lost and thrown away, so
/// that the next records get a fresh chance (a disk that was full may have room again).
fn flush(
    mut out: BufWriter<File>,
    pending: &mut (u64, u64),
    stats: &CaptureStats,
    reported: &mut bool,
    path: &Path,
) -> BufWriter<File> {
    let (records, exchanges) = std::mem::take(pending);
    match out.flush() {
        Ok(()) => {
            stats.exchanges.fetch_add(exchanges, Ordering::Relaxed);
            out
        }
        Err(e) => {
            stats.failed.fetch_add(records, Ordering::Relaxed);
            report(reported, path, &e);
            discard(out)
        }
    }
}

/// The same file with an empty buffer: what could not be written is dropped.
fn discard(out: BufWriter<File>) -> BufWriter<File> {
    let (file, _unwritten) = out.into_parts();
    BufWriter::with_capacity(BUFFER, file)
}

fn report(reported: &mut bool, path: &Path, e: &std::io::Error) {
    if !*reported {
        *reported = true;
        tracing::error!(path = %path.display(), error = %e, "capture write failed; traffic keeps flowing, records are being lost");
    }
}

/// Writes a whole capture synchronously (import, redact, tests): a header, then one
/// line per exchange. Refuses to overwrite an existing file unless `overwrite`.
///
/// # Errors
/// When the file exists (and `overwrite` is false) or cannot be written.
pub fn write_capture<'a>(
    path: &Path,
    exchanges: impl IntoIterator<Item = &'a crate::model::Exchange>,
    overwrite: bool,
) -> anyhow::Result<u64> {
    let mut file = CaptureFile::create(path, overwrite)?;
    for x in exchanges {
        file.write(x.clone())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    file.finish()
}

/// A capture written synchronously one exchange at a time, for commands that stream
/// (imports of large archives): memory holds one exchange, never the whole capture.
#[derive(Debug)]
pub struct CaptureFile {
    out: BufWriter<File>,
    path: PathBuf,
    written: u64,
}

impl CaptureFile {
    /// Creates the capture at `path` and writes its header. Refuses to overwrite an
    /// existing file unless `overwrite`.
    ///
    /// # Errors
    /// When the file exists (and `overwrite` is false) or cannot be written.
    pub fn create(path: &Path, overwrite: bool) -> anyhow::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create folder {}", dir.display()))?;
        }
        let mut opts = OpenOptions::new();
        opts.write(true);
        if overwrite {
            opts.create(true).truncate(true);
        } else {
            opts.create_new(true);
        }
        let file = opts
            .open(path)
            .with_context(|| format!("cannot create {} (it must not exist yet)", path.display()))?;
        let mut out = BufWriter::with_capacity(BUFFER, file);
        serde_json::to_writer(&mut out, &Record::Header(CaptureHeader::now()))?;
        out.write_all(b"\n")?;
        Ok(Self {
            out,
            path: path.to_path_buf(),
            written: 0,
        })
    }

    /// Appends one exchange. Large bodies go out as chunk lines, as the proxy writes
    /// them, so no line comes near the reader's line limit.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write(&mut self, mut x: crate::model::Exchange) -> std::io::Result<()> {
        let out = &mut self.out;
        for (side, body) in [
            (Side::Request, x.request.as_mut().map(|r| &mut r.body)),
            (Side::Response, x.response.as_mut().map(|r| &mut r.body)),
        ] {
            let Some(body) = body.filter(|b| b.bytes.len() > INLINE_LIMIT) else {
                continue;
            };
            let mut offset = 0u64;
            for piece in body.bytes.chunks(CHUNK_BYTES) {
                let chunk = Chunk {
                    exchange: x.id,
                    side,
                    offset,
                    base64: piece.to_vec(),
                };
                serde_json::to_writer(&mut *out, &Record::Chunk(chunk))?;
                out.write_all(b"\n")?;
                offset += piece.len() as u64;
            }
            body.stored = offset;
            body.chunked = true;
            body.bytes = Vec::new();
        }
        serde_json::to_writer(&mut *out, &Record::Exchange(Box::new(x)))?;
        out.write_all(b"\n")?;
        self.written += 1;
        Ok(())
    }

    /// Flushes the file; returns how many exchanges it holds.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        self.out
            .flush()
            .with_context(|| format!("cannot write {}", self.path.display()))?;
        Ok(self.written)
    }
}
