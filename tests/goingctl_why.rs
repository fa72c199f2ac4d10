//! goingctl says why a service is not running, on the real binaries: a
//! failed exec, a refused file, a failed dependency, fields of a run that
//! ended, failed checks, `wait` in going's first moments, Procfile app
//! names, `--all`, a closed pipe; and going's side of it: ignored names,
//! `going -n`, the counts of a reload, the messages of a run directory.
mod common;

use common::*;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::Instant;

/// The row of `name` in goingctl's table.
fn table_row(going: &Going, name: &str) -> String {
    let (_, table, _) = going.goingctl(&[]);
    table.lines().find(|line| line.starts_with(&format!("{name} "))).unwrap_or_default().to_owned()
}

/// Polls goingctl's table until the row of `name` contains `text`.
fn wait_row(going: &Going, name: &str, text: &str) -> String {
    wait_for(&format!("{name}'s row to show {text:?}"), || {
        let row = table_row(going, name);
        row.contains(text).then_some(row)
    })
}

#[test]
fn a_start_that_cannot_exec_shows_why_until_a_start_runs() {
    let going = Going::start(&[("redis", "cmd=/usr/bin/redis-servr --port 7777\n")]);
    let reason = "cannot execute /usr/bin/redis-servr: No such file or directory";
    wait_for("the failure in the status file", || going.status_key("redis", "error").filter(|e| e == reason));
    let row = wait_row(&going, "redis", reason);
    assert!(row.contains("backoff") || row.contains("starting"), "{row}");
    wait_row(&going, "redis", "restarting in ");
    let (code, detail, _) = going.goingctl(&["status", "redis"]);
    assert_eq!(code, 0);
    assert!(detail.contains(&format!("error: {reason}")), "{detail}");
    let (_, json, _) = going.goingctl(&["status", "--json", "redis"]);
    assert!(json.contains(&format!("\"error\":\"{reason}\"")), "{json}");
    let restart_in = json.split("\"restart_in\":").nth(1).unwrap().split(',').next().unwrap();
    assert!(restart_in == "null" || restart_in.parse::<f64>().unwrap() <= 30.0, "{json}");

    write_service(going.services.path(), "redis", "cmd=/bin/sleep 1000\n");
    going.wait_state("redis", "up");
    wait_for("the error to be gone", || going.status_key("redis", "error").is_none().then_some(()));
    assert!(!table_row(&going, "redis").contains("cannot execute"));
}

#[test]
fn a_refused_file_is_a_row_in_error_and_a_running_service_shows_its_refused_change() {
    let going = Going::start(&[("badkey", "cmd=/bin/sleep 1000\nusr=nobody\n"), ("web", "cmd=/bin/sleep 1000\n")]);
    let web = going.service_pid("web", 1);
    going.wait_state("badkey", "error");
    let row = table_row(&going, "badkey");
    assert!(row.contains(" error ") && row.contains("badkey:2: unknown key \"usr\""), "{row}");
    let (code, detail, _) = going.goingctl(&["status", "badkey"]);
    assert_eq!(code, 0, "a refused file is known to goingctl");
    assert!(detail.contains("unknown key"), "{detail}");
    let (_, json, _) = going.goingctl(&["--json"]);
    assert!(json.contains("\"name\":\"badkey\",\"state\":\"error\""), "{json}");
    let (code, _, error) = going.goingctl(&["wait", "badkey"]);
    assert_eq!(code, 1);
    assert!(error.contains("refused"), "{error}");
    let (code, _, error) = going.goingctl(&["restart", "badkey"]);
    assert_eq!(code, 1);
    assert!(error.contains("badkey: its file was refused, so nothing runs"), "{error}");
    going.wait_log("configuration: 1 added, 0 removed, 0 changed, 1 refused");

    // A running service whose new file is refused runs the old one and says so.
    write_service(going.services.path(), "web", "cmd=/bin/sleep 1001\nrestart=sometimes\n");
    wait_row(&going, "web", "web:2:");
    assert!(is_alive(web));
    assert_eq!(going.status_key("web", "state").unwrap(), "up");
    write_service(going.services.path(), "web", "cmd=/bin/sleep 1000\n");
    wait_for("the refusal to be gone", || going.status_key("web", "error").is_none().then_some(()));
    assert!(is_alive(web), "the file is as it was: nothing restarts");

    // Fixed, the refused file becomes a service; removed, its row goes.
    write_service(going.services.path(), "badkey", "cmd=/bin/sleep 1000\n");
    going.wait_state("badkey", "up");
    fs::remove_file(going.services.join("badkey")).unwrap();
    wait_for("badkey's row to go", || (!going.run_dir().join("badkey").exists()).then_some(()));
    write_service(going.services.path(), "other", "usr=nobody\n");
    going.wait_state("other", "error");
    fs::remove_file(going.services.join("other")).unwrap();
    wait_for("other's row to go", || (!going.run_dir().join("other").exists()).then_some(()));
}

