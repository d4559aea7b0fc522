//! The reference server driven directly (no proxy) by the scripted clients: the coauth
//! tracker, schema lock ids, exclusive locks, timeouts with a manual clock, coherency
//! failures, dependencies, and `synctap serve` as a process.

use std::sync::Arc;

use synctap::decode::fsshttp::{
    CoauthRequestType, CoauthStatus, DependencyType, ErrorCode, ExclusiveLockRequestType,
    ExclusiveLockReturnReason, LockType, SubRequest, SubRequestData, SubRequestType,
    SubResponseData,
};
use synctap::decode::fsshttpb::ErrorDetail;
use synctap::net::HttpClient;
use synctap::server::client::{CellClient, CellReply};
use synctap::server::{CellSettings, ManualClock, Server, ServerConfig};

use crate::util::{runtime, serve, TestResult};

struct Srv {
    site: String,
    clock: Arc<ManualClock>,
    _stop: tokio::sync::oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

const T0: u64 = 1_700_000_000_000;

async fn start(coauth: bool, max_coauthors: usize) -> Result<Srv, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let clock = ManualClock::new(T0);
    let server = Server::bind(ServerConfig {
        tls: false,
        certs_dir: dir.path().join("certs"),
        cell: CellSettings {
            coauth,
            max_coauthors,
            seed: 3,
        },
        data_dir: Some(dir.path().join("data")),
        clock: clock.clone(),
        ..ServerConfig::default()
    })
    .await?;
    let site = format!("{}/sites/t", server.url());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    Ok(Srv {
        site,
        clock,
        _stop: tx,
        _dir: dir,
    })
}

fn client(s: &Srv, file: &str, id: &str) -> Result<CellClient, Box<dyn std::error::Error>> {
    client_for(&s.site, file, id)
}

/// `call!(client, subrequests)`: builds the subrequests first, then sends them.
macro_rules! call {
    ($c:expr, $subs:expr $(,)?) => {{
        let subs = $subs;
        call(&mut $c, subs)
    }};
}

/// `expect!(client, subrequests, code)`: `call!`, then asserts the first SubResponse's
/// ErrorCode; the reply.
macro_rules! expect {
    ($c:expr, $subs:expr, $code:expr $(,)?) => {{
        let x = call!($c, $subs).await?;
        assert_eq!(x.code(0), $code);
        x
    }};
}

/// Sends and checks that both sides decode without diagnostics.
async fn call(
    c: &mut CellClient,
    subs: Vec<SubRequest>,
) -> Result<CellReply, Box<dyn std::error::Error>> {
    let x = c.call(subs).await?;
    assert!(
        x.response.diagnostics.is_empty(),
        "{:?}",
        x.response.diagnostics
    );
    assert_eq!(
        x.response.sub_responses().count(),
        x.request.sub_requests().count()
    );
    Ok(x)
}

fn data(x: &CellReply, n: usize) -> SubResponseData {
    x.sub(n)
        .and_then(|s| s.sub_response_data.clone())
        .unwrap_or_default()
}

fn coauth(c: &CellClient, k: CoauthRequestType) -> Vec<SubRequest> {
    vec![c.coauth(k)]
}

#[test]
fn coauth_join_alone_then_coauthoring_with_transition() -> TestResult {
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let mut a = client(&s, "Report.docx", "A")?;
        let mut b = client(&s, "Report.docx", "B")?;
        let x = expect!(a, coauth(&a, CoauthRequestType::JoinCoauthoring), "Success");
        let d = data(&x, 0);
        assert_eq!(d.lock_type, Some(LockType::SchemaLock));
        assert_eq!(d.coauth_status, Some(CoauthStatus::Alone));
        let tid = d.transition_id.clone();
        assert!(tid.is_some());
        // Joining again with the same SchemaLockID is a refresh.
        let x = call!(a, coauth(&a, CoauthRequestType::JoinCoauthoring)).await?;
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Alone));

        let x = expect!(b, coauth(&b, CoauthRequestType::JoinCoauthoring), "Success");
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Coauthoring));
        assert_eq!(data(&x, 0).transition_id, tid);

        let x = call!(a, vec![CellClient::sub(SubRequestType::AmIAlone, None)]).await?;
        assert_eq!(data(&x, 0).am_i_alone, Some(false));
        let x = call!(a, coauth(&a, CoauthRequestType::GetCoauthoringStatus)).await?;
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Coauthoring));
        let x = expect!(
            a,
            coauth(&a, CoauthRequestType::MarkTransitionComplete),
            "Success"
        );
        assert_eq!(data(&x, 0).coauth_status, None);
        let x = call!(a, coauth(&a, CoauthRequestType::RefreshCoauthoring)).await?;
        assert_eq!(data(&x, 0).lock_type, Some(LockType::SchemaLock));
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Coauthoring));

        expect!(b, coauth(&b, CoauthRequestType::ExitCoauthoring), "Success");
        let x = call!(a, coauth(&a, CoauthRequestType::GetCoauthoringStatus)).await?;
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Alone));
        expect!(a, coauth(&a, CoauthRequestType::ExitCoauthoring), "Success");
        expect!(
            a,
            coauth(&a, CoauthRequestType::ExitCoauthoring),
            "FileNotLockedOnServer"
        );
        expect!(
            a,
            coauth(&a, CoauthRequestType::MarkTransitionComplete),
            "InvalidCoauthSession"
        );
        Ok(())
    })
}

