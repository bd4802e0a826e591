//! Apply: the only stage that writes files or talks to a service manager.

pub mod changes;
pub mod files;
pub mod inventory;
pub mod launchd;
pub mod paths;
pub mod systemd;
