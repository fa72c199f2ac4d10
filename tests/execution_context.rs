//! env, user, group, chroot, umask and rlimit, checked from /proc of the
//! running service. Needs root, as CI runs: it creates a throwaway user.
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// Waits until the service's process has exec'd `program` and returns its pid.
fn exec_pid(going: &Going, name: &str, program: &str) -> i32 {
    let pid = going.service_pid(name, 1);
    wait_exec(pid, program);
    pid
}

fn environ(pid: i32) -> Vec<String> {
    let bytes = fs::read(format!("/proc/{pid}/environ")).unwrap();
    String::from_utf8(bytes).unwrap().split_terminator('\0').map(str::to_owned).collect()
}

/// A user and groups that exist for the test only.
struct ThrowawayUser;

const USER: &str = "goingtest";
const EXTRA_GROUP: &str = "goingtestx";

impl ThrowawayUser {
    fn create() -> ThrowawayUser {
        Self::remove();
        let run =
            |args: &[&str]| assert!(Command::new(args[0]).args(&args[1..]).status().unwrap().success(), "{args:?}");
        run(&["groupadd", "-g", "47011", EXTRA_GROUP]);
        run(&["groupadd", "-g", "47012", "goingtestsup"]);
        run(&["useradd", "-u", "47010", "-U", "-G", "goingtestsup", "-d", "/home/goingtest", "-s", "/bin/sh", USER]);
        ThrowawayUser
    }

    fn remove() {
        for args in
            [&["userdel", USER][..], &["groupdel", EXTRA_GROUP], &["groupdel", "goingtestsup"], &["groupdel", USER]]
        {
            let _ = Command::new(args[0]).args(&args[1..]).stderr(std::process::Stdio::null()).status();
        }
    }
}

impl Drop for ThrowawayUser {
    fn drop(&mut self) {
        Self::remove();
    }
}

/// One test for everything that needs the throwaway user, so that parallel tests never race on it.
#[test]
fn user_and_group_keys_set_credentials_and_account_environment() {
    let _user = ThrowawayUser::create();
    let going = Going::start(&[
        ("asuser", "cmd=/bin/sleep 1000\nuser=goingtest\n"),
        ("withgroup", "cmd=/bin/sleep 1000\nuser=goingtest\ngroup=goingtestx\n"),
        ("grouponly", "cmd=/bin/sleep 1000\ngroup=goingtestx\n"),
        ("numeric", "cmd=/bin/sleep 1000\nuser=54321\ngroup=54321\n"),
        ("homeset", "cmd=/bin/sleep 1000\nuser=goingtest\nenv=HOME=/custom\n"),
        ("nouser", "cmd=/bin/sleep 1000\nuser=no-such-user-here\n"),
        ("nogroup", "cmd=/bin/sleep 1000\ngroup=no-such-group-here\n"),
        ("bareuid", "cmd=/bin/sleep 1000\n\nuser=54321\n"),
    ]);
    let asuser = exec_pid(&going, "asuser", "sleep");
    assert_eq!(status_field(asuser, "Uid"), "47010\t47010\t47010\t47010");
    assert_eq!(status_field(asuser, "Gid"), "47010\t47010\t47010\t47010");
    assert_eq!(status_field(asuser, "Groups"), "47010 47012");
    let env = environ(asuser);
    for expected in ["HOME=/home/goingtest", "USER=goingtest", "LOGNAME=goingtest", "SHELL=/bin/sh"] {
        assert!(env.contains(&expected.to_owned()), "{env:?}");
    }

    let withgroup = exec_pid(&going, "withgroup", "sleep");
    assert_eq!(status_field(withgroup, "Uid"), "47010\t47010\t47010\t47010");
    assert_eq!(status_field(withgroup, "Gid"), "47011\t47011\t47011\t47011");
    assert_eq!(status_field(withgroup, "Groups"), "47010 47012");

    let grouponly = exec_pid(&going, "grouponly", "sleep");
    assert_eq!(status_field(grouponly, "Uid"), "0\t0\t0\t0");
    assert_eq!(status_field(grouponly, "Gid"), "47011\t47011\t47011\t47011");
    assert_eq!(status_field(grouponly, "Groups"), "");

    let numeric = exec_pid(&going, "numeric", "sleep");
    assert_eq!(status_field(numeric, "Uid"), "54321\t54321\t54321\t54321");
    assert_eq!(status_field(numeric, "Groups"), "");
    assert!(environ(numeric).contains(&"HOME=/".to_owned()));

    let homeset = exec_pid(&going, "homeset", "sleep");
    assert!(environ(homeset).contains(&"HOME=/custom".to_owned()), "env= wins over the passwd entry");

    going.wait_log("going: nouser:2: unknown user \"no-such-user-here\" (not in /etc/passwd)");
    going.wait_log("going: nogroup:2: unknown group \"no-such-group-here\" (not in /etc/group)");
    going.wait_log("going: bareuid:3: user 54321 has no passwd entry; add group= to run it without one");
}