#[test]
fn schema_lock_id_must_match_while_held() -> TestResult {
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let mut a = client(&s, "Report.docx", "A")?;
        let mut b = client(&s, "Report.docx", "B")?;
        b.schema_lock_id = "11111111-2222-3333-4444-555555555555".into();
        call!(a, coauth(&a, CoauthRequestType::JoinCoauthoring)).await?;
        let x = expect!(
            b,
            coauth(&b, CoauthRequestType::JoinCoauthoring),
            "FileAlreadyLockedOnServer"
        );
        assert!(x
            .sub(0)
            .and_then(|s| s.error_message.clone())
            .is_some_and(|m| m.contains('A')));
        expect!(
            b,
            coauth(&b, CoauthRequestType::CheckLockAvailability),
            "FileAlreadyLockedOnServer"
        );
        expect!(
            b,
            vec![b.schema_lock(synctap::decode::fsshttp::SchemaLockRequestType::GetLock)],
            "FileAlreadyLockedOnServer"
        );
        call!(a, coauth(&a, CoauthRequestType::ExitCoauthoring)).await?;
        expect!(
            b,
            coauth(&b, CoauthRequestType::CheckLockAvailability),
            "Success"
        );
        let x = expect!(b, coauth(&b, CoauthRequestType::JoinCoauthoring), "Success");
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Alone));
        Ok(())
    })
}

#[test]
fn schema_lock_get_release_refresh() -> TestResult {
    use synctap::decode::fsshttp::SchemaLockRequestType as S;
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let mut a = client(&s, "Budget.xlsx", "A")?;
        let mut b = client(&s, "Budget.xlsx", "B")?;
        let x = expect!(a, vec![a.schema_lock(S::GetLock)], "Success");
        assert_eq!(data(&x, 0).lock_type, Some(LockType::SchemaLock));
        assert_eq!(data(&x, 0).coauth_status, None);
        call!(b, vec![b.schema_lock(S::GetLock)]).await?;
        let x = call!(b, vec![b.schema_lock(S::RefreshLock)]).await?;
        assert_eq!(data(&x, 0).lock_type, Some(LockType::SchemaLock));
        expect!(
            b,
            vec![b.schema_lock(S::ConvertToExclusive)],
            "MultipleClientsInCoauthSession"
        );
        call!(b, vec![b.schema_lock(S::ReleaseLock)]).await?;
        // B is gone but A holds the lock: releasing again is InvalidCoauthSession.
        expect!(
            b,
            vec![b.schema_lock(S::ReleaseLock)],
            "InvalidCoauthSession"
        );
        call!(a, vec![a.schema_lock(S::ReleaseLock)]).await?;
        expect!(a, vec![a.schema_lock(S::ReleaseLock)], "Success");
        Ok(())
    })
}

#[test]
fn coauthor_limit() -> TestResult {
    runtime().block_on(async {
        let s = start(true, 2).await?;
        let mut a = client(&s, "Report.docx", "A")?;
        let mut b = client(&s, "Report.docx", "B")?;
        let mut c = client(&s, "Report.docx", "C")?;
        call!(a, coauth(&a, CoauthRequestType::JoinCoauthoring)).await?;
        call!(b, coauth(&b, CoauthRequestType::JoinCoauthoring)).await?;
        expect!(
            c,
            coauth(&c, CoauthRequestType::JoinCoauthoring),
            "NumberOfCoauthorsReachedMax"
        );
        expect!(a, coauth(&a, CoauthRequestType::JoinCoauthoring), "Success");
        call!(b, coauth(&b, CoauthRequestType::ExitCoauthoring)).await?;
        let x = expect!(c, coauth(&c, CoauthRequestType::JoinCoauthoring), "Success");
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Coauthoring));
        Ok(())
    })
}

#[test]
fn timeouts_expire_each_client_separately() -> TestResult {
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let mut a = client(&s, "Report.docx", "A")?;
        let mut b = client(&s, "Report.docx", "B")?;
        a.timeout = 3600;
        b.timeout = 7200;
        call!(a, coauth(&a, CoauthRequestType::JoinCoauthoring)).await?;
        call!(b, coauth(&b, CoauthRequestType::JoinCoauthoring)).await?;
        // A refresh with a shorter timeout does not shorten A's share.
        a.timeout = 60;
        call!(a, coauth(&a, CoauthRequestType::RefreshCoauthoring)).await?;
        s.clock.advance_secs(100);
        let x = call!(a, coauth(&a, CoauthRequestType::GetCoauthoringStatus)).await?;
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Coauthoring));
        s.clock.advance_secs(3600);
        // A expired, B did not.
        let x = call!(b, coauth(&b, CoauthRequestType::GetCoauthoringStatus)).await?;
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Alone));
        let x = call!(a, coauth(&a, CoauthRequestType::GetCoauthoringStatus)).await?;
        assert_eq!(data(&x, 0).coauth_status, None);
        // Refresh after expiry is a Join.
        a.timeout = 3600;
        let x = expect!(
            a,
            coauth(&a, CoauthRequestType::RefreshCoauthoring),
            "Success"
        );
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Coauthoring));
        s.clock.advance_secs(7200);
        // Everyone expired: the shared lock is gone.
        let x = call!(a, vec![CellClient::sub(SubRequestType::LockStatus, None)]).await?;
        assert_eq!(data(&x, 0).lock_type, Some(LockType::None));
        Ok(())
    })
}

