//! Model → SOAP, plain `text/xml` or MTOM with Cell payloads inline or as XOP parts
//! (MS-FSSHTTP 2.1, 2.2.3.1), shaped like WCF's MTOM encoder output.
//!
//! The encoder writes what the model holds: attributes in specification order, the
//! FSSHTTP namespace as the default namespace of `RequestVersion`/`RequestCollection`
//! (resp. `ResponseVersion`/`ResponseCollection`) as in the specification's examples.
//! Nodes under `unknown` and the joined `SubResponse` `Type` are not written.

use std::fmt::Write as _;

use base64::Engine;

use super::model::*;
use super::{SOAP11_NS, TNS, XOP_NS};
use crate::decode::text::percent_encode;

/// How to encode a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodeOptions {
    /// Wrap the envelope in `multipart/related` (MTOM). Default: true, as servers must.
    pub mtom: bool,
    /// Put Cell payloads inline as base64 even in MTOM. Ignored (always inline) without
    /// MTOM. Default: false.
    pub cell_inline: bool,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        Self {
            mtom: true,
            cell_inline: false,
        }
    }
}

const ROOT_ID: &str = "http://tempuri.org/0";

struct Writer<'p> {
    xml: String,
    opts: EncodeOptions,
    parts: Vec<(String, &'p [u8])>,
}

fn escape_into(out: &mut String, s: &str, attr: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attr => out.push_str("&quot;"),
            '\t' | '\n' | '\r' if attr => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            '\r' => out.push_str("&#13;"),
            _ => out.push(c),
        }
    }
}

impl<'p> Writer<'p> {
    /// A writer with the SOAP envelope and body opened and `fault`, if any, written.
    fn envelope(opts: EncodeOptions, fault: Option<&SoapFault>) -> Self {
        let mut w = Writer {
            xml: String::with_capacity(4096),
            opts,
            parts: Vec::new(),
        };
        w.envelope_start();
        if let Some(f) = fault {
            w.fault(f);
        }
        w
    }

