//! The UI's side of the proxy's intercept (`synctap proxy --ui`): the filters typed with
//! `i` and `I`, the list of paused exchanges the proxy told it about, and the commands
//! it sends back. It never touches a socket: the proxy owns the paused exchanges, this
//! only sends [`InterceptCmd`]s on a channel and reads [`InterceptNotice`]s.

use tokio::sync::mpsc::UnboundedSender;

use super::edit::{self, BodyForm, EditText};
use crate::model::{Edited, Exchange, InterceptCmd, InterceptNotice, InterceptSide};

/// One paused exchange.
#[derive(Debug, Clone)]
pub(crate) struct Paused {
    pub side: InterceptSide,
    pub exchange: Box<Exchange>,
    /// The message as edited, to send when let go.
    pub edited: Option<Edited>,
    /// Over without the user (client gone, timed out): why; the row stays until `a`,
    /// `x` or `A`.
    pub gone: Option<String>,
}

impl Paused {
    pub(crate) fn id(&self) -> u64 {
        self.exchange.id
    }
}

/// The intercept's state in the UI.
pub(crate) struct InterceptUi {
    commands: UnboundedSender<InterceptCmd>,
    /// The request and response filters in effect (their text).
    pub filters: [String; 2],
    /// Paused exchanges, oldest first.
    pub paused: Vec<Paused>,
    /// The selected paused exchange.
    pub selected: usize,
}

/// An edit the app asks the terminal loop to run: the exchange id, the text, and how the
/// body was written.
pub(crate) struct EditRequest {
    pub id: u64,
    pub text: EditText,
}

pub(crate) fn slot(side: InterceptSide) -> usize {
    match side {
        InterceptSide::Request => 0,
        InterceptSide::Response => 1,
    }
}

impl InterceptUi {
    pub(crate) fn new(commands: UnboundedSender<InterceptCmd>) -> Self {
        Self {
            commands,
            filters: [String::new(), String::new()],
            paused: Vec::new(),
            selected: 0,
        }
    }

    fn send(&self, c: InterceptCmd) {
        let _ = self.commands.send(c);
    }

    /// Sets the filter for `side` (already parsed by the caller); empty clears it.
    pub(crate) fn set_filter(&mut self, side: InterceptSide, text: String) {
        let cmd = (!text.is_empty()).then(|| text.clone());
        self.filters[slot(side)] = text;
        self.send(InterceptCmd::Filter(side, cmd));
    }

    /// A notice from the proxy; returns the status line to show.
    pub(crate) fn notice(&mut self, n: InterceptNotice) -> Option<String> {
        match n {
            InterceptNotice::Paused(side, exchange) => {
                let id = exchange.id;
                self.paused.push(Paused {
                    side,
                    exchange,
                    edited: None,
                    gone: None,
                });
                Some(format!("exchange {id}: {} paused", side_name(side)))
            }
            InterceptNotice::Ended(id, why) => {
                let i = self.paused.iter().position(|p| p.id() == id);
                match i {
                    Some(i) if why.starts_with("client gone") || why.starts_with("timed out") => {
                        self.paused[i].gone = Some(why.clone());
                    }
                    Some(i) => {
                        self.paused.remove(i);
                        self.clamp();
                    }
                    None => {}
                }
                Some(format!("exchange {id}: {why}"))
            }
            InterceptNotice::NotPaused(id, why) => Some(format!("exchange {id}: {why}")),
        }
    }

    fn clamp(&mut self) {
        self.selected = self.selected.min(self.paused.len().saturating_sub(1));
    }

    /// Moves the paused selection.
    pub(crate) fn move_sel(&mut self, by: isize) {
        self.selected = self.selected.saturating_add_signed(by);
        self.clamp();
    }

    fn current(&self) -> Option<&Paused> {
        self.paused.get(self.selected)
    }

    /// `a`: lets the selected exchange go, as edited when it was.
    pub(crate) fn release(&mut self) -> Option<String> {
        let p = self.take_selected()?;
        let id = p.id();
        if p.gone.is_none() {
            self.send(InterceptCmd::Release(id, p.edited));
        }
        Some(format!("exchange {id}: let go"))
    }

    /// `x`: kills the selected exchange.
    pub(crate) fn kill(&mut self) -> Option<String> {
        let p = self.take_selected()?;
        if p.gone.is_none() {
            self.send(InterceptCmd::Kill(p.id()));
        }
        Some(format!("exchange {}: killed", p.id()))
    }

    /// `A`: lets everything go and clears the list.
    pub(crate) fn release_all(&mut self) -> Option<String> {
        let n = self.paused.iter().filter(|p| p.gone.is_none()).count();
        // Edits made go with their exchanges; the rest go unchanged.
        for p in self.paused.drain(..) {
            if p.gone.is_none() && p.edited.is_some() {
                let _ = self.commands.send(InterceptCmd::Release(p.id(), p.edited));
            }
        }
        self.send(InterceptCmd::ReleaseAll);
        self.selected = 0;
        Some(format!("{n} paused exchanges let go"))
    }

    fn take_selected(&mut self) -> Option<Paused> {
        if self.selected >= self.paused.len() {
            return None;
        }
        let p = self.paused.remove(self.selected);
        self.clamp();
        Some(p)
    }

    /// `e`: the selected message as text to edit, or why not.
    pub(crate) fn edit_request(&self) -> Result<EditRequest, String> {
        let p = self.current().ok_or("nothing paused")?;
        if let Some(why) = &p.gone {
            return Err(format!("exchange {}: {why}", p.id()));
        }
        let mut x = p.exchange.as_ref().clone();
        // Edit again from the last edit.
        match &p.edited {
            Some(Edited::Request(q)) => x.request = Some(q.clone()),
            Some(Edited::Response(r)) => x.response = Some(r.clone()),
            None => {}
        }
        Ok(EditRequest {
            id: p.id(),
            text: edit::to_text(p.side, &x),
        })
    }

    /// The edited file of exchange `id` read back: the edit is kept for `a`, or the
    /// error says where the file is wrong and the exchange stays paused unchanged.
    pub(crate) fn edited(&mut self, id: u64, form: &BodyForm, text: &str) -> String {
        let Some(p) = self.paused.iter_mut().find(|p| p.id() == id) else {
            return format!("exchange {id}: no longer paused; the edit is not used");
        };
        match edit::parse(p.side, &p.exchange, form, text) {
            Ok(e) => {
                p.edited = Some(e);
                let binary = if *form == BodyForm::Binary {
                    " (binary body: head only)"
                } else {
                    ""
                };
                format!("exchange {id}: edited{binary}; a lets it go")
            }
            Err(e) => format!("exchange {id}: edit not used, still paused: {e}"),
        }
    }
}

pub(crate) fn side_name(side: InterceptSide) -> &'static str {
    match side {
        InterceptSide::Request => "request",
        InterceptSide::Response => "response",
    }
}
