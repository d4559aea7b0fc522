//! Fiddler's per-session metadata (`raw/NNN_m.xml`): session timers, bit flags and
//! session flags, and the timers' time stamps read and written.

use super::*;

/// What `_m.xml` said.
#[derive(Debug, Default)]
pub(super) struct Meta {
    pub(super) bit_flags: Option<u32>,
    pub(super) timers: BTreeMap<String, String>,
    pub(super) flags: Vec<(String, String)>,
    pub(super) tunnel: Option<TunnelInfo>,
}

impl Meta {
    pub(super) fn flag(&self, name: &str) -> Option<&str> {
        self.flags
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub(super) fn parse_meta(bytes: &[u8], name: &str, report: &mut ImportReport) -> Meta {
    let mut meta = Meta::default();
    let text = match std::str::from_utf8(bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes)) {
        Ok(t) => t,
        Err(e) => {
            report.problem("session metadata (_m.xml) not UTF-8: timers and flags lost");
            let _ = (e, name);
            return meta;
        }
    };
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: 100_000,
        ..roxmltree::ParsingOptions::default()
    };
    let doc = match roxmltree::Document::parse_with_options(text, opts) {
        Ok(d) => d,
        Err(e) => {
            let _ = e;
            report
                .problem("session metadata (_m.xml) is not well-formed XML: timers and flags lost");
            return meta;
        }
    };
    let root = doc.root_element();
    if root.tag_name().name() != "Session" {
        report.problem("session metadata (_m.xml) has no <Session> root: timers and flags lost");
        return meta;
    }
    if let Some(b) = root.attribute("BitFlags") {
        match u32::from_str_radix(b.trim(), 16) {
            Ok(v) => meta.bit_flags = Some(v),
            Err(_) => report.problem("session metadata with an unreadable BitFlags"),
        }
    }
    for child in root.children().filter(roxmltree::Node::is_element) {
        match child.tag_name().name() {
            "SessionTimers" => {
                for a in child.attributes() {
                    meta.timers
                        .insert(a.name().to_owned(), a.value().to_owned());
                }
            }
            "TunnelInfo" => {
                let n = |a: &str| {
                    child
                        .attribute(a)
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0)
                };
                meta.tunnel = Some(TunnelInfo {
                    bytes_up: n("BytesEgress"),
                    bytes_down: n("BytesIngress"),
                });
            }
            "SessionFlags" => {
                for f in child.children().filter(|c| c.has_tag_name("SessionFlag")) {
                    if let Some(n) = f.attribute("N") {
                        meta.flags
                            .push((n.to_owned(), f.attribute("V").unwrap_or("").to_owned()));
                    }
                }
            }
            _ => {}
        }
    }
    meta
}

/// Fiddler timers to timings: `start` is `ClientBeginRequest` (or `ClientConnected`).
pub(super) fn timings(t: &BTreeMap<String, String>, report: &mut ImportReport) -> Timings {
    let mut bad = false;
    let mut at = |name: &str| -> Option<OffsetDateTime> {
        let v = t.get(name)?;
        match parse_time(v) {
            Ok(t) => t,
            Err(()) => {
                bad = true;
                None
            }
        }
    };
    let begin = at("ClientBeginRequest").or_else(|| at("ClientConnected"));
    let sent = at("ServerGotRequest").or_else(|| at("ClientDoneRequest"));
    let first = at("ServerBeginResponse").or_else(|| at("GotResponseHeaders"));
    let done = at("ClientDoneResponse").or_else(|| at("ServerDoneResponse"));
    if bad {
        report.problem("session timers that are not dates were ignored");
    }
    let ms_attr = |name: &str| {
        t.get(name)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|v| *v > 0.0)
    };
    let Some(start) = begin else {
        return Timings {
            start: "1970-01-01T00:00:00Z".into(),
            ..Timings::default()
        };
    };
    let after = |t: Option<OffsetDateTime>| {
        t.map(|t| (t - start).as_seconds_f64() * 1000.0)
            .filter(|ms| *ms >= 0.0)
    };
    Timings {
        start: crate::util::rfc3339(start.to_offset(UtcOffset::UTC)),
        connect_ms: ms_attr("TCPConnectTime"),
        tls_ms: ms_attr("HTTPSHandshakeTime"),
        request_sent_ms: after(sent),
        first_response_byte_ms: after(first),
        done_ms: after(done),
    }
}

/// `2018-03-31T12:43:33.0112985+09:00` (fraction and offset optional; `Z` allowed).
/// `Ok(None)` for .NET's "no value" (year 1).
pub(super) fn parse_time(s: &str) -> Result<Option<OffsetDateTime>, ()> {
    let s = s.trim();
    let b = s.as_bytes();
    let num = |r: std::ops::Range<usize>| -> Result<u32, ()> {
        let part = s.get(r).ok_or(())?;
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_digit()) {
            return Err(());
        }
        part.parse().map_err(|_| ())
    };
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return Err(());
    }
    let year = num(0..4)?;
    if year < 1900 {
        return Ok(None);
    }
    let month = Month::try_from(u8::try_from(num(5..7)?).map_err(|_| ())?).map_err(|_| ())?;
    let date = Date::from_calendar_date(
        i32::try_from(year).map_err(|_| ())?,
        month,
        u8::try_from(num(8..10)?).map_err(|_| ())?,
    )
    .map_err(|_| ())?;
    let (h, m, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut nanos = 0u32;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 9 {
                nanos = nanos * 10 + u32::from(b[i] - b'0');
            }
            i += 1;
        }
        for _ in (i - start).min(9)..9 {
            nanos *= 10;
        }
    }
    let time = Time::from_hms_nano(
        u8::try_from(h).map_err(|_| ())?,
        u8::try_from(m).map_err(|_| ())?,
        u8::try_from(sec).map_err(|_| ())?,
        nanos,
    )
    .map_err(|_| ())?;
    let offset = match &s[i..] {
        "" | "Z" | "z" => UtcOffset::UTC,
        rest => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1i8,
                b'-' => -1,
                _ => return Err(()),
            };
            let hh = i8::try_from(num(i + 1..i + 3)?).map_err(|_| ())?;
            let mm = if rest.len() >= 6 {
                i8::try_from(num(i + 4..i + 6)?).map_err(|_| ())?
            } else {
                0
            };
            UtcOffset::from_hms(sign * hh, sign * mm, 0).map_err(|_| ())?
        }
    };
    Ok(Some(
        PrimitiveDateTime::new(date, time).assume_offset(offset),
    ))
}

/// A timer as Fiddler writes it: local time with 7 fractional digits and an offset (UTC
/// here).
pub(super) fn format_time(t: Option<OffsetDateTime>) -> String {
    match t {
        None => "0001-01-01T00:00:00".into(),
        Some(t) => {
            let t = t.to_offset(UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}+00:00",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second(),
                t.nanosecond() / 100
            )
        }
    }
}
