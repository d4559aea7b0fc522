//! The UI's state and its one update path: [`App::handle_event`] takes every input (keys,
//! mouse, resize, ticks, source messages) and changes the state; drawing lives in
//! `render` and only reads it. Nothing here touches the terminal, so tests drive the app
//! with key sequences and check the state.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::mpsc::Sender;

use ratatui::crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent,
    MouseEventKind,
};
use ratatui::layout::{Position, Rect};

use super::detail::Detail;
use super::edit::BodyForm;
use super::intercept::{side_name, slot, EditRequest, InterceptUi};
use super::layout::Areas;
use super::source::{load_exchange, Loc, Ring, Row, SourceCmd, SourceMsg};
use super::state::{TimelineState, View, LABEL};
use crate::filter::{Filter, FilterError};
use crate::model::InterceptSide;
use crate::timeline::TimelineReport;

/// Every input the app reacts to.
#[derive(Debug)]
pub(crate) enum AppEvent {
    /// A terminal event (key, mouse, resize).
    Term(TermEvent),
    /// A frame tick.
    Tick,
    /// Something from the exchange source.
    Source(SourceMsg),
    /// Something from the proxy's intercept.
    Intercept(crate::model::InterceptNotice),
}

/// Which filter the prompt edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prompt {
    /// The view's filter (`/`).
    View,
    /// An intercept filter (`i` requests, `I` responses).
    Intercept(InterceptSide),
}

/// Where full exchanges are loaded from.
#[derive(Clone)]
pub(crate) enum Loader {
    /// A capture file.
    File(PathBuf),
    /// The live ring.
    Ring(Ring),
}

/// The application state.
pub(crate) struct App {
    /// Current view.
    pub view: View,
    /// Rows matching the filter, in capture order.
    pub rows: Vec<Row>,
    /// Selected row.
    pub selected: usize,
    /// First visible row.
    pub offset: usize,
    /// Keep the selection on the newest row.
    pub follow: bool,
    /// The open detail pane.
    pub detail: Option<Detail>,
    /// The filter in effect (its text).
    pub filter_text: String,
    /// The filter being typed, when the prompt is open.
    pub filter_input: Option<String>,
    /// The last bad filter.
    pub filter_error: Option<FilterError>,
    /// The help overlay is open.
    pub help: bool,
    /// Timeline and findings.
    pub report: Option<Box<TimelineReport>>,
    /// Exchanges named by a finding.
    pub finding_ids: HashSet<u64>,
    /// Status line text.
    pub status: String,
    /// The source read everything there was.
    pub caught_up: bool,
    /// Timeline view state.
    pub timeline: TimelineState,
    /// Selected finding.
    pub finding_sel: usize,
    /// Quit requested.
    pub quit: bool,
    /// Terminal size.
    pub size: Rect,
    /// What the title says the source is.
    pub title: String,
    /// Where `E` writes the curl command and body file of the selected exchange (the
    /// working directory unless a test says otherwise).
    pub export_dir: PathBuf,
    /// Which filter the prompt edits.
    pub prompt: Prompt,
    /// The proxy's intercept (`proxy --ui`); `None` for a capture file.
    pub intercept: Option<InterceptUi>,
    /// An edit for the terminal loop to run in `$EDITOR` (`e`).
    pub edit: Option<EditRequest>,
    source: Option<Sender<SourceCmd>>,
    loader: Loader,
}

impl App {
    /// A new app over a source.
    pub(crate) fn new(
        title: String,
        source: Option<Sender<SourceCmd>>,
        loader: Loader,
        size: Rect,
    ) -> Self {
        Self {
            view: View::Exchanges,
            rows: Vec::new(),
            selected: 0,
            offset: 0,
            follow: false,
            detail: None,
            filter_text: String::new(),
            filter_input: None,
            filter_error: None,
            help: false,
            report: None,
            finding_ids: HashSet::new(),
            status: String::new(),
            caught_up: false,
            timeline: TimelineState::default(),
            finding_sel: 0,
            quit: false,
            size,
            title,
            export_dir: PathBuf::from("."),
            prompt: Prompt::View,
            intercept: None,
            edit: None,
            source,
            loader,
        }
    }

    /// The screen areas for the current state and size.
    pub(crate) fn areas(&self) -> Areas {
        Areas::new(self.size, self.view, self.detail.is_some()).with_paused(self.paused_rows())
    }

