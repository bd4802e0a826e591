//! Apply: the only stage that writes files or talks to a service manager.

pub mod files;
pub mod paths;
