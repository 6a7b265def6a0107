//! Directory grants and guest-path resolution.

use crate::error::{ErrorCode, FsResult};
use crate::limits::{GrantQuota, GrantUsage};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

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

    /// `read-only` or `read-write`, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Perms::ReadOnly => "read-only",
            Perms::ReadWrite => "read-write",
        }
    }
}

/// Where a granted directory is on the host, for [`Grants::check_overlap`].
#[derive(Debug)]
struct HostId {
    /// Real path, where the OS tells it.
    path: Option<PathBuf>,
    dev_ino: Option<(u64, u64)>,
}

impl HostId {
    fn of(dir: &cap_std::fs::Dir) -> HostId {
        use cap_std::fs::MetadataExt;
        use std::os::fd::AsRawFd;
        let path = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd())).ok();
        let dev_ino = dir.dir_metadata().ok().map(|m| (m.dev(), m.ino()));
        HostId { path, dev_ino }
    }

    /// The same directory, or one inside the other.
    fn overlaps(&self, other: &HostId) -> bool {
        if self.dev_ino.is_some() && self.dev_ino == other.dev_ino {
            return true;
        }
        match (&self.path, &other.path) {
            (Some(a), Some(b)) => a.starts_with(b) || b.starts_with(a),
            _ => false,
        }
    }
}

/// Where a grant's files live.
#[derive(Debug, Clone)]
pub enum Store {
    /// A host directory; every path under the mount resolves beneath it via cap-std.
    Local(Arc<cap_std::fs::Dir>),
    /// A prefix of an object store (see [`crate::object`]); paths become keys lexically.
    #[cfg(feature = "object")]
    Object(Arc<crate::object::ObjectStore>),
}

/// One directory mounted into the guest's path space.
#[derive(Debug)]
pub struct Grant {
    /// The granted directory or object-store prefix.
    pub store: Store,
    /// Normalised absolute guest mount path (`/`, `/data`, `/data/sub`; no trailing slash).
    pub guest_path: String,
    /// What the grant allows.
    pub perms: Perms,
}

impl Store {
    /// Whether the two could reach the same files: the same or nested host directories,
    /// or the same or nested prefixes of one bucket. A directory and a prefix never do.
    fn overlaps(&self, other: &Store) -> bool {
        match (self, other) {
            (Store::Local(a), Store::Local(b)) => HostId::of(a).overlaps(&HostId::of(b)),
            #[cfg(feature = "object")]
            (Store::Object(a), Store::Object(b)) => a.overlaps(b),
            #[cfg(feature = "object")]
            _ => false,
        }
    }
}

impl Grant {
    /// A grant of a host directory.
    pub fn local(dir: cap_std::fs::Dir, guest_path: String, perms: Perms) -> Grant {
        Grant {
            store: Store::Local(Arc::new(dir)),
            guest_path,
            perms,
        }
    }

    /// The granted host directory; `unsupported` for a grant that is not a directory (an
    /// operation with no meaning on an object store).
    pub fn dir(&self) -> FsResult<&Arc<cap_std::fs::Dir>> {
        match &self.store {
            Store::Local(dir) => Ok(dir),
            #[cfg(feature = "object")]
            Store::Object(_) => Err(ErrorCode::Unsupported),
        }
    }

    /// The real path of the granted host directory, where the OS tells it (`None` for an
    /// object-store grant, or where `/proc/self/fd` cannot say).
    pub fn host_path(&self) -> Option<PathBuf> {
        match &self.store {
            Store::Local(dir) => HostId::of(dir).path,
            #[cfg(feature = "object")]
            Store::Object(_) => None,
        }
    }

    /// The object store, for a grant on one.
    #[cfg(feature = "object")]
    pub(crate) fn object(&self) -> Option<&Arc<crate::object::ObjectStore>> {
        match &self.store {
            Store::Object(o) => Some(o),
            Store::Local(_) => None,
        }
    }
}

/// A guest path resolved to a grant and a path relative to the grant's directory.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The grant the path falls under.
    pub grant: Arc<Grant>,
    /// That grant's budgets.
    pub budget: Arc<Budget>,
    /// The rest of the path, relative (never absolute); `.` for the mount point itself.
    /// May still contain `..` or lead through symlinks: cap-std decides.
    pub rel: PathBuf,
}

