//! Text helpers every decoder and view shares: percent decoding and encoding of URL
//! parts (RFC 3986 2.1), shortening long values for one-line output, and escaping of
//! text from the wire before it reaches a terminal.
//!
//! These are byte-level and total: no input makes them panic, whatever mix of `%`,
//! multibyte UTF-8 and control characters it holds.

/// The value of the first (name, value) pair whose name is `name`, ASCII
/// case-insensitively: header fields and query parameters.
pub fn value_of<'a, K, V>(
    pairs: impl IntoIterator<Item = (&'a K, &'a V)>,
    name: &str,
) -> Option<&'a str>
where
    K: AsRef<str> + ?Sized + 'a,
    V: AsRef<str> + ?Sized + 'a,
{
    pairs
        .into_iter()
        .find(|(k, _)| k.as_ref().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_ref())
}

/// Decodes `%XX` escapes (RFC 3986 2.1). A `%` not followed by two hex digits is kept as
/// it is; bytes that do not form UTF-8 after decoding become U+FFFD.
///
/// Works on bytes, so a `%` before a multibyte character (`N%Kä`) is just a literal `%`.
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    if !bytes.contains(&b'%') {
        return s.to_owned();
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                bytes.get(i + 1).copied().and_then(hex_val),
                bytes.get(i + 2).copied().and_then(hex_val),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-encodes everything but RFC 3986 unreserved characters, as WCF does for `cid:`
/// URLs and as SharePoint does for file names in hrefs.
pub fn percent_encode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0F)]));
        }
    }
    out
}

/// A long opaque token (lock token, collblob, SyncToken) cut to 28 characters with an
/// ellipsis.
pub fn shorten(s: &str) -> String {
    shorten_to(s, 28)
}

/// `s` cut to `max` characters, the last being an ellipsis when it was cut.
pub fn shorten_to(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let head: String = s.chars().take(max.saturating_sub(1)).collect();
        format!("{head}…")
    }
}

/// `s` cut to `max` characters keeping its end (paths say most at the end), the first
/// being an ellipsis when it was cut.
pub fn shorten_keep_end(s: &str, max: usize) -> String {
    let n = s.chars().count();
    if n <= max {
        return s.to_owned();
    }
    let keep = max.saturating_sub(1);
    let tail: String = s.chars().skip(n - keep).collect();
    format!("…{tail}")
}

/// Cuts `s` to at most `max` bytes (at a character boundary) plus an ellipsis.
pub fn truncate_bytes(s: &mut String, max: usize) {
    if s.len() <= max {
        return;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s.push('…');
}

/// Makes text from the wire safe to print on a terminal or in a UI cell: control
/// characters (C0, DEL, C1), and the bidirectional overrides that reorder what a reader
/// sees, become visible escapes (`\u{1b}`, `\r`, `\n`, `\t`, `\u{202e}`). Everything
/// else, backslashes included, is kept, so clean text comes back borrowed and unchanged.
///
/// Escape each value from the wire before it is placed in a line synctap composes, or
/// the composed line when it holds no line breaks of synctap's own.
pub fn escape_terminal(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_escape(c) {
            out.push(c);
            continue;
        }
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            _ => {
                use std::fmt::Write as _;
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    std::borrow::Cow::Owned(out)
}

/// [`escape_terminal`] for multi-line text synctap composed (decoded trees, field
/// listings) whose values could not be escaped one by one: its line breaks stay, every
/// other control character, CR included, is escaped.
pub fn escape_terminal_lines(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c != '\n' && needs_escape(c)) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for (i, line) in s.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&escape_terminal(line));
    }
    std::borrow::Cow::Owned(out)
}

/// Whether a terminal could act on `c` rather than show it.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_escapes_and_keeps_bad_ones() {
        for (input, want) in [
            ("Report%20Q1.docx", "Report Q1.docx"),
            ("a%2", "a%2"),
            ("a%", "a%"),
            ("%zz%41", "%zzA"),
            ("%C3%A4", "ä"),
            ("%FF", "\u{FFFD}"),
            // Issue 14.3: `%` before a multibyte character panicked ("byte index is not a
            // char boundary") in replay's copy of this function.
            ("N%Kä", "N%Kä"),
            ("%ä", "%ä"),
            ("%4ä", "%4ä"),
            ("ä%", "ä%"),
        ] {
            assert_eq!(percent_decode(input), want, "{input}");
        }
    }

    #[test]
    fn shortening_counts_characters() {
        assert_eq!(shorten_to("abcdef", 4), "abc…");
        assert_eq!(shorten_to("abc", 4), "abc");
        assert_eq!(shorten_to("äöüß", 3), "äö…");
        assert_eq!(shorten_keep_end("/a/b/c.docx", 7), "…c.docx");
        assert_eq!(shorten_keep_end("c.docx", 7), "c.docx");
        let mut s = "ääää".to_owned();
        truncate_bytes(&mut s, 5);
        assert_eq!(s, "ää…");
        let mut s = "ab".to_owned();
        truncate_bytes(&mut s, 5);
        assert_eq!(s, "ab");
    }

    #[test]
    fn encode_round_trips() {
        for s in ["Shared Documents/Report.docx", "ä ö/%", "", "a-b.c_d~"] {
            assert_eq!(percent_decode(&percent_encode(s)), s);
        }
        assert_eq!(percent_encode("a b"), "a%20b");
    }

    #[test]
    fn escape_terminal_makes_controls_visible() {
        assert!(matches!(
            escape_terminal("Report Q1.docx ä \\ {ok}"),
            std::borrow::Cow::Borrowed(_)
        ));
        for (input, want) in [
            ("\u{1b}[41mred\u{7}", "\\u{1b}[41mred\\u{7}"),
            ("a\r\nb\tc", "a\\r\\nb\\tc"),
            ("\u{9b}31m\u{7f}", "\\u{9b}31m\\u{7f}"),
            ("x\u{202e}fdp.exe", "x\\u{202e}fdp.exe"),
            ("\0", "\\u{0}"),
        ] {
            assert_eq!(escape_terminal(input), want);
        }
        assert_eq!(escape_terminal_lines("a\u{1b}\nb\r\n"), "a\\u{1b}\nb\\r\n");
        assert!(matches!(
            escape_terminal_lines("tree\n  node\n"),
            std::borrow::Cow::Borrowed(_)
        ));
        for s in ["\u{1b}", "a\u{85}b", "\u{2067}", "\r"] {
            let e = escape_terminal(s);
            assert!(!e.chars().any(needs_escape), "{e:?}");
        }
    }
}