#[test]
fn a_failed_dependency_is_shown_and_wait_fails_at_once_naming_it() {
    let going = Going::start(&[
        ("migrate", "cmd=/bin/sh -c 'exit 3'\nrestart=never\n"),
        ("app", "cmd=/bin/sleep 1000\nafter=migrate\n"),
        ("web", "cmd=/bin/sleep 1000\nafter=app\n"),
        ("late", "cmd=/bin/sleep 1000\nafter=nothere\n"),
        ("crash", "cmd=/bin/sh -c 'exit 1'\nready=fd:3\n"),
        ("patient", "cmd=/bin/sleep 1000\nafter=crash\n"),
        ("broken", "cmd=/bin/sleep 1000\nusr=x\n"),
        ("blocked", "cmd=/bin/sleep 1000\nafter=broken\n"),
    ]);
    going.wait_state("migrate", "failed");
    wait_row(&going, "app", "waiting for migrate (failed)");
    wait_row(&going, "late", "waiting for nothere (no such service)");
    for (name, named) in [("app", "migrate (failed)"), ("web", "app, which waits for migrate (failed)")] {
        let started = Instant::now();
        let (code, _, error) = going.goingctl(&["wait", name]);
        assert_eq!(code, 1, "{error}");
        assert!(error.contains(named), "{error}");
        assert!(started.elapsed() < DEADLINE, "it did not wait for ever");
    }
    let (code, _, error) = going.goingctl(&["wait", "late"]);
    assert_eq!(code, 1);
    assert!(error.contains("nothere (no such service)"), "{error}");
    wait_row(&going, "blocked", "waiting for broken (refused)");
    let (code, _, error) = going.goingctl(&["wait", "blocked"]);
    assert_eq!(code, 1);
    assert!(error.contains("broken (refused)"), "{error}");
    // A dependency in backoff starts again by itself: it is shown, and waited for.
    wait_row(&going, "patient", "waiting for crash (backoff)");
    let (code, _, error) = going.goingctl(&["wait", "-t", "0.5", "patient"]);
    assert_eq!(code, 1);
    assert!(error.contains("timed out"), "{error}");
    // Down is no failure of its own but needs someone to act too.
    write_service(going.services.path(), "migrate", "cmd=/bin/sleep 1000\n");
    going.wait_state("app", "up");
    assert_eq!(going.goingctl(&["down", "migrate"]).0, 0);
    going.wait_state("migrate", "down");
    assert_eq!(going.goingctl(&["restart", "app"]).0, 0);
    wait_row(&going, "app", "waiting for migrate (down)");
    let (code, _, error) = going.goingctl(&["wait", "app"]);
    assert_eq!(code, 1);
    assert!(error.contains("migrate (down)"), "{error}");
}

/// A `ready=notify` service in Python that says `STATUS=` and then sleeps.
const SAYS_STATUS: &str = "cmd=/usr/bin/python3 -c 'import os, socket, time; a = os.environ[\"NOTIFY_SOCKET\"]; \
     s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); \
     s.sendto(b\"READY=1\\nSTATUS=Ready to accept connections\", \"\\0\" + a[1:] if a[0] == \"@\" else a); time.sleep(1000)'\n\
     ready=notify\n";

