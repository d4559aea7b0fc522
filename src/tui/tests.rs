//! Tests of the UI state, key handling and rendering (snapshots of `TestBackend`
//! buffers), on a capture recorded from the demo at test time and normalised (times,
//! ports) so the screens are stable.

use std::path::{Path, PathBuf};
use std::sync::mpsc::Receiver;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use clap::Parser as _;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::Rect;
use ratatui::Terminal;

use super::app::{App, AppEvent, Loader};
use super::detail::Tab;
use super::source::{self, SourceMsg};
use super::state::View;
use crate::capture::{write_capture, CaptureReader};
use crate::model::Exchange;
use crate::timeline::format_rfc3339;

type TestResult = Result<(), Box<dyn std::error::Error>>;

struct Fixtures {
    _dir: tempfile::TempDir,
    demo: PathBuf,
    empty: PathBuf,
    malformed: PathBuf,
}

/// Runs the demo once per test binary and writes the normalised fixtures.
fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| make_fixtures().unwrap_or_else(|e| panic!("fixtures: {e:#}")))
}

fn make_fixtures() -> anyhow::Result<Fixtures> {
    let dir = tempfile::tempdir()?;
    let raw = dir.path().join("raw.jsonl");
    let certs = dir.path().join("certs");
    let opts = crate::cli::Opts::try_parse_from([
        "synctap".as_ref(),
        "--certs".as_ref(),
        certs.as_os_str(),
        "demo".as_ref(),
        "--no-ui".as_ref(),
        "--capture".as_ref(),
        raw.as_os_str(),
    ])?;
    crate::cli::run(opts)?;
    let mut xs: Vec<Exchange> = CaptureReader::open(&raw)?.collect::<Result<_, _>>()?;
    xs.sort_by_key(|x| x.id);
    let port = xs
        .first()
        .and_then(|x| x.server.rsplit_once(':'))
        .map(|(_, p)| p.to_owned())
        .unwrap_or_default();
    normalise(&mut xs);
    if !port.is_empty() {
        // Same length as the usual ephemeral port, so body lengths keep their values.
        let from = format!(":{port}");
        let to = ":44300";
        for x in &mut xs {
            let j = serde_json::to_string(&*x)?.replace(&from, to);
            *x = serde_json::from_str(&j)?;
            for body in [
                x.request.as_mut().map(|r| &mut r.body),
                x.response.as_mut().map(|r| &mut r.body),
            ]
            .into_iter()
            .flatten()
            {
                body.bytes = replace_bytes(&body.bytes, from.as_bytes(), to.as_bytes());
            }
        }
    }
    let demo = dir.path().join("demo.jsonl");
    write_capture(&demo, &xs, true)?;

    let empty = dir.path().join("empty.jsonl");
    write_capture(&empty, std::iter::empty(), true)?;

    // Malformed: a torn SOAP body, a body that is not SOAP at all, and a line that is not
    // JSON in the middle of the file.
    let mut bad: Vec<Exchange> = xs.iter().take(4).cloned().collect();
    if let Some(r) = bad[0].request.as_mut() {
        let keep = r.body.bytes.len() / 2;
        r.body.bytes.truncate(keep);
    }
    if let Some(r) = bad[1].response.as_mut() {
        r.body.bytes = b"<s:Envelope><s:Body><Oops".to_vec();
    }
    let malformed = dir.path().join("malformed.jsonl");
    write_capture(&malformed, &bad, true)?;
    let text = std::fs::read_to_string(&malformed)?;
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(3, "{\"type\":\"exchange\",\"data\":{\"id\":");
    std::fs::write(&malformed, lines.join("\n") + "\n")?;
    Ok(Fixtures {
        _dir: dir,
        demo,
        empty,
        malformed,
    })
}

fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// Replaces times with a stable clock that keeps the story's long pauses (lock expiry
/// needs them) and drops the jitter; fixes client ports and durations.
fn normalise(xs: &mut [Exchange]) {
    let base = 1_790_000_000_000i64;
    let mut prev_orig: Option<i64> = None;
    let mut t = base;
    for x in xs.iter_mut() {
        let orig = crate::timeline::parse_rfc3339(&x.timings.start).unwrap_or(0);
        if let Some(p) = prev_orig {
            let gap = orig - p;
            t += if gap >= 400 {
                (gap + 250) / 500 * 500
            } else {
                10
            };
        }
        prev_orig = Some(orig);
        x.timings.start = format_rfc3339(t);
        x.timings.connect_ms = None;
        x.timings.tls_ms = None;
        x.timings.request_sent_ms = Some(0.5);
        x.timings.first_response_byte_ms = Some(1.0);
        x.timings.done_ms = Some(1.5);
        x.client_addr = format!("127.0.0.1:{}", 50000 + x.connection_id);
        x.tls = None;
        let fixed = "Thu, 01 Sep 2026 12:00:00 GMT";
        for h in [
            x.request.as_mut().map(|r| &mut r.headers),
            x.response.as_mut().map(|r| &mut r.headers),
        ]
        .into_iter()
        .flatten()
        {
            for (k, v) in &mut h.0 {
                if k.eq_ignore_ascii_case("date") || k.eq_ignore_ascii_case("last-modified") {
                    *v = fixed.to_owned();
                }
            }
        }
    }
}

/// Loads a capture into an app (the real file source, not following) and waits until
/// the source caught up; returns the app and the source channel.
fn load(path: &Path, w: u16, h: u16) -> (App, Receiver<SourceMsg>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let cmd = source::spawn_file(path.to_path_buf(), tx, false);
    let mut app = App::new(
        "capture.jsonl".into(),
        Some(cmd),
        Loader::File(path.to_path_buf()),
        Rect::new(0, 0, w, h),
    );
    pump(&mut app, &rx);
    (app, rx)
}

/// Feeds source messages to the app until it reports caught up.
fn pump(app: &mut App, rx: &Receiver<SourceMsg>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    app.caught_up = false;
    while !app.caught_up && Instant::now() < deadline {
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(100)) {
            app.handle_event(AppEvent::Source(m));
        }
    }
    // A report may follow right behind.
    while let Ok(m) = rx.recv_timeout(Duration::from_millis(50)) {
        app.handle_event(AppEvent::Source(m));
    }
}

fn press(app: &mut App, code: KeyCode) {
    app.handle_event(AppEvent::Term(TermEvent::Key(KeyEvent::new(
        code,
        KeyModifiers::NONE,
    ))));
}

fn typ(app: &mut App, s: &str) {
    for c in s.chars() {
        press(app, KeyCode::Char(c));
    }
}

