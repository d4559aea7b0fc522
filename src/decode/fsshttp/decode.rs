//! SOAP (plain or MTOM) → model, for requests and responses (MS-FSSHTTP 2.2.2).
//!
//! The body is first unpacked (MTOM root part, or the whole body), parsed into a lenient
//! element tree ([`super::xml`]) and then mapped element by element. Names are matched
//! by (namespace URI, local name); an FSSHTTP element in the wrong namespace is still
//! decoded, with a diagnostic. Attributes and elements the specification does not name
//! go to `unknown`.

use std::fmt;

use base64::Engine;
use bytes::Bytes;

use super::model::*;
use super::values::{ErrorCode, SubRequestType};
use super::xml::{self, AttrBag, Tree, XNode};
use super::{SOAP11_NS, TNS, XOP_NS};
use crate::decode::mtom::{self, Multipart};
use crate::decode::Diagnostic;

/// Most diagnostics kept per message; the rest are counted in a last diagnostic.
pub const MAX_DIAGNOSTICS: usize = 1000;

fn cap_diagnostics(diags: &mut Vec<Diagnostic>) {
    if diags.len() > MAX_DIAGNOSTICS {
        let omitted = diags.len() - MAX_DIAGNOSTICS;
        let at = diags.get(MAX_DIAGNOSTICS).map_or(0, |d| d.offset);
        diags.truncate(MAX_DIAGNOSTICS);
        diags.push(Diagnostic::limit(
            at,
            format!("{omitted} more diagnostics omitted"),
        ));
    }
}

/// Largest SOAP root part parsed as XML; anything longer is cut with a diagnostic.
pub const MAX_XML_LEN: usize = 256 << 20;

/// A node's place in the message, e.g. `RequestCollection/Request[0]/SubRequest[2]`:
/// a chain of segments on the stack, written out only when an unknown node is kept.
#[derive(Debug, Clone, Copy)]
struct Path<'p> {
    parent: Option<&'p Path<'p>>,
    name: &'p str,
    index: Option<usize>,
}

impl<'p> Path<'p> {
    /// A top-level path.
    const fn root(name: &'p str) -> Self {
        Self {
            parent: None,
            name,
            index: None,
        }
    }

    /// `self/name`.
    fn child(&'p self, name: &'p str) -> Self {
        Self {
            parent: Some(self),
            name,
            index: None,
        }
    }

    /// `self/name[index]`.
    fn item(&'p self, name: &'p str, index: usize) -> Self {
        Self {
            parent: Some(self),
            name,
            index: Some(index),
        }
    }
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(parent) = self.parent {
            write!(f, "{parent}/")?;
        }
        f.write_str(self.name)?;
        match self.index {
            Some(i) => write!(f, "[{i}]"),
            None => Ok(()),
        }
    }
}

/// Decoding state shared by one message.
struct Ctx<'a> {
    body: &'a [u8],
    mp: Option<Multipart>,
    /// The content of each MIME part some `xop:Include` referred to, by part index:
    /// copied once, then shared by every later reference (no amplification).
    part_bytes: Vec<Option<Bytes>>,
    diags: Vec<Diagnostic>,
    unknown: Vec<UnknownNode>,
    /// Facts that are not failures ([`ResponseEnvelope::notes`]).
    notes: Vec<Diagnostic>,
}

impl Ctx<'_> {
    fn expect_ns(&mut self, n: XNode<'_>, ns: &str) {
        if n.ns() != Some(ns) {
            self.diags.push(Diagnostic::unexpected(
                n.offset(),
                format!(
                    "element {} is in namespace {}, expected {ns}",
                    n.local(),
                    n.ns().map_or("(none)".to_owned(), |s| format!("{s:?}"))
                ),
            ));
        }
    }

    fn unknown_element(&mut self, path: &Path<'_>, n: XNode<'_>) {
        self.unknown
            .push(UnknownNode::element(&path.to_string(), n));
    }
}

