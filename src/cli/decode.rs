//! `synctap decode FILE|-`: decode one message body, sniffing its kind when not told.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use crate::decode::pretty::{self, pretty_json};
use crate::decode::{fsshttp, fsshttpb, spfilesync, webdav, Diagnostic};

/// Arguments of `synctap decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The body to decode (`-` for standard input).
    file: PathBuf,
    /// The body's Content-Type (needed for MTOM without its first boundary line, and to
    /// tell the dialect when sniffing cannot).
    #[arg(long, value_name = "CT")]
    content_type: Option<String>,
    /// Decode as a request.
    #[arg(long, conflicts_with = "response")]
    request: bool,
    /// Decode as a response.
    #[arg(long)]
    response: bool,
    /// Print JSON instead of the tree.
    #[arg(long)]
    json: bool,
    /// Reassemble the file carried by an MS-FSSHTTPB data element package (MS-FSSHTTPD)
    /// and write it here.
    #[arg(long, value_name = "OUT")]
    extract_file: Option<PathBuf>,
    /// List every byte of the MS-FSSHTTPB message (or of each Cell payload of a SOAP
    /// message) with the field it belongs to: offset, bytes, field name and value,
    /// indented by stream object nesting. With --json, a JSON array of fields.
    #[arg(long)]
    fields: bool,
}

/// What the body was decoded as.
#[derive(Debug, Serialize)]
#[serde(tag = "kind", content = "message")]
enum Decoded {
    FsshttpRequest(Box<fsshttp::RequestEnvelope>),
    FsshttpResponse(Box<fsshttp::ResponseEnvelope>),
    FsshttpbRequest(Box<fsshttpb::FsshttpbRequest>),
    FsshttpbResponse(Box<fsshttpb::FsshttpbResponse>),
    OneNotePackaging(Box<fsshttpb::PackagedFile>),
    WebDav {
        body: Option<Box<webdav::DavBody>>,
        diagnostics: Vec<Diagnostic>,
    },
    SpFileSync {
        body: Option<Box<spfilesync::SyncBody>>,
        diagnostics: Vec<Diagnostic>,
    },
}

pub(super) fn run(args: &DecodeArgs) -> anyhow::Result<i32> {
    let bytes = if args.file.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .context("cannot read standard input")?;
        v
    } else {
        std::fs::read(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?
    };
    let decoded = decode(&bytes, args)?;
    if args.fields {
        return print_fields(&bytes, &decoded, args.json);
    }
    let (tree, diagnostics, package) = describe(&decoded);
    let extracted = package
        .and_then(fsshttpb::extract_file)
        .or_else(|| extract_from_soap(&decoded));
    if args.json {
        // Streamed: the JSON of a large message is never held whole in memory.
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        write_json(&mut w, &decoded)?;
        std::io::Write::write_all(&mut w, b"\n")?;
        std::io::Write::flush(&mut w)?;
    } else {
        out!("{tree}");
        if !tree.ends_with('\n') {
            outln!();
        }
        for d in &diagnostics {
            outln!("diagnostic: {d}");
        }
    }
    if let Some(out) = &args.extract_file {
        let file = extracted.context("no file content (MS-FSSHTTPD) found in this message")?;
        std::fs::write(out, &file).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("wrote {} ({} bytes)", out.display(), file.len());
    }
    Ok(i32::from(!diagnostics.is_empty()))
}

