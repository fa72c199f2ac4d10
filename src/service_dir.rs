//! The configuration directory: which names are services, and each one
//! read ([`crate::trust`]), parsed ([`crate::config`]), completed from the
//! system ([`crate::system_checks`]) and, for a Procfile app, expanded into
//! one service per process type. Symlinks to service files are followed and
//! the trust rule is applied to their target; the directory's parents are
//! not checked.

use crate::config::{self, ConfigError, Located, MAX_FILE_SIZE, ProcfileApp, ServiceFile};
use crate::log::{Logger, Severity, describe};
use crate::paths::split_parent;
use crate::procfile;
use crate::supervisor::Scanned;
use crate::system_checks::{self, AccountFiles};
use crate::trust::{self, DirError, Found};
use alloc::ffi::CString;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::ffi::CStr;
use rustix::fd::OwnedFd;
use rustix::io::Errno;

/// More service files than this are refused (the rest of the directory, in name order).
pub const MAX_SERVICES: usize = 32_768;

/// Whether a name in the directory is a service: not hidden, not a backup.
pub fn is_service_name(name: &[u8]) -> bool {
    !name.is_empty() && !name.starts_with(b".") && !name.ends_with(b"~")
}

/// The ends of names that a package manager or an editor leaves beside a service file
/// (`web.dpkg-old`), and `.disabled`, the way to switch a service off: such files are
/// ignored, as run-parts and cron ignore them.
const IGNORED_SUFFIXES: [&str; 11] = [
    ".dpkg-old",
    ".dpkg-new",
    ".dpkg-dist",
    ".dpkg-tmp",
    ".rpmsave",
    ".rpmnew",
    ".bak",
    ".orig",
    ".swp",
    ".tmp",
    ".disabled",
];

/// Whether `name` is a file going ignores although it may look like a service ([`IGNORED_SUFFIXES`], `.ucf-*`).
pub fn is_ignored(name: &str) -> bool {
    IGNORED_SUFFIXES.iter().any(|suffix| name.ends_with(suffix) && name.len() > suffix.len())
        || name.rfind(".ucf-").is_some_and(|at| at > 0)
}

/// What a scan found.
pub struct Scan {
    pub services: Vec<(String, Scanned)>,
    /// The directories of the Procfiles named, to watch too.
    pub procfile_dirs: Vec<String>,
}

/// What a scan reads, and what it knows of the services going runs.
pub struct Scope<'a> {
    /// The files to read, when inotify named what changed (a name that is gone gives
    /// nothing); `None` reads every file.
    pub only: Option<&'a [CString]>,
    /// Files still open for writing: not read, they give [`Scanned::Unread`], which keeps
    /// a running service as it is.
    pub being_written: &'a [CString],
    /// The services going runs now: a Procfile that cannot be used keeps those of its
    /// processes running.
    pub known: &'a [&'a str],
    /// How many services the scan may give before later names are refused.
    pub room: usize,
}

impl Scope<'_> {
    /// Every file, for a going that runs nothing yet.
    pub const EVERYTHING: Scope<'static> = Scope { only: None, being_written: &[], known: &[], room: MAX_SERVICES };
}

/// Reads the service files of the directory that `scope` names. Problems with
/// one file are logged and give [`Scanned::Refused`] (or nothing, for files
/// that are no services); only a problem with the directory itself is an
/// error.
pub fn scan(path: &CStr, scope: Scope, told: &mut ToldErrors, logger: &mut Logger) -> Result<Scan, DirError> {
    let Scope { only, being_written, known, room } = scope;
    let dir = trust::open_dir(path)?;
    let mut logger = Reporter { logger, told, lines: Vec::new(), files: only.map(<[CString]>::to_vec) };
    let logger = &mut logger;
    let mut names = match only {
        Some(names) => names.iter().filter(|name| is_service_name(name.to_bytes())).cloned().collect(),
        None => list_services(&dir)?,
    };
    names.sort_unstable();
    let mut accounts = AccountFiles::default();
    // At its size at once: growing by doubling would hold two copies at the peak.
    let mut services = Vec::with_capacity(names.len().min(room));
    let mut procfile_dirs = Vec::new();
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
        if is_ignored(text) {
            let message = "ignored (a name left by a package manager or an editor, or .disabled)";
            logger.log(Severity::Notice, format_args!("{text}: {message}"));
            continue;
        }
        if services.len() >= room {
            logger.log(
                Severity::Error,
                format_args!("{text}: more than {MAX_SERVICES} services; this one and later names are not started"),
            );
            break;
        }
        if being_written.contains(&name) {
            services.push((text.to_string(), Scanned::Unread));
            continue;
        }
        match read_service(&dir, &name, &mut accounts) {
            Ok(None) => {}
            Ok(Some(ServiceFile::Procfile(app))) => {
                let procfile = Procfile { file: text, app: &app, dir: &dir, known };
                procfile_dirs.push(procfile.expand(&mut services, logger));
            }
            Ok(Some(ServiceFile::Command(spec))) => {
                services.push((text.to_string(), Scanned::Valid(alloc::boxed::Box::new(spec))))
            }
            Err(message) => {
                logger.log(Severity::Error, format_args!("{message} (not started; a running instance keeps running)"));
                services.push((text.to_string(), Scanned::Refused(alloc::boxed::Box::new(message))));
            }
        }
    }
    logger.finish();
    Ok(Scan { services, procfile_dirs })
}

