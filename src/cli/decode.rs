//! `synctap decode FILE|-`: decode one message body, sniffing its kind when not told.

use std::io::Read as _;
use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use serde::Serialize;

use super::versioned::{output_schema, Versioned};
use crate::decode::exchange::{decode_cells, sniff_body, BodyKind, CellExchange};
use crate::decode::pretty::{self, pretty_json};
use crate::decode::text::{escape_terminal, escape_terminal_lines};
use crate::decode::{content_encoding, fsshttp, fsshttpb, spfilesync, webdav, Diagnostic};

/// Arguments of `synctap decode`.
#[derive(Debug, Args)]
pub struct DecodeArgs {
    /// The body to decode (`-` for standard input).
    file: PathBuf,
    /// The body's Content-Type (needed for MTOM without its first boundary line, and to
    /// tell the dialect when sniffing cannot).
    #[arg(long, value_name = "CT")]
    content_type: Option<String>,
    /// Undo this Content-Encoding first (`gzip`, `deflate`, `br`, `zstd`, or a list such
    /// as `gzip, br` in the order the sender applied them). At most --decode-limit bytes
    /// are decoded.
    #[arg(long, value_name = "CODINGS")]
    content_encoding: Option<String>,
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

/// The JSON of `decode --json`: the message, and for SOAP/MTOM the decoded Cell payloads
/// (`cells`) exactly as `show --json` gives them.
#[derive(Serialize, schemars::JsonSchema)]
#[schemars(rename = "DecodeOutput")]
struct WithCells<'a> {
    #[serde(flatten)]
    decoded: &'a Decoded,
    #[serde(skip_serializing_if = "<[CellExchange]>::is_empty")]
    cells: &'a [CellExchange],
}

/// What the body was decoded as.
#[derive(Debug, Serialize, schemars::JsonSchema)]
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
    let mut coding_diags = Vec::new();
    let bytes = match args.content_encoding.as_deref() {
        None => bytes,
        Some(ce) => {
            let d = content_encoding::decode(Some(ce), &bytes, content_encoding::decode_limit());
            for x in &d.diagnostics {
                coding_diags.push(format!("content-encoding: {x}"));
            }
            d.bytes.into_owned()
        }
    };
    for d in &coding_diags {
        eprintln!("diagnostic: {}", escape_terminal(d));
    }
    let decoded = decode(&bytes, args)?;
    if args.fields {
        return print_fields(&bytes, &decoded, args.json);
    }
    let cells = cells(&decoded);
    let (tree, diagnostics, package) = describe(&decoded, &cells);
    let extracted = package
        .and_then(fsshttpb::extract_file)
        .or_else(|| extract_from_cells(&cells));
    if args.json {
        // Streamed: the JSON of a large message is never held whole in memory.
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        write_json(
            &mut w,
            &Versioned::new(WithCells {
                decoded: &decoded,
                cells: &cells,
            }),
        )?;
        std::io::Write::write_all(&mut w, b"\n")?;
        std::io::Write::flush(&mut w)?;
    } else {
        // The tree quotes values from the wire (attribute values, names).
        out!("{}", escape_terminal_lines(&tree));
        if !tree.ends_with('\n') {
            outln!();
        }
        for d in &diagnostics {
            outln!("diagnostic: {}", escape_terminal(&d.to_string()));
        }
    }
    if let Some(out) = &args.extract_file {
        let file = extracted.context("no file content (MS-FSSHTTPD) found in this message")?;
        std::fs::write(out, &file).with_context(|| format!("cannot write {}", out.display()))?;
        eprintln!("wrote {} ({} bytes)", out.display(), file.len());
    }
    Ok(i32::from(
        !diagnostics.is_empty() || !coding_diags.is_empty(),
    ))
}

fn decode(bytes: &[u8], args: &DecodeArgs) -> anyhow::Result<Decoded> {
    let Some(sniffed) = sniff_body(bytes, args.content_type.as_deref()) else {
        anyhow::bail!(
            "cannot tell what this is: not MS-FSSHTTPB, SOAP/MTOM, WebDAV or SPFileSync XML (give --content-type)"
        )
    };
    let ct = sniffed.content_type.as_deref();
    Ok(match sniffed.kind {
        BodyKind::Fsshttpb(fsshttpb::Kind::Request) if !args.response => {
            Decoded::FsshttpbRequest(Box::new(fsshttpb::decode_request(bytes)))
        }
        BodyKind::Fsshttpb(fsshttpb::Kind::Request | fsshttpb::Kind::Response) => {
            Decoded::FsshttpbResponse(Box::new(fsshttpb::decode_response(bytes, None)))
        }
        BodyKind::Fsshttpb(fsshttpb::Kind::Packaging | fsshttpb::Kind::RevisionStore) => {
            match fsshttpb::decode_packaging(bytes) {
                Ok(p) => Decoded::OneNotePackaging(Box::new(p)),
                Err(e) => anyhow::bail!("{e}"),
            }
        }
        BodyKind::Fsshttp { response } if args.response || (!args.request && response) => {
            Decoded::FsshttpResponse(Box::new(fsshttp::decode_response(ct, bytes, None)))
        }
        BodyKind::Fsshttp { .. } => {
            Decoded::FsshttpRequest(Box::new(fsshttp::decode_request(ct, bytes)))
        }
        BodyKind::WebDav => {
            let (body, diagnostics) = webdav::decode_body(bytes);
            Decoded::WebDav {
                body: body.map(Box::new),
                diagnostics,
            }
        }
        BodyKind::SpFileSync => {
            let (body, diagnostics) = spfilesync::decode_message(ct, bytes);
            Decoded::SpFileSync {
                body: body.map(Box::new),
                diagnostics,
            }
        }
    })
}

