//! Fiddler's Session Archive Zip (`.saz`), in and out.
//!
//! A SAZ is a ZIP holding `[Content_Types].xml`, an `_index.htm` listing, and per session
//! `raw/NNN_c.txt` (the request as sent: request line, header fields, blank line, body),
//! `raw/NNN_s.txt` (the response, bytes as on the wire, possibly chunked or compressed)
//! and `raw/NNN_m.xml` (`<Session SID BitFlags>` with `<SessionTimers .../>`,
//! `<PipeInfo/>`, `<TunnelInfo/>` for tunnels and `<SessionFlags><SessionFlag N V/>`).
//!
//! Import reads sessions in number order and streams one exchange per session to a sink:
//! timers become timings, session flags are kept (the process name of `x-processinfo`
//! too), proxy-form request lines give the URL, CONNECT sessions become tunnels, a
//! session without `_s.txt` becomes an exchange with an error, one without `_m.xml` still
//! imports. Chunked bodies are stored unchunked (as synctap's own captures store them),
//! compressed ones as they came. Member names are only matched against the `raw/NNN_x`
//! pattern, never used as paths; each member is read through a cap (a zip bomb stops at
//! [`MAX_MEMBER_BYTES`]); a truncated archive (no central directory) is read member by
//! member from its local headers. Export writes what Fiddler Classic and Fiddler
//! Everywhere open, with synctap's own metadata in a session flag so that export then
//! import gives the same exchanges.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom, Write};

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::http1::{self, BodyDecoder, BodyStore, Framing, Head};
use super::import::{
    authority_with_port, Format, ImportError, ImportOptions, ImportReport, Progress, Sink,
};
use crate::model::{
    Body, Exchange, ExchangeKind, Headers, Imported, ProxyMode, Request, Response, Timings,
    TlsInfo, TunnelInfo,
};

/// Most decompressed bytes read from one member; past it the member is cut (a zip bomb
/// or a body far over any body limit).
pub const MAX_MEMBER_BYTES: u64 = 1 << 30;
/// Most bytes of an `_m.xml` read.
pub const MAX_METADATA_BYTES: u64 = 1 << 20;
/// Most decompressed bytes read from a whole archive; past it the import stops, with
/// the sessions not read counted as skipped.
pub const MAX_ARCHIVE_BYTES: u64 = 64 << 30;
/// The session flag that carries synctap's metadata of an exported exchange.
pub const SYNCTAP_FLAG: &str = "x-synctap-exchange";
/// Fiddler's `BitFlags`: the session was HTTPS.
const BIT_HTTPS: u32 = 0x1;
/// Fiddler's `BitFlags`: imported from another tool.
const BIT_IMPORTED: u32 = 0x400;
/// Fiddler's `BitFlags`: a blind (not decrypted) CONNECT tunnel.
const BIT_BLIND_TUNNEL: u32 = 0x1000;

/// Which file of a session a member is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Part {
    Client,
    Server,
    Meta,
}

/// Where a member's bytes are: an entry of the central directory, or a local header at
/// a file offset (archives whose central directory is missing).
#[derive(Debug, Clone, Copy)]
enum Member {
    Index(usize),
    Local(u64),
}

#[derive(Debug, Default)]
struct Session {
    client: Option<(String, Member)>,
    server: Option<(String, Member)>,
    meta: Option<(String, Member)>,
}

/// `raw/NNN_c.txt`, `raw/NNN_s.txt`, `raw/NNN_m.xml` (either slash); anything else is
/// not part of a session.
fn member_session(name: &str) -> Option<(u64, Part)> {
    let rest = name
        .strip_prefix("raw/")
        .or_else(|| name.strip_prefix("raw\\"))?;
    let (num, suffix) = rest.split_once('_')?;
    if num.is_empty() || num.len() > 12 || !num.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let part = match suffix {
        "c.txt" => Part::Client,
        "s.txt" => Part::Server,
        "m.xml" => Part::Meta,
        _ => return None,
    };
    Some((num.parse().ok()?, part))
}

/// A reader that counts what it read (file offsets of local headers).
struct Counting<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

/// The archive being imported.
struct Archive {
    zip: Option<ZipArchive<BufReader<File>>>,
    file: Option<BufReader<File>>,
}

