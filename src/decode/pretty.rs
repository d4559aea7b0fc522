//! Pretty JSON whose indentation stops growing past [`MAX_JSON_INDENT`] levels, for the
//! human renderings of decoded bodies (`decode`'s text output, the UI's tree).
//!
//! serde_json's pretty printer indents two spaces per level, so a body nested N levels
//! deep prints O(N²) bytes (a 160 KB web3s body became 250 MB). Capping the indentation
//! keeps the output linear in the decoded form.

use std::io;

use serde::Serialize;

/// Deepest JSON nesting that is indented further; deeper levels keep this indentation,
/// so pretty output stays linear in the input however deeply a hostile body nests.
pub const MAX_JSON_INDENT: usize = 16;

/// serde_json's pretty format (two spaces per level) with the indentation capped at
/// [`MAX_JSON_INDENT`] levels.
#[derive(Debug, Default)]
pub struct CappedPretty {
    level: usize,
    has_value: bool,
}

impl CappedPretty {
    fn indent<W: ?Sized + io::Write>(&self, w: &mut W) -> io::Result<()> {
        for _ in 0..self.level.min(MAX_JSON_INDENT) {
            w.write_all(b"  ")?;
        }
        Ok(())
    }

    fn open<W: ?Sized + io::Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        w.write_all(c)
    }

    fn close<W: ?Sized + io::Write>(&mut self, w: &mut W, c: &[u8]) -> io::Result<()> {
        self.level = self.level.saturating_sub(1);
        if self.has_value {
            w.write_all(b"\n")?;
            self.indent(w)?;
        }
        w.write_all(c)
    }

    fn item<W: ?Sized + io::Write>(&self, w: &mut W, first: bool) -> io::Result<()> {
        w.write_all(if first { b"\n" } else { b",\n" })?;
        self.indent(w)
    }
}

impl serde_json::ser::Formatter for CappedPretty {
    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"[")
    }
    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"]")
    }
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(w, first)
    }
    fn end_array_value<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.open(w, b"{")
    }
    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.close(w, b"}")
    }
    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(w, first)
    }
    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }
    fn end_object_value<W: ?Sized + io::Write>(&mut self, _: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }
}

/// Writes `v` to `w` as pretty JSON with capped indentation.
pub fn write_json<W: io::Write, T: Serialize + ?Sized>(w: W, v: &T) -> serde_json::Result<()> {
    let mut ser = serde_json::Serializer::with_formatter(w, CappedPretty::default());
    v.serialize(&mut ser)
}

/// `v` as pretty JSON with capped indentation (empty if it cannot be serialized).
pub fn pretty_json<T: Serialize + ?Sized>(v: &T) -> String {
    let mut out = Vec::new();
    if write_json(&mut out, v).is_err() {
        return String::new();
    }
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_serde_json_when_shallow() {
        let v = serde_json::json!({"a": [1, {"b": []}, {}], "c": {"d": null}, "e": []});
        assert_eq!(
            pretty_json(&v),
            serde_json::to_string_pretty(&v).unwrap_or_default()
        );
    }

    /// 100 levels print at most MAX_JSON_INDENT levels of indentation per line, so the
    /// output is linear in the depth; it still parses back to the same value.
    #[test]
    fn indentation_is_capped() {
        let mut v = serde_json::json!(1);
        for _ in 0..100 {
            v = serde_json::json!([v]);
        }
        let text = pretty_json(&v);
        let widest = text.lines().map(str::len).max().unwrap_or(0);
        assert_eq!(widest, 2 * MAX_JSON_INDENT + 1);
        assert!(
            text.len() < 100 * 2 * (2 * MAX_JSON_INDENT + 2),
            "{}",
            text.len()
        );
        let back: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, v);
    }
}