fn screen(app: &App) -> String {
    let mut term = match Terminal::new(TestBackend::new(app.size.width, app.size.height)) {
        Ok(t) => t,
        Err(e) => return format!("no terminal: {e}"),
    };
    if let Err(e) = term.draw(|f| super::render::render(app, f)) {
        return format!("draw failed: {e}");
    }
    let buf = term.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let mut line = String::new();
        for x in 0..buf.area.width {
            if let Some(c) = buf.cell((x, y)) {
                line.push_str(c.symbol());
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

const SIZES: [(u16, u16); 2] = [(120, 40), (80, 24)];

#[test]
fn snapshots_of_every_view_and_tab() {
    let f = fixtures();
    for (w, h) in SIZES {
        let (mut app, _rx) = load(&f.demo, w, h);
        assert_eq!(app.rows.len(), 43, "the demo story has 43 exchanges");
        insta::assert_snapshot!(format!("exchanges_{w}x{h}"), screen(&app));
        // Exchange 10: C is refused (NumberOfCoauthorsReachedMax).
        for _ in 0..9 {
            press(&mut app, KeyCode::Down);
        }
        press(&mut app, KeyCode::Enter);
        for tab in Tab::ALL {
            assert_eq!(app.detail.as_ref().map(|d| d.tab), Some(tab));
            insta::assert_snapshot!(
                format!("detail_{}_{w}x{h}", tab.title().to_lowercase()),
                screen(&app)
            );
            press(&mut app, KeyCode::Right);
        }
        press(&mut app, KeyCode::Esc);
        press(&mut app, KeyCode::Char('2'));
        insta::assert_snapshot!(format!("timeline_{w}x{h}"), screen(&app));
        press(&mut app, KeyCode::Right);
        press(&mut app, KeyCode::Right);
        press(&mut app, KeyCode::Char('+'));
        insta::assert_snapshot!(format!("timeline_zoomed_{w}x{h}"), screen(&app));
        press(&mut app, KeyCode::Char('3'));
        insta::assert_snapshot!(format!("findings_{w}x{h}"), screen(&app));
        press(&mut app, KeyCode::Char('?'));
        insta::assert_snapshot!(format!("help_{w}x{h}"), screen(&app));
    }
}

#[test]
fn snapshots_of_empty_and_malformed_captures() {
    let f = fixtures();
    for (w, h) in SIZES {
        let (app, _rx) = load(&f.empty, w, h);
        assert!(app.rows.is_empty());
        insta::assert_snapshot!(format!("empty_{w}x{h}"), screen(&app));
        let (mut app, _rx) = load(&f.malformed, w, h);
        assert_eq!(app.rows.len(), 4);
        assert!(app.status.contains("1 unreadable line"), "{}", app.status);
        insta::assert_snapshot!(format!("malformed_{w}x{h}"), screen(&app));
        press(&mut app, KeyCode::Enter);
        insta::assert_snapshot!(format!("malformed_decoded_{w}x{h}"), screen(&app));
    }
}

#[test]
fn a_bad_filter_shows_the_column() {
    let f = fixtures();
    for (w, h) in SIZES {
        let (mut app, _rx) = load(&f.demo, w, h);
        press(&mut app, KeyCode::Char('/'));
        typ(&mut app, "~m POST & (");
        press(&mut app, KeyCode::Enter);
        let e = app.filter_error.clone();
        assert!(e.is_some(), "the filter must fail");
        assert!(app.filter_input.is_some(), "the prompt stays open");
        insta::assert_snapshot!(format!("filter_error_{w}x{h}"), screen(&app));
        press(&mut app, KeyCode::Esc);
        assert!(app.filter_input.is_none());
        assert!(app.filter_text.is_empty());
    }
}

#[test]
fn keys_move_the_selection_and_switch_views() {
    let (mut app, _rx) = load(&fixtures().demo, 120, 40);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('k'));
    assert_eq!(app.selected, 1);
    press(&mut app, KeyCode::End);
    assert_eq!(app.selected, 42);
    press(&mut app, KeyCode::PageUp);
    assert_eq!(app.selected, 42 - 37);
    press(&mut app, KeyCode::Home);
    assert_eq!((app.selected, app.offset), (0, 0));
    press(&mut app, KeyCode::PageDown);
    press(&mut app, KeyCode::PageDown);
    assert_eq!(app.selected, 42);
    assert!(app.offset > 0, "the table scrolled");
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Timeline);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Findings);
    press(&mut app, KeyCode::Tab);
    assert_eq!(app.view, View::Exchanges);
    press(&mut app, KeyCode::Char('?'));
    assert!(app.help);
    press(&mut app, KeyCode::Char('q'));
    assert!(!app.help && !app.quit, "a key closes help first");
    press(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn the_filter_narrows_the_rows() {
    let (mut app, rx) = load(&fixtures().demo, 120, 40);
    press(&mut app, KeyCode::Char('/'));
    typ(&mut app, "~p webdav");
    press(&mut app, KeyCode::Enter);
    assert!(app.filter_error.is_none());
    pump(&mut app, &rx);
    assert_eq!(app.filter_text, "~p webdav");
    assert!(!app.rows.is_empty());
    assert!(
        app.rows.iter().all(|r| r.protocol == "WebDAV"),
        "{:?}",
        app.rows
    );
    // Clearing the filter brings every row back.
    press(&mut app, KeyCode::Char('/'));
    for _ in 0..20 {
        press(&mut app, KeyCode::Backspace);
    }
    press(&mut app, KeyCode::Enter);
    pump(&mut app, &rx);
    assert_eq!(app.rows.len(), 43);
}

#[test]
fn enter_on_a_finding_or_event_opens_its_exchange() {
    let (mut app, _rx) = load(&fixtures().demo, 120, 40);
    let want = app
        .report
        .as_ref()
        .and_then(|r| r.findings.first())
        .and_then(|f| f.exchanges.first().copied());
    press(&mut app, KeyCode::Char('3'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Exchanges);
    assert_eq!(app.rows.get(app.selected).map(|r| r.id), want);
    assert_eq!(app.detail.as_ref().map(|d| d.id), want);

    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Right);
    let want = app
        .timeline
        .events(app.report.as_deref())
        .get(1)
        .map(|e| e.exchange);
    assert!(want.is_some());
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, View::Exchanges);
    assert_eq!(app.detail.as_ref().map(|d| d.id), want);
}

#[test]
fn the_decoded_tree_folds() {
    let (mut app, _rx) = load(&fixtures().demo, 120, 40);
    press(&mut app, KeyCode::Enter);
    let all = app.detail.as_ref().map_or(0, |d| d.visible().len());
    assert!(all > 5);
    // The first node (Protocol) has the summary below it.
    press(&mut app, KeyCode::Enter);
    let folded = app.detail.as_ref().map_or(0, |d| d.visible().len());
    assert!(folded < all);
    press(&mut app, KeyCode::Char(' '));
    assert_eq!(app.detail.as_ref().map_or(0, |d| d.visible().len()), all);
}

#[test]
fn mouse_selects_rows_tabs_and_scrolls() {
    let (mut app, _rx) = load(&fixtures().demo, 120, 40);
    let click = |app: &mut App, column: u16, row: u16| {
        app.handle_event(AppEvent::Term(TermEvent::Mouse(MouseEvent {
            kind: MouseEventKind::Down(MouseButton::Left),
            column,
            row,
            modifiers: KeyModifiers::NONE,
        })));
    };
    // Header line 0, table header line 1, first row on line 2.
    click(&mut app, 10, 5);
    assert_eq!(app.selected, 3);
    app.handle_event(AppEvent::Term(TermEvent::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 10,
        row: 5,
        modifiers: KeyModifiers::NONE,
    })));
    assert_eq!(app.selected, 6);
    press(&mut app, KeyCode::Enter);
    let detail_y = app.areas().detail.y;
    // " Decoded  Request ": Request starts at column 11.
    click(&mut app, 12, detail_y);
    assert_eq!(app.detail.as_ref().map(|d| d.tab), Some(Tab::Request));
    // The view titles in the header.
    click(&mut app, 18, 0);
    assert_eq!(app.view, View::Timeline);
}

