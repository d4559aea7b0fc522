//! The one integration-test binary: real processes, real TLS, real files, all on
//! 127.0.0.1 with port 0.

mod util;

mod capture;
mod cli;
mod demo;
mod faults;
mod har;
mod proxy;
mod replay;
mod server;
mod timeline;
mod tui;
mod webdav_peer;
