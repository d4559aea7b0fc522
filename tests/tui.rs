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
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

#[test]
fn ui_in_tmux_switches_views_opens_filters_and_quits() -> TestResult {
    let version = Command::new("tmux").arg("-V").output();
    assert!(
        version.as_ref().is_ok_and(|o| o.status.success()),
        "tmux is required for the terminal UI test (apt-get install tmux): {version:?}"
    );
    let dir = tempfile::tempdir()?;
    let capture = crate::util::record_demo(dir.path());
    let tmux = Tmux {
        socket: format!("synctap-ui-test-{}", std::process::id()),
    };
    let command = format!(
        "TERM=xterm-256color {} ui {}",
        env!("CARGO_BIN_EXE_synctap"),
        capture.display()
    );
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "ui",
        "-x",
        "120",
        "-y",
        "40",
        &command,
    ])?;
    assert!(started.status.success(), "tmux: {started:?}");

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

    tmux.keys(&["q"])?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while tmux.alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        !tmux.alive(),
        "synctap ui did not quit on q:\n{}",
        tmux.pane()
    );
    Ok(())
}
