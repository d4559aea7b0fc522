//! Scripted clients for the reference server (and any real server), built on
//! [`crate::net::client::HttpClient`]: [`CellClient`] (MS-FSSHTTP cell storage),
//! [`SyncClient`] (SPFileSync) and [`DavClient`] (WebDAV replication). Each keeps one
//! connection open, like Office does.
//!
//! Used by `synctap demo`, the integration tests and the benchmarks.

mod cell;
mod dav;
mod sync;

pub use cell::{
    query_changes_request, request_envelope, CellClient, CellReply, WORD_SCHEMA_LOCK_ID,
};
pub use dav::DavClient;
pub use sync::{ChangesPage, SyncClient};

use crate::net::ClientError;

/// Why a scripted client's step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The request did not get a response.
    #[error(transparent)]
    Http(#[from] ClientError),
    /// The response has another status than the step needs.
    #[error("{request}: HTTP {status}")]
    Status {
        /// The method (when not the usual one) and the URL.
        request: String,
        /// The status received.
        status: u16,
    },
    /// The response lacks what the step needs.
    #[error("{request}: {missing}")]
    Answer {
        /// The method (when not the usual one) and the URL.
        request: String,
        /// What is missing, e.g. `no multistatus`.
        missing: &'static str,
    },
    /// A step that needs an earlier one ran first.
    #[error("call {0} first")]
    Order(&'static str),
}

/// Fails with [`Error::Status`] unless `status` is `want`.
fn expect_status(request: impl FnOnce() -> String, status: u16, want: u16) -> Result<(), Error> {
    if status == want {
        Ok(())
    } else {
        Err(Error::Status {
            request: request(),
            status,
        })
    }
}
