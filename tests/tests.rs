//! One integration-test binary: each module drives the real `custodia` binary on real files in temp dirs.

mod util;

mod bundle;
mod bundle_hostile;
mod cli;
mod contract;
mod corruption;
mod crash;
mod durability;
mod faults;
mod findings;
mod format;
mod hardening;
mod model;
mod reliability;
mod signing;
mod timestamp;