/// Every name in the directory that may be a service.
fn list_services(dir: &OwnedFd) -> Result<Vec<CString>, DirError> {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir).map_err(DirError::Unreadable)? {
        let entry = entry.map_err(DirError::Unreadable)?;
        if is_service_name(entry.file_name().to_bytes()) {
            names.push(alloc::borrow::ToOwned::to_owned(entry.file_name()));
        }
    }
    Ok(names)
}

/// Whether `name` is an entry of the directory (a service file takes its name from a Procfile process).
pub fn is_in(dir: impl rustix::fd::AsFd, name: &str) -> bool {
    rustix::fs::statat(dir, name, rustix::fs::AtFlags::SYMLINK_NOFOLLOW).is_ok()
}

/// Whether `name` is an entry of the directory at `path` ([`is_in`]).
pub fn is_in_path(path: &CStr, name: &str) -> bool {
    rustix::fs::open(
        path,
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .is_ok_and(|dir| is_in(&dir, name))
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
    /// The files a partial scan read: only their lines are replaced in `told`.
    files: Option<Vec<CString>>,
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
        if let Some(files) = &self.files {
            // Every line of a file's error starts with its name and a colon.
            let of_read_file = |line: &String| {
                files.iter().any(|file| {
                    line.as_bytes().strip_prefix(file.to_bytes()).is_some_and(|rest| rest.starts_with(b":"))
                })
            };
            lines.extend(self.told.0.drain(..).filter(|line| !of_read_file(line)));
        }
        lines.sort_unstable();
        lines.dedup();
        self.told.0 = lines;
    }
}

/// A service file that names a Procfile, being expanded into its processes.
struct Procfile<'a> {
    /// The service file's name.
    file: &'a str,
    app: &'a ProcfileApp,
    /// The service directory: a process may not take the name of a file in it.
    dir: &'a OwnedFd,
    known: &'a [&'a str],
}

impl Procfile<'_> {
    /// Adds one service per process type; returns the Procfile's directory to watch.
    fn expand(&self, services: &mut Vec<(String, Scanned)>, logger: &mut Reporter) -> String {
        let path = self.app.path.as_str();
        let (dir, file_name) = split_parent(path);
        let dotenv_path = format!("{}/.env", dir.trim_end_matches('/'));
        // Whoever may write the app's directory could put a symlink in place of the Procfile or `.env`.
        let parsed = trust::open_dir(dir).map_err(|error| format!("{dir}: {error}")).and_then(|app_dir| {
            let text = read_app_file(&app_dir, file_name, path, false)?;
            let types = procfile::parse_procfile(&text).map_err(|e| format!("{}", Located(path, &e)))?;
            let text = read_app_file(&app_dir, ".env", &dotenv_path, true)?;
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
                let prefix = procfile::process_prefix(file);
                let running = self.known.iter().filter(|name| name.starts_with(&prefix));
                services.extend(running.map(|name| (name.to_string(), Scanned::Unread)));
                services
                    .push((file.to_string(), Scanned::Refused(alloc::boxed::Box::new(format!("{file}: {message}")))));
                return dir.into();
            }
        };
        for (process, mut spec) in procfile::expand(self.app, dir, &types, &dotenv) {
            let name = procfile::process_name(self.file, &process.name);
            spec.settings_mut().app = Some(self.file.into());
            if is_in(self.dir, &name) {
                let line = process.line;
                let message = format_args!(
                    "{path}:{line}: process type \"{}\" would be service {name}, which a service file already is; rename one",
                    process.name
                );
                logger.log(Severity::Error, message);
                continue;
            }
            services.push((name, Scanned::Valid(alloc::boxed::Box::new(spec))));
        }
        dir.into()
    }
}

/// A Procfile or its `.env` as text, read from the Procfile's directory
/// (already checked). `missing_is_empty`: a missing `.env` is an empty one.
fn read_app_file(dir: &OwnedFd, name: &str, shown: &str, missing_is_empty: bool) -> Result<String, String> {
    let name = CString::new(name).map_err(|_| format!("{shown}: the path has a NUL byte"))?;
    let bytes = match trust::read_trusted(dir, &name, shown, false)? {
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

/// One file: `Ok(None)` when it is no service (not a regular file, or gone).
fn read_service(dir: &OwnedFd, name: &CStr, accounts: &mut AccountFiles) -> Result<Option<ServiceFile>, String> {
    let shown = name.to_string_lossy();
    let Found::Bytes(bytes) = trust::read_trusted(dir, name, &shown, true)? else {
        return Ok(None);
    };
    let located = |error: ConfigError| format!("{}", Located(&shown, &error));
    let (mut file, lines) = config::parse_with_lines(&bytes).map_err(located)?;
    system_checks::complete(&mut file, lines, accounts).map_err(located)?;
    Ok(Some(file))
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

    #[test]
    fn names_a_package_manager_or_editor_leaves_are_ignored() {
        for name in ["web.dpkg-old", "web.dpkg-new", "web.ucf-dist", "web.rpmnew", "web.bak", "web.disabled", "web.swp"]
        {
            assert!(is_ignored(name), "{name}");
        }
        for name in ["web", "web.conf", "disabled", ".disabled", "web.disabled.conf", "dpkg-old"] {
            assert!(!is_ignored(name), "{name}");
        }
    }
}