    /// How many paused exchanges the list shows (none without the intercept).
    pub(crate) fn paused_rows(&self) -> usize {
        self.intercept.as_ref().map_or(0, |i| i.paused.len())
    }

    /// Columns of the timeline view's lanes (the body less the lane labels).
    fn lane_cols(&self) -> u16 {
        self.areas().body.width.saturating_sub(LABEL + 1)
    }

    /// Applies one event.
    pub(crate) fn handle_event(&mut self, ev: AppEvent) {
        match ev {
            AppEvent::Term(TermEvent::Key(k)) if k.kind != KeyEventKind::Release => self.key(k),
            AppEvent::Term(TermEvent::Mouse(m)) => self.mouse(m),
            AppEvent::Term(TermEvent::Resize(w, h)) => {
                self.size = Rect::new(0, 0, w, h);
                self.clamp();
            }
            AppEvent::Term(_) | AppEvent::Tick => {}
            AppEvent::Source(m) => self.source_msg(m),
            AppEvent::Intercept(n) => {
                if let Some(s) = self.intercept.as_mut().and_then(|i| i.notice(n)) {
                    self.status = s;
                }
                self.clamp();
            }
        }
    }

    /// The intercept keys: `i`/`I` filters, and on the paused list `e` edit, `a` let
    /// go, `A` let all go, `x` kill, `[`/`]` move. Whether the key was one of them.
    fn intercept_key(&mut self, code: KeyCode) -> bool {
        let Some(ic) = self.intercept.as_mut() else {
            return false;
        };
        let side = match code {
            KeyCode::Char('i') => Some(InterceptSide::Request),
            KeyCode::Char('I') => Some(InterceptSide::Response),
            _ => None,
        };
        if let Some(side) = side {
            self.filter_input = Some(ic.filters[slot(side)].clone());
            self.prompt = Prompt::Intercept(side);
            return true;
        }
        if ic.paused.is_empty() {
            return false;
        }
        let status = match code {
            KeyCode::Char('a') => ic.release(),
            KeyCode::Char('A') => ic.release_all(),
            KeyCode::Char('x') => ic.kill(),
            KeyCode::Char('[') => {
                ic.move_sel(-1);
                None
            }
            KeyCode::Char(']') => {
                ic.move_sel(1);
                None
            }
            KeyCode::Char('e') => match ic.edit_request() {
                Ok(r) => {
                    self.edit = Some(r);
                    None
                }
                Err(e) => Some(e),
            },
            _ => return false,
        };
        if let Some(s) = status {
            self.status = s;
        }
        self.clamp();
        true
    }

    /// The terminal loop ran the editor for exchange `id`: the file's text, or why it
    /// could not.
    pub(crate) fn edit_done(&mut self, id: u64, form: &BodyForm, text: Result<String, String>) {
        let Some(ic) = self.intercept.as_mut() else {
            return;
        };
        self.status = match text {
            Ok(t) => ic.edited(id, form, &t),
            Err(e) => format!("exchange {id}: the editor failed, still paused: {e}"),
        };
    }

    fn source_msg(&mut self, m: SourceMsg) {
        match m {
            SourceMsg::Rows(mut rows) => {
                self.rows.append(&mut rows);
                if self.follow {
                    self.selected = self.rows.len().saturating_sub(1);
                }
                self.clamp();
            }
            SourceMsg::Reset => {
                self.rows.clear();
                self.selected = 0;
                self.offset = 0;
                self.caught_up = false;
            }
            SourceMsg::Report(r) => {
                self.finding_ids = r
                    .findings
                    .iter()
                    .flat_map(|f| f.exchanges.iter().copied())
                    .collect();
                self.report = Some(r);
                self.clamp();
            }
            SourceMsg::Status(s) => self.status = s,
            SourceMsg::CaughtUp => self.caught_up = true,
        }
    }

