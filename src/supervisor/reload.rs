//! A reload in the state machine: what a scan of the service directory
//! (all of it, or the files that changed) does to the table. New services
//! start, removed ones stop, changed ones restart once their old process is
//! gone or take what applies only next time, and refused files show why.
//! The scan itself is [`crate::service_dir`].

use super::{AfterStop, Effects, Service, State, Supervisor};
use crate::config::ServiceSpec;
use crate::log::Severity;
use crate::supervisor::Millis;
use crate::table::Slot;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;

/// One service file's result in a directory scan.
#[derive(Debug)]
pub enum Scanned {
    Valid(Box<ServiceSpec>),
    /// Not read this time (still being written, or its app's Procfile is refused): a
    /// running service keeps running as it is.
    Unread,
    /// The file has this error (already logged): a running service keeps running and shows it.
    /// Boxed twice: a scan holds an entry for every file, and a thin box keeps each small.
    Refused(Box<String>),
}

/// The order of a scan: by name (one function, so that every sort of a scan is one copy of the code).
pub fn by_name(a: &(String, Scanned), b: &(String, Scanned)) -> core::cmp::Ordering {
    a.0.cmp(&b.0)
}

impl Supervisor {
    /// Applies a scan of the whole directory: starts new services, stops
    /// removed ones, restarts changed ones once their old process is gone,
    /// leaves the rest.
    pub fn reload(&mut self, now: Millis, scan: Vec<(String, Scanned)>, effects: &mut impl Effects) {
        let replaced = self.services.slots();
        self.apply(now, (replaced, None), scan, effects);
    }

    /// The names of the services that a reload of `files` may replace: each
    /// file's own, and the processes of a Procfile app (`FILE.TYPE`), told
    /// from service files by `is_file`.
    pub fn names_from(&self, files: &[&str], is_file: impl Fn(&str) -> bool) -> Vec<String> {
        let mut names = Vec::new();
        for file in files {
            names.extend(self.services.find(file).map(|slot| String::from(&*self.services.get(slot).name)));
            let processes = self.services.starting_with(&crate::procfile::process_prefix(file));
            let processes = processes.into_iter().map(|slot| &*self.services.get(slot).name);
            names.extend(processes.filter(|name| !is_file(name)).map(String::from));
            names.extend(self.refused.iter().any(|(name, _)| name == file).then(|| String::from(*file)));
        }
        names
    }

    /// Applies a scan of some files only: the services named in `replaced`
    /// ([`Self::names_from`] those files) that the scan does not name are
    /// stopped and removed; the rest of the table is not looked at.
    pub fn reload_part(
        &mut self,
        now: Millis,
        replaced: &[String],
        scan: Vec<(String, Scanned)>,
        effects: &mut impl Effects,
    ) {
        let slots = replaced.iter().filter_map(|name| self.services.find(name)).collect();
        self.apply(now, (slots, Some(replaced)), scan, effects);
    }

    /// Applies `scan`: a service in `replaced` that the scan does not name is stopped and
    /// removed, and so is a refused file among the `names` it replaces (every one: `None`).
    fn apply(
        &mut self,
        now: Millis,
        (replaced, names): (Vec<Slot>, Option<&[String]>),
        mut scan: Vec<(String, Scanned)>,
        effects: &mut impl Effects,
    ) {
        if self.shutting_down {
            return;
        }
        let (mut added, mut changed, mut refused) = (0, 0, 0);
        // In place: a stable sort would take a buffer as large as the scan (names are unique).
        scan.sort_unstable_by(by_name);
        let in_scan = |name: &str| scan.binary_search_by(|(scanned, _)| scanned.as_str().cmp(name)).is_ok();
        let (gone, kept): (Vec<_>, Vec<_>) = core::mem::take(&mut self.refused)
            .into_iter()
            .partition(|(name, _)| names.is_none_or(|names| names.contains(name)) && !in_scan(name));
        self.refused = kept;
        for (name, _) in gone {
            effects.withdraw(&name);
        }
        // Room in the name order for every new name at once: doubling would hold two copies at the peak.
        self.services.reserve(scan.len().saturating_sub(self.services.len()));
        let removed: Vec<Slot> = replaced
            .into_iter()
            .filter(|&slot| {
                let service = self.services.get(slot);
                scan.binary_search_by(|(name, _)| name.as_str().cmp(&service.name)).is_err()
                    && !matches!(service.state, State::Stopping { then: AfterStop::Remove, .. })
                    && service.hold().is_none()
            })
            .collect();
        let removed_count = removed.len();
        let ordered: Vec<String> = scan
            .iter()
            .filter(|(_, scanned)| matches!(scanned, Scanned::Valid(spec) if !spec.after().is_empty()))
            .map(|(name, _)| name.clone())
            .collect();
        for (name, scanned) in scan {
            let spec = match scanned {
                Scanned::Valid(spec) => spec,
                Scanned::Unread => continue,
                Scanned::Refused(error) => {
                    refused += 1;
                    self.refuse(name, error.into_boxed_str(), effects);
                    continue;
                }
            };
            self.refused.retain(|(refused, _)| *refused != name);
            let Some(slot) = self.services.find(&name) else {
                let slot = self.services.insert(Service::new(name, spec, now));
                self.update(now, slot, effects, |service, effects| {
                    service.start(now, effects);
                    true
                });
                added += 1;
                continue;
            };
            let (more_added, more_changed) = self.take_spec(now, slot, spec, effects);
            (added, changed) = (added + more_added, changed + more_changed);
        }
        self.stop_together(now, removed, effects);
        let removed = removed_count;
        let counts = format_args!("{added} added, {removed} removed, {changed} changed, {refused} refused");
        effects.log(Severity::Info, format_args!("configuration: {counts}"));
        self.report_order_errors(&ordered, effects);
    }

