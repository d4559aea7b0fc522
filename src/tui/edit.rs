//! The text a paused message is edited as, and the message read back from it.
//!
//! The file holds the raw HTTP head (request line or status line, then one header field
//! per line, then a blank line) and the body: for cell storage (MS-FSSHTTP SOAP, plain or
//! as the MTOM root part) the SOAP envelope pretty-printed, with binary MTOM parts left
//! as they were and referenced by their Content-ID from `xop:Include`; a text body as it
//! is; a binary body not at all (only the head is edited). [`parse`] reads the text back:
//! the head with a clear error at its line and column, the SOAP envelope serialised again
//! into the body (into the MTOM root part, other parts byte for byte). Content-Length is
//! set by the proxy from the body it sends. Pure: no IO.

use quick_xml::events::Event;
use quick_xml::{Reader, Writer};

use crate::decode::mtom;
use crate::model::{Body, Edited, Exchange, Headers, InterceptSide, Request, Response};

/// How the body appears in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyForm {
    /// As it is (text).
    Text,
    /// The SOAP envelope pretty-printed; `root` is the MTOM root part's content range
    /// in the original body, `None` for a plain SOAP body.
    Soap {
        root: Option<std::ops::Range<usize>>,
    },
    /// Binary: not in the file; the original is sent.
    Binary,
}

/// A paused message as text to edit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EditText {
    pub text: String,
    pub form: BodyForm,
}

/// Why an edited file could not be read back: 1-based line and column in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub(crate) struct EditError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// The paused message of `x` as text.
pub(crate) fn to_text(side: InterceptSide, x: &Exchange) -> EditText {
    let (first, headers, body) = match side {
        InterceptSide::Request => {
            let q = x.request.as_ref();
            let target = q.map_or("/", |q| target_of(&q.url));
            (
                format!(
                    "{} {target} HTTP/1.1",
                    q.map_or("GET", |q| q.method.as_str())
                ),
                q.map(|q| &q.headers),
                q.map(|q| &q.body.bytes[..]).unwrap_or_default(),
            )
        }
        InterceptSide::Response => {
            let r = x.response.as_ref();
            (
                format!(
                    "HTTP/1.1 {} {}",
                    r.map_or(200, |r| r.status),
                    r.map_or("", |r| r.reason.as_str())
                ),
                r.map(|r| &r.headers),
                r.map(|r| &r.body.bytes[..]).unwrap_or_default(),
            )
        }
    };
    let mut text = first.trim_end().to_owned();
    text.push('\n');
    for (n, v) in headers.map(|h| &h.0[..]).unwrap_or_default() {
        text.push_str(&format!("{n}: {v}\n"));
    }
    text.push('\n');
    let ct = headers.and_then(|h| h.get("content-type")).unwrap_or("");
    let encoded = headers
        .and_then(|h| h.get("content-encoding"))
        .is_some_and(|e| !e.trim().eq_ignore_ascii_case("identity"));
    let form = if encoded {
        BodyForm::Binary
    } else {
        body_form(ct, body)
    };
    match &form {
        BodyForm::Text => text.push_str(&String::from_utf8_lossy(body)),
        BodyForm::Soap { root } => {
            let xml = root.as_ref().map_or(body, |r| &body[r.clone()]);
            let xml = std::str::from_utf8(xml).unwrap_or_default();
            text.push_str(&pretty(xml).unwrap_or_else(|| xml.to_owned()));
            text.push('\n');
        }
        BodyForm::Binary => {}
    }
    EditText { text, form }
}

/// The request-target of a recorded URL: its path and query.
fn target_of(url: &str) -> &str {
    match url.find("://") {
        Some(i) => url[i + 3..].find('/').map_or("/", |j| &url[i + 3 + j..]),
        None => url,
    }
}

/// How a body with this Content-Type is edited.
fn body_form(content_type: &str, body: &[u8]) -> BodyForm {
    if let Some(params) = mtom::parse_content_type(content_type) {
        let mp = mtom::split(body, &params);
        if let Some(root) = mp.root_part() {
            let xml = &body[root.range.clone()];
            if std::str::from_utf8(xml).is_ok() && pretty_ok(xml) {
                return BodyForm::Soap {
                    root: Some(root.range.clone()),
                };
            }
        }
        return BodyForm::Binary;
    }
    let essence = content_type.split(';').next().unwrap_or("").trim();
    let xml_type = essence.eq_ignore_ascii_case("text/xml")
        || essence.eq_ignore_ascii_case("application/soap+xml");
    if xml_type && std::str::from_utf8(body).is_ok() && pretty_ok(body) {
        return BodyForm::Soap { root: None };
    }
    if is_text(body) {
        BodyForm::Text
    } else {
        BodyForm::Binary
    }
}

