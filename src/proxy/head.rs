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

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

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
        let start = rfind_line(buf, line.as_bytes())?;
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf[start..]) {
            Ok(httparse::Status::Complete(_)) => Some(collect(req.headers)),
            _ => None,
        }
    }

    /// The header fields of the most recent response head with `status`.
    pub(crate) fn response_headers(&mut self, status: u16) -> Option<Headers> {
        let buf = self.bytes.make_contiguous();
        let mut end = buf.len();
        // Look for "HTTP/1.x NNN" at a line start, newest first; skip 1xx heads.
        while let Some(start) = rfind_line(&buf[..end], b"HTTP/1.") {
            let rest = &buf[start..];
            let code = rest
                .get(9..12)
                .and_then(|c| std::str::from_utf8(c).ok())
                .and_then(|c| c.parse::<u16>().ok());
            if code == Some(status) {
                let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
                let mut resp = httparse::Response::new(&mut headers);
                if let Ok(httparse::Status::Complete(_)) = resp.parse(rest) {
                    return Some(collect(resp.headers));
                }
                return None;
            }
            end = start;
        }
        None
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

impl<T: AsyncWrite + Unpin> AsyncWrite for HeadTap<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

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
}
