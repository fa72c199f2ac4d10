//! Starting a service: the child's setup, exec, and what a failed one says.
//!
//! Everything the child needs (paths, argv, envp) is built in the parent as
//! NUL-terminated buffers; the child only makes system calls, never
//! allocates, logs or touches the service table.
//!
//! going never waits for a child to reach its exec: a child that has
//! dropped to a service's uid can be stopped by that user, and a `cmd` or
//! `cwd` on a hung file system can hold it forever. So going forks the
//! service's process (into its service's cgroup) and goes on: a start in
//! progress is a state, and its outcome comes through its report pipe (a
//! record of the step and errno that failed, or end-of-file at exec), which
//! the event loop watches.
//!
//! The process has a copy of going's memory and, until its first step,
//! shares going's descriptor table (CLONE_FILES), which at 10,000 services
//! holds 10,000 pidfds. That step, while it still runs as going's user,
//! gives it a table of its own holding only what lies below a set of four
//! low slots (its log, readiness and report pipes and its cgroup), so that
//! a start copies as few descriptors at 10,000 services as at 10. going
//! does not wait for that step either: it leaves the set alone until
//! kcmp(2) says the child has its own table, and has [`SHARED_SETS`] sets
//! for children that have not yet. A start that finds every set still
//! held, or that gives `listen=` sockets (they lie anywhere in the table),
//! forks with a copy of the whole table instead, as every start does on a
//! kernel without kcmp or close_range's unshare (Linux 5.9).
//!
//! The child's setup, in order: a new session, every signal back to
//! default with nothing blocked, stdin on /dev/null and stdout and stderr
//! on /dev/null or the service's log pipe, its `listen=` sockets at
//! descriptors 3, 4, ... (and `LISTEN_PID=` its pid in the environment),
//! the readiness pipe at descriptor N for `ready=fd:N`, resource limits, umask, chroot, the working
//! directory, groups, gid, uid, exec. Every descriptor going holds is
//! close-on-exec, so only 0, 1 and 2 (and its sockets and N) reach the service. When a step
//! fails the child writes the step and errno to its report pipe and exits
//! 127 (not found) or 126.

use crate::clock::Millis;
use crate::config::{MAX_LISTEN, ServiceSpec, Words, set_latest};
use crate::events::{Poller, Source};
use crate::log::describe;
use alloc::ffi::CString;
use alloc::vec::Vec;
use core::fmt;
use core::num::NonZeroU32;
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
    /// With `listen=`: where in `envp` the child writes `LISTEN_PID=` its own pid.
    listen_pid_at: Option<usize>,
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
    /// `listen=`: the sockets it gets as descriptors 3, 4, ..., at most [`MAX_LISTEN`].
    pub listen: &'a [BorrowedFd<'a>],
}

/// A step of the child's setup, in the order the child takes them; its
/// number is what the child writes to its report pipe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Stdio = 1,
    /// The readiness pipe could not be put at its descriptor.
    ReadyFd,
    /// A `listen=` socket could not be put at its descriptor.
    ListenFds,
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

impl Step {
    const ALL: [Step; 11] = [
        Step::Stdio,
        Step::ReadyFd,
        Step::ListenFds,
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

/// A step of the child's setup that failed, with its errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildFailure {
    pub step: Step,
    pub error: Errno,
}

impl ChildFailure {
    const SIZE: usize = 8;

    fn to_bytes(self) -> [u8; ChildFailure::SIZE] {
        let mut record = [0u8; ChildFailure::SIZE];
        record[..4].copy_from_slice(&(self.step as u32).to_ne_bytes());
        record[4..].copy_from_slice(&self.error.raw_os_error().to_ne_bytes());
        record
    }

