//! MS-FSSHTTP subrequests folded into a file's lanes: Coauth, SchemaLock, ExclusiveLock,
//! EditorsTable, AmIAlone and Cell (uploads, downloads, the coherency failure story).

use super::*;

impl FileState {
    pub(super) fn apply_op(&mut self, cx: &mut Cx<'_>, op: &Op, sender: &str) {
        let client = op.client_id.clone().unwrap_or_else(|| sender.to_owned());
        match &op.kind {
            OpKind::Coauth(t) => self.coauth(cx, op, t, &client),
            OpKind::SchemaLock(t) => self.schema_lock(cx, op, t, &client),
            OpKind::Exclusive(t) => self.exclusive(cx, op, t, &client),
            OpKind::Editors(t) => self.editors(cx, op, t, &client),
            OpKind::Cell(c) => self.cell(cx, op, *c, &client),
            OpKind::AmIAlone => self.am_i_alone(cx, op),
            OpKind::LockStatus | OpKind::Other => {}
        }
    }

    pub(super) fn coauth(&mut self, cx: &mut Cx<'_>, op: &Op, t: &CoauthRequestType, client: &str) {
        use CoauthRequestType as C;
        let timed = matches!(
            t,
            C::JoinCoauthoring | C::RefreshCoauthoring | C::ConvertToExclusive
        );
        let Some((li, r)) = self.shared_lane_op(cx, LaneKind::Coauth, op, client, timed) else {
            return;
        };
        match t {
            C::JoinCoauthoring | C::RefreshCoauthoring => {
                let refresh = *t == C::RefreshCoauthoring;
                self.shared_or_fallback_grant(cx, li, op, r, client, refresh);
                if let Some(s) = &r.coauth_status {
                    self.status(cx, client, s, &op.operation);
                }
                if let Some(tr) = &r.transition_id {
                    self.transition(cx, tr, &op.operation);
                }
            }
            C::ExitCoauthoring => self.release(cx, li, op, client),
            C::ConvertToExclusive => self.convert_to_exclusive(cx, li, op, client),
            C::MarkTransitionComplete => {
                let e = EventState::new(
                    cx.names,
                    cx.t,
                    cx.id,
                    EventKind::TransitionComplete,
                    &op.operation,
                    "Success",
                    Some(format!("ClientID {client} now coauthoring")),
                    Vec::new(),
                );
                self.file_event(cx, e);
            }
            C::GetCoauthoringStatus => {
                if let Some(s) = &r.coauth_status {
                    self.status(cx, client, s, &op.operation);
                }
            }
            C::CheckLockAvailability | C::Other(_) => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn shared_grant(
        &mut self,
        cx: &mut Cx<'_>,
        li: usize,
        op: &Op,
        client: &str,
        refresh: bool,
        from: Option<LaneRef>,
        exclusive_self: Option<&str>,
    ) {
        let schema = op.schema_lock_id.as_deref();
        self.check_shared_grant(cx, client, schema, &op.operation, exclusive_self);
        let g = self.grant(cx, li, &op.operation, op.timeout, schema, refresh, from);
        if g == Grant::AfterExpiry {
            self.after_expiry(cx, li, op);
        }
    }

    pub(super) fn after_expiry(&self, cx: &mut Cx<'_>, li: usize, op: &Op) {
        let Some(l) = self.lanes.get(li) else {
            return;
        };
        let prev = l.spans.back();
        let (ended, ex) = prev
            .and_then(|s| {
                s.end_ms
                    .map(|e| (clock(e), s.closed_by.unwrap_or(s.opened_by)))
            })
            .unwrap_or_else(|| ("earlier".to_owned(), cx.id));
        cx.sink.emit(
            Severity::Warning,
            Rule::LockRefreshAfterExpiry,
            vec![ex, cx.id],
            format!(
                "{} for {} {} was granted at {} although the lock had expired at {ended}; the server re-granted it as a new lock, and another client could have taken a conflicting lock in between",
                op.operation,
                l.kind.name(),
                l.holder,
                clock(cx.t)
            ),
            SPEC_EXPIRY,
        );
    }

    pub(super) fn release(&mut self, cx: &mut Cx<'_>, li: usize, op: &Op, holder: &str) {
        let Some(l) = self.lanes.get_mut(li) else {
            return;
        };
        if l.open.is_some() {
            l.close(SpanEnd::Released, cx.t, cx.id, None, cx.hist);
            return;
        }
        let seen_end = l.last_end;
        let kind = l.kind;
        let exclusive = kind == LaneKind::ExclusiveLock;
        let other_exclusive = exclusive && !self.live_exclusive(Some(holder)).is_empty();
        let (sev, why) = match seen_end {
            Some(e) if exclusive => (
                Severity::Error,
                format!("its lock had already {} (an exclusive ReleaseLock without a lock must fail with FileNotLockedOnServer)", e.word()),
            ),
            _ if other_exclusive => (
                Severity::Error,
                "another exclusive lock is held (the answer must be FileAlreadyLockedOnServer)".to_owned(),
            ),
            Some(e) => (
                Severity::Warning,
                format!("its lock had already {}", e.word()),
            ),
            None => (
                Severity::Warning,
                "the proxy saw no grant; the lock may predate the capture or come from a client it does not see".to_owned(),
            ),
        };
        cx.sink.emit(
            sev,
            Rule::LockReleaseWithoutLock,
            vec![cx.id],
            format!(
                "{} for {} {holder} was answered Success but it held nothing: {why}",
                op.operation,
                kind.name()
            ),
            SPEC_RELEASE,
        );
    }

    pub(super) fn convert_to_exclusive(
        &mut self,
        cx: &mut Cx<'_>,
        li: usize,
        op: &Op,
        client: &str,
    ) {
        let lock_id = op
            .exclusive_lock_id
            .clone()
            .unwrap_or_else(|| format!("(converted from {client})"));
        let from = self.lanes.get(li).map(LaneState::lane_ref);
        let xi = self.lane(LaneKind::ExclusiveLock, &lock_id);
        let to = self.lanes.get(xi).map(LaneState::lane_ref);
        if let Some(l) = self.lanes.get_mut(li) {
            l.close(SpanEnd::Converted, cx.t, cx.id, to, cx.hist);
        }
        self.check_exclusive_grant(cx, &lock_id, Some(client), &op.operation);
        if let Some(l) = self.lanes.get_mut(xi) {
            l.client_id = Some(client.to_owned());
        }
        self.grant(cx, xi, &op.operation, op.timeout, None, false, from);
    }

    /// A refused Coauth or SchemaLock request: a failed conversion also ends the shared
    /// lock (ExitCoauthSessionAsConvertToExclusiveFailed), then the marker.
    /// A shared-lock subrequest of `client` on its `kind` lane: its Timeout checked when
    /// it asks for one (`timed`), then the lane and the result when it succeeded.
    fn shared_lane_op<'o>(
        &mut self,
        cx: &mut Cx<'_>,
        kind: LaneKind,
        op: &'o Op,
        client: &str,
        timed: bool,
    ) -> Option<(usize, &'o OpResult)> {
        let li = self.lane(kind, client);
        if timed {
            self.check_timeout(cx, kind, client, &op.operation, op.timeout);
        }
        let r = self.succeeded(cx, li, op, Self::shared_failed)?;
        Some((li, r))
    }

    /// The result of a subrequest that succeeded; a failed one is recorded on lane `li`
    /// with `on_failure` (`shared_failed` or `failed`) and gives `None`, as does one
    /// without a result.
    fn succeeded<'o>(
        &mut self,
        cx: &mut Cx<'_>,
        li: usize,
        op: &'o Op,
        on_failure: fn(&mut Self, &mut Cx<'_>, usize, &Op, &OpResult),
    ) -> Option<&'o OpResult> {
        let r = op.result.as_ref()?;
        if !r.success() {
            on_failure(self, cx, li, op, r);
            return None;
        }
        Some(r)
    }

