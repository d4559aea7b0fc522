//! The generator of large captures the benchmarks share (`benches/timeline.rs`,
//! `benches/gencapture.rs`): N exchanges over 50 files, written in the capture format.
//!
//! Each file has a cycle of steps, one template exchange per step, cloned with a new id
//! and start time: two coauthoring clients joining, refreshing, downloading and
//! uploading Cell payloads (MS-FSSHTTPB QueryChanges and PutChanges) and leaving. With
//! [`Mix::Realistic`] the SOAP goes as MTOM with the Cell payloads in XOP parts (as Office
//! sends it), and each file also gets WebDAV (PROPFIND, LOCK, PUT, UNLOCK, RFC 4918) and
//! SPFileSync (change feed, upload) exchanges, from the fixtures in `testdata/`.
// Each bench includes this file with `#[path]` and uses what it needs.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use synctap::capture::format::CaptureHeader;
use synctap::capture::Record;
use synctap::decode::fsshttp::{
    CellPayload, CoauthRequestType, CoauthStatus, EncodeOptions, LockType, PayloadOrigin,
    SubRequest, SubResponse, SubResponseData,
};
use synctap::decode::fsshttpb::{
    self, build_put_changes_request, build_query_changes_response, FilePackageOptions,
};
use synctap::model::{
    Body, Exchange, ExchangeKind, Headers, ProxyMode, Request, Response, Timings,
};
use synctap::timeline::format_rfc3339;

// tests/stream.rs includes this file beside tests/util, which loads scenario.rs as well.
#[allow(clippy::duplicate_mod)]
#[path = "../../tests/util/scenario.rs"]
mod scenario;
use scenario::{
    cell_storage_post, cell_subrequest, coauth, put_changes_response, query_changes_request,
    request_envelope, response_envelope, success,
};

/// Files the exchanges are spread over.
pub const FILES: u64 = 50;

/// What the generated capture holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// MS-FSSHTTP SOAP only, Cell payloads inline (the timeline benchmark's capture).
    Fsshttp,
    /// MS-FSSHTTP SOAP/MTOM with Cell payloads in XOP parts, WebDAV and SPFileSync.
    Realistic,
}

/// One step of a file's cycle: the connection it goes on, the request and the response.
type Step = (u64, Request, Response);

/// Writes a capture of `n` exchanges to `path`.
pub fn generate(path: &Path, n: u64, mix: Mix) -> Result<(), Box<dyn std::error::Error>> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    serde_json::to_writer(&mut out, &Record::Header(CaptureHeader::now()))?;
    out.write_all(b"\n")?;
    // One template exchange per (file, step), cloned with a new id and time.
    let templates: Vec<Vec<Step>> = (0..FILES).map(|f| file_templates(f, mix)).collect();
    let base = 1_767_258_000_000i64; // 2026-01-01T09:00:00Z
    for i in 0..n {
        let file = (i % FILES) as usize;
        let round = i / FILES;
        let steps = &templates[file];
        let (conn, req, resp) = &steps[(round % steps.len() as u64) as usize];
        let x = Exchange {
            id: i + 1,
            kind: ExchangeKind::Http,
            connection_id: *conn,
            client_addr: format!("10.0.0.{}:5{conn:04}", conn % 250),
            mode: ProxyMode::Reverse,
            tls: None,
            server: "contoso.example:443".to_owned(),
            http_version: "HTTP/1.1".to_owned(),
            request: Some(req.clone()),
            response: Some(resp.clone()),
            tunnel: None,
            timings: Timings {
                start: format_rfc3339(base + i as i64 * 100),
                done_ms: Some(12.0),
                ..Timings::default()
            },
            error: None,
            imported: None,
            modified: None,
        };
        serde_json::to_writer(&mut out, &Record::Exchange(Box::new(x)))?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(())
}

fn file_templates(f: u64, mix: Mix) -> Vec<Step> {
    match mix {
        Mix::Fsshttp => fsshttp_templates(f, false),
        Mix::Realistic => {
            let mut steps = fsshttp_templates(f, true);
            steps.extend(webdav_templates(f));
            steps.extend(spfilesync_templates(f));
            steps
        }
    }
}

/// A fixture of `testdata/`, read at compile time.
macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/", $path)).as_slice()
    };
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Request {
    Request {
        method: method.to_owned(),
        url: url.to_owned(),
        headers: Headers::from(headers),
        body: Body::complete(body.to_vec()),
    }
}

fn response(status: u16, reason: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    Response {
        status,
        reason: reason.to_owned(),
        headers: Headers::from(headers),
        body: Body::complete(body.to_vec()),
    }
}

