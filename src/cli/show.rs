//! `synctap show CAPTURE`: one line per exchange, or one JSON object per exchange.

use std::borrow::Cow;
use std::io::Write as _;
use std::path::PathBuf;

use clap::Args;

use crate::decode::exchange::{decode_recorded, DecodedExchange, Protocol};
use crate::decode::text::escape_terminal;
use crate::model::{Exchange, ExchangeKind};

/// Arguments of `synctap show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The capture file.
    capture: PathBuf,
    /// One JSON object per exchange (JSON lines) instead of text.
    #[arg(long)]
    json: bool,
    /// Only exchanges matching this filter expression, e.g.
    /// `~p FSSHTTP & ~e FileAlreadyLockedOnServer`. Filters: ~m METHOD, ~u URL-REGEX,
    /// ~c STATUS (423 or 4xx), ~p PROTOCOL, ~t SUBREQUEST-TYPE, ~e ERRORCODE, ~client ID,
    /// ~file URL-REGEX, ~b BODY-REGEX; combine with &, |, ! and parentheses.
    #[arg(long, value_name = "EXPR")]
    filter: Option<String>,
    /// Only the exchange with this id.
    #[arg(long, value_name = "N")]
    id: Option<u64>,
    /// Export the exchange `--id` names to reproduce it elsewhere: `curl` prints a curl
    /// command and writes the request body to `synctap-exchange-N.body` in `--out`;
    /// `raw` writes the request and response as HTTP/1.1 bytes; `har` a one-entry HAR.
    #[arg(
        long = "as",
        value_name = "FORMAT",
        requires = "id",
        conflicts_with = "json"
    )]
    as_: Option<ExportFormat>,
    /// Directory for the body file of `--as curl` (default: the current directory).
    #[arg(long, value_name = "DIR", requires = "as_")]
    out: Option<PathBuf>,
}

/// The export formats of `show --as`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ExportFormat {
    /// A curl command; the request body goes to a file beside it.
    Curl,
    /// The request and response as HTTP/1.1 bytes.
    Raw,
    /// A HAR 1.2 document with one entry.
    Har,
}

pub(super) fn run(args: &ShowArgs) -> anyhow::Result<i32> {
    let filter = args
        .filter
        .as_deref()
        .map(crate::filter::Filter::parse)
        .transpose()?;
    let mut input = super::progress::CaptureInput::open(&args.capture, "reading")?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    while let Some(x) = input.next()? {
        if args.id.is_some_and(|id| id != x.id) {
            continue;
        }
        let decoded = decode_recorded(&x);
        if filter.as_ref().is_some_and(|f| !f.matches(&x, &decoded)) {
            continue;
        }
        if let Some(format) = args.as_ {
            let dir = args.out.clone().unwrap_or_else(|| PathBuf::from("."));
            let text = export(&x, &decoded, format, &dir)?;
            out.write_all(&text)?;
            out.flush()?;
            let _ = input.finish();
            return Ok(0);
        }
        if args.json {
            let line = super::schema::ShowLine {
                exchange: &x,
                decoded: &decoded,
            };
            serde_json::to_writer(&mut out, &super::schema::Versioned::new(line))?;
            writeln!(out)?;
        } else {
            writeln!(out, "{}", line(&x, &decoded))?;
        }
    }
    out.flush()?;
    let n = input.finish();
    if let (Some(id), Some(_)) = (args.id, args.as_) {
        anyhow::bail!("{} holds no exchange {id}", args.capture.display());
    }
    if n == 0 && !args.json {
        eprintln!("synctap: {} holds no exchanges", args.capture.display());
    }
    Ok(0)
}