fn pretty_ok(xml: &[u8]) -> bool {
    std::str::from_utf8(xml).ok().and_then(pretty).is_some()
}

/// Text an editor shows as it is: UTF-8 without control characters but tab, CR, LF.
fn is_text(b: &[u8]) -> bool {
    std::str::from_utf8(b).is_ok_and(|s| {
        !s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    })
}

/// `xml` re-written: indented (`pretty`) or without the whitespace between elements.
/// Whitespace-only text between tags is the only thing changed.
fn reserialise(xml: &str, indent: bool) -> Result<String, (usize, String)> {
    let mut reader = Reader::from_str(xml);
    reader.config_mut().check_end_names = true;
    let mut out = if indent {
        Writer::new_with_indent(Vec::new(), b' ', 2)
    } else {
        Writer::new(Vec::new())
    };
    loop {
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(0);
        match reader.read_event() {
            Ok(Event::Eof) => break,
            Ok(Event::Text(t)) if is_space(t.as_ref()) => {}
            Ok(e) => out.write_event(e).map_err(|e| (pos, e.to_string()))?,
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(pos);
                return Err((at, e.to_string()));
            }
        }
    }
    String::from_utf8(out.into_inner()).map_err(|e| (e.utf8_error().valid_up_to(), e.to_string()))
}

/// XML whitespace only (space, tab, CR, LF).
fn is_space(t: &str) -> bool {
    t.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// `xml` indented, when it parses.
fn pretty(xml: &str) -> Option<String> {
    reserialise(xml, true).ok()
}

/// Reads an edited file back into the message to send: `original` is the paused
/// exchange (the body parts not in the file come from it).
pub(crate) fn parse(
    side: InterceptSide,
    original: &Exchange,
    form: &BodyForm,
    text: &str,
) -> Result<Edited, EditError> {
    let (head, body_text, body_line) = split_head(text);
    let mut lines = head.lines().enumerate();
    let (_, first) = lines.next().ok_or_else(|| err(1, 1, "the file is empty"))?;
    let mut headers = Headers::default();
    for (i, line) in lines {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let Some((name, value)) = line.split_once(':') else {
            return Err(err(i + 1, 1, "expected a header field `Name: value`"));
        };
        if let Some(c) = name
            .find(|c: char| !is_tchar(c))
            .or(name.is_empty().then_some(0))
        {
            return Err(err(i + 1, c + 1, "not a header field name character"));
        }
        let value = value.trim();
        if let Some((at, _)) = value
            .char_indices()
            .find(|(_, c)| u32::from(*c) > 0xFF || (c.is_control() && *c != '\t'))
        {
            return Err(err(
                i + 1,
                name.len() + 2 + value_offset(line, name) + at,
                "header values are ISO-8859-1 text without control characters",
            ));
        }
        headers.0.push((name.to_owned(), value.to_owned()));
    }
    let old_body = match side {
        InterceptSide::Request => original.request.as_ref().map(|q| &q.body.bytes[..]),
        InterceptSide::Response => original.response.as_ref().map(|r| &r.body.bytes[..]),
    }
    .unwrap_or_default();
    let body = match form {
        BodyForm::Binary => old_body.to_vec(),
        BodyForm::Text => {
            let mut b = body_text.as_bytes().to_vec();
            // Editors end the file with a newline the body did not have.
            if !old_body.ends_with(b"\n") && b.ends_with(b"\n") {
                b.pop();
                if !old_body.ends_with(b"\r") && b.ends_with(b"\r") {
                    b.pop();
                }
            }
            b
        }
        BodyForm::Soap { root } => {
            let xml = reserialise(body_text, false).map_err(|(at, why)| {
                let (l, c) = line_col(body_text, at);
                err(
                    body_line + l - 1,
                    c,
                    &format!("the SOAP envelope does not parse: {why}"),
                )
            })?;
            match root {
                None => xml.into_bytes(),
                Some(r) => {
                    let mut b = old_body.get(..r.start).unwrap_or_default().to_vec();
                    b.extend_from_slice(xml.as_bytes());
                    b.extend_from_slice(old_body.get(r.end..).unwrap_or_default());
                    b
                }
            }
        }
    };
    let first = first.strip_suffix('\r').unwrap_or(first);
    match side {
        InterceptSide::Request => {
            let mut words = first.split(' ').filter(|w| !w.is_empty());
            let method = words.next().unwrap_or("");
            if let Some(c) = method
                .find(|c: char| !is_tchar(c))
                .or(method.is_empty().then_some(0))
            {
                return Err(err(
                    1,
                    c + 1,
                    "expected a method, as in `POST /path HTTP/1.1`",
                ));
            }
            let target = words
                .next()
                .filter(|t| t.starts_with('/') || t.contains("://"))
                .ok_or_else(|| {
                    err(
                        1,
                        method.len() + 2,
                        "expected a request-target starting with /",
                    )
                })?;
            let origin = original.request.as_ref().map_or("", |q| {
                let t = target_of(&q.url);
                &q.url[..q.url.len() - t.len()]
            });
            let url = if target.starts_with('/') {
                format!("{origin}{target}")
            } else {
                target.to_owned()
            };
            Ok(Edited::Request(Request {
                method: method.to_owned(),
                url,
                headers,
                body: Body::complete(body),
            }))
        }
        InterceptSide::Response => {
            let rest = first
                .strip_prefix("HTTP/")
                .ok_or_else(|| err(1, 1, "expected a status line, as in `HTTP/1.1 200 OK`"))?;
            let mut words = rest.splitn(3, ' ');
            let _version = words.next();
            let code = words.next().unwrap_or("");
            let status = code
                .parse::<u16>()
                .ok()
                .filter(|s| (100..=999).contains(s))
                .ok_or_else(|| {
                    err(
                        1,
                        first.len() - rest.len() + rest.find(' ').map_or(rest.len(), |i| i + 1) + 1,
                        "expected a status code from 100 to 999",
                    )
                })?;
            Ok(Edited::Response(Response {
                status,
                reason: words.next().unwrap_or("").trim().to_owned(),
                headers,
                body: Body::complete(body),
            }))
        }
    }
}

/// The head (up to the first blank line), the body after it, and the body's first line
/// number.
fn split_head(text: &str) -> (&str, &str, usize) {
    let mut at = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        if line.trim_end_matches(['\r', '\n']).is_empty() {
            return (&text[..at], &text[at + line.len()..], i + 2);
        }
        at += line.len();
    }
    (text, "", text.lines().count() + 1)
}

