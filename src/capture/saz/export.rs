//! Writing a SAZ: the `raw/NNN_c.txt`, `raw/NNN_s.txt` and `raw/NNN_m.xml` members of
//! each exchange, `[Content_Types].xml` and the `_index.htm` listing.

use super::*;

/// Writes a SAZ: `[Content_Types].xml`, then `raw/NNN_c.txt`, `raw/NNN_m.xml` and
/// `raw/NNN_s.txt` per exchange (numbers padded to the width of `count`, plus one, as
/// Fiddler does), then `_index.htm`. Exchanges without a request (errors before any
/// request) are written as sessions with only `_m.xml` and their error as a comment.
///
/// # Errors
/// When the file cannot be written.
pub fn export(
    out: File,
    count: u64,
    exchanges: &mut dyn Iterator<Item = Exchange>,
    progress: &Progress<'_>,
) -> std::io::Result<u64> {
    // Nothing per session stays in memory: the central directory and the index rows go
    // to temporary files until the end.
    let mut zip = ZipOut::new(out)?;
    let width = count.max(1).to_string().len() + 1;
    zip.member("[Content_Types].xml", CONTENT_TYPES.as_bytes())?;
    let mut index = std::io::BufWriter::new(tempfile::tempfile()?);
    index.write_all(INDEX_HEAD.as_bytes())?;
    let mut row = String::new();
    let mut n = 0u64;
    for x in exchanges {
        n += 1;
        progress(n, count);
        let num = format!("{n:0width$}");
        let client = client_bytes(&x);
        if let Some(c) = &client {
            zip.member(&format!("raw/{num}_c.txt"), c)?;
        }
        zip.member(&format!("raw/{num}_m.xml"), meta_xml(n, &x).as_bytes())?;
        let server = server_bytes(&x);
        if let Some(s) = &server {
            zip.member(&format!("raw/{num}_s.txt"), s)?;
        }
        row.clear();
        index_row(&mut row, &num, &x, client.is_some(), server.is_some());
        index.write_all(row.as_bytes())?;
    }
    index.write_all(b"</tbody></table></body></html>")?;
    let mut index = index.into_inner().map_err(|e| e.into_error())?;
    let len = index.stream_position()?;
    index.seek(SeekFrom::Start(0))?;
    zip.member_from("_index.htm", BufReader::new(index), len)?;
    zip.finish()?;
    Ok(n)
}

const CONTENT_TYPES: &str = "<?xml version=\"1.0\" encoding=\"utf-8\" ?>\r\n<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">\r\n<Default Extension=\"htm\" ContentType=\"text/html\" />\r\n<Default Extension=\"xml\" ContentType=\"application/xml\" />\r\n<Default Extension=\"txt\" ContentType=\"text/plain\" />\r\n</Types>";

const INDEX_HEAD: &str = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\"><title>Sessions exported by synctap</title></head><body><table><thead><tr><th>&nbsp;</th><th>#</th><th>Result</th><th>Protocol</th><th>Host</th><th>URL</th><th>Body</th><th>Caching</th><th>Content-Type</th><th>Process</th><th>Comments</th><th>Custom</th></tr></thead><tbody>\r\n";

