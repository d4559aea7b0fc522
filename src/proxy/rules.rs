//! Rules in the proxy: which rules an exchange matches, decided as early as what is
//! known allows, and their actions applied.
//!
//! [`RuleBook`] holds the current rules (the `--rule`s, then the `--rules` file's, which
//! a task rereads when the file changes). [`Plan`] follows one exchange: at the request
//! head every rule's filter is decided with [`Filter::decide`] from the method, URL and
//! connection alone; a rule still undecided that needs decoding (`~t ~client ~file ~p`,
//! or `~e ~b` and protocol actions, which need both bodies) makes the exchange hold its
//! request body, and later its response body, up to [`HOLD_CAP`]. Decoding and
//! protocol rewriting run on a blocking thread under `catch_unwind`, never on the
//! forwarding task; an exchange no rule needs to look into streams as it does without
//! rules.

use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};

use super::held::HOLD_CAP;
use crate::decode::exchange::{decode_recorded, decoded_body};
use crate::filter::{body_matches, Facts, Known};
use crate::model::{Body, Exchange, Headers, Modified, RuleRef};
use crate::rules::{parse_rules, protocol, Action, Phase, Rule};

/// One rule as the proxy runs it.
#[derive(Debug)]
pub(crate) struct Live {
    pub(crate) index: usize,
    pub(crate) rule: Rule,
    matched: AtomicU64,
    warned: AtomicBool,
}

impl Live {
    /// Says once per rule (not per exchange) why an action did not fit.
    pub(crate) fn warn(&self, why: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                rule = self.index,
                text = %crate::decode::text::escape_terminal(&self.rule.text),
                "rule {}: {} (traffic left unchanged; said once per rule)",
                self.index,
                crate::decode::text::escape_terminal(why)
            );
        }
    }

    /// Whether this match applies: within `times`, and drawn by `probability`.
    fn take(&self) -> bool {
        if let Some(p) = self.rule.probability {
            if random_unit() >= p {
                return false;
            }
        }
        match self.rule.times {
            Some(n) => self.matched.fetch_add(1, Ordering::Relaxed) < n,
            None => true,
        }
    }

    pub(crate) fn reference(&self) -> RuleRef {
        RuleRef {
            index: self.index,
            text: self.rule.text.clone(),
        }
    }
}

/// A number in [0, 1) from the OS's random source.
fn random_unit() -> f64 {
    use ring::rand::SecureRandom as _;
    let mut b = [0u8; 8];
    if ring::rand::SystemRandom::new().fill(&mut b).is_err() {
        return 0.0;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// The proxy's current rules.
#[derive(Debug)]
pub(crate) struct RuleBook {
    inline: Vec<Rule>,
    file: Option<PathBuf>,
    current: RwLock<Arc<Vec<Live>>>,
}

impl RuleBook {
    /// The rules from `--rule` and the file's (already parsed by the caller, which
    /// refuses to start on an error). `None` when there are none and no file to watch.
    pub(crate) fn new(inline: Vec<Rule>, file: Option<(PathBuf, Vec<Rule>)>) -> Option<Arc<Self>> {
        if inline.is_empty() && file.is_none() {
            return None;
        }
        let (path, from_file) = file.map_or((None, Vec::new()), |(p, r)| (Some(p), r));
        let book = Self {
            current: RwLock::new(Arc::new(live(&inline, from_file))),
            inline,
            file: path,
        };
        Some(Arc::new(book))
    }

    /// The rules now.
    pub(crate) fn current(&self) -> Arc<Vec<Live>> {
        self.current
            .read()
            .map_or_else(|p| Arc::clone(&p.into_inner()), |g| Arc::clone(&g))
    }

    /// Rereads the rules file when its modification time or length changes (polled
    /// every second) until `shutdown`; a file that does not parse keeps the previous
    /// rules, and the log says why with the line and column.
    pub(crate) fn watch(self: Arc<Self>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let Some(path) = self.file.clone() else {
            return;
        };
        tokio::spawn(async move {
            let stamp = |p: &PathBuf| {
                std::fs::metadata(p)
                    .ok()
                    .map(|m| (m.modified().unwrap_or(SystemTime::UNIX_EPOCH), m.len()))
            };
            let mut last = stamp(&path);
            loop {
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    _ = shutdown.changed() => return,
                }
                let now = stamp(&path);
                if now == last {
                    continue;
                }
                last = now;
                let text = match tokio::fs::read(&path).await {
                    Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                    Err(e) => {
                        tracing::warn!(
                            "rules file {}: {e}; keeping the previous rules",
                            path.display()
                        );
                        continue;
                    }
                };
                match parse_rules(&text) {
                    Ok(rules) => {
                        let n = rules.len();
                        if let Ok(mut g) = self.current.write() {
                            *g = Arc::new(live(&self.inline, rules));
                        }
                        tracing::warn!("rules file {} reloaded: {n} rules", path.display());
                    }
                    Err(e) => tracing::warn!(
                        "rules file {} not reloaded, keeping the previous rules: {e}",
                        path.display()
                    ),
                }
            }
        });
    }
}

fn live(inline: &[Rule], file: Vec<Rule>) -> Vec<Live> {
    inline
        .iter()
        .cloned()
        .chain(file)
        .enumerate()
        .map(|(index, rule)| Live {
            index,
            rule,
            matched: AtomicU64::new(0),
            warned: AtomicBool::new(false),
        })
        .collect()
}

/// Where one rule stands for one exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Not decided yet.
    Open,
    /// Does not apply (no match, past `times`, or not drawn).
    Off,
    /// Applies.
    On,
}

