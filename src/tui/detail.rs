//! The detail pane of one exchange: its tabs (Decoded tree, Request, Response, Hex,
//! Fields, Timing), built once when the pane opens, with the tree's collapse state and the
//! cursor.

use std::collections::HashSet;
use std::fmt::Write as _;

use super::source::{decode_guarded, DECODE_FAILED};
use crate::decode::exchange::{DecodedExchange, Side};
use crate::decode::fsshttp::{render_tree, CellPayload};
use crate::decode::fsshttpb::{self, render_request_tree, render_response_tree};
use crate::decode::pretty::pretty_json;
use crate::model::{Body, Exchange, Headers};

/// The detail tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tab {
    /// The decoded tree.
    Decoded,
    /// Request headers and body.
    Request,
    /// Response headers and body.
    Response,
    /// Both bodies in hex.
    Hex,
    /// The byte map of each MS-FSSHTTPB message (every field with its offset and bytes).
    Fields,
    /// Timings.
    Timing,
}

impl Tab {
    /// Tabs in order.
    pub(crate) const ALL: [Self; 6] = [
        Self::Decoded,
        Self::Request,
        Self::Response,
        Self::Hex,
        Self::Fields,
        Self::Timing,
    ];

    /// The tab's title.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::Decoded => "Decoded",
            Self::Request => "Request",
            Self::Response => "Response",
            Self::Hex => "Hex",
            Self::Fields => "Fields",
            Self::Timing => "Timing",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|t| *t == self).unwrap_or(0)
    }
}

/// One line of the decoded tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Node {
    /// Nesting depth.
    pub depth: usize,
    /// The text.
    pub text: String,
    /// Byte range `[start, end)`, when the line names one.
    pub range: Option<(usize, usize)>,
    /// The HTTP body the range is an offset into (MS-FSSHTTP envelope and MTOM nodes);
    /// None when the range is relative to an embedded MS-FSSHTTPB message.
    pub body: Option<Side>,
}

/// One hex line: offset, bytes, and which bytes to highlight.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HexLine {
    /// Which body.
    pub side: Side,
    /// Offset of the first byte.
    pub offset: usize,
    /// Up to 16 bytes.
    pub bytes: Vec<u8>,
}

/// The open detail pane.
pub(crate) struct Detail {
    /// The exchange id.
    pub id: u64,
    /// Current tab.
    pub tab: Tab,
    /// Why the exchange could not be loaded.
    pub error: Option<String>,
    /// Decoded tree lines.
    pub tree: Vec<Node>,
    /// Collapsed tree nodes (indexes).
    pub collapsed: HashSet<usize>,
    /// Tree cursor (index into `tree`).
    pub cursor: usize,
    /// Request tab lines.
    pub request: Vec<String>,
    /// Response tab lines.
    pub response: Vec<String>,
    /// Hex lines (request body, then response body).
    pub hex: Vec<HexLine>,
    /// Diagnostic offsets per side, highlighted in hex.
    pub marks: Vec<(Side, usize)>,
    /// Fields tab lines.
    pub fields: Vec<String>,
    /// Timing lines.
    pub timing: Vec<String>,
    /// Scroll offset of the text tabs.
    pub scroll: usize,
}

/// Bodies longer than this are shown in hex up to here only.
const HEX_LIMIT: usize = 64 << 10;

impl Detail {
    /// Builds the pane for exchange `id` (or the error that kept it from loading).
    pub(crate) fn new(id: u64, x: Result<Exchange, String>) -> Self {
        let mut d = Self {
            id,
            tab: Tab::Decoded,
            error: None,
            tree: Vec::new(),
            collapsed: HashSet::new(),
            cursor: 0,
            request: Vec::new(),
            response: Vec::new(),
            hex: Vec::new(),
            marks: Vec::new(),
            fields: Vec::new(),
            timing: Vec::new(),
            scroll: 0,
        };
        match x {
            Err(e) => d.error = Some(e),
            Ok(x) => {
                // A decoder panic loses the decoded tabs of this exchange, not the UI.
                let Some(decoded) = decode_guarded(&x) else {
                    d.error = Some(DECODE_FAILED.to_owned());
                    return d;
                };
                d.tree = tree(&decoded);
                d.marks = decoded
                    .diagnostics
                    .iter()
                    .map(|g| (g.side, g.offset))
                    .collect();
                d.request = match &x.request {
                    Some(r) => message_lines(
                        &format!("{} {} {}", r.method, r.url, x.http_version),
                        &r.headers,
                        &r.body,
                    ),
                    None => vec!["(no request)".into()],
                };
                d.response = match &x.response {
                    Some(r) => message_lines(
                        &format!("{} {} {}", x.http_version, r.status, r.reason),
                        &r.headers,
                        &r.body,
                    ),
                    None => vec![x
                        .error
                        .clone()
                        .map_or_else(|| "(no response)".into(), |e| format!("error: {e}"))],
                };
                for (side, body) in [
                    (Side::Request, x.request.as_ref().map(|r| &r.body)),
                    (Side::Response, x.response.as_ref().map(|r| &r.body)),
                ] {
                    let Some(b) = body else { continue };
                    let bytes = &b.bytes[..b.bytes.len().min(HEX_LIMIT)];
                    for (i, c) in bytes.chunks(16).enumerate() {
                        d.hex.push(HexLine {
                            side,
                            offset: i * 16,
                            bytes: c.to_vec(),
                        });
                    }
                }
                d.fields = field_lines(&x, &decoded);
                d.timing = timing_lines(&x);
            }
        }
        d
    }