fn decode(bytes: &[u8], args: &DecodeArgs) -> anyhow::Result<Decoded> {
    if let Some(kind) = fsshttpb::sniff(bytes) {
        return match kind {
            fsshttpb::Kind::Request if !args.response => Ok(Decoded::FsshttpbRequest(Box::new(
                fsshttpb::decode_request(bytes),
            ))),
            fsshttpb::Kind::Request | fsshttpb::Kind::Response => Ok(Decoded::FsshttpbResponse(
                Box::new(fsshttpb::decode_response(bytes, None)),
            )),
            fsshttpb::Kind::Packaging | fsshttpb::Kind::RevisionStore => {
                match fsshttpb::decode_packaging(bytes) {
                    Ok(p) => Ok(Decoded::OneNotePackaging(Box::new(p))),
                    Err(e) => Err(anyhow::anyhow!("{e}")),
                }
            }
        };
    }
    let ct = args.content_type.clone().or_else(|| sniff_multipart(bytes));
    let head = &bytes[..bytes.len().min(64 << 10)];
    let has = |needle: &[u8]| memchr::memmem::find(head, needle).is_some();
    let is_soap = has(b"RequestCollection")
        || has(b"ResponseCollection")
        || has(b"RequestEnvelope")
        || has(b"ResponseEnvelope")
        || has(b"schemas.xmlsoap.org/soap/envelope");
    if is_soap
        || ct
            .as_deref()
            .is_some_and(|c| c.contains("multipart/related"))
    {
        let response = args.response
            || (!args.request && (has(b"ResponseEnvelope") || has(b"ResponseCollection")));
        return Ok(if response {
            Decoded::FsshttpResponse(Box::new(fsshttp::decode_response(
                ct.as_deref(),
                bytes,
                None,
            )))
        } else {
            Decoded::FsshttpRequest(Box::new(fsshttp::decode_request(ct.as_deref(), bytes)))
        });
    }
    let dav = has(b"DAV:") || has(b"xmlns:D=") || has(b"multistatus");
    if dav {
        let (body, diagnostics) = webdav::decode_body(bytes);
        return Ok(Decoded::WebDav {
            body: body.map(Box::new),
            diagnostics,
        });
    }
    if head.contains(&b'<') {
        let (body, diagnostics) = spfilesync::decode_xml(bytes);
        return Ok(Decoded::SpFileSync {
            body: body.map(Box::new),
            diagnostics,
        });
    }
    anyhow::bail!(
        "cannot tell what this is: not MS-FSSHTTPB, SOAP/MTOM, WebDAV or SPFileSync XML (give --content-type)"
    )
}

/// A Content-Type for a body that starts with its MIME boundary line.
fn sniff_multipart(bytes: &[u8]) -> Option<String> {
    let rest = bytes.strip_prefix(b"--")?;
    let end = memchr::memchr(b'\n', rest)?;
    let boundary = std::str::from_utf8(&rest[..end])
        .ok()?
        .trim_end_matches('\r');
    (!boundary.is_empty() && boundary.len() <= 200).then(|| {
        format!("multipart/related; type=\"application/xop+xml\"; boundary=\"{boundary}\"; start-info=\"text/xml\"")
    })
}

fn describe(
    d: &Decoded,
) -> (
    String,
    Vec<Diagnostic>,
    Option<&fsshttpb::DataElementPackage>,
) {
    match d {
        Decoded::FsshttpRequest(r) => {
            let mut tree = fsshttp::render_tree(Some(r), None);
            let mut diags = r.diagnostics.clone();
            let mut seen = Vec::new();
            for (t, p) in r.cell_payloads() {
                if let Some(first) = p.repeats(&mut seen, p.heading("SubRequest", t)) {
                    tree.push_str(&indent(&format!("(the same MIME part as {first})")));
                    continue;
                }
                let b = fsshttpb::decode_request(&p.bytes);
                tree.push_str(&indent(&fsshttpb::render_request_tree(&b)));
                diags.extend(b.diagnostics.iter().cloned());
            }
            (tree, diags, None)
        }
        Decoded::FsshttpResponse(r) => {
            let mut tree = fsshttp::render_tree(None, Some(r));
            let mut diags = r.diagnostics.clone();
            let mut seen = Vec::new();
            for (t, p) in r.cell_payloads() {
                if let Some(first) = p.repeats(&mut seen, p.heading("SubResponse", t)) {
                    tree.push_str(&indent(&format!("(the same MIME part as {first})")));
                    continue;
                }
                let b = fsshttpb::decode_response(&p.bytes, None);
                tree.push_str(&indent(&fsshttpb::render_response_tree(&b)));
                diags.extend(b.diagnostics.iter().cloned());
            }
            (tree, diags, None)
        }
        Decoded::FsshttpbRequest(r) => (
            fsshttpb::render_request_tree(r),
            r.diagnostics.clone(),
            r.data_element_package.as_ref(),
        ),
        Decoded::FsshttpbResponse(r) => (
            fsshttpb::render_response_tree(r),
            r.diagnostics.clone(),
            r.data_element_package.as_ref(),
        ),
        Decoded::OneNotePackaging(p) => (
            fsshttpb::render_package_tree(&p.data_element_package),
            p.diagnostics.clone(),
            Some(&p.data_element_package),
        ),
        Decoded::WebDav { body, diagnostics } => (pretty_json(body), diagnostics.clone(), None),
        Decoded::SpFileSync { body, diagnostics } => (pretty_json(body), diagnostics.clone(), None),
    }
}