    fn from_bytes(record: [u8; ChildFailure::SIZE]) -> ChildFailure {
        let [s0, s1, s2, s3, e0, e1, e2, e3] = record;
        let step = Step::from_code(u32::from_ne_bytes([s0, s1, s2, s3]));
        ChildFailure { step, error: Errno::from_raw_os_error(i32::from_ne_bytes([e0, e1, e2, e3])) }
    }
}

fn c_string(text: &str) -> CString {
    CString::new(text).expect("BUG: the parser rejects NUL bytes")
}

/// What a start gives a service beyond its spec.
#[derive(Clone, Copy, Default)]
pub struct Given<'a> {
    /// The `NOTIFY_SOCKET` of a `ready=notify` service.
    pub notify_socket: Option<&'a str>,
    /// `listen=`: its name and how many sockets it gets (systemd's `LISTEN_FDS` protocol).
    pub listen: Option<(&'a str, usize)>,
}

/// Builds the exec arguments of a spec. A program without `/` is looked up
/// in PATH as execvp(3) does: each directory in turn, in the child (inside
/// the chroot when there is one). `argv` is the spec's own or its check's.
pub fn prepare(spec: &ServiceSpec, argv: &Words, given: Given) -> PreparedCommand {
    let mut env: Vec<(&str, &str)> = Vec::from([("PATH", DEFAULT_PATH)]);
    let identity_env = spec.settings().identity.iter().flat_map(|identity| identity.env.iter());
    for (name, value) in identity_env.chain(spec.settings().env.iter()) {
        set_latest(&mut env, name, value);
    }
    if let Some(address) = given.notify_socket {
        set_latest(&mut env, "NOTIFY_SOCKET", address);
    }
    // Each socket is named after its service, as systemd names them after their unit.
    let (count, names);
    if let Some((name, sockets @ 1..)) = given.listen {
        count = alloc::format!("{sockets}");
        names = alloc::vec![name; sockets].join(":");
        set_latest(&mut env, "LISTEN_FDS", &count);
        set_latest(&mut env, "LISTEN_FDNAMES", &names);
        // Written by the child once it knows its pid.
        set_latest(&mut env, "LISTEN_PID", "");
    }
    let path = env.iter().find(|(name, _)| *name == "PATH").map_or("", |(_, value)| value);
    let program = argv.program();
    let programs = match program.contains('/') {
        true => alloc::vec![c_string(program)],
        false => path.split(':').map(|dir| c_string(&alloc::format!("{dir}/{program}"))).collect(),
    };
    let credentials = spec.settings().identity.as_ref().map(|identity| {
        let groups = identity.groups.iter().map(|&gid| Gid::from_raw(gid)).collect();
        (groups, Gid::from_raw(identity.gid), identity.uid.map(Uid::from_raw))
    });
    PreparedCommand {
        programs,
        argv: argv.iter().map(c_string).collect(),
        envp: env.iter().map(|(name, value)| c_string(&alloc::format!("{name}={value}"))).collect(),
        cwd: c_string(spec.cwd()),
        rlimits: spec.settings().rlimits.clone(),
        umask: Mode::from_raw_mode(spec.settings().umask.unwrap_or(DEFAULT_UMASK)),
        chroot: spec.settings().chroot.as_deref().map(c_string),
        credentials,
        listen_pid_at: env.iter().position(|(name, _)| *name == "LISTEN_PID"),
    }
}

/// `LISTEN_PID=` and `pid` in `buffer`, NUL-ended, without allocating (the child writes it).
fn write_listen_pid(buffer: &mut [u8; 32], pid: Pid) {
    let prefix = b"LISTEN_PID=";
    buffer[..prefix.len()].copy_from_slice(prefix);
    let (mut digits, mut value, mut count) = ([0u8; 10], pid.as_raw_nonzero().get() as u32, 0);
    while value > 0 || count == 0 {
        digits[count] = b'0' + (value % 10) as u8;
        (value, count) = (value / 10, count + 1);
    }
    for (at, digit) in digits[..count].iter().rev().enumerate() {
        buffer[prefix.len() + at] = *digit;
    }
    buffer[prefix.len() + count] = 0;
}

fn ready_fd(spec: &ServiceSpec) -> u16 {
    match spec.settings().ready {
        crate::config::ReadyWhen::Fd(number) => number,
        _ => 0,
    }
}

fn pointers(strings: &[CString]) -> Vec<*const u8> {
    strings.iter().map(|s| s.as_ptr().cast()).chain([core::ptr::null()]).collect()
}

/// How many starts at once may have a child that still shares going's
/// descriptor table, each holding a set of slots until it has its own.
pub const SHARED_SETS: usize = 8;

/// The descriptor limit below which going has no shared sets: a table that
/// stays this small costs little to copy, and the sets would take a seventh of it.
const SHARED_FROM_LIMIT: u64 = 256;

/// Four low descriptors that hold, while a child starts, its log pipe,
/// readiness pipe, report pipe and cgroup: below [`Spawner`]'s `keep_below`,
/// so that a child keeps them when it drops what lies above. Made in this
/// order, one set after another: each set's descriptors are above the last's.
struct SlotSet {
    output: OwnedFd,
    ready: OwnedFd,
    report: OwnedFd,
    cgroup: OwnedFd,
    /// Which of the four hold something other than /dev/null.
    used: [bool; 4],
    /// The child that may still share going's table, and so these slots.
    sharer: Option<Pid>,
}

impl SlotSet {
    fn new(dev_null: &OwnedFd) -> Result<SlotSet, Errno> {
        let slot = || rustix::io::fcntl_dupfd_cloexec(dev_null, 0);
        let [output, ready, report, cgroup] = [slot()?, slot()?, slot()?, slot()?];
        Ok(SlotSet { output, ready, report, cgroup, used: [false; 4], sharer: None })
    }