/// The ordered set of grants of one store.
#[derive(Debug, Clone, Default)]
pub struct Grants {
    grants: Vec<Arc<Grant>>,
    /// The budgets of `grants`, index for index.
    budgets: Vec<Arc<Budget>>,
}

impl Grants {
    /// Add a grant without budgets (order matters: the first is where relative paths
    /// resolve).
    pub fn push(&mut self, grant: Grant) {
        self.push_with_quota(grant, GrantQuota::UNLIMITED);
    }

    /// Check that `grant` (with `quota`) composes with the grants already added: two
    /// grants whose host directories are the same or nested must have the same permission
    /// and no quotas. Otherwise the guest could reach the inner directory through the
    /// outer grant (by `..`, a symlink, a hard link or a rename) and bypass the inner
    /// grant's permission or budgets, which no path check can fully prevent; so such a
    /// set of grants is refused when the context is built.
    ///
    /// Object grants are compared by service, bucket and prefix (component-wise).
    /// Host directories are compared by their real path (`/proc/self/fd`); where that is
    /// unavailable, by device and inode (catching only the same directory twice). Bind
    /// mounts and hard links the host made itself are not detected.
    ///
    /// A guest path is granted once: a second grant at the same mount path is refused too.
    ///
    /// # Errors
    /// `InvalidInput`, naming both grants (or the mount path granted twice).
    pub fn check_overlap(&self, grant: &Grant, quota: &GrantQuota) -> std::io::Result<()> {
        for (other, budget) in self.grants.iter().zip(&self.budgets) {
            // One guest path, two grants: aiofs would resolve it to the first and a wasi
            // program would see two preopens of one name.
            if other.guest_path == grant.guest_path {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!("guest path {} is granted twice", grant.guest_path),
                ));
            }
            let compatible = other.perms == grant.perms
                && *quota == GrantQuota::UNLIMITED
                && *budget.quota() == GrantQuota::UNLIMITED;
            if !compatible && grant.store.overlaps(&other.store) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "grant {} ({}) overlaps grant {} ({}) on the host; grants over the \
                         same or nested host directories must have the same permission and \
                         no quotas",
                        grant.guest_path,
                        grant.perms.describe(),
                        other.guest_path,
                        other.perms.describe(),
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Add a grant with budgets.
    pub fn push_with_quota(&mut self, grant: Grant, quota: GrantQuota) {
        let cached = matches!(&grant.store, Store::Local(dir) if crate::fs::cached::local_fs(dir));
        self.grants.push(Arc::new(grant));
        self.budgets
            .push(Arc::new(Budget::new(quota).with_cached_io(cached)));
    }

    /// One grant that shares an existing budget: the view of a directory opened beneath
    /// a grant (`Fs::open_at`), whose relative paths resolve beneath `grant.dir` and whose
    /// work is paid from the budget of the grant it was opened under.
    pub fn single(grant: Arc<Grant>, budget: Arc<Budget>) -> Grants {
        Grants {
            grants: vec![grant],
            budgets: vec![budget],
        }
    }

    /// All grants in order.
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Grant>> {
        self.grants.iter()
    }

    /// All grants in order, with their budgets.
    pub fn iter_with_budgets(&self) -> impl Iterator<Item = (&Arc<Grant>, &Arc<Budget>)> {
        self.grants.iter().zip(&self.budgets)
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
        let (index, skip) = if path.starts_with('/') {
            let mut best: Option<(usize, usize)> = None;
            for (index, grant) in self.grants.iter().enumerate() {
                let mut path_comps = comps();
                let mut n = 0;
                let is_prefix = mount_components(&grant.guest_path).all(|m| {
                    n += 1;
                    path_comps.next() == Some(m)
                });
                if is_prefix {
                    // Longest mount wins; on a tie (the same mount twice) the first does.
                    if best.is_none_or(|(_, b)| n > b) {
                        best = Some((index, n));
                    }
                }
            }
            best.ok_or(ErrorCode::NotPermitted)?
        } else if self.grants.is_empty() {
            return Err(ErrorCode::NotPermitted);
        } else {
            (0, 0)
        };
        let mut rel = comps().skip(skip).collect::<Vec<_>>().join("/");
        if rel.is_empty() {
            rel.push('.');
        } else if path.ends_with('/') || path.ends_with("/.") {
            // A trailing slash (or `/.`) demands a directory: cap-std sees it too.
            rel.push('/');
        }
        Ok(Resolved {
            grant: self.grants[index].clone(),
            budget: self.budgets[index].clone(),
            rel: PathBuf::from(rel),
        })
    }
}

