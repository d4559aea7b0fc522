//! Attribute value types of MS-FSSHTTP: the string enumerations (MS-FSSHTTP 2.2.5, 2.3.2),
//! the six ErrorCode groups with their categories (2.2.5.4), `HResult`, the two tick
//! epochs and the lenient boolean / `LockTypes` spellings (Part E, pitfalls 5 and 6).
//!
//! Every type implements [`AttrValue`]: parse from the attribute text (an `Err` becomes
//! a diagnostic and the raw text is kept under `unknown`) and format back for the encoder.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::util::{ticks_to_rfc3339, DOTNET_UNIX_OFFSET, FILETIME_UNIX_OFFSET};

/// A value that can be read from and written to an XML attribute.
pub trait AttrValue: Sized {
    /// Parses attribute text; `Err` holds a short reason.
    fn parse_attr(s: &str) -> Result<Self, String>;
    /// The text the encoder writes.
    fn format_attr(&self) -> String;
    /// Whether a JSON reader holds the serialized value exactly (false for integers
    /// beyond ±(2^53−1), which [`attr_json`] writes as their wire text instead).
    fn json_exact(&self) -> bool {
        true
    }
}

/// Serializes an attribute value, or its wire text when a JSON number could not hold it
/// exactly (docs/json.md, "Numbers").
pub fn attr_json<T: AttrValue + Serialize, S: serde::Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(x) if !x.json_exact() => s.serialize_str(&x.format_attr()),
        _ => v.serialize(s),
    }
}

impl AttrValue for String {
    fn parse_attr(s: &str) -> Result<Self, String> {
        Ok(s.to_owned())
    }
    fn format_attr(&self) -> String {
        self.clone()
    }
}

/// The attributes of one element as the generated `read_attrs` of a model type reads
/// them: by index, taking those it knows (the XML reader's `AttrBag` implements it).
pub trait AttrSource {
    /// Number of attributes.
    fn len(&self) -> usize;
    /// Whether there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The local name of attribute `i` if it is unqualified (no namespace).
    fn unqualified_name(&self, i: usize) -> Option<&str>;
    /// Takes and parses attribute `i`, known as `name`.
    fn take_at<T: AttrValue>(&mut self, i: usize, name: &'static str) -> Option<T>;
}

macro_rules! int_attr {
    ($($t:ty),*) => {$(
        impl AttrValue for $t {
            fn parse_attr(s: &str) -> Result<Self, String> {
                s.trim().parse::<$t>().map_err(|e| format!("not an integer of type {}: {e}", stringify!($t)))
            }
            fn format_attr(&self) -> String {
                self.to_string()
            }
            fn json_exact(&self) -> bool {
                i128::from(*self).unsigned_abs() <= u128::from(crate::decode::json::MAX_SAFE_INTEGER)
            }
        }
    )*};
}
int_attr!(u16, u32, u64, i32, i64);

/// `xs:boolean` and `TRUEFALSE` (MS-FSSHTTP 2.2.5.12): `true`/`false` in any case, `1`/`0`.
impl AttrValue for bool {
    fn parse_attr(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("true") || t == "1" {
            Ok(true)
        } else if t.eq_ignore_ascii_case("false") || t == "0" {
            Ok(false)
        } else {
            Err("not a boolean".to_owned())
        }
    }
    fn format_attr(&self) -> String {
        if *self { "true" } else { "false" }.to_owned()
    }
}

/// Declares a string enumeration with an `Other` variant keeping unknown values verbatim.
/// With `trimmed`, white space around an attribute value is ignored when parsing.
macro_rules! string_enum {
    (trimmed $(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident),* $(,)? }) => {
        string_enum!(@impl str::trim; $(#[$m])* $name { $($(#[$vm])* $var),* });
    };
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident),* $(,)? }) => {
        string_enum!(@impl std::convert::identity; $(#[$m])* $name { $($(#[$vm])* $var),* });
    };
    (@impl $attr_text:path; $(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(from = "String", into = "String")]
        pub enum $name {
            $($(#[$vm])* $var,)*
            /// A value the specification does not define, kept verbatim.
            Other(String),
        }
        impl $name {
            /// Every value the specification defines, in specification order.
            pub const ALL: &'static [&'static str] = &[$(stringify!($var)),*];
            /// The value as written on the wire.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Self::$var => stringify!($var),)*
                    Self::Other(s) => s,
                }
            }
        }
        impl From<String> for $name {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $(stringify!($var) => Self::$var,)*
                    _ => Self::Other(s),
                }
            }
        }
        impl From<&str> for $name {
            /// Copies `s` only for values the specification does not define.
            fn from(s: &str) -> Self {
                match s {
                    $(stringify!($var) => Self::$var,)*
                    _ => Self::Other(s.to_owned()),
                }
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.as_str().to_owned()
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl AttrValue for $name {
            fn parse_attr(s: &str) -> Result<Self, String> {
                Ok(Self::from($attr_text(s)))
            }
            fn format_attr(&self) -> String {
                self.as_str().to_owned()
            }
        }
    };
}

