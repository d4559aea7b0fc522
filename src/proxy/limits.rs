//! Resource limits of the proxy: header counts and sizes on both legs, and connections
//! per client address.
//!
//! Header limits are enforced by hyper (a client gets `431 Request Header Fields Too
//! Large`, a response head over the limit makes the exchange a `502`); this module holds
//! the values and counts connections. A client over its connection limit gets
//! `503 Service Unavailable` and the connection is closed; it is recorded.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The proxy's resource limits (see the `synctap proxy` flags of the same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Header fields in one request or response head. Default 200.
    pub max_headers: usize,
    /// Bytes in one request or response head, start line included. Default 64 KiB
    /// (at least 8 KiB: hyper's smallest buffer).
    pub max_header_bytes: usize,
    /// Open connections from one client IP address. Default 4096 (many clients behind one
    /// NAT, or a corporate proxy in front of synctap, share one address).
    pub max_client_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_headers: 200,
            max_header_bytes: 64 << 10,
            max_client_connections: 4096,
        }
    }
}

impl Limits {
    /// The smallest head size hyper can work with.
    pub const MIN_HEADER_BYTES: usize = 8 << 10;

    /// The head size limit as hyper's HTTP/1 buffer size.
    pub(crate) fn h1_buffer(&self) -> usize {
        self.max_header_bytes.max(Self::MIN_HEADER_BYTES)
    }

    /// The head size limit for HTTP/2 (`SETTINGS_MAX_HEADER_LIST_SIZE`).
    pub(crate) fn h2_header_list(&self) -> u32 {
        u32::try_from(self.max_header_bytes).unwrap_or(u32::MAX)
    }

    /// What a client whose head is over the limits is told, and what is recorded.
    pub(crate) fn head_too_large(&self, who: &str) -> String {
        format!(
            "{who} head too large: more than {} header fields or {} bytes (--max-headers, --max-header-bytes)",
            self.max_headers, self.max_header_bytes
        )
    }
}

/// Open connections per client address.
#[derive(Debug, Default)]
pub(crate) struct ClientCounts {
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; uncounted when dropped.
#[derive(Debug)]
pub(crate) struct ClientSlot {
    counts: Arc<ClientCounts>,
    ip: IpAddr,
}

impl ClientCounts {
    /// Counts a connection from `ip`, unless `max` are open already (then the number open).
    pub(crate) fn acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Result<ClientSlot, usize> {
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = open.entry(ip).or_insert(0);
        if *n >= max {
            return Err(*n);
        }
        *n += 1;
        Ok(ClientSlot {
            counts: Arc::clone(self),
            ip,
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_address_and_frees_on_drop() {
        let c = Arc::new(ClientCounts::default());
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let s1 = c.acquire(a, 2).ok();
        let s2 = c.acquire(a, 2).ok();
        assert!(s1.is_some() && s2.is_some());
        assert_eq!(c.acquire(a, 2).err(), Some(2));
        assert!(c.acquire(b, 2).is_ok(), "another address has its own count");
        drop(s1);
        assert!(c.acquire(a, 2).is_ok());
    }
}
