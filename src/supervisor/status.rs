//! What goingctl is shown of a service: the [`Status`] the supervisor
//! publishes through [`super::Effects::publish`] at every change, and the
//! events that change only what is shown (a start's error, a `STATUS=`
//! text). How it is written to the run directory is [`crate::run_dir`].

use super::{Effects, Service, State, Supervisor};
use crate::config::{Restart, ServiceSpec};
use crate::health;
use crate::protocol::Exit;
use crate::supervisor::Millis;
use alloc::string::String;
use rustix::process::Pid;

/// What goingctl shows of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status<'a> {
    pub state: State,
    /// While [`State::Waiting`]: the `after=` services not ready yet.
    pub waiting_for: &'a [String],
    /// The last `STATUS=` a `ready=notify` service sent.
    pub status_text: Option<&'a str>,
    /// With `check=`: its health and last check.
    pub health: Option<health::Summary>,
    /// Why its file was refused (it runs the file before), and why its last start failed.
    pub refusal: Option<&'a str>,
    pub start_error: Option<&'a str>,
    /// What it runs: its command, user and log, for goingctl's detail view and `goingctl log`.
    pub spec: &'a ServiceSpec,
    /// When the current state began.
    pub since: Millis,
    /// Starts after the first one.
    pub restarts: u32,
    pub last_exit: Option<Exit>,
    /// The stop signal, the stop timeout and `restart=`, shown where they are not the defaults.
    pub stop_signal: i32,
    pub stop_timeout: Millis,
    pub restart: Restart,
}

impl Service {
    pub(super) fn status(&self) -> Status<'_> {
        let restarts = self.starts.saturating_sub(1);
        let policy = self.spec.policy();
        let (stop_signal, stop_timeout, restart) = (policy.signal, policy.timeout, policy.restart);
        Status {
            state: self.state,
            waiting_for: self.waiting_for(),
            // What a run said and what its checks found describe that run only.
            status_text: self.status_text().filter(|_| self.is_running()),
            health: match (self.health(), self.spec.check()) {
                (Some(health), Some(check)) if self.is_running() => Some(health.summary(check.retries)),
                _ => None,
            },
            refusal: self.extras.as_ref().and_then(|extras| extras.refusal.as_deref()),
            start_error: self.extras.as_ref().and_then(|extras| extras.start_error.as_deref()),
            spec: &self.spec,
            since: self.since,
            restarts,
            last_exit: self.last_exit,
            stop_signal,
            stop_timeout,
            restart,
        }
    }
}

impl Supervisor {
    /// A start of the service whose main process is `pid` failed before its exec, for `reason`.
    pub fn start_failed(&mut self, now: Millis, pid: Pid, reason: &str, effects: &mut impl Effects) {
        let Some(slot) = self.by_main_pid(pid) else { return };
        self.update(now, slot, effects, |service, effects| {
            service.extras().start_error = Some(reason.into());
            effects.publish(&service.name, &service.status());
            true
        });
    }

    /// The service whose process is `pid` sent `STATUS=text`.
    pub fn status_text(&mut self, now: Millis, pid: Pid, text: &str, effects: &mut impl Effects) {
        let Some(slot) = self.by_main_pid(pid) else { return };
        if self.services.get(slot).status_text() != Some(text) {
            self.update(now, slot, effects, |service, effects| {
                service.extras().status_text = Some(text.into());
                effects.publish(&service.name, &service.status());
                true
            });
        }
    }

    /// The name and status of the service whose main process is `pid`.
    pub fn status_by_pid(&self, pid: Pid) -> Option<(&str, Status<'_>)> {
        let service = self.services.get(self.by_main_pid(pid)?);
        Some((&service.name, service.status()))
    }

    /// Publishes every service's status again (the run directory was recreated).
    pub fn publish_all(&mut self, effects: &mut impl Effects) {
        for service in self.services.iter() {
            effects.publish(&service.name, &service.status());
        }
        for (name, error) in &self.refused {
            effects.publish_refused(name, error);
        }
    }
}
