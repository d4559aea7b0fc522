//! `synctap ui CAPTURE`: the terminal UI over a capture file, following it as it grows.

use std::path::PathBuf;

use clap::Args;

/// Arguments of `synctap ui`.
#[derive(Debug, Args)]
pub struct UiArgs {
    /// The capture file (kept open and followed like `tail -f`).
    capture: PathBuf,
}

pub(super) fn run(args: &UiArgs) -> anyhow::Result<i32> {
    if !args.capture.is_file() {
        anyhow::bail!("{}: no such capture file", args.capture.display());
    }
    crate::tui::run_capture(&args.capture)?;
    Ok(0)
}