#[test]
fn follow_keeps_the_newest_row_selected() {
    let mut app = App::new(
        "t".into(),
        None,
        Loader::File(PathBuf::new()),
        Rect::new(0, 0, 80, 24),
    );
    press(&mut app, KeyCode::Char('f'));
    assert!(app.follow);
    let (tx, rx) = std::sync::mpsc::channel();
    let _cmd = source::spawn_file(fixtures().demo.clone(), tx, false);
    pump(&mut app, &rx);
    assert_eq!(app.selected, 42);
    press(&mut app, KeyCode::Up);
    assert!(!app.follow, "moving up stops following");
}

#[test]
fn the_file_source_follows_a_growing_capture() -> TestResult {
    let f = fixtures();
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("growing.jsonl");
    let text = std::fs::read_to_string(&f.demo)?;
    let lines: Vec<&str> = text.lines().collect();
    // The header and ten exchanges, then a torn line.
    let mut first = lines[..11].join("\n") + "\n";
    first.push_str(&lines[11][..20]);
    std::fs::write(&path, &first)?;
    let (tx, rx) = std::sync::mpsc::channel();
    let _cmd = source::spawn_file(path.clone(), tx, true);
    let mut app = App::new(
        "t".into(),
        None,
        Loader::File(path.clone()),
        Rect::new(0, 0, 80, 24),
    );
    pump(&mut app, &rx);
    assert_eq!(app.rows.len(), 10);
    std::fs::write(&path, text)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.rows.len() < 43 && Instant::now() < deadline {
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(100)) {
            app.handle_event(AppEvent::Source(m));
        }
    }
    assert_eq!(app.rows.len(), 43);
    Ok(())
}

