//! Service output: the lines a service writes to stdout and stderr, into a
//! timestamped, rotated file (`log=PATH`) or going's own stdout (`log=-`).
//!
//! Each logged service has one pipe for its whole life in the table, as
//! runit keeps a log pipe between restarts: every process of the service
//! writes to it, so output written just before an exit is still in the pipe
//! when going reads it. When the service goes away going closes its write
//! end and keeps reading until every descendant still holding the pipe has
//! closed it too.
//!
//! going never blocks on a log: reads are bounded per wakeup and per pipe,
//! lines longer than [`MAX_LINE`] are written in pieces, and a line that
//! cannot be written (disk full, stdout reader gone) is counted and dropped,
//! with one log line when it starts and one when writing works again.

use crate::config::LogTarget;
use crate::console::Console;
use crate::events::{Poller, Source};
use crate::log::{Logger, Severity, describe};
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags};
use rustix::io::Errno;
use rustix::pipe::PipeFlags;

/// A longer line is written in pieces of this size.
pub const MAX_LINE: usize = 4096;
/// The most going reads from one pipe in one wakeup: a flood cannot starve the rest.
pub const READ_PER_WAKEUP: usize = 64 * 1024;

/// `2026-11-26T06:30:00.123Z`: RFC 3339 in UTC with milliseconds.
pub fn timestamp(unix_millis: u64) -> String {
    let (days, millis_of_day) = (unix_millis / 86_400_000, unix_millis % 86_400_000);
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let seconds = millis_of_day / 1000;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60,
        millis_of_day % 1000
    )
}

/// Formatted lines waiting for one write; flushed at [`BATCH_SIZE`], so memory stays bounded.
struct Batch {
    prefix: String,
    bytes: Vec<u8>,
    lines: u64,
}

/// A batch is written once it holds this much.
const BATCH_SIZE: usize = 32 * 1024;

impl Batch {
    fn new(prefix: String) -> Batch {
        Batch { prefix, bytes: Vec::new(), lines: 0 }
    }

    fn push(&mut self, line: &[u8]) {
        self.bytes.extend_from_slice(self.prefix.as_bytes());
        self.bytes.extend_from_slice(line);
        self.bytes.push(b'\n');
        self.lines += 1;
    }
}

/// One service's pipe and where its lines go.
struct ServiceLog {
    name: String,
    target: LogTarget,
    read_end: OwnedFd,
    /// `None` once the service is gone: read until the last holder closes it.
    write_end: Option<OwnedFd>,
    /// The start of a line whose newline has not arrived yet.
    partial: Vec<u8>,
    /// The open log file (`log=PATH`), opened when first needed.
    file: Option<OwnedFd>,
    /// Bytes in the file, for rotation.
    size: u64,
    /// Lines dropped since writing started failing; `Some` while it fails.
    dropped: Option<u64>,
}

/// Every service log, for the event loop.
pub struct ServiceLogs {
    /// By slot, the id of a pipe in the epoll set; a slot is reused only once
    /// its pipe is out of the set (free slots are listed in `free`).
    logs: Vec<Option<ServiceLog>>,
    free: Vec<u32>,
    /// Each service's current pipe, the one its new processes write to, sorted
    /// by name; a retired pipe stays in `logs` until its last writer closes it.
    current: Vec<(String, u32)>,
    /// going's stdout, written without blocking, so `log=-` never blocks going.
    stdout: Console,
}

impl Default for ServiceLogs {
    fn default() -> Self {
        Self::new()
    }
}

impl ServiceLogs {
    pub fn new() -> ServiceLogs {
        let stdout = Console::new(crate::rt::stdout());
        ServiceLogs { logs: Vec::new(), free: Vec::new(), current: Vec::new(), stdout }
    }

