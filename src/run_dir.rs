//! The run directory: a status file per service, rewritten on every change
//! of that service (staged, and written once per turn or after the next
//! fork however often it changed), the control FIFO goingctl writes
//! one-line commands to, and a lock that tells goingctl a going serves the
//! directory.
//!
//! going runs as root and writes here, so the directory gets the same
//! distrust as the service directory: it is opened without following a
//! symlink and used only when going's user owns it and nobody else may write
//! to it; every later operation is relative to that descriptor. Status files
//! (`DIR/NAME`) are written to `DIR/.status.tmp`, created exclusively and
//! never through a symlink, and renamed into place, so a reader never sees
//! half a file. The FIFO is opened read-write and non-blocking: going is
//! always a writer of its own FIFO, so it never sees end-of-file when a
//! goingctl closes it. `DIR/.lock` carries a POSIX write lock for going's
//! whole life: goingctl asks for it (F_GETLK, no lock taken) to know whether
//! a going is there, and a second going on the same directory is refused.
//! If the directory is deleted under going, the next status write creates
//! it, the FIFO and (through the caller) every status file again, and logs it
//! once.

use crate::config::{LogTarget, StopPolicy};
use crate::log::{Logger, Severity, describe};
use crate::proc_stat;
use crate::protocol::Control;
use crate::protocol::Exit;
use crate::protocol::{
    ABOUT_GOING, CONTROL, LOADED, LOCK, MAX_COMMAND_LINE, MAX_STATUS_FILE, parse_command, show_signal,
};
use crate::supervisor::{Millis, State, Status};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// Where a status file is written before it is renamed into place: one name
/// for every service (going writes one at a time), short enough for any.
const TEMPORARY: &str = ".status.tmp";
/// Bytes read from the FIFO per wakeup: a flood cannot starve the rest of the loop.
const READ_PER_WAKEUP: usize = 4096;

pub struct RunDir {
    path: String,
    /// The service directory, named in status files.
    services: String,
    /// The trusted directory, `None` while it cannot be used.
    dir: Option<OwnedFd>,
    /// Holds the lock on [`LOCK`] for as long as going uses the directory.
    lock: Option<OwnedFd>,
    control: Option<OwnedFd>,
    /// This boot's id, written into status files beside each process's start time.
    boot_id: String,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// Inside a line that grew past [`MAX_COMMAND_LINE`]: dropped up to its newline.
    discarding: bool,
    /// Set when the directory was created again: every status must be written anew.
    recreated: bool,
    /// Setting the directory up failed and was logged: later failures are not logged again.
    unusable: bool,
    /// The text of [`ABOUT_GOING`], written again if the directory is made again.
    about_going: String,
    /// Status files not written yet (at most [`MAX_STAGED`]), each with its service's name.
    staged: Vec<(String, String)>,
}

/// Status files kept unwritten at most: a reload of thousands of services writes as it goes.
/// Each text is about 300 bytes: with 64 of them, going's heap at 100 services took a
/// second 64 kB segment in bench/scale.py's mass kill (VmPeak at 100 in bench/RESULTS.md).
const MAX_STAGED: usize = 32;

/// Why the run directory cannot be used.
enum SetupError {
    Os(Errno),
    Untrusted(String),
    /// Another going holds the lock: its pid, unless it is in another PID namespace.
    Taken(Option<i32>),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::Os(error) => write!(f, "{}", describe(*error)),
            SetupError::Untrusted(reason) => write!(f, "refused: {reason}"),
            SetupError::Taken(Some(pid)) => {
                write!(f, "another going (pid {pid}) uses it; give each going its own with -r")
            }
            SetupError::Taken(None) => {
                write!(f, "another going (in another PID namespace) uses it; give each going its own with -r")
            }
        }
    }
}

impl From<Errno> for SetupError {
    fn from(error: Errno) -> Self {
        SetupError::Os(error)
    }
}

fn state_name(state: &State) -> &'static str {
    match state {
        State::Up { ready: true, .. } => "up",
        State::Up { ready: false, .. } => "starting",
        State::Waiting => "waiting",
        State::Backoff { .. } => "backoff",
        State::Down => "down",
        State::Done => "done",
        State::Failed => "failed",
        State::Stopping { .. } | State::Draining { .. } => "stopping",
    }
}

