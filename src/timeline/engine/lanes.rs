//! Lanes and their spans: opening, refreshing and closing lock spans, expiry sweeps, the
//! live holders of a file, and the markers placed on lanes.

use super::*;

impl LaneState {
    /// `WebDAV lock <token> of <owner> granted in exchange N (<expiry>)`.
    pub(super) fn describe_webdav(&self) -> String {
        format!(
            "WebDAV lock {} of {} granted in exchange {} ({})",
            self.holder,
            self.owner.as_deref().unwrap_or("unknown owner"),
            self.last_grant,
            self.live_expiry()
        )
    }

    pub(super) fn new(kind: LaneKind, holder: String) -> Self {
        Self {
            kind,
            holder,
            schema_lock_id: None,
            client_id: None,
            owner: None,
            spans: VecDeque::new(),
            events: VecDeque::new(),
            dropped: 0,
            open: None,
            closed: 0,
            drained: 0,
            last_grant: 0,
            last_end: None,
            chain: None,
            last_sync: None,
        }
    }

    pub(super) fn lane_ref(&self) -> LaneRef {
        LaneRef {
            kind: self.kind,
            holder: self.holder.clone(),
        }
    }

    pub(super) fn close(
        &mut self,
        end: SpanEnd,
        at: i64,
        by: u64,
        to: Option<LaneRef>,
        hist: usize,
    ) {
        if let Some(mut s) = self.open.take() {
            s.end_ms = Some(at);
            s.ended = end;
            s.closed_by = Some(by);
            s.converted_to = to.map(Box::new);
            self.last_end = Some(end);
            self.closed += 1;
            push_capped(&mut self.spans, s, hist, &mut self.dropped);
        }
    }

    pub(super) fn event(&mut self, e: EventState, hist: usize) {
        push_capped(&mut self.events, e, hist, &mut self.dropped);
    }

    pub(super) fn live_expiry(&self) -> String {
        self.open.as_ref().and_then(|s| s.expires_ms).map_or_else(
            || "no known expiry".to_owned(),
            |e| format!("expires {}", clock(e)),
        )
    }
}

impl FileState {
    pub(super) fn new(key: String, url: String) -> Self {
        Self {
            key,
            url,
            lanes: Vec::new(),
            lane_index: HashMap::new(),
            status: VecDeque::new(),
            last_status: None,
            events: VecDeque::new(),
            dropped: 0,
            transition: None,
            last_upload: None,
            timeout_warned: HashSet::new(),
        }
    }

    pub(super) fn snapshot(&self) -> FileTimeline {
        FileTimeline {
            key: self.key.clone(),
            url: self.url.clone(),
            lanes: self
                .lanes
                .iter()
                .map(|l| Lane {
                    kind: l.kind,
                    holder: l.holder.clone(),
                    schema_lock_id: l.schema_lock_id.clone(),
                    client_id: l.client_id.clone(),
                    owner: l.owner.clone(),
                    spans: l
                        .spans
                        .iter()
                        .chain(l.open.iter())
                        .map(SpanState::to_span)
                        .collect(),
                    events: l.events.iter().map(EventState::to_event).collect(),
                    dropped: l.dropped,
                })
                .collect(),
            status: self.status.iter().map(StatusState::to_status).collect(),
            events: self.events.iter().map(EventState::to_event).collect(),
            dropped: self.dropped,
        }
    }

    pub(super) fn lane(&mut self, kind: LaneKind, holder: &str) -> usize {
        if let Some(i) = self.lane_index.get(&(kind, holder.to_owned())) {
            return *i;
        }
        let i = self.lanes.len();
        self.lanes.push(LaneState::new(kind, holder.to_owned()));
        self.lane_index.insert((kind, holder.to_owned()), i);
        i
    }

    /// Closes every span whose expiry is before `t`.
    pub(super) fn sweep(&mut self, t: i64, hist: usize) {
        for l in &mut self.lanes {
            let exp = l.open.as_ref().and_then(|s| s.expires_ms);
            if let Some(e) = exp.filter(|e| *e < t) {
                let by = l.last_grant;
                l.close(SpanEnd::Expired, e, by, None, hist);
            }
        }
    }

