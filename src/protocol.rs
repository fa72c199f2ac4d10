//! What going and goingctl agree on: where the run directory is and what
//! its files are called, how big a status file may be, the control FIFO's
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
    struct Shown(i32);
    impl core::fmt::Display for Shown {
        fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
            match signal_name(self.0) {
                Some(name) => f.write_str(name),
                None => write!(f, "{}", self.0),
            }
        }
    }
    Shown(signal)
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
    fn command_lines_parse_back() {
        for control in [Control::Up, Control::Down, Control::Restart, Control::Signal(10)] {
            let line = command_line(control, "web");
            assert_eq!(parse_command(line.trim_end()), Ok(("web", control)));
        }
    }
}
