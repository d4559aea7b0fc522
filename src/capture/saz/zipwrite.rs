//! A ZIP written member by member, keeping nothing per member in memory.
//!
//! The `zip` crate's `ZipWriter` keeps every member's description until `finish` writes
//! the central directory: about 500 bytes a member, three members a session, so a SAZ
//! export of 100,000 sessions grew to 159 MiB. Here each member is deflated whole (it is
//! in memory already: one request or response), its local header written with its CRC-32
//! and sizes, and its central directory record appended to a temporary file, copied to
//! the end of the archive by [`ZipOut::finish`]. Memory is one member, whatever the
//! number of members.
//!
//! Layout: APPNOTE.TXT 4.3 (<https://pkware.cachefly.net/webdocs/casestudies/APPNOTE.TXT>):
//! local file header (4.3.7), central directory file header (4.3.12), ZIP64 extended
//! information extra field (4.5.3), ZIP64 end of central directory record and locator
//! (4.3.14, 4.3.15), end of central directory record (4.3.16). Names are ASCII
//! (`raw/NNN_c.txt`); times are the DOS epoch, as the `zip` crate wrote them.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};

/// Deflate (APPNOTE 4.4.5).
const METHOD_DEFLATE: u16 = 8;
/// Version needed to extract: 2.0 (deflate), 4.5 (ZIP64).
const VERSION_DEFLATE: u16 = 20;
const VERSION_ZIP64: u16 = 45;
/// 1980-01-01 00:00:00 in MS-DOS date and time.
const DOS_DATE: u16 = (1 << 5) | 1;
const DOS_TIME: u16 = 0;
/// A 32-bit field's "see the ZIP64 field" value.
const ALL32: u32 = u32::MAX;

/// A ZIP being written to a file.
pub(super) struct ZipOut {
    out: BufWriter<File>,
    /// Bytes written to `out` so far: the next member's offset.
    offset: u64,
    /// The central directory so far (a temporary file).
    central: BufWriter<File>,
    central_len: u64,
    entries: u64,
    /// One raw deflate stream, reset for each member: a new one per member costs an
    /// allocation of its state (a few hundred KB, mapped and unmapped each time).
    deflate: flate2::Compress,
}

