//! The one integration-test binary: real processes, real TLS, real files, all on
//! 127.0.0.1 with port 0.

mod util;

mod cli;
mod faults;
mod proxy;
mod timeline;