/// PROPFIND, LOCK, PUT and UNLOCK of one document over WebDAV (RFC 4918), by a third
/// client of the file's folder.
fn webdav_templates(f: u64) -> Vec<Step> {
    let conn = FILES * 2 + f + 1;
    let url = format!("https://contoso.example/dav/team/Book{f:03}.xlsx");
    let token = format!("opaquelocktoken:e71d4fae-5dec-22d6-fea5-{f:012x}");
    let lock_body = String::from_utf8_lossy(fixture!("webdav/lock_response.xml"))
        .replace(
            "opaquelocktoken:e71d4fae-5dec-22d6-fea5-00a0c91e6be4",
            &token,
        )
        .replace("http://dav.contoso.com/docs/Report.docx", &url);
    let xml = [("Content-Type", "application/xml; charset=utf-8")];
    let lock_header = format!("<{token}>");
    let if_header = format!("(<{token}>)");
    vec![
        (
            conn,
            request(
                "PROPFIND",
                &url,
                &[("Content-Type", "application/xml"), ("Depth", "0")],
                fixture!("webdav/propfind.xml"),
            ),
            response(
                207,
                "Multi-Status",
                &xml,
                fixture!("webdav/propfind_207.xml"),
            ),
        ),
        (
            conn,
            request(
                "LOCK",
                &url,
                &[
                    ("Content-Type", "application/xml"),
                    ("Depth", "0"),
                    ("Timeout", "Second-3600"),
                ],
                fixture!("webdav/lockinfo.xml"),
            ),
            response(
                200,
                "OK",
                &[
                    ("Content-Type", "application/xml; charset=utf-8"),
                    ("Lock-Token", &lock_header),
                ],
                lock_body.as_bytes(),
            ),
        ),
        (
            conn,
            request(
                "PUT",
                &url,
                &[
                    ("Content-Type", "application/octet-stream"),
                    ("If", &if_header),
                ],
                &[0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0x06, 0x00, 0x08, 0x00],
            ),
            response(204, "No Content", &[("ETag", "\"{1}\"")], b""),
        ),
        (
            conn,
            request("UNLOCK", &url, &[("Lock-Token", &lock_header)], b""),
            response(204, "No Content", &[], b""),
        ),
    ]
}

/// The SPFileSync change feed and an upload (OneDrive's sync client) of the file's
/// library.
fn spfilesync_templates(f: u64) -> Vec<Step> {
    let conn = FILES * 3 + f + 1;
    let list = format!("{{6B4C1E0E-2F4A-4E3B-9D1C-{f:012X}}}");
    let base = format!("https://contoso.example/sites/team/_api/SPFileSync/sync/{list}");
    let web3s = [("Content-Type", "application/web3s+xml")];
    vec![
        (
            conn,
            request(
                "GET",
                &format!("{base}/RootFolder?Filter=changes&InlineBlobs=false&SyncToken=1;3;{list};637000000000000000;100"),
                &[("Accept", "application/web3s+xml")],
                b"",
            ),
            response(200, "OK", &web3s, fixture!("spfilesync/rootfolder_changes.xml")),
        ),
        (
            conn,
            request(
                "POST",
                &format!("{base}/RootFolder/Items"),
                &[(
                    "Content-Type",
                    "multipart/related; boundary=\"uuid:6b5c1e0e-2f4a-4e3b-9d1c-0a1b2c3d4e5f\"",
                )],
                fixture!("spfilesync/upload_request.multipart"),
            ),
            response(200, "OK", &web3s, fixture!("spfilesync/upload_response.xml")),
        ),
    ]
}

fn fsshttp_templates(f: u64, mtom: bool) -> Vec<Step> {
    use CoauthRequestType::*;
    let url = format!("https://contoso.example/sites/team/Shared Documents/File{f:03}.docx");
    let (c1, c2) = (f * 2 + 1, f * 2 + 2);
    let status = |s: &str, lock: bool| {
        success(SubResponseData {
            lock_type: lock.then_some(LockType::SchemaLock),
            coauth_status: (!s.is_empty()).then(|| CoauthStatus::from(s)),
            transition_id: lock.then(|| "5c6e1f00-0000-4000-8000-000000000001".to_owned()),
            ..SubResponseData::default()
        })
    };
    let opts = FilePackageOptions::default();
    let put = fsshttpb::encode_request(&build_put_changes_request(b"hello, world", &opts));
    let query = fsshttpb::encode_request(&query_changes_request());
    let put_ok = fsshttpb::encode_response(&put_changes_response());
    let query_ok = fsshttpb::encode_response(&build_query_changes_response(b"hello", &opts, 1));
    let cell = |payload: &[u8]| cell_subrequest(bytes::Bytes::copy_from_slice(payload), None);
    let cell_ok = |payload: &[u8]| {
        success(SubResponseData {
            payload: Some(CellPayload {
                bytes: bytes::Bytes::copy_from_slice(payload),
                origin: PayloadOrigin::Inline,
            }),
            ..SubResponseData::default()
        })
    };
    // A Coauth step: connection, request type, client, the CoauthStatus answered. Joins
    // and refreshes ask for an hour and hold the lock.
    let co = |conn, t: CoauthRequestType, client: &str, s: &str| {
        let lock = matches!(t, JoinCoauthoring | RefreshCoauthoring);
        (
            conn,
            coauth(t, client, lock.then_some(3600)),
            status(s, lock),
        )
    };
    let steps: Vec<(u64, SubRequest, SubResponse)> = vec![
        co(c1, JoinCoauthoring, "client-1", "Alone"),
        co(c2, JoinCoauthoring, "client-2", "Coauthoring"),
        (c1, cell(&query), cell_ok(&query_ok)),
        (c1, cell(&put), cell_ok(&put_ok)),
        co(c2, RefreshCoauthoring, "client-2", "Coauthoring"),
        co(c1, RefreshCoauthoring, "client-1", "Coauthoring"),
        (c2, cell(&put), cell_ok(&put_ok)),
        co(c2, ExitCoauthoring, "client-2", ""),
        co(c1, GetCoauthoringStatus, "client-1", "Alone"),
        co(c1, ExitCoauthoring, "client-1", ""),
    ];
    steps
        .into_iter()
        .map(|(conn, mut q, mut r)| {
            q.sub_request_token = Some(1);
            r.sub_request_token = Some(1);
            let req = request_envelope(
                &url,
                "{c0ffee00-0000-4000-8000-000000000001}".to_owned(),
                vec![q],
            );
            let resp = response_envelope(&url, vec![r]);
            let opts = EncodeOptions {
                mtom,
                cell_inline: !mtom,
            };
            let (req, resp) = cell_storage_post(&req, &resp, opts);
            (conn, req, resp)
        })
        .collect()
}