/// The live budgets of one grant: its [`GrantQuota`] and atomic usage counters, shared by
/// every operation and open file under the grant.
#[derive(Debug, Default)]
pub struct Budget {
    quota: GrantQuota,
    written: AtomicU64,
    read: AtomicU64,
    created: AtomicU64,
    /// What the grant's operations did (`written` and `read` are its byte counts).
    stats: crate::obs::GrantCounters,
    /// Whether the grant's small operations may first try the kernel's caches on the
    /// caller's thread (a host directory on a local filesystem; see `fs::cached`).
    cached_io: bool,
}

/// Which counter of a [`Budget`] a [`Lease`] was taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Counter {
    Written,
    Read,
    Created,
}

impl Budget {
    /// Budgets with nothing used yet.
    pub fn new(quota: GrantQuota) -> Budget {
        Budget {
            quota,
            ..Budget::default()
        }
    }

    /// These budgets, for a grant whose small operations may try the kernel's caches first.
    fn with_cached_io(mut self, on: bool) -> Budget {
        self.cached_io = on;
        self
    }

    /// Whether the grant's small operations may try the kernel's caches first.
    pub(crate) fn cached_io(&self) -> bool {
        self.cached_io
    }

    /// The grant's operation counters.
    pub(crate) fn counters(&self) -> &crate::obs::GrantCounters {
        &self.stats
    }

    /// The budgets.
    pub fn quota(&self) -> &GrantQuota {
        &self.quota
    }

    /// What was used so far, labelled with `guest_path`.
    pub fn usage(&self, guest_path: &str) -> GrantUsage {
        GrantUsage {
            guest_path: guest_path.to_owned(),
            bytes_written: self.written.load(Ordering::Acquire),
            bytes_read: self.read.load(Ordering::Acquire),
            created: self.created.load(Ordering::Acquire),
        }
    }

    fn counter(&self, which: Counter) -> (&AtomicU64, Option<u64>) {
        match which {
            Counter::Written => (&self.written, self.quota.max_bytes_written),
            Counter::Read => (&self.read, self.quota.max_bytes_read),
            Counter::Created => (&self.created, self.quota.max_created),
        }
    }

