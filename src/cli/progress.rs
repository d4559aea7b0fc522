//! The one progress bar of the commands that read a whole file (`show`, `timeline`,
//! `check`, `diff`, `export`, `redact`, `import`): on stderr when stderr is a terminal,
//! nothing at all when it is piped or redirected (no bar, no escape sequences).
//!
//! [`CaptureInput`] is how those commands read a capture: one exchange at a time from the
//! capture reader (never the whole capture), the bar showing the bytes of the file read
//! and the exchanges per second, and the reader's warnings (lines it skipped, with their
//! numbers) printed on stderr once the bar is gone.

use std::fs::File;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::capture::CaptureReader;
use crate::model::Exchange;

/// How often (in exchanges) the exchanges-per-second figure is recomputed.
const RATE_EVERY: u64 = 512;

/// A progress bar on stderr for `what`, of `total` units (bytes when `bytes`), hidden
/// when stderr is not a terminal.
pub(super) fn bar(what: &str, total: u64, bytes: bool) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let template = if bytes {
        "{msg} [{bar:30}] {binary_bytes}/{binary_total_bytes} ({elapsed} elapsed, {eta} left)"
    } else {
        "{msg} [{bar:30}] {percent}% ({elapsed} elapsed, {eta} left)"
    };
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

/// A capture read by a command, exchange by exchange, with its progress bar.
pub(super) struct CaptureInput {
    path: PathBuf,
    reader: CaptureReader<File>,
    bar: ProgressBar,
    what: String,
    exchanges: u64,
    started: Instant,
}

impl CaptureInput {
    /// Opens the capture at `path`; `what` names the work on the bar ("exporting HAR").
    ///
    /// # Errors
    /// When the file cannot be opened or is not a capture; the error names the file.
    pub(super) fn open(path: &Path, what: &str) -> anyhow::Result<Self> {
        let reader = super::open_capture(path)?;
        Ok(Self::with_reader(path, reader, what))
    }

    /// Reads `reader` (opened by the caller, for its own error message) as
    /// [`open`](Self::open) does.
    pub(super) fn with_reader(path: &Path, reader: CaptureReader<File>, what: &str) -> Self {
        let size = std::fs::metadata(path).map_or(0, |m| m.len());
        Self {
            path: path.to_path_buf(),
            reader,
            bar: bar(what, size, true),
            what: what.to_owned(),
            exchanges: 0,
            started: Instant::now(),
        }
    }

    /// Draws the bar together with the other bars of `bars` (a command reading two
    /// captures); a hidden bar stays hidden.
    pub(super) fn drawn_in(mut self, bars: &indicatif::MultiProgress) -> Self {
        if !self.bar.is_hidden() {
            self.bar = bars.add(self.bar.clone());
        }
        self
    }

    /// The next exchange; `None` at the end. Lines that cannot be read are skipped by
    /// the reader and reported by [`finish`](Self::finish).
    ///
    /// # Errors
    /// When the file cannot be read; the error names the file.
    pub(super) fn next(&mut self) -> anyhow::Result<Option<Exchange>> {
        let x = self
            .reader
            .next_exchange()
            .map_err(|e| anyhow::anyhow!("{}: {e}", self.path.display()))?;
        if x.is_some() {
            self.exchanges += 1;
            if !self.bar.is_hidden() {
                self.bar.set_position(self.reader.offset());
                if self.exchanges % RATE_EVERY == 0 {
                    let secs = self.started.elapsed().as_secs_f64().max(1e-3);
                    self.bar.set_message(format!(
                        "{}: {} exchanges, {:.0}/s",
                        self.what,
                        self.exchanges,
                        self.exchanges as f64 / secs
                    ));
                }
            }
        }
        Ok(x)
    }

    /// The reader, for commands that report its warnings as they go (`diff`).
    pub(super) fn reader(&mut self) -> &mut CaptureReader<File> {
        &mut self.reader
    }

    /// Clears the bar and prints the reader's warnings (each skipped line with its
    /// number) on stderr; returns the number of exchanges read.
    pub(super) fn finish(self) -> u64 {
        self.bar.finish_and_clear();
        super::print_capture_warnings(&self.path, &self.reader);
        self.exchanges
    }
}

impl Drop for CaptureInput {
    /// A command that stops early (an error, a closed stdout) leaves no bar behind.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
