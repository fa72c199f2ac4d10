//! Starting a service: the child's setup, exec, and what a failed one says.
//!
//! Everything the child needs (paths, argv, envp) is built in the parent as
//! NUL-terminated buffers; the child only makes system calls, never
//! allocates, logs or touches the service table. It runs in going's own
//! memory on a stack of its own while going waits until it has exec'd or
//! failed (as posix_spawn does, [`crate::rt::spawn`]): so no start copies
//! going's page tables, and its outcome is known when [`Spawner::spawn`]
//! returns. Where the kernel can (Linux 5.9), it also shares going's
//! descriptor table until its first step gives it a copy of the few
//! descriptors below [`Spawner`]'s slots: a start then costs the same with
//! 10 services as with 10,000 pidfds and pipes open.
//!
//! It is born in its service's cgroup, if it has one. Its setup, in order:
//! its own descriptor table, a new session, every signal back to default
//! with nothing blocked, stdin on /dev/null and stdout and stderr on
//! /dev/null or the service's log pipe, the readiness pipe at descriptor N
//! for `ready=fd:N`, resource limits, umask, chroot, the working directory,
//! groups, gid, uid, exec. Every descriptor going holds is close-on-exec, so
//! only 0, 1 and 2 (and N) reach the service.
//!
//! When a step fails the child writes the step and errno where going reads
//! them (their memory is shared) and exits 127 (not found) or 126.
//!
//! What this costs: going does not run while a child sets up, so a
//! service whose working directory or program sits on a file system that
//! hangs (a hard NFS mount whose server is gone) holds going up until it
//! answers.

use crate::config::{ServiceSpec, Words, set_latest};
use crate::log::describe;
use alloc::ffi::CString;
use alloc::vec::Vec;
use core::fmt;
use rustix::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use rustix::fs::Mode;
use rustix::io::{DupFlags, Errno};
use rustix::process::{Gid, Pid, Resource, Rlimit, Uid};

/// The only environment a service gets.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A service's umask unless `umask=` says otherwise: never whatever going inherited (000 from
/// some parents would make every file a service creates writable by anyone).
pub const DEFAULT_UMASK: u32 = 0o022;

/// A service's command ready for exec: every string NUL-terminated.
pub struct PreparedCommand {
    /// Paths to try in order: the program itself, or each PATH entry joined with it.
    programs: Vec<CString>,
    argv: Vec<CString>,
    envp: Vec<CString>,
    cwd: CString,
    rlimits: Vec<(Resource, Rlimit)>,
    umask: Mode,
    chroot: Option<CString>,
    /// Supplementary groups, gid and uid (kept when `None`) to switch to.
    credentials: Option<(Vec<Gid>, Gid, Option<Uid>)>,
}

/// What a child writes to, besides stdin on /dev/null.
#[derive(Clone, Copy)]
pub struct Stdio<'a> {
    /// The write end of the service's log pipe for stdout and stderr; /dev/null when `None`.
    pub output: Option<BorrowedFd<'a>>,
    /// `ready=fd:N`: the write end of the readiness pipe, and N.
    pub ready: Option<(BorrowedFd<'a>, u16)>,
    /// The directory of the service's cgroup, which the child is born in.
    pub cgroup: Option<BorrowedFd<'a>>,
}

/// A step of the child's setup, in the order the child takes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The child could not have a descriptor table of its own.
    Unshare,
    Stdio,
    /// The readiness pipe could not be put at its descriptor.
    ReadyFd,
    Rlimit,
    Chroot,
    Chdir,
    Groups,
    Gid,
    Uid,
    /// setuid(0) succeeded after dropping privileges: the service is not run.
    RootRegained,
    Exec,
}

/// A step of the child's setup that failed, with its errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildFailure {
    pub step: Step,
    pub error: Errno,
}

fn c_string(text: &str) -> CString {
    CString::new(text).expect("BUG: the parser rejects NUL bytes")
}