    /// Puts a start's descriptors in the slots, in their order.
    fn fill(&mut self, given: [Option<BorrowedFd>; 4]) -> Result<(), Errno> {
        let SlotSet { output, ready, report, cgroup, used, .. } = self;
        for ((slot, fd), used) in [output, ready, report, cgroup].into_iter().zip(given).zip(used) {
            if let Some(fd) = fd {
                *used = true;
                rustix::io::dup3(fd, slot, DupFlags::CLOEXEC)?;
            }
        }
        Ok(())
    }

    /// Puts /dev/null back in the slots a start used: going must hold no write
    /// end of a report pipe once the child has its own.
    fn free(&mut self, dev_null: &OwnedFd) {
        let SlotSet { output, ready, report, cgroup, used, sharer } = self;
        for (slot, used) in [output, ready, report, cgroup].into_iter().zip(used) {
            if core::mem::take(used) {
                let _ = rustix::io::dup3(dev_null, slot, DupFlags::CLOEXEC);
            }
        }
        *sharer = None;
    }
}

/// Starts children. Holds what every child needs from going: /dev/null and
/// the sets of slots, made early, while going's descriptors are few.
pub struct Spawner {
    dev_null: OwnedFd,
    /// The sets for children that share going's table ([`SHARED_SETS`], or none),
    /// then one for a start that copies it (its child has its copy once the fork returns).
    sets: Vec<SlotSet>,
    /// A child keeps only descriptors below this: the slots are the highest of them.
    keep_below: u32,
    /// The kernel lets a child share going's table, drop most of it, and be seen
    /// to; and going's descriptor limit is at least [`SHARED_FROM_LIMIT`].
    share_fds: bool,
    /// going's descriptor limit before it raised its own, given back to every child.
    nofile: Rlimit,
    /// The signals going ignores, which a child puts back to default.
    ignored: crate::rt::SignalSet,
    /// Since when a child has shared going's table without a start since.
    held_since: Option<Millis>,
}

/// The longest wait before going looks again at a child that still shares its table.
const MAX_RECHECK: u64 = 1000;

/// A child whose start is under way.
pub struct Spawned {
    pub pid: Pid,
    /// The read end of its report pipe: a [`ChildFailure`], or end-of-file once it has exec'd.
    pub report: OwnedFd,
}

/// Starts under way past which each new one reads two others' report pipes: a
/// reload of thousands must not hold a pipe for each until the loop turns
/// (10,000 pidfds and 10,000 pipes can pass the descriptor limit).
const UNREAD_STARTS: usize = 256;

/// A start that answered: its child, what it said, and its readiness pipe.
pub type Answer = (i32, Report, Option<(OwnedFd, u16)>);

/// How long a start's status waits for its answer before it is written: a start that
/// execs at once is written once, as `up`, not `starting` and then `up`.
pub const STATUS_WAIT: Millis = 20;

/// A start under way: its child's report pipe, watched in the event loop until it
/// says how the start ended; the readiness pipe to watch after its exec; and since
/// when its status waits for that answer, `None` once it no longer does (milliseconds
/// cut to 32 bits: a start under way takes 16 bytes, and a mass kill makes thousands).
struct UnderWay {
    report: OwnedFd,
    ready: Option<(OwnedFd, u16)>,
    waits_since: Option<NonZeroU32>,
}

/// How long a status that began to wait at `since` has waited at `now`; 0 when `now`
/// is earlier (the time a turn's wait ended, before the starts it then made).
fn waited(since: NonZeroU32, now: Millis) -> Millis {
    Millis::try_from((now as u32).wrapping_sub(since.get()) as i32).unwrap_or(0)
}

/// The starts under way.
#[derive(Default)]
pub struct Starts {
    under_way: alloc::collections::BTreeMap<i32, UnderWay>,
    /// Answers read while going started others, for the next delivery.
    answered: Vec<Answer>,
    /// The child whose pipe was looked at last, so that every one gets its turn.
    cursor: i32,
}

impl Starts {
    /// Watches child `pid`'s report pipe; `ready` is its readiness pipe's read end and N;
    /// a service's status waits for the answer from `now` on (a check has no status).
    pub fn watch(&mut self, spawned: Spawned, ready: Option<(OwnedFd, u16)>, now: Option<Millis>, poller: &Poller) {
        let pid = spawned.pid.as_raw_nonzero().get();
        // Without a watch the start is still reaped; only its failure's reason is lost.
        let _ = poller.add(&spawned.report, Source::Start(pid));
        let waits_since = now.and_then(|now| NonZeroU32::new((now as u32).max(1)));
        self.under_way.insert(pid, UnderWay { report: spawned.report, ready, waits_since });
        if self.under_way.len() > UNREAD_STARTS {
            self.look_at_next(poller);
            self.look_at_next(poller);
        }
    }