/// One exchange's way through the rules.
pub(crate) struct Plan {
    pub(crate) rules: Arc<Vec<Live>>,
    state: Vec<State>,
    facts: Facts,
    known: Known,
    /// The rules that changed the exchange, in order.
    pub(crate) changed: Vec<usize>,
    /// The request has gone upstream: request actions can no longer apply.
    forwarded: bool,
}

/// What the request phase decided.
pub(crate) enum RequestStep {
    /// Forward (perhaps to another origin).
    Go,
    /// Answer with this status and body without contacting the upstream; the file that
    /// is missing, if one is.
    Respond {
        status: u16,
        body: Result<Vec<u8>, String>,
        content_type: Option<&'static str>,
    },
    /// Close the client connection without an answer.
    Reset,
}

impl Plan {
    /// Starts an exchange: decides what the request head decides. `None` when no rule
    /// can match, so the exchange takes the plain path.
    pub(crate) fn start(
        rules: Arc<Vec<Live>>,
        method: &str,
        url: &str,
        connection_id: u64,
    ) -> Option<Self> {
        let facts = Facts {
            method: Some(method.into()),
            url: Some(url.into()),
            connection_id,
            ..Facts::default()
        };
        let known = Known::default();
        let state: Vec<State> = rules
            .iter()
            .map(|l| decided(l.rule.filter.decide(&facts, known, &mut |_| false), l))
            .collect();
        if state.iter().all(|s| *s == State::Off) {
            return None;
        }
        Some(Self {
            rules,
            state,
            facts,
            known,
            changed: Vec::new(),
            forwarded: false,
        })
    }

    /// Whether the request body must be held before forwarding: a rule still open
    /// needs decoding, or a rule that may apply rewrites protocol messages.
    pub(crate) fn holds_request(&self) -> bool {
        self.rules.iter().zip(&self.state).any(|(l, s)| match s {
            State::Open => l.rule.filter.needs_decoding() || l.rule.needs_request_body(),
            State::On => l.rule.needs_request_body(),
            State::Off => false,
        })
    }

    /// Whether the response body must be held: a rule still open, or one that applies
    /// and rewrites the body.
    pub(crate) fn holds_response(&self) -> bool {
        self.rules.iter().zip(&self.state).any(|(l, s)| match s {
            State::Open => true,
            State::On => l.rule.needs_response_body(),
            State::Off => false,
        })
    }

