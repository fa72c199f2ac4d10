//! What going and goingctl agree on: where the run directory is and what
//! its files are called, the status file's format (its keys, one line per
//! value, how values are made safe, how big it may be), the control FIFO's
//! command lines, and signal names. One module, so that the two programs
//! cannot drift apart.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

pub const DEFAULT_RUN_DIR: &str = "/run/going";
/// The FIFO's name in the run directory; no service may have it.
pub const CONTROL: &str = "control";
/// The file whose lock keeps a second going off the directory: mode 0600, so that
/// no other user can take a lock on it and hold a going out.
pub const LOCK: &str = ".lock";
/// The going that serves the directory: `pid=`, `start_time=` (clock ticks after
/// boot, so that a reused pid is no going) and `tracking=` (its cgroups, or why it
/// tracks process groups). goingctl reads it to know a going is there.
pub const ABOUT_GOING: &str = ".going";
/// Made once going has written the status file of every service of its first
/// scan: before it, a missing status file may be one still to come.
pub const LOADED: &str = ".loaded";
/// A control line longer than this is ignored whole (with one log line).
pub const MAX_COMMAND_LINE: usize = 512;
/// A status file is far smaller; a larger file in the run directory is none of going's.
pub const MAX_STATUS_FILE: usize = 4096;

/// A status file (`DIR/NAME`, and `.going` with [`status::PID`], [`status::START_TIME`]
/// and [`status::TRACKING`]): one `key=value` line per field, `state=` first in a
/// service's. going(8) says what each key means.
pub mod status {
    use alloc::string::String;
    use core::fmt::Write;

    pub const STATE: &str = "state";
    pub const PID: &str = "pid";
    pub const BOOT_ID: &str = "boot_id";
    pub const START_TIME: &str = "start_time";
    pub const SINCE: &str = "since";
    pub const SINCE_MONO: &str = "since_mono";
    pub const READY_MONO: &str = "ready_mono";
    pub const WAITING_FOR: &str = "waiting_for";
    pub const STATUS_TEXT: &str = "status_text";
    pub const ERROR: &str = "error";
    pub const CGROUP: &str = "cgroup";
    pub const FILE: &str = "file";
    pub const CMD: &str = "cmd";
    pub const LISTEN: &str = "listen";
    pub const USER: &str = "user";
    pub const LOG: &str = "log";
    pub const HEALTH: &str = "health";
    pub const LAST_CHECK: &str = "last_check";
    pub const LAST_CHECK_MONO: &str = "last_check_mono";
    pub const RESTARTS: &str = "restarts";
    pub const LAST_EXIT: &str = "last_exit";
    pub const NEXT_START_MONO: &str = "next_start_mono";
    pub const STOP_SIGNAL: &str = "stop_signal";
    pub const STOP_TIMEOUT: &str = "stop_timeout";
    pub const RESTART: &str = "restart";
    /// In `.going`: how going tracks services.
    pub const TRACKING: &str = "tracking";

    /// The longest value: a list (`cmd`, `waiting_for`) is cut there with ` ...`, so that
    /// a file stays below [`super::MAX_STATUS_FILE`].
    pub const MAX_VALUE: usize = 1024;

    /// Writes a status file's lines: each value on one line (control characters become
    /// spaces), cut at [`MAX_VALUE`] bytes.
    #[derive(Default)]
    pub struct Writer(String);

    impl Writer {
        // One copy for every type of value: a generic one would be made for each.
        #[inline(never)]
        pub fn field(&mut self, key: &str, value: &dyn core::fmt::Display) -> &mut Self {
            let start = self.0.len() + key.len() + 1;
            let _ = write!(self.0, "{key}={value}");
            if self.0[start..].contains(|c: char| c.is_control()) {
                let safe: String = self.0[start..].chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
                self.0.replace_range(start.., &safe);
            }
            if self.0.len() - start > MAX_VALUE {
                let mut end = start + MAX_VALUE - 4;
                while !self.0.is_char_boundary(end) {
                    end -= 1;
                }
                self.0.truncate(end);
                self.0.push_str(" ...");
            }
            self.0.push('\n');
            self
        }

        /// Items separated by spaces; nothing for none.
        pub fn list<T: core::fmt::Display>(&mut self, key: &str, items: &[T]) -> &mut Self {
            if !items.is_empty() {
                self.field(key, &Spaced(items));
            }
            self
        }

        /// The file's text, at its size: going holds many while their writes are staged.
        pub fn finish(mut self) -> String {
            self.0.shrink_to_fit();
            self.0
        }
    }

