//! HAR 1.2 export and import: the format browsers' devtools, mitmproxy, Fiddler, Charles
//! and HTTP Toolkit exchange.
//!
//! Export writes one entry per exchange, bodies as text or base64 (`encoding`), timings
//! mapped from ours, and synctap's own facts under `_synctap` (the exchange's metadata,
//! protocol, decoded summary, ClientID), so synctap loses nothing when it reads its own
//! HAR back: capture → HAR → capture keeps every stored body byte and every header in
//! order. Import is lenient with what other tools omit or add (no timings, `_` fields,
//! `text` without `encoding`, form `params` without `text`, decoded bodies of compressed
//! responses) and counts what it skipped and why.
//!
//! HAR 1.2: <http://www.softwareishard.com/blog/har-12-spec/>.

use std::collections::BTreeMap;
use std::io::Write;

use base64::Engine as _;
use serde_json::{json, Value};

use super::format::B64;
use crate::decode::exchange::{decoded_body, DecodedExchange, DecodedRecord};
use crate::model::{Body, Exchange, ExchangeKind, Headers, ProxyMode, Request, Response, Timings};

/// Builds the HAR document for exchanges decoded once by the caller (the `_synctap`
/// summaries come from their decoded forms). For a whole capture, [`HarWriter`] writes
/// the same document as it reads, without holding it.
pub fn export<'a>(records: impl IntoIterator<Item = &'a DecodedRecord>) -> Value {
    let entries: Vec<Value> = records
        .into_iter()
        .filter_map(|r| export_entry(&r.exchange, &r.decoded))
        .collect();
    json!({ "log": log_fields(entries) })
}

/// The fields of `log` with these entries.
fn log_fields(entries: Vec<Value>) -> Value {
    json!({
        "version": "1.2",
        "creator": { "name": "synctap", "version": env!("CARGO_PKG_VERSION") },
        "entries": entries,
    })
}

/// The HAR entry of one exchange; `None` for what HAR cannot hold (tunnels, exchanges
/// without a request).
pub fn export_entry(x: &Exchange, decoded: &DecodedExchange) -> Option<Value> {
    (x.kind == ExchangeKind::Http && x.request.is_some()).then(|| entry(x, decoded))
}

/// Writes a HAR document entry by entry: the text is the same as
/// `serde_json::to_writer_pretty(&export(all))` would write, but only one entry is held
/// at a time, so any capture exports in bounded memory.
pub struct HarWriter<W: Write> {
    out: W,
    /// The document's text around its entries: before the first, and after the last.
    head: String,
    tail: String,
    entries: u64,
}

/// Indentation of an entry inside `{"log": {"entries": [...]}}` when pretty-printed.
const ENTRY_INDENT: &[u8] = b"      ";

impl<W: Write> HarWriter<W> {
    /// Starts a document on `out` (nothing is written before the first entry or
    /// [`finish`](Self::finish)).
    pub fn new(out: W) -> Self {
        // The document without entries, pretty-printed, split where the entries go. A
        // placeholder entry marks the spot, so the fields around `entries` come out in
        // the order and indentation the whole document has.
        let marker = "synctap-har-entries-go-here";
        let doc = json!({ "log": log_fields(vec![json!(marker)]) });
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        let quoted = format!("\"{marker}\"");
        let at = text.find(&quoted).unwrap_or(text.len());
        // `[\n      "marker"\n    ]`: the head keeps `[`, the tail starts at the line
        // break that precedes `]`.
        let head = text[..at].trim_end().to_owned();
        let tail = text[at..].get(quoted.len()..).unwrap_or("").to_owned();
        Self {
            out,
            head,
            tail,
            entries: 0,
        }
    }