    pub(super) fn shared_failed(&mut self, cx: &mut Cx<'_>, li: usize, op: &Op, r: &OpResult) {
        if r.error_code == Some(ErrorCode::ExitCoauthSessionAsConvertToExclusiveFailed) {
            if let Some(l) = self.lanes.get_mut(li) {
                l.close(SpanEnd::Removed, cx.t, cx.id, None, cx.hist);
            }
        }
        self.failed(cx, li, op, r);
    }

    /// A granted shared lock, or the exclusive lock the server fell back to (coauthoring
    /// disabled, file checked out...), on its own ExclusiveLockID lane.
    pub(super) fn shared_or_fallback_grant(
        &mut self,
        cx: &mut Cx<'_>,
        li: usize,
        op: &Op,
        r: &OpResult,
        client: &str,
        refresh: bool,
    ) {
        if r.lock_type == Some(LockType::ExclusiveLock) {
            let lock_id = op
                .exclusive_lock_id
                .clone()
                .unwrap_or_else(|| format!("(fallback of {client})"));
            self.check_exclusive_grant(cx, &lock_id, Some(client), &op.operation);
            let xi = self.lane(LaneKind::ExclusiveLock, &lock_id);
            if let Some(l) = self.lanes.get_mut(xi) {
                l.client_id = Some(client.to_owned());
            }
            self.grant(cx, xi, &op.operation, op.timeout, None, refresh, None);
        } else {
            self.shared_grant(cx, li, op, client, refresh, None, None);
        }
    }

