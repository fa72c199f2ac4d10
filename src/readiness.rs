//! What services say about their readiness: the pipe of `ready=fd:N` (s6's
//! notification-fd protocol) and the datagram socket of `ready=notify`
//! (systemd's sd_notify), read without ever blocking and turned into
//! [`Notice`]s for the state machine.
//!
//! One socket serves every `ready=notify` service. It is bound to an
//! abstract address the kernel picks (autobind), so that no other process
//! can take its name first and a service in a `chroot=` reaches it all the
//! same; it is created when the first such service starts. A datagram counts
//! only with the credentials the kernel attaches: its sender's process group
//! names the service (each service leads its own group).
//!
//! Anyone may send to the socket (its name is listed in /proc/net/unix), and
//! a sender that blocks on a full queue sends exactly as fast as going reads:
//! reading every datagram would give a flood all of going's time. So when
//! one wake-up reads its full share, the socket leaves the epoll set for
//! [`NOTIFY_PAUSE`]: a flood costs going a share per pause (a few per cent
//! of a core), and a service's `READY=1`, which waits for room in the queue
//! with the flood's datagrams, is read a pause or two later.

use crate::events::{Poller, Source};
use crate::supervisor::Millis;
use alloc::string::String;
use alloc::vec::Vec;
use core::mem::MaybeUninit;
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SocketAddrUnix, SocketFlags,
    SocketType,
};
use rustix::pipe::PipeFlags;
use rustix::process::Pid;

/// A datagram larger than this is ignored whole (sd_notify messages are a few lines).
pub const MAX_DATAGRAM: usize = 4096;
/// `STATUS=` text is kept up to this many bytes.
pub const MAX_STATUS_TEXT: usize = 200;
/// Datagrams read at one wake-up; more are read at the next (a chatty service cannot hold going).
const DATAGRAMS_PER_WAKEUP: usize = 64;
/// How long the socket is left unread after a wake-up that read its full share.
pub const NOTIFY_PAUSE: Millis = 10;

/// What a service said, for the service whose main process is `pid`.
#[derive(Debug, PartialEq, Eq)]
pub enum Notice {
    Ready {
        pid: Pid,
        how: &'static str,
    },
    /// Its readiness pipe closed without a newline.
    PipeClosed {
        pid: Pid,
        fd: u16,
    },
    Status {
        pid: Pid,
        text: String,
    },
}

#[derive(Default)]
pub struct Readiness {
    /// The read end of each `ready=fd:N` pipe still open, with the pid it is for and N:
    /// only services between their start and their newline, so a short list.
    pipes: Vec<(i32, OwnedFd, u16)>,
    socket: Option<NotifySocket>,
    notices: Vec<Notice>,
}

struct NotifySocket {
    fd: OwnedFd,
    /// `@` and the abstract name: what `NOTIFY_SOCKET` says.
    address: String,
    /// Out of the epoll set until then, after a full share was read.
    paused_until: Option<Millis>,
}

impl Readiness {
    /// A pipe for a `ready=fd:N` service: (read end, write end), both close-on-exec;
    /// the child moves the write end to N.
    pub fn pipe() -> Result<(OwnedFd, OwnedFd), Errno> {
        rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)
    }

    /// Watches the read end of the readiness pipe of child `pid`, descriptor `fd` in the child.
    pub fn watch_pipe(&mut self, pid: Pid, read: OwnedFd, fd: u16, poller: &Poller) {
        let raw = pid.as_raw_nonzero().get();
        // Unwatched, the service is never ready: say so as a closed pipe would.
        match poller.add(&read, Source::Ready(raw)) {
            Ok(()) => self.pipes.push((raw, read, fd)),
            Err(_) => self.notices.push(Notice::PipeClosed { pid, fd }),
        }
    }

    /// Reads the readiness pipe of child `pid`: a newline makes it ready, and the pipe is closed.
    pub fn read_pipe(&mut self, raw: i32, poller: &Poller) {
        let Some((_, read, fd)) = self.pipes.iter().find(|(pid, _, _)| *pid == raw) else { return };
        let Some(pid) = Pid::from_raw(raw) else { return };
        let mut buffer = [0u8; 512];
        let notice = match rustix::io::read(read, &mut buffer) {
            Ok(0) => Notice::PipeClosed { pid, fd: *fd },
            Ok(count) if buffer[..count].contains(&b'\n') => Notice::Ready { pid, how: "fd" },
            Ok(_) | Err(Errno::AGAIN | Errno::INTR) => return,
            Err(_) => Notice::PipeClosed { pid, fd: *fd },
        };
        self.notices.push(notice);
        self.forget(raw, poller);
    }

    /// The child `pid` is gone: its pipe, if still open, says nothing more that counts.
    pub fn forget(&mut self, raw: i32, poller: &Poller) {
        if let Some(at) = self.pipes.iter().position(|(pid, _, _)| *pid == raw) {
            poller.remove(&self.pipes.swap_remove(at).1);
        }
    }

    /// `NOTIFY_SOCKET` for a `ready=notify` service: the socket's address, created the first time.
    pub fn notify_address(&mut self, poller: &Poller) -> Result<&str, Errno> {
        if self.socket.is_none() {
            self.socket = Some(NotifySocket::open(poller)?);
        }
        Ok(&self.socket.as_ref().expect("BUG: just opened").address)
    }

    /// Reads the datagrams waiting on the notify socket, a share at most; after a full
    /// share it pauses the socket ([`NOTIFY_PAUSE`]).
    pub fn read_socket(&mut self, now: Millis, poller: &Poller) {
        let Some(socket) = &mut self.socket else { return };
        for _ in 0..DATAGRAMS_PER_WAKEUP {
            match socket.receive() {
                Ok(Some((pid, message))) => self.notices.extend(parse_notification(pid, &message)),
                Ok(None) => {}
                Err(_) => return,
            }
        }
        poller.remove(&socket.fd);
        socket.paused_until = Some(now + NOTIFY_PAUSE);
    }

    /// When a paused socket is to be read again.
    pub fn deadline(&self) -> Option<Millis> {
        self.socket.as_ref()?.paused_until
    }

    /// Watches a paused socket again once its pause has passed.
    pub fn resume(&mut self, now: Millis, poller: &Poller) {
        let Some(socket) = &mut self.socket else { return };
        if socket.paused_until.is_some_and(|until| until <= now) && poller.add(&socket.fd, Source::Notify).is_ok() {
            socket.paused_until = None;
        }
    }

    /// What services said since the last call.
    pub fn take_notices(&mut self) -> Vec<Notice> {
        core::mem::take(&mut self.notices)
    }
}

