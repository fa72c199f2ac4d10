//! The order of `after=`: cycles among services, and which of several
//! services stopping together must wait for others to stop first.
//!
//! Pure graph work over names; the state machine ([`crate::supervisor`])
//! asks, and acts on the answers.

use crate::config::ServiceSpec;
use crate::log::Severity;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// A cycle of `after=` through `start`, as the names along it with `start`
/// at both ends (`a -> b -> a`); `None` when there is none. `after_of`
/// gives a service's `after=` names, `None` for a name that is no service.
pub fn cycle_through<'a>(start: &'a str, after_of: impl Fn(&str) -> Option<&'a [String]>) -> Option<Vec<&'a str>> {
    // Depth first, with the path kept as a stack of (name, next dependency to follow).
    let mut path: Vec<(&'a str, usize)> = Vec::from([(start, 0)]);
    let mut seen: Vec<&'a str> = Vec::from([start]);
    while let Some((name, next)) = path.last_mut() {
        let after = after_of(name).unwrap_or(&[]);
        let Some(dependency) = after.get(*next) else {
            path.pop();
            continue;
        };
        *next += 1;
        if dependency == start {
            let mut cycle: Vec<&str> = path.iter().map(|(name, _)| *name).collect();
            cycle.push(start);
            return Some(cycle);
        }
        if !seen.contains(&dependency.as_str()) {
            seen.push(dependency);
            path.push((dependency, 0));
        }
    }
    None
}

/// What the `after=` lines of the services named in `ordered` get wrong, as
/// going logs it: each cycle through them (an error at the `after=` line of
/// each of its members, told once) and each name that is no service (a
/// warning: it is waited for). `spec_of` gives a service's spec by name.
pub fn order_problems<'a>(
    ordered: &'a [String],
    spec_of: impl Fn(&str) -> Option<&'a ServiceSpec>,
) -> Vec<(Severity, String)> {
    let after_of = |name: &str| spec_of(name).map(ServiceSpec::after);
    let mut problems = Vec::new();
    let mut reported: Vec<&str> = Vec::new();
    for name in ordered {
        if let Some(cycle) = cycle_through(name, after_of).filter(|_| !reported.contains(&name.as_str())) {
            let members = &cycle[..cycle.len() - 1];
            for (at, member) in members.iter().enumerate() {
                let from_member: Vec<&str> = members[at..].iter().chain(&members[..=at]).copied().collect();
                let line =
                    spec_of(member).and_then(|spec| spec.settings().after.as_ref()).map_or(0, |after| after.line);
                let shown = show_cycle(&from_member);
                problems.push((Severity::Error, format!("{member}:{line}: after= makes a cycle: {shown}")));
            }
            reported.extend(members);
        }
        for missing in after_of(name).unwrap_or(&[]).iter().filter(|other| spec_of(other).is_none()) {
            problems.push((Severity::Warning, format!("{name}: after={missing}: no such service; waiting for it")));
        }
    }
    problems
}

/// `a -> b -> a`.
pub fn show_cycle(cycle: &[&str]) -> String {
    cycle.join(" -> ")
}

/// For services stopping together, given as each one's `after=` names and
/// whether it still runs: for each, the others (by index) that run and are
/// `after=` it, which must stop before it may. A service in a cycle (or
/// after one) would wait forever, so it waits for none.
pub fn stop_blockers(members: &[(&str, &[String], bool)]) -> Vec<Vec<usize>> {
    let index_of = |name: &str| members.iter().position(|(member, _, _)| *member == name);
    let mut blockers: Vec<Vec<usize>> = alloc::vec![Vec::new(); members.len()];
    for (at, (_, after, running)) in members.iter().enumerate() {
        if *running {
            after.iter().filter_map(|name| index_of(name)).for_each(|dependency| blockers[dependency].push(at));
        }
    }
    // Peel what can stop in order (Kahn's algorithm): what is left is held up by a cycle.
    let mut left: Vec<usize> = blockers.iter().map(Vec::len).collect();
    let mut free: Vec<usize> = (0..members.len()).filter(|&at| left[at] == 0).collect();
    while let Some(at) = free.pop() {
        let (_, after, running) = members[at];
        for dependency in after.iter().filter_map(|name| index_of(name)).filter(|_| running) {
            left[dependency] -= 1;
            if left[dependency] == 0 {
                free.push(dependency);
            }
        }
    }
    for (at, waits) in blockers.iter_mut().enumerate() {
        if left[at] > 0 {
            waits.clear();
        }
    }
    blockers
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn graph(edges: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
        edges.iter().map(|(name, after)| (name.to_string(), after.iter().map(|a| a.to_string()).collect())).collect()
    }

    fn after_in<'a>(graph: &'a [(String, Vec<String>)]) -> impl Fn(&str) -> Option<&'a [String]> {
        move |name| graph.iter().find(|(n, _)| n == name).map(|(_, after)| after.as_slice())
    }

    #[test]
    fn a_cycle_of_any_length_is_found_from_each_member() {
        let g = graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &["a"])]);
        assert_eq!(cycle_through("a", after_in(&g)).map(|c| show_cycle(&c)), Some("a -> b -> c -> a".into()));
        assert_eq!(cycle_through("c", after_in(&g)).map(|c| show_cycle(&c)), Some("c -> a -> b -> c".into()));
        // d waits for a cycle but is in none.
        assert_eq!(cycle_through("d", after_in(&g)), None);
        let own = graph(&[("a", &["a"])]);
        assert_eq!(cycle_through("a", after_in(&own)).map(|c| show_cycle(&c)), Some("a -> a".into()));
    }

    #[test]
    fn a_diamond_and_missing_names_are_no_cycle() {
        let g = graph(&[("web", &["api", "cache"]), ("api", &["db"]), ("cache", &["db", "nowhere"]), ("db", &[])]);
        for name in ["web", "api", "cache", "db"] {
            assert_eq!(cycle_through(name, after_in(&g)), None, "{name}");
        }
    }

    #[test]
    fn each_waits_for_the_running_members_after_it() {
        let (none, db, api): (&[String], _, _) = (&[], ["db".to_string()], ["db".to_string(), "api".to_string()]);
        // db <- api <- web, and web after db too; cache is after db but already stopped.
        let members = [("db", none, true), ("api", &db[..], true), ("web", &api[..], true), ("cache", &db[..], false)];
        assert_eq!(stop_blockers(&members), [alloc::vec![1, 2], alloc::vec![2], alloc::vec![], alloc::vec![]]);
    }

    #[test]
    fn a_cycle_holds_nothing_up() {
        let (a, b, c) = (["b".to_string()], ["a".to_string()], ["a".to_string()]);
        let members = [("a", &a[..], true), ("b", &b[..], true), ("c", &c[..], true)];
        assert!(stop_blockers(&members).iter().all(Vec::is_empty));
    }
}