#[test]
fn convert_to_exclusive_rules() -> TestResult {
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let mut a = client(&s, "Report.docx", "A")?;
        let mut b = client(&s, "Report.docx", "B")?;
        expect!(
            a,
            coauth(&a, CoauthRequestType::ConvertToExclusive),
            "InvalidCoauthSession"
        );
        call!(a, coauth(&a, CoauthRequestType::JoinCoauthoring)).await?;
        call!(b, coauth(&b, CoauthRequestType::JoinCoauthoring)).await?;
        expect!(
            a,
            coauth(&a, CoauthRequestType::ConvertToExclusive),
            "MultipleClientsInCoauthSession"
        );
        let mut sub = a.coauth(CoauthRequestType::ConvertToExclusive);
        if let Some(d) = sub.sub_request_data.as_mut() {
            d.release_lock_on_conversion_to_exclusive_failure = Some(true);
        }
        expect!(a, vec![sub], "ExitCoauthSessionAsConvertToExclusiveFailed");
        let x = call!(b, coauth(&b, CoauthRequestType::GetCoauthoringStatus)).await?;
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Alone));
        let x = expect!(
            b,
            coauth(&b, CoauthRequestType::ConvertToExclusive),
            "Success"
        );
        assert_eq!(data(&x, 0).lock_type, Some(LockType::ExclusiveLock));
        expect!(
            a,
            coauth(&a, CoauthRequestType::JoinCoauthoring),
            "FileAlreadyLockedOnServer"
        );
        let x = call!(a, vec![CellClient::sub(SubRequestType::LockStatus, None)]).await?;
        assert_eq!(data(&x, 0).lock_type, Some(LockType::ExclusiveLock));
        assert_eq!(data(&x, 0).lock_id, Some(b.exclusive_lock_id.clone()));
        Ok(())
    })
}

#[test]
fn exclusive_lock_rules() -> TestResult {
    use ExclusiveLockRequestType as E;
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let mut a = client(&s, "Inventory.csv", "A")?;
        let mut b = client(&s, "Inventory.csv", "B")?;
        a.timeout = 600;
        expect!(
            a,
            vec![a.exclusive(E::ReleaseLock)],
            "FileNotLockedOnServer"
        );
        expect!(a, vec![a.exclusive(E::GetLock)], "Success");
        let x = expect!(
            b,
            vec![b.exclusive(E::GetLock)],
            "FileAlreadyLockedOnServer"
        );
        assert!(x
            .sub(0)
            .and_then(|s| s.error_message.clone())
            .is_some_and(|m| m.contains("test\\A")));
        expect!(
            b,
            vec![b.exclusive(E::CheckLockAvailability)],
            "FileAlreadyLockedOnServer"
        );
        expect!(
            b,
            vec![b.exclusive(E::ReleaseLock)],
            "FileAlreadyLockedOnServer"
        );
        expect!(a, vec![a.exclusive(E::GetLock)], "Success");
        // CSV files are not coauthorable: conversion to a schema lock is refused.
        expect!(
            a,
            vec![a.exclusive(E::ConvertToSchema)],
            "LockNotConvertedAsCoauthDisabled"
        );
        s.clock.advance_secs(601);
        let x = call!(b, vec![b.exclusive(E::GetLock)]).await?;
        assert_eq!(x.code(0), "Success", "A's lock expired");
        expect!(b, vec![b.exclusive(E::ReleaseLock)], "Success");
        let x = call!(a, vec![a.exclusive(E::RefreshLock)]).await?;
        assert_eq!(x.code(0), "Success", "refresh without a lock takes one");

        let mut w = client(&s, "Report.docx", "W")?;
        call!(w, vec![w.exclusive(E::GetLock)]).await?;
        let x = expect!(
            w,
            vec![w.exclusive(E::ConvertToSchemaJoinCoauth)],
            "Success"
        );
        assert_eq!(data(&x, 0).coauth_status, Some(CoauthStatus::Alone));
        assert!(data(&x, 0).transition_id.is_some());
        expect!(
            w,
            vec![w.exclusive(E::ConvertToSchema)],
            "FileAlreadyLockedOnServer"
        );
        Ok(())
    })
}

#[test]
fn coauth_off_falls_back_to_exclusive_only_when_allowed() -> TestResult {
    runtime().block_on(async {
        let s = start(false, 10).await?;
        let mut a = client(&s, "Report.docx", "A")?;
        let mut b = client(&s, "Report.docx", "B")?;
        let x = expect!(a, coauth(&a, CoauthRequestType::JoinCoauthoring), "Success");
        let d = data(&x, 0);
        assert_eq!(d.lock_type, Some(LockType::ExclusiveLock));
        assert_eq!(d.coauth_status, Some(CoauthStatus::None));
        assert_eq!(
            d.exclusive_lock_return_reason,
            Some(ExclusiveLockReturnReason::CoauthoringDisabled)
        );
        expect!(
            b,
            coauth(&b, CoauthRequestType::JoinCoauthoring),
            "FileAlreadyLockedOnServer"
        );
        let mut sub = b.coauth(CoauthRequestType::JoinCoauthoring);
        if let Some(d) = sub.sub_request_data.as_mut() {
            d.allow_fallback_to_exclusive = Some(false);
        }
        expect!(b, vec![sub], "FileNotLockedOnServer");
        expect!(
            b,
            coauth(&b, CoauthRequestType::RefreshCoauthoring),
            "FileNotLockedOnServer"
        );
        let x = expect!(
            a,
            coauth(&a, CoauthRequestType::RefreshCoauthoring),
            "Success"
        );
        assert_eq!(data(&x, 0).lock_type, Some(LockType::ExclusiveLock));
        Ok(())
    })
}

