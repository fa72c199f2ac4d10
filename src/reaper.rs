//! Reaping children without scanning them all.
//!
//! `waitpid(-1)` makes the kernel walk every child going has, so with 10,000
//! services every exit cost two walks of 10,000. Instead each service's
//! process gets a pidfd in the epoll set: it becomes readable when that
//! process exits, and `waitid(P_PID)` reaps it alone (with `P_PIDFD` the
//! kernel walks every child again).
//!
//! SIGCHLD stays for what has no pidfd: orphans adopted as subreaper (or as
//! PID 1). A SIGCHLD whose sender is not a service that was just reaped, or
//! fewer SIGCHLDs than service exits (the kernel merges a SIGCHLD that
//! arrives while one is pending, and an orphan's may be among them), makes
//! going sweep with `waitpid(-1)`; so does any SIGCHLD while a service waits
//! for what is left of its process group, whose members are orphans now.
//!
//! A child starts with no exit signal: going forks it with none
//! ([`crate::spawn`]). Until its exec (which
//! gives it SIGCHLD) only a wait with `__WALL` finds it, and a child that
//! dies before its exec sends no SIGCHLD (its pidfd still tells). A child whose pidfd cannot be made is
//! killed and its start fails: nothing would tell its exit.

use crate::events::{Poller, Source};
use crate::protocol::Exit;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags, WaitId, WaitIdOptions, WaitOptions};

/// How many pids of services reaped through their pidfd are remembered, to
/// recognise their SIGCHLD when it comes later.
const RECENT: usize = 64;

/// How many start times are remembered ([`Reaper::start_time`]).
const START_TIMES: usize = 4;

#[derive(Default)]
pub struct Reaper {
    /// Each service process's pidfd, by pid: one for each of up to 10,000 services,
    /// so nothing else is kept beside it.
    pidfds: BTreeMap<i32, OwnedFd>,
    /// The start times read last, by pid: a start publishes its status twice
    /// (`starting`, `up`), one right after the other, and reads /proc once.
    start_times: [(i32, u64); START_TIMES],
    /// Services reaped through their pidfd whose SIGCHLD has not been read yet.
    recent: Vec<i32>,
}

fn exit_of(code: Option<i32>, signal: Option<i32>) -> Option<Exit> {
    match (code, signal) {
        (Some(code), _) => Some(Exit::Code(code)),
        (None, Some(signal)) => Some(Exit::Signal(signal)),
        (None, None) => None,
    }
}

impl Reaper {
    /// Watches a new child's exit through a pidfd; without one (no descriptor left, a
    /// kernel before 5.3) nothing would tell its exit, so it is killed and the caller
    /// fails the start (the next sweep reaps it).
    pub fn track(&mut self, pid: Pid, poller: &Poller) -> Result<(), Errno> {
        let raw = pid.as_raw_nonzero().get();
        let watched = rustix::process::pidfd_open(pid, PidfdFlags::empty())
            .and_then(|pidfd| poller.add(&pidfd, Source::Exited(raw)).map(|()| pidfd));
        match watched {
            Ok(pidfd) => {
                self.pidfds.insert(raw, pidfd);
                Ok(())
            }
            Err(error) => {
                let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
                Err(error)
            }
        }
    }

    fn remember(&mut self, pid: i32) {
        if self.recent.len() == RECENT {
            self.recent.remove(0);
        }
        self.recent.push(pid);
    }

    /// Child `pid`'s pidfd is readable: reaps it, if it has exited.
    pub fn exited(&mut self, pid: i32, poller: &Poller) -> Option<(Pid, Exit)> {
        let pidfd = self.pidfds.remove(&pid)?;
        self.forget_start_time(pid);
        poller.remove(&pidfd);
        let options =
            WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::from_bits_retain(crate::rt::ALL_CHILDREN);
        // By pid, not by pidfd: the kernel looks a pid up directly, but walks every child for a pidfd.
        let status = match rustix::process::waitid(WaitId::Pid(Pid::from_raw(pid)?), options) {
            Ok(Some(status)) => status,
            // Already reaped by a sweep, or not gone yet (a spurious wake-up): watch on.
            Ok(None) => {
                if poller.add(&pidfd, Source::Exited(pid)).is_ok() {
                    self.pidfds.insert(pid, pidfd);
                }
                return None;
            }
            Err(_) => return None,
        };
        self.remember(pid);
        Some((Pid::from_raw(pid)?, exit_of(status.exit_status(), status.terminating_signal())?))
    }

    /// The start time of child `pid` (clock ticks after boot, from /proc); read once
    /// for the few children last asked about (a reaped pid is forgotten: it may be reused).
    pub fn start_time(&mut self, pid: i32) -> Option<u64> {
        if let Some(&(_, known)) = self.start_times.iter().find(|(known, _)| *known == pid) {
            return Some(known);
        }
        let read = crate::proc_stat::read(pid)?.start_time;
        self.start_times.rotate_right(1);
        self.start_times[0] = (pid, read);
        Some(read)
    }

    fn forget_start_time(&mut self, pid: i32) {
        for known in self.start_times.iter_mut().filter(|(known, _)| *known == pid) {
            *known = (0, 0);
        }
    }

    /// SIGCHLD said these senders (one each, merged ones lost): whether to sweep.
    pub fn needs_sweep(&mut self, senders: &[i32]) -> bool {
        let mut sweep = false;
        for sender in senders {
            match self.recent.iter().position(|pid| pid == sender) {
                Some(at) => _ = self.recent.remove(at),
                // An orphan, or a service whose pidfd has not been read yet: waitpid(-1) finds it.
                None => sweep = true,
            }
        }
        // More service exits than SIGCHLDs: some were merged, maybe an orphan's with them.
        if !self.recent.is_empty() {
            self.recent.clear();
            sweep = true;
        }
        sweep
    }

    /// Reaps one child that has exited (`waitpid(-1)`), orphans included, and forgets
    /// its pidfd; `None` when none has. The caller tells each one before it reaps the
    /// next: a start made in between may get a pid reaped in the same sweep.
    pub fn reap_any(&mut self, poller: &Poller) -> Option<(Pid, Exit)> {
        loop {
            let options = WaitOptions::NOHANG | WaitOptions::from_bits_retain(crate::rt::ALL_CHILDREN);
            let (pid, status) = match rustix::process::wait(options) {
                Ok(Some(found)) => found,
                Err(Errno::INTR) => continue,
                Ok(None) | Err(_) => return None,
            };
            self.forget_start_time(pid.as_raw_nonzero().get());
            if let Some(pidfd) = self.pidfds.remove(&pid.as_raw_nonzero().get()) {
                poller.remove(&pidfd);
            }
            if let Some(exit) = exit_of(status.exit_status(), status.terminating_signal()) {
                return Some((pid, exit));
            }
        }
    }
}
