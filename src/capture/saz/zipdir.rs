//! A ZIP's central directory read record by record, and members read from it.
//!
//! The `zip` crate's `ZipArchive` keeps every member's full description in memory (names
//! twice, extra fields, a hash index): about 400 bytes a member, three members a session,
//! so an import of a large SAZ grew by 1.6 KB per session. The import needs only where
//! each session's members are, so it reads the central directory itself, one record at a
//! time, and keeps the offset of each record it wants; a member's record is read again
//! when the member is. Members are stored or deflated (what Fiddler and synctap write);
//! their CRC-32 is checked at their end.
//!
//! Layout: APPNOTE.TXT 4.3 (<https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT>):
//! end of central directory record (4.3.16), ZIP64 locator and record (4.3.14, 4.3.15),
//! central directory file header (4.3.12), local file header (4.3.7), ZIP64 extra field
//! (4.5.3).

use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

/// Signature of the end of central directory record.
const EOCD: &[u8; 4] = b"PK\x05\x06";
/// Signature of the ZIP64 end of central directory locator.
const EOCD64_LOCATOR: &[u8; 4] = b"PK\x06\x07";
/// Signature of the ZIP64 end of central directory record.
const EOCD64: &[u8; 4] = b"PK\x06\x06";
/// Signature of a central directory file header.
const CENTRAL: &[u8; 4] = b"PK\x01\x02";
/// Signature of a local file header.
const LOCAL: &[u8; 4] = b"PK\x03\x04";
/// The end record is 22 bytes and its comment at most 65,535.
const EOCD_SEARCH: u64 = 22 + 0xffff;

/// Where the central directory is and how many records it has.
#[derive(Debug, Clone, Copy)]
pub(super) struct Directory {
    offset: u64,
    entries: u64,
}

/// One central directory record: what is needed to find and read the member.
#[derive(Debug, Clone)]
pub(super) struct Record {
    /// The member's name (UTF-8, or each byte as a character when not flagged UTF-8).
    pub(super) name: String,
    /// General purpose flags (bit 0: encrypted).
    flags: u16,
    method: u16,
    crc32: u32,
    compressed: u64,
    local: u64,
    /// Offset of the record itself.
    pub(super) at: u64,
}

