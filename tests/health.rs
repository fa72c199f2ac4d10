//! Health checks on the real binary: readiness by a check, a restart after
//! failing checks, a hung check killed at its timeout, the service's context
//! for the check, no check while down, and what status and goingctl show.
mod common;

use common::*;
use std::fs;
use std::net::TcpListener;

/// A TCP port on loopback that nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Lines in a file that a check appends to on each run.
fn runs(path: &std::path::Path) -> usize {
    fs::read_to_string(path).map_or(0, |text| text.lines().count())
}

#[test]
fn a_server_is_starting_until_its_port_answers_the_check_then_up_and_healthy() {
    let port = free_port();
    let server = format!(
        "cmd=/usr/bin/python3 -c 'import socket, time; time.sleep(1); s = socket.socket(); \
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((\"127.0.0.1\", {port})); s.listen(); \
         [s.accept()[0].close() for _ in iter(int, 1)]'\n\
         check=/bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'\ncheck_interval=5\n"
    );
    let going = Going::start(&[("web", &server), ("app", "cmd=/bin/sleep 1000\nafter=web\n")]);
    going.wait_state("web", "starting");
    assert_eq!(going.status_key("web", "health").unwrap(), "checking");
    going.wait_state("web", "up");
    going.wait_log("web: ready (check) after ");
    assert_eq!(going.status_key("web", "health").unwrap(), "healthy");
    assert_eq!(going.status_key("web", "last_check").unwrap(), "exit 0");
    assert!(going.status_key("web", "last_check_mono").unwrap().parse::<u64>().unwrap() > 0);
    // The failed tries before the port opened did not count.
    assert_eq!(going.count_log("unhealthy"), 0);
    going.wait_state("app", "up");
    let (_, json, _) = going.goingctl(&["status", "--json"]);
    assert!(json.contains("\"health\":\"healthy\",\"last_check\":\"exit 0\""), "{json}");
    let (_, table, _) = going.goingctl(&["status"]);
    assert!(table.lines().any(|line| line.starts_with("web ") && line.ends_with("healthy")), "{table}");
}

#[test]
fn a_check_that_starts_failing_restarts_the_service_after_its_retries() {
    let work = TempDir::new("health");
    let broken = work.join("broken");
    let service = format!(
        "cmd=/bin/sh -c 'echo >&3; exec sleep 1000'\nready=fd:3\ncheck=/bin/sh -c 'test ! -e {}'\n\
         check_interval=0.2\ncheck_retries=2\n",
        broken.display()
    );
    let going = Going::start(&[("web", &service)]);
    let first = going.service_pid("web", 1);
    wait_for("a passing check", || (going.status_key("web", "health")? == "healthy").then_some(()));
    fs::write(&broken, "").unwrap();
    going.wait_log("web: unhealthy: check failed 2 times (last: exit 1); restarting");
    let second = going.service_pid("web", 2);
    assert_ne!(first, second);
    wait_for("the restart to count", || (going.status_key("web", "restarts")? == "1").then_some(()));
    // A restart for health is no crash: no backoff.
    assert_eq!(going.count_log("restarting in"), 0);
    fs::remove_file(&broken).unwrap();
    wait_for("healthy again", || (going.status_key("web", "health")? == "healthy").then_some(()));
}

#[test]
fn a_hung_check_is_killed_at_its_timeout_and_counts_as_failed() {
    let service = "cmd=/bin/sh -c 'echo >&3; exec sleep 1000'\nready=fd:3\n\
                   check=/bin/sleep 77077\ncheck_interval=0.5\ncheck_timeout=0.2\ncheck_retries=1\n";
    let going = Going::start(&[("web", service)]);
    going.wait_log("web: unhealthy: check failed 1 times (last: timeout); restarting");
    going.service_pid("web", 2);
    // Each hung check was killed with its process group: none is left behind.
    wait_for("no hung check left", || {
        let hung = fs::read_dir("/proc").unwrap().filter_map(|entry| entry.ok()).any(|entry| {
            fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| cmdline == b"/bin/sleep\x0077077\x00")
        });
        (!hung).then_some(())
    });
}

#[test]
fn the_check_runs_in_the_services_context() {
    let service = "cmd=/bin/sleep 1000\nuser=nobody\ncwd=/tmp\nenv=MARK=checked\n\
                   check=/bin/sh -c 'test \"$(id -u)\" = 65534 && test \"$(pwd)\" = /tmp && test \"$MARK\" = checked'\n";
    let going = Going::start(&[("web", service)]);
    going.wait_state("web", "up");
    assert_eq!(going.status_key("web", "health").unwrap(), "healthy");
}

#[test]
fn the_check_runs_in_the_services_chroot() {
    // The jail holds one static program and a marker the host's root does not have.
    let jail = jail_with("jailed");
    assert!(!std::path::Path::new("/marker").exists());
    fs::write(jail.join("marker"), "").unwrap();
    let text = format!("cmd=/jailed\nchroot={}\ncheck=/jailed check\n", jail.path().display());
    let going = Going::start(&[("web", &text)]);
    going.wait_state("web", "up");
    assert_eq!(going.status_key("web", "health").unwrap(), "healthy");
}

#[test]
fn no_check_runs_while_the_service_is_down() {
    let work = TempDir::new("health");
    let (ticks, counted) = (work.join("ticks"), work.join("counted"));
    let checked = |log: &std::path::Path| {
        format!("cmd=/bin/sleep 1000\ncheck=/bin/sh -c 'echo >> {}'\ncheck_interval=0.1\n", log.display())
    };
    let going = Going::start(&[("web", &checked(&counted)), ("clock", &checked(&ticks))]);
    going.wait_state("web", "up");
    assert_eq!(going.goingctl(&["down", "web"]).0, 0);
    going.wait_state("web", "down");
    let before = runs(&counted);
    // The clock's own checks measure the time: ten of them, a second.
    let until = runs(&ticks) + 10;
    wait_for("ten ticks of the clock", || (runs(&ticks) >= until).then_some(()));
    assert_eq!(runs(&counted), before);
    assert_eq!(going.status_key("web", "health"), None, "no health shown while down");
}
