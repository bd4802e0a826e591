//! Observe: what the manager says about installed apps (status) and what they printed (logs).

pub mod logs;
pub mod status;