#[test]
fn cell_download_upload_and_coherency_failure() -> TestResult {
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let mut a = client(&s, "Report.docx", "A")?;
        let mut b = client(&s, "Report.docx", "B")?;
        call!(a, coauth(&a, CoauthRequestType::JoinCoauthoring)).await?;
        call!(b, coauth(&b, CoauthRequestType::JoinCoauthoring)).await?;
        let (x, file) = a.download().await?;
        assert_eq!(x.code(0), "Success");
        let sample = synctap::server::store::SAMPLES[0].1.as_bytes();
        assert_eq!(file.as_deref(), Some(sample));
        let fb = x.cell_response(0).ok_or("no FSSHTTPB response")?;
        assert!(fb.diagnostics.is_empty(), "{:?}", fb.diagnostics);
        let etag1 = a.etag.clone();
        assert!(etag1.as_deref().is_some_and(|e| e.starts_with("\"{")));
        b.download().await?;

        let lock = b.schema_lock_id.clone();
        expect!(b, vec![b.upload_sub(b"version two\n", &lock)], "Success");
        assert_ne!(b.etag, etag1);
        let x = expect!(
            a,
            vec![a.upload_sub(b"stale edit\n", &lock)],
            "CellRequestFail"
        );
        let fb = x.cell_response(0).ok_or("no FSSHTTPB response")?;
        let err = fb
            .sub_responses
            .first()
            .and_then(|s| s.error.clone())
            .ok_or("no error")?;
        assert!(matches!(
            err.detail,
            ErrorDetail::CellError { code: 12, .. }
        ));
        let (_, file) = a.download().await?;
        assert_eq!(file.as_deref(), Some(&b"version two\n"[..]));
        expect!(a, vec![a.upload_sub(b"version three\n", &lock)], "Success");
        let (_, file) = b.download().await?;
        assert_eq!(file.as_deref(), Some(&b"version three\n"[..]));

        // A stale Etag is a CellRequestFail; a client outside the lock cannot write.
        let mut dl = a.download_sub();
        if let Some(d) = dl.sub_request_data.as_mut() {
            d.etag = etag1.clone();
        }
        expect!(a, vec![dl], "CellRequestFail");
        let mut z = client(&s, "Report.docx", "Z")?;
        z.download().await?;
        expect!(
            z,
            vec![z.upload_sub(b"intruder\n", "wrong-lock")],
            "FileAlreadyLockedOnServer"
        );

        // Versions: three, the newest current.
        let sub = CellClient::sub(
            SubRequestType::Versioning,
            Some(SubRequestData {
                versioning_request_type: Some(
                    synctap::decode::fsshttp::VersioningRequestType::GetVersionList,
                ),
                ..SubRequestData::default()
            }),
        );
        let x = call!(a, vec![sub]).await?;
        assert_eq!(data(&x, 0).versions.map(|v| v.len()), Some(3));
        Ok(())
    })
}

#[test]
fn dependencies_and_missing_files() -> TestResult {
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let mut a = client(&s, "Inventory.csv", "A")?;
        let mut b = client(&s, "Inventory.csv", "B")?;
        call!(a, vec![a.exclusive(ExclusiveLockRequestType::GetLock)]).await?;
        let dep = |on: u64, t: DependencyType| {
            let mut s = CellClient::sub(SubRequestType::WhoAmI, None);
            s.depends_on = Some(on);
            s.dependency_type = Some(t);
            s
        };
        let x = call!(
            b,
            vec![
                b.exclusive(ExclusiveLockRequestType::GetLock),
                dep(1, DependencyType::OnSuccess),
                dep(1, DependencyType::OnFail),
                dep(1, DependencyType::OnExecute),
                dep(9, DependencyType::OnExecute),
                dep(1, DependencyType::Other("Sometimes".into())),
                dep(1, DependencyType::OnNotSupported),
            ],
        )
        .await?;
        let codes: Vec<String> = (0..7).map(|i| x.code(i)).collect();
        assert_eq!(
            codes,
            [
                "FileAlreadyLockedOnServer",
                "DependentOnlyOnSuccessRequestFailed",
                "Success",
                "Success",
                "DependentRequestNotExecuted",
                "InvalidRequestDependencyType",
                "DependentOnlyOnNotSupportedRequestGetSupported",
            ]
        );
        assert_eq!(data(&x, 2).user_login.as_deref(), Some("test\\B"));

        let mut m = client(&s, "Missing.docx", "M")?;
        expect!(
            m,
            coauth(&m, CoauthRequestType::JoinCoauthoring),
            "FileNotExistsOrCannotBeCreated"
        );
        let (x, file) = m.download().await?;
        assert_eq!(x.code(0), "CellRequestFail");
        assert!(file.is_none());
        // Put Changes to a missing Url creates the file.
        expect!(m, vec![m.upload_sub(b"new file\n", "none")], "Success");
        let (_, file) = m.download().await?;
        assert_eq!(file.as_deref(), Some(&b"new file\n"[..]));
        Ok(())
    })
}

