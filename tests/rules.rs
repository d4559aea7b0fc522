//! Proxy rules (`--rule`, `--rules FILE`): each HTTP action measured through a real proxy
//! process with real curl against a plain-HTTP test upstream (reverse mode), the record's
//! `modified` member and `~modified`, the rules file's reload, and parse errors.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::util::{
    assert_ran, runtime, start_upstream, synctap, wait_for_exchanges, ProxyProcess, TestResult,
};

/// curl straight at the reverse proxy: (exit code, headers + body, elapsed).
fn curl(proxy: &ProxyProcess, path: &str, extra: &[&str]) -> (i32, String, Duration) {
    let started = Instant::now();
    let out = Command::new("curl")
        .args(["-sS", "-i", "--max-time", "30"])
        .args(extra)
        .arg(format!("http://{}{path}", proxy.addr))
        .output()
        .expect("run curl");
    let elapsed = started.elapsed();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        elapsed,
    )
}

fn status_of(answer: &str) -> Option<u16> {
    answer.split_whitespace().nth(1)?.parse().ok()
}

fn body_of(answer: &str) -> &str {
    answer.split_once("\r\n\r\n").map_or("", |(_, b)| b)
}

#[test]
fn http_actions_change_what_the_client_gets_and_the_record_says_so() -> TestResult {
    let rt = runtime();
    let up = rt.block_on(start_upstream(None));
    let other = rt.block_on(start_upstream(None));
    let dir = tempfile::tempdir()?;
    let answer = dir.path().join("answer.txt");
    std::fs::write(&answer, "from a file\n")?;
    let gone = dir.path().join("gone.txt");
    let upstream = format!("http://{}", up.addr);
    let rules = [
        format!("~u /respond => respond 418 {}", answer.display()),
        format!("~u /gone => respond 200 {}", gone.display()),
        "~u /status => status 409".to_owned(),
        "~u /headers => set-header X-Rule: yes; remove-header x-conn; set-request-header X-Debug: from-a-rule; remove-request-header X-Gone".to_owned(),
        "~u /replace => replace /o(k)/changed $1/".to_owned(),
        "~u /delay-request => delay 400ms".to_owned(),
        "~u /delay-response => delay-response 400ms".to_owned(),
        "~u /download => throttle 100KiB/s".to_owned(),
        "~u /reset => reset".to_owned(),
        "~u /once => status 503; times 1".to_owned(),
        format!("~u /elsewhere => upstream http://{}", other.addr),
        "~m POST & ~b secret => status 403".to_owned(),
    ];
    let mut args = vec![
        "--reverse".to_owned(),
        upstream,
        "--listen-plain".to_owned(),
    ];
    for r in &rules {
        args.push("--rule".into());
        args.push(r.clone());
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let proxy = ProxyProcess::start(&args);

    let (_, a, _) = curl(&proxy, "/respond", &[]);
    assert_eq!(
        (status_of(&a), body_of(&a)),
        (Some(418), "from a file\n"),
        "{a}"
    );
    let (_, a, _) = curl(&proxy, "/gone", &[]);
    assert_eq!(status_of(&a), Some(502), "{a}");
    assert!(body_of(&a).contains("gone.txt"), "{a}");
    let (_, a, _) = curl(&proxy, "/status", &[]);
    assert_eq!((status_of(&a), body_of(&a)), (Some(409), "ok"), "{a}");
    let (_, a, _) = curl(&proxy, "/headers", &["-H", "X-Gone: 1"]);
    let lower = a.to_ascii_lowercase();
    assert!(
        lower.contains("x-rule: yes") && !lower.contains("x-conn:"),
        "{a}"
    );
    assert!(
        lower.contains("x-got-debug: from-a-rule"),
        "the upstream got the header: {a}"
    );
    let (_, a, _) = curl(&proxy, "/replace", &[]);
    assert_eq!(body_of(&a), "changed k", "{a}");
    assert!(lower_has(&a, "content-length: 9"), "{a}");
    let (_, a, t) = curl(&proxy, "/delay-request", &[]);
    assert!(t >= Duration::from_millis(400), "{t:?} {a}");
    let (_, a, t) = curl(&proxy, "/delay-response", &[]);
    assert!(t >= Duration::from_millis(400), "{t:?} {a}");
    let n = 200_000;
    let (code, _, t) = curl(&proxy, &format!("/download?n={n}"), &["-o", "/dev/null"]);
    assert_eq!(code, 0);
    let rate = n as f64 / t.as_secs_f64();
    assert!(rate <= 100.0 * 1024.0 * 1.25, "{rate} bytes/s in {t:?}");
    let (code, a, _) = curl(&proxy, "/reset", &[]);
    assert_eq!(code, 52, "curl's empty reply: {a}");
    let (_, first, _) = curl(&proxy, "/once", &[]);
    let (_, second, _) = curl(&proxy, "/once", &[]);
    assert_eq!(
        (status_of(&first), status_of(&second)),
        (Some(503), Some(200))
    );
    let (_, a, _) = curl(&proxy, "/elsewhere", &[]);
    assert!(
        a.to_ascii_lowercase()
            .contains(&format!("x-host: {}", other.addr)),
        "{a}"
    );
    let (_, a, _) = curl(&proxy, "/echo", &["--data-binary", "a secret here"]);
    assert_eq!(
        (status_of(&a), body_of(&a)),
        (Some(403), "a secret here"),
        "{a}"
    );
    let (_, a, _) = curl(&proxy, "/echo", &["--data-binary", "nothing to see"]);
    assert_eq!(
        (status_of(&a), body_of(&a)),
        (Some(200), "nothing to see"),
        "{a}"
    );

    // The record: what the client got, the original beside it, and the rule.
    let xs = wait_for_exchanges(&proxy.capture, 15);
    let by_path = |p: &str| {
        xs.iter()
            .filter(|x| x.request.as_ref().is_some_and(|q| q.url.contains(p)))
            .collect::<Vec<_>>()
    };
    let status = by_path("/status")[0];
    let m = status.modified.as_ref().ok_or("no modified member")?;
    assert_eq!(m.rules[0].index, 2);
    assert_eq!(m.rules[0].text, rules[2]);
    assert_eq!(status.response.as_ref().map(|r| r.status), Some(409));
    let original = m.original_response.as_ref().ok_or("no original")?;
    assert_eq!(
        (original.status, &original.body.bytes[..]),
        (200, &b"ok"[..])
    );
    let replaced = by_path("/replace")[0];
    assert_eq!(
        replaced.response.as_ref().map(|r| &r.body.bytes[..]),
        Some(&b"changed k"[..])
    );
    let orig = replaced
        .modified
        .as_ref()
        .and_then(|m| m.original_response.as_ref());
    assert_eq!(orig.map(|r| &r.body.bytes[..]), Some(&b"ok"[..]));
    let headers = by_path("/headers")[0];
    let oq = headers
        .modified
        .as_ref()
        .and_then(|m| m.original_request.as_ref());
    assert!(oq.is_some_and(
        |q| q.headers.get("x-gone") == Some("1") && q.headers.get("x-debug").is_none()
    ));
    let q = headers.request.as_ref().ok_or("no request")?;
    assert_eq!(
        (q.headers.get("x-debug"), q.headers.get("x-gone")),
        (Some("from-a-rule"), None)
    );
    let gone_x = by_path("/gone")[0];
    assert!(
        gone_x
            .error
            .as_deref()
            .is_some_and(|e| e.contains("gone.txt")),
        "{gone_x:?}"
    );
    let download = by_path("/download")[0];
    assert_eq!(
        download.response.as_ref().map(|r| r.body.len),
        Some(n as u64)
    );
    let once = by_path("/once");
    assert_eq!(once.iter().filter(|x| x.modified.is_some()).count(), 1);
    assert!(
        by_path("/echo")
            .iter()
            .filter(|x| x.modified.is_some())
            .count()
            == 1
    );

    // `~modified` in show: every changed exchange, none of the others.
    let out: Output = synctap()
        .args(["show", "--json", "--filter", "~modified"])
        .arg(&proxy.capture)
        .output()?;
    assert_ran("show", &out);
    let shown = String::from_utf8_lossy(&out.stdout);
    let modified = xs.iter().filter(|x| x.modified.is_some()).count();
    assert_eq!(shown.lines().count(), modified, "{shown}");
    assert!(modified >= 11, "{modified}");
    Ok(())
}

fn lower_has(a: &str, what: &str) -> bool {
    a.to_ascii_lowercase().contains(what)
}

/// Reverse mode rewrites Host to the upstream's before rules apply: a
/// `set-request-header Host:` rule wins, and without one the upstream gets its own name.
#[test]
fn a_host_rule_is_not_undone_by_the_reverse_host_rewrite() -> TestResult {
    let rt = runtime();
    let up = rt.block_on(start_upstream(None));
    let proxy = ProxyProcess::start(&[
        "--reverse",
        &format!("http://{}", up.addr),
        "--listen-plain",
        "--rule",
        "~u /host => set-request-header Host: rewritten.example",
    ]);
    let (_, a, _) = curl(&proxy, "/host", &[]);
    assert!(lower_has(&a, "x-host: rewritten.example"), "{a}");
    let (_, a, _) = curl(&proxy, "/plain", &[]);
    assert!(lower_has(&a, &format!("x-host: {}", up.addr)), "{a}");
    Ok(())
}

#[test]
fn a_rule_that_does_not_parse_stops_the_proxy_with_its_column() -> TestResult {
    let dir = tempfile::tempdir()?;
    let out = synctap()
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .args(["proxy", "--listen", "127.0.0.1:0", "--no-capture"])
        .args([
            "--rule",
            "~m GET => status 200",
            "--rule",
            "~m GET => delay soon",
        ])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("--rule number 2"), "{err}");
    assert!(
        err.contains("column 17") && err.contains("expected a duration"),
        "{err}"
    );
    let file = dir.path().join("rules.txt");
    std::fs::write(
        &file,
        "# rules\n\n~m GET => status 200\n~m GET & (~c 4xx => reset\n",
    )?;
    let out = synctap()
        .arg("--certs")
        .arg(dir.path().join("certs"))
        .args([
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--no-capture",
            "--rules",
        ])
        .arg(&file)
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("line 4, column 18") && err.contains("expected `)`"),
        "{err}"
    );
    Ok(())
}

