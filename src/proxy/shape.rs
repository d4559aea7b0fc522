//! Header shaping for both legs: hop-by-hop fields, reverse-mode URL rewriting in
//! `Destination`/`Origin`/`Referer` and `Location`/`Content-Location`, and turning hyper's
//! heads into the model's.

use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Version};

use crate::model::{Body, Headers, Request};
use crate::net::Target;

/// Header fields in map order (the order received, grouped by name).
pub(crate) fn headers_of(h: &HeaderMap) -> Headers {
    Headers(
        h.iter()
            .map(|(n, v)| (n.as_str().to_owned(), crate::util::latin1(v.as_bytes())))
            .collect(),
    )
}

/// A recorded request head without a body, for requests that are refused before
/// forwarding.
pub(crate) fn request_head(method: &http::Method, url: String, headers: &HeaderMap) -> Request {
    Request {
        method: method.to_string(),
        url,
        headers: headers_of(headers),
        body: Body::default(),
    }
}

/// The `Content-Length` value, when there is a valid one.
pub(crate) fn content_length(h: &HeaderMap) -> Option<u64> {
    h.get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `HTTP/1.1` and the like, as recorded.
pub(crate) fn version_str(v: Version) -> String {
    match v {
        Version::HTTP_09 => "HTTP/0.9",
        Version::HTTP_10 => "HTTP/1.0",
        Version::HTTP_11 => "HTTP/1.1",
        Version::HTTP_2 => "HTTP/2",
        Version::HTTP_3 => "HTTP/3",
        _ => "HTTP/?",
    }
    .to_owned()
}

/// Removes the fields that belong to one connection (RFC 9110 7.6.1), and those listed
/// in `Connection`.
pub(crate) fn strip_hop_by_hop(h: &mut HeaderMap) {
    let listed: Vec<HeaderName> = h
        .get_all(http::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authorization",
        "transfer-encoding",
        "upgrade",
        "te",
    ] {
        h.remove(n);
    }
}

/// Reverse mode: URLs the client sent with the origin it knows now name the target.
pub(crate) fn rewrite_request_urls(h: &mut HeaderMap, client_origin: Option<&str>, t: &Target) {
    let Some(from) = client_origin else { return };
    replace_prefix(h, &["destination", "origin", "referer"], from, &t.origin());
}

/// Reverse mode: URLs the target sent name the origin the client knows.
pub(crate) fn rewrite_response_urls(h: &mut HeaderMap, client_origin: Option<&str>, t: &Target) {
    let Some(to) = client_origin else { return };
    replace_prefix(h, &["location", "content-location"], &t.origin(), to);
}

fn replace_prefix(h: &mut HeaderMap, names: &[&'static str], from: &str, to: &str) {
    for name in names {
        let Some(v) = h.get(*name).and_then(|v| v.to_str().ok()) else {
            continue;
        };
        if v.len() >= from.len() && v[..from.len()].eq_ignore_ascii_case(from) {
            let new = format!("{to}{}", &v[from.len()..]);
            if let Ok(v) = HeaderValue::from_str(&new) {
                h.insert(*name, v);
            }
        }
    }
}

/// A header map from recorded fields (ISO-8859-1 text back to octets); fields that are
/// not valid HTTP are left out.
pub(super) fn header_map(h: &Headers) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(h.0.len());
    for (n, v) in &h.0 {
        let octets: Vec<u8> = v
            .chars()
            .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
            .collect();
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(n.as_bytes()),
            HeaderValue::from_bytes(&octets),
        ) {
            map.append(n, v);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_fields_and_the_ones_connection_lists_go() {
        let mut h = HeaderMap::new();
        h.insert("connection", HeaderValue::from_static("close, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("te", HeaderValue::from_static("trailers"));
        h.insert("soapaction", HeaderValue::from_static("\"x\""));
        strip_hop_by_hop(&mut h);
        let names: Vec<&str> = h.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["soapaction"]);
    }

    #[test]
    fn reverse_mode_rewrites_only_matching_origins() {
        let t = Target {
            scheme: "https".into(),
            host: "sp.example".into(),
            port: 443,
        };
        let mut h = HeaderMap::new();
        h.insert(
            "location",
            HeaderValue::from_static("HTTPS://SP.example/a?b"),
        );
        h.insert(
            "content-location",
            HeaderValue::from_static("https://elsewhere/x"),
        );
        rewrite_response_urls(&mut h, Some("https://127.0.0.1:8443"), &t);
        assert_eq!(h["location"], "https://127.0.0.1:8443/a?b");
        assert_eq!(h["content-location"], "https://elsewhere/x");
    }
}