string_enum!(
    /// `SubRequestAttributeType` (MS-FSSHTTP 2.2.5.11): the `SubRequest@Type` values.
    SubRequestType {
        /// File content or metadata (FSSHTTPB payload).
        Cell,
        /// Shared lock with coauthoring session tracking.
        Coauth,
        /// Shared lock without session tracking.
        SchemaLock,
        /// Current user's identity.
        WhoAmI,
        /// Server clock.
        ServerTime,
        /// Exclusive lock operations.
        ExclusiveLock,
        /// File and parent-folder metadata.
        GetDocMetaInfo,
        /// Version history.
        GetVersions,
        /// Server-managed editors table.
        EditorsTable,
        /// Rename.
        FileOperation,
        /// Version list / restore.
        Versioning,
        /// Am I alone in the coauthoring session.
        AmIAlone,
        /// Lock type, id and holder.
        LockStatus,
        /// Property enumerate / get.
        Properties,
    }
);

string_enum!(
    /// `CoauthRequestTypes` (MS-FSSHTTP 2.3.3.3).
    CoauthRequestType {
        /// Take or share the shared lock, join the session.
        JoinCoauthoring,
        /// Leave the session.
        ExitCoauthoring,
        /// Extend this client's timeout.
        RefreshCoauthoring,
        /// Convert shared to exclusive lock.
        ConvertToExclusive,
        /// Check without changing state.
        CheckLockAvailability,
        /// Delete the coauthoring transition request.
        MarkTransitionComplete,
        /// Poll the coauthoring status.
        GetCoauthoringStatus,
    }
);

string_enum!(
    /// `SchemaLockRequestTypes` (MS-FSSHTTP 2.3.3.5).
    SchemaLockRequestType {
        /// Take or share the shared lock.
        GetLock,
        /// Release this client's share.
        ReleaseLock,
        /// Extend this client's timeout.
        RefreshLock,
        /// Convert shared to exclusive lock.
        ConvertToExclusive,
        /// Check without changing state.
        CheckLockAvailability,
    }
);

string_enum!(
    /// `ExclusiveLockRequestTypes` (MS-FSSHTTP 2.3.3.4).
    ExclusiveLockRequestType {
        /// Take the exclusive lock.
        GetLock,
        /// Release it.
        ReleaseLock,
        /// Refresh it.
        RefreshLock,
        /// Convert to a shared lock with coauthoring transition tracking.
        ConvertToSchemaJoinCoauth,
        /// Convert to a shared lock.
        ConvertToSchema,
        /// Check without changing state.
        CheckLockAvailability,
    }
);

string_enum!(
    /// `EditorsTableRequestTypes` (MS-FSSHTTP 2.3.3.7).
    EditorsTableRequestType {
        /// Add an entry.
        JoinEditingSession,
        /// Remove the entry.
        LeaveEditingSession,
        /// Refresh the entry's timeout.
        RefreshEditingSession,
        /// Add or replace a key/value.
        UpdateEditorMetadata,
        /// Remove a key.
        RemoveEditorMetadata,
    }
);

