//! Filter expressions over exchanges, for `show --filter`, `export --filter` and the UI.
//!
//! ```text
//! ~m METHOD      method (case-insensitive)          ~u REGEX    URL
//! ~c CODE        HTTP status (423, or 4xx)          ~p NAME     protocol (FSSHTTP, FSSHTTPB,
//! ~t TYPE        SubRequest Type or sub-operation               SPFileSync, WebDAV, HTTP)
//! ~e CODE        ErrorCode (cell storage or FSSHTTPB)  ~client ID  ClientID (or c<connection>)
//! ~file REGEX    the file (cell storage Request Url, else the URL)
//! ~b REGEX       request or response body
//! ~modified      changed by a proxy rule (takes no value)
//! a & b, a | b, !a, (a), and juxtaposition meaning &. Quote values with spaces: ~u "a b"
//! ```
//!
//! Regexes are case-insensitive. A bad expression is an error naming the column.
//!
//! Parsing, evaluation and dropping recurse over the expression, so its size is bounded:
//! at most [`MAX_NESTING`] levels of `(` and `!`, and [`MAX_FILTERS`] filters.

use regex::{bytes, Regex, RegexBuilder};

use crate::decode::exchange::{decoded_body, DecodedExchange, FsshttpExchange, Protocol};
use crate::decode::fsshttpb::request_type_name;
use crate::model::{self, Exchange};

/// Deepest nesting of parentheses and `!` a filter may have.
pub const MAX_NESTING: usize = 64;
/// Most `~` filters one expression may hold.
pub const MAX_FILTERS: usize = 256;

/// A parsed filter.
#[derive(Debug, Clone)]
pub struct Filter {
    expr: Expr,
}

#[derive(Debug, Clone)]
enum Expr {
    And(Box<Self>, Box<Self>),
    Or(Box<Self>, Box<Self>),
    Not(Box<Self>),
    Method(String),
    Url(Regex),
    Code(CodePattern),
    Protocol(String),
    SubType(String),
    ErrorCode(String),
    Client(String),
    File(Regex),
    Body(bytes::Regex),
    Modified,
}

#[derive(Debug, Clone, Copy)]
enum CodePattern {
    Exact(u16),
    Class(u16),
}

/// A bad filter expression: what is wrong and at which column (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter error at column {column}: {message}\n  {expr}\n  {caret}")]
pub struct FilterError {
    /// 1-based column of the problem.
    pub column: usize,
    /// What is wrong.
    pub message: String,
    expr: String,
    caret: String,
}