/// Builds the exec arguments of a spec. A program without `/` is looked up
/// in PATH as execvp(3) does: each directory in turn, in the child (inside
/// the chroot when there is one). `argv` is the spec's own or its check's;
/// `notify_socket` is the `NOTIFY_SOCKET` of a `ready=notify` service.
pub fn prepare(spec: &ServiceSpec, argv: &Words, notify_socket: Option<&str>) -> PreparedCommand {
    let mut env: Vec<(&str, &str)> = Vec::from([("PATH", DEFAULT_PATH)]);
    let identity_env = spec.options().identity.iter().flat_map(|identity| identity.env.iter());
    for (name, value) in identity_env.chain(spec.options().env.iter()) {
        set_latest(&mut env, name, value);
    }
    if let Some(address) = notify_socket {
        set_latest(&mut env, "NOTIFY_SOCKET", address);
    }
    let path = env.iter().find(|(name, _)| *name == "PATH").map_or("", |(_, value)| value);
    let program = argv.program();
    let programs = match program.contains('/') {
        true => alloc::vec![c_string(program)],
        false => path.split(':').map(|dir| c_string(&alloc::format!("{dir}/{program}"))).collect(),
    };
    let credentials = spec.options().identity.as_ref().map(|identity| {
        let groups = identity.groups.iter().map(|&gid| Gid::from_raw(gid)).collect();
        (groups, Gid::from_raw(identity.gid), identity.uid.map(Uid::from_raw))
    });
    PreparedCommand {
        programs,
        argv: argv.iter().map(c_string).collect(),
        envp: env.iter().map(|(name, value)| c_string(&alloc::format!("{name}={value}"))).collect(),
        cwd: c_string(spec.cwd()),
        rlimits: spec.options().rlimits.clone(),
        umask: Mode::from_raw_mode(spec.options().umask.unwrap_or(DEFAULT_UMASK)),
        chroot: spec.options().chroot.as_deref().map(c_string),
        credentials,
    }
}

fn ready_fd(spec: &ServiceSpec) -> u16 {
    match spec.options().ready {
        crate::config::Readiness::Fd(number) => number,
        _ => 0,
    }
}

fn pointers(strings: &[CString]) -> Vec<*const u8> {
    strings.iter().map(|s| s.as_ptr().cast()).chain([core::ptr::null()]).collect()
}

/// Starts children. Holds what every child needs from going: /dev/null,
/// its stack, and two low descriptor slots that hold, while a child starts,
/// its log pipe and readiness pipe, so that a child sharing going's table
/// keeps them when it drops every descriptor above the slots.
pub struct Spawner {
    stack: crate::rt::ChildStack,
    dev_null: OwnedFd,
    output_slot: OwnedFd,
    ready_slot: OwnedFd,
    /// The child keeps only descriptors below this: the slots are the highest of them.
    keep_below: u32,
    /// The kernel lets a child share going's table and then drop most of it.
    share_fds: bool,
    /// going's descriptor limit before it raised its own, given back to every child.
    nofile: Rlimit,
    /// The signals going ignores, which a child puts back to default.
    ignored: crate::rt::SignalSet,
}

/// What became of a start.
pub struct Spawned {
    pub pid: Pid,
    /// `None`: the service's program is running.
    pub failure: Option<ChildFailure>,
}