impl Archive {
    /// Runs `f` over the member's decompressed bytes.
    fn with_member<T>(
        &mut self,
        m: Member,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, String> {
        match m {
            Member::Index(i) => {
                let zip = self.zip.as_mut().ok_or("no central directory")?;
                let mut file = zip.by_index(i).map_err(|e| e.to_string())?;
                Ok(f(&mut file))
            }
            Member::Local(at) => {
                let file = self.file.as_mut().ok_or("archive not open")?;
                file.seek(SeekFrom::Start(at)).map_err(|e| e.to_string())?;
                match zip::read::read_zipfile_from_stream(file) {
                    Ok(Some(mut z)) => Ok(f(&mut z)),
                    Ok(None) => Err("no local header at its offset".into()),
                    Err(e) => Err(e.to_string()),
                }
            }
        }
    }
}

/// Reads a SAZ archive, streaming one exchange per session to `sink` in session-number
/// order, numbering them from `first_id`.
///
/// # Errors
/// When the file is not a ZIP, is password-protected, or the sink fails. Damaged
/// sessions and members are counted in the report instead.
pub fn import(
    file: File,
    opts: &ImportOptions,
    first_id: u64,
    sink: &mut Sink<'_>,
    progress: &Progress<'_>,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::new(Format::Saz);
    let (mut archive, sessions) = open(file, &mut report)?;
    let total = sessions.len() as u64;
    let mut budget_left = MAX_ARCHIVE_BYTES;
    let mut conns: BTreeMap<String, u64> = BTreeMap::new();
    let mut id = first_id;
    for (i, (number, s)) in sessions.into_iter().enumerate() {
        progress(i as u64, total);
        report.read += 1;
        if budget_left == 0 {
            report.skip(format!(
                "archive over {} GiB decompressed (zip bomb?): the rest not read",
                MAX_ARCHIVE_BYTES >> 30
            ));
            continue;
        }
        let mut x = read_session(
            &mut archive,
            number,
            &s,
            opts,
            &mut budget_left,
            &mut report,
            &mut conns,
        );
        x.id = id;
        id += 1;
        report.exchanges += 1;
        sink(x)?;
    }
    progress(total, total);
    Ok(report)
}

/// Opens the archive and indexes its sessions by number.
fn open(
    file: File,
    report: &mut ImportReport,
) -> Result<(Archive, BTreeMap<u64, Session>), ImportError> {
    let mut sessions: BTreeMap<u64, Session> = BTreeMap::new();
    let mut add = |name: &str, m: Member, report: &mut ImportReport| match member_session(name) {
        Some((n, part)) => {
            let s = sessions.entry(n).or_default();
            let slot = match part {
                Part::Client => &mut s.client,
                Part::Server => &mut s.server,
                Part::Meta => &mut s.meta,
            };
            if slot.is_some() {
                report.problem(format!("duplicate member {name}: the first one is used"));
            } else {
                *slot = Some((name.to_owned(), m));
            }
        }
        None if name == "[Content_Types].xml" || name == "_index.htm" || name.ends_with('/') => {}
        None => report.note(format!("member {name} is not part of a session; ignored")),
    };
    let mut probe = BufReader::new(file.try_clone()?);
    let mut magic = [0u8; 4];
    let got = read_full(&mut probe, &mut magic)?;
    if got < 4 || !(magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06") {
        return Err(ImportError::NotThisFormat {
            format: "SAZ (ZIP)",
            reason: "it does not start with a ZIP local file header".into(),
        });
    }
    match ZipArchive::new(BufReader::new(file.try_clone()?)) {
        Ok(mut zip) => {
            for i in 0..zip.len() {
                let f = match zip.by_index_raw(i) {
                    Ok(f) => f,
                    Err(e) => {
                        report.problem(format!("unreadable ZIP entry: {e}"));
                        continue;
                    }
                };
                let name = f.name().to_owned();
                if f.encrypted() {
                    return Err(ImportError::Encrypted {
                        member: escape(&name),
                    });
                }
                drop(f);
                add(&name, Member::Index(i), report);
            }
            Ok((
                Archive {
                    zip: Some(zip),
                    file: None,
                },
                sessions,
            ))
        }
        Err(e) => {
            report.problem(format!(
                "the ZIP central directory cannot be read ({e}): the archive is truncated or damaged; members were read from their local headers"
            ));
            // The clones share one file position, which the failed attempt moved.
            (&file).seek(SeekFrom::Start(0))?;
            let mut r = Counting {
                inner: BufReader::new(file.try_clone()?),
                pos: 0,
            };
            loop {
                let at = r.pos;
                let entry = match zip::read::read_zipfile_from_stream(&mut r) {
                    Ok(Some(z)) => z,
                    Ok(None) => break,
                    Err(e) => {
                        if at < file.metadata().map(|m| m.len()).unwrap_or(0) {
                            report.problem(format!(
                                "the archive ends or is damaged at byte {at} ({e}); what follows was not read"
                            ));
                        }
                        break;
                    }
                };
                let name = entry.name().to_owned();
                if entry.encrypted() {
                    return Err(ImportError::Encrypted {
                        member: escape(&name),
                    });
                }
                // Reading it to its end positions the reader at the next header.
                let mut entry = entry;
                let mut limited = (&mut entry).take(MAX_MEMBER_BYTES);
                let copied = std::io::copy(&mut limited, &mut std::io::sink());
                drop(entry);
                add(&name, Member::Local(at), report);
                if copied.is_err() {
                    break;
                }
            }
            Ok((
                Archive {
                    zip: None,
                    file: Some(BufReader::new(file)),
                },
                sessions,
            ))
        }
    }
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn escape(s: &str) -> String {
    crate::decode::text::escape_terminal(s).into_owned()
}

/// What `_m.xml` said.
#[derive(Debug, Default)]
struct Meta {
    bit_flags: Option<u32>,
    timers: BTreeMap<String, String>,
    flags: Vec<(String, String)>,
    tunnel: Option<TunnelInfo>,
}

impl Meta {
    fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn parse_meta(bytes: &[u8], name: &str, report: &mut ImportReport) -> Meta {
    let mut meta = Meta::default();
    let text = match std::str::from_utf8(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)) {
        Ok(t) => t,
        Err(e) => {
            report.problem("session metadata (_m.xml) not UTF-8: timers and flags lost");
            let _ = (e, name);
            return meta;
        }
    };
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 100_000,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = match roxmltree::Document::parse_with_options(text, opts) {
        Ok(d) => d,
        Err(e) => {
            let _ = e;
            report
                .problem("session metadata (_m.xml) is not well-formed XML: timers and flags lost");
            return meta;
        }
    };
    let root = doc.root_element();
    if root.tag_name().name() != "Session" {
        report.problem("session metadata (_m.xml) has no <Session> root: timers and flags lost");
        return meta;
    }
    if let Some(b) = root.attribute("BitFlags") {
        match u32::from_str_radix(b.trim(), 16) {
            Ok(v) => meta.bit_flags = Some(v),
            Err(_) => report.problem("session metadata with an unreadable BitFlags"),
        }
    }
    for child in root.children().filter(roxmltree::Node::is_element) {
        match child.tag_name().name() {
            "SessionTimers" => {
                for a in child.attributes() {
                    meta.timers
                        .insert(a.name().to_owned(), a.value().to_owned());
                }
            }
            "TunnelInfo" => {
                let n = |a: &str| {
                    child
                        .attribute(a)
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0)
                };
                meta.tunnel = Some(TunnelInfo {
                    bytes_up: n("BytesEgress"),
                    bytes_down: n("BytesIngress"),
                });
            }
            "SessionFlags" => {
                for f in child.children().filter(|c| c.has_tag_name("SessionFlag")) {
                    if let Some(n) = f.attribute("N") {
                        meta.flags
                            .push((n.to_owned(), f.attribute("V").unwrap_or("").to_owned()));
                    }
                }
            }
            _ => {}
        }
    }
    meta
}

/// A parsed message of a session.
struct Message {
    head: Head,
    body: Body,
}

/// Reads a `_c.txt` or `_s.txt` member: the head, then the body with chunked framing
/// removed, through the caps.
fn read_message(
    r: &mut dyn Read,
    request: bool,
    opts: &ImportOptions,
    budget_left: &mut u64,
    problems: &mut Vec<String>,
) -> Option<Message> {
    let mut buf = vec![0u8; 64 << 10];
    let mut head_bytes: Vec<u8> = Vec::new();
    let mut state: Option<(Head, BodyDecoder, BodyStore, Option<u64>)> = None;
    let mut raw_after_error = false;
    let mut total = 0u64;
    let mut store_budget = u64::MAX;
    let mut damaged = false;
    loop {
        let cap = MAX_MEMBER_BYTES.min(*budget_left).saturating_sub(total);
        if cap == 0 {
            problems.push(format!(
                "member over {} MiB decompressed (zip bomb?): the rest was not read",
                MAX_MEMBER_BYTES.min(total.max(1)) >> 20
            ));
            damaged = true;
            break;
        }
        let want = buf.len().min(usize::try_from(cap).unwrap_or(usize::MAX));
        let n = match r.read(&mut buf[..want]) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                problems.push(format!("member damaged after {total} bytes ({e})"));
                damaged = true;
                break;
            }
        };
        total += n as u64;
        *budget_left = budget_left.saturating_sub(n as u64);
        let mut piece = &buf[..n];
        if state.is_none() {
            head_bytes.extend_from_slice(piece);
            let Some((end, body_at)) = http1::find_head_end(&head_bytes) else {
                if head_bytes.len() > http1::MAX_HEAD {
                    problems.push(format!("message head over {} KiB", http1::MAX_HEAD >> 10));
                    return None;
                }
                continue;
            };
            let head = parse_head(&head_bytes[..end], request, problems)?;
            let framing = if http1::says_chunked(&head.headers) && body_allowed(&head, request) {
                Framing::Chunked
            } else {
                Framing::UntilClose
            };
            let declared = http1::declared_length(&head.headers);
            let rest = head_bytes.split_off(body_at);
            state = Some((
                head,
                BodyDecoder::new(framing),
                BodyStore::new(opts.body_limit),
                declared,
            ));
            head_bytes = rest;
            piece = &[];
        }
        let Some((_, dec, store, _)) = state.as_mut() else {
            continue;
        };
        for input in [std::mem::take(&mut head_bytes).as_slice(), piece] {
            feed(
                dec,
                store,
                input,
                &mut raw_after_error,
                &mut store_budget,
                problems,
            );
        }
    }
    let (head, dec, store, declared) = match state {
        Some(s) => s,
        None => {
            // No blank line after the head: the whole member is the head.
            let head = parse_head(trim_eol(&head_bytes), request, problems)?;
            (
                head,
                BodyDecoder::new(Framing::Empty),
                BodyStore::new(opts.body_limit),
                None,
            )
        }
    };
    let mut complete = !damaged && (dec.is_done() || dec.ends_at_close() || raw_after_error);
    if !dec.is_done() && !dec.ends_at_close() && !raw_after_error && !damaged {
        problems.push("chunked body ends before its last chunk".into());
        complete = false;
    }
    if let (Some(n), Framing::UntilClose) = (declared, Framing::UntilClose) {
        if store.len() < n && !http1::says_chunked(&head.headers) && body_allowed(&head, request) {
            problems.push(format!(
                "body shorter than its Content-Length ({} of {n} bytes)",
                store.len()
            ));
            complete = false;
        }
    }
    Some(Message {
        head,
        body: store.finish(complete),
    })
}

