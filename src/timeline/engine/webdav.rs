//! WebDAV LOCK, refresh and UNLOCK folded into a file's lanes (RFC 4918 6, 9.10, 9.11).

use super::*;

impl FileState {
    pub(super) fn apply_dav(&mut self, cx: &mut Cx<'_>, l: &DavLockOp) {
        let ok = l.status.is_some_and(|s| (200..300).contains(&s));
        let holder = l
            .granted
            .clone()
            .or_else(|| l.submitted.first().cloned())
            .or_else(|| l.owner.clone())
            .unwrap_or_else(|| "(no lock token)".to_owned());
        if !ok {
            let li = self.lane(LaneKind::WebDavLock, &holder);
            let live: Vec<String> = self
                .live_webdav(Some(&holder))
                .into_iter()
                .map(LaneState::describe_webdav)
                .collect();
            let result = l
                .status
                .map_or_else(|| "no response".to_owned(), |s| s.to_string());
            let detail = (!live.is_empty()).then(|| live.join("; "));
            self.marker(
                cx,
                li,
                EventKind::Failed,
                &l.method,
                &result,
                detail,
                Vec::new(),
            );
            return;
        }
        if l.unlock {
            for t in &l.submitted {
                let li = self.lane(LaneKind::WebDavLock, t);
                if let Some(x) = self.lanes.get_mut(li) {
                    if x.open.is_some() {
                        x.close(SpanEnd::Released, cx.t, cx.id, None, cx.hist);
                    } else if x.last_end.is_none() {
                        cx.sink.emit(
                            Severity::Warning,
                            Rule::LockReleaseWithoutLock,
                            vec![cx.id],
                            format!(
                                "{} of lock token {t} was answered {} but the proxy saw no LOCK grant it; the lock may predate the capture",
                                l.method,
                                l.status.unwrap_or(0)
                            ),
                            SPEC_RELEASE,
                        );
                    }
                }
            }
            return;
        }
        let li = self.lane(LaneKind::WebDavLock, &holder);
        let new = self.lanes.get(li).is_some_and(|x| x.open.is_none());
        if new && !l.refresh {
            let exclusive = l
                .scope
                .as_deref()
                .is_none_or(|s| s.eq_ignore_ascii_case("exclusive"));
            let other = self.live_webdav(Some(&holder)).into_iter().next();
            if let Some(o) = other.filter(|_| exclusive) {
                cx.sink.emit(
                    Severity::Error,
                    Rule::WebDavLockConflict,
                    vec![o.last_grant, cx.id],
                    format!(
                        "{} granted an exclusive lock on {} while lock {} ({}) was held",
                        l.method,
                        self.url,
                        o.holder,
                        o.live_expiry()
                    ),
                    SPEC_DAV_LOCK,
                );
            }
        }
        if let Some(x) = self.lanes.get_mut(li) {
            if l.owner.is_some() {
                x.owner.clone_from(&l.owner);
            }
        }
        let op_name = if l.refresh {
            format!("{} refresh", l.method)
        } else {
            l.method.clone()
        };
        let g = self.grant(cx, li, &op_name, l.timeout, None, l.refresh, None);
        if g == Grant::AfterExpiry {
            let (kind, h) = (LaneKind::WebDavLock, holder.clone());
            cx.sink.emit(
                Severity::Warning,
                Rule::LockRefreshAfterExpiry,
                vec![cx.id],
                format!(
                    "{op_name} for {} {h} was granted at {} although the lock had expired",
                    kind.name(),
                    clock(cx.t)
                ),
                SPEC_EXPIRY,
            );
        }
    }
}
