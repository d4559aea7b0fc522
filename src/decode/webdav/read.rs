//! Reading WebDAV XML bodies (RFC 4918 elements and the replication namespace) from a
//! roxmltree document into the [`DavBody`] types, with diagnostics at byte offsets.

use super::*;

pub(super) fn decode_part(body: &[u8], content: bool) -> (Option<DavBody>, Vec<Diagnostic>) {
    if body.iter().all(u8::is_ascii_whitespace) {
        return (None, Vec::new());
    }
    if content || !xml::looks_like_xml(body) {
        return (Some(DavBody::Content { length: body.len() }), Vec::new());
    }
    let mut diags = Vec::new();
    let read = xml::read_root(body, |text, root| match root.tag_name().name() {
        "searchrequest" => DavBody::SearchRequest(read_searchrequest(root, &mut diags)),
        "propfind" => DavBody::PropFind(read_propfind(root, &mut diags)),
        "propertyupdate" => DavBody::PropertyUpdate(read_propertyupdate(root, text, &mut diags)),
        "lockinfo" => DavBody::LockInfo(read_lockinfo(root, &mut diags)),
        "multistatus" => DavBody::MultiStatus(read_multistatus(root, text, &mut diags)),
        "prop" => DavBody::Prop(read_prop(root, text, &mut diags)),
        "error" => DavBody::Error(read_error(root)),
        _ => DavBody::OtherXml(qname(root)),
    });
    match read {
        Ok(b) => (Some(b), diags),
        Err(d) => (Some(DavBody::Content { length: body.len() }), vec![d]),
    }
}

pub(super) type Node<'a, 'i> = roxmltree::Node<'a, 'i>;

pub(super) fn qname(n: Node<'_, '_>) -> QName {
    QName {
        namespace: n.tag_name().namespace().unwrap_or("").to_owned(),
        name: n.tag_name().name().to_owned(),
    }
}

pub(super) fn unknown(n: Node<'_, '_>) -> Unknown {
    Unknown {
        namespace: n.tag_name().namespace().unwrap_or("").to_owned(),
        name: n.tag_name().name().to_owned(),
        text: xml::text(n),
    }
}

pub(super) fn is(n: Node<'_, '_>, name: &str) -> bool {
    n.is_element() && n.tag_name().name().eq_ignore_ascii_case(name)
}

pub(super) fn read_repl(n: Node<'_, '_>) -> Repl {
    let mut r = Repl::default();
    for c in n.children().filter(Node::is_element) {
        if is(c, "collblob") {
            r.collblob = Some(xml::text(c));
        } else if is(c, "resourcetaglist") {
            r.resourcetaglist = c
                .children()
                .filter(|t| is(*t, "resourcetag"))
                .map(xml::text)
                .collect();
        }
    }
    r
}

pub(super) fn read_searchrequest(n: Node<'_, '_>, _d: &mut Vec<Diagnostic>) -> SearchRequest {
    let mut s = SearchRequest::default();
    for c in n.children().filter(Node::is_element) {
        if is(c, "repl") {
            s.repl = Some(read_repl(c));
        } else if s.query.is_none() && ["sql", "basicsearch"].iter().any(|g| is(c, g)) {
            s.query = Some(SearchQuery {
                grammar: c.tag_name().name().to_owned(),
                text: xml::text(c),
            });
        } else {
            s.unknown.push(unknown(c));
        }
    }
    s
}

pub(super) fn read_propfind(n: Node<'_, '_>, d: &mut Vec<Diagnostic>) -> PropFind {
    let mut p = PropFind::default();
    for c in n.children().filter(Node::is_element) {
        if is(c, "prop") || is(c, "include") {
            if is(c, "prop") {
                p.mode = "prop".into();
            }
            p.prop
                .extend(c.children().filter(Node::is_element).map(qname));
        } else if is(c, "allprop") || is(c, "propname") {
            p.mode = c.tag_name().name().to_owned();
        } else if is(c, "repl") {
            p.repl = Some(read_repl(c));
        } else {
            p.unknown.push(unknown(c));
        }
    }
    if p.mode.is_empty() {
        d.push(Diagnostic::missing(
            n.range().start,
            "propfind has no prop, allprop or propname",
        ));
        p.mode = "allprop".into();
    }
    p
}

