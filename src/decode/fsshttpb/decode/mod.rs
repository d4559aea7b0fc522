//! The lenient MS-FSSHTTPB decoder: requests ([MS-FSSHTTPB] 2.2.2), responses (2.2.3),
//! data element packages (2.2.1.12) and knowledge (2.2.1.13).
//!
//! Spec: <https://learn.microsoft.com/en-us/openspecs/sharepoint_protocols/ms-fsshttpb/f59fc37d-2232-4b14-baac-25f98e9e7b5a>
//!
//! Every known stream object's payload is read from a sub-cursor of exactly its declared
//! length, so a wrong field never desynchronises its neighbours. A sub-request, sub-response
//! or data element that fails to decode is reported and skipped with the generic stream
//! object walk; truncated input stops decoding with one diagnostic saying where it ends.

mod data;
mod knowledge;
mod request;
mod response;

pub(crate) use data::package;
pub(crate) use knowledge::knowledge;
pub(crate) use request::request;
pub(crate) use response::response;

use knowledge::*;
use request::*;

use super::cursor::{Cursor, Fail, Header, Trace, R};
use super::model::*;
use super::names::*;
use crate::decode::DiagnosticKind;

/// Deepest nesting of compound stream objects accepted by the generic walk.
pub(crate) const MAX_DEPTH: usize = 64;

/// Decoder state: diagnostics and unknown objects collected so far.
#[derive(Debug, Default)]
pub(crate) struct Ctx {
    pub diags: Vec<crate::decode::Diagnostic>,
    pub unknown: Vec<UnknownObject>,
}

impl Ctx {
    pub(crate) fn fail(&mut self, f: Fail) {
        self.diags.push(f.into());
    }
}

fn describe(h: &Header) -> String {
    if h.is_end() {
        format!(
            "the end of {} (0x{:02X})",
            object_type_name(h.object_type),
            h.object_type
        )
    } else {
        format!(
            "{} (0x{:02X})",
            object_type_name(h.object_type),
            h.object_type
        )
    }
}

/// Reads a header; the message naming what was expected is only built on failure.
fn header_or(c: &mut Cursor<'_>, what: impl FnOnce() -> String) -> R<Header> {
    let at = c.pos();
    c.header("").or_else(|_| {
        c.seek(at);
        c.header(&what())
    })
}

/// Reads a start header of type `ty`.
pub(crate) fn start(c: &mut Cursor<'_>, ty: u16) -> R<Header> {
    let at = c.pos();
    let h = c.header("").or_else(|_| {
        c.seek(at);
        c.header(&format!("{} (0x{ty:02X}) start", object_type_name(ty)))
    })?;
    if h.is_end() || h.object_type != ty {
        c.seek(at);
        return Err(Fail::new(
            at,
            format!(
                "expected {} (0x{ty:02X}) but found {}",
                object_type_name(ty),
                describe(&h)
            ),
        ));
    }
    Ok(h)
}

/// Reads the end header of type `ty`.
pub(crate) fn end(c: &mut Cursor<'_>, ty: u16) -> R<()> {
    let name = object_type_name(ty);
    let at = c.pos();
    let h = c.header("").or_else(|_| {
        c.seek(at);
        c.header(&format!("the end of {name} (0x{ty:02X})"))
    })?;
    if !h.is_end() || h.object_type != ty {
        c.seek(at);
        return Err(Fail::new(
            at,
            format!(
                "expected the end of {name} (0x{ty:02X}) but found {}",
                describe(&h)
            ),
        ));
    }
    Ok(())
}

/// The payload of `h` as a sub-cursor.
pub(crate) fn payload<'a>(c: &mut Cursor<'a>, h: &Header) -> R<Cursor<'a>> {
    c.sub(
        h.length,
        &format!("{} data", object_type_name(h.object_type)),
    )
}

/// Fails when `p` has bytes left.
pub(crate) fn done(p: &Cursor<'_>, ty: u16) -> R<()> {
    if p.is_empty() {
        Ok(())
    } else {
        Err(Fail::new(
            p.pos(),
            format!(
                "{} unexpected bytes at the end of {} (0x{ty:02X}) data",
                p.remaining(),
                object_type_name(ty)
            ),
        ))
    }
}

/// Peeks the next header; at the end of data, fails with "expected `what`".
fn next(c: &Cursor<'_>, what: &str) -> R<Header> {
    c.peek().header(what)
}

/// The next child's header (peeked, not consumed), or `None` at an end header: the
/// parent's children are over.
fn next_child(c: &Cursor<'_>, what: &str) -> R<Option<Header>> {
    let h = next(c, what)?;
    Ok((!h.is_end()).then_some(h))
}