    fn key(&mut self, k: KeyEvent) {
        if k.modifiers.contains(KeyModifiers::CONTROL) && k.code == KeyCode::Char('c') {
            self.quit = true;
            return;
        }
        if self.filter_input.is_some() {
            self.filter_key(k);
            return;
        }
        if self.help {
            self.help = false;
            return;
        }
        if self.intercept_key(k.code) {
            return;
        }
        match k.code {
            KeyCode::Char('q') => self.quit = true,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Char('1') => self.view = View::Exchanges,
            KeyCode::Char('2') => self.view = View::Timeline,
            KeyCode::Char('3') => self.view = View::Findings,
            KeyCode::Tab => self.view = View::ALL[(self.view.index() + 1) % 3],
            KeyCode::BackTab => self.view = View::ALL[(self.view.index() + 2) % 3],
            KeyCode::Char('/') => {
                self.filter_input = Some(self.filter_text.clone());
                self.prompt = Prompt::View;
            }
            KeyCode::Char('E') if self.view == View::Exchanges => self.export_selected(),
            KeyCode::Char('f') => {
                self.follow = !self.follow;
                if self.follow {
                    self.selected = self.rows.len().saturating_sub(1);
                    self.clamp();
                }
            }
            _ => match self.view {
                View::Exchanges => self.exchanges_key(k.code),
                View::Timeline => self.timeline_key(k.code),
                View::Findings => self.findings_key(k.code),
            },
        }
    }

    fn filter_key(&mut self, k: KeyEvent) {
        let Some(input) = self.filter_input.as_mut() else {
            return;
        };
        match k.code {
            KeyCode::Esc => {
                self.filter_input = None;
                self.filter_error = None;
            }
            KeyCode::Enter => {
                let text = input.trim().to_owned();
                let parsed = if text.is_empty() {
                    Ok(None)
                } else {
                    Filter::parse(&text).map(Some)
                };
                match parsed {
                    Ok(_) if self.prompt != Prompt::View => {
                        self.filter_error = None;
                        self.filter_input = None;
                        if let (Prompt::Intercept(side), Some(ic)) =
                            (self.prompt, self.intercept.as_mut())
                        {
                            self.status = if text.is_empty() {
                                format!("intercept {}s: off", side_name(side))
                            } else {
                                format!("intercepting {}s matching {text}", side_name(side))
                            };
                            ic.set_filter(side, text);
                        }
                    }
                    Ok(f) => {
                        self.filter_error = None;
                        self.filter_input = None;
                        self.filter_text = text;
                        self.detail = None;
                        self.rows.clear();
                        self.selected = 0;
                        self.offset = 0;
                        if let Some(s) = &self.source {
                            let _ = s.send(SourceCmd::SetFilter(f));
                        }
                    }
                    Err(e) => self.filter_error = Some(e),
                }
            }
            KeyCode::Backspace => {
                input.pop();
                self.filter_error = None;
            }
            KeyCode::Char(c) => {
                input.push(c);
                self.filter_error = None;
            }
            _ => {}
        }
    }

    fn page(&self) -> usize {
        usize::from(self.areas().table.height.saturating_sub(1)).max(1)
    }

    fn exchanges_key(&mut self, code: KeyCode) {
        if let Some(d) = self.detail.as_mut() {
            match code {
                KeyCode::Esc => self.detail = None,
                KeyCode::Left | KeyCode::Char('h') => d.prev_tab(),
                KeyCode::Right | KeyCode::Char('l') => d.next_tab(),
                KeyCode::Up | KeyCode::Char('k') => d.up(1),
                KeyCode::Down | KeyCode::Char('j') => d.down(1),
                KeyCode::PageUp => d.up(10),
                KeyCode::PageDown => d.down(10),
                KeyCode::Home => d.up(usize::MAX),
                KeyCode::End => d.down(usize::MAX),
                KeyCode::Enter | KeyCode::Char(' ') => d.toggle(),
                KeyCode::Char('n') => {
                    self.move_sel(1);
                    self.open_detail();
                }
                KeyCode::Char('p') => {
                    self.move_sel(-1);
                    self.open_detail();
                }
                _ => {}
            }
            return;
        }
        let page = self.page() as isize;
        match code {
            KeyCode::Up | KeyCode::Char('k') => self.move_sel(-1),
            KeyCode::Down | KeyCode::Char('j') => self.move_sel(1),
            KeyCode::PageUp => self.move_sel(-page),
            KeyCode::PageDown => self.move_sel(page),
            KeyCode::Home | KeyCode::Char('g') => self.move_sel(isize::MIN),
            KeyCode::End | KeyCode::Char('G') => self.move_sel(isize::MAX),
            KeyCode::Enter => self.open_detail(),
            _ => {}
        }
    }

    fn move_sel(&mut self, by: isize) {
        if by < 0 {
            self.follow = false;
        }
        let last = self.rows.len().saturating_sub(1);
        self.selected = if by < 0 {
            self.selected.saturating_sub(by.unsigned_abs())
        } else {
            self.selected.saturating_add(by.unsigned_abs()).min(last)
        };
        self.clamp();
    }