/// `--fields`: the byte map of the message, or of each Cell payload of a SOAP message.
fn print_fields(bytes: &[u8], decoded: &Decoded, json: bool) -> anyhow::Result<i32> {
    // (heading, payload) pairs.
    let payloads: Vec<(String, &[u8])> = match decoded {
        Decoded::FsshttpRequest(r) => r
            .cell_payloads()
            .map(|(t, p)| (p.heading("SubRequest", t), &p.bytes[..]))
            .collect(),
        Decoded::FsshttpResponse(r) => r
            .cell_payloads()
            .map(|(t, p)| (p.heading("SubResponse", t), &p.bytes[..]))
            .collect(),
        Decoded::FsshttpbRequest(_)
        | Decoded::FsshttpbResponse(_)
        | Decoded::OneNotePackaging(_) => {
            vec![(String::new(), bytes)]
        }
        Decoded::WebDav { .. } | Decoded::SpFileSync { .. } => {
            anyhow::bail!("--fields lists MS-FSSHTTPB messages; this body is XML")
        }
    };
    if payloads.is_empty() {
        anyhow::bail!("this SOAP message carries no Cell payload (MS-FSSHTTPB) to list");
    }
    let mut all = Vec::new();
    let mut any_diag = false;
    let mut seen: Vec<(&[u8], &str)> = Vec::new();
    for (heading, payload) in &payloads {
        // A MIME part included again is listed once.
        let first = seen
            .iter()
            .find(|(b, _)| std::ptr::eq(*b, *payload) && !payload.is_empty());
        if let Some((_, first)) = first {
            if json {
                all.push(serde_json::json!({ "payload": heading, "same_as": first }));
            } else {
                outln!("{heading}\n  (the same MIME part as {first})");
            }
            continue;
        }
        seen.push((payload, heading));
        let Some((fields, diags)) = fsshttpb::fields(payload) else {
            let what = format!(
                "not an MS-FSSHTTPB message or packaging file ({} bytes)",
                payload.len()
            );
            if payloads.len() == 1 && heading.is_empty() {
                anyhow::bail!("{what}");
            }
            any_diag = true;
            if json {
                all.push(serde_json::json!({ "payload": heading, "error": what }));
            } else {
                outln!("{heading}\n  {what}");
            }
            continue;
        };
        any_diag |= !diags.is_empty();
        if json {
            all.push(
                serde_json::json!({ "payload": heading, "fields": fields, "diagnostics": diags }),
            );
        } else {
            if !heading.is_empty() {
                outln!("{heading} (offsets from the payload's start)");
            }
            out!("{}", fsshttpb::render_fields(&fields, &diags, payload));
        }
    }
    if json {
        let v = if all.len() == 1 && payloads[0].0.is_empty() {
            all.swap_remove(0)
        } else {
            serde_json::Value::Array(all)
        };
        outln!("{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(i32::from(any_diag))
}

/// The file carried by the first Cell payload of a SOAP message that carries one.
fn extract_from_soap(d: &Decoded) -> Option<Vec<u8>> {
    match d {
        Decoded::FsshttpRequest(r) => r.cell_payloads().find_map(|(_, p)| {
            let b = fsshttpb::decode_request(&p.bytes);
            fsshttpb::extract_file(b.data_element_package.as_ref()?)
        }),
        Decoded::FsshttpResponse(r) => r.cell_payloads().find_map(|(_, p)| {
            let b = fsshttpb::decode_response(&p.bytes, None);
            fsshttpb::extract_file(b.data_element_package.as_ref()?)
        }),
        _ => None,
    }
}

fn indent(s: &str) -> String {
    s.lines().map(|l| format!("    {l}\n")).collect()
}

/// Writes `v` as pretty JSON with capped indentation; a write error (a closed stdout)
/// comes back as the `std::io::Error` it was.
fn write_json(w: &mut impl std::io::Write, v: &impl Serialize) -> anyhow::Result<()> {
    pretty::write_json(w, v).map_err(|e| match e.io_error_kind() {
        Some(kind) => anyhow::Error::from(std::io::Error::from(kind)),
        None => e.into(),
    })
}
