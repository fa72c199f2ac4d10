//! cgroup v2 containment: one cgroup per service, so that no process of a
//! service escapes it (a `setsid`, a double fork).
//!
//! At start going finds its own cgroup (`0::PATH` in /proc/self/cgroup)
//! under the cgroup2 mount (/proc/self/mountinfo). If it can, it makes a
//! subtree of its own there, named after its run directory
//! (`going@run-going` for /run/going: only one going at a time holds a run
//! directory, so two goings in one cgroup never share a subtree, and the
//! next going on the same run directory finds what the last one left). It
//! moves itself into the leaf `going` of that subtree (the "no internal
//! processes" rule: the manager lives in a child, as systemd's delegation
//! asks) and keeps each service in `services/NAME`. Anything else found in
//! the subtree at start is a dead going's (its leaf holds only going) and
//! is killed. A going without
//! a run directory of its own names its subtree after its pid. Where
//! cgroups cannot be had, going says why once (and in the run directory's
//! `.going`, which goingctl shows) and services are tracked by process
//! group as before.
//!
//! A service's process is forked straight into its cgroup (clone3 with
//! CLONE_INTO_CGROUP), so that not even its first fork escapes, and no
//! migration is paid for. cgroups are used from Linux 5.14 on (it has
//! `cgroup.kill`; CLONE_INTO_CGROUP came in 5.7).
//!
//! A stop signals every process listed in the cgroup; SIGKILL is
//! `cgroup.kill`. The cgroup is empty when `cgroup.events` says
//! `populated 0`, looked at after each reap: every process of a service is
//! a descendant of going, and going is a child subreaper, so the last exit
//! is always a reap going sees.
//!
//! A cgroup that `cgroup.kill` was written to is not forked into again:
//! the kernel measured here (6.18) kills every child later cloned into it
//! with CLONE_INTO_CGROUP. It is removed and made anew before its service's
//! next start (it is empty then: a service starts again only once its
//! cgroup is). What a dead going left is killed pid by pid instead, so that
//! the cgroup can be forked into at once.

use crate::log::{Logger, Severity, describe};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};

/// The leaf going moves itself into, in its subtree.
pub const MANAGER: &str = "going";
/// The cgroup that holds one child per service, in going's subtree.
pub const SERVICES: &str = "services";

/// The name of going's subtree: `going@` and its run directory's path escaped as
/// systemd-escape(1) escapes a path (`/run/going` gives `going@run-going`), so that
/// two paths never give one name; without a run directory of its own, `going@pid-N`.
pub fn subtree_name(run_dir: Option<&str>) -> String {
    let Some(path) = run_dir else {
        return format!("going@pid-{}", rustix::process::getpid().as_raw_nonzero());
    };
    // A relative path names a different directory from another working directory.
    let path = match path.starts_with('/') {
        true => path.into(),
        false => {
            let cwd = rustix::process::getcwd(Vec::new()).map(|cwd| cwd.to_string_lossy().into_owned());
            format!("{}/{path}", cwd.unwrap_or_default())
        }
    };
    let mut name = String::from("going@");
    for (index, byte) in path.trim_matches('/').bytes().enumerate() {
        match byte {
            b'/' => name.push('-'),
            b'.' if index == 0 => name.push_str("\\x2e"),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'.' | b':' => name.push(byte as char),
            other => name.push_str(&format!("\\x{other:02x}")),
        }
    }
    name
}

/// going's cgroups, when it could set them up.
pub struct Cgroups {
    /// going's own cgroup, as found at start.
    own: OwnedFd,
    /// Its subtree in that cgroup, and the subtree's name.
    subtree: OwnedFd,
    subtree_name: String,
    services: OwnedFd,
    /// The services cgroup's path, for status files and goingctl.
    services_path: String,
}

/// One service's cgroup, open while going uses it: 10,000 services must not
/// hold 10,000 descriptors (every fork copies the table).
pub struct ServiceCgroup {
    /// What its processes are forked into.
    dir: OwnedFd,
}

const DIRECTORY: OFlags = OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::CLOEXEC).union(OFlags::NOFOLLOW);

/// A cgroup file: `cgroup.procs` of a cgroup with 100,000 processes is under a megabyte.
const MAX_CGROUP_FILE: usize = 1 << 20;

fn read_small(dir: impl AsFd, name: &str) -> Result<String, Errno> {
    let file = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())?;
    let text = crate::trust::read_limited(&file, MAX_CGROUP_FILE)?;
    Ok(String::from_utf8_lossy(&text).into_owned())
}

fn write_small(dir: impl AsFd, name: &str, text: &str) -> Result<(), Errno> {
    let file = rustix::fs::openat(dir, name, OFlags::WRONLY | OFlags::CLOEXEC, Mode::empty())?;
    rustix::io::write(&file, text.as_bytes()).map(drop)
}

