//! Attacks a local user could try on a going that runs as root, each
//! reproduced for real: the attacker is `nobody` (uid 65534), who owns the
//! paths it was given, and the victim files are root's.
mod common;

use common::*;
use rustix::process::Signal;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Command, Stdio};

const NOBODY: u32 = 65534;

fn chown_to_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(NOBODY), Some(NOBODY)).unwrap();
}

fn mkfifo(path: &Path) {
    assert!(Command::new("mkfifo").arg(path).status().unwrap().success());
}

/// A root-only file with known contents: what an attack would overwrite or read.
fn secret(work: &TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let path = work.join(name);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// going on its own services directory with `run` as its run directory.
fn start_with_run_dir(services: &[(&str, &str)], run: &Path, work: TempDir) -> Going {
    let mut launch = Launch::new(&[], service_dir(services), work);
    launch.command.arg("-r").arg(run);
    launch.start()
}

#[test]
fn a_run_directory_another_user_owns_is_refused_and_nothing_planted_there_is_followed() {
    let work = TempDir::new("work");
    let victim = secret(&work, "victim", "root only\n");
    let run = work.join("attacker-run");
    fs::create_dir(&run).unwrap();
    std::os::unix::fs::symlink(&victim, run.join(".web.tmp")).unwrap();
    std::os::unix::fs::symlink(&victim, run.join(".status.tmp")).unwrap();
    mkfifo(&run.join(".db.tmp"));
    for entry in [run.clone(), run.join(".web.tmp"), run.join(".status.tmp"), run.join(".db.tmp")] {
        chown_to_nobody(&entry);
    }
    let going = start_with_run_dir(&[("web", "cmd=/bin/sleep 1000\n"), ("db", "cmd=/bin/sleep 1000\n")], &run, work);
    going.wait_log(&format!(
        "{}: cannot set up the run directory: refused: owned by uid 65534, not by going's user 0",
        run.display()
    ));
    // A planted FIFO no longer hangs going: both services start.
    going.service_pid("web", 1);
    going.service_pid("db", 1);
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root only\n");
    assert_eq!(fs::metadata(&victim).unwrap().mode() & 0o777, 0o600);
    assert!(!run.join("web").exists() && !run.join("control").exists());
}

#[test]
fn a_run_directory_path_that_is_a_symlink_is_refused_and_its_target_left_alone() {
    let work = TempDir::new("work");
    let target = work.join("important");
    fs::create_dir(&target).unwrap();
    fs::write(target.join("config"), "keep me\n").unwrap();
    fs::write(target.join("web"), "state=up\npid=1\n").unwrap();
    let run = work.join("run-link");
    std::os::unix::fs::symlink(&target, &run).unwrap();
    let going = start_with_run_dir(&[("web", "cmd=/bin/sleep 1000\n")], &run, work);
    going.wait_log("cannot set up the run directory: refused: not a directory (a symlink is not followed");
    going.service_pid("web", 1);
    assert_eq!(fs::read_to_string(target.join("config")).unwrap(), "keep me\n");
    assert_eq!(fs::read_to_string(target.join("web")).unwrap(), "state=up\npid=1\n");
}

#[test]
fn a_group_writable_run_directory_is_refused() {
    let work = TempDir::new("work");
    let run = work.join("shared-run");
    fs::create_dir(&run).unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o775)).unwrap();
    let going = start_with_run_dir(&[("web", "cmd=/bin/sleep 1000\n")], &run, work);
    going.wait_log("refused: writable by group or others; chmod go-w it; goingctl will not work");
}