/// Which process a status file names, beyond its pid: a pid is reused, this pair is not.
pub struct ProcessIdentity<'a> {
    pub boot_id: &'a str,
    pub start_time: u64,
}

/// The contents of a status file; going(8) documents every key.
/// What a status file says of a service beyond the state machine's [`Status`].
pub struct Place<'a> {
    pub name: &'a str,
    /// The service directory, for the path of its file.
    pub services: &'a str,
    pub identity: Option<ProcessIdentity<'a>>,
    pub cgroup: Option<&'a str>,
}

/// A command as a shell would read it back: each word quoted when it must be.
struct ShellWords<'a>(&'a crate::config::Words);

impl fmt::Display for ShellWords<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plain = |c: char| c.is_ascii_alphanumeric() || "/._-=:,+@%".contains(c);
        for (at, word) in self.0.iter().enumerate() {
            f.write_str(if at == 0 { "" } else { " " })?;
            match !word.is_empty() && word.chars().all(plain) {
                true => f.write_str(word)?,
                false => write!(f, "'{}'", word.replace('\'', "'\\''"))?,
            }
        }
        Ok(())
    }
}

/// The contents of a service's status file ([`crate::protocol::status`]).
pub fn status_text(status: &Status, now_mono: Millis, now_unix: u64, where_: &Place) -> String {
    use crate::protocol::status::*;
    let mut file = Writer::default();
    // A running service's since is its start, also once it is ready (ready_mono says when).
    let since = match status.state {
        State::Up { since, .. } => since,
        _ => status.since,
    };
    let since_unix = now_unix.saturating_sub(now_mono.saturating_sub(since) / 1000);
    file.field(STATE, &state_name(&status.state));
    if let State::Up { pid, .. } | State::Stopping { pid, .. } = status.state {
        file.field(PID, &pid.as_raw_nonzero());
    }
    if let Some(ProcessIdentity { boot_id, start_time }) = &where_.identity {
        file.field(BOOT_ID, &boot_id).field(START_TIME, &start_time);
    }
    file.field(SINCE, &since_unix).field(SINCE_MONO, &(since * 1_000_000));
    if let State::Up { ready: true, .. } = status.state {
        file.field(READY_MONO, &(status.since * 1_000_000));
    }
    if status.state == State::Waiting {
        file.list(WAITING_FOR, status.waiting_for);
    }
    if let Some(status_text) = status.status_text {
        file.field(STATUS_TEXT, &status_text);
    }
    match (status.refusal, status.start_error) {
        (Some(refusal), Some(start)) => _ = file.field(ERROR, &format_args!("{refusal}; {start}")),
        (Some(error), None) | (None, Some(error)) => _ = file.field(ERROR, &error),
        (None, None) => {}
    }
    if let Some(cgroup) = where_.cgroup {
        file.field(CGROUP, &cgroup);
    }
    let spec = status.spec;
    file.field(FILE, &format_args!("{}/{}", where_.services, spec.settings().app.as_deref().unwrap_or(where_.name)));
    file.field(CMD, &ShellWords(&spec.argv));
    let addresses: Vec<&crate::config::Address> = spec.settings().listen.iter().map(|listen| &listen.address).collect();
    file.list(LISTEN, &addresses);
    if let Some((_, user)) = &spec.settings().user {
        file.field(USER, &user);
    }
    match &spec.settings().log {
        Some(LogTarget::File { path, .. }) => _ = file.field(LOG, &path),
        Some(LogTarget::Stdout) => _ = file.field(LOG, &"-"),
        None => {}
    }
    if let Some(health) = status.health {
        match health.failed {
            (failed @ 1.., retries) if health.name == "healthy" => {
                file.field(HEALTH, &format_args!("healthy ({failed} of {retries} checks failed)"))
            }
            _ => file.field(HEALTH, &health.name),
        };
        if let Some((outcome, at)) = health.last {
            file.field(LAST_CHECK, &outcome).field(LAST_CHECK_MONO, &(at * 1_000_000));
        }
    }
    file.field(RESTARTS, &status.restarts);
    match status.last_exit {
        Some(Exit::Code(code)) => _ = file.field(LAST_EXIT, &format_args!("exit {code}")),
        Some(Exit::Signal(signal)) => _ = file.field(LAST_EXIT, &format_args!("signal {}", show_signal(signal))),
        None => {}
    }
    if let State::Backoff { until } = status.state {
        file.field(NEXT_START_MONO, &(until * 1_000_000));
    }
    let default = StopPolicy::DEFAULT;
    if status.stop_signal != default.signal {
        file.field(STOP_SIGNAL, &show_signal(status.stop_signal));
    }
    if status.stop_timeout != default.timeout {
        file.field(STOP_TIMEOUT, &crate::clock::exact_seconds(status.stop_timeout));
    }
    if status.restart != default.restart {
        file.field(RESTART, &status.restart.name());
    }
    file.finish()
}

