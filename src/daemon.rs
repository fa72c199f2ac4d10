//! Entry and event loop: turns kernel events into state-machine events.
//!
//! `Daemon::set_up` does everything once, in order (signals first); then
//! each `Daemon::turn` makes one blocking call, `epoll_wait` over the
//! signalfd, inotify, the control FIFO, the pidfds of service processes,
//! the report pipes of starts under way, the service log pipes and the
//! readiness pipes and socket, with the earliest deadline of any service
//! (or of a held status file, or of the notify socket's pause) as its
//! timeout, and dispatches what is ready by its token. Each source is drained until it is empty. What a
//! turn changed is told to the state machine until nothing is left, and
//! the status files it changed are written last (or after the next fork).

use crate::cgroups::{Cgroups, ServiceCgroup, ServiceCgroups};
use crate::config::{ReadyWhen, ServiceSpec};
use crate::dir_watch::DirWatch;
use crate::events::{Poller, Source};
use crate::leftovers;
use crate::listeners::Listeners;
use crate::log::{Logger, Severity, describe};
use crate::protocol::DEFAULT_RUN_DIR;
use crate::protocol::Exit;
use crate::readiness::{Notice, Readiness};
use crate::reaper::Reaper;
use crate::rt::{self, Disposition, SIGNALFD_RECORD_SIZE, SignalSet};
use crate::run_dir::RunDir;
use crate::service_dir::{self, MAX_SERVICES, Scope, ToldErrors};
use crate::service_log::ServiceLogs;
use crate::spawn::{self, ChildFailure, FailureReport, Report, STATUS_WAIT, Spawner, Starts, Stdio};
use crate::supervisor::{Effects, LeftBehind, Millis, Scanned, State, Status, Stop, Supervisor};
use crate::trust::DirError;
use alloc::ffi::CString;
use alloc::string::String;
use alloc::vec::Vec;
use core::ffi::CStr;
use core::fmt;
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, Resource, Rlimit, Signal};
use rustix::time::Timespec;

pub const DEFAULT_DIR: &CStr = c"/etc/going.d";

/// How long after a directory event the rescan happens: a burst of changes
/// (a deploy, `git checkout`) within this window is applied in one rescan.
pub const RESCAN_DELAY: Millis = 20;

/// The least time between the starts of two rescans: a stream of events (a
/// file truncated in a loop) costs at most ten rescans a second, while a
/// single change after a quiet spell still applies after [`RESCAN_DELAY`].
pub const MIN_RESCAN_GAP: Millis = 100;

/// sysexits(3) codes.
pub const EXIT_USAGE: i32 = 64;
pub const EXIT_NO_DIR: i32 = 72;
pub const EXIT_OS_ERROR: i32 = 71;
pub const EXIT_UNTRUSTED_DIR: i32 = 78;

const USAGE: &str = "usage: going [-d DIR] [-r RUNDIR] | -n [-d DIR] | -v | -h
  -d DIR     supervise the service files in DIR (default /etc/going.d)
  -n         check the files of DIR as going would read them, start nothing; exit 0 if all is well, 65 if not
  -r RUNDIR  keep status files and the control FIFO in RUNDIR (default /run/going)
  -v      print the version and exit
  -h      print this help and exit
";

enum Invocation<'a> {
    Run { dir: &'a CStr, run_dir: &'a str },
    Check { dir: &'a CStr },
    Version,
    Help,
}

fn parse_args<'a>(args: &[&'a CStr]) -> Result<Invocation<'a>, String> {
    let mut dir = DEFAULT_DIR;
    let mut run_dir = DEFAULT_RUN_DIR;
    let mut check = false;
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        match arg.to_bytes() {
            b"-v" | b"--version" => return Ok(Invocation::Version),
            b"-h" | b"--help" => return Ok(Invocation::Help),
            b"-d" => dir = rest.next().ok_or("option -d needs a directory")?,
            b"-n" => check = true,
            b"-r" => {
                let path = rest.next().ok_or("option -r needs a directory")?;
                run_dir = path.to_str().map_err(|_| "the run directory's path must be UTF-8")?;
            }
            other => {
                return Err(alloc::format!("unknown argument \"{}\"", String::from_utf8_lossy(other)));
            }
        }
    }
    match check {
        true => Ok(Invocation::Check { dir }),
        false => Ok(Invocation::Run { dir, run_dir }),
    }
}