    /// Opens `name` with the attributes `attrs` writes.
    fn start_with(
        &mut self,
        name: &str,
        xmlns: Option<&str>,
        attrs: impl FnOnce(&mut Vec<(&'static str, String)>),
    ) {
        let mut a = Vec::new();
        attrs(&mut a);
        self.start(name, &a, xmlns);
    }

    /// An empty element `name` with the attributes `attrs` writes.
    fn empty_with(&mut self, name: &str, attrs: impl FnOnce(&mut Vec<(&'static str, String)>)) {
        let mut a = Vec::new();
        attrs(&mut a);
        self.empty(name, &a);
    }

    fn start(&mut self, name: &str, attrs: &[(&str, String)], xmlns: Option<&str>) {
        self.xml.push('<');
        self.xml.push_str(name);
        for (k, v) in attrs {
            self.xml.push(' ');
            self.xml.push_str(k);
            self.xml.push_str("=\"");
            escape_into(&mut self.xml, v, true);
            self.xml.push('"');
        }
        if let Some(ns) = xmlns {
            self.xml.push_str(" xmlns=\"");
            self.xml.push_str(ns);
            self.xml.push('"');
        }
        self.xml.push('>');
    }

    fn end(&mut self, name: &str) {
        self.xml.push_str("</");
        self.xml.push_str(name);
        self.xml.push('>');
    }

    fn empty(&mut self, name: &str, attrs: &[(&str, String)]) {
        self.start(name, attrs, None);
        self.xml.pop();
        self.xml.push_str("/>");
    }

    fn text(&mut self, s: &str) {
        escape_into(&mut self.xml, s, false);
    }

    fn payload(&mut self, p: &'p CellPayload) {
        if self.opts.mtom && !self.opts.cell_inline {
            let id = format!("http://tempuri.org/1/{}", self.parts.len() + 1);
            let _ = write!(
                self.xml,
                "<xop:Include href=\"cid:{}\" xmlns:xop=\"{XOP_NS}\"/>",
                percent_encode(&id)
            );
            self.parts.push((id, &p.bytes));
        } else {
            self.xml
                .push_str(&base64::engine::general_purpose::STANDARD.encode(&p.bytes));
        }
    }

    fn list(&mut self, wrapper: &str, child: &str, attr: &str, items: &[String]) {
        self.start(wrapper, &[], None);
        for i in items {
            self.empty(child, &[(attr, i.clone())]);
        }
        self.end(wrapper);
    }

    fn envelope_start(&mut self) {
        let _ = write!(self.xml, "<s:Envelope xmlns:s=\"{SOAP11_NS}\"><s:Body>");
    }

    fn envelope_end(&mut self) {
        self.xml.push_str("</s:Body></s:Envelope>");
    }

    fn fault(&mut self, f: &SoapFault) {
        self.xml.push_str("<s:Fault>");
        for (name, v) in [
            ("faultcode", &f.faultcode),
            ("faultstring", &f.faultstring),
            ("faultactor", &f.faultactor),
        ] {
            if let Some(v) = v {
                self.start(name, &[], None);
                self.text(v);
                self.end(name);
            }
        }
        if f.error_string.is_some() || f.error_code.is_some() {
            self.xml.push_str("<detail>");
            for (name, v) in [
                ("ErrorString", &f.error_string),
                ("ErrorCode", &f.error_code),
            ] {
                if let Some(v) = v {
                    self.start(name, &[], Some(TNS));
                    self.text(v);
                    self.end(name);
                }
            }
            self.xml.push_str("</detail>");
        }
        self.xml.push_str("</s:Fault>");
    }

    fn version(&mut self, name: &str, v: &VersionInfo) {
        let mut a = Vec::new();
        v.write_attrs(&mut a);
        self.start(name, &a, Some(TNS));
        self.xml.pop();
        self.xml.push_str("/>");
    }

    /// Wraps the document, returning (Content-Type, body).
    fn finish(self) -> (String, Vec<u8>) {
        if !self.opts.mtom {
            return ("text/xml; charset=utf-8".to_owned(), self.xml.into_bytes());
        }
        // Pick a WCF-style boundary that occurs in no part.
        let mut n = 1u32;
        let boundary = loop {
            let b = format!("uuid:5f1c0c3e-1b0a-4d8e-9c1e-00000000{n:04x}+id=1");
            let delim = format!("--{b}");
            let clash = self.xml.contains(&delim)
                || self
                    .parts
                    .iter()
                    .any(|(_, p)| memchr::memmem::find(p, delim.as_bytes()).is_some());
            if !clash {
                break b;
            }
            n = n.wrapping_add(1);
        };
        let ct = format!(
            "multipart/related; type=\"application/xop+xml\"; start=\"<{ROOT_ID}>\"; start-info=\"text/xml\"; boundary=\"{boundary}\""
        );
        let total: usize =
            self.xml.len() + self.parts.iter().map(|(_, p)| p.len() + 200).sum::<usize>();
        let mut body = Vec::with_capacity(total + 400);
        let _ = write!(
            VecWriter(&mut body),
            "--{boundary}\r\nContent-ID: <{ROOT_ID}>\r\nContent-Transfer-Encoding: 8bit\r\nContent-Type: application/xop+xml;charset=utf-8;type=\"text/xml\"\r\n\r\n"
        );
        body.extend_from_slice(self.xml.as_bytes());
        for (id, bytes) in &self.parts {
            let _ = write!(
                VecWriter(&mut body),
                "\r\n--{boundary}\r\nContent-ID: <{id}>\r\nContent-Transfer-Encoding: binary\r\nContent-Type: application/octet-stream\r\n\r\n"
            );
            body.extend_from_slice(bytes);
        }
        let _ = write!(VecWriter(&mut body), "\r\n--{boundary}--\r\n");
        (ct, body)
    }
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn data_body<'p>(w: &mut Writer<'p>, text: Option<&String>, payload: Option<&'p CellPayload>) {
    if let Some(p) = payload {
        w.payload(p);
    } else if let Some(t) = text {
        w.text(t);
    }
}

/// Encodes a request; returns (Content-Type, body).
pub fn encode_request(env: &RequestEnvelope, opts: EncodeOptions) -> (String, Vec<u8>) {
    let mut w = Writer::envelope(opts, env.fault.as_ref());
    if let Some(v) = &env.request_version {
        w.version("RequestVersion", v);
    }
    if let Some(rc) = &env.request_collection {
        w.start_with("RequestCollection", Some(TNS), |a| rc.write_attrs(a));
        for r in &rc.requests {
            w.start_with("Request", None, |a| r.write_attrs(a));
            if let Some(gp) = &r.generic_properties {
                w.start("GenericProperties", &[], None);
                for p in gp {
                    w.empty_with("Property", |a| p.write_attrs(a));
                }
                w.end("GenericProperties");
            }
            for s in &r.sub_requests {
                w.start_with("SubRequest", None, |a| s.write_attrs(a));
                if let Some(d) = &s.sub_request_data {
                    w.start_with("SubRequestData", None, |a| d.write_attrs(a));
                    if let Some(ids) = &d.property_ids {
                        w.list("PropertyIds", "PropertyId", "id", ids);
                    }
                    data_body(&mut w, d.text.as_ref(), d.payload.as_ref());
                    w.end("SubRequestData");
                }
                w.end("SubRequest");
            }
            w.end("Request");
        }
        w.end("RequestCollection");
    }
    w.envelope_end();
    w.finish()
}

fn attr_list<T>(
    w: &mut Writer<'_>,
    wrapper: &str,
    child: &str,
    items: &[T],
    f: impl Fn(&T, &mut Vec<(&'static str, String)>),
) {
    w.start(wrapper, &[], None);
    for i in items {
        w.empty_with(child, |a| f(i, a));
    }
    w.end(wrapper);
}

fn sub_response_data<'p>(w: &mut Writer<'p>, d: &'p SubResponseData) {
    w.start_with("SubResponseData", None, |a| d.write_attrs(a));
    if let Some(p) = &d.doc_props {
        attr_list(w, "DocProps", "Property", p, MetaProperty::write_attrs);
    }
    if let Some(p) = &d.folder_props {
        attr_list(w, "FolderProps", "Property", p, MetaProperty::write_attrs);
    }
    if let Some(u) = &d.user_table {
        attr_list(w, "UserTable", "User", u, VersionUser::write_attrs);
    }
    if let Some(vs) = &d.versions {
        w.start("Versions", &[], None);
        for v in vs {
            w.start_with("Version", None, |a| v.write_attrs(a));
            if let Some(evs) = &v.events {
                attr_list(w, "Events", "Event", evs, VersionEvent::write_attrs);
            }
            w.end("Version");
        }
        w.end("Versions");
    }
    if let Some(ids) = &d.property_ids {
        w.list("PropertyIds", "PropertyId", "id", ids);
    }
    if let Some(p) = &d.property_values {
        attr_list(
            w,
            "PropertyValues",
            "PropertyValue",
            p,
            PropertyValue::write_attrs,
        );
    }
    data_body(w, d.text.as_ref(), d.payload.as_ref());
    w.end("SubResponseData");
}

fn get_versions(w: &mut Writer<'_>, g: &GetVersionsResults) {
    w.xml
        .push_str("<GetVersionsResponse><GetVersionsResult><results>");
    if let Some(v) = &g.list {
        w.empty("list", &[("id", v.clone())]);
    }
    if let Some(v) = &g.versioning {
        w.empty("versioning", &[("enabled", v.clone())]);
    }
    if let Some(v) = &g.settings {
        w.empty("settings", &[("url", v.clone())]);
    }
    for r in &g.result {
        w.empty_with("result", |a| r.write_attrs(a));
    }
    w.xml
        .push_str("</results></GetVersionsResult></GetVersionsResponse>");
}

/// Encodes a response; returns (Content-Type, body).
pub fn encode_response(env: &ResponseEnvelope, opts: EncodeOptions) -> (String, Vec<u8>) {
    let mut w = Writer::envelope(opts, env.fault.as_ref());
    if let Some(v) = &env.response_version {
        w.version("ResponseVersion", v);
    }
    if let Some(rc) = &env.response_collection {
        w.start_with("ResponseCollection", Some(TNS), |a| rc.write_attrs(a));
        for r in &rc.responses {
            w.start_with("Response", None, |a| r.write_attrs(a));
            for s in &r.sub_responses {
                w.start_with("SubResponse", None, |a| s.write_attrs(a));
                if let Some(d) = &s.sub_response_data {
                    sub_response_data(&mut w, d);
                }
                if s.sub_response_stream_invalid {
                    w.empty("SubResponseStreamInvalid", &[]);
                }
                if let Some(g) = &s.get_versions_response {
                    get_versions(&mut w, g);
                }
                w.end("SubResponse");
            }
            w.end("Response");
        }
        w.end("ResponseCollection");
    }
    w.envelope_end();
    w.finish()
}
