//! The answers synctap writes itself, instead of the upstream's: small text responses,
//! and the error responses that name the side at fault in `x-synctap-error`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Empty, Full};

use super::error::Fault;
use super::timeouts::BoxError;

/// The body type sent to clients.
pub(crate) type RespBody = BoxBody<Bytes, BoxError>;

/// A full body.
pub(crate) fn full(b: Bytes) -> RespBody {
    Full::new(b).map_err(|never| match never {}).boxed()
}

/// An empty body.
pub(crate) fn empty() -> RespBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// A small text response.
pub(crate) fn simple(status: StatusCode, text: &str) -> Response<RespBody> {
    let mut r = Response::new(full(Bytes::from(text.to_owned())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A small text response naming the side at fault in `x-synctap-error`.
pub(crate) fn error_response(status: StatusCode, fault: Fault, reason: &str) -> Response<RespBody> {
    let mut r = simple(status, &format!("synctap: {}\n", reason.replace('\n', " ")));
    let side = match fault {
        Fault::Client => HeaderValue::from_static("client"),
        Fault::Upstream => HeaderValue::from_static("upstream"),
    };
    r.headers_mut().insert("x-synctap-error", side);
    r
}