impl FilterError {
    fn new(expr: &str, pos: usize, message: impl Into<String>) -> Self {
        let column = expr[..pos.min(expr.len())].chars().count() + 1;
        Self {
            column,
            message: message.into(),
            expr: expr.to_owned(),
            caret: format!("{}^", " ".repeat(column - 1)),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    And,
    Or,
    Not,
    Open,
    Close,
    Filter(String),
    Value(String),
}

fn lex(s: &str) -> Result<Vec<(usize, Tok)>, FilterError> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'&' | b'|' | b'!' | b'(' | b')' => {
                let tok = match c {
                    b'&' => Tok::And,
                    b'|' => Tok::Or,
                    b'!' => Tok::Not,
                    b'(' => Tok::Open,
                    _ => Tok::Close,
                };
                out.push((i, tok));
                i += 1;
            }
            b'"' | b'\'' => {
                let start = i;
                i += 1;
                let mut v = String::new();
                loop {
                    match s[i..].chars().next() {
                        None => {
                            return Err(FilterError::new(s, start, "unterminated quoted value"))
                        }
                        Some('\\') if s[i + 1..].starts_with(char::from(c)) => {
                            v.push(char::from(c));
                            i += 2;
                        }
                        Some(ch) if ch == char::from(c) => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(ch);
                            i += ch.len_utf8();
                        }
                    }
                }
                out.push((start, Tok::Value(v)));
            }
            _ => {
                let start = i;
                while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\n' | b'\r' | b')') {
                    i += 1;
                }
                let word = &s[start..i];
                if let Some(name) = word.strip_prefix('~') {
                    out.push((start, Tok::Filter(name.to_owned())));
                } else {
                    out.push((start, Tok::Value(word.to_owned())));
                }
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    src: &'a str,
    toks: Vec<(usize, Tok)>,
    pos: usize,
    // Current nesting of `(` and `!`, for MAX_NESTING.
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.src.len(), |(p, _)| *p)
    }

    fn err(&self, msg: impl Into<String>) -> FilterError {
        FilterError::new(self.src, self.at(), msg)
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        loop {
            match self.peek() {
                Some(Tok::And) => {
                    self.pos += 1;
                }
                Some(Tok::Not | Tok::Open | Tok::Filter(_)) => {}
                _ => return Ok(left),
            }
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        match self.peek().cloned() {
            Some(Tok::Not | Tok::Open) if self.depth >= MAX_NESTING => {
                Err(self.err(format!("nested more than {MAX_NESTING} levels deep")))
            }
            Some(Tok::Not) => {
                self.pos += 1;
                self.depth += 1;
                let e = self.unary();
                self.depth -= 1;
                Ok(Expr::Not(Box::new(e?)))
            }
            Some(Tok::Open) => {
                self.pos += 1;
                self.depth += 1;
                let e = self.or();
                self.depth -= 1;
                let e = e?;
                if self.peek() != Some(&Tok::Close) {
                    return Err(self.err("expected `)`"));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Filter(name)) if name == "modified" => {
                self.pos += 1;
                Ok(Expr::Modified)
            }
            Some(Tok::Filter(name)) => {
                let name_at = self.at();
                self.pos += 1;
                let Some(Tok::Value(v)) = self.peek().cloned() else {
                    return Err(self.err(format!("~{name} needs a value")));
                };
                let value_at = self.at();
                self.pos += 1;
                self.filter(&name, &v, name_at, value_at)
            }
            Some(Tok::Value(v)) => Err(self.err(format!(
                "unexpected value {v:?}: start a filter with ~ (e.g. ~u {v})"
            ))),
            Some(Tok::Close) => Err(self.err("unexpected `)`")),
            Some(Tok::And | Tok::Or) => Err(self.err("expected a filter before the operator")),
            None => Err(self.err("expected a filter, found the end")),
        }
    }

    fn regex(&self, v: &str, at: usize) -> Result<Regex, FilterError> {
        RegexBuilder::new(v)
            .case_insensitive(true)
            .size_limit(1 << 20)
            .build()
            .map_err(|e| FilterError::new(self.src, at, format!("invalid regex: {e}")))
    }

    fn filter(&self, name: &str, v: &str, name_at: usize, at: usize) -> Result<Expr, FilterError> {
        Ok(match name {
            "m" => Expr::Method(v.to_ascii_uppercase()),
            "u" => Expr::Url(self.regex(v, at)?),
            "c" => {
                let lower = v.to_ascii_lowercase();
                if let Some(d) = lower.strip_suffix("xx").and_then(|d| d.parse::<u16>().ok()) {
                    Expr::Code(CodePattern::Class(d))
                } else {
                    Expr::Code(CodePattern::Exact(v.parse().map_err(|_| {
                        FilterError::new(
                            self.src,
                            at,
                            format!("~c takes a status like 423 or 4xx, not {v:?}"),
                        )
                    })?))
                }
            }
            "p" => Expr::Protocol(v.to_ascii_lowercase()),
            "t" => Expr::SubType(v.to_ascii_lowercase()),
            "e" => Expr::ErrorCode(v.to_ascii_lowercase()),
            "client" => Expr::Client(v.trim_matches(['{', '}']).to_ascii_lowercase()),
            "file" => Expr::File(self.regex(v, at)?),
            "b" => Expr::Body(
                bytes::RegexBuilder::new(v)
                    .case_insensitive(true)
                    .size_limit(1 << 20)
                    .build()
                    .map_err(|e| FilterError::new(self.src, at, format!("invalid regex: {e}")))?,
            ),
            other => {
                return Err(FilterError::new(
                    self.src,
                    name_at,
                    format!(
                    "unknown filter ~{other} (known: ~m ~u ~c ~p ~t ~e ~client ~file ~b ~modified)"
                ),
                ))
            }
        })
    }
}

impl Filter {
    /// Parses an expression.
    ///
    /// # Errors
    /// A [`FilterError`] naming the column of the first problem.
    pub fn parse(s: &str) -> Result<Self, FilterError> {
        let toks = lex(s)?;
        if let Some((at, _)) = toks
            .iter()
            .filter(|(_, t)| matches!(t, Tok::Filter(_)))
            .nth(MAX_FILTERS)
        {
            return Err(FilterError::new(
                s,
                *at,
                format!("more than {MAX_FILTERS} filters in one expression"),
            ));
        }
        let mut p = Parser {
            src: s,
            toks,
            pos: 0,
            depth: 0,
        };
        let expr = p.or()?;
        if p.pos < p.toks.len() {
            return Err(p.err("unexpected input after the expression"));
        }
        Ok(Self { expr })
    }

    /// Whether the exchange (with its decoded form) matches.
    pub fn matches(&self, x: &Exchange, d: &DecodedExchange) -> bool {
        self.matches_facts(&Facts::of(x, d), &mut |re| body_matches(re, x))
    }

    /// Whether an exchange reduced to its [`Facts`] matches. `body` answers `~b` terms
    /// (whether the request or response body, decoded from its Content-Encoding, matches
    /// the regex); it is called only when evaluation reaches such a term, so a caller
    /// holding only facts reads bodies back for `~b` alone.
    pub fn matches_facts(&self, f: &Facts, body: &mut dyn FnMut(&bytes::Regex) -> bool) -> bool {
        eval(&self.expr, f, body)
    }

    /// Whether evaluating needs bodies (the expression has a `~b` term).
    pub fn needs_bodies(&self) -> bool {
        fn walk(e: &Expr) -> bool {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => walk(a) || walk(b),
                Expr::Not(a) => walk(a),
                Expr::Body(_) => true,
                _ => false,
            }
        }
        walk(&self.expr)
    }

    /// Decides what can be decided from what is `known` of an exchange so far: `Some`
    /// when the answer cannot change as more becomes known, `None` when it depends on
    /// something not known yet (three-valued logic: `false & ?` is false, `true | ?` is
    /// true). `f` holds what is known; `body` answers `~b` once `known.bodies`.
    pub fn decide(
        &self,
        f: &Facts,
        known: Known,
        body: &mut dyn FnMut(&bytes::Regex) -> bool,
    ) -> Option<bool> {
        decide(&self.expr, f, known, body)
    }

    /// Whether the expression has a term that only decoding the bodies can answer (`~p
    /// ~t ~e ~client ~file ~b`).
    pub fn needs_decoding(&self) -> bool {
        fn walk(e: &Expr) -> bool {
            match e {
                Expr::And(a, b) | Expr::Or(a, b) => walk(a) || walk(b),
                Expr::Not(a) => walk(a),
                Expr::Method(_) | Expr::Url(_) | Expr::Code(_) | Expr::Modified => false,
                _ => true,
            }
        }
        walk(&self.expr)
    }
}

