//! Apply: what every backend shares when it changes the machine — writing files atomically,
//! reading back what rgen installed (the inventory), what an install would change (the change
//! set) and how that is reported. Backends call these; nothing here knows a manager.

pub mod changes;
pub mod files;
pub mod inventory;
pub mod lock;
pub mod report;
pub mod shim_copy;
pub mod trust;
pub mod walk;

/// A file a backend renders, for the manager's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    /// File name inside the manager's directory.
    pub name: String,
    /// The app the file belongs to; `None` for the group's own files.
    pub app: Option<String>,
    pub contents: String,
}