    fn look_at_next(&mut self, poller: &Poller) {
        let mut after = self.under_way.range(self.cursor.saturating_add(1)..).map(|(pid, _)| *pid);
        let Some(pid) = after.next().or_else(|| self.under_way.keys().next().copied()) else { return };
        self.cursor = pid;
        if let Some(answer) = self.read(pid, poller) {
            self.answered.push(answer);
        }
    }

    /// Whether child `pid`'s status waits for its start's answer ([`STATUS_WAIT`]).
    pub fn is_withheld(&self, pid: Pid) -> bool {
        self.under_way.get(&pid.as_raw_nonzero().get()).is_some_and(|start| start.waits_since.is_some())
    }

    /// The children whose status has waited [`STATUS_WAIT`] by `now`, and waits no longer.
    pub fn withheld_past(&mut self, now: Millis) -> Vec<Pid> {
        let mut past = Vec::new();
        for (&pid, start) in &mut self.under_way {
            if start.waits_since.is_some_and(|since| waited(since, now) >= STATUS_WAIT) {
                start.waits_since = None;
                past.extend(Pid::from_raw(pid));
            }
        }
        past
    }

    /// When the first status that waits for its start's answer stops waiting.
    pub fn next_withheld(&self, now: Millis) -> Option<Millis> {
        let waits = self.under_way.values().filter_map(|start| start.waits_since);
        waits.map(|since| now + STATUS_WAIT.saturating_sub(waited(since, now))).min()
    }

    /// The answers read by [`Starts::watch`] since the last call.
    pub fn take_answered(&mut self) -> Vec<Answer> {
        core::mem::take(&mut self.answered)
    }

    /// What child `pid`'s report pipe says now: `None` when it is not starting or has
    /// not said; its readiness pipe comes back with `Executed`.
    pub fn read(&mut self, pid: i32, poller: &Poller) -> Option<Answer> {
        let said = read_report(&self.under_way.get(&pid)?.report);
        if matches!(said, Report::Pending) {
            return None;
        }
        let start = self.under_way.remove(&pid)?;
        poller.remove(&start.report);
        Some((pid, said, start.ready))
    }