impl ZipOut {
    /// Starts an archive in `out` (positioned at its start).
    ///
    /// # Errors
    /// When no temporary file can be made for the central directory.
    pub(super) fn new(out: File) -> std::io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(1 << 16, out),
            offset: 0,
            central: BufWriter::with_capacity(1 << 16, tempfile::tempfile()?),
            central_len: 0,
            entries: 0,
            deflate: flate2::Compress::new(flate2::Compression::default(), false),
        })
    }

    /// Writes member `name` holding `data`, deflated.
    ///
    /// # Errors
    /// When a write fails.
    pub(super) fn member(&mut self, name: &str, data: &[u8]) -> std::io::Result<()> {
        let mut crc = flate2::Crc::new();
        crc.update(data);
        let packed = self.pack(data)?;
        let (size, csize) = (data.len() as u64, packed.len() as u64);
        let offset = self.offset;
        let local = local_header(name, crc.sum(), size, csize, big(size, csize));
        self.out.write_all(&local)?;
        self.out.write_all(&packed)?;
        self.offset += local.len() as u64 + csize;
        self.record(name, crc.sum(), size, csize, offset)
    }

    /// `data` deflated (raw deflate, APPNOTE 4.4.5 method 8) with the reused stream.
    fn pack(&mut self, data: &[u8]) -> std::io::Result<Vec<u8>> {
        self.deflate.reset();
        let mut packed = Vec::with_capacity(data.len() / 2 + 64);
        loop {
            let read = usize::try_from(self.deflate.total_in()).unwrap_or(usize::MAX);
            let rest = data.get(read..).unwrap_or_default();
            let status = self
                .deflate
                .compress_vec(rest, &mut packed, flate2::FlushCompress::Finish)
                .map_err(std::io::Error::other)?;
            if status == flate2::Status::StreamEnd {
                return Ok(packed);
            }
            // Room for the rest of the output.
            packed.reserve(packed.capacity().max(64));
        }
    }

    /// Writes member `name` holding the `size` bytes `data` reads, deflated as they are
    /// read (a member too large to hold: the `_index.htm` of a large export); its local
    /// header is filled in once the data is written.
    ///
    /// # Errors
    /// When a read or write fails, or `data` does not hold `size` bytes.
    pub(super) fn member_from(
        &mut self,
        name: &str,
        mut data: impl Read,
        size: u64,
    ) -> std::io::Result<()> {
        // Deflate can grow data a little: past this, the sizes go in the ZIP64 field.
        let zip64 = big(size.saturating_add(64 << 10), 0);
        let offset = self.offset;
        let local = local_header(name, 0, size, 0, zip64);
        self.out.write_all(&local)?;
        let mut crc = flate2::Crc::new();
        let mut enc = flate2::write::DeflateEncoder::new(
            Counted(&mut self.out, 0),
            flate2::Compression::default(),
        );
        let mut buf = vec![0u8; 1 << 16];
        let mut read = 0u64;
        loop {
            let n = data.read(&mut buf)?;
            if n == 0 {
                break;
            }
            crc.update(&buf[..n]);
            enc.write_all(&buf[..n])?;
            read += n as u64;
        }
        let csize = enc.finish()?.1;
        if read != size {
            return Err(std::io::Error::other(format!(
                "{name}: {read} bytes read, {size} expected"
            )));
        }
        self.offset += local.len() as u64 + csize;
        // Fill in the local header: CRC-32 and sizes (or the ZIP64 field's sizes).
        self.out.flush()?;
        let file = self.out.get_mut();
        let head = local_header(name, crc.sum(), size, csize, zip64);
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(&head)?;
        file.seek(SeekFrom::End(0))?;
        self.record(name, crc.sum(), size, csize, offset)
    }

    /// Appends member `name`'s central directory record: 32-bit fields that do not fit
    /// say ALL32 and the value goes in the ZIP64 field, in the order size, compressed
    /// size, offset (APPNOTE 4.5.3).
    fn record(
        &mut self,
        name: &str,
        crc: u32,
        size: u64,
        csize: u64,
        offset: u64,
    ) -> std::io::Result<()> {
        let mut extra = Vec::new();
        let mut fit = |v: u64| {
            if v >= u64::from(ALL32) {
                put64(&mut extra, v);
                ALL32
            } else {
                v as u32
            }
        };
        let (size32, csize32, offset32) = (fit(size), fit(csize), fit(offset));
        let mut rec = Vec::with_capacity(46 + name.len() + 28);
        put32(&mut rec, 0x0201_4b50);
        let version = if extra.is_empty() {
            VERSION_DEFLATE
        } else {
            VERSION_ZIP64
        };
        put16(&mut rec, version);
        put16(&mut rec, version);
        put16(&mut rec, 0);
        put16(&mut rec, METHOD_DEFLATE);
        put16(&mut rec, DOS_TIME);
        put16(&mut rec, DOS_DATE);
        put32(&mut rec, crc);
        put32(&mut rec, csize32);
        put32(&mut rec, size32);
        put16(&mut rec, name.len() as u16);
        put16(
            &mut rec,
            if extra.is_empty() {
                0
            } else {
                4 + extra.len() as u16
            },
        );
        put16(&mut rec, 0); // comment length
        put16(&mut rec, 0); // disk number start
        put16(&mut rec, 0); // internal attributes
        put32(&mut rec, 0); // external attributes
        put32(&mut rec, offset32);
        rec.extend_from_slice(name.as_bytes());
        if !extra.is_empty() {
            put16(&mut rec, 1);
            put16(&mut rec, extra.len() as u16);
            rec.extend_from_slice(&extra);
        }
        self.central.write_all(&rec)?;
        self.central_len += rec.len() as u64;
        self.entries += 1;
        Ok(())
    }

    /// Appends the central directory and its end records, and flushes the file.
    ///
    /// # Errors
    /// When a write fails.
    pub(super) fn finish(self) -> std::io::Result<()> {
        let Self {
            mut out,
            offset,
            central,
            central_len,
            entries,
            ..
        } = self;
        let mut central = central.into_inner().map_err(|e| e.into_error())?;
        central.seek(SeekFrom::Start(0))?;
        let copied = std::io::copy(&mut central, &mut out)?;
        if copied != central_len {
            return Err(std::io::Error::other(
                "the central directory's temporary file was cut short",
            ));
        }
        let cd_offset = offset;
        let end64 = cd_offset + central_len;
        let zip64 =
            entries >= 0xffff || cd_offset >= u64::from(ALL32) || central_len >= u64::from(ALL32);
        let mut end = Vec::with_capacity(56 + 20 + 22);
        if zip64 {
            put32(&mut end, 0x0606_4b50);
            put64(&mut end, 44); // size of the rest of this record
            put16(&mut end, VERSION_ZIP64);
            put16(&mut end, VERSION_ZIP64);
            put32(&mut end, 0); // this disk
            put32(&mut end, 0); // disk with the central directory
            put64(&mut end, entries);
            put64(&mut end, entries);
            put64(&mut end, central_len);
            put64(&mut end, cd_offset);
            put32(&mut end, 0x0706_4b50);
            put32(&mut end, 0); // disk with the ZIP64 end record
            put64(&mut end, end64);
            put32(&mut end, 1); // disks
        }
        put32(&mut end, 0x0605_4b50);
        put16(&mut end, 0);
        put16(&mut end, 0);
        let n16 = if zip64 { 0xffff } else { entries as u16 };
        put16(&mut end, n16);
        put16(&mut end, n16);
        put32(&mut end, if zip64 { ALL32 } else { central_len as u32 });
        put32(&mut end, if zip64 { ALL32 } else { cd_offset as u32 });
        put16(&mut end, 0); // comment length
        out.write_all(&end)?;
        out.flush()?;
        Ok(())
    }
}

