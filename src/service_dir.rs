//! The configuration directory: which files are services, whether going
//! may trust them, and their contents parsed.
//!
//! A file or the directory itself must be owned by root or going's own user
//! and not be writable by group or others: whoever can write a service file
//! can run commands as going's user. Symlinks are followed and the rule is
//! applied to their target; the directory's parents are not checked.

use crate::accounts;
use crate::config::{self, ConfigError, Located, MAX_FILE_SIZE};
use crate::log::{Logger, Severity, describe};
use crate::procfile;
use crate::supervisor::Scanned;
use alloc::ffi::CString;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ffi::CStr;
use rustix::fd::OwnedFd;
use rustix::fs::{FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// More service files than this are refused (the rest of the directory, in name order).
pub const MAX_SERVICES: usize = 32_768;

/// Why the directory as a whole cannot be used.
#[derive(Debug)]
pub enum DirError {
    /// Missing or unreadable: exit 72 (EX_OSFILE) at start.
    Unreadable(Errno),
    /// Refused by the ownership and mode rule: exit 78 (EX_CONFIG) at start.
    Untrusted(String),
}

impl core::fmt::Display for DirError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            DirError::Unreadable(error) => write!(f, "cannot read: {}", describe(*error)),
            DirError::Untrusted(reason) => f.write_str(reason),
        }
    }
}

/// Whether a name in the directory is a service: not hidden, not a backup.
pub fn is_service_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.starts_with(b".") && !name.ends_with(b"~")
}

/// Why going must not trust a file with this owner and mode, if it must not.
pub fn distrust_reason(stat: &Stat, own_uid: u32) -> Option<String> {
    let owner = stat.st_uid;
    if owner != 0 && owner != own_uid {
        return Some(format!("owned by uid {owner}, not by root or going's user; chown it to root"));
    }
    let mode = Mode::from_raw_mode(stat.st_mode);
    if mode.intersects(Mode::WGRP | Mode::WOTH) {
        return Some("writable by group or others; chmod go-w it".to_string());
    }
    None
}

/// Opens and checks the directory.
pub fn open_dir(path: &CStr) -> Result<OwnedFd, DirError> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let dir = rustix::fs::open(path, flags, Mode::empty()).map_err(DirError::Unreadable)?;
    let stat = rustix::fs::fstat(&dir).map_err(DirError::Unreadable)?;
    let own_uid = rustix::process::geteuid().as_raw();
    match distrust_reason(&stat, own_uid) {
        Some(reason) => Err(DirError::Untrusted(format!("refused: {reason}"))),
        None => Ok(dir),
    }
}

/// What a scan found.
pub struct Scan {
    pub services: Vec<(String, Scanned)>,
    /// The directories of the Procfiles named, to watch too.
    pub procfile_dirs: Vec<String>,
}

