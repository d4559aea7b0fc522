//! One recorded exchange exported to reproduce it elsewhere (issue 19 item 6): a curl
//! command, the raw HTTP/1.1 messages, or a one-entry HAR.
//!
//! Pure: the caller writes the body file the curl command names and prints the text.
//! The curl command quotes every word for a POSIX shell (bash's `$'…'` form for a word
//! holding control characters), so no text from the wire reaches the terminal
//! unescaped; the body file's name comes from the exchange id, never from the wire.

use std::fmt::Write as _;

use crate::decode::exchange::DecodedExchange;
use crate::model::{Exchange, Request, Response};

/// Why an exchange cannot be exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// A tunnel, or an exchange without a request.
    #[error("exchange {0} has no HTTP request to export")]
    NoRequest(u64),
    /// The capture holds only part of the request body.
    #[error("exchange {0}: the request body was stored truncated ({1} of {2} bytes); it cannot be replayed")]
    Truncated(u64, u64, u64),
}

/// Request header fields curl writes itself from the command (or that only mean
/// something to one hop).
const NOT_REPLAYED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "upgrade",
    "expect",
];

/// The name of the file holding the request body of exchange `id`.
pub fn body_file_name(id: u64) -> String {
    format!("synctap-exchange-{id}.body")
}

/// A curl command reproducing the request of `x`, and the request body to write to
/// `body_path` (the path the command names) when there is one.
///
/// # Errors
/// Tunnels and exchanges without a request; truncated request bodies.
pub fn curl(x: &Exchange, body_path: &str) -> Result<(String, Option<Vec<u8>>), ExportError> {
    let r = request(x)?;
    let mut cmd = String::from("curl --silent --show-error --include");
    if r.method != "GET" || !r.body.bytes.is_empty() {
        let _ = write!(cmd, " --request {}", shell_quote(&r.method));
    }
    if x.http_version == "HTTP/2" {
        cmd.push_str(" --http2");
    }
    if r.url.starts_with("https:") {
        // The recorded server may be a test server or sit behind the proxy's CA.
        cmd.push_str(" --insecure");
    }
    for (n, v) in &r.headers.0 {
        if NOT_REPLAYED.iter().any(|h| n.eq_ignore_ascii_case(h)) {
            continue;
        }
        let _ = write!(cmd, " \\\n  --header {}", shell_quote(&format!("{n}: {v}")));
    }
    let body = (!r.body.bytes.is_empty()).then(|| r.body.bytes.clone());
    if body.is_some() {
        let _ = write!(
            cmd,
            " \\\n  --data-binary {}",
            shell_quote(&format!("@{body_path}"))
        );
    }
    let _ = write!(cmd, " \\\n  {}", shell_quote(&r.url));
    cmd.push('\n');
    Ok((cmd, body))
}

/// The request and response of `x` as HTTP/1.1 messages: each head as recorded (header
/// fields in order, Content-Length set to the stored body and chunked framing dropped,
/// since bodies are stored without it), a blank line, the body.
///
/// # Errors
/// Tunnels and exchanges without a request.
pub fn raw(x: &Exchange) -> Result<Vec<u8>, ExportError> {
    let r = request(x)?;
    let mut out = Vec::with_capacity(r.body.bytes.len() + 1024);
    let target = origin_form(&r.url);
    out.extend_from_slice(format!("{} {target} HTTP/1.1\r\n", r.method).as_bytes());
    head(&mut out, r, &r.body.bytes);
    if let Some(s) = &x.response {
        out.extend_from_slice(b"\r\n");
        response_head(&mut out, s);
    }
    Ok(out)
}

fn response_head(out: &mut Vec<u8>, s: &Response) {
    let reason = if s.reason.is_empty() {
        http::StatusCode::from_u16(s.status)
            .ok()
            .and_then(|c| c.canonical_reason())
            .unwrap_or("")
    } else {
        s.reason.as_str()
    };
    out.extend_from_slice(format!("HTTP/1.1 {} {reason}\r\n", s.status).as_bytes());
    let headers = Request {
        method: String::new(),
        url: String::new(),
        headers: s.headers.clone(),
        body: crate::model::Body::default(),
    };
    head(out, &headers, &s.body.bytes);
}