/// Unpacks the body and parses the SOAP document.
fn prepare<'a>(content_type: Option<&str>, body: &'a [u8]) -> (Ctx<'a>, Tree<'a>) {
    let mut ctx = Ctx {
        body,
        mp: None,
        part_bytes: Vec::new(),
        diags: Vec::new(),
        unknown: Vec::new(),
        notes: Vec::new(),
    };
    let mut params = content_type.and_then(mtom::parse_content_type);
    if params.is_none() && content_type.is_some_and(mtom::is_multipart_related) {
        ctx.diags.push(Diagnostic::malformed(
            0,
            "multipart/related content type without a usable boundary parameter",
        ));
    }
    if params.is_none() && body.starts_with(b"--") {
        // No (usable) Content-Type: take the boundary from the first delimiter line.
        let line_end = memchr::memchr(b'\n', body).unwrap_or(body.len()).min(202);
        let line = String::from_utf8_lossy(body.get(2..line_end).unwrap_or(&[]));
        let boundary = line.trim_end().to_owned();
        if !boundary.is_empty() {
            params = Some(mtom::MultipartParams {
                boundary,
                ..mtom::MultipartParams::default()
            });
        }
    }
    let mut range = 0..body.len();
    if let Some(params) = params {
        let mut mp = mtom::split(body, &params);
        ctx.diags.append(&mut mp.diagnostics);
        match mp.root_part() {
            Some(root) => range = root.range.clone(),
            None => range = body.len()..body.len(),
        }
        ctx.mp = Some(mp);
    }
    if range.len() > MAX_XML_LEN {
        ctx.diags.push(Diagnostic::limit(
            range.start + MAX_XML_LEN,
            format!("soap document longer than {MAX_XML_LEN} bytes; the rest is ignored"),
        ));
        range.end = range.start + MAX_XML_LEN;
    }
    let mut bytes = body.get(range.clone()).unwrap_or(&[]);
    let mut base = range.start;
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        bytes = rest;
        base += 3;
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let good = e.valid_up_to();
            ctx.diags.push(Diagnostic::malformed(
                base + good,
                "invalid utf-8 in soap document; the rest is ignored",
            ));
            std::str::from_utf8(bytes.get(..good).unwrap_or(&[])).unwrap_or("")
        }
    };
    if text.trim().is_empty() {
        ctx.diags
            .push(Diagnostic::missing(base, "empty soap document"));
        return (ctx, Tree::default());
    }
    let tree = xml::parse(text, base, &mut ctx.diags);
    (ctx, tree)
}

/// The children of `s:Body` (or the top-level elements when there is no envelope).
fn body_children<'t>(ctx: &mut Ctx<'_>, tree: &'t Tree<'t>) -> Vec<XNode<'t>> {
    let envelope = Path::root("Envelope");
    let mut out = Vec::new();
    for root in tree.roots() {
        if root.local() == "Envelope" {
            ctx.expect_ns(root, SOAP11_NS);
            let mut found_body = false;
            for child in root.children() {
                match child.local() {
                    "Body" => {
                        ctx.expect_ns(child, SOAP11_NS);
                        found_body = true;
                        out.extend(child.children());
                    }
                    "Header" => {
                        if child.has_children() {
                            ctx.unknown_element(&envelope, child);
                        }
                    }
                    _ => ctx.unknown_element(&envelope, child),
                }
            }
            if !found_body {
                ctx.diags.push(Diagnostic::missing(
                    root.offset(),
                    "soap Envelope without a Body",
                ));
            }
        } else if root.local() == "Body" {
            out.extend(root.children());
        } else {
            out.push(root);
        }
    }
    out
}