fn trim_eol(b: &[u8]) -> &[u8] {
    let mut b = b;
    while let Some(rest) = b.strip_suffix(b"\n").or_else(|| b.strip_suffix(b"\r")) {
        b = rest;
    }
    b
}

fn parse_head(bytes: &[u8], request: bool, problems: &mut Vec<String>) -> Option<Head> {
    let head = if request {
        http1::parse_request_head(bytes)
    } else {
        http1::parse_response_head(bytes)
    };
    match head {
        Ok(h) => {
            problems.extend(h.problems.iter().cloned());
            Some(h)
        }
        Err(e) => {
            problems.push(e);
            None
        }
    }
}

fn body_allowed(head: &Head, request: bool) -> bool {
    request
        || head
            .status()
            .is_some_and(|s| s >= 200 && s != 204 && s != 304)
}

/// Feeds framed bytes; after broken chunking, the rest is kept as it was stored.
fn feed(
    dec: &mut BodyDecoder,
    store: &mut BodyStore,
    input: &[u8],
    raw: &mut bool,
    budget: &mut u64,
    problems: &mut Vec<String>,
) {
    if input.is_empty() {
        return;
    }
    if *raw {
        store.push(input, budget);
        return;
    }
    match dec.feed(input, &mut |b| store.push(b, budget)) {
        Ok(n) if n < input.len() => {
            // Bytes after the last chunk: keep them rather than lose them.
            problems.push(format!(
                "{} bytes after the end of the chunked body kept",
                input.len() - n
            ));
            *raw = true;
            store.push(&input[n..], budget);
        }
        Ok(_) => {}
        Err(e) => {
            problems.push(format!(
                "chunked framing broken ({e}); the rest kept as stored"
            ));
            *raw = true;
            let used = usize::try_from(e.offset.saturating_sub(dec.offset()))
                .unwrap_or(0)
                .min(input.len());
            store.push(&input[used..], budget);
        }
    }
}

