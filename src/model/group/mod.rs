//! One reader per key group of the key table (`keys::KeyGroup`): each reads its keys from an
//! app's entries, with PM2's grammar and defaults, and reports every bad value with its key.
//! `validate` calls them in dependency order.

pub(crate) mod command;
pub(crate) mod elsewhere;
pub(crate) mod env;
pub(crate) mod hardening;
pub(crate) mod identity;
pub(crate) mod instances;
pub(crate) mod logs;
pub(crate) mod memory;
pub(crate) mod restart;
pub(crate) mod rotation;
pub(crate) mod schedule;
pub(crate) mod shell;
pub(crate) mod stop;
pub(crate) mod user;
