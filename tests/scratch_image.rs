//! The binaries drop into any image: both are static, and going runs as
//! PID 1 of a root that holds nothing but going, goingctl, a static busybox
//! and a service directory (a `FROM scratch` image, tested without Docker:
//! `unshare --pid --fork --root`, goingctl through `nsenter`).
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::process::{Command, Stdio};

/// What file(1) says of a binary.
fn file_says(path: &str) -> String {
    let output = Command::new("file").arg("-L").arg(path).output().expect("file(1): make check installs it");
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn both_binaries_are_statically_linked() {
    for binary in [GOING, GOINGCTL] {
        let said = file_says(binary);
        assert!(said.contains("statically linked"), "{said}");
    }
}

/// goingctl run inside the image of the going with outside pid `going`.
fn goingctl_inside(going: i32, args: &[&str]) -> (i32, String) {
    let output =
        Command::new("nsenter").args(["-t", &going.to_string(), "-p", "-r", "/goingctl"]).args(args).output().unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8(output.stdout).unwrap())
}

#[test]
fn going_runs_as_pid_1_of_a_root_that_holds_nothing_else() {
    let busybox = Path::new("/bin/busybox");
    assert!(file_says("/bin/busybox").contains("statically linked"), "install busybox-static (.ci/run does)");
    let root = TempDir::new("scratch");
    for dir in ["bin", "etc/going.d", "run", "proc", "dev"] {
        fs::create_dir_all(root.join(dir)).unwrap();
    }
    fs::copy(GOING, root.join("going")).unwrap();
    fs::copy(GOINGCTL, root.join("goingctl")).unwrap();
    fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for applet in ["sh", "sleep"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    // Docker gives a scratch image /dev/null; here it is made by hand.
    assert!(Command::new("mknod").arg(root.join("dev/null")).args(["c", "1", "3"]).status().unwrap().success());
    fs::set_permissions(root.join("dev/null"), fs::Permissions::from_mode(0o666)).unwrap();
    for dir in [root.path(), &root.join("etc"), &root.join("etc/going.d")] {
        fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
    }
    write_service(&root.join("etc/going.d"), "web", "cmd=/bin/sh -c 'exec sleep 1000'\n");
    let log = fs::File::create(root.join("going.log")).unwrap();
    let mut image = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc=/proc"])
        .arg(format!("--root={}", root.path().display()))
        .args(["/going", "-d", "/etc/going.d"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    // going's pid outside: the child of unshare.
    let going = wait_for("going in the image", || {
        let children = fs::read_to_string(format!("/proc/{}/task/{}/children", image.id(), image.id())).ok()?;
        children.split_whitespace().next()?.parse::<i32>().ok()
    });
    let read_log = || fs::read_to_string(root.join("going.log")).unwrap_or_default();
    wait_for("web to start", || read_log().contains("going: web: started with pid ").then_some(()));
    let up = |table: &str| table.lines().any(|line| line.starts_with("web ") && line.contains(" up "));
    let first = wait_for("goingctl to show web up", || {
        let (code, table) = goingctl_inside(going, &[]);
        (code == 0 && up(&table)).then_some(table)
    });
    assert!(first.contains("web"), "{first}");
    assert_eq!(goingctl_inside(going, &["restart", "web"]).0, 0);
    wait_for("the restart", || (read_log().matches("going: web: started with pid").count() == 2).then_some(()));
    common::signal_pid(going, rustix::process::Signal::TERM);
    let status = wait_for("the image to end", || image.try_wait().unwrap());
    assert_eq!(status.code(), Some(0), "{}", read_log());
    assert!(read_log().contains("going: all services stopped; exiting"));
}