/// The cgroup2 mount point, from the text of /proc/self/mountinfo.
pub fn cgroup2_mount(mountinfo: &str) -> Option<&str> {
    mountinfo.lines().find_map(|line| {
        let (mount, filesystem) = line.split_once(" - ")?;
        (filesystem.split(' ').next()? == "cgroup2").then(|| mount.split(' ').nth(4))?
    })
}

/// The cgroup2 path of a process, from the text of /proc/PID/cgroup.
pub fn own_cgroup(cgroup: &str) -> Option<&str> {
    cgroup.lines().find_map(|line| line.strip_prefix("0::"))
}

/// The pids listed in a `cgroup.procs` text.
fn pids_in(text: &str) -> impl Iterator<Item = Pid> + '_ {
    text.lines().filter_map(|line| Pid::from_raw(line.trim().parse().ok()?))
}

impl Cgroups {
    /// Sets up going's cgroups in the subtree `subtree` ([`subtree_name`]), or says in one
    /// log line why services are tracked by process group; either way, returns that line.
    pub fn set_up(subtree: &str, logger: &mut Logger) -> (Option<Cgroups>, String) {
        match Cgroups::try_set_up(subtree, logger) {
            Ok(cgroups) => {
                let said = format!("each service in its own cgroup under {}", cgroups.services_path);
                logger.log(Severity::Info, format_args!("cgroups: {said}"));
                (Some(cgroups), said)
            }
            Err(why) => {
                let said = format!("services are tracked by process group (cgroups: {why})");
                logger.log(Severity::Notice, format_args!("cgroups: {why}; services are tracked by process group"));
                (None, said)
            }
        }
    }

    fn try_set_up(subtree_name: &str, logger: &mut Logger) -> Result<Cgroups, String> {
        let read =
            |path: &str| read_small(rustix::fs::CWD, path).map_err(|error| format!("cannot read {path}: {error}"));
        let mountinfo = read("/proc/self/mountinfo")?;
        let mount = cgroup2_mount(&mountinfo).ok_or("no cgroup2 hierarchy is mounted")?;
        let own_path = read("/proc/self/cgroup")?;
        let own_path = own_cgroup(&own_path).ok_or("going is in no cgroup2 cgroup")?;
        let own_path = format!("{mount}{}", own_path.trim_end().trim_end_matches('/'));
        let own = rustix::fs::open(own_path.as_str(), DIRECTORY, Mode::empty())
            .map_err(|error| format!("cannot open {own_path}: {}", describe(error)))?;
        let make = |parent: &OwnedFd, name: &str| match rustix::fs::mkdirat(parent, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => rustix::fs::openat(parent, name, DIRECTORY, Mode::empty()),
            Err(error) => Err(error),
        };
        let cannot = |what: &str, error: Errno| match error {
            Errno::ROFS => format!("{own_path} is read-only"),
            error => format!("cannot {what} in {own_path}: {}", describe(error)),
        };
        let subtree = make(&own, subtree_name).map_err(|error| cannot("create a cgroup", error))?;
        if rustix::fs::accessat(&subtree, "cgroup.kill", rustix::fs::Access::EXISTS, AtFlags::empty()).is_err() {
            return Err("this kernel has no cgroup.kill (Linux 5.14)".into());
        }
        let manager = make(&subtree, MANAGER).map_err(|error| cannot("create a cgroup", error))?;
        // No other going uses this subtree: whatever is in its leaf was left by a dead one.
        let strays = kill_each(&manager);
        if strays > 0 {
            let strays = crate::log::processes(strays);
            logger.log(Severity::Warning, format_args!("cgroups: killed {strays} a previous going left in its own"));
        }
        write_small(&manager, "cgroup.procs", "0").map_err(|error| cannot("move going into its cgroup", error))?;
        let services = make(&subtree, SERVICES).map_err(|error| cannot("create a cgroup", error))?;
        let services_path = format!("{own_path}/{subtree_name}/{SERVICES}");
        let subtree_name = subtree_name.into();
        let cgroups = Cgroups { own, subtree, subtree_name, services, services_path };
        cgroups.kill_leftovers(logger);
        Ok(cgroups)
    }

    /// The names of the cgroups in `services/`.
    fn child_cgroups(&self) -> Vec<String> {
        let Ok(entries) = rustix::fs::Dir::read_from(&self.services) else { return Vec::new() };
        entries
            .filter_map(|entry| entry.ok())
            .filter(|entry| entry.file_type() == rustix::fs::FileType::Directory)
            .filter_map(|entry| entry.file_name().to_str().ok().map(String::from))
            .filter(|name| name != "." && name != "..")
            .collect()
    }