#[test]
fn hex_highlights_the_range_of_the_selected_tree_node() {
    let (mut app, _rx) = load(&fixtures().demo, 120, 40);
    press(&mut app, KeyCode::Enter);
    for _ in 0..40 {
        if app
            .detail
            .as_ref()
            .and_then(|d| d.selected_range())
            .is_some()
        {
            break;
        }
        press(&mut app, KeyCode::Down);
    }
    let range = app.detail.as_ref().and_then(|d| d.selected_range());
    assert!(
        matches!(range, Some((crate::decode::exchange::Side::Request, a, b)) if a < b),
        "{range:?} {:?}",
        app.detail
            .as_ref()
            .map(|d| d.tree.iter().take(12).collect::<Vec<_>>())
    );
    for _ in 0..3 {
        press(&mut app, KeyCode::Right);
    }
    assert_eq!(app.detail.as_ref().map(|d| d.tab), Some(Tab::Hex));
    // Scroll to the range's first line and look for highlighted bytes.
    let first_line = range.map_or(0, |(_, a, _)| a / 16);
    for _ in 0..first_line {
        if let Some(d) = app.detail.as_mut() {
            d.down(1);
        }
    }
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("test backend");
    term.draw(|f| super::render::render(&app, f)).expect("draw");
    let buf = term.backend().buffer();
    let highlighted = buf
        .content()
        .iter()
        .filter(|c| c.bg == ratatui::style::Color::Cyan)
        .count();
    assert!(highlighted > 2, "no highlighted hex bytes");
}

#[test]
fn live_mode_takes_a_burst_and_keeps_a_bounded_ring() -> TestResult {
    let xs: Vec<Exchange> = CaptureReader::open(&fixtures().demo)?.collect::<Result<_, _>>()?;
    let (btx, brx) = tokio::sync::broadcast::channel(8192);
    let (tx, rx) = std::sync::mpsc::channel();
    let (cmd, ring) = source::spawn_live(brx, tx);
    let mut app = App::new(
        "live".into(),
        Some(cmd),
        Loader::Ring(ring.clone()),
        Rect::new(0, 0, 120, 40),
    );
    let n = source::LIVE_RING + 500;
    for i in 0..n {
        let mut x = xs[i % xs.len()].clone();
        x.id = i as u64 + 1;
        btx.send(std::sync::Arc::new(x))?;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.rows.len() < n && Instant::now() < deadline {
        if let Ok(m) = rx.recv_timeout(Duration::from_millis(100)) {
            app.handle_event(AppEvent::Source(m));
        }
    }
    assert_eq!(app.rows.len(), n);
    assert_eq!(ring.lock().map(|r| r.len()).unwrap_or(0), source::LIVE_RING);
    // The newest exchange opens from memory; the oldest was evicted and says so.
    press(&mut app, KeyCode::End);
    press(&mut app, KeyCode::Enter);
    assert!(app.detail.as_ref().is_some_and(|d| d.error.is_none()));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Home);
    press(&mut app, KeyCode::Enter);
    assert!(app
        .detail
        .as_ref()
        .and_then(|d| d.error.as_deref())
        .is_some_and(|e| e.contains("no longer in memory")));
    // Filters apply to the ring and to what comes next.
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('/'));
    typ(&mut app, "~p webdav");
    press(&mut app, KeyCode::Enter);
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(300)) {
            Ok(m) => app.handle_event(AppEvent::Source(m)),
            Err(_) => break,
        }
    }
    assert!(!app.rows.is_empty());
    assert!(app.rows.len() < source::LIVE_RING);
    assert!(app.rows.iter().all(|r| r.protocol == "WebDAV"));
    drop(btx);
    Ok(())
}

