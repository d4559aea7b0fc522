//! Test data for the decoder tests: the committed samples under `testdata/<topic>` and
//! their JSON snapshots under `testdata/<topic>/snapshots`.

use std::error::Error;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// `testdata/<topic>`, found from this file's path so the tests run both in the main
/// crate (relative `file!()`) and in a crate that includes this file by absolute path.
pub(crate) fn dir(topic: &str) -> PathBuf {
    // `file!()` is relative to the package root in the main crate and absolute when
    // another crate includes this file by path.
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join(Path::new(file!()));
    let root = here.ancestors().nth(3).unwrap_or(Path::new("."));
    root.join("testdata").join(topic)
}

/// The bytes of `testdata/<topic>/<name>`.
pub(crate) fn fixture(topic: &str, name: &str) -> Result<Vec<u8>, Box<dyn Error>> {
    Ok(std::fs::read(dir(topic).join(name))?)
}

/// Compare `value` as JSON with the snapshot `testdata/<topic>/snapshots/<name>.snap`.
pub(crate) fn snap<T: Serialize>(topic: &str, name: &str, value: &T) {
    insta::with_settings!({
        snapshot_path => dir(topic).join("snapshots"),
        prepend_module_to_snapshot => false,
    }, {
        insta::assert_json_snapshot!(name, value);
    });
}