fn read_fault(ctx: &mut Ctx<'_>, n: XNode<'_>) -> SoapFault {
    let fault = Path::root("Fault");
    let detail = fault.child("detail");
    let mut f = SoapFault::default();
    let text = |c: XNode<'_>| Some(c.text().trim().to_owned());
    for c in n.children() {
        match c.local() {
            "faultcode" => f.faultcode = text(c),
            "faultstring" => f.faultstring = text(c),
            "faultactor" => f.faultactor = text(c),
            "detail" => {
                for d in c.children() {
                    match d.local() {
                        "ErrorString" => f.error_string = text(d),
                        "ErrorCode" => f.error_code = text(d),
                        _ => ctx.unknown_element(&detail, d),
                    }
                }
            }
            _ => ctx.unknown_element(&fault, c),
        }
    }
    f
}

fn read_version(ctx: &mut Ctx<'_>, n: XNode<'_>, path: &Path<'_>) -> VersionInfo {
    ctx.expect_ns(n, TNS);
    let mut v = VersionInfo::default();
    let mut bag = AttrBag::new(n, &mut ctx.diags);
    v.read_attrs(&mut bag);
    bag.require(&v.version, "Version");
    bag.require(&v.minor_version, "MinorVersion");
    bag.finish(path, &mut ctx.unknown);
    for c in n.children() {
        ctx.unknown_element(path, c);
    }
    v
}