#[test]
fn the_rules_file_is_reread_and_a_broken_edit_keeps_the_old_rules() -> TestResult {
    let rt = runtime();
    let up = rt.block_on(start_upstream(None));
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("rules.txt");
    std::fs::write(&file, "# first\n~u /a => status 401\n")?;
    let upstream = format!("http://{}", up.addr);
    let file_arg = file.display().to_string();
    let proxy = ProxyProcess::start_with(
        &[
            "--reverse",
            &upstream,
            "--listen-plain",
            "--rules",
            &file_arg,
        ],
        &[],
        true,
    );
    let status = |proxy: &ProxyProcess| status_of(&curl(proxy, "/a", &[]).1);
    assert_eq!(status(&proxy), Some(401));
    let until = |proxy: &ProxyProcess, want: u16| {
        (0..100).any(|_| {
            let s = status(proxy);
            if s != Some(want) {
                std::thread::sleep(Duration::from_millis(100));
            }
            s == Some(want)
        })
    };
    std::fs::write(&file, "# second, longer\n~u /a => status 402\n")?;
    assert!(until(&proxy, 402), "the new rule took effect");
    std::fs::write(&file, "# third: broken\n~u /a => status 4o2\n")?;
    let logged = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(100));
        proxy.log().contains("not reloaded")
    });
    let log = proxy.log();
    assert!(logged && log.contains("line 2, column 17"), "{log}");
    assert_eq!(status(&proxy), Some(402), "the previous rules stay");
    Ok(())
}

