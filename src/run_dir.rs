//! The run directory: a status file per service, rewritten on every change
//! of that service, and the control FIFO goingctl writes one-line commands to.
//!
//! Status files (`DIR/NAME`) are written to `DIR/.NAME.tmp` and renamed into
//! place, so a reader never sees half a file. The FIFO is opened read-write
//! and non-blocking: going is always a writer of its own FIFO, so it never
//! sees end-of-file when a goingctl closes it. If the directory is deleted
//! under going, the next status write creates it, the FIFO and (through the
//! caller) every status file again, and logs it once.

use crate::log::{Logger, Severity, describe, signal_name};
use crate::supervisor::{Control, Exit, Millis, State, Status};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;
use rustix::fd::OwnedFd;
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};

pub const DEFAULT_RUN_DIR: &str = "/run/going";
/// The FIFO's name in the run directory; no service may have it.
pub const CONTROL: &str = "control";
/// A control line longer than this is ignored whole (with one log line).
pub const MAX_COMMAND_LINE: usize = 512;
/// Bytes read from the FIFO per wakeup: a flood cannot starve the rest of the loop.
const READ_PER_WAKEUP: usize = 4096;

pub struct RunDir {
    path: String,
    control: Option<OwnedFd>,
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// Inside a line that grew past [`MAX_COMMAND_LINE`]: dropped up to its newline.
    discarding: bool,
    /// Set when the directory was created again: every status must be written anew.
    recreated: bool,
    /// Creating the directory failed and was logged: later failures are not logged again.
    unusable: bool,
}

fn state_name(state: &State) -> &'static str {
    match state {
        State::Up { .. } => "up",
        State::Backoff { .. } => "backoff",
        State::Down => "down",
        State::Stopping { .. } | State::Draining { .. } => "stopping",
    }
}

/// The contents of a status file; going(8) documents every key.
pub fn status_text(status: &Status, now_mono: Millis, now_unix: u64) -> String {
    let mut text = String::new();
    let since_unix = now_unix.saturating_sub(now_mono.saturating_sub(status.since) / 1000);
    let _ = writeln!(text, "state={}", state_name(&status.state));
    if let State::Up { pid, .. } | State::Stopping { pid, .. } = status.state {
        let _ = writeln!(text, "pid={}", pid.as_raw_nonzero());
    }
    let _ = writeln!(text, "since={since_unix}\nsince_mono={}", status.since * 1_000_000);
    let _ = writeln!(text, "restarts={}", status.restarts);
    match status.last_exit {
        Some(Exit::Code(code)) => _ = writeln!(text, "last_exit=exit {code}"),
        Some(Exit::Signal(signal)) => match signal_name(signal) {
            Some(name) => _ = writeln!(text, "last_exit=signal {name}"),
            None => _ = writeln!(text, "last_exit=signal {signal}"),
        },
        None => {}
    }
    if let State::Backoff { until } = status.state {
        let _ = writeln!(text, "next_start_mono={}", until * 1_000_000);
    }
    text
}

/// Whether the process is gone or a zombie: dead either way, and a zombie
/// still holds its pid, so the group with that number is the old service's.
fn main_process_gone(pid: i32) -> bool {
    let Ok(file) = rustix::fs::open(
        format!("/proc/{pid}/stat").as_str(),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return true;
    };
    let mut buffer = [0u8; 512];
    let Ok(count) = rustix::io::read(&file, &mut buffer) else {
        return true;
    };
    let stat = &buffer[..count];
    // The state follows the last ')' (the command name may contain one).
    let after_name = stat.iter().rposition(|&b| b == b')').map_or(stat, |at| &stat[at + 1..]);
    after_name.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'Z')
}

/// The `pid=` of a status file.
fn read_pid(path: &str) -> Option<i32> {
    let file = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut buffer = [0u8; 512];
    let count = rustix::io::read(&file, &mut buffer).ok()?;
    let text = core::str::from_utf8(&buffer[..count]).ok()?;
    text.lines().find_map(|line| line.strip_prefix("pid="))?.parse().ok()
}

/// One control line: `up NAME`, `down NAME`, `restart NAME` or `signal NUMBER NAME`.
pub fn parse_command(line: &str) -> Result<(&str, Control), String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let control = match words[..] {
        ["up", name] => (name, Control::Up),
        ["down", name] => (name, Control::Down),
        ["restart", name] => (name, Control::Restart),
        ["signal", number, name] => match number.parse() {
            Ok(signal @ 1..=64) => (name, Control::Signal(signal)),
            _ => return Err(format!("bad signal number {number:?}")),
        },
        _ => return Err(format!("unknown command {line:?}")),
    };
    Ok(control)
}

impl RunDir {
    /// Creates the directory and FIFO if missing; problems are logged, never fatal.
    pub fn open(path: &str, logger: &mut Logger) -> RunDir {
        let mut run_dir = RunDir {
            path: path.into(),
            control: None,
            partial: Vec::new(),
            discarding: false,
            recreated: false,
            unusable: false,
        };
        if let Err(error) = run_dir.create() {
            run_dir.unusable = true;
            let reason = describe(error);
            logger.log(
                Severity::Error,
                format_args!("{path}: cannot set up the run directory: {reason}; goingctl will not work"),
            );
        }
        run_dir.recreated = false;
        run_dir
    }

