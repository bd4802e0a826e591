//! `rgen-shim`: the small supervisor rgen puts in front of an app for the few PM2 behaviours
//! systemd and launchd lack (readiness via `process.send('ready')`, SIGINT-then-SIGKILL stops,
//! SO_REUSEPORT port sharing, exponential backoff, memory restarts, rotated logs).
//!
//! One thread and one poll() loop, std + libc first (plus croner for `--log-rotate-interval` and
//! flate2 for `--log-compress`, whose helper thread exists only while it compresses): it must
//! cost next to nothing while the app runs. The command line is the contract in
//! `src/shim_protocol.rs`.

// Shared with the compiler, which uses items the shim has no need for.
#[allow(dead_code)]
#[path = "../../shim_protocol.rs"]
mod shim_protocol;

mod backoff;
mod child;
mod cli;
mod clock;
mod ipc;
mod listen;
mod logs;
mod notify;
mod pidfile;
mod restart;
mod rotate;
mod rundir;
mod setup;
mod shimlog;
mod signals;
mod status;
mod supervise;
mod sys;
mod tree;

fn main() {
    supervise::main()
}
