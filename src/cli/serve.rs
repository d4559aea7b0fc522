//! `synctap serve`: run the reference server (MS-FSSHTTP cell storage) until Ctrl-C.

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::server::{CellSettings, Server, ServerConfig, SystemClock};

/// On or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(super) enum Switch {
    /// Enabled.
    On,
    /// Disabled.
    Off,
}

/// Arguments of `synctap serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8443")]
    listen: SocketAddr,
    /// Serve HTTPS with a certificate from synctap's CA (see --certs).
    #[arg(long)]
    tls: bool,
    /// Coauthoring: off makes Join/GetLock fall back to an exclusive lock when the client
    /// allows it (AllowFallbackToExclusive) and answer FileNotLockedOnServer otherwise.
    #[arg(long, value_enum, default_value = "on")]
    coauth: Switch,
    /// Most clients in one coauthoring session (NumberOfCoauthorsReachedMax beyond).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=99))]
    max_coauthors: u16,
    /// Folder of documents (seeded with samples when empty); uploads are written back.
    /// Default: a new temporary folder.
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
    /// Seed of every generated GUID (ETags, TransitionIDs, storage indexes).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

pub(super) fn run(certs: &Path, args: &ServeArgs) -> anyhow::Result<i32> {
    let data = args.data.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("synctap-serve-{}", std::process::id()))
    });
    let config = ServerConfig {
        listen: args.listen,
        tls: args.tls,
        certs_dir: certs.to_path_buf(),
        cell: CellSettings {
            coauth: args.coauth == Switch::On,
            max_coauthors: usize::from(args.max_coauthors),
            seed: args.seed,
        },
        data_dir: Some(data.clone()),
        clock: Arc::new(SystemClock),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async {
        let server = Server::bind(config).await?;
        outln!("synctap serve listening on {}", server.url());
        outln!(
            "cell storage: {}/_vti_bin/cellstorage.svc/CellStorageService",
            server.url()
        );
        outln!("documents: {}", data.display());
        if let Some(ca) = server.ca_cert_path() {
            outln!("CA certificate: {}", ca.display());
        }
        let _ = std::io::stdout().flush();
        server.run(super::proxy::shutdown_signal()).await;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}