    /// The request body could not be held (over the cap, or it failed): rules that
    /// needed it do not apply.
    pub(crate) fn request_unheld(&mut self, why: &str) {
        self.give_up(why, |l| {
            l.rule.filter.needs_decoding() || l.rule.needs_request_body()
        });
    }

    /// The response body could not be held: rules that needed it do not apply.
    pub(crate) fn response_unheld(&mut self, why: &str) {
        self.give_up(why, |_| true);
    }

    fn give_up(&mut self, why: &str, needed: impl Fn(&Live) -> bool) {
        for (l, s) in self.rules.iter().zip(self.state.iter_mut()) {
            if *s != State::Off && needed(l) && (*s == State::Open || l.rule.needs_response_body())
            {
                l.warn(why);
                *s = State::Off;
            }
        }
    }

    /// Decides what the decoded request decides (on a blocking thread).
    pub(crate) async fn decode_request(&mut self, x: Exchange) {
        self.known.request = true;
        self.decide_decoded(x).await;
    }

    /// Decides what the response head decides.
    pub(crate) fn response_head(&mut self, status: u16) {
        self.forwarded = true;
        self.known.status = true;
        self.facts.status = Some(status);
        let (facts, known) = (self.facts.clone(), self.known);
        self.decide(|l| l.rule.filter.decide(&facts, known, &mut |_| false));
    }

    /// Decides the rest with both bodies decoded (on a blocking thread).
    pub(crate) async fn decode_all(&mut self, x: Exchange) {
        self.known = Known {
            status: true,
            request: true,
            bodies: true,
        };
        self.decide_decoded(x).await;
    }

    async fn decide_decoded(&mut self, x: Exchange) {
        let rules = Arc::clone(&self.rules);
        let open: Vec<usize> = (0..self.state.len())
            .filter(|&i| self.state[i] == State::Open)
            .collect();
        if open.is_empty() {
            return;
        }
        let known = self.known;
        let status = self.facts.status;
        let decisions = run_blocking(move || {
            let d = decode_recorded(&x);
            let mut facts = Facts::of(&x, &d);
            facts.status = status;
            let answers: Vec<Option<bool>> = open
                .iter()
                .map(|&i| {
                    rules[i]
                        .rule
                        .filter
                        .decide(&facts, known, &mut |re| body_matches(re, &x))
                })
                .collect();
            (facts, open, answers)
        })
        .await;
        match decisions {
            Some((facts, open, answers)) => {
                self.facts = Facts {
                    status: self.facts.status,
                    ..facts
                };
                for (i, a) in open.into_iter().zip(answers) {
                    self.state[i] = decided(a, &self.rules[i]);
                    self.late(i);
                }
            }
            None => self.give_up("decoding the exchange failed", |_| true),
        }
        if self.known.bodies {
            for s in &mut self.state {
                if *s == State::Open {
                    *s = State::Off;
                }
            }
        }
    }

    fn decide(&mut self, mut f: impl FnMut(&Live) -> Option<bool>) {
        for i in 0..self.state.len() {
            if self.state[i] == State::Open {
                self.state[i] = decided(f(&self.rules[i]), &self.rules[i]);
                self.late(i);
            }
        }
    }

    /// A rule known to apply only once the request has gone: its request actions are
    /// skipped, which it says once.
    fn late(&self, i: usize) {
        let l = &self.rules[i];
        let request_only = |a: &Action| a.phase() == Phase::Request && !matches!(a, Action::Reset);
        if self.forwarded && self.state[i] == State::On && l.rule.actions.iter().any(request_only) {
            l.warn("its request actions need a filter the request decides (not ~c, ~e or a response ~b); they were skipped");
        }
    }

    /// The rules that apply, with their index.
    fn on(&self) -> impl Iterator<Item = &Live> {
        self.rules
            .iter()
            .zip(&self.state)
            .filter(|(_, s)| **s == State::On)
            .map(|(l, _)| l)
    }

    fn mark(&mut self, index: usize) {
        if !self.changed.contains(&index) {
            self.changed.push(index);
        }
    }

