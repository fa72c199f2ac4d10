//! What a previous going left behind.
//!
//! A going that died (SIGKILL, a crash) took its services' main processes
//! with it (they have SIGKILL as their parent-death signal), but their
//! process groups may live on: a daemon's children, a shell's pipeline. The
//! next going reads the status files the dead one left and SIGKILLs those
//! groups before it starts anything, so that no service runs twice.
//!
//! A status file can outlive the processes it names (a run directory on a
//! disk that survives a reboot; pids are reused), so a group is killed only
//! when it is still the one the file describes: the same boot, a pid above 1
//! that is not going's own, the main process gone (or a zombie with the
//! recorded start time), and no member of the group older than that main
//! process. A main process that is still alive is left alone: its pid was
//! reused, or it outlived going (a setuid program loses the death signal).

use crate::log::{Logger, Severity};
use crate::proc_stat::{self, ProcessStat};
use alloc::string::String;
use alloc::vec::Vec;
use rustix::process::{Pid, Signal};

/// What a status file says of the process it names.
#[derive(Debug, PartialEq, Eq)]
struct Recorded<'a> {
    pid: i32,
    boot_id: &'a str,
    start_time: u64,
}

fn recorded(text: &str) -> Option<Recorded<'_>> {
    use crate::protocol::status::{BOOT_ID, PID, START_TIME, value};
    Some(Recorded {
        pid: value(text, PID)?.parse().ok()?,
        boot_id: value(text, BOOT_ID)?,
        start_time: value(text, START_TIME)?.parse().ok()?,
    })
}

/// Whether process group `recorded.pid` is still the one the status file describes.
fn is_recorded_group(recorded: &Recorded, processes: &[(i32, ProcessStat)]) -> bool {
    let main = processes.iter().find(|(pid, _)| *pid == recorded.pid);
    if main.is_some_and(|(_, stat)| !stat.is_zombie() || stat.start_time != recorded.start_time) {
        return false;
    }
    let mut members = processes.iter().filter(|(_, stat)| stat.group == recorded.pid).peekable();
    members.peek().is_some() && members.all(|(_, stat)| stat.start_time >= recorded.start_time)
}

/// SIGKILLs every process group a previous going's status files name, where it is still theirs.
pub fn kill_leftovers(previous: &[(String, String)], boot_id: &str, logger: &mut Logger) {
    let own_pid = rustix::process::getpid().as_raw_nonzero().get();
    let candidates: Vec<(&str, Recorded)> = previous
        .iter()
        .filter_map(|(name, text)| Some((name.as_str(), recorded(text)?)))
        .filter(|(_, recorded)| recorded.pid > 1 && recorded.pid != own_pid)
        .filter(|(_, recorded)| !boot_id.is_empty() && recorded.boot_id == boot_id)
        .collect();
    if candidates.is_empty() {
        return;
    }
    let processes = proc_stat::all_processes();
    for (name, recorded) in candidates {
        if !is_recorded_group(&recorded, &processes) {
            continue;
        }
        let group = Pid::from_raw(recorded.pid).expect("BUG: filtered to pids above 1");
        if rustix::process::kill_process_group(group, Signal::KILL).is_ok() {
            let pid = recorded.pid;
            logger.log(
                Severity::Warning,
                format_args!("{name}: killed what a previous going left of its process group {pid}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(state: u8, group: i32, start_time: u64) -> ProcessStat {
        ProcessStat { state, group, cpu_ticks: 0, start_time }
    }

    const RECORDED: Recorded = Recorded { pid: 40, boot_id: "b", start_time: 100 };

    #[test]
    fn a_status_file_names_pid_boot_and_start_time() {
        let text = "state=up\npid=40\nboot_id=b\nstart_time=100\nsince=1\n";
        assert_eq!(recorded(text), Some(RECORDED));
        assert_eq!(recorded("state=up\npid=40\n"), None, "no identity: never killed");
        assert_eq!(recorded("state=up\npid=-16231\nboot_id=b\nstart_time=1\n").unwrap().pid, -16231);
    }

    #[test]
    fn only_the_group_of_a_dead_main_process_with_no_older_member_is_killed() {
        let leftover = (41, stat(b'S', 40, 150));
        assert!(is_recorded_group(&RECORDED, &[leftover]));
        assert!(is_recorded_group(&RECORDED, &[(40, stat(b'Z', 40, 100)), leftover]));
        assert!(!is_recorded_group(&RECORDED, &[(40, stat(b'S', 40, 100)), leftover]), "main alive");
        assert!(!is_recorded_group(&RECORDED, &[(40, stat(b'Z', 40, 90)), leftover]), "another zombie");
        assert!(!is_recorded_group(&RECORDED, &[(41, stat(b'S', 40, 99))]), "a member older than the service");
        assert!(!is_recorded_group(&RECORDED, &[(41, stat(b'S', 7, 150))]), "no member left");
    }
}
