//! Writing WebDAV XML: multistatus (replication manifests, PROPFIND answers) and
//! `lockdiscovery`, as the reference server and replay's re-encoding need.

use super::xml::text_el;
use super::*;

/// Encode a multistatus (replication manifest or PROPFIND answer) as XML.
/// `unknown` elements are not written.
pub fn encode_multistatus(ms: &MultiStatus) -> Vec<u8> {
    let mut w = String::from(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    w.push_str(r#"<D:multistatus xmlns:D="DAV:" xmlns:R="http://schemas.microsoft.com/repl/">"#);
    if let Some(r) = &ms.repl {
        write_repl(&mut w, r);
    }
    for resp in &ms.response {
        w.push_str("<D:response>");
        for h in &resp.href {
            text_el(&mut w, "D:href", h);
        }
        if let Some(st) = &resp.status {
            text_el(&mut w, "D:status", st);
        }
        for ps in &resp.propstat {
            w.push_str("<D:propstat>");
            write_prop(&mut w, &ps.prop);
            if let Some(st) = &ps.status {
                text_el(&mut w, "D:status", st);
            }
            w.push_str("</D:propstat>");
        }
        if let Some(ct) = &resp.changetype {
            text_el(&mut w, "R:changetype", ct);
        }
        if !resp.error.is_empty() {
            w.push_str("<D:error>");
            for c in &resp.error {
                w.push_str(&format!("<D:{}/>", xml::safe_name(c)));
            }
            w.push_str("</D:error>");
        }
        if let Some(d) = &resp.responsedescription {
            text_el(&mut w, "D:responsedescription", d);
        }
        w.push_str("</D:response>");
    }
    if let Some(d) = &ms.responsedescription {
        text_el(&mut w, "D:responsedescription", d);
    }
    w.push_str("</D:multistatus>");
    w.into_bytes()
}

/// Encode a LOCK response body: `D:prop/D:lockdiscovery` with one `D:activelock` per lock.
pub fn encode_lockdiscovery(locks: &[ActiveLock]) -> Vec<u8> {
    let mut w = String::from(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    w.push_str(r#"<D:prop xmlns:D="DAV:">"#);
    write_lockdiscovery(&mut w, locks);
    w.push_str("</D:prop>");
    w.into_bytes()
}

pub(super) fn write_repl(w: &mut String, r: &Repl) {
    w.push_str("<R:repl>");
    if let Some(c) = &r.collblob {
        text_el(w, "R:collblob", c);
    }
    if !r.resourcetaglist.is_empty() {
        w.push_str("<R:resourcetaglist>");
        for t in &r.resourcetaglist {
            text_el(w, "R:resourcetag", t);
        }
        w.push_str("</R:resourcetaglist>");
    }
    w.push_str("</R:repl>");
}

pub(super) fn write_prop(w: &mut String, p: &Prop) {
    w.push_str("<D:prop>");
    if !p.lockdiscovery.is_empty() {
        write_lockdiscovery(w, &p.lockdiscovery);
    }
    for (i, prop) in p.properties.iter().enumerate() {
        let name = xml::safe_name(&prop.name);
        w.push_str(&format!("<p{i}:{name} xmlns:p{i}=\""));
        xml::escape_into(w, &prop.namespace);
        w.push_str("\">");
        match (&prop.xml, &prop.value) {
            (Some(x), _) => w.push_str(x),
            (None, Some(v)) => xml::escape_into(w, v),
            (None, None) => {}
        }
        w.push_str(&format!("</p{i}:{name}>"));
    }
    w.push_str("</D:prop>");
}

pub(super) fn write_lockdiscovery(w: &mut String, locks: &[ActiveLock]) {
    w.push_str("<D:lockdiscovery>");
    for l in locks {
        w.push_str("<D:activelock>");
        if let Some(s) = &l.lockscope {
            w.push_str(&format!(
                "<D:lockscope><D:{}/></D:lockscope>",
                xml::safe_name(s)
            ));
        }
        if let Some(s) = &l.locktype {
            w.push_str(&format!(
                "<D:locktype><D:{}/></D:locktype>",
                xml::safe_name(s)
            ));
        }
        if let Some(s) = &l.depth {
            text_el(w, "D:depth", s);
        }
        if let Some(s) = &l.owner {
            text_el(w, "D:owner", s);
        }
        if let Some(t) = &l.timeout {
            let v = match t {
                DavTimeout::Invalid(s) => s.clone(),
                other => timeout_text(other),
            };
            text_el(w, "D:timeout", &v);
        }
        if let Some(s) = &l.locktoken {
            w.push_str("<D:locktoken>");
            text_el(w, "D:href", s);
            w.push_str("</D:locktoken>");
        }
        if let Some(s) = &l.lockroot {
            w.push_str("<D:lockroot>");
            text_el(w, "D:href", s);
            w.push_str("</D:lockroot>");
        }
        w.push_str("</D:activelock>");
    }
    w.push_str("</D:lockdiscovery>");
}