string_enum!(
    /// `FileOperationRequestTypes` (MS-FSSHTTP 2.3.3.8).
    FileOperationRequestType {
        /// Rename the file.
        Rename,
    }
);

string_enum!(
    /// `VersioningRequestTypes` (MS-FSSHTTP 2.3.3.9).
    VersioningRequestType {
        /// List recent versions.
        GetVersionList,
        /// Restore a version.
        RestoreVersion,
    }
);

string_enum!(
    /// `PropertiesRequestTypes` (MS-FSSHTTP 2.3.3.10).
    PropertiesRequestType {
        /// List property ids.
        PropertyEnumerate,
        /// Get property values.
        PropertyGet,
    }
);

string_enum!(
    /// `DependencyTypes` (MS-FSSHTTP 2.2.5.3).
    DependencyType {
        /// Run if the other one was executed.
        OnExecute,
        /// Run if the other one succeeded.
        OnSuccess,
        /// Run if the other one failed.
        OnFail,
        /// Run if the other one is not supported.
        OnNotSupported,
        /// Run if the other one succeeded or is not supported.
        OnSuccessOrNotSupported,
    }
);

string_enum!(
    /// `CoauthStatusType` (MS-FSSHTTP 2.2.5.1).
    CoauthStatus {
        /// No coauthoring (an exclusive lock was returned).
        None,
        /// Only client in the session.
        Alone,
        /// Other clients are in the session.
        Coauthoring,
    }
);

string_enum!(
    /// `ExclusiveLockReturnReasonTypes` (MS-FSSHTTP 2.2.5.5).
    ExclusiveLockReturnReason {
        /// Coauthoring is disabled.
        CoauthoringDisabled,
        /// The file is checked out by the current user.
        CheckedOutByCurrentUser,
        /// The current user already holds an exclusive lock.
        CurrentUserHasExclusiveLock,
    }
);

/// `LockTypes` (MS-FSSHTTP 2.2.5.9): a name or the digit `0`, `1`, `2`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(from = "String", into = "String")]
pub enum LockType {
    /// `None` / `0`.
    None,
    /// `SchemaLock` / `1` (shared lock).
    SchemaLock,
    /// `ExclusiveLock` / `2`.
    ExclusiveLock,
    /// An undefined value, kept verbatim.
    Other(String),
}

impl LockType {
    /// The name as written by current servers.
    pub fn as_str(&self) -> &str {
        match self {
            Self::None => "None",
            Self::SchemaLock => "SchemaLock",
            Self::ExclusiveLock => "ExclusiveLock",
            Self::Other(s) => s,
        }
    }
}

impl LockType {
    /// The defined lock type `s` names (surrounding whitespace ignored).
    fn known(s: &str) -> Option<Self> {
        match s.trim() {
            "None" | "0" => Some(Self::None),
            "SchemaLock" | "1" => Some(Self::SchemaLock),
            "ExclusiveLock" | "2" => Some(Self::ExclusiveLock),
            _ => None,
        }
    }
}

impl From<String> for LockType {
    fn from(s: String) -> Self {
        Self::known(&s).unwrap_or(Self::Other(s))
    }
}

impl From<LockType> for String {
    fn from(v: LockType) -> String {
        v.as_str().to_owned()
    }
}

impl fmt::Display for LockType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl AttrValue for LockType {
    fn parse_attr(s: &str) -> Result<Self, String> {
        Ok(Self::known(s).unwrap_or_else(|| Self::Other(s.to_owned())))
    }
    fn format_attr(&self) -> String {
        self.as_str().to_owned()
    }
}

/// The group an ErrorCode value belongs to (MS-FSSHTTP 2.2.5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ErrorCategory {
    /// GenericErrorCodeTypes (2.2.5.6).
    Generic,
    /// CellRequestErrorCodeTypes (2.3.2.1).
    CellRequest,
    /// DependencyCheckRelatedErrorCodeTypes (2.2.5.2).
    DependencyCheckRelated,
    /// LockAndCoauthRelatedErrorCodeTypes (2.2.5.8).
    LockAndCoauthRelated,
    /// NewEditorsTableCategoryErrorCodeTypes (2.2.5.14).
    NewEditorsTableCategory,
    /// VersioningRelatedErrorCodeTypes (2.2.5.16).
    VersioningRelated,
    /// Not defined by the specification.
    Unknown,
}

