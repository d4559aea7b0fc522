//! Small XML helpers shared by the WebDAV and SPFileSync decoders: the UTF-8 and
//! looks-like-XML checks, parsing with node and namespace limits, escaping.

use crate::decode::{Diagnostic, DiagnosticKind};

/// Cap on XML nodes per body ([`super::MAX_XML_NODES`]).
const NODES_LIMIT: u32 = super::MAX_XML_NODES as u32;

/// Whether the body starts (after a BOM and whitespace) with `<`.
pub(crate) fn looks_like_xml(body: &[u8]) -> bool {
    let b = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    b.iter().find(|c| !c.is_ascii_whitespace()) == Some(&b'<')
}

/// The body as UTF-8, or a diagnostic at the first invalid byte.
pub(crate) fn as_text(body: &[u8]) -> Result<&str, Diagnostic> {
    std::str::from_utf8(body)
        .map_err(|e| Diagnostic::malformed(e.valid_up_to(), "body is not valid utf-8"))
}

/// Most namespace declarations in scope at once (on one element and its ancestors).
///
/// roxmltree copies every inherited declaration into each element that declares a
/// new one, and checks each copy against the new ones: nested elements each declaring
/// another prefix cost quadratic memory and cubic time (5,000 levels, a 100 KB body,
/// ran for minutes). Real bodies have a handful in scope.
pub(crate) const MAX_NAMESPACES_IN_SCOPE: usize = 256;

/// The offset of the first start tag at which more than [`MAX_NAMESPACES_IN_SCOPE`]
/// declarations are in scope. Only bodies with that many `xmlns` at all are scanned.
fn too_many_namespaces(text: &str) -> Option<usize> {
    memchr::memmem::find_iter(text.as_bytes(), b"xmlns").nth(MAX_NAMESPACES_IN_SCOPE)?;
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(text);
    // In-scope declaration count at each open element.
    let mut scope: Vec<usize> = Vec::new();
    loop {
        let at = usize::try_from(reader.buffer_position()).unwrap_or(0);
        let (tag, open) = match reader.read_event() {
            Ok(Event::Start(t)) => (t, true),
            Ok(Event::Empty(t)) => (t, false),
            Ok(Event::End(_)) => {
                scope.pop();
                continue;
            }
            Ok(Event::Eof) | Err(_) => return None,
            Ok(_) => continue,
        };
        let declared = tag
            .attributes()
            .with_checks(false)
            .filter_map(Result::ok)
            .filter(|a| a.key.as_ref().starts_with("xmlns"))
            .count();
        let total = scope.last().copied().unwrap_or(0).saturating_add(declared);
        if total > MAX_NAMESPACES_IN_SCOPE {
            return Some(at);
        }
        if open {
            scope.push(total);
        }
    }
}

/// Parse `text`; a failure becomes a diagnostic at the byte offset of the error.
pub(crate) fn parse(text: &str) -> Result<roxmltree::Document<'_>, Diagnostic> {
    if let Some(at) = too_many_namespaces(text) {
        return Err(Diagnostic::limit(
            at,
            format!(
                "more than {MAX_NAMESPACES_IN_SCOPE} xml namespace declarations in scope; the body is not decoded"
            ),
        ));
    }
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: NODES_LIMIT,
        ..roxmltree::ParsingOptions::default()
    };
    roxmltree::Document::parse_with_options(text, opts).map_err(|e| {
        let pos = e.pos();
        let msg = e.to_string();
        let msg = msg.rsplit_once(" at ").map_or(msg.as_str(), |(m, _)| m);
        let kind = match e {
            roxmltree::Error::NodesLimitReached => DiagnosticKind::Limit,
            roxmltree::Error::DtdDetected => DiagnosticKind::Unexpected,
            _ => DiagnosticKind::Malformed,
        };
        Diagnostic::new(
            kind,
            byte_offset(text, pos.row, pos.col),
            format!("malformed xml: {}", msg.to_lowercase()),
        )
    })
}

/// Byte offset of 1-based (row, column-in-chars) in `text`, clamped to its length.
pub(crate) fn byte_offset(text: &str, row: u32, col: u32) -> usize {
    let mut off = 0usize;
    for _ in 1..row {
        match text[off..].find('\n') {
            Some(i) => off += i + 1,
            None => return text.len(),
        }
    }
    let line = &text[off..];
    let skip = col.saturating_sub(1) as usize;
    off + line.char_indices().nth(skip).map_or(line.len(), |(i, _)| i)
}

/// The concatenated text of an element's descendants, trimmed.
pub(crate) fn text(n: roxmltree::Node<'_, '_>) -> String {
    let mut s = String::new();
    for d in n.descendants().filter(roxmltree::Node::is_text) {
        s.push_str(d.text().unwrap_or(""));
    }
    s.trim().to_owned()
}

/// Parses an XML body and hands its text and root element to `read`; a body that is not
/// UTF-8 or not well-formed gives its diagnostic instead.
pub(crate) fn read_root<T>(
    body: &[u8],
    read: impl FnOnce(&str, roxmltree::Node<'_, '_>) -> T,
) -> Result<T, Diagnostic> {
    let text = as_text(body)?;
    let doc = parse(text)?;
    Ok(read(text, doc.root_element()))
}

/// The raw source between an element's start and end tags.
pub(crate) fn inner<'i>(n: roxmltree::Node<'_, 'i>, text: &'i str) -> &'i str {
    let (Some(first), Some(last)) = (n.first_child(), n.last_child()) else {
        return "";
    };
    text.get(first.range().start..last.range().end)
        .unwrap_or("")
}

/// Append `s` to `w` with the five XML special characters escaped.
pub(crate) fn escape_into(w: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '<' => w.push_str("&lt;"),
            '>' => w.push_str("&gt;"),
            '&' => w.push_str("&amp;"),
            '"' => w.push_str("&quot;"),
            '\'' => w.push_str("&apos;"),
            '\r' => w.push_str("&#13;"),
            _ => w.push(c),
        }
    }
}

/// A name from a model made safe to write as an XML element or attribute name: only
/// ASCII letters, digits, `-`, `_` and `.` are kept, and an `x` goes in front when what
/// is left is empty or does not start with a letter or `_`.
pub(crate) fn safe_name(n: &str) -> String {
    let s: String = n
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    if s.is_empty() || !s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        format!("x{s}")
    } else {
        s
    }
}

/// Append `<name>text</name>` to `w`, `text` escaped. `name` is written as given: a
/// name that did not come from a constant goes through [`safe_name`] first.
pub(crate) fn text_el(w: &mut String, name: &str, text: &str) {
    w.push('<');
    w.push_str(name);
    w.push('>');
    escape_into(w, text);
    w.push_str("</");
    w.push_str(name);
    w.push('>');
}
