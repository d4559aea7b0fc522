//! The command line: argument parsing and one module per subcommand, wiring the layers.
//!
//! `main` parses [`Opts`], calls [`run`] and turns the result into an exit code; tests call
//! [`run`] in process. Errors are printed once, by `main`, with their causes.

/// `println!` for command output: a closed stdout (`synctap show … | head`) becomes an
/// error that `main` turns into a quiet exit instead of a panic.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*)?
    }};
}

/// `print!` for command output; see [`outln!`].
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($t)*)?
    }};
}

mod ca;
mod decode;
pub mod demo;
mod diff;
mod har;
mod import;
mod mock;
mod parquet;
mod progress;
mod proxy;
mod replay;
pub mod schema;
mod serve;
mod show;
mod timeline;
mod ui;
mod versioned;

use std::fs::File;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::capture::CaptureReader;
use crate::model::Exchange;
use proxy::parse_size;

/// synctap: an intercepting debug proxy and inspector for Office file-sync traffic
/// (MS-FSSHTTP cell storage, MS-FSSHTTPB, SharePoint SPFileSync, WebDAV).
///
/// Exit codes: 0 success; 1 the command ran and found a problem (diagnostics, findings,
/// differences); 2 it could not run (bad arguments, unreadable files, network errors).
#[derive(Debug, Parser)]
#[command(name = "synctap", version, about, long_about = None, max_term_width = 100)]
pub struct Opts {
    /// Folder holding synctap's CA (synctap-ca.pem, synctap-ca.key).
    #[arg(long, global = true, default_value = "certs", env = "SYNCTAP_CERTS")]
    pub certs: PathBuf,
    /// The most bytes a compressed body (Content-Encoding gzip, deflate, br, zstd) is
    /// decoded to when synctap reads it; past it, a diagnostic and the part decoded so far.
    /// The capture always keeps the bytes as sent. Default 256MiB.
    #[arg(long, global = true, value_name = "BYTES", default_value = "256MiB", value_parser = parse_size)]
    pub decode_limit: u64,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage synctap's certificate authority (the CA clients must trust).
    Ca(ca::CaArgs),
    /// Run the intercepting proxy (forward by default, reverse with --reverse).
    Proxy(proxy::ProxyArgs),
    /// List the exchanges of a capture, one line each (or JSON lines).
    Show(show::ShowArgs),
    /// Decode one message body (SOAP/MTOM, bare FSSHTTPB, OneNote packaging, WebDAV or
    /// SPFileSync XML), sniffing the kind when not told. Exit 1 when there are diagnostics.
    Decode(decode::DecodeArgs),
    /// Export a capture as HAR 1.2 or as a Fiddler SAZ (optionally redacted), for
    /// browsers, Fiddler, Charles.
    Export(har::ExportArgs),
    /// Import a HAR, Fiddler SAZ, pcap or pcapng file into a capture, and report what
    /// was read, skipped and why.
    Import(import::ImportArgs),
    /// Write a copy of a capture with credentials replaced by stable placeholders.
    Redact(har::RedactArgs),
    /// Run the reference server (MS-FSSHTTP cell storage: locks, coauthoring, Cell
    /// download and upload) for tests, demos and client experiments.
    Serve(serve::ServeArgs),
    /// Run the built-in server and the proxy in process, drive scripted clients through
    /// a coauthoring story, then print the decoded capture.
    Demo(demo::DemoArgs),
    /// Lock and coauthoring spans per file and holder (ClientID, ExclusiveLockID, WebDAV
    /// lock token), with expiries, CoauthStatus changes, failed requests and findings.
    Timeline(timeline::TimelineArgs),
    /// Protocol findings: server answers that contradict the lock and coauthoring rules,
    /// unjoined subresponses, undecodable messages. Exit 1 when any is error-level.
    Check(timeline::CheckArgs),
    /// Re-send a capture's requests to another server (per-client order kept, server-minted
    /// values remapped), record the new exchanges and compare each response semantically
    /// with the recorded one. Exit 0 same, 1 differences, 2 could not run.
    Replay(replay::ReplayArgs),
    /// Compare two recordings of the same scenario (A and B) by meaning: exchanges
    /// aligned per client and file in operation order, ids paired first-seen, the
    /// timelines side by side where they diverge. Exit 0 same, 1 differences, 2 could not
    /// compare.
    Diff(diff::DiffArgs),
    /// Serve a capture's recorded responses to matching requests (cell storage by URL and
    /// subrequest sequence, SPFileSync by operation and query, else method, path and body).
    Mock(mock::MockArgs),
    /// Print the JSON Schema (2020-12) of a command's --json output: show, decode,
    /// fields (decode --fields), timeline, check, replay.
    Schema(schema::SchemaArgs),
    /// The terminal UI over a capture (exchanges, lock timeline, findings), following
    /// the file while it grows.
    Ui(ui::UiArgs),
}

