//! The service table and its state machine: start, readiness, exit,
//! backoff, reload, stop.
//!
//! Pure: it knows nothing of the kernel. The event loop feeds it events
//! (a reload's scan, a reaped pid, an exec or a readiness notice, the clock
//! passing a deadline, a stop request) with the time as a parameter, and it
//! acts through [`Effects`]: spawn a process, signal a service, log a line.
//! Tests drive it with a fake clock and fake effects.
//!
//! Four concerns live in rooms of their own: `reload` (what a scan of the
//! service directory changes), `order` (who waits for whom to start and to
//! stop, `after=`), `checks` (a service's `check=`) and `status` (what
//! goingctl is shown of a service).

mod checks;
mod order;
mod reload;
mod status;

pub use reload::{Scanned, by_name};
pub use status::Status;

use crate::clock::seconds;
use crate::config::{ReadyWhen, Restart, ServiceSpec};
use crate::health::Health;
use crate::log::{Severity, describe};
use crate::protocol::{Control, Exit, show_signal};
use crate::table::{Entry, List, Name, Slot, Table};
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use order::Hold;
use rustix::io::Errno;
use rustix::process::Pid;

pub use crate::clock::Millis;

/// A run at least this long is healthy: its exit respawns at once and resets the backoff.
pub const HEALTHY_RUN: Millis = 5_000;
/// The wait after the first short run; it doubles with each consecutive one.
pub const FIRST_BACKOFF: Millis = 1_000;
/// The longest wait between two starts of a crashing service.
pub const MAX_BACKOFF: Millis = 30_000;
/// How long to wait before trying again when fork itself failed.
pub const SPAWN_RETRY: Millis = 1_000;
/// How long a service may wait for the services after it to stop before the log says so.
pub const HOLD_TOLD_AFTER: Millis = 5_000;

/// What the supervisor asks of the world.
pub trait Effects {
    /// Starts a process for the service, leading its own process group.
    fn spawn(&mut self, name: &str, spec: &ServiceSpec) -> Result<Pid, Errno>;
    /// Starts the service's `check=` command in its context, leading its own process group.
    fn spawn_check(&mut self, name: &str, spec: &ServiceSpec) -> Result<Pid, Errno>;
    /// Kills a check's process group.
    fn kill_check(&mut self, pid: Pid);
    /// Sends the stop signal and SIGCONT (`Stop::Ask`) or SIGKILL to service `name`'s
    /// processes: its cgroup, or the process group led by `pid`.
    fn signal_group(&mut self, name: &str, pid: Pid, stop: Stop);
    /// Signals what is left of service `name` after its main process, leader of `group`, was
    /// reaped (never the pid alone).
    fn signal_leftovers(&mut self, name: &str, group: Pid, stop: Stop);
    /// What is left of service `name` after its main process, leader of `group`, was reaped.
    fn left_behind(&mut self, name: &str, group: Pid) -> LeftBehind;
    /// Sends a signal a user asked for to the process group led by `pid`.
    fn send_signal(&mut self, pid: Pid, signal: i32);
    /// Logs one event line.
    fn log(&mut self, severity: Severity, message: fmt::Arguments);
    /// The service's status changed (goingctl shows it).
    fn publish(&mut self, name: &str, status: &Status);
    /// The file `name` was refused and no service of that name runs: goingctl shows the error.
    fn publish_refused(&mut self, name: &str, error: &str);
    /// The service is gone from the table.
    fn withdraw(&mut self, name: &str);
}

/// What a service's main process left when it exited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeftBehind {
    Nothing,
    /// Members of its process group (how many is not known).
    Group,
    /// This many processes in its cgroup.
    Processes(usize),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// The service's `stop_signal` (with SIGCONT, so that a stopped process can act on it).
    Ask(i32),
    Kill,
}

/// Where a service is. A pid exists only while a process does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Running since `since`; `ready` once it is ready (`starting` until then).
    Up {
        pid: Pid,
        since: Millis,
        ready: bool,
    },
    /// To start once every `after=` service is ready.
    Waiting,
    Backoff {
        until: Millis,
    },
    /// Put down by a user: not running, not restarted.
    Down,
    /// It exited with success and its `restart=` does not run it again.
    Done,
    /// A `restart=never` service that exited without success: not run again.
    Failed,
    /// The main process is gone but its process group is not: the stop signal sent
    /// to the group, SIGKILL at `kill_at` (`None` once sent); does `then` once it is empty.
    Draining {
        group: Pid,
        kill_at: Option<Millis>,
        then: AfterStop,
    },
    /// The stop signal sent; SIGKILL at `kill_at`, `None` once sent.
    Stopping {
        pid: Pid,
        kill_at: Option<Millis>,
        then: AfterStop,
    },
}

/// What happens once a stopping service's process is reaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterStop {
    Start,
    /// A crash: wait until `until` (start at once if it has passed).
    Backoff {
        until: Millis,
    },
    Remove,
    StayDown,
    /// Its run ended as `restart=` says: [`State::Done`] when it succeeded, [`State::Failed`] otherwise.
    Finish {
        success: bool,
    },
}

/// Kept sorted by name, so that a reload of thousands of files is a merge, not a quadratic search.
struct Service {
    name: Name,
    /// What it runs, as its file said at the last reload.
    spec: Box<ServiceSpec>,
    state: State,
    /// When `state` began.
    since: Millis,
    /// Consecutive runs shorter than [`HEALTHY_RUN`].
    short_runs: u32,
    starts: u32,
    last_exit: Option<Exit>,
    /// What few services need, in one box: a plain service pays one pointer for it all.
    extras: Option<Box<Extras>>,
}

#[derive(Default)]
struct Extras {
    /// While [`State::Waiting`]: the `after=` services not ready yet.
    waiting_for: Vec<String>,
    status_text: Option<Box<str>>,
    /// Stopping together with services after it: it stops once they have.
    hold: Option<Hold>,
    /// With `check=`: the check's schedule (kept while a check of a removed `check=` runs).
    health: Option<Health>,
    /// Why the last reload refused its file: it runs what the file said before.
    refusal: Option<Box<str>>,
    /// Why its last start failed, until a start execs its program.
    start_error: Option<Box<str>>,
}

/// The service table.
#[derive(Default)]
pub struct Supervisor {
    services: Table<Service>,
    shutting_down: bool,
    /// Set when a `shutdown=yes` service ended: 128 + signal when killed.
    exit_status: Option<i32>,
    /// Refused files that no service runs, with their errors: goingctl shows them.
    refused: Vec<(String, Box<str>)>,
}

/// The health schedule in `extras`, if any: a function of the field alone, so that
/// `spec` can be borrowed beside it.
fn health_mut(extras: &mut Option<Box<Extras>>) -> Option<&mut Health> {
    extras.as_deref_mut()?.health.as_mut()
}

/// The wait before the next start after `short_runs` consecutive short runs.
pub fn backoff_delay(short_runs: u32) -> Millis {
    let doublings = short_runs.saturating_sub(1).min(16);
    (FIRST_BACKOFF << doublings).min(MAX_BACKOFF)
}

impl Service {
    fn new(name: String, spec: Box<ServiceSpec>, now: Millis) -> Service {
        let state = State::Down;
        let extras = spec.check().map(|_| Box::new(Extras { health: Some(Health::default()), ..Extras::default() }));
        Service { name: Name::new(&name), spec, state, since: now, short_runs: 0, starts: 0, last_exit: None, extras }
    }

    /// Its extras, made on first use.
    fn extras(&mut self) -> &mut Extras {
        self.extras.get_or_insert_with(Box::default)
    }

    fn waiting_for(&self) -> &[String] {
        self.extras.as_ref().map_or(&[], |extras| &extras.waiting_for)
    }

    fn clear_waiting_for(&mut self) {
        if let Some(extras) = &mut self.extras {
            extras.waiting_for = Vec::new();
        }
    }

    fn status_text(&self) -> Option<&str> {
        self.extras.as_ref()?.status_text.as_deref()
    }

    fn hold(&self) -> Option<&Hold> {
        self.extras.as_ref()?.hold.as_ref()
    }

    fn set_hold(&mut self, hold: Option<Hold>) {
        match (&mut self.extras, hold) {
            (None, None) => {}
            (_, hold) => self.extras().hold = hold,
        }
    }

    fn health(&self) -> Option<&Health> {
        self.extras.as_ref()?.health.as_ref()
    }

    /// Has a process: running, stopping or draining.
    fn is_running(&self) -> bool {
        matches!(self.state, State::Up { .. } | State::Stopping { .. } | State::Draining { .. })
    }

    /// Ready for the services `after=` it: running and ready, or a one-shot that is done.
    fn is_ready(&self) -> bool {
        matches!(self.state, State::Up { ready: true, .. } | State::Done)
    }

    /// Every change of state goes through here, so that it is published.
    fn set_state(&mut self, state: State, now: Millis, effects: &mut impl Effects) {
        if !matches!(state, State::Up { .. })
            && let Some(check) = health_mut(&mut self.extras).and_then(|health| health.end_run())
        {
            effects.kill_check(check);
        }
        self.state = state;
        self.since = now;
        effects.publish(&self.name, &self.status());
    }

    /// Starts it, or with `after=` makes it wait: the supervisor starts it once all are ready.
    fn start(&mut self, now: Millis, effects: &mut impl Effects) {
        if !self.spec.after().is_empty() {
            // Published once the supervisor knows what it waits for.
            self.clear_waiting_for();
            self.state = State::Waiting;
            return;
        }
        self.spawn(now, effects);
    }

    fn spawn(&mut self, now: Millis, effects: &mut impl Effects) {
        let name = &self.name;
        if let Some(extras) = &mut self.extras {
            (extras.waiting_for, extras.status_text) = (Vec::new(), None);
            if let Some(health) = &mut extras.health {
                health.begin_run();
            }
        }
        let state = match effects.spawn(name, &self.spec) {
            Ok(pid) => {
                effects.log(Severity::Info, format_args!("{name}: started with pid {}", pid.as_raw_nonzero()));
                self.starts += 1;
                State::Up { pid, since: now, ready: false }
            }
            Err(error) => {
                let (retry, reason) = (seconds(SPAWN_RETRY), describe(error));
                effects.log(Severity::Error, format_args!("{name}: cannot start: {reason} (retrying in {retry})"));
                self.extras.get_or_insert_with(Box::default).start_error =
                    Some(alloc::format!("cannot start: {reason}").into());
                State::Backoff { until: now + SPAWN_RETRY }
            }
        };
        self.set_state(state, now, effects);
    }

