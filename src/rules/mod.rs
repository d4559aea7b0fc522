//! Rules that change traffic as it passes the proxy: `FILTER => ACTION[; ACTION]...`.
//!
//! `syntax` parses rules (one from `--rule`, many from a `--rules` file) into [`Rule`]s;
//! `protocol` rewrites cell storage responses in MS-FSSHTTP and MS-FSSHTTPB terms. The
//! proxy (`proxy::rules`) decides when a rule matches and applies its actions. This
//! module does no IO: reading a rules file is the caller's.

pub mod protocol;
pub mod syntax;

pub use syntax::{parse_rule, parse_rules, Action, Phase, Rule, RuleError};
