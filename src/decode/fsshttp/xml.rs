//! A lenient, namespace-resolved element tree over quick-xml's `NsReader`, with byte
//! offsets into the HTTP body.
//!
//! The SOAP envelopes of MS-FSSHTTP are small (binary data travels in XOP parts or as
//! one base64 text node), so the decoder first builds this tree and then maps it to the
//! model. Building never fails: malformed XML stops the tree where the error is and
//! adds a diagnostic; duplicate attributes (emitted by SharePoint 2010, MS-FSSHTTP
//! 2.2.3.5 <12>) keep the first value and add a diagnostic; depth is capped at
//! [`MAX_DEPTH`].

use std::borrow::Cow;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::{NamespaceResolver, ResolveResult};
use quick_xml::NsReader;

use super::model::UnknownNode;
use super::values::AttrValue;
use crate::decode::Diagnostic;

/// Deepest element nesting kept; deeper elements are skipped with a diagnostic.
pub const MAX_DEPTH: usize = 64;
/// Most elements kept in one document (real messages have a few hundred); parsing stops
/// with a diagnostic beyond it, which bounds the tree's memory.
pub const MAX_ELEMENTS: usize = 200_000;

/// Most attributes kept on one element; more are reported and ignored.
pub const MAX_ATTRIBUTES: usize = 128;

/// A namespace URI; the ones this decoder matches on are not allocated.
pub(crate) type Ns = Option<Cow<'static, str>>;

fn intern(uri: &str) -> Cow<'static, str> {
    match uri {
        super::TNS => Cow::Borrowed(super::TNS),
        super::SOAP11_NS => Cow::Borrowed(super::SOAP11_NS),
        super::XOP_NS => Cow::Borrowed(super::XOP_NS),
        other => Cow::Owned(other.to_owned()),
    }
}

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

/// One attribute, unqualified names have `ns == None`.
#[derive(Debug, Clone)]
pub(crate) struct XAttr<'a> {
    pub qname: Cow<'a, str>,
    /// Where the local name starts in `qname`.
    local_start: usize,
    pub ns: Ns,
    pub value: Cow<'a, str>,
    pub offset: usize,
}

impl XAttr<'_> {
    pub fn local(&self) -> &str {
        self.qname.get(self.local_start..).unwrap_or("")
    }
}

/// One element.
#[derive(Debug, Clone, Default)]
pub(crate) struct XNode<'a> {
    pub qname: Cow<'a, str>,
    /// Where the local name starts in `qname`.
    local_start: usize,
    pub ns: Ns,
    pub attrs: Vec<XAttr<'a>>,
    pub children: Vec<XNode<'a>>,
    pub text: Cow<'a, str>,
    /// Offset of the element's `<` in the body.
    pub offset: usize,
    /// Offset of the first text content byte, if any.
    pub text_offset: Option<usize>,
}

impl XNode<'_> {
    pub fn local(&self) -> &str {
        self.qname.get(self.local_start..).unwrap_or("")
    }
}

fn resolved_ns(r: ResolveResult<'_>) -> Result<Ns, String> {
    match r {
        ResolveResult::Bound(ns) => Ok(Some(intern(ns.0))),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(p) => Err(p),
    }
}

fn lowercase_first(s: String) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => s,
    }
}

/// Parses `text` (found at `base` in the body) into a list of top-level elements.
pub(crate) fn parse<'a>(text: &'a str, base: usize, diags: &mut Vec<Diagnostic>) -> Vec<XNode<'a>> {
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<XNode<'a>> = Vec::new();
    let mut roots: Vec<XNode<'a>> = Vec::new();
    let mut skipping = 0usize;
    let mut errored = false;
    let mut elements = 0usize;
    loop {
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(0);
        let event = reader.read_resolved_event();
        let (ns, ev) = match event {
            Ok(x) => x,
            Err(e) => {
                let at = usize::try_from(reader.error_position()).unwrap_or(0);
                diags.push(Diagnostic::new(
                    base.saturating_add(at),
                    format!("malformed xml: {}", lowercase_first(e.to_string())),
                ));
                errored = true;
                break;
            }
        };
        let ns = resolved_ns(ns);
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(ev, Event::Empty(_));
                elements += 1;
                if elements > MAX_ELEMENTS {
                    diags.push(Diagnostic::new(
                        base + pos,
                        format!("more than {MAX_ELEMENTS} xml elements; the rest is ignored"),
                    ));
                    errored = true;
                    break;
                }
                if skipping > 0 || stack.len() >= MAX_DEPTH {
                    if stack.len() >= MAX_DEPTH && skipping == 0 {
                        diags.push(Diagnostic::new(
                            base + pos,
                            format!("xml nested deeper than {MAX_DEPTH} elements; subtree skipped"),
                        ));
                    }
                    if !empty {
                        skipping += 1;
                    }
                    continue;
                }
                let ns = match ns {
                    Ok(ns) => ns,
                    Err(prefix) => {
                        diags.push(Diagnostic::new(
                            base + pos,
                            format!("undeclared namespace prefix {prefix:?}"),
                        ));
                        None
                    }
                };
                let node = start_node(text, reader.resolver(), s, ns, base + pos, diags);
                if empty {
                    push_child(&mut stack, &mut roots, node);
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                if skipping > 0 {
                    skipping -= 1;
                    continue;
                }
                if let Some(node) = stack.pop() {
                    push_child(&mut stack, &mut roots, node);
                }
            }
            Event::Text(t) => {
                if skipping == 0 {
                    if let Some(top) = stack.last_mut() {
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
            }
            Event::CData(t) => {
                if let (0, Some(top)) = (skipping, stack.last_mut()) {
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
                        if let Some(top) = stack.last_mut() {
                            top.text.to_mut().push_str(&v);
                        }
                    }
                    None => diags.push(Diagnostic::new(
                        base + pos,
                        format!("unknown entity reference &{};", r.xml10_content()),
                    )),
                }
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if let (Some(open), false) = (stack.last(), errored) {
        diags.push(Diagnostic::new(
            base + text.len(),
            format!("truncated xml: element {} not closed", open.qname),
        ));
    }
    while let Some(node) = stack.pop() {
        push_child(&mut stack, &mut roots, node);
    }
    roots
}

fn push_child<'a>(stack: &mut [XNode<'a>], roots: &mut Vec<XNode<'a>>, node: XNode<'a>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None => roots.push(node),
    }
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