#[test]
fn every_view_draws_at_tiny_sizes() {
    let (mut app, _rx) = load(&fixtures().demo, 120, 40);
    press(&mut app, KeyCode::Enter);
    for w in [0u16, 1, 2, 5, 10, 25, 30, 60] {
        for h in [0u16, 1, 2, 3, 4, 6, 9] {
            app.handle_event(AppEvent::Term(TermEvent::Resize(w, h)));
            for view in ['1', '2', '3'] {
                press(&mut app, KeyCode::Char(view));
                for _ in 0..5 {
                    let _ = screen(&app);
                    if let Some(d) = app.detail.as_mut() {
                        d.next_tab();
                    }
                }
            }
            press(&mut app, KeyCode::Char('?'));
            let _ = screen(&app);
            press(&mut app, KeyCode::Char('?'));
        }
    }
}

/// Issue 14.7: text from the wire (URLs, headers, ClientIDs, error text) reaches the UI
/// escaped. ratatui drops control characters, so unescaped they vanished from view (and
/// bidirectional overrides, which are not control characters, reached the terminal).
#[test]
fn text_from_the_wire_is_shown_escaped() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/captures/terminal_escapes.jsonl");
    let (mut app, _rx) = load(&path, 200, 30);
    assert_eq!(app.rows.len(), 2);
    let mut screens = vec![("exchanges".to_owned(), screen(&app))];
    press(&mut app, KeyCode::Enter);
    for tab in Tab::ALL {
        screens.push((format!("exchange 1 {}", tab.title()), screen(&app)));
        press(&mut app, KeyCode::Right);
    }
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Enter);
    screens.push(("exchange 2".to_owned(), screen(&app)));
    press(&mut app, KeyCode::Esc);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Right);
    screens.push(("timeline".to_owned(), screen(&app)));
    press(&mut app, KeyCode::Char('3'));
    screens.push(("findings".to_owned(), screen(&app)));
    for (what, s) in &screens {
        assert!(
            !s.chars().any(|c| c != '\n' && c.is_control()),
            "{what}:\n{s}"
        );
    }
    let all: String = screens.iter().map(|(_, s)| s.as_str()).collect();
    for want in [
        // The Request URL, in the list.
        "?\\u{1b}[2J\\u{7}\\r",
        // The ClientID attribute (`&#27;[41mEVIL&#7;&#13;&#10;`).
        "\\u{1b}[41mEVIL\\u{7}\\r\\n",
        // A request header.
        "evil\\u{1b}[31m\\r",
        // The file name from the SOAP Request Url, in the timeline.
        "Pl\\u{1b}]0;pwned\\u{7}an.docx",
    ] {
        assert!(all.contains(want), "no {want} on any screen:\n{all}");
    }
}