/// Reads every service file of the directory. Problems with one file are
/// logged and give [`Scanned::Invalid`] (or nothing, for files that are no
/// services); only a problem with the directory itself is an error. Names in
/// `being_written` are not read: they give [`Scanned::Invalid`], which keeps
/// a running service as it is. `known` are the services going runs now: a
/// Procfile that cannot be used keeps those of its processes running.
pub fn scan(
    path: &CStr,
    being_written: &[CString],
    known: &[&str],
    told: &mut ToldErrors,
    logger: &mut Logger,
) -> Result<Scan, DirError> {
    let dir = open_dir(path)?;
    let mut logger = Reporter { logger, told, lines: Vec::new() };
    let logger = &mut logger;
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(&dir).map_err(DirError::Unreadable)? {
        let entry = entry.map_err(DirError::Unreadable)?;
        if is_service_name(entry.file_name().to_bytes()) {
            names.push(alloc::borrow::ToOwned::to_owned(entry.file_name()));
        }
    }
    names.sort();
    let own_uid = rustix::process::geteuid().as_raw();
    let mut accounts = AccountFiles::default();
    let mut services = Vec::new();
    let mut procfile_dirs = Vec::new();
    let file_names: Vec<String> = names.iter().filter_map(|name| name.to_str().ok().map(String::from)).collect();
    for name in names {
        let Ok(text) = name.to_str() else {
            let shown = name.to_string_lossy();
            logger.log(Severity::Error, format_args!("{shown}: file name is not valid UTF-8; rename it (not started)"));
            continue;
        };
        if text.chars().any(char::is_control) {
            logger.log(
                Severity::Error,
                format_args!("{text:?}: file name has control characters; rename it (not started)"),
            );
            continue;
        }
        if text == crate::protocol::CONTROL {
            let message = "the name is taken by goingctl's FIFO in the run directory; rename the file";
            logger.log(Severity::Error, format_args!("{text}: {message} (not started)"));
            continue;
        }
        if services.len() == MAX_SERVICES {
            logger.log(
                Severity::Error,
                format_args!("{text}: more than {MAX_SERVICES} services; this one and later names are not started"),
            );
            break;
        }
        if being_written.contains(&name) {
            services.push((text.to_string(), Scanned::Invalid));
            continue;
        }
        match read_service(&dir, &name, own_uid, &mut accounts) {
            Ok(None) => {}
            Ok(Some(spec)) if spec.options().procfile.is_some() => {
                let procfile = Procfile { file: text, spec: &spec, file_names: &file_names, known };
                procfile_dirs.extend(procfile.expand(own_uid, &mut services, logger));
            }
            Ok(Some(spec)) => services.push((text.to_string(), Scanned::Valid(alloc::rc::Rc::new(spec)))),
            Err(message) => {
                logger.log(Severity::Error, format_args!("{message} (not started; a running instance keeps running)"));
                services.push((text.to_string(), Scanned::Invalid));
            }
        }
    }
    logger.finish();
    Ok(Scan { services, procfile_dirs })
}

/// The error lines the last scan logged. A rescan logs only lines that are
/// new, so a broken file is told once, not at every rescan that another
/// file's change (or a flood of changes) causes; a file fixed and broken
/// again is told again.
#[derive(Default)]
pub struct ToldErrors(Vec<String>);

impl ToldErrors {
    /// A forced rescan (SIGHUP) tells every error again.
    pub fn forget(&mut self) {
        self.0.clear();
    }
}

/// Logs a scan's lines through [`ToldErrors`].
struct Reporter<'a> {
    logger: &'a mut Logger,
    told: &'a mut ToldErrors,
    lines: Vec<String>,
}

impl Reporter<'_> {
    fn log(&mut self, severity: Severity, message: core::fmt::Arguments) {
        let line = message.to_string();
        if self.told.0.binary_search(&line).is_err() {
            self.logger.log(severity, format_args!("{line}"));
        }
        self.lines.push(line);
    }

    fn finish(&mut self) {
        let mut lines = core::mem::take(&mut self.lines);
        lines.sort_unstable();
        lines.dedup();
        self.told.0 = lines;
    }
}

/// A service file that names a Procfile, being expanded into its processes.
struct Procfile<'a> {
    /// The service file's name.
    file: &'a str,
    spec: &'a config::ServiceSpec,
    /// Every service file's name: a process may not take one.
    file_names: &'a [String],
    known: &'a [&'a str],
}