#[test]
fn env_adds_variables_and_a_later_entry_wins() {
    let going = Going::start(&[("envy", "cmd=/bin/sleep 1000\nenv=GREETING=hello\nenv=EMPTY=\nenv=GREETING=bye\n")]);
    let pid = exec_pid(&going, "envy", "sleep");
    let mut env = environ(pid);
    env.sort();
    let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned();
    assert_eq!(env, ["EMPTY=".to_owned(), "GREETING=bye".to_owned(), path]);
}

#[test]
fn env_path_replaces_the_default_and_is_used_to_find_cmd() {
    let going = Going::start(&[]);
    let bin = going.work.join("bin");
    fs::create_dir(&bin).unwrap();
    let program = bin.join("my-sleeper");
    fs::write(&program, "#!/bin/sh\nexec /bin/sleep 1000\n").unwrap();
    fs::set_permissions(&program, fs::Permissions::from_mode(0o755)).unwrap();
    let text = format!("cmd=my-sleeper\nenv=PATH={}:/bin\n", bin.display());
    write_service(going.services.path(), "custom", &text);
    going.reload();
    let pid = exec_pid(&going, "custom", "sleep");
    assert!(environ(pid).contains(&format!("PATH={}:/bin", bin.display())));
}

#[test]
fn umask_and_rlimits_are_applied() {
    let going = Going::start(&[(
        "limited",
        "cmd=/bin/sleep 1000\numask=027\nrlimit=nofile 100:200\nrlimit=core unlimited\nrlimit=cpu 1000\n",
    )]);
    let pid = exec_pid(&going, "limited", "sleep");
    assert_eq!(status_field(pid, "Umask"), "0027");
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let row = |name: &str| -> Vec<String> {
        let line = limits.lines().find(|line| line.starts_with(name)).unwrap();
        line[name.len()..].split_whitespace().take(2).map(str::to_owned).collect()
    };
    assert_eq!(row("Max open files"), ["100", "200"]);
    assert_eq!(row("Max core file size"), ["unlimited", "unlimited"]);
    assert_eq!(row("Max cpu time"), ["1000", "1000"]);
}

#[test]
fn bad_rlimit_and_umask_are_config_errors() {
    let going = Going::start(&[
        ("soft", "cmd=/bin/true\nrlimit=nofile 10:5\n"),
        ("word", "cmd=/bin/true\nrlimit=nofile many\n"),
        ("mask", "cmd=/bin/true\numask=999\n"),
    ]);
    going.wait_log("going: soft:2: rlimit nofile: soft limit 10 is above hard limit 5");
    going.wait_log("going: word:2: rlimit needs RESOURCE VALUE or RESOURCE SOFT:HARD, each a number or unlimited");
    going.wait_log("going: mask:2: umask must be octal, from 000 to 777");
}

#[test]
fn chroot_jails_the_service_and_resolves_cmd_and_cwd_inside() {
    let going = Going::start(&[]);
    let jail = going.work.join("jail");
    for dir in ["", "/dev", "/bin", "/etc/going.d", "/work"] {
        fs::create_dir_all(format!("{}{dir}", jail.display())).unwrap();
    }
    // going itself is a static binary: inside the jail it idles on an empty directory.
    fs::copy(GOING, jail.join("bin/inmate")).unwrap();
    let null = jail.join("dev/null");
    assert!(Command::new("mknod").arg(&null).args(["c", "1", "3"]).status().unwrap().success());
    let text = format!("cmd=/bin/inmate -d /etc/going.d\nchroot={}\ncwd=/work\n", jail.display());
    write_service(going.services.path(), "jailed", &text);
    going.reload();
    let pid = exec_pid(&going, "jailed", "inmate");
    assert_eq!(fs::read_link(format!("/proc/{pid}/root")).unwrap(), jail);
    assert_eq!(fs::read_link(format!("/proc/{pid}/cwd")).unwrap(), jail.join("work"));
    wait_for("the jailed going to stay up", || {
        (going.count_log("going: jailed: started") == 1 && is_alive(pid)).then_some(())
    });
}

#[test]
fn missing_chroot_directory_is_reported() {
    let going = Going::start(&[("lost", "cmd=/bin/sleep 1000\nchroot=/no/such/jail\n")]);
    going.wait_log("going: lost: cannot chroot to /no/such/jail: No such file or directory");
}

#[test]
fn credentials_need_going_to_run_as_root() {
    let dir = service_dir(&[("asuser", "cmd=/bin/sleep 1000\nuser=root\n"), ("plain", "cmd=/bin/sleep 1000\n")]);
    let launcher = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    let going = Launch::new(&launcher, dir, TempDir::new("work")).owned_by(65534).start();
    going.wait_log("going: asuser:2: user=, group= and chroot= need going to run as root (not started");
    exec_pid(&going, "plain", "sleep");
}