#[test]
fn planted_pids_never_kill_an_unrelated_process_group() {
    // A process group whose leader is gone, like a leftover: what a forged status file would aim at.
    let work = TempDir::new("work");
    let pidfile = work.join("member");
    let script = format!("sleep 1000 & echo $! > {}", pidfile.display());
    let mut leader = Command::new("setsid").args(["sh", "-c", &script]).spawn().unwrap();
    let group = leader.id() as i32;
    let member: i32 = wait_file(&pidfile).trim().parse().unwrap();
    leader.wait().unwrap();
    let run = work.join("run");
    fs::create_dir(&run).unwrap();
    let boot_id = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    let forged = [
        ("negative", format!("state=up\npid=-{group}\n")),
        ("no-identity", format!("state=up\npid={group}\n")),
        ("other-boot", format!("state=up\npid={group}\nboot_id=00000000-0000-0000-0000-000000000000\nstart_time=1\n")),
        // The member started long after this start time, but the group's real leader is not this one:
        // a start time later than the member's means a member older than the service.
        (
            "later-start",
            format!("state=up\npid={group}\nboot_id={}\nstart_time=18446744073709551615\n", boot_id.trim()),
        ),
        ("init", format!("state=up\npid=1\nboot_id={}\nstart_time=0\n", boot_id.trim())),
    ];
    for (name, text) in &forged {
        fs::write(run.join(name), text).unwrap();
    }
    let going = start_with_run_dir(&[("web", "cmd=/bin/sleep 1000\n")], &run, work);
    going.service_pid("web", 1);
    assert!(is_alive(member), "{}", going.log());
    assert!(is_alive(going.pid()));
    assert!(!going.log().contains("killed what a previous going left"), "{}", going.log());
    for (name, _) in &forged {
        assert!(!run.join(name).exists(), "the stale status file {name} was removed");
    }
    signal_pid(member, Signal::KILL);
}

#[test]
fn goingctl_writes_only_to_the_real_fifo() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    let first = going.service_pid("web", 1);
    going.wait_state("web", "up");
    let victim = secret(&going.work, "victim", "root only\n");
    let control = going.run_dir().join("control");
    fs::remove_file(&control).unwrap();
    std::os::unix::fs::symlink(&victim, &control).unwrap();
    let (code, _, stderr) = going.goingctl(&["restart", "web"]);
    assert_ne!(code, 0, "{stderr}");
    assert_eq!(fs::read_to_string(&victim).unwrap(), "root only\n");
    // A regular file in its place is no FIFO either.
    fs::remove_file(&control).unwrap();
    fs::write(&control, "").unwrap();
    assert_ne!(going.goingctl(&["restart", "web"]).0, 0);
    assert_eq!(fs::read_to_string(&control).unwrap(), "");
    assert_eq!(going.latest_pid("web"), first);
}

#[test]
fn goingctl_json_cannot_be_given_new_keys_by_a_status_value() {
    let going = Going::start(&[("web", "cmd=/bin/sleep 1000\n")]);
    going.service_pid("web", 1);
    going.wait_state("web", "up");
    let forged = "state=up\x1b[2J\",\"admin\":true,\"x\":\"\npid=0,\"admin\":true\nrestarts=0,\"admin\":true\nsince_mono=1\nlast_exit=\"},{\"name\":\"evil\n";
    fs::write(going.run_dir().join("web"), forged).unwrap();
    let (code, json, _) = going.goingctl(&["status", "--json"]);
    assert_eq!(code, 0);
    assert!(!json.contains("\"admin\":true") && !json.contains("\"name\":\"evil"), "{json}");
    assert!(json.contains("\"pid\":null") && json.contains("\"restarts\":0,"), "{json}");
    let (_, table, _) = going.goingctl(&["status"]);
    assert!(!table.contains('\x1b'), "{table:?}");
}

#[test]
fn a_procfile_directory_another_user_owns_is_refused_and_a_planted_env_symlink_is_not_read() {
    let going = Going::start(&[]);
    let password = secret(&going.work, "secrets", "DB_PASSWORD=hunter2\n");
    let app = going.work.join("app");
    fs::create_dir(&app).unwrap();
    fs::write(app.join("Procfile"), "web: env > env.out; exec sleep 1000\n").unwrap();
    fs::set_permissions(app.join("Procfile"), fs::Permissions::from_mode(0o644)).unwrap();
    std::os::unix::fs::symlink(&password, app.join(".env")).unwrap();
    chown_to_nobody(&app);
    let text = format!("procfile={}/Procfile\nuser=nobody\n", app.display());
    write_service(going.services.path(), "shop", &text);
    going.reload();
    going.wait_log(&format!("{}: refused: owned by uid 65534", app.display()));
    // Given back to root, the directory is trusted, but the symlink in it is still not followed.
    std::os::unix::fs::lchown(&app, Some(0), Some(0)).unwrap();
    going.reload();
    going.wait_log(&format!("{}/.env: is a symlink, which is not followed here", app.display()));
    assert_eq!(going.count_log("going: shop.web: started"), 0);
    assert!(!app.join("env.out").exists());
}