/// Issue 14.1: a Put Changes to a new Url took the Url's last segment, percent-decoded, as
/// a path under `--data`, so `%2e%2e%2F` and `%2F` wrote files anywhere. Every encoding of
/// a path is now refused with `InvalidUrl`, nothing is written outside the data folder,
/// and a later WebDAV PUT to the same name finds no document (409, WebDAV cannot create).
#[test]
fn put_changes_to_a_url_naming_a_path_is_refused() -> TestResult {
    use synctap::server::client::DavClient;
    runtime().block_on(async {
        let root = tempfile::tempdir()?;
        let data = root.path().join("a").join("b").join("data");
        let server = Server::bind(ServerConfig {
            tls: false,
            certs_dir: root.path().join("certs"),
            data_dir: Some(data.clone()),
            clock: ManualClock::new(T0),
            ..ServerConfig::default()
        })
        .await?;
        let host = server.url();
        let site = format!("{host}/sites/t");
        let (_stop, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = rx.await;
        }));
        let victim = root.path().join("a").join("victim.txt");
        let absolute = root.path().join("absolute.txt");
        let abs = absolute.to_string_lossy().replace('/', "%2F");
        let lib = format!("{site}/Shared%20Documents");
        let urls = [
            format!("{lib}/%2e%2e%2F%2e%2e%2Fvictim.txt"),
            format!("{lib}/%2E%2E%2f%2E%2E%2fvictim.txt"),
            format!("{lib}/..%2F..%2Fvictim.txt"),
            format!("{lib}/{abs}"),
            format!("{lib}/%252e%252e%252f%252e%252e%252fvictim.txt"),
            format!("{lib}/..%5C..%5Cvictim.txt"),
            format!("{lib}/..\\..\\victim.txt"),
            format!("{lib}/%2e%2e"),
            format!("{lib}/x%00.txt"),
            format!("{lib}/C%3A%5Cvictim.txt"),
            "https://other.example/sites/t/Shared%20Documents/..%2F..%2Fvictim.txt".to_owned(),
        ];
        for url in &urls {
            let mut c = client_for(&site, "Report.docx", "T")?;
            c.file_url.clone_from(url);
            let x = call!(c, vec![c.upload_sub(b"owned\n", "none")]).await?;
            assert_eq!(x.code(0), "InvalidUrl", "{url}");
        }
        assert!(!victim.exists(), "wrote {}", victim.display());
        assert!(!absolute.exists(), "wrote {}", absolute.display());
        let mut outside = Vec::new();
        let mut stack = vec![root.path().to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d)? {
                let p = e?.path();
                if p.is_dir() {
                    if p != data && !p.ends_with("certs") {
                        stack.push(p);
                    }
                } else {
                    outside.push(p);
                }
            }
        }
        assert!(outside.is_empty(), "files outside --data: {outside:?}");
        for e in std::fs::read_dir(&data)? {
            let name = e?.file_name().to_string_lossy().into_owned();
            assert!(!name.contains("victim") && !name.contains('%'), "{name}");
        }
        // The refused names never became documents, so WebDAV finds nothing to PUT to.
        let http = Arc::new(HttpClient::new(&[], None, "test\\dav")?);
        let mut w = DavClient::new(http, &site);
        let put = w
            .put(
                "/sites/t/Shared%20Documents/%2e%2e%2F%2e%2e%2Fvictim.txt",
                b"again".to_vec(),
                None,
            )
            .await?;
        assert_eq!(
            put, 409,
            "no document by that name, so nothing to overwrite"
        );
        assert!(!victim.exists());
        // A plain new name still works.
        let mut c = client_for(&site, "New%20File.docx", "T")?;
        expect!(c, vec![c.upload_sub(b"fine\n", "none")], "Success");
        assert!(data.join("New File.docx").exists());
        Ok(())
    })
}

fn client_for(site: &str, file: &str, id: &str) -> Result<CellClient, Box<dyn std::error::Error>> {
    let http = Arc::new(HttpClient::new(&[], None, &format!("test\\{id}"))?);
    Ok(CellClient::new(http, site, file, id))
}