    /// Keeps selection and scroll offsets in range.
    fn clamp(&mut self) {
        let n = self.rows.len();
        self.selected = self.selected.min(n.saturating_sub(1));
        let h = self.page();
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + h {
            self.offset = self.selected + 1 - h;
        }
        self.offset = self.offset.min(n.saturating_sub(1));
        if let Some(r) = &self.report {
            self.timeline.file = self.timeline.file.min(r.files.len().saturating_sub(1));
            self.finding_sel = self.finding_sel.min(r.findings.len().saturating_sub(1));
        }
    }

    /// Opens the detail pane on the selected row.
    pub(crate) fn open_detail(&mut self) {
        let Some(row) = self.rows.get(self.selected) else {
            return;
        };
        let id = row.id;
        let tab = self.detail.as_ref().map(|d| d.tab);
        let mut d = Detail::new(id, self.load_selected());
        if let Some(t) = tab {
            d.tab = t;
        }
        self.detail = Some(d);
    }

    /// `E`: writes a curl command reproducing the selected exchange to
    /// `synctap-exchange-N.sh` in [`App::export_dir`], and its request body beside it
    /// (`synctap-exchange-N.body`, named by the id, never by the wire); the status line
    /// says what was written or why not.
    fn export_selected(&mut self) {
        let Some(id) = self.rows.get(self.selected).map(|r| r.id) else {
            return;
        };
        self.status = match self.export(id) {
            Ok(script) => format!("exchange {id} exported as a curl command: {script}"),
            Err(e) => format!("exchange {id} not exported: {e}"),
        };
    }

    fn export(&self, id: u64) -> Result<String, String> {
        use crate::capture::reproduce;
        let x = self.load_selected()?;
        let body_path = self.export_dir.join(reproduce::body_file_name(id));
        let (cmd, body) =
            reproduce::curl(&x, &body_path.to_string_lossy()).map_err(|e| e.to_string())?;
        let script = self.export_dir.join(format!("synctap-exchange-{id}.sh"));
        let write = |p: &std::path::Path, bytes: &[u8]| {
            std::fs::write(p, bytes).map_err(|e| format!("cannot write {}: {e}", p.display()))
        };
        if let Some(b) = body {
            write(&body_path, &b)?;
        }
        write(&script, format!("#!/usr/bin/env bash\n{cmd}").as_bytes())?;
        Ok(script.display().to_string())
    }

    /// The selected exchange, read back from the capture or the live ring.
    fn load_selected(&self) -> Result<crate::model::Exchange, String> {
        let Some(row) = self.rows.get(self.selected) else {
            return Err("no exchange selected".to_owned());
        };
        match (&row.loc, &self.loader) {
            (Loc::File { start }, Loader::File(p)) => {
                load_exchange(p, *start, row.id).map_err(|e| format!("{e:#}"))
            }
            (Loc::Memory, Loader::Ring(r)) => r
                .lock()
                .ok()
                .and_then(|r| r.iter().find(|x| x.id == row.id).map(|x| (**x).clone()))
                .ok_or_else(|| {
                    "no longer in memory (the UI keeps the latest exchanges): open the capture \
                     with synctap ui"
                        .to_owned()
                }),
            _ => Err("not available".to_owned()),
        }
    }

    /// Selects the exchange `id` in view 1 and opens it.
    pub(crate) fn jump_to(&mut self, id: u64) {
        match self.rows.iter().position(|r| r.id == id) {
            Some(i) => {
                self.view = View::Exchanges;
                self.follow = false;
                self.selected = i;
                self.clamp();
                self.open_detail();
            }
            None => self.status = format!("exchange #{id} is not listed (filter?)"),
        }
    }

    fn findings_key(&mut self, code: KeyCode) {
        let n = self.report.as_deref().map_or(0, |r| r.findings.len());
        match code {
            KeyCode::Up | KeyCode::Char('k') => {
                self.finding_sel = self.finding_sel.saturating_sub(1)
            }
            KeyCode::Down | KeyCode::Char('j') => {
                self.finding_sel = (self.finding_sel + 1).min(n.saturating_sub(1));
            }
            KeyCode::PageUp => self.finding_sel = self.finding_sel.saturating_sub(10),
            KeyCode::PageDown => {
                self.finding_sel = (self.finding_sel + 10).min(n.saturating_sub(1))
            }
            KeyCode::Home => self.finding_sel = 0,
            KeyCode::End => self.finding_sel = n.saturating_sub(1),
            KeyCode::Enter => {
                let id = self.report.as_deref().and_then(|r| {
                    r.findings
                        .get(self.finding_sel)
                        .and_then(|f| f.exchanges.first().copied())
                });
                if let Some(id) = id {
                    self.jump_to(id);
                }
            }
            _ => {}
        }
    }

