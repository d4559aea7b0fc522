//! A bounds-checked reader over an MS-FSSHTTPB payload, and the primitive types of
//! [MS-FSSHTTPB] section 2.2.1 (compact integers, Extended GUIDs, serial numbers, cell ids,
//! stream object headers).
//!
//! Spec: <https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-fsshttpb/f59fc37d-2232-4b14-baac-25f98e9e7b5a>
//!
//! Nothing here can panic: every read goes through `slice::get` and reports the byte offset
//! where it failed. Offsets are absolute (from the start of the buffer the cursor was made
//! for) even in sub-cursors.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::rc::Rc;

use super::model::{Bytes, CellId, ExGuid, Field, FieldKind, Guid, SerialNumber};
use super::names::object_type_name;
use crate::decode::{Diagnostic, DiagnosticKind};

/// Why a read failed: where, what kind of problem (the input ending before the item is
/// [`DiagnosticKind::Truncated`]), and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    /// Byte offset of the failure.
    pub offset: usize,
    /// What kind of problem it is.
    pub kind: DiagnosticKind,
    /// What was expected there, lowercase, no trailing period.
    pub message: String,
}

impl Fail {
    /// A [`DiagnosticKind::Malformed`] failure: the bytes are not what the syntax allows.
    pub(crate) fn new(offset: usize, message: impl Into<String>) -> Self {
        Self::of(DiagnosticKind::Malformed, offset, message)
    }

    /// A failure of `kind`.
    pub(crate) fn of(kind: DiagnosticKind, offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            kind,
            message: message.into(),
        }
    }

    /// Whether the input ended before the item.
    pub(crate) fn is_eof(&self) -> bool {
        self.kind == DiagnosticKind::Truncated
    }
}

impl From<Fail> for Diagnostic {
    fn from(f: Fail) -> Self {
        Self::new(f.kind, f.offset, f.message)
    }
}

/// Result of a cursor read.
pub(crate) type R<T> = Result<T, Fail>;

/// The four stream object header forms of [MS-FSSHTTPB] 2.2.1.5.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderKind {
    Start16,
    Start32,
    End8,
    End16,
}

/// A decoded stream object header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub offset: usize,
    pub kind: HeaderKind,
    pub object_type: u16,
    pub compound: bool,
    pub length: u64,
    /// Offset of the first byte after the header.
    pub data_offset: usize,
}

impl Header {
    pub(crate) fn is_end(&self) -> bool {
        matches!(self.kind, HeaderKind::End8 | HeaderKind::End16)
    }
}

/// The fields a traced decode has read, in reading order ([`Cursor::traced`]).
pub(crate) type Trace = Rc<RefCell<Vec<Field>>>;

/// A reader over `buf[pos..end]` that never panics.
///
/// A traced cursor also records every field it reads (offset, length, name, value), which
/// is how [`super::fields`] maps each byte of a message to what it is. Reads made inside
/// another read (the GUID inside an Extended GUID) are not recorded on their own.
#[derive(Debug, Clone)]
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    trace: Option<Trace>,
    /// How many recording reads are under way (only the outermost one records).
    nested: u32,
}