fn print(fd: rustix::fd::BorrowedFd, text: &str) {
    let _ = rustix::io::write(fd, text.as_bytes());
}

fn now() -> Millis {
    crate::clock::monotonic_millis()
}

/// The signals of a stop: the stop signal, then SIGCONT (a stopped process acts
/// on it only once continued); or SIGKILL alone.
fn stop_signals(stop: Stop) -> impl Iterator<Item = Signal> {
    let first = match stop {
        Stop::Ask(number) => Signal::from_named_raw(number).unwrap_or(Signal::TERM),
        Stop::Kill => Signal::KILL,
    };
    core::iter::once(first).chain((first != Signal::KILL).then_some(Signal::CONT))
}

/// The effects of the state machine, carried out for real.
struct Host {
    logger: Logger,
    poller: Poller,
    spawner: Spawner,
    /// Children between their fork and their exec.
    starts: Starts,
    run_dir: RunDir,
    logs: ServiceLogs,
    reaper: Reaper,
    /// The configuration errors already logged.
    told: ToldErrors,
    readiness: Readiness,
    /// Services whose program was executed, to tell the state machine once it is free
    /// to hear it (a pid is 4 bytes: a reload of 10,000 starts holds 40 kB here).
    executed: Vec<Pid>,
    /// Each service's cgroup (none where cgroups could not be set up: services are
    /// tracked by process group).
    cgroups: ServiceCgroups,
    /// The sockets of `listen=`, held across restarts.
    listeners: Listeners,
    /// How many statuses were published: whether the state machine published one.
    publications: u64,
}

impl Effects for Host {
    fn spawn(&mut self, name: &str, spec: &ServiceSpec) -> Result<Pid, Errno> {
        let ready_pipe = match spec.settings().ready {
            ReadyWhen::Fd(number) => Some((Readiness::pipe()?, number)),
            _ => None,
        };
        let ready = ready_pipe.as_ref().map(|((_, write), number)| (write.as_fd(), *number));
        let cgroup = self.cgroups.to_start_in(name, &mut self.logger);
        let output = match &spec.settings().log {
            Some(target) => Some(self.logs.writer_for(name, target, &self.poller)?),
            None => {
                self.logs.retire(name);
                None
            }
        };
        let cgroup = cgroup.as_ref().map(ServiceCgroup::dir);
        let notify_socket = match spec.settings().ready {
            ReadyWhen::Notify => Some(self.readiness.notify_address(&self.poller)?),
            _ => None,
        };
        let sockets = self.listeners.sockets_of(name, spec);
        let listen = (!sockets.is_empty()).then_some((name, sockets.len()));
        let command = spawn::prepare(spec, &spec.argv, spawn::Given { notify_socket, listen });
        let spawned = self.spawner.spawn(&command, Stdio { output, ready, cgroup, listen: &sockets })?;
        let pid = spawned.pid;
        self.reaper.track(pid, &self.poller)?;
        let ready = ready_pipe.map(|((read, _), number)| (read, number));
        self.starts.watch(spawned, ready, Some(now()), &self.poller);
        // The fork came first; now what changed before it.
        self.run_dir.write_staged(&mut self.logger);
        Ok(pid)
    }

    fn spawn_check(&mut self, name: &str, spec: &ServiceSpec) -> Result<Pid, Errno> {
        let check = spec.check().expect("BUG: a check is spawned for a spec with check=");
        let command = spawn::prepare(spec, &check.argv, spawn::Given::default());
        // In its service's cgroup: whatever it leaves behind is stopped with the service.
        let cgroup = self.cgroups.open(name);
        let cgroup = cgroup.as_ref().map(ServiceCgroup::dir);
        // Its output is discarded: a check says what it found by its exit status.
        let spawned = self.spawner.spawn(&command, Stdio { output: None, ready: None, cgroup, listen: &[] })?;
        let pid = spawned.pid;
        self.reaper.track(pid, &self.poller)?;
        self.starts.watch(spawned, None, None, &self.poller);
        Ok(pid)
    }

    fn kill_check(&mut self, pid: Pid) {
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        // Before its setsid it leads no group yet.
        let _ = rustix::process::kill_process(pid, Signal::KILL);
    }