/// Where the value starts after `name:` (spaces skipped).
fn value_offset(line: &str, name: &str) -> usize {
    let after = &line[name.len() + 1..];
    after.len() - after.trim_start().len()
}

/// RFC 9110 token characters.
fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

/// 1-based line and column of byte `at` in `s`.
fn line_col(s: &str, at: usize) -> (usize, usize) {
    let mut at = at.min(s.len());
    while !s.is_char_boundary(at) {
        at -= 1;
    }
    let before = &s[..at];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

fn err(line: usize, column: usize, message: &str) -> EditError {
    EditError {
        line,
        column,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exchange(side: InterceptSide, ct: &str, body: &[u8]) -> Exchange {
        let headers = Headers(vec![
            ("Host".into(), "h.test".into()),
            ("Content-Type".into(), ct.into()),
        ]);
        let mut x: Exchange = serde_json::from_value(serde_json::json!({
            "id": 4, "kind": "http", "connection_id": 1, "client_addr": "127.0.0.1:9",
            "mode": "reverse", "server": "h.test:443",
            "timings": {"start": "2026-01-01T00:00:00Z"},
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let q = Request {
            method: "POST".into(),
            url: "https://h.test/_vti_bin/cellstorage.svc/CellStorageService?x=1".into(),
            headers: headers.clone(),
            body: Body::complete(body.to_vec()),
        };
        x.request = Some(q);
        if side == InterceptSide::Response {
            x.response = Some(Response {
                status: 200,
                reason: "OK".into(),
                headers,
                body: Body::complete(body.to_vec()),
            });
        }
        x
    }

    const SOAP: &str = r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><RequestCollection xmlns="http://schemas.microsoft.com/sharepoint/soap/" CorrelationId="c"><Request Url="u" RequestToken="1"><SubRequest Type="Coauth" SubRequestToken="1"><SubRequestData CoauthRequestType="RefreshCoauthoring"><xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:part2"/></SubRequestData></SubRequest></Request></RequestCollection></s:Body></s:Envelope>"#;

    #[test]
    fn a_text_request_round_trips_with_an_edited_header() {
        let x = exchange(InterceptSide::Request, "text/plain", b"hello");
        let e = to_text(InterceptSide::Request, &x);
        assert_eq!(e.form, BodyForm::Text);
        assert!(e.text.starts_with(
            "POST /_vti_bin/cellstorage.svc/CellStorageService?x=1 HTTP/1.1\nHost: h.test\n"
        ));
        let edited = e
            .text
            .replace("Host: h.test\n", "Host: h.test\nX-Edited: yes\n")
            + "\n";
        let Ok(Edited::Request(q)) = parse(InterceptSide::Request, &x, &e.form, &edited) else {
            panic!("does not parse");
        };
        assert_eq!(q.headers.get("x-edited"), Some("yes"));
        assert_eq!(q.url, x.request.as_ref().map_or("", |q| q.url.as_str()));
        // The editor's final newline is not added to the body.
        assert_eq!(q.body.bytes, b"hello");
    }

    #[test]
    fn soap_is_pretty_printed_and_serialised_back_into_the_mtom_root_part() {
        let binary = b"\x00\x01\x02binary\xff";
        let mut body = Vec::new();
        body.extend_from_slice(b"--b\r\nContent-ID: <root>\r\nContent-Type: application/xop+xml; type=\"text/xml\"\r\n\r\n");
        body.extend_from_slice(SOAP.as_bytes());
        body.extend_from_slice(
            b"\r\n--b\r\nContent-ID: <part2>\r\nContent-Type: application/octet-stream\r\n\r\n",
        );
        body.extend_from_slice(binary);
        body.extend_from_slice(b"\r\n--b--\r\n");
        let ct = r#"multipart/related; type="application/xop+xml"; boundary="b"; start="<root>"; start-info="text/xml""#;
        let x = exchange(InterceptSide::Response, ct, &body);
        let e = to_text(InterceptSide::Response, &x);
        assert!(matches!(e.form, BodyForm::Soap { root: Some(_) }));
        assert!(e.text.contains("\n  <s:Body>\n"), "{}", e.text);
        assert!(e.text.contains(r#"href="cid:part2""#));
        // Unchanged, the envelope goes back byte for byte.
        let Ok(Edited::Response(r)) = parse(InterceptSide::Response, &x, &e.form, &e.text) else {
            panic!("does not parse");
        };
        assert_eq!(r.body.bytes, body);
        assert_eq!((r.status, r.reason.as_str()), (200, "OK"));
        // Edited, the new envelope is the root part and the binary part is kept.
        let text = e.text.replace("RefreshCoauthoring", "JoinCoauthoring");
        let Ok(Edited::Response(r)) = parse(InterceptSide::Response, &x, &e.form, &text) else {
            panic!("does not parse");
        };
        let want = String::from_utf8_lossy(&body).replace("RefreshCoauthoring", "JoinCoauthoring");
        assert_eq!(String::from_utf8_lossy(&r.body.bytes), want);
        // A broken envelope is refused with where.
        let bad = e.text.replace("</s:Body>", "</s:Bdy>");
        let Err(err) = parse(InterceptSide::Response, &x, &e.form, &bad) else {
            panic!("a broken envelope parsed");
        };
        assert!(err.message.contains("SOAP envelope"), "{err}");
        assert!(err.line > 4, "{err}");
    }

    #[test]
    fn binary_bodies_edit_the_head_only() {
        let x = exchange(
            InterceptSide::Request,
            "application/octet-stream",
            b"\x00\x01",
        );
        let e = to_text(InterceptSide::Request, &x);
        assert_eq!(e.form, BodyForm::Binary);
        assert!(e.text.ends_with("\n\n"));
        let Ok(Edited::Request(q)) = parse(InterceptSide::Request, &x, &e.form, &e.text) else {
            panic!("does not parse");
        };
        assert_eq!(q.body.bytes, b"\x00\x01");
    }

    #[test]
    fn a_bad_head_is_refused_with_line_and_column() {
        let x = exchange(InterceptSide::Request, "text/plain", b"");
        let form = BodyForm::Text;
        let e = |t: &str| {
            parse(InterceptSide::Request, &x, &form, t)
                .err()
                .map(|e| (e.line, e.column))
        };
        assert_eq!(e("POST /a HTTP/1.1\nHost h.test\n\n"), Some((2, 1)));
        assert_eq!(e("POST /a HTTP/1.1\nBad Name: v\n\n"), Some((2, 4)));
        assert_eq!(e("POST nowhere HTTP/1.1\n\n"), Some((1, 6)));
        assert_eq!(e("\n"), Some((1, 1)));
        let r = exchange(InterceptSide::Response, "text/plain", b"");
        let bad = parse(InterceptSide::Response, &r, &form, "HTTP/1.1 2x OK\n\n");
        assert_eq!(bad.err().map(|e| (e.line, e.column)), Some((1, 10)));
    }
}
