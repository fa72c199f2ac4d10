//! The schedule and verdicts of one service's health check (`check=`).
//!
//! Pure, with the time as a parameter, like the state machine that owns it
//! ([`crate::supervisor`]): it says when the next check is due, when a
//! running one has had its time, and what a finished one means. Before the
//! service is ready, checks come 0.1 s after its exec and then at doubling
//! gaps up to the interval, and failures do not count; once it is ready,
//! every interval, and `retries` failures in a row make it unhealthy. One
//! check at a time: a check still running when its run ends is killed, and
//! its result ignored.

use crate::clock::Millis;
use crate::config::HealthCheck;
use crate::protocol::Exit;
use rustix::process::Pid;

/// The first check after the exec, and the first gap of the ramp to the interval.
pub const FIRST_CHECK: Millis = 100;

/// How a check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Exited(Exit),
    /// Killed at its timeout.
    TimedOut,
}

impl Outcome {
    pub fn passed(self) -> bool {
        self == Outcome::Exited(Exit::Code(0))
    }
}

/// `exit 1`, `signal KILL` or `timeout`, as status files and the log show it.
impl core::fmt::Display for Outcome {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Outcome::Exited(Exit::Code(code)) => write!(f, "exit {code}"),
            Outcome::Exited(Exit::Signal(signal)) => write!(f, "signal {}", crate::protocol::show_signal(signal)),
            Outcome::TimedOut => f.write_str("timeout"),
        }
    }
}

/// What a finished check means for the service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// It passed; `first` when it is the first pass of this run.
    Passed {
        first: bool,
    },
    Failed,
    /// `retries` failures in a row: restart it.
    Unhealthy,
}

/// What status files and goingctl show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Summary {
    /// `checking`, `healthy` or `unhealthy`.
    pub name: &'static str,
    /// Checks failed in a row since the last pass, of the `retries` that make it unhealthy.
    pub failed: (u32, u32),
    /// The last check of this run and when it ended.
    pub last: Option<(Outcome, Millis)>,
}

#[derive(Debug, Default)]
pub struct Health {
    running: Option<Pid>,
    /// The running check belongs to an ended run: its result is ignored.
    stale: bool,
    timed_out: bool,
    kill_at: Option<Millis>,
    next_at: Option<Millis>,
    /// Before the first pass: the gap before the next try.
    ramp: Millis,
    passed: bool,
    /// Failures count once the service is ready.
    counting: bool,
    failures: u32,
    unhealthy: bool,
    last: Option<(Outcome, Millis)>,
}

impl Health {
    /// A new run of the service: nothing checked yet, nothing scheduled.
    pub fn begin_run(&mut self) {
        let (running, stale) = (self.running, self.running.is_some());
        *self = Health { running, stale, ramp: FIRST_CHECK, ..Health::default() };
    }

    /// Its program was executed and its readiness is the check's: the first check in 0.1 s.
    pub fn executed(&mut self, now: Millis) {
        self.next_at = Some(now + FIRST_CHECK);
    }

    /// It is ready (the check passed, or `ready=` said so): failures count from now,
    /// and the next check comes an interval later.
    pub fn ready(&mut self, now: Millis, check: &HealthCheck) {
        self.counting = true;
        if self.running.is_none() || self.stale {
            self.next_at = Some(now + check.interval);
        }
    }

    /// The run ended: the check still running, if any, to kill.
    pub fn end_run(&mut self) -> Option<Pid> {
        (self.next_at, self.kill_at) = (None, None);
        let running = self.running.filter(|_| !self.stale);
        self.stale |= running.is_some();
        running
    }

    /// Whether a check should start now.
    pub fn is_due(&self, now: Millis) -> bool {
        self.running.is_none() && self.next_at.is_some_and(|at| at <= now)
    }

    pub fn started(&mut self, pid: Pid, now: Millis, check: &HealthCheck) {
        (self.running, self.stale, self.timed_out) = (Some(pid), false, false);
        (self.next_at, self.kill_at) = (None, Some(now + check.timeout));
    }

    /// The running check's time is up: the check to kill (once).
    pub fn time_up(&mut self, now: Millis) -> Option<Pid> {
        let pid = self.running.filter(|_| self.kill_at.is_some_and(|at| at <= now))?;
        (self.kill_at, self.timed_out) = (None, true);
        Some(pid)
    }

    /// Whether `pid` is this service's check.
    pub fn is_check(&self, pid: Pid) -> bool {
        self.running == Some(pid)
    }

    /// The check process is gone; `None` when its run had ended (the result does not count).
    pub fn finished(&mut self, now: Millis, exit: Exit, check: &HealthCheck) -> Option<Verdict> {
        self.running = None;
        self.kill_at = None;
        if core::mem::take(&mut self.stale) {
            return None;
        }
        let outcome = match core::mem::take(&mut self.timed_out) {
            true => Outcome::TimedOut,
            false => Outcome::Exited(exit),
        };
        self.last = Some((outcome, now));
        if outcome.passed() {
            let first = !self.passed;
            // A pass makes a service whose readiness is the check's ready: failures count from now.
            (self.passed, self.failures, self.counting) = (true, 0, true);
            self.next_at = Some(now + check.interval);
            return Some(Verdict::Passed { first });
        }
        if !self.counting {
            self.ramp = (self.ramp * 2).min(check.interval);
            self.next_at = Some(now + self.ramp);
            return Some(Verdict::Failed);
        }
        self.failures += 1;
        if self.failures >= check.retries {
            self.unhealthy = true;
            return Some(Verdict::Unhealthy);
        }
        self.next_at = Some(now + check.interval);
        Some(Verdict::Failed)
    }

