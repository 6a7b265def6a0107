//! A model-checked fuzzer for the host's filesystem layer (`Fs`), driven by proptest.
//!
//! Each case builds a fresh tree, grants part of it, and runs a random sequence of
//! operations with random, often hostile paths (`..`, `.`, empty and NUL components,
//! overlong names, outward and absolute symlinks, symlink loops, other and missing
//! mounts). After every operation it checks that:
//!
//! * nothing outside the grants changed, and nothing outside was ever returned
//!   (canary content, canary names);
//! * a path that leaves the grants lexically failed;
//! * no operation failed with `io` (what a panicking pool job would turn into);
//! * when the operation's paths are clean (plain names under `/data`, no symlink on the
//!   way), its result and the whole granted tree match a simple in-memory model; other
//!   operations resynchronise the model from the disk;
//! * in a quarter of the cases `/data` has random small budgets ([`GrantQuota`]): then no
//!   budget is ever overshot and no file in the grant outgrows `max_file_size`.
//!
//! After every case all handles are dropped, the pool is drained, and the number of open
//! descriptors (`/proc/self/fd`) must be what it was before the first case: this is its
//! own test binary with a single test, so nothing else opens descriptors meanwhile.
//!
//! CI runs 256 cases; run longer with
//! `PROPTEST_CASES=100000 cargo test --release -p aiofs-host --test fuzz`.

use aiofs_host::fs::{File, Fs, TempDir, TempOptions};
use aiofs_host::grant::{Grant, Grants, normalize_mount};
use aiofs_host::{ErrorCode, GrantQuota, Limits, Perms, Pool};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

const CANARY: &[u8] = b"CANARY";

/// A name longer than any filesystem allows.
fn long_name() -> String {
    "x".repeat(300)
}

/// One step of a case.
#[derive(Debug, Clone)]
enum Op {
    WriteFile(String, Vec<u8>, bool),
    ReadFile(String),
    OpenWrite(String, &'static str, Vec<u8>),
    OpenRead(String),
    Truncate(String, u64),
    Hold(String),
    Release,
    Mkdir(String),
    Makedirs(String),
    Remove(String),
    Rmdir(String),
    Rename(String, String),
    Link(String, String),
    Symlink(&'static str, String),
    Readlink(String),
    Copy(String, String),
    RemoveTree(String),
    Listdir(String),
    Stat(String),
    Exists(String),
    TempFile(String),
    NamedTemp(String, bool),
    TempDir(String),
}

fn path() -> impl Strategy<Value = String> {
    let comp = prop_oneof![
        30 => prop::sample::select(vec!["a", "b", "c", "f"]).prop_map(String::from),
        1 => Just("..".to_string()),
        1 => Just(".".to_string()),
        1 => Just(String::new()),
        1 => Just("out".to_string()),
        1 => Just("abs".to_string()),
        1 => Just("loop".to_string()),
        1 => Just("x\0y".to_string()),
        1 => Just(long_name()),
    ];
    let prefix = prop_oneof![
        16 => Just("/data/"),
        4 => Just(""),
        1 => Just("/ro/"),
        1 => Just("/data2/"),
        1 => Just("/"),
        1 => Just("/dat/"),
        1 => Just("/data/../"),
        1 => Just("//data//"),
    ];
    (
        prefix,
        prop::collection::vec(comp, 0..4),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(prefix, comps, slash)| {
            let mut p = format!("{prefix}{}", comps.join("/"));
            if slash {
                p.push('/');
            }
            p
        })
}

/// Budgets small enough to be hit within a case (files start at 6 bytes).
fn quota() -> impl Strategy<Value = GrantQuota> {
    let some = |r: std::ops::Range<u64>| prop::option::of(r);
    (some(0..400), some(0..400), some(6..60), some(0..10)).prop_map(|(w, r, s, c)| GrantQuota {
        max_bytes_written: w,
        max_bytes_read: r,
        max_file_size: s,
        max_created: c,
    })
}

fn data() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(prop::sample::select(b"abcdefgh\n".to_vec()), 0..40)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (path(), data(), any::<bool>()).prop_map(|(p, d, a)| Op::WriteFile(p, d, a)),
        3 => path().prop_map(Op::ReadFile),
        3 => (path(), prop::sample::select(vec!["wb", "ab", "xb", "r+b"]), data())
            .prop_map(|(p, m, d)| Op::OpenWrite(p, m, d)),
        2 => path().prop_map(Op::OpenRead),
        1 => (path(), 0u64..60).prop_map(|(p, n)| Op::Truncate(p, n)),
        1 => path().prop_map(Op::Hold),
        1 => Just(Op::Release),
        3 => path().prop_map(Op::Mkdir),
        2 => path().prop_map(Op::Makedirs),
        2 => path().prop_map(Op::Remove),
        2 => path().prop_map(Op::Rmdir),
        3 => (path(), path()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => (path(), path()).prop_map(|(a, b)| Op::Link(a, b)),
        1 => (
            prop::sample::select(vec!["a", "f", "b/c", "nothing", "../outside/secret", "/abs"]),
            path()
        )
            .prop_map(|(t, p)| Op::Symlink(t, p)),
        1 => path().prop_map(Op::Readlink),
        2 => (path(), path()).prop_map(|(a, b)| Op::Copy(a, b)),
        1 => path().prop_map(Op::RemoveTree),
        2 => path().prop_map(Op::Listdir),
        2 => path().prop_map(Op::Stat),
        1 => path().prop_map(Op::Exists),
        1 => path().prop_map(Op::TempFile),
        1 => (path(), any::<bool>()).prop_map(|(p, d)| Op::NamedTemp(p, d)),
        1 => path().prop_map(Op::TempDir),
    ]
}

/// A node of the model (and of a snapshot of the disk).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File(Vec<u8>),
    Dir,
    Link(String),
}

