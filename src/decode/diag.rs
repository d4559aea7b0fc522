//! Diagnostics shared by every decoder: what could not be decoded, and where.
//!
//! Decoders never fail outright. They return what they understood plus a list of
//! [`Diagnostic`]s, each naming a byte offset into the message body they were given.

use serde::{Deserialize, Serialize};

/// One thing a decoder could not decode, located by byte offset into the body it was given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Diagnostic {
    /// Byte offset into the decoded body (the HTTP body for SOAP/MTOM, the FSSHTTPB
    /// payload for binary messages, unless the owner rebases it).
    pub offset: usize,
    /// What was wrong, as one lowercase sentence without a trailing period.
    pub message: String,
}

impl Diagnostic {
    /// A diagnostic at `offset` with `message`.
    pub fn new(offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            message: message.into(),
        }
    }

    /// The same diagnostic moved by `base` bytes, for a decoder that ran over a slice of
    /// a larger body (an MTOM part, a base64-decoded payload).
    #[must_use]
    pub fn rebased(mut self, base: usize) -> Self {
        self.offset = self.offset.saturating_add(base);
        self
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.message)
    }
}