    /// Take `want` units, or (unless `exact`) what is left if that is less; `quota` when
    /// nothing fits (an exact request that does not fit takes nothing).
    fn take(self: &Arc<Self>, which: Counter, want: u64, exact: bool) -> FsResult<Lease> {
        let (counter, max) = self.counter(which);
        let taken = match max {
            // Nothing to protect: count only what is used, when it is settled.
            None => {
                return Ok(Lease {
                    budget: self.clone(),
                    which,
                    granted: want,
                    charged: 0,
                });
            }
            Some(max) => {
                let mut taken = 0;
                counter
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                        let left = max.saturating_sub(used);
                        taken = if exact { want } else { want.min(left) };
                        (taken <= left && (taken > 0 || want == 0)).then_some(used + taken)
                    })
                    .map_err(|_| ErrorCode::Quota)?;
                taken
            }
        };
        Ok(Lease {
            budget: self.clone(),
            which,
            granted: taken,
            charged: taken,
        })
    }

    /// `file-too-large` if a file of `size` bytes exceeds `max_file_size`.
    pub(crate) fn check_size(&self, size: u64) -> FsResult<()> {
        match self.quota.max_file_size {
            Some(max) if size > max => Err(ErrorCode::FileTooLarge),
            _ => Ok(()),
        }
    }

    /// Whether `max_created` is set (only then are creations told apart and counted).
    pub(crate) fn limits_creates(&self) -> bool {
        self.quota.max_created.is_some()
    }

    /// A cheap early refusal before anything is queued: `file-too-large` when `len`
    /// bytes alone exceed `max_file_size`, `quota` when fewer than `len` bytes of the
    /// write budget are left. The authoritative check is [`Budget::write`].
    pub(crate) fn precheck_write(&self, len: u64) -> FsResult<()> {
        self.check_size(len)?;
        match self.quota.max_bytes_written {
            Some(max) if self.written.load(Ordering::Acquire).saturating_add(len) > max => {
                Err(ErrorCode::Quota)
            }
            _ => Ok(()),
        }
    }

    /// A cheap early refusal: `quota` if nothing is left of `counter`'s budget.
    fn precheck(&self, which: Counter) -> FsResult<()> {
        let (counter, max) = self.counter(which);
        match max {
            Some(max) if counter.load(Ordering::Acquire) >= max => Err(ErrorCode::Quota),
            _ => Ok(()),
        }
    }

    /// Early refusal of a read when the read budget is spent.
    pub(crate) fn precheck_read(&self) -> FsResult<()> {
        self.precheck(Counter::Read)
    }

    /// Early refusal of an operation that always creates something.
    pub(crate) fn precheck_create(&self) -> FsResult<()> {
        self.precheck(Counter::Created)
    }

    /// Take `len` bytes of the write budget, all or nothing.
    pub(crate) fn write(self: &Arc<Self>, len: u64) -> FsResult<Lease> {
        self.take(Counter::Written, len, true)
    }

    /// Take `len` bytes of the read budget, all or nothing.
    pub(crate) fn read_exact(self: &Arc<Self>, len: u64) -> FsResult<Lease> {
        self.take(Counter::Read, len, true)
    }

    /// Take up to `len` bytes of the read budget (what is left, if less).
    pub(crate) fn read_up_to(self: &Arc<Self>, len: u64) -> FsResult<Lease> {
        self.take(Counter::Read, len, false)
    }

    /// Take `n` creations, all or nothing (nothing is counted while `max_created` is
    /// unset).
    pub(crate) fn create(self: &Arc<Self>, n: u64) -> FsResult<Lease> {
        if !self.limits_creates() {
            return Ok(Lease {
                budget: self.clone(),
                which: Counter::Created,
                granted: 0,
                charged: 0,
            });
        }
        self.take(Counter::Created, n, true)
    }
}

/// Units taken from one budget counter before the work they pay for. Dropped without
/// [`settle`](Lease::settle) (the work failed, or was cancelled before it ran), they are
/// given back.
#[derive(Debug)]
pub(crate) struct Lease {
    budget: Arc<Budget>,
    which: Counter,
    /// Units the work may use.
    granted: u64,
    /// Units already added to the counter (0 for an unlimited counter, which is only
    /// told what was used).
    charged: u64,
}

impl Lease {
    /// Units the work may use.
    pub(crate) fn taken(&self) -> u64 {
        self.granted
    }

    /// The work used `used` units: give back what is left over, or count the excess
    /// (a text read may finish a character, a file grew while being copied: never more
    /// than a few bytes past what was taken).
    pub(crate) fn settle(mut self, used: u64) {
        let (counter, _) = self.budget.counter(self.which);
        match used.cmp(&self.charged) {
            std::cmp::Ordering::Less => {
                counter.fetch_sub(self.charged - used, Ordering::AcqRel);
            }
            std::cmp::Ordering::Greater => {
                counter.fetch_add(used - self.charged, Ordering::AcqRel);
            }
            std::cmp::Ordering::Equal => {}
        }
        match self.which {
            Counter::Read => self.budget.stats.settled(true, used),
            Counter::Written => self.budget.stats.settled(false, used),
            Counter::Created => {}
        }
        self.charged = 0;
    }

    /// The work used everything granted.
    pub(crate) fn keep(self) {
        let granted = self.granted;
        self.settle(granted);
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.charged > 0 {
            let (counter, _) = self.budget.counter(self.which);
            counter.fetch_sub(self.charged, Ordering::AcqRel);
        }
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
                store: crate::grant::Store::Local(Arc::new(dir)),
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
            ("/data/x/.", "/data", "x/"),
            ("/data/x/./.", "/data", "x/"),
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
        let err = r.grant.dir().unwrap().open(&r.rel).unwrap_err();
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
