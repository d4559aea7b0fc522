//! The terminal UI (ratatui + crossterm): exchanges, lock timeline and findings, from a
//! capture file (followed while it grows) or live from the proxy's broadcast channel.
//!
//! The app owns its state (`app`); drawing (`render`) only reads it; one loop turns
//! terminal input, ticks and source messages into `app::AppEvent`s, drains the source
//! channel once per frame, updates and draws. Sources (`source`) run on their own
//! threads, decode each exchange once into a compact row and fold it into the timeline;
//! full exchanges are loaded on demand. The UI never touches sockets: the proxy sends to
//! a broadcast channel and never waits on it.

mod app;
mod detail;
mod edit;
mod intercept;
mod layout;
mod render;
mod source;
mod state;
#[cfg(test)]
mod tests;
mod timeline;

use std::path::Path;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, DisableMouseCapture, EnableMouseCapture};
use ratatui::crossterm::execute;
use ratatui::layout::Rect;

use crate::model::{Exchange, InterceptCmd, InterceptNotice};
use app::{App, AppEvent, Loader};
use source::SourceMsg;

/// Time between frames.
const FRAME: Duration = Duration::from_millis(33);
/// Most source messages taken per frame, so input stays responsive under load.
const DRAIN_PER_FRAME: usize = 64;

/// Shows the capture at `path`, following it as it grows, until the user quits.
///
/// # Errors
/// When the terminal cannot be set up or drawn to.
pub fn run_capture(path: &Path) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let cmd = source::spawn_file(path.to_path_buf(), tx, true);
    let title = path.display().to_string();
    run_app(title, rx, Some(cmd), Loader::File(path.to_path_buf()), None)
}

/// Shows exchanges live from the proxy's broadcast channel until the user quits.
///
/// # Errors
/// When the terminal cannot be set up or drawn to.
pub fn run_live(
    title: String,
    live: tokio::sync::broadcast::Receiver<Arc<Exchange>>,
    intercept: Option<Intercept>,
) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (cmd, ring) = source::spawn_live(live, tx);
    run_app(title, rx, Some(cmd), Loader::Ring(ring), intercept)
}

/// The proxy's intercept as the UI sees it: where its commands go and where the
/// proxy's notices come from.
pub type Intercept = (
    tokio::sync::mpsc::UnboundedSender<InterceptCmd>,
    Receiver<InterceptNotice>,
);

/// Runs `$EDITOR` (else `vi`) on the text of paused exchange `id`, in a temporary file
/// named by the id (never by anything from the wire), and reads it back.
fn run_editor(id: u64, text: &str) -> Result<String, String> {
    use std::io::Write as _;
    let mut f = tempfile::Builder::new()
        .prefix(&format!("synctap-exchange-{id}-"))
        .suffix(".http")
        .tempfile()
        .map_err(|e| format!("cannot create the file to edit: {e}"))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.flush())
        .map_err(|e| format!("cannot write the file to edit: {e}"))?;
    let editor = std::env::var("EDITOR")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned());
    // Through the shell, so EDITOR may carry arguments (`code -w`); the path is an
    // argument, never spliced into the command.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(f.path())
        .status()
        .map_err(|e| format!("cannot run {editor}: {e}"))?;
    if !status.success() {
        return Err(format!("{editor} exited with {status}"));
    }
    let bytes = std::fs::read(f.path()).map_err(|e| format!("cannot read the edited file: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("the edited file is not UTF-8: {e}"))
}

/// An edited file read back, or the line of the error and its text.
#[doc(hidden)]
pub type EditResult = Result<crate::model::Edited, (usize, String)>;

/// For the `intercept_edit` fuzz target: the text `e` writes for the paused `side` of
/// `x`, that text read back unchanged, and `edited` read back; errors as (line, text).
#[doc(hidden)]
pub fn edit_round_trip(
    side: crate::model::InterceptSide,
    x: &Exchange,
    edited: &str,
) -> (String, EditResult, EditResult) {
    let t = edit::to_text(side, x);
    let read = |s: &str| edit::parse(side, x, &t.form, s).map_err(|e| (e.line, e.to_string()));
    (t.text.clone(), read(&t.text), read(edited))
}

/// Restores the terminal when dropped (early returns, errors); `ratatui::init` covers
/// panics with its hook.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let _ = execute!(std::io::stdout(), DisableMouseCapture);
        ratatui::restore();
    }
}

fn run_app(
    title: String,
    rx: Receiver<SourceMsg>,
    cmd: Option<std::sync::mpsc::Sender<source::SourceCmd>>,
    loader: Loader,
    intercept: Option<Intercept>,
) -> anyhow::Result<()> {
    let mut terminal = ratatui::init();
    let _guard = TerminalGuard;
    let _ = execute!(std::io::stdout(), EnableMouseCapture);
    let size = terminal.size()?;
    let mut app = App::new(title, cmd, loader, Rect::new(0, 0, size.width, size.height));
    let notices = intercept.map(|(commands, notices)| {
        app.intercept = Some(intercept::InterceptUi::new(commands));
        notices
    });
    let mut next_frame = Instant::now();
    loop {
        for n in notices.iter().flat_map(Receiver::try_iter) {
            app.handle_event(AppEvent::Intercept(n));
        }
        if let Some(e) = app.edit.take() {
            // The editor gets the terminal: leave the alternate screen and raw mode,
            // then take them back.
            let _ = execute!(std::io::stdout(), DisableMouseCapture);
            ratatui::restore();
            let text = run_editor(e.id, &e.text.text);
            terminal = ratatui::init();
            let _ = execute!(std::io::stdout(), EnableMouseCapture);
            terminal.clear()?;
            app.edit_done(e.id, &e.text.form, text);
        }
        // One drain of the source per frame.
        for _ in 0..DRAIN_PER_FRAME {
            match rx.try_recv() {
                Ok(m) => app.handle_event(AppEvent::Source(m)),
                Err(_) => break,
            }
        }
        terminal.draw(|f| render::render(&app, f))?;
        next_frame += FRAME;
        let now = Instant::now();
        if next_frame < now {
            next_frame = now;
        }
        // Input until the next frame is due.
        while event::poll(next_frame.saturating_duration_since(Instant::now()))? {
            app.handle_event(AppEvent::Term(event::read()?));
            if app.quit {
                return Ok(());
            }
            if app.edit.is_some() {
                break;
            }
        }
        app.handle_event(AppEvent::Tick);
        if app.quit {
            return Ok(());
        }
    }
}
