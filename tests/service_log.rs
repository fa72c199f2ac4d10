//! Service output into timestamped, rotated files and going's stdout.
mod common;

use common::*;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

/// The message of a log line after its `2026-11-26T06:30:00.123Z ` timestamp, checked.
fn message(line: &str) -> &str {
    let (stamp, rest) = line.split_at(24);
    let bytes = stamp.as_bytes();
    let digits_at = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
    assert!(digits_at.iter().all(|&i| bytes[i].is_ascii_digit()), "bad timestamp in {line:?}");
    assert_eq!(
        (bytes[4], bytes[7], bytes[10], bytes[13], bytes[16], bytes[19], bytes[23]),
        (b'-', b'-', b'T', b':', b':', b'.', b'Z'),
        "{line:?}"
    );
    rest.strip_prefix(' ').unwrap_or_else(|| panic!("no space after the timestamp in {line:?}"))
}

fn messages(path: &Path) -> Vec<String> {
    fs::read_to_string(path).unwrap_or_default().lines().map(|line| message(line).to_owned()).collect()
}

fn wait_messages(path: &Path, check: impl Fn(&[String]) -> bool) -> Vec<String> {
    wait_for(&format!("lines in {}", path.display()), || Some(messages(path)).filter(|m| check(m)))
}

fn start_logged(name: &str, shell: &str, extra: &str) -> (Going, std::path::PathBuf) {
    let going = Going::start(&[]);
    let log = going.work.join(&format!("{name}.log"));
    let text = format!("cmd=/bin/sh -c '{shell}'\nlog={}\n{extra}", log.display());
    write_service(going.services.path(), name, &text);
    going.reload();
    (going, log)
}

#[test]
fn both_streams_are_captured_with_utc_millisecond_timestamps() {
    let (_going, log) = start_logged("web", "echo out; echo err >&2; exec sleep 1000", "");
    let lines = wait_messages(&log, |m| m.len() >= 2);
    assert_eq!(lines, ["out", "err"]);
    let mode = fs::metadata(&log).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o640);
}

#[test]
fn output_of_a_service_that_exits_at_once_is_kept_with_its_unterminated_last_line() {
    let (going, log) = start_logged("quick", "echo bye; printf partial; exit 0", "");
    wait_messages(&log, |m| m.len() >= 4);
    assert_eq!(messages(&log)[..4], ["bye", "partial", "bye", "partial"]);
    going.wait_log("going: quick: exited with status 0");
}

#[test]
fn long_lines_are_written_in_4_kib_pieces() {
    let (_going, log) =
        start_logged("long", "head -c 10000 /dev/zero | tr \"\\\\0\" x; echo; echo after; exec sleep 1000", "");
    let lines = wait_messages(&log, |m| m.last().map(String::as_str) == Some("after"));
    let lengths: Vec<usize> = lines.iter().map(String::len).collect();
    assert_eq!(lengths, [4096, 4096, 1808, 5]);
}

#[test]
fn rotation_keeps_n_files_under_the_size_and_never_splits_a_line() {
    let script = "i=0; while [ $i -lt 300 ]; do printf \"%04d %s\\n\" $i xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done; exec sleep 1000";
    let (_going, log) = start_logged("chatty", script, "log_size=4096\nlog_keep=2\n");
    wait_messages(&log, |m| m.last().is_some_and(|line| line.starts_with("0299 ")));
    let rotated = |n: u32| log.with_file_name(format!("chatty.log.{n}"));
    assert!(rotated(1).exists() && rotated(2).exists() && !rotated(3).exists());
    let mut kept = Vec::new();
    for path in [rotated(2), rotated(1), log.clone()] {
        assert!(fs::metadata(&path).unwrap().len() <= 4096, "{} too big", path.display());
        kept.extend(messages(&path));
    }
    // Every line whole, and the kept ones consecutive up to the last.
    let numbers: Vec<u32> = kept
        .iter()
        .map(|line| {
            assert_eq!(line.len(), 5 + 97, "split line {line:?}");
            line[..4].parse().unwrap()
        })
        .collect();
    assert_eq!(numbers, (numbers[0]..300).collect::<Vec<u32>>());
}