impl<'a> Cursor<'a> {
    /// A cursor over the whole of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            end: buf.len(),
            trace: None,
            nested: 0,
        }
    }

    /// A cursor over the whole of `buf` that records the fields it reads into `trace`.
    pub(crate) fn traced(buf: &'a [u8], trace: Trace) -> Self {
        Self {
            trace: Some(trace),
            ..Self::new(buf)
        }
    }

    /// A copy for looking ahead: it reads the same bytes but records nothing.
    pub(crate) fn peek(&self) -> Self {
        Self {
            trace: None,
            ..self.clone()
        }
    }

    /// Runs the read `f`; on success, when tracing and not inside another read, records
    /// the bytes it consumed as one field named `what` with the value `show` gives.
    #[inline]
    fn field<T>(
        &mut self,
        what: &str,
        kind: FieldKind,
        f: impl FnOnce(&mut Self) -> R<T>,
        show: impl FnOnce(&T) -> String,
    ) -> R<T> {
        if self.trace.is_none() {
            return f(self);
        }
        let start = self.pos;
        self.nested += 1;
        let r = f(self);
        self.nested -= 1;
        if let (Ok(v), 0, Some(t)) = (&r, self.nested, &self.trace) {
            t.borrow_mut().push(Field {
                offset: start,
                len: self.pos - start,
                name: what.to_owned(),
                value: show(v),
                kind,
                depth: 0,
            });
        }
        r
    }

    /// Current absolute offset.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Moves back to an earlier absolute offset (used for recovery).
    pub(crate) fn seek(&mut self, pos: usize) {
        self.pos = pos.min(self.end);
        if let Some(t) = &self.trace {
            // Fields read past the new position are read again (or skipped) from here.
            let mut t = t.borrow_mut();
            while t.last().is_some_and(|f| f.offset >= self.pos) {
                t.pop();
            }
        }
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// True when nothing is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    fn eof(&self, n: u64, what: &str) -> Fail {
        Fail {
            offset: self.pos,
            message: format!(
                "expected {what} ({n} byte{}) but the data ends at byte {}",
                if n == 1 { "" } else { "s" },
                self.end
            ),
            kind: DiagnosticKind::Truncated,
        }
    }

    /// Takes `n` bytes (recorded as one field when tracing).
    pub(crate) fn take(&mut self, n: u64, what: &str) -> R<&'a [u8]> {
        self.field(
            what,
            FieldKind::Bytes,
            |c| c.raw(n, what),
            |b| hex_preview(b),
        )
    }

    /// Takes `n` bytes without recording them.
    fn raw(&mut self, n: u64, what: &str) -> R<&'a [u8]> {
        let len = usize::try_from(n).map_err(|_| self.eof(n, what))?;
        if len > self.remaining() {
            return Err(self.eof(n, what));
        }
        let start = self.pos;
        let slice = self
            .buf
            .get(start..start + len)
            .ok_or_else(|| self.eof(n, what))?;
        self.pos = start + len;
        Ok(slice)
    }

    /// The rest of this cursor's bytes (recorded as one field named `what` when tracing
    /// and not empty).
    pub(crate) fn rest(&mut self, what: &str) -> &'a [u8] {
        let n = self.remaining() as u64;
        if n == 0 {
            return &[];
        }
        self.take(n, what).unwrap_or(&[])
    }

    /// Splits off a sub-cursor of `n` bytes and advances past them.
    pub(crate) fn sub(&mut self, n: u64, what: &str) -> R<Cursor<'a>> {
        let start = self.pos;
        let slice = self.raw(n, what)?;
        Ok(Cursor {
            buf: self.buf,
            pos: start,
            end: start + slice.len(),
            trace: self.trace.clone(),
            nested: 0,
        })
    }

    fn array<const N: usize>(&mut self, what: &str) -> R<[u8; N]> {
        let s = self.raw(N as u64, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    pub(crate) fn peek_u8(&self) -> Option<u8> {
        self.buf
            .get(self.pos)
            .copied()
            .filter(|_| self.pos < self.end)
    }

    pub(crate) fn u8(&mut self, what: &str) -> R<u8> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.u8_inner(what),
            |v| format!("{v} (0x{v:02X})"),
        )
    }

    fn u8_inner(&mut self, what: &str) -> R<u8> {
        Ok(self.array::<1>(what)?[0])
    }

    pub(crate) fn u16(&mut self, what: &str) -> R<u16> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.u16_inner(what),
            |v| format!("{v} (0x{v:04X})"),
        )
    }

    fn u16_inner(&mut self, what: &str) -> R<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u32(&mut self, what: &str) -> R<u32> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.u32_inner(what),
            |v| format!("{v} (0x{v:08X})"),
        )
    }

    fn u32_inner(&mut self, what: &str) -> R<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    pub(crate) fn u64(&mut self, what: &str) -> R<u64> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.u64_inner(what),
            |v| format!("0x{v:016X}"),
        )
    }

    fn u64_inner(&mut self, what: &str) -> R<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A 16-byte GUID in `Guid.ToByteArray()` order.
    pub(crate) fn guid(&mut self, what: &str) -> R<Guid> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.guid_inner(what),
            |g| g.to_string(),
        )
    }

    fn guid_inner(&mut self, what: &str) -> R<Guid> {
        Ok(Guid::from_bytes_le(self.array(what)?))
    }

    /// Compact unsigned 64-bit integer ([MS-FSSHTTPB] 2.2.1.1).
    pub(crate) fn compact(&mut self, what: &str) -> R<u64> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.compact_inner(what),
            |v| v.to_string(),
        )
    }

    fn compact_inner(&mut self, what: &str) -> R<u64> {
        let start = self.pos;
        let b0 = self
            .peek_u8()
            .ok_or_else(|| self.eof(1, &format!("{what} (compact integer)")))?;
        if b0 == 0 {
            self.pos += 1;
            return Ok(0);
        }
        if b0 == 0x80 {
            self.pos += 1;
            return self.u64(what).inspect_err(|_| self.pos = start);
        }
        let n = b0.trailing_zeros() as usize; // 0..=6 here
        let len = (n + 1) as u64;
        let Ok(bytes) = self.take(len, "") else {
            self.pos = start;
            return Err(self.eof(len, &format!("{what} (compact integer)")));
        };
        let mut v = 0u64;
        for (i, b) in bytes.iter().enumerate() {
            v |= u64::from(*b) << (8 * i);
        }
        Ok(v >> (n + 1))
    }

    /// Extended GUID ([MS-FSSHTTPB] 2.2.1.7), every form.
    pub(crate) fn exguid(&mut self, what: &str) -> R<ExGuid> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.exguid_inner(what),
            |e| e.to_string(),
        )
    }

    fn exguid_inner(&mut self, what: &str) -> R<ExGuid> {
        let start = self.pos;
        let b0 = self
            .peek_u8()
            .ok_or_else(|| self.eof(1, &format!("{what} (extended guid)")))?;
        let value = if b0 == 0 {
            self.pos += 1;
            return Ok(ExGuid::NULL);
        } else if b0 & 0x07 == 0x04 {
            u32::from(self.u8(what)? >> 3)
        } else if b0 & 0x3F == 0x20 {
            u32::from(self.u16(what)? >> 6)
        } else if b0 & 0x7F == 0x40 {
            let b = self.take(3, what)?;
            let v = b
                .iter()
                .rev()
                .fold(0u32, |acc, x| (acc << 8) | u32::from(*x));
            v >> 7
        } else if b0 == 0x80 {
            self.pos += 1;
            self.u32(what).inspect_err(|_| self.pos = start)?
        } else {
            return Err(Fail::new(
                start,
                format!("expected {what} (extended guid) but byte 0x{b0:02X} starts no extended guid form"),
            ));
        };
        let guid = self.guid(what).inspect_err(|_| self.pos = start)?;
        Ok(ExGuid { guid, value })
    }

    /// Serial Number ([MS-FSSHTTPB] 2.2.1.9); `None` is the null serial number.
    pub(crate) fn serial(&mut self, what: &str) -> R<Option<SerialNumber>> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.serial_inner(what),
            |s| {
                s.as_ref()
                    .map_or_else(|| "null".to_owned(), ToString::to_string)
            },
        )
    }

    fn serial_inner(&mut self, what: &str) -> R<Option<SerialNumber>> {
        let start = self.pos;
        match self.u8(what)? {
            0 => Ok(None),
            0x80 => {
                let guid = self.guid(what).inspect_err(|_| self.pos = start)?;
                let value = self.u64(what).inspect_err(|_| self.pos = start)?;
                Ok(Some(SerialNumber { guid, value }))
            }
            b => Err(Fail::new(
                start,
                format!("expected {what} (serial number, 0x00 or 0x80) but found 0x{b:02X}"),
            )),
        }
    }

    /// Cell ID ([MS-FSSHTTPB] 2.2.1.10).
    pub(crate) fn cell_id(&mut self, what: &str) -> R<CellId> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.cell_id_inner(what),
            |c| c.to_string(),
        )
    }

    fn cell_id_inner(&mut self, what: &str) -> R<CellId> {
        Ok(CellId {
            ex1: self.exguid(what)?,
            ex2: self.exguid(what)?,
        })
    }

    fn count(&mut self, what: &str) -> R<u64> {
        let at = self.pos;
        let n = self.compact(what)?;
        if n > self.remaining() as u64 {
            return Err(Fail {
                offset: at,
                message: format!(
                    "{what} declares {n} entries but only {} bytes remain",
                    self.remaining()
                ),
                kind: DiagnosticKind::Truncated,
            });
        }
        Ok(n)
    }

    /// Extended GUID Array ([MS-FSSHTTPB] 2.2.1.8).
    pub(crate) fn exguid_array(&mut self, what: &str) -> R<Vec<ExGuid>> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.exguid_array_inner(what),
            |v| list(v),
        )
    }

    fn exguid_array_inner(&mut self, what: &str) -> R<Vec<ExGuid>> {
        let n = self.count(what)?;
        (0..n).map(|_| self.exguid(what)).collect()
    }

    /// Cell ID Array ([MS-FSSHTTPB] 2.2.1.11).
    pub(crate) fn cell_id_array(&mut self, what: &str) -> R<Vec<CellId>> {
        self.field(
            what,
            FieldKind::Value,
            |c| c.cell_id_array_inner(what),
            |v| list(v),
        )
    }

    fn cell_id_array_inner(&mut self, what: &str) -> R<Vec<CellId>> {
        let n = self.count(what)?;
        (0..n).map(|_| self.cell_id(what)).collect()
    }

    /// Binary Item ([MS-FSSHTTPB] 2.2.1.3).
    pub(crate) fn binary_item(&mut self, what: &str) -> R<Bytes> {
        self.field(
            what,
            FieldKind::Bytes,
            |c| c.binary_item_inner(what),
            |b| hex_preview(&b.0),
        )
    }

    fn binary_item_inner(&mut self, what: &str) -> R<Bytes> {
        let at = self.pos;
        let n = self.compact(what)?;
        self.take(n, what)
            .map(|b| Bytes(b.to_vec()))
            .inspect_err(|_| self.pos = at)
    }

    /// Reads a stream object header of any of the four forms ([MS-FSSHTTPB] 2.2.1.5).
    pub(crate) fn header(&mut self, what: &str) -> R<Header> {
        let h = self.field(
            "",
            FieldKind::End,
            |c| c.header_inner(what),
            describe_header,
        )?;
        if let (Some(t), 0) = (&self.trace, self.nested) {
            // Name the recorded field after the object it starts or ends.
            if let Some(f) = t.borrow_mut().last_mut() {
                let ty = object_type_name(h.object_type);
                if h.is_end() {
                    f.name = format!("{ty} end");
                } else {
                    f.name = format!("{ty} start");
                    f.kind = FieldKind::Start {
                        compound: h.compound,
                        length: h.length,
                    };
                }
            }
        }
        Ok(h)
    }

    fn header_inner(&mut self, what: &str) -> R<Header> {
        let offset = self.pos;
        let b0 = self.peek_u8().ok_or_else(|| self.eof(1, what))?;
        let (kind, object_type, compound, length) = match b0 & 0x03 {
            0 => {
                let v = self.u16(what)?;
                (
                    HeaderKind::Start16,
                    (v >> 3) & 0x3F,
                    (v >> 2) & 1 == 1,
                    u64::from(v >> 9),
                )
            }
            2 => {
                let v = self.u32(what)?;
                let mut len = u64::from(v >> 17);
                if len == 0x7FFF {
                    len = self
                        .compact("large length")
                        .inspect_err(|_| self.pos = offset)?;
                }
                (
                    HeaderKind::Start32,
                    ((v >> 3) & 0x3FFF) as u16,
                    (v >> 2) & 1 == 1,
                    len,
                )
            }
            1 => {
                let v = self.u8(what)?;
                (HeaderKind::End8, u16::from(v >> 2), false, 0)
            }
            _ => {
                let v = self.u16(what)?;
                (HeaderKind::End16, v >> 2, false, 0)
            }
        };
        Ok(Header {
            offset,
            kind,
            object_type,
            compound,
            length,
            data_offset: self.pos,
        })
    }

    /// The bytes between two absolute offsets of the underlying buffer (empty when out of
    /// range).
    pub(crate) fn between(&self, from: usize, to: usize) -> &'a [u8] {
        self.buf.get(from..to).unwrap_or(&[])
    }

    /// The next header without consuming it.
    pub(crate) fn peek_header(&self) -> Option<Header> {
        self.peek().header("stream object header").ok()
    }
}

