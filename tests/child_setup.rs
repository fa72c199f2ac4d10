//! What a service sees from inside: descriptors, signals, environment,
//! session, working directory, argv; and what going does with orphans.
mod common;

use common::*;
use std::fs;

/// Starts going from a shell that first ignores SIGUSR1 and leaves descriptor 7
/// open without close-on-exec, with extra variables in its environment: none of
/// it may reach a service.
fn start_leaky(services: &[(&str, &str)]) -> Going {
    // A descriptor opened by the shell's exec is inheritable.
    let launcher = ["sh", "-c", "trap '' USR1; exec 7</etc/hostname; exec \"$0\" \"$@\""];
    let mut launch = Launch::new(&launcher, service_dir(services), TempDir::new("work"));
    launch.command.env("SECRET", "leaked");
    launch.start()
}

#[test]
fn service_gets_only_dev_null_on_0_1_2_and_no_other_descriptor() {
    let going = start_leaky(&[("sleeper", "cmd=/bin/sleep 1000\n")]);
    let pid = going.service_pid("sleeper", 1);
    wait_exec(pid, "sleep");
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).unwrap();
    let mut seen: Vec<(String, String)> = fds
        .map(|entry| {
            let entry = entry.unwrap();
            let target = fs::read_link(entry.path()).unwrap();
            (entry.file_name().into_string().unwrap(), target.display().to_string())
        })
        .collect();
    seen.sort();
    let null = |fd: &str| (fd.to_owned(), "/dev/null".to_owned());
    assert_eq!(seen, [null("0"), null("1"), null("2")]);
}

/// Each descriptor of process `pid` and what it points to, sorted by number.
fn descriptors_of(pid: i32) -> Vec<(u32, String)> {
    let mut seen: Vec<(u32, String)> = fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let target = fs::read_link(entry.path()).ok()?;
            Some((entry.file_name().into_string().ok()?.parse().ok()?, target.display().to_string()))
        })
        .collect();
    seen.sort();
    seen
}

/// A child starts on going's descriptor table and keeps only what lies below two low
/// slots (where its log and readiness pipes are put while it starts): with going
/// holding many descriptors, it still gets exactly its own, and going's stay as they were.
#[test]
fn with_many_descriptors_in_going_a_service_gets_only_its_log_and_readiness_pipes() {
    let logs = TempDir::new("logs");
    let texts: Vec<(String, String)> = (0..40)
        .map(|i| (format!("l{i:02}"), format!("cmd=/bin/sleep 1000\nlog={}/l{i}.log\n", logs.path().display())))
        .chain([(
            "ready".to_string(),
            format!("cmd=/bin/sleep 1001\nlog={}/ready.log\nready=fd:5\n", logs.path().display()),
        )])
        .collect();
    let services: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    let going = Going::start(&services);
    let own_before: Vec<(u32, String)> = descriptors_of(going.pid()).into_iter().filter(|(fd, _)| *fd < 3).collect();
    for (name, _) in &services[..40] {
        going.service_pid(name, 1);
    }
    let pid = going.service_pid("ready", 1);
    wait_exec(pid, "sleep");
    let seen = descriptors_of(pid);
    let numbers: Vec<u32> = seen.iter().map(|(fd, _)| *fd).collect();
    assert_eq!(numbers, [0, 1, 2, 5], "{seen:?}");
    assert_eq!(seen[0].1, "/dev/null");
    assert!(seen[1].1.starts_with("pipe:") && seen[1].1 == seen[2].1, "stdout and stderr are the log pipe: {seen:?}");
    assert!(seen[3].1.starts_with("pipe:") && seen[3].1 != seen[1].1, "5 is the readiness pipe: {seen:?}");
    assert!(descriptors_of(going.pid()).len() > 80, "going holds a pipe end and a pidfd per service");
    let own_after: Vec<(u32, String)> = descriptors_of(going.pid()).into_iter().filter(|(fd, _)| *fd < 3).collect();
    assert_eq!(own_before, own_after, "going's own stdin, stdout and stderr are untouched");
}

#[test]
fn service_starts_with_no_blocked_or_ignored_signals() {
    let going = start_leaky(&[("sleeper", "cmd=/bin/sleep 1000\n")]);
    let pid = going.service_pid("sleeper", 1);
    wait_exec(pid, "sleep");
    let ignored_by_going = u64::from_str_radix(&status_field(going.pid(), "SigIgn"), 16).unwrap();
    assert_ne!(ignored_by_going & 1 << (10 - 1), 0, "the test's premise: going ignores USR1");
    assert_eq!(status_field(pid, "SigBlk"), "0000000000000000");
    assert_eq!(status_field(pid, "SigIgn"), "0000000000000000");
}