/// The Cell payloads (MS-FSSHTTPB) of a SOAP or MTOM message, decoded as `show` decodes
/// them ([`decode_cells`]).
fn cells(d: &Decoded) -> Vec<CellExchange> {
    match d {
        Decoded::FsshttpRequest(r) => decode_cells(Some(r), None).0,
        Decoded::FsshttpResponse(r) => decode_cells(None, Some(r)).0,
        _ => Vec::new(),
    }
}

fn describe<'d>(
    d: &'d Decoded,
    cells: &[CellExchange],
) -> (
    String,
    Vec<Diagnostic>,
    Option<&'d fsshttpb::DataElementPackage>,
) {
    match d {
        Decoded::FsshttpRequest(_) | Decoded::FsshttpResponse(_) => {
            let (req, resp) = match d {
                Decoded::FsshttpRequest(r) => (Some(&**r), None),
                Decoded::FsshttpResponse(r) => (None, Some(&**r)),
                _ => (None, None),
            };
            let mut tree = fsshttp::render_tree(req, resp);
            let mut diags = req
                .map(|r| &r.diagnostics)
                .or(resp.map(|r| &r.diagnostics))
                .cloned()
                .unwrap_or_default();
            for c in cells {
                if let Some(b) = &c.request {
                    tree.push_str(&indent(&fsshttpb::render_request_tree(b)));
                    diags.extend(b.diagnostics.iter().cloned());
                }
                if let Some(b) = &c.response {
                    tree.push_str(&indent(&fsshttpb::render_response_tree(b)));
                    diags.extend(b.diagnostics.iter().cloned());
                }
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
                all.push(FieldsPayload {
                    payload: heading.clone(),
                    same_as: Some((*first).to_owned()),
                    ..FieldsPayload::default()
                });
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
                all.push(FieldsPayload {
                    payload: heading.clone(),
                    error: Some(what),
                    ..FieldsPayload::default()
                });
            } else {
                outln!("{heading}\n  {what}");
            }
            continue;
        };
        any_diag |= !diags.is_empty();
        if json {
            all.push(FieldsPayload {
                payload: heading.clone(),
                fields: Some(fields),
                diagnostics: Some(diags),
                ..FieldsPayload::default()
            });
        } else {
            if !heading.is_empty() {
                outln!("{heading} (offsets from the payload's start)");
            }
            let listing = fsshttpb::render_fields(&fields, &diags, payload);
            out!("{}", escape_terminal_lines(&listing));
        }
    }
    if json {
        let v = if all.len() == 1 && payloads[0].0.is_empty() {
            FieldsOutput {
                one: Some(all.swap_remove(0)),
                payloads: None,
            }
        } else {
            FieldsOutput {
                one: None,
                payloads: Some(all),
            }
        };
        outln!("{}", serde_json::to_string_pretty(&Versioned::new(v))?);
    }
    Ok(i32::from(any_diag))
}

/// The file carried by the first Cell payload of a SOAP message that carries one.
fn extract_from_cells(cells: &[CellExchange]) -> Option<Vec<u8>> {
    cells.iter().find_map(|c| {
        let package = match (&c.request, &c.response) {
            (Some(q), _) => q.data_element_package.as_ref(),
            (None, Some(r)) => r.data_element_package.as_ref(),
            (None, None) => None,
        };
        fsshttpb::extract_file(package?)
    })
}

/// One payload of `decode --fields --json`: its fields, or what it is instead.
#[derive(Serialize, Default, schemars::JsonSchema)]
struct FieldsPayload {
    /// Which Cell payload (empty for a bare MS-FSSHTTPB body).
    payload: String,
    /// Every field, in byte order.
    #[serde(skip_serializing_if = "Option::is_none")]
    fields: Option<Vec<fsshttpb::Field>>,
    /// What could not be decoded.
    #[serde(skip_serializing_if = "Option::is_none")]
    diagnostics: Option<Vec<Diagnostic>>,
    /// The payload this one repeats (the same MIME part).
    #[serde(skip_serializing_if = "Option::is_none")]
    same_as: Option<String>,
    /// Why the payload has no fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// The document of `decode --fields --json`: one payload's fields at the top level for a
/// bare MS-FSSHTTPB body, `payloads` for the Cell payloads of a SOAP message.
#[derive(Serialize, schemars::JsonSchema)]
struct FieldsOutput {
    /// A bare MS-FSSHTTPB body.
    #[serde(flatten)]
    one: Option<FieldsPayload>,
    /// The Cell payloads of a SOAP message, one entry each.
    #[serde(skip_serializing_if = "Option::is_none")]
    payloads: Option<Vec<FieldsPayload>>,
}

/// The JSON Schema of `decode --json`.
pub(super) fn json_schema() -> schemars::Schema {
    output_schema::<Versioned<WithCells<'static>>>()
}

/// The JSON Schema of `decode --fields --json`.
pub(super) fn fields_json_schema() -> schemars::Schema {
    output_schema::<Versioned<FieldsOutput>>()
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
