//! Entry and event loop: turns kernel events into state-machine events.
//!
//! One blocking call per turn, `poll` over the signalfd and the failure
//! pipes of children still starting, with the earliest deadline of any
//! service as its timeout. Each source is drained until it is empty.

use crate::config::ServiceSpec;
use crate::dir_watch::DirWatch;
use crate::leftovers;
use crate::log::{Logger, Severity};
use crate::protocol::DEFAULT_RUN_DIR;
use crate::rt::{self, Disposition, SIGNALFD_RECORD_SIZE, SignalSet};
use crate::run_dir::RunDir;
use crate::service_dir::{self, ToldErrors};
use crate::service_log::ServiceLogs;
use crate::spawn::{self, FailureReport, Stdio};
use crate::supervisor::{Effects, Exit, Millis, Status, Stop, Supervisor};
use crate::trust::DirError;
use alloc::rc::Rc;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::CStr;
use core::fmt;
use rustix::event::{PollFd, PollFlags};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, Resource, Rlimit, Signal, WaitOptions};
use rustix::time::Timespec;

pub const DEFAULT_DIR: &CStr = c"/etc/going.d";

/// How long after a directory event the rescan happens: a burst of changes
/// (a deploy, `git checkout`) within this window is applied in one rescan.
pub const RESCAN_DELAY: Millis = 20;

/// The least time between the starts of two rescans: a stream of events (a
/// file truncated in a loop) costs at most ten rescans a second, while a
/// single change after a quiet spell still applies after [`RESCAN_DELAY`].
pub const MIN_RESCAN_GAP: Millis = 100;

/// Children between fork and exec whose pipes going holds before it collects
/// the finished ones (without waiting for any).
const MAX_PENDING_STARTS: usize = 32;

/// sysexits(3) codes.
pub const EXIT_USAGE: i32 = 64;
pub const EXIT_NO_DIR: i32 = 72;
pub const EXIT_OS_ERROR: i32 = 71;
pub const EXIT_UNTRUSTED_DIR: i32 = 78;

const USAGE: &str = "usage: going [-d DIR] [-r RUNDIR] | -v | -h
  -d DIR     supervise the service files in DIR (default /etc/going.d)
  -r RUNDIR  keep status files and the control FIFO in RUNDIR (default /run/going)
  -v      print the version and exit
  -h      print this help and exit
";

enum Invocation<'a> {
    Run { dir: &'a CStr, run_dir: &'a str },
    Version,
    Help,
}

fn parse_args<'a>(args: &[&'a CStr]) -> Result<Invocation<'a>, String> {
    let mut dir = DEFAULT_DIR;
    let mut run_dir = DEFAULT_RUN_DIR;
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        match arg.to_bytes() {
            b"-v" | b"--version" => return Ok(Invocation::Version),
            b"-h" | b"--help" => return Ok(Invocation::Help),
            b"-d" => dir = rest.next().ok_or("option -d needs a directory")?,
            b"-r" => {
                let path = rest.next().ok_or("option -r needs a directory")?;
                run_dir = path.to_str().map_err(|_| "the run directory's path must be UTF-8")?;
            }
            other => {
                return Err(alloc::format!("unknown argument \"{}\"", String::from_utf8_lossy(other)));
            }
        }
    }
    Ok(Invocation::Run { dir, run_dir })
}

fn print(fd: rustix::fd::BorrowedFd, text: &str) {
    let _ = rustix::io::write(fd, text.as_bytes());
}

fn now() -> Millis {
    crate::clock::monotonic_millis()
}

/// A child between fork and exec, whose failure pipe is still open.
struct Starting {
    pid: Pid,
    report: OwnedFd,
    name: String,
    /// What the child was asked to do, to name it in a failure report.
    spec: Rc<ServiceSpec>,
}

/// The signals of a stop; a stopped process acts on SIGTERM only once continued.
fn stop_signals(stop: Stop) -> &'static [Signal] {
    match stop {
        Stop::Terminate => &[Signal::TERM, Signal::CONT],
        Stop::Kill => &[Signal::KILL],
    }
}

/// The effects of the state machine, carried out for real.
struct Host {
    logger: Logger,
    dev_null: OwnedFd,
    /// going's descriptor limit before it raised its own, given back to every child.
    child_nofile: Rlimit,
    starting: Vec<Starting>,
    run_dir: RunDir,
    logs: ServiceLogs,
    /// The configuration errors already logged.
    told: ToldErrors,
}

