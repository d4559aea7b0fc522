//! The replay report: one line per difference, grouped by file and client, then totals.
//! Text for terminals, markdown for issues and pull requests, JSON for scripts.

use std::fmt::Write as _;

use serde::Serialize;

use super::diff::Difference;
use crate::decode::text::escape_terminal;

/// A remark about one replayed exchange (a value that could not be remapped...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Note {
    /// The file.
    pub file: String,
    /// The client.
    pub client: String,
    /// The recorded exchange id.
    pub exchange: u64,
    /// What happened.
    pub text: String,
}

/// An exchange one recording has and the other has not (`synctap diff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct OnlyIn {
    /// `A` or `B`.
    pub side: &'static str,
    /// The file.
    pub file: String,
    /// The client.
    pub client: String,
    /// The exchange id in that recording.
    pub exchange: u64,
    /// The method and the decoded summary.
    pub operation: String,
}

/// One lane of one file in both timelines (`synctap diff`): how its spans were granted
/// and ended in A and in B (`-` when the lane is not there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct LaneRow {
    /// `Coauth lane {…}`, `ExclusiveLock lane …`...
    pub lane: String,
    /// A's spans.
    pub a: String,
    /// B's spans.
    pub b: String,
    /// Whether they differ.
    pub differs: bool,
}

/// A file whose timelines diverge, with all its lanes side by side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct SideBySide {
    /// The file.
    pub file: String,
    /// Its lanes, in name order.
    pub lanes: Vec<LaneRow>,
}

/// A capture line that could not be read and was skipped (`synctap diff`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Unreadable {
    /// `A` or `B`.
    pub side: &'static str,
    /// What the reader said (with the line number).
    pub warning: String,
}

/// Which command made a report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ReportKind {
    /// `synctap replay`: the recording against the answers of a target.
    #[default]
    Replay,
    /// `synctap diff`: two recordings (`capture` is A, `target` is B).
    Diff,
}

/// Everything a replay (or a diff of two recordings) found.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// Which command made it.
    #[serde(skip)]
    pub kind: ReportKind,
    /// The capture replayed (for a diff: recording A).
    pub capture: String,
    /// The target (for a diff: recording B).
    pub target: String,
    /// Exchanges replayed (for a diff: exchanges paired and compared).
    pub exchanges: usize,
    /// Exchanges whose response differs.
    pub exchanges_differing: usize,
    /// Differences, grouped by file and client (exchange ones first, then timeline ones).
    pub differences: Vec<Difference>,
    /// Remarks.
    pub notes: Vec<Note>,
    /// Seconds the replay took.
    pub seconds: f64,
    /// What only a diff of two recordings has (absent from a replay's JSON).
    #[serde(flatten)]
    pub diff: DiffParts,
}

/// The parts of a report only `synctap diff` fills.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct DiffParts {
    /// Exchanges only one recording has.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub only_in: Vec<OnlyIn>,
    /// The files whose timelines diverge, side by side.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub timelines: Vec<SideBySide>,
    /// Capture lines skipped.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unreadable: Vec<Unreadable>,
}

impl Report {
    /// Sorts the differences and notes by file and client, keeping exchange order inside
    /// each group; timeline differences come last.
    pub fn group(&mut self) {
        self.differences.sort_by(|a, b| {
            (a.exchange == 0, &a.file, &a.client, a.exchange).cmp(&(
                b.exchange == 0,
                &b.file,
                &b.client,
                b.exchange,
            ))
        });
        self.notes.sort_by(|a, b| {
            (&a.file, &a.client, a.exchange).cmp(&(&b.file, &b.client, b.exchange))
        });
        self.diff.only_in.sort_by(|a, b| {
            (&a.file, &a.client, a.side, a.exchange).cmp(&(&b.file, &b.client, b.side, b.exchange))
        });
    }

    /// Whether anything differs.
    pub fn differs(&self) -> bool {
        !self.differences.is_empty() || !self.diff.only_in.is_empty()
    }

