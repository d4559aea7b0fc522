//! Credential redaction for captures that leave the machine (bug reports, fixtures).
//!
//! Every secret is replaced by a stable placeholder derived from a SHA-256 of the secret,
//! so the same secret always gets the same placeholder and a redacted fixture stays
//! consistent (the same cookie on every request, the same token in a Lock-Token and a
//! later If header). Secrets inside bodies (form fields, WhoAmI identities) are replaced
//! by placeholders of exactly the same length, so Content-Length, MTOM part lengths and
//! every byte offset stay valid. A report counts what was redacted, by kind, never the
//! values.

use std::collections::BTreeMap;

use crate::model::{Body, Exchange, Headers};

/// What to redact.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactOptions {
    /// Also replace user identities in WhoAmI responses (UserLogin, UserEmailAddress,
    /// UserSIPAddress) and similar identity attributes.
    pub identities: bool,
}

/// How many secrets of each kind were replaced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RedactReport {
    /// Kind (`Authorization`, `Cookie`, `access_token`...) → count.
    pub counts: BTreeMap<String, u64>,
}

impl RedactReport {
    fn add(&mut self, kind: &str) {
        *self.counts.entry(kind.to_owned()).or_default() += 1;
    }

    /// Adds the counts of `other` (a report made on another thread).
    pub fn merge(&mut self, other: Self) {
        for (k, n) in other.counts {
            *self.counts.entry(k).or_default() += n;
        }
    }

    /// One line, e.g. `Authorization ×3, Cookie value ×5`; `nothing` when empty.
    pub fn summary(&self) -> String {
        if self.counts.is_empty() {
            return "nothing".to_owned();
        }
        self.counts
            .iter()
            .map(|(k, n)| format!("{k} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Header fields whose whole value is a secret.
const SECRET_HEADERS: &[&str] = &[
    "x-requestdigest",
    "x-wopi-proof",
    "x-wopi-proofold",
    "x-customidentity",
    "x-forms_based_auth_required",
    "proxy-authorization",
];

/// Query parameters and form fields whose value is a secret.
const SECRET_PARAMS: &[&str] = &["access_token", "access_token_ttl"];

/// XML attributes holding user identities (with [`RedactOptions::identities`]).
const IDENTITY_ATTRS: &[&str] = &[
    "UserLogin",
    "UserEmailAddress",
    "UserSIPAddress",
    "UserName",
];

/// A stable placeholder for `secret`, `len` characters long when `len` is given (for
/// bodies), else `redacted-` and 12 hex digits.
pub fn placeholder(secret: &[u8], len: Option<usize>) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, secret);
    let hex = crate::util::hex(digest.as_ref());
    let full = format!("redacted-{}", &hex[..12]);
    match len {
        None => full,
        Some(n) if n >= full.len() => {
            let mut s = full;
            while s.len() < n {
                s.push('x');
            }
            s
        }
        Some(n) => hex.chars().cycle().take(n).collect(),
    }
}

/// Redacts one exchange in place.
pub fn redact_exchange(x: &mut Exchange, opts: RedactOptions, report: &mut RedactReport) {
    if let Some(req) = x.request.as_mut() {
        redact_headers(&mut req.headers, report);
        req.url = redact_query(&req.url, report);
        let form = req
            .headers
            .get("content-type")
            .is_some_and(|c| c.to_ascii_lowercase().contains("x-www-form-urlencoded"));
        if form {
            redact_form_body(&mut req.body, report);
        }
    }
    if let Some(resp) = x.response.as_mut() {
        redact_headers(&mut resp.headers, report);
        if opts.identities {
            redact_identity_attrs(&mut resp.body, report);
        }
    }
}

fn redact_headers(h: &mut Headers, report: &mut RedactReport) {
    for (name, value) in &mut h.0 {
        let lower = name.to_ascii_lowercase();
        if lower == "authorization" {
            // Keep the scheme (Basic, Bearer, NTLM, Negotiate): it tells the story.
            let (scheme, cred) = value
                .split_once(' ')
                .map_or(("", value.as_str()), |(s, c)| (s, c));
            let p = placeholder(cred.trim().as_bytes(), None);
            *value = if scheme.is_empty() {
                p
            } else {
                format!("{scheme} {p}")
            };
            report.add("Authorization");
        } else if lower == "www-authenticate" {
            // NTLM/Negotiate challenges carry tokens after the scheme.
            if let Some((scheme, tok)) = value.split_once(' ') {
                if scheme.eq_ignore_ascii_case("ntlm") || scheme.eq_ignore_ascii_case("negotiate") {
                    *value = format!("{scheme} {}", placeholder(tok.trim().as_bytes(), None));
                    report.add("WWW-Authenticate token");
                }
            }
        } else if lower == "cookie" {
            let parts: Vec<String> = value
                .split(';')
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => {
                        report.add("Cookie value");
                        format!("{k}={}", placeholder(v.trim().as_bytes(), None))
                    }
                    None => kv.to_owned(),
                })
                .collect();
            *value = parts.join(";");
        } else if lower == "set-cookie" {
            let (first, rest) = value
                .split_once(';')
                .map_or((value.as_str(), ""), |(a, b)| (a, b));
            if let Some((k, v)) = first.split_once('=') {
                let new = format!("{k}={}", placeholder(v.trim().as_bytes(), None));
                *value = if rest.is_empty() {
                    new
                } else {
                    format!("{new};{rest}")
                };
                report.add("Set-Cookie value");
            }
        } else if SECRET_HEADERS.contains(&lower.as_str()) {
            *value = placeholder(value.as_bytes(), None);
            report.add(name);
        }
    }
}

