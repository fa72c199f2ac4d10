//! going's command line and start-up errors: exit codes from sysexits.
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

fn run(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(GOING).args(args).output().unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (output.status.code().unwrap(), text(output.stdout), text(output.stderr))
}

#[test]
fn version_flag_prints_the_cargo_version_and_exits_0() {
    let (code, stdout, stderr) = run(&["-v"]);
    assert_eq!((code, stdout.as_str(), stderr.as_str()), (0, concat!("going ", env!("CARGO_PKG_VERSION"), "\n"), ""));
}

#[test]
fn help_flag_prints_usage_to_stdout_and_exits_0() {
    let (code, stdout, stderr) = run(&["-h"]);
    assert_eq!(code, 0);
    assert!(stdout.starts_with("usage: going [-d DIR]"), "{stdout}");
    assert!(stderr.is_empty());
}

#[test]
fn unknown_argument_prints_usage_to_stderr_and_exits_64() {
    let (code, stdout, stderr) = run(&["--frobnicate"]);
    assert_eq!(code, 64);
    assert!(stdout.is_empty());
    assert!(stderr.starts_with("going: unknown argument \"--frobnicate\"\nusage: going"), "{stderr}");
}

#[test]
fn dash_d_without_a_directory_exits_64() {
    let (code, _, stderr) = run(&["-d"]);
    assert_eq!(code, 64);
    assert!(stderr.contains("option -d needs a directory"), "{stderr}");
}

#[test]
fn missing_directory_exits_72_with_a_clear_message() {
    let dir = TempDir::new("missing");
    let missing = dir.join("nope");
    let (code, _, stderr) = run(&["-d", missing.to_str().unwrap()]);
    assert_eq!(code, 72);
    assert_eq!(stderr, format!("going: {}: cannot read: No such file or directory\n", missing.display()));
}

#[test]
fn a_file_given_as_directory_exits_72() {
    let dir = TempDir::new("notdir");
    write_service(dir.path(), "file", "cmd=/bin/true\n");
    let (code, _, stderr) = run(&["-d", dir.join("file").to_str().unwrap()]);
    assert_eq!(code, 72);
    assert!(stderr.contains("cannot read: Not a directory"), "{stderr}");
}

#[test]
fn world_writable_directory_is_refused_with_exit_78() {
    let dir = TempDir::new("writable");
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
    let (code, _, stderr) = run(&["-d", dir.path().to_str().unwrap()]);
    assert_eq!(code, 78);
    assert!(stderr.contains("refused: writable by group or others; chmod go-w it"), "{stderr}");
}

#[test]
fn directory_owned_by_another_user_is_refused_with_exit_78() {
    let dir = TempDir::new("owned");
    std::os::unix::fs::chown(dir.path(), Some(4321), None).unwrap();
    let (code, _, stderr) = run(&["-d", dir.path().to_str().unwrap()]);
    assert_eq!(code, 78);
    assert!(stderr.contains("refused: owned by uid 4321, not by root or going's user"), "{stderr}");
}

#[test]
fn empty_directory_runs_and_stops_cleanly_on_sigterm() {
    let mut going = Going::start(&[]);
    going.wait_log("going: configuration: 0 added, 0 removed, 0 changed");
    assert_eq!(going.stop().code(), Some(0));
    assert!(going.log().contains("going: all services stopped; exiting"));
}