#[test]
fn metadata_subrequests_decode_cleanly() -> TestResult {
    use synctap::decode::fsshttp::{
        EditorsTableRequestType as Ed, FileOperationRequestType, PropertiesRequestType,
    };
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let mut a = client(&s, "Notes.txt", "A")?;
        let ed = |k: Ed, key: Option<&str>| {
            CellClient::sub(
                SubRequestType::EditorsTable,
                Some(SubRequestData {
                    editors_table_request_type: Some(k),
                    client_id: Some("A".into()),
                    timeout: Some(3600),
                    as_editor: Some(true),
                    key: key.map(str::to_owned),
                    value: key.map(|_| "dmFsdWU=".to_owned()),
                    ..SubRequestData::default()
                }),
            )
        };
        expect!(
            a,
            vec![ed(Ed::UpdateEditorMetadata, Some("k0"))],
            "EditorClientIdNotFound"
        );
        let x = call!(
            a,
            vec![
                ed(Ed::JoinEditingSession, None),
                ed(Ed::UpdateEditorMetadata, Some("k1")),
                ed(Ed::UpdateEditorMetadata, Some("k2")),
                ed(Ed::UpdateEditorMetadata, Some("k3")),
                ed(Ed::UpdateEditorMetadata, Some("k4")),
                ed(Ed::UpdateEditorMetadata, Some("k5")),
                ed(Ed::RemoveEditorMetadata, Some("k1")),
                ed(Ed::LeaveEditingSession, None),
            ],
        )
        .await?;
        let codes: Vec<String> = (0..8).map(|i| x.code(i)).collect();
        assert_eq!(codes[5], "EditorMetadataQuotaReached");
        assert!(
            codes
                .iter()
                .enumerate()
                .all(|(i, c)| i == 5 || c == "Success"),
            "{codes:?}"
        );

        let x = call!(
            a,
            vec![
                CellClient::sub(SubRequestType::WhoAmI, None),
                CellClient::sub(SubRequestType::ServerTime, None),
                CellClient::sub(SubRequestType::GetDocMetaInfo, None),
                CellClient::sub(SubRequestType::GetVersions, None),
                CellClient::sub(SubRequestType::LockStatus, None),
                CellClient::sub(
                    SubRequestType::Properties,
                    Some(SubRequestData {
                        properties: Some(PropertiesRequestType::PropertyEnumerate),
                        ..SubRequestData::default()
                    }),
                ),
                CellClient::sub(
                    SubRequestType::Properties,
                    Some(SubRequestData {
                        properties: Some(PropertiesRequestType::PropertyGet),
                        property_ids: Some(vec!["vti_filesize".into()]),
                        ..SubRequestData::default()
                    }),
                ),
            ],
        )
        .await?;
        for i in 0..7 {
            assert_eq!(x.code(i), "Success", "subrequest {i}");
        }
        let st = data(&x, 1).server_time.ok_or("no ServerTime")?;
        assert_eq!(st.utc.as_deref(), Some("2023-11-14T22:13:20Z"));
        assert!(x
            .sub(3)
            .and_then(|s| s.get_versions_response.clone())
            .is_some());
        assert_eq!(data(&x, 6).property_values.map(|v| v.len()), Some(1));

        let rename = CellClient::sub(
            SubRequestType::FileOperation,
            Some(SubRequestData {
                file_operation: Some(FileOperationRequestType::Rename),
                new_file_name: Some("Renamed.txt".into()),
                ..SubRequestData::default()
            }),
        );
        expect!(a, vec![rename], "Success");
        let mut r = client(&s, "Renamed.txt", "A")?;
        let (_, file) = r.download().await?;
        assert_eq!(
            file.as_deref(),
            Some(synctap::server::store::SAMPLES[2].1.as_bytes())
        );
        let restore = CellClient::sub(
            SubRequestType::Versioning,
            Some(SubRequestData {
                versioning_request_type: Some(
                    synctap::decode::fsshttp::VersioningRequestType::RestoreVersion,
                ),
                version: Some("9.0".into()),
                ..SubRequestData::default()
            }),
        );
        expect!(r, vec![restore], "VersionNotFound");
        Ok(())
    })
}

#[test]
fn serve_process_prints_its_address_and_answers_over_tls() -> TestResult {
    let dir = tempfile::tempdir()?;
    let certs = dir.path().join("certs");
    let s = serve(dir.path(), "data", &["--seed", "5"])?;
    let url = s
        .banner
        .strip_prefix("synctap serve listening on ")
        .ok_or_else(|| format!("unexpected first line {:?}", s.banner))?
        .to_owned();
    assert!(url.starts_with("https://127.0.0.1:"));
    let result = runtime().block_on(async {
        let ca = certs.join("synctap-ca.pem");
        let http = Arc::new(HttpClient::new(&[ca.as_path()], None, "test\\p")?);
        let mut c = CellClient::new(http, &url, "Report.docx", "P");
        let x = c
            .call(vec![CellClient::sub(SubRequestType::WhoAmI, None)])
            .await?;
        assert_eq!(x.code(0), "Success");
        assert!(x.response.mtom.is_some(), "MTOM response");
        let (_, file) = c.download().await?;
        assert!(file.is_some());
        Ok::<_, Box<dyn std::error::Error>>(())
    });
    drop(s);
    assert!(dir.path().join("data").join("Report.docx").exists());
    result
}

#[test]
fn spfilesync_change_feed_pages_and_follows_cell_uploads() -> TestResult {
    use synctap::decode::spfilesync::{decode_xml, SyncBody};
    use synctap::server::client::SyncClient;
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let http = Arc::new(HttpClient::new(&[], None, "test\\sync")?);
        let mut sync = SyncClient::new(http, &s.site);
        sync.discover().await?;
        let policy = sync.policy().await?;
        match decode_xml(&policy.body) {
            (Some(SyncBody::PolicyDocument(p)), d) if d.is_empty() => assert_eq!(p.rules.len(), 2),
            other => return Err(format!("policy: {other:?}").into()),
        }
        let names = |p: &synctap::server::client::ChangesPage| -> Vec<String> {
            p.folder
                .iter()
                .flat_map(|f| f.items.iter())
                .filter_map(|i| i.fields.get("RelationshipName").cloned())
                .collect()
        };
        let p1 = sync.changes(3).await?;
        assert_eq!((names(&p1).len(), p1.has_more), (3, true));
        let p2 = sync.changes(3).await?;
        assert_eq!((names(&p2).len(), p2.has_more), (1, false));
        assert!(names(&sync.changes(3).await?).is_empty());

        let mut c = client(&s, "Notes.txt", "N")?;
        c.download().await?;
        call!(c, vec![c.upload_sub(b"changed\n", "")]).await?;
        let p3 = sync.changes(3).await?;
        assert_eq!(names(&p3), ["Notes.txt"]);
        let item = p3
            .folder
            .as_ref()
            .and_then(|f| f.items.first())
            .ok_or("no item")?;
        assert!(item.fields.get("ETag").is_some_and(|e| e.ends_with(",2\"")));
        let url = item
            .document_streams
            .first()
            .and_then(|d| d.fields.get("PreAuthURL"))
            .ok_or("no PreAuthURL")?;
        assert_eq!(sync.download(url).await?, b"changed\n");
        Ok(())
    })
}

