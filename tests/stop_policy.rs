//! How each service stops and whether it runs again: stop_signal,
//! stop_timeout, restart= and success_exit, on the real binary.
mod common;

use common::*;
use rustix::process::Signal;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// A shell loop that ends with status 0 when `signal` arrives and says which
/// one it got in `said`; `said.ready` appears once the trap is set.
fn trapping(signal: &str, said: &Path) -> String {
    let said = said.display();
    let trap = format!("trap \"echo {signal} > {said}; exit 0\" {signal}; : > {said}.ready");
    format!("cmd=/bin/sh -c '{trap}; while :; do sleep 0.05; done'\nstop_signal={signal}\n")
}

/// A shell loop that ignores SIGTERM (`ready` appears once it does), with the given stop_timeout.
fn ignoring(ready: &Path, timeout: &str) -> String {
    let ready = ready.display();
    format!("cmd=/bin/sh -c 'trap \"\" TERM; : > {ready}; while :; do sleep 0.05; done'\nstop_timeout={timeout}\n")
}

fn wait_ready(path: &Path) {
    wait_for(&format!("{} to appear", path.display()), || path.exists().then_some(()));
}

#[test]
fn each_stop_signal_reaches_the_service_and_going_stops_everything_with_its_own() {
    let work = TempDir::new("signals");
    let signals = ["QUIT", "INT", "HUP", "USR1", "USR2", "WINCH"];
    let texts: Vec<(String, String)> =
        signals.iter().map(|signal| (signal.to_lowercase(), trapping(signal, &work.join(signal)))).collect();
    let services: Vec<(&str, &str)> = texts.iter().map(|(name, text)| (name.as_str(), text.as_str())).collect();
    let mut going = Going::start(&services);
    for signal in signals {
        wait_ready(&work.join(&format!("{signal}.ready")));
    }
    assert_eq!(going.stop().code(), Some(0));
    for signal in signals {
        let name = signal.to_lowercase();
        assert!(going.log().contains(&format!("going: {name}: stopped (exited with status 0)")), "{}", going.log());
        assert_eq!(fs::read_to_string(work.join(signal)).unwrap(), format!("{signal}\n"));
    }
    assert!(!going.log().contains("SIGKILL"), "{}", going.log());
}

/// How long after `goingctl down` going logged that it sends SIGKILL to `name`.
fn time_to_sigkill(going: &Going, name: &str, asked: Instant) -> Duration {
    wait_for(&format!("SIGKILL for {name}"), || {
        going.log().contains(&format!("going: {name}: still running")).then(|| asked.elapsed())
    })
}

#[test]
fn stop_timeout_is_honoured_for_a_service_that_ignores_its_signal() {
    let work = TempDir::new("ready");
    let (quick, patient) = (work.join("quick"), work.join("patient"));
    let going = Going::start(&[("quick", &ignoring(&quick, "0.5")), ("patient", &ignoring(&patient, "10"))]);
    wait_ready(&quick);
    wait_ready(&patient);
    // The services' own files can come before going's status files, which goingctl reads.
    going.wait_state("quick", "up");
    going.wait_state("patient", "up");
    let asked = Instant::now();
    assert_eq!(going.goingctl(&["down", "quick", "patient"]).0, 0);
    let quick = time_to_sigkill(&going, "quick", asked);
    let patient = time_to_sigkill(&going, "patient", asked);
    // going counts from its own reading of the request, which comes after `asked`.
    assert!(quick < Duration::from_millis(3_500), "{quick:?}");
    assert!(patient >= Duration::from_secs(10) && patient < Duration::from_secs(13), "{patient:?}");
    going.wait_log("going: quick: still running 0.5s after SIGTERM; sending SIGKILL");
    going.wait_log("going: patient: still running 10s after SIGTERM; sending SIGKILL");
    going.wait_state("quick", "down");
    going.wait_state("patient", "down");
    // The lower bound of the short one, from the log's order: it was killed before the long one.
    let log = going.log();
    assert!(log.find("quick: still running").unwrap() < log.find("patient: still running").unwrap());
}

#[test]
fn on_failure_restarts_after_a_failure_or_a_signal_and_ends_after_success() {
    let going = Going::start(&[]);
    let count = going.work.join("runs");
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; case $n in 1) exit 3;; 2) kill -9 $$;; *) exit 0;; esac",
        c = count.display()
    );
    write_service(going.services.path(), "task", &format!("cmd=/bin/sh -c '{script}'\nrestart=on-failure\n"));
    going.reload();
    going.wait_state("task", "done");
    assert_eq!(fs::read_to_string(&count).unwrap(), "3\n");
    going.wait_log("going: task: exited with status 3 after");
    going.wait_log("going: task: killed by signal KILL after");
    going.wait_log("; done (restart=on-failure)");
    assert_eq!(going.count_log("going: task: started"), 3);
    assert_eq!(going.status_key("task", "restart").as_deref(), Some("on-failure"));
    assert_eq!(going.status_key("task", "last_exit").as_deref(), Some("exit 0"));
}

