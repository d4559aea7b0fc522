//! One importer shape for archives from other tools: HAR, Fiddler SAZ, pcap and pcapng.
//!
//! [`Format::sniff`] picks the format by content (magic bytes), the extension only
//! breaking ties; each importer streams exchanges to a sink as it reads them and returns
//! an [`ImportReport`] that counts everything it read, skipped or imported with a
//! problem, so no import drops anything silently.

use std::collections::BTreeMap;
use std::path::Path;

/// The archive formats `synctap import` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// HAR 1.2 (JSON).
    Har,
    /// Fiddler's Session Archive Zip.
    Saz,
    /// libpcap capture file.
    Pcap,
    /// pcapng capture file.
    PcapNg,
}

impl Format {
    /// The format of a file starting with `head`, by its magic bytes, else by the
    /// extension of `path`.
    pub fn sniff(head: &[u8], path: &Path) -> Option<Self> {
        match head {
            [0x50, 0x4b, 0x03, 0x04, ..] | [0x50, 0x4b, 0x05, 0x06, ..] => return Some(Self::Saz),
            [0x0a, 0x0d, 0x0d, 0x0a, ..] => return Some(Self::PcapNg),
            [0xa1, 0xb2, 0xc3, 0xd4, ..]
            | [0xd4, 0xc3, 0xb2, 0xa1, ..]
            | [0xa1, 0xb2, 0x3c, 0x4d, ..]
            | [0x4d, 0x3c, 0xb2, 0xa1, ..] => return Some(Self::Pcap),
            _ => {}
        }
        let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
        if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            return Some(Self::Har);
        }
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "har" => Some(Self::Har),
            "saz" => Some(Self::Saz),
            "pcap" | "cap" | "dmp" => Some(Self::Pcap),
            "pcapng" => Some(Self::PcapNg),
            _ => None,
        }
    }

    /// The format's name in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Har => "HAR",
            Self::Saz => "SAZ",
            Self::Pcap => "pcap",
            Self::PcapNg => "pcapng",
        }
    }

    /// What one unit read is called in reports.
    pub fn unit(self) -> &'static str {
        match self {
            Self::Har => "entries",
            Self::Saz => "sessions",
            Self::Pcap | Self::PcapNg => "TCP connections",
        }
    }
}

/// Settings every importer takes.
#[derive(Debug, Clone, Copy)]
pub struct ImportOptions {
    /// Most bytes stored per body (the rest counted and hashed, as the proxy does).
    pub body_limit: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            body_limit: 64 << 20,
        }
    }
}

/// What an import did. Every session, entry or connection read is either turned into
/// exchanges or counted under `skipped` with its reason; exchanges imported with a
/// problem (a gap, a damaged member, unreadable metadata) are counted under `problems`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportReport {
    /// The format read.
    pub format: Format,
    /// Sessions (SAZ), entries (HAR) or TCP connections (pcap) read.
    pub read: u64,
    /// Exchanges written.
    pub exchanges: u64,
    /// Units not imported, by reason.
    pub skipped: BTreeMap<String, u64>,
    /// Problems with what was imported (gaps, damage), by kind.
    pub problems: BTreeMap<String, u64>,
    /// Other facts worth knowing (tunnels, bodies stored decoded), by kind.
    pub notes: BTreeMap<String, u64>,
}

impl ImportReport {
    /// An empty report for `format`.
    pub fn new(format: Format) -> Self {
        Self {
            format,
            read: 0,
            exchanges: 0,
            skipped: BTreeMap::new(),
            problems: BTreeMap::new(),
            notes: BTreeMap::new(),
        }
    }

    /// Counts a unit skipped for `why`.
    pub fn skip(&mut self, why: impl Into<String>) {
        *self.skipped.entry(why.into()).or_default() += 1;
    }

    /// Counts a problem of kind `what`.
    pub fn problem(&mut self, what: impl Into<String>) {
        *self.problems.entry(what.into()).or_default() += 1;
    }