/// The granted tree: relative path components -> node (the root is implied).
type Tree = BTreeMap<Vec<String>, Node>;

/// What is on disk under `dir`, and which files have more than one hard link.
fn snapshot(dir: &Path) -> (Tree, Vec<Vec<String>>) {
    fn walk(dir: &Path, prefix: &[String], tree: &mut Tree, shared: &mut Vec<Vec<String>>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().expect("fuzzer names are UTF-8");
            let mut key = prefix.to_vec();
            key.push(name);
            let md = std::fs::symlink_metadata(e.path()).unwrap();
            let node = if md.is_symlink() {
                let t = std::fs::read_link(e.path()).unwrap();
                Node::Link(t.to_string_lossy().into_owned())
            } else if md.is_dir() {
                walk(&e.path(), &key, tree, shared);
                Node::Dir
            } else {
                if md.nlink() > 1 {
                    shared.push(key.clone());
                }
                Node::File(std::fs::read(e.path()).unwrap())
            };
            tree.insert(key, node);
        }
    }
    let mut tree = Tree::new();
    let mut shared = Vec::new();
    walk(dir, &[], &mut tree, &mut shared);
    (tree, shared)
}

/// Everything under `dir` (outside canaries, the read-only grant), for equality checks.
fn fingerprint(dir: &Path) -> Tree {
    snapshot(dir).0
}

/// A guest path that is plain names under `/data` (or relative, which is the same), as
/// components; `None` for anything else.
fn clean(path: &str) -> Option<Vec<String>> {
    if path.contains('\0') || path.is_empty() || path.ends_with('/') || path.ends_with("/.") {
        return None;
    }
    let rest = if let Some(rest) = path.strip_prefix("/data") {
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        rest
    } else if path.starts_with('/') {
        return None;
    } else {
        path
    };
    // Empty and `.` components mean nothing (as in the host's resolver).
    let comps: Vec<String> = rest
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .map(String::from)
        .collect();
    comps
        .iter()
        .all(|c| c != ".." && c.len() <= 255)
        .then_some(comps)
}

/// Whether a guest path leaves every grant by its spelling alone (no mount matches, or
/// `..` climbs above the mount): such a path can never succeed.
fn escapes_lexically(path: &str) -> bool {
    if path.contains('\0') || path.is_empty() {
        return false; // refused for that reason first
    }
    let comps: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    let rest: &[&str] = if path.starts_with('/') {
        match comps.first() {
            Some(&"data") | Some(&"ro") => &comps[1..],
            _ => return true,
        }
    } else {
        &comps
    };
    let mut depth = 0i32;
    for c in rest {
        if *c == ".." {
            depth -= 1;
            if depth < 0 {
                return true;
            }
        } else {
            depth += 1;
        }
    }
    false
}