fn head_line(out: &mut Vec<u8>, line: &str, headers: &Headers) {
    out.extend_from_slice(&crate::util::from_latin1(line));
    out.extend_from_slice(b"\r\n");
    for (n, v) in &headers.0 {
        out.extend_from_slice(&crate::util::from_latin1(n));
        out.extend_from_slice(b": ");
        out.extend_from_slice(&crate::util::from_latin1(v));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

fn body_bytes(out: &mut Vec<u8>, headers: &Headers, body: &Body) {
    if http1::says_chunked(headers) {
        http1::chunk(&body.bytes, out);
    } else {
        out.extend_from_slice(&body.bytes);
    }
}

fn client_bytes(x: &Exchange) -> Option<Vec<u8>> {
    let version = if x.http_version.starts_with("HTTP/1") {
        x.http_version.as_str()
    } else {
        "HTTP/1.1"
    };
    if x.kind == ExchangeKind::Tunnel {
        let mut out = Vec::new();
        let line = format!("CONNECT {} {version}", x.server);
        head_line(
            &mut out,
            &line,
            &Headers(vec![("Host".into(), x.server.clone())]),
        );
        return Some(out);
    }
    let r = x.request.as_ref()?;
    let mut out = Vec::with_capacity(r.body.bytes.len() + 1024);
    // Proxy form, as Fiddler writes: the full URL on the request line.
    head_line(
        &mut out,
        &format!("{} {} {version}", r.method, r.url),
        &r.headers,
    );
    body_bytes(&mut out, &r.headers, &r.body);
    Some(out)
}

fn server_bytes(x: &Exchange) -> Option<Vec<u8>> {
    if x.kind == ExchangeKind::Tunnel {
        let mut out = Vec::new();
        head_line(
            &mut out,
            "HTTP/1.1 200 Connection Established",
            &Headers(vec![("FiddlerGateway".into(), "Direct".into())]),
        );
        return Some(out);
    }
    let r = x.response.as_ref()?;
    let version = if x.http_version.starts_with("HTTP/1") {
        x.http_version.as_str()
    } else {
        "HTTP/1.1"
    };
    let mut out = Vec::with_capacity(r.body.bytes.len() + 1024);
    let line = if r.reason.is_empty() {
        format!("{version} {}", r.status)
    } else {
        format!("{version} {} {}", r.status, r.reason)
    };
    head_line(&mut out, &line, &r.headers);
    body_bytes(&mut out, &r.headers, &r.body);
    Some(out)
}

pub(super) fn xml_attr(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push_str(&format!("&#x{:x};", u32::from(c))),
            // Not allowed in XML 1.0 at all, even as references.
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn meta_xml(n: u64, x: &Exchange) -> String {
    let start = parse_time(&x.timings.start).ok().flatten();
    let at = |ms: Option<f64>| {
        let (Some(s), Some(ms)) = (start, ms) else {
            return None;
        };
        Some(s + time::Duration::seconds_f64(ms / 1000.0))
    };
    let t = &x.timings;
    let https = x
        .request
        .as_ref()
        .is_some_and(|r| r.url.len() >= 8 && r.url[..8].eq_ignore_ascii_case("https://"));
    let mut bits = BIT_IMPORTED;
    if https {
        bits |= BIT_HTTPS;
    }
    if x.kind == ExchangeKind::Tunnel {
        bits |= BIT_BLIND_TUNNEL;
    }
    let mut flags: Vec<(String, String)> = Vec::new();
    if let Some((ip, port)) = x.client_addr.rsplit_once(':') {
        flags.push(("x-clientip".into(), ip.trim_matches(['[', ']']).to_owned()));
        flags.push(("x-clientport".into(), port.to_owned()));
    }
    if let Some(sni) = x.tls.as_ref().and_then(|t| t.sni.as_ref()) {
        flags.push(("https-client-sni".into(), sni.clone()));
    }
    if let Some(e) = &x.error {
        flags.push(("ui-comments".into(), e.clone()));
    }
    if let Some(imp) = &x.imported {
        for (k, v) in &imp.flags {
            if !flags.iter().any(|(n, _)| n.eq_ignore_ascii_case(k)) {
                flags.push((k.clone(), v.clone()));
            }
        }
        if let Some(p) = &imp.process {
            if !flags
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("x-processinfo"))
            {
                flags.push(("x-processinfo".into(), p.clone()));
            }
        }
    }
    let mut meta = x.clone();
    for body in [
        meta.request.as_mut().map(|r| &mut r.body),
        meta.response.as_mut().map(|r| &mut r.body),
    ]
    .into_iter()
    .flatten()
    {
        body.bytes.clear();
        body.chunked = false;
    }
    flags.push((
        SYNCTAP_FLAG.into(),
        serde_json::to_string(&meta).unwrap_or_default(),
    ));
    let begin = format_time(start);
    let sent = format_time(at(t.request_sent_ms));
    let first = format_time(at(t.first_response_byte_ms));
    let done = format_time(at(t.done_ms));
    let mut s = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n<Session SID=\"{n}\" BitFlags=\"{bits:x}\">\r\n  <SessionTimers ClientConnected=\"{begin}\" ClientBeginRequest=\"{begin}\" GotRequestHeaders=\"{begin}\" ClientDoneRequest=\"{sent}\" GatewayTime=\"0\" DNSTime=\"0\" TCPConnectTime=\"{}\" HTTPSHandshakeTime=\"{}\" ServerConnected=\"{begin}\" FiddlerBeginRequest=\"{begin}\" ServerGotRequest=\"{sent}\" ServerBeginResponse=\"{first}\" GotResponseHeaders=\"{first}\" ServerDoneResponse=\"{done}\" ClientBeginResponse=\"{first}\" ClientDoneResponse=\"{done}\" />\r\n",
        t.connect_ms.map_or(0, |v| v.round() as i64),
        t.tls_ms.map_or(0, |v| v.round() as i64),
    );
    s.push_str("  <PipeInfo />\r\n");
    if let Some(tun) = x.tunnel {
        s.push_str(&format!(
            "  <TunnelInfo BytesEgress=\"{}\" BytesIngress=\"{}\" />\r\n",
            tun.bytes_up, tun.bytes_down
        ));
    }
    s.push_str("  <SessionFlags>\r\n");
    for (k, v) in &flags {
        s.push_str(&format!(
            "    <SessionFlag N=\"{}\" V=\"{}\" />\r\n",
            xml_attr(k),
            xml_attr(v)
        ));
    }
    s.push_str("  </SessionFlags>\r\n</Session>");
    s
}

fn html(s: &str) -> String {
    xml_attr(s).replace('\'', "&#39;")
}

fn index_row(index: &mut String, num: &str, x: &Exchange, c: bool, s: bool) {
    let mut links = String::new();
    if c {
        links.push_str(&format!("<a href='raw\\{num}_c.txt'>C</a>&nbsp;"));
    }
    if s {
        links.push_str(&format!("<a href='raw\\{num}_s.txt'>S</a>&nbsp;"));
    }
    links.push_str(&format!("<a href='raw\\{num}_m.xml'>M</a>"));
    let (proto, host, url) = match &x.request {
        Some(r) => {
            let (scheme, rest) = r.url.split_once("://").unwrap_or(("http", &r.url));
            let (host, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
            (
                scheme.to_ascii_uppercase(),
                host.to_owned(),
                path.to_owned(),
            )
        }
        None => ("HTTP".into(), "Tunnel to".into(), x.server.clone()),
    };
    let (result, body, ctype, caching) = match &x.response {
        Some(r) => (
            r.status.to_string(),
            r.body.len.to_string(),
            r.headers.get("content-type").unwrap_or("").to_owned(),
            r.headers.get("cache-control").unwrap_or("").to_owned(),
        ),
        None if x.kind == ExchangeKind::Tunnel => {
            ("200".into(), "0".into(), String::new(), String::new())
        }
        None => ("-".into(), "-1".into(), String::new(), String::new()),
    };
    let process = x
        .imported
        .as_ref()
        .and_then(|i| i.process.clone())
        .unwrap_or_default();
    let comment = x.error.clone().unwrap_or_default();
    let num_plain = num.trim_start_matches('0');
    index.push_str(&format!(
        "<tr><td>{links}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td></td></tr>\r\n",
        if num_plain.is_empty() { "0" } else { num_plain },
        html(&result),
        html(&proto),
        html(&host),
        html(&url),
        html(&body),
        html(&caching),
        html(&ctype),
        html(&process),
        html(&comment),
    ));
}