    /// Counts a note of kind `what`.
    pub fn note(&mut self, what: impl Into<String>) {
        *self.notes.entry(what.into()).or_default() += 1;
    }

    /// Units skipped in total.
    pub fn skipped_total(&self) -> u64 {
        self.skipped.values().sum()
    }

    /// The report as text lines: `read N sessions, M exchanges, skipped K`, then one line
    /// per reason, problem and note (text from the archive is escaped for a terminal).
    pub fn lines(&self) -> Vec<String> {
        let esc = |s: &str| crate::decode::text::escape_terminal(s).into_owned();
        let mut out = vec![format!(
            "read {} {} {}, {} exchanges, skipped {}{}",
            self.read,
            self.format.name(),
            self.format.unit(),
            self.exchanges,
            self.skipped_total(),
            if self.skipped.is_empty() { "" } else { ":" }
        )];
        for (why, n) in &self.skipped {
            out.push(format!("  skipped {n}: {}", esc(why)));
        }
        for (what, n) in &self.problems {
            out.push(format!("  problem ({n}): {}", esc(what)));
        }
        for (what, n) in &self.notes {
            out.push(format!("  note ({n}): {}", esc(what)));
        }
        out
    }
}

/// Why an archive could not be imported at all (a single bad session or packet never
/// ends an import: it is counted in the report).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file could not be read, or the capture not written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// Not an archive of the format named.
    #[error("not a {format} file: {reason}")]
    NotThisFormat {
        /// The format expected.
        format: &'static str,
        /// What was found instead.
        reason: String,
    },
    /// A password-protected SAZ.
    #[error("the archive is password-protected ({member} is encrypted); save it again in Fiddler without a password (File > Save > All Sessions, leave the password empty) and import that")]
    Encrypted {
        /// The first encrypted member.
        member: String,
    },
    /// The HAR importer refused the file.
    #[error(transparent)]
    Har(#[from] super::har::ImportError),
}

/// Where exchanges go: called once per exchange, in the order they are written.
pub type Sink<'a> = dyn FnMut(crate::model::Exchange) -> std::io::Result<()> + 'a;

/// Told how far an import has read: (bytes or items done, total).
pub type Progress<'a> = dyn Fn(u64, u64) + 'a;

/// `host:port` of a URL's authority, with the scheme's default port when none is given.
pub fn authority_with_port(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
    let auth = rest.split(['/', '?', '#']).next().unwrap_or("");
    let auth = auth.rsplit_once('@').map_or(auth, |(_, h)| h);
    let has_port = match auth.rfind(']') {
        Some(close) => auth[close..].contains(':'),
        None => auth.contains(':'),
    };
    if has_port || auth.is_empty() {
        auth.to_owned()
    } else if scheme.eq_ignore_ascii_case("https") {
        format!("{auth}:443")
    } else {
        format!("{auth}:80")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_sniffed_by_content_first() {
        let p = Path::new("x.har");
        assert_eq!(Format::sniff(b"PK\x03\x04rest", p), Some(Format::Saz));
        assert_eq!(Format::sniff(b"\x0a\x0d\x0d\x0a", p), Some(Format::PcapNg));
        assert_eq!(Format::sniff(b"\xd4\xc3\xb2\xa1", p), Some(Format::Pcap));
        assert_eq!(
            Format::sniff(b"\xef\xbb\xbf  {\"log\"", Path::new("x")),
            Some(Format::Har)
        );
        assert_eq!(Format::sniff(b"", Path::new("x.saz")), Some(Format::Saz));
        assert_eq!(Format::sniff(b"garbage", Path::new("x")), None);
    }

    #[test]
    fn authorities_get_default_ports() {
        for (url, authority) in [
            ("https://h/p", "h:443"),
            ("http://h:8080/p", "h:8080"),
            ("http://[::1]/", "[::1]:80"),
            ("http://[::1]:81/", "[::1]:81"),
        ] {
            assert_eq!(authority_with_port(url), authority, "{url}");
        }
    }
}
