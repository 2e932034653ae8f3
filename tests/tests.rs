//! One integration-test binary: each module drives the real `custodia` binary on real files in temp dirs.

/// The throwaway RFC 3161 TSA (OpenSSL) the time-stamp tests use.
#[path = "tsa/mod.rs"]
mod timestamp_tsa;
mod util;

mod anchors;
mod bundle;
mod bundle_hostile;
mod bundle_proof;
mod cli;
mod contract;
mod corruption;
mod court;
mod crash;
mod disclosure;
mod durability;
mod faults;
mod findings;
mod format;
mod hardening;
mod model;
mod reliability;
mod replica;
mod signing;
mod timestamp;
mod users;
