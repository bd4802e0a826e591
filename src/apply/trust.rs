//! Who can change what a unit executes: the shim, the script, the interpreter. A system unit runs
//! them as root or as the app's user, so anyone else who can rewrite one of them — or rename
//! something else into its place, or change a link on the way to it — runs code as that user.
//!
//! Both the path as given and where it leads count: every directory from `/` to the file, every
//! symbolic link on the way and the directory each link is in, then every directory of the link's
//! target, down to the file itself.

use std::path::{Path, PathBuf};

use super::walk::{Follow, OnWriter, Step, Trusted, UnsafePath, Walk, Writer};

/// Everyone besides root who can change what `path` (absolute) executes or contains: the owner
/// and group- or world-write of each directory on the way (for a sticky directory, only the
/// owners of the entries in it), of each link's directory (and of a link in a sticky one), and
/// of the file. Each writer appears once, in the order of the walk.
pub fn who_can_write(path: &Path) -> Result<Vec<Writer>, UnsafePath> {
    let (mut writers, resolved) = writers_on_the_way(path)?;
    // The walk resolved links itself; if the kernel resolves the path elsewhere (it changed
    // meanwhile), both places count.
    if let Ok(canonical) = std::fs::canonicalize(path)
        && canonical != resolved
    {
        for w in writers_on_the_way(&canonical)?.0 {
            if !writers.contains(&w) {
                writers.push(w);
            }
        }
    }
    Ok(writers)
}

/// Every writer on the way, and where the path leads.
fn writers_on_the_way(path: &Path) -> Result<(Vec<Writer>, PathBuf), UnsafePath> {
    let mut walk = Walk::start(path, Trusted::root(), Follow::Any, OnWriter::Collect)?;
    let mut file = None;
    while let Some(name) = walk.next_name() {
        match walk.descend(&name)? {
            Step::Entered | Step::Followed => {}
            Step::Missing => {
                return Err(UnsafePath::Missing {
                    path: path.to_path_buf(),
                    at: walk.at(&name),
                });
            }
            Step::Other(meta) if walk.at_end() => {
                walk.judge_entry(&name, &meta)?;
                file = Some(walk.at(&name));
            }
            Step::Other(meta) => {
                return Err(UnsafePath::NotADirectory {
                    path: path.to_path_buf(),
                    at: walk.at(&name),
                    kind: meta.kind,
                });
            }
        }
    }
    let resolved = file.unwrap_or_else(|| walk.top().path.clone());
    Ok((std::mem::take(&mut walk.writers), resolved))
}