/// What is known of an exchange while it passes the proxy, for [`Filter::decide`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Known {
    /// The response head (`~c`).
    pub status: bool,
    /// The request body, decoded (`~p ~t ~client ~file`).
    pub request: bool,
    /// Both bodies, decoded (`~e ~b`).
    pub bodies: bool,
}

fn decide(
    e: &Expr,
    f: &Facts,
    k: Known,
    body: &mut dyn FnMut(&bytes::Regex) -> bool,
) -> Option<bool> {
    let known = match e {
        Expr::And(a, b) => return junction(a, b, false, f, k, body),
        Expr::Or(a, b) => return junction(a, b, true, f, k, body),
        Expr::Not(a) => return decide(a, f, k, body).map(|v| !v),
        Expr::Method(_) | Expr::Url(_) | Expr::Modified => true,
        Expr::Code(_) => k.status,
        // The connection form (`c3`) is known from the start.
        Expr::Client(id) if format!("c{}", f.connection_id) == *id => true,
        Expr::Protocol(_) | Expr::SubType(_) | Expr::Client(_) | Expr::File(_) => {
            k.request || k.bodies
        }
        Expr::ErrorCode(_) | Expr::Body(_) => k.bodies,
    };
    known.then(|| eval(e, f, body))
}

/// Three-valued `and` (`decisive` false) or `or` (`decisive` true): the decisive answer
/// on either side decides; otherwise both sides must be known.
fn junction(
    a: &Expr,
    b: &Expr,
    decisive: bool,
    f: &Facts,
    k: Known,
    body: &mut dyn FnMut(&bytes::Regex) -> bool,
) -> Option<bool> {
    match decide(a, f, k, body) {
        Some(v) if v == decisive => Some(decisive),
        x => match (x, decide(b, f, k, body)) {
            (_, Some(v)) if v == decisive => Some(decisive),
            (Some(_), y) => y,
            _ => None,
        },
    }
}

