//! Tests of the SPFileSync decoder over the observed samples in `testdata/spfilesync`.

use std::error::Error;

use proptest::prelude::*;

use serde::Serialize;

use super::*;
use crate::decode::testdata;

type TestResult = Result<(), Box<dyn Error>>;

fn fixture(name: &str) -> Result<Vec<u8>, Box<dyn Error>> {
    testdata::fixture("spfilesync", name)
}

fn snap<T: Serialize>(name: &str, value: &T) {
    testdata::snap("spfilesync", name, value);
}

const SITE: &str = "https://contoso.sharepoint.com/sites/team";
const LIST: &str = "5d2445a6-f48d-4c1e-9b0a-1c2d3e4f5a6b";
const TOKEN_URL: &str = "4%3B%234%3B%231%3B3%3B5d2445a6f48d4c1e9b0a1c2d3e4f5a6b%3B638981500204270000%3B1417%3B%23%3B%23%3B%230%3B%23";
const TOKEN: &str = "4;#4;#1;3;5d2445a6f48d4c1e9b0a1c2d3e4f5a6b;638981500204270000;1417;#;#;#0;#";

fn kind(method: &str, url: &str) -> Option<OperationKind> {
    recognise(method, url).map(|o| o.kind)
}

#[test]
fn recognises_urls() {
    let base = format!("{SITE}/_api/SPFileSync/sync/{LIST}");
    let nodash = format!("{SITE}/_API/spfilesync/SYNC/5D2445A6F48D4C1E9B0A1C2D3E4F5A6B");
    assert_eq!(
        kind("GET", &format!("{base}/policy/")),
        Some(OperationKind::Policy)
    );
    assert_eq!(
        kind("GET", &format!("{nodash}/RootFolder?Filter=changes&InlineBlobs=false&MaxItemCount=500&View=SkyDriveSync")),
        Some(OperationKind::RootFolderChanges)
    );
    assert_eq!(
        kind("POST", &format!("{nodash}/RootFolder?View=SkyDriveSync")),
        Some(OperationKind::Upload)
    );
    assert_eq!(
        kind("GET", &format!("{base}/RootFolder")),
        Some(OperationKind::RootFolder)
    );
    assert_eq!(
        kind("GET", &format!("{base}/RootFolder/Items?View=SkyDriveSync&Depth=1&FoldersOnly=true&web3s.paging=200")),
        Some(OperationKind::Items)
    );
    assert_eq!(
        kind("POST", &format!("{base}/Subscription")),
        Some(OperationKind::Subscription)
    );
    assert_eq!(
        kind("GET", &format!("{base}/RootFolder?web3s.expand=QuotaState")),
        Some(OperationKind::QuotaState)
    );
    assert_eq!(
        kind(
            "GET",
            &format!("{SITE}/_api/SPFileSync.svc/sync/{LIST}/policy")
        ),
        Some(OperationKind::Policy)
    );
    assert_eq!(
        kind(
            "GET",
            &format!("{SITE}/_api/sp.userprofiles.peoplemanager/getmyproperties")
        ),
        Some(OperationKind::GetMyProperties)
    );
    assert_eq!(
        kind("GET", &format!("{SITE}/_api/web/DefaultDocumentLibrary/ID")),
        Some(OperationKind::DefaultDocumentLibraryId)
    );
    assert_eq!(
        kind("GET", &format!("{SITE}/_api/Site/Id")),
        Some(OperationKind::SiteId)
    );
    assert_eq!(
        kind(
            "POST",
            "https://contoso.sharepoint.com/_api/SP.OAuth.NativeClient/Authenticate"
        ),
        Some(OperationKind::Authenticate)
    );
    assert_eq!(
        kind("GET", &format!("{SITE}/_layouts/15/download.aspx?UniqueId={{b7e4d2c1-a0f9-4e8d-8c7b-6a5948372615}}&UserAgent=SkySync")),
        Some(OperationKind::Download)
    );
    assert_eq!(
        kind("GET", &format!("{SITE}/_layouts/15/download.aspx")),
        None
    );
    assert_eq!(
        kind(
            "POST",
            &format!("{SITE}/_vti_bin/cellstorage.svc/CellStorageService")
        ),
        None
    );
    assert_eq!(
        kind("GET", &format!("{base}/Whatever")),
        Some(OperationKind::Other)
    );

    let a = recognise("GET", &format!("{base}/policy")).map(|o| o.list_guid);
    let b = recognise("GET", &format!("{nodash}/policy")).map(|o| o.list_guid);
    assert_eq!(a, b);
    assert_eq!(
        a.flatten().as_deref(),
        Some("5d2445a6f48d4c1e9b0a1c2d3e4f5a6b")
    );
    let bad = recognise(
        "GET",
        &format!("{SITE}/_api/SPFileSync/sync/not-a-guid/policy"),
    );
    assert_eq!(
        bad.map(|o| (o.kind, o.list_guid)),
        Some((OperationKind::Policy, None))
    );
}