    pub(super) fn schema_lock(
        &mut self,
        cx: &mut Cx<'_>,
        op: &Op,
        t: &SchemaLockRequestType,
        client: &str,
    ) {
        use SchemaLockRequestType as S;
        let timed = matches!(t, S::GetLock | S::RefreshLock | S::ConvertToExclusive);
        let Some((li, r)) = self.shared_lane_op(cx, LaneKind::SchemaLock, op, client, timed) else {
            return;
        };
        match t {
            S::GetLock | S::RefreshLock => {
                let refresh = *t == S::RefreshLock;
                self.shared_or_fallback_grant(cx, li, op, r, client, refresh);
            }
            S::ReleaseLock => self.release(cx, li, op, client),
            S::ConvertToExclusive => self.convert_to_exclusive(cx, li, op, client),
            S::CheckLockAvailability | S::Other(_) => {}
        }
    }

    pub(super) fn exclusive(
        &mut self,
        cx: &mut Cx<'_>,
        op: &Op,
        t: &ExclusiveLockRequestType,
        client: &str,
    ) {
        use ExclusiveLockRequestType as X;
        let lock_id = op
            .exclusive_lock_id
            .clone()
            .unwrap_or_else(|| "(no ExclusiveLockID)".to_owned());
        let li = self.lane(LaneKind::ExclusiveLock, &lock_id);
        if matches!(t, X::GetLock | X::RefreshLock) {
            self.check_timeout(
                cx,
                LaneKind::ExclusiveLock,
                &lock_id,
                &op.operation,
                op.timeout,
            );
        }
        if matches!(t, X::ConvertToSchema | X::ConvertToSchemaJoinCoauth) {
            self.check_timeout(cx, LaneKind::Coauth, client, &op.operation, op.timeout);
        }
        let Some(r) = self.succeeded(cx, li, op, Self::failed) else {
            return;
        };
        match t {
            X::GetLock | X::RefreshLock => {
                let refresh = *t == X::RefreshLock;
                if self.lanes.get(li).is_some_and(|l| l.open.is_none()) {
                    self.check_exclusive_grant(
                        cx,
                        &lock_id,
                        op.client_id.as_deref(),
                        &op.operation,
                    );
                }
                let g = self.grant(cx, li, &op.operation, op.timeout, None, refresh, None);
                if g == Grant::AfterExpiry {
                    self.after_expiry(cx, li, op);
                }
            }
            X::ReleaseLock => self.release(cx, li, op, &lock_id),
            X::ConvertToSchema | X::ConvertToSchemaJoinCoauth => {
                let kind = if *t == X::ConvertToSchema {
                    LaneKind::SchemaLock
                } else {
                    LaneKind::Coauth
                };
                let from = self.lanes.get(li).map(LaneState::lane_ref);
                let si = self.lane(kind, client);
                let to = self.lanes.get(si).map(LaneState::lane_ref);
                if let Some(l) = self.lanes.get_mut(li) {
                    l.client_id = Some(client.to_owned());
                    l.close(SpanEnd::Converted, cx.t, cx.id, to, cx.hist);
                }
                self.shared_grant(cx, si, op, client, false, from, Some(lock_id.as_str()));
                if let Some(s) = &r.coauth_status {
                    self.status(cx, client, s, &op.operation);
                }
                if let Some(tr) = &r.transition_id {
                    self.transition(cx, tr, &op.operation);
                }
            }
            X::CheckLockAvailability | X::Other(_) => {}
        }
    }

    pub(super) fn editors(
        &mut self,
        cx: &mut Cx<'_>,
        op: &Op,
        t: &EditorsTableRequestType,
        client: &str,
    ) {
        use EditorsTableRequestType as E;
        let li = self.lane(LaneKind::EditorsTable, client);
        if matches!(t, E::JoinEditingSession | E::RefreshEditingSession) {
            self.check_timeout(
                cx,
                LaneKind::EditorsTable,
                client,
                &op.operation,
                op.timeout,
            );
        }
        if self.succeeded(cx, li, op, Self::failed).is_none() {
            return;
        }
        match t {
            E::JoinEditingSession | E::RefreshEditingSession => {
                let refresh = *t == E::RefreshEditingSession;
                self.grant(cx, li, &op.operation, op.timeout, None, refresh, None);
            }
            E::LeaveEditingSession => {
                if let Some(l) = self.lanes.get_mut(li) {
                    l.close(SpanEnd::Released, cx.t, cx.id, None, cx.hist);
                }
            }
            _ => {}
        }
    }