/// What a filter looks at, reduced from an exchange and its decoded form: small enough
/// to keep one per exchange (the UI does, for every row), so a filter change needs
/// neither the capture nor the decoders again. Bodies are not in it: `~b` reads them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// Request method (None for tunnels).
    pub method: Option<Box<str>>,
    /// Request URL.
    pub url: Option<Box<str>>,
    /// HTTP status.
    pub status: Option<u16>,
    /// The client connection.
    pub connection_id: u64,
    /// The protocol.
    pub protocol: Protocol,
    /// A cell storage exchange with MS-FSSHTTPB payloads.
    pub fsshttpb: bool,
    /// Operation names: SubRequest Types, their request types (`JoinCoauthoring`...) and
    /// MS-FSSHTTPB sub-requests (`PutChanges`...).
    pub operations: Vec<Box<str>>,
    /// Error codes: MS-FSSHTTP ErrorCodes (ResponseVersion, Response, SubResponse) and
    /// MS-FSSHTTPB error names (`CoherencyFailure`...).
    pub error_codes: Vec<Box<str>>,
    /// The first ClientID.
    pub client_id: Option<Box<str>>,
    /// The cell storage `Request@Url`s.
    pub files: Vec<Box<str>>,
    /// A proxy rule changed the exchange.
    pub modified: bool,
}

impl Facts {
    /// The facts of an exchange and its decoded form.
    pub fn of(x: &Exchange, d: &DecodedExchange) -> Self {
        let mut f = Self::of_parts(x.request.as_ref(), x.response.as_ref(), x.connection_id, d);
        f.modified = x.modified.is_some();
        f
    }

    /// The facts of a request and response (either may be missing) seen on client
    /// connection `connection_id`, with their decoded form; not `modified`.
    pub fn of_parts(
        req: Option<&model::Request>,
        resp: Option<&model::Response>,
        connection_id: u64,
        d: &DecodedExchange,
    ) -> Self {
        let mut f = Self {
            method: req.map(|r| r.method.as_str().into()),
            url: req.map(|r| r.url.as_str().into()),
            status: resp.map(|r| r.status),
            connection_id,
            protocol: d.protocol(),
            client_id: d.client_id().map(Into::into),
            files: d.file_urls().map(Into::into).collect(),
            ..Self::default()
        };
        let Some(fx) = d.fsshttp() else {
            return f;
        };
        f.fsshttpb = !fx.cells.is_empty();
        let mut op = |name: &str| {
            if !f.operations.iter().any(|o| o.eq_ignore_ascii_case(name)) {
                f.operations.push(name.into());
            }
        };
        for (_, s) in fx.request.iter().flat_map(|r| r.sub_requests()) {
            if let Some(t) = &s.type_ {
                op(t.as_str());
            }
            if let Some(o) = s.sub_request_data.as_ref().and_then(|d| d.request_type()) {
                op(o);
            }
        }
        for q in fx.cells.iter().filter_map(|c| c.request.as_ref()) {
            for s in &q.sub_requests {
                op(request_type_name(s.request_type));
            }
        }
        let mut code = |name: &str| {
            if !f.error_codes.iter().any(|c| c.eq_ignore_ascii_case(name)) {
                f.error_codes.push(name.into());
            }
        };
        for c in fx.response.iter().flat_map(|r| r.error_codes()) {
            code(c.as_str());
        }
        for r in fx.cells.iter().filter_map(|c| c.response.as_ref()) {
            let errors = r
                .error
                .iter()
                .chain(r.sub_responses.iter().filter_map(|s| s.error.as_ref()));
            for e in errors.flat_map(|e| e.chain()) {
                if let Some(name) = e.detail.name() {
                    code(name);
                }
            }
        }
        f
    }
}