pub(super) fn read_properties(n: Node<'_, '_>, text: &str) -> Vec<Property> {
    n.children()
        .filter(Node::is_element)
        .map(|c| read_property(c, text))
        .collect()
}

pub(super) fn read_propertyupdate(
    n: Node<'_, '_>,
    text: &str,
    d: &mut Vec<Diagnostic>,
) -> PropertyUpdate {
    let mut p = PropertyUpdate::default();
    for c in n.children().filter(Node::is_element) {
        let prop = c.children().find(|k| is(*k, "prop"));
        if is(c, "set") {
            match prop {
                Some(pr) => p.set.extend(read_properties(pr, text)),
                None => d.push(Diagnostic::missing(c.range().start, "set has no prop")),
            }
        } else if is(c, "remove") {
            match prop {
                Some(pr) => p
                    .remove
                    .extend(pr.children().filter(Node::is_element).map(qname)),
                None => d.push(Diagnostic::missing(c.range().start, "remove has no prop")),
            }
        } else {
            p.unknown.push(unknown(c));
        }
    }
    p
}

pub(super) fn first_child_name(n: Node<'_, '_>) -> Option<String> {
    n.children()
        .find(|c| c.is_element())
        .map(|c| c.tag_name().name().to_owned())
}

pub(super) fn read_lockinfo(n: Node<'_, '_>, d: &mut Vec<Diagnostic>) -> LockInfo {
    let mut l = LockInfo::default();
    for c in n.children().filter(Node::is_element) {
        if is(c, "lockscope") {
            l.lockscope = first_child_name(c);
        } else if is(c, "locktype") {
            l.locktype = first_child_name(c);
        } else if is(c, "owner") {
            l.owner = Some(xml::text(c));
        } else {
            l.unknown.push(unknown(c));
        }
    }
    if l.lockscope.is_none() {
        d.push(Diagnostic::missing(
            n.range().start,
            "lockinfo has no lockscope",
        ));
    }
    if l.locktype.is_none() {
        d.push(Diagnostic::missing(
            n.range().start,
            "lockinfo has no locktype",
        ));
    }
    l
}

pub(super) fn href_of(n: Node<'_, '_>) -> Option<String> {
    n.children().find(|c| is(*c, "href")).map(xml::text)
}

pub(super) fn read_activelock(n: Node<'_, '_>, d: &mut Vec<Diagnostic>) -> ActiveLock {
    let mut a = ActiveLock::default();
    for c in n.children().filter(Node::is_element) {
        if is(c, "lockscope") {
            a.lockscope = first_child_name(c);
        } else if is(c, "locktype") {
            a.locktype = first_child_name(c);
        } else if is(c, "depth") {
            a.depth = Some(xml::text(c));
        } else if is(c, "owner") {
            a.owner = Some(xml::text(c));
        } else if is(c, "timeout") {
            let t = parse_timeout(&xml::text(c));
            if let DavTimeout::Invalid(v) = &t {
                d.push(Diagnostic::invalid_value(
                    c.range().start,
                    format!("invalid timeout {v:?}"),
                ));
            }
            a.timeout = Some(t);
        } else if is(c, "locktoken") {
            a.locktoken = href_of(c);
            if a.locktoken.is_none() {
                d.push(Diagnostic::missing(
                    c.range().start,
                    "locktoken has no href",
                ));
            }
        } else if is(c, "lockroot") {
            a.lockroot = href_of(c);
        } else {
            a.unknown.push(unknown(c));
        }
    }
    a
}

