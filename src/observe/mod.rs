//! Observe: what every backend shares when it reports on installed apps — which apps a command
//! means (`select`), the status report and its table (`status`), and reading and following log
//! files (`logs`).

pub mod logs;
pub mod monit;
pub mod sample;
pub mod secrets;
pub mod select;
pub mod status;
