//! goingctl and the run directory, on the real binaries.
mod common;

use common::*;
use std::fs;
use std::process::Command;

/// A field of one service's object in `goingctl status --json` output.
fn json_field(json: &str, name: &str, field: &str) -> Option<String> {
    let object = json.split("},{").find(|object| object.contains(&format!("\"name\":\"{name}\"")))?;
    let start = object.find(&format!("\"{field}\":"))? + field.len() + 3;
    let value = object[start..].split([',', '}', ']']).next()?;
    Some(value.trim_matches('"').to_owned())
}

/// Polls `goingctl status --json` until `field` of `name` satisfies `check`.
fn wait_status(going: &Going, name: &str, field: &str, check: impl Fn(&str) -> bool) -> String {
    wait_for(&format!("{name}.{field} to change"), || {
        let (_, json, _) = going.goingctl(&["status", "--json"]);
        json_field(&json, name, field).filter(|value| check(value))
    })
}

#[test]
fn status_shows_up_backoff_and_down_with_pids_and_restarts() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n"), ("crash", "cmd=/bin/sh -c 'exit 3'\n")]);
    let web = going.service_pid("web", 1);
    wait_status(&going, "crash", "state", |state| state == "backoff");
    going.wait_state("web", "up");
    let (code, json, _) = going.goingctl(&["status", "--json"]);
    assert_eq!(code, 0);
    assert_eq!(json_field(&json, "web", "state").unwrap(), "up");
    assert_eq!(json_field(&json, "web", "pid").unwrap(), web.to_string());
    assert_eq!(json_field(&json, "web", "processes").unwrap(), "1");
    assert_eq!(json_field(&json, "crash", "pid").unwrap(), "null");
    assert_eq!(json_field(&json, "crash", "last_exit").unwrap(), "exit 3");
    wait_status(&going, "crash", "restarts", |restarts| restarts.parse::<u32>().unwrap() >= 1);
    assert!(
        going.status_key("crash", "next_start_mono").is_some()
            || matches!(going.status_key("crash", "state").unwrap().as_str(), "starting" | "up")
    );

    let (code, table, _) = going.goingctl(&[]);
    assert_eq!(code, 0);
    let line = table.lines().find(|line| line.starts_with("web ")).unwrap();
    assert!(line.contains(&web.to_string()) && line.contains(" up "), "{table}");
    assert!(!table.contains('\x1b'), "no colours when stdout is not a terminal");

    assert_eq!(going.goingctl(&["down", "web"]).0, 0);
    wait_status(&going, "web", "state", |state| state == "down");
    assert!(is_reaped(web));
    assert_eq!(going.status_key("web", "pid"), None);
}

#[test]
fn uptime_grows() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    going.service_pid("web", 1);
    wait_status(&going, "web", "uptime_seconds", |seconds| seconds.parse::<u64>().unwrap() >= 1);
    let (_, table, _) = going.goingctl(&["web"]);
    assert!(table.lines().nth(1).unwrap().contains('s'), "{table}");
}

#[test]
fn restart_gives_a_new_pid_at_once_without_backoff() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    let first = going.service_pid("web", 1);
    assert_eq!(going.goingctl(&["restart", "web"]).0, 0);
    let second = going.service_pid("web", 2);
    assert_ne!(first, second);
    assert!(is_reaped(first));
    wait_status(&going, "web", "restarts", |restarts| restarts == "1");
    assert_eq!(going.status_key("web", "last_exit").unwrap(), "signal TERM");
    assert!(!going.log().contains("restarting in"), "{}", going.log());
    going.wait_log("going: web: restart as asked");
}

#[test]
fn down_then_up_stops_and_starts_again() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    let first = going.service_pid("web", 1);
    going.goingctl(&["down", "web"]);
    wait_status(&going, "web", "state", |state| state == "down");
    assert!(is_reaped(first));
    assert_eq!(going.goingctl(&["up", "web"]).0, 0);
    let second = going.service_pid("web", 2);
    assert!(is_alive(second));
    wait_status(&going, "web", "state", |state| state == "up");
}

#[test]
fn signal_reaches_the_whole_process_group() {
    let going = Going::start(&[]);
    let pidfile = going.work.join("grandchild");
    let cmd = format!("cmd=/bin/sh -c 'sleep 1000 & echo $! > {}; wait'\n", pidfile.display());
    write_service(going.services.path(), "family", &cmd);
    going.reload();
    let grandchild: i32 = wait_file(&pidfile).trim().parse().unwrap();
    wait_status(&going, "family", "processes", |count| count == "2");
    assert_eq!(going.goingctl(&["signal", "USR1", "family"]).0, 0);
    wait_for("the grandchild to get USR1", || (!is_alive(grandchild)).then_some(()));
    going.wait_log("going: family: killed by signal USR1");
    assert_eq!(going.goingctl(&["signal", "NOSUCH", "family"]).0, 64);
}

