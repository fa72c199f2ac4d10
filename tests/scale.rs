//! What makes each event cost the same with 10 or 10,000 services, checked
//! for its behaviour (the costs themselves are in bench/scale.py): a changed
//! file is read alone, and a mass kill brings every service back. A lost
//! inotify queue is in tests/inotify_overflow.rs.
mod common;

use common::*;
use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
use rustix::process::Signal;
use std::fs;
use std::mem::MaybeUninit;
use std::path::Path;

/// Counts the times anything opens `path`, read from a non-blocking inotify watch.
struct OpenCounter(rustix::fd::OwnedFd);

impl OpenCounter {
    fn new(path: &Path) -> OpenCounter {
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).unwrap();
        inotify::add_watch(&fd, path.to_str().unwrap(), WatchFlags::OPEN).unwrap();
        OpenCounter(fd)
    }

    fn opens(&self) -> usize {
        let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
        let mut reader = inotify::Reader::new(&self.0, &mut buffer);
        let mut count = 0;
        while reader.next().is_ok() {
            count += 1;
        }
        count
    }
}

/// Watches the status files renamed into `run` (a run directory, made if missing).
fn watch_status_writes(run: &Path) -> rustix::fd::OwnedFd {
    let _ = fs::create_dir(run);
    let watch = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).unwrap();
    inotify::add_watch(&watch, run.to_str().unwrap(), WatchFlags::MOVED_TO).unwrap();
    watch
}

/// Checks, once every one of `names` is up, that each status file was written once or
/// twice and most of them once. A start's status waits for its exec up to 20 ms; before,
/// a batch past the 32 that going keeps staged was written as `starting` and again as
/// `up`. On a busy machine a few children are slower than 20 ms.
fn assert_most_written_once(going: &Going, watch: &rustix::fd::OwnedFd, names: &[String]) {
    for name in names {
        going.wait_state(name, "up");
    }
    let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
    let mut reader = inotify::Reader::new(watch, &mut buffer);
    let mut writes = Vec::new();
    while let Ok(event) = reader.next() {
        writes.extend(event.file_name().map(|name| name.to_string_lossy().into_owned()));
    }
    let written = |name: &String| writes.iter().filter(|written| *written == name).count();
    for name in names {
        assert!((1..=2).contains(&written(name)), "{name} written {} times", written(name));
    }
    let once = names.iter().filter(|name| written(name) == 1).count();
    assert!(once >= names.len() / 4, "only {once} of {} written once: {writes:?}", names.len());
}

/// 60 service names: more than the 32 status files going keeps staged.
fn many_names(prefix: &str) -> Vec<String> {
    (0..60).map(|i| format!("{prefix}{i:02}")).collect()
}

#[test]
fn at_start_a_status_file_waits_for_its_exec_however_many_start_so_most_are_written_once() {
    let names = many_names("s");
    let services: Vec<(&str, &str)> = names.iter().map(|name| (name.as_str(), "cmd=/bin/sleep 1000\n")).collect();
    let work = TempDir::new("work");
    let watch = watch_status_writes(&work.join("run"));
    let going = Launch::new(&[], service_dir(&services), work).start();
    let loaded = going.run_dir().join(".loaded");
    wait_for(".loaded", || loaded.exists().then_some(()));
    assert_most_written_once(&going, &watch, &names);
}

#[test]
fn a_rescan_that_starts_many_writes_most_status_files_once() {
    let going = Going::start(&[("steady", "cmd=/bin/sleep 1000\n")]);
    going.wait_state("steady", "up");
    let watch = watch_status_writes(&going.run_dir());
    // Moved in together, well within the rescan's 20 ms delay: one rescan starts them all.
    let names = many_names("new");
    let staging = TempDir::new("staging");
    for name in &names {
        write_service(staging.path(), name, "cmd=/bin/sleep 1000\n");
    }
    for name in &names {
        fs::rename(staging.join(name), going.services.join(name)).unwrap();
    }
    assert_most_written_once(&going, &watch, &names);
}

#[test]
fn a_changed_file_is_read_alone_and_sighup_reads_them_all() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n"), ("other", "cmd=/bin/sleep 1001\n")]);
    let first = going.service_pid("web", 1);
    going.service_pid("other", 1);
    let other = OpenCounter::new(&going.services.join("other"));
    write_service(going.services.path(), "web", "cmd=/bin/sleep 1002\n");
    let second = going.service_pid("web", 2);
    assert_ne!(first, second);
    going.wait_log("configuration: 0 added, 0 removed, 1 changed");
    assert_eq!(other.opens(), 0, "the unchanged file was read again");
    // A new file and a deleted one are read alone too.
    write_service(going.services.path(), "new", "cmd=/bin/sleep 1003\n");
    going.service_pid("new", 1);
    fs::remove_file(going.services.join("new")).unwrap();
    going.wait_log("going: new: stopped");
    assert_eq!(other.opens(), 0);
    going.reload();
    assert!(other.opens() > 0, "SIGHUP reads every file");
}

#[test]
fn a_procfile_app_file_changed_alone_replaces_only_its_processes() {
    let going = Going::start(&[("steady", "cmd=/bin/sleep 1000\n")]);
    let steady = going.service_pid("steady", 1);
    let app = going.work.join("app");
    fs::create_dir(&app).unwrap();
    fs::write(app.join("Procfile"), "web: exec sleep 1004\nworker: exec sleep 1005\n").unwrap();
    write_service(going.services.path(), "shop", &format!("procfile={}/Procfile\n", app.display()));
    going.service_pid("shop.web", 1);
    going.service_pid("shop.worker", 1);
    // A service file whose name looks like a process of the app is no process of it.
    write_service(going.services.path(), "shop.extra", "cmd=/bin/sleep 1006\n");
    let extra = going.service_pid("shop.extra", 1);
    fs::remove_file(going.services.join("shop")).unwrap();
    going.wait_log("going: shop.web: stopped");
    going.wait_log("going: shop.worker: stopped");
    assert!(is_alive(extra) && is_alive(steady), "{}", going.log());
    assert_eq!(going.count_log("going: steady: started"), 1);
}

#[test]
fn every_service_killed_at_once_runs_again() {
    let services: Vec<(String, &str)> = (0..200).map(|i| (format!("s{i:03}"), "cmd=/bin/sleep 1000\n")).collect();
    let services: Vec<(&str, &str)> = services.iter().map(|(name, text)| (name.as_str(), *text)).collect();
    let going = Going::start(&services);
    let pids: Vec<i32> = services.iter().map(|(name, _)| going.service_pid(name, 1)).collect();
    for &pid in &pids {
        wait_exec(pid, "sleep");
    }
    for &pid in &pids {
        signal_pid(pid, Signal::KILL);
    }
    for (name, _) in &services {
        going.service_pid(name, 2);
    }
}