#[test]
fn nul_in_a_procfile_or_env_is_an_error_on_its_line_and_going_survives() {
    let going = Going::start(&[("steady", "cmd=/bin/sleep 1000\n")]);
    let steady = going.service_pid("steady", 1);
    let app = going.work.join("app");
    fs::create_dir(&app).unwrap();
    for (name, text) in [("Procfile", "web: exec sleep 1000\n"), (".env", "A=1\nB=x\0y\n")] {
        fs::write(app.join(name), text).unwrap();
        fs::set_permissions(app.join(name), fs::Permissions::from_mode(0o644)).unwrap();
    }
    write_service(going.services.path(), "shop", &format!("procfile={}/Procfile\n", app.display()));
    going.reload();
    going.wait_log(&format!("going: shop: {}/.env:2: contains a NUL byte", app.display()));
    fs::write(app.join("Procfile"), "web: exec\0 sleep 1000\n").unwrap();
    fs::write(app.join(".env"), "A=1\n").unwrap();
    going.reload();
    going.wait_log(&format!("going: shop: {}/Procfile:1: contains a NUL byte", app.display()));
    assert!(is_alive(steady) && is_alive(going.pid()));
}

#[test]
fn the_no_change_gid_is_refused_at_its_line() {
    let going = Going::start(&[("steady", "cmd=/bin/sleep 1000\n")]);
    write_service(going.services.path(), "sneaky", "cmd=/bin/sleep 1000\nuser=nobody\ngroup=4294967295\n");
    going.reload();
    going.wait_log("going: sneaky:3: gid 4294967295 cannot be used: setgid reads it as \"no change\"");
    assert_eq!(going.count_log("going: sneaky: started"), 0);
}

#[test]
fn a_fifo_at_a_log_path_is_refused_without_hanging_going() {
    let going = Going::start(&[]);
    let logs = going.work.join("logs");
    fs::create_dir(&logs).unwrap();
    mkfifo(&logs.join("web.log"));
    let text = format!("cmd=/bin/sh -c 'echo hello; exec sleep 1000'\nlog={}/web.log\n", logs.display());
    write_service(going.services.path(), "web", &text);
    write_service(going.services.path(), "other", "cmd=/bin/sleep 1000\n");
    going.reload();
    going.wait_log("web.log: not a regular file with a single link; remove it (dropping lines until it works)");
    let other = going.service_pid("other", 1);
    wait_exec(other, "sleep");
    signal_pid(other, Signal::KILL);
    going.service_pid("other", 2);
}

/// Starts going with `stdout` or `stderr` a socket nobody reads, and a
/// service that floods its output there. Returns going and the unread end.
fn with_a_stalled_socket(on_stderr: bool) -> (Going, UnixStream) {
    let (going_end, unread_end) = UnixStream::pair().unwrap();
    let flood = "cmd=/bin/sh -c 'while :; do echo flooding flooding flooding; done'\nlog=-\n";
    let dir = service_dir(&[("web", "cmd=/bin/sleep 1000\n"), ("flood", flood)]);
    let mut launch = Launch::new(&[], dir, TempDir::new("work"));
    let socket = Stdio::from(std::os::fd::OwnedFd::from(going_end));
    match on_stderr {
        true => launch.command.stderr(socket),
        false => launch.command.stdout(socket),
    };
    (launch.spawn(), unread_end)
}

/// The pid in a status file once it differs from `old`.
fn new_status_pid(going: &Going, name: &str, old: Option<i32>) -> i32 {
    wait_for(&format!("a new pid in {name}'s status file"), || {
        let text = fs::read_to_string(going.run_dir().join(name)).ok()?;
        let pid: i32 = text.lines().find_map(|line| line.strip_prefix("pid="))?.parse().ok()?;
        (Some(pid) != old).then_some(pid)
    })
}

#[test]
fn a_stalled_reader_of_going_stdout_does_not_stop_supervision() {
    let (going, _unread) = with_a_stalled_socket(false);
    going.wait_log("going: flood: cannot write to going's stdout: Resource temporarily unavailable");
    let web = going.service_pid("web", 1);
    wait_exec(web, "sleep");
    signal_pid(web, Signal::KILL);
    going.service_pid("web", 2);
}

#[test]
fn a_stalled_reader_of_going_stderr_does_not_stop_supervision() {
    let (going, _unread) = with_a_stalled_socket(true);
    let web = new_status_pid(&going, "web", None);
    // Thousands of log lines: each bad control line is one.
    let fifo = going.run_dir().join("control");
    let garbage = "no such command\n".repeat(20_000);
    std::thread::spawn(move || fs::write(fifo, garbage));
    wait_exec(web, "sleep");
    signal_pid(web, Signal::KILL);
    let second = new_status_pid(&going, "web", Some(web));
    wait_exec(second, "sleep");
    signal_pid(second, Signal::KILL);
    new_status_pid(&going, "web", Some(second));
}

