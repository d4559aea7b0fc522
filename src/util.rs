//! Small helpers shared by several layers: dates (every date synctap reads or writes goes
//! through the `time` crate here: RFC 3339 text, milliseconds since the Unix epoch, .NET
//! and FILETIME tick counts), hex, and ISO-8859-1 header text.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Now, as RFC 3339 UTC with microseconds.
pub fn now_rfc3339() -> String {
    rfc3339(OffsetDateTime::now_utc())
}

/// A timestamp as RFC 3339 UTC.
pub fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

/// Ticks (100 ns) between 0001-01-01 and 1970-01-01 UTC: the .NET `DateTime` epoch.
pub const DOTNET_UNIX_OFFSET: i128 = 621_355_968_000_000_000;
/// Ticks (100 ns) between 1601-01-01 and 1970-01-01 UTC: the FILETIME epoch.
pub const FILETIME_UNIX_OFFSET: i128 = 116_444_736_000_000_000;

/// Milliseconds since the Unix epoch for an RFC 3339 timestamp
/// (`2026-01-01T00:00:00.123456Z`, `…+02:00`; `T`, `t` or a space between date and
/// time), or `None` when it is not one. Digits beyond milliseconds are cut off; a leap
/// second reads as the last millisecond before it.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    parse_rfc3339_nanos(s).and_then(|n| i64::try_from(n.div_euclid(1_000_000)).ok())
}

/// [`parse_rfc3339`] in microseconds since the Unix epoch.
pub fn parse_rfc3339_us(s: &str) -> Option<i64> {
    parse_rfc3339_nanos(s).and_then(|n| i64::try_from(n.div_euclid(1_000)).ok())
}

fn parse_rfc3339_nanos(s: &str) -> Option<i128> {
    let s = s.trim();
    if !matches!(s.as_bytes().get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    Some(
        OffsetDateTime::parse(s, &Rfc3339)
            .ok()?
            .unix_timestamp_nanos(),
    )
}

/// The calendar date and time (UTC) of `ms` milliseconds since the Unix epoch, clamped
/// to the years the `time` crate represents.
fn utc_of_ms(ms: i64) -> OffsetDateTime {
    let nanos = i128::from(ms) * 1_000_000;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if ms < 0 {
        time::PrimitiveDateTime::MIN.assume_utc()
    } else {
        time::PrimitiveDateTime::MAX.assume_utc()
    })
}

/// RFC 3339 UTC with milliseconds (`2026-11-22T00:37:25.123Z`) for milliseconds since
/// the Unix epoch.
pub fn format_rfc3339(ms: i64) -> String {
    let t = utc_of_ms(ms);
    let (h, m, s, milli) = t.to_hms_milli();
    format!(
        "{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}.{milli:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day()
    )
}

/// `HH:MM:SS` (UTC) for milliseconds since the Unix epoch.
pub fn clock(ms: i64) -> String {
    let (h, m, s) = utc_of_ms(ms).to_hms();
    format!("{h:02}:{m:02}:{s:02}")
}

/// The instant `ticks` 100 ns intervals after the epoch that lies `epoch_offset` ticks
/// before 1970-01-01 ([`DOTNET_UNIX_OFFSET`], [`FILETIME_UNIX_OFFSET`]); `None` outside
/// the years the `time` crate represents.
pub fn ticks_to_datetime(ticks: i128, epoch_offset: i128) -> Option<OffsetDateTime> {
    let nanos = (ticks - epoch_offset).checked_mul(100)?;
    OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
}

/// A tick count as RFC 3339 UTC with as many fraction digits as needed
/// (`2022-09-28T22:13:20Z`), as MS-FSSHTTP times are shown.
pub fn ticks_to_rfc3339(ticks: i128, epoch_offset: i128) -> Option<String> {
    ticks_to_datetime(ticks, epoch_offset)?
        .format(&Rfc3339)
        .ok()
}

/// A tick count as UTC with all seven tick digits (`2025-11-07T22:07:00.4270000Z`), as
/// .NET writes `DateTime` round-trip text.
pub fn ticks_to_iso7(ticks: i128, epoch_offset: i128) -> Option<String> {
    let t = ticks_to_datetime(ticks, epoch_offset)?;
    let (h, m, s, nano) = t.to_hms_nano();
    Some(format!(
        "{:04}-{:02}-{:02}T{h:02}:{m:02}:{s:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        nano / 100
    ))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Header bytes as a string, losslessly: bytes outside ASCII map to U+0080..U+00FF
/// (ISO-8859-1), which is what HTTP header octets are defined as.
pub fn latin1(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if s.is_ascii() => s.to_owned(),
        _ => bytes.iter().map(|&b| char::from(b)).collect(),
    }
}

/// The inverse of [`latin1`]: characters above U+00FF become `?`.
pub fn from_latin1(s: &str) -> Vec<u8> {
    s.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(parse_rfc3339("1970-01-01 00:00:01.5z"), Some(1500));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:00:00-01:00"), Some(0));
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59.5Z"), Some(-500));
        let t = parse_rfc3339("2026-11-22T00:37:25.123456Z");
        assert_eq!(
            t.map(format_rfc3339).as_deref(),
            Some("2026-11-22T00:37:25.123Z")
        );
        assert_eq!(t.map(clock).as_deref(), Some("00:37:25"));
        for bad in [
            "",
            "2026-11-22",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00",
            "2026-01-01X00:00:00Z",
            "x",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
        // Far outside any capture: clamped, never a panic.
        assert!(format_rfc3339(i64::MAX).ends_with('Z'));
        assert!(format_rfc3339(i64::MIN).ends_with('Z'));
    }

    #[test]
    fn tick_epochs() {
        assert_eq!(
            ticks_to_rfc3339(638_000_000_000_000_000, DOTNET_UNIX_OFFSET).as_deref(),
            Some("2022-09-28T22:13:20Z")
        );
        assert_eq!(
            ticks_to_rfc3339(116_444_736_000_000_000, FILETIME_UNIX_OFFSET).as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
        assert_eq!(
            ticks_to_iso7(0, DOTNET_UNIX_OFFSET).as_deref(),
            Some("0001-01-01T00:00:00.0000000Z")
        );
        assert!(ticks_to_iso7(i128::from(u64::MAX), DOTNET_UNIX_OFFSET).is_some());
    }
}
