//! The forwarding steps of an exchange that rules may change: hold the request body
//! when a rule needs it, apply request actions (or answer locally, or reset), and on the
//! response hold its body when needed, apply response actions, and record what the
//! client got with the originals beside it. Exchanges no rule can match never come here.

use std::sync::Arc;

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use http::{HeaderValue, Response, StatusCode, Version};
use http_body_util::BodyExt as _;
use hyper::body::Incoming;

use super::ctx::ConnCtx;
use super::error::Reset;
use super::head::SharedWindow;
use super::held::{hold, Held, Prefixed, Throttled, HOLD_CAP};
use super::respond::{full, RespBody};
use super::rules::{over_cap, Plan, RequestStep, ResponseParts};
use super::shape::{header_map, headers_of, rewrite_response_urls, strip_hop_by_hop};
use super::tap::{policy, record_response, Recorder, TapBody};
use super::timeouts::{IdleBody, InFlight};
use crate::capture::format::Side;
use crate::model::{Body, Exchange, ProxyMode};
use crate::net::Target;

/// What the request rules decided.
pub(super) enum Ruled {
    /// Forward this body; the request body when it was held whole.
    Go(Prefixed<Incoming>, Option<Bytes>),
    /// Answer without the upstream.
    Answer(LocalAnswer),
    /// Close the client connection.
    Reset,
}

/// The rules' state carried to the response.
pub(super) struct RuledResponse {
    pub(super) plan: Plan,
    pub(super) held_request: Option<Bytes>,
}

/// Holds the request body when a rule needs it, then applies the request actions.
pub(super) async fn request_rules(
    plan: &mut Plan,
    parts: &mut http::request::Parts,
    body: Incoming,
    target: &mut Target,
    path: &str,
    rec: &Arc<Recorder>,
) -> Ruled {
    let mut held = None;
    let body = if plan.holds_request() {
        match hold(body, HOLD_CAP).await {
            Held::Whole(b) => {
                if let Some(mut x) = rec.snapshot() {
                    if let Some(q) = x.request.as_mut() {
                        q.body = Body::complete(b.to_vec());
                    }
                    plan.decode_request(x).await;
                }
                held = Some(b.clone());
                Prefixed::whole(b)
            }
            Held::Partial(p) => {
                plan.request_unheld(&over_cap());
                p
            }
        }
    } else {
        Prefixed::wire(body)
    };
    let original = parts.headers.clone();
    let mut upstream = None;
    let step = plan
        .request_actions(&mut parts.headers, &mut upstream)
        .await;
    if plan.changed.is_empty() {
        return Ruled::Go(body, held);
    }
    let modified = plan.modified();
    match step {
        RequestStep::Reset => {
            let text = format!(
                "reset by rule {}",
                plan.changed.last().copied().unwrap_or(0)
            );
            rec.update(|x| {
                x.error = Some(text);
                x.modified = modified;
            });
            Ruled::Reset
        }
        RequestStep::Respond {
            status,
            body: answer,
            content_type,
        } => {
            rec.update(|x| x.modified = modified);
            Ruled::Answer(LocalAnswer {
                status,
                body: answer,
                content_type,
            })
        }
        RequestStep::Go => {
            if let Some(u) = upstream {
                match Target::parse(&u) {
                    Ok(t) => *target = t,
                    Err(e) => tracing::warn!("rule upstream {u}: {e}"),
                }
            }
            let url = format!("{}{}", target.origin(), path);
            let server = target.authority();
            let headers = if original == parts.headers {
                None
            } else {
                Some(headers_of(&parts.headers))
            };
            rec.update(|x| {
                let mut m = modified.unwrap_or_default();
                m.original_request = x.request.clone().map(|mut q| {
                    q.body = Body::default();
                    q
                });
                if let Some(q) = x.request.as_mut() {
                    q.url = url;
                    if let Some(h) = headers {
                        q.headers = h;
                    }
                }
                x.server = server;
                x.modified = Some(m);
            });
            Ruled::Go(body, held)
        }
    }
}