    /// Appends the entry of one exchange (nothing for what HAR cannot hold); returns
    /// whether an entry was written.
    ///
    /// # Errors
    /// When the output cannot be written.
    pub fn push(&mut self, x: &Exchange, decoded: &DecodedExchange) -> std::io::Result<bool> {
        let Some(e) = export_entry(x, decoded) else {
            return Ok(false);
        };
        let text = serde_json::to_vec_pretty(&e)?;
        self.out.write_all(if self.entries == 0 {
            self.head.as_bytes()
        } else {
            b","
        })?;
        self.out.write_all(b"\n")?;
        self.out.write_all(ENTRY_INDENT)?;
        // Line breaks inside the entry are formatting only (JSON strings escape theirs):
        // each is followed by the entry's indentation.
        for (i, line) in text.split(|b| *b == b'\n').enumerate() {
            if i > 0 {
                self.out.write_all(b"\n")?;
                self.out.write_all(ENTRY_INDENT)?;
            }
            self.out.write_all(line)?;
        }
        self.entries += 1;
        Ok(true)
    }

    /// Ends the document; returns the number of entries written.
    ///
    /// # Errors
    /// When the output cannot be written.
    pub fn finish(mut self) -> std::io::Result<u64> {
        if self.entries == 0 {
            // No entries: `"entries": []`, as the whole document prints it.
            let doc = json!({ "log": log_fields(Vec::new()) });
            serde_json::to_writer_pretty(&mut self.out, &doc)?;
        } else {
            self.out.write_all(self.tail.as_bytes())?;
        }
        self.out.flush()?;
        Ok(self.entries)
    }
}

fn headers_json(h: &Headers) -> Vec<Value> {
    h.0.iter()
        .map(|(n, v)| json!({ "name": n, "value": v }))
        .collect()
}

/// The `comment` of a body synctap stored only a prefix of.
fn truncation_comment(b: &Body) -> Option<String> {
    b.truncated.then(|| {
        format!(
            "truncated by synctap: {} of {} bytes stored",
            b.bytes.len(),
            b.len
        )
    })
}

/// Text when UTF-8, else base64; the second value names the encoding.
fn body_text(b: &Body) -> (String, Option<&'static str>) {
    body_text_of(&b.bytes)
}

fn body_text_of(bytes: &[u8]) -> (String, Option<&'static str>) {
    match std::str::from_utf8(bytes) {
        Ok(t) => (t.to_owned(), None),
        Err(_) => (B64.encode(bytes), Some("base64")),
    }
}

