//! cgroup v2 containment on the real binary, each going in a fresh cgroup
//! the test makes (as a service manager would give it): a daemon that
//! forks away is stopped before the respawn, a setsid escapee is counted
//! and stopped, a service's cgroup goes with it, a dead going's leftovers
//! are killed by the next one, and going removes its cgroups on exit.
//! (Without a writable cgroup2, going tracks process groups as before:
//! tests/hardening.rs.)
mod common;

use common::*;
use rustix::process::Signal;
use std::fs;
use std::path::Path;

/// A going in a fresh cgroup, or `None` where the machine cannot make one (then nothing is tested here).
fn going_in_cgroup(services: &[(&str, &str)]) -> Option<Going> {
    let going = Going::start(services);
    if going.cgroup().is_none() {
        eprintln!("no writable cgroup2 hierarchy: skipped");
        return None;
    }
    going.wait_log("cgroups: each service in its own cgroup under ");
    Some(going)
}

/// The pid a service wrote to `path`.
fn pid_in(path: &Path) -> i32 {
    wait_file(path).trim().parse().unwrap()
}

#[test]
fn a_daemon_that_forked_away_is_stopped_before_the_respawn() {
    let work = TempDir::new("daemon");
    let pidfile = work.join("daemon");
    let cmd =
        format!("cmd=/bin/sh -c 'setsid sleep 77100 & echo $! > {}; exit 0'\nstop_timeout=1\n", pidfile.display());
    let Some(going) = going_in_cgroup(&[("daemon", &cmd)]) else { return };
    let daemon = pid_in(&pidfile);
    going.wait_log("going: daemon: 1 process left in its cgroup; stopping them");
    going.service_pid("daemon", 2);
    assert!(!is_alive(daemon), "the daemon of the first run outlived its respawn");
}

#[test]
fn a_setsid_escapee_is_counted_and_stopped_with_its_service() {
    let work = TempDir::new("escapee");
    let pidfile = work.join("escaped");
    let cmd = format!("cmd=/bin/sh -c 'setsid sleep 77101 & echo $! > {}; exec sleep 1000'\n", pidfile.display());
    let Some(going) = going_in_cgroup(&[("escaper", &cmd)]) else { return };
    let escaped = pid_in(&pidfile);
    let cgroup = going.status_key("escaper", "cgroup").unwrap();
    assert!(Path::new(&cgroup).starts_with(going.cgroup().unwrap()), "{cgroup}");
    let (_, json, _) = going.goingctl(&["status", "--json"]);
    assert!(json.contains("\"processes\":2"), "{json}");
    assert_eq!(going.goingctl(&["down", "escaper"]).0, 0);
    going.wait_state("escaper", "down");
    assert!(!is_alive(escaped), "the escapee outlived its service");
}

#[test]
fn a_services_cgroup_goes_with_it_and_going_removes_its_own_on_exit() {
    let Some(mut going) = going_in_cgroup(&[("web", "cmd=/bin/sleep 1000\n")]) else { return };
    going.wait_state("web", "up");
    let cgroup = going.status_key("web", "cgroup").unwrap();
    assert!(Path::new(&cgroup).is_dir());
    fs::remove_file(going.services.join("web")).unwrap();
    wait_for("the cgroup to go", || (!Path::new(&cgroup).exists()).then_some(()));
    assert_eq!(going.stop().code(), Some(0));
    let mine = going.cgroup().unwrap().to_owned();
    let left: Vec<_> =
        fs::read_dir(&mine).unwrap().filter_map(|entry| entry.ok()).filter(|e| e.path().is_dir()).collect();
    assert!(left.is_empty(), "{left:?} is left in {}", mine.display());
}

