//! A lenient, namespace-resolved element tree over quick-xml's `Reader`, with byte
//! offsets into the HTTP body.
//!
//! The SOAP envelopes of MS-FSSHTTP are small (binary data travels in XOP parts or as
//! one base64 text node), so the decoder first builds this tree and then maps it to the
//! model. Building never fails: malformed XML stops the tree where the error is and
//! adds a diagnostic; duplicate attributes (emitted by SharePoint 2010, MS-FSSHTTP
//! 2.2.3.5 <12>) keep the first value and add a diagnostic; depth is capped at
//! [`MAX_DEPTH`].
//!
//! quick-xml tokenizes; attributes are split and namespace prefixes resolved here, in
//! one pass per start tag, with the same results and error texts as quick-xml's
//! `NsReader` and attribute iterator (which would each split the attributes again).

use std::borrow::Cow;
use std::fmt;

use quick_xml::events::attributes::{AttrError, Attribute};
use quick_xml::events::Event;
use quick_xml::name::{NamespaceError, QName};
use quick_xml::Reader;

use super::model::UnknownKind;
use super::model::UnknownNode;
use super::values::{AttrSource, AttrValue};
use crate::decode::Diagnostic;

/// Deepest element nesting kept; deeper elements are skipped with a diagnostic.
pub const MAX_DEPTH: usize = 64;
/// Most elements kept in one document (real messages have a few hundred); parsing stops
/// with a diagnostic beyond it, which bounds the tree's memory.
pub const MAX_ELEMENTS: usize = 200_000;

/// Most attributes kept on one element; more are reported and ignored.
pub const MAX_ATTRIBUTES: usize = 128;

/// A namespace URI, borrowed from the `xmlns` attribute that declared it.
pub(crate) type Ns<'a> = Option<&'a str>;

/// `s` as a slice of `text` with `text`'s lifetime, when `s` points into `text`.
///
/// quick-xml hands out names and values borrowed from its input, but with the lifetime
/// of the event; re-slicing the input lets the tree borrow instead of copying.
fn reborrow<'a>(text: &'a str, s: &str) -> Option<&'a str> {
    let start = s.as_ptr().addr().checked_sub(text.as_ptr().addr())?;
    let sub = text.get(start..start.checked_add(s.len())?)?;
    (sub.as_ptr() == s.as_ptr()).then_some(sub)
}

fn cow_in<'a>(text: &'a str, c: Cow<'_, str>) -> Cow<'a, str> {
    match c {
        Cow::Borrowed(b) => {
            reborrow(text, b).map_or_else(|| Cow::Owned(b.to_owned()), Cow::Borrowed)
        }
        Cow::Owned(o) => Cow::Owned(o),
    }
}

/// Where the first `:` of a qualified name is (names are short: no searcher).
fn colon(qname: &str) -> Option<usize> {
    qname.bytes().position(|b| b == b':')
}

/// One attribute, unqualified names have `ns == None`.
#[derive(Debug, Clone)]
pub(crate) struct XAttr<'a> {
    pub qname: &'a str,
    /// Where the local name starts in `qname`.
    local_start: usize,
    pub ns: Ns<'a>,
    pub value: Cow<'a, str>,
    pub offset: usize,
}

impl XAttr<'_> {
    pub(crate) fn local(&self) -> &str {
        self.qname.get(self.local_start..).unwrap_or("")
    }
}

/// One element as stored in a [`Tree`].
#[derive(Debug)]
struct Element<'a> {
    qname: &'a str,
    /// Where the local name starts in `qname`.
    local_start: usize,
    ns: Ns<'a>,
    /// Its attributes are `Tree::attrs[attrs_start..attrs_end]`.
    attrs_start: usize,
    attrs_end: usize,
    /// Index one past its last descendant in `Tree::elements`.
    end: usize,
    text: Cow<'a, str>,
    /// Offset of the element's `<` in the body.
    offset: usize,
    /// Offset of the first text content byte, if any.
    text_offset: Option<usize>,
}

/// A parsed document: the elements in document order, each followed by its subtree,
/// and all attributes in one list. Two vectors instead of two per element.
#[derive(Debug, Default)]
pub(crate) struct Tree<'a> {
    elements: Vec<Element<'a>>,
    attrs: Vec<XAttr<'a>>,
}

