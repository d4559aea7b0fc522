//! The text form of a [`TimelineReport`]: one block per file, one line per lane (wrapped
//! to 100 columns) with its spans and markers in time order, the CoauthStatus changes and
//! file events, then the findings. Times are UTC `HH:MM:SS`, exchanges `#N`.

use super::{
    Event, EventKind, FileTimeline, Finding, Lane, Severity, Span, SpanEnd, TimelineReport,
};
use crate::decode::file_key::FileKey;
use crate::decode::text::escape_terminal;
use crate::util::clock;

/// Output width in columns.
const WIDTH: usize = 100;

/// Renders the report. With `file_filter`, only files whose normalised URL contains the
/// filter (normalised the same way) are shown; findings are always shown.
pub fn render_text(report: &TimelineReport, file_filter: Option<&str>) -> String {
    let mut out = String::new();
    render_text_parts(
        report.files.iter(),
        &report.findings,
        report.findings_dropped,
        file_filter,
        |part| out.push_str(part),
    );
    out
}

/// [`render_text`] over files made one at a time ([`super::ReportView::files`],
/// [`super::Timeline::files`]), handing the text to `emit` a file at a time, so that a
/// report of any size is written without being held whole.
pub fn render_text_parts<F: std::borrow::Borrow<FileTimeline>>(
    files: impl IntoIterator<Item = F>,
    findings: &[Finding],
    findings_dropped: u64,
    file_filter: Option<&str>,
    mut emit: impl FnMut(&str),
) {
    let filter = file_filter.map(|f| FileKey::of_url(f).as_str().to_owned());
    let mut shown = 0usize;
    for f in files {
        let f = f.borrow();
        if let Some(k) = &filter {
            if !f.key.contains(k.as_str()) {
                continue;
            }
        }
        shown += 1;
        let mut out = String::new();
        render_file(&mut out, f);
        out.push('\n');
        emit(&out);
    }
    let mut out = String::new();
    if shown == 0 {
        out.push_str(match filter {
            Some(_) => "no file matches the filter\n\n",
            None => "no file locking or coauthoring traffic\n\n",
        });
    }
    out.push_str(&render_findings(findings));
    if findings_dropped > 0 {
        out.push_str(&format!("({findings_dropped} more findings not kept)\n"));
    }
    emit(&out);
}

/// Renders findings, one wrapped entry each, with a count line first.
pub fn render_findings(findings: &[Finding]) -> String {
    let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
    let mut out = format!(
        "findings: {} error, {} warning, {} info\n",
        count(Severity::Error),
        count(Severity::Warning),
        count(Severity::Info)
    );
    for f in findings {
        let sev = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        };
        let ids: Vec<String> = f.exchanges.iter().map(|e| format!("#{e}")).collect();
        let head = format!("  {sev:<7} {} {}:", f.rule, ids.join(","));
        let items = vec![head, f.sentence.clone(), format!("[{}]", f.spec)];
        wrap_into(&mut out, &items, " ", 4);
    }
    out
}

fn render_file(out: &mut String, f: &FileTimeline) {
    out.push_str(&escape_terminal(&f.url));
    out.push('\n');
    if !f.status.is_empty() {
        let mut items = vec!["  CoauthStatus:".to_owned()];
        for (i, s) in f.status.iter().enumerate() {
            let arrow = if i == 0 { "" } else { "→ " };
            items.push(format!(
                "{arrow}{} {} ({} #{})",
                clock(s.time_ms),
                s.status,
                s.client_id,
                s.exchange
            ));
        }
        wrap_into(out, &items, " ", 6);
    }
    if !f.events.is_empty() {
        let mut items = vec!["  events:".to_owned()];
        let n = f.events.len();
        for (i, e) in f.events.iter().enumerate() {
            let sep = if i + 1 < n { ";" } else { "" };
            items.push(format!("{}{sep}", file_event(e)));
        }
        wrap_into(out, &items, " ", 6);
    }
    for l in &f.lanes {
        render_lane(out, l);
    }
    if f.dropped > 0 {
        out.push_str(&format!("  ({} older entries not kept)\n", f.dropped));
    }
}

fn file_event(e: &Event) -> String {
    let what = match e.kind {
        EventKind::Transition => format!("TransitionID {}", e.result),
        EventKind::TransitionComplete => e.operation.clone(),
        EventKind::AmIAlone => format!("AmIAlone {}", e.result),
        _ => format!("{} {}", e.operation, e.result),
    };
    let detail = e
        .detail
        .as_deref()
        .map(|d| format!(" ({d})"))
        .unwrap_or_default();
    format!("{} {what}{detail} #{}", clock(e.time_ms), e.exchange)
}

fn render_lane(out: &mut String, l: &Lane) {
    if l.spans.is_empty() && l.events.is_empty() && l.dropped == 0 {
        return;
    }
    let mut head = vec![format!("  {} {}", l.kind.name(), l.holder)];
    if let Some(s) = &l.schema_lock_id {
        head.push(format!("SchemaLockID={s}"));
    }
    if let Some(c) = &l.client_id {
        head.push(format!("ClientID={c}"));
    }
    if let Some(o) = &l.owner {
        head.push(format!("owner={o}"));
    }
    if let Some(last) = head.last_mut() {
        last.push(':');
    }
    // Spans and events in time order; a span sorts by its start.
    let mut entries: Vec<(i64, u64, String)> = Vec::new();
    for s in &l.spans {
        entries.push((s.start_ms, s.opened_by, span_text(s)));
    }
    for e in &l.events {
        entries.push((e.time_ms, e.exchange, event_text(e)));
    }
    entries.sort_by_key(|e| (e.0, e.1));
    let n = entries.len();
    let mut items = head;
    for (i, (_, _, text)) in entries.into_iter().enumerate() {
        let sep = if i + 1 < n { ";" } else { "" };
        items.push(format!("{text}{sep}"));
    }
    if l.dropped > 0 {
        items.push(format!("({} older entries not kept)", l.dropped));
    }
    wrap_into(out, &items, " ", 6);
}

