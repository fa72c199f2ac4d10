//! Starting a service: fork, the child's setup, exec.
//!
//! Everything the child needs (paths, argv, envp) is built in the parent as
//! NUL-terminated buffers; the child only makes system calls, never
//! allocates, logs or touches the service table. It is born in its
//! service's cgroup, if it has one. Its setup, in order: a new session, every signal back to default with nothing blocked, stdin on
//! /dev/null and stdout and stderr on /dev/null or the service's log pipe,
//! the readiness pipe at descriptor N for `ready=fd:N`, resource limits, umask, chroot, the working directory, groups, gid, uid,
//! exec. Every descriptor going holds is close-on-exec, so only 0, 1 and 2
//! (and N) reach the service.
//!
//! When a step fails the child writes the step and errno to a close-on-exec
//! pipe and exits 127 (not found) or 126; a successful exec closes the pipe
//! empty. The event loop reads it, so starting never waits for the child.

use crate::config::{ServiceSpec, set_latest};
use crate::log::describe;
use alloc::ffi::CString;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::Mode;
use rustix::io::Errno;
use rustix::pipe::PipeFlags;
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

/// The descriptors the child gets: stdin, stdout and stderr both, and the readiness pipe.
#[derive(Clone, Copy)]
pub struct Stdio<'a> {
    /// /dev/null.
    pub input: BorrowedFd<'a>,
    /// /dev/null, or the write end of the service's log pipe.
    pub output: BorrowedFd<'a>,
    /// `ready=fd:N`: the write end of the readiness pipe, and N.
    pub ready: Option<(BorrowedFd<'a>, u16)>,
    /// The directory of the service's cgroup, which the child is forked into.
    pub cgroup: Option<BorrowedFd<'a>>,
}

/// A step of the child's setup, in the order the child takes them; its
/// number is what the child writes to its failure pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Stdio = 1,
    /// The readiness pipe could not be put at its descriptor.
    ReadyFd = 10,
    Rlimit = 2,
    Chroot = 3,
    Chdir = 4,
    Groups = 5,
    Gid = 6,
    Uid = 7,
    /// setuid(0) succeeded after dropping privileges: the service is not run.
    RootRegained = 8,
    Exec = 9,
}

impl Step {
    const ALL: [Step; 10] = [
        Step::Stdio,
        Step::ReadyFd,
        Step::Rlimit,
        Step::Chroot,
        Step::Chdir,
        Step::Groups,
        Step::Gid,
        Step::Uid,
        Step::RootRegained,
        Step::Exec,
    ];

    /// The step a child reported; a number no step has is read as exec, the last one.
    fn from_code(code: u32) -> Step {
        Step::ALL.into_iter().find(|step| *step as u32 == code).unwrap_or(Step::Exec)
    }
}