/// The demo story through a reverse rules proxy (with `rules`) in front of a fresh
/// `synctap serve --seed 5`: what the demo printed, and the proxy with its capture.
fn demo_through_rules(
    dir: &std::path::Path,
    rules: &[&str],
) -> Result<(String, ProxyProcess), Box<dyn std::error::Error>> {
    let run = crate::util::DemoSetup::new(&["--seed", "5"])
        .rules(rules)
        .run(dir)?;
    Ok((run.stdout, run.proxy.ok_or("no rules proxy")?))
}

/// The demo's answer line for `step`: the codes after the arrow.
fn answer<'a>(stdout: &'a str, step: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.trim_start().starts_with(step))
        .and_then(|l| l.split_once('→'))
        .map_or("", |(_, codes)| codes.trim())
}

/// Asserts the codes after the arrow of each demo step.
fn assert_answers(stdout: &str, want: &[(&str, &str)]) {
    for (step, codes) in want {
        assert_eq!(answer(stdout, step), *codes, "{step}: {stdout}");
    }
}

#[test]
fn errorcode_changes_only_the_selected_clients_coauth_subresponse() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (stdout, proxy) = demo_through_rules(
        dir.path(),
        &["~t Coauth & ~client A0000000-0000-4000-8000-00000000000A => errorcode NumberOfCoauthorsReachedMax"],
    )?;
    // A's Coauth SubResponses carry the injected ErrorCode; the download in the same
    // message, and every answer to B, are the server's.
    assert_answers(
        &stdout,
        &[
            (
                "A opens: JoinCoauthoring + download",
                "NumberOfCoauthorsReachedMax, Success",
            ),
            ("A refreshes", "NumberOfCoauthorsReachedMax"),
            ("B opens: JoinCoauthoring + download", "Success, Success"),
            ("B refreshes", "Success"),
            ("B uploads a new version", "Success"),
        ],
    );
    // The record: each changed exchange keeps the server's answer beside what A got, and
    // only the Coauth SubResponse differs between them.
    let xs = proxy.exchanges();
    let modified: Vec<_> = xs.iter().filter(|x| x.modified.is_some()).collect();
    assert!(!modified.is_empty());
    for x in &modified {
        let m = x.modified.as_ref().ok_or("modified")?;
        assert_eq!(m.rules.len(), 1);
        assert_eq!(m.rules[0].index, 0);
        let original = m.original_response.as_ref().ok_or("original response")?;
        let got = x.response.as_ref().ok_or("response")?;
        let decode = |r: &synctap::model::Response| {
            // The exchange as if `r` had been its response.
            let with = synctap::model::Exchange {
                response: Some(r.clone()),
                ..(*x).clone()
            };
            let d = synctap::decode::exchange::decode_recorded(&with);
            assert!(d.diagnostics.is_empty(), "{:?}", d.diagnostics);
            let f = d.fsshttp().ok_or("cell storage")?.clone();
            Ok::<_, Box<dyn std::error::Error>>(f)
        };
        let (was, now) = (decode(original)?, decode(got)?);
        let subs = |f: &synctap::decode::exchange::FsshttpExchange| {
            f.response
                .iter()
                .flat_map(|r| r.sub_responses())
                .map(|(_, s)| {
                    let mut v = serde_json::to_value(s).unwrap_or_default();
                    // Where things sit in the message: a re-encoded response moves the
                    // MIME parts of the SubResponses it leaves alone, not their content.
                    crate::util::drop_keys(&mut v, &|k| k == "range" || k == "offset");
                    v
                })
                .collect::<Vec<_>>()
        };
        let (was, now) = (subs(&was), subs(&now));
        assert_eq!(was.len(), now.len());
        let changed: Vec<usize> = (0..was.len()).filter(|&i| was[i] != now[i]).collect();
        assert_eq!(
            changed.len(),
            1,
            "exchange {}: {changed:?}\n{:#?}\n{:#?}",
            x.id,
            was,
            now
        );
        assert_eq!(
            now[changed[0]]["ErrorCode"], "NumberOfCoauthorsReachedMax",
            "{:#}",
            now[changed[0]]
        );
    }
    Ok(())
}

#[test]
fn an_injected_coherency_failure_is_retried_and_recorded_once() -> TestResult {
    let dir = tempfile::tempdir()?;
    let (stdout, proxy) = demo_through_rules(
        dir.path(),
        &[r#"~t PutChanges & ~b "edited by Bob" => cell-error CoherencyFailure; times 1"#],
    )?;
    // B's first upload got the injected failure; like an Office client it downloads,
    // merges and uploads again.
    assert_answers(
        &stdout,
        &[
            (
                "B uploads a new version",
                "CellRequestFail (CoherencyFailure)",
            ),
            ("B downloads the current version", "Success"),
            ("B retries the upload after merging", "Success"),
        ],
    );
    let capture = proxy.capture.clone();
    let show = synctap()
        .args(["show", "--filter", "~modified"])
        .arg(&capture)
        .output()?;
    assert_ran("show --filter ~modified", &show);
    let lines = String::from_utf8(show.stdout)?;
    assert_eq!(lines.lines().count(), 1, "{lines}");
    let timeline = synctap().arg("timeline").arg(&capture).output()?;
    assert_ran("timeline", &timeline);
    let text = String::from_utf8(timeline.stdout)?;
    assert!(text.contains("CoherencyFailure"), "{text}");
    Ok(())
}
