//! A service's health check (`check=`) in the state machine: when checks
//! are scheduled, started and killed, and what their results do to the
//! service. The schedule itself, pure, is [`crate::health`].

use super::{AfterStop, Effects, Service, State, health_mut};
use crate::health::{Health, Verdict};
use crate::log::{Severity, describe};
use crate::protocol::Exit;
use crate::supervisor::Millis;
use rustix::process::Pid;

impl Service {
    /// Its `check=` came, went or changed (a reload): the schedule follows.
    pub(super) fn check_changed(&mut self, now: Millis, effects: &mut impl Effects) {
        match (self.spec.check(), health_mut(&mut self.extras)) {
            (None, Some(health)) => {
                if let Some(pid) = health.end_run() {
                    effects.kill_check(pid);
                }
                // Kept while its check runs: the check's pid stays known until it is reaped.
                if health.pid().is_none() {
                    self.extras().health = None;
                }
            }
            (Some(_), None) => {
                let mut health = Health::default();
                health.begin_run();
                self.extras().health = Some(health);
                if let State::Up { ready, .. } = self.state {
                    self.schedule_checks(now, ready);
                }
            }
            _ => {}
        }
    }

    /// Schedules the checks of a running service: an interval on if it is ready,
    /// else the ramp after an exec.
    pub(super) fn schedule_checks(&mut self, now: Millis, ready: bool) {
        let (Some(health), Some(check)) = (health_mut(&mut self.extras), self.spec.check()) else { return };
        match ready {
            true => health.ready(now, check),
            false => health.executed(now),
        }
    }

    /// A check is due or past its time: start or kill it.
    pub(super) fn check_deadline(&mut self, now: Millis, effects: &mut impl Effects) {
        let (Some(health), Some(check)) = (health_mut(&mut self.extras), self.spec.check()) else { return };
        if let Some(pid) = health.time_up(now) {
            effects.kill_check(pid);
        }
        if !matches!(self.state, State::Up { .. }) || !health.is_due(now) {
            return;
        }
        match effects.spawn_check(&self.name, &self.spec) {
            Ok(pid) => health.started(pid, now, check),
            Err(error) => {
                let name = &self.name;
                effects.log(Severity::Error, format_args!("{name}: cannot run its check: {}", describe(error)));
                self.check_finished(now, Exit::Code(126), effects);
            }
        }
    }

    /// Its check ended with `exit`: what the result means.
    pub(super) fn check_finished(&mut self, now: Millis, exit: Exit, effects: &mut impl Effects) {
        let Some(health) = health_mut(&mut self.extras) else { return };
        let Some(check) = self.spec.check() else {
            // A check of a `check=` removed since: nothing more to run.
            self.extras().health = None;
            return;
        };
        let verdict = health.finished(now, exit, check);
        let (failures, last) = (health.failures(), health.summary(0).last.map(|(outcome, _)| outcome));
        match verdict {
            None => {}
            Some(Verdict::Passed { first: true }) if matches!(self.state, State::Up { ready: false, .. }) => {
                self.became_ready(now, "check", effects);
            }
            Some(Verdict::Unhealthy) => {
                let (name, last) = (&self.name, last.expect("BUG: a verdict has an outcome"));
                let message =
                    format_args!("{name}: unhealthy: check failed {failures} times (last: {last}); restarting");
                effects.log(Severity::Warning, message);
                self.short_runs = 0;
                self.stop(now, AfterStop::Start, effects);
            }
            Some(_) => effects.publish(&self.name, &self.status()),
        }
    }

    /// The check process, while one runs.
    pub(super) fn check_pid(&self) -> Option<Pid> {
        self.health().and_then(|health| health.pid())
    }
}
