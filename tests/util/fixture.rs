//! Decoder fixtures as the tests and benches read them: header lines, a blank line, the
//! body. Included by the filter bench with `#[path]`.

use synctap::model::Headers;

/// The header fields and the body of a fixture, split at the first blank line (CRLF CRLF,
/// else LF LF); `None` when there is no blank line.
pub fn split_fixture(bytes: &[u8]) -> Option<(Headers, Vec<u8>)> {
    let (head, body) = [&b"\r\n\r\n"[..], &b"\n\n"[..]].iter().find_map(|sep| {
        bytes
            .windows(sep.len())
            .position(|w| w == *sep)
            .map(|i| (&bytes[..i], &bytes[i + sep.len()..]))
    })?;
    let headers = String::from_utf8_lossy(head)
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Some((Headers(headers), body.to_vec()))
}