    fn signal_group(&mut self, name: &str, pid: Pid, stop: Stop) {
        if let Some(cgroup) = self.cgroups.open(name) {
            for signal in stop_signals(stop) {
                cgroup.signal(signal);
            }
            self.after_signals(name, stop);
            return;
        }
        for signal in stop_signals(stop) {
            // Between fork and setsid the child leads no group yet: signal it alone.
            if rustix::process::kill_process_group(pid, signal) == Err(Errno::SRCH) {
                let _ = rustix::process::kill_process(pid, signal);
            }
        }
    }

    fn signal_leftovers(&mut self, name: &str, group: Pid, stop: Stop) {
        let cgroup = self.cgroups.open(name);
        for signal in stop_signals(stop) {
            match &cgroup {
                Some(cgroup) => cgroup.signal(signal),
                None => _ = rustix::process::kill_process_group(group, signal),
            }
        }
        self.after_signals(name, stop);
    }

    fn left_behind(&mut self, name: &str, group: Pid) -> LeftBehind {
        if let Some(cgroup) = self.cgroups.open(name) {
            return match cgroup.populated() {
                true => LeftBehind::Processes(cgroup.pids().len()),
                false => LeftBehind::Nothing,
            };
        }
        // EPERM: a process is there that going may not signal; it still holds the group.
        match rustix::process::test_kill_process_group(group) {
            Err(Errno::SRCH) => LeftBehind::Nothing,
            _ => LeftBehind::Group,
        }
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
        self.publications += 1;
        if let State::Up { pid, .. } = status.state
            && self.starts.is_withheld(pid)
        {
            // Published once its start answers ([`Host::deliver_notices`]) or waited long enough.
            return;
        }
        let wall = crate::clock::unix_millis() / 1000;
        let cgroup = self.cgroups.path_of(name);
        let start_time = match status.state {
            State::Up { pid, .. } | State::Stopping { pid, .. } => self.reaper.start_time(pid.as_raw_nonzero().get()),
            _ => None,
        };
        let text = self.run_dir.render(name, status, (now(), wall), (cgroup.as_deref(), start_time));
        self.run_dir.stage(name, text, &mut self.logger);
    }

    fn publish_refused(&mut self, name: &str, error: &str) {
        let text = self.run_dir.render_refused(name, error);
        self.run_dir.stage(name, text, &mut self.logger);
    }

    fn withdraw(&mut self, name: &str) {
        self.listeners.close_all(name);
        self.run_dir.withdraw(name);
        self.logs.retire(name);
        self.cgroups.remove(name);
    }
}

impl Host {
    /// Holds the `listen=` sockets of each service a scan accepted; a file whose address
    /// cannot be had is refused at that line instead, and nothing else is touched.
    fn hold_sockets(&mut self, services: &mut [(String, Scanned)]) {
        for (name, scanned) in services {
            let Scanned::Valid(spec) = scanned else { continue };
            if let Err(error) = self.listeners.hold(name, spec) {
                let message = alloc::format!("{}", crate::config::Located(name, &error));
                let severity = Severity::Error;
                self.logger.log(severity, format_args!("{message} (not started; a running instance keeps running)"));
                *scanned = Scanned::Refused(alloc::boxed::Box::new(message));
            }
        }
    }

    /// Closes each socket that no service's file names any more (a refused change's new
    /// addresses included: the service runs its file before).
    fn close_unnamed_sockets(&mut self, supervisor: &Supervisor) {
        self.listeners.close_unnamed(|service, address| {
            let listen = supervisor.spec_of(service).map_or(&[][..], |spec| &spec.settings().listen[..]);
            listen.iter().any(|listen| listen.address == *address)
        });
    }

    /// A SIGKILL went through `cgroup.kill`: the cgroup is made anew before the next fork.
    fn after_signals(&mut self, name: &str, stop: Stop) {
        if stop_signals(stop).any(|signal| signal == Signal::KILL) {
            self.cgroups.killed(name);
        }
    }

    /// Child `pid`'s report pipe is readable: its program runs, or its setup failed.
    fn start_reported(&mut self, supervisor: &mut Supervisor, pid: i32) {
        if let Some(answer) = self.starts.read(pid, &self.poller) {
            self.start_answered(supervisor, answer);
        }
    }

    fn start_answered(&mut self, supervisor: &mut Supervisor, (pid, report, ready): spawn::Answer) {
        let Some(pid) = Pid::from_raw(pid) else { return };
        match report {
            Report::Failed(failure) => self.log_failure(supervisor, pid, failure),
            Report::Pending => {}
            Report::Executed => {
                if let Some((read, number)) = ready {
                    self.readiness.watch_pipe(pid, read, number, &self.poller);
                }
                self.executed.push(pid);
            }
        }
    }