/// Builds the exchange of one session (an exchange with an error when its members are
/// missing or unreadable: a session is never dropped).
fn read_session(
    archive: &mut Archive,
    number: u64,
    s: &Session,
    opts: &ImportOptions,
    budget_left: &mut u64,
    report: &mut ImportReport,
    conns: &mut BTreeMap<String, u64>,
) -> Exchange {
    let mut problems: Vec<String> = Vec::new();
    let meta = match &s.meta {
        Some((name, m)) => {
            let bytes = archive.with_member(*m, |r| {
                let mut v = Vec::new();
                let res = r.take(MAX_METADATA_BYTES).read_to_end(&mut v);
                (v, res.err())
            });
            match bytes {
                Ok((v, None)) => parse_meta(&v, name, report),
                Ok((v, Some(e))) => {
                    problems.push(format!("metadata member damaged ({e})"));
                    parse_meta(&v, name, report)
                }
                Err(e) => {
                    problems.push(format!("metadata member unreadable ({e})"));
                    Meta::default()
                }
            }
        }
        None => {
            report.note("sessions without _m.xml (no timers or flags)");
            Meta::default()
        }
    };
    let read = |archive: &mut Archive,
                part: &Option<(String, Member)>,
                request: bool,
                budget_left: &mut u64,
                problems: &mut Vec<String>|
     -> Option<Message> {
        let (_, m) = part.as_ref()?;
        match archive.with_member(*m, |r| {
            read_message(r, request, opts, budget_left, problems)
        }) {
            Ok(msg) => msg,
            Err(e) => {
                problems.push(format!("member unreadable ({e})"));
                None
            }
        }
    };
    let req = read(archive, &s.client, true, budget_left, &mut problems);
    let resp = read(archive, &s.server, false, budget_left, &mut problems);
    for p in &problems {
        report.problem(p.clone());
    }
    build(number, meta, req, resp, s, &problems, conns, report)
}

