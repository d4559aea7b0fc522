//! The `synctap` binary: parse, run, map the result to an exit code.

use clap::Parser as _;

/// mimalloc instead of the system allocator: decoding and the capture's JSON allocate
/// many small strings, often freed on another thread (the reading thread of `export`
/// hands exchanges to the writing one; a proxy task hands records to the capture
/// writer), which glibc's allocator serialises on its arena locks.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let opts = synctap::cli::Opts::parse();
    // `serve` logs one line per request unless RUST_LOG says otherwise.
    // rustls-platform-verifier logs each refused certificate as an error in rustls debug
    // text; synctap says why in words itself (proxy::trust).
    let default_filter = if matches!(opts.command, synctap::cli::Command::Serve(_)) {
        "warn,synctap::server=info,rustls_platform_verifier=off"
    } else {
        "warn,rustls_platform_verifier=off"
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(log_colours())
        .init();
    let code = match synctap::cli::run(opts) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                0
            } else {
                // Errors can quote the wire (an upstream's answer, a URL).
                let text = format!("{e:#}");
                eprintln!(
                    "synctap: error: {}",
                    synctap::decode::text::escape_terminal(&text)
                );
                2
            }
        }
    };
    std::process::exit(code);
}

fn log_colours() -> bool {
    use std::io::IsTerminal as _;
    synctap::cli::log_colours(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    )
}

/// Whether the command stopped because its reader went away (`synctap show … | head`):
/// a normal end, not an error. serde_json keeps the IO error inside its own error type
/// (its `source()` skips it), so both are looked for.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        let kind = c
            .downcast_ref::<std::io::Error>()
            .map(std::io::Error::kind)
            .or_else(|| {
                c.downcast_ref::<serde_json::Error>()
                    .and_then(serde_json::Error::io_error_kind)
            });
        kind == Some(std::io::ErrorKind::BrokenPipe)
    })
}
