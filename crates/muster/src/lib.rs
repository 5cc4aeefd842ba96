//! The `muster` binary's parts: configuration, opening the store, serving, seeding.
//! `main.rs` only parses the command line and calls into these.

pub mod config;
pub mod seed;
pub mod server;
pub mod store;

use muster_api::BuildInfo;

/// This build's identity; `MUSTER_BUILD_NUMBER` overrides the commit count.
pub fn build_info(override_number: Option<&str>) -> BuildInfo {
    BuildInfo {
        version: env!("CARGO_PKG_VERSION"),
        build: override_number.unwrap_or(env!("MUSTER_BUILD_COUNT")).to_owned(),
        commit: env!("MUSTER_COMMIT").to_owned(),
    }
}

/// `muster --version`: version, build and commit.
pub const LONG_VERSION: &str =
    concat!(env!("CARGO_PKG_VERSION"), " (build ", env!("MUSTER_BUILD_COUNT"), ", commit ", env!("MUSTER_COMMIT"), ")");
