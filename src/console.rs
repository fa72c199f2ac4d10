//! going's own stdout and stderr, written without ever blocking the loop.
//!
//! They are whatever going's parent gave it: a terminal, a file, a pipe to a
//! container runtime, a socket to systemd's journal. A reader that stalls
//! must not stop supervision, so a write that would block fails instead and
//! the caller counts what it dropped:
//!
//! | descriptor | how it is written |
//! | --- | --- |
//! | socket | `send` with MSG_DONTWAIT (and MSG_NOSIGNAL) |
//! | regular file, block device | as it is: it never blocks |
//! | pipe, FIFO, terminal | a new open file description of it (`/proc/self/fd/N`) set non-blocking, so that the flag does not leak to whoever shares the original; without /proc, the original itself is set non-blocking |

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::net::SendFlags;

enum Target {
    Socket(BorrowedFd<'static>),
    /// Writes to it never block.
    Plain(BorrowedFd<'static>),
    Reopened(OwnedFd),
}

/// One of going's standard output descriptors.
pub struct Console(Target);

impl Console {
    /// `fd` is 1 or 2, which going keeps open for its whole life.
    pub fn new(fd: BorrowedFd<'static>) -> Console {
        let raw = rustix::fd::AsRawFd::as_raw_fd(&fd);
        let kind = rustix::fs::fstat(fd).map(|stat| FileType::from_raw_mode(stat.st_mode));
        let target = match kind {
            Ok(FileType::Socket) => Target::Socket(fd),
            Ok(FileType::RegularFile | FileType::BlockDevice) | Err(_) => Target::Plain(fd),
            Ok(_) => {
                let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
                let path = alloc::format!("/proc/self/fd/{raw}");
                match rustix::fs::open(path.as_str(), flags, Mode::empty()) {
                    Ok(reopened) => Target::Reopened(reopened),
                    Err(_) => {
                        let flags = rustix::fs::fcntl_getfl(fd).unwrap_or(OFlags::WRONLY);
                        let _ = rustix::fs::fcntl_setfl(fd, flags | OFlags::NONBLOCK);
                        Target::Plain(fd)
                    }
                }
            }
        };
        Console(target)
    }

    /// Writes all of `bytes`, or fails (EAGAIN when the reader is behind) with what is left unwritten.
    pub fn write_all(&self, bytes: &[u8]) -> Result<(), Errno> {
        write_all(bytes, |bytes| match &self.0 {
            Target::Socket(fd) => rustix::net::send(fd, bytes, SendFlags::DONTWAIT | SendFlags::NOSIGNAL),
            Target::Plain(fd) => rustix::io::write(fd, bytes),
            Target::Reopened(fd) => rustix::io::write(fd.as_fd(), bytes),
        })
    }
}

/// Writes all of `bytes` with `write` (a write(2) or send(2) that may take part), again after
/// EINTR; fails at the first other error. going's console and the services' log files share it.
pub fn write_all(mut bytes: &[u8], mut write: impl FnMut(&[u8]) -> Result<usize, Errno>) -> Result<(), Errno> {
    while !bytes.is_empty() {
        match write(bytes) {
            Ok(count) => bytes = &bytes[count..],
            Err(Errno::INTR) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(())
}