fn redact_query(url: &str, report: &mut RedactReport) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let (query, fragment) = query
        .split_once('#')
        .map_or((query, None), |(q, f)| (q, Some(f)));
    let parts: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if SECRET_PARAMS.iter().any(|p| p.eq_ignore_ascii_case(k)) => {
                report.add(k);
                format!("{k}={}", placeholder(v.as_bytes(), None))
            }
            _ => kv.to_owned(),
        })
        .collect();
    let mut out = format!("{base}?{}", parts.join("&"));
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Replaces `access_token=...` form values with same-length placeholders.
fn redact_form_body(body: &mut Body, report: &mut RedactReport) {
    for param in SECRET_PARAMS {
        let key = format!("{param}=");
        let mut from = 0;
        while let Some(pos) = memchr::memmem::find(&body.bytes[from..], key.as_bytes()) {
            let start = from + pos;
            let at_boundary = start == 0 || body.bytes[start - 1] == b'&';
            let vstart = start + key.len();
            let vend = body.bytes[vstart..]
                .iter()
                .position(|b| *b == b'&')
                .map_or(body.bytes.len(), |p| vstart + p);
            if at_boundary && vend > vstart {
                let p = placeholder(&body.bytes[vstart..vend], Some(vend - vstart));
                body.bytes[vstart..vend].copy_from_slice(p.as_bytes());
                report.add(param);
            }
            from = vend.max(start + 1);
        }
    }
}

/// Replaces `UserLogin="..."` (and the other identity attributes) with same-length
/// placeholders, wherever they appear in the body (plain XML or the MTOM root part).
fn redact_identity_attrs(body: &mut Body, report: &mut RedactReport) {
    for attr in IDENTITY_ATTRS {
        for quote in [b'"', b'\''] {
            let key = [attr.as_bytes(), b"=", &[quote]].concat();
            let mut from = 0;
            while let Some(pos) = memchr::memmem::find(&body.bytes[from..], &key) {
                let start = from + pos;
                let boundary = start == 0 || !body.bytes[start - 1].is_ascii_alphanumeric();
                let vstart = start + key.len();
                let Some(len) = body.bytes[vstart..].iter().position(|b| *b == quote) else {
                    break;
                };
                if boundary && len > 0 {
                    let vend = vstart + len;
                    let p = placeholder(&body.bytes[vstart..vend], Some(len));
                    body.bytes[vstart..vend].copy_from_slice(p.as_bytes());
                    report.add(attr);
                }
                from = vstart + len;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_stable_and_keep_lengths() {
        assert_eq!(placeholder(b"abc", None), placeholder(b"abc", None));
        assert_ne!(placeholder(b"abc", None), placeholder(b"abd", None));
        for n in [1, 5, 21, 40] {
            assert_eq!(placeholder(b"secret", Some(n)).len(), n);
        }
    }

    #[test]
    fn query_and_form_secrets() {
        let mut r = RedactReport::default();
        let u = redact_query(
            "https://h/wopi/files/1?access_token=abc&x=1&access_token_ttl=99",
            &mut r,
        );
        assert!(
            !u.contains("abc") && u.contains("x=1") && !u.contains("=99"),
            "{u}"
        );
        let mut b = Body::complete(b"a=1&access_token=SECRET&b=2".to_vec());
        let before = b.bytes.len();
        redact_form_body(&mut b, &mut r);
        assert_eq!(b.bytes.len(), before);
        assert!(!String::from_utf8_lossy(&b.bytes).contains("SECRET"));
        assert!(String::from_utf8_lossy(&b.bytes).starts_with("a=1&access_token="));
        assert_eq!(r.counts.get("access_token"), Some(&2));
    }
}