/// An error text from another crate as a diagnostic reason: lowercase first letter,
/// no trailing period.
fn lowercase_reason(s: &str) -> String {
    let s = s.trim_end_matches('.');
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

/// Decodes the Cell payload or text content of a `SubRequestData` / `SubResponseData`.
fn read_payload(
    ctx: &mut Ctx<'_>,
    n: XNode<'_>,
    include: Option<XNode<'_>>,
    cellish: bool,
) -> (Option<CellPayload>, Option<String>) {
    if let Some(inc) = include {
        let href = inc
            .attrs()
            .iter()
            .find(|a| a.local() == "href" && a.ns.is_none())
            .map(|a| &*a.value);
        let Some(href) = href else {
            ctx.diags.push(Diagnostic::missing(
                inc.offset(),
                "missing required attribute href on Include",
            ));
            return (None, None);
        };
        let Some(mp) = ctx.mp.as_ref() else {
            ctx.diags.push(Diagnostic::unexpected(
                inc.offset(),
                format!("xop:Include {href:?} in a body that is not multipart"),
            ));
            return (None, None);
        };
        return match mp.resolve_cid(href) {
            Some((index, part)) => {
                let range = part.range.clone();
                if ctx.part_bytes.len() <= index {
                    ctx.part_bytes.resize(index + 1, None);
                }
                let body = ctx.body;
                let bytes = ctx
                    .part_bytes
                    .get_mut(index)
                    .map(|slot| {
                        slot.get_or_insert_with(|| {
                            Bytes::copy_from_slice(body.get(range.clone()).unwrap_or(&[]))
                        })
                        .clone()
                    })
                    .unwrap_or_default();
                (
                    Some(CellPayload {
                        bytes,
                        origin: PayloadOrigin::Part {
                            content_id: part.content_id.clone().unwrap_or_default(),
                            range,
                        },
                    }),
                    None,
                )
            }
            None => {
                ctx.diags.push(Diagnostic::missing(
                    inc.offset(),
                    format!("xop:Include href {href:?} matches no MIME part"),
                ));
                (None, None)
            }
        };
    }
    let text = n.text().trim();
    if text.is_empty() {
        return (None, None);
    }
    if !cellish {
        return (None, Some(text.to_owned()));
    }
    let compact: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(&compact) {
        Ok(bytes) => (
            Some(CellPayload {
                bytes: bytes.into(),
                origin: PayloadOrigin::Inline,
            }),
            None,
        ),
        Err(e) => {
            let base = n.text_offset().unwrap_or(n.offset());
            let (at, what) = match e {
                base64::DecodeError::InvalidByte(i, b) => {
                    // Map the index in the whitespace-free text back to the raw text.
                    let raw = n
                        .text()
                        .bytes()
                        .enumerate()
                        .filter(|(_, c)| !c.is_ascii_whitespace())
                        .nth(i)
                        .map_or(0, |(p, _)| p);
                    (base + raw, format!("invalid byte 0x{b:02x}"))
                }
                other => (base, lowercase_reason(&other.to_string())),
            };
            ctx.diags.push(Diagnostic::malformed(
                at,
                format!("invalid base64 in {}: {what}", n.local()),
            ));
            (None, Some(text.to_owned()))
        }
    }
}

fn list_attr(
    ctx: &mut Ctx<'_>,
    n: XNode<'_>,
    child: &str,
    attr: &str,
    path: &Path<'_>,
) -> Vec<String> {
    let mut out = Vec::new();
    for c in n.children() {
        if c.local() == child {
            match c
                .attrs()
                .iter()
                .find(|a| a.local() == attr && a.ns.is_none())
            {
                Some(a) => out.push(a.value.clone().into_owned()),
                None => ctx.diags.push(Diagnostic::missing(
                    c.offset(),
                    format!("missing required attribute {attr} on {child}"),
                )),
            }
        } else {
            ctx.unknown_element(path, c);
        }
    }
    out
}

/// Reads a list of `child` elements that are attribute structs.
fn read_list<T: Default>(
    ctx: &mut Ctx<'_>,
    n: XNode<'_>,
    child: &str,
    path: &Path<'_>,
    mut read: impl FnMut(&mut Ctx<'_>, XNode<'_>, &mut AttrBag<'_>) -> T,
) -> Vec<T> {
    let mut out = Vec::new();
    for (i, c) in n.children().enumerate() {
        if c.local() == child {
            let p = path.item(child, i);
            let mut diags = std::mem::take(&mut ctx.diags);
            let mut bag = AttrBag::new(c, &mut diags);
            let v = read(ctx, c, &mut bag);
            bag.finish(&p, &mut ctx.unknown);
            diags.append(&mut ctx.diags);
            ctx.diags = diags;
            out.push(v);
        } else {
            ctx.unknown_element(path, c);
        }
    }
    out
}

fn read_sub_request_data(
    ctx: &mut Ctx<'_>,
    n: XNode<'_>,
    kind: Option<&SubRequestType>,
    path: &Path<'_>,
) -> SubRequestData {
    ctx.expect_ns(n, TNS);
    let mut d = SubRequestData::default();
    let mut bag = AttrBag::new(n, &mut ctx.diags);
    d.read_attrs(&mut bag);
    if kind == Some(&SubRequestType::Cell) {
        bag.require(&d.binary_data_size, "BinaryDataSize");
    }
    bag.finish(path, &mut ctx.unknown);
    let mut include = None;
    for c in n.children() {
        match c.local() {
            "Include" if c.ns() == Some(XOP_NS) => include = Some(c),
            "PropertyIds" => {
                d.property_ids = Some(list_attr(ctx, c, "PropertyId", "id", path));
            }
            _ => ctx.unknown_element(path, c),
        }
    }
    let cellish = matches!(kind, None | Some(SubRequestType::Cell));
    (d.payload, d.text) = read_payload(ctx, n, include, cellish);
    d
}

fn read_request(ctx: &mut Ctx<'_>, n: XNode<'_>, path: &Path<'_>) -> Request {
    ctx.expect_ns(n, TNS);
    let mut r = Request::default();
    let mut bag = AttrBag::new(n, &mut ctx.diags);
    r.read_attrs(&mut bag);
    bag.require(&r.url, "Url");
    bag.require(&r.request_token, "RequestToken");
    bag.finish(path, &mut ctx.unknown);
    for c in n.children() {
        match c.local() {
            "SubRequest" => {
                let p = path.item("SubRequest", r.sub_requests.len());
                ctx.expect_ns(c, TNS);
                let mut s = SubRequest::default();
                let mut bag = AttrBag::new(c, &mut ctx.diags);
                s.read_attrs(&mut bag);
                bag.require(&s.type_, "Type");
                bag.require(&s.sub_request_token, "SubRequestToken");
                bag.finish(&p, &mut ctx.unknown);
                for d in c.children() {
                    if d.local() == "SubRequestData" && s.sub_request_data.is_none() {
                        let dp = p.child("SubRequestData");
                        s.sub_request_data =
                            Some(read_sub_request_data(ctx, d, s.type_.as_ref(), &dp));
                    } else {
                        ctx.unknown_element(&p, d);
                    }
                }
                r.sub_requests.push(s);
            }
            "GenericProperties" => {
                let gp = read_list(
                    ctx,
                    c,
                    "Property",
                    &path.child("GenericProperties"),
                    |_, _, bag| {
                        let mut p = GenericProperty::default();
                        p.read_attrs(bag);
                        bag.require(&p.id, "Id");
                        p
                    },
                );
                r.generic_properties = Some(gp);
            }
            _ => ctx.unknown_element(path, c),
        }
    }
    r
}

/// Decodes a request body (plain SOAP or MTOM).
pub fn decode_request(content_type: Option<&str>, body: &[u8]) -> RequestEnvelope {
    let (mut ctx, tree) = prepare(content_type, body);
    let children = body_children(&mut ctx, &tree);
    let body_path = Path::root("Body");
    let collection = Path::root("RequestCollection");
    let mut env = RequestEnvelope::default();
    for &c in &children {
        match c.local() {
            "RequestVersion" => {
                env.request_version = Some(read_version(&mut ctx, c, &Path::root("RequestVersion")))
            }
            "RequestCollection" => {
                ctx.expect_ns(c, TNS);
                let mut rc = RequestCollection::default();
                let mut bag = AttrBag::new(c, &mut ctx.diags);
                rc.read_attrs(&mut bag);
                bag.require(&rc.correlation_id, "CorrelationId");
                bag.finish(&collection, &mut ctx.unknown);
                for r in c.children() {
                    if r.local() == "Request" {
                        let p = collection.item("Request", rc.requests.len());
                        let req = read_request(&mut ctx, r, &p);
                        rc.requests.push(req);
                    } else {
                        ctx.unknown_element(&collection, r);
                    }
                }
                env.request_collection = Some(rc);
            }
            "Fault" => env.fault = Some(read_fault(&mut ctx, c)),
            _ => ctx.unknown_element(&body_path, c),
        }
    }
    if env.fault.is_none() && env.request_collection.is_none() && !children.is_empty() {
        ctx.diags.push(Diagnostic::missing(
            children.first().map_or(0, |c| c.offset()),
            "no RequestCollection in soap Body",
        ));
    }
    env.mtom = ctx.mp;
    env.diagnostics = ctx.diags;
    cap_diagnostics(&mut env.diagnostics);
    env.unknown = ctx.unknown;
    env
}

fn read_sub_response_data(
    ctx: &mut Ctx<'_>,
    n: XNode<'_>,
    kind: Option<&SubRequestType>,
    path: &Path<'_>,
) -> SubResponseData {
    ctx.expect_ns(n, TNS);
    let mut d = SubResponseData::default();
    let mut bag = AttrBag::new(n, &mut ctx.diags);
    d.read_attrs(&mut bag);
    bag.finish(path, &mut ctx.unknown);
    let mut include = None;
    for c in n.children() {
        let cp = path.child(c.local());
        match c.local() {
            "Include" if c.ns() == Some(XOP_NS) => include = Some(c),
            "DocProps" | "FolderProps" => {
                let props = read_list(ctx, c, "Property", &cp, |_, _, bag| {
                    let mut p = MetaProperty::default();
                    p.read_attrs(bag);
                    bag.require(&p.key, "Key");
                    p
                });
                if c.local() == "DocProps" {
                    d.doc_props = Some(props);
                } else {
                    d.folder_props = Some(props);
                }
            }
            "UserTable" => {
                d.user_table = Some(read_list(ctx, c, "User", &cp, |_, _, bag| {
                    let mut u = VersionUser::default();
                    u.read_attrs(bag);
                    bag.require(&u.user_login, "UserLogin");
                    u
                }));
            }
            "Versions" => {
                d.versions = Some(read_list(ctx, c, "Version", &cp, |ctx, vn, bag| {
                    let mut v = FileVersion::default();
                    v.read_attrs(bag);
                    bag.require(&v.number, "Number");
                    for e in vn.children() {
                        if e.local() == "Events" {
                            v.events = Some(read_list(
                                ctx,
                                e,
                                "Event",
                                &cp.child("Events"),
                                |_, _, bag| {
                                    let mut ev = VersionEvent::default();
                                    ev.read_attrs(bag);
                                    bag.require(&ev.id, "Id");
                                    bag.require(&ev.type_, "Type");
                                    ev
                                },
                            ));
                        } else {
                            ctx.unknown_element(&cp, e);
                        }
                    }
                    v
                }));
            }
            "PropertyIds" => d.property_ids = Some(list_attr(ctx, c, "PropertyId", "id", &cp)),
            "PropertyValues" => {
                d.property_values = Some(read_list(ctx, c, "PropertyValue", &cp, |_, _, bag| {
                    let mut p = PropertyValue::default();
                    p.read_attrs(bag);
                    bag.require(&p.id, "id");
                    p
                }));
            }
            _ => ctx.unknown_element(path, c),
        }
    }
    let cellish = matches!(kind, None | Some(SubRequestType::Cell));
    (d.payload, d.text) = read_payload(ctx, n, include, cellish);
    d
}

fn read_get_versions(ctx: &mut Ctx<'_>, n: XNode<'_>, path: &Path<'_>) -> GetVersionsResults {
    let mut out = GetVersionsResults::default();
    // GetVersionsResponse/GetVersionsResult/results, tolerating missing wrappers.
    let mut node = n;
    for name in ["GetVersionsResult", "results"] {
        if let Some(c) = node.children().find(|c| c.local() == name) {
            node = c;
        }
    }
    let attr = |c: XNode<'_>, name: &str| {
        c.attrs()
            .iter()
            .find(|a| a.local() == name)
            .map(|a| a.value.clone().into_owned())
    };
    for c in node.children() {
        match c.local() {
            "list" => out.list = attr(c, "id"),
            "versioning" => out.versioning = attr(c, "enabled"),
            "settings" => out.settings = attr(c, "url"),
            "result" => {
                let mut r = VersionResult::default();
                let mut bag = AttrBag::new(c, &mut ctx.diags);
                r.read_attrs(&mut bag);
                bag.finish(&path.child("result"), &mut ctx.unknown);
                out.result.push(r);
            }
            _ => ctx.unknown_element(path, c),
        }
    }
    out
}

/// Most items joined by scanning; longer lists get a sorted index, so that joining n
/// responses to n requests never costs n² comparisons (short lists are faster to scan
/// than to sort).
const SCAN_MAX: usize = 32;

/// The items of a list by token (RequestToken, SubRequestToken), for joining responses
/// to requests.
struct ByToken<'l, T> {
    items: &'l [T],
    token: fn(&T) -> Option<u64>,
    /// (token, position) of the items with a token, sorted; `None` for short lists.
    sorted: Option<Vec<(u64, usize)>>,
}

