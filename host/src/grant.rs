//! Directory grants and guest-path resolution.

use crate::error::{ErrorCode, FsResult};
use std::path::PathBuf;
use std::sync::Arc;

/// What a grant allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perms {
    /// Reading only; every mutating operation fails with `read-only` before any work is queued.
    ReadOnly,
    /// Reading and writing.
    ReadWrite,
}

impl Perms {
    /// True for [`Perms::ReadWrite`].
    pub fn can_write(self) -> bool {
        matches!(self, Perms::ReadWrite)
    }
}

/// One directory mounted into the guest's path space.
#[derive(Debug)]
pub struct Grant {
    /// The granted directory; every path under the mount resolves beneath it via cap-std.
    pub dir: Arc<cap_std::fs::Dir>,
    /// Normalised absolute guest mount path (`/`, `/data`, `/data/sub`; no trailing slash).
    pub guest_path: String,
    /// What the grant allows.
    pub perms: Perms,
}

/// A guest path resolved to a grant and a path relative to the grant's directory.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The grant the path falls under.
    pub grant: Arc<Grant>,
    /// The rest of the path, relative (never absolute); `.` for the mount point itself.
    /// May still contain `..` or lead through symlinks: cap-std decides.
    pub rel: PathBuf,
}

/// The ordered set of grants of one store.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    grants: Vec<Arc<Grant>>,
}

impl Grants {
    /// Add a grant (order matters: the first is where relative paths resolve).
    pub fn push(&mut self, grant: Grant) {
        self.grants.push(Arc::new(grant));
    }

    /// All grants in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Grant>> {
        self.grants.iter()
    }

    /// Resolve a guest path (see the WIT package docs). Errors: `invalid` for NUL,
    /// `no-entry` for an empty path, `name-too-long` above `max_len`, `not-permitted`
    /// when no grant's mount is a component-wise prefix of an absolute path (or there are
    /// no grants).
    pub fn resolve(&self, path: &str, max_len: usize) -> FsResult<Resolved> {
        if path.contains('\0') {
            return Err(ErrorCode::Invalid);
        }
        if path.is_empty() {
            return Err(ErrorCode::NoEntry);
        }
        if path.len() > max_len {
            return Err(ErrorCode::NameTooLong);
        }
        // Plain names and `..`; empty and `.` components mean nothing.
        let comps = || path.split('/').filter(|c| !c.is_empty() && *c != ".");
        let (grant, skip) = if path.starts_with('/') {
            let mut best: Option<(&Arc<Grant>, usize)> = None;
            for grant in &self.grants {
                let mut path_comps = comps();
                let mut n = 0;
                let is_prefix = mount_components(&grant.guest_path).all(|m| {
                    n += 1;
                    path_comps.next() == Some(m)
                });
                if is_prefix {
                    // Longest mount wins; on a tie (the same mount twice) the first does.
                    if best.is_none_or(|(_, b)| n > b) {
                        best = Some((grant, n));
                    }
                }
            }
            best.ok_or(ErrorCode::NotPermitted)?
        } else {
            (self.grants.first().ok_or(ErrorCode::NotPermitted)?, 0)
        };
        let mut rel = comps().skip(skip).collect::<Vec<_>>().join("/");
        if rel.is_empty() {
            rel.push('.');
        } else if path.ends_with('/') {
            // A trailing slash demands a directory: cap-std sees it too.
            rel.push('/');
        }
        Ok(Resolved {
            grant: grant.clone(),
            rel: PathBuf::from(rel),
        })
    }
}

/// The components of a normalised mount path (none for `/`).
fn mount_components(mount: &str) -> impl Iterator<Item = &str> {
    mount.split('/').filter(|c| !c.is_empty())
}