/// One SubRequest of a cell storage request that a filter selects
/// ([`Filter::selected_subrequests`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelectedSubRequest {
    /// Index of its `Request` in the `RequestCollection`.
    pub request: usize,
    /// Its index among that Request's SubRequests.
    pub index: usize,
    /// Its `SubRequestToken`.
    pub token: Option<u64>,
    /// For a Cell SubRequest, the Request IDs of the MS-FSSHTTPB sub-requests selected:
    /// those for which the filter holds with `~t` bound to that one operation, or every
    /// one of them when it holds for none alone (`~t PutChanges & ~t QueryChanges`).
    pub cell_request_ids: Vec<u64>,
}

impl Filter {
    /// The SubRequests of a cell storage exchange the filter selects.
    ///
    /// The expression is evaluated once per SubRequest with `~t`, `~client` and `~file`
    /// bound to that SubRequest: `~t` to its `Type`, its request-type attribute
    /// (`JoinCoauthoring`...) and, for a Cell SubRequest, the names of its MS-FSSHTTPB
    /// sub-requests (`PutChanges`...); `~client` to its ClientID (the exchange's when it
    /// carries none, as a ServerTime SubRequest does); `~file` to its `Request@Url`.
    /// Every other term stays bound to the exchange (`facts`, `body` as in
    /// [`Filter::matches_facts`]). Empty when the exchange has no request envelope.
    pub fn selected_subrequests(
        &self,
        facts: &Facts,
        fx: &FsshttpExchange,
        body: &mut dyn FnMut(&bytes::Regex) -> bool,
    ) -> Vec<SelectedSubRequest> {
        let mut out = Vec::new();
        let requests = fx
            .request
            .iter()
            .flat_map(|e| e.request_collection.iter())
            .flat_map(|c| c.requests.iter());
        for (ri, r) in requests.enumerate() {
            for (si, s) in r.sub_requests.iter().enumerate() {
                let mut f = facts.clone();
                f.operations.clear();
                if let Some(t) = &s.type_ {
                    f.operations.push(t.as_str().into());
                }
                let data = s.sub_request_data.as_ref();
                if let Some(o) = data.and_then(|d| d.request_type()) {
                    f.operations.push(o.into());
                }
                let base_ops = f.operations.len();
                if let Some(c) = data.and_then(|d| d.client_id.as_deref()) {
                    f.client_id = Some(c.into());
                }
                f.files = r.url.iter().map(|u| u.as_str().into()).collect();
                let cell = fx
                    .cells
                    .iter()
                    .filter(|c| {
                        s.sub_request_token.is_some() && c.sub_request_token == s.sub_request_token
                    })
                    .find_map(|c| c.request.as_ref());
                let ops: Vec<(u64, &str)> = cell
                    .iter()
                    .flat_map(|q| q.sub_requests.iter())
                    .map(|b| (b.request_id, request_type_name(b.request_type)))
                    .collect();
                f.operations
                    .extend(ops.iter().map(|(_, name)| Box::<str>::from(*name)));
                if !eval(&self.expr, &f, body) {
                    continue;
                }
                let mut cell_request_ids = Vec::new();
                for (id, name) in &ops {
                    f.operations.truncate(base_ops);
                    f.operations.push((*name).into());
                    if eval(&self.expr, &f, body) {
                        cell_request_ids.push(*id);
                    }
                }
                if cell_request_ids.is_empty() {
                    cell_request_ids = ops.iter().map(|(id, _)| *id).collect();
                }
                out.push(SelectedSubRequest {
                    request: ri,
                    index: si,
                    token: s.sub_request_token,
                    cell_request_ids,
                });
            }
        }
        out
    }
}

