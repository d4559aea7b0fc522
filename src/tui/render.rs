//! Drawing: turns an `&App` into a frame. Nothing here changes state; every area comes
//! from [`Areas`], the same split the mouse handler uses.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style, Stylize as _};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row as TRow, Table, Widget};
use ratatui::Frame;

use super::app::App;
use super::detail::{Detail, Tab};
use super::layout::Areas;
use super::state::View;
use crate::decode::exchange::Side;
use crate::decode::text::{escape_terminal, shorten_keep_end};
use crate::timeline::Severity;

/// Draws the whole screen.
pub(crate) fn render(app: &App, frame: &mut Frame<'_>) {
    let area = frame.area();
    draw(app, area, frame.buffer_mut());
}

/// Draws the app into a buffer of `area` (the terminal size).
pub(crate) fn draw(app: &App, area: Rect, buf: &mut Buffer) {
    let a = Areas::new(area, app.view, app.detail.is_some()).with_paused(app.paused_rows());
    header(app, a.header, buf);
    paused(app, a.paused, buf);
    match app.view {
        View::Exchanges => {
            table(app, a.table, buf);
            if let Some(d) = &app.detail {
                detail(d, a.detail, buf);
            }
        }
        View::Timeline => super::timeline::render(app, a.body, buf),
        View::Findings => findings(app, a.body, buf),
    }
    footer(app, a.footer, buf);
    if app.help {
        help(area, buf);
    }
}

fn header(app: &App, area: Rect, buf: &mut Buffer) {
    let mut spans = vec![Span::raw(" ")];
    for v in View::ALL {
        let style = if v == app.view {
            Style::new().black().on_cyan().bold()
        } else {
            Style::new().dim()
        };
        spans.push(Span::styled(format!(" {} ", v.title()), style));
        spans.push(Span::raw(" "));
    }
    let mut info = format!(" {} · {} exchanges", app.title, app.rows.len());
    if !app.filter_text.is_empty() {
        info.push_str(&format!(" matching {}", app.filter_text));
    }
    if let Some(r) = &app.report {
        info.push_str(&format!(" · {} findings", r.findings.len()));
    }
    if !app.caught_up {
        info.push_str(" · loading…");
    }
    if app.follow {
        info.push_str(" · following");
    }
    if let Some(ic) = &app.intercept {
        for (side, f) in [("requests", &ic.filters[0]), ("responses", &ic.filters[1])] {
            if !f.is_empty() {
                info.push_str(&format!(" · intercepting {side} {f}"));
            }
        }
        if !ic.paused.is_empty() {
            info.push_str(&format!(" · {} paused", ic.paused.len()));
        }
    }
    if !app.status.is_empty() {
        info.push_str(" · ");
        info.push_str(&app.status);
    }
    spans.push(Span::styled(info, Style::new().dim()));
    Paragraph::new(Line::from(spans)).render(area, buf);
}

/// The paused exchanges of the intercept: one marked row each, the selected one
/// highlighted.
fn paused(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(ic) = app.intercept.as_ref().filter(|i| !i.paused.is_empty()) else {
        return;
    };
    if area.height == 0 {
        return;
    }
    let title = format!(
        " ⏸ {} paused · e edit  a let go  A let all go  x kill  [ ] select ",
        ic.paused.len()
    );
    let mut lines = vec![Line::styled(title, Style::new().black().on_yellow().bold())];
    let rows = usize::from(area.height - 1);
    let first = ic.selected.saturating_sub(rows.saturating_sub(1));
    for (i, p) in ic.paused.iter().enumerate().skip(first).take(rows) {
        let x = &p.exchange;
        let (method, url) = x
            .request
            .as_ref()
            .map_or(("", ""), |q| (q.method.as_str(), q.url.as_str()));
        let what = match p.side {
            crate::model::InterceptSide::Request => "request ".to_owned(),
            crate::model::InterceptSide::Response => {
                format!("response {}", x.response.as_ref().map_or(0, |r| r.status))
            }
        };
        let state = match (&p.gone, &p.edited) {
            (Some(why), _) => format!("⊘ {why}"),
            (None, Some(_)) => "⏸ PAUSED, edited".to_owned(),
            (None, None) => "⏸ PAUSED".to_owned(),
        };
        let text = format!(
            "{:>6} {state:<18} {what:<12} {} {}",
            x.id,
            escape_terminal(method),
            escape_terminal(url)
        );
        let style = if i == ic.selected {
            Style::new().black().on_yellow()
        } else {
            Style::new().yellow()
        };
        lines.push(Line::styled(text, style));
    }
    Paragraph::new(lines).render(area, buf);
}