/// How a traced header is shown: its form, raw value and decoded parts, as the
/// specification's examples put it.
fn describe_header(h: &Header) -> String {
    let form = match h.kind {
        HeaderKind::Start16 => "16-bit",
        HeaderKind::Start32 => "32-bit",
        HeaderKind::End8 => "8-bit end",
        HeaderKind::End16 => "16-bit end",
    };
    if h.is_end() {
        format!("{form}: type 0x{:02X}", h.object_type)
    } else {
        format!(
            "{form}: type 0x{:02X}, length {}{}",
            h.object_type,
            h.length,
            if h.compound { ", compound" } else { "" }
        )
    }
}

/// Up to 16 bytes in hex, with the total when there are more.
fn hex_preview(b: &[u8]) -> String {
    let mut s = String::new();
    for (i, x) in b.iter().take(16).enumerate() {
        if i > 0 {
            s.push(' ');
        }
        let _ = write!(s, "{x:02X}");
    }
    if b.len() > 16 {
        let _ = write!(s, " … ({} bytes)", b.len());
    }
    s
}

/// `[a, b, c]` from the items' display forms.
fn list<T: std::fmt::Display>(v: &[T]) -> String {
    let items: Vec<String> = v.iter().map(ToString::to_string).collect();
    format!("[{}]", items.join(", "))
}