/// Exports one exchange as `format`; for curl, writes the request body into `dir`
/// (named by the exchange id) and returns the command. Raw bytes printed to a terminal
/// have their control characters escaped.
pub(crate) fn export(
    x: &Exchange,
    decoded: &DecodedExchange,
    format: ExportFormat,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<u8>> {
    use crate::capture::reproduce;
    Ok(match format {
        ExportFormat::Curl => {
            let path = dir.join(reproduce::body_file_name(x.id));
            let (cmd, body) = reproduce::curl(x, &path.to_string_lossy())?;
            if let Some(body) = body {
                std::fs::write(&path, body).map_err(|e| {
                    anyhow::anyhow!("cannot write the body file {}: {e}", path.display())
                })?;
            }
            cmd.into_bytes()
        }
        ExportFormat::Raw => {
            let bytes = reproduce::raw(x)?;
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                eprintln!("synctap: stdout is a terminal: control characters escaped; redirect to a file for the exact bytes");
                crate::decode::text::escape_terminal_lines(&String::from_utf8_lossy(&bytes))
                    .into_owned()
                    .into_bytes()
            } else {
                bytes
            }
        }
        ExportFormat::Har => reproduce::har(x, decoded)?,
    })
}

/// The one-line text form of an exchange, with its decoded summary. Text from the wire
/// (URL, ClientID, summary, error) has its control characters escaped.
pub(crate) fn line(x: &Exchange, d: &DecodedExchange) -> String {
    let s = raw_line(x, d);
    match escape_terminal(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(escaped) => escaped,
    }
}

fn raw_line(x: &Exchange, d: &DecodedExchange) -> String {
    // The client column shows the ClientID (first 8 characters) when the exchange names
    // one, else the connection.
    let time = x
        .timings
        .start
        .get(11..23)
        .unwrap_or(x.timings.start.as_str());
    let client = d.client_id().map_or_else(
        || format!("c{}", x.connection_id),
        |id| id.trim_matches(['{', '}']).chars().take(8).collect(),
    );
    // The client process an imported archive named (Fiddler's x-processinfo), which
    // tells Word from OneDrive from the browser.
    let client = match x.imported.as_ref().and_then(|i| i.process.as_deref()) {
        Some(p) => format!("{client} [{p}]"),
        None => client,
    };
    let dur = x
        .timings
        .done_ms
        .map_or_else(|| "-".to_owned(), |d| format!("{d:.0}ms"));
    if x.kind == ExchangeKind::Tunnel {
        let t = x.tunnel.unwrap_or_default();
        let mut s = format!(
            "{time} {client:<5} TUNNEL {} {} ↑{} ↓{} {dur}",
            x.server,
            x.http_version,
            size(t.bytes_up),
            size(t.bytes_down)
        );
        if let Some(e) = &x.error {
            s.push_str(&format!("  ERROR {e}"));
        }
        return s;
    }
    let (method, url, req_len) = x.request.as_ref().map_or(("-", "-", 0), |r| {
        (r.method.as_str(), r.url.as_str(), r.body.len)
    });
    let (status, resp_len) = x.response.as_ref().map_or(("---".to_owned(), 0), |r| {
        (r.status.to_string(), r.body.len)
    });
    let proto = d.protocol().name();
    let mut s = format!(
        "{time} {client:<5} {proto:<10} {method} {url} {status} {}/{} {dur}",
        size(req_len),
        size(resp_len)
    );
    if d.protocol() != Protocol::Http && !d.summary.is_empty() {
        s.push_str("  ");
        s.push_str(&d.summary.join(" | "));
    }
    if !d.diagnostics.is_empty() {
        s.push_str(&format!("  [{} diagnostics]", d.diagnostics.len()));
    }
    let truncated = x.request.as_ref().is_some_and(|r| r.body.truncated)
        || x.response.as_ref().is_some_and(|r| r.body.truncated);
    if truncated {
        s.push_str(" [truncated]");
    }
    if let Some(m) = &x.modified {
        let rules: Vec<String> = m.rules.iter().map(|r| r.index.to_string()).collect();
        s.push_str(&format!(" [modified by rule {}]", rules.join(",")));
    }
    if let Some(e) = &x.error {
        s.push_str(&format!("  ERROR {e}"));
    }
    s
}

fn size(n: u64) -> String {
    if n < 1024 {
        format!("{n}B")
    } else {
        bytesize::ByteSize(n).display().iec_short().to_string()
    }
}