impl Record {
    /// Whether the member is encrypted.
    pub(super) fn encrypted(&self) -> bool {
        self.flags & 1 != 0
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    b.get(at..at + 2)
        .map_or(0, |s| u16::from_le_bytes([s[0], s[1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4)
        .map_or(0, |s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le64(b: &[u8], at: usize) -> u64 {
    b.get(at..at + 8).map_or(0, |s| {
        u64::from_le_bytes([s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7]])
    })
}

fn bad(why: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.into())
}

/// Finds the central directory from the end records.
///
/// # Errors
/// When there is no end record, or it points outside the file.
pub(super) fn find(file: &mut (impl Read + Seek)) -> std::io::Result<Directory> {
    let len = file.seek(SeekFrom::End(0))?;
    let from = len.saturating_sub(EOCD_SEARCH);
    file.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    (&mut *file).take(EOCD_SEARCH).read_to_end(&mut tail)?;
    // The last signature whose comment ends the file.
    let at = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| {
            tail[i..].starts_with(EOCD) && i + 22 + usize::from(le16(&tail, i + 20)) == tail.len()
        })
        .ok_or_else(|| bad("no end of central directory record"))?;
    let mut dir = Directory {
        offset: u64::from(le32(&tail, at + 16)),
        entries: u64::from(le16(&tail, at + 10)),
    };
    let eocd = from + at as u64;
    // ZIP64: the locator sits just before the end record and names the ZIP64 record.
    if at >= 20 && tail[at - 20..].starts_with(EOCD64_LOCATOR) {
        let record = le64(&tail, at - 20 + 8);
        file.seek(SeekFrom::Start(record))?;
        let mut r = [0u8; 56];
        file.read_exact(&mut r)?;
        if !r.starts_with(EOCD64) {
            return Err(bad("ZIP64 locator names no ZIP64 end record"));
        }
        dir.entries = le64(&r, 32);
        dir.offset = le64(&r, 48);
    }
    if dir.offset > eocd {
        return Err(bad(format!(
            "central directory offset {} is past its end record at {eocd}",
            dir.offset
        )));
    }
    Ok(dir)
}

/// Reads every record of the directory in order, giving each to `each`.
///
/// # Errors
/// When a record cannot be read (the archive is damaged), or when `each` fails.
pub(super) fn each_record<R: Read + Seek, E: From<std::io::Error>>(
    file: R,
    dir: Directory,
    mut each: impl FnMut(Record) -> Result<(), E>,
) -> Result<(), E> {
    let mut r = BufReader::with_capacity(256 << 10, file);
    r.seek(SeekFrom::Start(dir.offset))?;
    let mut at = dir.offset;
    for _ in 0..dir.entries {
        let (record, len) = read_record(&mut r, at)?;
        at += len;
        each(record)?;
    }
    Ok(())
}

/// Reads the record at `at`.
///
/// # Errors
/// When it is not a central directory record.
pub(super) fn record_at(file: &mut (impl BufRead + Seek), at: u64) -> std::io::Result<Record> {
    file.seek(SeekFrom::Start(at))?;
    Ok(read_record(file, at)?.0)
}

/// Reads one record from where `r` is (offset `at`); returns it and its length.
fn read_record(r: &mut impl Read, at: u64) -> std::io::Result<(Record, u64)> {
    let mut h = [0u8; 46];
    r.read_exact(&mut h)
        .map_err(|e| bad(format!("central directory cut at byte {at} ({e})")))?;
    if !h.starts_with(CENTRAL) {
        return Err(bad(format!("no central directory record at byte {at}")));
    }
    let (name_len, extra_len, comment_len) = (
        usize::from(le16(&h, 28)),
        usize::from(le16(&h, 30)),
        usize::from(le16(&h, 32)),
    );
    let mut rest = vec![0u8; name_len + extra_len + comment_len];
    r.read_exact(&mut rest)
        .map_err(|e| bad(format!("central directory cut at byte {at} ({e})")))?;
    let flags = le16(&h, 8);
    let raw_name = &rest[..name_len];
    let name = if flags & (1 << 11) != 0 {
        String::from_utf8_lossy(raw_name).into_owned()
    } else {
        raw_name.iter().map(|&b| char::from(b)).collect()
    };
    let mut compressed = u64::from(le32(&h, 20));
    let mut local = u64::from(le32(&h, 42));
    // ZIP64 extra field: the 64-bit values of the fields set to all ones, in order.
    let uncompressed32 = le32(&h, 24);
    let mut extra = &rest[name_len..name_len + extra_len];
    while extra.len() >= 4 {
        let (id, size) = (le16(extra, 0), usize::from(le16(extra, 2)));
        let data = extra.get(4..4 + size).unwrap_or(&[]);
        if id == 1 {
            let mut i = 0;
            if uncompressed32 == u32::MAX {
                i += 8;
            }
            if compressed == u64::from(u32::MAX) && data.len() >= i + 8 {
                compressed = le64(data, i);
                i += 8;
            }
            if local == u64::from(u32::MAX) && data.len() >= i + 8 {
                local = le64(data, i);
            }
        }
        extra = extra.get(4 + size..).unwrap_or(&[]);
    }
    let record = Record {
        name,
        flags,
        method: le16(&h, 10),
        crc32: le32(&h, 16),
        compressed,
        local,
        at,
    };
    Ok((record, (46 + rest.len()) as u64))
}

/// Opens the member of `record` for reading its decompressed bytes.
///
/// # Errors
/// When its local header is missing, or it is compressed with a method other than
/// stored or deflate.
pub(super) fn open_member<'a, R: BufRead + Seek>(
    file: &'a mut R,
    record: &Record,
) -> std::io::Result<Member<'a, R>> {
    file.seek(SeekFrom::Start(record.local))?;
    let mut h = [0u8; 30];
    file.read_exact(&mut h)?;
    if !h.starts_with(LOCAL) {
        return Err(bad(format!("no local header at byte {}", record.local)));
    }
    let skip = i64::from(le16(&h, 26)) + i64::from(le16(&h, 28));
    file.seek(SeekFrom::Current(skip))?;
    let data = file.take(record.compressed);
    let inner = match record.method {
        0 => Inner::Stored(data),
        8 => Inner::Deflated(flate2::bufread::DeflateDecoder::new(data)),
        m => {
            return Err(bad(format!(
                "compression method {m} is not supported (stored or deflate only)"
            )))
        }
    };
    Ok(Member {
        inner,
        crc: flate2::Crc::new(),
        expected: record.crc32,
    })
}

enum Inner<'a, R> {
    Stored(std::io::Take<&'a mut R>),
    Deflated(flate2::bufread::DeflateDecoder<std::io::Take<&'a mut R>>),
}

/// A member's decompressed bytes; the CRC-32 is checked when they end.
pub(super) struct Member<'a, R> {
    inner: Inner<'a, R>,
    crc: flate2::Crc,
    expected: u32,
}

impl<R: BufRead> Read for Member<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = match &mut self.inner {
            Inner::Stored(r) => r.read(buf)?,
            Inner::Deflated(r) => r.read(buf)?,
        };
        if n == 0 && !buf.is_empty() && self.crc.sum() != self.expected {
            return Err(bad("invalid checksum (CRC-32)"));
        }
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}
