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

mod export;
mod meta;
mod zipdir;
mod zipwrite;

pub use export::export;
use meta::*;
use zipwrite::ZipOut;

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

/// Where a member's bytes are: its central directory record (at a file offset), or a
/// local header at a file offset (archives whose central directory is missing).
#[derive(Debug, Clone, Copy)]
enum Member {
    Central(u64),
    Local(u64),
}

#[derive(Debug, Default)]
struct Session {
    client: Option<(String, Member)>,
    server: Option<(String, Member)>,
    meta: Option<(String, Member)>,
}

/// How a session member's name is spelled, so it is not kept: `raw/` or `raw\`, and the
/// digits of its number (with leading zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameForm {
    backslash: bool,
    digits: u8,
}

/// One session member in the index: all an import keeps per member until its session
/// is read (32 bytes, whatever the archive holds).
#[derive(Debug, Clone, Copy)]
struct Slot {
    number: u64,
    member: Member,
    part: Part,
    form: NameForm,
}

impl Slot {
    /// The member's name, as the archive spells it.
    fn name(&self) -> String {
        let suffix = match self.part {
            Part::Client => "c.txt",
            Part::Server => "s.txt",
            Part::Meta => "m.xml",
        };
        format!(
            "raw{}{:0width$}_{suffix}",
            if self.form.backslash { '\\' } else { '/' },
            self.number,
            width = usize::from(self.form.digits)
        )
    }
}

/// `raw/NNN_c.txt`, `raw/NNN_s.txt`, `raw/NNN_m.xml` (either slash) with how the name
/// is spelled; anything else is not part of a session.
fn member_slot(name: &str) -> Option<(u64, Part, NameForm)> {
    let (rest, backslash) = match name.strip_prefix("raw/") {
        Some(r) => (r, false),
        None => (name.strip_prefix("raw\\")?, true),
    };
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
    let form = NameForm {
        backslash,
        digits: num.len() as u8,
    };
    Some((num.parse().ok()?, part, form))
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
    file: BufReader<File>,
}

impl Archive {
    /// Runs `f` over the member's decompressed bytes.
    fn with_member<T>(
        &mut self,
        m: Member,
        f: impl FnOnce(&mut dyn Read) -> T,
    ) -> Result<T, String> {
        match m {
            Member::Central(at) => {
                let record = zipdir::record_at(&mut self.file, at).map_err(|e| e.to_string())?;
                let mut member =
                    zipdir::open_member(&mut self.file, &record).map_err(|e| e.to_string())?;
                Ok(f(&mut member))
            }
            Member::Local(at) => {
                let file = &mut self.file;
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
    let (mut archive, slots) = open(file, &mut report)?;
    let total = slots
        .windows(2)
        .filter(|w| w[0].number != w[1].number)
        .count() as u64
        + u64::from(!slots.is_empty());
    let mut budget_left = MAX_ARCHIVE_BYTES;
    let mut conns: BTreeMap<String, u64> = BTreeMap::new();
    let mut id = first_id;
    for (i, members) in slots.chunk_by(|a, b| a.number == b.number).enumerate() {
        progress(i as u64, total);
        let (number, s) = session_of(members, &mut report);
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

/// One session's members (of the index, sorted by number and part); a second member of
/// the same part is a problem, and the first one is used.
fn session_of(members: &[Slot], report: &mut ImportReport) -> (u64, Session) {
    let mut s = Session::default();
    for m in members {
        let slot = match m.part {
            Part::Client => &mut s.client,
            Part::Server => &mut s.server,
            Part::Meta => &mut s.meta,
        };
        if slot.is_some() {
            report.problem(format!(
                "duplicate member {}: the first one is used",
                m.name()
            ));
        } else {
            *slot = Some((m.name(), m.member));
        }
    }
    (members.first().map_or(0, |m| m.number), s)
}

/// Opens the archive and indexes its session members, sorted by session number (then
/// part, then place in the archive). The index keeps 32 bytes a member: the central
/// directory is read record by record ([`zipdir`]), never held.
fn open(file: File, report: &mut ImportReport) -> Result<(Archive, Vec<Slot>), ImportError> {
    fn add(slots: &mut Vec<Slot>, name: &str, member: Member, report: &mut ImportReport) {
        match member_slot(name) {
            Some((number, part, form)) => slots.push(Slot {
                number,
                member,
                part,
                form,
            }),
            None if name == "[Content_Types].xml"
                || name == "_index.htm"
                || name.ends_with('/') => {}
            None => report.note(format!("member {name} is not part of a session; ignored")),
        }
    }
    let mut slots: Vec<Slot> = Vec::new();
    let mut probe = BufReader::new(file.try_clone()?);
    let mut magic = [0u8; 4];
    let got = read_full(&mut probe, &mut magic)?;
    if got < 4 || !(magic == *b"PK\x03\x04" || magic == *b"PK\x05\x06") {
        return Err(ImportError::NotThisFormat {
            format: "SAZ (ZIP)",
            reason: "it does not start with a ZIP local file header".into(),
        });
    }
    let read = zipdir::find(&mut BufReader::new(file.try_clone()?))
        .map_err(Stop::Io)
        .and_then(|dir| {
            zipdir::each_record(file.try_clone()?, dir, |r| {
                if r.encrypted() {
                    return Err(Stop::Encrypted(escape(&r.name)));
                }
                add(&mut slots, &r.name, Member::Central(r.at), report);
                Ok(())
            })
        });
    match read {
        Ok(()) => {
            slots.sort_by_key(|s| (s.number, s.part));
            Ok((
                Archive {
                    file: BufReader::new(file),
                },
                slots,
            ))
        }
        Err(Stop::Encrypted(member)) => Err(ImportError::Encrypted { member }),
        Err(Stop::Io(e)) => {
            // What was indexed from the directory is read again from the local headers.
            slots.clear();
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
                add(&mut slots, &name, Member::Local(at), report);
                if copied.is_err() {
                    break;
                }
            }
            slots.sort_by_key(|s| (s.number, s.part));
            Ok((
                Archive {
                    file: BufReader::new(file),
                },
                slots,
            ))
        }
    }
}

/// Why the directory walk stopped.
enum Stop {
    Io(std::io::Error),
    Encrypted(String),
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
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
        modified: None,
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

#[cfg(test)]
mod tests {
    use super::export::xml_attr;
    use super::*;

    #[test]
    fn member_names_match_only_the_session_pattern() {
        let member_session = |name: &str| member_slot(name).map(|(n, part, _)| (n, part));
        assert_eq!(member_session("raw/001_c.txt"), Some((1, Part::Client)));
        assert_eq!(member_session("raw\\12_m.xml"), Some((12, Part::Meta)));
        assert_eq!(member_session("raw/../../etc/1_c.txt"), None);
        assert_eq!(member_session("/raw/1_c.txt"), None);
        assert_eq!(member_session("raw/1_x.txt"), None);
        assert_eq!(member_session("raw/99999999999999_c.txt"), None);
        // The index keeps how a name is spelled, not the name: it is spelled back alike.
        for name in [
            "raw/001_c.txt",
            "raw\\12_m.xml",
            "raw/7_s.txt",
            "raw/000000000042_c.txt",
        ] {
            let (number, part, form) = member_slot(name).expect("a session member");
            let slot = Slot {
                number,
                member: Member::Local(0),
                part,
                form,
            };
            assert_eq!(slot.name(), name);
        }
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