    pub(super) fn am_i_alone(&mut self, cx: &mut Cx<'_>, op: &Op) {
        let Some(r) = &op.result else {
            return;
        };
        let Some(alone) = r.am_i_alone else {
            return;
        };
        let live = self.shared_holders(None);
        if alone && live.len() >= 2 {
            checks::alone_while_shared(
                cx,
                &live,
                format!(
                    "AmIAlone answered true while {} clients held the shared lock ({})",
                    live.len(),
                    live.iter()
                        .map(|l| l.0.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            );
        }
        let e = EventState::new(
            cx.names,
            cx.t,
            cx.id,
            EventKind::AmIAlone,
            &op.operation,
            &alone.to_string(),
            None,
            Vec::new(),
        );
        self.file_event(cx, e);
    }

    pub(super) fn cell(&mut self, cx: &mut Cx<'_>, op: &Op, c: CellOp, client: &str) {
        let li = self.lane(LaneKind::Content, client);
        let Some(r) = &op.result else {
            return;
        };
        // A Cell request carrying ExclusiveLockID takes an exclusive lock (first save).
        if r.success() && r.lock_type == Some(LockType::ExclusiveLock) {
            if let Some(x) = &op.exclusive_lock_id {
                let xi = self.lane(LaneKind::ExclusiveLock, x);
                if self.lanes.get(xi).is_some_and(|l| l.open.is_none()) {
                    self.check_exclusive_grant(cx, x, Some(client), &op.operation);
                }
                if let Some(l) = self.lanes.get_mut(xi) {
                    l.client_id = Some(client.to_owned());
                }
                self.grant(cx, xi, &op.operation, op.timeout, None, false, None);
            }
        }
        let ok = r.success() && !c.fsshttpb_failed;
        let result = if c.coherency_failure {
            "CoherencyFailure".to_owned()
        } else if !r.success() {
            r.code_text().to_owned()
        } else if c.fsshttpb_failed {
            "FSSHTTPB error".to_owned()
        } else {
            "Success".to_owned()
        };
        if c.upload {
            let pending = self.lanes.get_mut(li).and_then(|l| l.chain.take());
            if let Some(ch) = pending {
                match ch.download {
                    Some(d) => {
                        self.marker(
                            cx,
                            li,
                            EventKind::CoherencyChain,
                            "PutChanges",
                            &result,
                            Some(format!(
                                "PutChanges #{} → CoherencyFailure → QueryChanges #{d} → PutChanges retry #{} → {result}",
                                ch.failed, cx.id
                            )),
                            vec![ch.failed, d, cx.id],
                        );
                    }
                    None => cx.sink.emit(
                        Severity::Warning,
                        Rule::CellRetryWithoutDownload,
                        vec![ch.failed, cx.id],
                        format!(
                            "{client} retried PutChanges on {} after a CoherencyFailure (exchange {}) without downloading (QueryChanges) first",
                            self.url, ch.failed
                        ),
                        SPEC_COHERENCY,
                    ),
                }
            }
            let detail = if c.coherency_failure {
                let since = self.lanes.get(li).and_then(|l| l.last_sync);
                match &self.last_upload {
                    Some((who, ex)) if who != client && since.is_none_or(|s| *ex > s) => Some(
                        format!(
                            "the file changed: {who} uploaded in exchange {ex} after this client's last sync{}",
                            since.map(|s| format!(" (exchange {s})")).unwrap_or_default()
                        ),
                    ),
                    _ => None,
                }
            } else {
                None
            };
            self.marker(
                cx,
                li,
                EventKind::Upload,
                "PutChanges",
                &result,
                detail,
                Vec::new(),
            );
            if let Some(l) = self.lanes.get_mut(li) {
                if c.coherency_failure {
                    l.chain = Some(Chain {
                        failed: cx.id,
                        download: None,
                    });
                } else if ok {
                    l.last_sync = Some(cx.id);
                }
            }
            if ok && !c.coherency_failure {
                self.last_upload = Some((client.to_owned(), cx.id));
            }
        } else if c.download {
            self.marker(
                cx,
                li,
                EventKind::Download,
                "QueryChanges",
                &result,
                None,
                Vec::new(),
            );
            if ok {
                if let Some(l) = self.lanes.get_mut(li) {
                    l.last_sync = Some(cx.id);
                    if let Some(ch) = &mut l.chain {
                        ch.download = Some(cx.id);
                    }
                }
            }
        } else if !ok {
            let op_name = op.operation.clone();
            self.marker(
                cx,
                li,
                EventKind::Failed,
                &op_name,
                &result,
                r.error_message.clone(),
                Vec::new(),
            );
        }
    }
}