    /// Exchanges per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.exchanges as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The totals line.
    pub fn totals(&self) -> String {
        if self.kind == ReportKind::Diff {
            return format!(
                "{} exchanges compared; {} differ; {} differences ({} in the timeline); {} only in A, {} only in B; {} unreadable lines",
                self.exchanges,
                self.exchanges_differing,
                self.differences.len(),
                self.differences.iter().filter(|d| d.exchange == 0).count(),
                self.diff.only_in.iter().filter(|o| o.side == "A").count(),
                self.diff.only_in.iter().filter(|o| o.side == "B").count(),
                self.diff.unreadable.len(),
            );
        }
        format!(
            "{} exchanges replayed in {:.2} s ({:.0}/s); {} differ; {} differences ({} in the timeline); {} notes",
            self.exchanges,
            self.seconds,
            self.rate(),
            self.exchanges_differing,
            self.differences.len(),
            self.differences.iter().filter(|d| d.exchange == 0).count(),
            self.notes.len()
        )
    }
}

/// One line for a difference.
pub fn line(d: &Difference) -> String {
    let changes: Vec<String> = d
        .changes
        .iter()
        .map(|c| format!("{} {} → {}", c.field, c.recorded, c.replayed))
        .collect();
    let at = if d.exchange == 0 {
        String::new()
    } else {
        format!("#{} ", d.exchange)
    };
    format!(
        "{}  {}  {at}{}: {}",
        d.file,
        d.client,
        d.place,
        changes.join("; ")
    )
}

/// The text report.
pub fn render_text(r: &Report) -> String {
    let mut out = String::new();
    match r.kind {
        ReportKind::Replay => {
            let _ = writeln!(out, "replay of {} against {}", r.capture, r.target);
        }
        ReportKind::Diff => {
            let _ = writeln!(out, "diff of A {} and B {}", r.capture, r.target);
        }
    }
    let mut group: Option<(&str, &str)> = None;
    for d in &r.differences {
        let g = (d.file.as_str(), d.client.as_str());
        if group != Some(g) {
            let _ = writeln!(out);
            group = Some(g);
        }
        let _ = writeln!(out, "{}", escape_terminal(&line(d)));
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for n in &r.notes {
            let note = format!("{}  {}  #{}: {}", n.file, n.client, n.exchange, n.text);
            let _ = writeln!(out, "{}", escape_terminal(&note));
        }
    }
    for (title, lines) in diff_sections(r) {
        let _ = writeln!(out, "\n{title}:");
        for l in lines {
            let _ = writeln!(out, "{}", escape_terminal(&l));
        }
    }
    let _ = writeln!(out, "\n{}", r.totals());
    out
}

/// The sections only a diff has, as titled lists of lines: exchanges only in A or B,
/// the timelines side by side where they diverge, the lines skipped.
fn diff_sections(r: &Report) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for side in ["A", "B"] {
        let lines: Vec<String> = r
            .diff
            .only_in
            .iter()
            .filter(|o| o.side == side)
            .map(|o| format!("{}  {}  #{} {}", o.file, o.client, o.exchange, o.operation))
            .collect();
        if !lines.is_empty() {
            out.push((format!("only in {side}"), lines));
        }
    }
    for f in &r.diff.timelines {
        let width = f
            .lanes
            .iter()
            .map(|l| l.a.chars().count())
            .max()
            .unwrap_or(0)
            .max(1);
        let lane_width = f
            .lanes
            .iter()
            .map(|l| l.lane.chars().count())
            .max()
            .unwrap_or(0);
        let mut lines = vec![format!("  {:lane_width$}  {:width$}  B", "", "A")];
        lines.extend(f.lanes.iter().map(|l| {
            format!(
                "{} {:lane_width$}  {:width$}  {}",
                if l.differs { "≠" } else { " " },
                l.lane,
                l.a,
                l.b
            )
        }));
        out.push((format!("timelines of {} side by side", f.file), lines));
    }
    if !r.diff.unreadable.is_empty() {
        out.push((
            "unreadable lines (skipped)".to_owned(),
            r.diff
                .unreadable
                .iter()
                .map(|u| format!("{}: {}", u.side, u.warning))
                .collect(),
        ));
    }
    out
}