    /// Stops the service, then does `then`; returns false when it is gone from the table at once.
    fn stop(&mut self, now: Millis, then: AfterStop, effects: &mut impl Effects) -> bool {
        match self.state {
            State::Up { pid, .. } => {
                let policy = self.spec.policy();
                effects.signal_group(&self.name, pid, Stop::Ask(policy.signal));
                let kill_at = Some(now + policy.timeout);
                self.set_state(State::Stopping { pid, kill_at, then }, now, effects);
            }
            State::Stopping { .. } | State::Draining { .. } => self.set_then(then),
            State::Waiting | State::Backoff { .. } | State::Down | State::Done | State::Failed => {
                return self.finish_stop(now, then, effects);
            }
        }
        true
    }

    /// Changes what a stop already under way leads to.
    fn set_then(&mut self, new: AfterStop) {
        if let State::Stopping { then, .. } | State::Draining { then, .. } = &mut self.state {
            *then = new;
        }
    }

    /// The process is gone (or there was none): do what the stop was for.
    fn finish_stop(&mut self, now: Millis, then: AfterStop, effects: &mut impl Effects) -> bool {
        match then {
            AfterStop::Start => self.start(now, effects),
            AfterStop::Backoff { until } if until <= now => self.start(now, effects),
            AfterStop::Backoff { until } => self.set_state(State::Backoff { until }, now, effects),
            AfterStop::StayDown => self.set_state(State::Down, now, effects),
            AfterStop::Finish { success: true } => self.set_state(State::Done, now, effects),
            AfterStop::Finish { success: false } => self.set_state(State::Failed, now, effects),
            AfterStop::Remove => {
                effects.withdraw(&self.name);
                return false;
            }
        }
        true
    }

    /// The main process is reaped. Returns false when the service is gone from the table.
    fn reaped(&mut self, now: Millis, exit: Exit, ends_going: bool, effects: &mut impl Effects) -> bool {
        self.last_exit = Some(exit);
        let name = &self.name;
        let (group, then, kill_at) = match self.state {
            // Its stop was held for the services after it: it is going away anyway.
            State::Up { .. } if self.hold().is_some() => {
                effects.log(Severity::Info, format_args!("{name}: {exit} while its stop waited"));
                (self.pid(), AfterStop::Remove, None)
            }
            State::Up { .. } if ends_going => {
                effects.log(Severity::Warning, format_args!("{name}: {exit}; shutdown=yes, so going stops everything"));
                (self.pid(), AfterStop::Remove, None)
            }
            State::Up { since, .. } => {
                (self.pid(), self.after_exit(now, now.saturating_sub(since), exit, effects), None)
            }
            State::Stopping { pid, kill_at, then } => {
                effects.log(Severity::Info, format_args!("{name}: stopped ({exit})"));
                (Some(pid), then, kill_at)
            }
            State::Waiting
            | State::Backoff { .. }
            | State::Down
            | State::Done
            | State::Failed
            | State::Draining { .. } => {
                unreachable!("BUG: a service without a main process has no pid to reap")
            }
        };
        let group = group.expect("BUG: a reaped service had a pid");
        let name = &self.name;
        // Its processes may outlive the main one: nothing restarts until they are gone.
        let left = effects.left_behind(name, group);
        if left == LeftBehind::Nothing {
            return self.finish_stop(now, then, effects);
        }
        let kill_at = match self.state {
            State::Up { .. } => {
                match left {
                    LeftBehind::Processes(count) => {
                        let left = crate::log::processes(count);
                        effects.log(Severity::Info, format_args!("{name}: {left} left in its cgroup; stopping them"));
                    }
                    _ => {
                        effects.log(Severity::Info, format_args!("{name}: stopping what is left of its process group"))
                    }
                }
                let policy = self.spec.policy();
                effects.signal_leftovers(name, group, Stop::Ask(policy.signal));
                Some(now + policy.timeout)
            }
            _ => kill_at,
        };
        self.set_state(State::Draining { group, kill_at, then }, now, effects);
        true
    }

    /// What an exit going did not ask for leads to, after a run of `ran`, as `restart=`
    /// says: done or failed, a respawn at once after a healthy run, or a backoff.
    fn after_exit(&mut self, now: Millis, ran: Millis, exit: Exit, effects: &mut impl Effects) -> AfterStop {
        let (name, policy) = (&self.name, self.spec.policy());
        let success = matches!(exit, Exit::Code(code) if policy.is_success(code));
        let finish = match policy.restart {
            Restart::Always => None,
            Restart::OnFailure => success.then_some(true),
            Restart::Never => Some(success),
        };
        if let Some(success) = finish {
            let (ran, outcome, restart) =
                (seconds(ran), if success { "done" } else { "failed" }, policy.restart.name());
            let severity = if success { Severity::Info } else { Severity::Warning };
            effects.log(severity, format_args!("{name}: {exit} after {ran}; {outcome} (restart={restart})"));
            AfterStop::Finish { success }
        } else if ran >= HEALTHY_RUN {
            self.short_runs = 0;
            effects.log(Severity::Warning, format_args!("{name}: {exit} after {} (restarting now)", seconds(ran)));
            AfterStop::Start
        } else {
            self.short_runs += 1;
            let delay = backoff_delay(self.short_runs);
            let (ran, wait) = (seconds(ran), seconds(delay));
            effects.log(Severity::Warning, format_args!("{name}: {exit} after {ran} (restarting in {wait})"));
            AfterStop::Backoff { until: now + delay }
        }
    }

    /// After any reap: a draining service whose group is now empty goes on.
    /// Returns false when the service is gone from the table.
    fn check_group(&mut self, now: Millis, effects: &mut impl Effects) -> bool {
        match self.state {
            State::Draining { group, then, .. } if effects.left_behind(&self.name, group) == LeftBehind::Nothing => {
                self.finish_stop(now, then, effects)
            }
            _ => true,
        }
    }

    fn deadline_passed(&mut self, now: Millis, effects: &mut impl Effects) {
        self.check_deadline(now, effects);
        let policy = self.spec.policy();
        let (name, timeout, signal) = (&self.name, seconds(policy.timeout), show_signal(policy.signal));
        match self.state {
            State::Backoff { until } if until <= now => self.start(now, effects),
            State::Up { .. } if self.hold().is_some_and(|hold| !hold.told && hold.since + HOLD_TOLD_AFTER <= now) => {
                let hold = self.extras.as_deref_mut().and_then(|extras| extras.hold.as_mut()).expect("BUG: a hold");
                let others = hold.waits_for.join(", ");
                effects.log(Severity::Notice, format_args!("{name}: its stop still waits for {others} to stop first"));
                hold.told = true;
            }
            State::Stopping { pid, kill_at: Some(kill_at), then } if kill_at <= now => {
                effects.log(
                    Severity::Warning,
                    format_args!("{name}: still running {timeout} after SIG{signal}; sending SIGKILL"),
                );
                effects.signal_group(name, pid, Stop::Kill);
                self.state = State::Stopping { pid, kill_at: None, then };
            }
            State::Draining { group, kill_at: Some(kill_at), then } if kill_at <= now => {
                let message = format_args!(
                    "{name}: what is left of it is still there {timeout} after SIG{signal}; sending SIGKILL"
                );
                effects.log(Severity::Warning, message);
                effects.signal_leftovers(name, group, Stop::Kill);
                self.state = State::Draining { group, kill_at: None, then };
            }
            _ => {}
        }
    }

    fn control(&mut self, now: Millis, control: Control, effects: &mut impl Effects) {
        let name = &self.name;
        let stopping_then = match self.state {
            State::Stopping { then, .. } | State::Draining { then, .. } => Some(then),
            _ if self.hold().is_some() => Some(AfterStop::Remove),
            _ => None,
        };
        match (control, self.state) {
            (Control::Signal(signal), State::Up { pid, .. } | State::Stopping { pid, .. }) => {
                effects.log(Severity::Info, format_args!("{name}: sending signal {signal} as asked"));
                effects.send_signal(pid, signal);
            }
            (Control::Signal(_), _) => {
                effects.log(Severity::Notice, format_args!("{name}: not running; no signal sent"));
            }
            (Control::Up, State::Down | State::Done | State::Failed) => {
                effects.log(Severity::Info, format_args!("{name}: up as asked"));
                self.short_runs = 0;
                self.start(now, effects);
            }
            (Control::Up, _) if stopping_then == Some(AfterStop::StayDown) => self.set_then(AfterStop::Start),
            (Control::Up, _) => {}
            (Control::Down, State::Down) => {}
            (Control::Down | Control::Restart, _) if stopping_then == Some(AfterStop::Remove) => {}
            (Control::Down | Control::Restart, _) => {
                let (then, verb) = match control {
                    Control::Down => (AfterStop::StayDown, "down"),
                    _ => (AfterStop::Start, "restart"),
                };
                effects.log(Severity::Info, format_args!("{name}: {verb} as asked"));
                self.short_runs = 0;
                self.stop(now, then, effects);
            }
        }
    }

    fn deadline(&self) -> Option<Millis> {
        match self.state {
            State::Backoff { until } => Some(until),
            State::Stopping { kill_at, .. } | State::Draining { kill_at, .. } => kill_at,
            State::Up { .. } => {
                let hold = self.hold().filter(|hold| !hold.told).map(|hold| hold.since + HOLD_TOLD_AFTER);
                let check = self.health().and_then(|health| health.deadline());
                hold.into_iter().chain(check).min()
            }
            State::Waiting | State::Down | State::Done | State::Failed => None,
        }
    }

    /// It became ready: `starting` becomes `up`.
    fn became_ready(&mut self, now: Millis, how: &str, effects: &mut impl Effects) {
        if let State::Up { pid, since, ready: false } = self.state {
            if !how.is_empty() {
                let (name, after) = (&self.name, seconds(now.saturating_sub(since)));
                effects.log(Severity::Info, format_args!("{name}: ready ({how}) after {after}"));
            }
            if how != "check" {
                self.schedule_checks(now, true);
            }
            self.set_state(State::Up { pid, since, ready: true }, now, effects);
        }
    }

