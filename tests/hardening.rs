//! PID 1 in a PID namespace, shutdown=yes, going's own death, leftover
//! process groups, on the real binary.
mod common;

use common::*;
use rustix::process::Signal;
use std::fs;

/// going as PID 1 of a new PID namespace (`unshare --pid --fork --mount-proc`):
/// the harness's `Going` is unshare, going is its only child.
struct Namespace(Going);

impl Namespace {
    fn start(services: &[(&str, &str)]) -> Namespace {
        let launcher = ["unshare", "--pid", "--fork", "--mount-proc"];
        Namespace(Launch::new(&launcher, service_dir(services), TempDir::new("work")).start())
    }

    fn log(&self) -> String {
        self.0.log()
    }

    fn wait_log(&self, text: &str) {
        self.0.wait_log(text);
    }

    /// going's pid as the host sees it: unshare's only child.
    fn going_pid(&self) -> i32 {
        let pid = self.0.pid();
        wait_for("going inside the namespace", || {
            fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?.split_whitespace().next()?.parse().ok()
        })
    }

    /// going's children as the host sees them, with their states.
    fn children(&self) -> Vec<(i32, char)> {
        let going = self.going_pid();
        let list = fs::read_to_string(format!("/proc/{going}/task/{going}/children")).unwrap_or_default();
        list.split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .filter_map(|pid: i32| {
                let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                Some((pid, stat.rsplit(')').next()?.trim_start().chars().next()?))
            })
            .collect()
    }

    fn wait_exit(&mut self) -> i32 {
        self.0.wait_exit().code().unwrap()
    }
}

impl Drop for Namespace {
    fn drop(&mut self) {
        // SIGTERM to unshare would not reach going: end the namespace with it.
        let _ = self.0.child.kill();
        let _ = self.0.child.wait();
    }
}

#[test]
fn as_pid_1_going_reaps_orphans_and_stops_on_sigterm() {
    let cmd = "cmd=/bin/sh -c 'for i in 1 2 3 4 5; do (sleep 0.05 &); done; exec sleep 1000'\n";
    let mut namespace = Namespace::start(&[("parent", cmd)]);
    assert!(namespace.log().contains("going: parent: started with pid "), "{}", namespace.log());
    // Five orphans are adopted by PID 1 and must be reaped, not left as zombies.
    wait_for("only the service left, no zombie", || {
        let children = namespace.children();
        (children.len() == 1 && children[0].1 == 'S').then_some(())
    });
    signal_pid(namespace.going_pid(), Signal::TERM);
    assert_eq!(namespace.wait_exit(), 0);
    assert!(namespace.log().contains("going: parent: stopped (killed by signal TERM)"));
}

#[test]
fn as_pid_1_sigint_stops_like_ctrl_c() {
    let mut namespace = Namespace::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    namespace.wait_log("going: web: started");
    signal_pid(namespace.going_pid(), Signal::INT);
    assert_eq!(namespace.wait_exit(), 0);
}

#[test]
fn shutdown_service_ending_ends_the_container_with_its_exit_code() {
    let work = TempDir::new("trigger");
    let trigger = work.join("go");
    let main =
        format!("cmd=/bin/sh -c 'while [ ! -e {} ]; do sleep 0.02; done; exit 7'\nshutdown=yes\n", trigger.display());
    let mut namespace = Namespace::start(&[("main", &main), ("side", "cmd=/bin/sleep 1000\n")]);
    namespace.wait_log("going: side: started");
    fs::write(&trigger, "").unwrap();
    assert_eq!(namespace.wait_exit(), 7);
    let log = namespace.log();
    assert!(log.contains("going: main: exited with status 7; shutdown=yes, so going stops everything"), "{log}");
    assert!(log.contains("going: side: stopped (killed by signal TERM)"), "{log}");
}

#[test]
fn shutdown_service_killed_by_a_signal_gives_128_plus_the_signal() {
    let mut namespace = Namespace::start(&[("main", "cmd=/bin/sleep 1000\nshutdown=yes\n")]);
    namespace.wait_log("going: main: started");
    let main = wait_for("the service", || namespace.children().first().map(|c| c.0));
    signal_pid(main, Signal::KILL);
    assert_eq!(namespace.wait_exit(), 128 + 9);
}