#[test]
fn service_gets_a_fresh_environment_with_only_path() {
    let going = start_leaky(&[("sleeper", "cmd=/bin/sleep 1000\n")]);
    let pid = going.service_pid("sleeper", 1);
    let environ = wait_for("sleep to be exec'd", || {
        fs::read_link(format!("/proc/{pid}/exe")).ok()?.ends_with("sleep").then_some(())?;
        // The exe link changes before exec has set up the new environment.
        fs::read(format!("/proc/{pid}/environ")).ok().filter(|environ| !environ.is_empty())
    });
    assert_eq!(environ, b"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\0");
}

#[test]
fn service_leads_its_own_session_in_its_working_directory() {
    let going = Going::start(&[("sleeper", "cmd=/bin/sleep 1000\ncwd=/tmp\n")]);
    let pid = going.service_pid("sleeper", 1);
    wait_exec(pid, "sleep");
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap().split_whitespace().collect();
    // Fields after the name: state, ppid, pgrp, session.
    assert_eq!(fields[1], going.pid().to_string());
    assert_eq!(fields[2], pid.to_string(), "process group");
    assert_eq!(fields[3], pid.to_string(), "session");
    assert_eq!(fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), std::path::Path::new("/tmp"));
}

#[test]
fn quoted_cmd_words_reach_the_program_as_written() {
    let going = Going::start(&[]);
    let out = going.work.join("argv");
    let cmd = format!(
        r#"cmd=/bin/sh -c 'printf "[%s]" "$@" > {}; echo >> {}' sh 'a b' "c\"d\$HOME" e\ f ';|&>' "#,
        out.display(),
        out.display()
    );
    write_service(going.services.path(), "words", &cmd);
    going.reload();
    assert_eq!(wait_file(&out), "[a b][c\"d$HOME][e f][;|&>]\n");
}

#[test]
fn orphaned_grandchild_is_adopted_and_reaped() {
    let going = Going::start(&[]);
    let pidfile = going.work.join("orphan");
    let cmd = format!("cmd=/bin/sh -c 'sh -c \"sleep 1000 & echo \\$! > {}\"; exec sleep 1000'\n", pidfile.display());
    write_service(going.services.path(), "parent", &cmd);
    going.reload();
    let orphan: i32 = wait_file(&pidfile).trim().parse().unwrap();
    wait_for("the orphan to be adopted by going", || (parent_of(orphan) == going.pid()).then_some(()));
    signal_pid(orphan, rustix::process::Signal::KILL);
    wait_for("the orphan to be reaped, not left a zombie", || is_reaped(orphan).then_some(()));
    assert!(is_alive(going.service_pid("parent", 1)));
}

/// going started with thousands of descriptors open (a parent may leave them; going keeps
/// them, close-on-exec, below its slots): each start's child takes a table of those and the
/// slots alone. The services run with only their own descriptors, get their readiness pipe,
/// and a failed start still says why.
#[test]
fn with_thousands_of_descriptors_inherited_services_start_as_they_do_without_them() {
    let script = "import os, resource, sys\n\
                  resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))\n\
                  null = os.open('/dev/null', os.O_RDONLY)\n\
                  for n in range(null + 1, 4200): os.dup2(null, n, inheritable=True)\n\
                  os.execv(sys.argv[1], sys.argv[1:])";
    let services = [
        ("sleeper", "cmd=/bin/sleep 1000\n"),
        ("ready", "cmd=/bin/sh -c 'echo READY=1 >&5; exec sleep 1000'\nready=fd:5\n"),
        ("missing", "cmd=/nonexistent/program\nrestart=never\n"),
    ];
    let going = Launch::new(&["python3", "-c", script], service_dir(&services), TempDir::new("work")).start();
    let held = fs::read_dir(format!("/proc/{}/fd", going.pid())).unwrap().count();
    assert!(held > 4000, "going holds {held} descriptors");
    let pid = going.service_pid("sleeper", 1);
    wait_exec(pid, "sleep");
    assert_eq!(descriptors_of(pid).iter().map(|(fd, _)| *fd).collect::<Vec<_>>(), [0, 1, 2]);
    going.wait_log("ready: ready (fd) after ");
    going.wait_log("missing: cannot execute /nonexistent/program: No such file or directory");
}
