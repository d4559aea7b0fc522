//! Lock and coauthoring timelines per file and per holder, and the protocol checks that
//! compare the server's answers with the lock rules of MS-FSSHTTP and RFC 4918.
//!
//! [`Timeline`] folds exchanges, in time order, into per-file state: one [`Lane`] per
//! holder (ClientID for Coauth, SchemaLock and EditorsTable entries, ExclusiveLockID for
//! exclusive locks, the lock token for WebDAV locks, and one content lane per client for
//! Cell uploads and downloads). A lock [`Span`] opens when the server grants the lock, is
//! extended by refreshes, and ends on release, conversion (a linked span opens on the
//! other lane) or expiry (last grant + Timeout with no refresh). Failed requests are
//! [`Event`]s on their lane with their ErrorCode and, where the state explains it, why.
//! The file's CoauthStatus over time and its coauthoring transitions are kept per file.
//!
//! Checks produce [`Finding`]s (severity, rule, exchanges, one sentence, specification).
//! The proxy only sees traffic that passed through it, so a finding that could be
//! explained by a client it does not see is a warning and says so. So is a finding of a
//! rule that no Microsoft specification defines (`spfilesync.synctoken-continuity`): its
//! sentence names the capture's other explanations (exchanges missing, the proxy started
//! mid-session).
//!
//! The engine is streaming: [`Timeline::push`] takes one exchange at a time and keeps
//! memory proportional to the live locks and files, plus a bounded history per lane
//! ([`TimelineOptions::history_per_lane`]). It only depends on `model` and `decode`: no IO,
//! no async. [`render_text`] formats a [`TimelineReport`] for the terminal.
//!
//! Rule ids: `lock.schema-lock-id-conflict`, `lock.shared-while-exclusive`,
//! `lock.exclusive-while-shared`, `lock.exclusive-conflict`, `coauth.status-alone`,
//! `coauth.status-coauthoring`, `lock.refresh-after-expiry`, `lock.timeout-range`,
//! `lock.release-without-lock`, `lock.unexplained-refusal`,
//! `fsshttp.subresponse-without-subrequest`, `fsshttp.subrequest-without-subresponse`,
//! `fsshttp.unknown-error-code`, `cell.retry-without-download`, `decode.diagnostics`,
//! `fsshttp.dependency-not-run` and `fsshttp.request-token-paired` (info), and the
//! WebDAV / SPFileSync rules of `cross` (see [`Rule`]).
//!
//! A subrequest the server did not run because of its `DependsOn` (Word's SchemaLock
//! fallback next to a supported JoinCoauthoring) is an [`EventKind::NotRun`] event
//! ("not run (dependency)"), not a refusal.
//!
//! ```
//! use synctap::timeline::{render_text, Timeline, TimelineOptions};
//!
//! let mut timeline = Timeline::new(TimelineOptions::default());
//! # let exchanges: Vec<synctap::model::Exchange> = Vec::new();
//! for x in &exchanges {
//!     // Decoded once where the exchange enters (a capture reader, the proxy's channel).
//!     let decoded = synctap::decode::exchange::decode_recorded(x);
//!     timeline.push(x, &decoded);
//! }
//! let report = timeline.report();
//! assert!(!report.has_errors());
//! print!("{}", render_text(&report, None));
//! ```

mod cross;
mod engine;
mod extract;
mod render;

use serde::{Deserialize, Serialize};

pub use crate::decode::findings::{Finding, Rule, Severity};
pub use crate::util::{format_rfc3339, parse_rfc3339};
pub use cross::{cross_exchange_findings, CrossExchange};
pub use engine::Timeline;
pub use render::{render_findings, render_text, render_text_parts};

/// The result of an [`EventKind::NotRun`] event.
pub const NOT_RUN_RESULT: &str = "not run (dependency)";

/// How the engine runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineOptions {
    /// Closed spans and events kept per lane (and status changes per file); older ones are
    /// dropped and counted in `dropped`. 0 keeps none, for checks only. Default 100 000.
    pub history_per_lane: usize,
    /// Whether the history holds events and CoauthStatus changes besides spans. Default
    /// true; false for consumers that read only the spans (`diff`'s lane summaries).
    pub events: bool,
    /// Findings kept; later ones are counted in `findings_dropped`. Default 100 000.
    pub max_findings: usize,
    /// How many exchanges are held back to put them in start-time order (captures record an
    /// exchange when it ends, so a long one can follow later ones). Default 64.
    pub reorder_window: usize,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        Self {
            history_per_lane: 100_000,
            events: true,
            max_findings: 100_000,
            reorder_window: 64,
        }
    }
}

/// Everything the engine knows: files with their lanes, and the findings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct TimelineReport {
    /// Exchanges pushed.
    pub exchanges: u64,
    /// Files, in the order they were first seen.
    pub files: Vec<FileTimeline>,
    /// Findings, in the order they were found.
    pub findings: Vec<Finding>,
    /// Findings not kept because of [`TimelineOptions::max_findings`].
    #[serde(default, skip_serializing_if = "is_zero")]
    pub findings_dropped: u64,
}