impl<'a> Tree<'a> {
    /// The top-level elements.
    pub(super) fn roots(&self) -> Children<'_> {
        Children {
            tree: self,
            next: 0,
            end: self.elements.len(),
        }
    }
}

/// One element of a [`Tree`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct XNode<'t> {
    tree: &'t Tree<'t>,
    index: usize,
    el: &'t Element<'t>,
}

impl<'t> XNode<'t> {
    /// The qualified name as written.
    pub(crate) fn qname(&self) -> &'t str {
        self.el.qname
    }

    /// The local name.
    pub(crate) fn local(&self) -> &'t str {
        self.el.qname.get(self.el.local_start..).unwrap_or("")
    }

    /// The namespace URI, if any.
    pub(crate) fn ns(&self) -> Ns<'t> {
        self.el.ns
    }

    /// The attributes, in document order (duplicates dropped).
    pub(crate) fn attrs(&self) -> &'t [XAttr<'t>] {
        self.tree
            .attrs
            .get(self.el.attrs_start..self.el.attrs_end)
            .unwrap_or(&[])
    }

    /// The text content (text and CDATA of the element itself, entities resolved).
    pub(crate) fn text(&self) -> &'t str {
        &self.el.text
    }

    /// Offset of the element's `<` in the body.
    pub(crate) fn offset(&self) -> usize {
        self.el.offset
    }

    /// Offset of the first text content byte, if any.
    pub(crate) fn text_offset(&self) -> Option<usize> {
        self.el.text_offset
    }

    /// The child elements.
    pub(crate) fn children(&self) -> Children<'t> {
        Children {
            tree: self.tree,
            next: self.index + 1,
            end: self.el.end,
        }
    }

    /// Whether the element has child elements.
    pub(crate) fn has_children(&self) -> bool {
        self.el.end > self.index + 1
    }
}

/// The child elements of an element (or the roots of a tree), in document order.
#[derive(Debug, Clone)]
pub(crate) struct Children<'t> {
    tree: &'t Tree<'t>,
    next: usize,
    end: usize,
}

impl<'t> Iterator for Children<'t> {
    type Item = XNode<'t>;

    fn next(&mut self) -> Option<XNode<'t>> {
        if self.next >= self.end {
            return None;
        }
        let index = self.next;
        let el = self.tree.elements.get(index)?;
        // A subtree always ends after its root; `max` keeps the walk moving regardless.
        self.next = el.end.max(index + 1);
        Some(XNode {
            tree: self.tree,
            index,
            el,
        })
    }
}

fn lowercase_first(s: String) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

/// One attribute as written in a start tag.
#[derive(Debug, Clone, Copy)]
struct RawAttr<'a> {
    /// The qualified name.
    key: &'a str,
    /// Where `key` starts in the tag.
    key_at: usize,
    /// The value between the quotes, not yet normalized.
    value: &'a str,
}

/// XML whitespace as quick-xml's attribute iterator defines it.
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\r' | b'\n' | b'\t')
}

/// Splits the attributes of start tag `tag` (the text between `<` and `>` or `/>`; the
/// attributes start at `from`) into `out`, stopping at the first malformed attribute
/// and returning its error.
///
/// This follows quick-xml's attribute iterator in XML mode without duplicate checks:
/// the same splits and the same errors at the same positions (relative to `tag`).
fn split_attrs<'a>(tag: &'a str, from: usize, out: &mut Vec<RawAttr<'a>>) -> Option<AttrError> {
    let b = tag.as_bytes();
    let len = b.len();
    let skip_ws = |mut i: usize| {
        while b.get(i).is_some_and(|&c| is_ws(c)) {
            i += 1;
        }
        i
    };
    let mut i = from;
    loop {
        i = skip_ws(i);
        if i >= len {
            return None;
        }
        let key_at = i;
        // The key ends at `=` or whitespace, and at least one byte in.
        i += 1;
        while b.get(i).is_some_and(|&c| c != b'=' && !is_ws(c)) {
            i += 1;
        }
        let key_end = i;
        if b.get(i).is_some_and(|&c| is_ws(c)) {
            i = skip_ws(i);
        }
        match b.get(i) {
            Some(b'=') => i += 1,
            Some(_) => return Some(AttrError::ExpectedEq(i)),
            None => return Some(AttrError::ExpectedEq(len)),
        }
        i = skip_ws(i);
        let quote = match b.get(i) {
            Some(&q @ (b'"' | b'\'')) => q,
            Some(_) => return Some(AttrError::UnquotedValue(i)),
            None => return Some(AttrError::ExpectedValue(len)),
        };
        let value_at = i + 1;
        let Some(n) = b.get(value_at..).and_then(|v| memchr::memchr(quote, v)) else {
            return Some(AttrError::ExpectedQuote(len, quote));
        };
        let value_end = value_at + n;
        out.push(RawAttr {
            key: tag.get(key_at..key_end).unwrap_or(""),
            key_at,
            value: tag.get(value_at..value_end).unwrap_or(""),
        });
        i = value_end + 1;
    }
}

