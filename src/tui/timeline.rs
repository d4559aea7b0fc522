//! View 2: lock and coauthoring lanes of one file along a time axis, with the
//! CoauthStatus band above them, event markers, a cursor moving between events, zoom,
//! and a legend. The time window is derived from [`TimelineState`] and the report.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use super::app::App;
use super::state::{events_of, window, LABEL};
use crate::decode::text::escape_terminal;
use crate::timeline::{EventKind, LaneKind, SpanEnd};

fn span_style(kind: LaneKind) -> (char, Style) {
    match kind {
        LaneKind::Coauth => ('═', Style::new().fg(Color::Green)),
        LaneKind::SchemaLock => ('─', Style::new().fg(Color::Cyan)),
        LaneKind::ExclusiveLock => ('█', Style::new().fg(Color::Magenta)),
        LaneKind::WebDavLock => ('▓', Style::new().fg(Color::Yellow)),
        LaneKind::EditorsTable => ('┄', Style::new().fg(Color::Blue)),
        LaneKind::Content => ('·', Style::new().fg(Color::DarkGray)),
    }
}

fn marker_style(kind: EventKind) -> (char, Style) {
    match kind {
        EventKind::Failed => (
            '✗',
            Style::new().fg(Color::Red).add_modifier(Modifier::BOLD),
        ),
        EventKind::Upload => ('↑', Style::new().fg(Color::LightGreen)),
        EventKind::Download => ('↓', Style::new().fg(Color::LightBlue)),
        EventKind::CoherencyChain => ('!', Style::new().fg(Color::LightRed)),
        EventKind::Transition | EventKind::TransitionComplete => ('◆', Style::new()),
        EventKind::AmIAlone | EventKind::Check => ('?', Style::new().fg(Color::Gray)),
        EventKind::NotRun => ('○', Style::new().fg(Color::Gray)),
    }
}

