//! The rule language: `FILTER => ACTION[; ACTION]...`.
//!
//! The FILTER is [`crate::filter::Filter`]'s language. Actions are separated by `;`
//! (a `;` inside double quotes or inside `replace`'s delimiters is text). Two items are
//! modifiers rather than actions: `times N` (only the first N matches) and
//! `probability P` (each match applies with probability P, `0.25` or `25%`).
//!
//! ```text
//! ~m PUT & ~u /Shared => delay 2s; set-request-header X-Debug: 1
//! ~c 423 => status 409; times 1
//! ~u "\.docx$" => respond 404
//! ~t Coauth & ~client 3b6f => errorcode NumberOfCoauthorsReachedMax
//! ```
//!
//! Every error names the column in the whole rule text (1-based) and what was expected;
//! a rules file's errors also name the line.

use std::path::PathBuf;
use std::time::Duration;

use regex::bytes;

use super::protocol::ProtocolAction;
use crate::filter::Filter;

/// Most actions one rule may hold.
pub const MAX_ACTIONS: usize = 64;
/// Longest rule text, in bytes.
pub const MAX_RULE_LEN: usize = 64 << 10;

/// One parsed rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule as written (trimmed).
    pub text: String,
    /// Which exchanges it applies to.
    pub filter: Filter,
    /// What it does, in order.
    pub actions: Vec<Action>,
    /// `times N`: only the first N matches apply.
    pub times: Option<u64>,
    /// `probability P`: each match applies with this probability (0 to 1).
    pub probability: Option<f64>,
}

/// One action.
#[derive(Debug, Clone)]
pub enum Action {
    /// `respond STATUS [FILE]`: answer without contacting the upstream.
    Respond {
        /// The status.
        status: u16,
        /// The body's file, read when the rule applies.
        file: Option<PathBuf>,
    },
    /// `status CODE`: change the upstream's status.
    Status(u16),
    /// `upstream URL`: send the request to this origin instead (`http[s]://host[:port]`).
    Upstream(String),
    /// `delay DURATION`: hold the request before forwarding it.
    Delay(Duration),
    /// `delay-response DURATION`: hold the response head before returning it.
    DelayResponse(Duration),
    /// `throttle RATE`: send the response body at most this many bytes per second.
    Throttle(u64),
    /// `reset`: close the client connection without an answer.
    Reset,
    /// `set-header NAME: VALUE` (response).
    SetHeader(String, String),
    /// `remove-header NAME` (response).
    RemoveHeader(String),
    /// `set-request-header NAME: VALUE`.
    SetRequestHeader(String, String),
    /// `remove-request-header NAME`.
    RemoveRequestHeader(String),
    /// `replace /REGEX/REPLACEMENT/`: rewrite the response body (decoded from its
    /// Content-Encoding). `$1` and `${name}` in the replacement refer to groups.
    Replace {
        /// The pattern.
        regex: bytes::Regex,
        /// The replacement.
        with: Vec<u8>,
    },
    /// An MS-FSSHTTP / MS-FSSHTTPB action (`errorcode`, `cell-error`, ...).
    Protocol(ProtocolAction),
}

/// When an action takes effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Before the request goes upstream.
    Request,
    /// On the response.
    Response,
}

impl Action {
    /// When the action takes effect. `reset` acts at the first point its rule is known to
    /// match, so it is in both.
    pub fn phase(&self) -> Phase {
        match self {
            Self::Respond { .. }
            | Self::Upstream(_)
            | Self::Delay(_)
            | Self::SetRequestHeader(..)
            | Self::RemoveRequestHeader(_)
            | Self::Reset => Phase::Request,
            _ => Phase::Response,
        }
    }

    /// Whether the action needs the whole response body.
    pub fn needs_response_body(&self) -> bool {
        matches!(self, Self::Replace { .. } | Self::Protocol(_))
    }
}

impl Rule {
    /// Whether an action of the rule works on the request side.
    pub fn has_request_actions(&self) -> bool {
        self.actions.iter().any(|a| a.phase() == Phase::Request)
    }

    /// Whether an action of the rule needs the whole response body.
    pub fn needs_response_body(&self) -> bool {
        self.actions.iter().any(Action::needs_response_body)
    }

    /// Whether an action needs the whole request body too (protocol actions read it).
    pub fn needs_request_body(&self) -> bool {
        self.actions
            .iter()
            .any(|a| matches!(a, Action::Protocol(_)))
    }