pub(super) fn read_prop(n: Node<'_, '_>, text: &str, d: &mut Vec<Diagnostic>) -> Prop {
    let mut p = Prop::default();
    for c in n.children().filter(Node::is_element) {
        if is(c, "lockdiscovery") {
            for a in c.children().filter(|k| is(*k, "activelock")) {
                p.lockdiscovery.push(read_activelock(a, d));
            }
        } else {
            p.properties.push(read_property(c, text));
        }
    }
    p
}

pub(super) fn read_property(c: Node<'_, '_>, text: &str) -> Property {
    let has_children = c.children().any(|k| k.is_element());
    let t = xml::text(c);
    Property {
        namespace: c.tag_name().namespace().unwrap_or("").to_owned(),
        name: c.tag_name().name().to_owned(),
        value: (!t.is_empty()).then_some(t),
        xml: has_children.then(|| xml::inner(c, text).to_owned()),
    }
}

pub(super) fn read_error(n: Node<'_, '_>) -> DavError {
    let mut e = DavError::default();
    for c in n.children().filter(Node::is_element) {
        e.conditions.push(c.tag_name().name().to_owned());
        e.href
            .extend(c.children().filter(|k| is(*k, "href")).map(xml::text));
    }
    e
}

pub(super) fn read_multistatus(
    n: Node<'_, '_>,
    text: &str,
    d: &mut Vec<Diagnostic>,
) -> MultiStatus {
    let mut m = MultiStatus::default();
    for c in n.children().filter(Node::is_element) {
        if is(c, "response") {
            m.response.push(read_response(c, text, d));
        } else if is(c, "repl") {
            m.repl = Some(read_repl(c));
        } else if is(c, "responsedescription") {
            m.responsedescription = Some(xml::text(c));
        } else {
            m.unknown.push(unknown(c));
        }
    }
    m
}

pub(super) fn read_response(
    n: Node<'_, '_>,
    text: &str,
    d: &mut Vec<Diagnostic>,
) -> MultiStatusResponse {
    let mut r = MultiStatusResponse::default();
    for c in n.children().filter(Node::is_element) {
        if is(c, "href") {
            r.href.push(xml::text(c));
        } else if is(c, "status") {
            let s = xml::text(c);
            if status_code(&s).is_none() {
                d.push(Diagnostic::malformed(
                    c.range().start,
                    format!("unparsable status line {s:?}"),
                ));
            }
            r.status = Some(s);
        } else if is(c, "propstat") {
            let mut ps = PropStat::default();
            for k in c.children().filter(Node::is_element) {
                if is(k, "prop") {
                    let p = read_prop(k, text, d);
                    ps.prop.lockdiscovery.extend(p.lockdiscovery);
                    ps.prop.properties.extend(p.properties);
                } else if is(k, "status") {
                    let s = xml::text(k);
                    if status_code(&s).is_none() {
                        d.push(Diagnostic::malformed(
                            k.range().start,
                            format!("unparsable status line {s:?}"),
                        ));
                    }
                    ps.status = Some(s);
                }
            }
            r.propstat.push(ps);
        } else if is(c, "changetype") {
            r.changetype = Some(xml::text(c));
        } else if is(c, "prop") {
            // Lenient: a bare `prop` (no `propstat`) is taken as a propstat without status.
            r.propstat.push(PropStat {
                prop: read_prop(c, text, d),
                status: None,
            });
        } else if is(c, "error") {
            r.error = read_error(c).conditions;
        } else if is(c, "responsedescription") {
            r.responsedescription = Some(xml::text(c));
        } else {
            r.unknown.push(unknown(c));
        }
    }
    if r.href.is_empty() {
        d.push(Diagnostic::missing(n.range().start, "response has no href"));
    }
    r
}

/// The status code in an HTTP status line (`HTTP/1.1 200 OK` → 200).
pub fn status_code(line: &str) -> Option<u16> {
    let mut it = line.split_whitespace();
    let first = it.next()?;
    let code = if first.to_ascii_uppercase().starts_with("HTTP/") {
        it.next()?
    } else {
        first
    };
    code.parse().ok().filter(|c| (100..1000).contains(c))
}