/// What an attribute name declares: `None` for an ordinary attribute, `Some("")` for
/// the default namespace (`xmlns`, and quick-xml also reads `xmlns:` so), else the prefix.
fn declared_prefix(key: &str) -> Option<&str> {
    match key.strip_prefix("xmlns")? {
        "" => Some(""),
        rest => rest.strip_prefix(':'),
    }
}

/// The namespace of the reserved `xml` prefix.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of the reserved `xmlns` prefix.
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";
/// Most namespace declarations in scope at once, besides `xml` and `xmlns` (quick-xml's
/// default limit).
pub const MAX_BINDINGS: usize = 128;

/// One namespace declaration in scope.
#[derive(Debug, Clone, Copy)]
struct Binding<'a> {
    /// The prefix, empty for the default namespace.
    prefix: &'a str,
    /// The URI as written (raw attribute value), empty to undeclare.
    uri: &'a str,
    /// Nesting level of the declaring element (1 for the root).
    level: u16,
}

/// The namespace declarations in scope, resolving prefixes like quick-xml's
/// `NamespaceResolver` (same limits and errors).
struct Scopes<'a> {
    bindings: Vec<Binding<'a>>,
    level: u16,
}

impl<'a> Scopes<'a> {
    fn new() -> Self {
        let builtin = |prefix, uri| Binding {
            prefix,
            uri,
            level: 0,
        };
        Self {
            bindings: vec![builtin("xml", XML_NS), builtin("xmlns", XMLNS_NS)],
            level: 0,
        }
    }

    /// Opens the scope of an element with attributes `attrs`.
    fn push(&mut self, attrs: &[RawAttr<'a>]) -> Result<(), NamespaceError> {
        self.level = self
            .level
            .checked_add(1)
            .ok_or(NamespaceError::TooDeeplyNested(usize::from(u16::MAX)))?;
        for a in attrs {
            let Some(prefix) = declared_prefix(a.key) else {
                continue;
            };
            let uri = a.value;
            match prefix {
                "xml" if uri != XML_NS => {
                    return Err(NamespaceError::InvalidXmlPrefixBind(uri.to_owned()))
                }
                "xml" => continue,
                "xmlns" => return Err(NamespaceError::InvalidXmlnsPrefixBind(uri.to_owned())),
                "" => {}
                p if uri == XML_NS => {
                    return Err(NamespaceError::InvalidPrefixForXml(p.to_owned()))
                }
                p if uri == XMLNS_NS => {
                    return Err(NamespaceError::InvalidPrefixForXmlns(p.to_owned()))
                }
                _ => {}
            }
            if self.bindings.len().saturating_sub(2) >= MAX_BINDINGS {
                return Err(NamespaceError::TooManyBindings(MAX_BINDINGS));
            }
            self.bindings.push(Binding {
                prefix,
                uri,
                level: self.level,
            });
        }
        Ok(())
    }

    /// Closes the innermost scope.
    fn pop(&mut self) {
        self.level = self.level.saturating_sub(1);
        while self.bindings.last().is_some_and(|b| b.level > self.level) {
            self.bindings.pop();
        }
    }

    /// The namespace bound to a non-empty `prefix`, `None` when undeclared.
    fn prefixed(&self, prefix: &str) -> Option<&'a str> {
        if prefix.is_empty() {
            return None;
        }
        let b = self.bindings.iter().rev().find(|b| b.prefix == prefix)?;
        (!b.uri.is_empty()).then_some(b.uri)
    }