fn changes_exchange(token: Option<&str>, more: &str) -> Result<SpFileSyncExchange, Box<dyn Error>> {
    let mut url = format!(
        "{SITE}/_api/SPFileSync/sync/5d2445a6f48d4c1e9b0a1c2d3e4f5a6b/RootFolder?Filter=changes&InlineBlobs=false&MaxItemCount=500&View=SkyDriveSync"
    );
    if let Some(t) = token {
        url.push_str(&format!("&SyncToken={t}"));
    }
    Ok(decode(&Meta::request("GET", &url, &[
            ("Accept", "application/web3s+xml"),
            ("Application", "SkyDriveSync"),
            ("Scenario", "CheckForChanges_FindChangesOther_ODB_FindChangesScenario"),
            ("X-TransactionId", "3f6b0c1e-7a2d-4b9e-8c5f-1d2e3f4a5b6cFindChangesOther"),
            ("X-ResponseStructure", "Flat"),
            ("Cookie", "SPOIDCRL=secret"),
        ]).with_response(Some(200), &[
            ("Content-Type", "Application/Web3s+xml"),
            ("X-SyncToken", "4;%234;%231;3;5d2445a6f48d4c1e9b0a1c2d3e4f5a6b;638981500204270000;1422;%23;%23;%230;%23"),
            ("X-HasMoreData", more),
            ("X-SyncStatus", "IncrementalChanges"),
            ("X-QuotaState", "Normal"),
            ("MicrosoftSharePointTeamServices", "16.0.0.26622"),
        ]), b"", &fixture("rootfolder_changes.xml")?))
}

#[test]
fn rootfolder_changes() -> TestResult {
    let x = changes_exchange(Some(TOKEN_URL), "True")?;
    let op = x.operation.as_ref().ok_or("not recognised")?;
    assert_eq!(op.kind, OperationKind::RootFolderChanges);
    assert_eq!(x.request_sync_token(), Some(TOKEN));
    assert_eq!(op.param("MaxItemCount"), Some("500"));
    assert!(!x.request.headers.contains_key("Cookie"));
    let resp = x.response.as_ref().ok_or("no response")?;
    assert_eq!(resp.has_more_data(), Some(true));
    assert_eq!(resp.header("x-syncstatus"), Some("IncrementalChanges"));
    assert!(resp.diagnostics.is_empty(), "{:?}", resp.diagnostics);
    let Some(SyncBody::Folder(root)) = &resp.body else {
        return Err("not a Folder".into());
    };
    assert_eq!(root.get("RelationshipName"), Some("RootFolder"));
    assert_eq!(root.get("SpaceGranted"), Some("1099511627776"));
    assert_eq!(
        root.unknown,
        [UnknownElement {
            name: "FutureElement".into(),
            text: "kept".into()
        }]
    );
    let items = x.response_items();
    assert_eq!(items.len(), 4);
    let budget = items[1];
    assert_eq!(
        budget.get("ETag"),
        Some("\"{B7E4D2C1-A0F9-4E8D-8C7B-6A5948372615},3\"")
    );
    assert_eq!(
        budget.document_streams[0]
            .fields
            .get("DataSize")
            .map(String::as_str),
        Some("18342")
    );
    assert!(
        budget.document_streams[0].fields["PreAuthURL"].ends_with("6a5948372615&UserAgent=SkySync")
    );
    assert_eq!(
        budget
            .fsshttpstate
            .as_ref()
            .and_then(|s| s.get("VersionToken"))
            .map(String::as_str),
        Some("AAECAwQFBgcICQ==")
    );
    assert_eq!(budget.unknown[0].name, "ModifierIdentity");
    assert_eq!(items.iter().filter(|i| i.is_deleted()).count(), 1);
    assert!(items[3].is_deleted());
    assert_eq!(
        summarize(&x),
        "SPFileSync RootFolder changes (SyncToken change 1417, MaxItemCount 500) → 4 items (1 deleted), next change 1422, more data"
    );
    snap("rootfolder_changes", &x);

    let full = changes_exchange(None, "False")?;
    assert_eq!(
        summarize(&full),
        "SPFileSync RootFolder changes (full, no SyncToken, MaxItemCount 500) → 4 items (1 deleted), next change 1422, complete"
    );
    Ok(())
}