/// Opens `name` in `dir` for reading without following a symlink or
/// blocking on a FIFO; `None` unless it is a regular file.
pub fn open_regular(dir: &OwnedFd, name: &str) -> Option<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let file = rustix::fs::openat(dir, name, flags, Mode::empty()).ok()?;
    let stat = rustix::fs::fstat(&file).ok()?;
    (FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile).then_some(file)
}

/// A file of at most [`MAX_STATUS_FILE`] bytes as text.
fn read_small(file: &OwnedFd) -> Option<String> {
    let bytes = crate::trust::read_limited(file, MAX_STATUS_FILE).ok()?;
    (bytes.len() <= MAX_STATUS_FILE).then(|| String::from_utf8(bytes).ok())?
}

impl RunDir {
    /// Sets up the directory, its lock and its FIFO; problems are logged, never fatal.
    /// The run directory at `path`, for the services of the directory `services`.
    pub fn open(path: &str, services: &str, logger: &mut Logger) -> RunDir {
        let mut run_dir = RunDir {
            path: path.into(),
            services: services.into(),
            dir: None,
            lock: None,
            control: None,
            boot_id: proc_stat::boot_id(),
            partial: Vec::new(),
            discarding: false,
            recreated: false,
            unusable: false,
            about_going: String::new(),
            staged: Vec::new(),
        };
        if let Err(error) = run_dir.create() {
            run_dir.unusable = true;
            logger.log(
                Severity::Error,
                format_args!("{path}: cannot set up the run directory: {error}; goingctl will not work"),
            );
        }
        run_dir.recreated = false;
        run_dir
    }

    fn create(&mut self) -> Result<(), SetupError> {
        let own_uid = rustix::process::geteuid().as_raw();
        // root's run directory is no place for another user's going.
        let not_root_at_default = own_uid != 0 && self.path == crate::protocol::DEFAULT_RUN_DIR;
        const OWN_RUN_DIR: &str = "going runs as a user other than root: give it a run directory of its own with -r";
        match rustix::fs::mkdir(self.path.as_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(Errno::ACCESS) if not_root_at_default => return Err(SetupError::Untrusted(OWN_RUN_DIR.into())),
            Err(error) => return Err(error.into()),
        }
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dir = rustix::fs::open(self.path.as_str(), flags, Mode::empty()).map_err(|error| match error {
            Errno::NOTDIR | Errno::LOOP => {
                SetupError::Untrusted("not a directory (a symlink is not followed; name the real one)".into())
            }
            error => SetupError::Os(error),
        })?;
        let stat = rustix::fs::fstat(&dir)?;
        if stat.st_uid != own_uid {
            let (owner, fix) = (stat.st_uid, if not_root_at_default { OWN_RUN_DIR } else { "chown it or remove it" });
            return Err(SetupError::Untrusted(format!("owned by uid {owner}, not by going's user {own_uid}; {fix}")));
        }
        if Mode::from_raw_mode(stat.st_mode).intersects(Mode::WGRP | Mode::WOTH) {
            return Err(SetupError::Untrusted("writable by group or others; chmod go-w it".into()));
        }
        let lock = take_lock(&dir)?;
        // A dead going's: this one has not written its statuses yet.
        let _ = rustix::fs::unlinkat(&dir, LOADED, AtFlags::empty());
        let _ = rustix::fs::unlinkat(&dir, CONTROL, AtFlags::empty());
        rustix::fs::mknodat(&dir, CONTROL, FileType::Fifo, Mode::from_raw_mode(0o600), 0)?;
        let flags = OFlags::RDWR | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let control = rustix::fs::openat(&dir, CONTROL, flags, Mode::empty())?;
        if FileType::from_raw_mode(rustix::fs::fstat(&control)?.st_mode) != FileType::Fifo {
            return Err(SetupError::Untrusted(format!("{CONTROL} was replaced while going made it")));
        }
        if !self.about_going.is_empty() {
            write_status(&dir, ABOUT_GOING, &self.about_going)?;
        }
        (self.dir, self.lock, self.control) = (Some(dir), Some(lock), Some(control));
        self.recreated = true;
        Ok(())
    }

