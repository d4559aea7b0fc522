//! Just enough of a TLS ClientHello (RFC 8446 section 4.1.2, RFC 6066 section 3) to name
//! the server a connection was for: the record layer, the handshake header, and the
//! `server_name` extension. Every length is checked before it is used; anything else
//! answers "not a ClientHello" or "no SNI".

/// What the first bytes a client sent say about TLS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// Not TLS (the first byte is not a handshake record of a known version).
    NotTls,
    /// A TLS handshake record, but more bytes are needed to read the ClientHello.
    NeedMore,
    /// A ClientHello, with the host name it asked for, if any.
    ClientHello {
        /// The `server_name` extension's host name.
        sni: Option<String>,
        /// The ALPN protocols offered, in order.
        alpn: Vec<String>,
    },
    /// A TLS record that does not hold a readable ClientHello.
    Unreadable,
}

/// Longest ClientHello read (several records may carry one); a longer one is unreadable.
const MAX_HELLO: usize = 64 << 10;

/// Reads the ClientHello at the start of a client's byte stream.
pub fn client_hello(stream: &[u8]) -> Hello {
    match stream {
        [] => return Hello::NeedMore,
        [0x16] | [0x16, 0x03] => return Hello::NeedMore,
        [0x16, 0x03, ..] => {}
        _ => return Hello::NotTls,
    }
    // Join the handshake fragments of consecutive handshake records.
    let mut hs = Vec::new();
    let mut at = 0usize;
    loop {
        let Some(rec) = stream.get(at..at + 5) else {
            return Hello::NeedMore;
        };
        if rec[0] != 0x16 || rec[1] != 0x03 {
            return Hello::Unreadable;
        }
        let len = usize::from(u16::from_be_bytes([rec[3], rec[4]]));
        let Some(body) = stream.get(at + 5..at + 5 + len) else {
            return if at + 5 + len > MAX_HELLO {
                Hello::Unreadable
            } else {
                Hello::NeedMore
            };
        };
        hs.extend_from_slice(body);
        at += 5 + len;
        if hs.len() >= 4 {
            let want =
                4 + (usize::from(hs[1]) << 16 | usize::from(hs[2]) << 8 | usize::from(hs[3]));
            if hs[0] != 0x01 || want > MAX_HELLO {
                return Hello::Unreadable;
            }
            if hs.len() >= want {
                return parse_hello(&hs[4..want]).unwrap_or(Hello::Unreadable);
            }
        }
    }
}

/// A cursor over bytes that cannot read past its end.
struct Cur<'a>(&'a [u8]);

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (a, b) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = b;
        Some(a)
    }
    fn u8(&mut self) -> Option<usize> {
        self.take(1).map(|b| usize::from(b[0]))
    }
    fn u16(&mut self) -> Option<usize> {
        self.take(2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(n)
    }
    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(n)
    }
}

fn parse_hello(body: &[u8]) -> Option<Hello> {
    let mut c = Cur(body);
    c.take(2)?; // legacy_version
    c.take(32)?; // random
    c.vec8()?; // legacy_session_id
    c.vec16()?; // cipher_suites
    c.vec8()?; // legacy_compression_methods
    let mut sni = None;
    let mut alpn = Vec::new();
    if c.0.is_empty() {
        return Some(Hello::ClientHello { sni, alpn });
    }
    let mut exts = Cur(c.vec16()?);
    while !exts.0.is_empty() {
        let ty = exts.u16()?;
        let mut data = Cur(exts.vec16()?);
        match ty {
            0x0000 => {
                let mut list = Cur(data.vec16()?);
                while !list.0.is_empty() {
                    let kind = list.u8()?;
                    let name = list.vec16()?;
                    if kind == 0 && sni.is_none() {
                        sni = std::str::from_utf8(name).ok().map(str::to_owned);
                    }
                }
            }
            0x0010 => {
                let mut list = Cur(data.vec16()?);
                while !list.0.is_empty() {
                    alpn.push(String::from_utf8_lossy(list.vec8()?).into_owned());
                }
            }
            _ => {}
        }
    }
    Some(Hello::ClientHello { sni, alpn })
}