impl Procfile<'_> {
    /// Adds one service per process type; returns the Procfile's directory to watch.
    fn expand(&self, own_uid: u32, services: &mut Vec<(String, Scanned)>, logger: &mut Reporter) -> Option<String> {
        let path = self.spec.options().procfile.as_deref().expect("BUG: called for a procfile= spec");
        let dir = &path[..path.rfind('/').unwrap_or(0).max(1)];
        let file_name = &path[path.rfind('/').map_or(0, |slash| slash + 1)..];
        let dotenv_path = format!("{}/.env", dir.trim_end_matches('/'));
        let parsed = open_app_dir(dir, own_uid).and_then(|app_dir| {
            let text = read_app_file(&app_dir, file_name, path, own_uid, false)?;
            let types = procfile::parse_procfile(&text).map_err(|e| format!("{}", Located(path, &e)))?;
            let text = read_app_file(&app_dir, ".env", &dotenv_path, own_uid, true)?;
            let dotenv = procfile::parse_dotenv(&text).map_err(|e| format!("{}", Located(&dotenv_path, &e)))?;
            Ok((types, dotenv))
        });
        let (types, dotenv) = match parsed {
            Ok(parsed) => parsed,
            Err(message) => {
                let file = self.file;
                logger.log(
                    Severity::Error,
                    format_args!("{file}: {message} (not started; running processes keep running)"),
                );
                let prefix = format!("{file}.");
                let running = self.known.iter().filter(|name| name.starts_with(&prefix));
                services.extend(running.map(|name| (name.to_string(), Scanned::Invalid)));
                return Some(dir.into());
            }
        };
        for (process, spec) in procfile::expand(self.spec, dir, &types, &dotenv) {
            let name = format!("{}.{}", self.file, process.name);
            if self.file_names.binary_search(&name).is_ok() {
                let line = process.line;
                let message = format_args!(
                    "{path}:{line}: process type \"{}\" would be service {name}, which a service file already is; rename one",
                    process.name
                );
                logger.log(Severity::Error, message);
                continue;
            }
            services.push((name, Scanned::Valid(alloc::rc::Rc::new(spec))));
        }
        Some(dir.into())
    }
}

/// What a trusted read found.
enum Found {
    /// No such file (or it vanished between readdir and open).
    Missing,
    /// A directory, FIFO, device or socket.
    NotRegular,
    Bytes(Vec<u8>),
}

/// Reads `name` in `dir` under the ownership and mode rule: whoever can write
/// a file going reads decides what runs and as whom. Never blocks on a FIFO;
/// `follow`: a symlink is followed (service files) or refused (Procfiles and
/// `.env`, whose directory an app's owner may share). Errors name `shown`.
fn read_trusted(dir: &OwnedFd, name: &CStr, shown: &str, own_uid: u32, follow: bool) -> Result<Found, String> {
    let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NONBLOCK | OFlags::NOCTTY;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    let file = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(file) => file,
        Err(Errno::NOENT) => return Ok(Found::Missing),
        Err(Errno::LOOP) if !follow => return Err(format!("{shown}: is a symlink, which is not followed here")),
        Err(error) => return Err(format!("{shown}: cannot open: {}", describe(error))),
    };
    let stat = rustix::fs::fstat(&file).map_err(|e| format!("{shown}: cannot stat: {}", describe(e)))?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Ok(Found::NotRegular);
    }
    if let Some(reason) = distrust_reason(&stat, own_uid) {
        return Err(format!("{shown}: refused: {reason}"));
    }
    let bytes = read_limited(&file).map_err(|e| format!("{shown}: cannot read: {}", describe(e)))?;
    Ok(Found::Bytes(bytes))
}

/// A Procfile or its `.env` as text, read from the Procfile's directory
/// (already checked). `missing_is_empty`: a missing `.env` is an empty one.
fn read_app_file(
    dir: &OwnedFd,
    name: &str,
    shown: &str,
    own_uid: u32,
    missing_is_empty: bool,
) -> Result<String, String> {
    let name = CString::new(name).map_err(|_| format!("{shown}: the path has a NUL byte"))?;
    let bytes = match read_trusted(dir, &name, shown, own_uid, false)? {
        Found::Bytes(bytes) => bytes,
        Found::Missing if missing_is_empty => Vec::new(),
        Found::Missing => return Err(format!("{shown}: cannot open: {}", describe(Errno::NOENT))),
        Found::NotRegular => return Err(format!("{shown}: not a regular file")),
    };
    if bytes.len() > MAX_FILE_SIZE {
        return Err(format!("{shown}: file is larger than {MAX_FILE_SIZE} bytes"));
    }
    String::from_utf8(bytes).map_err(|_| format!("{shown}: not valid UTF-8"))
}