fn footer(app: &App, area: Rect, buf: &mut Buffer) {
    if let Some(input) = &app.filter_input {
        let prefix = match app.prompt {
            super::app::Prompt::View => "/",
            super::app::Prompt::Intercept(crate::model::InterceptSide::Request) => {
                "intercept requests: "
            }
            super::app::Prompt::Intercept(crate::model::InterceptSide::Response) => {
                "intercept responses: "
            }
        };
        let line = match &app.filter_error {
            Some(e) => Line::from(vec![
                Span::raw(prefix),
                Span::raw(input.clone()),
                Span::styled(
                    format!("  error at column {}: {}", e.column, e.message),
                    Style::new().red().bold(),
                ),
            ]),
            None => Line::from(vec![
                Span::raw(prefix),
                Span::raw(input.clone()),
                Span::styled("█", Style::new().dim()),
                Span::styled("  Enter apply · Esc cancel", Style::new().dim()),
            ]),
        };
        Paragraph::new(line).render(area, buf);
        // Point at the bad column under the input.
        if let Some(e) = &app.filter_error {
            let x = area.x + prefix.chars().count() as u16 - 1 + e.column as u16;
            if let Some(cell) = buf.cell_mut((x.min(area.right().saturating_sub(1)), area.y)) {
                cell.set_style(Style::new().bg(Color::Red));
            }
        }
        return;
    }
    let keys = match (app.view, app.detail.is_some()) {
        (View::Exchanges, false) => {
            "q quit  ? help  1/2/3 view  / filter  ↑↓ jk PgUp/PgDn Home/End move  Enter open  f follow"
        }
        (View::Exchanges, true) => {
            "q quit  ? help  Esc close  ←/→ tab  ↑↓ move  Enter fold  n/p next/prev exchange"
        }
        (View::Timeline, _) => {
            "q quit  ? help  1/2/3 view  ↑↓ file  ←/→ event  +/- zoom  0 fit  Enter open exchange"
        }
        (View::Findings, _) => "q quit  ? help  1/2/3 view  ↑↓ move  Enter open exchange",
    };
    Paragraph::new(Line::styled(keys, Style::new().black().on_gray())).render(area, buf);
}

fn size(n: u64) -> String {
    if n < 1024 {
        format!("{n}B")
    } else {
        bytesize::ByteSize(n).display().iec_short().to_string()
    }
}

/// Escapes `s` and shortens it to `w` characters, keeping the end.
fn shorten(s: &str, w: usize) -> String {
    shorten_keep_end(&escape_terminal(s), w)
}

fn table(app: &App, area: Rect, buf: &mut Buffer) {
    if app.rows.is_empty() {
        let msg = if app.caught_up {
            if app.filter_text.is_empty() {
                "no exchanges (yet): waiting for traffic"
            } else {
                "no exchanges match the filter"
            }
        } else {
            "loading…"
        };
        Paragraph::new(msg).dim().render(area, buf);
        return;
    }
    let wide = area.width >= 110;
    let target_w = if wide { 26 } else { 17 };
    // Each column's title and width; `None` takes what is left.
    let target = Some(target_w as u16);
    let columns: Vec<(&str, Option<u16>)> = if wide {
        vec![
            ("#", Some(7)),
            ("time", Some(12)),
            ("client", Some(8)),
            ("method", Some(6)),
            ("host/path", target),
            ("protocol", Some(10)),
            ("summary", None),
            ("status", Some(16)),
            ("size", Some(5)),
            ("dur", Some(5)),
        ]
    } else {
        vec![
            ("#", Some(6)),
            ("time", Some(8)),
            ("client", Some(8)),
            ("method", Some(6)),
            ("host/path", target),
            ("summary", None),
            ("status", Some(12)),
        ]
    };
    let h = usize::from(area.height.saturating_sub(1));
    let rows = app
        .rows
        .iter()
        .enumerate()
        .skip(app.offset)
        .take(h)
        .map(|(i, r)| {
            let flag = if app.finding_ids.contains(&r.id) {
                "⚑"
            } else if r.diagnostics > 0 {
                "!"
            } else if r.modified {
                // Changed by a proxy rule.
                "✎"
            } else {
                " "
            };
            let id = format!("{flag}{}", r.id);
            let time = if wide {
                r.time.clone()
            } else {
                r.time.get(..8).unwrap_or(&r.time).to_owned()
            };
            let mut cells = vec![
                Cell::from(id),
                Cell::from(time),
                Cell::from(escape_terminal(&r.client)),
                Cell::from(escape_terminal(&r.method)),
                Cell::from(shorten(&r.target, target_w)),
            ];
            if wide {
                cells.push(Cell::from(r.protocol));
            }
            cells.push(Cell::from(escape_terminal(&r.summary)));
            cells.push(Cell::from(escape_terminal(&r.status)));
            if wide {
                cells.push(Cell::from(size(r.size)));
                cells.push(Cell::from(
                    r.duration_ms
                        .map_or_else(|| "-".to_owned(), |d| format!("{d:.0}ms")),
                ));
            }
            let mut style = Style::new();
            if r.error {
                style = style.fg(Color::Red);
            }
            if i == app.selected {
                style = style.add_modifier(Modifier::REVERSED);
            }
            TRow::new(cells).style(style)
        });
    let (header, widths): (Vec<&str>, Vec<Constraint>) = columns
        .into_iter()
        .map(|(title, w)| (title, w.map_or(Constraint::Fill(1), Constraint::Length)))
        .unzip();
    Table::new(rows, widths)
        .header(TRow::new(header).style(Style::new().bold().underlined()))
        .column_spacing(1)
        .render(area, buf);
}

