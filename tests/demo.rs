//! `synctap demo --no-ui --capture FILE` as a process: the story's exchanges are all in
//! the capture, decode without diagnostics, and carry the expected ErrorCodes in order.

use std::process::Stdio;
use std::time::{Duration, Instant};

use synctap::decode::exchange::{decode_exchange, Meta, Protocol};

use crate::util::{read_capture, TestResult};

/// The ErrorCodes of each FSSHTTP exchange of the story, in order.
const STORY: &[&[&str]] = &[
    &["Success", "Success"],                     // A joins (Alone) + download
    &["Success", "Success"],                     // B joins (Coauthoring) + download
    &["Success"],                                // A refreshes
    &["Success"],                                // A marks the transition complete
    &["Success"],                                // B refreshes
    &["Success"],                                // B uploads
    &["CellRequestFail"],                        // A: CoherencyFailure
    &["Success"],                                // A downloads
    &["Success"],                                // A retries
    &["NumberOfCoauthorsReachedMax", "Success"], // C refused, reads
    &["MultipleClientsInCoauthSession"],         // A converts while B is present
    &["Success"],                                // B exits
    &["Success"],                                // A converts, alone, 1 s
    &["Success"],                                // C: lock status
    &["Success"],                                // C: lock status after expiry
    &["Success", "Success"],                     // C joins, alone
    &["Success"],                                // C exits
    &["Success", "Success"],                     // D: exclusive lock + download
    &["FileAlreadyLockedOnServer", "Success"],   // E refused, reads
    &["Success"],                                // D releases
    &["Success"],                                // F downloads Notes.txt
    &["Success"],                                // F saves it
    &["Success"],                                // G downloads Budget.xlsx
    &["Success"],                                // G saves it
    &["FileAlreadyLockedOnServer"],              // E: WebDAV lock holds the file
];

#[test]
fn demo_records_the_whole_story() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = dir.path().join("demo.jsonl");
    let t0 = Instant::now();
    let out = crate::util::demo_command(&dir.path().join("certs"), &capture)
        .stderr(Stdio::inherit())
        .output()?;
    let took = t0.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "demo failed:\n{stdout}");
    assert!(took < Duration::from_secs(30), "demo took {took:?}");
    assert!(stdout.contains("CoherencyFailure"), "{stdout}");

    let xs = read_capture(&capture);
    let mut codes: Vec<Vec<String>> = Vec::new();
    let mut lock_types = Vec::new();
    let mut sync = Vec::new();
    let mut dav = Vec::new();
    for x in &xs {
        let Some(req) = &x.request else { continue };
        let resp = x.response.as_ref().ok_or("no response")?;
        let rh = req.headers.pairs();
        let sh = resp.headers.pairs();
        let meta = Meta {
            method: &req.method,
            url: &req.url,
            request_headers: &rh,
            status: Some(resp.status),
            response_headers: &sh,
        };
        let d = decode_exchange(&meta, &req.body.bytes, &resp.body.bytes);
        assert!(d.diagnostics.is_empty(), "{}: {:?}", req.url, d.diagnostics);
        if d.protocol() == Protocol::SpFileSync {
            let x = d.spfilesync().ok_or("no SPFileSync model")?;
            let kind = x.operation.as_ref().map(|o| o.kind).ok_or("no operation")?;
            let r = x.response.as_ref().ok_or("no SPFileSync response")?;
            sync.push((kind, r.has_more_data(), r.body.clone()));
            continue;
        }
        if d.protocol() == Protocol::WebDav {
            dav.push((req.method.clone(), resp.status));
            continue;
        }
        assert_eq!(d.protocol(), Protocol::Fsshttp, "{}", req.url);
        let f = d.fsshttp().ok_or("no FSSHTTP model")?;
        let env = f.response.as_ref().ok_or("no response envelope")?;
        codes.push(
            env.sub_responses()
                .map(|(_, s)| {
                    s.error_code
                        .as_ref()
                        .map_or("-".to_owned(), ToString::to_string)
                })
                .collect(),
        );
        lock_types.push(
            env.sub_responses()
                .find_map(|(_, s)| s.sub_response_data.as_ref()?.lock_type.clone()),
        );
    }
    let expected: Vec<Vec<String>> = STORY
        .iter()
        .map(|s| s.iter().map(|c| (*c).to_owned()).collect())
        .collect();
    assert_eq!(codes, expected);
    // C's two lock-status calls: the exclusive lock, then nothing after it expired.
    use synctap::decode::fsshttp::LockType;
    assert_eq!(lock_types[13], Some(LockType::ExclusiveLock));
    assert_eq!(lock_types[14], Some(LockType::None));

    // SPFileSync: discovery, policy, two pages of initial sync, an empty incremental
    // sync, then (after F's save) one changed item and its download.
    use synctap::decode::spfilesync::{OperationKind as K, SyncBody};
    let kinds: Vec<K> = sync.iter().map(|s| s.0).collect();
    assert_eq!(
        kinds,
        [
            K::DefaultDocumentLibraryId,
            K::Policy,
            K::RootFolderChanges,
            K::RootFolderChanges,
            K::RootFolderChanges,
            K::RootFolderChanges,
            K::Download
        ]
    );
    let items = |i: usize| match &sync[i].2 {
        Some(SyncBody::Folder(f)) => f.items.len(),
        _ => usize::MAX,
    };
    assert_eq!((items(2), sync[2].1), (2, Some(true)));
    assert_eq!((items(3), sync[3].1), (2, Some(false)));
    assert_eq!(items(4), 0);
    assert_eq!(items(5), 1);

    // WebDAV: initial manifest and GETs, a conditional PUT, then one GET only (the PUT's
    // own change is skipped by resourcetag), LOCK, a refused PUT, UNLOCK.
    let dav: Vec<String> = dav.iter().map(|(m, s)| format!("{m} {s}")).collect();
    assert_eq!(
        dav,
        [
            "SEARCH 207",
            "GET 200",
            "GET 200",
            "GET 200",
            "GET 200",
            "PUT 204",
            "SEARCH 207",
            "GET 200",
            "LOCK 200",
            "PUT 423",
            "UNLOCK 204"
        ]
    );
    assert!(
        stdout.contains("resourcetag unchanged → skipped"),
        "{stdout}"
    );
    Ok(())
}