#[test]
fn webdav_resourcetags_collblobs_and_locks() -> TestResult {
    use synctap::server::client::DavClient;
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let http = Arc::new(HttpClient::new(&[], None, "test\\dav")?);
        let mut w = DavClient::new(http, &s.site);
        let ms = w.search().await?;
        assert_eq!(ms.response.len(), 4);
        let first_blob = w.collblob.clone();
        let notes = ms
            .response
            .iter()
            .filter_map(|r| r.href.first())
            .find(|h| h.ends_with("Notes.txt"))
            .cloned()
            .ok_or("no Notes.txt")?;
        w.get(&notes).await?;
        let good = w.tags.get(&notes).cloned().ok_or("no resourcetag")?;
        w.tags.insert(notes.clone(), "rt:stale:1".into());
        assert_eq!(w.put(&notes, b"x".to_vec(), None).await?, 412);
        w.tags.insert(notes.clone(), good.clone());
        assert_eq!(w.put(&notes, b"new\n".to_vec(), None).await?, 204);
        assert_ne!(w.tags.get(&notes), Some(&good), "the resourcetag changed");
        let ms = w.search().await?;
        assert_eq!(ms.response.len(), 1);
        assert_eq!(
            ms.response[0].resourcetag(),
            w.tags.get(&notes).map(String::as_str)
        );
        assert_ne!(w.collblob, first_blob);
        assert!(w.search().await?.response.is_empty());
        w.collblob = "garbage".into();
        assert!(w.search().await.is_err(), "invalid collblob");

        let (status, token) = w.lock(&notes, 60).await?;
        assert_eq!(status, 200);
        let token = token.ok_or("no Lock-Token")?;
        assert_eq!(w.lock(&notes, 60).await?.0, 423);
        let mut c = client(&s, "Notes.txt", "X")?;
        expect!(
            c,
            vec![c.exclusive(ExclusiveLockRequestType::GetLock)],
            "FileAlreadyLockedOnServer"
        );
        assert_eq!(w.put(&notes, b"y".to_vec(), None).await?, 423);
        assert_eq!(w.put(&notes, b"y".to_vec(), Some(&token)).await?, 204);
        assert_eq!(w.unlock(&notes, "opaquelocktoken:wrong").await?, 409);
        assert_eq!(w.unlock(&notes, &token).await?, 204);
        // The WebDAV lock expires like any exclusive lock.
        let (_, t2) = w.lock(&notes, 60).await?;
        assert!(t2.is_some());
        s.clock.advance_secs(61);
        expect!(
            c,
            vec![c.exclusive(ExclusiveLockRequestType::GetLock)],
            "Success"
        );
        Ok(())
    })
}

#[test]
fn garbage_is_answered_not_panicked_on() -> TestResult {
    use synctap::decode::fsshttp::decode_response;
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let http = HttpClient::new(&[], None, "test\\g")?;
        let endpoint = format!("{}/_vti_bin/cellstorage.svc/CellStorageService", s.site);
        for body in [
            &b""[..],
            b"<not xml",
            b"\xff\xfe\x00garbage",
            b"<s:Envelope/>",
        ] {
            let r = http
                .send(
                    http::Method::POST,
                    &endpoint,
                    &[("content-type", "text/xml")],
                    body.to_vec(),
                )
                .await?;
            assert_eq!(r.status, 200);
            let ct = r.headers.get("content-type").and_then(|v| v.to_str().ok());
            let env = decode_response(ct, &r.body, None);
            let code = env.response_version.and_then(|v| v.error_code);
            assert_eq!(code, Some(ErrorCode::InvalidArgument));
        }
        let r = http
            .send(http::Method::GET, &endpoint, &[], Vec::new())
            .await?;
        assert_eq!(r.status, 405);
        let lib = format!("{}/Shared%20Documents/", s.site);
        let search = http::Method::from_bytes(b"SEARCH")?;
        let r = http.send(search, &lib, &[], b"<x".to_vec()).await?;
        assert_eq!(r.status, 400);
        let r = http
            .send(
                http::Method::GET,
                &format!("{}/nothing", s.site),
                &[],
                Vec::new(),
            )
            .await?;
        assert_eq!(r.status, 404);
        Ok(())
    })
}