    /// Logs why child `pid` of a service did not run its program (or its check's); a
    /// service's status shows it until a start runs its program.
    fn log_failure(&mut self, supervisor: &mut Supervisor, pid: Pid, failure: ChildFailure) {
        let Some((name, spec, check)) = supervisor.service_of(pid) else { return };
        let (program, what) = match (check, spec.check()) {
            (true, Some(check)) => (check.argv.program(), "check: "),
            _ => (spec.argv.program(), ""),
        };
        let report = alloc::string::ToString::to_string(&FailureReport { failure, spec, program });
        self.logger.log(Severity::Error, format_args!("{name}: {what}{report}"));
        if !check {
            supervisor.start_failed(now(), pid, &report, self);
        }
    }

    /// Reaps every child that has exited, orphans adopted as subreaper included.
    fn reap_all(&mut self, supervisor: &mut Supervisor) {
        // One at a time: a respawn told of one exit must not take the pid of the next.
        while let Some((pid, exit)) = self.reaper.reap_any(&self.poller) {
            self.reaped(supervisor, pid, exit);
        }
    }

    /// A child was reaped: what it said and left behind first, then the state machine.
    fn reaped(&mut self, supervisor: &mut Supervisor, pid: Pid, exit: Exit) {
        // A start that failed says why before its exit is told.
        if let Some(failure) = self.starts.ended(pid.as_raw_nonzero().get(), &self.poller) {
            self.log_failure(supervisor, pid, failure);
        }
        self.readiness.forget(pid.as_raw_nonzero().get(), &self.poller);
        self.deliver_notices(supervisor);
        // Whatever the process wrote last is in its log pipe: write it before the exit line.
        if let Some(name) = supervisor.name_of(pid) {
            self.logs.process_exited(name, &mut self.logger);
        }
        supervisor.reaped(now(), pid, exit, self);
    }

    /// Tells the state machine what services said of their readiness, and
    /// that children exec'd, until no notice is left: a service that becomes
    /// ready may start others, which give notices of their own.
    fn deliver_notices(&mut self, supervisor: &mut Supervisor) {
        loop {
            for answer in self.starts.take_answered() {
                self.start_answered(supervisor, answer);
            }
            let (executed, notices) = (core::mem::take(&mut self.executed), self.readiness.take_notices());
            if executed.is_empty() && notices.is_empty() {
                return;
            }
            for pid in executed {
                let publications = self.publications;
                supervisor.executed(now(), pid, self);
                // Its status may have waited for this ([`Host::publish`]): published unless the
                // state machine just did. One that stopped waiting is written again unchanged:
                // it answered later than STATUS_WAIT, which few do.
                if self.publications == publications
                    && let Some((name, status)) = supervisor.status_by_pid(pid)
                {
                    self.publish(name, &status);
                }
            }
            for notice in notices {
                self.deliver(supervisor, notice);
            }
        }
    }

    fn deliver(&mut self, supervisor: &mut Supervisor, notice: Notice) {
        match notice {
            Notice::Ready { pid, how } => supervisor.notified_ready(now(), pid, how, self),
            Notice::Status { pid, text } => supervisor.status_text(now(), pid, &text, self),
            Notice::PipeClosed { pid, fd } => {
                if let Some(name) = supervisor.name_of(pid) {
                    let message = format_args!(
                        "{name}: closed its readiness descriptor {fd} without writing a newline; \
                         not ready until it starts again"
                    );
                    self.logger.log(Severity::Warning, message);
                }
            }
        }
    }