    fn timeline_key(&mut self, code: KeyCode) {
        let files = self.report.as_deref().map_or(0, |r| r.files.len());
        let events = self.timeline.events(self.report.as_deref()).len();
        let cols = self.lane_cols();
        let t = &mut self.timeline;
        match code {
            KeyCode::Up | KeyCode::Char('k') => {
                t.file = t.file.saturating_sub(1);
                t.cursor = 0;
            }
            KeyCode::Down | KeyCode::Char('j') => {
                t.file = (t.file + 1).min(files.saturating_sub(1));
                t.cursor = 0;
            }
            KeyCode::Left | KeyCode::Char('h') => t.cursor = t.cursor.saturating_sub(1),
            KeyCode::Right | KeyCode::Char('l') => {
                t.cursor = (t.cursor + 1).min(events.saturating_sub(1));
            }
            KeyCode::Home => t.cursor = 0,
            KeyCode::End => t.cursor = events.saturating_sub(1),
            KeyCode::Char('+') | KeyCode::Char('=') => {
                t.zoom(self.report.as_deref(), cols, true);
            }
            KeyCode::Char('-') => t.zoom(self.report.as_deref(), cols, false),
            KeyCode::Char('0') => {
                t.start_ms = None;
                t.ms_per_col = None;
            }
            KeyCode::Enter => {
                let ev = t.events(self.report.as_deref());
                if let Some(e) = ev.get(self.timeline.cursor) {
                    let id = e.exchange;
                    self.jump_to(id);
                }
            }
            _ => {}
        }
        if code == KeyCode::Left || code == KeyCode::Right {
            self.timeline
                .keep_cursor_visible(self.report.as_deref(), cols);
        }
    }

    fn mouse(&mut self, m: MouseEvent) {
        let a = self.areas();
        let p = Position::new(m.column, m.row);
        match m.kind {
            MouseEventKind::Down(MouseButton::Left) => {
                if a.header.contains(p) {
                    if let Some(v) = a.view_at(m.column) {
                        self.view = v;
                    }
                    return;
                }
                match self.view {
                    View::Exchanges => {
                        if a.table.contains(p) && m.row > a.table.y {
                            let i = self.offset + usize::from(m.row - a.table.y - 1);
                            if i < self.rows.len() {
                                self.selected = i;
                                self.follow = false;
                                if self.detail.is_some() {
                                    self.open_detail();
                                }
                            }
                        } else if a.detail.contains(p) && m.row == a.detail.y {
                            if let (Some(d), Some(t)) =
                                (self.detail.as_mut(), Areas::tab_at(a.detail, m.column))
                            {
                                d.tab = t;
                            }
                        }
                    }
                    View::Findings => {
                        if m.row > a.body.y {
                            let i = usize::from(m.row - a.body.y - 1);
                            let n = self.report.as_deref().map_or(0, |r| r.findings.len());
                            if i < n {
                                self.finding_sel = i;
                            }
                        }
                    }
                    View::Timeline => {}
                }
            }
            MouseEventKind::ScrollDown | MouseEventKind::ScrollUp => {
                let by: isize = if m.kind == MouseEventKind::ScrollDown {
                    3
                } else {
                    -3
                };
                match (self.view, self.detail.as_mut()) {
                    (View::Exchanges, Some(d)) if a.detail.contains(p) => {
                        if by > 0 {
                            d.down(3);
                        } else {
                            d.up(3);
                        }
                    }
                    (View::Exchanges, _) => self.move_sel(by),
                    (View::Findings, _) => {
                        self.findings_key(if by > 0 { KeyCode::Down } else { KeyCode::Up });
                    }
                    (View::Timeline, _) => {
                        self.timeline_key(if by > 0 {
                            KeyCode::Right
                        } else {
                            KeyCode::Left
                        });
                    }
                }
            }
            _ => {}
        }
    }
}
