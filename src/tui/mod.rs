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

use crate::model::Exchange;
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
    run_app(title, rx, Some(cmd), Loader::File(path.to_path_buf()))
}

/// Shows exchanges live from the proxy's broadcast channel until the user quits.
///
/// # Errors
/// When the terminal cannot be set up or drawn to.
pub fn run_live(
    title: String,
    live: tokio::sync::broadcast::Receiver<Arc<Exchange>>,
) -> anyhow::Result<()> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (cmd, ring) = source::spawn_live(live, tx);
    run_app(title, rx, Some(cmd), Loader::Ring(ring))
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
) -> anyhow::Result<()> {
    let mut terminal = ratatui::init();
    let _guard = TerminalGuard;
    let _ = execute!(std::io::stdout(), EnableMouseCapture);
    let size = terminal.size()?;
    let mut app = App::new(title, cmd, loader, Rect::new(0, 0, size.width, size.height));
    let mut next_frame = Instant::now();
    loop {
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
        }
        app.handle_event(AppEvent::Tick);
        if app.quit {
            return Ok(());
        }
    }
}
