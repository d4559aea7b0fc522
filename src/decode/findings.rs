//! Findings: facts about one exchange or a sequence of exchanges, as the timeline's
//! checks report them.
//!
//! [`Finding`] is generic: severity, [`Rule`], the exchanges involved, one sentence and
//! the specification it rests on. The rules themselves are folds over exchanges and live
//! in [`crate::timeline`]; this module only holds the types they produce, so that views
//! and exports can read findings without depending on the engine.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How serious a finding is.
#[derive(
    Serialize,
    Deserialize,
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    schemars::JsonSchema,
)]
pub enum Severity {
    /// A protocol violation or a state that cannot be right.
    Error,
    /// Wasteful or suspicious but legal behaviour.
    Warning,
    /// Worth knowing.
    Info,
}

/// Declares [`Rule`] from (variant, stable id) pairs, so the two are written once.
macro_rules! rules {
    ($( $(#[$m:meta])* $var:ident => $id:literal, )*) => {
        /// The rule a finding comes from. Serialized as its stable id
        /// (`webdav.repl.redownload`), which scripts may match on.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $( $(#[$m])* $var, )*
        }

        impl Rule {
            /// Every rule, in the order they are listed.
            pub const ALL: &'static [Self] = &[$(Self::$var),*];

            /// The stable id.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$var => $id, )*
                }
            }

            /// The rule with stable id `id`.
            pub fn from_id(id: &str) -> Option<Self> {
                match id {
                    $( $id => Some(Self::$var), )*
                    _ => None,
                }
            }
        }
    };
}

rules! {
    /// Two shared locks with different SchemaLockIDs (MS-FSSHTTP 2.2.8.1).
    LockSchemaLockIdConflict => "lock.schema-lock-id-conflict",
    /// A shared lock granted while an exclusive lock was live.
    LockSharedWhileExclusive => "lock.shared-while-exclusive",
    /// An exclusive lock granted while shared locks were live.
    LockExclusiveWhileShared => "lock.exclusive-while-shared",
    /// Two exclusive locks with different ExclusiveLockIDs.
    LockExclusiveConflict => "lock.exclusive-conflict",
    /// CoauthStatus Alone while other coauthors were live.
    CoauthStatusAlone => "coauth.status-alone",
    /// CoauthStatus Coauthoring with no other coauthor live.
    CoauthStatusCoauthoring => "coauth.status-coauthoring",
    /// A refresh granted after the lock had expired.
    LockRefreshAfterExpiry => "lock.refresh-after-expiry",
    /// A Timeout outside the range the specification gives.
    LockTimeoutRange => "lock.timeout-range",
    /// A release granted although no lock was held.
    LockReleaseWithoutLock => "lock.release-without-lock",
    /// A refusal no lock the proxy saw explains.
    LockUnexplainedRefusal => "lock.unexplained-refusal",
    /// A SubResponse that answers no SubRequest.
    FsshttpSubresponseWithoutSubrequest => "fsshttp.subresponse-without-subrequest",
    /// A SubRequest that got no SubResponse.
    FsshttpSubrequestWithoutSubresponse => "fsshttp.subrequest-without-subresponse",
    /// An ErrorCode outside the MS-FSSHTTP enumerations.
    FsshttpUnknownErrorCode => "fsshttp.unknown-error-code",
    /// A subrequest not run because of its DependsOn (info).
    FsshttpDependencyNotRun => "fsshttp.dependency-not-run",
    /// A Response paired with its Request by position, not RequestToken (info).
    FsshttpRequestTokenPaired => "fsshttp.request-token-paired",
    /// A PutChanges retried after a CoherencyFailure without downloading first.
    CellRetryWithoutDownload => "cell.retry-without-download",
    /// An exchange that could not be fully decoded.
    DecodeDiagnostics => "decode.diagnostics",
    /// Two WebDAV locks that RFC 4918 6.1 does not allow together.
    WebDavLockConflict => "webdav.lock.conflict",
    /// A write refused with 423 Locked without the lock token granted earlier.
    WebDavLockTokenNotSubmitted => "webdav.lock.token-not-submitted",
    /// A lock token submitted after it was released.
    WebDavLockStaleToken => "webdav.lock.stale-token",
    /// A resource downloaded again although its resourcetag was unchanged.
    WebDavReplRedownload => "webdav.repl.redownload",
    /// A manifest listed a resource as changed with the resourcetag the client had.
    WebDavReplUnchangedResourcetag => "webdav.repl.unchanged-resourcetag",
    /// A replication SEARCH without the collblob the previous manifest returned.
    WebDavReplCollblobContinuity => "webdav.repl.collblob-continuity",
    /// A change enumeration without the X-SyncToken the previous response gave.
    SpFileSyncSynctokenContinuity => "spfilesync.synctoken-continuity",
    /// A change enumeration restarted without a SyncToken.
    SpFileSyncSynctokenReset => "spfilesync.synctoken-reset",
}

impl Rule {
    /// Whether the rule rests on observed client behaviour rather than on a Microsoft
    /// specification: a breach is then at most a warning.
    pub fn is_unspecified(self) -> bool {
        self == Self::SpFileSyncSynctokenContinuity
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rule equals its stable id, so callers holding an id from JSON or the command line can
/// compare without parsing it first.
impl PartialEq<&str> for Rule {
    fn eq(&self, id: &&str) -> bool {
        self.as_str() == *id
    }
}

impl schemars::JsonSchema for Rule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Rule".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let ids: Vec<&str> = Self::ALL.iter().map(|r| r.as_str()).collect();
        schemars::json_schema!({ "type": "string", "enum": ids })
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let id = String::deserialize(d)?;
        Self::from_id(&id).ok_or_else(|| serde::de::Error::custom(format!("unknown rule {id:?}")))
    }
}

/// One fact about a sequence of exchanges.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, schemars::JsonSchema)]
pub struct Finding {
    /// How serious it is.
    pub severity: Severity,
    /// The rule, serialized as its stable id, e.g. `webdav.repl.redownload`.
    pub rule: Rule,
    /// The exchanges involved, earliest first.
    pub exchanges: Vec<u64>,
    /// One sentence saying what happened.
    pub sentence: String,
    /// The specification (document and section) the rule rests on.
    pub spec: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    type TestResult = Result<(), Box<dyn std::error::Error>>;

    #[test]
    fn finding_serializes_with_rule_text() -> TestResult {
        let f = Finding {
            severity: Severity::Warning,
            rule: Rule::WebDavReplRedownload,
            exchanges: vec![1, 2],
            sentence: "s".into(),
            spec: "x".into(),
        };
        let json = serde_json::to_string(&f)?;
        assert_eq!(
            json,
            r#"{"severity":"Warning","rule":"webdav.repl.redownload","exchanges":[1,2],"sentence":"s","spec":"x"}"#
        );
        assert_eq!(serde_json::from_str::<Finding>(&json)?, f);
        Ok(())
    }

    #[test]
    fn rule_ids_are_unique_and_round_trip() {
        let mut ids: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
        for r in Rule::ALL {
            assert_eq!(Rule::from_id(r.as_str()), Some(*r));
        }
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
        assert_eq!(Rule::from_id("no.such-rule"), None);
    }
}
