//! `synctap ui` in a real terminal: tmux runs it on a demo capture, the test sends keys
//! (`2`, Enter, `/` with a filter, `q`) and reads the pane. Needs tmux (`apt-get install
//! tmux`); fails with that message when it is missing.

use std::process::{Command, Output};
use std::time::{Duration, Instant};

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// A private tmux server (its own socket), killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::io::Result<Output> {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
    }

    fn pane(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "ui"])
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }

    fn keys(&self, keys: &[&str]) -> std::io::Result<Output> {
        let mut args = vec!["send-keys", "-t", "ui"];
        args.extend_from_slice(keys);
        self.cmd(&args)
    }

    /// Waits until the pane shows every one of `want`; returns the pane.
    fn wait_for(&self, want: &[&str]) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let pane = self.pane();
            if want.iter().all(|w| pane.contains(w)) {
                return Ok(pane);
            }
            if Instant::now() > deadline {
                return Err(format!("the pane never showed {want:?}:\n{pane}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn alive(&self) -> bool {
        self.cmd(&["has-session", "-t", "ui"])
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    /// A private tmux server named after `name` running `command` in a `w`×40 pane.
    fn start(name: &str, command: &str, w: u16) -> Result<Self, Box<dyn std::error::Error>> {
        let version = Command::new("tmux").arg("-V").output();
        assert!(
            version.as_ref().is_ok_and(|o| o.status.success()),
            "tmux is required for the terminal UI tests (apt-get install tmux): {version:?}"
        );
        let tmux = Self {
            socket: format!("synctap-{name}-test-{}", std::process::id()),
        };
        let w = w.to_string();
        let started = tmux.cmd(&[
            "new-session",
            "-d",
            "-s",
            "ui",
            "-x",
            &w,
            "-y",
            "40",
            command,
        ])?;
        assert!(started.status.success(), "tmux: {started:?}");
        Ok(tmux)
    }

    /// Presses `q` and waits (up to 10 s) for the program to end.
    fn quit(&self, what: &str) {
        let _ = self.keys(&["q"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(!self.alive(), "{what} did not quit on q:\n{}", self.pane());
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn ui_in_tmux_switches_views_opens_filters_and_quits() -> TestResult {
    let dir = tempfile::tempdir()?;
    let capture = crate::util::record_demo(dir.path());
    let command = format!(
        "TERM=xterm-256color {} ui {}",
        env!("CARGO_BIN_EXE_synctap"),
        capture.display()
    );
    let tmux = Tmux::start("ui", &command, 120)?;

    let pane = tmux.wait_for(&["1 Exchanges", "43 exchanges", "CellStorageService"])?;
    assert!(pane.contains("q quit"), "{pane}");

    tmux.keys(&["2"])?;
    tmux.wait_for(&["CoauthStatus", "Report.docx", "coauth"])?;

    // Enter on the first event jumps to its exchange in view 1, detail open.
    tmux.keys(&["Enter"])?;
    tmux.wait_for(&[
        "Decoded",
        "Request",
        "Hex",
        "exchange #1",
        "Protocol: FSSHTTP",
    ])?;
    tmux.keys(&["Escape"])?;

    tmux.keys(&["/"])?;
    tmux.keys(&["-l", "~p webdav"])?;
    tmux.keys(&["Enter"])?;
    let pane = tmux.wait_for(&["matching ~p webdav", "SEARCH"])?;
    assert!(!pane.contains("CellStorageService"), "{pane}");

    // A bad filter shows the column.
    tmux.keys(&["/"])?;
    tmux.keys(&["-l", " & ("])?;
    tmux.keys(&["Enter"])?;
    tmux.wait_for(&["error at column"])?;
    tmux.keys(&["Escape"])?;

    tmux.quit("synctap ui");
    Ok(())
}

/// Waits for a child with a deadline; kills it when the deadline passes.
fn wait_child(mut child: std::process::Child, secs: u64) -> Result<Output, String> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().map_err(|e| e.to_string()),
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                return Err(format!("still running after {secs} s: {out:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// `synctap proxy --ui --reverse` (plain towards curl, TLS towards the upstream) in front
/// of a real TLS upstream that echoes the
/// `X-Debug` it gets: `i` pauses POSTs, a GET on another connection goes on, `e` runs an
/// `EDITOR` script that adds `X-Debug`, `a` lets the request go; the upstream got the
/// edited header, and the capture records the edit with the original beside it.
#[test]
fn intercept_in_tmux_pauses_edits_and_lets_a_request_go() -> TestResult {
    assert!(crate::util::have_curl(), "curl is required");
    let (_rt, ca, up) = crate::util::tls_upstream();
    let dir = tempfile::tempdir()?;
    let certs = dir.path().join("certs");
    let capture = dir.path().join("capture.jsonl");
    let editor = dir.path().join("edit.sh");
    // Adds a header after the request line, as a user would.
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i '1a X-Debug: edited-by-intercept' \"$1\"\n",
    )?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755))?;
    }
    let command = format!(
        "TERM=xterm-256color EDITOR={} {} --certs {} proxy --ui --listen 127.0.0.1:0 --listen-plain --reverse {} --upstream-ca {} --capture {}",
        editor.display(),
        env!("CARGO_BIN_EXE_synctap"),
        certs.display(),
        up.url(),
        ca.pem_path.display(),
        capture.display()
    );
    let tmux = Tmux::start("intercept", &command, 300)?;
    let pane = tmux.wait_for(&["1 Exchanges", "live 127.0.0.1:"])?;
    let port: u16 = pane
        .split("live 127.0.0.1:")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| format!("no port in the title:\n{pane}"))?;
    let curl = |args: &[&str]| {
        Command::new("curl")
            .args(["-sS", "-D", "-", "-o", "/dev/null", "--max-time", "30"])
            .args(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
    };

    tmux.keys(&["i"])?;
    tmux.wait_for(&["intercept requests:"])?;
    tmux.keys(&["-l", "~m POST"])?;
    tmux.keys(&["Enter"])?;
    tmux.wait_for(&["intercepting requests ~m POST"])?;

    let post = curl(&["--data", "hello", &format!("http://127.0.0.1:{port}/echo")])?;
    tmux.wait_for(&["⏸ PAUSED", "1 paused", "/echo"])?;
    // Another connection goes on while the POST is paused.
    let get = wait_child(curl(&[&format!("http://127.0.0.1:{port}/other")])?, 20)?;
    let head = String::from_utf8_lossy(&get.stdout);
    assert!(head.starts_with("HTTP/1.1 200"), "{head} {get:?}");

    tmux.keys(&["e"])?;
    tmux.wait_for(&["⏸ PAUSED, edited"])?;
    tmux.keys(&["a"])?;
    let out = wait_child(post, 20)?;
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("x-got-debug: edited-by-intercept"),
        "the upstream got the edit: {head}"
    );
    assert!(
        head.contains("x-body-bytes: 5"),
        "the body went unchanged: {head}"
    );

    tmux.quit("the proxy");
    let xs = crate::util::read_capture(&capture);
    let posted: Vec<_> = xs
        .iter()
        .filter(|x| x.request.as_ref().is_some_and(|q| q.method == "POST"))
        .collect();
    assert_eq!(posted.len(), 1, "{xs:?}");
    let x = posted[0];
    let m = x.modified.as_ref().ok_or("the edit is recorded")?;
    let i = m.intercept.as_ref().ok_or("modified.intercept")?;
    assert!(i.edited && !i.timed_out && !i.killed, "{i:?}");
    let q = x.request.as_ref().ok_or("request")?;
    assert_eq!(q.headers.get("x-debug"), Some("edited-by-intercept"));
    let original = m.original_request.as_ref().ok_or("original_request")?;
    assert_eq!(original.headers.get("x-debug"), None);
    // The GET was not paused, and its record says nothing about the intercept.
    assert!(xs
        .iter()
        .any(|x| x.request.as_ref().is_some_and(|q| q.method == "GET") && x.modified.is_none()));
    Ok(())
}
