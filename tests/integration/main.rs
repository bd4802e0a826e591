//! rgen's integration tests that need no service manager: the CLI end to end, snapshots of every
//! rendered file, `systemd-analyze verify` of every unit, plists parsed back, errors and help.
//! (Tests against a real systemd live in `tests/systemd/`.)

mod adhoc;
mod attacks;
mod bounds;
mod cli;
mod conformance;
mod escaping;
#[path = "../common/follower.rs"]
mod follower;
mod import;
mod import_installed;
mod import_pm2;
mod kubernetes;
mod launchd;
mod launchd_apply;
mod launchd_run;
mod layers;
mod layouts;
mod readme;
mod rotation;
mod snapshots;
mod support;
mod verify;