#[test]
fn status_file_disappears_with_its_service() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    going.service_pid("web", 1);
    going.wait_state("web", "up");
    fs::remove_file(going.services.join("web")).unwrap();
    wait_for("the status file to go", || (!going.run_dir().join("web").exists()).then_some(()));
}

#[test]
fn unknown_names_exit_1_and_the_others_still_act() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    let first = going.service_pid("web", 1);
    let (code, _, stderr) = going.goingctl(&["restart", "nope", "web"]);
    assert_eq!(code, 1);
    assert_eq!(stderr, "goingctl: no service nope\n");
    assert_ne!(going.service_pid("web", 2), first);
    let (code, table, _) = going.goingctl(&["status", "web", "nope"]);
    assert_eq!(code, 1);
    assert!(table.contains("web"));
}

#[test]
fn usage_errors_exit_64() {
    let going = Going::start(&[]);
    assert_eq!(going.goingctl(&["restart"]).0, 64);
    assert_eq!(going.goingctl(&["--frobnicate"]).0, 64);
    let (code, stdout, _) = going.goingctl(&["-h"]);
    assert_eq!((code, stdout.starts_with("usage: goingctl")), (0, true));
}

#[test]
fn going_not_running_exits_69() {
    let mut going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    going.service_pid("web", 1);
    assert_eq!(going.stop().code(), Some(0));
    let (code, _, stderr) = going.goingctl(&["restart", "web"]);
    assert_eq!(code, 69, "{stderr}");
    assert_eq!(going.goingctl(&["status"]).0, 69);
    let missing = Command::new(GOINGCTL).args(["-r", "/nonexistent/run", "status"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(69));
}

#[test]
fn only_the_fifo_owner_may_control_but_anyone_may_read_status() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    going.service_pid("web", 1);
    let as_nobody = |args: &[&str]| {
        let mut command = Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups", GOINGCTL, "-r"]);
        command.arg(going.run_dir()).args(args).output().unwrap().status.code().unwrap()
    };
    assert_eq!(as_nobody(&["restart", "web"]), 77);
    assert_eq!(as_nobody(&["status"]), 0);
    let mode = fs::metadata(going.run_dir().join("control")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
}

#[test]
fn garbage_on_the_fifo_is_logged_and_ignored() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    let first = going.service_pid("web", 1);
    let long = "x".repeat(2000);
    let garbage = format!("hello world\nsignal 99 web\nrestart nope\n{long}\n\0\u{1}\n");
    fs::write(going.run_dir().join("control"), garbage).unwrap();
    going.wait_log("going: control: unknown command \"hello world\"; ignored");
    going.wait_log("going: control: bad signal number \"99\"; ignored");
    going.wait_log("going: control: no service \"nope\"; ignored");
    going.wait_log("going: control: line longer than 512 bytes; ignored");
    fs::write(going.run_dir().join("control"), "restart web\n").unwrap();
    assert_ne!(going.service_pid("web", 2), first);
}

#[test]
fn colours_on_a_terminal_unless_no_color() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    going.service_pid("web", 1);
    going.wait_state("web", "up");
    let on_terminal = |no_color: bool| {
        let command = format!("{GOINGCTL} -r {}", going.run_dir().display());
        let mut script = Command::new("script");
        script.args(["-qec", &command, "/dev/null"]).env_remove("NO_COLOR");
        if no_color {
            script.env("NO_COLOR", "1");
        }
        String::from_utf8(script.output().unwrap().stdout).unwrap()
    };
    assert!(on_terminal(false).contains("\x1b[32mup"), "{:?}", on_terminal(false));
    let plain = on_terminal(true);
    assert!(plain.contains("up") && !plain.contains('\x1b'), "{plain:?}");
}

#[test]
fn deleted_run_directory_is_created_again_with_every_status() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n"), ("db", "cmd=/bin/sleep 1000\n")]);
    let web = going.service_pid("web", 1);
    going.service_pid("db", 1);
    // Up: no status file is being written any more while the directory goes.
    going.wait_state("web", "up");
    going.wait_state("db", "up");
    fs::remove_dir_all(going.run_dir()).unwrap();
    signal_pid(web, rustix::process::Signal::KILL);
    going.wait_log("run directory was gone; created it again");
    wait_for("db's status again", || going.status_key("db", "state"));
    assert_eq!(going.goingctl(&["restart", "db"]).0, 0);
    going.service_pid("db", 2);
    assert_eq!(going.count_log("run directory was gone"), 1);
}