/// Attribute names our FSSHTTP responses use that the interop test suite's schemas do not
/// declare: printed as warnings, not failures (the schemas lag the specification).
#[test]
fn response_attributes_against_the_interop_schemas() -> TestResult {
    let dir = std::path::Path::new("/work/shared/testdata/external/interop-testsuites/Proxy");
    let Ok(entries) = std::fs::read_dir(dir) else {
        eprintln!("warning: {} not found; schema check skipped", dir.display());
        return Ok(());
    };
    let mut declared = std::collections::BTreeSet::new();
    for e in entries.flatten() {
        let text = std::fs::read_to_string(e.path()).unwrap_or_default();
        for part in text.split("attribute name=\"").skip(1) {
            if let Some(name) = part.split('"').next() {
                declared.insert(name.to_owned());
            }
        }
    }
    let tmp = tempfile::tempdir()?;
    let capture = tmp.path().join("demo.jsonl");
    let status = crate::util::demo_command(&tmp.path().join("certs"), &capture)
        .stdout(Stdio::null())
        .status()?;
    assert!(status.success());
    let mut used = std::collections::BTreeSet::new();
    for x in read_capture(&capture) {
        let Some(resp) = &x.response else { continue };
        if !x
            .request
            .as_ref()
            .is_some_and(|r| r.url.contains("cellstorage.svc"))
        {
            continue;
        }
        let text = String::from_utf8_lossy(&resp.body.bytes);
        // Only the SOAP envelope (the root MIME part), not binary XOP parts.
        let (Some(start), Some(end)) = (text.find("Envelope"), text.find("Envelope>")) else {
            continue;
        };
        let end = text[start..]
            .find("</s:Envelope>")
            .map_or(end, |i| start + i);
        for tag in text[start..end].split('<').skip(1) {
            let head = tag.split('>').next().unwrap_or("");
            if head.starts_with(['/', '?', '!']) {
                continue;
            }
            for attr in head.split_whitespace().skip(1) {
                if let Some((name, _)) = attr.split_once('=') {
                    if !name.contains(':') && name != "xmlns" {
                        used.insert(name.to_owned());
                    }
                }
            }
        }
    }
    assert!(used.contains("ErrorCode"), "{used:?}");
    let undeclared: Vec<&String> = used.difference(&declared).collect();
    for a in &undeclared {
        eprintln!("warning: response attribute {a} is not declared in the interop schemas");
    }
    Ok(())
}