impl Effects for Host {
    fn spawn(&mut self, name: &str, spec: &Rc<ServiceSpec>) -> Result<Pid, Errno> {
        // A reload starts services back to back without a turn of the loop: collect the
        // starts that finished, or every fork would copy thousands of open pipes.
        if self.starting.len() >= MAX_PENDING_STARTS {
            for index in (0..self.starting.len()).rev() {
                self.collect_start(index);
            }
        }
        let command = spawn::prepare(spec);
        let input = self.dev_null.as_fd();
        let output = match &spec.options().log {
            Some(target) => self.logs.writer_for(name, target)?,
            None => {
                self.logs.retire(name);
                input
            }
        };
        let (pid, report) = spawn::spawn(&command, Stdio { input, output }, &self.child_nofile)?;
        self.starting.push(Starting { pid, report, name: name.into(), spec: Rc::clone(spec) });
        Ok(pid)
    }

    fn signal_group(&mut self, pid: Pid, stop: Stop) {
        for &signal in stop_signals(stop) {
            // Between fork and setsid the child leads no group yet: signal it alone.
            if rustix::process::kill_process_group(pid, signal) == Err(Errno::SRCH) {
                let _ = rustix::process::kill_process(pid, signal);
            }
        }
    }

    fn signal_leftovers(&mut self, group: Pid, stop: Stop) {
        for &signal in stop_signals(stop) {
            let _ = rustix::process::kill_process_group(group, signal);
        }
    }

    fn group_alive(&mut self, group: Pid) -> bool {
        // EPERM: a process is there that going may not signal; it still holds the group.
        rustix::process::test_kill_process_group(group) != Err(Errno::SRCH)
    }

    fn send_signal(&mut self, pid: Pid, signal: i32) {
        if let Some(signal) = Signal::from_named_raw(signal) {
            let _ = rustix::process::kill_process_group(pid, signal);
        }
    }

    fn log(&mut self, severity: Severity, message: fmt::Arguments) {
        self.logger.log(severity, message);
    }

    fn publish(&mut self, name: &str, status: &Status) {
        let wall = crate::clock::unix_millis() / 1000;
        self.run_dir.publish(name, status, now(), wall, &mut self.logger);
    }

    fn withdraw(&mut self, name: &str) {
        self.run_dir.withdraw(name);
        self.logs.retire(name);
    }
}

impl Host {
    /// Reads the failure pipe of a starting child, if it has anything to say.
    fn collect_start(&mut self, index: usize) {
        if self.report_failure(index) != Err(Errno::AGAIN) {
            self.starting.swap_remove(index);
        }
    }

    fn report_failure(&mut self, index: usize) -> Result<(), Errno> {
        let starting = &self.starting[index];
        if let Some(failure) = spawn::read_failure(&starting.report)? {
            let report = FailureReport { failure, spec: &starting.spec };
            self.logger.log(Severity::Error, format_args!("{}: {report}", starting.name));
        }
        Ok(())
    }

    /// Reaps every child that has exited, orphans adopted as subreaper included.
    fn reap_all(&mut self, supervisor: &mut Supervisor) {
        loop {
            let (pid, status) = match rustix::process::wait(WaitOptions::NOHANG) {
                Ok(Some(reaped)) => reaped,
                Err(Errno::INTR) => continue,
                Ok(None) | Err(_) => return,
            };
            // The child is gone, so its failure pipe holds all it will ever say: log it first.
            if let Some(index) = self.starting.iter().position(|s| s.pid == pid) {
                self.collect_start(index);
            }
            let exit = match (status.exit_status(), status.terminating_signal()) {
                (Some(code), _) => Exit::Code(code),
                (None, Some(signal)) => Exit::Signal(signal),
                (None, None) => continue,
            };
            // Whatever the process wrote last is in its log pipe: write it before the exit line.
            if let Some(name) = supervisor.name_of(pid) {
                self.logs.process_exited(name, &mut self.logger);
            }
            supervisor.reaped(now(), pid, exit, self);
        }
    }

    fn reload(&mut self, supervisor: &mut Supervisor, dir: &CStr, watch: Option<&mut DirWatch>) {
        let being_written = watch.as_ref().map_or(&[][..], |watch| watch.being_written());
        let known: Vec<&str> = supervisor.states().map(|(name, _)| name).collect();
        match service_dir::scan(dir, being_written, &known, &mut self.told, &mut self.logger) {
            Ok(scan) => {
                if let Some(watch) = watch {
                    watch.watch_also(&scan.procfile_dirs, &mut self.logger);
                }
                supervisor.reload(now(), scan.services, self);
            }
            // Deleted, not moved away: it was empty, so every service file was deleted.
            Err(DirError::Unreadable(Errno::NOENT)) if watch.as_ref().is_some_and(|watch| watch.removed()) => {
                let dir = dir.to_string_lossy();
                let message = format_args!("{dir}: directory deleted; stopping its services");
                self.logger.log(Severity::Warning, message);
                supervisor.reload(now(), Vec::new(), self);
            }
            Err(error) => {
                let dir = dir.to_string_lossy();
                let message = format_args!("{dir}: {error} (services keep running as they are)");
                self.logger.log(Severity::Error, message);
            }
        }
    }
}

