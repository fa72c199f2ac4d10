//! Respawn, backoff, exec failures and stopping, on real processes.
mod common;

use common::*;
use rustix::process::Signal;
use std::fs;
use std::time::{Duration, Instant};

#[test]
fn killed_service_is_respawned_with_a_new_pid() {
    let going = Going::start(&[("sleeper", "cmd=/bin/sleep 1000\n")]);
    let first = going.service_pid("sleeper", 1);
    assert!(is_alive(first));
    signal_pid(first, Signal::KILL);
    let second = going.service_pid("sleeper", 2);
    assert_ne!(first, second);
    assert!(is_alive(second));
    going.wait_log("going: sleeper: killed by signal KILL after");
    wait_for("the killed pid to be reaped", || is_reaped(first).then_some(()));
}

#[test]
fn crash_loop_waits_1s_then_2s_between_starts() {
    let going = Going::start(&[]);
    let stamps = going.work.join("starts");
    let cmd = format!("cmd=/bin/sh -c 'echo x >> {}; exit 3'\n", stamps.display());
    write_service(going.services.path(), "crasher", &cmd);
    let started = Instant::now();
    going.reload();
    going.service_pid("crasher", 1);
    let mut starts = Vec::new();
    for nth in 1..=3 {
        wait_for("the next start", || {
            (fs::read_to_string(&stamps).unwrap_or_default().lines().count() >= nth).then_some(())
        });
        starts.push(started.elapsed());
    }
    going.wait_log("going: crasher: exited with status 3 after 0.0s (restarting in 1.0s)");
    going.wait_log("going: crasher: exited with status 3 after 0.0s (restarting in 2.0s)");
    // Lower bounds only: a busy machine may be late, never early.
    assert!(starts[1] - starts[0] >= Duration::from_millis(900), "{starts:?}");
    assert!(starts[2] - starts[1] >= Duration::from_millis(1900), "{starts:?}");
}

#[test]
fn exec_failure_logs_the_real_reason_and_backs_off() {
    let going = Going::start(&[("missing", "cmd=/usr/bin/nope --flag\n")]);
    let plain = going.work.join("plain");
    fs::write(&plain, "not a program\n").unwrap();
    write_service(going.services.path(), "noexec", &format!("cmd={}\n", plain.display()));
    going.reload();
    going.wait_log("going: missing: cannot execute /usr/bin/nope: No such file or directory");
    going.wait_log("going: missing: exited with status 127 after 0.0s (restarting in 1.0s)");
    going.wait_log(&format!("going: noexec: cannot execute {}: Permission denied", plain.display()));
    going.wait_log("going: noexec: exited with status 126 after 0.0s (restarting in 1.0s)");
    going.wait_log("going: missing: exited with status 127 after 0.0s (restarting in 2.0s)");
}

#[test]
fn script_without_shebang_is_not_run_by_a_shell() {
    let going = Going::start(&[]);
    let script = going.work.join("script");
    fs::write(&script, "echo hi\n").unwrap();
    fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    write_service(going.services.path(), "script", &format!("cmd={}\n", script.display()));
    going.reload();
    going.wait_log(&format!("going: script: cannot execute {}: Exec format error", script.display()));
}

#[test]
fn bad_working_directory_is_reported() {
    let going = Going::start(&[("lost", "cmd=/bin/sleep 1000\ncwd=/does/not/exist\n")]);
    going.wait_log("going: lost: cannot change directory to /does/not/exist: No such file or directory");
    going.wait_log("going: lost: exited with status 127");
}

#[test]
fn program_without_slash_is_found_in_path() {
    let going = Going::start(&[("sleeper", "cmd=sleep 1000\n")]);
    let pid = going.service_pid("sleeper", 1);
    wait_for("sleep to be exec'd", || {
        let exe = fs::read_link(format!("/proc/{pid}/exe")).ok()?;
        exe.to_str().unwrap().ends_with("/sleep").then_some(())
    });
}

#[test]
fn sigterm_stops_every_service_and_exits_0() {
    let mut going = Going::start(&[("a", "cmd=/bin/sleep 1000\n"), ("b", "cmd=/bin/sleep 1000\n")]);
    let (a, b) = (going.service_pid("a", 1), going.service_pid("b", 1));
    assert_eq!(going.stop().code(), Some(0));
    assert!(is_reaped(a) && is_reaped(b));
    assert!(going.log().contains("going: a: stopped (killed by signal TERM)"));
}

#[test]
fn sigint_stops_like_sigterm() {
    let mut going = Going::start(&[("a", "cmd=/bin/sleep 1000\n")]);
    let a = going.service_pid("a", 1);
    going.signal(Signal::INT);
    assert_eq!(going.wait_exit().code(), Some(0));
    assert!(is_reaped(a));
    assert!(going.log().contains("going: received SIGINT; stopping all services"));
}

#[test]
fn stop_reaches_the_whole_process_group() {
    let mut going = Going::start(&[]);
    let pidfile = going.work.join("grandchild");
    let cmd = format!("cmd=/bin/sh -c 'sleep 1000 & echo $! > {}; wait'\n", pidfile.display());
    write_service(going.services.path(), "family", &cmd);
    going.reload();
    let grandchild: i32 = wait_file(&pidfile).trim().parse().unwrap();
    assert!(is_alive(grandchild));
    assert_eq!(going.stop().code(), Some(0));
    wait_for("the grandchild to be gone", || (!is_alive(grandchild)).then_some(()));
}

#[test]
fn service_ignoring_sigterm_is_killed_after_5_seconds() {
    let mut going = Going::start(&[("stubborn", "cmd=/bin/sh -c 'trap \"\" TERM; sleep 1000 & wait'\n")]);
    let pid = going.service_pid("stubborn", 1);
    // The TERM bit itself: right after fork the child still carries whatever going ignores.
    let term_ignored = || u64::from_str_radix(&status_field(pid, "SigIgn"), 16).unwrap() & 1 << (15 - 1) != 0;
    wait_for("the trap to be set", || term_ignored().then_some(()));
    let asked = Instant::now();
    going.signal(Signal::TERM);
    assert_eq!(going.wait_exit().code(), Some(0));
    assert!(asked.elapsed() >= Duration::from_millis(4900), "{:?}", asked.elapsed());
    assert!(is_reaped(pid));
    let log = going.log();
    assert!(log.contains("going: stubborn: still running 5.0s after SIGTERM; sending SIGKILL"), "{log}");
    assert!(log.contains("going: stubborn: stopped (killed by signal KILL)"), "{log}");
}

#[test]
fn stopped_service_is_continued_so_that_it_gets_the_term() {
    let mut going = Going::start(&[("paused", "cmd=/bin/sleep 1000\n")]);
    let pid = going.service_pid("paused", 1);
    signal_pid(pid, Signal::STOP);
    wait_for("the service to stop", || status_field(pid, "State").starts_with('T').then_some(()));
    let asked = Instant::now();
    assert_eq!(going.stop().code(), Some(0));
    assert!(asked.elapsed() < Duration::from_secs(4), "needed SIGKILL: {:?}", asked.elapsed());
    assert!(going.log().contains("going: paused: stopped (killed by signal TERM)"));
}
