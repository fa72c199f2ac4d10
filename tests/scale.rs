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

/// The status files written into `dir` (renamed into place), by name, read from a
/// non-blocking inotify watch.
fn status_writes(watch: &rustix::fd::OwnedFd) -> Vec<String> {
    let mut buffer = [MaybeUninit::<u8>::uninit(); 4096];
    let mut reader = inotify::Reader::new(watch, &mut buffer);
    let mut names = Vec::new();
    while let Ok(event) = reader.next() {
        names.extend(event.file_name().map(|name| name.to_string_lossy().into_owned()));
    }
    names
}

#[test]
fn at_start_a_status_file_waits_for_its_exec_however_many_start_so_most_are_written_once() {
    // More than going keeps staged, so that a batch that holds them all cannot explain it.
    let services: Vec<(String, &str)> = (0..60).map(|i| (format!("s{i:02}"), "cmd=/bin/sleep 1000\n")).collect();
    let services: Vec<(&str, &str)> = services.iter().map(|(name, text)| (name.as_str(), *text)).collect();
    let work = TempDir::new("work");
    let run = work.join("run");
    fs::create_dir(&run).unwrap();
    let watch = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC).unwrap();
    inotify::add_watch(&watch, run.to_str().unwrap(), WatchFlags::MOVED_TO).unwrap();
    let going = Launch::new(&[], service_dir(&services), work).start();
    wait_for(".loaded", || run.join(".loaded").exists().then_some(()));
    for (name, _) in &services {
        going.wait_state(name, "up");
    }
    let writes = status_writes(&watch);
    let written = |name: &str| writes.iter().filter(|written| *written == name).count();
    for (name, _) in &services {
        assert!((1..=2).contains(&written(name)), "{name} written {} times", written(name));
    }
    // Before, each was written as `starting` and then as `up`; now only one whose exec is
    // not told within 20 ms of the last start is, and on a busy machine a few are not.
    let once = services.iter().filter(|(name, _)| written(name) == 1).count();
    assert!(once >= services.len() / 4, "only {once} of {} written once: {writes:?}", services.len());
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