    /// Whether this going holds the directory (its lock): no other going uses it.
    pub fn is_ours(&self) -> bool {
        self.lock.is_some()
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// Writes [`ABOUT_GOING`]: which going serves the directory, and how it tracks services.
    pub fn describe_going(&mut self, tracking: &str) {
        let pid = rustix::process::getpid().as_raw_nonzero().get();
        let start_time = proc_stat::read(pid).map_or(0, |stat| stat.start_time);
        use crate::protocol::status::{PID, START_TIME, TRACKING, Writer};
        let mut about = Writer::default();
        about.field(PID, &pid).field(START_TIME, &start_time).field(TRACKING, &tracking);
        self.about_going = about.finish();
        if let Some(dir) = &self.dir {
            let _ = write_status(dir, ABOUT_GOING, &self.about_going);
        }
    }

    pub fn control_fd(&self) -> Option<&OwnedFd> {
        self.control.as_ref()
    }

    /// True once after the directory was created again under a running going.
    pub fn take_recreated(&mut self) -> bool {
        core::mem::take(&mut self.recreated)
    }

    /// The text of service `name`'s status file; `cgroup` is the path of its cgroup, if it
    /// has one, and `start_time` its process's start time, while it has one.
    pub fn render(
        &self,
        name: &str,
        status: &Status,
        (now_mono, now_unix): (Millis, u64),
        (cgroup, start_time): (Option<&str>, Option<u64>),
    ) -> String {
        let boot_id = self.boot_id.as_str();
        let identity = start_time.map(|start_time| ProcessIdentity { boot_id, start_time });
        let place = Place { name, services: &self.services, identity, cgroup };
        status_text(status, now_mono, now_unix, &place)
    }

    /// The text of the status file of a refused file `name` that no service runs.
    pub fn render_refused(&self, name: &str, error: &str) -> String {
        use crate::protocol::status::{ERROR, FILE, STATE, Writer};
        let mut file = Writer::default();
        file.field(STATE, &"error").field(ERROR, &error).field(FILE, &format_args!("{}/{name}", self.services));
        file.finish()
    }

    /// Stages service `name`'s status file, `text`, for the next [`RunDir::write_staged`]
    /// (going writes after its next fork, or at the end of the turn, so that a respawn
    /// forks first and writes its file once, however often its status changed).
    pub fn stage(&mut self, name: &str, text: String, logger: &mut Logger) {
        match self.staged.iter_mut().find(|(staged, _)| staged == name) {
            Some((_, staged)) => *staged = text,
            None => self.staged.push((name.into(), text)),
        }
        if self.staged.len() >= MAX_STAGED {
            self.write_staged(logger);
        }
    }

    /// Writes every staged status file.
    pub fn write_staged(&mut self, logger: &mut Logger) {
        // Drained in place: the list keeps its memory for the next batch.
        let mut staged = core::mem::take(&mut self.staged);
        for (name, text) in staged.drain(..) {
            self.write(&name, &text, logger);
        }
        self.staged = staged;
    }

    /// Writes service `name`'s status file, holding `text` ([`RunDir::render`]).
    fn write(&mut self, name: &str, text: &str, logger: &mut Logger) {
        if let Some(dir) = &self.dir {
            match write_status(dir, name, text) {
                Err(Errno::NOENT) => {}
                _ => return,
            }
        }
        (self.dir, self.lock, self.control) = (None, None, None);
        let path = self.path.clone();
        match self.create() {
            Ok(()) => {
                self.unusable = false;
                logger.log(Severity::Warning, format_args!("{path}: run directory was gone; created it again"));
            }
            Err(_) if self.unusable => {}
            Err(error) => {
                self.unusable = true;
                logger.log(Severity::Error, format_args!("{path}: cannot create the run directory again: {error}"));
            }
        }
    }

    /// The status files a previous going left, as (name, text), removed from
    /// the directory: none of them describes this going's services. A file
    /// that is no status file (it does not start with `state=`) is left alone.
    pub fn take_previous_statuses(&mut self) -> Vec<(String, String)> {
        let Some(dir) = &self.dir else { return Vec::new() };
        let Ok(entries) = rustix::fs::Dir::read_from(dir) else {
            return Vec::new();
        };
        let names: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().to_str().ok().map(String::from))
            .filter(|name| !name.starts_with('.') && name != CONTROL)
            .collect();
        let mut statuses = Vec::new();
        for name in names {
            let Some(text) = open_regular(dir, &name).as_ref().and_then(read_small) else {
                continue;
            };
            if crate::protocol::status::fields(&text).is_some() {
                let _ = rustix::fs::unlinkat(dir, name.as_str(), AtFlags::empty());
                statuses.push((name, text));
            }
        }
        statuses
    }

