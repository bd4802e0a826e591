//! The two service managers rgen talks to: systemd over D-Bus, launchd through `launchctl`.

pub mod launchctl;
pub mod systemd;