    /// The descriptor a new process of `name` gets as stdout and stderr. A
    /// new pipe is registered with `poller`.
    pub fn writer_for(&mut self, name: &str, target: &LogTarget, poller: &Poller) -> Result<BorrowedFd<'_>, Errno> {
        let id = match self.current_id(name) {
            Some(id) if self.log(id).is_some_and(|log| log.target == *target) => id,
            _ => {
                // A new log= for the same service: the old pipe drains into the old target.
                self.retire(name);
                let (read_end, write_end) = rustix::pipe::pipe_with(PipeFlags::CLOEXEC)?;
                rustix::fs::fcntl_setfl(&read_end, OFlags::NONBLOCK)?;
                let id = self.free.pop().unwrap_or(self.logs.len() as u32);
                if let Err(error) = poller.add(&read_end, Source::Log(id)) {
                    self.free.push(id);
                    return Err(error);
                }
                let log = ServiceLog {
                    name: name.into(),
                    target: target.clone(),
                    read_end,
                    write_end: Some(write_end),
                    partial: Vec::new(),
                    file: None,
                    size: 0,
                    dropped: None,
                };
                match self.logs.get_mut(id as usize) {
                    Some(slot) => *slot = Some(log),
                    None => self.logs.push(Some(log)),
                }
                let at = self.current.binary_search_by(|(known, _)| known.as_str().cmp(name)).unwrap_err();
                self.current.insert(at, (name.into(), id));
                id
            }
        };
        let log = self.log(id).expect("BUG: a current log is in its slot");
        Ok(log.write_end.as_ref().expect("BUG: a current log has its write end").as_fd())
    }

    fn current_id(&self, name: &str) -> Option<u32> {
        let at = self.current.binary_search_by(|(known, _)| known.as_str().cmp(name)).ok()?;
        Some(self.current[at].1)
    }

    fn log(&self, id: u32) -> Option<&ServiceLog> {
        self.logs.get(id as usize)?.as_ref()
    }

    fn log_mut(&mut self, id: u32) -> Option<&mut ServiceLog> {
        self.logs.get_mut(id as usize)?.as_mut()
    }

    /// The service is gone: stop holding its pipe open, so that it closes with its last writer.
    pub fn retire(&mut self, name: &str) {
        let Ok(at) = self.current.binary_search_by(|(known, _)| known.as_str().cmp(name)) else { return };
        let (_, id) = self.current.remove(at);
        if let Some(log) = self.log_mut(id) {
            log.write_end = None;
        }
    }

    /// Reads what pipe `id` holds (bounded) and writes its complete lines.
    /// A pipe whose last writer closed it is flushed and forgotten.
    pub fn read(&mut self, id: u32, poller: &Poller, logger: &mut Logger) {
        let stdout = &self.stdout;
        let Some(log) = self.logs.get_mut(id as usize).and_then(Option::as_mut) else { return };
        if log.read_pipe(stdout, logger) == Err(Errno::PIPE) {
            log.finish_partial_line(stdout, logger);
            poller.remove(&log.read_end);
            self.logs[id as usize] = None;
            self.free.push(id);
        }
    }

    /// A process of `name` exited: write what it left in the pipe, its last
    /// line too even without a newline.
    pub fn process_exited(&mut self, name: &str, logger: &mut Logger) {
        let stdout = &self.stdout;
        let id = self.current_id(name);
        if let Some(log) = id.and_then(|id| self.logs.get_mut(id as usize)?.as_mut()) {
            let _ = log.read_pipe(stdout, logger);
            log.finish_partial_line(stdout, logger);
        }
    }
}

impl ServiceLog {
    /// Reads at most [`READ_PER_WAKEUP`]; `Err(PIPE)` once every writer has closed it.
    fn read_pipe(&mut self, stdout: &Console, logger: &mut Logger) -> Result<(), Errno> {
        let mut buffer = [0u8; 16 * 1024];
        let mut total = 0;
        while total < READ_PER_WAKEUP {
            match rustix::io::read(&self.read_end, &mut buffer) {
                Ok(0) => return Err(Errno::PIPE),
                Ok(count) => {
                    total += count;
                    self.take_lines(&buffer[..count], stdout, logger);
                }
                Err(Errno::INTR) => {}
                Err(_) => break,
            }
        }
        Ok(())
    }

    /// Splits `data` into lines (and [`MAX_LINE`] pieces) and writes them.
    fn take_lines(&mut self, data: &[u8], stdout: &Console, logger: &mut Logger) {
        let mut batch = Batch::new(self.prefix());
        let mut rest = data;
        while let Some(newline) = rest.iter().position(|&b| b == b'\n') {
            let line = &rest[..newline];
            rest = &rest[newline + 1..];
            if self.partial.is_empty() {
                self.add_line(&mut batch, line, stdout, logger);
            } else {
                let mut whole = core::mem::take(&mut self.partial);
                whole.extend_from_slice(line);
                self.add_line(&mut batch, &whole, stdout, logger);
            }
        }
        self.partial.extend_from_slice(rest);
        if self.partial.len() >= MAX_LINE {
            let keep_from = self.partial.len() - self.partial.len() % MAX_LINE;
            let tail = self.partial.split_off(keep_from);
            let pieces = core::mem::replace(&mut self.partial, tail);
            self.add_line(&mut batch, &pieces, stdout, logger);
        }
        self.flush(&mut batch, stdout, logger);
    }

    fn finish_partial_line(&mut self, stdout: &Console, logger: &mut Logger) {
        if !self.partial.is_empty() {
            let mut batch = Batch::new(self.prefix());
            let line = core::mem::take(&mut self.partial);
            self.add_line(&mut batch, &line, stdout, logger);
            self.flush(&mut batch, stdout, logger);
        }
    }

    fn prefix(&self) -> String {
        match &self.target {
            LogTarget::File { .. } => format!("{} ", timestamp(crate::clock::unix_millis())),
            LogTarget::Stdout => format!("{} | ", self.name),
        }
    }

    /// Adds one line to the batch, in [`MAX_LINE`] pieces, rotating the file
    /// between two lines when the next would pass the size.
    fn add_line(&mut self, batch: &mut Batch, line: &[u8], stdout: &Console, logger: &mut Logger) {
        let pieces = line.chunks(MAX_LINE).chain(line.is_empty().then_some(&line[..0]));
        for piece in pieces {
            let length = (batch.prefix.len() + piece.len() + 1) as u64;
            if let LogTarget::File { max_size, .. } = self.target
                && self.size + batch.bytes.len() as u64 + length > max_size
            {
                self.flush(batch, stdout, logger);
                self.rotate_if_full(max_size, length);
            }
            batch.push(piece);
            if batch.bytes.len() >= BATCH_SIZE {
                self.flush(batch, stdout, logger);
            }
        }
    }