impl Spawner {
    /// Call it early, while going's descriptors are few (its slots are the
    /// lowest free ones, and every child copies what lies below them), and
    /// after going set its signal dispositions.
    pub fn new(nofile: Rlimit) -> Result<Spawner, Errno> {
        use rustix::fs::OFlags;
        let dev_null = rustix::fs::open(c"/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
        let output_slot = rustix::io::fcntl_dupfd_cloexec(&dev_null, 0)?;
        let ready_slot = rustix::io::fcntl_dupfd_cloexec(&dev_null, 0)?;
        let highest = [&dev_null, &output_slot, &ready_slot].map(|fd| fd.as_raw_fd()).into_iter().max();
        Ok(Spawner {
            stack: crate::rt::ChildStack::new()?,
            keep_below: highest.unwrap_or(0) as u32 + 1,
            dev_null,
            output_slot,
            ready_slot,
            share_fds: crate::rt::can_unshare_fds(),
            nofile,
            ignored: crate::rt::ignored_signals(),
        })
    }

    /// Runs `command` in a new child and returns once it has exec'd or failed.
    pub fn spawn(&mut self, command: &PreparedCommand, stdio: Stdio) -> Result<Spawned, Errno> {
        let argv = pointers(&command.argv);
        let envp = pointers(&command.envp);
        if let Some(output) = stdio.output {
            rustix::io::dup3(output, &mut self.output_slot, DupFlags::CLOEXEC)?;
        }
        if let Some((ready, _)) = stdio.ready {
            rustix::io::dup3(ready, &mut self.ready_slot, DupFlags::CLOEXEC)?;
        }
        let fds = ChildFds {
            input: self.dev_null.as_fd(),
            output: if stdio.output.is_some() { self.output_slot.as_fd() } else { self.dev_null.as_fd() },
            ready: stdio.ready.map(|(_, number)| (self.ready_slot.as_fd(), number)),
        };
        let unshare_below = self.share_fds.then_some(self.keep_below);
        let (nofile, ignored, parent) = (&self.nofile, self.ignored, rustix::process::getpid());
        let mut failure = None;
        let mut child = || -> core::convert::Infallible {
            let Err(failed) = set_up_and_exec(command, &argv, &envp, fds, (unshare_below, ignored), nofile, parent);
            failure = Some(failed);
            crate::rt::exit(if failed.error == Errno::NOENT { 127 } else { 126 })
        };
        let started = crate::rt::spawn(&mut self.stack, stdio.cgroup, self.share_fds, &mut child);
        // The child has its own copies now: the slots go back to holding /dev/null.
        for (used, slot) in
            [(stdio.output.is_some(), &mut self.output_slot), (stdio.ready.is_some(), &mut self.ready_slot)]
        {
            if used {
                let _ = rustix::io::dup3(&self.dev_null, slot, DupFlags::CLOEXEC);
            }
        }
        Ok(Spawned { pid: started?, failure })
    }
}

/// The descriptors the child puts at 0, 1, 2 and N: all below the slots' end.
#[derive(Clone, Copy)]
struct ChildFds<'a> {
    input: BorrowedFd<'a>,
    output: BorrowedFd<'a>,
    ready: Option<(BorrowedFd<'a>, u16)>,
}

/// Turns a failed system call of the child's into the step that failed.
fn step<T>(step: Step, result: Result<T, Errno>) -> Result<T, ChildFailure> {
    result.map_err(|error| ChildFailure { step, error })
}

/// The child side: system calls only, then exec; returns only what failed.
fn set_up_and_exec(
    command: &PreparedCommand,
    argv: &[*const u8],
    envp: &[*const u8],
    fds: ChildFds,
    (unshare_below, ignored): (Option<u32>, crate::rt::SignalSet),
    nofile: &Rlimit,
    parent: Pid,
) -> Result<core::convert::Infallible, ChildFailure> {
    // First, before any descriptor changes: going's table is not the child's to change.
    if let Some(first) = unshare_below {
        step(Step::Unshare, crate::rt::unshare_fds_below(first))?;
    }
    // Cannot fail: a fresh child of going leads no process group.
    let _ = rustix::process::setsid();
    // Lowering a limit going raised for itself cannot fail.
    let _ = rustix::process::setrlimit(Resource::Nofile, *nofile);
    crate::rt::reset_signals_for_exec(ignored);
    step(Step::Stdio, rustix::stdio::dup2_stdin(fds.input))?;
    step(Step::Stdio, rustix::stdio::dup2_stdout(fds.output))?;
    step(Step::Stdio, rustix::stdio::dup2_stderr(fds.output))?;
    if let Some((pipe, number)) = fds.ready {
        step(Step::ReadyFd, crate::rt::dup_onto(pipe, number))?;
    }
    for &(resource, limit) in &command.rlimits {
        step(Step::Rlimit, rustix::process::setrlimit(resource, limit))?;
    }
    rustix::process::umask(command.umask);
    if let Some(jail) = &command.chroot {
        step(Step::Chroot, rustix::process::chroot(jail.as_c_str()))?;
    }
    step(Step::Chdir, rustix::process::chdir(command.cwd.as_c_str()))?;
    if let Some((groups, gid, uid)) = &command.credentials {
        drop_privileges(groups, *gid, *uid)?;
    }
    // After the credential change, which would clear it: when going dies, so does the service.
    // If going died before this line, the parent is already someone else: stop here.
    let death_signal = rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL));
    if death_signal.is_err() || rustix::process::getppid() != Some(parent) {
        crate::rt::exit(1);
    }
    let mut denied = false;
    let mut last = Errno::NOENT;
    for program in &command.programs {
        last = crate::rt::execve(program, argv, envp);
        match last {
            Errno::NOENT | Errno::NOTDIR => {}
            Errno::ACCESS => denied = true,
            _ => break,
        }
    }
    if denied && matches!(last, Errno::NOENT | Errno::NOTDIR) {
        last = Errno::ACCESS;
    }
    step(Step::Exec, Err(last))
}

