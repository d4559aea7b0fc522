//! Values a server mints and clients echo later, learned while replaying.
//!
//! After each exchange the recorded response and the new one are read for the same
//! kinds of values, from the typed models the decoders already built (never by searching
//! the bodies): ETag, Lock-Token, X-RequestDigest, ResourceTag, Repl-UID and X-SyncToken
//! headers; WebDAV `getetag`, `resourcetag`, `repl-uid` properties and `collblob`s;
//! SPFileSync `ETag`, `SyncToken`, `PreAuthURL` and `FormDigestValue` values;
//! MS-FSSHTTP `Etag` and `TransitionID` attributes; FSSHTTPB storage index ids of Query
//! Changes and Put Changes answers. Values of one kind are paired in order; where they
//! differ, the recorded value maps to the new one, and later requests carry the new
//! value. A recorded value with no counterpart in the new answer is *stale*: a later
//! request still carrying it is reported, not silently sent as is.

use std::collections::{HashMap, HashSet};

use crate::decode::exchange::{DecodedExchange, DecodedRecord, FsshttpExchange, ProtocolModel};
use crate::decode::fsshttp::{self, EncodeOptions, PayloadOrigin};
use crate::decode::fsshttpb::{self as b, ExGuid};
use crate::decode::spfilesync::{Item, SyncBody};
use crate::decode::webdav::DavBody;

/// Response headers whose values clients echo.
const HEADERS: &[&str] = &[
    "etag",
    "lock-token",
    "x-requestdigest",
    "resourcetag",
    "repl-uid",
    "x-synctoken",
];

/// Shortest string value worth substituting (shorter ones would collide with bytes that
/// merely look alike).
const MIN_LEN: usize = 6;

/// Shortest WebDAV / web3s element value learned (as short as a resourcetag can be).
const MIN_ELEMENT_LEN: usize = 4;

/// WebDAV properties whose values clients echo.
const DAV_PROPERTIES: &[&str] = &["getetag", "resourcetag", "repl-uid"];

/// SPFileSync values clients echo (item and stream fields, discovery answers).
const SYNC_FIELDS: &[&str] = &["ETag", "eTag", "SyncToken", "PreAuthURL", "FormDigestValue"];

/// What has been learned so far.
#[derive(Debug, Default)]
pub struct Remap {
    strings: HashMap<String, String>,
    guids: HashMap<ExGuid, ExGuid>,
    stale: HashSet<String>,
    stale_guids: HashSet<ExGuid>,
    /// Values something was paired with ([`Remap::pair`]), so no value is the
    /// counterpart of two.
    targets: HashSet<String>,
}

/// The kinds of volatile values one response holds, in order of appearance.
#[derive(Debug, Default)]
pub struct Minted {
    strings: Vec<(String, String)>,
    guids: Vec<ExGuid>,
}

impl Minted {
    /// Collects the values of a response from its headers and its decoded form.
    pub fn of(x: &DecodedRecord) -> Self {
        let mut m = Self::default();
        let Some(resp) = &x.exchange.response else {
            return m;
        };
        for (n, v) in &resp.headers.0 {
            if HEADERS.iter().any(|h| n.eq_ignore_ascii_case(h)) && v.len() >= MIN_LEN {
                m.strings.push((n.to_ascii_lowercase(), v.clone()));
            }
        }
        match &x.decoded.model {
            ProtocolModel::WebDav(w) => {
                if let Some(body) = w.response.as_ref().and_then(|r| r.body.as_ref()) {
                    m.dav(body);
                }
            }
            ProtocolModel::SpFileSync(s) => {
                if let Some(body) = s.response.as_ref().and_then(|r| r.body.as_ref()) {
                    m.sync(body);
                }
            }
            ProtocolModel::Fsshttp(f) => {
                for (_, s) in f.response.iter().flat_map(|r| r.sub_responses()) {
                    let Some(d) = &s.sub_response_data else {
                        continue;
                    };
                    m.push("etag", d.etag.as_deref(), MIN_LEN);
                    m.push("transitionid", d.transition_id.as_deref(), MIN_LEN);
                }
                for r in f.cells.iter().filter_map(|c| c.response.as_ref()) {
                    for s in &r.sub_responses {
                        match &s.data {
                            b::SubResponseData::QueryChanges(q)
                                if !q.storage_index_id.is_null() =>
                            {
                                m.guids.push(q.storage_index_id);
                            }
                            b::SubResponseData::PutChanges(p) => {
                                if let Some(a) = &p.applied {
                                    m.guids.push(a.applied_storage_index_id);
                                }
                            }
                            _ => {}
                        }
                    }
                }
            }
            ProtocolModel::Http => {}
        }
        m
    }