#[test]
fn stdout_mode_prefixes_lines_with_the_service_name() {
    let dir = TempDir::new("services");
    write_service(dir.path(), "web", "cmd=/bin/sh -c 'echo listening on :8080; exec sleep 1000'\nlog=-\n");
    let work = TempDir::new("work");
    let stdout = work.join("stdout");
    let mut launch = Launch::new(&[], dir, work);
    launch.command.stdout(fs::File::create(&stdout).unwrap());
    let _going = launch.spawn();
    wait_for("the prefixed line", || fs::read_to_string(&stdout).ok().filter(|t| t == "web | listening on :8080\n"));
}

#[test]
fn unwritable_log_is_reported_once_and_recovery_counts_the_dropped_lines() {
    let going = Going::start(&[]);
    let log = going.work.join("blocked.log");
    fs::create_dir(&log).unwrap();
    let text = format!("cmd=/bin/sh -c 'while true; do echo tick; sleep 0.05; done'\nlog={}\n", log.display());
    write_service(going.services.path(), "ticker", &text);
    going.reload();
    going.wait_log(&format!(
        "going: ticker: cannot write to {}: Is a directory (dropping lines until it works)",
        log.display()
    ));
    let ticks_while_broken = going.count_log("cannot write to");
    fs::remove_dir(&log).unwrap();
    going.wait_log(&format!("going: ticker: writing to {} works again;", log.display()));
    assert_eq!(ticks_while_broken, 1);
    assert_eq!(going.count_log("cannot write to"), 1, "one error, not one per line");
    assert!(is_alive(going.latest_pid("ticker")), "the service keeps running");
}

#[test]
fn missing_log_directory_is_a_config_error() {
    let going = Going::start(&[("web", "cmd=/bin/true\nlog=/no/such/dir/web.log\n")]);
    going.wait_log("going: web:2: log directory /no/such/dir does not exist; create it");
}

#[test]
fn without_cgroups_descendants_that_outlive_the_service_are_still_read() {
    // With cgroups nothing outlives its service (tests/cgroups.rs).
    let going = Going::start_without_cgroups(&[]);
    let (log, go) = (going.work.join("family.log"), going.work.join("go"));
    let script =
        format!("setsid sh -c \"while [ ! -e {} ]; do sleep 0.02; done; echo late\" & exec sleep 1000", go.display());
    let text = format!("cmd=/bin/sh -c '{script}'\nlog={}\n", log.display());
    write_service(going.services.path(), "family", &text);
    going.reload();
    let pid = going.service_pid("family", 1);
    fs::remove_file(going.services.join("family")).unwrap();
    going.wait_log("going: family: stopped");
    assert!(is_reaped(pid));
    fs::write(&go, "").unwrap();
    wait_messages(&log, |m| m == ["late"]);
}

#[test]
fn copytruncate_by_logrotate_keeps_appending_at_the_start() {
    let (_going, log) = start_logged("app", "while true; do echo line; sleep 0.02; done", "");
    wait_messages(&log, |m| m.len() >= 3);
    fs::OpenOptions::new().write(true).open(&log).unwrap().set_len(0).unwrap();
    wait_for("new lines after the truncation", || {
        let bytes = fs::read(&log).ok()?;
        (bytes.len() > 30 && bytes[0] != 0).then_some(())
    });
    assert!(!fs::read(&log).unwrap().contains(&0), "a hole of NULs: the file was not opened for appending");
}

