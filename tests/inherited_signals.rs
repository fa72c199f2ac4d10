//! Signal dispositions a parent leaves behind survive exec: going must work
//! whatever it inherited (a Python parent ignores SIGPIPE, a shell may
//! ignore SIGHUP, a careless one SIGCHLD).
mod common;

use common::*;
use rustix::process::Signal;

/// Runs going from a Python launcher that ignores `ignored` (comma-separated
/// names such as `CHLD,TERM`) and then execs it.
fn start_ignoring(ignored: &str, services: &[(&str, &str)]) -> Going {
    let dir = TempDir::new("services");
    for (name, text) in services {
        write_service(dir.path(), name, text);
    }
    let work = TempDir::new("work");
    let launcher = "import os, signal, sys\n\
        for name in sys.argv[1].split(','): signal.signal(getattr(signal, 'SIG' + name), signal.SIG_IGN)\n\
        os.execv(sys.argv[2], sys.argv[2:])";
    let log = work.join("going.log");
    let mut command = without_syslog("python3");
    command.args(["-c", launcher, ignored, GOING, "-r"]).arg(work.join("run"));
    command.arg("-d").arg(dir.path()).stdin(std::process::Stdio::null());
    command.stdout(std::process::Stdio::null()).stderr(std::fs::File::create(&log).unwrap());
    let going = Going::from_parts(command.spawn().unwrap(), dir, work);
    going.wait_log("going: configuration:");
    going
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
    let dir = TempDir::new("services");
    write_service(dir.path(), "chatty", "cmd=/bin/sh -c 'while :; do echo hello; sleep 0.01; done'\nlog=-\n");
    write_service(dir.path(), "web", "cmd=/bin/sleep 1000\n");
    let work = TempDir::new("work");
    let log = work.join("going.log");
    let mut command = going_command(&["-d", dir.path().to_str().unwrap()], &log);
    command.stdout(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    // The reader goes away: every later write to the pipe fails with EPIPE (or SIGPIPE).
    drop(child.stdout.take());
    let going = Going::from_parts(child, dir, work);
    going.wait_log("cannot write to going's stdout");
    let web = going.service_pid("web", 1);
    wait_exec(web, "sleep");
    signal_pid(web, Signal::KILL);
    going.service_pid("web", 2);
    assert!(is_alive(going.pid()));
}