fn detail(d: &Detail, area: Rect, buf: &mut Buffer) {
    if area.height == 0 {
        return;
    }
    let mut spans = vec![Span::raw(" ")];
    for t in Tab::ALL {
        let style = if t == d.tab {
            Style::new().black().on_cyan().bold()
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!(" {} ", t.title()), style));
        spans.push(Span::raw(" "));
    }
    spans.push(Span::styled(
        format!(" exchange #{}", d.id),
        Style::new().dim(),
    ));
    let block = Block::new().borders(Borders::TOP).title(Line::from(spans));
    let inner = block.inner(area);
    block.render(area, buf);
    if let Some(e) = &d.error {
        Paragraph::new(format!(
            "cannot show exchange #{}: {}",
            d.id,
            escape_terminal(e)
        ))
        .red()
        .render(inner, buf);
        return;
    }
    let h = usize::from(inner.height);
    match d.tab {
        Tab::Decoded => {
            let vis = d.visible();
            let at = vis.iter().position(|&i| i == d.cursor).unwrap_or(0);
            let first = at.saturating_sub(h.saturating_sub(1));
            let lines: Vec<Line<'_>> = vis
                .iter()
                .skip(first)
                .take(h)
                .filter_map(|&i| d.tree.get(i).map(|n| (i, n)))
                .map(|(i, n)| {
                    let mark = if !d.has_children(i) {
                        "  "
                    } else if d.collapsed.contains(&i) {
                        "▸ "
                    } else {
                        "▾ "
                    };
                    let text = format!(
                        "{:indent$}{mark}{}",
                        "",
                        escape_terminal(&n.text),
                        indent = n.depth * 2
                    );
                    let mut style = Style::new();
                    if n.text.starts_with('!')
                        || n.text.starts_with("request @")
                        || n.text.starts_with("response @")
                    {
                        style = style.fg(Color::Yellow);
                    }
                    if i == d.cursor {
                        style = style.add_modifier(Modifier::REVERSED);
                    }
                    Line::styled(text, style)
                })
                .collect();
            Paragraph::new(lines).render(inner, buf);
        }
        Tab::Request | Tab::Response | Tab::Fields | Tab::Timing => {
            let src = match d.tab {
                Tab::Request => &d.request,
                Tab::Response => &d.response,
                Tab::Fields => &d.fields,
                _ => &d.timing,
            };
            let lines: Vec<Line<'_>> = src
                .iter()
                .skip(d.scroll)
                .take(h)
                .map(|s| Line::raw(escape_terminal(s)))
                .collect();
            Paragraph::new(lines).render(inner, buf);
        }
        Tab::Hex => {
            let range = d.selected_range();
            let lines: Vec<Line<'_>> = d
                .hex
                .iter()
                .skip(d.scroll)
                .take(h)
                .map(|l| hex_line(d, l, range))
                .collect();
            if lines.is_empty() {
                Paragraph::new("(no body bytes)").dim().render(inner, buf);
            } else {
                Paragraph::new(lines).render(inner, buf);
            }
        }
    }
}