/// The model, and what it knows how to predict.
struct Model {
    tree: Tree,
    /// Files with more than one hard link: writes through one name show through the
    /// others, which the model does not follow.
    shared: Vec<Vec<String>>,
}

type R<T> = Result<T, ErrorCode>;

impl Model {
    fn get(&self, p: &[String]) -> Option<&Node> {
        if p.is_empty() {
            return Some(&Node::Dir);
        }
        self.tree.get(p)
    }

    /// A clean path no symlink stands on (the last component included); else `None`.
    fn plain(&self, path: &str) -> Option<Vec<String>> {
        let p = clean(path)?;
        let through_link = (1..=p.len()).any(|i| matches!(self.get(&p[..i]), Some(Node::Link(_))));
        (!through_link).then_some(p)
    }

    /// Walk to `p`: `no-entry` / `not-directory` for a missing or non-directory ancestor,
    /// else the node (if any).
    fn walk(&self, p: &[String]) -> R<Option<&Node>> {
        for i in 1..p.len() {
            match self.get(&p[..i]) {
                None => return Err(ErrorCode::NoEntry),
                Some(Node::Dir) => {}
                Some(_) => return Err(ErrorCode::NotDirectory),
            }
        }
        Ok(self.get(p))
    }

    fn is_shared(&self, p: &[String]) -> bool {
        self.shared.iter().any(|s| s == p)
    }

    fn children(&self, p: &[String]) -> Vec<String> {
        self.tree
            .keys()
            .filter(|k| k.len() == p.len() + 1 && k.starts_with(p))
            .map(|k| k[p.len()].clone())
            .collect()
    }

    fn remove_subtree(&mut self, p: &[String]) {
        self.tree.retain(|k, _| !k.starts_with(p));
    }

    fn move_subtree(&mut self, a: &[String], b: &[String]) {
        let moved: Vec<(Vec<String>, Node)> = self
            .tree
            .iter()
            .filter(|(k, _)| k.starts_with(a))
            .map(|(k, v)| {
                let mut nk = b.to_vec();
                nk.extend_from_slice(&k[a.len()..]);
                (nk, v.clone())
            })
            .collect();
        self.remove_subtree(a);
        self.remove_subtree(b);
        self.tree.extend(moved);
    }

    fn file(&self, p: &[String]) -> R<Vec<u8>> {
        match self.walk(p)? {
            None => Err(ErrorCode::NoEntry),
            Some(Node::Dir) => Err(ErrorCode::IsDirectory),
            Some(Node::File(d)) => Ok(d.clone()),
            Some(Node::Link(_)) => unreachable!("plain paths have no links"),
        }
    }
}

/// What an operation returned, in a form the model can predict.
#[derive(Debug, Clone, PartialEq)]
enum Out {
    Unit,
    Bytes(Vec<u8>),
    Num(u64),
    Names(Vec<String>),
    Bool(bool),
    Kind(&'static str, u64),
    Text(String),
}

/// The state of one case.
struct Case {
    root: tempfile::TempDir,
    fs: Fs,
    model: Model,
    held: Vec<File>,
    temp_dirs: Vec<TempDir>,
    outside: Tree,
    ro: Tree,
    /// Budgets on `/data`, if this case has any (then the model stands aside and the
    /// budgets are checked instead).
    quota: Option<GrantQuota>,
}

impl Case {
    fn new(pool: &Pool, quota: Option<GrantQuota>) -> Case {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        for d in ["data/a", "ro", "data2", "outside/d"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("data/a/f"), b"seed-f").unwrap();
        std::fs::write(r.join("data/b"), b"seed-b").unwrap();
        std::fs::write(r.join("ro/r"), b"ro-content").unwrap();
        std::fs::write(r.join("data2/f"), b"CANARY-data2").unwrap();
        std::fs::write(r.join("outside/secret"), b"CANARY-secret").unwrap();
        std::fs::write(r.join("outside/d/x"), b"CANARY-x").unwrap();
        std::os::unix::fs::symlink("../outside", r.join("data/out")).unwrap();
        std::os::unix::fs::symlink(r.join("outside/secret"), r.join("data/abs")).unwrap();
        std::os::unix::fs::symlink("loop", r.join("data/loop")).unwrap();
        let mut grants = Grants::default();
        for (name, perms) in [("data", Perms::ReadWrite), ("ro", Perms::ReadOnly)] {
            let dir =
                cap_std::fs::Dir::open_ambient_dir(r.join(name), cap_std::ambient_authority())
                    .unwrap();
            let grant = Grant::local(dir, normalize_mount(name).unwrap(), perms);
            match quota {
                Some(q) if name == "data" => grants.push_with_quota(grant, q),
                _ => grants.push(grant),
            }
        }
        let fs = Fs::new(grants, Limits::default(), pool.clone());
        let (tree, shared) = snapshot(&r.join("data"));
        Case {
            outside: fingerprint(&r.join("outside")),
            ro: fingerprint(&r.join("ro")),
            model: Model { tree, shared },
            fs,
            held: Vec::new(),
            temp_dirs: Vec::new(),
            root,
            quota,
        }
    }