    /// The visible tree nodes (collapsed subtrees hidden), as indexes into `tree`.
    pub(crate) fn visible(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let mut hide_below: Option<usize> = None;
        for (i, n) in self.tree.iter().enumerate() {
            if let Some(d) = hide_below {
                if n.depth > d {
                    continue;
                }
                hide_below = None;
            }
            out.push(i);
            if self.collapsed.contains(&i) {
                hide_below = Some(n.depth);
            }
        }
        out
    }

    /// Whether tree node `i` has children.
    pub(crate) fn has_children(&self, i: usize) -> bool {
        match (self.tree.get(i), self.tree.get(i + 1)) {
            (Some(a), Some(b)) => b.depth > a.depth,
            _ => false,
        }
    }

    /// The body byte range of the node under the cursor (highlighted in hex).
    pub(crate) fn selected_range(&self) -> Option<(Side, usize, usize)> {
        let n = self.tree.get(self.cursor)?;
        let (a, b) = n.range?;
        Some((n.body?, a, b))
    }

    fn text_len(&self) -> usize {
        match self.tab {
            Tab::Decoded => 0,
            Tab::Request => self.request.len(),
            Tab::Response => self.response.len(),
            Tab::Hex => self.hex.len(),
            Tab::Fields => self.fields.len(),
            Tab::Timing => self.timing.len(),
        }
    }

    /// Moves the cursor (Decoded) or scrolls (other tabs) up.
    pub(crate) fn up(&mut self, n: usize) {
        if self.tab == Tab::Decoded {
            let vis = self.visible();
            let at = vis.iter().position(|&i| i == self.cursor).unwrap_or(0);
            self.cursor = vis.get(at.saturating_sub(n)).copied().unwrap_or(0);
        } else {
            self.scroll = self.scroll.saturating_sub(n);
        }
    }

    /// Moves the cursor (Decoded) or scrolls (other tabs) down.
    pub(crate) fn down(&mut self, n: usize) {
        if self.tab == Tab::Decoded {
            let vis = self.visible();
            let at = vis.iter().position(|&i| i == self.cursor).unwrap_or(0);
            let to = at.saturating_add(n).min(vis.len().saturating_sub(1));
            self.cursor = vis.get(to).copied().unwrap_or(0);
        } else {
            self.scroll = self
                .scroll
                .saturating_add(n)
                .min(self.text_len().saturating_sub(1));
        }
    }

    /// Collapses or expands the node under the cursor.
    pub(crate) fn toggle(&mut self) {
        if self.tab == Tab::Decoded
            && self.has_children(self.cursor)
            && !self.collapsed.remove(&self.cursor)
        {
            self.collapsed.insert(self.cursor);
        }
    }

    /// Next tab.
    pub(crate) fn next_tab(&mut self) {
        self.tab = Tab::ALL[(self.tab.index() + 1) % Tab::ALL.len()];
        self.scroll = 0;
    }

    /// Previous tab.
    pub(crate) fn prev_tab(&mut self) {
        self.tab = Tab::ALL[(self.tab.index() + Tab::ALL.len() - 1) % Tab::ALL.len()];
        self.scroll = 0;
    }
}