/// The markdown report.
pub fn render_markdown(r: &Report) -> String {
    let mut out = String::new();
    match r.kind {
        ReportKind::Replay => {
            let _ = writeln!(out, "# Replay of `{}` against `{}`\n", r.capture, r.target);
        }
        ReportKind::Diff => {
            let _ = writeln!(out, "# Diff of A `{}` and B `{}`\n", r.capture, r.target);
        }
    }
    let mut group: Option<(&str, &str)> = None;
    for d in &r.differences {
        let g = (d.file.as_str(), d.client.as_str());
        if group != Some(g) {
            let _ = writeln!(out, "\n## {} — {}\n", d.file, d.client);
            group = Some(g);
        }
        let changes: Vec<String> = d
            .changes
            .iter()
            .map(|c| format!("{} `{}` → `{}`", c.field, c.recorded, c.replayed))
            .collect();
        let at = if d.exchange == 0 {
            String::new()
        } else {
            format!("#{} ", d.exchange)
        };
        let _ = writeln!(out, "- {at}{}: {}", d.place, changes.join("; "));
    }
    if !r.notes.is_empty() {
        let _ = writeln!(out, "\n## Notes\n");
        for n in &r.notes {
            let _ = writeln!(out, "- {} {} #{}: {}", n.file, n.client, n.exchange, n.text);
        }
    }
    for (title, lines) in diff_sections(r) {
        let _ = writeln!(out, "\n## {}\n\n```", title);
        for l in lines {
            let _ = writeln!(out, "{l}");
        }
        let _ = writeln!(out, "```");
    }
    let _ = writeln!(out, "\n**Totals:** {}", r.totals());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::diff::Change;

    #[test]
    fn one_line_per_difference() {
        let d = Difference {
            file: "plan.docx".into(),
            client: "ClientID {A}".into(),
            exchange: 3,
            place: "SubRequest 2 Coauth JoinCoauthoring".into(),
            changes: vec![
                Change {
                    field: "CoauthStatus".into(),
                    recorded: "Coauthoring".into(),
                    replayed: "Alone".into(),
                },
                Change {
                    field: "LockType".into(),
                    recorded: "SchemaLock".into(),
                    replayed: "ExclusiveLock".into(),
                },
            ],
        };
        assert_eq!(
            line(&d),
            "plan.docx  ClientID {A}  #3 SubRequest 2 Coauth JoinCoauthoring: CoauthStatus Coauthoring → Alone; LockType SchemaLock → ExclusiveLock"
        );
    }

    /// Issue 14.7: the text report quotes the wire (file names, ClientIDs, values).
    #[test]
    fn the_text_report_escapes_control_characters() {
        let r = Report {
            differences: vec![Difference {
                file: "pl\u{1b}]0;x\u{7}an.docx".into(),
                client: "ClientID \u{1b}[41m".into(),
                exchange: 1,
                place: "SubRequest 1".into(),
                changes: vec![Change {
                    field: "ErrorCode".into(),
                    recorded: "Success".into(),
                    replayed: "a\r\nb".into(),
                }],
            }],
            notes: vec![Note {
                file: "f".into(),
                client: "c\u{9b}".into(),
                exchange: 2,
                text: "n\u{7}".into(),
            }],
            ..Report::default()
        };
        let text = render_text(&r);
        assert!(
            !text.chars().any(|c| c != '\n' && c.is_control()),
            "{text:?}"
        );
        assert!(
            text.contains("pl\\u{1b}]0;x\\u{7}an.docx  ClientID \\u{1b}[41m"),
            "{text}"
        );
        assert!(text.contains("Success → a\\r\\nb"), "{text}");
        assert!(text.contains("c\\u{9b}  #2: n\\u{7}"), "{text}");
    }
}