#[test]
fn a_run_directory_that_cannot_be_created_is_reported_once_and_going_supervises_on() {
    // work/ belongs to root: nobody cannot create work/run.
    let dir = service_dir(&[("crash", "cmd=/bin/sh -c 'exit 1'\n")]);
    let launcher = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    let going = Launch::new(&launcher, dir, TempDir::new("work")).owned_by(65534).start();
    going.wait_log("cannot set up the run directory: Permission denied; goingctl will not work");
    // Every start and exit is a state change that would write a status file.
    going.service_pid("crash", 3);
    assert_eq!(going.count_log("run directory"), 1, "{}", going.log());
}

#[test]
fn after_going_is_killed_goingctl_says_it_is_not_running() {
    let mut going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    going.service_pid("web", 1);
    going.wait_state("web", "up");
    going.signal(rustix::process::Signal::KILL);
    going.wait_exit();
    let not_running = format!("goingctl: going is not running ({})\n", going.run_dir().display());
    for args in [&[][..], &["status"], &["status", "--json"], &["web"], &["restart", "web"]] {
        let (code, stdout, stderr) = going.goingctl(args);
        assert_eq!((code, stdout.as_str(), stderr.as_str()), (69, "", not_running.as_str()), "{args:?}");
    }
}

#[test]
fn a_new_going_shows_none_of_a_dead_goings_services() {
    let mut first = Going::start(&[("web", "cmd=/bin/sleep 1000\n"), ("db", "cmd=/bin/sleep 1000\n")]);
    first.service_pid("db", 1);
    wait_for("db's status file", || first.status_key("db", "state"));
    first.signal(rustix::process::Signal::KILL);
    first.wait_exit();
    fs::remove_file(first.services.join("db")).unwrap();
    // init's respawn: the same directories, a new going.
    let log = first.work.join("second.log");
    let dir = first.services.path().to_str().unwrap().to_owned();
    let second = going_command(&["-d", &dir], &log, first.cgroup()).spawn().unwrap();
    let second = Going::from_parts(second, TempDir::new("unused"), TempDir::new("unused"));
    wait_for("web to start again", || {
        fs::read_to_string(&log).unwrap_or_default().contains("going: web: started").then_some(())
    });
    wait_for("web's new status", || first.status_key("web", "state"));
    assert!(!first.run_dir().join("db").exists(), "a stale status file survived");
    let (code, table, _) = first.goingctl(&[]);
    assert_eq!(code, 0);
    assert!(table.contains("web") && !table.contains("db"), "{table}");
    drop(second);
}

#[test]
fn a_255_byte_service_name_has_a_status_file_and_goingctl_shows_it() {
    let name = "n".repeat(255);
    let going = Going::start(&[(&name, "cmd=/bin/sleep 1000\n")]);
    going.service_pid(&name, 1);
    assert_eq!(wait_status(&going, &name, "state", |state| state == "up"), "up");
    let (code, table, _) = going.goingctl(&[&name]);
    assert_eq!(code, 0);
    assert!(table.contains(&name), "{table}");
}

#[test]
fn a_mistyped_command_is_a_usage_error_not_a_lookup() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    going.service_pid("web", 1);
    going.wait_state("web", "up");
    for args in [&["frobnicate"][..], &["restrat", "web"]] {
        let (code, stdout, stderr) = going.goingctl(args);
        assert_eq!(code, 64, "{args:?}: {stderr}");
        assert!(stdout.is_empty() && stderr.contains("unknown command"), "{stderr}");
        assert!(stderr.contains("commands: status, restart, up, down, signal"), "{stderr}");
    }
    // A service's name alone is still a status query.
    let (code, table, _) = going.goingctl(&["web"]);
    assert_eq!((code, table.contains("web")), (0, true));
}

#[test]
fn a_second_going_on_the_same_run_directory_is_refused_it() {
    let first = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    first.service_pid("web", 1);
    let mut launch = Launch::new(&[], service_dir(&[("db", "cmd=/bin/sleep 1000\n")]), TempDir::new("work"));
    launch.command.arg("-r").arg(first.run_dir());
    let second = launch.start();
    second.wait_log(&format!("another going (pid {}) uses it; give each going its own with -r", first.pid()));
    second.service_pid("db", 1);
    // The first going's status files are untouched, and goingctl still talks to it.
    let (code, table, _) = first.goingctl(&[]);
    assert_eq!(code, 0);
    assert!(table.contains("web") && !table.contains("db"), "{table}");
}