/// Whether the request or response body of `x`, decoded from its Content-Encoding,
/// matches `re`.
pub fn body_matches(re: &bytes::Regex, x: &Exchange) -> bool {
    body_matches_parts(re, x.request.as_ref(), x.response.as_ref())
}

/// Whether the body of `req` or `resp`, decoded from its Content-Encoding, matches `re`.
pub fn body_matches_parts(
    re: &bytes::Regex,
    req: Option<&model::Request>,
    resp: Option<&model::Response>,
) -> bool {
    req.is_some_and(|q| re.is_match(&decoded_body(&q.headers.pairs(), &q.body.bytes)))
        || resp.is_some_and(|s| re.is_match(&decoded_body(&s.headers.pairs(), &s.body.bytes)))
}

fn eval(e: &Expr, f: &Facts, body: &mut dyn FnMut(&bytes::Regex) -> bool) -> bool {
    let named = |names: &[Box<str>], v: &str| names.iter().any(|n| n.eq_ignore_ascii_case(v));
    match e {
        Expr::And(a, b) => eval(a, f, body) && eval(b, f, body),
        Expr::Or(a, b) => eval(a, f, body) || eval(b, f, body),
        Expr::Not(a) => !eval(a, f, body),
        Expr::Method(m) => f
            .method
            .as_deref()
            .is_some_and(|x| x.eq_ignore_ascii_case(m)),
        Expr::Url(r) => f.url.as_deref().is_some_and(|u| r.is_match(u)),
        Expr::Code(CodePattern::Exact(c)) => f.status == Some(*c),
        Expr::Code(CodePattern::Class(c)) => f.status.is_some_and(|s| s / 100 == *c),
        Expr::Protocol(p) => {
            f.protocol.name().eq_ignore_ascii_case(p) || (p == "fsshttpb" && f.fsshttpb)
        }
        Expr::SubType(t) => named(&f.operations, t),
        Expr::ErrorCode(c) => named(&f.error_codes, c),
        Expr::Client(id) => {
            f.client_id
                .as_deref()
                .is_some_and(|c| c.to_ascii_lowercase().contains(id.as_str()))
                || format!("c{}", f.connection_id) == *id
        }
        Expr::File(r) => {
            if f.files.is_empty() {
                f.url.as_deref().is_some_and(|u| r.is_match(u))
            } else {
                f.files.iter().any(|u| r.is_match(u))
            }
        }
        // Bodies are matched as decoded from their Content-Encoding.
        Expr::Body(r) => body(r),
        Expr::Modified => f.modified,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_column() {
        let e = Filter::parse("~m GET & ~x foo").err().map(|e| e.column);
        assert_eq!(e, Some(10));
        let e = Filter::parse("(~m GET")
            .err()
            .map(|e| (e.column, e.message));
        assert_eq!(e, Some((8, "expected `)`".to_owned())));
        let e = Filter::parse("~u (").err().map(|e| e.column);
        assert_eq!(e, Some(4));
        let e = Filter::parse("~c abc").err();
        assert!(e.is_some_and(|e| e.to_string().contains("column 4")));
        assert!(Filter::parse("~m GET & !(~c 4xx | ~p WebDAV) ~u \"a b\"").is_ok());
    }

    /// Found by fuzzing: 50,000 nested parentheses overflowed the stack in the parser
    /// (and a long `&` chain would in evaluation and drop).
    #[test]
    fn size_is_bounded() {
        let deep = format!("{}~m GET{}", "(".repeat(50_000), ")".repeat(50_000));
        let e = Filter::parse(&deep).err();
        assert!(e.is_some_and(|e| e.message.contains("nested more than 64") && e.column == 65));
        let nots = format!("{}~m GET", "!".repeat(100_000));
        assert!(Filter::parse(&nots).is_err());
        let ok = format!(
            "{}~m GET{}",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert!(Filter::parse(&ok).is_ok());
        let long = "~m GET & ".repeat(MAX_FILTERS + 1) + "~m PUT";
        let e = Filter::parse(&long).err();
        assert!(e.is_some_and(|e| e.message.contains("more than 256 filters")));
        assert!(Filter::parse(&("~m GET | ".repeat(MAX_FILTERS - 1) + "~m PUT")).is_ok());
    }
}