#[test]
fn a_dead_goings_leftovers_are_killed_by_the_next_one() {
    let work = TempDir::new("leftover");
    let pidfile = work.join("escaped");
    let cmd = format!("cmd=/bin/sh -c 'setsid sleep 77102 & echo $! > {}; exec sleep 1000'\n", pidfile.display());
    let Some(mut first) = going_in_cgroup(&[("web", &cmd)]) else { return };
    let escaped = pid_in(&pidfile);
    first.signal(Signal::KILL);
    first.wait_exit();
    // Its main process died with going (its parent-death signal); the escapee did not.
    assert!(is_alive(escaped));
    // init's respawn: the same directories and the same cgroup, a new going.
    fs::remove_file(&pidfile).unwrap();
    let log = first.work.join("second.log");
    let dir = first.services.path().to_str().unwrap().to_owned();
    let second = going_command(&["-d", &dir], &log, first.cgroup()).spawn().unwrap();
    let second = Going::from_parts(second, TempDir::new("unused"), TempDir::new("unused"));
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    wait_for("the leftover to be killed", || {
        read_log().contains("going: web: killed 1 process a previous going left in its cgroup").then_some(())
    });
    wait_for("the escapee to be gone", || (!is_alive(escaped)).then_some(()));
    // The new run's own escapee is alive: the kill came before the start.
    let again = pid_in(&pidfile);
    assert!(is_alive(again), "{}", read_log());
    drop(second);
}

#[test]
fn a_service_killed_at_its_stop_timeout_starts_again_in_a_fresh_cgroup() {
    let work = TempDir::new("stubborn");
    let ready = work.join("ready");
    let cmd = format!(
        "cmd=/bin/sh -c 'trap \"\" TERM; : > {}; while :; do sleep 0.05; done'\nstop_timeout=0.2\n",
        ready.display()
    );
    let Some(going) = going_in_cgroup(&[("stubborn", &cmd)]) else { return };
    wait_for("the trap", || ready.exists().then_some(()));
    fs::remove_file(&ready).unwrap();
    assert_eq!(going.goingctl(&["restart", "stubborn"]).0, 0);
    going.wait_log("going: stubborn: still running 0.2s after SIGTERM; sending SIGKILL");
    // The next run is not killed by the cgroup's earlier cgroup.kill: it runs on.
    let second = going.service_pid("stubborn", 2);
    wait_for("the second run's trap", || ready.exists().then_some(()));
    assert!(is_alive(second), "{}", going.log());
    assert_eq!(going.count_log("stubborn: killed by signal KILL"), 0, "{}", going.log());
}

/// The cgroup directory of process `pid`.
fn cgroup_of(pid: i32) -> std::path::PathBuf {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mount = going::cgroups::cgroup2_mount(&mountinfo).unwrap().to_owned();
    let own = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    Path::new(&mount).join(going::cgroups::own_cgroup(&own).unwrap().trim().trim_start_matches('/'))
}

#[test]
fn a_check_runs_in_its_services_cgroup_and_what_it_leaves_goes_with_the_service() {
    let work = TempDir::new("check");
    std::os::unix::fs::chown(work.path(), Some(65534), Some(65534)).unwrap();
    let pidfile = work.join("left");
    let check = format!("/bin/sh -c 'setsid sleep 77103 & echo $! > {}; exit 0'", pidfile.display());
    let cmd = format!("cmd=/bin/sleep 1000\nuser=nobody\ncheck={check}\ncheck_interval=60\n");
    let Some(going) = going_in_cgroup(&[("web", &cmd)]) else { return };
    let left = pid_in(&pidfile);
    let cgroup = going.status_key("web", "cgroup").unwrap();
    assert_eq!(cgroup_of(left), Path::new(&cgroup), "the check's process is not in its service's cgroup");
    assert_eq!(going.goingctl(&["restart", "web"]).0, 0);
    wait_for("what the check left to be stopped with its service", || (!is_alive(left)).then_some(()));
}

#[test]
fn a_stray_process_in_a_dead_goings_leaf_is_killed_and_containment_stays_on() {
    let Some(mut first) = going_in_cgroup(&[("web", "cmd=/bin/sleep 1000\n")]) else { return };
    let leaf = cgroup_of(first.pid());
    first.signal(Signal::KILL);
    first.wait_exit();
    // A process left in going's own leaf, as a check of 1.3.0 could leave one.
    let mut stray = std::process::Command::new("sleep").arg("77104").spawn().unwrap();
    fs::write(leaf.join("cgroup.procs"), stray.id().to_string()).unwrap();
    // init's respawn: the same directories and the same cgroup, a new going.
    let log = first.work.join("second.log");
    let dir = first.services.path().to_str().unwrap().to_owned();
    let second = going_command(&["-d", &dir], &log, first.cgroup()).spawn().unwrap();
    let second = Going::from_parts(second, TempDir::new("unused"), TempDir::new("unused"));
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    wait_for("containment", || read_log().contains("cgroups: each service in its own cgroup under").then_some(()));
    assert!(read_log().contains("cgroups: killed 1 process a previous going left in its own"), "{}", read_log());
    assert!(stray.wait().unwrap().code().is_none(), "the stray was killed");
    drop(second);
}