/// Draws view 2 into `area`.
pub(crate) fn render(app: &App, area: Rect, buf: &mut Buffer) {
    let legend = Line::from(vec![
        Span::styled("═", span_style(LaneKind::Coauth).1),
        Span::raw(" coauth  "),
        Span::styled("─", span_style(LaneKind::SchemaLock).1),
        Span::raw(" schema  "),
        Span::styled("█", span_style(LaneKind::ExclusiveLock).1),
        Span::raw(" exclusive  "),
        Span::styled("▓", span_style(LaneKind::WebDavLock).1),
        Span::raw(" WebDAV  "),
        Span::styled("×", Style::new().fg(Color::Red)),
        Span::raw(" expiry  "),
        Span::styled("✗", marker_style(EventKind::Failed).1),
        Span::raw(" failed  ↑ upload  ↓ download  "),
        Span::styled("!", marker_style(EventKind::CoherencyChain).1),
        Span::raw(" coherency"),
    ]);
    if area.height == 0 {
        return;
    }
    let legend_area = Rect::new(area.x, area.bottom() - 1, area.width, 1);
    Paragraph::new(legend).render(legend_area, buf);
    let area = Rect::new(area.x, area.y, area.width, area.height - 1);
    if area.height == 0 {
        return;
    }
    let Some(report) = &app.report else {
        Paragraph::new("no timeline yet").render(area, buf);
        return;
    };
    let Some(f) = report.files.get(app.timeline.file) else {
        Paragraph::new("no files with lock or coauthoring activity").render(area, buf);
        return;
    };
    let cols = area.width.saturating_sub(LABEL + 1);
    let (start, per) = window(&app.timeline, f, cols);
    let col_of = |t: i64| -> Option<u16> {
        let c = (t - start).div_euclid(per);
        u16::try_from(c).ok().filter(|c| *c < cols)
    };
    let x0 = area.x + LABEL + 1;
    // A band's label, dimmed, in the label column of row `y`.
    let band_label = |buf: &mut Buffer, y: u16, text: &str| {
        buf.set_stringn(area.x, y, text, usize::from(LABEL), Style::new().dim());
    };
    let mut y = area.y;
    let title = format!(
        "file {}/{}: {}   (↑/↓ file, ←/→ event, +/- zoom, 0 fit, Enter open)",
        app.timeline.file + 1,
        report.files.len(),
        escape_terminal(&f.url)
    );
    buf.set_stringn(
        area.x,
        y,
        &title,
        usize::from(area.width),
        Style::new().bold(),
    );
    y += 1;
    // Time axis.
    if y < area.bottom() {
        let left = crate::timeline::format_rfc3339(start);
        let right = crate::timeline::format_rfc3339(start + per * i64::from(cols));
        let axis = format!(
            "{:<w$}",
            format!("{} … {} ({per} ms/col)", clock(&left), clock(&right)),
            w = usize::from(cols)
        );
        band_label(buf, y, "time");
        buf.set_stringn(x0, y, axis, usize::from(cols), Style::new().dim());
        y += 1;
    }
    // CoauthStatus band.
    if y < area.bottom() {
        band_label(buf, y, "CoauthStatus");
        let mut status: Option<&str> = None;
        let mut changes = f.status.iter().peekable();
        for c in 0..cols {
            let t_end = start + per * (i64::from(c) + 1);
            while let Some(s) = changes.next_if(|s| s.time_ms < t_end) {
                status = Some(&s.status);
            }
            if let Some(s) = status {
                let ch = s.chars().next().unwrap_or(' ');
                let style = if s.starts_with("Alone") {
                    Style::new().bg(Color::DarkGray)
                } else {
                    Style::new().bg(Color::Blue)
                };
                buf.set_string(x0 + c, y, ch.to_string(), style);
            }
        }
        y += 1;
    }
    let markers = events_of(Some(f));
    let cursor = markers.get(app.timeline.cursor);
    for (li, lane) in f.lanes.iter().enumerate() {
        if y >= area.bottom() {
            break;
        }
        if y + 1 == area.bottom() && li + 1 < f.lanes.len() {
            buf.set_stringn(
                area.x,
                y,
                format!("… {} more lanes", f.lanes.len() - li),
                usize::from(area.width),
                Style::new().dim(),
            );
            y += 1;
            break;
        }
        let holder: String = escape_terminal(&lane.holder)
            .trim_matches(['{', '}'])
            .chars()
            .take(12)
            .collect();
        let label = format!("{:<11}{holder}", short(lane.kind));
        buf.set_stringn(area.x, y, label, usize::from(LABEL), Style::new());
        let (ch, style) = span_style(lane.kind);
        for s in &lane.spans {
            let end = s.end_ms.unwrap_or(start + per * i64::from(cols));
            let a = (s.start_ms - start).div_euclid(per).max(0);
            let b = (end - start).div_euclid(per).min(i64::from(cols) - 1);
            for c in a..=b {
                buf.set_string(x0 + c as u16, y, ch.to_string(), style);
            }
            if s.ended == SpanEnd::Expired {
                if let Some(c) = col_of(end) {
                    buf.set_string(x0 + c, y, "×", Style::new().fg(Color::Red));
                }
            }
        }
        for m in markers.iter().filter(|m| m.lane == Some(li)) {
            if let Some(c) = col_of(m.time_ms) {
                let (ch, st) = marker_style(m.kind);
                buf.set_string(x0 + c, y, ch.to_string(), st);
            }
        }
        y += 1;
    }
    // File-level events on their own line.
    if y < area.bottom() {
        band_label(buf, y, "file events");
        for m in markers.iter().filter(|m| m.lane.is_none()) {
            if let Some(c) = col_of(m.time_ms) {
                let (ch, st) = marker_style(m.kind);
                buf.set_string(x0 + c, y, ch.to_string(), st);
            }
        }
        y += 1;
    }
    // Cursor column and info line.
    if let Some(m) = cursor {
        if let Some(c) = col_of(m.time_ms) {
            for yy in area.y + 2..y {
                if let Some(cell) = buf.cell_mut((x0 + c, yy)) {
                    cell.set_style(Style::new().add_modifier(Modifier::REVERSED));
                }
            }
        }
        if y + 1 < area.bottom() {
            let info = format!(
                "event {}/{} #{} {} {:?}: {}",
                app.timeline.cursor + 1,
                markers.len(),
                m.exchange,
                clock(&crate::timeline::format_rfc3339(m.time_ms)),
                m.kind,
                escape_terminal(&m.text)
            );
            buf.set_stringn(area.x, y + 1, info, usize::from(area.width), Style::new());
        }
    }
}

fn clock(rfc: &str) -> &str {
    rfc.get(11..23).unwrap_or(rfc)
}

fn short(k: LaneKind) -> &'static str {
    match k {
        LaneKind::Coauth => "coauth",
        LaneKind::SchemaLock => "schema",
        LaneKind::ExclusiveLock => "exclusive",
        LaneKind::EditorsTable => "editors",
        LaneKind::WebDavLock => "webdav",
        LaneKind::Content => "cell",
    }
}