/// Header fields (Host first when the URL names one and the fields do not), framing
/// fixed for `body`, the blank line and the body.
fn head(out: &mut Vec<u8>, r: &Request, body: &[u8]) {
    let has_host = r.headers.get("host").is_some();
    if !has_host && !r.url.is_empty() {
        if let Some(host) = authority(&r.url) {
            out.extend_from_slice(format!("Host: {host}\r\n").as_bytes());
        }
    }
    for (n, v) in &r.headers.0 {
        if n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding") {
            continue;
        }
        out.extend_from_slice(n.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(v.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || r.headers.get("content-length").is_some() {
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

/// A HAR 1.2 document holding the one exchange, pretty-printed.
///
/// # Errors
/// Tunnels and exchanges without a request.
pub fn har(x: &Exchange, decoded: &DecodedExchange) -> Result<Vec<u8>, ExportError> {
    request(x)?;
    let mut out = Vec::new();
    let mut w = super::har::HarWriter::new(&mut out);
    // Writing to a Vec does not fail.
    let _ = w.push(x, decoded);
    let _ = w.finish();
    out.push(b'\n');
    Ok(out)
}

fn request(x: &Exchange) -> Result<&Request, ExportError> {
    let r = x.request.as_ref().ok_or(ExportError::NoRequest(x.id))?;
    if r.body.truncated {
        return Err(ExportError::Truncated(x.id, r.body.stored, r.body.len));
    }
    Ok(r)
}

/// `scheme://authority/path?q` → `/path?q` (`/` when empty); other forms as they are.
fn origin_form(url: &str) -> &str {
    match url.split_once("://") {
        Some((_, rest)) => match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        },
        None => url,
    }
}

fn authority(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(&rest[..end]).filter(|a| !a.is_empty())
}

/// `s` as one word for a POSIX shell: in single quotes, or, when it holds a control
/// character or a non-ASCII one, in bash's `$'…'` form with every such character escaped,
/// so that printing the command never sends a control sequence to a terminal.
pub fn shell_quote(s: &str) -> String {
    let plain = s.chars().all(|c| c == ' ' || c.is_ascii_graphic());
    if plain {
        return format!("'{}'", s.replace('\'', "'\\''"));
    }
    let mut out = String::from("$'");
    for b in s.bytes() {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\'"),
            b' ' | 0x21..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Body, Headers};

    fn exchange(headers: Vec<(&str, &str)>, body: &[u8]) -> Exchange {
        let mut x: Exchange = serde_json::from_value(serde_json::json!({
            "id": 12, "kind": "http", "connection_id": 1, "client_addr": "127.0.0.1:1",
            "mode": "forward", "server": "h:443", "http_version": "HTTP/1.1",
            "timings": {"start": "2026-01-01T00:00:00Z"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        x.request = Some(Request {
            method: "POST".to_owned(),
            url: "https://h/a b?x='1'".to_owned(),
            headers: Headers(
                headers
                    .into_iter()
                    .map(|(n, v)| (n.to_owned(), v.to_owned()))
                    .collect(),
            ),
            body: Body::complete(body.to_vec()),
        });
        x.response = Some(Response {
            status: 200,
            reason: String::new(),
            headers: Headers(vec![("Transfer-Encoding".into(), "chunked".into())]),
            body: Body::complete(b"ok".to_vec()),
        });
        x
    }

    #[test]
    fn curl_quotes_every_word_and_names_the_body_file() {
        let x = exchange(
            vec![
                ("Host", "h"),
                ("Content-Length", "3"),
                ("X-Evil", "a\u{1b}]0;pwned\u{7}b 'q'"),
                ("Content-Type", "text/xml"),
            ],
            b"a\0b",
        );
        let (cmd, body) =
            curl(&x, "out dir/synctap-exchange-12.body").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body.as_deref(), Some(&b"a\0b"[..]));
        assert!(!cmd.contains('\u{1b}') && !cmd.contains('\u{7}'), "{cmd}");
        assert!(
            cmd.contains(r"--header $'X-Evil: a\x1b]0;pwned\x07b \'q\''"),
            "{cmd}"
        );
        assert!(cmd.contains("--header 'Content-Type: text/xml'"));
        assert!(!cmd.contains("Content-Length") && !cmd.contains("Host:"));
        assert!(cmd.contains("--data-binary '@out dir/synctap-exchange-12.body'"));
        assert!(
            cmd.trim_end().ends_with(r"'https://h/a b?x='\''1'\'''"),
            "{cmd}"
        );
        assert_eq!(body_file_name(12), "synctap-exchange-12.body");
    }

    #[test]
    fn raw_frames_both_messages_with_content_length() {
        let x = exchange(vec![("Content-Type", "text/xml")], b"abc");
        let out = raw(&x).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&out);
        assert_eq!(
            text,
            "POST /a b?x='1' HTTP/1.1\r\nHost: h\r\nContent-Type: text/xml\r\nContent-Length: 3\r\n\r\nabc\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
        );
        let mut t = x;
        if let Some(r) = t.request.as_mut() {
            r.body.truncated = true;
            r.body.len = 10;
        }
        assert!(matches!(
            curl(&t, "f"),
            Err(ExportError::Truncated(12, 3, 10))
        ));
        t.request = None;
        assert_eq!(raw(&t), Err(ExportError::NoRequest(12)));
    }
}