#[test]
fn sync_token_fields() {
    let f = parse_sync_token(TOKEN_URL);
    assert_eq!(
        f,
        Some(SyncTokenInfo {
            list_guid: Some("5d2445a6f48d4c1e9b0a1c2d3e4f5a6b".into()),
            ticks: Some(638_981_500_204_270_000),
            time: Some("2025-11-07T22:07:00.4270000Z".into()),
            change_number: Some(1417),
        })
    );
    assert_eq!(parse_sync_token(TOKEN), f);
    assert_eq!(parse_sync_token("opaque"), None);
    assert_eq!(
        dotnet_ticks_to_iso(0).as_deref(),
        Some("0001-01-01T00:00:00.0000000Z")
    );
    assert_eq!(
        dotnet_ticks_to_iso(621_355_968_000_000_000).as_deref(),
        Some("1970-01-01T00:00:00.0000000Z")
    );
    assert!(dotnet_ticks_to_iso(u64::MAX).is_some());
}

#[test]
fn quick_xor_hash_vectors() -> TestResult {
    use base64::Engine as _;
    // Published vectors (inputs and outputs in base64).
    let vectors = [
        ("", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        ("Sg==", "SgAAAAAAAAAAAAAAAQAAAAAAAAA="),
        ("tbQ=", "taAFAAAAAAAAAAAAAgAAAAAAAAA="),
        ("0pZP", "0rDEEwAAAAAAAAAAAwAAAAAAAAA="),
        ("jRRDVA==", "jaDAEKgAAAAAAAAABAAAAAAAAAA="),
        ("eAV52qE=", "eChAHrQRCgAAAAAABQAAAAAAAAA="),
        ("luBZlaT6", "lgBHFipBCn0AAAAABgAAAAAAAAA="),
        ("qaApEj66lw==", "qQBFCiTgA11cAgAABwAAAAAAAAA="),
        ("/aNzzCFPS/A=", "/RjFHJgRgicsAR4ACAAAAAAAAAA="),
    ];
    for (input, want) in vectors {
        let data = base64::engine::general_purpose::STANDARD.decode(input)?;
        assert_eq!(quick_xor_hash(&data), want, "{input}");
    }
    // Longer than 160 bytes, so the state wraps (checked against an independent
    // word-based implementation).
    let long: Vec<u8> = (0..=255u8).cycle().take(768).collect();
    assert_eq!(quick_xor_hash(&long), "rxAOGe1RimTF/e+k/m0O5nnSZT8=");
    assert_eq!(
        quick_xor_hash(b"hello world"),
        "aCgDG9jwBhDc4Q1yawMZAAAAAAA="
    );
    Ok(())
}

#[test]
fn upload_content_checked_against_metadata() -> TestResult {
    let body = fixture("upload_bad_hash.multipart")?;
    let x = decode(
        &Meta::request(
            "POST",
            &format!("{SITE}/_api/SPFileSync/sync/{LIST}/RootFolder?View=SkyDriveSync"),
            &[("Content-Type", UPLOAD_CT)],
        ),
        &body,
        b"",
    );
    let at = body
        .windows(11)
        .position(|w| w == b"hello world")
        .ok_or("no content")?;
    assert_eq!(
        x.request.diagnostics,
        [
            Diagnostic::invalid_value(at, "DataSize 12 but the part holds 11 bytes"),
            Diagnostic::invalid_value(
                at,
                "XORHash AAAAAAAAAAAAAAAAAAAAAAAAAAA= does not match the content's QuickXorHash aCgDG9jwBhDc4Q1yawMZAAAAAAA="
            ),
        ]
    );
    Ok(())
}

#[test]
fn policy_rules() -> TestResult {
    let x = decode(
        &Meta::request(
            "GET",
            &format!("{SITE}/_api/SPFileSync/sync/{LIST}/policy/"),
            &[("Accept", "Application/xml")],
        )
        .with_response(Some(200), &[("Content-Type", "application/xml")]),
        b"",
        &fixture("policy.xml")?,
    );
    let Some(SyncBody::PolicyDocument(p)) = x.response.as_ref().and_then(|r| r.body.clone()) else {
        return Err("not a policy".into());
    };
    assert_eq!(p.rules.len(), 12);
    assert_eq!(p.rules[0].name, "DownloadUrlTemplate");
    assert_eq!(
        p.rules[0].value,
        "{WebUrl}/_layouts/15/download.aspx?UniqueId={UniqueId}&UserAgent=SkySync"
    );
    assert_eq!(
        p.rules[11].unknown.get("scope").map(String::as_str),
        Some("Tenant")
    );
    assert_eq!(p.unknown[0].name, "Comment");
    assert_eq!(summarize(&x), "SPFileSync policy → 12 rules");
    snap("policy", &x);
    let (again, _) = decode_xml(&encode_policy(&p));
    assert_eq!(again, Some(SyncBody::PolicyDocument(p)));
    Ok(())
}

const UPLOAD_CT: &str = r#"multipart/related; boundary="uuid:6b5c1e0e-2f4a-4e3b-9d1c-0a1b2c3d4e5f"; type="application/web3s+xml""#;

#[test]
fn upload_multipart() -> TestResult {
    let body = fixture("upload_request.multipart")?;
    let url = format!(
        "{SITE}/_api/SPFileSync/sync/5d2445a6f48d4c1e9b0a1c2d3e4f5a6b/RootFolder?View=SkyDriveSync"
    );
    let first = decode(
        &Meta::request(
            "POST",
            &url,
            &[
                ("Application", "OneDriveSync"),
                ("Scenario", "StorageInlineUploadsScenario"),
                ("Content-Type", UPLOAD_CT),
            ],
        )
        .with_response(
            Some(403),
            &[("X-RequestDigest", "0x1A2B3C,07 Nov 2025 22:10:00 -0000")],
        ),
        &body,
        b"",
    );
    assert_eq!(
        summarize(&first),
        "SPFileSync upload Create hello.txt (11 bytes) → 403 (X-RequestDigest issued)"
    );

    let x = decode(
        &Meta::request(
            "POST",
            &url,
            &[
                ("X-RequestDigest", "0x1A2B3C,07 Nov 2025 22:10:00 -0000"),
                ("Content-Type", UPLOAD_CT),
            ],
        )
        .with_response(Some(200), &[("Content-Type", "application/web3s+xml")]),
        &body,
        &fixture("upload_response.xml")?,
    );
    assert_eq!(
        x.request.header("X-RequestDigest"),
        Some("0x1A2B3C,07 Nov 2025 22:10:00 -0000")
    );
    assert!(
        x.request.diagnostics.is_empty(),
        "{:?}",
        x.request.diagnostics
    );
    let Some(SyncBody::Multipart(m)) = &x.request.body else {
        return Err("not multipart".into());
    };
    assert_eq!(m.boundary, "uuid:6b5c1e0e-2f4a-4e3b-9d1c-0a1b2c3d4e5f");
    assert_eq!(m.parts.len(), 2);
    assert_eq!(
        m.parts[0].headers.get("Content-ID").map(String::as_str),
        Some("<LiveFolders>")
    );
    let Some(SyncBody::Items(meta)) = m.parts[0].body.as_deref() else {
        return Err("metadata part not decoded".into());
    };
    assert_eq!(meta[0].get("WriteMode"), Some("Create"));
    assert_eq!(
        meta[0].document_streams[0]
            .fields
            .get("FragmentSessionId")
            .map(String::as_str),
        Some("2e9a7c41-5b3d-4f1e-8a6c-9d0b1c2e3f40")
    );
    let bin = &m.parts[1];
    assert_eq!(
        bin.headers.get("Content-ID").map(String::as_str),
        Some("<\"2e9a7c41-5b3d-4f1e-8a6c-9d0b1c2e3f40\":Default>")
    );
    assert_eq!(bin.length, 11);
    assert_eq!(
        body.get(bin.offset..bin.offset + bin.length),
        Some(&b"hello world"[..])
    );
    assert_eq!(
        summarize(&x),
        "SPFileSync upload Create hello.txt (11 bytes) → 1 item, Success"
    );
    snap("upload", &x);
    Ok(())
}

#[test]
fn download_items_subscription_quota() -> TestResult {
    let d = decode(&Meta::request("GET", &format!("{SITE}/_layouts/15/download.aspx?UniqueId=b7e4d2c1-a0f9-4e8d-8c7b-6a5948372615&UserAgent=SkySync"), &[]).with_response(Some(200), &[("Content-Type", "application/octet-stream")]), b"", b"<not xml, file content>");
    assert_eq!(
        summarize(&d),
        "SPFileSync download UniqueId b7e4d2c1-a0f9-4e8d-8c7b-6a5948372615 → 23 bytes"
    );
    let base = format!("{SITE}/_api/SPFileSync/sync/{LIST}");
    let items = decode(&Meta::request("GET", &format!("{base}/RootFolder/Items?View=SkyDriveSync&Depth=1&FoldersOnly=true&web3s.paging=200"), &[]).with_response(Some(200), &[]), b"", &fixture("items.xml")?);
    assert_eq!(
        summarize(&items),
        "SPFileSync Items (View SkyDriveSync, Depth 1, FoldersOnly true, web3s.paging 200) → 1 item"
    );
    assert_eq!(items.response_items()[0].get("TotalSubItemSize"), Some("0"));
    let sub = decode(
        &Meta::request("POST", &format!("{base}/Subscription"), &[]),
        b"",
        b"",
    );
    assert_eq!(summarize(&sub), "SPFileSync Subscription (no response)");
    let q = decode(
        &Meta::request(
            "GET",
            &format!("{base}/RootFolder?web3s.expand=QuotaState"),
            &[],
        )
        .with_response(Some(200), &[("X-QuotaState", "Warning")]),
        b"",
        &fixture("quota.xml")?,
    );
    let Some(SyncBody::Folder(f)) = q.response.as_ref().and_then(|r| r.body.clone()) else {
        return Err("not a Folder".into());
    };
    assert_eq!(f.get("QuotaState"), Some("Warning"));
    assert_eq!(f.get("SpaceUsed"), Some("1040000000000"));
    assert_eq!(summarize(&q), "SPFileSync QuotaState → 0 items");
    Ok(())
}

#[test]
fn discovery_calls() -> TestResult {
    let lib = decode(
        &Meta::request(
            "GET",
            &format!("{SITE}/_api/web/DefaultDocumentLibrary/ID"),
            &[],
        )
        .with_response(
            Some(200),
            &[("Content-Type", "application/json;odata=verbose")],
        ),
        b"",
        &fixture("default_library_id.json")?,
    );
    assert_eq!(
        summarize(&lib),
        "SPFileSync discovery DefaultDocumentLibrary/ID → 5d2445a6-f48d-4c1e-9b0a-1c2d3e4f5a6b"
    );
    let site = decode(
        &Meta::request("GET", &format!("{SITE}/_api/Site/Id"), &[])
            .with_response(Some(200), &[("Content-Type", "application/xml")]),
        b"",
        &fixture("site_id.xml")?,
    );
    assert_eq!(
        summarize(&site),
        "SPFileSync discovery Site/Id → 9a8b7c6d-5e4f-4a3b-2c1d-0e9f8a7b6c5d"
    );
    let me = decode(
        &Meta::request(
            "GET",
            &format!("{SITE}/_api/sp.userprofiles.peoplemanager/getmyproperties"),
            &[("X-UserScenario", "AUO,SignIn")],
        )
        .with_response(Some(200), &[("Content-Type", "application/json")]),
        b"",
        &fixture("getmyproperties.json")?,
    );
    let Some(SyncBody::Discovery(v)) = me.response.as_ref().and_then(|r| r.body.clone()) else {
        return Err("not discovery".into());
    };
    assert_eq!(
        v.get("DisplayName").map(String::as_str),
        Some("Adele Vance")
    );
    assert_eq!(me.request.header("X-UserScenario"), Some("AUO,SignIn"));
    snap("getmyproperties", &me);
    Ok(())
}

#[test]
fn malformed_bodies_have_offsets() -> TestResult {
    let body = fixture("malformed_folder.xml")?;
    let (b, d) = decode_xml(&body);
    assert_eq!(b, Some(SyncBody::Content { length: body.len() }));
    assert_eq!(d.len(), 1);
    let at = body
        .windows(11)
        .position(|w| w == b"</Document>")
        .ok_or("no end tag")?;
    assert_eq!(d[0].offset, at);

    let (b, d) = decode_xml(&fixture("bad_values.xml")?);
    assert_eq!(
        d,
        [
            Diagnostic::invalid_value(43, "SpaceUsed is not a decimal number: \"lots\""),
            Diagnostic::unexpected(70, "duplicate SpaceUsed ignored"),
            Diagnostic::invalid_value(8, "ResourceID is not a GUID: \"not-a-guid\""),
        ]
    );
    let Some(SyncBody::Folder(f)) = b else {
        return Err("not a Folder".into());
    };
    assert_eq!(f.get("SpaceUsed"), Some("lots"));

    let json = fixture("malformed.json")?;
    let x = decode(
        &Meta::request("GET", &format!("{SITE}/_api/Site/Id"), &[])
            .with_response(Some(200), &[("Content-Type", "application/json")]),
        b"",
        &json,
    );
    let d = &x.response.as_ref().ok_or("no response")?.diagnostics;
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].offset, 16);
    assert!(
        d[0].message.starts_with("malformed json"),
        "{}",
        d[0].message
    );

    let body = fixture("upload_truncated.multipart")?;
    let x = decode(
        &Meta::request(
            "POST",
            &format!("{SITE}/_api/SPFileSync/sync/{LIST}/RootFolder"),
            &[("Content-Type", UPLOAD_CT)],
        ),
        &body,
        b"",
    );
    let second = body
        .windows(9)
        .rposition(|w| w == b"--uuid:6b")
        .ok_or("no second boundary")?;
    // The shared splitter (`mtom::split`) keeps the unterminated last part: its cut XML is
    // decoded as far as it goes, and both problems carry offsets into the body.
    let d = &x.request.diagnostics;
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(
        d[0],
        Diagnostic::truncated(
            body.len(),
            "truncated multipart body: closing boundary not found"
        )
    );
    assert_eq!(d[1].kind, crate::decode::DiagnosticKind::Malformed, "{d:?}");
    assert!(
        d[1].offset > second + 43 && d[1].offset <= body.len(),
        "{d:?}"
    );
    let Some(SyncBody::Multipart(m)) = &x.request.body else {
        return Err("not multipart".into());
    };
    let last = m.parts.last().ok_or("the unterminated part is lost")?;
    assert_eq!(last.offset + last.length, body.len());
    let (_, d) = decode_body(Some("multipart/related"), b"--x\r\n\r\n", None, false);
    assert_eq!(
        d,
        [Diagnostic::malformed(
            0,
            "multipart content type has no boundary"
        )]
    );
    Ok(())
}

