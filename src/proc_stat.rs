//! What /proc says of a process, read without libc: its state, its process
//! group and its start time, from `/proc/PID/stat`; and the boot id.
//!
//! The pair (boot id, start time) names one process for the life of the
//! machine: a pid is reused, that pair is not. Status files record it so that
//! a later going never mistakes a reused pid for a service of its own.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use rustix::fs::{Mode, OFlags};

/// The fields of `/proc/PID/stat` going needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProcessStat {
    /// `R`, `S`, `Z`...
    pub state: u8,
    pub group: i32,
    /// User and system CPU time in clock ticks (fields 14 and 15).
    pub cpu_ticks: u64,
    /// Clock ticks after boot (field 22).
    pub start_time: u64,
}

impl ProcessStat {
    pub fn is_zombie(&self) -> bool {
        self.state == b'Z'
    }
}

/// Parses the text of `/proc/PID/stat`. The command name may hold spaces and
/// `)`: the fields start after the last `)`.
pub fn parse_stat(stat: &[u8]) -> Option<ProcessStat> {
    let after_name = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
    let text = core::str::from_utf8(after_name).ok()?;
    // After the name: state(3) ppid(4) pgrp(5) ... utime(14) stime(15) ... starttime(22).
    let fields: Vec<&str> = text.split_ascii_whitespace().take(20).collect();
    let number = |index: usize| fields.get(index)?.parse::<u64>().ok();
    Some(ProcessStat {
        state: *fields.first()?.as_bytes().first()?,
        group: fields.get(2)?.parse().ok()?,
        cpu_ticks: number(11)? + number(12)?,
        start_time: number(19)?,
    })
}

/// Reads `/proc/PID/stat`; `None` when the process is gone (or /proc is not mounted).
pub fn read(pid: i32) -> Option<ProcessStat> {
    let path = format!("/proc/{pid}/stat");
    let file = rustix::fs::open(path.as_str(), OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let mut buffer = [0u8; 1024];
    let count = rustix::io::read(&file, &mut buffer).ok()?;
    parse_stat(&buffer[..count])
}

/// This boot's id (`/proc/sys/kernel/random/boot_id`), empty when unknown.
pub fn boot_id() -> String {
    let flags = OFlags::RDONLY | OFlags::CLOEXEC;
    let Ok(file) = rustix::fs::open(c"/proc/sys/kernel/random/boot_id", flags, Mode::empty()) else {
        return String::new();
    };
    let mut buffer = [0u8; 64];
    let count = rustix::io::read(&file, &mut buffer).unwrap_or(0);
    let text = core::str::from_utf8(&buffer[..count]).unwrap_or("");
    text.trim().into()
}

/// Every process's pid and stat, for matching groups against status files.
pub fn all_processes() -> Vec<(i32, ProcessStat)> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let Ok(dir) = rustix::fs::open(c"/proc", flags, Mode::empty()) else {
        return Vec::new();
    };
    let Ok(entries) = rustix::fs::Dir::read_from(&dir) else {
        return Vec::new();
    };
    let pids = entries.filter_map(|entry| entry.ok()?.file_name().to_str().ok()?.parse::<i32>().ok());
    pids.filter_map(|pid| Some((pid, read(pid)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_after_the_last_parenthesis() {
        let stat = b"42 (we) ird) S 1 40 40 0 -1 4194560 1 0 0 0 7 5 0 0 20 0 1 0 12345 1000 200 18446744073709551615";
        let parsed = parse_stat(stat).unwrap();
        assert_eq!(parsed, ProcessStat { state: b'S', group: 40, cpu_ticks: 12, start_time: 12345 });
        assert!(parse_stat(b"42 (cut short) Z 1 40").is_none());
    }

    #[test]
    fn this_process_is_found() {
        let me = rustix::process::getpid().as_raw_nonzero().get();
        let stat = read(me).unwrap();
        let group = rustix::process::getpgrp().as_raw_nonzero().get();
        assert_eq!(stat.group, group);
        assert!(stat.start_time > 0);
        assert!(boot_id().len() == 36, "{}", boot_id());
    }
}
