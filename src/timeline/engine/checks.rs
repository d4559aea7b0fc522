//! The checks that compare each answer with the state: lock timeouts, grants that
//! conflict with live holders, CoauthStatus, transitions and refusals.

use super::*;

impl FileState {
    pub(super) fn check_timeout(
        &mut self,
        cx: &mut Cx<'_>,
        kind: LaneKind,
        holder: &str,
        op: &str,
        timeout: Option<i64>,
    ) {
        let Some(v) = timeout else {
            return;
        };
        let (lo, hi, substituted) = if kind == LaneKind::ExclusiveLock {
            (60, 120_000, false)
        } else {
            (3600, 120_000, (60..3600).contains(&v))
        };
        if (lo..=hi).contains(&v) {
            return;
        }
        if !self.timeout_warned.insert((kind, holder.to_owned())) {
            return;
        }
        let (sev, why) = if substituted {
            (
                Severity::Info,
                "succeeds, but the server substitutes its default".to_owned(),
            )
        } else {
            (
                Severity::Warning,
                format!("is outside the allowed range {lo}–{hi} s"),
            )
        };
        cx.sink.emit(
            sev,
            Rule::LockTimeoutRange,
            vec![cx.id],
            format!(
                "{op} for {} {holder} asked for Timeout {v} s, which {why}",
                kind.name()
            ),
            SPEC_TIMEOUT,
        );
    }

    /// Checks a shared lock grant to `client` with `schema` against the other holders.
    pub(super) fn check_shared_grant(
        &self,
        cx: &mut Cx<'_>,
        client: &str,
        schema: Option<&str>,
        op: &str,
        exclusive_self: Option<&str>,
    ) {
        let others = self.live_shared(Some(client));
        if let Some(s) = schema {
            if let Some(o) = others
                .iter()
                .find(|o| o.schema_lock_id.as_deref().is_some_and(|x| x != s))
            {
                cx.sink.emit(
                    Severity::Error,
                    Rule::LockSchemaLockIdConflict,
                    vec![o.last_grant, cx.id],
                    format!(
                        "{op} granted ClientID {client} a shared lock with SchemaLockID {s} while ClientID {} held it with SchemaLockID {} ({})",
                        o.holder,
                        o.schema_lock_id.as_deref().unwrap_or("?"),
                        o.live_expiry()
                    ),
                    SPEC_SCHEMA,
                );
            }
        }
        if let Some(x) = self.live_exclusive(exclusive_self).first() {
            cx.sink.emit(
                Severity::Error,
                Rule::LockSharedWhileExclusive,
                vec![x.last_grant, cx.id],
                format!(
                    "{op} granted ClientID {client} a shared lock while exclusive lock {} was held ({})",
                    x.holder,
                    x.live_expiry()
                ),
                SPEC_EXCLUSIVE,
            );
        }
    }

    /// Checks an exclusive lock grant of `lock_id` (by `client` when known).
    pub(super) fn check_exclusive_grant(
        &self,
        cx: &mut Cx<'_>,
        lock_id: &str,
        client: Option<&str>,
        op: &str,
    ) {
        if let Some(x) = self.live_exclusive(Some(lock_id)).first() {
            cx.sink.emit(
                Severity::Error,
                Rule::LockExclusiveConflict,
                vec![x.last_grant, cx.id],
                format!(
                    "{op} granted exclusive lock {lock_id} while exclusive lock {} was held ({})",
                    x.holder,
                    x.live_expiry()
                ),
                SPEC_EXCLUSIVE,
            );
        }
        if let Some(s) = self.live_shared(client).first() {
            cx.sink.emit(
                Severity::Error,
                Rule::LockExclusiveWhileShared,
                vec![s.last_grant, cx.id],
                format!(
                    "{op} granted exclusive lock {lock_id} while ClientID {} held a shared lock ({})",
                    s.holder,
                    s.live_expiry()
                ),
                SPEC_EXCLUSIVE,
            );
        }
    }