/// `respond STATUS [FILE]`: the answer a rule gives without the upstream.
pub(super) struct LocalAnswer {
    status: u16,
    /// The body, or why the file could not be read.
    body: Result<Vec<u8>, String>,
    content_type: Option<&'static str>,
}

impl LocalAnswer {
    /// The answer, recorded as the response; a file that cannot be read answers 502
    /// naming it.
    pub(super) fn send(self, ctx: &ConnCtx, rec: &Arc<Recorder>) -> Response<RespBody> {
        let Self {
            status,
            body,
            content_type,
        } = self;
        local_answer(ctx, rec, status, body, content_type)
    }
}

pub(super) fn local_answer(
    ctx: &ConnCtx,
    rec: &Arc<Recorder>,
    status: u16,
    body: Result<Vec<u8>, String>,
    content_type: Option<&'static str>,
) -> Response<RespBody> {
    let (status, body, content_type) = match body {
        Ok(b) => (
            StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
            b,
            content_type,
        ),
        Err(why) => {
            tracing::warn!("{why}");
            rec.update(|x| x.error = Some(why.clone()));
            (
                StatusCode::BAD_GATEWAY,
                format!("synctap: {why}\n").into_bytes(),
                Some("text/plain; charset=utf-8"),
            )
        }
    };
    let mut r = Response::new(full(Bytes::from(body)));
    *r.status_mut() = status;
    if let Some(ct) = content_type {
        r.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    let headers = headers_of(r.headers());
    rec.update(|x| {
        x.response = Some(crate::model::Response {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or_default().to_owned(),
            headers,
            body: Body::default(),
        });
    });
    let policy = policy(ctx, r.headers());
    let rec = Arc::clone(rec);
    r.map(|b| TapBody::new(b, rec, Side::Response, policy).boxed())
}

/// Where a response goes back: the connection, the upstream and the client's origin.
pub(super) struct Way<'a> {
    pub(super) ctx: &'a ConnCtx,
    pub(super) target: &'a Target,
    pub(super) client_origin: Option<&'a str>,
}

