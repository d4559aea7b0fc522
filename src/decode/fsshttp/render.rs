//! Human renderings of decoded MS-FSSHTTP messages: an indented tree with the
//! specification's names, and one summary phrase per subrequest
//! (`Coauth JoinCoauthoring ClientID={…} → Success Alone`).
//!
//! The tree is built from the model's JSON form so that every attribute shows up under
//! its specification name without a second list of names to keep in step. Cell
//! payloads show their length, origin and first 16 bytes in hex until the FSSHTTPB
//! decoder is plugged in.

use std::fmt::Write as _;

use serde_json::Value;

use super::model::*;
use super::values::ErrorCode;

/// Number of payload bytes shown in hex.
const HEAD: usize = 16;

fn payload_line(p: &CellPayload) -> String {
    let mut s = format!("payload {} bytes", p.bytes.len());
    match &p.origin {
        PayloadOrigin::Inline => s.push_str(" inline base64"),
        PayloadOrigin::Part { content_id, range } => {
            let _ = write!(
                s,
                " from part <{content_id}> [{}..{}]",
                range.start, range.end
            );
        }
    }
    if !p.bytes.is_empty() {
        s.push(':');
        for b in p.bytes.iter().take(HEAD) {
            let _ = write!(s, " {b:02x}");
        }
        if p.bytes.len() > HEAD {
            s.push_str(" …");
        }
    }
    s
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(format!("{s:?}")),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Null => None,
        Value::Object(o) => {
            // The typed attribute values render compactly.
            if let (Some(Value::String(raw)), Some(Value::String(hex))) =
                (o.get("raw"), o.get("hex"))
            {
                return Some(format!("{raw} ({hex})"));
            }
            if let Some(t) = o.get("ticks") {
                // Ticks are decimal strings in JSON; the text shows the bare number.
                let t = t.as_str().map_or_else(|| t.to_string(), str::to_owned);
                let utc = o.get("utc").and_then(Value::as_str).unwrap_or("?");
                return Some(format!("{t} ({utc})"));
            }
            None
        }
        Value::Array(_) => None,
    }
}

/// [`scalar`] for attribute `attr` of element `element`: an ErrorCode, serialized as its
/// wire text, shows its category too (a SOAP fault's ErrorCode is an HRESULT text and
/// stays quoted).
fn scalar_attr(element: &str, attr: &str, v: &Value) -> Option<String> {
    match v {
        Value::String(code) if attr == "ErrorCode" && element != "Fault" => Some(format!(
            "{code} ({})",
            ErrorCode::from(code.as_str()).category()
        )),
        _ => scalar(v),
    }
}

/// Specification order of attribute and child names; names not listed sort last.
fn rank(name: &str) -> usize {
    const ORDER: &[&[&str]] = &[
        &[
            "ResponseVersion",
            "RequestVersion",
            "ResponseCollection",
            "RequestCollection",
            "Fault",
        ],
        &["Type"],
        SubRequest::ATTRIBUTES,
        SubResponse::ATTRIBUTES,
        Request::ATTRIBUTES,
        Response::ATTRIBUTES,
        VersionInfo::ATTRIBUTES,
        SubRequestData::ATTRIBUTES,
        SubResponseData::ATTRIBUTES,
        FileVersion::ATTRIBUTES,
        VersionUser::ATTRIBUTES,
        &["faultcode", "faultstring", "faultactor", "ErrorString"],
    ];
    ORDER
        .iter()
        .flat_map(|l| l.iter())
        .position(|n| *n == name)
        .unwrap_or(usize::MAX)
}

fn sorted(o: &serde_json::Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut v: Vec<_> = o.iter().collect();
    v.sort_by_key(|(k, _)| rank(k));
    v
}

/// The payload lines of a message in document order, for [`node`]: the tree is built
/// from the JSON form, and the payloads are emptied before it is made so that a payload
/// (possibly one MIME part included hundreds of times) is never base64-encoded just to
/// print its first bytes.
#[derive(Default)]
struct PayloadLines(std::collections::VecDeque<String>);

impl PayloadLines {
    /// Records the line of `p` and empties it (keeping its origin).
    fn take(&mut self, p: Option<&mut CellPayload>) {
        if let Some(p) = p {
            self.0.push_back(payload_line(p));
            p.bytes = bytes::Bytes::new();
        }
    }
}