    fn data_dir(&self) -> PathBuf {
        self.root.path().join("data")
    }

    /// Run `op` for real.
    async fn run(&mut self, op: &Op) -> R<Out> {
        exec(&self.fs, op, &mut self.held, &mut self.temp_dirs).await
    }

    /// The model's prediction for `op` (and the model updated as if it succeeded), or
    /// `None` when the model cannot tell.
    fn predict(&self, op: &Op) -> Option<(R<Out>, Tree)> {
        if self.quota.is_some() {
            return None;
        }
        let m = &self.model;
        let mut tree = m.tree.clone();
        let busy = |p: &[String]| p.is_empty();
        let result: R<Out> = match op {
            Op::WriteFile(p, d, atomic) => {
                let p = m.plain(p)?;
                if busy(&p) {
                    Err(ErrorCode::IsDirectory)
                } else {
                    match m.walk(&p) {
                        Err(e) => Err(e),
                        Ok(Some(Node::Dir)) => Err(ErrorCode::IsDirectory),
                        Ok(_) if m.is_shared(&p) && !atomic => return None,
                        Ok(_) => {
                            tree.insert(p, Node::File(d.clone()));
                            Ok(Out::Unit)
                        }
                    }
                }
            }
            Op::ReadFile(p) | Op::OpenRead(p) => m.file(&m.plain(p)?).map(Out::Bytes),
            Op::Hold(p) => m.file(&m.plain(p)?).map(|_| Out::Unit),
            Op::OpenWrite(p, mode, d) => {
                let p = m.plain(p)?;
                if m.is_shared(&p) {
                    return None;
                }
                let existing = m.walk(&p);
                match (existing, *mode) {
                    _ if busy(&p) && *mode == "xb" => Err(ErrorCode::Exist),
                    _ if busy(&p) => Err(ErrorCode::IsDirectory),
                    (Ok(Some(_)), "xb") => Err(ErrorCode::Exist),
                    (Err(e), _) => Err(e),
                    (Ok(Some(Node::Dir)), _) => Err(ErrorCode::IsDirectory),
                    (Ok(None), "r+b") => Err(ErrorCode::NoEntry),
                    (Ok(node), mode) => {
                        let old = match node {
                            Some(Node::File(old)) => old.clone(),
                            _ => Vec::new(),
                        };
                        let new = match mode {
                            "ab" => [old, d.clone()].concat(),
                            "r+b" if old.len() > d.len() => {
                                [d.clone(), old[d.len()..].to_vec()].concat()
                            }
                            _ => d.clone(),
                        };
                        tree.insert(p, Node::File(new));
                        Ok(Out::Unit)
                    }
                }
            }
            Op::Truncate(p, n) => {
                let p = m.plain(p)?;
                if m.is_shared(&p) {
                    return None;
                }
                match m.file(&p) {
                    Err(e) => Err(e),
                    Ok(mut d) => {
                        d.resize(*n as usize, 0);
                        tree.insert(p, Node::File(d));
                        Ok(Out::Num(*n))
                    }
                }
            }
            Op::Mkdir(p) => {
                let p = m.plain(p)?;
                match m.walk(&p) {
                    _ if busy(&p) => Err(ErrorCode::Exist),
                    Err(e) => Err(e),
                    Ok(Some(_)) => Err(ErrorCode::Exist),
                    Ok(None) => {
                        tree.insert(p, Node::Dir);
                        Ok(Out::Unit)
                    }
                }
            }
            Op::Makedirs(p) => {
                let p = m.plain(p)?;
                match m.get(&p) {
                    Some(Node::Dir) => Ok(Out::Unit),
                    Some(_) => Err(ErrorCode::Exist),
                    None => {
                        // Every existing ancestor must be a directory, else cap-std's
                        // exact error is not modelled.
                        for i in 1..p.len() {
                            match m.get(&p[..i]) {
                                Some(Node::Dir) => {}
                                Some(_) => return None,
                                None => {
                                    tree.insert(p[..i].to_vec(), Node::Dir);
                                }
                            }
                        }
                        tree.insert(p, Node::Dir);
                        Ok(Out::Unit)
                    }
                }
            }
            Op::Remove(p) => {
                let p = m.plain(p)?;
                match m.walk(&p) {
                    _ if busy(&p) => Err(ErrorCode::Busy),
                    Err(e) => Err(e),
                    Ok(None) => Err(ErrorCode::NoEntry),
                    Ok(Some(Node::Dir)) => Err(ErrorCode::IsDirectory),
                    Ok(Some(_)) if m.is_shared(&p) => return None,
                    Ok(Some(_)) => {
                        tree.remove(&p);
                        Ok(Out::Unit)
                    }
                }
            }
            Op::Rmdir(p) => {
                let p = m.plain(p)?;
                match m.walk(&p) {
                    _ if busy(&p) => Err(ErrorCode::Busy),
                    Err(e) => Err(e),
                    Ok(None) => Err(ErrorCode::NoEntry),
                    Ok(Some(Node::Dir)) if !m.children(&p).is_empty() => Err(ErrorCode::NotEmpty),
                    Ok(Some(Node::Dir)) => {
                        tree.remove(&p);
                        Ok(Out::Unit)
                    }
                    Ok(Some(_)) => Err(ErrorCode::NotDirectory),
                }
            }
            Op::Rename(a, b) => {
                let (a, b) = (m.plain(a)?, m.plain(b)?);
                if busy(&a) || busy(&b) {
                    Err(ErrorCode::Busy)
                } else {
                    let (na, nb) = (m.walk(&a).ok()?, m.walk(&b).ok()?);
                    if m.is_shared(&a) || m.is_shared(&b) {
                        return None;
                    }
                    match (na, nb) {
                        (None, _) => Err(ErrorCode::NoEntry),
                        _ if a == b => Ok(Out::Unit),
                        (Some(Node::Dir), _) if b.starts_with(&a) => Err(ErrorCode::Invalid),
                        // Renaming onto an ancestor of the source (Linux checks this
                        // before the types).
                        _ if a.starts_with(&b) => Err(ErrorCode::NotEmpty),
                        (Some(Node::File(_)), Some(Node::Dir)) => Err(ErrorCode::IsDirectory),
                        (Some(Node::Dir), Some(Node::File(_))) => Err(ErrorCode::NotDirectory),
                        (Some(Node::Dir), Some(Node::Dir)) if !m.children(&b).is_empty() => {
                            Err(ErrorCode::NotEmpty)
                        }
                        _ => {
                            let mut next = Model {
                                tree: tree.clone(),
                                shared: Vec::new(),
                            };
                            next.move_subtree(&a, &b);
                            tree = next.tree;
                            Ok(Out::Unit)
                        }
                    }
                }
            }
            Op::Symlink(target, p) => {
                let p = m.plain(p)?;
                match m.walk(&p) {
                    _ if target.starts_with('/') => Err(ErrorCode::NotPermitted),
                    _ if busy(&p) => Err(ErrorCode::Exist),
                    Err(e) => Err(e),
                    Ok(Some(_)) => Err(ErrorCode::Exist),
                    Ok(None) => {
                        tree.insert(p, Node::Link(target.to_string()));
                        Ok(Out::Unit)
                    }
                }
            }
            Op::Copy(a, b) => {
                let (a, b) = (m.plain(a)?, m.plain(b)?);
                let src = if busy(&a) {
                    Err(ErrorCode::IsDirectory)
                } else {
                    m.file(&a)
                };
                match src {
                    Err(e) => Err(e),
                    Ok(_) if a == b => Err(ErrorCode::Invalid),
                    Ok(_) if m.is_shared(&b) || m.is_shared(&a) => return None,
                    Ok(d) => match m.walk(&b) {
                        _ if busy(&b) => Err(ErrorCode::IsDirectory),
                        Err(e) => Err(e),
                        Ok(Some(Node::Dir)) => Err(ErrorCode::IsDirectory),
                        Ok(_) => {
                            let n = d.len() as u64;
                            tree.insert(b, Node::File(d));
                            Ok(Out::Num(n))
                        }
                    },
                }
            }
            Op::RemoveTree(p) => {
                let p = m.plain(p)?;
                match m.walk(&p) {
                    _ if busy(&p) => Err(ErrorCode::Busy),
                    Err(e) => Err(e),
                    Ok(None) => Err(ErrorCode::NoEntry),
                    Ok(Some(Node::Dir)) => {
                        if m.shared.iter().any(|s| s.starts_with(&p)) {
                            return None;
                        }
                        let mut next = Model {
                            tree: tree.clone(),
                            shared: Vec::new(),
                        };
                        next.remove_subtree(&p);
                        tree = next.tree;
                        Ok(Out::Unit)
                    }
                    Ok(Some(_)) => Err(ErrorCode::NotDirectory),
                }
            }
            Op::Listdir(p) => {
                let p = m.plain(p)?;
                match m.walk(&p) {
                    Err(e) => Err(e),
                    Ok(None) => Err(ErrorCode::NoEntry),
                    Ok(Some(Node::Dir)) => {
                        let mut names = m.children(&p);
                        names.sort();
                        Ok(Out::Names(names))
                    }
                    Ok(Some(_)) => Err(ErrorCode::NotDirectory),
                }
            }
            Op::Stat(p) => {
                let p = m.plain(p)?;
                match m.walk(&p) {
                    Err(e) => Err(e),
                    Ok(None) => Err(ErrorCode::NoEntry),
                    Ok(Some(Node::Dir)) => Ok(Out::Kind("dir", 0)),
                    Ok(Some(Node::File(d))) => Ok(Out::Kind("file", d.len() as u64)),
                    Ok(Some(Node::Link(_))) => unreachable!(),
                }
            }
            Op::Exists(p) => {
                let p = m.plain(p)?;
                Ok(Out::Bool(matches!(m.walk(&p), Ok(Some(_)))))
            }
            // Random names, links (aliasing), link contents: resynchronise.
            Op::Link(..)
            | Op::Readlink(_)
            | Op::TempFile(_)
            | Op::NamedTemp(..)
            | Op::TempDir(_)
            | Op::Release => {
                return None;
            }
        };
        if result.is_err() {
            tree = m.tree.clone();
        }
        Some((result, tree))
    }

