//! Cell Error codes (MS-FSSHTTPB 2.2.3.2.1) as a type, so callers match on
//! `CellErrorCode::CoherencyFailure` instead of the number 12.

/// Declares [`CellErrorCode`] from its (code, name) pairs, so the number and the name are
/// written once.
macro_rules! cell_error_codes {
    ($( $code:literal => $name:ident, )*) => {
        /// A Cell Error code (MS-FSSHTTPB 2.2.3.2.1), named as the specification names it.
        /// [`TryFrom<u32>`] fails for a code the specification does not assign.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum CellErrorCode {
            $(
                #[doc = concat!("Cell Error ", stringify!($code), ".")]
                $name,
            )*
        }

        impl CellErrorCode {
            /// Every code, in specification order.
            pub const ALL: &'static [Self] = &[$(Self::$name),*];

            /// The specification's name (`CoherencyFailure`).
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => stringify!($name),)*
                }
            }
        }

        impl From<CellErrorCode> for u32 {
            fn from(c: CellErrorCode) -> u32 {
                match c {
                    $(CellErrorCode::$name => $code,)*
                }
            }
        }

        impl TryFrom<u32> for CellErrorCode {
            type Error = u32;

            /// The code `n`, or `n` back when the specification does not assign it.
            fn try_from(n: u32) -> Result<Self, u32> {
                match n {
                    $($code => Ok(Self::$name),)*
                    _ => Err(n),
                }
            }
        }
    };
}

cell_error_codes! {
    1 => Unknown,
    2 => InvalidObject,
    3 => InvalidPartition,
    4 => RequestNotSupported,
    5 => StorageReadOnly,
    6 => RevisionIdNotFound,
    7 => BadToken,
    8 => RequestNotFinished,
    9 => IncompatibleToken,
    11 => ScopedCellStorage,
    12 => CoherencyFailure,
    13 => CellStorageStateDeserializationFailure,
    15 => IncompatibleProtocolVersion,
    16 => ReferencedDataElementNotFound,
    18 => RequestStreamSchemaError,
    19 => ResponseStreamSchemaError,
    20 => UnknownRequest,
    21 => StorageFailure,
    22 => StorageWriteOnly,
    23 => InvalidSerialization,
    24 => DataElementNotFound,
    25 => InvalidImplementation,
    26 => IncompatibleOldStorage,
    27 => IncompatibleNewStorage,
    28 => IncorrectContextForDataElementId,
    29 => ObjectGroupDuplicateObjects,
    31 => ObjectReferenceNotFoundInRevision,
    32 => MergeCellStorageStateConflict,
    33 => UnknownQueryChangesFilter,
    34 => UnsupportedQueryChangesFilter,
    35 => UnableToProvideKnowledge,
    36 => DataElementMissingId,
    37 => DataElementMissingSerialNumber,
    38 => RequestArgumentInvalid,
    39 => PartialChangesNotSupported,
    40 => StoreBusyRetryLater,
    41 => GuidIdTableNotSupported,
    42 => DataElementCycle,
    43 => FragmentKnowledgeError,
    44 => FragmentSizeMismatch,
    45 => FragmentsIncomplete,
    46 => FragmentInvalid,
    47 => AbortedAfterFailedPutChanges,
    79 => FailedNoUpgradeableContents,
    106 => UnableAllocateAdditionalExtendedGuids,
    108 => SiteReadonlyMode,
    111 => MultiRequestPartitionReachQuota,
    112 => ExtendedGuidCollision,
    113 => UpgradeFailedBecauseOfInsufficientPermissions,
    114 => UpgradeFailedBecauseOfServerThrottling,
    115 => UpgradeFailedBecauseUpgradedFileIsTooLarge,
}

impl std::fmt::Display for CellErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cell_error_codes_round_trip() {
        assert_eq!(
            CellErrorCode::try_from(12),
            Ok(CellErrorCode::CoherencyFailure)
        );
        assert_eq!(u32::from(CellErrorCode::CoherencyFailure), 12);
        assert_eq!(CellErrorCode::try_from(10), Err(10));
        for c in CellErrorCode::ALL {
            assert_eq!(CellErrorCode::try_from(u32::from(*c)), Ok(*c));
        }
        assert_eq!(CellErrorCode::ALL.len(), 51);
    }
}