    /// A scanned spec for the service in `slot`: the service comes back from a removal,
    /// takes what applies only next time (its stop policy, `after=`, `check=`) as it runs,
    /// or restarts with the new spec. Returns how the reload counts it: (added, changed).
    fn take_spec(&mut self, now: Millis, slot: Slot, spec: Box<ServiceSpec>, effects: &mut impl Effects) -> (u32, u32) {
        let (mut added, mut changed) = (0, 0);
        let service = self.services.get(slot);
        if service.extras.as_ref().is_some_and(|extras| extras.refusal.is_some()) {
            self.services.update(slot, |service| service.extras().refusal = None);
            let service = self.services.get(slot);
            effects.publish(&service.name, &service.status());
        }
        let service = self.services.get(slot);
        if service.hold().is_some() {
            // Back before its stop came: it stays.
            self.services.update(slot, |service| service.set_hold(None));
            added += 1;
        }
        let service = self.services.get(slot);
        let then = match service.state {
            State::Stopping { then: AfterStop::Remove, .. } => {
                added += 1;
                // It no longer goes away: what was held until it stopped need not wait.
                let name = String::from(service.name.as_str());
                self.release_holds_for_returned(now, &name, effects);
                AfterStop::Start
            }
            _ if service.spec.runs_like(&spec) => {
                // Only the stop policy or `after=` changed, if anything: they apply to the next stop or start.
                if service.spec != spec {
                    changed += 1;
                    self.update(now, slot, effects, |service, effects| {
                        service.spec = spec;
                        service.check_changed(now, effects);
                        if service.state == State::Waiting {
                            service.clear_waiting_for();
                        } else {
                            effects.publish(&service.name, &service.status());
                        }
                        true
                    });
                }
                return (added, changed);
            }
            State::Down | State::Stopping { then: AfterStop::StayDown, .. } => {
                changed += 1;
                AfterStop::StayDown
            }
            _ => {
                changed += 1;
                AfterStop::Start
            }
        };
        self.update(now, slot, effects, |service, effects| {
            service.spec = spec;
            service.check_changed(now, effects);
            service.short_runs = 0;
            service.stop(now, then, effects)
        });
        (added, changed)
    }

    /// File `name` was refused: a service of that name keeps running and shows why;
    /// without one, the name shows the error alone.
    fn refuse(&mut self, name: String, error: Box<str>, effects: &mut impl Effects) {
        let Some(slot) = self.services.find(&name) else {
            match self.refused.iter_mut().find(|(refused, _)| *refused == name) {
                Some((_, told)) if *told == error => {}
                Some((_, told)) => {
                    effects.publish_refused(&name, &error);
                    *told = error;
                }
                None => {
                    effects.publish_refused(&name, &error);
                    self.refused.push((name, error));
                }
            }
            return;
        };
        self.services.update(slot, |service| {
            if service.extras.as_ref().and_then(|extras| extras.refusal.as_deref()) != Some(&*error) {
                service.extras().refusal = Some(error);
                effects.publish(&service.name, &service.status());
            }
        });
    }
}
