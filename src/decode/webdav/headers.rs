//! The WebDAV request and response header fields decoded into [`DavHeaders`]: `If`
//! (RFC 4918 10.4), `Timeout` (10.7), `Lock-Token`, `X-MSDAVEXT_Error` (MS-WDV) and the
//! replication headers.

use super::*;

pub(super) fn header<'a>(headers: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
}

pub(super) fn parse_headers(headers: &[(&str, &str)]) -> DavHeaders {
    let own = |name: &str| header(headers, name).map(str::to_owned);
    DavHeaders {
        depth: own("Depth"),
        timeout: header(headers, "Timeout")
            .map(parse_timeouts)
            .unwrap_or_default(),
        if_header: header(headers, "If").map(parse_if),
        lock_token: header(headers, "Lock-Token").map(|v| strip_angle(v).to_owned()),
        destination: own("Destination"),
        overwrite: own("Overwrite"),
        resourcetag: header(headers, "ResourceTag").map(|v| strip_angle(v).to_owned()),
        repl_uid: header(headers, "Repl-UID").map(|v| strip_angle(v).to_owned()),
        dav: own("DAV"),
        ms_author_via: own("MS-Author-Via"),
        public_extension: own("Public-Extension"),
        x_msdavext: own("X-MSDAVEXT"),
        x_msdavext_lock_timeout: header(headers, "X-MSDAVEXTLockTimeout")
            .map(parse_timeouts)
            .unwrap_or_default(),
        x_msdavext_error: header(headers, "X-MSDAVEXT_ERROR").map(parse_ext_error),
        translate: own("Translate"),
        ms_bindiff: own("MS-BinDiff"),
        etag: own("ETag"),
        content_type: own("Content-Type"),
    }
}

pub(super) fn strip_angle(v: &str) -> &str {
    let v = v.trim();
    v.strip_prefix('<')
        .and_then(|r| r.strip_suffix('>'))
        .unwrap_or(v)
}

/// Parse `Timeout: 1#("Second-" 1*DIGIT / "Infinite")`.
pub fn parse_timeouts(v: &str) -> Vec<DavTimeout> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_timeout)
        .collect()
}

pub(super) fn parse_timeout(s: &str) -> DavTimeout {
    if s.eq_ignore_ascii_case("infinite") {
        return DavTimeout::Infinite;
    }
    let lower = s.to_ascii_lowercase();
    match lower.strip_prefix("second-").map(str::parse::<u64>) {
        Some(Ok(n)) if n <= u64::from(u32::MAX) => DavTimeout::Second(n),
        _ => DavTimeout::Invalid(s.to_owned()),
    }
}

pub(super) fn parse_ext_error(v: &str) -> MsDavExtError {
    let (code, text) = v.split_once(';').unwrap_or((v, ""));
    MsDavExtError {
        code: code.trim().parse().ok(),
        text: percent_decode(text.trim()),
    }
}

/// Parse an `If` header leniently (RFC 4918 10.4).
pub fn parse_if(v: &str) -> IfHeader {
    let mut out = IfHeader::default();
    let mut resource: Option<String> = None;
    let mut rest = v.trim();
    while !rest.is_empty() {
        rest = rest.trim_start();
        if let Some(r) = rest.strip_prefix('<') {
            let (inside, after) = until(r, '>');
            resource = Some(inside.to_owned());
            rest = after;
        } else if let Some(r) = rest.strip_prefix('(') {
            let (inside, after) = until(r, ')');
            out.lists.push(IfList {
                resource: resource.clone(),
                conditions: parse_conditions(inside),
            });
            rest = after;
        } else {
            rest = skip_char(rest);
        }
    }
    out
}

/// Splits `r`, the text after an opening bracket, at the first `close`: what is inside
/// and what follows. An unclosed bracket holds the rest.
fn until(r: &str, close: char) -> (&str, &str) {
    let end = r.find(close).unwrap_or(r.len());
    (&r[..end], r.get(end + 1..).unwrap_or(""))
}

/// `s` without its first character: junk skipped one character at a time.
fn skip_char(s: &str) -> &str {
    let mut chars = s.chars();
    chars.next();
    chars.as_str()
}

pub(super) fn parse_conditions(mut s: &str) -> Vec<IfCondition> {
    let mut out = Vec::new();
    let mut not = false;
    loop {
        s = s.trim_start();
        if s.is_empty() {
            break;
        }
        if s.len() >= 3 && s.is_char_boundary(3) && s[..3].eq_ignore_ascii_case("not") {
            not = true;
            s = &s[3..];
        } else if let Some(close) = match s.as_bytes().first() {
            Some(b'<') => Some('>'),
            Some(b'[') => Some(']'),
            _ => None,
        } {
            // `<state-token>` or `[entity-tag]`.
            let (inside, after) = until(&s[1..], close);
            let value = Some(inside.to_owned());
            let (state_token, etag) = if close == '>' {
                (value, None)
            } else {
                (None, value)
            };
            out.push(IfCondition {
                not,
                state_token,
                etag,
            });
            not = false;
            s = after;
        } else {
            s = skip_char(s);
        }
    }
    out
}