    /// The protocol actions, in order.
    pub fn protocol_actions(&self) -> Vec<ProtocolAction> {
        self.actions
            .iter()
            .filter_map(|a| match a {
                Action::Protocol(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }
}

/// A rule that does not parse: where and what was expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}column {column}: {message}\n  {text}\n  {caret}", line.map(|l| format!("rule error at line {l}, ")).unwrap_or_else(|| "rule error at ".into()))]
pub struct RuleError {
    /// 1-based line in a rules file; `None` for a rule on its own.
    pub line: Option<usize>,
    /// 1-based column in the rule text.
    pub column: usize,
    /// What is wrong, or what was expected.
    pub message: String,
    text: String,
    caret: String,
}

impl RuleError {
    fn new(text: &str, pos: usize, message: impl Into<String>) -> Self {
        let pos = floor_boundary(text, pos);
        Self::at_column(text, text[..pos].chars().count() + 1, message)
    }

    fn at_column(text: &str, column: usize, message: impl Into<String>) -> Self {
        let shown = crate::decode::text::escape_terminal(text).into_owned();
        Self {
            line: None,
            column,
            message: message.into(),
            text: shown,
            caret: format!(
                "{}^",
                " ".repeat(column.saturating_sub(1).min(MAX_RULE_LEN))
            ),
        }
    }
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Parses one rule.
///
/// # Errors
/// A [`RuleError`] naming the column and what was expected.
pub fn parse_rule(text: &str) -> Result<Rule, RuleError> {
    if text.len() > MAX_RULE_LEN {
        return Err(RuleError::new(
            text,
            MAX_RULE_LEN,
            format!("a rule is at most {MAX_RULE_LEN} bytes"),
        ));
    }
    let Some(arrow) = find_arrow(text) else {
        return Err(RuleError::new(
            text,
            text.len(),
            "expected `=>` between the filter and the actions",
        ));
    };
    // The filter is the rule's prefix, so its columns are the rule's.
    let filter = Filter::parse(&text[..arrow])
        .map_err(|e| RuleError::at_column(text, e.column, e.message))?;
    let mut rule = Rule {
        text: text.trim().to_owned(),
        filter,
        actions: Vec::new(),
        times: None,
        probability: None,
    };
    let mut p = ActionParser {
        src: text,
        pos: arrow + 2,
    };
    loop {
        p.skip_ws();
        if p.pos >= text.len() {
            if rule.actions.is_empty() {
                return Err(p.err("expected an action after `=>` (e.g. respond 503, delay 2s)"));
            }
            return Ok(rule);
        }
        if rule.actions.len() >= MAX_ACTIONS {
            return Err(p.err(format!("more than {MAX_ACTIONS} actions in one rule")));
        }
        p.item(&mut rule)?;
        p.skip_ws();
        match text[p.pos..].chars().next() {
            None => {}
            Some(';') => p.pos += 1,
            Some(_) => return Err(p.err("expected `;` before the next action")),
        }
    }
}

/// Parses a rules file: one rule per line, `#` comments, blank lines.
///
/// # Errors
/// The first line that does not parse, with its line and column.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, RuleError> {
    let mut rules = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let rule = parse_rule(line).map_err(|mut e| {
            e.line = Some(i + 1);
            e
        })?;
        rules.push(rule);
    }
    Ok(rules)
}

/// The first `=>` outside quotes.
fn find_arrow(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < b.len() {
        match (quote, b[i]) {
            (None, q @ (b'"' | b'\'')) => quote = Some(q),
            (Some(q), b'\\') if b.get(i + 1) == Some(&q) => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, b'=') if b.get(i + 1) == Some(&b'>') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

struct ActionParser<'a> {
    src: &'a str,
    pos: usize,
}

impl ActionParser<'_> {
    fn err(&self, message: impl Into<String>) -> RuleError {
        RuleError::new(self.src, self.pos, message)
    }

    fn skip_ws(&mut self) {
        let rest = &self.src[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    /// The next word (up to whitespace or `;`).
    fn word(&mut self) -> &str {
        let rest = &self.src[self.pos..];
        let n = rest
            .find(|c: char| c.is_whitespace() || c == ';')
            .unwrap_or(rest.len());
        let w = &self.src[self.pos..self.pos + n];
        self.pos += n;
        w
    }

    /// The argument text up to the next `;` outside double quotes, trimmed, and where
    /// it starts.
    fn arg(&mut self) -> (usize, String) {
        self.skip_ws();
        let start = self.pos;
        let b = self.src.as_bytes();
        let mut quoted = false;
        let mut i = start;
        while i < b.len() {
            match b[i] {
                b'"' => quoted = !quoted,
                b'\\' if quoted && b.get(i + 1) == Some(&b'"') => i += 1,
                b';' if !quoted => break,
                _ => {}
            }
            i += 1;
        }
        self.pos = i;
        (start, self.src[start..i].trim_end().to_owned())
    }

    fn item(&mut self, rule: &mut Rule) -> Result<(), RuleError> {
        let verb_at = self.pos;
        let verb = self.word().to_ascii_lowercase();
        if verb.is_empty() {
            return Err(self.err("expected an action"));
        }
        if verb == "replace" {
            let action = self.replace()?;
            rule.actions.push(action);
            return Ok(());
        }
        let (at, arg) = self.arg();
        let bad = |m: String| RuleError::new(self.src, at, m);
        let action = match verb.as_str() {
            "times" => {
                let n = arg
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad(format!("times takes a count from 1, not {arg:?}")))?;
                if rule.times.replace(n).is_some() {
                    return Err(RuleError::new(self.src, verb_at, "times is given twice"));
                }
                return Ok(());
            }
            "probability" => {
                let p = probability(&arg).ok_or_else(|| {
                    bad(format!(
                        "probability takes a number from 0 to 1 or a percentage, not {arg:?}"
                    ))
                })?;
                if rule.probability.replace(p).is_some() {
                    return Err(RuleError::new(
                        self.src,
                        verb_at,
                        "probability is given twice",
                    ));
                }
                return Ok(());
            }
            "respond" => {
                let (code, file) = match arg.split_once(char::is_whitespace) {
                    Some((c, f)) => (c, Some(unquote(f.trim()))),
                    None => (arg.as_str(), None),
                };
                Action::Respond {
                    status: status(code).map_err(bad)?,
                    file: file.filter(|f| !f.is_empty()).map(PathBuf::from),
                }
            }
            "status" => Action::Status(status(&arg).map_err(bad)?),
            "upstream" => Action::Upstream(upstream_url(&arg).map_err(bad)?),
            "delay" => Action::Delay(duration(&arg).map_err(bad)?),
            "delay-response" => Action::DelayResponse(duration(&arg).map_err(bad)?),
            "throttle" => Action::Throttle(rate(&arg).map_err(bad)?),
            "reset" if arg.is_empty() => Action::Reset,
            "reset" => return Err(bad("reset takes no argument".into())),
            "set-header" | "set-request-header" => {
                let (name, value) = header_pair(&arg).map_err(bad)?;
                if verb == "set-header" {
                    Action::SetHeader(name, value)
                } else {
                    Action::SetRequestHeader(name, value)
                }
            }
            "remove-header" | "remove-request-header" => {
                let name = header_name(&unquote(&arg)).map_err(bad)?;
                if verb == "remove-header" {
                    Action::RemoveHeader(name)
                } else {
                    Action::RemoveRequestHeader(name)
                }
            }
            other => match ProtocolAction::parse(other, &arg) {
                Some(Ok(p)) => Action::Protocol(p),
                Some(Err(m)) => return Err(bad(m)),
                None => {
                    return Err(RuleError::new(
                        self.src,
                        verb_at,
                        format!(
                            "unknown action {:?} (expected respond, status, upstream, delay, \
                             delay-response, throttle, reset, set-header, remove-header, \
                             set-request-header, remove-request-header, replace, a protocol \
                             action, times or probability)",
                            crate::decode::text::escape_terminal(other)
                        ),
                    ))
                }
            },
        };
        rule.actions.push(action);
        Ok(())
    }

    /// `replace DREGEXDREPLACEMENTD`, `D` any punctuation (usually `/`); `\D` is a
    /// literal `D`.
    fn replace(&mut self) -> Result<Action, RuleError> {
        self.skip_ws();
        let Some(d) = self.src[self.pos..].chars().next() else {
            return Err(self.err("replace expects /REGEX/REPLACEMENT/"));
        };
        if d.is_alphanumeric() || d.is_whitespace() || d == '\\' || d == ';' {
            return Err(self.err("replace expects /REGEX/REPLACEMENT/"));
        }
        self.pos += d.len_utf8();
        let regex_at = self.pos;
        let pattern = self.delimited(d)?;
        let with = self.delimited(d)?;
        let regex = bytes::RegexBuilder::new(&pattern)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| RuleError::new(self.src, regex_at, format!("invalid regex: {e}")))?;
        Ok(Action::Replace {
            regex,
            with: with.into_bytes(),
        })
    }

    fn delimited(&mut self, d: char) -> Result<String, RuleError> {
        let mut out = String::new();
        let start = self.pos;
        let mut chars = self.src[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some((_, n)) if n == d => out.push(d),
                    Some((_, n)) => {
                        out.push('\\');
                        out.push(n);
                    }
                    None => break,
                }
                continue;
            }
            if c == d {
                self.pos = start + i + c.len_utf8();
                return Ok(out);
            }
            out.push(c);
        }
        self.pos = self.src.len();
        Err(self.err(format!("expected the closing `{d}` of replace")))
    }
}