    /// Its program was executed: ready, unless its `ready=`, its `check=` or
    /// `restart=never` (a one-shot is ready once done) says when.
    fn executed(&mut self, now: Millis, effects: &mut impl Effects) {
        if self.extras.as_mut().and_then(|extras| extras.start_error.take()).is_some() {
            effects.publish(&self.name, &self.status());
        }
        if self.spec.settings().ready != ReadyWhen::Exec || !matches!(self.state, State::Up { ready: false, .. }) {
            return;
        }
        if self.spec.check().is_some() {
            self.schedule_checks(now, false);
        } else if self.spec.policy().restart != Restart::Never {
            self.became_ready(now, "", effects);
        }
    }

    /// The main process, while there is one.
    fn pid(&self) -> Option<Pid> {
        match self.state {
            State::Up { pid, .. } | State::Stopping { pid, .. } => Some(pid),
            State::Waiting
            | State::Backoff { .. }
            | State::Down
            | State::Done
            | State::Failed
            | State::Draining { .. } => None,
        }
    }
}

impl Entry for Service {
    fn name(&self) -> &str {
        &self.name
    }

    fn pid(&self) -> Option<Pid> {
        Service::pid(self)
    }

    fn check_pid(&self) -> Option<Pid> {
        Service::check_pid(self)
    }

    fn deadline(&self) -> Option<Millis> {
        Service::deadline(self)
    }

    fn list(&self) -> Option<List> {
        match self.state {
            State::Draining { .. } => Some(List::Draining),
            State::Waiting => Some(List::Waiting),
            _ => None,
        }
    }
}