/// Refuses a file a unit executes (or a directory it executes from) that anyone but root and
/// `allowed_uid` can change: [`UnsafePath::Untrusted`] names the first such writer, its owner
/// and mode, and [`UnsafePath::hint`] the fix (`chown root:root … && chmod go-w …`, or moving
/// it under a root-owned directory). A group that is `allowed_uid`'s private group (umask 002)
/// counts as theirs.
pub fn check_only_writable_by(path: &Path, allowed_uid: u32) -> Result<(), UnsafePath> {
    let trusted = Trusted { uid: allowed_uid };
    match who_can_write(path)?
        .into_iter()
        .find(|w| !trusted.allows(&w.who))
    {
        Some(writer) => Err(UnsafePath::Untrusted {
            path: path.to_path_buf(),
            writer,
            trusted: allowed_uid,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::walk::Who;
    use super::super::walk::tests::{file, mkdir, root_or_skip, scratch};
    use super::*;

    const ALICE: u32 = 12345;
    const BOB: u32 = 23456;

    fn who(writers: &[Writer]) -> Vec<(PathBuf, Who)> {
        writers
            .iter()
            .map(|w| (w.at.clone(), w.who.clone()))
            .collect()
    }

    #[test]
    fn a_root_file_in_root_directories_has_no_writers() {
        if !root_or_skip("a_root_file_in_root_directories_has_no_writers") {
            return;
        }
        let t = scratch();
        let bin = t.path().join("bin");
        mkdir(&bin, 0, 0o755);
        file(&bin.join("shim"), 0, 0o755);
        assert_eq!(who_can_write(&bin.join("shim")).unwrap(), vec![]);
        check_only_writable_by(&bin.join("shim"), 0).unwrap();
    }

    #[test]
    fn the_owner_of_the_file_or_a_directory_can_write() {
        if !root_or_skip("the_owner_of_the_file_or_a_directory_can_write") {
            return;
        }
        let t = scratch();
        let home = t.path().join("alice");
        mkdir(&home, ALICE, 0o755);
        let bin = home.join("bin");
        mkdir(&bin, 0, 0o755);
        file(&bin.join("rgen-shim"), 0, 0o755);
        let shim = bin.join("rgen-shim");
        assert_eq!(
            who(&who_can_write(&shim).unwrap()),
            vec![(home.clone(), Who::Owner(ALICE))]
        );
        let e = check_only_writable_by(&shim, 0).unwrap_err();
        match &e {
            UnsafePath::Untrusted { writer, .. } => assert_eq!(writer.at, home),
            other => panic!("{other:?}"),
        }
        let hint = e.hint().unwrap();
        assert!(
            hint.contains("chown root:root") && hint.contains("go-w"),
            "{hint}"
        );
        // Alice's own app may run it.
        check_only_writable_by(&shim, ALICE).unwrap();
        assert!(check_only_writable_by(&shim, BOB).is_err());
    }

    #[test]
    fn group_and_world_write_on_the_file_count() {
        if !root_or_skip("group_and_world_write_on_the_file_count") {
            return;
        }
        let t = scratch();
        let world = t.path().join("world.py");
        file(&world, 0, 0o666);
        let writers = who(&who_can_write(&world).unwrap());
        assert_eq!(
            writers,
            vec![(world.clone(), Who::Group(0)), (world.clone(), Who::Anyone)]
        );
        let e = check_only_writable_by(&world, 0).unwrap_err();
        assert!(
            e.to_string().contains("writable by everyone (mode 0666)"),
            "{e}"
        );
        let grp = t.path().join("grp.py");
        file(&grp, 0, 0o664);
        std::os::unix::fs::chown(&grp, None, Some(BOB)).unwrap();
        assert!(matches!(
            check_only_writable_by(&grp, ALICE),
            Err(UnsafePath::Untrusted { writer, .. }) if writer.who == Who::Group(BOB)
        ));
    }

    #[test]
    fn a_link_counts_its_own_directory_and_its_targets() {
        if !root_or_skip("a_link_counts_its_own_directory_and_its_targets") {
            return;
        }
        let t = scratch();
        // /usr/bin/node -> alice's build: root's link, alice's target.
        let sys = t.path().join("sys");
        mkdir(&sys, 0, 0o755);
        let build = t.path().join("build");
        mkdir(&build, ALICE, 0o755);
        file(&build.join("node"), ALICE, 0o755);
        std::os::unix::fs::symlink(build.join("node"), sys.join("node")).unwrap();
        let writers = who(&who_can_write(&sys.join("node")).unwrap());
        assert_eq!(
            writers,
            vec![
                (build.clone(), Who::Owner(ALICE)),
                (build.join("node"), Who::Owner(ALICE))
            ]
        );
        // A link in bob's directory to root's file: bob can point it elsewhere.
        let bobs = t.path().join("bob");
        mkdir(&bobs, BOB, 0o755);
        let real = sys.join("real");
        file(&real, 0, 0o755);
        std::os::unix::fs::symlink(&real, bobs.join("tool")).unwrap();
        let writers = who(&who_can_write(&bobs.join("tool")).unwrap());
        assert_eq!(writers, vec![(bobs.clone(), Who::Owner(BOB))]);
        assert!(check_only_writable_by(&bobs.join("tool"), ALICE).is_err());
        // A relative link with `..` resolves like the kernel's.
        std::os::unix::fs::symlink("../sys/real", build.join("up")).unwrap();
        assert_eq!(
            who(&who_can_write(&build.join("up")).unwrap()),
            vec![(build.clone(), Who::Owner(ALICE))]
        );
    }

    #[test]
    fn a_sticky_directory_counts_only_the_owners_of_its_entries() {
        if !root_or_skip("a_sticky_directory_counts_only_the_owners_of_its_entries") {
            return;
        }
        let t = scratch();
        let shared = t.path().join("tmp");
        mkdir(&shared, 0, 0o1777);
        file(&shared.join("roots"), 0, 0o755);
        check_only_writable_by(&shared.join("roots"), 0).unwrap();
        file(&shared.join("bobs"), BOB, 0o755);
        assert_eq!(
            who(&who_can_write(&shared.join("bobs")).unwrap()),
            vec![(shared.join("bobs"), Who::Owner(BOB))]
        );
        // Bob's link in the sticky directory to root's file: he can replace it.
        std::os::unix::fs::symlink(shared.join("roots"), shared.join("link")).unwrap();
        std::os::unix::fs::lchown(shared.join("link"), Some(BOB), Some(BOB)).unwrap();
        let e = check_only_writable_by(&shared.join("link"), ALICE).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        // Without the sticky bit anyone can replace anything there.
        let open = t.path().join("open");
        mkdir(&open, 0, 0o777);
        file(&open.join("roots"), 0, 0o755);
        assert!(matches!(
            check_only_writable_by(&open.join("roots"), 0),
            Err(UnsafePath::Untrusted { writer, .. }) if writer.who == Who::Anyone
        ));
    }

    #[test]
    fn a_missing_file_is_reported_as_missing() {
        if !root_or_skip("a_missing_file_is_reported_as_missing") {
            return;
        }
        let t = scratch();
        let e = who_can_write(&t.path().join("nope")).unwrap_err();
        assert!(e.is_missing(), "{e:?}");
    }
}