/// Opens a Procfile's directory under the ownership and mode rule: whoever
/// may write there could put a symlink in place of the Procfile or `.env`.
fn open_app_dir(dir: &str, own_uid: u32) -> Result<OwnedFd, String> {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(dir, flags, Mode::empty()).map_err(|e| format!("{dir}: cannot open: {}", describe(e)))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| format!("{dir}: cannot stat: {}", describe(e)))?;
    match distrust_reason(&stat, own_uid) {
        Some(reason) => Err(format!("{dir}: refused: {reason}")),
        None => Ok(fd),
    }
}

/// One file: `Ok(None)` when it is no service (not a regular file, or gone).
fn read_service(
    dir: &OwnedFd,
    name: &CStr,
    own_uid: u32,
    accounts: &mut AccountFiles,
) -> Result<Option<config::ServiceSpec>, String> {
    let shown = name.to_string_lossy();
    let Found::Bytes(bytes) = read_trusted(dir, name, &shown, own_uid, true)? else {
        return Ok(None);
    };
    let located = |error: ConfigError| format!("{}", Located(&shown, &error));
    let (mut spec, lines) = config::parse_with_lines(&bytes).map_err(located)?;
    if let Some(config::LogTarget::File { path, .. }) = &spec.options().log {
        let directory = &path[..path.rfind('/').unwrap_or(0).max(1)];
        let message = match rustix::fs::stat(directory) {
            Ok(stat) if !FileType::from_raw_mode(stat.st_mode).is_dir() => Some("is not a directory".to_string()),
            // going writes there as its user: whoever else may write there could plant a symlink.
            Ok(stat) => distrust_reason(&stat, own_uid).map(|reason| format!("refused: {reason}")),
            Err(_) => Some("does not exist; create it".to_string()),
        };
        if let Some(message) = message {
            let message = format!("log directory {directory} {message}");
            return Err(located(ConfigError::at(lines.log, message)));
        }
    }
    let options = spec.options();
    if options.user.is_none() && options.group.is_none() && options.chroot.is_none() {
        return Ok(Some(spec));
    }
    if own_uid != 0 {
        let message = "user=, group= and chroot= need going to run as root".to_string();
        return Err(located(ConfigError::at(lines.privileged, message)));
    }
    let (passwd, group) = accounts.load();
    let identity = accounts::resolve(options.user.as_ref(), options.group.as_ref(), passwd, group).map_err(located)?;
    if let Some(options) = spec.options.as_mut() {
        options.identity = identity;
    }
    Ok(Some(spec))
}

/// /etc/passwd and /etc/group, read once per scan and only when a file needs them.
#[derive(Default)]
struct AccountFiles(Option<(String, String)>);

/// Account files larger than this are read no further (about 40 000 users).
const MAX_ACCOUNT_FILE: usize = 4 << 20;

impl AccountFiles {
    fn load(&mut self) -> (&str, &str) {
        let (passwd, group) = self.0.get_or_insert_with(|| (read_text(c"/etc/passwd"), read_text(c"/etc/group")));
        (passwd, group)
    }
}

/// A whole text file, or nothing when it cannot be read (every lookup then fails with its own error).
fn read_text(path: &CStr) -> String {
    let Ok(file) = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
        return String::new();
    };
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    while let Ok(count @ 1..) = rustix::io::read(&file, &mut chunk) {
        bytes.extend_from_slice(&chunk[..count]);
        if bytes.len() > MAX_ACCOUNT_FILE {
            break;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Reads at most one byte more than [`MAX_FILE_SIZE`], so that the parser sees an over-size file as one.
fn read_limited(file: &OwnedFd) -> Result<Vec<u8>, Errno> {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    while bytes.len() <= MAX_FILE_SIZE {
        match rustix::io::read(file, &mut chunk) {
            Ok(0) => break,
            Ok(count) => bytes.extend_from_slice(&chunk[..count]),
            Err(Errno::INTR) => continue,
            Err(error) => return Err(error),
        }
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_and_backup_names_are_no_services() {
        assert!(is_service_name(b"web"));
        assert!(is_service_name(b"web.conf"));
        assert!(!is_service_name(b".web.swp"));
        assert!(!is_service_name(b"web~"));
        assert!(!is_service_name(b""));
    }
}