#[test]
fn never_runs_a_one_shot_once_to_done_or_failed_and_success_exit_counts() {
    let going = Going::start(&[
        ("migrate", "cmd=/bin/sh -c 'exit 0'\nrestart=never\n"),
        ("broken", "cmd=/bin/sh -c 'exit 3'\nrestart=never\n"),
        ("legacy", "cmd=/bin/sh -c 'exit 2'\nrestart=never\nsuccess_exit=2\n"),
    ]);
    going.wait_state("migrate", "done");
    going.wait_state("broken", "failed");
    going.wait_state("legacy", "done");
    assert_eq!(going.status_key("broken", "last_exit").as_deref(), Some("exit 3"));
    assert_eq!(going.status_key("broken", "pid"), None);
    let (code, table, _) = going.goingctl(&[]);
    assert_eq!(code, 0);
    let state_of = |name: &str| {
        table.lines().find(|line| line.starts_with(name)).unwrap().split_whitespace().nth(1).unwrap().to_owned()
    };
    assert_eq!(
        (state_of("migrate"), state_of("broken"), state_of("legacy")),
        ("done".into(), "failed".into(), "done".into())
    );
    let (_, json, _) = going.goingctl(&["status", "--json", "broken"]);
    assert!(json.contains("\"state\":\"failed\"") && json.contains("\"restart\":\"never\""), "{json}");
    assert!(json.contains("\"stop_signal\":\"TERM\"") && json.contains("\"stop_timeout\":5"), "{json}");
    // A reload of unchanged files runs nothing again.
    going.reload();
    assert_eq!(going.count_log("going: migrate: started"), 1);
}

#[test]
fn a_done_task_runs_again_when_its_file_changes_or_a_user_asks() {
    let going = Going::start(&[]);
    let runs = going.work.join("runs");
    let text = |word: &str| format!("cmd=/bin/sh -c 'echo {word} >> {}'\nrestart=never\n", runs.display());
    write_service(going.services.path(), "task", &text("first"));
    going.reload();
    going.wait_state("task", "done");
    // Only the stop policy changes: nothing runs.
    write_service(going.services.path(), "task", &format!("{}stop_timeout=9\n", text("first")));
    going.reload();
    assert_eq!(going.count_log("going: task: started"), 1);
    assert_eq!(going.status_key("task", "stop_timeout").as_deref(), Some("9"));
    write_service(going.services.path(), "task", &text("second"));
    going.reload();
    wait_for("the second run to end", || (going.count_log("; done (restart=never)") == 2).then_some(()));
    going.wait_state("task", "done");
    assert_eq!(going.goingctl(&["restart", "task"]).0, 0);
    // The status file may still say done from before the third run: wait for what it wrote.
    wait_for("the third run", || (fs::read_to_string(&runs).ok()? == "first\nsecond\nsecond\n").then_some(()));
    wait_for("the third exit", || (going.count_log("; done (restart=never)") == 3).then_some(()));
    going.wait_state("task", "done");
}

#[test]
fn shutdown_waits_for_each_service_with_its_own_timeout() {
    let work = TempDir::new("ready");
    let (short, long) = (work.join("short"), work.join("long"));
    let services =
        [("short", ignoring(&short, "0.5")), ("long", ignoring(&long, "2")), ("plain", "cmd=/bin/sleep 1000\n".into())];
    let services: Vec<(&str, &str)> = services.iter().map(|(name, text)| (*name, text.as_str())).collect();
    let mut going = Going::start(&services);
    wait_ready(&short);
    wait_ready(&long);
    wait_exec(going.service_pid("plain", 1), "sleep");
    let asked = Instant::now();
    going.signal(Signal::TERM);
    assert_eq!(going.wait_exit().code(), Some(0));
    assert!(asked.elapsed() >= Duration::from_secs(2), "going waited for the longest timeout");
    let log = going.log();
    let short = log.find("short: still running 0.5s after SIGTERM").expect(&log);
    let long = log.find("long: still running 2.0s after SIGTERM").expect(&log);
    assert!(short < long, "{log}");
    assert!(log.contains("going: plain: stopped (killed by signal TERM)"), "{log}");
}