    /// This boot's id, as status files record it.
    pub fn boot_id(&self) -> &str {
        &self.boot_id
    }

    /// The status file of every service of the first scan is written: goingctl may now
    /// take a missing one for a service that does not exist ([`LOADED`]).
    pub fn mark_loaded(&mut self) {
        if let Some(dir) = &self.dir {
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let _ = rustix::fs::openat(dir, LOADED, flags, Mode::from_raw_mode(0o644));
        }
    }

    /// going is exiting: goingctl must see it is not running (no FIFO, no [`ABOUT_GOING`]).
    pub fn close(&mut self) {
        if let (Some(dir), Some(_)) = (&self.dir, self.control.take()) {
            let _ = rustix::fs::unlinkat(dir, CONTROL, AtFlags::empty());
            let _ = rustix::fs::unlinkat(dir, ABOUT_GOING, AtFlags::empty());
        }
    }

    /// Removes the status file of a service that is gone.
    pub fn withdraw(&mut self, name: &str) {
        self.staged.retain(|(staged, ..)| staged != name);
        if let Some(dir) = &self.dir {
            let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
        }
    }

    /// Reads what arrived on the FIFO: complete lines, parsed. Bad lines are logged and dropped.
    pub fn read_commands(&mut self, logger: &mut Logger) -> Vec<(String, Control)> {
        let mut commands = Vec::new();
        let Some(fifo) = &self.control else { return commands };
        let mut buffer = [0u8; READ_PER_WAKEUP];
        let Ok(count @ 1..) = rustix::io::read(fifo, &mut buffer) else {
            return commands;
        };
        for (index, piece) in buffer[..count].split(|&b| b == b'\n').enumerate() {
            let complete = index < buffer[..count].iter().filter(|&&b| b == b'\n').count();
            if !self.discarding {
                self.partial.extend_from_slice(piece);
            }
            if self.partial.len() > MAX_COMMAND_LINE && !self.discarding {
                logger.log(
                    Severity::Warning,
                    format_args!("control: line longer than {MAX_COMMAND_LINE} bytes; ignored"),
                );
                self.discarding = true;
                self.partial.clear();
            }
            if !complete {
                break;
            }
            let line = core::mem::take(&mut self.partial);
            if core::mem::take(&mut self.discarding) || line.is_empty() {
                continue;
            }
            let text = String::from_utf8_lossy(&line);
            match parse_command(&text) {
                Ok((name, command)) => commands.push((name.into(), command)),
                Err(message) => logger.log(Severity::Warning, format_args!("control: {message}; ignored")),
            }
        }
        commands
    }
}

/// Opens [`LOCK`] and takes its write lock without waiting.
fn take_lock(dir: &OwnedFd) -> Result<OwnedFd, SetupError> {
    let flags = OFlags::RDWR | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let lock = match rustix::fs::openat(dir, LOCK, flags, Mode::empty()) {
        // One another user could open (1.3.0 made it 0644) may be locked by them: it is
        // replaced. A going of 1.3.0 still running on this directory then goes unnoticed.
        Ok(lock) if rustix::fs::fstat(&lock).is_ok_and(|stat| stat.st_mode & 0o077 != 0) => {
            rustix::fs::unlinkat(dir, LOCK, AtFlags::empty())?;
            rustix::fs::openat(dir, LOCK, flags | OFlags::CREATE | OFlags::EXCL, Mode::from_raw_mode(0o600))?
        }
        Ok(lock) => lock,
        Err(Errno::NOENT) => {
            rustix::fs::openat(dir, LOCK, flags | OFlags::CREATE | OFlags::EXCL, Mode::from_raw_mode(0o600))?
        }
        Err(error) => return Err(error.into()),
    };
    if FileType::from_raw_mode(rustix::fs::fstat(&lock)?.st_mode) != FileType::RegularFile {
        return Err(SetupError::Untrusted(format!("{LOCK} is not a regular file; remove it")));
    }
    match rustix::fs::fcntl_lock(&lock, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(lock),
        Err(Errno::AGAIN | Errno::ACCESS) => {
            let probe = rustix::process::Flock::from(rustix::process::FlockType::WriteLock);
            let holder = rustix::process::fcntl_getlk(&lock, &probe).ok().flatten();
            Err(SetupError::Taken(holder.and_then(|lock| lock.pid).map(|pid| pid.as_raw_nonzero().get())))
        }
        Err(error) => Err(error.into()),
    }
}

