//! Recovering HTTP/1 header fields exactly as sent (original case and order).
//!
//! hyper keeps the original case of header names only in private extensions, and drops
//! some fields (Transfer-Encoding) from the map it hands over. A debugging proxy must show
//! the head as it was on the wire, so [`HeadTap`] keeps a small window of the most
//! recent bytes read from a connection; when hyper hands over a parsed head, the window
//! still holds its raw bytes, and [`HeadWindow::request_headers`] /
//! [`HeadWindow::response_headers`] re-parse them with httparse. When the raw head cannot
//! be found (pipelining, a head larger than the window), callers fall back to hyper's map.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use crate::model::Headers;

/// How many recent bytes are kept.
const WINDOW: usize = 32 << 10;
const MAX_HEADERS: usize = 256;

/// The recent bytes read from one connection.
#[derive(Debug, Default)]
pub(crate) struct HeadWindow {
    bytes: VecDeque<u8>,
}

/// A shared window.
pub(crate) type SharedWindow = Arc<Mutex<HeadWindow>>;

impl HeadWindow {
    fn push(&mut self, data: &[u8]) {
        let data = &data[data.len().saturating_sub(WINDOW)..];
        let excess = (self.bytes.len() + data.len()).saturating_sub(WINDOW);
        self.bytes.drain(..excess);
        self.bytes.extend(data);
    }

    /// The header fields of the most recent request head `METHOD target HTTP/1.x`.
    pub(crate) fn request_headers(&mut self, method: &str, target: &str) -> Option<Headers> {
        let buf = self.bytes.make_contiguous();
        let line = format!("{method} {target} HTTP/1.");
        // A head may follow a body that does not end with a newline: fall back to a
        // match anywhere. Consumed heads are drained, so an older head is never returned.
        let start = rfind_line(buf, line.as_bytes())
            .or_else(|| memchr::memmem::rfind(buf, line.as_bytes()))?;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let (found, end) = match req.parse(&buf[start..]) {
            Ok(httparse::Status::Complete(n)) => (Some(collect(req.headers)), start + n),
            _ => (None, 0),
        };
        self.bytes.drain(..end);
        found
    }

    /// The header fields of the most recent response head with `status`.
    pub(crate) fn response_headers(&mut self, status: u16) -> Option<Headers> {
        let buf = self.bytes.make_contiguous();
        // A head at a line start first; else (the previous body did not end with a
        // newline) anywhere. Consumed heads are drained, so an older head is never
        // returned for a newer response.
        let found = find_response(buf, status, true).or_else(|| find_response(buf, status, false));
        let (headers, end) = found?;
        self.bytes.drain(..end);
        headers
    }
}

/// The newest response head with `status` (skipping 1xx heads), with the offset just past
/// it; `None` when there is none. `Some((None, end))` when it was found but is incomplete.
fn find_response(buf: &[u8], status: u16, line_start: bool) -> Option<(Option<Headers>, usize)> {
    let mut end = buf.len();
    loop {
        let start = if line_start {
            rfind_line(&buf[..end], b"HTTP/1.")?
        } else {
            memchr::memmem::rfind(&buf[..end], b"HTTP/1.")?
        };
        let rest = &buf[start..];
        let code = rest
            .get(9..12)
            .and_then(|c| std::str::from_utf8(c).ok())
            .and_then(|c| c.parse::<u16>().ok());
        if code == Some(status) {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let mut resp = httparse::Response::new(&mut headers);
            return match resp.parse(rest) {
                Ok(httparse::Status::Complete(n)) => Some((Some(collect(resp.headers)), start + n)),
                _ => Some((None, 0)),
            };
        }
        end = start;
    }
}

fn collect(h: &[httparse::Header<'_>]) -> Headers {
    Headers(
        h.iter()
            .map(|h| (h.name.to_owned(), crate::util::latin1(h.value)))
            .collect(),
    )
}

/// The last position where `needle` starts a line (at offset 0 or after `\n`).
fn rfind_line(buf: &[u8], needle: &[u8]) -> Option<usize> {
    let finder = memchr::memmem::FinderRev::new(needle);
    let mut end = buf.len();
    while let Some(pos) = finder.rfind(&buf[..end]) {
        if pos == 0 || buf[pos - 1] == b'\n' {
            return Some(pos);
        }
        end = pos + needle.len() - 1;
        if end == 0 {
            break;
        }
    }
    None
}

/// An IO that remembers the most recent bytes read through it.
#[derive(Debug)]
pub(crate) struct HeadTap<T> {
    inner: T,
    window: SharedWindow,
}

impl<T> HeadTap<T> {
    pub(crate) fn new(inner: T) -> (Self, SharedWindow) {
        let window = SharedWindow::default();
        (
            Self {
                inner,
                window: Arc::clone(&window),
            },
            window,
        )
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for HeadTap<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = res {
            let new = &buf.filled()[before..];
            if !new.is_empty() {
                if let Ok(mut w) = self.window.lock() {
                    w.push(new);
                }
            }
        }
        res
    }
}

super::io::forward_async_write!(HeadTap);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_latest_request_head_with_original_case() {
        let mut w = HeadWindow::default();
        w.push(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nSOAPAction: \"y\"\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello");
        let h = w.request_headers("POST", "/b").expect("found");
        assert_eq!(
            h.0,
            vec![
                ("Host".to_owned(), "x".to_owned()),
                ("SOAPAction".to_owned(), "\"y\"".to_owned()),
                ("Transfer-Encoding".to_owned(), "chunked".to_owned()),
            ]
        );
        assert!(w.request_headers("PUT", "/b").is_none());
    }

    #[test]
    fn skips_interim_responses_and_keeps_the_window_bounded() {
        let mut w = HeadWindow::default();
        w.push(&vec![b'x'; WINDOW * 2]);
        assert_eq!(w.bytes.len(), WINDOW);
        w.push(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-Conn: 1\r\nContent-Length: 2\r\n\r\nok");
        let h = w.response_headers(200).expect("found");
        assert_eq!(h.get("x-conn"), Some("1"));
        assert_eq!(h.0[0].0, "X-Conn");
        assert!(w.response_headers(404).is_none());
    }

    #[test]
    fn a_head_after_a_body_without_newline_is_found_and_older_heads_are_not_reused() {
        let mut w = HeadWindow::default();
        w.push(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}");
        let h = w.response_headers(200).expect("first");
        assert_eq!(h.get("content-type"), Some("application/json"));
        w.push(
            b"HTTP/1.1 200 OK\r\nContent-Type: Application/xml\r\nContent-Length: 4\r\n\r\n<a/>",
        );
        let h = w.response_headers(200).expect("second");
        assert_eq!(h.get("content-type"), Some("Application/xml"));
        w.push(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
        assert!(w.request_headers("GET", "/x").is_some());
        assert!(w.request_headers("GET", "/x").is_none(), "consumed");
    }
}