    /// Kills what a dead going left in its services' cgroups, before anything starts.
    fn kill_leftovers(&self, logger: &mut Logger) {
        for name in self.child_cgroups() {
            let Ok(dir) = rustix::fs::openat(&self.services, name.as_str(), DIRECTORY, Mode::empty()) else { continue };
            let left = kill_each(&dir);
            if left > 0 {
                let left = crate::log::processes(left);
                let message = format_args!("{name}: killed {left} a previous going left in its cgroup");
                logger.log(Severity::Warning, message);
            }
            let _ = rustix::fs::unlinkat(&self.services, name.as_str(), AtFlags::REMOVEDIR);
        }
    }

    /// A fresh cgroup for service `name` in place of its killed (and empty) one.
    pub fn renew(&self, name: &str) -> Result<ServiceCgroup, Errno> {
        let _ = rustix::fs::unlinkat(&self.services, name, AtFlags::REMOVEDIR);
        self.create(name)
    }

    /// Service `name`'s cgroup, opened for one use.
    pub fn open(&self, name: &str) -> Result<ServiceCgroup, Errno> {
        Ok(ServiceCgroup { dir: rustix::fs::openat(&self.services, name, DIRECTORY, Mode::empty())? })
    }

    /// Makes the cgroup of service `name` if it is not there, and opens it.
    pub fn create(&self, name: &str) -> Result<ServiceCgroup, Errno> {
        match rustix::fs::mkdirat(&self.services, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(error) => return Err(error),
        }
        // A name the cgroup file system gave a file of its own (`cgroup.procs`) is no directory.
        self.open(name)
    }

    /// Removes the cgroup of service `name` (it is empty once its service is gone).
    pub fn remove(&self, name: &str) {
        let _ = rustix::fs::unlinkat(&self.services, name, AtFlags::REMOVEDIR);
    }

    /// The path of service `name`'s cgroup, for its status file.
    pub fn path_of(&self, name: &str) -> String {
        format!("{}/{name}", self.services_path)
    }

    /// going is exiting: it leaves its leaf and removes the cgroups it made (those still
    /// populated stay: a process that outlived its stop).
    pub fn close(self) {
        // A service's cgroup that was still busy when its service went is empty by now.
        for name in self.child_cgroups() {
            let _ = rustix::fs::unlinkat(&self.services, name.as_str(), AtFlags::REMOVEDIR);
        }
        let _ = write_small(&self.own, "cgroup.procs", "0");
        let _ = rustix::fs::unlinkat(&self.subtree, SERVICES, AtFlags::REMOVEDIR);
        let _ = rustix::fs::unlinkat(&self.subtree, MANAGER, AtFlags::REMOVEDIR);
        let _ = rustix::fs::unlinkat(&self.own, self.subtree_name.as_str(), AtFlags::REMOVEDIR);
    }
}

/// Each service's cgroup as going uses it: none without cgroups (services are then
/// tracked by process group). The few services whose cgroup is not simply there to
/// start in are kept apart: an entry for every service would cost at 10,000.
#[derive(Default)]
pub struct ServiceCgroups {
    cgroups: Option<Cgroups>,
    exceptions: BTreeMap<String, Exception>,
}

/// Why a service's cgroup is not simply there to start in.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Exception {
    /// `cgroup.kill` was written to it: it is made anew before the next fork.
    Killed,
    /// The cgroup file system refused the name (told once): tracked by process group.
    Refused,
}

impl ServiceCgroups {
    pub fn new(cgroups: Option<Cgroups>) -> ServiceCgroups {
        ServiceCgroups { cgroups, exceptions: BTreeMap::new() }
    }

    /// Service `name`'s cgroup to start its process in, made at its first start (and made
    /// anew after a `cgroup.kill`). A name the cgroup file system cannot hold is told once
    /// and gets none.
    pub fn to_start_in(&mut self, name: &str, logger: &mut Logger) -> Option<ServiceCgroup> {
        let cgroups = self.cgroups.as_ref()?;
        let made = match self.exceptions.get(name) {
            Some(Exception::Refused) => return None,
            Some(Exception::Killed) => cgroups.renew(name),
            None => match cgroups.open(name) {
                Ok(cgroup) => return Some(cgroup),
                Err(_) => cgroups.create(name),
            },
        };
        match made {
            Ok(cgroup) => {
                self.exceptions.remove(name);
                Some(cgroup)
            }
            Err(error) => {
                let (path, reason) = (cgroups.path_of(name), describe(error));
                let message = format_args!("{name}: cannot have the cgroup {path}: {reason}; tracked by process group");
                logger.log(Severity::Warning, message);
                self.exceptions.insert(name.into(), Exception::Refused);
                None
            }
        }
    }

