//! The one integration-test binary: real processes, real TLS, real files, all on
//! 127.0.0.1 with port 0.

mod util;

mod ca_truth;
mod capture;
mod chain;
mod cli;
mod compression;
mod demo;
mod diff;
mod export;
mod faults;
mod har;
mod json;
mod layering;
mod output;
mod parquet;
mod pcap;
mod proxy;
mod replay;
mod rules;
mod saz;
mod scope;
mod server;
mod stream;
mod timeline;
mod trust;
mod tui;
mod webdav_peer;