/// Issue 14.2: about 9,150 nested `<Folder><Items>` levels overflowed the stack and
/// aborted the process (`proxy --ui` included). 100,000 levels now decode to the limit,
/// with one diagnostic at the offset of the first `Items` past it, and every consumer
/// (JSON, summary, encoder, drop) copes with what was kept.
#[test]
fn hundred_thousand_nested_folders() -> TestResult {
    let depth = 100_000;
    let mut body = String::with_capacity(depth * 40);
    body.push_str("<?xml version=\"1.0\"?>");
    for _ in 0..depth {
        body.push_str("<Folder><Items>");
    }
    for _ in 0..depth {
        body.push_str("</Items></Folder>");
    }
    let (decoded, d) = decode_xml(body.as_bytes());
    assert_eq!(d.len(), 1, "{d:?}");
    let first_cut =
        "<?xml version=\"1.0\"?>".len() + (MAX_ITEM_NESTING - 1) * 15 + "<Folder>".len();
    assert_eq!(d[0].offset, first_cut);
    assert!(
        d[0].message.contains("nested more than 256 levels"),
        "{}",
        d[0].message
    );
    let Some(SyncBody::Folder(root)) = decoded else {
        return Err("not a folder".into());
    };
    let mut levels = 0;
    let mut at = &root;
    while let Some(next) = at.items.first() {
        levels += 1;
        at = next;
    }
    assert_eq!(levels, MAX_ITEM_NESTING - 1);
    let json = serde_json::to_string(&root)?;
    assert!(json.len() < 64 * 1024, "{}", json.len());
    let encoded = encode_folder(&root);
    assert!(encoded.len() < body.len());
    let x = decode(&Meta::request("GET", "https://contoso.sharepoint.com/_api/SPFileSync/sync/3fa6e3a5f1f84d2e9d4fbd8f0ba6a1d2/RootFolder?Filter=changes", &[]).with_response(Some(200), &[("Content-Type", "application/web3s+xml")]), b"", body.as_bytes());
    assert!(!summarize(&x).is_empty());
    Ok(())
}