    /// The namespace of an element name with `prefix`; `Err(prefix)` when undeclared.
    fn element(&self, prefix: Option<&str>) -> Result<Ns<'a>, String> {
        match prefix {
            Some(p) => self.prefixed(p).map(Some).ok_or_else(|| p.to_owned()),
            None => Ok(self
                .bindings
                .iter()
                .rev()
                .find(|b| b.prefix.is_empty())
                .and_then(|b| (!b.uri.is_empty()).then_some(b.uri))),
        }
    }

    /// The namespace of an attribute name with `prefix` (none when unprefixed or
    /// undeclared).
    fn attribute(&self, prefix: Option<&str>) -> Ns<'a> {
        self.prefixed(prefix?)
    }
}

/// Adds the "malformed xml" diagnostic for a quick-xml error.
fn malformed(diags: &mut Vec<Diagnostic>, at: usize, e: &quick_xml::Error) {
    diags.push(Diagnostic::malformed(
        at,
        format!("malformed xml: {}", lowercase_first(e.to_string())),
    ));
}

/// Parses `text` (found at `base` in the body) into a tree.
pub(crate) fn parse<'a>(text: &'a str, base: usize, diags: &mut Vec<Diagnostic>) -> Tree<'a> {
    let mut reader = Reader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut scopes = Scopes::new();
    // An empty element's scope closes before the next event, like `NsReader` does.
    let mut pending_pop = false;
    let mut raw: Vec<RawAttr<'a>> = Vec::new();
    // Room for typical FSSHTTP markup (an element per 64 bytes, an attribute per 24),
    // capped so that a large base64 text node does not reserve room for nothing.
    let mut tree = Tree {
        elements: Vec::with_capacity((text.len() / 64).min(1 << 10)),
        attrs: Vec::with_capacity((text.len() / 24).min(1 << 12)),
    };
    // Indexes of the open elements.
    let mut stack: Vec<usize> = Vec::new();
    let mut skipping = 0usize;
    let mut errored = false;
    let mut elements = 0usize;
    loop {
        if pending_pop {
            scopes.pop();
            pending_pop = false;
        }
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(0);
        let ev = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(0);
                malformed(diags, base.saturating_add(at), &e);
                errored = true;
                break;
            }
        };
        let count = tree.elements.len();
        let top = stack.last().and_then(|&i| tree.elements.get_mut(i));
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(ev, Event::Empty(_));
                // Slice readers borrow events from the input.
                let tag = reborrow(text, s).unwrap_or("");
                let name_len = s.name().as_ref().len();
                raw.clear();
                let attr_error = split_attrs(tag, name_len, &mut raw);
                if let Err(e) = scopes.push(&raw) {
                    let at = usize::try_from(reader.error_position()).unwrap_or(0);
                    malformed(diags, base.saturating_add(at), &e.into());
                    errored = true;
                    break;
                }
                pending_pop = empty;
                elements += 1;
                if elements > MAX_ELEMENTS {
                    diags.push(Diagnostic::limit(
                        base + pos,
                        format!("more than {MAX_ELEMENTS} xml elements; the rest is ignored"),
                    ));
                    errored = true;
                    break;
                }
                if skipping > 0 || stack.len() >= MAX_DEPTH {
                    if stack.len() >= MAX_DEPTH && skipping == 0 {
                        diags.push(Diagnostic::limit(
                            base + pos,
                            format!("xml nested deeper than {MAX_DEPTH} elements; subtree skipped"),
                        ));
                    }
                    if !empty {
                        skipping += 1;
                    }
                    continue;
                }
                let qname = tag.get(..name_len).unwrap_or("");
                let colon = colon(qname);
                let ns = match scopes.element(colon.and_then(|c| qname.get(..c))) {
                    Ok(ns) => ns,
                    Err(prefix) => {
                        diags.push(Diagnostic::malformed(
                            base + pos,
                            format!("undeclared namespace prefix {prefix:?}"),
                        ));
                        None
                    }
                };
                let attrs_start = tree.attrs.len();
                let tag_base = base + pos + 1;
                add_attrs(
                    &mut tree.attrs,
                    qname,
                    &scopes,
                    &raw,
                    attr_error,
                    tag_base,
                    diags,
                );
                let index = tree.elements.len();
                tree.elements.push(Element {
                    qname,
                    local_start: colon.map_or(0, |c| c + 1),
                    ns,
                    attrs_start,
                    attrs_end: tree.attrs.len(),
                    end: index + 1,
                    text: Cow::Borrowed(""),
                    offset: base + pos,
                    text_offset: None,
                });
                if !empty {
                    stack.push(index);
                }
            }
            Event::End(_) => {
                pending_pop = true;
                if skipping > 0 {
                    skipping -= 1;
                    continue;
                }
                if let Some(top) = top {
                    top.end = count;
                    stack.pop();
                }
            }
            Event::Text(t) => {
                if let (0, Some(top)) = (skipping, top) {
                    let c = t.xml10_content();
                    if top.text_offset.is_none() && !c.trim().is_empty() {
                        top.text_offset = Some(base + pos);
                    }
                    if top.text.is_empty() {
                        top.text = cow_in(text, c);
                    } else {
                        top.text.to_mut().push_str(&c);
                    }
                }
            }
            Event::CData(t) => {
                if let (0, Some(top)) = (skipping, top) {
                    top.text.to_mut().push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                if skipping > 0 {
                    continue;
                }
                let resolved: Option<String> = match r.resolve_char_ref() {
                    Ok(Some(c)) => Some(c.to_string()),
                    Ok(None) => predefined_entity(&r.xml10_content()).map(str::to_owned),
                    Err(_) => None,
                };
                match resolved {
                    Some(v) => {
                        if let Some(top) = top {
                            top.text.to_mut().push_str(&v);
                        }
                    }
                    None => diags.push(Diagnostic::malformed(
                        base + pos,
                        format!("unknown entity reference &{};", r.xml10_content()),
                    )),
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    let open = stack.last().and_then(|&i| tree.elements.get(i));
    if let (Some(open), false) = (open, errored) {
        diags.push(Diagnostic::truncated(
            base + text.len(),
            format!("truncated xml: element {} not closed", open.qname),
        ));
    }
    // Unclosed elements hold everything after them.
    let len = tree.elements.len();
    for i in stack {
        if let Some(el) = tree.elements.get_mut(i) {
            el.end = len;
        }
    }
    tree
}

fn predefined_entity(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "quot" => "\"",
        "apos" => "'",
        _ => return None,
    })
}