impl<'l, T> ByToken<'l, T> {
    fn new(items: &'l [T], token: fn(&T) -> Option<u64>) -> Self {
        let sorted = (items.len() > SCAN_MAX).then(|| {
            let mut v: Vec<(u64, usize)> = items
                .iter()
                .enumerate()
                .filter_map(|(i, x)| Some((token(x)?, i)))
                .collect();
            v.sort_unstable();
            v
        });
        Self {
            items,
            token,
            sorted,
        }
    }

    /// The position of the first item with `token`.
    fn position(&self, token: u64) -> Option<usize> {
        match &self.sorted {
            Some(sorted) => {
                let &(t, at) = sorted.get(sorted.partition_point(|&(t, _)| t < token))?;
                (t == token).then_some(at)
            }
            None => self
                .items
                .iter()
                .position(|x| (self.token)(x) == Some(token)),
        }
    }

    /// The first item with `token`.
    fn first(&self, token: u64) -> Option<&'l T> {
        self.items.get(self.position(token)?)
    }
}

/// The Request a Response answers: by RequestToken, else by position. `alone` says the
/// Response is the only one and answers a request body with exactly one Request: Office's
/// Cobalt.ashx endpoint answers `RequestToken="0"` with `RequestToken="1"`, and then the
/// two are paired anyway, with a note.
fn answered_request<'r>(
    requests: &ByToken<'r, Request>,
    resp: &Response,
    index: usize,
    alone: bool,
    notes: &mut Vec<Diagnostic>,
    at: usize,
) -> Option<&'r Request> {
    let Some(t) = resp.request_token else {
        return requests.items.get(index);
    };
    if let Some(q) = requests.first(t) {
        return Some(q);
    }
    let only = match requests.items {
        [only] if alone => only,
        _ => return None,
    };
    notes.push(Diagnostic::note(
        at,
        format!(
            "Response RequestToken {t} differs from the RequestToken {} of the only Request; paired as the only Request and Response of the message",
            only.request_token.map_or("(none)".to_owned(), |t| t.to_string())
        ),
    ));
    Some(only)
}