#[test]
fn what_a_run_said_is_cleared_once_it_is_down() {
    let going = Going::start(&[("redis", SAYS_STATUS)]);
    wait_for("its STATUS=", || going.status_key("redis", "status_text"));
    assert_eq!(going.goingctl(&["down", "redis"]).0, 0);
    going.wait_state("redis", "down");
    assert_eq!(going.status_key("redis", "status_text"), None);
    assert!(!table_row(&going, "redis").contains("Ready to accept"));
}

#[test]
fn a_failed_check_after_healthy_ones_shows_in_health() {
    let work = TempDir::new("check");
    let failing = work.join("failing");
    let text = format!(
        "cmd=/bin/sleep 1000\ncheck=/bin/sh -c 'test ! -e {}'\ncheck_interval=0.2\ncheck_retries=50\n",
        failing.display()
    );
    let going = Going::start(&[("nginx", &text)]);
    going.wait_state("nginx", "up");
    wait_for("healthy", || going.status_key("nginx", "health").filter(|health| health == "healthy"));
    fs::write(&failing, "").unwrap();
    let health = wait_for("a failed check", || {
        going.status_key("nginx", "health").filter(|health| health.contains("checks failed"))
    });
    assert!(health.starts_with("healthy (") && health.ends_with(" of 50 checks failed)"), "{health}");
    wait_row(&going, "nginx", "checks failed)");
    fs::remove_file(&failing).unwrap();
    wait_for("healthy again", || going.status_key("nginx", "health").filter(|health| health == "healthy"));
}

#[test]
fn wait_with_a_timeout_waits_for_going_to_start_and_without_one_does_not() {
    let work = TempDir::new("work");
    let run_dir = work.join("run");
    let run_dir = run_dir.to_str().unwrap();
    let (code, _, error) = {
        let output = Command::new(GOINGCTL).args(["-r", run_dir, "wait", "web"]).output().unwrap();
        (output.status.code(), String::from_utf8(output.stdout).unwrap(), String::from_utf8(output.stderr).unwrap())
    };
    assert_eq!(code, Some(69), "{error}");
    // Started together, as an entrypoint script does.
    let waiter = Command::new(GOINGCTL).args(["-r", run_dir, "wait", "-t", "15", "web"]).spawn().unwrap();
    let going = Launch::new(&[], service_dir(&[("web", "cmd=/bin/sleep 1000\n")]), work).spawn();
    let status = wait_with_deadline(waiter);
    assert_eq!(status.code(), Some(0), "{}", going.log());
    // Still not running when the timeout passes: 69.
    let empty = TempDir::new("nothing");
    let nowhere = empty.join("run");
    let output = Command::new(GOINGCTL).arg("-r").arg(&nowhere).args(["wait", "-t", "0.3", "web"]).output().unwrap();
    assert_eq!(output.status.code(), Some(69));
}

/// Waits for a child with the tests' deadline.
fn wait_with_deadline(mut child: std::process::Child) -> std::process::ExitStatus {
    wait_for("goingctl to exit", || child.try_wait().unwrap())
}

#[test]
fn a_procfile_app_name_acts_on_all_its_processes() {
    let app = TempDir::new("app");
    fs::write(app.join("Procfile"), "web: sleep 1000\nworker: sleep 1001\n").unwrap();
    let going = Going::start(&[("shop", &format!("procfile={}/Procfile\n", app.path().display()))]);
    let (web, worker) = (going.service_pid("shop.web", 1), going.service_pid("shop.worker", 1));
    let (code, _, error) = going.goingctl(&["wait", "shop"]);
    assert_eq!(code, 0, "{error}");
    let (code, table, _) = going.goingctl(&["status", "shop"]);
    assert_eq!(code, 0);
    assert!(table.contains("shop.web ") && table.contains("shop.worker "), "{table}");
    assert_eq!(going.goingctl(&["shop"]).0, 0);
    assert_eq!(going.goingctl(&["restart", "shop"]).0, 0);
    assert_ne!(going.service_pid("shop.web", 2), web);
    assert_ne!(going.service_pid("shop.worker", 2), worker);
    assert_eq!(going.goingctl(&["down", "shop"]).0, 0);
    going.wait_state("shop.web", "down");
    going.wait_state("shop.worker", "down");
    assert_eq!(going.goingctl(&["up", "shop"]).0, 0);
    going.service_pid("shop.web", 3);
    going.service_pid("shop.worker", 3);
    assert_eq!(going.goingctl(&["signal", "HUP", "shop"]).0, 0);
    going.wait_log("shop.worker: sending signal 1 as asked");
    let (code, _, error) = going.goingctl(&["restart", "sho"]);
    assert_eq!(code, 1, "a prefix is no app");
    assert!(error.contains("no service sho"), "{error}");
}