    fn push(&mut self, kind: &str, value: Option<&str>, min: usize) {
        if let Some(v) = value.filter(|v| v.len() >= min) {
            self.strings.push((kind.to_ascii_lowercase(), v.to_owned()));
        }
    }

    /// WebDAV properties and the replication collblob of a response body.
    fn dav(&mut self, body: &DavBody) {
        let (responses, repl) = match body {
            DavBody::MultiStatus(ms) => (ms.response.as_slice(), ms.repl.as_ref()),
            _ => (&[][..], None),
        };
        for p in responses
            .iter()
            .flat_map(|r| r.propstat.iter())
            .flat_map(|ps| ps.prop.properties.iter())
        {
            if DAV_PROPERTIES
                .iter()
                .any(|n| p.name.eq_ignore_ascii_case(n))
            {
                self.push(&p.name, p.value.as_deref(), MIN_ELEMENT_LEN);
            }
        }
        if let Some(r) = repl {
            self.push("collblob", r.collblob.as_deref(), MIN_ELEMENT_LEN);
        }
    }

    /// SPFileSync values of a response body, items depth first.
    fn sync(&mut self, body: &SyncBody) {
        match body {
            SyncBody::Folder(i) | SyncBody::Document(i) => self.item(i),
            SyncBody::Items(items) => items.iter().for_each(|i| self.item(i)),
            SyncBody::Discovery(fields) => self.fields(fields, MIN_LEN),
            SyncBody::Multipart(mp) => {
                for part in mp.parts.iter().filter_map(|p| p.body.as_deref()) {
                    self.sync(part);
                }
            }
            SyncBody::PolicyDocument(_) | SyncBody::OtherXml(_) | SyncBody::Content { .. } => {}
        }
    }

    fn item(&mut self, i: &Item) {
        // Items nest at most `MAX_ITEM_NESTING` levels (the decoder's limit).
        self.fields(&i.fields, MIN_ELEMENT_LEN);
        for s in &i.document_streams {
            self.fields(&s.fields, MIN_ELEMENT_LEN);
        }
        for c in &i.items {
            self.item(c);
        }
    }