    /// Adds a file-level event.
    pub(super) fn file_event(&mut self, cx: &mut Cx<'_>, e: EventState) {
        push_capped(&mut self.events, e, cx.event_hist, &mut self.dropped);
    }

    /// Open lanes of a kind `kind` accepts, except the one held by `except`.
    fn live_where(&self, kind: impl Fn(LaneKind) -> bool, except: Option<&str>) -> Vec<&LaneState> {
        self.lanes
            .iter()
            .filter(|l| kind(l.kind) && l.open.is_some())
            .filter(|l| except != Some(l.holder.as_str()))
            .collect()
    }

    /// Open shared locks (coauth and schema), except the one of ClientID `except_client`.
    pub(super) fn live_shared(&self, except_client: Option<&str>) -> Vec<&LaneState> {
        self.live_where(is_shared, except_client)
    }

    /// Holders of open shared locks, except `except_client`, with the exchange of each
    /// one's last grant.
    pub(super) fn shared_holders(&self, except_client: Option<&str>) -> Vec<(String, u64)> {
        self.live_shared(except_client)
            .iter()
            .map(|l| (l.holder.clone(), l.last_grant))
            .collect()
    }

    /// Open WebDAV locks, except the one whose token is `except`.
    pub(super) fn live_webdav(&self, except: Option<&str>) -> Vec<&LaneState> {
        self.live_where(|k| k == LaneKind::WebDavLock, except)
    }

    /// Open exclusive locks, except the one whose ExclusiveLockID is `except`.
    pub(super) fn live_exclusive(&self, except: Option<&str>) -> Vec<&LaneState> {
        self.live_where(|k| k == LaneKind::ExclusiveLock, except)
    }

    /// Grants or refreshes the span on lane `li`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn grant(
        &mut self,
        cx: &mut Cx<'_>,
        li: usize,
        op: &str,
        timeout: Option<i64>,
        schema: Option<&str>,
        refresh_op: bool,
        from: Option<LaneRef>,
    ) -> Grant {
        let Some(l) = self.lanes.get_mut(li) else {
            return Grant::New;
        };
        l.last_grant = cx.id;
        if let Some(s) = schema {
            l.schema_lock_id = Some(s.to_owned());
        }
        let schema = schema.map(|s| cx.names.get(s));
        let new_exp = expiry(cx.t, timeout);
        if let Some(s) = &mut l.open {
            s.refreshes += 1;
            if timeout.is_some() {
                s.timeout = timeout;
            }
            // A refresh never shortens a lock (MS-FSSHTTP 3.1.4.3.3, 3.1.4.4.3).
            let e = match (s.expires_ms, new_exp) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (_, b) => b,
            };
            s.expires_ms = e;
            if s.refresh_log.len() < MAX_REFRESH_LOG {
                s.refresh_log.push(RefreshState {
                    exchange: cx.id,
                    time_ms: cx.t,
                    operation: cx.names.get(op),
                    timeout,
                    expires_ms: e,
                });
            }
            if schema.is_some() {
                s.schema_lock_id = schema;
            }
            return Grant::Refreshed;
        }
        let after_expiry = refresh_op && l.last_end == Some(SpanEnd::Expired);
        l.open = Some(SpanState {
            start_ms: cx.t,
            end_ms: None,
            ended: SpanEnd::Open,
            granted_by: cx.names.get(op),
            start_seen: !(refresh_op && l.last_end.is_none()),
            opened_by: cx.id,
            closed_by: None,
            refreshes: 0,
            refresh_log: Vec::new(),
            timeout,
            expires_ms: new_exp,
            schema_lock_id: schema,
            converted_from: from.map(Box::new),
            converted_to: None,
        });
        if after_expiry {
            Grant::AfterExpiry
        } else {
            Grant::New
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn marker(
        &mut self,
        cx: &mut Cx<'_>,
        li: usize,
        kind: EventKind,
        op: &str,
        result: &str,
        detail: Option<String>,
        related: Vec<u64>,
    ) {
        let hist = cx.event_hist;
        if let Some(l) = self.lanes.get_mut(li) {
            l.event(
                EventState::new(cx.names, cx.t, cx.id, kind, op, result, detail, related),
                hist,
            );
        }
    }
}
