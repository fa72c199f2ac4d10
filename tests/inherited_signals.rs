//! Signal dispositions a parent leaves behind survive exec: going must work
//! whatever it inherited (a Python parent ignores SIGPIPE, a shell may
//! ignore SIGHUP, a careless one SIGCHLD).
mod common;

use common::*;
use rustix::process::Signal;

/// Runs going from a Python launcher that ignores `ignored` (comma-separated
/// names such as `CHLD,TERM`) and then execs it.
fn start_ignoring(ignored: &str, services: &[(&str, &str)]) -> Going {
    let launcher = "import os, signal, sys\n\
        for name in sys.argv[1].split(','): signal.signal(getattr(signal, 'SIG' + name), signal.SIG_IGN)\n\
        os.execv(sys.argv[2], sys.argv[2:])";
    Launch::new(&["python3", "-c", launcher, ignored], service_dir(services), TempDir::new("work")).start()
}

fn ignored_mask(pid: i32) -> u64 {
    u64::from_str_radix(&status_field(pid, "SigIgn"), 16).unwrap()
}

#[test]
fn with_sigchld_ignored_by_its_parent_going_still_respawns_and_stops() {
    let mut going = start_ignoring("CHLD", &[("web", "cmd=/bin/sleep 1000\n")]);
    let first = going.service_pid("web", 1);
    assert_eq!(ignored_mask(going.pid()) & 1 << (17 - 1), 0, "SIGCHLD is no longer ignored");
    wait_exec(first, "sleep");
    signal_pid(first, Signal::KILL);
    let second = going.service_pid("web", 2);
    assert_ne!(second, first);
    going.wait_log("going: web: killed by signal KILL after");
    assert_eq!(going.stop().code(), Some(0));
    assert!(going.log().contains("going: web: stopped"), "{}", going.log());
}

#[test]
fn with_sigterm_and_sighup_ignored_by_its_parent_going_still_reloads_and_stops() {
    let mut going = start_ignoring("TERM,HUP,INT", &[("web", "cmd=/bin/sleep 1000\n")]);
    going.service_pid("web", 1);
    write_service(going.services.path(), "db", "cmd=/bin/sleep 1000\n");
    going.reload();
    going.service_pid("db", 1);
    assert_eq!(going.stop().code(), Some(0));
}

#[test]
fn a_stdout_reader_that_went_away_does_not_kill_going() {
    // Python's own default: SIGPIPE ignored. going must not rely on either disposition.
    let chatty = "cmd=/bin/sh -c 'while :; do echo hello; sleep 0.01; done'\nlog=-\n";
    let dir = service_dir(&[("chatty", chatty), ("web", "cmd=/bin/sleep 1000\n")]);
    let mut launch = Launch::new(&[], dir, TempDir::new("work"));
    launch.command.stdout(std::process::Stdio::piped());
    let mut going = launch.spawn();
    // The reader goes away: every later write to the pipe fails with EPIPE (or SIGPIPE).
    drop(going.child.stdout.take());
    going.wait_log("cannot write to going's stdout");
    let web = going.service_pid("web", 1);
    wait_exec(web, "sleep");
    signal_pid(web, Signal::KILL);
    going.service_pid("web", 2);
    assert!(is_alive(going.pid()));
}