#[allow(clippy::too_many_arguments)]
fn build(
    number: u64,
    meta: Meta,
    req: Option<Message>,
    resp: Option<Message>,
    s: &Session,
    problems: &[String],
    conns: &mut BTreeMap<String, u64>,
    report: &mut ImportReport,
) -> Exchange {
    let https = meta.bit_flags.is_some_and(|b| b & BIT_HTTPS != 0);
    let client_addr = match (meta.flag("x-clientip"), meta.flag("x-clientport")) {
        (Some(ip), Some(port)) if ip.contains(':') => format!("[{ip}]:{port}"),
        (Some(ip), Some(port)) => format!("{ip}:{port}"),
        (Some(ip), None) => ip.to_owned(),
        _ => String::new(),
    };
    let timings = timings(&meta.timers, report);
    let mut error = None;
    let (kind, request, server, http_version, tunnel) = match &req {
        Some(m) if m.head.first.eq_ignore_ascii_case("CONNECT") => {
            report.note("CONNECT sessions recorded as tunnels");
            let server = m.head.second.clone();
            (
                ExchangeKind::Tunnel,
                None,
                server,
                m.head.third.clone(),
                Some(meta.tunnel.unwrap_or_default()),
            )
        }
        Some(m) => {
            let url = url_of(&m.head, https);
            let server = authority_with_port(&url);
            let request = Request {
                method: m.head.first.clone(),
                url,
                headers: m.head.headers.clone(),
                body: m.body.clone(),
            };
            (
                ExchangeKind::Http,
                Some(request),
                server,
                m.head.third.clone(),
                None,
            )
        }
        None => {
            if s.client.is_none() {
                report.problem("sessions without a request (_c.txt missing)");
                error = Some(format!(
                    "session {number} has no request (raw/{number}_c.txt missing)"
                ));
            } else {
                error = Some(format!("session {number}: the request could not be read"));
            }
            (
                ExchangeKind::Http,
                None,
                String::new(),
                "HTTP/1.1".to_owned(),
                None,
            )
        }
    };
    let response = match (&resp, kind) {
        (_, ExchangeKind::Tunnel) => None,
        (Some(m), _) => Some(Response {
            status: m.head.status().unwrap_or(0),
            reason: m.head.third.clone(),
            headers: m.head.headers.clone(),
            body: m.body.clone(),
        }),
        (None, _) => {
            if request.is_some() && error.is_none() {
                if s.server.is_none() {
                    report.note("sessions without a response (aborted: _s.txt missing)");
                    error = Some(
                        "no response: the session was aborted (no _s.txt in the archive)".into(),
                    );
                } else {
                    error = Some("the response could not be read".into());
                }
            }
            None
        }
    };
    if error.is_none() && !problems.is_empty() {
        error = Some(format!("imported with problems: {}", problems.join("; ")));
    }
    let connection_id = if client_addr.is_empty() || client_addr.ends_with(":0") {
        number
    } else {
        let next = conns.len() as u64 + 1;
        *conns.entry(client_addr.clone()).or_insert(next)
    };
    let process = meta.flag("x-processinfo").map(str::to_owned);
    let mut flags = meta.flags.clone();
    let synctap = flags
        .iter()
        .position(|(n, _)| n == SYNCTAP_FLAG)
        .map(|i| flags.remove(i).1);
    let mut x = Exchange {
        id: 0,
        kind,
        connection_id,
        client_addr,
        mode: ProxyMode::Other,
        tls: meta.flag("https-client-sni").map(|sni| TlsInfo {
            sni: Some(sni.to_owned()),
            ..TlsInfo::default()
        }),
        server,
        http_version,
        request,
        response,
        tunnel,
        timings,
        error,
        imported: Some(Imported {
            format: "saz".into(),
            number: Some(number),
            process,
            flags,
        }),
    };
    if let Some(json) = synctap {
        restore(&mut x, &json, report);
    }
    x
}

/// An exchange synctap exported: its own metadata replaces what the SAZ fields gave,
/// and the bodies read from the members keep their bytes.
fn restore(x: &mut Exchange, json: &str, report: &mut ImportReport) {
    let Ok(mut meta) = serde_json::from_str::<Exchange>(json) else {
        report.problem(format!(
            "{SYNCTAP_FLAG} flag unreadable; the SAZ fields were used"
        ));
        return;
    };
    let take = |into: Option<&mut Body>, from: Option<&Body>| {
        if let (Some(into), Some(from)) = (into, from) {
            into.stored = from.bytes.len() as u64;
            into.bytes = from.bytes.clone();
            into.chunked = false;
        }
    };
    take(
        meta.request.as_mut().map(|r| &mut r.body),
        x.request.as_ref().map(|r| &r.body),
    );
    take(
        meta.response.as_mut().map(|r| &mut r.body),
        x.response.as_ref().map(|r| &r.body),
    );
    meta.id = x.id;
    *x = meta;
}

/// The URL of a request: proxy form as written; origin form from `Host`.
fn url_of(head: &Head, https: bool) -> String {
    let target = head.second.as_str();
    let lower = target.get(..8).unwrap_or(target).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return target.to_owned();
    }
    let host = head.headers.get("host").unwrap_or("");
    let scheme = if https || host.ends_with(":443") {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}{target}")
}

/// Fiddler timers to timings: `start` is `ClientBeginRequest` (or `ClientConnected`).
fn timings(t: &BTreeMap<String, String>, report: &mut ImportReport) -> Timings {
    let mut bad = false;
    let mut at = |name: &str| -> Option<OffsetDateTime> {
        let v = t.get(name)?;
        match parse_time(v) {
            Ok(t) => t,
            Err(()) => {
                bad = true;
                None
            }
        }
    };
    let begin = at("ClientBeginRequest").or_else(|| at("ClientConnected"));
    let sent = at("ServerGotRequest").or_else(|| at("ClientDoneRequest"));
    let first = at("ServerBeginResponse").or_else(|| at("GotResponseHeaders"));
    let done = at("ClientDoneResponse").or_else(|| at("ServerDoneResponse"));
    if bad {
        report.problem("session timers that are not dates were ignored");
    }
    let ms_attr = |name: &str| {
        t.get(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| *v > 0.0)
    };
    let Some(start) = begin else {
        return Timings {
            start: "1970-01-01T00:00:00Z".into(),
            ..Timings::default()
        };
    };
    let after = |t: Option<OffsetDateTime>| {
        t.map(|t| (t - start).as_seconds_f64() * 1000.0)
            .filter(|ms| *ms >= 0.0)
    };
    Timings {
        start: crate::util::rfc3339(start.to_offset(UtcOffset::UTC)),
        connect_ms: ms_attr("TCPConnectTime"),
        tls_ms: ms_attr("HTTPSHandshakeTime"),
        request_sent_ms: after(sent),
        first_response_byte_ms: after(first),
        done_ms: after(done),
    }
}