#[test]
fn folder_fixture_round_trips() -> TestResult {
    let (Some(SyncBody::Folder(f)), _) = decode_xml(&fixture("rootfolder_changes.xml")?) else {
        return Err("not a Folder".into());
    };
    // ModifierIdentity is structured: its text survives, its structure does not.
    let (again, d) = decode_xml(&encode_folder(&f));
    assert!(d.is_empty());
    assert_eq!(again, Some(SyncBody::Folder(f)));
    Ok(())
}

fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9:/._&<>\"'{},=+-]([A-Za-z0-9:/._&<>\"'{},=+ -]{0,16}[A-Za-z0-9:/._&<>\"'{},=+-])?"
}

fn fields(names: &'static [&'static str]) -> impl Strategy<Value = BTreeMap<String, String>> {
    proptest::collection::btree_map(
        proptest::sample::select(names).prop_map(str::to_owned),
        text(),
        0..6,
    )
}

fn unknowns() -> impl Strategy<Value = Vec<UnknownElement>> {
    proptest::collection::vec(
        ("X[A-Za-z]{1,8}", text()).prop_map(|(name, text)| UnknownElement { name, text }),
        0..2,
    )
}

fn leaf_item() -> impl Strategy<Value = Item> {
    let stream = (fields(STREAM_FIELDS), unknowns())
        .prop_map(|(fields, unknown)| DocumentStream { fields, unknown });
    (
        prop_oneof![Just("Folder"), Just("Document")],
        fields(ITEM_FIELDS),
        proptest::option::of(fields(&["Hash", "VersionToken"])),
        proptest::collection::vec(stream, 0..2),
        unknowns(),
    )
        .prop_map(
            |(element, fields, fsshttpstate, document_streams, unknown)| Item {
                element: element.to_owned(),
                fields,
                fsshttpstate,
                document_streams,
                items: Vec::new(),
                unknown,
            },
        )
}