impl TimelineReport {
    /// Whether any finding is error-level.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// A settled [`Timeline`] written as its [`TimelineReport`] (the same JSON, byte for
/// byte) without collecting the report: each file is put in its report form when it is
/// written and dropped after. With a filter, only files whose key contains it.
pub struct ReportView<'a> {
    timeline: &'a Timeline,
    filter: Option<String>,
}

impl<'a> ReportView<'a> {
    /// The report of `timeline` (call [`Timeline::settle`] first); with `file_filter`,
    /// only files whose key contains the filter's [`FileKey`](crate::decode::file_key::FileKey).
    pub fn new(timeline: &'a Timeline, file_filter: Option<&str>) -> Self {
        Self {
            timeline,
            filter: file_filter.map(|f| {
                crate::decode::file_key::FileKey::of_url(f)
                    .as_str()
                    .to_owned()
            }),
        }
    }

    /// The files shown, in their report form, one at a time.
    pub fn files(&self) -> impl Iterator<Item = FileTimeline> + '_ {
        self.timeline.files().filter(|f| {
            self.filter
                .as_ref()
                .is_none_or(|k| f.key.contains(k.as_str()))
        })
    }
}

impl Serialize for ReportView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct as _;
        /// The files, serialized as the iterator makes them.
        struct Files<'v, 'a>(&'v ReportView<'a>);
        impl Serialize for Files<'_, '_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.files())
            }
        }
        let t = self.timeline;
        let dropped = t.findings_dropped();
        // The fields and their order are TimelineReport's.
        let mut st = serializer.serialize_struct("TimelineReport", 3 + usize::from(dropped > 0))?;
        st.serialize_field("exchanges", &t.exchanges())?;
        st.serialize_field("files", &Files(self))?;
        st.serialize_field("findings", t.findings())?;
        if dropped > 0 {
            st.serialize_field("findings_dropped", &dropped)?;
        } else {
            st.skip_field("findings_dropped")?;
        }
        st.end()
    }
}

/// One file: its lanes, CoauthStatus changes and file-level events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default, schemars::JsonSchema)]
pub struct FileTimeline {
    /// The normalised URL (scheme and host lowercased, path percent-decoded and lowercased,
    /// no query, no trailing slash): the key exchanges are grouped by.
    pub key: String,
    /// The URL as first seen (`Request@Url`, or the HTTP URL for WebDAV).
    pub url: String,
    /// Holders' lanes, in the order they were first seen.
    pub lanes: Vec<Lane>,
    /// CoauthStatus values returned by the server, each time it changed.
    #[serde(rename = "CoauthStatus")]
    pub status: Vec<StatusChange>,
    /// File-level events: coauthoring transitions (TransitionID), MarkTransitionComplete,
    /// AmIAlone answers.
    pub events: Vec<Event>,
    /// Status changes and events not kept because of the history limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

/// What a lane tracks.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum LaneKind {
    /// Coauth shared lock and coauthoring session membership, per ClientID.
    Coauth,
    /// SchemaLock shared lock, per ClientID.
    SchemaLock,
    /// Exclusive lock, per ExclusiveLockID.
    ExclusiveLock,
    /// Editors table entry, per ClientID.
    EditorsTable,
    /// WebDAV lock (RFC 4918), per lock token.
    WebDavLock,
    /// Cell uploads (PutChanges) and downloads (QueryChanges), per client.
    Content,
}

impl LaneKind {
    /// The name used in text output.
    pub fn name(self) -> &'static str {
        match self {
            Self::Coauth => "Coauth",
            Self::SchemaLock => "SchemaLock",
            Self::ExclusiveLock => "ExclusiveLock",
            Self::EditorsTable => "EditorsTable",
            Self::WebDavLock => "WebDAV lock",
            Self::Content => "Cell",
        }
    }
}

/// One holder's history on one file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Lane {
    /// What the lane tracks.
    pub kind: LaneKind,
    /// The holder: ClientID, ExclusiveLockID, lock token, or for content lanes the ClientID
    /// (or `connection N` when no ClientID is known).
    pub holder: String,
    /// The SchemaLockID last presented on a shared-lock lane.
    #[serde(
        rename = "SchemaLockID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_lock_id: Option<String>,
    /// The ClientID that last used an exclusive lock lane (conversions, fallbacks).
    #[serde(rename = "ClientID", default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// WebDAV lock owner, when the LOCK request gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// Lock spans, earliest first; the last may still be open.
    pub spans: Vec<Span>,
    /// Markers: failed requests, uploads, downloads, coherency failure stories.
    pub events: Vec<Event>,
    /// Spans and events not kept because of the history limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped: u64,
}

/// How a span ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SpanEnd {
    /// Still held when the capture (so far) ends.
    Open,
    /// Released by its holder (ExitCoauthoring, ReleaseLock, LeaveEditingSession, UNLOCK).
    Released,
    /// Converted to another lock type; `converted_to` names the new lane.
    Converted,
    /// Last grant + Timeout passed with no refresh.
    Expired,
    /// The server removed the holder (ExitCoauthSessionAsConvertToExclusiveFailed).
    Removed,
}