#[test]
fn a_file_changed_in_a_loop_is_rescanned_at_most_ten_times_a_second_and_a_broken_file_told_once() {
    let going = Going::start(&[("broken", "cmd=/bin/true\nusr=root\n")]);
    going.wait_log("going: broken:2: unknown key");
    let churn = going.services.join("churn");
    let started = std::time::Instant::now();
    for round in 0..300 {
        write_service(going.services.path(), "churn", &format!("cmd=/bin/sleep {}\n", 1000 + round % 2));
    }
    let elapsed = started.elapsed();
    // The last change is applied, then no more rescans come.
    wait_for("the last change to apply", || {
        let last = format!("sleep {}", 1000 + 299 % 2);
        let pid = going.latest_pid("churn");
        let cmdline = fs::read_to_string(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        cmdline.replace('\0', " ").contains(&last).then_some(())
    });
    let before = going.count_log("going: configuration:");
    let rescans_allowed = elapsed.as_millis() as usize / 100 + 3;
    assert!(before <= rescans_allowed + 1, "{before} rescans in {elapsed:?}");
    assert_eq!(going.count_log("going: broken:2: unknown key"), 1, "{}", going.log());
    let _ = fs::remove_file(churn);
}

#[test]
fn children_get_umask_022_whatever_going_inherited() {
    let work = TempDir::new("work");
    let made = work.join("made-by-service");
    let dir = service_dir(&[("maker", &format!("cmd=/bin/sh -c ': > {}; exec sleep 1000'\n", made.display()))]);
    let going = Launch::new(&["sh", "-c", "umask 000; exec \"$0\" \"$@\""], dir, work).start();
    going.service_pid("maker", 1);
    let mode = wait_for("the service's file", || fs::metadata(&made).ok()).mode();
    assert_eq!(mode & 0o777, 0o644);
}

/// A user with no services of its own, for attacks that need a uid nothing else uses.
const ATTACKER: u32 = 47201;

fn as_attacker(script: &str) -> Command {
    let mut command = Command::new("setpriv");
    command.args([&format!("--reuid={ATTACKER}"), &format!("--regid={ATTACKER}"), "--clear-groups", "sh", "-c"]);
    command.arg(script).stdin(Stdio::null());
    command
}

#[test]
fn a_service_user_stopping_everything_it_owns_never_freezes_going() {
    // The service's own user stops every process it may signal, in a loop, while going keeps
    // starting checks that drop to that uid: a child stopped before its exec must not hold going.
    let victim = format!(
        "cmd=/bin/sleep 1000\nuser={ATTACKER}\ngroup={ATTACKER}\ncheck=/bin/true\ncheck_interval=0.1\nstop_timeout=1\n"
    );
    let mut going = Going::start(&[("victim", &victim), ("bystander", "cmd=/bin/sleep 1000\n")]);
    let first_victim = going.service_pid("victim", 1);
    let bystander = going.service_pid("bystander", 1);
    let mut attack = as_attacker("end=$(($(date +%s) + 20)); while [ $(date +%s) -lt $end ]; do i=0; while [ $i -lt 500 ]; do kill -s STOP -- -1; i=$((i+1)); done; done").spawn().unwrap();
    assert!(attack.wait().unwrap().success());
    // The attack was real: a process of the service's was stopped, or a stopped check timed out.
    let current: i32 = going.status_key("victim", "pid").map_or(0, |pid| pid.parse().unwrap_or(0));
    let stopped = fs::read_to_string(format!("/proc/{current}/stat")).is_ok_and(|stat| stat.contains(") T "));
    assert!(stopped || going.log().contains("(last: timeout)"), "{}", going.log());
    // Killed after running a while, the bystander is back within a second.
    let killed_at = std::time::Instant::now();
    signal_pid(bystander, Signal::KILL);
    let again = going.service_pid("bystander", 2);
    assert!(killed_at.elapsed() < std::time::Duration::from_secs(1), "back after {:?}", killed_at.elapsed());
    assert_ne!(again, bystander);
    // goingctl's commands are heard.
    let (code, _, stderr) = going.goingctl(&["restart", "bystander"]);
    assert_eq!(code, 0, "{stderr}");
    going.service_pid("bystander", 3);
    // SIGTERM stops everything, the stopped service and any stopped start included.
    assert!(going.stop().success(), "{}", going.log());
    assert!(is_reaped(first_victim));
}

/// `.going` naming a live process (this test), as going writes it: goingctl takes going for running.
fn claim_going_runs(run: &Path) {
    let me = std::process::id() as i32;
    let start_time = going::proc_stat::read(me).unwrap().start_time;
    fs::write(run.join(".going"), format!("pid={me}\nstart_time={start_time}\ntracking=test\n")).unwrap();
}

fn goingctl_on(run: &Path, args: &[&str]) -> std::process::Output {
    Command::new(GOINGCTL).arg("-r").arg(run).args(args).stdin(Stdio::null()).output().unwrap()
}

#[test]
fn goingctl_refuses_a_run_directory_another_user_owns_and_reads_nothing_planted_there() {
    let work = TempDir::new("work");
    let victim = secret(&work, "victim", "root only\n");
    let run = work.join("planted");
    fs::create_dir(&run).unwrap();
    fs::write(run.join("web"), format!("state=up\npid=1\nlog={}\n", victim.display())).unwrap();
    claim_going_runs(&run);
    for entry in [run.clone(), run.join("web"), run.join(".going")] {
        chown_to_nobody(&entry);
    }
    for args in [&["log", "web"][..], &["status", "web"], &["status"], &["wait", "web"]] {
        let output = goingctl_on(&run, args);
        let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert_eq!(output.status.code(), Some(69), "{args:?}: {stdout}{stderr}");
        assert!(stderr.contains("refused: owned by uid 65534"), "{args:?}: {stderr}");
        assert!(!stdout.contains("root only"), "{args:?}: {stdout}");
    }
}

#[test]
fn goingctl_never_follows_a_symlink_or_waits_on_a_fifo_a_status_file_names() {
    let work = TempDir::new("work");
    let victim = secret(&work, "victim", "root only\n");
    let run = work.join("run");
    fs::create_dir(&run).unwrap();
    claim_going_runs(&run);
    let (fifo, link) = (work.join("fifo.log"), work.join("link.log"));
    mkfifo(&fifo);
    std::os::unix::fs::symlink(&victim, &link).unwrap();
    fs::write(run.join("piped"), format!("state=up\npid=1\nlog={}\n", fifo.display())).unwrap();
    fs::write(run.join("linked"), format!("state=up\npid=1\nlog={}\ncgroup={}\n", link.display(), work.0.display()))
        .unwrap();
    for args in [["log", "piped"], ["log", "linked"], ["status", "linked"], ["status", "piped"]] {
        let mut child = Command::new(GOINGCTL).arg("-r").arg(&run).args(args).stdout(Stdio::piped()).spawn().unwrap();
        let status = wait_for(&format!("goingctl {args:?} to end"), || child.try_wait().unwrap());
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        assert!(!out.contains("root only"), "{args:?}: {out}");
        assert_eq!(status.code(), Some(0), "{args:?}: the run directory is trusted");
    }
}

#[test]
fn no_other_user_can_hold_the_lock_that_says_going_runs() {
    let work = TempDir::new("work");
    let run = work.join("run");
    fs::create_dir(&run).unwrap();
    // A lock file anyone can open, as 1.3.0 left it, read-locked (F_SETLKW) by nobody before going starts.
    let lock = run.join(".lock");
    fs::write(&lock, "").unwrap();
    fs::set_permissions(&lock, fs::Permissions::from_mode(0o644)).unwrap();
    let script = "import fcntl, sys, time; f = open(sys.argv[1]); fcntl.lockf(f, fcntl.LOCK_SH); \
                  print(\"held\", flush=True); time.sleep(600)";
    let mut holder = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script])
        .arg(&lock)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut held = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()), &mut held).unwrap();
    assert_eq!(held, "held\n");
    let going = start_with_run_dir(&[("web", "cmd=/bin/sleep 1000\n")], &run, work);
    going.service_pid("web", 1);
    assert!(!going.log().contains("another going"), "{}", going.log());
    assert_eq!(going.goingctl(&["status"]).0, 0);
    assert_eq!(going.goingctl(&["restart", "web"]).0, 0);
    going.service_pid("web", 2);
    // The lock going holds now is root's alone: nobody cannot even open it.
    assert_eq!(fs::metadata(&lock).unwrap().mode() & 0o777, 0o600);
    let opened = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "/usr/bin/python3",
            "-c",
            "import sys; open(sys.argv[1])",
        ])
        .arg(&lock)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(!opened.success());
    let _ = holder.kill();
    let _ = holder.wait();
}
