//! Changes to the service directory apply by themselves through inotify: no
//! SIGHUP is sent in these tests. A `steady` service checks that unchanged
//! services keep their pid through everything.
mod common;

use common::*;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

const STEADY: (&str, &str) = ("steady", "cmd=/bin/sleep 999\n");

fn cmdline(pid: i32) -> String {
    fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default().replace('\0', " ")
}

fn assert_steady(going: &Going, pid: i32) {
    assert!(is_alive(pid));
    assert_eq!(going.count_log("going: steady: started"), 1, "{}", going.log());
}

#[test]
fn new_file_starts_and_deleted_file_stops_without_sighup() {
    let going = Going::start(&[STEADY]);
    let steady = going.service_pid("steady", 1);
    write_service(going.services.path(), "web", "cmd=/bin/sleep 1000\n");
    let web = going.service_pid("web", 1);
    fs::remove_file(going.services.join("web")).unwrap();
    going.wait_log("going: web: stopped (killed by signal TERM)");
    assert!(is_reaped(web));
    assert_steady(&going, steady);
}

#[test]
fn edit_in_place_restarts_with_the_new_command() {
    let going = Going::start(&[STEADY, ("web", "cmd=/bin/sleep 1000\n")]);
    let steady = going.service_pid("steady", 1);
    going.service_pid("web", 1);
    fs::write(going.services.join("web"), "cmd=/bin/sleep 2000\n").unwrap();
    let web = going.service_pid("web", 2);
    wait_for("the new command", || (cmdline(web) == "/bin/sleep 2000 ").then_some(()));
    assert_steady(&going, steady);
}

#[test]
fn atomic_rename_over_an_existing_file_restarts_once() {
    let going = Going::start(&[STEADY, ("web", "cmd=/bin/sleep 1000\n")]);
    let steady = going.service_pid("steady", 1);
    going.service_pid("web", 1);
    write_service(going.services.path(), ".web.tmp", "cmd=/bin/sleep 3000\n");
    fs::rename(going.services.join(".web.tmp"), going.services.join("web")).unwrap();
    let web = going.service_pid("web", 2);
    wait_for("the new command", || (cmdline(web) == "/bin/sleep 3000 ").then_some(()));
    write_service(going.services.path(), "marker", "cmd=/bin/sleep 1\n");
    going.service_pid("marker", 1);
    assert_eq!(going.count_log("going: web: started"), 2);
    assert_steady(&going, steady);
}

#[test]
fn file_being_written_is_not_read_until_it_is_closed() {
    let going = Going::start(&[STEADY]);
    let steady = going.service_pid("steady", 1);
    let mut file = fs::File::create(going.services.join("slow")).unwrap();
    file.write_all(b"# written in two parts\n").unwrap();
    // Another file's change makes going rescan while `slow` is still open.
    write_service(going.services.path(), "other", "cmd=/bin/sleep 1000\n");
    going.service_pid("other", 1);
    file.write_all(b"cmd=/bin/sleep 1000\n").unwrap();
    drop(file);
    going.service_pid("slow", 1);
    assert!(!going.log().contains("slow: missing"), "{}", going.log());
    assert_steady(&going, steady);
}

#[test]
fn file_created_empty_then_filled_starts_once_filled() {
    let going = Going::start(&[STEADY]);
    let steady = going.service_pid("steady", 1);
    write_service(going.services.path(), "late", "");
    going.wait_log("going: late: missing \"cmd\"");
    fs::write(going.services.join("late"), "cmd=/bin/sleep 1000\n").unwrap();
    going.service_pid("late", 1);
    assert_steady(&going, steady);
}

#[test]
fn dotfiles_and_backup_files_start_nothing() {
    let going = Going::start(&[STEADY]);
    let steady = going.service_pid("steady", 1);
    write_service(going.services.path(), ".hidden", "cmd=/bin/sleep 1000\n");
    write_service(going.services.path(), "web~", "cmd=/bin/sleep 1000\n");
    // Rescans happen in order: once this one has started, the others were seen.
    write_service(going.services.path(), "marker", "cmd=/bin/sleep 1000\n");
    going.service_pid("marker", 1);
    assert_eq!(going.count_log("started with pid"), 2, "{}", going.log());
    assert_steady(&going, steady);
}