/// The response of an exchange rules may change: decided, held when needed, changed,
/// and recorded as the client gets it with the original beside it.
pub(super) async fn respond_ruled(
    way: Way<'_>,
    resp: Response<Incoming>,
    rec: Arc<Recorder>,
    upstream_head: Option<SharedWindow>,
    in_flight: InFlight,
    ruled: RuledResponse,
) -> Result<Response<RespBody>, Reset> {
    let RuledResponse {
        mut plan,
        held_request,
    } = ruled;
    record_response(&rec, &resp, upstream_head);
    plan.response_head(resp.status().as_u16());
    let idle = way.ctx.shared.config.timeouts.upstream_idle;
    let (head, body) = resp.into_parts();
    let body = IdleBody::new(body, idle, Some(in_flight));
    let (mut stream, mut held) = (None, None);
    if plan.holds_response() {
        match hold(body, HOLD_CAP).await {
            Held::Whole(b) => {
                if let Some(x) = with_bodies(&rec, held_request.as_ref(), &b) {
                    plan.decode_all(x).await;
                }
                held = Some(b);
            }
            Held::Partial(p) => {
                plan.response_unheld(&over_cap());
                stream = Some(p);
            }
        }
    } else {
        stream = Some(Prefixed::wire(body));
    }
    if plan.resets() {
        let modified = plan.modified();
        rec.update(|x| {
            x.error = Some("reset by a rule".into());
            merge_modified(x, modified, None);
        });
        return Err(Reset);
    }
    let snapshot = rec.snapshot();
    let original = snapshot.as_ref().and_then(|x| x.response.clone());
    let request = snapshot.and_then(|x| x.request).map(|mut q| {
        q.body = Body::complete(
            held_request
                .as_ref()
                .map(|b| b.to_vec())
                .unwrap_or_default(),
        );
        q
    });
    let mut parts = ResponseParts {
        status: head.status.as_u16(),
        headers: original
            .as_ref()
            .map(|r| r.headers.clone())
            .unwrap_or_default(),
        body: held.clone(),
    };
    let (delay, rate, changed) = plan.response_actions(request, &mut parts).await;
    let mut resp = if !changed {
        // Nothing changed on the response: its own head, its own body.
        let body = match (held, stream) {
            (Some(b), _) => Prefixed::whole(b),
            (None, Some(s)) => s,
            (None, None) => Prefixed::whole(Bytes::new()),
        };
        Response::from_parts(head, body.boxed())
    } else {
        let body_changed = parts.body != held;
        let mut r = Response::new(match (parts.body.clone(), stream) {
            (Some(b), _) => Prefixed::<IdleBody<Incoming>>::whole(b).boxed(),
            (None, Some(s)) => s.boxed(),
            (None, None) => Prefixed::<IdleBody<Incoming>>::whole(Bytes::new()).boxed(),
        });
        *r.status_mut() = StatusCode::from_u16(parts.status).unwrap_or(head.status);
        *r.headers_mut() = header_map(&parts.headers);
        if body_changed {
            if let Some(b) = &parts.body {
                r.headers_mut().remove(TRANSFER_ENCODING);
                r.headers_mut()
                    .insert(CONTENT_LENGTH, HeaderValue::from(b.len()));
            }
        }
        let final_headers = headers_of(r.headers());
        let final_status = r.status();
        let mut original = original;
        if let (Some(o), true) = (original.as_mut(), body_changed) {
            o.body = held
                .as_ref()
                .map_or_else(Body::default, |b| Body::complete(b.to_vec()));
        }
        let modified = plan.modified();
        rec.update(|x| {
            if let Some(resp) = x.response.as_mut() {
                resp.status = final_status.as_u16();
                resp.reason = final_status
                    .canonical_reason()
                    .unwrap_or_default()
                    .to_owned();
                resp.headers = final_headers;
            }
            merge_modified(x, modified, original);
        });
        r
    };
    if let Some(ic) = way.ctx.shared.intercept.as_deref().filter(|i| i.active()) {
        resp = super::intercept::response(ic, resp, held_request.as_ref(), &rec).await?;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    strip_hop_by_hop(resp.headers_mut());
    if way.ctx.mode == ProxyMode::Reverse {
        rewrite_response_urls(resp.headers_mut(), way.client_origin, way.target);
    }
    *resp.version_mut() = Version::HTTP_11;
    let policy = policy(way.ctx, resp.headers());
    Ok(resp.map(|body| {
        let tapped = TapBody::new(body, rec, Side::Response, policy);
        match rate {
            Some(r) => Throttled::new(tapped, r).boxed(),
            None => tapped.boxed(),
        }
    }))
}

/// The exchange so far with both bodies, for deciding rules.
fn with_bodies(rec: &Recorder, request: Option<&Bytes>, response: &Bytes) -> Option<Exchange> {
    let mut x = rec.snapshot()?;
    if let (Some(q), Some(b)) = (x.request.as_mut(), request) {
        q.body = Body::complete(b.to_vec());
    }
    if let Some(r) = x.response.as_mut() {
        r.body = Body::complete(response.to_vec());
    }
    Some(x)
}

/// Puts the rules (all so far) and the original response into the record.
fn merge_modified(
    x: &mut Exchange,
    modified: Option<crate::model::Modified>,
    original_response: Option<crate::model::Response>,
) {
    let Some(new) = modified else {
        return;
    };
    let m = x.modified.get_or_insert_with(Default::default);
    m.rules = new.rules;
    if original_response.is_some() {
        m.original_response = original_response;
    }
}
