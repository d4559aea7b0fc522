//! The form the history is kept in: spans, refreshes, events and CoauthStatus changes
//! with times as milliseconds only (the RFC 3339 text is made when a report is written)
//! and the operation names, results, ClientIDs and SchemaLockIDs shared through [`Names`]
//! (a timeline repeats a few dozen of them millions of times). A report's [`Span`],
//! [`Event`] and [`StatusChange`] are made from these, one file at a time.

use std::collections::HashSet;
use std::sync::Arc;

use super::{Event, EventKind, LaneRef, Refresh, Span, SpanEnd, StatusChange};
use crate::util::format_rfc3339;

/// How many distinct strings [`Names`] shares; later ones are stored on their own, so
/// strings from the wire cannot grow it without bound.
const MAX_NAMES: usize = 4_096;

/// Shared copies of the strings a timeline repeats.
#[derive(Default)]
pub(super) struct Names(HashSet<Arc<str>>);

impl Names {
    /// The shared copy of `s`.
    pub(super) fn get(&mut self, s: &str) -> Arc<str> {
        if let Some(n) = self.0.get(s) {
            return Arc::clone(n);
        }
        let n: Arc<str> = Arc::from(s);
        if self.0.len() < MAX_NAMES {
            self.0.insert(Arc::clone(&n));
        }
        n
    }
}

/// A [`Span`] as kept.
#[derive(Debug, Clone)]
pub(super) struct SpanState {
    pub(super) start_ms: i64,
    pub(super) end_ms: Option<i64>,
    pub(super) ended: SpanEnd,
    pub(super) granted_by: Arc<str>,
    pub(super) start_seen: bool,
    pub(super) opened_by: u64,
    pub(super) closed_by: Option<u64>,
    pub(super) refreshes: u64,
    pub(super) refresh_log: Vec<RefreshState>,
    pub(super) timeout: Option<i64>,
    pub(super) expires_ms: Option<i64>,
    pub(super) schema_lock_id: Option<Arc<str>>,
    pub(super) converted_from: Option<Box<LaneRef>>,
    pub(super) converted_to: Option<Box<LaneRef>>,
}

impl SpanState {
    pub(super) fn to_span(&self) -> Span {
        Span {
            start: format_rfc3339(self.start_ms),
            start_ms: self.start_ms,
            end: self.end_ms.map(format_rfc3339),
            end_ms: self.end_ms,
            ended: self.ended,
            granted_by: self.granted_by.to_string(),
            start_seen: self.start_seen,
            opened_by: self.opened_by,
            closed_by: self.closed_by,
            refreshes: self.refreshes,
            refresh_log: self
                .refresh_log
                .iter()
                .map(RefreshState::to_refresh)
                .collect(),
            timeout: self.timeout,
            expires: self.expires_ms.map(format_rfc3339),
            expires_ms: self.expires_ms,
            schema_lock_id: self.schema_lock_id.as_deref().map(str::to_owned),
            converted_from: self.converted_from.as_deref().cloned(),
            converted_to: self.converted_to.as_deref().cloned(),
        }
    }
}

/// A [`Refresh`] as kept.
#[derive(Debug, Clone)]
pub(super) struct RefreshState {
    pub(super) exchange: u64,
    pub(super) time_ms: i64,
    pub(super) operation: Arc<str>,
    pub(super) timeout: Option<i64>,
    pub(super) expires_ms: Option<i64>,
}

impl RefreshState {
    fn to_refresh(&self) -> Refresh {
        Refresh {
            exchange: self.exchange,
            time: format_rfc3339(self.time_ms),
            time_ms: self.time_ms,
            operation: self.operation.to_string(),
            timeout: self.timeout,
            expires: self.expires_ms.map(format_rfc3339),
        }
    }
}

/// An [`Event`] as kept.
#[derive(Debug, Clone)]
pub(super) struct EventState {
    pub(super) time_ms: i64,
    pub(super) exchange: u64,
    pub(super) kind: EventKind,
    pub(super) operation: Arc<str>,
    pub(super) result: Arc<str>,
    pub(super) detail: Option<Box<str>>,
    pub(super) related: Box<[u64]>,
}

impl EventState {
    /// The event `kind` of operation `op` at `time_ms` in exchange `exchange`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        names: &mut Names,
        time_ms: i64,
        exchange: u64,
        kind: EventKind,
        op: &str,
        result: &str,
        detail: Option<String>,
        related: Vec<u64>,
    ) -> Self {
        Self {
            time_ms,
            exchange,
            kind,
            operation: names.get(op),
            result: names.get(result),
            detail: detail.map(String::into_boxed_str),
            related: related.into_boxed_slice(),
        }
    }

    pub(super) fn to_event(&self) -> Event {
        Event {
            time: format_rfc3339(self.time_ms),
            time_ms: self.time_ms,
            exchange: self.exchange,
            kind: self.kind,
            operation: self.operation.to_string(),
            result: self.result.to_string(),
            detail: self.detail.as_deref().map(str::to_owned),
            related: self.related.to_vec(),
        }
    }
}

/// A [`StatusChange`] as kept.
#[derive(Debug, Clone)]
pub(super) struct StatusState {
    pub(super) time_ms: i64,
    pub(super) exchange: u64,
    pub(super) client_id: Arc<str>,
    pub(super) status: Arc<str>,
    pub(super) operation: Arc<str>,
}

impl StatusState {
    pub(super) fn to_status(&self) -> StatusChange {
        StatusChange {
            time: format_rfc3339(self.time_ms),
            time_ms: self.time_ms,
            exchange: self.exchange,
            client_id: self.client_id.to_string(),
            status: self.status.to_string(),
            operation: self.operation.to_string(),
        }
    }
}