impl NotifySocket {
    fn open(poller: &Poller) -> Result<NotifySocket, Errno> {
        let flags = SocketFlags::CLOEXEC | SocketFlags::NONBLOCK;
        let fd = rustix::net::socket_with(AddressFamily::UNIX, SocketType::DGRAM, flags, None)?;
        rustix::net::sockopt::set_socket_passcred(&fd, true)?;
        rustix::net::bind(&fd, &SocketAddrUnix::new_unnamed())?;
        let bound = rustix::net::getsockname(&fd)?;
        let bound = SocketAddrUnix::try_from(bound).map_err(|_| Errno::AFNOSUPPORT)?;
        let name = bound.abstract_name().ok_or(Errno::AFNOSUPPORT)?;
        let address = alloc::format!("@{}", String::from_utf8_lossy(name));
        poller.add(&fd, Source::Notify)?;
        Ok(NotifySocket { fd, address, paused_until: None })
    }

    /// One datagram: its sender's process group and its text; `None` for one
    /// that does not count (too large, without credentials, from a process gone).
    fn receive(&self) -> Result<Option<(Pid, Vec<u8>)>, Errno> {
        let mut data = [0u8; MAX_DATAGRAM];
        let mut space = [MaybeUninit::<u8>::uninit(); rustix::cmsg_space!(ScmCredentials(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let flags = RecvFlags::DONTWAIT | RecvFlags::TRUNC | RecvFlags::CMSG_CLOEXEC;
        let message =
            rustix::net::recvmsg(&self.fd, &mut [rustix::io::IoSliceMut::new(&mut data)], &mut control, flags)?;
        if message.bytes > MAX_DATAGRAM || message.flags.contains(ReturnFlags::TRUNC) {
            return Ok(None);
        }
        let sender = control.drain().find_map(|item| match item {
            RecvAncillaryMessage::ScmCredentials(credentials) => Some(credentials.pid),
            _ => None,
        });
        let Some(group) = sender.and_then(|pid| rustix::process::getpgid(Some(pid)).ok()) else {
            return Ok(None);
        };
        Ok(Some((group, data[..message.bytes].to_vec())))
    }
}

/// The notices in one sd_notify datagram: `READY=1` and `STATUS=...`; other lines are ignored.
pub fn parse_notification(pid: Pid, message: &[u8]) -> Vec<Notice> {
    let mut notices = Vec::new();
    for line in message.split(|&byte| byte == b'\n') {
        if line == b"READY=1" {
            notices.push(Notice::Ready { pid, how: "notify" });
        } else if let Some(text) = line.strip_prefix(b"STATUS=") {
            let text = String::from_utf8_lossy(&text[..text.len().min(MAX_STATUS_TEXT)]);
            let text = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
            notices.push(Notice::Status { pid, text });
        }
    }
    notices
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_and_status_lines_count_and_others_do_not() {
        let pid = Pid::from_raw(7).unwrap();
        let notices = parse_notification(pid, b"STATUS=loading\x1b[31m\nMAINPID=9\nREADY=1\nREADY=0");
        assert_eq!(
            notices,
            [Notice::Status { pid, text: "loading [31m".into() }, Notice::Ready { pid, how: "notify" }]
        );
        assert!(parse_notification(pid, b"READY=10\nWATCHDOG=1").is_empty());
        let long = [b"STATUS=".as_slice(), &[b'x'; 300]].concat();
        assert!(
            matches!(&parse_notification(pid, &long)[..], [Notice::Status { text, .. }] if text.len() == MAX_STATUS_TEXT)
        );
    }
}
