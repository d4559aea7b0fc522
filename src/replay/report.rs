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

/// Everything a replay found.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct Report {
    /// The capture replayed.
    pub capture: String,
    /// The target.
    pub target: String,
    /// Exchanges replayed.
    pub exchanges: usize,
    /// Exchanges whose response differs.
    pub exchanges_differing: usize,
    /// Differences, grouped by file and client (exchange ones first, then timeline ones).
    pub differences: Vec<Difference>,
    /// Remarks.
    pub notes: Vec<Note>,
    /// Seconds the replay took.
    pub seconds: f64,
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
    }

    /// Whether anything differs.
    pub fn differs(&self) -> bool {
        !self.differences.is_empty()
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
    let _ = writeln!(out, "replay of {} against {}", r.capture, r.target);
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
    let _ = writeln!(out, "\n{}", r.totals());
    out
}

/// The markdown report.
pub fn render_markdown(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Replay of `{}` against `{}`\n", r.capture, r.target);
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
