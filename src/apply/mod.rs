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
pub mod users;
pub mod walk;

/// A file a backend renders, for the manager's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    /// File name inside the manager's directory.
    pub name: String,
    /// The app the file belongs to; `None` for the group's own files.
    pub app: Option<String>,
    pub contents: String,
    /// Permissions when written: `0o600` for files that may hold secrets.
    pub mode: u32,
    /// Holds values that must not be shown (a diff prints that it changed, not how).
    pub secret: bool,
}

impl RenderedFile {
    /// A world-readable file, as managers expect their definitions.
    pub fn public(name: String, app: Option<&str>, contents: String) -> RenderedFile {
        RenderedFile {
            name,
            app: app.map(str::to_string),
            contents,
            mode: 0o644,
            secret: false,
        }
    }

    /// A file only its owner reads: an app's environment.
    pub fn secret(name: String, app: Option<&str>, contents: String) -> RenderedFile {
        RenderedFile {
            mode: 0o600,
            secret: true,
            ..RenderedFile::public(name, app, contents)
        }
    }
}