/// Appends the attributes `raw` of the start tag of element `qname` (split up to
/// `error`) to `attrs`, with values normalized and namespaces resolved. The tag text
/// starts at `tag_base` in the body with the element name.
fn add_attrs<'a>(
    attrs: &mut Vec<XAttr<'a>>,
    qname: &str,
    scopes: &Scopes<'a>,
    raw: &[RawAttr<'a>],
    error: Option<AttrError>,
    tag_base: usize,
    diags: &mut Vec<Diagnostic>,
) {
    let first = attrs.len();
    let name_len = qname.len();
    let attrs_base = tag_base + name_len;
    let mut cursor = 0usize;
    for a in raw {
        let key = a.key;
        let at = a.key_at.saturating_sub(name_len);
        cursor = at + key.len();
        if declared_prefix(key).is_some() {
            continue;
        }
        let value = if a
            .value
            .bytes()
            .any(|b| matches!(b, b'&' | b'\t' | b'\n' | b'\r'))
        {
            let attr = Attribute {
                key: QName(key),
                value: Cow::Borrowed(a.value),
            };
            match attr.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
                Ok(v) => v,
                Err(e) => {
                    diags.push(Diagnostic::malformed(
                        attrs_base + at,
                        format!("cannot unescape attribute {key}: {e}"),
                    ));
                    Cow::Borrowed(a.value)
                }
            }
        } else {
            Cow::Borrowed(a.value)
        };
        let mine = attrs.get(first..).unwrap_or(&[]);
        if mine.len() >= MAX_ATTRIBUTES {
            diags.push(Diagnostic::limit(
                attrs_base + at,
                format!("more than {MAX_ATTRIBUTES} attributes on {qname}; the rest are ignored"),
            ));
            return;
        }
        if mine.iter().any(|x| x.qname == key) {
            diags.push(Diagnostic::unexpected(
                attrs_base + at,
                format!("duplicate attribute {key} on {qname}; first value kept"),
            ));
            continue;
        }
        let colon = colon(key);
        attrs.push(XAttr {
            qname: key,
            local_start: colon.map_or(0, |c| c + 1),
            ns: scopes.attribute(colon.and_then(|c| key.get(..c))),
            value,
            offset: attrs_base + at,
        });
    }
    if let Some(e) = error {
        diags.push(Diagnostic::malformed(
            attrs_base + cursor,
            format!("malformed attribute in <{qname}>: {e}"),
        ));
    }
}