/// `2018-03-31T12:43:33.0112985+09:00` (fraction and offset optional; `Z` allowed).
/// `Ok(None)` for .NET's "no value" (year 1).
fn parse_time(s: &str) -> Result<Option<OffsetDateTime>, ()> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<u32, ()> {
        let part = s.get(r).ok_or(())?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(());
        }
        part.parse().map_err(|_| ())
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(());
    }
    let year = num(0..4)?;
    if year < 1900 {
        return Ok(None);
    }
    let month = Month::try_from(u8::try_from(num(5..7)?).map_err(|_| ())?).map_err(|_| ())?;
    let date = Date::from_calendar_date(
        i32::try_from(year).map_err(|_| ())?,
        month,
        u8::try_from(num(8..10)?).map_err(|_| ())?,
    )
    .map_err(|_| ())?;
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    let time = Time::from_hms_nano(
        u8::try_from(h).map_err(|_| ())?,
        u8::try_from(m).map_err(|_| ())?,
        u8::try_from(sec).map_err(|_| ())?,
        nanos,
    )
    .map_err(|_| ())?;
    let offset = match &s[i..] {
        "" | "Z" | "z" => UtcOffset::UTC,
        rest => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1i8,
                b'-' => -1,
                _ => return Err(()),
            };
            let hh = i8::try_from(num(i + 1..i + 3)?).map_err(|_| ())?;
            let mm = if rest.len() >= 6 {
                i8::try_from(num(i + 4..i + 6)?).map_err(|_| ())?
            } else {
                0
            };
            UtcOffset::from_hms(sign * hh, sign * mm, 0).map_err(|_| ())?
        }
    };
    Ok(Some(
        PrimitiveDateTime::new(date, time).assume_offset(offset),
    ))
}

/// A timer as Fiddler writes it: local time with 7 fractional digits and an offset (UTC
/// here).
fn format_time(t: Option<OffsetDateTime>) -> String {
    match t {
        None => "0001-01-01T00:00:00".into(),
        Some(t) => {
            let t = t.to_offset(UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}+00:00",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.nanosecond() / 100
            )
        }
    }
}

/// Writes a SAZ: `[Content_Types].xml`, then `raw/NNN_c.txt`, `raw/NNN_m.xml` and
/// `raw/NNN_s.txt` per exchange (numbers padded to the width of `count`, plus one, as
/// Fiddler does), then `_index.htm`. Exchanges without a request (errors before any
/// request) are written as sessions with only `_m.xml` and their error as a comment.
///
/// # Errors
/// When the file cannot be written.
pub fn export(
    out: File,
    count: u64,
    exchanges: &mut dyn Iterator<Item = Exchange>,
    progress: &Progress<'_>,
) -> std::io::Result<u64> {
    let mut zip = ZipWriter::new(out);
    let width = count.max(1).to_string().len() + 1;
    let deflate = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(false);
    let zerr = |e: zip::result::ZipError| std::io::Error::other(e.to_string());
    zip.start_file("[Content_Types].xml", deflate)
        .map_err(zerr)?;
    zip.write_all(CONTENT_TYPES.as_bytes())?;
    let mut index = String::from(INDEX_HEAD);
    let mut n = 0u64;
    for x in exchanges {
        n += 1;
        progress(n, count);
        let num = format!("{n:0width$}");
        let big = |len: usize| deflate.large_file(len as u64 >= u64::from(u32::MAX) - (64 << 10));
        let client = client_bytes(&x);
        if let Some(c) = &client {
            zip.start_file(format!("raw/{num}_c.txt"), big(c.len()))
                .map_err(zerr)?;
            zip.write_all(c)?;
        }
        zip.start_file(format!("raw/{num}_m.xml"), deflate)
            .map_err(zerr)?;
        zip.write_all(meta_xml(n, &x).as_bytes())?;
        let server = server_bytes(&x);
        if let Some(s) = &server {
            zip.start_file(format!("raw/{num}_s.txt"), big(s.len()))
                .map_err(zerr)?;
            zip.write_all(s)?;
        }
        index_row(&mut index, &num, &x, client.is_some(), server.is_some());
    }
    index.push_str("</tbody></table></body></html>");
    zip.start_file("_index.htm", deflate).map_err(zerr)?;
    zip.write_all(index.as_bytes())?;
    zip.finish().map_err(zerr)?;
    Ok(n)
}

const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\r\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\r\n<Default Extension=\"htm\" ContentType=\"text/html\" />\r\n<Default Extension=\"xml\" ContentType=\"application/xml\" />\r\n<Default Extension=\"txt\" ContentType=\"text/plain\" />\r\n</Types>";