    /// Rescans the directory: every file, or `only` the files that changed.
    fn reload(
        &mut self,
        supervisor: &mut Supervisor,
        dir: &CStr,
        watch: Option<&mut DirWatch>,
        only: Option<Vec<CString>>,
    ) {
        let being_written = watch.as_ref().map_or(&[][..], |watch| watch.being_written());
        // The services the files read may replace: every one, or those of the changed files.
        let replaced = only.as_ref().map(|files| {
            let files: Vec<&str> = files.iter().filter_map(|file| file.to_str().ok()).collect();
            supervisor.names_from(&files, |name| service_dir::is_in_path(dir, name))
        });
        let (known, room): (Vec<&str>, usize) = match &replaced {
            Some(names) => {
                // Refused files are among the names too, but hold no room in the table.
                let kept = supervisor.len() - names.iter().filter(|name| supervisor.has(name)).count();
                (names.iter().map(String::as_str).collect(), MAX_SERVICES.saturating_sub(kept))
            }
            None => (supervisor.states().map(|(name, _)| name).collect(), MAX_SERVICES),
        };
        let scanned = service_dir::scan(
            dir,
            Scope { only: only.as_deref(), being_written, known: &known, room },
            &mut self.told,
            &mut self.logger,
        );
        match scanned {
            Ok(mut scan) => {
                if let Some(watch) = watch {
                    watch.watch_also(&scan.procfile_dirs, &mut self.logger);
                }
                self.hold_sockets(&mut scan.services);
                match replaced {
                    Some(replaced) => supervisor.reload_part(now(), &replaced, scan.services, self),
                    None => supervisor.reload(now(), scan.services, self),
                }
                self.close_unnamed_sockets(supervisor);
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
    /// The senders of SIGCHLD (one for each signal read; the kernel merges some).
    children: Vec<i32>,
    hang_up: bool,
    stop: Option<&'static str>,
}

fn drain_signals(signal_fd: &OwnedFd) -> Signals {
    let mut signals = Signals::default();
    let mut record = [0u8; SIGNALFD_RECORD_SIZE];
    while let Ok(SIGNALFD_RECORD_SIZE) = rustix::io::read(signal_fd, &mut record) {
        let number = i32::from_ne_bytes(record[..4].try_into().expect("BUG: 4 bytes"));
        match Signal::from_named_raw(number) {
            Some(Signal::CHILD) => {
                signals.child = true;
                let sender = u32::from_ne_bytes(record[12..16].try_into().expect("BUG: 4 bytes"));
                signals.children.push(sender as i32);
            }
            Some(Signal::HUP) => signals.hang_up = true,
            Some(Signal::TERM) => signals.stop = Some("SIGTERM"),
            Some(Signal::INT) => signals.stop = Some("SIGINT"),
            _ => {}
        }
    }
    signals
}

fn wait_timeout(deadline: Option<Millis>) -> Option<Timespec> {
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

/// Why going cannot start: what it prints and its exit status.
struct SetupFailure {
    code: i32,
    message: String,
}

fn setup_failure(code: i32, message: fmt::Arguments) -> SetupFailure {
    SetupFailure { code, message: alloc::format!("going: {message}\n") }
}

/// Signals become data before anything can send one. They are blocked first, so
/// that none acts by its default before the signalfd reads it; then what the parent
/// left ignored is undone (an ignored SIGCHLD would reap services behind going's
/// back). SIGPIPE is ignored: a write to a pipe whose reader is gone fails with EPIPE.
fn set_up_signals() -> Result<OwnedFd, Errno> {
    let handled = [Signal::CHILD, Signal::HUP, Signal::TERM, Signal::INT];
    let set = handled.into_iter().fold(SignalSet::default(), SignalSet::with);
    rt::block_only(set)?;
    for signal in handled {
        rt::set_disposition(signal, Disposition::Default)?;
    }
    rt::set_disposition(Signal::PIPE, Disposition::Ignore)?;
    rt::signalfd(set)
}

/// A running going: the service table, the world it acts on, and what it waits on.
struct Daemon<'a> {
    dir: &'a CStr,
    supervisor: Supervisor,
    host: Host,
    signal_fd: OwnedFd,
    watch: Option<DirWatch>,
    /// When the directory is rescanned, after a change settled.
    rescan_at: Option<Millis>,
    last_rescan: Option<Millis>,
    /// When `.loaded` is made: once every start of the first scan was published.
    loaded_at: Option<Millis>,
    /// What the last wait found ready; kept to reuse its memory.
    ready: Vec<Source>,
}

impl<'a> Daemon<'a> {
    fn set_up(dir: &'a CStr, run_dir: &str) -> Result<Daemon<'a>, SetupFailure> {
        let failure =
            |what: &str, error| setup_failure(EXIT_OS_ERROR, format_args!("cannot {what}: {}", describe(error)));
        let signal_fd = set_up_signals().map_err(|error| failure("set up signalfd", error))?;
        // Older kernels (before 5.11) lack the flag: inherited descriptors then stay as they were.
        let _ = rt::mark_inherited_fds_close_on_exec();
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
        let child_nofile = raise_nofile_limit();
        let poller = Poller::new().map_err(|error| failure("create the epoll set", error))?;
        poller.add(&signal_fd, Source::Signals).map_err(|error| failure("watch the signalfd", error))?;
        // Among the first descriptors: every child copies those below the spawner's.
        let spawner = Spawner::new(child_nofile).map_err(|error| failure("prepare to start children", error))?;

        let mut logger = Logger::new();
        let shown_dir = dir.to_string_lossy();
        let mut told = ToldErrors::default();
        // Watched before it is read: a change made once a service runs is never missed.
        let watch = DirWatch::new(dir);
        let scan = service_dir::scan(dir, Scope::EVERYTHING, &mut told, &mut logger).map_err(|error| {
            let code = match error {
                DirError::Unreadable(_) => EXIT_NO_DIR,
                DirError::Untrusted(_) => EXIT_UNTRUSTED_DIR,
            };
            setup_failure(code, format_args!("{shown_dir}: {error}"))
        })?;
        let mut run_dir = RunDir::open(run_dir, &shown_dir, &mut logger);
        let previous = run_dir.take_previous_statuses();
        leftovers::kill_leftovers(&previous, run_dir.boot_id(), &mut logger);
        if let Some(control) = run_dir.control_fd() {
            let _ = poller.add(control, Source::Control);
        }
        let logs = ServiceLogs::new();
        let reaper = Reaper::default();
        let readiness = Readiness::default();
        // The run directory names going's cgroup subtree only while no other going can use it.
        let subtree = crate::cgroups::subtree_name(run_dir.is_ours().then(|| run_dir.path()));
        let (cgroups, tracking) = Cgroups::set_up(&subtree, &mut logger);
        run_dir.describe_going(&tracking);
        let mut host = Host {
            logger,
            poller,
            spawner,
            starts: Starts::default(),
            run_dir,
            logs,
            reaper,
            told,
            readiness,
            executed: Vec::new(),
            cgroups: ServiceCgroups::new(cgroups),
            listeners: Listeners::default(),
            publications: 0,
        };
        let version = env!("CARGO_PKG_VERSION");
        host.log(Severity::Info, format_args!("going {version} supervising {shown_dir}"));
        let watch = match watch {
            Ok(mut watch) => {
                watch.watch_also(&scan.procfile_dirs, &mut host.logger);
                let _ = host.poller.add(watch.fd(), Source::Inotify);
                Some(watch)
            }
            Err(error) => {
                let reason = describe(error);
                let message =
                    format_args!("{shown_dir}: cannot watch with inotify: {reason}; send SIGHUP after changes");
                host.log(Severity::Warning, message);
                None
            }
        };
        let mut supervisor = Supervisor::new();
        let mut services = scan.services;
        host.hold_sockets(&mut services);
        supervisor.reload(now(), services, &mut host);
        host.close_unnamed_sockets(&supervisor);
        host.deliver_notices(&mut supervisor);
        host.run_dir.write_staged(&mut host.logger);
        // By then every start of the first scan was published, answered or not.
        let loaded_at = Some(now() + STATUS_WAIT);
        let ready = Vec::new();
        Ok(Daemon { dir, supervisor, host, signal_fd, watch, rescan_at: None, last_rescan: None, loaded_at, ready })
    }

    /// Waits for the next event or deadline and acts on everything that is ready.
    fn turn(&mut self) {
        let deadlines = [
            self.supervisor.next_deadline(),
            self.rescan_at,
            self.host.readiness.deadline(),
            self.host.starts.next_withheld(now()),
            // A child that still shares going's table holds its start's slots: look again soon.
            self.host.spawner.release_later(now()),
            self.loaded_at,
        ];
        let deadline = deadlines.into_iter().flatten().min();
        let mut ready = core::mem::take(&mut self.ready);
        self.host.poller.wait(wait_timeout(deadline).as_ref(), &mut ready);
        let polled_at = now();
        let mut signals = Signals::default();
        for source in ready.drain(..) {
            match source {
                Source::Log(id) => self.host.logs.read(id, &self.host.poller, &mut self.host.logger),
                Source::Inotify => self.directory_changed(),
                Source::Control => self.commands_arrived(),
                Source::Signals => signals = drain_signals(&self.signal_fd),
                Source::Exited(pid) => {
                    if let Some((pid, exit)) = self.host.reaper.exited(pid, &self.host.poller) {
                        self.host.reaped(&mut self.supervisor, pid, exit);
                    }
                }
                Source::Start(pid) => self.host.start_reported(&mut self.supervisor, pid),
                Source::Ready(pid) => self.host.readiness.read_pipe(pid, &self.host.poller),
                Source::Notify => self.host.readiness.read_socket(now(), &self.host.poller),
            }
        }
        self.ready = ready;
        self.host.readiness.resume(now(), &self.host.poller);
        self.act_on(signals);
        self.supervisor.deadline_passed(now(), &mut self.host);
        // Last: whatever started above gives its notices now, not at some later wake-up.
        self.host.deliver_notices(&mut self.supervisor);
        let recreated = self.host.run_dir.take_recreated();
        if recreated {
            if let Some(control) = self.host.run_dir.control_fd() {
                let _ = self.host.poller.add(control, Source::Control);
            }
            self.supervisor.publish_all(&mut self.host);
        }
        // Starts whose status waited long enough for an answer are published as they are:
        // those that waited until the last wait ended, so that it read every answer sent by
        // then (and all of them for a recreated run directory, before `.loaded`).
        let waited_until = if recreated { Millis::MAX } else { polled_at };
        for pid in self.host.starts.withheld_past(waited_until) {
            if let Some((name, status)) = self.supervisor.status_by_pid(pid) {
                self.host.publish(name, &status);
            }
        }
        self.host.run_dir.write_staged(&mut self.host.logger);
        if recreated || self.loaded_at.is_some_and(|at| at <= polled_at) {
            self.loaded_at = None;
            self.host.run_dir.mark_loaded();
        }
    }

    fn directory_changed(&mut self) {
        let Some(watch) = self.watch.as_mut() else { return };
        if watch.read_events(&mut self.host.logger) {
            let earliest = self.last_rescan.map_or(0, |at| at + MIN_RESCAN_GAP);
            self.rescan_at.get_or_insert((now() + RESCAN_DELAY).max(earliest));
        }
    }

    fn commands_arrived(&mut self) {
        for (name, command) in self.host.run_dir.read_commands(&mut self.host.logger) {
            if !self.supervisor.control(now(), &name, command, &mut self.host) {
                self.host.log(Severity::Warning, format_args!("control: no service {name:?}; ignored"));
            }
        }
    }

    fn act_on(&mut self, signals: Signals) {
        // A draining group's members are orphans: their SIGCHLD may have merged with the leader's.
        let sweep = signals.child && (self.host.reaper.needs_sweep(&signals.children) || self.supervisor.is_draining());
        if sweep {
            self.host.reap_all(&mut self.supervisor);
        }
        if let Some(name) = signals.stop {
            self.host.log(Severity::Info, format_args!("received {name}; stopping all services"));
            self.supervisor.stop_all(now(), &mut self.host);
            return;
        }
        let settled = self.rescan_at.is_some_and(|at| at <= now());
        if !signals.hang_up && !settled {
            return;
        }
        // SIGHUP, or no inotify: every file. Otherwise what inotify named, unless it needs every file too.
        let changes = self.watch.as_mut().and_then(DirWatch::take_changes);
        let only = if signals.hang_up { None } else { changes };
        if signals.hang_up {
            self.host.told.forget();
            if let Some(watch) = self.watch.as_mut() {
                watch.forget_writers();
            }
        }
        self.rescan_at = None;
        self.last_rescan = Some(now());
        self.host.reload(&mut self.supervisor, self.dir, self.watch.as_mut(), only);
    }

    /// Runs until every service is stopped after SIGTERM or SIGINT; returns going's exit status.
    fn run(mut self) -> i32 {
        while !self.supervisor.is_finished() {
            self.turn();
        }
        self.host.run_dir.write_staged(&mut self.host.logger);
        self.host.run_dir.close();
        self.host.cgroups.close();
        self.host.log(Severity::Info, format_args!("all services stopped; exiting"));
        self.supervisor.exit_status()
    }
}

/// The daemon; returns its exit status.
pub fn main(args: &[&CStr]) -> i32 {
    rt::open_standard_fds();
    let (dir, run_dir) = match parse_args(args) {
        Ok(Invocation::Run { dir, run_dir }) => (dir, run_dir),
        Ok(Invocation::Check { dir }) => return crate::config_check::check(dir),
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
    match Daemon::set_up(dir, run_dir) {
        Ok(daemon) => daemon.run(),
        Err(SetupFailure { code, message }) => {
            print(rt::stderr(), &message);
            code
        }
    }
}
