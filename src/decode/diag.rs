//! Diagnostics shared by every decoder: what could not be decoded, and where.
//!
//! Decoders never fail outright. They return what they understood plus a list of
//! [`Diagnostic`]s, each naming a byte offset into the message body they were given and
//! the [`DiagnosticKind`] of problem, so callers can match on it.

use serde::{Deserialize, Serialize};

/// What kind of problem a diagnostic reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DiagnosticKind {
    /// The input ended before an item it announced (a cut-off body, a missing closing
    /// boundary, a stream object longer than what is left).
    Truncated,
    /// The bytes do not follow the syntax: broken XML, a bad header, bad base64, an
    /// unexpected stream object.
    Malformed,
    /// A value is present but not valid for its type (an attribute that is not a
    /// number, a GUID that is not a GUID, an undefined enumeration value).
    InvalidValue,
    /// Something the specification requires is absent.
    Missing,
    /// Something is where the specification does not allow it, or twice.
    Unexpected,
    /// A resource limit stopped decoding (see "Resource limits" in ARCHITECTURE.md).
    Limit,
    /// A `Content-Encoding` or transfer coding could not be undone.
    Encoding,
    /// Not a problem of the message: a remark about how it was decoded (a repeated MIME
    /// part decoded once, a Response joined by RequestToken).
    Note,
}

/// One thing a decoder could not decode, located by byte offset into the body it was given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Diagnostic {
    /// Byte offset into the decoded body (the HTTP body for SOAP/MTOM, the FSSHTTPB
    /// payload for binary messages, unless the owner rebases it).
    pub offset: usize,
    /// What kind of problem it is.
    pub kind: DiagnosticKind,
    /// What was wrong, as one lowercase sentence without a trailing period.
    pub message: String,
}

macro_rules! kind_constructors {
    ($($(#[$m:meta])* $fn_name:ident => $kind:ident,)*) => {
        impl Diagnostic {
            $(
                $(#[$m])*
                pub fn $fn_name(offset: usize, message: impl Into<String>) -> Self {
                    Self::new(DiagnosticKind::$kind, offset, message)
                }
            )*
        }
    };
}

kind_constructors! {
    /// A [`DiagnosticKind::Truncated`] diagnostic.
    truncated => Truncated,
    /// A [`DiagnosticKind::Malformed`] diagnostic.
    malformed => Malformed,
    /// A [`DiagnosticKind::InvalidValue`] diagnostic.
    invalid_value => InvalidValue,
    /// A [`DiagnosticKind::Missing`] diagnostic.
    missing => Missing,
    /// A [`DiagnosticKind::Unexpected`] diagnostic.
    unexpected => Unexpected,
    /// A [`DiagnosticKind::Limit`] diagnostic.
    limit => Limit,
    /// A [`DiagnosticKind::Encoding`] diagnostic.
    encoding => Encoding,
    /// A [`DiagnosticKind::Note`] diagnostic.
    note => Note,
}

impl Diagnostic {
    /// A diagnostic of `kind` at `offset` with `message`.
    pub fn new(kind: DiagnosticKind, offset: usize, message: impl Into<String>) -> Self {
        Self {
            offset,
            kind,
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

/// Which body a diagnostic points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The request body.
    Request,
    /// The response body.
    Response,
}