    /// Child `pid` was reaped: what its report pipe held is all it will ever say.
    pub fn ended(&mut self, pid: i32, poller: &Poller) -> Option<ChildFailure> {
        let said = match self.answered.iter().position(|(answered, ..)| *answered == pid) {
            Some(at) => Some(self.answered.swap_remove(at).1),
            None => self.read(pid, poller).map(|(_, said, ..)| said),
        };
        if let Some(start) = self.under_way.remove(&pid) {
            poller.remove(&start.report);
        }
        match said {
            Some(Report::Failed(failure)) => Some(failure),
            _ => None,
        }
    }
}

/// What a child's report pipe said ([`Spawned::report`]).
pub enum Report {
    /// Nothing yet: the child is still setting up.
    Pending,
    /// It closed empty: the program runs (or the child died before it could say).
    Executed,
    Failed(ChildFailure),
}

/// Reads a child's report pipe (non-blocking).
pub fn read_report(report: &OwnedFd) -> Report {
    let mut record = [0u8; ChildFailure::SIZE];
    match rustix::io::read(report, &mut record) {
        Ok(ChildFailure::SIZE) => Report::Failed(ChildFailure::from_bytes(record)),
        Err(Errno::AGAIN | Errno::INTR) => Report::Pending,
        // End-of-file, or a record cut short (a pipe takes 8 bytes whole): the exit status tells.
        _ => Report::Executed,
    }
}

impl Spawner {
    /// Call it early, while going's descriptors are few (its slots are the
    /// lowest free ones, and every child copies what lies below them), and
    /// after going set its signal dispositions.
    pub fn new(nofile: Rlimit) -> Result<Spawner, Errno> {
        use rustix::fs::OFlags;
        let dev_null = rustix::fs::open(c"/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())?;
        let limit = rustix::process::getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
        let share_fds = limit >= SHARED_FROM_LIMIT && crate::rt::can_share_fds();
        let count = if share_fds { SHARED_SETS + 1 } else { 1 };
        let sets = (0..count).map(|_| SlotSet::new(&dev_null)).collect::<Result<Vec<_>, _>>()?;
        Ok(Spawner {
            keep_below: sets[count - 1].cgroup.as_raw_fd() as u32 + 1,
            dev_null,
            sets,
            share_fds,
            nofile,
            ignored: crate::rt::ignored_signals(),
            held_since: None,
        })
    }

    /// Frees the slots of every start whose child has a table of its own by
    /// now; while a child still shares going's, when to look again (its report
    /// pipe cannot end while going holds its write end): after as long as it has
    /// been held, from 1 ms up to a second, for a child that does not run (born
    /// in a frozen cgroup) until it is thawed.
    pub fn release_later(&mut self, now: Millis) -> Option<Millis> {
        if !self.release() {
            self.held_since = None;
            return None;
        }
        let since = *self.held_since.get_or_insert(now);
        Some(now + now.saturating_sub(since).clamp(1, MAX_RECHECK))
    }

    /// Frees the slots of every start whose child has a table of its own by
    /// now; whether a child still shares going's.
    fn release(&mut self) -> bool {
        let mut held = false;
        let shared = self.sets.len() - 1;
        for set in &mut self.sets[..shared] {
            match set.sharer {
                Some(pid) if crate::rt::shares_fds(pid) => held = true,
                Some(_) => set.free(&self.dev_null),
                None => {}
            }
        }
        held
    }

    /// Starts `command` in a new child of going's and returns at once, before
    /// the child's setup.
    pub fn spawn(&mut self, command: &PreparedCommand, stdio: Stdio) -> Result<Spawned, Errno> {
        use rustix::pipe::PipeFlags;
        let argv = pointers(&command.argv);
        let mut envp = pointers(&command.envp);
        let listen = &stdio.listen[..stdio.listen.len().min(MAX_LISTEN)];
        // A start with sockets copies going's table: they lie anywhere in it.
        let copying = self.sets.len() - 1;
        let shared = match self.share_fds && listen.is_empty() {
            true => {
                self.release();
                self.sets[..copying].iter().position(|set| set.sharer.is_none())
            }
            false => None,
        };
        let index = shared.unwrap_or(copying);
        let (report, report_write) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        let given = [stdio.output, stdio.ready.map(|(pipe, _)| pipe), Some(report_write.as_fd()), stdio.cgroup];
        if let Err(error) = self.sets[index].fill(given) {
            self.sets[index].free(&self.dev_null);
            return Err(error);
        }
        drop(report_write);
        let set = &self.sets[index];
        let fds = ChildFds {
            input: self.dev_null.as_fd(),
            output: if stdio.output.is_some() { set.output.as_fd() } else { self.dev_null.as_fd() },
            ready: stdio.ready.map(|(_, number)| (set.ready.as_fd(), number)),
            report: set.report.as_fd(),
            listen,
        };
        let (nofile, ignored, going) = (&self.nofile, self.ignored, rustix::process::getpid());
        let forked = crate::rt::fork_child(shared.is_some(), stdio.cgroup.map(|_| set.cgroup.as_fd()));
        if let Ok(None) = forked {
            // First, before any descriptor changes: going's table is not the child's to change.
            if shared.is_some()
                && let Err(error) = crate::rt::unshare_fds_below(self.keep_below)
            {
                let _ = rustix::io::write(fds.report, &ChildFailure { step: Step::Stdio, error }.to_bytes());
                crate::rt::exit(126)
            }
            // Other starts' slots: their report pipes would not end until this exec. And what lies
            // below /dev/null (going's signalfd and epoll, what its parent left open): the exec
            // then closes only pipes and /dev/null, since kcmp waits while an exec closes files.
            let (first, own, last) = (self.sets[0].output.as_raw_fd(), set.output.as_raw_fd(), set.cgroup.as_raw_fd());
            crate::rt::close_fds(3, self.dev_null.as_raw_fd() - 1);
            crate::rt::close_fds(first, own - 1);
            crate::rt::close_fds(last + 1, self.keep_below as i32 - 1);
            become_service(command, &argv, &mut envp, fds, (ignored, nofile, going))
        }
        let set = &mut self.sets[index];
        match forked {
            Ok(Some(pid)) if shared.is_some() => {
                set.sharer = Some(pid);
                self.held_since = None;
            }
            _ => set.free(&self.dev_null),
        }
        match forked? {
            Some(pid) => Ok(Spawned { pid, report }),
            None => Err(Errno::CHILD),
        }
    }
}

/// In the service's process, just forked with a small table: puts its report pipe clear of
/// where its sockets and readiness pipe go, writes its `LISTEN_PID`, sets itself up and
/// execs; when a step fails, reports it and exits 127 (no such program) or 126.
fn become_service(
    command: &PreparedCommand,
    argv: &[*const u8],
    envp: &mut [*const u8],
    fds: ChildFds,
    (ignored, nofile, going): (crate::rt::SignalSet, &Rlimit, Pid),
) -> ! {
    // The report pipe must not sit where a socket or the readiness pipe goes.
    let last = fds.ready.map_or(0, |(_, number)| i32::from(number)).max(2 + fds.listen.len() as i32);
    let moved = match fds.report.as_raw_fd() {
        3.. if fds.report.as_raw_fd() <= last => rustix::io::fcntl_dupfd_cloexec(fds.report, last + 1).ok(),
        _ => None,
    };
    let report = moved.as_ref().map_or(fds.report, |moved| moved.as_fd());
    // This process's own copy of memory: going's `envp` is not changed.
    let mut listen_pid = [0u8; 32];
    if let Some(at) = command.listen_pid_at {
        write_listen_pid(&mut listen_pid, rustix::process::getpid());
        envp[at] = listen_pid.as_ptr();
    }
    let Err(failed) = set_up_and_exec(command, argv, envp, fds, ignored, nofile, going);
    // A pipe takes 8 bytes whole; if the write fails the exit status still tells.
    let _ = rustix::io::write(report, &failed.to_bytes());
    crate::rt::exit(if failed.error == Errno::NOENT { 127 } else { 126 })
}

/// The descriptors the child puts at 0, 1, 2, 3... (its sockets) and N, and its report
/// pipe: all below the slots' end, but the sockets (in a copy of going's whole table).
#[derive(Clone, Copy)]
struct ChildFds<'a> {
    input: BorrowedFd<'a>,
    output: BorrowedFd<'a>,
    ready: Option<(BorrowedFd<'a>, u16)>,
    report: BorrowedFd<'a>,
    listen: &'a [BorrowedFd<'a>],
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
    ignored: crate::rt::SignalSet,
    nofile: &Rlimit,
    going: Pid,
) -> Result<core::convert::Infallible, ChildFailure> {
    // Cannot fail: a fresh child of going leads no process group.
    let _ = rustix::process::setsid();
    // Lowering a limit going raised for itself cannot fail.
    let _ = rustix::process::setrlimit(Resource::Nofile, *nofile);
    crate::rt::reset_signals_for_exec(ignored);
    step(Step::Stdio, rustix::stdio::dup2_stdin(fds.input))?;
    step(Step::Stdio, rustix::stdio::dup2_stdout(fds.output))?;
    step(Step::Stdio, rustix::stdio::dup2_stderr(fds.output))?;
    // Every socket and the readiness pipe move above the sockets' places first, so that
    // putting one at its place never closes another still to be placed.
    let above = 3 + fds.listen.len() as i32;
    let mut moved: [Option<OwnedFd>; MAX_LISTEN] = Default::default();
    for (socket, copy) in fds.listen.iter().zip(&mut moved) {
        *copy = Some(step(Step::ListenFds, rustix::io::fcntl_dupfd_cloexec(socket, above))?);
    }
    let ready = match fds.ready {
        Some((pipe, number)) if pipe.as_raw_fd() < above => {
            Some((step(Step::ReadyFd, rustix::io::fcntl_dupfd_cloexec(pipe, above))?, number))
        }
        _ => None,
    };
    for (number, socket) in (3..).zip(moved.iter().flatten()) {
        step(Step::ListenFds, crate::rt::dup_onto(socket.as_fd(), number))?;
    }
    match (&ready, fds.ready) {
        (Some((pipe, number)), _) => step(Step::ReadyFd, crate::rt::dup_onto(pipe.as_fd(), *number))?,
        (None, Some((pipe, number))) => step(Step::ReadyFd, crate::rt::dup_onto(pipe, number))?,
        (None, None) => {}
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
    if death_signal.is_err() || rustix::process::getppid() != Some(going) {
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
        let identity = spec.settings().identity.as_ref();
        let ChildFailure { step, error } = self.failure;
        let reason = describe(error);
        match step {
            Step::Stdio => write!(f, "cannot set up stdin, stdout and stderr: {reason}"),
            Step::ReadyFd => write!(f, "cannot give the readiness pipe as descriptor {}: {reason}", ready_fd(spec)),
            Step::ListenFds => write!(f, "cannot give its listen= sockets as descriptors 3 and up: {reason}"),
            Step::Rlimit => write!(f, "cannot set a resource limit: {reason}"),
            Step::Chroot => write!(f, "cannot chroot to {}: {reason}", spec.settings().chroot.as_deref().unwrap_or("")),
            Step::Chdir => write!(f, "cannot change directory to {}: {reason}", spec.cwd()),
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

    fn since(millis: u32) -> NonZeroU32 {
        NonZeroU32::new(millis).unwrap()
    }

    #[test]
    fn a_status_has_waited_the_time_since_it_began_across_the_32_bit_wrap() {
        assert_eq!(waited(since(1_000), 1_020), 20);
        assert_eq!(waited(since(u32::MAX - 5), (1 << 32) + 14), 20);
    }

    #[test]
    fn a_time_before_the_wait_began_counts_as_no_wait() {
        // A turn's wait ends before the starts the turn then makes.
        assert_eq!(waited(since(1_020), 1_000), 0);
        assert_eq!(waited(since(5), (1 << 32) - 10), 0);
    }
}