/// Normalise a guest mount path: make it absolute, drop `.`/empty components and any
/// trailing `/`. `..` is rejected with `invalid`.
pub fn normalize_mount(guest_path: &str) -> FsResult<String> {
    if guest_path.contains('\0') {
        return Err(ErrorCode::Invalid);
    }
    let mut out = String::with_capacity(guest_path.len() + 1);
    for comp in guest_path.split('/') {
        match comp {
            "" | "." => {}
            ".." => return Err(ErrorCode::Invalid),
            c => {
                out.push('/');
                out.push_str(c);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn grants(mounts: &[&str]) -> (Vec<tempfile::TempDir>, Grants) {
        let mut temps = Vec::new();
        let mut grants = Grants::default();
        for m in mounts {
            let t = tempfile::tempdir().unwrap();
            let dir =
                cap_std::fs::Dir::open_ambient_dir(t.path(), cap_std::ambient_authority()).unwrap();
            grants.push(Grant {
                dir: Arc::new(dir),
                guest_path: normalize_mount(m).unwrap(),
                perms: Perms::ReadWrite,
            });
            temps.push(t);
        }
        (temps, grants)
    }

    fn mount_and_rel(g: &Grants, path: &str) -> FsResult<(String, PathBuf)> {
        g.resolve(path, 4096)
            .map(|r| (r.grant.guest_path.clone(), r.rel))
    }

    #[test]
    fn normalize_mount_cases() {
        let ok = [
            ("/", "/"),
            ("", "/"),
            (".", "/"),
            ("data", "/data"),
            ("/data/", "/data"),
            ("//data//sub/./", "/data/sub"),
            ("./a/b", "/a/b"),
        ];
        for (input, want) in ok {
            assert_eq!(normalize_mount(input).as_deref(), Ok(want), "{input:?}");
        }
        for bad in ["..", "/data/..", "/a/../b", "a\0b"] {
            assert_eq!(normalize_mount(bad), Err(ErrorCode::Invalid), "{bad:?}");
        }
    }

    #[test]
    fn longest_component_prefix_wins() {
        let (_t, g) = grants(&["/data", "/data/sub", "/data2"]);
        let cases = [
            ("/data", "/data", "."),
            ("/data/", "/data", "."),
            ("/data/x", "/data", "x"),
            ("/data/sub", "/data/sub", "."),
            ("/data/sub/y/z", "/data/sub", "y/z"),
            ("/data/subway", "/data", "subway"),
            ("/data2/x", "/data2", "x"),
            ("//data///x//y/", "/data", "x/y/"),
            ("/./data/./x", "/data", "x"),
            ("/data/../data2/x", "/data", "../data2/x"),
        ];
        for (path, mount, rel) in cases {
            assert_eq!(
                mount_and_rel(&g, path),
                Ok((mount.to_string(), PathBuf::from(rel))),
                "{path:?}"
            );
        }
    }

    #[test]
    fn data2_does_not_match_data() {
        let (_t, g) = grants(&["/data"]);
        assert_eq!(mount_and_rel(&g, "/data2"), Err(ErrorCode::NotPermitted));
        assert_eq!(mount_and_rel(&g, "/data2/x"), Err(ErrorCode::NotPermitted));
        assert_eq!(mount_and_rel(&g, "/"), Err(ErrorCode::NotPermitted));
        assert_eq!(
            mount_and_rel(&g, "/etc/passwd"),
            Err(ErrorCode::NotPermitted)
        );
    }

    #[test]
    fn root_mount_matches_everything() {
        let (_t, g) = grants(&["/", "/data"]);
        assert_eq!(
            mount_and_rel(&g, "/etc/x"),
            Ok(("/".into(), "etc/x".into()))
        );
        assert_eq!(mount_and_rel(&g, "/"), Ok(("/".into(), ".".into())));
        assert_eq!(
            mount_and_rel(&g, "/data/x"),
            Ok(("/data".into(), "x".into()))
        );
    }

    #[test]
    fn relative_paths_use_the_first_grant() {
        let (_t, g) = grants(&["/b", "/a"]);
        assert_eq!(mount_and_rel(&g, "x/y"), Ok(("/b".into(), "x/y".into())));
        assert_eq!(mount_and_rel(&g, "."), Ok(("/b".into(), ".".into())));
        assert_eq!(mount_and_rel(&g, "a//b/"), Ok(("/b".into(), "a/b/".into())));
    }

    #[test]
    fn dotdot_is_kept_for_cap_std() {
        let (_t, g) = grants(&["/data"]);
        let r = g.resolve("/data/../etc", 4096).unwrap();
        assert_eq!(r.rel, Path::new("../etc"));
        let r = g.resolve("../x", 4096).unwrap();
        assert_eq!(r.rel, Path::new("../x"));
        // And cap-std refuses it.
        let err = r.grant.dir.open(&r.rel).unwrap_err();
        assert_eq!(ErrorCode::from(err), ErrorCode::NotPermitted);
    }

    #[test]
    fn bad_paths() {
        let (_t, g) = grants(&["/data"]);
        assert_eq!(g.resolve("", 4096).unwrap_err(), ErrorCode::NoEntry);
        assert_eq!(
            g.resolve("/data/a\0b", 4096).unwrap_err(),
            ErrorCode::Invalid
        );
        assert_eq!(
            g.resolve("/data/abc", 8).unwrap_err(),
            ErrorCode::NameTooLong
        );
        assert!(g.resolve("/data/ab", 8).is_ok());
        let none = Grants::default();
        assert_eq!(
            none.resolve("x", 4096).unwrap_err(),
            ErrorCode::NotPermitted
        );
        assert_eq!(
            none.resolve("/x", 4096).unwrap_err(),
            ErrorCode::NotPermitted
        );
    }
}