    /// Records and checks a CoauthStatus returned to `client`.
    pub(super) fn status(&mut self, cx: &mut Cx<'_>, client: &str, status: &str, op: &str) {
        let others = self.shared_holders(Some(client));
        match status {
            "Alone" if !others.is_empty() => {
                alone_while_shared(
                    cx,
                    &others,
                    format!(
                        "{op} returned CoauthStatus Alone to ClientID {client} while {} held the shared lock",
                        others
                            .iter()
                            .map(|o| format!("ClientID {} (exchange {})", o.0, o.1))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            "Coauthoring" if others.is_empty() => cx.sink.emit(
                Severity::Warning,
                Rule::CoauthStatusCoauthoring,
                vec![cx.id],
                format!(
                    "{op} returned CoauthStatus Coauthoring to ClientID {client} but the proxy saw no other client holding the shared lock; the other coauthor may not pass through the proxy"
                ),
                SPEC_STATUS,
            ),
            _ => {}
        }
        if self.last_status.as_deref() != Some(status) {
            self.last_status = Some(status.to_owned());
            let hist = cx.event_hist;
            push_capped(
                &mut self.status,
                StatusState {
                    time_ms: cx.t,
                    exchange: cx.id,
                    client_id: cx.names.get(client),
                    status: cx.names.get(status),
                    operation: cx.names.get(op),
                },
                hist,
                &mut self.dropped,
            );
        }
    }

    pub(super) fn transition(&mut self, cx: &mut Cx<'_>, id: &str, op: &str) {
        if self.transition.as_deref() == Some(id) {
            return;
        }
        self.transition = Some(id.to_owned());
        let e = EventState::new(
            cx.names,
            cx.t,
            cx.id,
            EventKind::Transition,
            op,
            id,
            None,
            Vec::new(),
        );
        self.file_event(cx, e);
    }

    /// Why a lock request was refused with FileAlreadyLockedOnServer, from the state.
    pub(super) fn holders_against(
        &self,
        exclusive_req: Option<&str>,
        schema: Option<&str>,
        client: Option<&str>,
        any_shared: bool,
    ) -> Vec<String> {
        let mut out: Vec<String> = self
            .live_exclusive(exclusive_req)
            .iter()
            .map(|l| {
                format!(
                    "exclusive lock {} granted in exchange {} ({})",
                    l.holder,
                    l.last_grant,
                    l.live_expiry()
                )
            })
            .collect();
        // A WebDAV write lock on the file refuses cell storage locks too (the reference
        // server and SharePoint both answer FileAlreadyLockedOnServer).
        out.extend(
            self.live_webdav(None)
                .into_iter()
                .map(LaneState::describe_webdav),
        );
        for l in self.live_shared(client) {
            let differs = match (schema, l.schema_lock_id.as_deref()) {
                (Some(a), Some(b)) => a != b,
                _ => false,
            };
            if any_shared || differs {
                out.push(format!(
                    "shared lock of ClientID {} with SchemaLockID {} granted in exchange {} ({})",
                    l.holder,
                    l.schema_lock_id.as_deref().unwrap_or("?"),
                    l.last_grant,
                    l.live_expiry()
                ));
            }
        }
        out
    }

    pub(super) fn failed(&mut self, cx: &mut Cx<'_>, li: usize, op: &Op, r: &OpResult) {
        let code = r.code_text();
        if r.not_run_by_dependency() {
            let meaning = r
                .error_code
                .as_ref()
                .and_then(ErrorCode::meaning)
                .unwrap_or_default();
            let detail = match &r.depends_on {
                Some(d) => format!("{code}: {meaning}; {d}"),
                None => format!("{code}: {meaning}"),
            };
            self.marker(
                cx,
                li,
                EventKind::NotRun,
                &op.operation,
                NOT_RUN_RESULT,
                Some(detail),
                Vec::new(),
            );
            return;
        }
        let detail = match &r.error_code {
            Some(ErrorCode::FileAlreadyLockedOnServer) => {
                let any_shared = matches!(op.kind, OpKind::Exclusive(_));
                let h = self.holders_against(
                    op.exclusive_lock_id.as_deref(),
                    op.schema_lock_id.as_deref(),
                    op.client_id.as_deref(),
                    any_shared,
                );
                if h.is_empty() {
                    cx.sink.emit(
                        Severity::Warning,
                        Rule::LockUnexplainedRefusal,
                        vec![cx.id],
                        format!(
                            "{} was refused with FileAlreadyLockedOnServer{} but the proxy saw no conflicting lock on {}; the holder may be a client that does not pass through the proxy, or a lock taken before the capture",
                            op.operation,
                            r.error_message
                                .as_deref()
                                .map(|m| format!(" (ErrorMessage {m:?})"))
                                .unwrap_or_default(),
                            self.url
                        ),
                        SPEC_REFUSAL,
                    );
                    r.error_message.clone().map(|m| format!("held by {m}"))
                } else {
                    Some(h.join("; "))
                }
            }
            Some(ErrorCode::NumberOfCoauthorsReachedMax) => {
                let live: Vec<String> = self
                    .live_shared(op.client_id.as_deref())
                    .iter()
                    .map(|l| l.holder.clone())
                    .collect();
                Some(format!(
                    "{} coauthors seen live: {}",
                    live.len(),
                    live.join(", ")
                ))
            }
            _ => r.error_message.clone(),
        };
        self.marker(
            cx,
            li,
            EventKind::Failed,
            &op.operation,
            code,
            detail,
            Vec::new(),
        );
    }
}

/// Reports that a client was told it is alone (CoauthStatus Alone, AmIAlone true) while
/// `holders` held the shared lock.
pub(super) fn alone_while_shared(cx: &mut Cx<'_>, holders: &[(String, u64)], sentence: String) {
    let mut ex: Vec<u64> = holders.iter().map(|h| h.1).collect();
    ex.push(cx.id);
    cx.sink.emit(
        Severity::Error,
        Rule::CoauthStatusAlone,
        ex,
        sentence,
        SPEC_STATUS,
    );
}
