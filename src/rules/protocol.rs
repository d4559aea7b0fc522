//! Stand-in for the protocol actions (issue 19 item 3, built on the `protoact` branch):
//! the agreed interface, refusing every verb, so the proxy's wiring compiles and is
//! tested until the real module is merged.

use crate::filter::Filter;
use crate::model::{Headers, Request, Response};

/// A protocol action (`errorcode`, `cell-error`, `coauthstatus`, `locktype`, `fault`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProtocolAction {
    /// Stand-in: `fault`.
    Fault,
}

impl ProtocolAction {
    /// `verb` is the action's first word; `arg` the rest (trimmed). None: not a protocol
    /// verb.
    pub fn parse(verb: &str, arg: &str) -> Option<Result<Self, String>> {
        match verb {
            "fault" if arg.is_empty() => Some(Ok(Self::Fault)),
            "fault" => Some(Err("fault takes no argument".into())),
            _ => None,
        }
    }
}

/// What applying protocol actions to one exchange gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The response to send instead, and how many SubResponses changed.
    Rewritten {
        /// Status.
        status: u16,
        /// Headers.
        headers: Headers,
        /// Body.
        body: Vec<u8>,
        /// SubResponses changed.
        changed: usize,
    },
    /// The action does not fit this exchange: why.
    NotApplicable(String),
}

/// Applies `actions` to the SubResponses of the SubRequests `select` selects.
pub fn apply(
    _request: &Request,
    _response: &Response,
    _select: &Filter,
    _actions: &[ProtocolAction],
) -> Outcome {
    Outcome::NotApplicable("protocol actions are not built in this branch yet".into())
}
