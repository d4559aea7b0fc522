//! Fuzz target: the SPFileSync decoder over web3s XML, multipart upload and JSON bodies,
//! its summary, JSON form and encoders, must never panic, whatever the body.
//!
//! The first byte picks the content type and the operation (URL); the rest is the body,
//! given as the response of a GET and the request of a POST.
#![no_main]

use libfuzzer_sys::fuzz_target;
use synctap::decode::exchange::Meta;
use synctap::decode::spfilesync;

const CONTENT_TYPES: &[Option<&str>] = &[
    None,
    Some("application/web3s+xml"),
    Some("application/xml"),
    Some("application/json;odata=verbose"),
    Some("application/json"),
    Some("multipart/related; boundary=b"),
    Some("multipart/form-data; boundary=b"),
    Some("text/plain"),
];

const URLS: &[&str] = &[
    "https://contoso.sharepoint.com/_api/SPFileSync/sync/3fa6e3a5f1f84d2e9d4fbd8f0ba6a1d2/RootFolder?Filter=changes",
    "https://contoso.sharepoint.com/_api/SPFileSync/sync/3fa6e3a5f1f84d2e9d4fbd8f0ba6a1d2/Folders/1/Items",
    "https://contoso.sharepoint.com/_api/SPFileSync/sync/3fa6e3a5f1f84d2e9d4fbd8f0ba6a1d2/Policy",
    "https://contoso.sharepoint.com/_api/SPFileSync/sync/3fa6e3a5f1f84d2e9d4fbd8f0ba6a1d2/upload",
    "https://contoso.sharepoint.com/_api/site/id",
    "https://contoso.sharepoint.com/_api/web/defaultdocumentlibrary/id",
    "https://contoso.sharepoint.com/_api/SP.UserProfiles.PeopleManager/GetMyProperties",
    "https://contoso.sharepoint.com/_api/SPFileSync/sync/x/Quota",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let ct = CONTENT_TYPES[usize::from(selector & 7)];
    let url = URLS[usize::from(selector >> 5)];
    let headers: Vec<(&str, &str)> = ct.map(|c| ("Content-Type", c)).into_iter().collect();
    for (method, req, resp) in [("GET", &b""[..], body), ("POST", body, &b""[..])] {
        let meta = Meta::request(method, url, &headers).with_response(Some(200), &headers);
        let x = spfilesync::decode(&meta, req, resp);
        let _ = spfilesync::summarize(&x);
        let _ = serde_json::to_string(&x);
        let _ = x.request_sync_token();
        let _ = x.response_items();
    }
    match spfilesync::decode_xml(body) {
        (Some(spfilesync::SyncBody::Folder(f)), _) => {
            let _ = f.descendants();
            let _ = spfilesync::decode_xml(&spfilesync::encode_folder(&f));
        }
        (Some(spfilesync::SyncBody::Items(items)), _) => {
            let _ = spfilesync::decode_xml(&spfilesync::encode_items(&items));
        }
        (Some(spfilesync::SyncBody::PolicyDocument(p)), _) => {
            let _ = spfilesync::decode_xml(&spfilesync::encode_policy(&p));
        }
        _ => {}
    }
});