const INDEX_HEAD: &str = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><title>Sessions exported by synctap</title></head><body><table><thead><tr><th>&nbsp;</th><th>#</th><th>Result</th><th>Protocol</th><th>Host</th><th>URL</th><th>Body</th><th>Caching</th><th>Content-Type</th><th>Process</th><th>Comments</th><th>Custom</th></tr></thead><tbody>\r\n";

fn head_line(out: &mut Vec<u8>, line: &str, headers: &Headers) {
    out.extend_from_slice(&crate::util::from_latin1(line));
    out.extend_from_slice(b"\r\n");
    for (n, v) in &headers.0 {
        out.extend_from_slice(&crate::util::from_latin1(n));
        out.extend_from_slice(b": ");
        out.extend_from_slice(&crate::util::from_latin1(v));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn body_bytes(out: &mut Vec<u8>, headers: &Headers, body: &Body) {
    if http1::says_chunked(headers) {
        http1::chunk(&body.bytes, out);
    } else {
        out.extend_from_slice(&body.bytes);
    }
}

fn client_bytes(x: &Exchange) -> Option<Vec<u8>> {
    let version = if x.http_version.starts_with("HTTP/1") {
        x.http_version.as_str()
    } else {
        "HTTP/1.1"
    };
    if x.kind == ExchangeKind::Tunnel {
        let mut out = Vec::new();
        let line = format!("CONNECT {} {version}", x.server);
        head_line(
            &mut out,
            &line,
            &Headers(vec![("Host".into(), x.server.clone())]),
        );
        return Some(out);
    }
    let r = x.request.as_ref()?;
    let mut out = Vec::with_capacity(r.body.bytes.len() + 1024);
    // Proxy form, as Fiddler writes: the full URL on the request line.
    head_line(
        &mut out,
        &format!("{} {} {version}", r.method, r.url),
        &r.headers,
    );
    body_bytes(&mut out, &r.headers, &r.body);
    Some(out)
}

fn server_bytes(x: &Exchange) -> Option<Vec<u8>> {
    if x.kind == ExchangeKind::Tunnel {
        let mut out = Vec::new();
        head_line(
            &mut out,
            "HTTP/1.1 200 Connection Established",
            &Headers(vec![("FiddlerGateway".into(), "Direct".into())]),
        );
        return Some(out);
    }
    let r = x.response.as_ref()?;
    let version = if x.http_version.starts_with("HTTP/1") {
        x.http_version.as_str()
    } else {
        "HTTP/1.1"
    };
    let mut out = Vec::with_capacity(r.body.bytes.len() + 1024);
    let line = if r.reason.is_empty() {
        format!("{version} {}", r.status)
    } else {
        format!("{version} {} {}", r.status, r.reason)
    };
    head_line(&mut out, &line, &r.headers);
    body_bytes(&mut out, &r.headers, &r.body);
    Some(out)
}

fn xml_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push_str(&format!("&#x{:x};", u32::from(c))),
            // Not allowed in XML 1.0 at all, even as references.
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn meta_xml(n: u64, x: &Exchange) -> String {
    let start = parse_time(&x.timings.start).ok().flatten();
    let at = |ms: Option<f64>| {
        let (Some(s), Some(ms)) = (start, ms) else {
            return None;
        };
        Some(s + time::Duration::seconds_f64(ms / 1000.0))
    };
    let t = &x.timings;
    let https = x
        .request
        .as_ref()
        .is_some_and(|r| r.url.len() >= 8 && r.url[..8].eq_ignore_ascii_case("https://"));
    let mut bits = BIT_IMPORTED;
    if https {
        bits |= BIT_HTTPS;
    }
    if x.kind == ExchangeKind::Tunnel {
        bits |= BIT_BLIND_TUNNEL;
    }
    let mut flags: Vec<(String, String)> = Vec::new();
    if let Some((ip, port)) = x.client_addr.rsplit_once(':') {
        flags.push(("x-clientip".into(), ip.trim_matches(['[', ']']).to_owned()));
        flags.push(("x-clientport".into(), port.to_owned()));
    }
    if let Some(sni) = x.tls.as_ref().and_then(|t| t.sni.as_ref()) {
        flags.push(("https-client-sni".into(), sni.clone()));
    }
    if let Some(e) = &x.error {
        flags.push(("ui-comments".into(), e.clone()));
    }
    if let Some(imp) = &x.imported {
        for (k, v) in &imp.flags {
            if !flags.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)) {
                flags.push((k.clone(), v.clone()));
            }
        }
        if let Some(p) = &imp.process {
            if !flags
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("x-processinfo"))
            {
                flags.push(("x-processinfo".into(), p.clone()));
            }
        }
    }
    let mut meta = x.clone();
    for body in [
        meta.request.as_mut().map(|r| &mut r.body),
        meta.response.as_mut().map(|r| &mut r.body),
    ]
    .into_iter()
    .flatten()
    {
        body.bytes.clear();
        body.chunked = false;
    }
    flags.push((
        SYNCTAP_FLAG.into(),
        serde_json::to_string(&meta).unwrap_or_default(),
    ));
    let begin = format_time(start);
    let sent = format_time(at(t.request_sent_ms));
    let first = format_time(at(t.first_response_byte_ms));
    let done = format_time(at(t.done_ms));
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Session SID=\"{n}\" BitFlags=\"{bits:x}\">\r\n  <SessionTimers ClientConnected=\"{begin}\" ClientBeginRequest=\"{begin}\" GotRequestHeaders=\"{begin}\" ClientDoneRequest=\"{sent}\" GatewayTime=\"0\" DNSTime=\"0\" TCPConnectTime=\"{}\" HTTPSHandshakeTime=\"{}\" ServerConnected=\"{begin}\" FiddlerBeginRequest=\"{begin}\" ServerGotRequest=\"{sent}\" ServerBeginResponse=\"{first}\" GotResponseHeaders=\"{first}\" ServerDoneResponse=\"{done}\" ClientBeginResponse=\"{first}\" ClientDoneResponse=\"{done}\" />\r\n",
        t.connect_ms.map_or(0, |v| v.round() as i64),
        t.tls_ms.map_or(0, |v| v.round() as i64),
    );
    s.push_str("  <PipeInfo />\r\n");
    if let Some(tun) = x.tunnel {
        s.push_str(&format!(
            "  <TunnelInfo BytesEgress=\"{}\" BytesIngress=\"{}\" />\r\n",
            tun.bytes_up, tun.bytes_down
        ));
    }
    s.push_str("  <SessionFlags>\r\n");
    for (k, v) in &flags {
        s.push_str(&format!(
            "    <SessionFlag N=\"{}\" V=\"{}\" />\r\n",
            xml_attr(k),
            xml_attr(v)
        ));
    }
    s.push_str("  </SessionFlags>\r\n</Session>");
    s
}

