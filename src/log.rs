//! going's own log: one line per event, one write, to syslog or stderr.
//!
//! Lines go to the syslog datagram socket /dev/log (facility daemon, ident
//! `going`, with pid) when one accepts them, and to stderr otherwise. Sending
//! never blocks: a missing socket, a refused connection or a full queue sends
//! that line to stderr instead. After a full queue the next line tries
//! syslog again; after a failed connect, the first line a second later. Nor
//! does stderr block ([`crate::console`]): a line it does not take is counted
//! and the count is told with the next line it takes.

use crate::console::Console;
use alloc::string::String;
use core::fmt::{self, Write};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

/// The syslog socket.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// How long after a failed connect to the syslog socket going tries again.
const SYSLOG_RETRY: u64 = 1_000;

/// syslog facility LOG_DAEMON.
const FACILITY_DAEMON: u8 = 3;

/// syslog severities going uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error = 3,
    Warning = 4,
    Notice = 5,
    Info = 6,
}

/// Where going's event lines go.
pub struct Logger {
    syslog: Option<OwnedFd>,
    /// After a failed connect (no syslog daemon, as in most containers),
    /// CLOCK_MONOTONIC milliseconds before which no line tries again: three
    /// system calls for every line would cost every respawn.
    connect_after: u64,
    stderr: Console,
    /// Lines stderr did not take (its reader is behind), told with the next line it takes.
    dropped: u64,
    pid: i32,
    /// Error lines logged so far (`going -n` exits 65 after any).
    errors: u32,
}

impl Logger {
    pub fn new() -> Self {
        Logger {
            syslog: None,
            connect_after: 0,
            stderr: Console::new(crate::rt::stderr()),
            dropped: 0,
            pid: rustix::process::getpid().as_raw_nonzero().get(),
            errors: 0,
        }
    }

    /// A logger that writes to stderr only, never to syslog: for `going -n`, run by a person or a script.
    pub fn stderr_only() -> Self {
        Logger { connect_after: u64::MAX, ..Logger::new() }
    }

    /// How many error lines were logged.
    pub fn errors(&self) -> u32 {
        self.errors
    }

    /// Logs one event line: `going: ` is added, the message has no newline.
    pub fn log(&mut self, severity: Severity, message: fmt::Arguments) {
        self.errors += u32::from(severity == Severity::Error);
        let mut line = String::new();
        let priority = FACILITY_DAEMON * 8 + severity as u8;
        let _ = write!(line, "<{priority}>going[{}]: {message}", self.pid);
        if self.send_to_syslog(line.as_bytes()).is_ok() {
            return;
        }
        let start = line.find("]: ").map_or(0, |at| at + 3);
        let mut plain = String::new();
        if self.dropped > 0 {
            let _ = writeln!(plain, "going: {} lines were dropped: stderr was not writable", self.dropped);
        }
        plain.push_str("going: ");
        plain.push_str(&line[start..]);
        plain.push('\n');
        match self.stderr.write_all(plain.as_bytes()) {
            Ok(()) => self.dropped = 0,
            Err(_) => self.dropped += 1,
        }
    }

    fn send_to_syslog(&mut self, datagram: &[u8]) -> Result<(), Errno> {
        if self.syslog.is_none() {
            let now = crate::clock::monotonic_millis();
            if now < self.connect_after {
                return Err(Errno::NOTCONN);
            }
            match connect_syslog() {
                Ok(socket) => self.syslog = Some(socket),
                Err(error) => {
                    self.connect_after = now + SYSLOG_RETRY;
                    return Err(error);
                }
            }
        }
        let socket = self.syslog.as_ref().expect("BUG: connected just above");
        match rustix::net::send(socket, datagram, SendFlags::DONTWAIT) {
            Ok(_) => Ok(()),
            // The reader went away (syslogd restarted): forget the socket, reconnect next time.
            Err(error) => {
                if error != Errno::AGAIN {
                    self.syslog = None;
                }
                Err(error)
            }
        }
    }
}

impl Default for Logger {
    fn default() -> Self {
        Self::new()
    }
}

fn connect_syslog() -> Result<OwnedFd, Errno> {
    let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
    let socket = rustix::net::socket_with(AddressFamily::UNIX, SocketType::DGRAM, flags, None)?;
    rustix::net::connect(&socket, &SocketAddrUnix::new(SYSLOG_SOCKET)?)?;
    Ok(socket)
}

/// The C library's message for an errno, for log lines (there is no libc to ask).
pub fn describe(error: Errno) -> impl fmt::Display {
    Reason(error)
}

/// Displays an [`Errno`] as strerror(3) would.
struct Reason(Errno);

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self.0 {
            Errno::PERM => "Operation not permitted",
            Errno::NOENT => "No such file or directory",
            Errno::SRCH => "No such process",
            Errno::INTR => "Interrupted system call",
            Errno::IO => "Input/output error",
            Errno::TOOBIG => "Argument list too long",
            Errno::NOEXEC => "Exec format error",
            Errno::BADF => "Bad file descriptor",
            Errno::CHILD => "No child processes",
            Errno::AGAIN => "Resource temporarily unavailable",
            Errno::NOMEM => "Cannot allocate memory",
            Errno::ACCESS => "Permission denied",
            Errno::BUSY => "Device or resource busy",
            Errno::NOTDIR => "Not a directory",
            Errno::ISDIR => "Is a directory",
            Errno::INVAL => "Invalid argument",
            Errno::NFILE => "Too many open files in system",
            Errno::MFILE => "Too many open files",
            Errno::TXTBSY => "Text file busy",
            Errno::NOSPC => "No space left on device",
            Errno::ROFS => "Read-only file system",
            Errno::NAMETOOLONG => "File name too long",
            Errno::LOOP => "Too many levels of symbolic links",
            Errno::NOSYS => "Function not implemented",
            Errno::LIBBAD => "Accessing a corrupted shared library",
            Errno::CONNREFUSED => "Connection refused",
            Errno::NXIO => "No such device or address",
            Errno::EXIST => "File exists",
            Errno::ADDRINUSE => "Address already in use",
            Errno::ADDRNOTAVAIL => "Cannot assign requested address",
            Errno::AFNOSUPPORT => "Address family not supported by protocol",
            _ => return write!(f, "error {}", self.0.raw_os_error()),
        };
        f.write_str(text)
    }
}

/// `1 process`, `3 processes`.
pub fn processes(count: usize) -> impl fmt::Display {
    Processes(count)
}

struct Processes(usize);

impl fmt::Display for Processes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            1 => f.write_str("1 process"),
            count => write!(f, "{count} processes"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_read_like_strerror() {
        assert_eq!(format!("{}", describe(Errno::NOENT)), "No such file or directory");
        assert_eq!(format!("{}", describe(Errno::NOEXEC)), "Exec format error");
        assert_eq!(format!("{}", describe(Errno::from_raw_os_error(133))), "error 133");
    }
}