    /// Applies the request actions of the rules known to apply before forwarding:
    /// delays, request headers, another upstream, a local answer or a reset. Rules that
    /// become known only later say once that their request actions were skipped.
    pub(crate) async fn request_actions(
        &mut self,
        headers: &mut HeaderMap,
        upstream: &mut Option<String>,
    ) -> RequestStep {
        let mut changed = Vec::new();
        let mut step = RequestStep::Go;
        let on: Vec<&Live> = self.on().collect();
        for l in on {
            for a in &l.rule.actions {
                match a {
                    Action::Delay(d) => {
                        tokio::time::sleep(*d).await;
                        changed.push(l.index);
                    }
                    Action::SetRequestHeader(n, v) => {
                        if let (Ok(n), Ok(v)) = (
                            HeaderName::from_bytes(n.as_bytes()),
                            HeaderValue::from_str(v),
                        ) {
                            headers.insert(n, v);
                            changed.push(l.index);
                        }
                    }
                    Action::RemoveRequestHeader(n) => {
                        changed.extend(headers.remove(n.as_str()).map(|_| l.index));
                    }
                    Action::Upstream(u) => {
                        *upstream = Some(u.clone());
                        changed.push(l.index);
                    }
                    Action::Respond { status, file } if matches!(step, RequestStep::Go) => {
                        let body = match file {
                            None => Ok(Vec::new()),
                            Some(f) => tokio::fs::read(f).await.map_err(|e| {
                                format!("rule {}: cannot read {}: {e}", l.index, f.display())
                            }),
                        };
                        step = RequestStep::Respond {
                            status: *status,
                            body,
                            content_type: file.as_ref().map(|f| content_type_of(f)),
                        };
                        changed.push(l.index);
                    }
                    Action::Reset if matches!(step, RequestStep::Go) => {
                        step = RequestStep::Reset;
                        changed.push(l.index);
                    }
                    _ => {}
                }
            }
        }
        for i in changed {
            self.mark(i);
        }
        step
    }

    /// Whether a rule that applies resets the connection at the response.
    pub(crate) fn resets(&mut self) -> bool {
        let r = self
            .on()
            .find(|l| l.rule.actions.iter().any(|a| matches!(a, Action::Reset)))
            .map(|l| l.index);
        if let Some(i) = r {
            self.mark(i);
        }
        r.is_some()
    }