/// Whether log lines may carry ANSI colours: only when stderr is a terminal, and never
/// when `NO_COLOR` is set to a non-empty value (<https://no-color.org>). Files, pipes and
/// CI logs get plain text.
pub fn log_colours(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// Runs the command; returns the process exit code.
///
/// # Errors
/// Whatever kept the command from running; `main` prints it and exits with 2.
pub fn run(opts: Opts) -> anyhow::Result<i32> {
    crate::decode::content_encoding::set_decode_limit(
        usize::try_from(opts.decode_limit).unwrap_or(usize::MAX),
    );
    match opts.command {
        Command::Ca(a) => ca::run(&opts.certs, &a),
        Command::Proxy(a) => proxy::run(&opts.certs, a),
        Command::Show(a) => show::run(&a),
        Command::Decode(a) => decode::run(&a),
        Command::Export(a) => har::export(&a),
        Command::Import(a) => import::import(&a),
        Command::Redact(a) => har::redact(&a),
        Command::Serve(a) => serve::run(&opts.certs, &a),
        Command::Demo(a) => demo::run(&opts.certs, &a),
        Command::Timeline(a) => timeline::run_timeline(&a),
        Command::Check(a) => timeline::run_check(&a),
        Command::Replay(a) => replay::run(&a),
        Command::Diff(a) => diff::run(&a),
        Command::Mock(a) => mock::run(&opts.certs, &a),
        Command::Schema(a) => schema::run(&a),
        Command::Ui(a) => ui::run(&a),
    }
}

/// Opens the capture at `path` for a command; the error names the file.
fn open_capture(path: &Path) -> anyhow::Result<CaptureReader<File>> {
    CaptureReader::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// Prints what the reader skipped or noticed (bad lines, duplicate ids, contradicting
/// lengths) on stderr, one `synctap: warning:` line each, naming the file.
fn print_capture_warnings(path: &Path, reader: &CaptureReader<File>) {
    for w in reader.warnings() {
        eprintln!("synctap: warning: {}: {w}", path.display());
    }
    let more = reader.warnings_dropped();
    if more > 0 {
        eprintln!("synctap: warning: {}: {more} more warnings", path.display());
    }
}

/// Reads every exchange of the capture at `path`, printing the reader's warnings.
fn read_capture(path: &Path) -> Result<Vec<Exchange>, crate::capture::ReadError> {
    let mut reader = CaptureReader::open(path)?;
    let mut out = Vec::new();
    while let Some(x) = reader.next_exchange()? {
        out.push(x);
    }
    print_capture_warnings(path, &reader);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::ffi::OsStr;

    #[test]
    fn log_colours_only_on_a_terminal_without_no_color() {
        assert!(super::log_colours(true, None));
        assert!(super::log_colours(true, Some(OsStr::new(""))));
        assert!(!super::log_colours(true, Some(OsStr::new("1"))));
        assert!(!super::log_colours(false, None));
        assert!(!super::log_colours(false, Some(OsStr::new("1"))));
    }
}
