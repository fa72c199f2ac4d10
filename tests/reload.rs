//! SIGHUP rescans: added, removed, changed, unchanged, invalid and refused files.
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;

#[test]
fn reload_adds_removes_restarts_changed_and_keeps_unchanged() {
    let going = Going::start(&[
        ("keep", "cmd=/bin/sleep 1001\n"),
        ("drop", "cmd=/bin/sleep 1002\n"),
        ("edit", "cmd=/bin/sleep 1003\n"),
    ]);
    let dir = going.services.path();
    let (keep, drop, edit) = (going.service_pid("keep", 1), going.service_pid("drop", 1), going.service_pid("edit", 1));
    fs::remove_file(dir.join("drop")).unwrap();
    write_service(dir, "edit", "cmd=/bin/sleep 1004\n");
    write_service(dir, "new", "cmd=/bin/sleep 1005\n");
    // A new mtime with the same content is no change.
    write_service(dir, "keep", "cmd=/bin/sleep 1001\n");
    going.reload();
    let edited = going.service_pid("edit", 2);
    going.service_pid("new", 1);
    wait_for("the removed and edited services to stop", || (is_reaped(drop) && is_reaped(edit)).then_some(()));
    assert!(is_alive(keep));
    assert_eq!(going.latest_pid("keep"), keep);
    wait_for("the edited service to run its new command", || {
        (fs::read_to_string(format!("/proc/{edited}/cmdline")).ok()? == "/bin/sleep\x001004\0").then_some(())
    });
    assert!(going.log().contains("going: drop: stopped (killed by signal TERM)"));
    assert_eq!(going.count_log("going: keep: started"), 1);
}

#[test]
fn comment_only_edit_does_not_restart() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    let pid = going.service_pid("web", 1);
    write_service(going.services.path(), "web", "# now with a comment\ncmd=/bin/sleep   1000\n");
    going.reload();
    going.wait_log("going: configuration: 0 added, 0 removed, 0 changed");
    assert!(is_alive(pid));
}

#[test]
fn invalid_file_beside_valid_ones_is_reported_with_its_line_and_skipped() {
    let going = Going::start(&[("good", "cmd=/bin/sleep 1000\n"), ("bad", "cmd=/bin/sleep 1000\n\nusr=root\n")]);
    going.service_pid("good", 1);
    let expected = "going: bad:3: unknown key \"usr\"; known keys are cmd, cwd, env, user, group, chroot, umask, rlimit, log, log_size, log_keep, shutdown, stop_signal, stop_timeout, restart, success_exit, ready, after, check, check_interval, check_timeout, check_retries, listen and procfile (not started; a running instance keeps running)";
    going.wait_log(expected);
    going.wait_log("going: configuration: 1 added, 0 removed, 0 changed");
    assert_eq!(going.count_log("going: bad: started"), 0);
}

#[test]
fn every_config_error_names_file_and_line() {
    let going = Going::start(&[
        ("dup", "cmd=/bin/true\ncmd=/bin/false\n"),
        ("noeq", "cmd=/bin/true\nhello\n"),
        ("empty", "cmd=\n"),
        ("nocmd", "cwd=/tmp\n"),
        ("quote", "cmd=/bin/echo 'unterminated\n"),
    ]);
    going.wait_log("going: dup:2: duplicate key \"cmd\"");
    going.wait_log("going: noeq:2: expected key=value");
    going.wait_log("going: empty:1: empty value for \"cmd\"");
    going.wait_log("going: nocmd: missing \"cmd\"; add a line cmd=/path/to/program");
    going.wait_log("going: quote:1: unterminated single quote in cmd; close it with '");
    going.wait_log("going: configuration: 0 added, 0 removed, 0 changed");
}

#[test]
fn oversized_file_is_refused() {
    let going = Going::start(&[]);
    let mut text = "cmd=/bin/sleep 1000\n".to_owned();
    text.push_str(&"#".repeat(64 * 1024));
    write_service(going.services.path(), "huge", &text);
    going.reload();
    going.wait_log("going: huge: file is larger than 65536 bytes");
}

#[test]
fn running_service_whose_file_turns_invalid_keeps_running() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    let pid = going.service_pid("web", 1);
    write_service(going.services.path(), "web", "cmd=/bin/sleep 1000\nbogus\n");
    going.reload();
    going.wait_log("going: web:2: expected key=value (not started; a running instance keeps running)");
    going.wait_log("going: configuration: 0 added, 0 removed, 0 changed");
    assert!(is_alive(pid));
}

#[test]
fn dotfiles_backups_and_directories_are_not_services() {
    let going = Going::start(&[
        (".hidden", "cmd=/bin/sleep 1000\n"),
        ("web~", "cmd=/bin/sleep 1000\n"),
        (".web.swp", "garbage"),
    ]);
    fs::create_dir(going.services.join("subdir")).unwrap();
    going.reload();
    going.wait_log("going: configuration: 0 added, 0 removed, 0 changed");
    assert!(!going.log().contains("started with pid"), "{}", going.log());
}

#[test]
fn symlink_to_a_regular_file_is_followed() {
    let going = Going::start(&[]);
    let target = going.work.join("real");
    fs::write(&target, "cmd=/bin/sleep 1000\n").unwrap();
    std::os::unix::fs::symlink(&target, going.services.join("linked")).unwrap();
    going.reload();
    going.service_pid("linked", 1);
}

#[test]
fn group_writable_file_is_refused_and_others_still_run() {
    let going = Going::start(&[("good", "cmd=/bin/sleep 1000\n")]);
    let path = going.services.join("open");
    fs::write(&path, "cmd=/bin/sleep 1000\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o664)).unwrap();
    going.reload();
    going.wait_log("going: open: refused: writable by group or others; chmod go-w it");
    assert_eq!(going.count_log("going: open: started"), 0);
    assert!(is_alive(going.service_pid("good", 1)));
}

#[test]
fn file_owned_by_another_user_is_refused() {
    let going = Going::start(&[]);
    write_service(going.services.path(), "foreign", "cmd=/bin/sleep 1000\n");
    std::os::unix::fs::chown(going.services.join("foreign"), Some(4321), None).unwrap();
    going.reload();
    going.wait_log("going: foreign: refused: owned by uid 4321, not by root or going's user; chown it to root");
}

#[test]
fn directory_made_unsafe_later_is_logged_and_services_keep_running() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    let pid = going.service_pid("web", 1);
    fs::set_permissions(going.services.path(), fs::Permissions::from_mode(0o777)).unwrap();
    going.signal(rustix::process::Signal::HUP);
    going.wait_log("refused: writable by group or others; chmod go-w it (services keep running as they are)");
    assert!(is_alive(pid));
    fs::set_permissions(going.services.path(), fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn fifo_named_like_a_service_does_not_block_going() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    let status = std::process::Command::new("mkfifo").arg(going.services.join("pipe")).status().unwrap();
    assert!(status.success());
    going.reload();
    write_service(going.services.path(), "later", "cmd=/bin/sleep 1000\n");
    going.reload();
    going.service_pid("later", 1);
}