#[test]
fn a_flooding_service_neither_grows_going_nor_delays_another_respawn() {
    let going = Going::start(&[]);
    let log = going.work.join("flood.log");
    write_service(
        going.services.path(),
        "flood",
        &format!("cmd=/usr/bin/yes\nlog={}\nlog_size=1048576\nlog_keep=1\n", log.display()),
    );
    going.reload();
    wait_for("the flood to fill a log", || (fs::metadata(&log).ok()?.len() > 100_000).then_some(()));
    let stamps = going.work.join("starts");
    write_service(
        going.services.path(),
        "crasher",
        &format!("cmd=/bin/sh -c 'echo x >> {}; exit 1'\n", stamps.display()),
    );
    let asked = Instant::now();
    going.reload();
    let mut starts = Vec::new();
    for nth in 1..=3 {
        wait_for("the next start", || {
            (fs::read_to_string(&stamps).unwrap_or_default().lines().count() >= nth).then_some(())
        });
        starts.push(asked.elapsed());
    }
    // 1 s then 2 s of backoff; generous upper bounds for a busy machine, but a starved loop misses them.
    assert!(starts[1] - starts[0] < Duration::from_secs(1) + Duration::from_secs(3), "{starts:?}");
    assert!(starts[2] - starts[1] < Duration::from_secs(2) + Duration::from_secs(3), "{starts:?}");
    // Its heap, stack and written data: what a flood would grow. (The peak RSS would mostly
    // count the text of the debug binary that tests run.)
    let anonymous: u64 = status_field(going.pid(), "RssAnon").trim_end_matches(" kB").trim().parse().unwrap();
    assert!(anonymous < 256, "going's anonymous memory after the flood: {anonymous} kB");
}

#[test]
fn read_only_log_directory_is_reported_once() {
    let dir = TempDir::new("services");
    let work = TempDir::new("work");
    let logs = work.join("logs");
    fs::create_dir(&logs).unwrap();
    let text =
        format!("cmd=/bin/sh -c 'while true; do echo tick; sleep 0.02; done'\nlog={}/ticker.log\n", logs.display());
    write_service(dir.path(), "ticker", &text);
    // Root ignores mode bits: a read-only bind mount, in a namespace of going's own, is truly read-only.
    let logs_path = logs.display();
    let script =
        format!("mount --bind {logs_path} {logs_path} && mount -o remount,bind,ro {logs_path} && exec \"$0\" \"$@\"");
    let launcher = ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", &script];
    let going = Launch::new(&launcher, dir, work).spawn();
    let expected = format!(
        "going: ticker: cannot write to {}/ticker.log: Read-only file system (dropping lines until it works)",
        logs.display()
    );
    going.wait_log(&expected);
    let pid = going.service_pid("ticker", 1);
    // Ten more lines ("tick\n", written by the shell itself) arrive and are dropped; none adds an error line.
    let written = || -> u64 {
        let io = fs::read_to_string(format!("/proc/{pid}/io")).unwrap();
        io.lines().find_map(|line| line.strip_prefix("wchar: ")).unwrap().parse().unwrap()
    };
    let before = written();
    wait_for("ten more ticks", || (written() >= before + 50).then_some(()));
    going.signal(rustix::process::Signal::HUP);
    going.wait_log("going: configuration: 0 added");
    assert_eq!(going.count_log("cannot write to"), 1, "{}", going.log());
    assert!(is_alive(pid));
}

#[test]
fn log_directory_writable_by_others_is_refused_and_symlinks_are_not_followed() {
    let going = Going::start(&[]);
    let open_dir = going.work.join("open");
    fs::create_dir(&open_dir).unwrap();
    fs::set_permissions(&open_dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let text = format!("cmd=/bin/sleep 1000\nlog={}/web.log\n", open_dir.display());
    write_service(going.services.path(), "web", &text);
    going.reload();
    going.wait_log(&format!(
        "going: web:2: log directory {} refused: writable by group or others; chmod go-w it",
        open_dir.display()
    ));

    let target = going.work.join("target");
    fs::write(&target, "precious\n").unwrap();
    let link = going.work.join("linked.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let text = format!("cmd=/bin/sh -c 'echo hi; exec sleep 1000'\nlog={}\n", link.display());
    write_service(going.services.path(), "linked", &text);
    going.reload();
    going.wait_log(&format!("going: linked: cannot write to {}: Too many levels of symbolic links", link.display()));
    assert_eq!(fs::read_to_string(&target).unwrap(), "precious\n");
}