    struct Spaced<'a, T>(&'a [T]);

    impl<T: core::fmt::Display> core::fmt::Display for Spaced<'_, T> {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            for (at, item) in self.0.iter().enumerate() {
                write!(f, "{}{item}", if at == 0 { "" } else { " " })?;
            }
            Ok(())
        }
    }

    /// The fields of a service's status file, in order; `None` when `text` is none (it does
    /// not start with `state=`: a file in the run directory that is none of going's).
    pub fn fields(text: &str) -> Option<impl Iterator<Item = (&str, &str)>> {
        text.starts_with("state=").then(|| text.lines().filter_map(|line| line.split_once('=')))
    }

    /// The value of `key` in a status file (or `.going`).
    pub fn value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
        text.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
    }
}

/// What a user asks of one service through goingctl.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Start a service that was put down.
    Up,
    /// Stop it and keep it stopped until `Up` or until going restarts.
    Down,
    /// Stop it and start it again at once, with the backoff reset.
    Restart,
    /// Send this signal to its process group.
    Signal(i32),
}

/// How a process ended, from its wait status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

impl core::fmt::Display for Exit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Exit::Code(code) => write!(f, "exited with status {code}"),
            Exit::Signal(signal) => write!(f, "killed by signal {}", show_signal(signal)),
        }
    }
}

/// Signal names without their SIG prefix, signal N at index N-1 (Linux numbering).
const SIGNAL_NAMES: [&str; 31] = [
    "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM", "TERM",
    "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF", "WINCH", "IO",
    "PWR", "SYS",
];

/// The name of a signal number without its SIG prefix (`TERM`), for log lines and status files.
pub fn signal_name(signal: i32) -> Option<&'static str> {
    SIGNAL_NAMES.get(usize::try_from(signal).ok()?.checked_sub(1)?).copied()
}

/// A signal as log lines and status files show it: its name (`TERM`), or its number when it has none.
pub fn show_signal(signal: i32) -> impl core::fmt::Display {
    struct SignalShown(i32);
    impl core::fmt::Display for SignalShown {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match signal_name(self.0) {
                Some(name) => f.write_str(name),
                None => write!(f, "{}", self.0),
            }
        }
    }
    SignalShown(signal)
}

/// A signal by name, with or without `SIG`, in any case (`hup`, `SIGHUP`), or by number 1 to 64.
pub fn signal_number(text: &str) -> Option<i32> {
    let name = text.strip_prefix("SIG").or_else(|| text.strip_prefix("sig")).unwrap_or(text);
    let by_name = SIGNAL_NAMES.iter().position(|known| known.eq_ignore_ascii_case(name));
    by_name.map(|index| index as i32 + 1).or_else(|| text.parse().ok().filter(|number| (1..=64).contains(number)))
}

/// The control line that asks for `control` on service `name`.
pub fn command_line(control: Control, name: &str) -> String {
    match control {
        Control::Up => format!("up {name}\n"),
        Control::Down => format!("down {name}\n"),
        Control::Restart => format!("restart {name}\n"),
        Control::Signal(number) => format!("signal {number} {name}\n"),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
    fn signal_names_follow_the_linux_numbering() {
        assert_eq!(signal_name(1), Some("HUP"));
        assert_eq!(signal_name(9), Some("KILL"));
        assert_eq!(signal_name(15), Some("TERM"));
        assert_eq!(signal_name(31), Some("SYS"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(34), None);
    }

    #[test]
    fn signals_are_found_by_name_or_number() {
        assert_eq!(signal_number("HUP"), Some(1));
        assert_eq!(signal_number("SIGusr1"), Some(10));
        assert_eq!(signal_number("winch"), Some(28));
        assert_eq!(signal_number("9"), Some(9));
        assert_eq!(signal_number("65"), None);
        assert_eq!(signal_number("NOPE"), None);
    }

    #[test]
    fn status_values_stay_on_their_line_and_below_the_limit() {
        let mut writer = status::Writer::default();
        writer.field(status::STATE, &"up").field(status::STATUS_TEXT, &"two\nlines\x1b[2J");
        writer.list(status::WAITING_FOR, &["db", "cache"]).list::<&str>(status::LISTEN, &[]);
        writer.field(status::CMD, &"x".repeat(2000));
        let text = writer.finish();
        let fields: Vec<(&str, &str)> = status::fields(&text).unwrap().collect();
        assert_eq!(fields[..3], [("state", "up"), ("status_text", "two lines [2J"), ("waiting_for", "db cache")]);
        assert_eq!((fields[3].1.len(), fields.len()), (status::MAX_VALUE, 4));
        assert!(fields[3].1.ends_with(" ..."));
        assert_eq!(status::value(&text, "waiting_for"), Some("db cache"));
        assert!(status::fields("pid=1\n").is_none(), "not a status file");
    }

    #[test]
    fn command_lines_parse_back() {
        for control in [Control::Up, Control::Down, Control::Restart, Control::Signal(10)] {
            let line = command_line(control, "web");
            assert_eq!(parse_command(line.trim_end()), Ok(("web", control)));
        }
    }
}