    /// How many failed in a row.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When something is due: the running check's timeout, or the next check.
    pub fn deadline(&self) -> Option<Millis> {
        match self.running {
            Some(_) => self.kill_at,
            None => self.next_at,
        }
    }

    /// The check process, while one runs (of this run or an ended one).
    pub fn pid(&self) -> Option<Pid> {
        self.running
    }

    pub fn summary(&self, retries: u32) -> Summary {
        let name = match (self.unhealthy, self.passed) {
            (true, _) => "unhealthy",
            (false, true) => "healthy",
            (false, false) => "checking",
        };
        Summary { name, failed: (self.failures, retries), last: self.last }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(interval: Millis, timeout: Millis, retries: u32) -> HealthCheck {
        HealthCheck { argv: crate::config::Words::new(&["/bin/check"]), interval, timeout, retries }
    }

    fn pid(raw: i32) -> Pid {
        Pid::from_raw(raw).unwrap()
    }

    #[test]
    fn before_the_first_pass_checks_ramp_up_and_failures_do_not_count() {
        let check = check(1_000, 500, 1);
        let mut health = Health::default();
        health.begin_run();
        assert_eq!(health.deadline(), None);
        health.executed(0);
        let mut now = 0;
        for gap in [100, 200, 400, 800, 1_000, 1_000] {
            assert_eq!(health.deadline(), Some(now + gap));
            now += gap;
            assert!(health.is_due(now));
            health.started(pid(7), now, &check);
            assert!(!health.is_due(now));
            assert_eq!(health.finished(now + 1, Exit::Code(1), &check), Some(Verdict::Failed));
            now += 1;
        }
        assert_eq!(health.summary(3).name, "checking");
        health.started(pid(8), now, &check);
        assert_eq!(health.finished(now, Exit::Code(0), &check), Some(Verdict::Passed { first: true }));
        let last = Some((Outcome::Exited(Exit::Code(0)), now));
        assert_eq!(health.summary(3), Summary { name: "healthy", failed: (0, 3), last });
    }

    #[test]
    fn once_ready_retries_failures_in_a_row_are_unhealthy_and_a_pass_resets_them() {
        let check = check(1_000, 500, 3);
        let mut health = Health::default();
        health.begin_run();
        health.ready(0, &check);
        let mut now = 0;
        let run = |health: &mut Health, now: &mut Millis, code| {
            *now = health.deadline().unwrap();
            health.started(pid(9), *now, &check);
            health.finished(*now + 10, Exit::Code(code), &check)
        };
        assert_eq!(run(&mut health, &mut now, 1), Some(Verdict::Failed));
        assert_eq!(run(&mut health, &mut now, 1), Some(Verdict::Failed));
        assert_eq!(run(&mut health, &mut now, 0), Some(Verdict::Passed { first: true }));
        assert_eq!(health.failures(), 0);
        assert_eq!(run(&mut health, &mut now, 1), Some(Verdict::Failed));
        assert_eq!(run(&mut health, &mut now, 2), Some(Verdict::Failed));
        assert_eq!(run(&mut health, &mut now, 3), Some(Verdict::Unhealthy));
        assert_eq!(health.summary(3).name, "unhealthy");
        assert_eq!(health.deadline(), None, "nothing more until the next run");
    }

    #[test]
    fn a_check_past_its_timeout_is_killed_once_and_counts_as_timed_out() {
        let check = check(1_000, 300, 1);
        let mut health = Health::default();
        health.begin_run();
        health.ready(0, &check);
        health.started(pid(5), 1_000, &check);
        assert_eq!(health.deadline(), Some(1_300));
        assert_eq!(health.time_up(1_299), None);
        assert_eq!(health.time_up(1_300), Some(pid(5)));
        assert_eq!(health.time_up(1_400), None);
        assert_eq!(health.finished(1_301, Exit::Signal(9), &check), Some(Verdict::Unhealthy));
        assert_eq!(health.summary(3).last, Some((Outcome::TimedOut, 1_301)));
    }

    #[test]
    fn a_check_of_an_ended_run_is_killed_and_its_result_ignored() {
        let check = check(1_000, 500, 1);
        let mut health = Health::default();
        health.begin_run();
        health.ready(0, &check);
        health.started(pid(5), 1_000, &check);
        assert_eq!(health.end_run(), Some(pid(5)));
        assert_eq!(health.end_run(), None, "killed once");
        // The next run begins before the old check is reaped: no second check meanwhile.
        health.begin_run();
        health.executed(1_010);
        assert!(!health.is_due(1_200));
        assert!(health.is_check(pid(5)));
        assert_eq!(health.finished(1_300, Exit::Code(0), &check), None);
        assert_eq!(health.summary(3).name, "checking");
        assert!(health.is_due(1_300));
    }
}