/// The attribute named by a diagnostic of an attribute value that did not parse (as
/// [`AttrBag::take_at`] words it): the column its value was meant for.
pub fn invalid_attribute(d: &Diagnostic) -> Option<&str> {
    if d.kind != crate::decode::DiagnosticKind::InvalidValue {
        return None;
    }
    let (_, rest) = d.message.rsplit_once(" for attribute ")?;
    Some(rest.split_once(" of ")?.0)
}

/// The attributes of one element, consumed by name; what is left is unknown.
pub(crate) struct AttrBag<'a> {
    attrs: &'a [XAttr<'a>],
    /// Bit i set: `attrs[i]` was taken (at most [`MAX_ATTRIBUTES`] attributes exist).
    taken: u128,
    element: &'a str,
    offset: usize,
    /// Attributes present but with a value that did not parse (already diagnosed).
    invalid: Vec<&'static str>,
    pub diags: &'a mut Vec<Diagnostic>,
}

impl AttrSource for AttrBag<'_> {
    fn len(&self) -> usize {
        AttrBag::len(self)
    }

    fn unqualified_name(&self, i: usize) -> Option<&str> {
        AttrBag::unqualified_name(self, i)
    }

    fn take_at<T: AttrValue>(&mut self, i: usize, name: &'static str) -> Option<T> {
        AttrBag::take_at(self, i, name)
    }
}

impl<'a> AttrBag<'a> {
    pub(super) fn new(node: XNode<'a>, diags: &'a mut Vec<Diagnostic>) -> Self {
        Self {
            attrs: node.attrs(),
            taken: 0,
            element: node.local(),
            offset: node.offset(),
            invalid: Vec::new(),
            diags,
        }
    }

    /// Number of attributes.
    pub(super) fn len(&self) -> usize {
        self.attrs.len().min(MAX_ATTRIBUTES)
    }

    /// The local name of attribute `i` if it is unqualified (no namespace).
    pub(super) fn unqualified_name(&self, i: usize) -> Option<&'a str> {
        let a: &'a XAttr<'a> = self.attrs.get(i)?;
        a.ns.is_none().then(|| a.local())
    }

    /// Takes and parses attribute `i`, known as `name`.
    pub(super) fn take_at<T: AttrValue>(&mut self, i: usize, name: &'static str) -> Option<T> {
        if i >= MAX_ATTRIBUTES {
            return None;
        }
        self.taken |= 1u128 << i;
        let a = self.attrs.get(i)?;
        match T::parse_attr(&a.value) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.diags.push(Diagnostic::invalid_value(
                    a.offset,
                    format!(
                        "invalid value {:?} for attribute {name} of {}: {reason}",
                        a.value, self.element
                    ),
                ));
                self.invalid.push(name);
                None
            }
        }
    }

    /// Adds a diagnostic when a required attribute is missing.
    pub(super) fn require<T>(&mut self, value: &Option<T>, name: &str) {
        if value.is_none() && !self.invalid.contains(&name) {
            self.diags.push(Diagnostic::missing(
                self.offset,
                format!("missing required attribute {name} on {}", self.element),
            ));
        }
    }

    /// Moves the attributes nobody took to `unknown`, under `path` (written out only
    /// when there is one).
    pub(super) fn finish(self, path: &impl fmt::Display, unknown: &mut Vec<UnknownNode>) {
        let mut written: Option<String> = None;
        for (i, a) in self.attrs.iter().enumerate().take(MAX_ATTRIBUTES) {
            if self.taken & (1u128 << i) == 0 {
                let path = written.get_or_insert_with(|| path.to_string());
                unknown.push(UnknownNode::attribute(path, a));
            }
        }
    }
}