#[test]
fn leftovers_of_the_process_group_are_stopped_before_the_respawn() {
    let going = Going::start_without_cgroups(&[]);
    let pidfile = going.work.join("leftover");
    let cmd = format!("cmd=/bin/sh -c 'sleep 1000 & echo $! >> {}; sleep 5.5'\n", pidfile.display());
    write_service(going.services.path(), "parent", &cmd);
    going.reload();
    let leftover: i32 = wait_file(&pidfile).lines().next().unwrap().parse().unwrap();
    going.wait_log("going: parent: exited with status 0");
    going.wait_log("going: parent: stopping what is left of its process group");
    wait_for("the leftover to be gone", || (!is_alive(leftover)).then_some(()));
    going.service_pid("parent", 2);
}

#[test]
fn without_cgroups_a_daemon_escaping_with_setsid_is_not_tracked() {
    let mut going = Going::start_without_cgroups(&[]);
    going.wait_log("services are tracked by process group");
    let pidfile = going.work.join("escaped");
    let cmd = format!("cmd=/bin/sh -c 'setsid sleep 1000 & echo $! > {}; exec sleep 1000'\n", pidfile.display());
    write_service(going.services.path(), "escaper", &cmd);
    going.reload();
    let escaped: i32 = wait_file(&pidfile).trim().parse().unwrap();
    assert_eq!(going.stop().code(), Some(0));
    assert!(is_alive(escaped), "without cgroups a new session is out of reach, as documented");
    signal_pid(escaped, Signal::KILL);
}

#[test]
fn after_going_is_killed_a_restarted_going_never_runs_a_service_twice() {
    let mut first = Going::start(&[]);
    let pidfile = first.work.join("grandchild");
    let cmd = format!("cmd=/bin/sh -c 'sleep 1000 & echo $! > {}; exec sleep 1234567'\n", pidfile.display());
    write_service(first.services.path(), "web", &cmd);
    first.reload();
    let main = first.service_pid("web", 1);
    let grandchild: i32 = wait_file(&pidfile).trim().parse().unwrap();
    wait_exec(main, "sleep");
    first.signal(Signal::KILL);
    first.wait_exit();
    wait_for("the main process to die with going", || (!is_alive(main)).then_some(()));
    assert!(is_alive(grandchild), "the test's premise: the group outlives going");

    // init's respawn: the same directories, a new going.
    let log = first.work.join("second.log");
    let dir = first.services.path().to_str().unwrap().to_owned();
    let second = going_command(&["-d", &dir], &log, first.cgroup()).spawn().unwrap();
    let second = Going::from_parts(second, TempDir::new("unused"), TempDir::new("unused"));
    let read_log = || fs::read_to_string(&log).unwrap_or_default();
    wait_for("the leftover group to be killed", || {
        read_log()
            .contains(&format!("going: web: killed what a previous going left of its process group {main}"))
            .then_some(())
    });
    wait_for("the grandchild to be gone", || (!is_alive(grandchild)).then_some(()));
    wait_for("one new instance", || read_log().contains("going: web: started with pid").then_some(()));
    let copies = || {
        let cmdlines =
            fs::read_dir("/proc").unwrap().filter_map(|entry| fs::read(entry.ok()?.path().join("cmdline")).ok());
        cmdlines.filter(|cmdline| cmdline.ends_with(b"sleep\x001234567\x00")).count()
    };
    // The new instance may still be between fork and exec: wait for it, then there must be one.
    wait_for("the new instance to exec", || (copies() >= 1).then_some(()));
    assert_eq!(copies(), 1);
    drop(second);
}

#[test]
fn goingctl_outside_goings_pid_namespace_still_finds_it_running() {
    // `.going` says pid 1, which from here is another process: root's goingctl asks the lock.
    let namespace = Namespace::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    namespace.wait_log("going: web: started with pid ");
    let (code, table, error) = wait_for("web's status", || {
        let answer = namespace.0.goingctl(&["status"]);
        answer.1.contains("web").then_some(answer)
    });
    assert_eq!(code, 0, "{error}");
    assert!(table.lines().any(|line| line.starts_with("web ")), "{table}");
}
