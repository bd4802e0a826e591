//! `rgen render`: print every file `install` would write, or write them into a directory.

use std::io::Write as _;

use anyhow::{Context as _, Result};

use super::{compile, print_warnings};
use crate::apply::files::write_atomic;
use crate::backend;
use crate::settings::RenderSettings;

pub fn run(s: &RenderSettings) -> Result<i32> {
    let renderer = backend::renderer(&s.target);
    let compiled = compile(&s.source, &s.target, renderer.as_ref())?;
    print_warnings(&compiled.warnings);
    match &s.out {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            for file in &compiled.files {
                let path = dir.join(&file.name);
                // Kubernetes overlays live in subdirectories (`overlays/<env>/…`).
                if let Some(parent) = path.parent().filter(|p| *p != dir.as_path()) {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("cannot create {}", parent.display()))?;
                }
                write_atomic(&path, file.contents.as_bytes(), file.mode)?;
                println!("{}", path.display());
            }
        }
        None => {
            let dir = renderer.manager_dir();
            let mut out = std::io::stdout().lock();
            for (i, file) in compiled.files.iter().enumerate() {
                if i > 0 {
                    writeln!(out)?;
                }
                writeln!(out, "==> {} <==", dir.join(&file.name).display())?;
                out.write_all(file.contents.as_bytes())?;
            }
        }
    }
    Ok(0)
}