    fn create(&mut self) -> Result<(), Errno> {
        match rustix::fs::mkdir(self.path.as_str(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(error) => return Err(error),
        }
        let fifo = format!("{}/{CONTROL}", self.path);
        let _ = rustix::fs::unlink(fifo.as_str());
        rustix::fs::mknodat(
            rustix::fs::CWD,
            fifo.as_str(),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )?;
        let flags = OFlags::RDWR | OFlags::NONBLOCK | OFlags::CLOEXEC;
        self.control = Some(rustix::fs::open(fifo.as_str(), flags, Mode::empty())?);
        self.recreated = true;
        Ok(())
    }

    pub fn control_fd(&self) -> Option<&OwnedFd> {
        self.control.as_ref()
    }

    /// True once after the directory was created again under a running going.
    pub fn take_recreated(&mut self) -> bool {
        core::mem::take(&mut self.recreated)
    }

    /// Rewrites the status file of one service.
    pub fn publish(&mut self, name: &str, text: &str, logger: &mut Logger) {
        match self.write_status(name, text) {
            Err(Errno::NOENT) => {}
            _ => return,
        }
        let path = self.path.clone();
        match self.create() {
            Ok(()) => {
                self.unusable = false;
                logger.log(
                    Severity::Warning,
                    format_args!("{path}: run directory was gone; created it again"),
                );
            }
            Err(_) if self.unusable => {}
            Err(error) => {
                self.unusable = true;
                let reason = describe(error);
                logger.log(
                    Severity::Error,
                    format_args!("{path}: cannot create the run directory again: {reason}"),
                );
            }
        }
    }

    fn write_status(&self, name: &str, text: &str) -> Result<(), Errno> {
        let temporary = format!("{}/.{name}.tmp", self.path);
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
        let file = rustix::fs::open(temporary.as_str(), flags, Mode::from_raw_mode(0o644))?;
        rustix::io::write(&file, text.as_bytes())?;
        rustix::fs::rename(temporary.as_str(), format!("{}/{name}", self.path).as_str())
    }

    /// A previous going died (SIGKILL) and its services died with it, but
    /// their process groups may live on. For each status file it left whose
    /// main process is gone, SIGKILL what is left of that group, then forget
    /// the file. A group's number cannot be reused while the group exists, so
    /// this reaches only leftovers. A main process that is still there and no
    /// zombie is left alone: its pid was reused, or it outlived going (a
    /// setuid program loses the death signal).
    pub fn kill_leftovers_of_previous_going(&mut self, logger: &mut Logger) {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let Ok(dir) = rustix::fs::open(self.path.as_str(), flags, Mode::empty()) else {
            return;
        };
        let Ok(entries) = rustix::fs::Dir::read_from(&dir) else {
            return;
        };
        let names: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().to_str().ok().map(String::from))
            .filter(|name| !name.starts_with('.') && name != CONTROL)
            .collect();
        for name in names {
            let path = format!("{}/{name}", self.path);
            let main_gone = |pid: i32| main_process_gone(pid);
            if let Some(group) = read_pid(&path).filter(|&pid| main_gone(pid)).and_then(Pid::from_raw)
                && rustix::process::kill_process_group(group, Signal::KILL).is_ok()
            {
                let pid = group.as_raw_nonzero();
                logger.log(
                    Severity::Warning,
                    format_args!("{name}: killed what a previous going left of its process group {pid}"),
                );
            }
            let _ = rustix::fs::unlink(path.as_str());
        }
    }

    /// going is exiting: goingctl must see it is not running (no FIFO).
    pub fn close(&mut self) {
        if self.control.take().is_some() {
            let _ = rustix::fs::unlink(format!("{}/{CONTROL}", self.path).as_str());
        }
    }

    /// Removes the status file of a service that is gone.
    pub fn withdraw(&mut self, name: &str) {
        let _ = rustix::fs::unlink(format!("{}/{name}", self.path).as_str());
    }

    /// Reads what arrived on the FIFO: complete lines, parsed. Bad lines are logged and dropped.
    pub fn read_commands(&mut self, logger: &mut Logger) -> Vec<(String, Control)> {
        let mut commands = Vec::new();
        let Some(control) = &self.control else { return commands };
        let mut buffer = [0u8; READ_PER_WAKEUP];
        let Ok(count @ 1..) = rustix::io::read(control, &mut buffer) else {
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
                Ok((name, control)) => commands.push((name.into(), control)),
                Err(message) => logger.log(Severity::Warning, format_args!("control: {message}; ignored")),
            }
        }
        commands
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::process::Pid;

    #[test]
    fn commands_parse_or_explain_why_not() {
        assert_eq!(parse_command("restart web"), Ok(("web", Control::Restart)));
        assert_eq!(parse_command("signal 1 web"), Ok(("web", Control::Signal(1))));
        assert_eq!(parse_command(" down  web "), Ok(("web", Control::Down)));
        assert!(parse_command("signal 99 web").is_err());
        assert!(parse_command("explode web").is_err());
        assert!(parse_command("up").is_err());
    }

    #[test]
    fn status_text_has_every_key_of_its_state() {
        let pid = Pid::from_raw(42).unwrap();
        let up = Status {
            state: State::Up { pid, since: 5_000 },
            since: 5_000,
            restarts: 2,
            last_exit: Some(Exit::Signal(9)),
        };
        let text = status_text(&up, 7_000, 1_000_000);
        assert_eq!(
            text,
            "state=up\npid=42\nsince=999998\nsince_mono=5000000000\nrestarts=2\nlast_exit=signal KILL\n"
        );
        let backoff = Status {
            state: State::Backoff { until: 9_000 },
            since: 8_000,
            restarts: 0,
            last_exit: Some(Exit::Code(3)),
        };
        let text = status_text(&backoff, 8_000, 100);
        assert_eq!(
            text,
            "state=backoff\nsince=100\nsince_mono=8000000000\nrestarts=0\nlast_exit=exit 3\nnext_start_mono=9000000000\n"
        );
    }
}
