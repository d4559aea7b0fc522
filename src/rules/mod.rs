//! Rules that change traffic (issue 19): protocol actions in MS-FSSHTTP / MS-FSSHTTPB terms.
pub mod protocol;
