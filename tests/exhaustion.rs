//! Resource exhaustion: fork failing, descriptors running out, and no growth
//! of descriptors or memory over many reloads and restarts.
mod common;

use common::*;
use std::fs;
use std::process::Command;

/// going as user `uid` (root is exempt from RLIMIT_NPROC), under `prlimit` options.
/// Each test has its own uid: RLIMIT_NPROC counts every process of the user.
fn start_as(uid: u32, limits: &[&str], services: &[(&str, &str)]) -> Going {
    let (reuid, regid) = (format!("--reuid={uid}"), format!("--regid={uid}"));
    let launcher: Vec<&str> = ["prlimit"].into_iter().chain(limits.iter().copied()).collect();
    let launcher = [&launcher[..], &["setpriv", &reuid, &regid, "--clear-groups"]].concat();
    Launch::new(&launcher, service_dir(services), TempDir::new("work")).owned_by(uid).start()
}

/// A process that takes a place of the user's, killed when the test ends however it ends: a
/// blocker left over would take that place from the next run.
struct Blocker(std::process::Child);

impl Drop for Blocker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn fork_failing_under_rlimit_nproc_is_retried_and_recovers_when_lifted() {
    const UID: u32 = 47101;
    // A process of the same user takes one of the 4 places: going and two services fit, a third does
    // not.
    let mut blocker = Command::new("setpriv");
    blocker.args([&format!("--reuid={UID}"), &format!("--regid={UID}"), "--clear-groups", "sleep", "1000"]);
    let mut blocker = Blocker(blocker.spawn().unwrap());
    let services = [("s1", "cmd=/bin/sleep 1000\n"), ("s2", "cmd=/bin/sleep 1000\n"), ("s3", "cmd=/bin/sleep 1000\n")];
    let going = start_as(UID, &["--nproc=4:4"], &services);
    going.wait_log("cannot start: Resource temporarily unavailable (retrying in 1.0s)");
    assert!(is_alive(going.pid()), "going keeps running");
    // Lifting the pressure: the blocker goes, and going's retry a second later succeeds.
    blocker.0.kill().unwrap();
    blocker.0.wait().unwrap();
    for (name, _) in services {
        going.service_pid(name, 1);
    }
}

#[test]
fn running_out_of_descriptors_fails_a_start_and_says_why() {
    let logs = TempDir::new("logs");
    const UID: u32 = 47102;
    std::os::unix::fs::chown(logs.path(), Some(UID), Some(UID)).unwrap();
    let texts: Vec<(String, String)> = (1..=12)
        .map(|i| (format!("l{i:02}"), format!("cmd=/bin/sleep 1000\nlog={}/l{i}.log\n", logs.path().display())))
        .collect();
    let services: Vec<(&str, &str)> = texts.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
    // Each logged service holds a pipe (two descriptors): 20 run out part way.
    let going = start_as(UID, &["--nofile=20:20"], &services);
    going.wait_log("cannot start: Too many open files (retrying in 1.0s)");
    assert!(is_alive(going.service_pid("l01", 1)), "the services that started keep running");
    assert!(is_alive(going.pid()));
}

fn descriptors(pid: i32) -> usize {
    fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count()
}

fn rss_kb(pid: i32) -> u64 {
    status_field(pid, "VmRSS").trim_end_matches(" kB").trim().parse().unwrap()
}

#[test]
fn no_descriptor_or_memory_growth_over_many_reloads_and_restarts() {
    let going = Going::start(&[("steady", "cmd=/bin/sleep 1000\n")]);
    let log = going.work.join("web.log");
    let text = |n: u32| format!("cmd=/bin/sh -c 'echo run {n}; exec sleep 1000'\nlog={}\n", log.display());
    let mut starts = 0;
    let mut cycle = |going: &Going, round: u32| {
        write_service(going.services.path(), "web", &text(round % 2));
        going.reload();
        starts += 1;
        going.service_pid("web", starts);
        // A restart through goingctl too.
        going.goingctl(&["restart", "web"]);
        starts += 1;
        // Exec'd: the start's pipe is at its end, and going closes it on its next turn.
        wait_exec(going.service_pid("web", starts), "sleep");
    };
    for round in 0..20 {
        cycle(&going, round);
    }
    let (fds_before, rss_before) = (descriptors(going.pid()), rss_kb(going.pid()));
    for round in 20..300 {
        cycle(&going, round);
    }
    // A start's pipe may still be open for a moment: a leak of 280 cycles never comes back down.
    let fds_after = wait_for(&format!("descriptors back to {fds_before} (a leak if never)"), || {
        let count = descriptors(going.pid());
        (count <= fds_before).then_some(count)
    });
    let rss_after = rss_kb(going.pid());
    assert!(fds_after <= fds_before);
    assert!(rss_after <= rss_before + 16, "RSS grew from {rss_before} to {rss_after} kB over 560 restarts");
}