#[test]
fn two_goings_in_one_cgroup_each_keep_containment_and_their_own_services() {
    let work = TempDir::new("two");
    let escaper = |pidfile: &Path| {
        format!("cmd=/bin/sh -c 'setsid sleep 77106 & echo $! > {}; exec sleep 1000'\n", pidfile.display())
    };
    let (first_pidfile, second_pidfile) = (work.join("first"), work.join("second"));
    let Some(first) = going_in_cgroup(&[("web", &escaper(&first_pidfile))]) else { return };
    // A second going in the same cgroup, with directories of its own and a service of the same name.
    let services = service_dir(&[("web", &escaper(&second_pidfile))]);
    let second_work = TempDir::new("second");
    let log = second_work.join("going.log");
    let dir = services.path().to_str().unwrap().to_owned();
    let second = going_command(&["-d", &dir], &log, first.cgroup()).spawn().unwrap();
    let mut second = Going::from_parts(second, services, second_work);
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    wait_for("containment", || read_log().contains("cgroups: each service in its own cgroup under").then_some(()));
    let (mine, theirs) = (pid_in(&first_pidfile), pid_in(&second_pidfile));
    assert_ne!(cgroup_of(mine), cgroup_of(theirs));
    let (_, table, _) = second.goingctl(&["status"]);
    assert!(table.contains("going: each service in its own cgroup under "), "{table}");
    // The second one's stop takes its escapee and leaves the first one's alone.
    assert_eq!(second.stop().code(), Some(0), "{}", read_log());
    wait_for("the second one's escapee to be stopped", || (!is_alive(theirs)).then_some(()));
    assert!(is_alive(mine), "the first going's service was touched");
    assert!(first.goingctl(&["status", "web"]).1.contains("up"));
}

/// going's voluntary context switches so far: one per wake-up of its loop.
fn wake_ups(pid: i32) -> u64 {
    status_field(pid, "voluntary_ctxt_switches").parse().unwrap()
}

/// A service started again into its frozen cgroup: its process is frozen before its first
/// step, so it shares going's descriptor table until thawed. going goes on (another
/// service respawns meanwhile), looks at the frozen one less and less often instead of
/// every millisecond, and once it is thawed the service runs.
#[test]
fn a_start_into_a_frozen_cgroup_holds_nothing_up_and_runs_once_thawed() {
    let services = [("frozen", "cmd=/bin/sleep 1000\n"), ("other", "cmd=/bin/sleep 1001\n")];
    let Some(going) = going_in_cgroup(&services) else { return };
    let first = going.service_pid("frozen", 1);
    let cgroup = going.status_key("frozen", "cgroup").unwrap();
    fs::write(format!("{cgroup}/cgroup.freeze"), "1").unwrap();
    let events = format!("{cgroup}/cgroup.events");
    wait_for("the cgroup to freeze", || fs::read_to_string(&events).unwrap().contains("frozen 1").then_some(()));
    // SIGKILL ends a frozen process; going starts the service again (after a second's backoff).
    signal_pid(first, Signal::KILL);
    let second = going.service_pid("frozen", 2);
    assert!(fs::read_to_string(format!("/proc/{second}/cmdline")).is_ok_and(|cmd| !cmd.starts_with("/bin/sleep")));
    // The other service respawns meanwhile (again after a second's backoff): a second of going's life
    // with the frozen start held, in which it wakes a few times, not a thousand.
    let other = going.service_pid("other", 1);
    let before = wake_ups(going.pid());
    signal_pid(other, Signal::KILL);
    wait_exec(going.service_pid("other", 2), "sleep");
    let woken = wake_ups(going.pid()) - before;
    assert!(woken < 100, "going woke {woken} times in the other service's backoff");
    fs::write(format!("{cgroup}/cgroup.freeze"), "0").unwrap();
    wait_exec(second, "sleep");
    going.wait_state("frozen", "up");
}