fn entry(x: &Exchange, decoded: &DecodedExchange) -> Value {
    let Some(req) = x.request.as_ref() else {
        return Value::Null;
    };
    let query: Vec<Value> = req
        .url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or(""))
        .unwrap_or("")
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (n, v) = kv.split_once('=').unwrap_or((kv, ""));
            json!({ "name": n, "value": v })
        })
        .collect();
    let mut request = json!({
        "method": req.method,
        "url": req.url,
        "httpVersion": x.http_version,
        "cookies": [],
        "headers": headers_json(&req.headers),
        "queryString": query,
        "headersSize": -1,
        "bodySize": req.body.len,
    });
    if !req.body.bytes.is_empty() || req.body.len > 0 {
        let (text, enc) = body_text(&req.body);
        let mut post = json!({
            "mimeType": req.headers.get("content-type").unwrap_or(""),
            "text": text,
        });
        if let Some(e) = enc {
            post["_encoding"] = json!(e);
        }
        if let Some(c) = truncation_comment(&req.body) {
            post["comment"] = json!(c);
        }
        request["postData"] = post;
    }
    let mut wire_body = None;
    let response = match &x.response {
        Some(r) => {
            // As browsers do, a compressed response is given decoded, with the bytes saved
            // in `compression`; the wire bytes go in `_synctap` so import restores them.
            let plain = decoded_body(&r.headers.pairs(), &r.body.bytes);
            let decoded = matches!(plain, std::borrow::Cow::Owned(_));
            let (text, enc) = if decoded {
                wire_body = Some(B64.encode(&r.body.bytes));
                body_text_of(&plain)
            } else {
                body_text(&r.body)
            };
            let mut content = json!({
                "size": if decoded { plain.len() as u64 } else { r.body.len },
                "mimeType": r.headers.get("content-type").unwrap_or(""),
                "text": text,
            });
            if decoded {
                content["compression"] = json!(plain.len() as i64 - r.body.bytes.len() as i64);
            }
            if let Some(e) = enc {
                content["encoding"] = json!(e);
            }
            if let Some(c) = truncation_comment(&r.body) {
                content["comment"] = json!(c);
            }
            json!({
                "status": r.status,
                "statusText": r.reason,
                "httpVersion": x.http_version,
                "cookies": [],
                "headers": headers_json(&r.headers),
                "content": content,
                "redirectURL": r.headers.get("location").unwrap_or(""),
                "headersSize": -1,
                "bodySize": r.body.len,
            })
        }
        // HAR needs a response; status 0 is what browsers write for a failed request.
        None => json!({
            "status": 0, "statusText": "", "httpVersion": x.http_version, "cookies": [],
            "headers": [], "content": { "size": 0, "mimeType": "" }, "redirectURL": "",
            "headersSize": -1, "bodySize": -1,
            "_error": x.error,
        }),
    };
    let t = &x.timings;
    let connect = t.connect_ms.unwrap_or(-1.0);
    let ssl = t.tls_ms.unwrap_or(-1.0);
    let setup = connect.max(0.0) + ssl.max(0.0);
    let sent = t.request_sent_ms.unwrap_or(setup);
    let first = t.first_response_byte_ms.unwrap_or(sent);
    let done = t.done_ms.unwrap_or(first);
    let timings = json!({
        "blocked": -1, "dns": -1,
        // HAR counts ssl inside connect.
        "connect": if connect < 0.0 { -1.0 } else { connect + ssl.max(0.0) },
        "ssl": ssl,
        "send": (sent - setup).max(0.0),
        "wait": (first - sent).max(0.0),
        "receive": (done - first).max(0.0),
    });
    // Our metadata, bodies left out (they are in the standard fields).
    let mut meta = x.clone();
    if let Some(r) = meta.request.as_mut() {
        r.body.bytes.clear();
    }
    if let Some(r) = meta.response.as_mut() {
        r.body.bytes.clear();
    }
    let mut out = json!({
        "startedDateTime": t.start,
        "time": done.max(0.0),
        "request": request,
        "response": response,
        "cache": {},
        "timings": timings,
        "serverIPAddress": x.server.rsplit_once(':').map_or(x.server.as_str(), |(h, _)| h),
        "connection": x.connection_id.to_string(),
        "_synctap": {
            "exchange": meta,
            "protocol": decoded.protocol().name(),
            "summary": decoded.summary,
            "ClientID": decoded.client_id(),
            "diagnostics": decoded.diagnostics.len(),
        },
    });
    if let Some(w) = wire_body {
        out["_synctap"]["response_body_as_sent"] = json!(w);
    }
    out
}

/// What an import did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// Entries turned into exchanges.
    pub imported: u64,
    /// Entries skipped, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Notes on entries imported with changes (decoded bodies...), by kind.
    pub notes: BTreeMap<String, u64>,
}

/// Why a HAR file could not be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// Not JSON.
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// JSON without `log.entries`.
    #[error("not a HAR file: no log.entries array")]
    NotHar,
    /// The file could not be read, or the sink refused an exchange.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// Reads a HAR document into exchanges, numbering them from 1.
///
/// # Errors
/// When the input is not JSON or has no `log.entries`.
pub fn import(input: &[u8]) -> Result<(Vec<Exchange>, ImportReport), ImportError> {
    let mut out = Vec::new();
    let report = import_from(input, &mut |x| {
        out.push(x);
        Ok(())
    })?;
    Ok((out, report))
}

/// Reads a HAR document from `input` entry by entry and gives each exchange to `sink`
/// as soon as its entry is read, numbering them from 1: one entry is held at a time, so
/// a HAR of any size imports in bounded memory.
///
/// # Errors
/// When the input is not JSON (the exchanges before the error were given to `sink`),
/// has no `log.entries`, or `sink` fails.
pub fn import_from(
    input: impl std::io::Read,
    sink: &mut dyn FnMut(Exchange) -> std::io::Result<()>,
) -> Result<ImportReport, ImportError> {
    let mut report = ImportReport::default();
    let mut next_id = 1u64;
    let mut each = |e: Value| -> std::io::Result<()> {
        match import_entry(&e, &mut report) {
            Ok(mut x) => {
                x.id = next_id;
                next_id += 1;
                report.imported += 1;
                sink(x)
            }
            Err(reason) => {
                *report.skipped.entry(reason).or_default() += 1;
                Ok(())
            }
        }
    };
    let mut walk = Walk {
        each: &mut each,
        found: false,
        failed: None,
    };
    let mut input = std::io::BufReader::new(input);
    skip_bom(&mut input)?;
    let mut de = serde_json::Deserializer::from_reader(input);
    let parsed = serde::de::DeserializeSeed::deserialize(
        Node {
            walk: &mut walk,
            level: Level::Root,
        },
        &mut de,
    )
    .and_then(|()| de.end());
    if let Some(e) = walk.failed {
        return Err(ImportError::Io(e));
    }
    parsed?;
    if !walk.found {
        return Err(ImportError::NotHar);
    }
    Ok(report)
}