#[test]
fn permission_change_is_applied_live() {
    let going = Going::start(&[STEADY, ("web", "cmd=/bin/sleep 1000\n")]);
    let steady = going.service_pid("steady", 1);
    let web = going.service_pid("web", 1);
    fs::set_permissions(going.services.join("web"), fs::Permissions::from_mode(0o666)).unwrap();
    going.wait_log("going: web: refused: writable by group or others; chmod go-w it");
    assert!(is_alive(web), "a refused file keeps its running service, like an invalid one");
    assert_steady(&going, steady);
}

#[test]
fn burst_of_200_files_starts_each_service_once() {
    let going = Going::start(&[STEADY]);
    let steady = going.service_pid("steady", 1);
    for i in 0..200 {
        write_service(going.services.path(), &format!("burst{i:03}"), "cmd=/bin/sleep 1000\n");
    }
    for i in 0..200 {
        going.service_pid(&format!("burst{i:03}"), 1);
    }
    // Rewrite them all with the same meaning: nothing restarts.
    for i in 0..200 {
        write_service(going.services.path(), &format!("burst{i:03}"), "# same\ncmd=/bin/sleep 1000\n");
    }
    write_service(going.services.path(), "marker", "cmd=/bin/sleep 1000\n");
    going.service_pid("marker", 1);
    assert_eq!(going.count_log("going: burst"), 200, "{}", going.log());
    let rescans = going.count_log("going: configuration:");
    assert!(rescans < 100, "{rescans} rescans for 401 file changes: bursts are not coalesced");
    assert_steady(&going, steady);
}

#[test]
fn directory_swapped_by_rename_applies_only_the_difference() {
    let going = Going::start(&[STEADY, ("old", "cmd=/bin/sleep 1000\n")]);
    let steady = going.service_pid("steady", 1);
    let old = going.service_pid("old", 1);
    let dir = going.services.path().to_owned();
    let prepared = dir.with_extension("new");
    let retired = dir.with_extension("old");
    fs::create_dir(&prepared).unwrap();
    fs::set_permissions(&prepared, fs::Permissions::from_mode(0o755)).unwrap();
    write_service(&prepared, STEADY.0, STEADY.1);
    write_service(&prepared, "fresh", "cmd=/bin/sleep 1000\n");
    fs::rename(&dir, &retired).unwrap();
    going.wait_log("directory moved or removed; watching for a new one");
    fs::rename(&prepared, &dir).unwrap();
    going.service_pid("fresh", 1);
    going.wait_log("going: old: stopped");
    assert!(is_reaped(old));
    assert_steady(&going, steady);
    // The new directory is watched too.
    write_service(&dir, "later", "cmd=/bin/sleep 1000\n");
    going.service_pid("later", 1);
    let _ = fs::remove_dir_all(&retired);
}

#[test]
fn rm_rf_of_the_directory_stops_every_service() {
    let mut going = Going::start(&[STEADY, ("web", "cmd=/bin/sleep 1000\n")]);
    let steady = going.service_pid("steady", 1);
    let web = going.service_pid("web", 1);
    fs::remove_dir_all(going.services.path()).unwrap();
    going.wait_log("directory deleted; stopping its services");
    wait_for("both services to be reaped", || (is_reaped(steady) && is_reaped(web)).then_some(()));
    assert!(going.log().contains("going: steady: stopped"), "{}", going.log());
    // going itself supervises on and picks up a directory made again at the same path.
    fs::create_dir(going.services.path()).unwrap();
    fs::set_permissions(going.services.path(), fs::Permissions::from_mode(0o755)).unwrap();
    write_service(going.services.path(), "fresh", "cmd=/bin/sleep 1000\n");
    going.service_pid("fresh", 1);
    assert_eq!(going.stop().code(), Some(0));
}