fn hex_line<'a>(
    d: &Detail,
    l: &super::detail::HexLine,
    range: Option<(Side, usize, usize)>,
) -> Line<'a> {
    let side = match l.side {
        Side::Request => "req ",
        Side::Response => "resp",
    };
    let mut spans = vec![Span::styled(
        format!("{side} {:08x}  ", l.offset),
        Style::new().dim(),
    )];
    for (i, b) in l.bytes.iter().enumerate() {
        let at = l.offset + i;
        let marked = d.marks.iter().any(|(s, o)| *s == l.side && *o == at);
        let in_range = range.is_some_and(|(s, a, b)| s == l.side && (a..b).contains(&at));
        let style = if marked {
            Style::new().black().on_yellow()
        } else if in_range {
            Style::new().black().on_cyan()
        } else {
            Style::new()
        };
        spans.push(Span::styled(format!("{b:02x}"), style));
        spans.push(Span::raw(if i == 7 { "  " } else { " " }));
    }
    let pad = 16 - l.bytes.len();
    spans.push(Span::raw(
        " ".repeat(pad * 3 + usize::from(l.bytes.len() <= 7)),
    ));
    let ascii: String = l
        .bytes
        .iter()
        .map(|&b| {
            if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '.'
            }
        })
        .collect();
    spans.push(Span::styled(format!(" {ascii}"), Style::new().dim()));
    Line::from(spans)
}

fn findings(app: &App, area: Rect, buf: &mut Buffer) {
    let Some(r) = &app.report else {
        Paragraph::new("no findings yet").dim().render(area, buf);
        return;
    };
    if r.findings.is_empty() {
        Paragraph::new("no findings").dim().render(area, buf);
        return;
    }
    let h = usize::from(area.height.saturating_sub(1));
    let first = app.finding_sel.saturating_sub(h.saturating_sub(1));
    let rows = r
        .findings
        .iter()
        .enumerate()
        .skip(first)
        .take(h)
        .map(|(i, f)| {
            let (sev, color) = match f.severity {
                Severity::Error => ("error", Color::Red),
                Severity::Warning => ("warning", Color::Yellow),
                Severity::Info => ("info", Color::Gray),
            };
            let ids = f
                .exchanges
                .iter()
                .map(|x| format!("#{x}"))
                .collect::<Vec<_>>()
                .join(",");
            let mut style = Style::new();
            if i == app.finding_sel {
                style = style.add_modifier(Modifier::REVERSED);
            }
            TRow::new(vec![
                Cell::from(sev).style(Style::new().fg(color)),
                Cell::from(f.rule.to_string()),
                Cell::from(escape_terminal(&f.sentence)),
                Cell::from(f.spec.clone()),
                Cell::from(ids),
            ])
            .style(style)
        });
    let wide = area.width >= 110;
    let widths = [
        Constraint::Length(7),
        Constraint::Length(if wide { 28 } else { 18 }),
        Constraint::Fill(1),
        Constraint::Length(if wide { 22 } else { 12 }),
        Constraint::Length(if wide { 12 } else { 6 }),
    ];
    Table::new(rows, widths)
        .header(
            TRow::new(vec!["sev", "rule", "finding", "spec", "exchanges"])
                .style(Style::new().bold().underlined()),
        )
        .column_spacing(1)
        .render(area, buf);
}

fn help(area: Rect, buf: &mut Buffer) {
    let text = [
        "synctap ui: keys",
        "",
        "1 2 3 / Tab    switch view (Exchanges, Timeline, Findings)",
        "↑↓ j k         move        PgUp PgDn Home End   page, first, last",
        "Enter          open the exchange / fold a tree node / jump to exchange",
        "Esc            close the detail pane, cancel the filter",
        "←→ h l         detail tabs (view 1), events (view 2)",
        "+ - 0          zoom in, out, fit all (view 2)",
        "/              filter: ~m POST  ~c 500  ~p fsshttp  ~e Coherency  & | ! ( )",
        "f              follow new exchanges",
        "i I            intercept requests / responses by a filter (proxy --ui)",
        "e a A x [ ]    paused: edit in $EDITOR, let go, let all go, kill, select",
        "E              export the exchange: curl command + body file, working dir",
        "mouse          click rows and tabs, wheel scrolls",
        "q              quit",
        "",
        "any key closes this help",
    ];
    let w = 76.min(area.width);
    let h = (text.len() as u16 + 2).min(area.height);
    let r = Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    );
    Clear.render(r, buf);
    Paragraph::new(text.iter().map(|s| Line::raw(*s)).collect::<Vec<_>>())
        .block(Block::bordered().title(" help "))
        .render(r, buf);
}