fn write_status(dir: &OwnedFd, name: &str, text: &str) -> Result<(), Errno> {
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(0o644);
    // A temporary file left by a write that failed half-way is removed, never written through.
    let file = match rustix::fs::openat(dir, TEMPORARY, flags, mode) {
        Err(Errno::EXIST) => {
            rustix::fs::unlinkat(dir, TEMPORARY, AtFlags::empty())?;
            rustix::fs::openat(dir, TEMPORARY, flags, mode)?
        }
        opened => opened?,
    };
    rustix::io::write(&file, text.as_bytes())?;
    rustix::fs::renameat(dir, TEMPORARY, dir, name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Restart;
    use rustix::process::Pid;

    #[test]
    fn status_text_has_every_key_of_its_state() {
        let pid = Pid::from_raw(42).unwrap();
        let spec = |text: &str| match crate::config::parse(text.as_bytes()).unwrap() {
            crate::config::ServiceFile::Command(spec) => spec,
            other => panic!("{other:?}"),
        };
        let plain = spec("cmd=/bin/web --port 80\n");
        let full = spec("cmd=/bin/sh -c 'echo \"it'\\''s\"'\nuser=www-data\nlog=/var/log/web.log\n");
        let up = Status {
            state: State::Up { pid, since: 5_000, ready: true },
            waiting_for: &[],
            status_text: None,
            health: None,
            refusal: None,
            start_error: None,
            spec: &plain,
            since: 6_000,
            restarts: 2,
            last_exit: Some(Exit::Signal(9)),
            stop_signal: 15,
            stop_timeout: 5_000,
            restart: Restart::Always,
        };
        let identity = Some(ProcessIdentity { boot_id: "b-1", start_time: 77 });
        let place = Place { name: "web", services: "/etc/going.d", identity, cgroup: None };
        let text = status_text(&up, 7_000, 1_000_000, &place);
        assert_eq!(
            text,
            "state=up\npid=42\nboot_id=b-1\nstart_time=77\nsince=999998\nsince_mono=5000000000\nready_mono=6000000000\nfile=/etc/going.d/web\ncmd=/bin/web --port 80\nrestarts=2\nlast_exit=signal KILL\n"
        );
        let backoff = Status {
            state: State::Backoff { until: 9_000 },
            waiting_for: &[],
            status_text: None,
            health: None,
            refusal: None,
            start_error: Some("cannot execute /bin/sh: No such file or directory"),
            spec: &full,
            since: 8_000,
            restarts: 0,
            last_exit: Some(Exit::Code(3)),
            stop_signal: 3,
            stop_timeout: 500,
            restart: Restart::Never,
        };
        let cgroup = Some("/sys/fs/cgroup/going/services/web");
        let place = Place { name: "web", services: "/etc/going.d", identity: None, cgroup };
        let text = status_text(&backoff, 8_000, 100, &place);
        assert_eq!(
            text,
            "state=backoff\nsince=100\nsince_mono=8000000000\nerror=cannot execute /bin/sh: No such file or directory\ncgroup=/sys/fs/cgroup/going/services/web\nfile=/etc/going.d/web\ncmd=/bin/sh -c 'echo \"it'\\''s\"'\nuser=www-data\nlog=/var/log/web.log\nrestarts=0\nlast_exit=exit 3\nnext_start_mono=9000000000\nstop_signal=QUIT\nstop_timeout=0.5\nrestart=never\n"
        );
    }
}