impl fmt::Display for ErrorCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Declares [`ErrorCode`] from the six groups of MS-FSSHTTP 2.2.5.4: each value with its
/// category and meaning, so the three can never disagree.
macro_rules! error_codes {
    ($( $cat:ident { $( $var:ident => $meaning:literal ),* $(,)? } )*) => {
        string_enum!(
            trimmed
            /// An `ErrorCode` attribute value (MS-FSSHTTP 2.2.5.4 `ErrorCodeTypes`, the
            /// union of six groups), serialized as the wire text. A value no group
            /// defines is kept verbatim in `Other` (the spec's own `Unknown` is a value of
            /// GenericErrorCodeTypes).
            ErrorCode { $( $( #[doc = $meaning] $var, )* )* }
        );

        impl ErrorCode {
            /// The group the value belongs to; [`ErrorCategory::Unknown`] for `Other`.
            pub fn category(&self) -> ErrorCategory {
                match self {
                    $( $( Self::$var => ErrorCategory::$cat, )* )*
                    Self::Other(_) => ErrorCategory::Unknown,
                }
            }

            /// The meaning of a value the specification defines.
            pub fn meaning(&self) -> Option<&'static str> {
                match self {
                    $( $( Self::$var => Some($meaning), )* )*
                    Self::Other(_) => None,
                }
            }
        }
    };
}

error_codes! {
    Generic {
        Success => "succeeded",
        IncompatibleVersion => "unsupported RequestVersion",
        InvalidUrl => "associated site URL is empty",
        FileNotExistsOrCannotBeCreated => "target URL does not exist or creation failed",
        FileUnauthorizedAccess => "no authorization for the URL",
        PathNotFound => "file path not found",
        ResourceIdDoesNotExist => "neither ResourceID nor Url identifies a file",
        ResourceIdDoesNotMatch => "ResourceID and Url do not match",
        InvalidSubRequest => "subrequest could not be parsed or is unsupported",
        SubRequestFail => "unknown error processing the subrequest",
        BlockedFileType => "file type blocked on server",
        DocumentCheckoutRequired => "library requires checkout before locking",
        InvalidArgument => "invalid input parameters",
        RequestNotSupported => "valid but unsupported subrequest",
        InvalidWebUrl => "site URL not found",
        WebServiceTurnedOff => "service turned off",
        ColdStoreConcurrencyViolation => "file modified by another user before this write finished",
        HighLevelExceptionThrown => "undefined, often transient, error",
        Unknown => "undefined error",
    }
    CellRequest {
        CellRequestFail => "cell request failed",
        IRMDocLibarysOnlySupportWebDAV => "IRM library only supports WebDAV",
    }
    DependencyCheckRelated {
        DependentRequestNotExecuted => "OnExecute dependency was not executed",
        DependentOnlyOnSuccessRequestFailed => "OnSuccess dependency failed",
        DependentOnlyOnFailRequestSucceeded => "OnFail dependency succeeded",
        DependentOnlyOnNotSupportedRequestGetSupported => "OnNotSupported dependency is supported",
        InvalidRequestDependencyType => "invalid DependencyType",
    }
    LockAndCoauthRelated {
        LockRequestFail => "undefined lock-processing error",
        FileAlreadyLockedOnServer => "file locked by someone else",
        FileNotLockedOnServer => "no lock to release or convert",
        FileNotLockedOnServerAsCoauthDisabled => "no shared lock: coauthoring disabled",
        LockNotConvertedAsCoauthDisabled => "lock not converted: coauthoring disabled",
        FileAlreadyCheckedOutOnServer => "checked out by another client",
        ConvertToSchemaFailedFileCheckedOutByCurrentUser => "checked out by the current client",
        CoauthRefblobConcurrencyViolation => "concurrent update of the coauthoring tracker",
        MultipleClientsInCoauthSession => "more than one client in the session",
        InvalidCoauthSession => "no session or client not in session",
        NumberOfCoauthorsReachedMax => "coauthor limit reached",
        ExitCoauthSessionAsConvertToExclusiveFailed => "conversion failed, client removed from session",
    }
    NewEditorsTableCategory {
        EditorMetadataQuotaReached => "more than four metadata pairs",
        EditorMetadataStringExceedsLengthLimit => "metadata key or value too long",
        EditorClientIdNotFound => "no editors table entry for ClientID",
    }
    VersioningRelated {
        VersionNotFound => "version not found",
    }
}

impl ErrorCode {
    /// Whether this is `Success`.
    pub fn is_success(&self) -> bool {
        *self == Self::Success
    }

    /// Whether the server says it did not run the subrequest because of its `DependsOn`
    /// (MS-FSSHTTP 2.2.5.2): not a refusal of what the subrequest asked.
    pub fn is_not_run_by_dependency(&self) -> bool {
        matches!(
            self,
            Self::DependentRequestNotExecuted
                | Self::DependentOnlyOnSuccessRequestFailed
                | Self::DependentOnlyOnFailRequestSucceeded
                | Self::DependentOnlyOnNotSupportedRequestGetSupported
        )
    }
}

/// An `HResult` (MS-FSSHTTP 2.2.4.8): decimal or hex, signed or unsigned on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
pub struct HResult {
    /// The text as written on the wire.
    pub raw: String,
    /// The 32-bit value, reinterpreted as unsigned.
    pub value: u32,
    /// The value as `0x80004005`.
    pub hex: String,
}

impl HResult {
    /// The HResult for a 32-bit value, written as an unsigned decimal like SharePoint does.
    pub fn from_u32(value: u32) -> Self {
        Self {
            raw: value.to_string(),
            value,
            hex: hex32(value),
        }
    }
}

/// `value` as `0x` and eight uppercase hex digits (as `format!("0x{value:08X}")`, which
/// is slow enough to show in decode profiles).
fn hex32(value: u32) -> String {
    const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
    let mut text = *b"0x00000000";
    for (i, digit) in text.iter_mut().skip(2).enumerate() {
        *digit = DIGITS[(value >> (28 - 4 * i)) as usize & 0xF];
    }
    String::from_utf8_lossy(&text).into_owned()
}

impl AttrValue for HResult {
    fn parse_attr(s: &str) -> Result<Self, String> {
        let t = s.trim();
        let value = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
            u32::from_str_radix(h, 16).map_err(|e| format!("not a hex HRESULT: {e}"))?
        } else {
            let v: i64 = t.parse().map_err(|e| format!("not an HRESULT: {e}"))?;
            if v < i64::from(i32::MIN) || v > i64::from(u32::MAX) {
                return Err("HRESULT out of 32-bit range".to_owned());
            }
            // Keeping the low 32 bits reinterprets a signed value as unsigned.
            v as u32
        };
        Ok(Self {
            raw: t.to_owned(),
            value,
            hex: hex32(value),
        })
    }
    fn format_attr(&self) -> String {
        self.raw.clone()
    }
}

/// A tick count type: the count as on the wire and the instant it names, with the
/// conversion and the attribute form; `$offset` is the epoch's distance from 1970 in
/// ticks.
macro_rules! ticks {
    ($(#[$doc:meta])* $name:ident($int:ty, $offset:expr, $json:literal, $schema:literal)) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
        pub struct $name {
            /// The tick count as on the wire (a decimal string in JSON).
            #[serde(with = $json)]
            #[schemars(schema_with = $schema)]
            pub ticks: $int,
            /// The same instant in UTC (RFC 3339), when representable.
            pub utc: Option<String>,
        }

        impl $name {
            /// Converts a tick count.
            pub fn new(ticks: $int) -> Self {
                Self {
                    ticks,
                    utc: ticks_to_rfc3339(i128::from(ticks), $offset),
                }
            }
        }

        impl AttrValue for $name {
            fn parse_attr(s: &str) -> Result<Self, String> {
                <$int>::parse_attr(s).map(Self::new)
            }
            fn format_attr(&self) -> String {
                self.ticks.to_string()
            }
        }
    };
}

ticks! {
    /// .NET `DateTime` ticks: 100 ns intervals since 0001-01-01 UTC (`ServerTime`, A.7.6).
    DotNetTicks(
        u64,
        DOTNET_UNIX_OFFSET,
        "crate::decode::json::dec",
        "crate::decode::json::schema::dec"
    )
}

ticks! {
    /// FILETIME ticks: 100 ns intervals since 1601-01-01 UTC (Cell and Versioning times, A.7.1).
    FileTime(
        i64,
        FILETIME_UNIX_OFFSET,
        "crate::decode::json::dec_i64",
        "crate::decode::json::schema::dec_i64"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hresult_spellings() {
        for s in ["2147500037", "-2147467259", "0x80004005"] {
            assert_eq!(
                HResult::parse_attr(s).map(|h| h.hex),
                Ok("0x80004005".to_owned())
            );
        }
        assert_eq!(HResult::parse_attr("0").map(|h| h.value), Ok(0));
        assert!(HResult::parse_attr("99999999999").is_err());
        for v in [0, 1, 0xDEAD_BEEF, u32::MAX] {
            assert_eq!(hex32(v), format!("0x{v:08X}"));
        }
    }

    #[test]
    fn ticks_epochs() {
        assert_eq!(
            DotNetTicks::new(638_000_000_000_000_000).utc.as_deref(),
            Some("2022-09-28T22:13:20Z")
        );
        assert_eq!(
            FileTime::new(116_444_736_000_000_000).utc.as_deref(),
            Some("1970-01-01T00:00:00Z")
        );
    }

    #[test]
    fn enums_and_codes() -> Result<(), serde_json::Error> {
        assert_eq!(LockType::from("1".to_owned()), LockType::SchemaLock);
        assert_eq!(
            ErrorCode::from("FileAlreadyLockedOnServer").category(),
            ErrorCategory::LockAndCoauthRelated
        );
        assert_eq!(ErrorCode::from("Bogus").category(), ErrorCategory::Unknown);
        assert_eq!(ErrorCode::ALL.len(), 42);
        // The spec's `Unknown` is a defined value, not an unknown one.
        assert_eq!(
            ErrorCode::from("Unknown").category(),
            ErrorCategory::Generic
        );
        // Serialized as the wire text, read back the same.
        assert_eq!(
            serde_json::to_string(&ErrorCode::CoauthRefblobConcurrencyViolation)?,
            "\"CoauthRefblobConcurrencyViolation\""
        );
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from(*c).as_str(), *c);
            assert_ne!(ErrorCode::from(*c).category(), ErrorCategory::Unknown);
        }
        assert_eq!(
            CoauthStatus::from("Weird"),
            CoauthStatus::Other("Weird".to_owned())
        );
        assert_eq!(bool::parse_attr("False"), Ok(false));
        assert_eq!(ErrorCode::parse_attr(" Success "), Ok(ErrorCode::Success));
        Ok(())
    }

    /// An integer attribute a JSON number cannot hold exactly is written as its wire
    /// text; smaller ones stay numbers.
    #[test]
    fn integer_attributes_beyond_2_53_are_wire_text() -> Result<(), serde_json::Error> {
        #[derive(Serialize)]
        struct A {
            #[serde(serialize_with = "attr_json")]
            big: Option<u64>,
            #[serde(serialize_with = "attr_json")]
            small: Option<u64>,
            #[serde(serialize_with = "attr_json")]
            negative: Option<i64>,
        }
        let a = A {
            big: Some(u64::MAX),
            small: Some(7),
            negative: Some(i64::MIN),
        };
        assert_eq!(
            serde_json::to_string(&a)?,
            r#"{"big":"18446744073709551615","small":7,"negative":"-9223372036854775808"}"#
        );
        Ok(())
    }
}