#[test]
fn demo_runs_against_a_separate_serve_process() -> TestResult {
    let dir = tempfile::tempdir()?;
    let run = crate::util::DemoSetup::new(&["--max-coauthors", "2"])
        .capture("c.jsonl")
        .run(dir.path())?;
    drop(run.serve);
    let text = run.stdout;
    assert!(text.contains("NumberOfCoauthorsReachedMax"), "{text}");
    assert!(crate::util::read_capture(&run.capture).len() > 20);
    Ok(())
}

/// Issue 14.9: the server's WebDAV locking was lenient. It is as strict as RFC 4918 and
/// MS-WDV now: the `If` header is evaluated against the resource each list names, a lock
/// token only unlocks its own file, a LOCK body must be a well-formed lockinfo, and UNLOCK
/// needs `Lock-Token`.
#[test]
fn webdav_locking_is_strict() -> TestResult {
    use synctap::server::client::DavClient;
    runtime().block_on(async {
        let s = start(true, 10).await?;
        let http = Arc::new(HttpClient::new(&[], None, "test\\strict")?);
        let w = DavClient::new(http.clone(), &s.site);
        let url = |name: &str| format!("{}{name}", w.collection);
        let (notes, inventory, budget) = (url("Notes.txt"), url("Inventory.csv"), url("Budget.xlsx"));
        let put = |target: String, headers: Vec<(&'static str, String)>| {
            let http = http.clone();
            async move {
                let mut h: Vec<(&str, &str)> = vec![("translate", "f")];
                h.extend(headers.iter().map(|(n, v)| (*n, v.as_str())));
                anyhow::Ok(http.send(http::Method::PUT, &target, &h, b"x\n".to_vec()).await?.status)
            }
        };
        let (status, a) = w.lock(&notes, 60).await?;
        assert_eq!(status, 200);
        let a = a.ok_or("no lock token for Notes.txt")?;
        let (_, b) = w.lock(&inventory, 60).await?;
        let b = b.ok_or("no lock token for Inventory.csv")?;

        // RFC 4918 10.4.1: an If header that does not hold is 412.
        // Another file's lock token, on an unlocked file (was 204).
        assert_eq!(put(budget.clone(), vec![("if", format!("(<{b}>)"))]).await?, 412);
        // ... and on a file locked with another token (was 423).
        assert_eq!(put(notes.clone(), vec![("if", format!("(<{b}>)"))]).await?, 412);
        // Notes.txt's own token, in a list tagged with another resource (was 204).
        let tagged = format!("<{inventory}> (<{a}>)");
        assert_eq!(put(notes.clone(), vec![("if", tagged)]).await?, 412);
        // A list tagged with Inventory.csv holds there, but submits no token for Notes.txt.
        let elsewhere = format!("<{inventory}> (<{b}>)");
        assert_eq!(put(notes.clone(), vec![("if", elsewhere)]).await?, 423);
        // MS-WDV 3.2.5.2: a Lock-Token header naming another lock fails the PUT (was 204
        // on an unlocked file).
        assert_eq!(put(budget.clone(), vec![("lock-token", format!("<{b}>"))]).await?, 412);
        assert_eq!(put(notes.clone(), vec![("lock-token", format!("<{b}>"))]).await?, 412);
        // `Not` and entity tags: this server sends no entity tags, so none matches.
        assert_eq!(put(budget.clone(), vec![("if", "([\"x\"])".into())]).await?, 412);
        assert_eq!(put(budget.clone(), vec![("if", "(Not <urn:x>)".into())]).await?, 204);
        // The right token, untagged, tagged with the file itself, or as Lock-Token.
        assert_eq!(put(notes.clone(), vec![("if", format!("(<{a}>)"))]).await?, 204);
        let own = format!("<{notes}> (<{a}>)");
        assert_eq!(put(notes.clone(), vec![("if", own)]).await?, 204);
        assert_eq!(put(notes.clone(), vec![("lock-token", format!("<{a}>"))]).await?, 204);
        assert_eq!(put(notes.clone(), Vec::new()).await?, 423);

        // RFC 4918 8.2, 14.11: a LOCK body that is not a well-formed lockinfo is 400 (was
        // granted a lock).
        let lock = |body: &'static str| {
            let http = http.clone();
            let target = budget.clone();
            async move {
                let h = [("content-type", "text/xml"), ("timeout", "Second-60")];
                let m = http::Method::from_bytes(b"LOCK")?;
                anyhow::Ok(http.send(m, &target, &h, body.as_bytes().to_vec()).await?.status)
            }
        };
        for bad in [
            r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/>"#,
            "not xml at all",
            r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#,
            r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:locktype><D:write/></D:locktype></D:lockinfo>"#,
            r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope></D:lockinfo>"#,
            r#"<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:read/></D:locktype></D:lockinfo>"#,
        ] {
            assert_eq!(lock(bad).await?, 400, "{bad}");
        }
        assert_eq!(
            put(budget.clone(), Vec::new()).await?,
            204,
            "no lock was granted by a bad LOCK"
        );

        // RFC 4918 9.11.1: UNLOCK without Lock-Token is 400 (was 409); a token that is
        // not this resource's lock stays 409.
        let m = http::Method::from_bytes(b"UNLOCK")?;
        assert_eq!(http.send(m.clone(), &notes, &[], Vec::new()).await?.status, 400);
        assert_eq!(w.unlock(&notes, &b).await?, 409);
        assert_eq!(w.unlock(&notes, &a).await?, 204);
        assert_eq!(w.unlock(&inventory, &b).await?, 204);
        Ok(())
    })
}
