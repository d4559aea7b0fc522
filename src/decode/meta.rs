//! [`Meta`]: what a decoder may know about an exchange besides its bodies (method, URL,
//! headers, status). Every exchange decoder takes one `&Meta` instead of a long argument
//! list; it lives in its own file so the protocol decoders and the dispatcher in
//! [`super::exchange`] can share it without importing each other.

/// The metadata a decoder may look at besides the bodies.
#[derive(Debug, Clone, Copy, Default)]
pub struct Meta<'a> {
    /// Request method.
    pub method: &'a str,
    /// Full request URL.
    pub url: &'a str,
    /// Request header fields in order.
    pub request_headers: &'a [(&'a str, &'a str)],
    /// Response status, when a response was seen.
    pub status: Option<u16>,
    /// Response header fields in order (empty without a response).
    pub response_headers: &'a [(&'a str, &'a str)],
}

impl<'a> Meta<'a> {
    /// A request without a response (yet).
    pub fn request(method: &'a str, url: &'a str, headers: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            method,
            url,
            request_headers: headers,
            status: None,
            response_headers: &[],
        }
    }

    /// The same request with a response's status and header fields.
    #[must_use]
    pub fn with_response(self, status: Option<u16>, headers: &'a [(&'a str, &'a str)]) -> Self {
        Self {
            status,
            response_headers: headers,
            ..self
        }
    }

    /// The first request header field `name` (case-insensitive).
    pub fn request_header(&self, name: &str) -> Option<&'a str> {
        header(self.request_headers, name)
    }

    /// The first response header field `name` (case-insensitive).
    pub fn response_header(&self, name: &str) -> Option<&'a str> {
        header(self.response_headers, name)
    }

    /// Whether a response was seen: a status, response header fields, or a response body.
    pub fn has_response(&self, response_body: &[u8]) -> bool {
        self.status.is_some() || !self.response_headers.is_empty() || !response_body.is_empty()
    }
}

/// The first value of header `name` (case-insensitive).
pub fn header<'a>(headers: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}