/// Skips a UTF-8 byte order mark (Windows tools write one).
fn skip_bom(r: &mut impl std::io::BufRead) -> std::io::Result<()> {
    if r.fill_buf()?.starts_with(b"\xef\xbb\xbf") {
        r.consume(3);
    }
    Ok(())
}

/// The streaming walk to `log.entries`: what to do with each entry, and what happened.
struct Walk<'a> {
    each: &'a mut dyn FnMut(Value) -> std::io::Result<()>,
    /// `log.entries` was an array.
    found: bool,
    /// The sink's error, which ended the walk.
    failed: Option<std::io::Error>,
}

/// Where in the document a value is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Root,
    Log,
    Entries,
}

/// Visits one value at `level`: objects are searched for the next key on the way to
/// `log.entries`, the entries array is read element by element, everything else is
/// skipped without being kept.
struct Node<'w, 'a> {
    walk: &'w mut Walk<'a>,
    level: Level,
}

impl<'de> serde::de::DeserializeSeed<'de> for Node<'_, '_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Node<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a HAR document")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let want = match self.level {
            Level::Root => Some(("log", Level::Log)),
            Level::Log => Some(("entries", Level::Entries)),
            Level::Entries => None,
        };
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match want {
                Some((name, level)) if key == name => map.next_value_seed(Node {
                    walk: &mut *self.walk,
                    level,
                })?,
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.level != Level::Entries {
            while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
            return Ok(());
        }
        self.walk.found = true;
        while let Some(e) = seq.next_element::<Value>()? {
            if let Err(err) = (self.walk.each)(e) {
                self.walk.failed = Some(err);
                return Err(serde::de::Error::custom("the import stopped"));
            }
        }
        Ok(())
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

fn str_of(v: &Value) -> Option<&str> {
    v.as_str()
}

fn headers_from(v: &Value) -> Headers {
    Headers(
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| {
                        Some((
                            str_of(&h["name"])?.to_owned(),
                            h["value"].as_str().unwrap_or("").to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default(),
    )
}

fn decode_text(text: Option<&str>, encoding: Option<&str>) -> Result<Vec<u8>, String> {
    let Some(t) = text else { return Ok(Vec::new()) };
    match encoding {
        Some(e) if e.eq_ignore_ascii_case("base64") => B64
            .decode(t.trim())
            .map_err(|_| "body marked base64 but is not valid base64".to_owned()),
        _ => Ok(t.as_bytes().to_vec()),
    }
}

fn import_entry(e: &Value, report: &mut ImportReport) -> Result<Exchange, String> {
    let req = &e["request"];
    let method = str_of(&req["method"]).ok_or("entry without request.method")?;
    let url = str_of(&req["url"]).ok_or("entry without request.url")?;
    if method.eq_ignore_ascii_case("CONNECT") {
        return Err("CONNECT entry (a tunnel, no HTTP exchange inside)".into());
    }
    let mut req_headers = headers_from(&req["headers"]);
    let post = &req["postData"];
    let mut req_bytes = decode_text(
        str_of(&post["text"]),
        str_of(&post["_encoding"]).or_else(|| str_of(&post["encoding"])),
    )?;
    if req_bytes.is_empty() {
        // Firefox and others may give form fields as params only.
        if let Some(params) = post["params"].as_array() {
            let form: Vec<String> = params
                .iter()
                .filter_map(|p| {
                    Some(format!(
                        "{}={}",
                        str_of(&p["name"])?,
                        p["value"].as_str().unwrap_or("")
                    ))
                })
                .collect();
            if !form.is_empty() {
                req_bytes = form.join("&").into_bytes();
                *report
                    .notes
                    .entry("request body rebuilt from postData.params".into())
                    .or_default() += 1;
            }
        }
    }
    let resp = &e["response"];
    let status = resp["status"].as_u64().unwrap_or(0);
    let content = &resp["content"];
    let resp_bytes = decode_text(str_of(&content["text"]), str_of(&content["encoding"]))?;
    let mut resp_headers = headers_from(&resp["headers"]);

    // Our own HAR: restore the exchange exactly.
    if let Ok(mut x) = serde_json::from_value::<Exchange>(e["_synctap"]["exchange"].clone()) {
        if let Some(r) = x.request.as_mut() {
            r.body.stored = req_bytes.len() as u64;
            r.body.bytes = req_bytes;
        }
        let resp_bytes = match str_of(&e["_synctap"]["response_body_as_sent"]) {
            Some(wire) => B64
                .decode(wire.trim())
                .map_err(|_| "_synctap.response_body_as_sent is not valid base64".to_owned())?,
            None => resp_bytes,
        };
        if let Some(r) = x.response.as_mut() {
            r.body.stored = resp_bytes.len() as u64;
            r.body.bytes = resp_bytes;
        }
        return Ok(x);
    }

    // Other tools store response content decoded; the headers must then not claim an
    // encoding the body no longer has.
    if !resp_bytes.is_empty()
        && resp_headers
            .get("content-encoding")
            .is_some_and(|v| !v.eq_ignore_ascii_case("identity"))
    {
        resp_headers
            .0
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-encoding"));
        for (n, v) in &mut resp_headers.0 {
            if n.eq_ignore_ascii_case("content-length") {
                *v = resp_bytes.len().to_string();
            }
        }
        *report
            .notes
            .entry("response body stored decoded (Content-Encoding removed)".into())
            .or_default() += 1;
    }
    // HTTP/2 pseudo-headers that some tools export as headers.
    req_headers.0.retain(|(n, _)| !n.starts_with(':'));
    resp_headers.0.retain(|(n, _)| !n.starts_with(':'));

    let t = &e["timings"];
    let ms = |v: &Value| v.as_f64().filter(|f| *f >= 0.0);
    let connect_total = ms(&t["connect"]);
    let ssl = ms(&t["ssl"]);
    let send = ms(&t["send"]).unwrap_or(0.0);
    let wait = ms(&t["wait"]).unwrap_or(0.0);
    let receive = ms(&t["receive"]).unwrap_or(0.0);
    let setup = connect_total.unwrap_or(0.0);
    let start = str_of(&e["startedDateTime"])
        .unwrap_or("1970-01-01T00:00:00Z")
        .to_owned();
    let http_version = str_of(&req["httpVersion"]).unwrap_or("HTTP/1.1").to_owned();
    let server = url
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or(""))
        .unwrap_or("")
        .to_owned();
    let resp_len = resp_bytes.len() as u64;
    let response = (status > 0).then(|| Response {
        status: u16::try_from(status).unwrap_or(0),
        reason: str_of(&resp["statusText"]).unwrap_or("").to_owned(),
        headers: resp_headers,
        body: Body::complete(resp_bytes),
    });
    let error = if response.is_none() {
        Some(
            str_of(&resp["_error"])
                .unwrap_or("no response recorded (status 0)")
                .to_owned(),
        )
    } else {
        None
    };
    let _ = resp_len;
    Ok(Exchange {
        id: 0,
        kind: ExchangeKind::Http,
        connection_id: e["connection"]
            .as_str()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        client_addr: String::new(),
        mode: ProxyMode::Other,
        tls: None,
        server,
        http_version,
        request: Some(Request {
            method: method.to_owned(),
            url: url.to_owned(),
            headers: req_headers,
            body: Body::complete(req_bytes),
        }),
        response,
        tunnel: None,
        timings: Timings {
            start,
            connect_ms: connect_total.map(|c| c - ssl.unwrap_or(0.0)),
            tls_ms: ssl,
            request_sent_ms: Some(setup + send),
            first_response_byte_ms: Some(setup + send + wait),
            done_ms: Some(setup + send + wait + receive),
        },
        error,
        imported: None,
        modified: None,
    })
}