fn span_text(s: &Span) -> String {
    let start = if s.start_seen {
        clock(s.start_ms)
    } else {
        format!("…{}", clock(s.start_ms))
    };
    let mut t = format!("{start} {}", s.granted_by);
    match (s.ended, s.end_ms) {
        (SpanEnd::Open, _) => {
            t.push_str(" → open");
            if let Some(e) = s.expires_ms {
                t.push_str(&format!(" until {}", clock(e)));
            }
        }
        (end, Some(e)) => t.push_str(&format!(" → {} {}", clock(e), end.word())),
        (end, None) => t.push_str(&format!(" → {}", end.word())),
    }
    if let Some(to) = &s.converted_to {
        t.push_str(&format!(" to {} {}", to.kind.name(), to.holder));
    }
    if let Some(from) = &s.converted_from {
        t.push_str(&format!(" (from {} {})", from.kind.name(), from.holder));
    }
    match s.closed_by {
        Some(c) => t.push_str(&format!(" #{}→#{c}", s.opened_by)),
        None => t.push_str(&format!(" #{}", s.opened_by)),
    }
    if s.refreshes > 0 {
        t.push_str(&format!(
            " {} refresh{}",
            s.refreshes,
            if s.refreshes == 1 { "" } else { "es" }
        ));
    }
    if let Some(v) = s.timeout {
        t.push_str(&format!(" Timeout={v}"));
    }
    t
}

fn event_text(e: &Event) -> String {
    let mark = match e.kind {
        EventKind::Failed => "✗",
        EventKind::Upload => "↑",
        EventKind::Download => "↓",
        EventKind::CoherencyChain => "⟲",
        _ => "·",
    };
    let body = match e.kind {
        EventKind::CoherencyChain => e.detail.clone().unwrap_or_default(),
        _ => {
            let detail = e
                .detail
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            format!("{} {} #{}{detail}", e.operation, e.result, e.exchange)
        }
    };
    format!("{mark} {} {body}", clock(e.time_ms))
}

/// Appends `items` separated by `sep`, wrapped at [`WIDTH`] columns; continuation lines
/// start with `indent` spaces. Items longer than a line are broken at spaces.
fn wrap_into(out: &mut String, items: &[String], sep: &str, indent: usize) {
    let mut line = String::new();
    let mut len = 0usize;
    // True until the first word of the current line is written.
    let mut fresh = true;
    let pad = " ".repeat(indent);
    let sep_len = sep.chars().count();
    for item in items {
        // Items carry text from the wire (URLs, ClientIDs, error messages).
        let item = escape_terminal(item);
        for word in split_words(&item, WIDTH.saturating_sub(indent)) {
            let wlen = word.chars().count();
            if !fresh && len + sep_len + wlen > WIDTH {
                out.push_str(line.trim_end());
                out.push('\n');
                line.clone_from(&pad);
                len = indent;
                fresh = true;
            }
            let word = if fresh && len > 0 {
                word.trim_start().to_owned()
            } else {
                word
            };
            if !fresh {
                line.push_str(sep);
                len += sep_len;
            }
            len += word.chars().count();
            line.push_str(&word);
            fresh = false;
        }
    }
    if !line.trim().is_empty() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

/// Splits `item` into pieces of at most `max` columns, at spaces where possible; an item
/// that fits is one piece.
fn split_words(item: &str, max: usize) -> Vec<String> {
    if item.chars().count() <= max || max == 0 {
        return vec![item.to_owned()];
    }
    let mut pieces = Vec::new();
    // Leading spaces (indentation) stay with the first piece.
    let body = item.trim_start_matches(' ');
    let mut cur = " ".repeat(item.len() - body.len());
    for w in body.split(' ') {
        let w_len = w.chars().count();
        let cur_len = cur.chars().count();
        if !cur.trim().is_empty() && cur_len + 1 + w_len > max {
            pieces.push(std::mem::take(&mut cur));
        }
        if w_len > max {
            // A single word longer than a line: cut it (dropping any indentation).
            if cur.trim().is_empty() {
                cur.clear();
            }
            let chars: Vec<char> = w.chars().collect();
            for chunk in chars.chunks(max) {
                if !cur.trim().is_empty() {
                    pieces.push(std::mem::take(&mut cur));
                }
                cur.extend(chunk.iter());
            }
            continue;
        }
        if !cur.trim().is_empty() {
            cur.push(' ');
        }
        cur.push_str(w);
    }
    if !cur.is_empty() {
        pieces.push(cur);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_stays_within_width() {
        let items: Vec<String> = (0..40).map(|i| format!("item-{i};")).collect();
        let mut out = String::new();
        wrap_into(&mut out, &items, " ", 6);
        assert!(out.lines().count() > 1);
        for l in out.lines() {
            assert!(l.chars().count() <= WIDTH, "{l}");
        }
        let long = vec!["x".repeat(250)];
        let mut out = String::new();
        wrap_into(&mut out, &long, " ", 4);
        for l in out.lines() {
            assert!(l.chars().count() <= WIDTH, "{l}");
        }
        let indented = vec![format!("  head {}", "word ".repeat(30))];
        let mut out = String::new();
        wrap_into(&mut out, &indented, " ", 6);
        assert!(out.starts_with("  head word"), "{out}");
        assert!(out.lines().all(|l| l.chars().count() <= WIDTH), "{out}");
    }
}
