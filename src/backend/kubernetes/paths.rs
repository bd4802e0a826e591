//! How the plan's paths, resolved on this machine, map into the image: the image's `/app` is the
//! ecosystem file's directory (the Containerfile copies it there), so a path under that
//! directory becomes the same path under `/app`. A program outside it (`/usr/bin/node`, a
//! Homebrew python) is this machine's, not the image's: it is looked up by name on the image's
//! PATH through `/usr/bin/env` (the shim execs an absolute path, never through a shell). Any
//! other path outside it is kept as written, with a warning.

use std::path::{Path, PathBuf};

use crate::target::KUBERNETES_APP_DIR;

/// Runs a program by name on the image's PATH; in every Debian, Alpine and UBI image.
pub const ENV: &str = "/usr/bin/env";

pub struct ImagePaths {
    /// The ecosystem file's directory on this machine.
    host_dir: PathBuf,
}

impl ImagePaths {
    pub fn new(ecosystem_file: &Path) -> ImagePaths {
        ImagePaths {
            host_dir: ecosystem_file
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("/")),
        }
    }

    /// The image's path for a path under the ecosystem's directory.
    pub fn in_image(&self, host: &str) -> Option<String> {
        let rest = Path::new(host).strip_prefix(&self.host_dir).ok()?;
        let rest = rest.to_string_lossy();
        Some(if rest.is_empty() {
            KUBERNETES_APP_DIR.to_string()
        } else {
            format!("{KUBERNETES_APP_DIR}/{rest}")
        })
    }

    /// Whether a word is an absolute path that the image does not hold.
    pub fn outside(&self, word: &str) -> bool {
        word.starts_with('/') && self.in_image(word).is_none()
    }

    /// The program the shim runs, as the image has it.
    pub fn program(&self, host: &str) -> Vec<String> {
        if let Some(p) = self.in_image(host) {
            return vec![p];
        }
        match Path::new(host).file_name() {
            Some(name) if host.starts_with('/') => {
                vec![ENV.to_string(), name.to_string_lossy().into_owned()]
            }
            _ => vec![host.to_string()],
        }
    }

    /// An argument or env value: a path under the ecosystem's directory, or a `:`-separated
    /// list of them (`PYTHONPATH`), moved under `/app`; anything else unchanged.
    pub fn value(&self, value: &str) -> String {
        if !value.contains('/') {
            return value.to_string();
        }
        value
            .split(':')
            .map(|part| self.in_image(part).unwrap_or_else(|| part.to_string()))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// PATH as the container needs it: the app's own directories moved under `/app`, then the
    /// image's standard directories; this machine's other directories (an nvm install) are
    /// dropped. `None` when nothing of the app's is left, so the image's own PATH applies.
    pub fn path_variable(&self, value: &str, base: &str) -> Option<String> {
        let base_dirs: Vec<&str> = base.split(':').collect();
        let own: Vec<String> = value
            .split(':')
            .filter(|d| !base_dirs.contains(d))
            .filter_map(|d| self.in_image(d))
            .collect();
        if own.is_empty() {
            return None;
        }
        Some(format!("{}:{base}", own.join(":")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_move_under_app() {
        let p = ImagePaths::new(Path::new("/srv/azak/ecosystem.config.js"));
        assert_eq!(p.in_image("/srv/azak").as_deref(), Some("/app"));
        assert_eq!(
            p.in_image("/srv/azak/.venv/bin/python").as_deref(),
            Some("/app/.venv/bin/python")
        );
        assert_eq!(p.in_image("/srv/azakx/a"), None);
        assert_eq!(p.program("/usr/bin/node"), ["/usr/bin/env", "node"]);
        assert_eq!(p.value("/srv/azak:/srv/azak/lib"), "/app:/app/lib");
        assert_eq!(p.value("backend.main:app"), "backend.main:app");
        assert_eq!(
            p.path_variable(
                "/srv/azak/node_modules/.bin:/home/u/.nvm/bin:/usr/bin",
                "/usr/bin"
            ),
            Some("/app/node_modules/.bin:/usr/bin".into())
        );
        assert_eq!(
            p.path_variable("/home/u/.nvm/bin:/usr/bin", "/usr/bin"),
            None
        );
    }
}
