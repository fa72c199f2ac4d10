//! The order of `after=` in the state machine: a service that waits for
//! others starts once they are ready, services that stop together stop in
//! reverse order, and a reload tells of cycles and missing names. The graph
//! work, pure, is [`crate::start_order`].

use super::{AfterStop, Effects, Service, State, Supervisor};
use crate::start_order::{order_problems, stop_blockers};
use crate::supervisor::Millis;
use crate::table::Slot;
use alloc::string::String;
use alloc::vec::Vec;

/// A stop put off until the services after this one have stopped.
#[derive(Debug)]
pub(super) struct Hold {
    /// Those that still run.
    pub(super) waits_for: Vec<String>,
    pub(super) since: Millis,
    pub(super) told: bool,
}

impl Supervisor {
    pub(super) fn is_ready(&self, name: &str) -> bool {
        self.services.find(name).is_some_and(|slot| self.services.get(slot).is_ready())
    }

    /// Starts the waiting service in `slot` when every `after=` service is ready;
    /// otherwise publishes what it still waits for.
    pub(super) fn start_if_ready(&mut self, now: Millis, slot: Slot, effects: &mut impl Effects) {
        let service = self.services.get(slot);
        if service.state != State::Waiting || self.shutting_down {
            return;
        }
        let missing: Vec<String> = service.spec.after().iter().filter(|name| !self.is_ready(name)).cloned().collect();
        if missing.is_empty() {
            self.update(now, slot, effects, |service, effects| {
                service.spawn(now, effects);
                true
            });
        } else if missing != service.waiting_for() {
            self.update(now, slot, effects, |service, effects| {
                service.extras().waiting_for = missing;
                effects.publish(&service.name, &service.status());
                true
            });
        }
    }

    /// Stops the services in `slots` for good, each only after those of them
    /// that run and are `after=` it have stopped (in reverse start order).
    pub(super) fn stop_together(&mut self, now: Millis, slots: Vec<Slot>, effects: &mut impl Effects) {
        let ordered = slots.iter().any(|&slot| !self.services.get(slot).spec.after().is_empty());
        let blockers = match ordered {
            false => Vec::new(),
            true => {
                let members: Vec<(&str, &[String], bool)> = slots
                    .iter()
                    .map(|&slot| self.services.get(slot))
                    .map(|service| (&*service.name, service.spec.after(), service.is_running()))
                    .collect();
                stop_blockers(&members)
            }
        };
        let mut free = Vec::with_capacity(slots.len());
        for (at, &slot) in slots.iter().enumerate() {
            let waits_for: Vec<String> = match blockers.get(at) {
                Some(others) if !others.is_empty() => {
                    others.iter().map(|&other| String::from(&*self.services.get(slots[other]).name)).collect()
                }
                _ => {
                    free.push(slot);
                    continue;
                }
            };
            self.update(now, slot, effects, |service, _| {
                service.set_hold(Some(Hold { waits_for, since: now, told: false }));
                true
            });
        }
        for slot in free {
            self.update(now, slot, effects, |service, effects| service.stop(now, AfterStop::Remove, effects));
        }
    }

    /// `gone` left the table: the services it came after no longer wait for it to stop.
    pub(super) fn release_holds(&mut self, now: Millis, gone: &Service, effects: &mut impl Effects) {
        let slots: Vec<Slot> = gone.spec.after().iter().filter_map(|name| self.services.find(name)).collect();
        self.release_holds_on(now, &gone.name, slots, effects);
    }

    /// `name` came back before its removal ended: nothing held for it waits any more
    /// (its `after=` may have changed since, so every held service is looked at).
    pub(super) fn release_holds_for_returned(&mut self, now: Millis, name: &str, effects: &mut impl Effects) {
        let held = self.services.slots().into_iter().filter(|&slot| self.services.get(slot).hold().is_some()).collect();
        self.release_holds_on(now, name, held, effects);
    }

    /// The held services among `slots` no longer wait for `name`; those that wait for
    /// nothing else now stop.
    fn release_holds_on(&mut self, now: Millis, name: &str, slots: Vec<Slot>, effects: &mut impl Effects) {
        for slot in slots {
            let released = self.services.update(slot, |service| {
                let Some(hold) = service.extras.as_deref_mut().and_then(|extras| extras.hold.as_mut()) else {
                    return false;
                };
                hold.waits_for.retain(|other| **other != *name);
                let released = hold.waits_for.is_empty();
                if released {
                    service.set_hold(None);
                }
                released
            });
            if released {
                self.update(now, slot, effects, |service, effects| service.stop(now, AfterStop::Remove, effects));
            }
        }
    }

    /// Logs each cycle of `after=` through the services named in `ordered`
    /// (once for each service in it), and each `after=` name that is no service.
    pub(super) fn report_order_errors(&self, ordered: &[String], effects: &mut impl Effects) {
        let spec_of = |name: &str| self.services.find(name).map(|slot| &*self.services.get(slot).spec);
        for (severity, line) in order_problems(ordered, spec_of) {
            effects.log(severity, format_args!("{line}"));
        }
    }
}