/// A step of the child's setup that failed, with its errno, as read back from its pipe.
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
pub fn prepare(spec: &ServiceSpec, argv: &[String], notify_socket: Option<&str>) -> PreparedCommand {
    let mut env: Vec<(&str, &str)> = Vec::from([("PATH", DEFAULT_PATH)]);
    let identity_env = spec.options().identity.iter().flat_map(|identity| identity.env.iter());
    for (name, value) in identity_env.chain(spec.options().env.iter()) {
        set_latest(&mut env, name, value);
    }
    if let Some(address) = notify_socket {
        set_latest(&mut env, "NOTIFY_SOCKET", address);
    }
    let path = env.iter().find(|(name, _)| *name == "PATH").map_or("", |(_, value)| value);
    let program = &argv[0];
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
        argv: argv.iter().map(|word| c_string(word)).collect(),
        envp: env.iter().map(|(name, value)| c_string(&alloc::format!("{name}={value}"))).collect(),
        cwd: c_string(&spec.cwd),
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

/// Forks a child that runs `command` with `nofile` as its descriptor limit
/// (going raises its own). Returns its pid and the read end of its failure
/// pipe, which the caller watches.
pub fn spawn(command: &PreparedCommand, stdio: Stdio, nofile: &Rlimit) -> Result<(Pid, OwnedFd), Errno> {
    let argv = pointers(&command.argv);
    let envp = pointers(&command.envp);
    let (report_read, report_write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
    let parent = rustix::process::getpid();
    let forked = match stdio.cgroup {
        Some(cgroup) => crate::rt::fork_into(cgroup)?,
        None => crate::rt::fork()?,
    };
    match forked {
        Some(pid) => Ok((pid, report_read)),
        None => run_child(command, &argv, &envp, stdio, nofile, parent, report_write.as_fd()),
    }
}

/// The child side: system calls only, then exec or exit.
fn run_child(
    command: &PreparedCommand,
    argv: &[*const u8],
    envp: &[*const u8],
    stdio: Stdio,
    nofile: &Rlimit,
    parent: Pid,
    report: BorrowedFd,
) -> ! {
    // Cannot fail: a fresh child of going leads no process group.
    let _ = rustix::process::setsid();
    // Lowering a limit going raised for itself cannot fail.
    let _ = rustix::process::setrlimit(Resource::Nofile, *nofile);
    crate::rt::reset_signals_for_exec();
    let stdio_set = rustix::stdio::dup2_stdin(stdio.input)
        .and_then(|()| rustix::stdio::dup2_stdout(stdio.output))
        .and_then(|()| rustix::stdio::dup2_stderr(stdio.output));
    if let Err(error) = stdio_set {
        fail(report, Step::Stdio, error);
    }
    // The failure pipe must not sit where the readiness pipe goes: move it first.
    let moved;
    let mut report = report;
    if let Some((pipe, number)) = stdio.ready {
        if rustix::fd::AsRawFd::as_raw_fd(&report) == i32::from(number) {
            match rustix::io::fcntl_dupfd_cloexec(report, i32::from(number) + 1) {
                Ok(fd) => moved = fd,
                Err(error) => fail(report, Step::ReadyFd, error),
            }
            report = moved.as_fd();
        }
        if let Err(error) = crate::rt::dup_onto(pipe, number) {
            fail(report, Step::ReadyFd, error);
        }
    }
    for &(resource, limit) in &command.rlimits {
        if let Err(error) = rustix::process::setrlimit(resource, limit) {
            fail(report, Step::Rlimit, error);
        }
    }
    rustix::process::umask(command.umask);
    if let Some(jail) = &command.chroot
        && let Err(error) = rustix::process::chroot(jail.as_c_str())
    {
        fail(report, Step::Chroot, error);
    }
    if let Err(error) = rustix::process::chdir(command.cwd.as_c_str()) {
        fail(report, Step::Chdir, error);
    }
    if let Some((groups, gid, uid)) = &command.credentials {
        drop_privileges(groups, *gid, *uid, report);
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
    fail(report, Step::Exec, last)
}

/// setgroups, setgid, setuid, in that order (each needs the privilege the
/// next one drops), then proof that root cannot be regained.
fn drop_privileges(groups: &[Gid], gid: Gid, uid: Option<Uid>, report: BorrowedFd) {
    if let Err(error) = rustix::thread::set_thread_groups(groups) {
        fail(report, Step::Groups, error);
    }
    if let Err(error) = rustix::thread::set_thread_res_gid(gid, gid, gid) {
        fail(report, Step::Gid, error);
    }
    // A gid the kernel reads as "no change" would leave going's own: check what it became.
    if rustix::process::getgid() != gid || rustix::process::getegid() != gid {
        fail(report, Step::Gid, Errno::PERM);
    }
    let Some(uid) = uid.filter(|uid| !uid.is_root()) else {
        return;
    };
    if let Err(error) = rustix::thread::set_thread_res_uid(uid, uid, uid) {
        fail(report, Step::Uid, error);
    }
    if rustix::thread::set_thread_res_uid(Uid::ROOT, Uid::ROOT, Uid::ROOT).is_ok() {
        fail(report, Step::RootRegained, Errno::PERM);
    }
}

fn fail(report: BorrowedFd, step: Step, error: Errno) -> ! {
    let mut message = [0u8; 8];
    message[..4].copy_from_slice(&(step as u32).to_ne_bytes());
    message[4..].copy_from_slice(&error.raw_os_error().to_ne_bytes());
    // An empty pipe takes 8 bytes without blocking; if it fails the exit status still tells.
    let _ = rustix::io::write(report, &message);
    crate::rt::exit(if error == Errno::NOENT { 127 } else { 126 })
}

/// Reads a child's failure pipe once it is readable or the child is gone.
/// `Ok(None)`: exec succeeded (the pipe closed empty); `Err(AGAIN)`: nothing yet.
pub fn read_failure(report: &OwnedFd) -> Result<Option<ChildFailure>, Errno> {
    let mut message = [0u8; 8];
    let count = rustix::io::read(report, &mut message)?;
    if count != message.len() {
        return Ok(None);
    }
    let step = u32::from_ne_bytes(message[..4].try_into().expect("BUG: 4 bytes"));
    let error = Errno::from_raw_os_error(i32::from_ne_bytes(message[4..].try_into().expect("BUG: 4 bytes")));
    Ok(Some(ChildFailure { step: Step::from_code(step), error }))
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
            Step::Stdio => write!(f, "cannot open /dev/null as stdio: {reason}"),
            Step::ReadyFd => write!(f, "cannot give the readiness pipe as descriptor {}: {reason}", ready_fd(spec)),
            Step::Rlimit => write!(f, "cannot set a resource limit: {reason}"),
            Step::Chroot => write!(f, "cannot chroot to {}: {reason}", spec.options().chroot.as_deref().unwrap_or("")),
            Step::Chdir => write!(f, "cannot change directory to {}: {reason}", spec.cwd),
            Step::Groups => write!(f, "cannot set supplementary groups: {reason}"),
            Step::Gid => write!(f, "cannot set gid {}: {reason}", identity.map_or(0, |i| i.gid)),
            Step::Uid => write!(f, "cannot set uid {}: {reason}", identity.and_then(|i| i.uid).unwrap_or(0)),
            Step::RootRegained => f.write_str("could regain root after dropping privileges; not running it"),
            Step::Exec => write!(f, "cannot execute {}: {reason}", self.program),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_step_reads_back_from_its_code() {
        for step in Step::ALL {
            assert_eq!(Step::from_code(step as u32), step);
        }
        assert_eq!(Step::from_code(0), Step::Exec);
    }
}