/// Whether a member's sizes need the ZIP64 field.
fn big(size: u64, csize: u64) -> bool {
    size >= u64::from(ALL32) || csize >= u64::from(ALL32)
}

/// A local file header (APPNOTE 4.3.7); with `zip64`, the sizes are in its ZIP64 field.
fn local_header(name: &str, crc: u32, size: u64, csize: u64, zip64: bool) -> Vec<u8> {
    let mut h = Vec::with_capacity(30 + name.len() + 20);
    put32(&mut h, 0x0403_4b50);
    put16(
        &mut h,
        if zip64 {
            VERSION_ZIP64
        } else {
            VERSION_DEFLATE
        },
    );
    put16(&mut h, 0);
    put16(&mut h, METHOD_DEFLATE);
    put16(&mut h, DOS_TIME);
    put16(&mut h, DOS_DATE);
    put32(&mut h, crc);
    put32(&mut h, if zip64 { ALL32 } else { csize as u32 });
    put32(&mut h, if zip64 { ALL32 } else { size as u32 });
    put16(&mut h, name.len() as u16);
    put16(&mut h, if zip64 { 20 } else { 0 });
    h.extend_from_slice(name.as_bytes());
    if zip64 {
        put16(&mut h, 1);
        put16(&mut h, 16);
        put64(&mut h, size);
        put64(&mut h, csize);
    }
    h
}

/// A writer counting the bytes written through it.
struct Counted<W>(W, u64);

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.0.write(buf)?;
        self.1 += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

fn put16(v: &mut Vec<u8>, n: u16) {
    v.extend_from_slice(&n.to_le_bytes());
}

fn put32(v: &mut Vec<u8>, n: u32) {
    v.extend_from_slice(&n.to_le_bytes());
}

fn put64(v: &mut Vec<u8>, n: u64) {
    v.extend_from_slice(&n.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    /// What is written reads back through the central directory (`zip`'s archive) and
    /// through the local headers alone (`zip`'s stream reader, as a truncated archive
    /// is read), with the same names and bytes.
    #[test]
    fn members_read_back_by_directory_and_by_local_headers(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let members: Vec<(String, Vec<u8>)> = vec![
            ("[Content_Types].xml".into(), b"<Types/>".to_vec()),
            ("raw/01_c.txt".into(), b"GET / HTTP/1.1\r\n\r\n".repeat(300)),
            ("raw/01_s.txt".into(), Vec::new()),
            ("_index.htm".into(), b"<html>rows</html>".repeat(5000)),
        ];
        let mut file = tempfile::tempfile()?;
        let mut zip = ZipOut::new(file.try_clone()?)?;
        for (name, data) in &members[..3] {
            zip.member(name, data)?;
        }
        let (name, data) = &members[3];
        zip.member_from(name, data.as_slice(), data.len() as u64)?;
        zip.finish()?;

        file.seek(SeekFrom::Start(0))?;
        let mut archive = zip::ZipArchive::new(file.try_clone()?)?;
        assert_eq!(archive.len(), members.len());
        for (i, (name, data)) in members.iter().enumerate() {
            let mut m = archive.by_index(i)?;
            assert_eq!(m.name(), name);
            let mut got = Vec::new();
            m.read_to_end(&mut got)?;
            assert_eq!(&got, data, "{name}");
        }

        file.seek(SeekFrom::Start(0))?;
        let mut r = std::io::BufReader::new(file);
        for (name, data) in &members {
            let mut m = zip::read::read_zipfile_from_stream(&mut r)?.ok_or("member missing")?;
            assert_eq!(m.name(), name);
            assert_eq!(m.size(), data.len() as u64);
            let mut got = Vec::new();
            m.read_to_end(&mut got)?;
            assert_eq!(&got, data, "{name}");
        }
        Ok(())
    }

    /// A member whose reader holds fewer bytes than announced is an error, not a
    /// member with a wrong size.
    #[test]
    fn a_short_streamed_member_is_an_error() -> Result<(), Box<dyn std::error::Error>> {
        let mut zip = ZipOut::new(tempfile::tempfile()?)?;
        assert!(zip.member_from("_index.htm", &b"abc"[..], 10).is_err());
        Ok(())
    }
}