/// What the signalfd said since the last turn.
#[derive(Default)]
struct Signals {
    child: bool,
    hang_up: bool,
    stop: Option<&'static str>,
}

fn drain_signals(signal_fd: &OwnedFd) -> Signals {
    let mut signals = Signals::default();
    let mut record = [0u8; SIGNALFD_RECORD_SIZE];
    while let Ok(SIGNALFD_RECORD_SIZE) = rustix::io::read(signal_fd, &mut record) {
        let number = i32::from_ne_bytes(record[..4].try_into().expect("BUG: 4 bytes"));
        match Signal::from_named_raw(number) {
            Some(Signal::CHILD) => signals.child = true,
            Some(Signal::HUP) => signals.hang_up = true,
            Some(Signal::TERM) => signals.stop = Some("SIGTERM"),
            Some(Signal::INT) => signals.stop = Some("SIGINT"),
            _ => {}
        }
    }
    signals
}

fn poll_timeout(deadline: Option<Millis>) -> Option<Timespec> {
    let wait = deadline?.saturating_sub(now());
    Some(Timespec { tv_sec: (wait / 1000) as i64, tv_nsec: (wait % 1000 * 1_000_000) as i64 })
}

/// Raises going's own descriptor limit to the hard one (a thousand services
/// starting at once hold a pipe each); returns the limit children get back.
fn raise_nofile_limit() -> Rlimit {
    let original = rustix::process::getrlimit(Resource::Nofile);
    let raised = Rlimit { current: original.maximum, maximum: original.maximum };
    let _ = rustix::process::setrlimit(Resource::Nofile, raised);
    original
}