    /// Applies the response actions to the head and (when held) the body; returns the
    /// delay before answering, the throttle rate and whether anything changed.
    pub(crate) async fn response_actions(
        &mut self,
        request: Option<crate::model::Request>,
        resp: &mut ResponseParts,
    ) -> (Duration, Option<u64>, bool) {
        let mut delay = Duration::ZERO;
        let mut rate = None;
        let mut changed = Vec::new();
        let rules = Arc::clone(&self.rules);
        let on: Vec<&Live> = rules
            .iter()
            .zip(&self.state)
            .filter(|(_, s)| **s == State::On)
            .map(|(l, _)| l)
            .collect();
        for l in on {
            let protocol_actions = l.rule.protocol_actions();
            for a in &l.rule.actions {
                match a {
                    Action::Status(code) => {
                        resp.status = *code;
                        changed.push(l.index);
                    }
                    Action::SetHeader(n, v) => {
                        resp.headers.0.retain(|(k, _)| !k.eq_ignore_ascii_case(n));
                        resp.headers.0.push((n.clone(), v.clone()));
                        changed.push(l.index);
                    }
                    Action::RemoveHeader(n) => {
                        let before = resp.headers.0.len();
                        resp.headers.0.retain(|(k, _)| !k.eq_ignore_ascii_case(n));
                        if resp.headers.0.len() != before {
                            changed.push(l.index);
                        }
                    }
                    Action::DelayResponse(d) => {
                        delay += *d;
                        changed.push(l.index);
                    }
                    Action::Throttle(r) => {
                        rate = Some(rate.map_or(*r, |x: u64| x.min(*r)));
                        changed.push(l.index);
                    }
                    Action::Replace { regex, with } => match resp.body.as_ref() {
                        Some(b) => {
                            let (re, with) = (regex.clone(), with.clone());
                            let headers = resp.headers.clone();
                            let b = b.clone();
                            let out = run_blocking(move || replace(&headers, &b, &re, &with)).await;
                            match out {
                                Some(Some((body, decoded))) => {
                                    if decoded {
                                        resp.headers.0.retain(|(k, _)| {
                                            !k.eq_ignore_ascii_case("content-encoding")
                                        });
                                    }
                                    resp.body = Some(Bytes::from(body));
                                    changed.push(l.index);
                                }
                                Some(None) => {}
                                None => l.warn("replace failed"),
                            }
                        }
                        None => l.warn("replace needs the whole response body"),
                    },
                    _ => {}
                }
            }
            if !protocol_actions.is_empty() {
                match (&request, resp.body.as_ref()) {
                    (Some(q), Some(b)) => {
                        let response = crate::model::Response {
                            status: resp.status,
                            reason: String::new(),
                            headers: resp.headers.clone(),
                            body: Body::complete(b.to_vec()),
                        };
                        let (q, filter) = (q.clone(), l.rule.filter.clone());
                        let out = run_blocking(move || {
                            protocol::apply(&q, &response, &filter, &protocol_actions)
                        })
                        .await;
                        match out {
                            Some(protocol::Outcome::Rewritten {
                                status,
                                headers,
                                body,
                                ..
                            }) => {
                                resp.status = status;
                                resp.headers = headers;
                                resp.body = Some(Bytes::from(body));
                                changed.push(l.index);
                            }
                            Some(protocol::Outcome::NotApplicable(why)) => l.warn(&why),
                            None => l.warn("the protocol rewrite failed"),
                        }
                    }
                    _ => l.warn("protocol actions need the whole request and response"),
                }
            }
        }
        let any = !changed.is_empty();
        for i in changed {
            self.mark(i);
        }
        (delay, rate, any)
    }

    /// The record's `modified` member, when a rule changed something.
    pub(crate) fn modified(&self) -> Option<Modified> {
        (!self.changed.is_empty()).then(|| Modified {
            rules: self
                .changed
                .iter()
                .filter_map(|i| self.rules.get(*i).map(Live::reference))
                .collect(),
            ..Modified::default()
        })
    }
}

/// A response head and its body (when held), as rules change it.
pub(crate) struct ResponseParts {
    pub(crate) status: u16,
    pub(crate) headers: Headers,
    pub(crate) body: Option<Bytes>,
}

fn decided(d: Option<bool>, l: &Live) -> State {
    match d {
        Some(false) => State::Off,
        Some(true) if l.take() => State::On,
        Some(true) => State::Off,
        None => State::Open,
    }
}

/// `replace` over the body decoded from its Content-Encoding: the new body and whether
/// it was decoded; `None` when nothing matched.
fn replace(
    headers: &Headers,
    body: &[u8],
    re: &regex::bytes::Regex,
    with: &[u8],
) -> Option<(Vec<u8>, bool)> {
    let decoded = decoded_body(&headers.pairs(), body);
    if !re.is_match(&decoded) {
        return None;
    }
    let was_decoded = decoded.as_ref() != body;
    Some((re.replace_all(&decoded, with).into_owned(), was_decoded))
}

/// Runs `f` on a blocking thread; `None` when it panicked.
pub(crate) async fn run_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    tokio::task::spawn_blocking(move || std::panic::catch_unwind(AssertUnwindSafe(f)).ok())
        .await
        .ok()
        .flatten()
}

fn content_type_of(path: &std::path::Path) -> &'static str {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        Some("json") => "application/json",
        Some("xml") => "text/xml; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// The hold cap, for warnings.
pub(crate) fn over_cap() -> String {
    format!(
        "the body is over the {} MiB rules hold limit",
        HOLD_CAP >> 20
    )
}