fn start_node<'a>(
    text: &'a str,
    resolver: &NamespaceResolver,
    s: &BytesStart<'_>,
    ns: Ns,
    offset: usize,
    diags: &mut Vec<Diagnostic>,
) -> XNode<'a> {
    let qname = cow_in(text, Cow::Borrowed(s.name().0));
    let local_start = qname.len() - s.local_name().as_ref().len();
    let mut node = XNode {
        qname,
        local_start,
        ns,
        offset,
        ..XNode::default()
    };
    // Attribute offsets: search each name from a running cursor in the raw start tag.
    let tag_text = s.attributes_raw();
    let tag_base = offset + 1 + node.qname.len();
    let mut cursor = 0usize;
    let mut attrs = s.attributes();
    attrs.with_checks(false);
    for a in attrs {
        let a = match a {
            Ok(a) => a,
            Err(e) => {
                diags.push(Diagnostic::new(
                    tag_base + cursor,
                    format!("malformed attribute in <{}>: {e}", node.qname),
                ));
                break;
            }
        };
        let key = a.key.0;
        // A plain window scan: tags are short, and building a substring searcher per
        // attribute showed up in profiles.
        let at = tag_text
            .as_bytes()
            .get(cursor..)
            .and_then(|t| t.windows(key.len()).position(|w| w == key.as_bytes()))
            .map_or(cursor, |p| cursor + p);
        cursor = at + key.len();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = match a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
            Ok(v) => cow_in(text, v),
            Err(e) => {
                diags.push(Diagnostic::new(
                    tag_base + at,
                    format!("cannot unescape attribute {key}: {e}"),
                ));
                cow_in(text, a.value)
            }
        };
        if node.attrs.len() >= MAX_ATTRIBUTES {
            diags.push(Diagnostic::new(
                tag_base + at,
                format!(
                    "more than {MAX_ATTRIBUTES} attributes on {}; the rest are ignored",
                    node.qname
                ),
            ));
            break;
        }
        if node.attrs.iter().any(|x| x.qname == key) {
            diags.push(Diagnostic::new(
                tag_base + at,
                format!(
                    "duplicate attribute {key} on {}; first value kept",
                    node.qname
                ),
            ));
            continue;
        }
        let (ans, alocal) = resolver.resolve_attribute(a.key);
        let ans = resolved_ns(ans).unwrap_or(None);
        node.attrs.push(XAttr {
            qname: cow_in(text, Cow::Borrowed(key)),
            local_start: key.len() - alocal.as_ref().len(),
            ns: ans,
            value,
            offset: tag_base + at,
        });
    }
    node
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

impl<'a> AttrBag<'a> {
    pub fn new(node: &'a XNode<'a>, diags: &'a mut Vec<Diagnostic>) -> Self {
        Self {
            attrs: &node.attrs,
            taken: 0,
            element: node.local(),
            offset: node.offset,
            invalid: Vec::new(),
            diags,
        }
    }

    /// Number of attributes.
    pub fn len(&self) -> usize {
        self.attrs.len().min(MAX_ATTRIBUTES)
    }

    /// The local name of attribute `i` if it is unqualified (no namespace).
    pub fn unqualified_name(&self, i: usize) -> Option<&'a str> {
        let a: &'a XAttr<'a> = self.attrs.get(i)?;
        a.ns.is_none().then(|| a.local())
    }

    /// Takes and parses attribute `i`, known as `name`.
    pub fn take_at<T: AttrValue>(&mut self, i: usize, name: &'static str) -> Option<T> {
        if i >= MAX_ATTRIBUTES {
            return None;
        }
        self.taken |= 1u128 << i;
        let a = self.attrs.get(i)?;
        match T::parse_attr(&a.value) {
            Ok(v) => Some(v),
            Err(reason) => {
                self.diags.push(Diagnostic::new(
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
    pub fn require<T>(&mut self, value: &Option<T>, name: &str) {
        if value.is_none() && !self.invalid.contains(&name) {
            self.diags.push(Diagnostic::new(
                self.offset,
                format!("missing required attribute {name} on {}", self.element),
            ));
        }
    }

    /// Moves the attributes nobody took to `unknown`.
    pub fn finish(self, path: &str, unknown: &mut Vec<UnknownNode>) {
        for (i, a) in self.attrs.iter().enumerate().take(MAX_ATTRIBUTES) {
            if self.taken & (1u128 << i) == 0 {
                unknown.push(UnknownNode::attribute(path, a));
            }
        }
    }
}