#[test]
fn e_exports_the_selected_exchange_as_curl_and_body_file() -> TestResult {
    let (mut app, _rx) = load(&fixtures().demo, 120, 40);
    let dir = tempfile::tempdir()?;
    app.export_dir = dir.path().to_path_buf();
    let at = app
        .rows
        .iter()
        .position(|r| r.protocol == "FSSHTTP")
        .ok_or("no cell storage row")?;
    app.selected = at;
    let id = app.rows[at].id;
    press(&mut app, KeyCode::Char('E'));
    let script = dir.path().join(format!("synctap-exchange-{id}.sh"));
    assert!(
        app.status.contains("exported as a curl command"),
        "{}",
        app.status
    );
    assert!(screen(&app).contains(&format!("exchange {id} exported")));
    let text = std::fs::read_to_string(&script)?;
    assert!(text.starts_with("#!/usr/bin/env bash\ncurl "), "{text}");
    let body_path = dir.path().join(format!("synctap-exchange-{id}.body"));
    assert!(
        text.contains(&format!("--data-binary '@{}'", body_path.display())),
        "{text}"
    );
    let x = CaptureReader::open(&fixtures().demo)?
        .filter_map(Result::ok)
        .find(|x| x.id == id)
        .ok_or("exchange not in the capture")?;
    let sent = x.request.map(|r| r.body.bytes).unwrap_or_default();
    assert_eq!(std::fs::read(&body_path)?, sent);
    // Where nothing can be written, the status line says why.
    app.export_dir = dir.path().join("missing");
    press(&mut app, KeyCode::Char('E'));
    assert!(
        app.status.contains("not exported: cannot write"),
        "{}",
        app.status
    );
    Ok(())
}

#[test]
fn t_put_changes_in_the_filter_prompt_selects_the_put_changes_exchanges() {
    let (mut app, rx) = load(&fixtures().demo, 120, 40);
    // The oracle: the decoded summaries' sub-request lines (`SubRequest 1: Cell
    // PutChanges → …`), not the filter's facts.
    let want: Vec<u64> = CaptureReader::open(&fixtures().demo)
        .map(|r| r.filter_map(Result::ok).collect::<Vec<Exchange>>())
        .unwrap_or_default()
        .iter()
        .filter(|x| {
            crate::decode::exchange::decode_recorded(x)
                .summary
                .iter()
                .any(|l| l.contains("Cell PutChanges"))
        })
        .map(|x| x.id)
        .collect();
    assert_eq!(
        want.len(),
        5,
        "the demo story uploads five times with PutChanges"
    );
    press(&mut app, KeyCode::Char('/'));
    typ(&mut app, "~t PutChanges");
    press(&mut app, KeyCode::Enter);
    pump(&mut app, &rx);
    let got: Vec<u64> = app.rows.iter().map(|r| r.id).collect();
    assert_eq!(got, want);
    assert!(screen(&app).contains("matching ~t PutChanges"));
}

/// Takes the commands the app sent to the proxy so far.
fn sent(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<crate::model::InterceptCmd>,
) -> Vec<crate::model::InterceptCmd> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

