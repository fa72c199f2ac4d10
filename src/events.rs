//! The epoll set: every descriptor going waits on, registered once with a
//! token that says what it is, so that a wake-up touches only what is ready
//! and dispatch goes by name, never by position in an array.
//!
//! Level-triggered: a source read only in part (a log pipe past its share
//! of a wake-up) is reported again at the next wait.

use alloc::vec::Vec;
use rustix::event::epoll::{self, CreateFlags, Event, EventData, EventFlags};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::time::Timespec;

/// What a ready descriptor is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Signals,
    Inotify,
    Control,
    /// The report pipe of the child with this pid, while it starts ([`crate::spawn`]).
    Start(i32),
    /// The service log pipe with this id ([`crate::service_log`]).
    Log(u32),
    /// The pidfd of the child with this pid ([`crate::reaper`]).
    Exited(i32),
    /// The `ready=fd:N` pipe of the child with this pid ([`crate::readiness`]).
    Ready(i32),
    /// The `ready=notify` socket ([`crate::readiness`]).
    Notify,
}

const KIND_SHIFT: u32 = 32;

impl Source {
    fn token(self) -> u64 {
        let (kind, value) = match self {
            Source::Signals => (0, 0),
            Source::Inotify => (1, 0),
            Source::Control => (2, 0),
            Source::Start(pid) => (3, pid as u32),
            Source::Log(id) => (4, id),
            Source::Exited(pid) => (5, pid as u32),
            Source::Ready(pid) => (6, pid as u32),
            Source::Notify => (7, 0),
        };
        (kind << KIND_SHIFT) | u64::from(value)
    }

    fn from_token(token: u64) -> Option<Source> {
        let value = token as u32;
        Some(match token >> KIND_SHIFT {
            0 => Source::Signals,
            1 => Source::Inotify,
            2 => Source::Control,
            3 => Source::Start(value as i32),
            4 => Source::Log(value),
            5 => Source::Exited(value as i32),
            6 => Source::Ready(value as i32),
            7 => Source::Notify,
            _ => return None,
        })
    }
}

/// How many ready descriptors one wait returns at most; more are returned by the next.
const EVENTS_PER_WAIT: usize = 256;

pub struct Poller {
    epoll: OwnedFd,
    events: Vec<Event>,
}

impl Poller {
    pub fn new() -> Result<Poller, Errno> {
        Ok(Poller { epoll: epoll::create(CreateFlags::CLOEXEC)?, events: Vec::with_capacity(EVENTS_PER_WAIT) })
    }

    /// Waits for input on `fd`, reported as `source`.
    pub fn add(&self, fd: impl AsFd, source: Source) -> Result<(), Errno> {
        epoll::add(&self.epoll, fd, EventData::new_u64(source.token()), EventFlags::IN)
    }

    /// Stops waiting on `fd`. Closing it is not enough while a child between
    /// fork and exec still holds a copy.
    pub fn remove(&self, fd: impl AsFd) {
        let _ = epoll::delete(&self.epoll, fd);
    }

    /// Sleeps until something is ready or `timeout` passes (`None`: no
    /// timeout), then appends what is ready to `ready`.
    pub fn wait(&mut self, timeout: Option<&Timespec>, ready: &mut Vec<Source>) {
        self.events.clear();
        match epoll::wait(&self.epoll, rustix::buffer::spare_capacity(&mut self.events), timeout) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(error) => panic!("epoll_wait failed: {}", crate::log::describe(error)),
        }
        ready.extend(self.events.iter().filter_map(|event| Source::from_token(event.data.u64())));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_say_what_a_descriptor_is() {
        let sources = [
            Source::Signals,
            Source::Inotify,
            Source::Control,
            Source::Start(4_194_304),
            Source::Exited(4_194_304),
            Source::Log(7),
            Source::Exited(12),
            Source::Ready(13),
            Source::Notify,
        ];
        for source in sources {
            assert_eq!(Source::from_token(source.token()), Some(source));
        }
        assert_eq!(Source::from_token(9 << KIND_SHIFT), None);
    }
}
