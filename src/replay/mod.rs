//! Replay, semantic comparison and mocking of recorded captures.
//!
//! - [`engine`] re-sends a capture's requests to another server: URLs rewritten (origin,
//!   `--map` path prefixes, URLs inside bodies), per-client order and the original
//!   happens-before order between clients kept, values the server minted and clients
//!   echo (ETags, SyncTokens, collblobs, lock tokens, FSSHTTPB storage index ids) learned
//!   from the new responses and substituted into later requests ([`remap`]).
//! - [`diff`] compares each new response with the recorded one by meaning (status, cell
//!   storage SubResponses by SubRequestToken, FSSHTTPB status and shape, SPFileSync and
//!   WebDAV statuses and item sets), and the two sessions' timelines.
//! - [`report`] renders the differences as text, markdown or JSON.
//! - [`recordings`] compares two recordings of the same scenario (`synctap diff`):
//!   aligned per client and file in operation order, compared by [`diff`], reported by
//!   [`report`].
//! - [`mock`] answers requests with recorded responses, matched semantically.
//!
//! Sockets and TLS come from [`crate::net::client`] and [`crate::net::tls`]; the
//! command line lives in `cli::replay` and `cli::mock`.

pub mod diff;
pub mod engine;
pub mod mock;
pub mod recordings;
pub mod remap;
pub mod report;

pub use diff::{compare, DiffOptions, Difference};
pub use engine::{replay, ReplayConfig, Replayed, Timing};
