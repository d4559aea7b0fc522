//! Fuzz the SPFileSync and WebDAV decoders, their summaries, encoders, the classifier
//! and the cross-exchange findings: none of them may panic.
//!
//! Input layout: `method \n url \n headers \n content-type \n req-body 0xFF resp-body`,
//! where `headers` is `Name:value|Name:value...`. Missing pieces are empty.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::decode::exchange::{classify, decode_exchange, Meta, ProtocolModel};
use synctap::decode::{spfilesync, webdav};
use synctap::timeline::cross_exchange_findings;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.splitn(5, |b| *b == b'\n');
    let method = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let url = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let header_line = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let content_type = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let rest = lines.next().unwrap_or_default();
    let (req_body, resp_body) = match rest.iter().position(|b| *b == 0xFF) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let headers: Vec<(&str, &str)> = header_line
        .split('|')
        .filter_map(|h| h.split_once(':'))
        .collect();
    let status = Some(200 + (data.len() % 300) as u16);
    let mut headers = headers;
    if !content_type.is_empty() {
        headers.push(("Content-Type", content_type.as_str()));
    }
    let meta = Meta::request(&method, &url, &headers).with_response(status, &headers);

    let _ = spfilesync::recognise(&method, &url);
    let s = spfilesync::decode(&meta, req_body, resp_body);
    let _ = spfilesync::summarize(&s);
    let _ = webdav::recognise(&method, &headers, req_body);
    let w = webdav::decode(&meta, req_body, resp_body);
    let _ = webdav::summarize(&w);
    let _ = serde_json::to_string(&w);
    let _ = serde_json::to_string(&s);

    // Encoders must accept whatever the decoders produced.
    if let (Some(spfilesync::SyncBody::Folder(f)), _) = spfilesync::decode_xml(resp_body) {
        let _ = spfilesync::decode_xml(&spfilesync::encode_folder(&f));
    }
    match webdav::decode_body(req_body) {
        (Some(webdav::DavBody::MultiStatus(m)), _) => {
            let _ = webdav::decode_body(&webdav::encode_multistatus(&m));
        }
        (Some(webdav::DavBody::Prop(p)), _) => {
            let _ = webdav::decode_body(&webdav::encode_lockdiscovery(&p.lockdiscovery));
        }
        _ => {}
    }

    let a = ProtocolModel::SpFileSync(Box::new(s));
    let b = ProtocolModel::WebDav(Box::new(w));
    let _ = cross_exchange_findings([(1, &a), (2, &b), (3, &a), (4, &b)]);
    let _ = classify(&meta, req_body, resp_body);
    let _ = decode_exchange(&meta, req_body, resp_body);
});