    /// Service `name`'s cgroup, opened for one use; `None` without one.
    pub fn open(&self, name: &str) -> Option<ServiceCgroup> {
        match self.exceptions.get(name) {
            Some(Exception::Refused) => None,
            _ => self.cgroups.as_ref()?.open(name).ok(),
        }
    }

    /// The path of service `name`'s cgroup, for its status file; `None` without one.
    pub fn path_of(&self, name: &str) -> Option<String> {
        match self.exceptions.get(name) {
            Some(Exception::Refused) => None,
            _ => Some(self.cgroups.as_ref()?.path_of(name)),
        }
    }

    /// A SIGKILL went through `cgroup.kill`: the cgroup is made anew before the next fork.
    pub fn killed(&mut self, name: &str) {
        if self.cgroups.is_some() && !self.exceptions.contains_key(name) {
            self.exceptions.insert(name.into(), Exception::Killed);
        }
    }

    /// Service `name` is gone: so is its cgroup.
    pub fn remove(&mut self, name: &str) {
        let refused = self.exceptions.remove(name) == Some(Exception::Refused);
        if let (Some(cgroups), false) = (&self.cgroups, refused) {
            cgroups.remove(name);
        }
    }

    /// going is exiting ([`Cgroups::close`]).
    pub fn close(&mut self) {
        if let Some(cgroups) = self.cgroups.take() {
            cgroups.close();
        }
    }
}

/// SIGKILL to every process of a cgroup, and to those it forks meanwhile.
fn kill_all(dir: &OwnedFd) {
    let _ = write_small(dir, "cgroup.kill", "1");
}

/// SIGKILL to each process listed in a cgroup, round after round until none is
/// left unsignalled (bounded); leaves the cgroup fit to fork into. Returns how many
/// processes were killed.
fn kill_each(dir: &OwnedFd) -> usize {
    // going itself is never among them.
    let mut killed: Vec<Pid> = Vec::from([rustix::process::getpid()]);
    for _ in 0..100 {
        let listed = read_small(dir, "cgroup.procs").unwrap_or_default();
        let fresh: Vec<Pid> = pids_in(&listed).filter(|pid| !killed.contains(pid)).collect();
        if fresh.is_empty() {
            break;
        }
        for pid in fresh {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            killed.push(pid);
        }
    }
    killed.len() - 1
}

impl ServiceCgroup {
    /// The cgroup's directory, to fork into.
    pub fn dir(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// The processes in the cgroup.
    pub fn pids(&self) -> Vec<Pid> {
        read_small(&self.dir, "cgroup.procs").map(|text| pids_in(&text).collect()).unwrap_or_default()
    }

    /// Sends `signal` to every process in the cgroup; SIGKILL through `cgroup.kill`
    /// (after which the cgroup needs [`Cgroups::renew`] before the next fork).
    pub fn signal(&self, signal: Signal) {
        if signal == Signal::KILL {
            return kill_all(&self.dir);
        }
        for pid in self.pids() {
            let _ = rustix::process::kill_process(pid, signal);
        }
    }

    /// Whether any process is in the cgroup (`cgroup.events`: `populated 1`).
    pub fn populated(&self) -> bool {
        match read_small(&self.dir, "cgroup.events") {
            Ok(events) => events.lines().any(|line| line == "populated 1"),
            Err(_) => !self.pids().is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup2_mount_and_own_path_are_read_from_proc() {
        let mountinfo = "25 30 0:23 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                         35 25 0:30 / /sys/fs/cgroup/unified rw,relatime shared:9 - cgroup2 cgroup2 rw\n";
        assert_eq!(cgroup2_mount(mountinfo), Some("/sys/fs/cgroup/unified"));
        assert_eq!(cgroup2_mount("25 30 0:23 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n"), None);
        assert_eq!(own_cgroup("4:memory:/x\n0::/system.slice/going.service\n"), Some("/system.slice/going.service"));
        assert_eq!(own_cgroup("4:memory:/x\n"), None);
        assert_eq!(pids_in("12\n40\n\n").collect::<Vec<_>>(), [Pid::from_raw(12).unwrap(), Pid::from_raw(40).unwrap()]);
    }

    #[test]
    fn a_subtree_is_named_after_its_run_directory_and_two_paths_never_share_a_name() {
        assert_eq!(subtree_name(Some("/run/going")), "going@run-going");
        assert_eq!(subtree_name(Some("/tmp/a-b/run")), "going@tmp-a\\x2db-run");
        assert_ne!(subtree_name(Some("/tmp/a-b")), subtree_name(Some("/tmp/a/b")));
        assert_eq!(subtree_name(Some("/.x y")), "going@\\x2ex\\x20y");
        assert!(subtree_name(None).starts_with("going@pid-"));
    }
}