impl Supervisor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes the service in `slot`; one that `change` says is gone (false) leaves the table.
    /// Then what the change means for others: a service that became ready may let those
    /// `after=` it start, one that is gone may let those it came after stop, and one that
    /// waits anew is started if it need not wait.
    fn update<F: Effects>(
        &mut self,
        now: Millis,
        slot: Slot,
        effects: &mut F,
        change: impl FnOnce(&mut Service, &mut F) -> bool,
    ) {
        let was_ready = self.services.get(slot).is_ready();
        let kept = self.services.update(slot, |service| change(service, effects));
        self.changed(now, slot, kept, was_ready, effects);
    }

    /// What a change of the service in `slot` means for the others (see [`Self::update`]).
    /// Kept out of line: `update` is instantiated once for every change it is given.
    #[inline(never)]
    fn changed(&mut self, now: Millis, slot: Slot, kept: bool, was_ready: bool, effects: &mut impl Effects) {
        if !kept {
            let service = self.services.remove(slot);
            self.release_holds(now, &service, effects);
            return;
        }
        let service = self.services.get(slot);
        if !was_ready && service.is_ready() && self.services.any_in(List::Waiting) {
            let name = service.name.clone();
            for waiting in self.services.list(List::Waiting) {
                if self.services.get(waiting).spec.after().iter().any(|after| **after == *name) {
                    self.start_if_ready(now, waiting, effects);
                }
            }
        }
        let service = self.services.get(slot);
        // Entering the wait (from `Service::start`) leaves `waiting_for` empty.
        if service.state == State::Waiting && service.waiting_for().is_empty() {
            self.start_if_ready(now, slot, effects);
        }
    }

    /// A process was reaped. Pids that are no service's (orphans going
    /// adopted as subreaper) are ignored.
    pub fn reaped(&mut self, now: Millis, pid: Pid, exit: Exit, effects: &mut impl Effects) {
        if let Some(slot) = self.services.by_pid(pid).filter(|&slot| self.services.get(slot).pid() != Some(pid)) {
            self.update(now, slot, effects, |service, effects| {
                service.check_finished(now, exit, effects);
                true
            });
        } else if let Some(slot) = self.services.by_pid(pid) {
            let service = self.services.get(slot);
            let ends_going =
                !self.shutting_down && service.spec.shutdown() && matches!(service.state, State::Up { .. });
            if ends_going {
                self.exit_status = Some(match exit {
                    Exit::Code(code) => code,
                    Exit::Signal(signal) => 128 + signal,
                });
            }
            self.update(now, slot, effects, |service, effects| service.reaped(now, exit, ends_going, effects));
            if ends_going {
                self.stop_all(now, effects);
            }
        }
        // Any reap may have emptied a process group that a service waits for.
        for slot in self.services.list(List::Draining) {
            self.update(now, slot, effects, |service, effects| service.check_group(now, effects));
        }
    }

    /// The program of process `pid` was executed: ready, unless its `ready=` or
    /// `restart=never` (a one-shot is ready once done) says it is not yet.
    pub fn executed(&mut self, now: Millis, pid: Pid, effects: &mut impl Effects) {
        let Some(slot) = self.by_main_pid(pid) else { return };
        self.update(now, slot, effects, |service, effects| {
            service.executed(now, effects);
            true
        });
    }

    /// The service whose main process (not its check) is `pid`.
    fn by_main_pid(&self, pid: Pid) -> Option<Slot> {
        self.services.by_pid(pid).filter(|&slot| self.services.get(slot).pid() == Some(pid))
    }

    /// The service whose process is `pid` said it is ready, as its `ready=` asks (`how`).
    pub fn notified_ready(&mut self, now: Millis, pid: Pid, how: &str, effects: &mut impl Effects) {
        let Some(slot) = self.by_main_pid(pid) else { return };
        if self.services.get(slot).spec.settings().ready != ReadyWhen::Exec {
            self.update(now, slot, effects, |service, effects| {
                service.became_ready(now, how, effects);
                true
            });
        }
    }

    /// going's exit status once finished: a `shutdown=yes` service's, else 0.
    pub fn exit_status(&self) -> i32 {
        self.exit_status.unwrap_or(0)
    }

    /// Acts on every deadline at or before `now`.
    pub fn deadline_passed(&mut self, now: Millis, effects: &mut impl Effects) {
        for slot in self.services.due(now) {
            self.update(now, slot, effects, |service, effects| {
                service.deadline_passed(now, effects);
                true
            });
        }
    }

    /// Stops every service for good: going is exiting.
    pub fn stop_all(&mut self, now: Millis, effects: &mut impl Effects) {
        self.shutting_down = true;
        let slots =
            self.services.slots().into_iter().filter(|&slot| self.services.get(slot).hold().is_none()).collect();
        self.stop_together(now, slots, effects);
    }

    /// The earliest deadline any service holds: the event loop's wake-up time.
    pub fn next_deadline(&mut self) -> Option<Millis> {
        self.services.next_deadline()
    }

    /// Whether a service waits for what is left of its process group: those
    /// processes are orphans now, and only a full reap sees them exit.
    pub fn is_draining(&self) -> bool {
        self.services.any_in(List::Draining)
    }

    /// The spec service `name` runs (or will run next).
    pub fn spec_of(&self, name: &str) -> Option<&ServiceSpec> {
        Some(&self.services.get(self.services.find(name)?).spec)
    }

    /// Whether a service of this name is in the table.
    pub fn has(&self, name: &str) -> bool {
        self.services.find(name).is_some()
    }

    /// How many services the table holds.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// True once going may exit: every service stopped after [`Self::stop_all`].
    pub fn is_finished(&self) -> bool {
        self.shutting_down && self.services.is_empty()
    }

    /// Applies a user's request to the named service; false when there is no such service.
    pub fn control(&mut self, now: Millis, name: &str, control: Control, effects: &mut impl Effects) -> bool {
        let Some(slot) = self.services.find(name) else {
            return false;
        };
        if !self.shutting_down {
            self.update(now, slot, effects, |service, effects| {
                service.control(now, control, effects);
                true
            });
        }
        true
    }

    /// The name and spec of the service whose main process (`false`) or check (`true`) is `pid`.
    pub fn service_of(&self, pid: Pid) -> Option<(&str, &ServiceSpec, bool)> {
        let service = self.services.get(self.services.by_pid(pid)?);
        Some((&service.name, &service.spec, service.pid() != Some(pid)))
    }

    /// The name of the service whose process is `pid`.
    pub fn name_of(&self, pid: Pid) -> Option<&str> {
        Some(&self.services.get(self.by_main_pid(pid)?).name)
    }

    /// Each service's name and state, for tests and status.
    pub fn states(&self) -> impl Iterator<Item = (&str, State)> {
        self.services.iter().map(|s| (&*s.name, s.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::DEFAULT_STOP_TIMEOUT as STOP_TIMEOUT;
    use crate::health;
    use alloc::string::ToString;

    /// Records what the supervisor asked for; pids count up from 100.
    #[derive(Default)]
    struct FakeWorld {
        spawned: Vec<(String, Pid)>,
        signals: Vec<(Pid, Stop)>,
        lines: Vec<String>,
        fork_fails: bool,
        next_pid: i32,
        sent: Vec<(Pid, i32)>,
        published: Vec<(String, Published)>,
        refused: Vec<(String, String)>,
        withdrawn: Vec<String>,
        leftover_signals: Vec<(Pid, Stop)>,
        /// Process groups that still have members after their leader was reaped.
        live_groups: Vec<Pid>,
        checks: Vec<(String, Pid)>,
        killed_checks: Vec<Pid>,
    }

    impl Effects for FakeWorld {
        fn spawn(&mut self, name: &str, _spec: &ServiceSpec) -> Result<Pid, Errno> {
            if self.fork_fails {
                return Err(Errno::AGAIN);
            }
            self.next_pid += 1;
            let pid = Pid::from_raw(100 + self.next_pid).unwrap();
            self.spawned.push((name.to_string(), pid));

            Ok(pid)
        }
        fn spawn_check(&mut self, name: &str, _spec: &ServiceSpec) -> Result<Pid, Errno> {
            self.next_pid += 1;
            let pid = Pid::from_raw(100 + self.next_pid).unwrap();
            self.checks.push((name.to_string(), pid));
            Ok(pid)
        }
        fn kill_check(&mut self, pid: Pid) {
            self.killed_checks.push(pid);
        }
        fn signal_group(&mut self, _name: &str, pid: Pid, stop: Stop) {
            self.signals.push((pid, stop));
        }
        fn send_signal(&mut self, pid: Pid, signal: i32) {
            self.sent.push((pid, signal));
        }
        fn signal_leftovers(&mut self, _name: &str, group: Pid, stop: Stop) {
            self.leftover_signals.push((group, stop));
        }
        fn left_behind(&mut self, _name: &str, group: Pid) -> LeftBehind {
            match self.live_groups.contains(&group) {
                true => LeftBehind::Group,
                false => LeftBehind::Nothing,
            }
        }
        fn publish(&mut self, name: &str, status: &Status) {
            let waiting_for = status.waiting_for.to_vec();
            let status_text = status.status_text.map(String::from);
            let Status { state, since, restarts, last_exit, stop_signal, stop_timeout, restart, health, .. } = *status;
            let (refusal, start_error) = (status.refusal.map(String::from), status.start_error.map(String::from));
            let shown = Published {
                refusal,
                start_error,
                state,
                since,
                restarts,
                last_exit,
                stop_signal,
                stop_timeout,
                restart,
                waiting_for,
                status_text,
                health,
            };
            self.published.push((name.to_string(), shown));
        }
        fn publish_refused(&mut self, name: &str, error: &str) {
            self.refused.push((name.to_string(), error.to_string()));
        }
        fn withdraw(&mut self, name: &str) {
            self.withdrawn.push(name.to_string());
        }
        fn log(&mut self, _severity: Severity, message: fmt::Arguments) {
            self.lines.push(message.to_string());
        }
    }

    /// A published [`Status`], owned.
    #[derive(Clone, Debug)]
    struct Published {
        state: State,
        since: Millis,
        restarts: u32,
        last_exit: Option<Exit>,
        stop_signal: i32,
        stop_timeout: Millis,
        restart: Restart,
        waiting_for: Vec<String>,
        status_text: Option<String>,
        health: Option<health::Summary>,
        refusal: Option<String>,
        start_error: Option<String>,
    }

    impl FakeWorld {
        fn last_pid(&self) -> Pid {
            self.spawned.last().unwrap().1
        }
    }

    fn spec(cmd: &str) -> ServiceSpec {
        spec_of(&alloc::format!("cmd={cmd}"))
    }

    fn spec_of(text: &str) -> ServiceSpec {
        match crate::config::parse(text.as_bytes()).unwrap() {
            crate::config::ServiceFile::Command(spec) => spec,
            other => panic!("not a cmd= file: {other:?}"),
        }
    }

    fn scan(entries: &[(&str, Option<&str>)]) -> Vec<(String, Scanned)> {
        let scanned = |cmd: &Option<&str>| cmd.map_or(Scanned::Unread, |cmd| Scanned::Valid(Box::new(spec(cmd))));
        entries.iter().map(|(name, cmd)| (name.to_string(), scanned(cmd))).collect()
    }

    fn state(supervisor: &Supervisor, name: &str) -> Option<State> {
        supervisor.states().find(|(n, _)| *n == name).map(|(_, s)| s)
    }

    fn started(world: &mut FakeWorld, entries: &[(&str, Option<&str>)]) -> Supervisor {
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan(entries), world);
        supervisor
    }

    /// A scan of whole service files: (name, text).
    fn scan_files(entries: &[(&str, &str)]) -> Vec<(String, Scanned)> {
        entries.iter().map(|(name, text)| (name.to_string(), Scanned::Valid(Box::new(spec_of(text))))).collect()
    }

    #[test]
    fn a_stop_sends_the_stop_signal_and_kills_after_the_stop_timeout() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        supervisor.reload(
            0,
            scan_files(&[("web", "cmd=/bin/web\nstop_signal=SIGQUIT\nstop_timeout=0.5\n")]),
            &mut world,
        );
        let pid = world.last_pid();
        supervisor.reload(10, scan(&[]), &mut world);
        assert_eq!(world.signals, [(pid, Stop::Ask(3))]);
        assert_eq!(supervisor.next_deadline(), Some(510));
        supervisor.deadline_passed(509, &mut world);
        assert_eq!(world.signals.len(), 1);
        supervisor.deadline_passed(510, &mut world);
        assert_eq!(world.signals, [(pid, Stop::Ask(3)), (pid, Stop::Kill)]);
        assert!(world.lines.iter().any(|line| line == "web: still running 0.5s after SIGQUIT; sending SIGKILL"));
    }

    #[test]
    fn a_zero_stop_timeout_kills_at_once() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&[("web", "cmd=/bin/web\nstop_timeout=0\n")]), &mut world);
        supervisor.stop_all(10, &mut world);
        assert_eq!(supervisor.next_deadline(), Some(10));
        supervisor.deadline_passed(10, &mut world);
        assert_eq!(world.signals.last().map(|(_, stop)| *stop), Some(Stop::Kill));
    }

    #[test]
    fn leftovers_get_the_stop_signal_and_timeout_too() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&[("web", "cmd=/bin/web\nstop_signal=INT\nstop_timeout=2\n")]), &mut world);
        let pid = world.last_pid();
        world.live_groups.push(pid);
        supervisor.reaped(HEALTHY_RUN, pid, Exit::Code(1), &mut world);
        assert_eq!(world.leftover_signals, [(pid, Stop::Ask(2))]);
        assert_eq!(supervisor.next_deadline(), Some(HEALTHY_RUN + 2_000));
    }

    #[test]
    fn on_failure_ends_after_success_and_restarts_after_a_failure_or_a_signal() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        let text = "cmd=/bin/task\nrestart=on-failure\n";
        supervisor.reload(0, scan_files(&[("task", text)]), &mut world);
        supervisor.reaped(100, world.last_pid(), Exit::Code(3), &mut world);
        assert_eq!(state(&supervisor, "task"), Some(State::Backoff { until: 100 + FIRST_BACKOFF }));
        supervisor.deadline_passed(100 + FIRST_BACKOFF, &mut world);
        supervisor.reaped(2_000, world.last_pid(), Exit::Signal(9), &mut world);
        assert!(matches!(state(&supervisor, "task"), Some(State::Backoff { .. })));
        supervisor.deadline_passed(10_000, &mut world);
        supervisor.reaped(11_000, world.last_pid(), Exit::Code(0), &mut world);
        assert_eq!(state(&supervisor, "task"), Some(State::Done));
        assert_eq!(world.spawned.len(), 3);
        assert_eq!(supervisor.next_deadline(), None);
        assert_eq!(world.lines.last().unwrap(), "task: exited with status 0 after 1.0s; done (restart=on-failure)");
    }

    #[test]
    fn never_runs_once_done_or_failed_and_success_exit_counts_as_success() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        let files = [
            ("ok", "cmd=/bin/ok\nrestart=never\n"),
            ("broken", "cmd=/bin/broken\nrestart=never\n"),
            ("go", "cmd=/bin/go\nrestart=never\nsuccess_exit=2\n"),
        ];
        supervisor.reload(0, scan_files(&files), &mut world);
        let pid_of = |world: &FakeWorld, name: &str| world.spawned.iter().find(|(n, _)| n == name).unwrap().1;
        supervisor.reaped(50, pid_of(&world, "ok"), Exit::Code(0), &mut world);
        supervisor.reaped(50, pid_of(&world, "broken"), Exit::Code(1), &mut world);
        supervisor.reaped(50, pid_of(&world, "go"), Exit::Code(2), &mut world);
        assert_eq!(state(&supervisor, "ok"), Some(State::Done));
        assert_eq!(state(&supervisor, "broken"), Some(State::Failed));
        assert_eq!(state(&supervisor, "go"), Some(State::Done));
        let published = world.published.iter().rev().find(|(name, _)| name == "broken").unwrap();
        assert_eq!(published.1.last_exit, Some(Exit::Code(1)));
        assert_eq!(world.spawned.len(), 3);
        assert!(world.lines.contains(&"broken: exited with status 1 after 0.0s; failed (restart=never)".to_string()));
    }

    #[test]
    fn a_finished_task_stays_finished_until_its_file_changes_or_a_user_asks() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        let text = "cmd=/bin/migrate\nrestart=never\n";
        supervisor.reload(0, scan_files(&[("migrate", text)]), &mut world);
        supervisor.reaped(10, world.last_pid(), Exit::Code(0), &mut world);
        supervisor.reload(20, scan_files(&[("migrate", text)]), &mut world);
        assert_eq!(state(&supervisor, "migrate"), Some(State::Done));
        // Only the stop policy changed: no run.
        supervisor.reload(
            30,
            scan_files(&[("migrate", "cmd=/bin/migrate\nrestart=never\nstop_timeout=9\n")]),
            &mut world,
        );
        assert_eq!((state(&supervisor, "migrate"), world.spawned.len()), (Some(State::Done), 1));
        supervisor.reload(40, scan_files(&[("migrate", "cmd=/bin/migrate --all\nrestart=never\n")]), &mut world);
        assert!(matches!(state(&supervisor, "migrate"), Some(State::Up { .. })));
        supervisor.reaped(50, world.last_pid(), Exit::Code(1), &mut world);
        assert_eq!(state(&supervisor, "migrate"), Some(State::Failed));
        supervisor.control(60, "migrate", Control::Up, &mut world);
        assert!(matches!(state(&supervisor, "migrate"), Some(State::Up { .. })));
        supervisor.reaped(70, world.last_pid(), Exit::Code(0), &mut world);
        supervisor.control(80, "migrate", Control::Restart, &mut world);
        assert!(matches!(state(&supervisor, "migrate"), Some(State::Up { .. })));
        assert_eq!(world.spawned.len(), 4);
    }

    #[test]
    fn a_change_of_stop_policy_alone_does_not_restart_a_running_service() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&[("web", "cmd=/bin/web\n")]), &mut world);
        let pid = world.last_pid();
        let changed = "cmd=/bin/web\nstop_signal=QUIT\nstop_timeout=30\nrestart=on-failure\n";
        supervisor.reload(10, scan_files(&[("web", changed)]), &mut world);
        assert!(world.signals.is_empty());
        assert_eq!(state(&supervisor, "web"), Some(State::Up { pid, since: 0, ready: false }));
        let shown = world.published.last().unwrap().1.clone();
        assert_eq!((shown.stop_signal, shown.stop_timeout, shown.restart), (3, 30_000, Restart::OnFailure));
        supervisor.control(20, "web", Control::Down, &mut world);
        assert_eq!(world.signals, [(pid, Stop::Ask(3))]);
        assert_eq!(supervisor.next_deadline(), Some(30_020));
    }

    #[test]
    fn a_stop_going_asked_for_is_no_failure() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&[("task", "cmd=/bin/task\nrestart=never\n")]), &mut world);
        let pid = world.last_pid();
        supervisor.control(10, "task", Control::Restart, &mut world);
        supervisor.reaped(20, pid, Exit::Signal(15), &mut world);
        assert!(matches!(state(&supervisor, "task"), Some(State::Up { .. })));
        supervisor.control(30, "task", Control::Down, &mut world);
        supervisor.reaped(40, world.last_pid(), Exit::Signal(15), &mut world);
        assert_eq!(state(&supervisor, "task"), Some(State::Down));
    }

    #[test]
    fn shutdown_yes_with_restart_never_still_ends_going_with_its_status() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&[("main", "cmd=/bin/main\nshutdown=yes\nrestart=never\n")]), &mut world);
        supervisor.reaped(10, world.last_pid(), Exit::Code(4), &mut world);
        assert!(supervisor.is_finished());
        assert_eq!(supervisor.exit_status(), 4);
    }

    #[test]
    fn a_pid_reaped_after_its_service_was_removed_touches_no_other_service() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("old", Some("/bin/old"))]);
        let old = world.last_pid();
        supervisor.reload(10, scan(&[]), &mut world);
        supervisor.reaped(20, old, Exit::Signal(15), &mut world);
        assert_eq!(supervisor.len(), 0);
        supervisor.reload(30, scan(&[("new", Some("/bin/new"))]), &mut world);
        let new = world.last_pid();
        // The old pid again (a late duplicate): nothing happens to the service now in its slot.
        supervisor.reaped(40, old, Exit::Code(0), &mut world);
        assert_eq!(state(&supervisor, "new"), Some(State::Up { pid: new, since: 30, ready: false }));
        assert_eq!(supervisor.name_of(new), Some("new"));
        assert_eq!(supervisor.name_of(old), None);
    }

    #[test]
    fn backoff_doubles_from_one_second_and_caps_at_thirty() {
        let delays: Vec<Millis> = (1..=8).map(backoff_delay).collect();
        assert_eq!(delays, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
        assert_eq!(backoff_delay(u32::MAX), MAX_BACKOFF);
    }

    #[test]
    fn reload_starts_every_valid_service_and_skips_invalid_ones() {
        let mut world = FakeWorld::default();
        let supervisor = started(&mut world, &[("web", Some("/bin/web")), ("bad", None)]);
        assert_eq!(world.spawned.len(), 1);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { since: 0, .. })));
        assert_eq!(state(&supervisor, "bad"), None);
        assert_eq!(world.lines.last().unwrap(), "configuration: 1 added, 0 removed, 0 changed, 0 refused");
    }

    #[test]
    fn healthy_run_respawns_at_once() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        supervisor.reaped(HEALTHY_RUN, world.last_pid(), Exit::Code(0), &mut world);
        assert_eq!(world.spawned.len(), 2);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { since: HEALTHY_RUN, .. })));
        assert!(world.lines.iter().any(|l| l == "web: exited with status 0 after 5.0s (restarting now)"));
    }

    #[test]
    fn crash_loop_backs_off_1_2_4_seconds_counted_from_each_exit_up_to_the_cap() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let mut now = 0;
        let mut waits = Vec::new();
        for _ in 0..8 {
            now += 100;
            supervisor.reaped(now, world.last_pid(), Exit::Signal(11), &mut world);
            let Some(State::Backoff { until }) = state(&supervisor, "web") else { panic!("not in backoff") };
            waits.push(until - now);
            assert_eq!(supervisor.next_deadline(), Some(until));
            supervisor.deadline_passed(until - 1, &mut world);
            assert!(matches!(state(&supervisor, "web"), Some(State::Backoff { .. })), "started early");
            now = until;
            supervisor.deadline_passed(now, &mut world);
            assert!(matches!(state(&supervisor, "web"), Some(State::Up { .. })));
        }
        assert_eq!(waits, [1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000]);
        assert!(world.lines.iter().any(|l| l == "web: killed by signal SEGV after 0.1s (restarting in 2.0s)"));
    }

    #[test]
    fn a_healthy_run_resets_the_backoff() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        supervisor.reaped(10, world.last_pid(), Exit::Code(1), &mut world);
        supervisor.deadline_passed(1_010, &mut world);
        supervisor.reaped(1_020, world.last_pid(), Exit::Code(1), &mut world);
        supervisor.deadline_passed(3_020, &mut world);
        supervisor.reaped(3_020 + HEALTHY_RUN, world.last_pid(), Exit::Code(1), &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { .. })));
        supervisor.reaped(3_021 + HEALTHY_RUN, world.last_pid(), Exit::Code(1), &mut world);
        let Some(State::Backoff { until }) = state(&supervisor, "web") else { panic!() };
        assert_eq!(until, 3_021 + HEALTHY_RUN + FIRST_BACKOFF);
    }

    #[test]
    fn each_service_keeps_its_own_deadline() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("a", Some("/a")), ("b", Some("/b"))]);
        let (a, b) = (world.spawned[0].1, world.spawned[1].1);
        supervisor.reaped(0, a, Exit::Code(1), &mut world);
        supervisor.reaped(500, b, Exit::Code(1), &mut world);
        assert_eq!(supervisor.next_deadline(), Some(1_000));
        supervisor.deadline_passed(1_000, &mut world);
        assert!(matches!(state(&supervisor, "a"), Some(State::Up { .. })));
        assert_eq!(supervisor.next_deadline(), Some(1_500));
    }

    #[test]
    fn fork_failure_retries_a_second_later() {
        let mut world = FakeWorld { fork_fails: true, ..Default::default() };
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        assert_eq!(state(&supervisor, "web"), Some(State::Backoff { until: SPAWN_RETRY }));
        assert!(world.lines[0].contains("cannot start: Resource temporarily unavailable (retrying in 1.0s)"));
        let shown = &world.published.last().unwrap().1;
        assert_eq!(shown.start_error.as_deref(), Some("cannot start: Resource temporarily unavailable"));
        world.fork_fails = false;
        supervisor.deadline_passed(SPAWN_RETRY, &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { .. })));
        supervisor.executed(SPAWN_RETRY + 1, world.last_pid(), &mut world);
        assert_eq!(world.published.last().unwrap().1.start_error, None, "shown until a start runs its program");
    }

    #[test]
    fn removed_file_stops_the_service_with_term_then_kill() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let pid = world.last_pid();
        supervisor.reload(10, scan(&[]), &mut world);
        assert_eq!(world.signals, [(pid, Stop::Ask(15))]);
        assert_eq!(supervisor.next_deadline(), Some(10 + STOP_TIMEOUT));
        supervisor.deadline_passed(10 + STOP_TIMEOUT, &mut world);
        assert_eq!(world.signals, [(pid, Stop::Ask(15)), (pid, Stop::Kill)]);
        assert_eq!(supervisor.next_deadline(), None);
        supervisor.reaped(20 + STOP_TIMEOUT, pid, Exit::Signal(9), &mut world);
        assert_eq!(supervisor.states().count(), 0);
        assert_eq!(world.spawned.len(), 1);
    }

    #[test]
    fn a_reaped_pid_is_forgotten_and_never_signalled_again() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let pid = world.last_pid();
        supervisor.reaped(10, pid, Exit::Code(1), &mut world);
        assert_eq!(supervisor.name_of(pid), None);
        supervisor.stop_all(20, &mut world);
        assert!(world.signals.is_empty());
        assert!(supervisor.is_finished());
    }

    #[test]
    fn changed_file_restarts_once_the_old_process_is_gone() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web")), ("db", Some("/bin/db"))]);
        let old = world.spawned.iter().find(|(name, _)| name == "web").unwrap().1;
        supervisor.reload(10, scan(&[("web", Some("/bin/web2")), ("db", Some("/bin/db"))]), &mut world);
        assert_eq!(world.signals, [(old, Stop::Ask(15))]);
        assert_eq!(world.spawned.len(), 2, "must not start before the old one is gone");
        assert!(world.lines.iter().any(|l| l == "configuration: 0 added, 0 removed, 1 changed, 0 refused"));
        supervisor.reaped(20, old, Exit::Signal(15), &mut world);
        assert_eq!(world.spawned.len(), 3);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { since: 20, .. })));
    }

    #[test]
    fn unchanged_and_invalid_files_leave_running_services_alone() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web")), ("db", Some("/bin/db"))]);
        supervisor.reload(10, scan(&[("web", Some("/bin/web")), ("db", None)]), &mut world);
        assert!(world.signals.is_empty());
        assert_eq!(world.spawned.len(), 2);
        assert!(world.lines.iter().any(|l| l == "configuration: 0 added, 0 removed, 0 changed, 0 refused"));
    }

    #[test]
    fn a_refused_file_shows_its_error_beside_the_service_it_keeps_or_alone() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let refused = |error: &str| Scanned::Refused(Box::new(error.into()));
        let scan = alloc::vec![("web".to_string(), refused("web:2: bad")), ("new".to_string(), refused("new:1: bad"))];
        supervisor.reload(10, scan, &mut world);
        assert!(world.lines.iter().any(|l| l == "configuration: 0 added, 0 removed, 0 changed, 2 refused"));
        assert!(world.signals.is_empty(), "the running service keeps running");
        let (name, shown) = world.published.last().unwrap();
        assert_eq!((name.as_str(), shown.refusal.as_deref()), ("web", Some("web:2: bad")));
        assert_eq!(world.refused, [("new".to_string(), "new:1: bad".to_string())]);
        // Fixed: the service shows no error; gone: the refused name is withdrawn.
        supervisor.reload(20, scan_files(&[("web", "cmd=/bin/web\n")]), &mut world);
        assert_eq!(world.published.last().unwrap().1.refusal, None);
        assert_eq!(world.withdrawn, ["new"]);
        assert_eq!(world.spawned.len(), 1, "an unchanged file does not restart it");
    }

    #[test]
    fn a_start_failure_is_shown_until_a_start_runs_its_program() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let pid = world.last_pid();
        supervisor.start_failed(1, pid, "cannot execute /bin/web: No such file", &mut world);
        supervisor.reaped(2, pid, Exit::Code(127), &mut world);
        let shown = &world.published.last().unwrap().1;
        assert!(matches!(shown.state, State::Backoff { .. }));
        assert_eq!(shown.start_error.as_deref(), Some("cannot execute /bin/web: No such file"));
        supervisor.deadline_passed(2_000, &mut world);
        assert!(world.published.last().unwrap().1.start_error.is_some(), "kept while the next start is under way");
        supervisor.executed(2_001, world.last_pid(), &mut world);
        assert_eq!(world.published.last().unwrap().1.start_error, None);
    }

    #[test]
    fn what_a_run_said_is_gone_once_it_stopped() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let pid = world.last_pid();
        supervisor.status_text(1, pid, "Ready to accept connections", &mut world);
        assert!(world.published.last().unwrap().1.status_text.is_some());
        supervisor.control(2, "web", Control::Down, &mut world);
        supervisor.reaped(3, pid, Exit::Signal(15), &mut world);
        let shown = &world.published.last().unwrap().1;
        assert_eq!((shown.state, shown.status_text.as_deref()), (State::Down, None));
    }

    #[test]
    fn change_during_backoff_starts_the_new_spec_at_once() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        supervisor.reaped(10, world.last_pid(), Exit::Code(1), &mut world);
        supervisor.reload(20, scan(&[("web", Some("/bin/fixed"))]), &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { since: 20, .. })));
    }

    #[test]
    fn file_restored_while_stopping_starts_again_after_the_stop() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let pid = world.last_pid();
        supervisor.reload(10, scan(&[]), &mut world);
        supervisor.reload(20, scan(&[("web", Some("/bin/web"))]), &mut world);
        supervisor.reaped(30, pid, Exit::Signal(15), &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { since: 30, .. })));
        assert_eq!(world.spawned.len(), 2);
    }

    #[test]
    fn stop_all_terminates_everything_and_finishes_when_all_are_reaped() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("a", Some("/a")), ("b", Some("/b")), ("c", Some("/c"))]);
        let (a, b, c) = (world.spawned[0].1, world.spawned[1].1, world.spawned[2].1);
        supervisor.reaped(10, c, Exit::Code(1), &mut world);
        supervisor.stop_all(20, &mut world);
        assert_eq!(world.signals, [(a, Stop::Ask(15)), (b, Stop::Ask(15))]);
        supervisor.reload(30, scan(&[("d", Some("/d"))]), &mut world);
        assert_eq!(world.spawned.len(), 3, "no start while shutting down");
        supervisor.reaped(40, a, Exit::Signal(15), &mut world);
        assert!(!supervisor.is_finished());
        supervisor.deadline_passed(20 + STOP_TIMEOUT, &mut world);
        assert_eq!(world.signals.last(), Some(&(b, Stop::Kill)));
        supervisor.reaped(20 + STOP_TIMEOUT, b, Exit::Signal(9), &mut world);
        assert!(supervisor.is_finished());
        assert_eq!(supervisor.next_deadline(), None);
    }

    #[test]
    fn orphans_reaped_as_subreaper_are_ignored() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        supervisor.reaped(10, Pid::from_raw(4242).unwrap(), Exit::Code(0), &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { .. })));
        assert_eq!(world.spawned.len(), 1);
    }

    #[test]
    fn every_state_change_is_published_and_removal_withdrawn() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let pid = world.last_pid();
        let (name, status) = world.published.last().unwrap().clone();
        assert_eq!(
            (name.as_str(), status.state, status.restarts),
            ("web", State::Up { pid, since: 0, ready: false }, 0)
        );
        supervisor.reaped(100, pid, Exit::Code(2), &mut world);
        let status = world.published.last().unwrap().1.clone();
        assert_eq!(
            (status.state, status.since, status.last_exit),
            (State::Backoff { until: 1_100 }, 100, Some(Exit::Code(2)))
        );
        supervisor.deadline_passed(1_100, &mut world);
        assert_eq!(world.published.last().unwrap().1.restarts, 1);
        supervisor.reload(1_200, scan(&[]), &mut world);
        supervisor.reaped(1_300, world.last_pid(), Exit::Signal(15), &mut world);
        assert_eq!(world.withdrawn, ["web"]);
    }

    #[test]
    fn restart_stops_then_starts_at_once_and_resets_the_backoff() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        supervisor.reaped(10, world.last_pid(), Exit::Code(1), &mut world);
        supervisor.deadline_passed(1_010, &mut world);
        let pid = world.last_pid();
        assert!(supervisor.control(1_020, "web", Control::Restart, &mut world));
        assert_eq!(world.signals, [(pid, Stop::Ask(15))]);
        supervisor.reaped(1_030, pid, Exit::Signal(15), &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { since: 1_030, .. })));
        assert_eq!(world.published.last().unwrap().1.restarts, 2);
        supervisor.reaped(1_040, world.last_pid(), Exit::Code(1), &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Backoff { until: 1_040 + FIRST_BACKOFF }));
        assert!(!supervisor.control(1_050, "nope", Control::Restart, &mut world));
    }

    #[test]
    fn down_keeps_a_service_stopped_through_reloads_until_up() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let pid = world.last_pid();
        supervisor.control(10, "web", Control::Down, &mut world);
        supervisor.reaped(20, pid, Exit::Signal(15), &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Down));
        assert_eq!(supervisor.next_deadline(), None);
        supervisor.reload(30, scan(&[("web", Some("/bin/web"))]), &mut world);
        supervisor.reload(40, scan(&[("web", Some("/bin/changed"))]), &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Down));
        assert_eq!(world.spawned.len(), 1);
        supervisor.control(50, "web", Control::Up, &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { since: 50, .. })));
    }

    #[test]
    fn signal_reaches_a_running_service_only() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let pid = world.last_pid();
        supervisor.control(10, "web", Control::Signal(1), &mut world);
        assert_eq!(world.sent, [(pid, 1)]);
        supervisor.reaped(20, pid, Exit::Code(1), &mut world);
        supervisor.control(30, "web", Control::Signal(1), &mut world);
        assert_eq!(world.sent.len(), 1);
    }

    #[test]
    fn leftovers_of_the_group_are_stopped_before_the_respawn() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let pid = world.last_pid();
        world.live_groups.push(pid);
        supervisor.reaped(HEALTHY_RUN, pid, Exit::Code(0), &mut world);
        assert_eq!(world.leftover_signals, [(pid, Stop::Ask(15))]);
        assert_eq!(world.spawned.len(), 1, "no respawn while the group lives");
        assert_eq!(supervisor.next_deadline(), Some(HEALTHY_RUN + STOP_TIMEOUT));
        supervisor.deadline_passed(HEALTHY_RUN + STOP_TIMEOUT, &mut world);
        assert_eq!(world.leftover_signals, [(pid, Stop::Ask(15)), (pid, Stop::Kill)]);
        assert!(world.signals.is_empty(), "the reaped pid itself is never signalled");
        world.live_groups.clear();
        // An orphan of the group reaped: the group is empty now.
        supervisor.reaped(HEALTHY_RUN + STOP_TIMEOUT + 1, Pid::from_raw(999).unwrap(), Exit::Signal(9), &mut world);
        assert_eq!(world.spawned.len(), 2);
    }

    #[test]
    fn a_crash_with_leftovers_still_backs_off_from_its_exit() {
        let mut world = FakeWorld::default();
        let mut supervisor = started(&mut world, &[("web", Some("/bin/web"))]);
        let pid = world.last_pid();
        world.live_groups.push(pid);
        supervisor.reaped(100, pid, Exit::Code(1), &mut world);
        world.live_groups.clear();
        supervisor.reaped(200, Pid::from_raw(999).unwrap(), Exit::Code(0), &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Backoff { until: 100 + FIRST_BACKOFF }));
    }

    #[test]
    fn shutdown_service_ending_stops_everything_with_its_status() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        let main = spec_of("cmd=/bin/main\nshutdown=yes\n");
        let mut scan = scan(&[("side", Some("/bin/side"))]);
        scan.push(("main".into(), Scanned::Valid(Box::new(main))));
        supervisor.reload(0, scan, &mut world);
        let main_pid = world.spawned.iter().find(|(n, _)| n == "main").unwrap().1;
        let side_pid = world.spawned.iter().find(|(n, _)| n == "side").unwrap().1;
        supervisor.reaped(10, main_pid, Exit::Signal(15), &mut world);
        assert_eq!(world.spawned.len(), 2, "not restarted");
        assert_eq!(world.signals, [(side_pid, Stop::Ask(15))]);
        supervisor.reaped(20, side_pid, Exit::Signal(15), &mut world);
        assert!(supervisor.is_finished());
        assert_eq!(supervisor.exit_status(), 128 + 15);
    }

    fn pid_of(world: &FakeWorld, name: &str) -> Pid {
        world.spawned.iter().rev().find(|(n, _)| n == name).unwrap().1
    }

    #[test]
    fn a_service_is_starting_until_ready_as_its_ready_key_says() {
        let mut world = FakeWorld::default();
        let files =
            [("plain", "cmd=/bin/a\n"), ("piped", "cmd=/bin/b\nready=fd:3\n"), ("task", "cmd=/bin/c\nrestart=never\n")];
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&files), &mut world);
        let (plain, piped, task) = (pid_of(&world, "plain"), pid_of(&world, "piped"), pid_of(&world, "task"));
        for pid in [plain, piped, task] {
            supervisor.executed(5, pid, &mut world);
        }
        assert_eq!(state(&supervisor, "plain"), Some(State::Up { pid: plain, since: 0, ready: true }));
        // Its program runs, but it has not said so: and a one-shot is ready once done.
        assert_eq!(state(&supervisor, "piped"), Some(State::Up { pid: piped, since: 0, ready: false }));
        assert_eq!(state(&supervisor, "task"), Some(State::Up { pid: task, since: 0, ready: false }));
        supervisor.notified_ready(7, plain, "fd", &mut world);
        supervisor.notified_ready(250, piped, "fd", &mut world);
        assert_eq!(state(&supervisor, "piped"), Some(State::Up { pid: piped, since: 0, ready: true }));
        assert!(world.lines.contains(&"piped: ready (fd) after 0.2s".to_string()));
        let shown = &world.published.iter().rev().find(|(name, _)| name == "piped").unwrap().1;
        assert_eq!(shown.since, 250, "the status says when it became ready");
        // ReadyWhen is per run: the next run starts over.
        supervisor.reaped(HEALTHY_RUN + 300, piped, Exit::Code(1), &mut world);
        let again = pid_of(&world, "piped");
        assert_eq!(state(&supervisor, "piped"), Some(State::Up { pid: again, since: HEALTHY_RUN + 300, ready: false }));
        supervisor.reaped(400, task, Exit::Code(0), &mut world);
        assert_eq!(state(&supervisor, "task"), Some(State::Done));
    }

    #[test]
    fn a_service_waits_for_every_service_it_is_after_then_starts() {
        let mut world = FakeWorld::default();
        let files = [
            ("db", "cmd=/bin/db\nready=notify\n"),
            ("cache", "cmd=/bin/cache\n"),
            ("web", "cmd=/bin/web\nafter=db\nafter=cache\n"),
        ];
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&files), &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Waiting));
        let shown = &world.published.iter().rev().find(|(name, _)| name == "web").unwrap().1;
        assert_eq!(shown.waiting_for, ["db", "cache"]);
        supervisor.executed(5, pid_of(&world, "cache"), &mut world);
        let shown = &world.published.iter().rev().find(|(name, _)| name == "web").unwrap().1;
        assert_eq!(shown.waiting_for, ["db"]);
        // The notify service's exec is not its readiness.
        supervisor.executed(6, pid_of(&world, "db"), &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Waiting));
        supervisor.status_text(7, pid_of(&world, "db"), "replaying the journal", &mut world);
        let shown = &world.published.last().unwrap().1;
        assert_eq!(shown.status_text.as_deref(), Some("replaying the journal"));
        supervisor.notified_ready(9, pid_of(&world, "db"), "notify", &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { since: 9, ready: false, .. })));
        assert_eq!(world.spawned.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["cache", "db", "web"]);
    }

    #[test]
    fn a_dependency_that_restarts_does_not_restart_its_dependents_but_delays_their_next_start() {
        let mut world = FakeWorld::default();
        let files = [("db", "cmd=/bin/db\n"), ("web", "cmd=/bin/web\nafter=db\n")];
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&files), &mut world);
        supervisor.executed(1, pid_of(&world, "db"), &mut world);
        let web = pid_of(&world, "web");
        supervisor.executed(2, web, &mut world);
        // db crashes at once: backoff. web keeps running.
        supervisor.reaped(100, pid_of(&world, "db"), Exit::Code(1), &mut world);
        assert_eq!(state(&supervisor, "db"), Some(State::Backoff { until: 100 + FIRST_BACKOFF }));
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { ready: true, .. })));
        assert!(world.signals.is_empty());
        // web exits meanwhile: its restart waits for db again.
        supervisor.reaped(HEALTHY_RUN + 2, web, Exit::Code(0), &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Waiting));
        supervisor.deadline_passed(HEALTHY_RUN + 2, &mut world);
        supervisor.executed(HEALTHY_RUN + 3, pid_of(&world, "db"), &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { ready: false, .. })));
    }

    #[test]
    fn a_missing_dependency_is_waited_for_and_logged_once_per_reload() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&[("web", "cmd=/bin/web\nafter=db\n")]), &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Waiting));
        let told = |world: &FakeWorld| {
            world.lines.iter().filter(|l| *l == "web: after=db: no such service; waiting for it").count()
        };
        assert_eq!(told(&world), 1);
        supervisor.reload(10, scan_files(&[("web", "cmd=/bin/web\nafter=db\n")]), &mut world);
        assert_eq!(told(&world), 2);
        supervisor.reload(20, scan_files(&[("db", "cmd=/bin/db\n"), ("web", "cmd=/bin/web\nafter=db\n")]), &mut world);
        assert_eq!(told(&world), 2);
        supervisor.executed(21, pid_of(&world, "db"), &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { .. })));
    }

    #[test]
    fn a_cycle_is_an_error_for_each_of_its_services_and_starts_none() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        let files = [("a", "cmd=/bin/a\n\nafter=b\n"), ("b", "cmd=/bin/b\nafter=c\n"), ("c", "cmd=/bin/c\nafter=a\n")];
        supervisor.reload(0, scan_files(&files), &mut world);
        assert!(world.spawned.is_empty());
        for line in [
            "a:3: after= makes a cycle: a -> b -> c -> a",
            "b:2: after= makes a cycle: b -> c -> a -> b",
            "c:2: after= makes a cycle: c -> a -> b -> c",
        ] {
            assert_eq!(world.lines.iter().filter(|l| *l == line).count(), 1, "{line}: {:?}", world.lines);
        }
        // Broken by an edit of one file: all start in order.
        supervisor.reload_part(10, &["c".to_string()], scan_files(&[("c", "cmd=/bin/c\n")]), &mut world);
        supervisor.executed(11, pid_of(&world, "c"), &mut world);
        supervisor.executed(12, pid_of(&world, "b"), &mut world);
        assert_eq!(world.spawned.iter().map(|(name, _)| name.as_str()).collect::<Vec<_>>(), ["c", "b", "a"]);
    }

    #[test]
    fn services_stopping_together_stop_after_those_after_them() {
        let mut world = FakeWorld::default();
        let files =
            [("db", "cmd=/bin/db\n"), ("api", "cmd=/bin/api\nafter=db\n"), ("web", "cmd=/bin/web\nafter=api db\n")];
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&files), &mut world);
        supervisor.executed(1, pid_of(&world, "db"), &mut world);
        supervisor.executed(2, pid_of(&world, "api"), &mut world);
        let (db, api, web) = (pid_of(&world, "db"), pid_of(&world, "api"), pid_of(&world, "web"));
        supervisor.stop_all(100, &mut world);
        assert_eq!(world.signals, [(web, Stop::Ask(15))]);
        supervisor.reaped(150, web, Exit::Signal(15), &mut world);
        assert_eq!(world.signals[1..], [(api, Stop::Ask(15))]);
        // Past 5 s the log says what db still waits for.
        assert_eq!(supervisor.next_deadline(), Some(100 + HOLD_TOLD_AFTER));
        supervisor.deadline_passed(100 + HOLD_TOLD_AFTER, &mut world);
        assert!(
            world.lines.contains(&"db: its stop still waits for api to stop first".to_string()),
            "{:?}",
            world.lines
        );
        supervisor.deadline_passed(150 + STOP_TIMEOUT, &mut world);
        assert_eq!(world.signals[1..], [(api, Stop::Ask(15)), (api, Stop::Kill)]);
        supervisor.reaped(5_200, api, Exit::Signal(9), &mut world);
        assert_eq!(world.signals[3..], [(db, Stop::Ask(15))]);
        supervisor.reaped(5_300, db, Exit::Signal(15), &mut world);
        assert!(supervisor.is_finished());
    }

    #[test]
    fn a_held_service_that_exits_by_itself_is_not_restarted() {
        let mut world = FakeWorld::default();
        let files = [("db", "cmd=/bin/db\n"), ("web", "cmd=/bin/web\nafter=db\n")];
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&files), &mut world);
        supervisor.executed(1, pid_of(&world, "db"), &mut world);
        let (db, web) = (pid_of(&world, "db"), pid_of(&world, "web"));
        // A reload that removes both: the same order as a shutdown.
        supervisor.reload(10, Vec::new(), &mut world);
        assert_eq!(world.signals, [(web, Stop::Ask(15))]);
        supervisor.reaped(20, db, Exit::Code(1), &mut world);
        assert_eq!(world.spawned.len(), 2);
        assert_eq!(state(&supervisor, "db"), None);
        supervisor.reaped(30, web, Exit::Signal(15), &mut world);
        assert!(supervisor.is_empty());
    }

    #[test]
    fn a_service_held_for_one_that_comes_back_is_removed_and_going_still_finishes() {
        // Found by the property test: db's removal waited for web to stop; web came back
        // (as a service without after=) before its stop ended, and db was held for ever.
        let db = ("db", "cmd=/bin/db\nafter=nothing\n");
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&[db, ("web", "cmd=/bin/web\n")]), &mut world);
        let web = pid_of(&world, "web");
        supervisor.reload(10, scan_files(&[db, ("web", "cmd=/bin/web\nafter=db\n")]), &mut world);
        supervisor.reload(20, Vec::new(), &mut world);
        assert_eq!(state(&supervisor, "db"), Some(State::Waiting), "held until web has stopped");
        supervisor.reload(30, scan_files(&[("web", "cmd=/bin/other\n")]), &mut world);
        assert_eq!(state(&supervisor, "db"), None, "web no longer goes away: db's removal waits no more");
        supervisor.reaped(40, web, Exit::Signal(15), &mut world);
        supervisor.stop_all(50, &mut world);
        supervisor.reaped(60, world.last_pid(), Exit::Signal(15), &mut world);
        assert!(supervisor.is_finished(), "{:?}", supervisor.states().collect::<Vec<_>>());
    }

    #[test]
    fn an_edit_of_after_applies_to_a_waiting_service_at_once_and_restart_keeps_it_waiting() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&[("web", "cmd=/bin/web\nafter=db\n")]), &mut world);
        supervisor.control(5, "web", Control::Restart, &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Waiting));
        supervisor.control(6, "web", Control::Up, &mut world);
        assert!(world.spawned.is_empty());
        supervisor.reload(10, scan_files(&[("web", "cmd=/bin/web\n")]), &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { since: 10, .. })));
        supervisor.control(20, "web", Control::Down, &mut world);
        supervisor.reaped(30, world.last_pid(), Exit::Signal(15), &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Down));
    }

    #[test]
    fn a_checked_service_is_ready_after_its_first_passing_check_and_restarts_when_unhealthy() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        let text = "cmd=/bin/web\ncheck=/bin/probe\ncheck_interval=2\ncheck_timeout=1\ncheck_retries=2\n";
        supervisor.reload(0, scan_files(&[("web", text), ("app", "cmd=/bin/app\nafter=web\n")]), &mut world);
        let web = pid_of(&world, "web");
        assert_eq!(supervisor.next_deadline(), None, "no check before the exec");
        supervisor.executed(10, web, &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { ready: false, .. })));
        // 0.1 s after the exec, then 0.2 s after a failure.
        supervisor.deadline_passed(110, &mut world);
        let check = world.checks.last().unwrap().1;
        supervisor.reaped(150, check, Exit::Code(1), &mut world);
        assert_eq!(supervisor.next_deadline(), Some(350));
        assert_eq!(state(&supervisor, "app"), Some(State::Waiting));
        supervisor.deadline_passed(350, &mut world);
        let check = world.checks.last().unwrap().1;
        supervisor.reaped(360, check, Exit::Code(0), &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { ready: true, .. })));
        assert!(world.lines.contains(&"web: ready (check) after 0.3s".to_string()), "{:?}", world.lines);
        assert_eq!(world.spawned.last().unwrap().0, "app", "what waits for web starts");
        let shown = world.published.iter().rev().find(|(name, _)| name == "web").unwrap().1.health.unwrap();
        assert_eq!(shown.name, "healthy");
        // Every 2 s now; the first hangs past its 1 s timeout and is killed, the second fails.
        assert_eq!(supervisor.next_deadline(), Some(2_360));
        supervisor.deadline_passed(2_360, &mut world);
        let hung = world.checks.last().unwrap().1;
        supervisor.deadline_passed(3_360, &mut world);
        assert_eq!(world.killed_checks, [hung]);
        supervisor.reaped(3_361, hung, Exit::Signal(9), &mut world);
        assert!(world.signals.is_empty(), "one failure of two");
        supervisor.deadline_passed(5_361, &mut world);
        let check = world.checks.last().unwrap().1;
        supervisor.reaped(5_400, check, Exit::Code(3), &mut world);
        assert!(world.lines.contains(&"web: unhealthy: check failed 2 times (last: exit 3); restarting".to_string()));
        assert_eq!(world.signals, [(web, Stop::Ask(15))]);
        supervisor.reaped(5_500, web, Exit::Signal(15), &mut world);
        assert!(matches!(state(&supervisor, "web"), Some(State::Up { ready: false, .. })), "at once, no backoff");
        assert_eq!(supervisor.services.get(supervisor.services.find("web").unwrap()).starts, 2);
        let shown = world.published.iter().rev().find(|(name, _)| name == "web").unwrap().1.health.unwrap();
        assert_eq!(shown, health::Summary { name: "checking", failed: (0, 2), last: None });
    }

    #[test]
    fn a_service_that_is_not_up_runs_no_check_and_its_running_check_is_killed() {
        let mut world = FakeWorld::default();
        let mut supervisor = Supervisor::new();
        supervisor.reload(0, scan_files(&[("web", "cmd=/bin/web\nready=fd:3\ncheck=/bin/probe\n")]), &mut world);
        let web = pid_of(&world, "web");
        supervisor.executed(1, web, &mut world);
        assert_eq!(supervisor.next_deadline(), None, "ready=fd decides readiness; checks start after it");
        supervisor.notified_ready(5, web, "fd", &mut world);
        assert_eq!(supervisor.next_deadline(), Some(10_005));
        supervisor.deadline_passed(10_005, &mut world);
        let check = world.checks.last().unwrap().1;
        supervisor.control(10_010, "web", Control::Down, &mut world);
        assert_eq!(world.killed_checks, [check]);
        supervisor.reaped(10_011, check, Exit::Signal(9), &mut world);
        supervisor.reaped(10_020, web, Exit::Signal(15), &mut world);
        assert_eq!(state(&supervisor, "web"), Some(State::Down));
        assert_eq!(supervisor.next_deadline(), None);
        // A change of the check keys alone restarts nothing.
        supervisor.control(10_030, "web", Control::Up, &mut world);
        let again = pid_of(&world, "web");
        let changed = "cmd=/bin/web\nready=fd:3\ncheck=/bin/other\ncheck_interval=1\n";
        supervisor.reload(10_040, scan_files(&[("web", changed)]), &mut world);
        assert_eq!(pid_of(&world, "web"), again);
        assert!(world.signals.iter().all(|(pid, _)| *pid != again));
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// One event fed to the state machine.
        #[derive(Clone, Debug)]
        enum Event {
            /// Which of the names are in the directory, with one of two commands or invalid.
            Reload(Vec<(usize, Option<bool>)>),
            /// The nth live process exits (modulo how many there are), or an unknown pid.
            Exit(usize, bool),
            Time(Millis),
            Control(usize, u8),
            /// The nth live process executed its program (or, with `true`, said it is ready).
            Ready(usize, bool),
            StopAll,
        }

        const NAMES: [&str; 4] = ["a", "b", "c", "d"];

        fn event() -> impl Strategy<Value = Event> {
            let entry = (0..NAMES.len(), proptest::option::of(any::<bool>()));
            prop_oneof![
                proptest::collection::vec(entry, 0..5).prop_map(Event::Reload),
                (any::<usize>(), any::<bool>()).prop_map(|(n, known)| Event::Exit(n, known)),
                (0..40_000u64).prop_map(Event::Time),
                (0..NAMES.len(), 0..4u8).prop_map(|(n, c)| Event::Control(n, c)),
                (any::<usize>(), any::<bool>()).prop_map(|(n, told)| Event::Ready(n, told)),
                Just(Event::StopAll),
            ]
        }

        proptest! {
            #[test]
            fn the_table_never_holds_two_processes_of_a_service_nor_loses_one(
                events in proptest::collection::vec(event(), 1..60)
            ) {
                let mut world = FakeWorld::default();
                let mut supervisor = Supervisor::new();
                let mut now = 0;
                let mut alive: Vec<Pid> = Vec::new();
                let mut wanted: Vec<&str> = Vec::new();
                for event in events {
                    match event {
                        Event::Reload(entries) => {
                            let mut seen = Vec::new();
                            let mut scan = Vec::new();
                            wanted.clear();
                            for (index, cmd) in entries {
                                if seen.contains(&index) { continue; }
                                seen.push(index);
                                if cmd.is_some() {
                                    wanted.push(NAMES[index]);
                                }
                                let scanned = match cmd {
                                    // The first starts after the next name (four make a cycle) and says when it
                                    // is ready; the second is a one-shot with its own stop timeout.
                                    Some(true) => {
                                        let text = alloc::format!("cmd=/bin/one\nready=fd:3\nafter={}\n", NAMES[(index + 1) % NAMES.len()]);
                                        Scanned::Valid(Box::new(spec_of(&text)))
                                    }
                                    Some(false) => Scanned::Valid(Box::new(spec_of("cmd=/bin/two\nrestart=never\nstop_timeout=0.5\ncheck=/bin/probe\ncheck_interval=0.5\ncheck_retries=1\n"))),
                                    None => Scanned::Unread,
                                };
                                scan.push((NAMES[index].to_string(), scanned));
                            }
                            supervisor.reload(now, scan, &mut world);
                        }
                        Event::Exit(n, known) if known && !alive.is_empty() => {
                            let pid = alive.remove(n % alive.len());
                            supervisor.reaped(now, pid, Exit::Code((n / 7 % 2) as i32), &mut world);
                        }
                        Event::Exit(..) => supervisor.reaped(now, Pid::from_raw(1_000_000).unwrap(), Exit::Code(0), &mut world),
                        Event::Time(delta) => {
                            now += delta;
                            supervisor.deadline_passed(now, &mut world);
                        }
                        Event::Control(n, c) => {
                            let control = [Control::Up, Control::Down, Control::Restart, Control::Signal(1)][c as usize];
                            supervisor.control(now, NAMES[n], control, &mut world);
                        }
                        Event::Ready(n, told) if !alive.is_empty() => {
                            let pid = alive[n % alive.len()];
                            match told {
                                true => supervisor.notified_ready(now, pid, "fd", &mut world),
                                false => supervisor.executed(now, pid, &mut world),
                            }
                        }
                        Event::Ready(..) => {}
                        Event::StopAll => supervisor.stop_all(now, &mut world),
                    }
                    alive.extend(world.spawned.drain(..).chain(world.checks.drain(..)).map(|(_, pid)| pid));
                    let pids: Vec<Pid> = supervisor.services.iter().filter_map(|service| service.pid()).collect();
                    for pid in &pids {
                        prop_assert!(alive.contains(pid), "a pid that is not a live process");
                        prop_assert_eq!(pids.iter().filter(|p| *p == pid).count(), 1);
                    }
                    let names: Vec<&str> = supervisor.states().map(|(name, _)| name).collect();
                    prop_assert!(names.windows(2).all(|w| w[0] < w[1]), "one entry per name, sorted");
                    if !supervisor.shutting_down {
                        // Every valid name of the last scan is in the table, whatever happened since.
                        for name in &wanted {
                            prop_assert!(names.contains(name), "lost {}", name);
                        }
                    }
                    if let Some(deadline) = supervisor.next_deadline() {
                        prop_assert!(deadline <= now + MAX_BACKOFF.max(STOP_TIMEOUT));
                    }
                    // The indexes agree with a scan of the whole table.
                    let earliest = supervisor.services.iter().filter_map(|service| service.deadline()).min();
                    prop_assert_eq!(supervisor.next_deadline(), earliest);
                    for service in supervisor.services.iter() {
                        if let Some(pid) = service.pid() {
                            prop_assert_eq!(supervisor.name_of(pid), Some(&*service.name));
                        }
                    }
                    for list in [List::Draining, List::Waiting] {
                        let listed = supervisor.services.iter().filter(|service| service.list() == Some(list)).count();
                        prop_assert_eq!(supervisor.services.list(list).len(), listed);
                    }
                    // Nothing waits for a service that is ready.
                    for service in supervisor.services.iter().filter(|service| service.state == State::Waiting) {
                        prop_assert!(!service.spec.after().iter().all(|name| supervisor.is_ready(name)), "{} waits in vain", service.name);
                    }
                }
                // However the stops were held, going finishes once every process is gone.
                supervisor.stop_all(now, &mut world);
                for _ in 0..10 {
                    alive.extend(world.spawned.drain(..).chain(world.checks.drain(..)).map(|(_, pid)| pid));
                    for pid in core::mem::take(&mut alive) {
                        supervisor.reaped(now, pid, Exit::Signal(15), &mut world);
                    }
                    now += MAX_BACKOFF;
                    supervisor.deadline_passed(now, &mut world);
                }
                prop_assert!(supervisor.is_finished(), "left: {:?}", supervisor.states().collect::<Vec<_>>());
            }
        }
    }
}