/// setgroups, setgid, setuid, in that order (each needs the privilege the
/// next one drops), then proof that root cannot be regained.
fn drop_privileges(groups: &[Gid], gid: Gid, uid: Option<Uid>) -> Result<(), ChildFailure> {
    step(Step::Groups, rustix::thread::set_thread_groups(groups))?;
    step(Step::Gid, rustix::thread::set_thread_res_gid(gid, gid, gid))?;
    // A gid the kernel reads as "no change" would leave going's own: check what it became.
    if rustix::process::getgid() != gid || rustix::process::getegid() != gid {
        return step(Step::Gid, Err(Errno::PERM));
    }
    let Some(uid) = uid.filter(|uid| !uid.is_root()) else {
        return Ok(());
    };
    step(Step::Uid, rustix::thread::set_thread_res_uid(uid, uid, uid))?;
    if rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT).is_ok() {
        return step(Step::RootRegained, Err(Errno::PERM));
    }
    Ok(())
}

/// `cannot execute /usr/bin/nope: No such file or directory`, naming what
/// the spec the child ran asked for.
pub struct FailureReport<'a> {
    pub failure: ChildFailure,
    pub spec: &'a ServiceSpec,
    /// The program the child was to execute: the spec's, or its check's.
    pub program: &'a str,
}

impl fmt::Display for FailureReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let spec = self.spec;
        let identity = spec.options().identity.as_ref();
        let ChildFailure { step, error } = self.failure;
        let reason = describe(error);
        match step {
            Step::Unshare => write!(f, "cannot have a descriptor table of its own: {reason}"),
            Step::Stdio => write!(f, "cannot set up stdin, stdout and stderr: {reason}"),
            Step::ReadyFd => write!(f, "cannot give the readiness pipe as descriptor {}: {reason}", ready_fd(spec)),
            Step::Rlimit => write!(f, "cannot set a resource limit: {reason}"),
            Step::Chroot => write!(f, "cannot chroot to {}: {reason}", spec.options().chroot.as_deref().unwrap_or("")),
            Step::Chdir => write!(f, "cannot change directory to {}: {reason}", spec.cwd()),
            Step::Groups => write!(f, "cannot set supplementary groups: {reason}"),
            Step::Gid => write!(f, "cannot set gid {}: {reason}", identity.map_or(0, |i| i.gid)),
            Step::Uid => write!(f, "cannot set uid {}: {reason}", identity.and_then(|i| i.uid).unwrap_or(0)),
            Step::RootRegained => f.write_str("could regain root after dropping privileges; not running it"),
            Step::Exec => write!(f, "cannot execute {}: {reason}", self.program),
        }
    }
}