/// Children up to the parent's end header (not consumed): each start header is read and
/// passed to `item`, which decodes the child or returns `None` before consuming anything,
/// and the child is then kept as an unknown object of `parent`. `what` names what was
/// expected, for the error when no header can be read.
fn items_until_end<'a, T>(
    c: &mut Cursor<'a>,
    ctx: &mut Ctx,
    parent: &str,
    what: impl Fn() -> String,
    mut item: impl FnMut(&mut Cursor<'a>, &Header) -> R<Option<T>>,
) -> R<Vec<T>> {
    let mut out = Vec::new();
    loop {
        let at = c.pos();
        let h = header_or(c, &what)?;
        if h.is_end() {
            c.seek(at);
            break;
        }
        match item(c, &h)? {
            Some(v) => out.push(v),
            None => {
                c.seek(at);
                unknown(c, ctx, parent)?;
            }
        }
    }
    Ok(out)
}

/// Keeps every child up to the parent's end header as an unknown object of `parent`.
fn unknown_until_end(c: &mut Cursor<'_>, ctx: &mut Ctx, what: &str, parent: &str) -> R<()> {
    while next_child(c, what)?.is_some() {
        unknown(c, ctx, parent)?;
    }
    Ok(())
}

/// Skips the data and children of an object whose start header was read.
pub(crate) fn skip_rest(c: &mut Cursor<'_>, h: &Header) -> R<()> {
    payload(c, h)?.rest("data (not decoded here)");
    if !h.compound {
        return Ok(());
    }
    let mut stack = vec![h.object_type];
    while let Some(&top) = stack.last() {
        let at = c.pos();
        let h2 = header_or(c, || {
            format!(
                "a stream object or the end of {} (0x{top:02X})",
                object_type_name(top)
            )
        })?;
        if h2.is_end() {
            if h2.object_type != top {
                return Err(Fail::new(
                    at,
                    format!(
                        "expected the end of {} (0x{top:02X}) but found {}",
                        object_type_name(top),
                        describe(&h2)
                    ),
                ));
            }
            stack.pop();
        } else {
            payload(c, &h2)?.rest("data (not decoded here)");
            if h2.compound {
                if stack.len() >= MAX_DEPTH {
                    return Err(Fail::of(
                        DiagnosticKind::Limit,
                        at,
                        format!("stream objects nest deeper than {MAX_DEPTH} levels"),
                    ));
                }
                stack.push(h2.object_type);
            }
        }
    }
    Ok(())
}

/// Records and skips an object not named at this place.
fn unknown(c: &mut Cursor<'_>, ctx: &mut Ctx, parent: &str) -> R<()> {
    let h = c.header("a stream object")?;
    skip_rest(c, &h)?;
    ctx.unknown.push(UnknownObject {
        offset: h.offset,
        end: c.pos(),
        object_type: h.object_type,
        compound: h.compound,
        parent: parent.to_string(),
    });
    Ok(())
}

/// Raw bytes of the children up to (not including) the end header of `ty`.
fn raw_children(c: &mut Cursor<'_>, ty: u16) -> R<Bytes> {
    let from = c.pos();
    while next_child(
        c,
        &format!("a stream object or the end of {}", object_type_name(ty)),
    )?
    .is_some()
    {
        let h = c.header("a stream object")?;
        skip_rest(c, &h)?;
    }
    Ok(Bytes(c.between(from, c.pos()).to_vec()))
}

/// Runs `f`; on a non-truncation failure, reports it, rewinds and skips the whole object.
fn recover<'a, T>(
    c: &mut Cursor<'a>,
    ctx: &mut Ctx,
    f: impl FnOnce(&mut Cursor<'a>, &mut Ctx) -> R<T>,
) -> R<Option<T>> {
    let at = c.pos();
    match f(c, ctx) {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.is_eof() => Err(e),
        Err(e) => {
            c.seek(at);
            let skipped = c.header("a stream object").and_then(|h| skip_rest(c, &h));
            if skipped.is_err() {
                return Err(e);
            }
            ctx.fail(e);
            Ok(None)
        }
    }
}

fn single<'a>(c: &mut Cursor<'a>, ty: u16) -> R<Cursor<'a>> {
    let h = start(c, ty)?;
    payload(c, &h)
}

/// A single object of type `ty` whose data `read` decodes to the last byte.
fn single_with<'a, T>(
    c: &mut Cursor<'a>,
    ty: u16,
    read: impl FnOnce(&mut Cursor<'a>) -> R<T>,
) -> R<T> {
    let mut p = single(c, ty)?;
    let v = read(&mut p)?;
    done(&p, ty)?;
    Ok(v)
}

fn utf8(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