fn node(out: &mut String, lines: &mut PayloadLines, depth: usize, name: &str, v: &Value) {
    let pad = "  ".repeat(depth);
    match v {
        Value::Array(items) => {
            for it in items {
                node(out, lines, depth, name, it);
            }
            if items.is_empty() {
                let _ = writeln!(out, "{pad}{name} (empty)");
            }
        }
        Value::Object(o) => {
            let mut line = format!("{pad}{name}");
            let mut nested = Vec::new();
            for (k, val) in sorted(o) {
                if k == "payload" || k == "mtom" || k == "diagnostics" || k == "unknown" {
                    continue;
                }
                match scalar_attr(name, k, val) {
                    Some(s) => {
                        let _ = write!(line, " {k}={s}");
                    }
                    None => nested.push((k, val)),
                }
            }
            let _ = writeln!(out, "{line}");
            if o.get("payload").is_some_and(|p| !p.is_null()) {
                if let Some(line) = lines.0.pop_front() {
                    let _ = writeln!(out, "{pad}  {line}");
                }
            }
            for (k, val) in nested {
                node(out, lines, depth + 1, k, val);
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{name}={}", scalar(other).unwrap_or_default());
        }
    }
}

/// The fields of message `m` but its MTOM form, diagnostics and unknown nodes, in order
/// of name, one level in.
fn fields(out: &mut String, lines: &mut PayloadLines, m: &impl serde::Serialize) {
    if let Ok(Value::Object(o)) = serde_json::to_value(m) {
        for (k, v) in sorted(&o) {
            if k != "mtom" && k != "diagnostics" && k != "unknown" {
                node(out, lines, 1, k, v);
            }
        }
    }
}

fn tail(out: &mut String, diags: &[crate::decode::Diagnostic], unknown: &[UnknownNode]) {
    if !diags.is_empty() {
        out.push_str("  diagnostics\n");
        for d in diags {
            let _ = writeln!(out, "    {d}");
        }
    }
    if !unknown.is_empty() {
        out.push_str("  unknown\n");
        for u in unknown {
            let v = u
                .value
                .as_deref()
                .map(|v| format!("={v:?}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "    {}/{}{v} ({:?} at byte {})",
                u.path, u.name, u.kind, u.offset
            );
        }
    }
}

fn mtom_line(out: &mut String, mp: Option<&crate::decode::mtom::Multipart>) {
    if let Some(mp) = mp {
        let _ = writeln!(
            out,
            "  MTOM boundary={:?} parts={}",
            mp.params.boundary,
            mp.parts.len()
        );
        for (i, p) in mp.parts.iter().enumerate() {
            let root = if mp.root == Some(i) { " root" } else { "" };
            let _ = writeln!(
                out,
                "    part {i}{root} <{}> {} [{}..{}]",
                p.content_id.as_deref().unwrap_or("?"),
                p.content_type.as_deref().unwrap_or("?"),
                p.range.start,
                p.range.end
            );
        }
    }
}

/// Renders the request and/or response as an indented tree with specification names.
pub fn render_tree(
    request: Option<&RequestEnvelope>,
    response: Option<&ResponseEnvelope>,
) -> String {
    let mut out = String::new();
    if let Some(r) = request {
        out.push_str("Request message\n");
        mtom_line(&mut out, r.mtom.as_ref());
        let mut r = r.clone();
        let mut lines = PayloadLines::default();
        for c in r.request_collection.iter_mut() {
            for s in c
                .requests
                .iter_mut()
                .flat_map(|q| q.sub_requests.iter_mut())
            {
                lines.take(s.sub_request_data.as_mut().and_then(|d| d.payload.as_mut()));
            }
        }
        fields(&mut out, &mut lines, &r);
        tail(&mut out, &r.diagnostics, &r.unknown);
    }
    if let Some(r) = response {
        out.push_str("Response message\n");
        mtom_line(&mut out, r.mtom.as_ref());
        let mut r = r.clone();
        let mut lines = PayloadLines::default();
        for c in r.response_collection.iter_mut() {
            for s in c
                .responses
                .iter_mut()
                .flat_map(|q| q.sub_responses.iter_mut())
            {
                lines.take(
                    s.sub_response_data
                        .as_mut()
                        .and_then(|d| d.payload.as_mut()),
                );
            }
        }
        fields(&mut out, &mut lines, &r);
        tail(&mut out, &r.diagnostics, &r.unknown);
    }
    out
}

fn sub_operation(d: &SubRequestData) -> Option<String> {
    d.coauth_request_type
        .as_ref()
        .map(ToString::to_string)
        .or_else(|| d.schema_lock_request_type.as_ref().map(ToString::to_string))
        .or_else(|| {
            d.exclusive_lock_request_type
                .as_ref()
                .map(ToString::to_string)
        })
        .or_else(|| {
            d.editors_table_request_type
                .as_ref()
                .map(ToString::to_string)
        })
        .or_else(|| d.file_operation.as_ref().map(ToString::to_string))
        .or_else(|| d.versioning_request_type.as_ref().map(ToString::to_string))
        .or_else(|| d.properties.as_ref().map(ToString::to_string))
}

fn request_phrase(s: &SubRequest) -> String {
    let mut p = s
        .type_
        .as_ref()
        .map_or_else(|| "SubRequest".to_owned(), ToString::to_string);
    if let Some(d) = &s.sub_request_data {
        if let Some(op) = sub_operation(d) {
            let _ = write!(p, " {op}");
        }
        if let Some(c) = &d.client_id {
            let _ = write!(p, " ClientID={c}");
        }
        if let Some(v) = &d.new_file_name {
            let _ = write!(p, " NewFileName={v}");
        }
        if let Some(v) = &d.version {
            let _ = write!(p, " Version={v}");
        }
        if let Some(pl) = &d.payload {
            let _ = write!(p, " {} bytes", pl.bytes.len());
        }
    }
    if let (Some(dep), Some(t)) = (s.depends_on, &s.dependency_type) {
        let _ = write!(p, " (DependsOn {dep} {t})");
    }
    p
}

fn response_phrase(s: &SubResponse) -> String {
    let mut p = match &s.error_code {
        Some(e) if e.is_success() => "Success".to_owned(),
        Some(e) => format!("{e} ({})", e.category()),
        None => "no ErrorCode".to_owned(),
    };
    if let Some(h) = &s.h_result {
        if h.value != 0 {
            let _ = write!(p, " HResult={}", h.hex);
        }
    }
    if let Some(m) = &s.error_message {
        let _ = write!(p, " {m:?}");
    }
    if let Some(d) = &s.sub_response_data {
        let mut bits: Vec<String> = Vec::new();
        if let Some(v) = &d.coauth_status {
            bits.push(v.to_string());
        }
        if let Some(v) = &d.lock_type {
            bits.push(format!("LockType={v}"));
        }
        if let Some(v) = &d.exclusive_lock_return_reason {
            bits.push(format!("({v})"));
        }
        if let Some(v) = &d.user_login {
            bits.push(format!("UserLogin={v}"));
        }
        if let Some(v) = &d.server_time {
            bits.push(format!("ServerTime={}", v.utc.as_deref().unwrap_or("?")));
        }
        if let Some(v) = d.am_i_alone {
            bits.push(format!("AmIAlone={v}"));
        }
        if let Some(v) = &d.locked_by {
            bits.push(format!("LockedBy={v}"));
        }
        if let Some(v) = &d.etag {
            bits.push(format!("Etag={v}"));
        }
        if let Some(v) = &d.versions {
            bits.push(format!("{} versions", v.len()));
        }
        if let Some(pl) = &d.payload {
            bits.push(format!("{} bytes", pl.bytes.len()));
        }
        for b in bits {
            p.push(' ');
            p.push_str(&b);
        }
    }
    if let Some(g) = &s.get_versions_response {
        let _ = write!(p, " {} versions", g.result.len());
    }
    if s.sub_response_stream_invalid {
        p.push_str(" SubResponseStreamInvalid");
    }
    p
}

/// One phrase per subrequest (or per subresponse when there is no request).
pub fn summarize(
    request: Option<&RequestEnvelope>,
    response: Option<&ResponseEnvelope>,
) -> Vec<String> {
    let mut out = Vec::new();
    let subs: Vec<(Option<u64>, &SubResponse)> = response
        .map(|r| {
            r.sub_responses()
                .map(|(resp, s)| (resp.request_token, s))
                .collect()
        })
        .unwrap_or_default();
    if let Some(v) = response.and_then(|r| r.response_version.as_ref()) {
        if let Some(e) = v.error_code.as_ref().filter(|e| !e.is_success()) {
            out.push(format!("ResponseVersion → {e} ({})", e.category()));
        }
    }
    if let Some(f) = request
        .and_then(|r| r.fault.as_ref())
        .or(response.and_then(|r| r.fault.as_ref()))
    {
        out.push(
            format!(
                "Fault {} {}",
                f.faultcode.as_deref().unwrap_or("?"),
                f.faultstring.as_deref().unwrap_or("")
            )
            .trim_end()
            .to_owned(),
        );
    }
    match request {
        Some(req) => {
            for (r, s) in req.sub_requests() {
                let mut line = request_phrase(s);
                let answer = subs.iter().find(|(rt, sr)| {
                    sr.sub_request_token == s.sub_request_token
                        && (rt.is_none() || *rt == r.request_token)
                });
                match answer {
                    Some((_, sr)) => {
                        let _ = write!(line, " → {}", response_phrase(sr));
                    }
                    None if response.is_some() => line.push_str(" → no SubResponse"),
                    None => {}
                }
                out.push(line);
            }
        }
        None => {
            for (_, s) in &subs {
                let kind = s.request_type.as_ref().map_or_else(
                    || format!("SubRequestToken {}", s.sub_request_token.unwrap_or(0)),
                    ToString::to_string,
                );
                out.push(format!("{kind} → {}", response_phrase(s)));
            }
        }
    }
    out
}
