//! A lenient, namespace-resolved element tree over quick-xml's `NsReader`, with byte
//! offsets into the HTTP body.
//!
//! The SOAP envelopes of MS-FSSHTTP are small (binary data travels in XOP parts or as
//! one base64 text node), so the decoder first builds this tree and then maps it to the
//! model. Building never fails: malformed XML stops the tree where the error is and
//! adds a diagnostic; duplicate attributes (emitted by SharePoint 2010, MS-FSSHTTP
//! 2.2.3.5 <12>) keep the first value and add a diagnostic; depth is capped at
//! [`MAX_DEPTH`].

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

/// One attribute, unqualified names have `ns == None`.
#[derive(Debug, Clone)]
pub(crate) struct XAttr {
    pub qname: String,
    pub local: String,
    pub ns: Option<String>,
    pub value: String,
    pub offset: usize,
}

/// One element.
#[derive(Debug, Clone, Default)]
pub(crate) struct XNode {
    pub qname: String,
    pub local: String,
    pub ns: Option<String>,
    pub attrs: Vec<XAttr>,
    pub children: Vec<XNode>,
    pub text: String,
    /// Offset of the element's `<` in the body.
    pub offset: usize,
    /// Offset of the first text content byte, if any.
    pub text_offset: Option<usize>,
}

fn resolved_ns(r: ResolveResult<'_>) -> Result<Option<String>, String> {
    match r {
        ResolveResult::Bound(ns) => Ok(Some(ns.0.to_owned())),
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
pub(crate) fn parse(text: &str, base: usize, diags: &mut Vec<Diagnostic>) -> Vec<XNode> {
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<XNode> = Vec::new();
    let mut roots: Vec<XNode> = Vec::new();
    let mut skipping = 0usize;
    let mut errored = false;
    let mut elements = 0usize;
    loop {
        let pos = usize::try_from(reader.buffer_position()).unwrap_or(usize::MAX);
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
                let node = start_node(reader.resolver(), s, ns, base + pos, diags);
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
                        top.text.push_str(&c);
                    }
                }
            }
            Event::CData(t) => {
                if let (0, Some(top)) = (skipping, stack.last_mut()) {
                    top.text.push_str(&t.xml10_content());
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
                            top.text.push_str(&v);
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

fn push_child(stack: &mut [XNode], roots: &mut Vec<XNode>, node: XNode) {
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

fn start_node(
    resolver: &NamespaceResolver,
    s: &BytesStart<'_>,
    ns: Option<String>,
    offset: usize,
    diags: &mut Vec<Diagnostic>,
) -> XNode {
    let qname = s.name().0.to_owned();
    let local = s.local_name().as_ref().to_owned();
    let mut node = XNode {
        qname,
        local,
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
        let at = tag_text
            .get(cursor..)
            .and_then(|t| t.find(key))
            .map_or(cursor, |p| cursor + p);
        cursor = at + key.len();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let value = match a.normalized_value(quick_xml::XmlVersion::Implicit1_0) {
            Ok(v) => v.into_owned(),
            Err(e) => {
                diags.push(Diagnostic::new(
                    tag_base + at,
                    format!("cannot unescape attribute {key}: {e}"),
                ));
                a.value.into_owned()
            }
        };
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
            qname: key.to_owned(),
            local: alocal.as_ref().to_owned(),
            ns: ans,
            value,
            offset: tag_base + at,
        });
    }
    node
}

/// The attributes of one element, consumed by name; what is left is unknown.
pub(crate) struct AttrBag<'a> {
    attrs: Vec<XAttr>,
    element: String,
    offset: usize,
    /// Attributes present but with a value that did not parse (already diagnosed).
    invalid: Vec<String>,
    pub diags: &'a mut Vec<Diagnostic>,
}

impl<'a> AttrBag<'a> {
    pub fn new(node: &XNode, diags: &'a mut Vec<Diagnostic>) -> Self {
        Self {
            attrs: node.attrs.clone(),
            element: node.local.clone(),
            offset: node.offset,
            invalid: Vec::new(),
            diags,
        }
    }

    /// Takes and parses the unqualified attribute `name`.
    pub fn take<T: AttrValue>(&mut self, name: &str) -> Option<T> {
        let i = self
            .attrs
            .iter()
            .position(|a| a.local == name && a.ns.is_none())?;
        let a = self.attrs.remove(i);
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
                self.invalid.push(name.to_owned());
                None
            }
        }
    }

    /// Adds a diagnostic when a required attribute is missing.
    pub fn require<T>(&mut self, value: &Option<T>, name: &str) {
        if value.is_none() && !self.invalid.iter().any(|n| n == name) {
            self.diags.push(Diagnostic::new(
                self.offset,
                format!("missing required attribute {name} on {}", self.element),
            ));
        }
    }

    /// Moves the attributes nobody took to `unknown`.
    pub fn finish(self, path: &str, unknown: &mut Vec<UnknownNode>) {
        for a in self.attrs {
            unknown.push(UnknownNode::attribute(path, &a));
        }
    }
}