/// Unknown nodes are built from the XML tree they were found in.
impl UnknownNode {
    pub(crate) fn attribute(path: &str, a: &XAttr<'_>) -> Self {
        Self {
            path: path.to_owned(),
            kind: UnknownKind::Attribute,
            name: a.qname.to_owned(),
            namespace: a.ns.map(str::to_owned),
            value: Some(a.value.clone().into_owned()),
            attributes: Vec::new(),
            children: Vec::new(),
            offset: a.offset,
        }
    }

    pub(crate) fn element(path: &str, n: XNode<'_>) -> Self {
        let text = n.text().trim();
        Self {
            path: path.to_owned(),
            kind: UnknownKind::Element,
            name: n.qname().to_owned(),
            namespace: n.ns().map(str::to_owned),
            value: (!text.is_empty()).then(|| text.to_owned()),
            attributes: n
                .attrs()
                .iter()
                .map(|a| (a.qname.to_owned(), a.value.clone().into_owned()))
                .collect(),
            children: n
                .children()
                .map(|c| Self::element(&format!("{path}/{}", n.local()), c))
                .collect(),
            offset: n.offset(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::fmt::Write as _;

    use super::*;

    /// The tree and diagnostics of `text`, one line per element, attribute and diagnostic.
    fn dump(text: &str) -> String {
        fn walk<'t>(nodes: impl Iterator<Item = XNode<'t>>, depth: usize, out: &mut String) {
            for n in nodes {
                let (q, ns, at) = (n.qname(), n.ns(), n.offset());
                let _ = writeln!(out, "{:depth$}E {q} {ns:?} {at}", "");
                for a in n.attrs() {
                    let (q, ns, v, at) = (a.qname, a.ns, &a.value, a.offset);
                    let _ = writeln!(out, "{:depth$} A {q} {ns:?} {v:?} {at}", "");
                }
                walk(n.children(), depth + 1, out);
            }
        }
        let mut diags = Vec::new();
        let tree = parse(text, 0, &mut diags);
        let mut out = String::new();
        walk(tree.roots(), 0, &mut out);
        for d in diags {
            let _ = writeln!(out, "D {} {}", d.offset, d.message);
        }
        out
    }

    // Expectations recorded from the NsReader-based tree this one replaced.

    #[test]
    fn namespaces_resolve_like_ns_reader() {
        let text = r#"<s:E xmlns:s="urn:s" xmlns="urn:d"><B a="1" s:b="2" xml:lang="en"><C xmlns=""/></B><p:X/></s:E>"#;
        assert_eq!(
            dump(text),
            r#"E s:E Some("urn:s") 0
 E B Some("urn:d") 35
  A a None "1" 38
  A s:b Some("urn:s") "2" 44
  A xml:lang Some("http://www.w3.org/XML/1998/namespace") "en" 52
  E C None 66
 E p:X None 83
D 83 undeclared namespace prefix "p"
"#
        );
        assert_eq!(
            dump(r#"<a xmlns:xml="urn:x"/>"#),
            "D 0 malformed xml: the namespace prefix 'xml' cannot be bound to 'urn:x'\n"
        );
        assert_eq!(
            dump(r#"<a xmlns:p="http://www.w3.org/2000/xmlns/"/>"#),
            "D 0 malformed xml: the namespace prefix 'p' cannot be bound to 'http://www.w3.org/2000/xmlns/'\n"
        );
    }

    #[test]
    fn attributes_split_like_quick_xml() {
        // Each attribute is located where its name starts, even when the same text
        // appears in an earlier value.
        assert_eq!(
            dump("<a x=\"b\" b=\"1\" c='&amp;&bogus;' d=\"t\tn\"/>"),
            r#"E a None 0
 A x None "b" 3
 A b None "1" 9
 A c None "&amp;&bogus;" 15
 A d None "t n" 32
D 15 cannot unescape attribute c: at 6..11: unrecognized entity `bogus`
"#
        );
        assert_eq!(
            dump("<a b='1' c/>"),
            r#"E a None 0
 A b None "1" 3
D 4 malformed attribute in <a>: position 9: attribute key must be directly followed by `=` or space
"#
        );
        assert_eq!(
            dump(r#"<a t="1" t="2"/>"#),
            "E a None 0\n A t None \"1\" 3\nD 9 duplicate attribute t on a; first value kept\n"
        );
    }
}