#[test]
fn all_restarts_downs_and_ups_every_service() {
    let going = Going::start(&[
        ("a", "cmd=/bin/sleep 1000\n"),
        ("b", "cmd=/bin/sleep 1000\n"),
        ("broken", "cmd=/bin/sleep 1000\nusr=x\n"),
    ]);
    let (a, b) = (going.service_pid("a", 1), going.service_pid("b", 1));
    going.wait_state("broken", "error");
    let (code, _, error) = going.goingctl(&["restart", "--all"]);
    assert_eq!(code, 0, "a refused file is left out of --all: {error}");
    assert_ne!(going.service_pid("a", 2), a);
    assert_ne!(going.service_pid("b", 2), b);
    assert_eq!(going.goingctl(&["down", "--all"]).0, 0);
    going.wait_state("a", "down");
    going.wait_state("b", "down");
    assert_eq!(going.goingctl(&["up", "--all"]).0, 0);
    going.service_pid("a", 3);
    going.service_pid("b", 3);
    assert_eq!(going.goingctl(&["signal", "USR1", "--all"]).0, 0);
    going.wait_log("a: sending signal 10 as asked");
    going.wait_log("b: sending signal 10 as asked");
}

#[test]
fn a_closed_pipe_ends_goingctl_quietly() {
    let going = Going::start(&[("redis", "cmd=/bin/sleep 1000\n")]);
    going.wait_state("redis", "up");
    for args in [&["status", "redis"][..], &[], &["--json"], &["log", "redis"]] {
        // Its reader is gone before goingctl writes a byte: every write fails with EPIPE.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let output = Command::new(GOINGCTL).arg("-r").arg(going.run_dir()).args(args).stdout(writer).output().unwrap();
        let error = String::from_utf8(output.stderr).unwrap();
        assert!(!error.contains("panicked") && !error.contains("Broken pipe"), "{args:?}: {error}");
        let quiet = output.status.signal() == Some(13) || output.status.code().is_some_and(|code| code < 100);
        assert!(quiet, "{args:?}: {:?}", output.status);
    }
}

#[test]
fn names_a_package_manager_or_editor_leaves_are_ignored_and_told_once() {
    let going = Going::start(&[
        ("web", "cmd=/bin/sleep 1000\n"),
        ("web.dpkg-old", "cmd=/bin/sleep 1001\n"),
        ("web.ucf-dist", "cmd=/bin/sleep 1002\n"),
        ("db.disabled", "cmd=/bin/sleep 1003\n"),
    ]);
    let web = going.service_pid("web", 1);
    going.wait_log("web.dpkg-old: ignored");
    going.wait_log("db.disabled: ignored");
    // Rescans after changes tell it no more (SIGHUP, which tells every error again, would).
    for round in 0..2 {
        let before = going.count_log("going: configuration:");
        write_service(going.services.path(), "other", &format!("cmd=/bin/sleep {}\n", 2000 + round));
        wait_for("the rescan", || (going.count_log("going: configuration:") > before).then_some(()));
    }
    assert_eq!(going.count_log("web.dpkg-old: ignored"), 1, "{}", going.log());
    assert_eq!(going.count_log("web: started with pid"), 1, "{}", going.log());
    // Renaming a service to NAME.disabled switches it off.
    fs::rename(going.services.join("web"), going.services.join("web.disabled")).unwrap();
    wait_for("web to be removed", || is_reaped(web).then_some(()));
    going.wait_log("web.disabled: ignored");
    assert_eq!(going.count_log("web: started with pid"), 1, "{}", going.log());
    let (_, table, _) = going.goingctl(&[]);
    assert!(!table.contains("disabled") && !table.contains("dpkg"), "{table}");
}