    /// Check the invariants after `op` gave `got`; update the model.
    fn check(
        &mut self,
        op: &Op,
        got: &R<Out>,
        predicted: Option<(R<Out>, Tree)>,
    ) -> Result<(), TestCaseError> {
        let r = self.root.path();
        prop_assert_eq!(
            &fingerprint(&r.join("outside")),
            &self.outside,
            "outside changed after {:?}",
            op
        );
        prop_assert_eq!(
            &fingerprint(&r.join("ro")),
            &self.ro,
            "read-only grant changed after {:?}",
            op
        );
        prop_assert_ne!(
            got,
            &Err(ErrorCode::Io),
            "{:?} failed with io (a panic?)",
            op
        );
        match got {
            Ok(Out::Bytes(b)) => prop_assert!(!contains(b, CANARY), "{:?} read a canary", op),
            Ok(Out::Names(n)) => prop_assert!(
                !n.iter().any(|n| n == "secret" || n == "d"),
                "{:?} listed outside: {:?}",
                op,
                n
            ),
            _ => {}
        }
        for p in op_paths(op) {
            // (A predicate may answer `false`: `b/../..` with `b` a file stops at `b`.)
            if escapes_lexically(p) {
                prop_assert!(
                    matches!(got, Err(_) | Ok(Out::Bool(false))),
                    "{:?} escapes by spelling yet succeeded",
                    op
                );
            }
        }
        let (disk, shared) = snapshot(&self.data_dir());
        if let Some(q) = self.quota {
            let used = &self.fs.grant_usage()[0];
            let within = |used: u64, max: Option<u64>| max.is_none_or(|m| used <= m);
            prop_assert!(
                within(used.bytes_written, q.max_bytes_written),
                "{:?} {:?}",
                used,
                q
            );
            prop_assert!(
                within(used.bytes_read, q.max_bytes_read),
                "{:?} {:?}",
                used,
                q
            );
            prop_assert!(within(used.created, q.max_created), "{:?} {:?}", used, q);
            for (path, node) in &disk {
                if let Node::File(d) = node {
                    prop_assert!(
                        within(d.len() as u64, q.max_file_size),
                        "{:?} is {} bytes after {:?}",
                        path,
                        d.len(),
                        op
                    );
                }
            }
        }
        if let Some((want, tree)) = predicted {
            prop_assert_eq!(got, &want, "{:?}: result differs from the model", op);
            prop_assert_eq!(&disk, &tree, "{:?}: the tree differs from the model", op);
        }
        self.model = Model { tree: disk, shared };
        Ok(())
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn temp_in(dir: &str) -> TempOptions {
    TempOptions {
        dir: Some(dir.to_string()),
        prefix: Some("t".into()),
        suffix: None,
    }
}

/// Run `op` for real on `fs`; handles it keeps go to `held` and `temp_dirs`.
async fn exec(fs: &Fs, op: &Op, held: &mut Vec<File>, temp_dirs: &mut Vec<TempDir>) -> R<Out> {
    let s = |p: &String| p.clone();

    Ok(match op {
        Op::WriteFile(p, d, atomic) => {
            fs.write_file(s(p), d.clone(), *atomic).await?;
            Out::Unit
        }
        Op::ReadFile(p) => Out::Bytes(fs.read_file(s(p), 1 << 20).await?),
        Op::OpenWrite(p, mode, d) => {
            let f = fs.open(s(p), mode).await?;
            f.write(d.clone()).await?;
            f.close().await?;
            Out::Unit
        }
        Op::OpenRead(p) => {
            let f = fs.open(s(p), "rb").await?;
            Out::Bytes(f.read_all().await?)
        }
        Op::Truncate(p, n) => {
            let f = fs.open(s(p), "r+b").await?;
            Out::Num(f.truncate(Some(*n)).await?)
        }
        Op::Hold(p) => {
            let f = fs.open(s(p), "rb").await?;
            if held.len() >= 4 {
                held.remove(0);
            }
            held.push(f);
            Out::Unit
        }
        Op::Release => {
            held.clear();
            temp_dirs.clear();
            Out::Unit
        }
        Op::Mkdir(p) => {
            fs.mkdir(s(p)).await?;
            Out::Unit
        }
        Op::Makedirs(p) => {
            fs.makedirs(s(p), true).await?;
            Out::Unit
        }
        Op::Remove(p) => {
            fs.remove_file(s(p)).await?;
            Out::Unit
        }
        Op::Rmdir(p) => {
            fs.rmdir(s(p)).await?;
            Out::Unit
        }
        Op::Rename(a, b) => {
            fs.rename(s(a), s(b)).await?;
            Out::Unit
        }
        Op::Link(a, b) => {
            fs.link(s(a), s(b)).await?;
            Out::Unit
        }
        Op::Symlink(t, p) => {
            fs.symlink(t.to_string(), s(p)).await?;
            Out::Unit
        }
        Op::Readlink(p) => Out::Text(fs.readlink(s(p)).await?),
        Op::Copy(a, b) => Out::Num(fs.copy_file(s(a), s(b)).await?),
        Op::RemoveTree(p) => {
            fs.remove_tree(s(p)).await?;
            Out::Unit
        }
        Op::Listdir(p) => {
            let mut names = fs.listdir(s(p)).await?;
            names.sort();
            Out::Names(names)
        }
        Op::Stat(p) => {
            let st = fs.stat(s(p), true).await?;
            let kind = match st.file_type {
                aiofs_host::fs::FileType::Directory => "dir",
                aiofs_host::fs::FileType::RegularFile => "file",
                _ => "other",
            };
            Out::Kind(kind, if kind == "file" { st.size } else { 0 })
        }
        Op::Exists(p) => Out::Bool(fs.exists(s(p)).await?),
        Op::TempFile(d) => {
            let f = fs.temporary_file(String::new(), temp_in(d)).await?;
            f.write(b"temp".to_vec()).await?;
            held.push(f);
            Out::Unit
        }
        Op::NamedTemp(d, delete) => {
            let f = fs
                .named_temporary_file(String::new(), temp_in(d), *delete)
                .await?;
            held.push(f);
            Out::Unit
        }
        Op::TempDir(d) => {
            let t = fs.temporary_directory(temp_in(d)).await?;
            temp_dirs.push(t);
            Out::Unit
        }
    })
}

fn op_paths(op: &Op) -> Vec<&String> {
    match op {
        Op::WriteFile(p, ..)
        | Op::ReadFile(p)
        | Op::OpenWrite(p, ..)
        | Op::OpenRead(p)
        | Op::Truncate(p, _)
        | Op::Hold(p)
        | Op::Mkdir(p)
        | Op::Makedirs(p)
        | Op::Remove(p)
        | Op::Rmdir(p)
        | Op::Symlink(_, p)
        | Op::Readlink(p)
        | Op::RemoveTree(p)
        | Op::Listdir(p)
        | Op::Stat(p)
        | Op::Exists(p)
        | Op::TempFile(p)
        | Op::NamedTemp(p, _)
        | Op::TempDir(p) => vec![p],
        Op::Rename(a, b) | Op::Link(a, b) | Op::Copy(a, b) => vec![a, b],
        Op::Release => vec![],
    }
}

/// The fuzz tests count the process's descriptors: they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn fuzz_fs_against_model() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256);
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    // One thread: a job queued after a drop's deferred close runs after it, so one no-op
    // job drains everything.
    let pool = Pool::new(1);
    let baseline = open_fds();
    let (ops_run, predicted_ops) = (Cell::new(0usize), Cell::new(0usize));
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(op(), 1..40),
        prop::option::weighted(0.25, quota()),
    );
    let result = runner.run(&strategy, |(ops, quota)| {
        rt.block_on(async {
            let mut case = Case::new(&pool, quota);
            for op in &ops {
                let predicted = case.predict(op);
                predicted_ops.set(predicted_ops.get() + usize::from(predicted.is_some()));
                ops_run.set(ops_run.get() + 1);
                let got = case.run(op).await;
                // Deferred closes and removals (dropped handles) land before the check.
                pool.run_for(case.fs.tenant(), || ()).await.unwrap();
                case.check(op, &got, predicted)?;
            }
            let fs = case.fs.clone();
            drop(case);
            pool.run_for(fs.tenant(), || ()).await.unwrap();
            prop_assert_eq!(fs.open_files(), 0);
            prop_assert_eq!(fs.pending_ops(), 0);
            drop(fs);
            prop_assert_eq!(open_fds(), baseline, "descriptors leaked");
            Ok(())
        })
    });
    println!(
        "fuzz: {cases} cases, {} operations, {} predicted by the model",
        ops_run.get(),
        predicted_ops.get()
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Operations run several at a time (on a four-thread pool), with random budgets a third
/// of the time: no model can say what a race gives, so this checks what must hold
/// whatever the interleaving: nothing outside or in the read-only grant changes, nothing
/// escapes, no operation fails with `io` (a panic), no budget or `max_file_size` is
/// overshot, and afterwards every slot, byte of the memory budget and descriptor is back.
#[test]
fn fuzz_concurrent() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .map_or(64, |n| (n / 4).max(1));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let pool = Pool::new(4);
    let baseline = open_fds();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        prop::collection::vec(prop::collection::vec(op(), 2..8), 1..8),
        prop::option::weighted(0.33, quota()),
    );
    let idle = |fs: &Fs| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let st = fs.pool().stats();
            if st.running == 0 && st.queued == 0 && fs.pending_ops() == 0 {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the pool never went idle"
            );
            std::thread::yield_now();
        }
    };
    let result = runner.run(&strategy, |(batches, quota)| {
        rt.block_on(async {
            let mut case = Case::new(&pool, quota);
            for batch in &batches {
                let fs = case.fs.clone();
                let runs = batch.iter().map(|op| {
                    let fs = fs.clone();
                    async move {
                        let (mut held, mut temps) = (Vec::new(), Vec::new());
                        exec(&fs, op, &mut held, &mut temps).await
                    }
                });
                let results = futures::future::join_all(runs).await;
                idle(&fs);
                for (op, got) in batch.iter().zip(&results) {
                    case.check(op, got, None)?;
                }
                prop_assert_eq!(fs.held_bytes(), 0, "memory budget not given back");
            }
            let fs = case.fs.clone();
            drop(case);
            idle(&fs);
            prop_assert_eq!(fs.open_files(), 0);
            prop_assert_eq!(fs.pending_ops(), 0);
            prop_assert_eq!(fs.held_bytes(), 0);
            drop(fs);
            prop_assert_eq!(open_fds(), baseline, "descriptors leaked");
            Ok(())
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
