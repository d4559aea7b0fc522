//! The state views share with the app and the layout: which view is open, and the
//! timeline view's selected file, cursor and time window with what moves them (cursor
//! keys, zoom). Views read it; only the app changes it.

use crate::timeline::{EventKind, FileTimeline, TimelineReport};

/// The three views.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// The exchange table and detail pane.
    Exchanges,
    /// Lock and coauthoring lanes per file.
    Timeline,
    /// Protocol findings.
    Findings,
}

impl View {
    /// All views, in key order.
    pub(crate) const ALL: [Self; 3] = [Self::Exchanges, Self::Timeline, Self::Findings];

    /// The title in the header.
    pub(crate) fn title(self) -> &'static str {
        match self {
            Self::Exchanges => "1 Exchanges",
            Self::Timeline => "2 Timeline",
            Self::Findings => "3 Findings",
        }
    }

    pub(crate) fn index(self) -> usize {
        match self {
            Self::Exchanges => 0,
            Self::Timeline => 1,
            Self::Findings => 2,
        }
    }
}

/// Width of the lane labels.
pub(crate) const LABEL: u16 = 24;

/// One marker on the axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Marker {
    /// Time, ms since the epoch.
    pub time_ms: i64,
    /// The exchange behind it.
    pub exchange: u64,
    /// What happened.
    pub kind: EventKind,
    /// Lane index, or None for file-level events.
    pub lane: Option<usize>,
    /// Operation and result, for the info line.
    pub text: String,
}

/// Timeline view state.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct TimelineState {
    /// Selected file.
    pub file: usize,
    /// Selected event (index into the file's sorted event list).
    pub cursor: usize,
    /// Left edge of the window, ms since the epoch; None: fit all.
    pub start_ms: Option<i64>,
    /// Milliseconds per column; None: fit all.
    pub ms_per_col: Option<i64>,
}

impl TimelineState {
    fn file<'r>(&self, report: Option<&'r TimelineReport>) -> Option<&'r FileTimeline> {
        report?.files.get(self.file)
    }

    /// The selected file's events (file-level and per lane), in time order.
    pub(crate) fn events(&self, report: Option<&TimelineReport>) -> Vec<Marker> {
        events_of(self.file(report))
    }

    /// Zooms in (halves ms per column) or out, around the cursor, for `cols` columns.
    pub(crate) fn zoom(&mut self, report: Option<&TimelineReport>, cols: u16, zoom_in: bool) {
        let Some(f) = self.file(report) else { return };
        let (start, per) = window(self, f, cols);
        let center = events_of(Some(f))
            .get(self.cursor)
            .map_or(start + per * i64::from(cols) / 2, |m| m.time_ms);
        let per = if zoom_in {
            (per / 2).max(1)
        } else {
            per.saturating_mul(2)
        };
        self.ms_per_col = Some(per);
        self.start_ms = Some(center - per * i64::from(cols) / 2);
    }

    /// Shifts the window so the cursor's event is inside it.
    pub(crate) fn keep_cursor_visible(&mut self, report: Option<&TimelineReport>, cols: u16) {
        let Some(f) = self.file(report) else { return };
        let (start, per) = window(self, f, cols);
        let Some(t) = events_of(Some(f)).get(self.cursor).map(|m| m.time_ms) else {
            return;
        };
        let end = start + per * i64::from(cols);
        if t < start || t >= end {
            self.start_ms = Some(t - per * i64::from(cols) / 2);
            self.ms_per_col = Some(per);
        }
    }
}

/// `f`'s events (file-level and per lane), in time order.
pub(crate) fn events_of(f: Option<&FileTimeline>) -> Vec<Marker> {
    let Some(f) = f else {
        return Vec::new();
    };
    let mut out: Vec<Marker> = Vec::new();
    let text = |e: &crate::timeline::Event| {
        let mut s = format!("{} {}", e.operation, e.result);
        if let Some(d) = &e.detail {
            s.push_str(" — ");
            s.push_str(d);
        }
        s
    };
    for e in &f.events {
        out.push(Marker {
            time_ms: e.time_ms,
            exchange: e.exchange,
            kind: e.kind,
            lane: None,
            text: text(e),
        });
    }
    for (i, l) in f.lanes.iter().enumerate() {
        for e in &l.events {
            out.push(Marker {
                time_ms: e.time_ms,
                exchange: e.exchange,
                kind: e.kind,
                lane: Some(i),
                text: text(e),
            });
        }
    }
    out.sort_by_key(|m| (m.time_ms, m.exchange));
    out
}

/// First and last time of the file (spans, events, status changes).
fn bounds(f: &FileTimeline) -> Option<(i64, i64)> {
    let times = f
        .lanes
        .iter()
        .flat_map(|l| {
            l.spans
                .iter()
                .flat_map(|s| [Some(s.start_ms), s.end_ms])
                .chain(l.events.iter().map(|e| Some(e.time_ms)))
        })
        .chain(f.events.iter().map(|e| Some(e.time_ms)))
        .chain(f.status.iter().map(|s| Some(s.time_ms)))
        .flatten();
    let (mut lo, mut hi) = (i64::MAX, i64::MIN);
    for t in times {
        lo = lo.min(t);
        hi = hi.max(t);
    }
    (lo <= hi).then_some((lo, hi))
}

/// The window: left edge and ms per column, for `cols` columns.
pub(crate) fn window(state: &TimelineState, f: &FileTimeline, cols: u16) -> (i64, i64) {
    let (lo, hi) = bounds(f).unwrap_or((0, 0));
    let cols = i64::from(cols.max(1));
    let fit = ((hi - lo) / (cols - 1).max(1) + 1).max(1);
    (
        state.start_ms.unwrap_or(lo),
        state.ms_per_col.unwrap_or(fit),
    )
}