    fn fields(&mut self, fields: &std::collections::BTreeMap<String, String>, min: usize) {
        for name in SYNC_FIELDS {
            self.push(name, fields.get(*name).map(String::as_str), min);
        }
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

impl Remap {
    /// Learns from one exchange: `old` the recorded values, `new` the replayed ones.
    pub fn learn(&mut self, old: &Minted, new: &Minted) {
        let mut by_kind: HashMap<&str, Vec<&str>> = HashMap::new();
        for (k, v) in &new.strings {
            by_kind.entry(k.as_str()).or_default().push(v.as_str());
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (k, v) in &old.strings {
            let i = seen.entry(k.as_str()).or_default();
            match by_kind.get(k.as_str()).and_then(|l| l.get(*i)) {
                Some(n) if *n != v => {
                    self.stale.remove(v);
                    self.strings.insert(v.clone(), (*n).to_owned());
                    self.targets.insert((*n).to_owned());
                }
                Some(_) => {
                    self.stale.remove(v);
                }
                None => {
                    if !self.strings.contains_key(v) {
                        self.stale.insert(v.clone());
                    }
                }
            }
            *i += 1;
        }
        for (i, g) in old.guids.iter().enumerate() {
            match new.guids.get(i) {
                Some(n) if n != g => {
                    self.stale_guids.remove(g);
                    self.guids.insert(*g, *n);
                }
                Some(_) => {
                    self.stale_guids.remove(g);
                }
                None => {
                    if !self.guids.contains_key(g) {
                        self.stale_guids.insert(*g);
                    }
                }
            }
        }
    }

    /// Pairs `old` (one recording's value) with `new` (the other's) first-seen to
    /// first-seen and says whether they correspond: a value seen before must meet the
    /// counterpart it was paired (or learned) with, and a new value must not be the
    /// counterpart of another already.
    pub fn pair(&mut self, old: &str, new: &str) -> bool {
        if let Some(n) = self.strings.get(old) {
            return n == new;
        }
        if !self.targets.insert(new.to_owned()) {
            return false;
        }
        self.strings.insert(old.to_owned(), new.to_owned());
        true
    }

    /// How many values are remapped (strings and storage ids).
    pub fn len(&self) -> usize {
        self.strings.len() + self.guids.len()
    }

    /// Whether nothing is remapped.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Substitutes learned values into a request's URL, header values and body, and
    /// returns notes naming stale values it still carries. FSSHTTPB storage ids inside
    /// Cell payloads are replaced in the recorded request's decoded form (`recorded`:
    /// the SOAP envelope and its Cell payloads, as decoded once when the exchange was
    /// read), which is then encoded again (MTOM kept when the original used it; the
    /// Content-Type header follows); the string substitutions run over those bytes.
    pub fn apply(
        &self,
        url: &mut String,
        headers: &mut [(String, String)],
        body: &mut Vec<u8>,
        recorded: &DecodedExchange,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        if !self.guids.is_empty() || !self.stale_guids.is_empty() {
            if let Some(f) = recorded.fsshttp() {
                // A request sent with a Content-Encoding is sent as recorded: its decoded
                // form is of the decoded bytes.
                let encoded = recorded
                    .content_encoding
                    .iter()
                    .any(|e| e.side == crate::decode::exchange::Side::Request);
                if !encoded {
                    notes.extend(self.apply_guids(f, headers, body));
                }
            }
        }
        if !self.strings.is_empty() {
            let mut pairs: Vec<(&String, &String)> = self.strings.iter().collect();
            pairs.sort_by_key(|(k, _)| std::cmp::Reverse(k.len()));
            for (old, new) in pairs {
                replace_str(url, old, new);
                let enc_old = encode_query(old);
                if enc_old != *old {
                    replace_str(url, &enc_old, &encode_query(new));
                }
                for (_, v) in headers.iter_mut() {
                    replace_str(v, old, new);
                }
                if !body.is_empty() {
                    replace_bytes(body, old.as_bytes(), new.as_bytes());
                    let (eo, en) = (escape(old), escape(new));
                    if eo != *old {
                        replace_bytes(body, eo.as_bytes(), en.as_bytes());
                    }
                }
            }
        }
        for s in &self.stale {
            let hit = url.contains(s.as_str())
                || headers.iter().any(|(_, v)| v.contains(s.as_str()))
                || memchr::memmem::find(body, s.as_bytes()).is_some();
            if hit {
                notes.push(format!(
                    "sent the recorded value {s} unchanged: the new server's answer had no counterpart"
                ));
            }
        }
        notes
    }

    fn apply_guids(
        &self,
        recorded: &FsshttpExchange,
        headers: &mut [(String, String)],
        body: &mut Vec<u8>,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        let Some(env) = recorded
            .request
            .as_ref()
            .filter(|e| e.diagnostics.is_empty())
        else {
            return notes;
        };
        // Edited copies of the Cell requests naming a remapped storage index, by token.
        let mut edited: HashMap<u64, Vec<u8>> = HashMap::new();
        for c in &recorded.cells {
            let (Some(token), Some(req)) = (c.sub_request_token, &c.request) else {
                continue;
            };
            if !req.diagnostics.is_empty() {
                continue;
            }
            let mut touched = false;
            let mut fb = None;
            for (i, sr) in req.sub_requests.iter().enumerate() {
                let b::SubRequestData::PutChanges(pc) = &sr.data else {
                    continue;
                };
                for (k, id) in [pc.expected_storage_index_id, pc.storage_index_id]
                    .into_iter()
                    .enumerate()
                {
                    if let Some(n) = self.guids.get(&id) {
                        let fb = fb.get_or_insert_with(|| req.clone());
                        if let b::SubRequestData::PutChanges(pc) = &mut fb.sub_requests[i].data {
                            *[&mut pc.expected_storage_index_id, &mut pc.storage_index_id][k] = *n;
                        }
                        touched = true;
                    } else if self.stale_guids.contains(&id) {
                        notes.push(format!(
                            "sent the recorded storage index {id:?} unchanged: the new server's answer had no counterpart"
                        ));
                    }
                }
            }
            if let (true, Some(fb)) = (touched, fb) {
                edited.insert(token, b::encode_request(&fb));
            }
        }
        if edited.is_empty() {
            return notes;
        }
        let mut env = env.clone();
        let mut changed = false;
        let mut inline = false;
        for r in env
            .request_collection
            .iter_mut()
            .flat_map(|c| c.requests.iter_mut())
        {
            for s in &mut r.sub_requests {
                let Some(bytes) = s.sub_request_token.and_then(|t| edited.remove(&t)) else {
                    continue;
                };
                let Some(d) = s.sub_request_data.as_mut() else {
                    continue;
                };
                let Some(p) = d.payload.as_mut() else {
                    continue;
                };
                d.binary_data_size = Some(bytes.len() as i64);
                inline |= matches!(p.origin, PayloadOrigin::Inline);
                p.bytes = bytes.into();
                changed = true;
            }
        }
        if changed {
            let (ct, bytes) = fsshttp::encode_request(
                &env,
                EncodeOptions {
                    mtom: env.mtom.is_some(),
                    cell_inline: inline,
                },
            );
            *body = bytes;
            for (n, v) in headers.iter_mut() {
                if n.eq_ignore_ascii_case("content-type") {
                    v.clone_from(&ct);
                }
            }
        }
        notes
    }
}

fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn replace_str(s: &mut String, old: &str, new: &str) {
    if s.contains(old) {
        *s = s.replace(old, new);
    }
}

/// Replaces every occurrence of `old` in `body` by `new`.
pub fn replace_bytes(body: &mut Vec<u8>, old: &[u8], new: &[u8]) {
    if old.is_empty() || memchr::memmem::find(body, old).is_none() {
        return;
    }
    let finder = memchr::memmem::Finder::new(old);
    let mut out = Vec::with_capacity(body.len());
    let mut last = 0;
    for i in finder.find_iter(body) {
        out.extend_from_slice(&body[last..i]);
        out.extend_from_slice(new);
        last = i + old.len();
    }
    out.extend_from_slice(&body[last..]);
    *body = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_pairs_in_order_and_substitutes() {
        let old = Minted {
            strings: vec![
                ("collblob".into(), "blob-old-1".into()),
                ("etag".into(), "\"{AAAAAA},1\"".into()),
            ],
            guids: vec![],
        };
        let new = Minted {
            strings: vec![("collblob".into(), "blob-new-1".into())],
            guids: vec![],
        };
        let mut r = Remap::default();
        r.learn(&old, &new);
        assert_eq!(r.len(), 1);
        let mut url = "https://h/x?c=blob-old-1".to_owned();
        let mut headers = vec![("If-Match".to_owned(), "\"{AAAAAA},1\"".to_owned())];
        let mut body = b"<collblob>blob-old-1</collblob>".to_vec();
        let plain = DecodedExchange::plain_http();
        let notes = r.apply(&mut url, &mut headers, &mut body, &plain);
        assert_eq!(url, "https://h/x?c=blob-new-1");
        assert_eq!(body, b"<collblob>blob-new-1</collblob>");
        assert_eq!(notes.len(), 1, "{notes:?}");
    }

    #[test]
    fn pairs_first_seen_to_first_seen() {
        let mut r = Remap::default();
        assert!(r.pair("etag-a1", "etag-b1"));
        assert!(r.pair("etag-a1", "etag-b1"));
        assert!(!r.pair("etag-a1", "etag-b2"), "a1 already meets b1");
        assert!(!r.pair("etag-a2", "etag-b1"), "b1 is a1's counterpart");
        assert!(r.pair("etag-a2", "etag-b2"));
    }

    #[test]
    fn replace_bytes_handles_repeats() {
        let mut b = b"abcXabcYabc".to_vec();
        replace_bytes(&mut b, b"abc", b"Z");
        assert_eq!(b, b"ZXZYZ");
    }
}