fn html(s: &str) -> String {
    xml_attr(s).replace('\'', "&#39;")
}

fn index_row(index: &mut String, num: &str, x: &Exchange, c: bool, s: bool) {
    let mut links = String::new();
    if c {
        links.push_str(&format!("<a href='raw\\{num}_c.txt'>C</a>&nbsp;"));
    }
    if s {
        links.push_str(&format!("<a href='raw\\{num}_s.txt'>S</a>&nbsp;"));
    }
    links.push_str(&format!("<a href='raw\\{num}_m.xml'>M</a>"));
    let (proto, host, url) = match &x.request {
        Some(r) => {
            let (scheme, rest) = r.url.split_once("://").unwrap_or(("http", &r.url));
            let (host, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
            (
                scheme.to_ascii_uppercase(),
                host.to_owned(),
                path.to_owned(),
            )
        }
        None => ("HTTP".into(), "Tunnel to".into(), x.server.clone()),
    };
    let (result, body, ctype, caching) = match &x.response {
        Some(r) => (
            r.status.to_string(),
            r.body.len.to_string(),
            r.headers.get("content-type").unwrap_or("").to_owned(),
            r.headers.get("cache-control").unwrap_or("").to_owned(),
        ),
        None if x.kind == ExchangeKind::Tunnel => {
            ("200".into(), "0".into(), String::new(), String::new())
        }
        None => ("-".into(), "-1".into(), String::new(), String::new()),
    };
    let process = x
        .imported
        .as_ref()
        .and_then(|i| i.process.clone())
        .unwrap_or_default();
    let comment = x.error.clone().unwrap_or_default();
    let num_plain = num.trim_start_matches('0');
    index.push_str(&format!(
        "<tr><td>{links}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td></td></tr>\r\n",
        if num_plain.is_empty() { "0" } else { num_plain },
        html(&result),
        html(&proto),
        html(&host),
        html(&url),
        html(&body),
        html(&caching),
        html(&ctype),
        html(&process),
        html(&comment),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_match_only_the_session_pattern() {
        assert_eq!(member_session("raw/001_c.txt"), Some((1, Part::Client)));
        assert_eq!(member_session("raw\\12_m.xml"), Some((12, Part::Meta)));
        assert_eq!(member_session("raw/../../etc/1_c.txt"), None);
        assert_eq!(member_session("/raw/1_c.txt"), None);
        assert_eq!(member_session("raw/1_x.txt"), None);
        assert_eq!(member_session("raw/99999999999999_c.txt"), None);
    }

    #[test]
    fn timers_parse_with_offsets_and_fractions() {
        let t = parse_time("2018-03-31T12:43:33.0112985+09:00")
            .expect("ok")
            .expect("some");
        assert_eq!(
            crate::util::rfc3339(t.to_offset(UtcOffset::UTC)),
            "2018-03-31T03:43:33.0112985Z"
        );
        assert_eq!(parse_time("0001-01-01T00:00:00"), Ok(None));
        assert!(parse_time("not-a-time").is_err());
        assert!(parse_time("2018-13-31T12:43:33").is_err());
        let t = parse_time("2026-01-02T10:00:00Z").expect("ok");
        assert_eq!(format_time(t), "2026-01-02T10:00:00.0000000+00:00");
    }

    #[test]
    fn flag_values_are_escaped_for_xml() {
        assert_eq!(xml_attr("a<\"&\u{1}\n"), "a&lt;&quot;&amp;\u{fffd}&#xa;");
    }
}
