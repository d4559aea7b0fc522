//! The `synctap` binary: parse, run, map the result to an exit code.

use clap::Parser as _;

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
        .init();
    let code = match synctap::cli::run(opts) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                0
            } else {
                eprintln!("synctap: error: {e:#}");
                2
            }
        }
    };
    std::process::exit(code);
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