/// The Fields tab: the byte map ([`fsshttpb::fields`]) of every MS-FSSHTTPB message in
/// the exchange: each Cell payload of a SOAP envelope, or a body that is one itself.
fn field_lines(x: &Exchange, d: &DecodedExchange) -> Vec<String> {
    let mut out = Vec::new();
    let f = d.fsshttp();
    // A MIME part named by several xop:Includes is listed once.
    let mut seen = Vec::new();
    // Each side: the Cell payloads of its SOAP envelope, or the body when it is an
    // MS-FSSHTTPB message itself.
    let request_cells = f
        .and_then(|f| f.request.as_ref())
        .map(|env| env.cell_payloads().collect::<Vec<_>>());
    let response_cells = f
        .and_then(|f| f.response.as_ref())
        .map(|env| env.cell_payloads().collect::<Vec<_>>());
    for (cells, heading, body, label) in [
        (
            request_cells,
            "SubRequest",
            x.request.as_ref().map(|r| &r.body),
            "Request body",
        ),
        (
            response_cells,
            "SubResponse",
            x.response.as_ref().map(|r| &r.body),
            "Response body",
        ),
    ] {
        if let Some(cells) = cells {
            for (t, p) in cells {
                payload_fields(&mut out, &mut seen, p.heading(heading, t), p);
            }
        } else if let Some(b) = body.filter(|b| fsshttpb::sniff(&b.bytes).is_some()) {
            add_fields(&mut out, label, &b.bytes);
        }
    }
    if out.is_empty() {
        out.push("(no MS-FSSHTTPB message in this exchange)".to_owned());
    }
    out
}

/// The byte map of one Cell payload, or a pointer to the payload it repeats.
fn payload_fields<'a>(
    out: &mut Vec<String>,
    seen: &mut Vec<(&'a CellPayload, String)>,
    heading: String,
    p: &'a CellPayload,
) {
    match p.repeats(seen, heading.clone()) {
        Some(first) => out.push(format!("{heading}: the same MIME part as {first}")),
        None => add_fields(out, &heading, &p.bytes),
    }
}

/// The byte map of one MS-FSSHTTPB message under `heading`.
fn add_fields(out: &mut Vec<String>, heading: &str, bytes: &[u8]) {
    let Some((fields, diags)) = fsshttpb::fields(bytes) else {
        out.push(format!("{heading}: not an MS-FSSHTTPB message"));
        return;
    };
    out.push(format!("{heading} (offsets from the payload's start)"));
    let text = fsshttpb::render_fields(&fields, &diags, bytes);
    out.extend(text.lines().map(str::to_owned));
    out.push(String::new());
}

/// The decoded tree: protocol and summary, the MS-FSSHTTP envelopes, each Cell
/// subrequest's MS-FSSHTTPB messages, SPFileSync/WebDAV structures, diagnostics.
fn tree(d: &DecodedExchange) -> Vec<Node> {
    let mut out = Vec::new();
    let mut body: Option<Side> = None;
    let mut in_envelope = false;
    let mut push = |depth: usize, text: String| {
        let range = parse_range(&text);
        if text == "MS-FSSHTTP" {
            in_envelope = true;
        } else if depth <= 1 && !text.ends_with("message") {
            in_envelope = false;
        }
        if text.starts_with("Request message") {
            body = Some(Side::Request);
        } else if text.starts_with("Response message") {
            body = Some(Side::Response);
        }
        out.push(Node {
            depth,
            text,
            range,
            body: if in_envelope { body } else { None },
        });
    };
    push(0, format!("Protocol: {}", d.protocol().name()));
    for s in &d.summary {
        push(1, s.clone());
    }
    if let Some(f) = d.fsshttp() {
        push(0, "MS-FSSHTTP".into());
        indented(
            &render_tree(f.request.as_ref(), f.response.as_ref()),
            1,
            &mut push,
        );
        for (i, c) in f.cells.iter().enumerate() {
            let token = c
                .sub_request_token
                .map_or_else(String::new, |t| format!(" (SubRequestToken {t})"));
            push(1, format!("Cell subrequest {}{token}: MS-FSSHTTPB", i + 1));
            if let Some(r) = &c.request {
                indented(&render_request_tree(r), 2, &mut push);
            }
            if let Some(r) = &c.response {
                indented(&render_response_tree(r), 2, &mut push);
            }
        }
    }
    if let Some(s) = d.spfilesync() {
        push(0, "SPFileSync".into());
        json_tree(s, 1, &mut push);
    }
    if let Some(w) = d.webdav() {
        push(0, "WebDAV".into());
        json_tree(w, 1, &mut push);
    }
    if !d.diagnostics.is_empty() {
        push(0, format!("Diagnostics ({})", d.diagnostics.len()));
        for g in &d.diagnostics {
            let side = match g.side {
                Side::Request => "request",
                Side::Response => "response",
            };
            let within = g
                .within
                .as_deref()
                .map_or_else(String::new, |w| format!(" in {w}"));
            push(1, format!("{side} @{}{within}: {}", g.offset, g.message));
        }
    }
    out
}