#[test]
fn going_n_checks_a_directory_and_starts_nothing() {
    let services = service_dir(&[
        ("web", "cmd=/bin/sleep 1000\n"),
        ("badkey", "cmd=/bin/sleep 1000\nusr=nobody\n"),
        ("a", "cmd=/bin/sleep 1000\nafter=b\n"),
        ("b", "cmd=/bin/sleep 1000\nafter=a\n"),
        ("logs", "cmd=/bin/sleep 1000\nlog=/nonexistent/dir/x.log\n"),
    ]);
    let work = TempDir::new("work");
    let check = |dir: &std::path::Path| {
        let mut command = without_syslog(GOING);
        command.arg("-n").arg("-d").arg(dir).arg("-r").arg(work.join("run"));
        let output = command.stdin(Stdio::null()).output().unwrap();
        (output.status.code(), String::from_utf8(output.stderr).unwrap())
    };
    let (code, error) = check(services.path());
    assert_eq!(code, Some(65), "{error}");
    assert!(error.contains("going: badkey:2: unknown key \"usr\""), "{error}");
    assert!(error.contains("going: a:2: after= makes a cycle: a -> b -> a"), "{error}");
    assert!(error.contains("going: logs:2: log directory /nonexistent/dir does not exist"), "{error}");
    assert!(!error.contains("started with pid"), "{error}");
    for name in ["badkey", "a", "b", "logs"] {
        fs::remove_file(services.join(name)).unwrap();
    }
    let (code, error) = check(services.path());
    assert_eq!(code, Some(0), "{error}");
    assert!(error.contains("1 service, no errors"), "{error}");
    let (code, _) = check(&services.join("missing"));
    assert_eq!(code, Some(65));
    assert!(!work.join("run").exists(), "no run directory is made");
}

#[test]
fn a_reload_counts_what_changed_and_what_was_refused() {
    let going = Going::start(&[("nginx", "cmd=/bin/sleep 1000\n")]);
    going.service_pid("nginx", 1);
    write_service(going.services.path(), "nginx", "cmd=/bin/sleep 1000\ncheck=/bin/true\n");
    going.wait_log("configuration: 0 added, 0 removed, 1 changed, 0 refused");
    write_service(going.services.path(), "nginx", "cmd=/bin/sleep 1000\nchek=/bin/true\n");
    going.wait_log("configuration: 0 added, 0 removed, 0 changed, 1 refused");
}

#[test]
fn a_going_that_is_not_root_is_told_to_use_its_own_run_directory() {
    let services = service_dir(&[("web", "cmd=/bin/sleep 1000\n")]);
    let work = TempDir::new("work");
    for path in [services.path(), &services.join("web"), work.path()] {
        std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
    }
    let log = work.join("going.log");
    // No -r: the default run directory, root's.
    let mut command = without_syslog("setpriv");
    command.args(["--reuid=65534", "--regid=65534", "--clear-groups", GOING, "-d"]).arg(services.path());
    command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(fs::File::create(&log).unwrap());
    let child = command.spawn().unwrap();
    let mut going = Going::from_parts(child, services, work);
    going.wait_log("/run/going: cannot set up the run directory");
    let log = going.log();
    assert!(log.contains("going runs as a user other than root: give it a run directory of its own with -r"), "{log}");
    assert!(!log.contains("chown it"), "{log}");
    going.service_pid("web", 1);
    going.stop();
}

#[test]
fn a_going_in_another_pid_namespace_is_named_as_such() {
    let first = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    first.service_pid("web", 1);
    // From a child PID namespace the first going's pid cannot be seen: the kernel says 0.
    let services = service_dir(&[("db", "cmd=/bin/sleep 1000\n")]);
    // --kill-child: killing unshare ends going, PID 1 of its namespace, which SIGTERM to unshare would not reach.
    let mut second = Launch::new(&["unshare", "--pid", "--fork", "--kill-child"], services, TempDir::new("work"));
    second.command.arg("-r").arg(first.run_dir());
    let mut second = second.start();
    second.wait_log("another going (in another PID namespace) uses it; give each going its own with -r");
    assert!(!second.log().contains("pid 0"), "{}", second.log());
    let _ = second.child.kill();
    let _ = second.child.wait();
}