fn unquote(s: &str) -> String {
    let t = s.trim();
    match t.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\""),
        None => t.to_owned(),
    }
}

fn status(s: &str) -> Result<u16, String> {
    s.parse::<u16>()
        .ok()
        .filter(|c| (100..=999).contains(c))
        .ok_or_else(|| format!("expected an HTTP status from 100 to 999, not {s:?}"))
}

fn duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s)
        .map_err(|e| format!("expected a duration like 500ms or 2s, not {s:?}: {e}"))
}

/// `256KiB/s`, `1MB/s`, `1000` (bytes per second).
fn rate(s: &str) -> Result<u64, String> {
    let n = s.strip_suffix("/s").unwrap_or(s).trim();
    n.parse::<bytesize::ByteSize>()
        .ok()
        .map(|b| b.as_u64())
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("expected a rate like 256KiB/s, not {s:?}"))
}

fn probability(s: &str) -> Option<f64> {
    let p = match s.strip_suffix('%') {
        Some(pct) => pct.trim().parse::<f64>().ok()? / 100.0,
        None => s.parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&p).then_some(p)
}

fn upstream_url(s: &str) -> Result<String, String> {
    let uri: http::Uri = s
        .parse()
        .map_err(|e| format!("expected a URL like https://host:port, not {s:?}: {e}"))?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) => Ok(s.trim_end_matches('/').to_owned()),
        _ => Err(format!(
            "expected an http:// or https:// URL with a host, not {s:?}"
        )),
    }
}