fn indented(text: &str, base: usize, push: &mut impl FnMut(usize, String)) {
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        let spaces = line.len() - line.trim_start().len();
        push(base + spaces / 2, line.trim_start().to_owned());
    }
}

fn json_tree<T: serde::Serialize>(v: &T, base: usize, push: &mut impl FnMut(usize, String)) {
    // Indentation capped (crate::decode::pretty): deep nesting stays linear in size.
    for line in pretty_json(v).lines() {
        let t = line.trim_start();
        if matches!(t, "}" | "}," | "]" | "]," | "{" | "[") {
            continue;
        }
        let spaces = line.len() - t.len();
        push(
            base + (spaces / 2).saturating_sub(1),
            t.trim_end_matches(['{', '[', ',']).trim_end().to_owned(),
        );
    }
}

/// Finds `[start..end)` (MS-FSSHTTPB) or `[start..end]` (MTOM parts, exclusive too) in a
/// tree line.
fn parse_range(text: &str) -> Option<(usize, usize)> {
    text.match_indices('[').find_map(|(open, _)| {
        let rest = &text[open + 1..];
        let close = rest.find([')', ']'])?;
        let (a, b) = rest[..close].split_once("..")?;
        Some((a.parse().ok()?, b.parse().ok()?))
    })
}

fn message_lines(first: &str, headers: &Headers, body: &Body) -> Vec<String> {
    let mut out = vec![first.to_owned()];
    for (k, v) in &headers.0 {
        out.push(format!("{k}: {v}"));
    }
    out.push(String::new());
    let mut note = format!("body: {} bytes", body.len);
    if body.truncated {
        let _ = write!(note, ", {} stored (truncated)", body.bytes.len());
    }
    out.push(note);
    if body.bytes.is_empty() {
        return out;
    }
    match std::str::from_utf8(&body.bytes) {
        Ok(s) => {
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
                if let Ok(p) = serde_json::to_string_pretty(&v) {
                    out.extend(p.lines().map(str::to_owned));
                    return out;
                }
            }
            if s.trim_start().starts_with('<') {
                out.extend(pretty_xml(s));
            } else {
                out.extend(s.lines().map(str::to_owned));
            }
        }
        Err(_) => out.push("(binary: see the Hex tab)".into()),
    }
    out
}

/// A plain XML pretty-printer: one tag per line, indented by nesting. Display only.
fn pretty_xml(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut rest = s.trim();
    while !rest.is_empty() {
        let (piece, next) = if rest.starts_with('<') {
            match rest.find('>') {
                Some(e) => rest.split_at(e + 1),
                None => (rest, ""),
            }
        } else {
            match rest.find('<') {
                Some(e) => rest.split_at(e),
                None => (rest, ""),
            }
        };
        rest = next.trim_start();
        let piece = piece.trim();
        if piece.is_empty() {
            continue;
        }
        let closing = piece.starts_with("</");
        let opening = piece.starts_with('<')
            && !closing
            && !piece.ends_with("/>")
            && !piece.starts_with("<?")
            && !piece.starts_with("<!");
        if closing {
            depth = depth.saturating_sub(1);
        }
        out.push(format!("{:indent$}{piece}", "", indent = depth.min(40) * 2));
        if opening {
            depth += 1;
        }
        if out.len() > 20_000 {
            out.push("…".into());
            break;
        }
    }
    out
}

fn timing_lines(x: &Exchange) -> Vec<String> {
    let t = &x.timings;
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1} ms"));
    let mut out = vec![
        format!("exchange     #{}", x.id),
        format!("start        {}", t.start),
        format!("connect      {}", ms(t.connect_ms)),
        format!("tls          {}", ms(t.tls_ms)),
        format!("request sent {}", ms(t.request_sent_ms)),
        format!("first byte   {}", ms(t.first_response_byte_ms)),
        format!("done         {}", ms(t.done_ms)),
        format!("connection   {} from {}", x.connection_id, x.client_addr),
        format!("server       {} ({})", x.server, x.http_version),
    ];
    if let Some(tls) = &x.tls {
        out.push(format!(
            "tls          {} alpn {} sni {}",
            tls.version.as_deref().unwrap_or("-"),
            tls.alpn.as_deref().unwrap_or("-"),
            tls.sni.as_deref().unwrap_or("-")
        ));
    }
    if let Some(i) = &x.imported {
        out.push(format!(
            "imported     {} #{}{}",
            i.format,
            i.number.unwrap_or(0),
            i.process
                .as_ref()
                .map_or_else(String::new, |p| format!(" process {p}"))
        ));
    }
    if let Some(e) = &x.error {
        out.push(format!("error        {e}"));
    }
    out
}