fn folder() -> impl Strategy<Value = Item> {
    leaf_item().prop_recursive(2, 12, 4, |inner| {
        (leaf_item(), proptest::collection::vec(inner, 0..4)).prop_map(|(mut i, items)| {
            i.items = items;
            i
        })
    })
}

proptest! {
    #[test]
    fn folder_round_trip(mut f in folder()) {
        f.element = "Folder".into();
        let (body, _) = decode_xml(&encode_folder(&f));
        prop_assert_eq!(body, Some(SyncBody::Folder(f)));
    }

    #[test]
    fn items_round_trip(items in proptest::collection::vec(leaf_item(), 0..4)) {
        let (body, _) = decode_xml(&encode_items(&items));
        prop_assert_eq!(body, Some(SyncBody::Items(items)));
    }

    #[test]
    fn policy_round_trip(
        rules in proptest::collection::vec(
            (text(), text(), proptest::collection::btree_map("[a-z]{1,6}".prop_filter("reserved", |k| k != "name" && k != "value"), text(), 0..2))
                .prop_map(|(name, value, unknown)| Rule { name, value, unknown }),
            0..5),
        unknown in unknowns(),
    ) {
        let p = PolicyDocument { rules, unknown };
        let (body, d) = decode_xml(&encode_policy(&p));
        prop_assert!(d.is_empty());
        prop_assert_eq!(body, Some(SyncBody::PolicyDocument(p)));
    }

    #[test]
    fn never_panics(url in "[ -~]{0,80}", ct in "[ -~]{0,40}", body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let x = decode(&Meta::request("POST", &url, &[("Content-Type", &ct)]).with_response(Some(200), &[("Content-Type", &ct)]), &body, &body);
        let _ = summarize(&x);
    }
}