#[test]
fn intercept_keys_and_paused_rows() {
    use crate::model::{Edited, InterceptCmd, InterceptNotice, InterceptSide};
    let f = fixtures();
    let (mut app, _rx) = load(&f.demo, 120, 40);
    let xs: Vec<Exchange> = CaptureReader::open(&f.demo)
        .map(|r| r.filter_map(Result::ok).collect())
        .unwrap_or_default();
    let (tx, mut commands) = tokio::sync::mpsc::unbounded_channel();
    app.intercept = Some(super::intercept::InterceptUi::new(tx));

    // `i` opens the prompt; a bad filter names the column, a good one is sent.
    press(&mut app, KeyCode::Char('i'));
    typ(&mut app, "~m (");
    press(&mut app, KeyCode::Enter);
    assert!(app.filter_error.is_some());
    assert!(screen(&app).contains("intercept requests: ~m (  error at column"));
    press(&mut app, KeyCode::Backspace);
    typ(&mut app, "POST");
    press(&mut app, KeyCode::Enter);
    press(&mut app, KeyCode::Char('I'));
    typ(&mut app, "~c 500");
    press(&mut app, KeyCode::Enter);
    assert_eq!(
        sent(&mut commands),
        [
            InterceptCmd::Filter(InterceptSide::Request, Some("~m POST".into())),
            InterceptCmd::Filter(InterceptSide::Response, Some("~c 500".into())),
        ]
    );
    assert!(app.filter_text.is_empty(), "the view's filter is untouched");

    // Three paused exchanges: rows marked, a count in the header.
    let posts: Vec<&Exchange> = xs
        .iter()
        .filter(|x| x.request.as_ref().is_some_and(|q| q.method == "POST"))
        .take(3)
        .collect();
    assert_eq!(posts.len(), 3);
    for x in &posts {
        app.handle_event(AppEvent::Intercept(InterceptNotice::Paused(
            InterceptSide::Request,
            Box::new((*x).clone()),
        )));
    }
    let s = screen(&app);
    assert!(
        s.contains("3 paused · e edit  a let go  A let all go  x kill"),
        "{s}"
    );
    assert_eq!(s.matches("⏸ PAUSED").count(), 3, "{s}");
    // The header says it all on a wide terminal.
    app.handle_event(AppEvent::Term(TermEvent::Resize(250, 40)));
    let wide = screen(&app);
    app.handle_event(AppEvent::Term(TermEvent::Resize(120, 40)));
    assert!(
        wide.contains("intercepting requests ~m POST · intercepting responses ~c 500 · 3 paused"),
        "{wide}"
    );
    // Exchanges go on in the table above the paused rows.
    assert!(app.areas().table.height > 20);

    // `e` asks the terminal loop for an edit; the edit read back is kept for `a`.
    press(&mut app, KeyCode::Char('e'));
    let Some(edit) = app.edit.take() else {
        panic!("e asks for an edit");
    };
    assert_eq!(edit.id, posts[0].id);
    assert!(edit.text.text.starts_with("POST /"), "{}", edit.text.text);
    // A head that does not parse: said with line and column, still paused, not edited.
    app.edit_done(
        edit.id,
        &edit.text.form,
        Ok(edit.text.text.replacen('\n', "\nnot a header\n", 1)),
    );
    assert!(
        app.status
            .contains("edit not used, still paused: line 2, column 1"),
        "{}",
        app.status
    );
    let with_header = edit.text.text.replacen('\n', "\nX-Edited: yes\n", 1);
    app.edit_done(edit.id, &edit.text.form, Ok(with_header));
    assert!(app.status.contains("edited"), "{}", app.status);
    assert!(screen(&app).contains("⏸ PAUSED, edited"));
    press(&mut app, KeyCode::Char('a'));
    let cmds = sent(&mut commands);
    let [InterceptCmd::Release(id, Some(Edited::Request(q)))] = &cmds[..] else {
        panic!("a lets the edit go: {cmds:?}");
    };
    assert_eq!(*id, posts[0].id);
    assert_eq!(q.headers.get("x-edited"), Some("yes"));

    // `]` selects, `x` kills the selected one.
    press(&mut app, KeyCode::Char(']'));
    press(&mut app, KeyCode::Char('x'));
    assert_eq!(sent(&mut commands), [InterceptCmd::Kill(posts[2].id)]);
    // A client gone: the row says so; `A` clears the list.
    app.handle_event(AppEvent::Intercept(InterceptNotice::Ended(
        posts[1].id,
        "client gone: dropped".into(),
    )));
    let s = screen(&app);
    assert!(s.contains("⊘ client gone: dropped"), "{s}");
    press(&mut app, KeyCode::Char('A'));
    assert_eq!(sent(&mut commands), [InterceptCmd::ReleaseAll]);
    assert_eq!(app.paused_rows(), 0);
    assert!(!screen(&app).contains("paused ·"));
    // Without paused exchanges the keys are the view's again (`a` does nothing here).
    press(&mut app, KeyCode::Char('a'));
    assert!(sent(&mut commands).is_empty());
}