impl SpanEnd {
    /// The word used in text output.
    pub fn word(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Released => "released",
            Self::Converted => "converted",
            Self::Expired => "expired",
            Self::Removed => "removed",
        }
    }
}

/// A reference to a lane of the same file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LaneRef {
    /// Its kind.
    pub kind: LaneKind,
    /// Its holder.
    pub holder: String,
}

/// One period during which a holder held a lock (or an editors table entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Span {
    /// When the server granted it (RFC 3339).
    pub start: String,
    /// The same, milliseconds since the Unix epoch.
    pub start_ms: i64,
    /// When it ended; `None` while open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// The same, milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_ms: Option<i64>,
    /// How it ended.
    pub ended: SpanEnd,
    /// The operation that granted it (`JoinCoauthoring`, `GetLock`, `LOCK`...).
    pub granted_by: String,
    /// False when the first exchange seen was a refresh: the lock began before the capture.
    pub start_seen: bool,
    /// The exchange that granted it.
    pub opened_by: u64,
    /// The exchange that ended it (for expiry: the last grant or refresh).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed_by: Option<u64>,
    /// Successful refreshes.
    pub refreshes: u64,
    /// The refreshes: each with the Timeout it asked for and the expiry that resulted
    /// (the first 32; `refreshes` counts them all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub refresh_log: Vec<Refresh>,
    /// The Timeout (seconds) the last grant or refresh asked for.
    #[serde(rename = "Timeout", default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// When the lock expires (last grant + Timeout) if not refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    /// The same, milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<i64>,
    /// The SchemaLockID of a shared lock.
    #[serde(
        rename = "SchemaLockID",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub schema_lock_id: Option<String>,
    /// The lane this lock was converted from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted_from: Option<LaneRef>,
    /// The lane this lock was converted to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub converted_to: Option<LaneRef>,
}

/// A lock span handed out by [`Timeline::drain`], with the file and lane it belongs to.
#[derive(Debug, Clone)]
pub struct SpanRow<'a> {
    /// The file's key ([`FileTimeline::key`]).
    pub key: &'a str,
    /// The file's URL as first seen.
    pub url: &'a str,
    /// The lane's kind.
    pub kind: LaneKind,
    /// The lane's holder.
    pub holder: &'a str,
    /// The ClientID that last used the lane (exclusive locks).
    pub client_id: Option<&'a str>,
    /// The span.
    pub span: Span,
}

/// One granted refresh of a span.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Refresh {
    /// The exchange.
    pub exchange: u64,
    /// When (RFC 3339).
    pub time: String,
    /// The same, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The operation (`RefreshCoauthoring`, `RefreshLock`, a repeated `JoinCoauthoring`...).
    pub operation: String,
    /// The Timeout (seconds) it asked for.
    #[serde(rename = "Timeout", default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
    /// The expiry after it (a refresh never shortens a lock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
}

/// What an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A request the server refused (ErrorCode other than Success, HTTP 4xx/5xx).
    Failed,
    /// A subrequest the server did not run because of its `DependsOn` (MS-FSSHTTP
    /// 2.2.5.2): result [`NOT_RUN_RESULT`], the ErrorCode in the detail.
    NotRun,
    /// A Cell PutChanges.
    Upload,
    /// A Cell QueryChanges.
    Download,
    /// A PutChanges → CoherencyFailure → QueryChanges → PutChanges retry story.
    CoherencyChain,
    /// A coauthoring transition began (a new TransitionID was returned).
    Transition,
    /// MarkTransitionComplete succeeded.
    TransitionComplete,
    /// An AmIAlone answer.
    AmIAlone,
    /// CheckLockAvailability or LockStatus answered.
    Check,
}

/// A point on a lane or a file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Event {
    /// When (RFC 3339).
    pub time: String,
    /// The same, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The exchange.
    pub exchange: u64,
    /// What happened.
    pub kind: EventKind,
    /// The operation (`JoinCoauthoring`, `PutChanges`...).
    pub operation: String,
    /// The result: an ErrorCode, `CoherencyFailure`, `Success`, an HTTP status, `true`...
    pub result: String,
    /// Why, when the state explains it (the holders behind FileAlreadyLockedOnServer, the
    /// upload behind a CoherencyFailure...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Other exchanges of the story (for a coherency chain: put, failure, download, retry).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub related: Vec<u64>,
}

/// A CoauthStatus value returned to a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct StatusChange {
    /// When (RFC 3339).
    pub time: String,
    /// The same, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The exchange.
    pub exchange: u64,
    /// The client it was returned to.
    #[serde(rename = "ClientID")]
    pub client_id: String,
    /// The value.
    #[serde(rename = "CoauthStatus")]
    pub status: String,
    /// The operation that returned it.
    pub operation: String,
}