/// Reads Response number `index`, joined to its Request when `requests` is given.
fn read_response(
    ctx: &mut Ctx<'_>,
    n: XNode<'_>,
    path: &Path<'_>,
    requests: Option<&ByToken<'_, Request>>,
    index: usize,
    alone: bool,
) -> Response {
    ctx.expect_ns(n, TNS);
    let mut r = Response::default();
    let mut bag = AttrBag::new(n, &mut ctx.diags);
    r.read_attrs(&mut bag);
    bag.require(&r.health_score, "HealthScore");
    bag.finish(path, &mut ctx.unknown);
    let req =
        requests.and_then(|q| answered_request(q, &r, index, alone, &mut ctx.notes, n.offset()));
    if requests.is_some() && req.is_none() {
        ctx.diags.push(Diagnostic::unexpected(
            n.offset(),
            format!(
                "Response RequestToken {} matches no Request",
                r.request_token
                    .map_or("(none)".to_owned(), |t| t.to_string())
            ),
        ));
    }
    let subs = req.map(|q| ByToken::new(&q.sub_requests, |s| s.sub_request_token));
    for c in n.children() {
        if c.local() != "SubResponse" {
            ctx.unknown_element(path, c);
            continue;
        }
        let p = path.item("SubResponse", r.sub_responses.len());
        ctx.expect_ns(c, TNS);
        let mut s = SubResponse::default();
        let mut bag = AttrBag::new(c, &mut ctx.diags);
        s.read_attrs(&mut bag);
        bag.require(&s.sub_request_token, "SubRequestToken");
        bag.require(&s.error_code, "ErrorCode");
        bag.require(&s.h_result, "HResult");
        bag.finish(&p, &mut ctx.unknown);
        if let (Some(subs), Some(tok)) = (&subs, s.sub_request_token) {
            match subs.first(tok) {
                Some(sr) => s.request_type = sr.type_.clone(),
                None => ctx.diags.push(Diagnostic::unexpected(
                    c.offset(),
                    format!("SubResponse SubRequestToken {tok} matches no SubRequest"),
                )),
            }
        }
        for d in c.children() {
            match d.local() {
                "SubResponseData" if s.sub_response_data.is_none() => {
                    let dp = p.child("SubResponseData");
                    s.sub_response_data =
                        Some(read_sub_response_data(ctx, d, s.request_type.as_ref(), &dp));
                }
                "SubResponseStreamInvalid" => s.sub_response_stream_invalid = true,
                "GetVersionsResponse" => {
                    let gp = p.child("GetVersionsResponse");
                    s.get_versions_response = Some(read_get_versions(ctx, d, &gp));
                }
                _ => ctx.unknown_element(&p, d),
            }
        }
        r.sub_responses.push(s);
    }
    if let Some(req) = req {
        let answered = ByToken::new(&r.sub_responses, |s| s.sub_request_token);
        for sr in &req.sub_requests {
            let Some(tok) = sr.sub_request_token else {
                continue;
            };
            if answered.first(tok).is_none() {
                ctx.diags.push(Diagnostic::missing(
                    n.offset(),
                    format!("no SubResponse for SubRequestToken {tok}"),
                ));
            }
        }
    }
    r
}