fn header_name(s: &str) -> Result<String, String> {
    http::HeaderName::from_bytes(s.as_bytes())
        .map(|_| s.to_owned())
        .map_err(|_| format!("expected a header name, not {s:?}"))
}

fn header_pair(s: &str) -> Result<(String, String), String> {
    let s = unquote(s);
    let Some((name, value)) = s.split_once(':') else {
        return Err(format!("expected NAME: VALUE, not {s:?}"));
    };
    let name = header_name(name.trim())?;
    let value = value.trim();
    http::HeaderValue::from_str(value)
        .map_err(|_| format!("the value of {name} is not a valid header value"))?;
    Ok((name, value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_and_modifiers() {
        let r = parse_rule(
            "~m PUT & ~u a => delay 2s; set-header Content-Type: \"text/html; charset=utf-8\"; \
             replace /a;b/c\\/d/; times 3; probability 50%",
        )
        .map_err(|e| e.to_string());
        let r = r
            .as_ref()
            .map(|r| (r.actions.len(), r.times, r.probability));
        assert_eq!(r, Ok((3, Some(3), Some(0.5))));
        let r = parse_rule("~c 423 => respond 503 /tmp/a b.txt").ok();
        assert!(matches!(
            r.map(|r| r.actions),
            Some(a) if matches!(&a[..], [Action::Respond { status: 503, file: Some(f) }] if f.to_str() == Some("/tmp/a b.txt"))
        ));
    }

    #[test]
    fn errors_name_the_column_in_the_rule() {
        let col = |s: &str| parse_rule(s).err().map(|e| (e.column, e.message));
        assert_eq!(col("~m GET & ~x a => reset").map(|e| e.0), Some(10));
        assert_eq!(
            col("~m GET").map(|e| e.1),
            Some("expected `=>` between the filter and the actions".into())
        );
        assert_eq!(col("~m GET => delay soon").map(|e| e.0), Some(17));
        assert_eq!(col("~m GET => reset; frobnicate 3").map(|e| e.0), Some(18));
        assert_eq!(col("~m GET =>").map(|e| e.0), Some(10));
        assert_eq!(col("~m GET => replace /a/b").map(|e| e.0), Some(23));
        assert_eq!(col("=> reset").map(|e| e.0), Some(1));
        let e = parse_rules("# c\n\n~m GET => reset\n~m GET => status x\n").err();
        assert_eq!(e.as_ref().map(|e| (e.line, e.column)), Some((Some(4), 18)));
        assert!(e.is_some_and(|e| e.to_string().starts_with("rule error at line 4, column 18")));
    }
}
