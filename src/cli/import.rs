//! `synctap import FILE --out CAPTURE` (HAR, SAZ, pcap, pcapng: picked by content) and
//! `synctap export CAPTURE --saz OUT`, with a progress bar on a terminal and a report of
//! what was read, skipped and why.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;

use crate::capture::import::{Format, ImportError, ImportOptions, ImportReport};
use crate::capture::{har, pcap, saz, CaptureFile, CaptureReader};
use crate::model::Exchange;

/// Arguments of `synctap import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The archive: HAR (browsers' devtools, mitmproxy, Charles, synctap), Fiddler SAZ, or
    /// a tcpdump/Wireshark pcap or pcapng of plain HTTP/1.1. The format is read from the
    /// file's content (its extension only breaks ties).
    file: PathBuf,
    /// The capture file to create (it must not exist).
    #[arg(long, value_name = "CAPTURE")]
    out: PathBuf,
    /// Store at most this much of each body (the rest is counted and hashed, as the
    /// proxy does).
    #[arg(long, value_name = "BYTES", default_value = "64MiB", value_parser = super::proxy::parse_size)]
    body_limit: u64,
}

pub(super) fn import(args: &ImportArgs) -> anyhow::Result<i32> {
    let path = &args.file;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut head = [0u8; 64];
    let n = file
        .read(&mut head)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let format = Format::sniff(&head[..n], path).ok_or_else(|| {
        anyhow::anyhow!(
            "{}: not a HAR, SAZ, pcap or pcapng file (unknown content and extension)",
            path.display()
        )
    })?;
    drop(file);
    let opts = ImportOptions {
        body_limit: args.body_limit,
    };
    let mut out = CaptureFile::create(&args.out, false)?;
    let bar = super::progress::bar(
        &format!("importing {}", format.name()),
        size,
        format != Format::Saz,
    );
    let result = run_import(format, path, size, &opts, &mut out, &bar);
    bar.finish_and_clear();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            // Nothing useful was written: do not leave a half capture behind.
            drop(out);
            let _ = std::fs::remove_file(&args.out);
            return Err(anyhow::anyhow!("{}: {e}", path.display()));
        }
    };
    let written = out.finish()?;
    for line in report.lines() {
        eprintln!("{line}");
    }
    eprintln!("wrote {} ({written} exchanges)", args.out.display());
    Ok(0)
}

fn run_import(
    format: Format,
    path: &Path,
    size: u64,
    opts: &ImportOptions,
    out: &mut CaptureFile,
    bar: &indicatif::ProgressBar,
) -> Result<ImportReport, ImportError> {
    let mut sink = |x: Exchange| out.write(x);
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    match format {
        Format::Har => {
            // Entry by entry: the document is never held whole.
            let file = ProgressRead {
                inner: std::fs::File::open(path)?,
                done: 0,
                total: size,
                progress: &progress,
            };
            let mut report = ImportReport::new(Format::Har);
            let r = har::import_from(file, &mut |x| {
                report.exchanges += 1;
                sink(x)
            })?;
            report.read = r.imported + r.skipped.values().sum::<u64>();
            report.skipped = r.skipped;
            report.notes = r.notes;
            Ok(report)
        }
        Format::Saz => saz::import(std::fs::File::open(path)?, opts, 1, &mut sink, &progress),
        Format::Pcap | Format::PcapNg => {
            let file = std::io::BufReader::with_capacity(1 << 20, std::fs::File::open(path)?);
            pcap::import(file, size, opts, 1, &mut sink, &progress)
        }
    }
}

/// A file read that tells how far it got.
struct ProgressRead<'a, R> {
    inner: R,
    done: u64,
    total: u64,
    progress: &'a dyn Fn(u64, u64),
}

impl<R: std::io::Read> std::io::Read for ProgressRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        (self.progress)(self.done, self.total);
        Ok(n)
    }
}

/// Writes the capture at `capture` as a SAZ at `out` (the exchanges `keep` accepts,
/// each changed by `change`, e.g. redacted), streaming: the capture is read twice (once
/// to count, for Fiddler's number padding), never held whole; `change` runs once per
/// exchange written.
pub(super) fn export_saz(
    capture: &Path,
    out: &Path,
    keep: &dyn Fn(&Exchange) -> bool,
    change: &mut dyn FnMut(&mut Exchange),
) -> anyhow::Result<u64> {
    let open =
        || CaptureReader::open(capture).map_err(|e| anyhow::anyhow!("{}: {e}", capture.display()));
    let mut count = 0u64;
    let mut reader = open()?;
    while let Some(x) = reader.next_exchange()? {
        if keep(&x) {
            count += 1;
        }
    }
    super::print_capture_warnings(capture, &reader);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .with_context(|| format!("cannot create {} (it must not exist yet)", out.display()))?;
    let mut reader = open()?;
    let mut failed = None;
    let bar = super::progress::bar("exporting SAZ", count, false);
    let progress = |done: u64, total: u64| {
        bar.set_length(total);
        bar.set_position(done);
    };
    // The iterator borrows `failed` until the export is over.
    let n = {
        let mut iter = std::iter::from_fn(|| loop {
            match reader.next_exchange() {
                Ok(Some(mut x)) => {
                    if keep(&x) {
                        change(&mut x);
                        return Some(x);
                    }
                }
                Ok(None) => return None,
                Err(e) => {
                    failed = Some(e);
                    return None;
                }
            }
        });
        saz::export(file, count, &mut iter, &progress)
            .with_context(|| format!("cannot write {}", out.display()))?
    };
    bar.finish_and_clear();
    if let Some(e) = failed {
        return Err(anyhow::anyhow!("{}: {e}", capture.display()));
    }
    Ok(n)
}