/// The daemon; returns its exit status.
pub fn main(args: &[&CStr]) -> i32 {
    rt::open_standard_fds();
    let (dir, run_dir) = match parse_args(args) {
        Ok(Invocation::Run { dir, run_dir }) => (dir, run_dir),
        Ok(Invocation::Version) => {
            print(rt::stdout(), concat!("going ", env!("CARGO_PKG_VERSION"), "\n"));
            return 0;
        }
        Ok(Invocation::Help) => {
            print(rt::stdout(), USAGE);
            return 0;
        }
        Err(message) => {
            print(rt::stderr(), &alloc::format!("going: {message}\n{USAGE}"));
            return EXIT_USAGE;
        }
    };

    // Signals become data before anything can send one: block, then open the signalfd.
    let handled = [Signal::CHILD, Signal::HUP, Signal::TERM, Signal::INT];
    let set = handled.into_iter().fold(SignalSet::default(), SignalSet::with);
    // Blocked first, so that none of them acts by its default before the signalfd reads it; then
    // what the parent left ignored is undone (an ignored SIGCHLD would reap services behind going's
    // back). SIGPIPE ignored: a write to a pipe whose reader is gone fails with EPIPE instead.
    let set_up = rt::block_only(set)
        .and_then(|()| handled.into_iter().try_for_each(|signal| rt::set_disposition(signal, Disposition::Default)))
        .and_then(|()| rt::set_disposition(Signal::PIPE, Disposition::Ignore));
    let signal_fd = match set_up.and_then(|()| rt::signalfd(set)) {
        Ok(fd) => fd,
        Err(error) => {
            let reason = crate::log::describe(error);
            print(rt::stderr(), &alloc::format!("going: cannot set up signalfd: {reason}\n"));
            return EXIT_OS_ERROR;
        }
    };
    // Older kernels (before 5.11) lack the flag: inherited descriptors then stay as they were.
    let _ = rt::mark_inherited_fds_close_on_exec();
    let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    let child_nofile = raise_nofile_limit();

    let mut logger = Logger::new();
    let shown_dir = dir.to_string_lossy();
    let mut told = ToldErrors::default();
    let scan = match service_dir::scan(dir, &[], &[], &mut told, &mut logger) {
        Ok(scan) => scan,
        Err(error) => {
            print(rt::stderr(), &alloc::format!("going: {shown_dir}: {error}\n"));
            return match error {
                DirError::Unreadable(_) => EXIT_NO_DIR,
                DirError::Untrusted(_) => EXIT_UNTRUSTED_DIR,
            };
        }
    };
    let dev_null_flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC;
    let dev_null = match rustix::fs::open(c"/dev/null", dev_null_flags, rustix::fs::Mode::empty()) {
        Ok(fd) => fd,
        Err(error) => {
            let reason = crate::log::describe(error);
            print(rt::stderr(), &alloc::format!("going: cannot open /dev/null: {reason}\n"));
            return EXIT_OS_ERROR;
        }
    };
    let mut run_dir = RunDir::open(run_dir, &mut logger);
    let previous = run_dir.take_previous_statuses();
    leftovers::kill_leftovers(&previous, run_dir.boot_id(), &mut logger);
    let mut host =
        Host { logger, dev_null, child_nofile, starting: Vec::new(), run_dir, logs: ServiceLogs::new(), told };
    let version = env!("CARGO_PKG_VERSION");
    host.log(Severity::Info, format_args!("going {version} supervising {shown_dir}"));
    let mut supervisor = Supervisor::new();
    supervisor.reload(now(), scan.services, &mut host);
    let mut watch = match DirWatch::new(dir) {
        Ok(mut watch) => {
            watch.watch_also(&scan.procfile_dirs, &mut host.logger);
            Some(watch)
        }
        Err(error) => {
            let reason = crate::log::describe(error);
            let message = format_args!("{shown_dir}: cannot watch with inotify: {reason}; send SIGHUP after changes");
            host.log(Severity::Warning, message);
            None
        }
    };
    let mut rescan_at: Option<Millis> = None;
    let mut last_rescan: Option<Millis> = None;

    while !supervisor.is_finished() {
        let deadline = match (supervisor.next_deadline(), rescan_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout = poll_timeout(deadline);
        let inotify = watch.as_ref().map(DirWatch::fd);
        let control = host.run_dir.control_fd();
        let starts = host.starting.len();
        let (inotify_ready, control_ready, ready_pipes) = {
            let fixed = core::iter::once(Some(&signal_fd)).chain([inotify, control]).flatten();
            let pipes = host.starting.iter().map(|s| &s.report).chain(host.logs.read_ends());
            let watched = fixed.chain(pipes);
            let mut fds: Vec<PollFd> = watched.map(|fd| PollFd::new(fd, PollFlags::IN)).collect();
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(error) => panic!("poll failed: {}", crate::log::describe(error)),
            }
            let mut ready = fds.iter().map(|fd| !fd.revents().is_empty()).skip(1);
            let inotify_ready = inotify.is_some() && ready.next() == Some(true);
            let control_ready = control.is_some() && ready.next() == Some(true);
            (inotify_ready, control_ready, ready.collect::<Vec<bool>>())
        };
        let (ready_starts, ready_logs) = ready_pipes.split_at(starts);
        // Back to front, so that removing a finished start or log keeps the earlier indices valid.
        for index in (0..ready_starts.len()).rev() {
            if ready_starts[index] {
                host.collect_start(index);
            }
        }
        for index in (0..ready_logs.len()).rev() {
            if ready_logs[index] {
                host.logs.read(index, &mut host.logger);
            }
        }
        if let Some(watch) = watch.as_mut().filter(|_| inotify_ready)
            && watch.read_events(&mut host.logger)
        {
            let earliest = last_rescan.map_or(0, |at| at + MIN_RESCAN_GAP);
            rescan_at.get_or_insert((now() + RESCAN_DELAY).max(earliest));
        }
        if control_ready {
            for (name, command) in host.run_dir.read_commands(&mut host.logger) {
                if !supervisor.control(now(), &name, command, &mut host) {
                    host.log(Severity::Warning, format_args!("control: no service {name:?}; ignored"));
                }
            }
        }
        let signals = drain_signals(&signal_fd);
        if signals.child {
            host.reap_all(&mut supervisor);
        }
        if let Some(name) = signals.stop {
            host.log(Severity::Info, format_args!("received {name}; stopping all services"));
            supervisor.stop_all(now(), &mut host);
        } else if signals.hang_up || rescan_at.is_some_and(|at| at <= now()) {
            if signals.hang_up {
                host.told.forget();
                if let Some(watch) = watch.as_mut() {
                    watch.forget_writers();
                }
            }
            rescan_at = None;
            last_rescan = Some(now());
            host.reload(&mut supervisor, dir, watch.as_mut());
        }
        supervisor.deadline_passed(now(), &mut host);
        if host.run_dir.take_recreated() {
            supervisor.publish_all(&mut host);
        }
    }
    host.run_dir.close();
    host.log(Severity::Info, format_args!("all services stopped; exiting"));
    supervisor.exit_status()
}