    fn flush(&mut self, batch: &mut Batch, stdout: &Console, logger: &mut Logger) {
        self.write_batch(&batch.bytes, batch.lines, stdout, logger);
        batch.bytes.clear();
        batch.lines = 0;
    }

    fn write_batch(&mut self, batch: &[u8], lines: u64, stdout: &Console, logger: &mut Logger) {
        if batch.is_empty() {
            return;
        }
        let written: Result<(), WriteFailure> = match &self.target {
            LogTarget::Stdout => stdout.write_all(batch).map_err(WriteFailure::from),
            LogTarget::File { path, .. } => match self.file.as_ref() {
                Some(file) => write_all(file, batch).map_err(WriteFailure::from),
                None => open_log_file(path).and_then(|(file, size)| {
                    self.size = size;
                    let written = write_all(&file, batch);
                    self.file = Some(file);
                    Ok(written?)
                }),
            },
        };
        let destination = match &self.target {
            LogTarget::File { path, .. } => path.as_str(),
            LogTarget::Stdout => "going's stdout",
        };
        let name = &self.name;
        match (written, self.dropped) {
            (Ok(()), None) => self.size += batch.len() as u64,
            (Ok(()), Some(dropped)) => {
                self.size += batch.len() as u64;
                self.dropped = None;
                logger.log(
                    Severity::Notice,
                    format_args!("{name}: writing to {destination} works again; {dropped} lines were dropped"),
                );
            }
            (Err(reason), None) => {
                self.dropped = Some(lines);
                logger.log(
                    Severity::Error,
                    format_args!("{name}: cannot write to {destination}: {reason} (dropping lines until it works)"),
                );
            }
            (Err(_), Some(dropped)) => self.dropped = Some(dropped + lines),
        }
    }

    /// Rotates PATH to PATH.1, PATH.1 to PATH.2 ... keeping `keep` old files,
    /// unless the file was truncated meanwhile (logrotate's copytruncate).
    fn rotate_if_full(&mut self, max_size: u64, next_line: u64) {
        let LogTarget::File { path, keep, .. } = &self.target else {
            return;
        };
        if let Some(file) = &self.file
            && let Ok(stat) = rustix::fs::fstat(file)
        {
            self.size = stat.st_size as u64;
        }
        if self.size == 0 || self.size + next_line <= max_size {
            return;
        }
        self.file = None;
        // Oldest first, so that no rename replaces an existing file: ext4 forces the
        // data of a file renamed over another to disk, milliseconds per rotation.
        let _ = rustix::fs::unlink(format!("{path}.{keep}").as_str());
        for generation in (1..*keep).rev() {
            let _ = rustix::fs::rename(
                format!("{path}.{generation}").as_str(),
                format!("{path}.{}", generation + 1).as_str(),
            );
        }
        let _ = match keep {
            0 => rustix::fs::unlink(path.as_str()),
            _ => rustix::fs::rename(path.as_str(), format!("{path}.1").as_str()),
        };
        self.size = 0;
    }
}

/// Why a line was not written.
enum WriteFailure {
    Os(Errno),
    /// The log path is a FIFO, a device or a hard link to another file: going writes none of them.
    NotAPlainFile,
}

impl From<Errno> for WriteFailure {
    fn from(error: Errno) -> Self {
        WriteFailure::Os(error)
    }
}

impl core::fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            WriteFailure::Os(error) => write!(f, "{}", describe(*error)),
            WriteFailure::NotAPlainFile => f.write_str("not a regular file with a single link; remove it"),
        }
    }
}

fn open_log_file(path: &str) -> Result<(OwnedFd, u64), WriteFailure> {
    // NOFOLLOW: a symlink at PATH must not redirect going's writes elsewhere; NONBLOCK: a FIFO
    // planted there must not hang going in open (it is refused just below).
    let flags = OFlags::WRONLY | OFlags::APPEND | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NOFOLLOW;
    let file = match rustix::fs::open(path, flags | OFlags::NONBLOCK, Mode::from_raw_mode(0o640)) {
        // A FIFO without a reader, or a device without a driver.
        Err(Errno::NXIO) => return Err(WriteFailure::NotAPlainFile),
        opened => opened?,
    };
    let stat = rustix::fs::fstat(&file)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile || stat.st_nlink != 1 {
        return Err(WriteFailure::NotAPlainFile);
    }
    Ok((file, stat.st_size as u64))
}

fn write_all(fd: impl AsFd, bytes: &[u8]) -> Result<(), Errno> {
    crate::console::write_all(bytes, |bytes| rustix::io::write(&fd, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_rfc3339_utc_with_milliseconds() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(timestamp(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
        assert_eq!(timestamp(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }
}