/// Decodes a response body (plain SOAP or MTOM), joining it to `request` when given.
pub fn decode_response(
    content_type: Option<&str>,
    body: &[u8],
    request: Option<&RequestEnvelope>,
) -> ResponseEnvelope {
    let (mut ctx, tree) = prepare(content_type, body);
    let children = body_children(&mut ctx, &tree);
    let requests = request.map(|q| {
        let list = q
            .request_collection
            .as_ref()
            .map_or(&[][..], |c| &c.requests);
        ByToken::new(list, |r| r.request_token)
    });
    let body_path = Path::root("Body");
    let collection = Path::root("ResponseCollection");
    let mut env = ResponseEnvelope::default();
    for &c in &children {
        match c.local() {
            "ResponseVersion" => {
                env.response_version =
                    Some(read_version(&mut ctx, c, &Path::root("ResponseVersion")));
            }
            "ResponseCollection" => {
                ctx.expect_ns(c, TNS);
                let mut rc = ResponseCollection::default();
                let mut bag = AttrBag::new(c, &mut ctx.diags);
                rc.read_attrs(&mut bag);
                bag.finish(&collection, &mut ctx.unknown);
                let alone = c.children().filter(|r| r.local() == "Response").count() == 1;
                for r in c.children() {
                    if r.local() == "Response" {
                        let i = rc.responses.len();
                        let p = collection.item("Response", i);
                        let resp = read_response(&mut ctx, r, &p, requests.as_ref(), i, alone);
                        rc.responses.push(resp);
                    } else {
                        ctx.unknown_element(&collection, r);
                    }
                }
                env.response_collection = Some(rc);
            }
            "Fault" => env.fault = Some(read_fault(&mut ctx, c)),
            _ => ctx.unknown_element(&body_path, c),
        }
    }
    let version_error = env
        .response_version
        .as_ref()
        .and_then(|v| v.error_code.as_ref())
        .is_some_and(|e: &ErrorCode| !e.is_success());
    if env.fault.is_none() && env.response_version.is_none() && !children.is_empty() {
        ctx.diags.push(Diagnostic::missing(
            children.first().map_or(0, |c| c.offset()),
            "no ResponseVersion in soap Body",
        ));
    }
    if env.fault.is_none()
        && env.response_collection.is_none()
        && !version_error
        && !children.is_empty()
    {
        ctx.diags.push(Diagnostic::missing(
            children.first().map_or(0, |c| c.offset()),
            "no ResponseCollection in soap Body",
        ));
    }
    env.mtom = ctx.mp;
    env.diagnostics = ctx.diags;
    cap_diagnostics(&mut env.diagnostics);
    env.unknown = ctx.unknown;
    env.notes = ctx.notes;
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_token_sorted_index_finds_what_a_scan_finds() {
        // Tokens with gaps, repeats (the first one wins) and items without a token.
        let items: Vec<Option<u64>> = (0..100u64)
            .map(|i| (i % 7 != 3).then_some((i * 37) % 60))
            .collect();
        let index = ByToken::new(&items, |t| *t);
        assert!(index.sorted.is_some());
        for token in 0..70 {
            let scanned = items.iter().position(|t| *t == Some(token));
            assert_eq!(index.position(token), scanned, "{token}");
        }
        assert!(ByToken::new(&items[..SCAN_MAX], |t| *t).sorted.is_none());
    }
}
