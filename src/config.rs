//! One service file into a [`ServiceSpec`], or an error naming the line.
//!
//! Pure: bytes in, spec or error out. The rules are going(5)'s and the
//! README's; every error message here is documented there word for word.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use rustix::process::{Resource, Rlimit};

/// A service file larger than this is refused, not truncated.
pub const MAX_FILE_SIZE: usize = 64 * 1024;

/// The working directory of a service whose file names none.
pub const DEFAULT_CWD: &str = "/";

/// Resources `rlimit=` may set, by the name going(5) gives them.
pub const RLIMIT_NAMES: [(&str, Resource); 9] = [
    ("nofile", Resource::Nofile),
    ("nproc", Resource::Nproc),
    ("core", Resource::Core),
    ("as", Resource::As),
    ("fsize", Resource::Fsize),
    ("memlock", Resource::Memlock),
    ("stack", Resource::Stack),
    ("cpu", Resource::Cpu),
    ("data", Resource::Data),
];

/// What a valid service file is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceFile {
    /// `cmd=`: one service.
    Command(ServiceSpec),
    /// `procfile=`: one service per process type of the app (see [`crate::procfile`]).
    Procfile(alloc::boxed::Box<ProcfileApp>),
}

/// A service file with `procfile=PATH`: a spec without a command, whose
/// settings each process type of the Procfile gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcfileApp {
    /// The Procfile's absolute path.
    pub path: String,
    /// `cwd` `None`: each process runs in the Procfile's directory.
    pub settings: Settings,
}

impl ServiceFile {
    pub fn settings(&self) -> &Settings {
        match self {
            ServiceFile::Command(spec) => spec.settings(),
            ServiceFile::Procfile(app) => &app.settings,
        }
    }

    /// Its settings, which the system checks and account lookups complete.
    pub fn settings_mut(&mut self) -> &mut Settings {
        match self {
            ServiceFile::Command(spec) => spec.settings_mut(),
            ServiceFile::Procfile(app) => &mut app.settings,
        }
    }
}

/// A command's words in one allocation, each ended by a NUL, which no word can
/// hold: a `Vec<String>` costs a vector and a string for each word, and
/// thousands of services each hold one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Words(alloc::boxed::Box<str>);

impl Words {
    pub fn new<S: AsRef<str>>(words: &[S]) -> Words {
        let mut joined = String::new();
        for word in words {
            joined.push_str(word.as_ref());
            joined.push('\0');
        }
        Words(joined.into_boxed_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split_terminator('\0')
    }

    /// The first word: what is executed.
    pub fn program(&self) -> &str {
        self.iter().next().unwrap_or("")
    }
}

impl<const N: usize> PartialEq<[&str; N]> for Words {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.iter().eq(other.iter().copied())
    }
}

/// What a service runs, and how: everything needed to start it. A reload
/// restarts a service when [`ServiceSpec::runs_like`] says its run changed;
/// its [`StopPolicy`], `after=` and `check=` alone apply to the next stop,
/// start or check instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceSpec {
    /// `cmd` split into words; never empty, first word never empty.
    pub argv: Words,
    /// Every other key, in one box that a file of `cmd=` alone does not have: a spec
    /// stays small (bytes per service count when there are 10,000).
    settings: Option<alloc::boxed::Box<Settings>>,
}

/// What a service file says beyond `cmd`, one field per key (going(5) has
/// them all); [`Settings::NONE`] is what a file of `cmd=` alone asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// An absolute path (inside `chroot` when there is one); `None` for `/` ([`compact_cwd`]),
    /// or for a Procfile app, its Procfile's directory.
    pub cwd: Option<alloc::boxed::Box<str>>,
    /// `shutdown=yes`: when this service exits, going stops everything and exits with its status.
    pub shutdown: bool,
    /// `stop_signal`, `stop_timeout`, `restart` and `success_exit`.
    pub stop: StopPolicy,
    /// `env=` entries in file order; a later one for the same name wins.
    pub env: Vec<(String, String)>,
    /// `user=` and `group=` as written, with their line numbers.
    pub user: Option<(usize, String)>,
    pub group: Option<(usize, String)>,
    /// Filled in from /etc/passwd and /etc/group by [`crate::accounts::resolve`].
    pub identity: Option<Identity>,
    pub chroot: Option<String>,
    pub umask: Option<u32>,
    pub rlimits: Vec<(Resource, Rlimit)>,
    /// Where stdout and stderr go; `None` is /dev/null.
    pub log: Option<LogTarget>,
    pub ready: ReadyWhen,
    /// `after=`: the services that must be ready before this one starts.
    pub after: Option<After>,
    /// `check=` and its timing; `None` without a health check.
    pub check: Option<HealthCheck>,
    /// For a process of a Procfile app: the app's service file, which is not named after it.
    pub app: Option<String>,
    /// `listen=`: the sockets going holds and gives it as descriptors 3, 4, ..., in order.
    pub listen: Vec<Listen>,
}

/// The most `listen=` lines a file may have.
pub const MAX_LISTEN: usize = 8;

/// One `listen=` line: an address, and the line that names it (for errors; two
/// lines of the same address are equal wherever they stand in the file).
#[derive(Clone, Debug, Eq)]
pub struct Listen {
    pub address: Address,
    pub line: usize,
}

impl PartialEq for Listen {
    fn eq(&self, other: &Listen) -> bool {
        self.address == other.address
    }
}

/// Where a `listen=` socket listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// `tcp:HOST:PORT`; no host (`*` or empty) is every address.
    Tcp { host: Option<core::net::IpAddr>, port: u16 },
    /// `unix:/absolute/path`.
    Unix(String),
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Tcp { host: None, port } => write!(f, "tcp:*:{port}"),
            Address::Tcp { host: Some(core::net::IpAddr::V4(host)), port } => write!(f, "tcp:{host}:{port}"),
            Address::Tcp { host: Some(core::net::IpAddr::V6(host)), port } => write!(f, "tcp:[{host}]:{port}"),
            Address::Unix(path) => write!(f, "unix:{path}"),
        }
    }
}

/// `check=COMMAND`: run in the service's context, exit 0 is healthy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthCheck {
    /// The command split into words like `cmd`.
    pub argv: Words,
    /// Milliseconds between checks once the service is ready.
    pub interval: u64,
    /// Milliseconds a check may run before it is killed and counts as failed.
    pub timeout: u64,
    /// Consecutive failures that make the service unhealthy.
    pub retries: u32,
}

/// `check_interval` when the file does not say, in milliseconds.
pub const DEFAULT_CHECK_INTERVAL: u64 = 10_000;
/// `check_timeout` when the file does not say (or the interval when that is shorter).
pub const DEFAULT_CHECK_TIMEOUT: u64 = 5_000;
/// `check_retries` when the file does not say.
pub const DEFAULT_CHECK_RETRIES: u32 = 3;
/// The longest `check_interval` and `check_timeout`, in seconds.
pub const MAX_CHECK_SECONDS: u64 = 86_400;

/// `after=NAME...`: every name of every `after=` line, and the first such line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct After {
    pub line: usize,
    pub names: Vec<String>,
}

/// `ready=`: when a started service counts as ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadyWhen {
    /// Once its program was executed (no `ready=`).
    Exec,
    /// `ready=fd:N`: once it writes a newline to descriptor N.
    Fd(u16),
    /// `ready=notify`: once it sends `READY=1` to `NOTIFY_SOCKET` (sd_notify).
    Notify,
}

/// The descriptors `ready=fd:N` may name: above stdio, below the usual descriptor limit.
pub const READY_FDS: core::ops::RangeInclusive<u16> = 3..=1023;

/// How a service is stopped and whether it runs again after it exits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StopPolicy {
    /// The signal that asks it to stop, sent to its process group with SIGCONT.
    pub signal: i32,
    /// Milliseconds from that signal to SIGKILL.
    pub timeout: u64,
    pub restart: Restart,
    /// Exit statuses that count as success besides 0.
    pub success_exit: Vec<i32>,
}

/// `restart=`: what an exit that going did not ask for leads to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Start it again (after the backoff when it ran shortly).
    Always,
    /// Start it again unless it exited successfully.
    OnFailure,
    /// Never: the service runs once per start (a one-shot task).
    Never,
}

/// The signals `stop_signal=` may name, as (name, number).
pub const STOP_SIGNALS: [(&str, i32); 8] =
    [("TERM", 15), ("INT", 2), ("QUIT", 3), ("HUP", 1), ("USR1", 10), ("USR2", 12), ("WINCH", 28), ("KILL", 9)];
/// The longest `stop_timeout`, in seconds.
pub const MAX_STOP_TIMEOUT: u64 = 3600;

/// The stop timeout without `stop_timeout=`, in milliseconds.
pub const DEFAULT_STOP_TIMEOUT: u64 = 5_000;

impl StopPolicy {
    /// SIGTERM, 5 s, restart always, only 0 is success.
    pub const DEFAULT: StopPolicy =
        StopPolicy { signal: 15, timeout: DEFAULT_STOP_TIMEOUT, restart: Restart::Always, success_exit: Vec::new() };

    /// Whether an exit with status `code` counts as success.
    pub fn is_success(&self, code: i32) -> bool {
        code == 0 || self.success_exit.contains(&code)
    }
}

impl Restart {
    pub fn name(self) -> &'static str {
        match self {
            Restart::Always => "always",
            Restart::OnFailure => "on-failure",
            Restart::Never => "never",
        }
    }
}

/// Who a service runs as, resolved from `user=` and `group=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// `None` with `group=` alone: the uid stays going's.
    pub uid: Option<u32>,
    pub gid: u32,
    /// Supplementary groups; empty with `group=` alone or a user without a passwd entry.
    pub groups: Vec<u32>,
    /// HOME, USER, LOGNAME and SHELL from the passwd entry (HOME=/ without one).
    pub env: Vec<(String, String)>,
}

impl Settings {
    /// What a file that names no key but `cmd` asks for.
    pub const NONE: Settings = Settings {
        cwd: None,
        shutdown: false,
        stop: StopPolicy::DEFAULT,
        env: Vec::new(),
        user: None,
        group: None,
        identity: None,
        chroot: None,
        umask: None,
        rlimits: Vec::new(),
        log: None,
        ready: ReadyWhen::Exec,
        after: None,
        check: None,
        app: None,
        listen: Vec::new(),
    };

    /// What a running process depends on: every key but those that apply to the next
    /// stop, start or check (the stop policy, `after=`, `check=`). Written out whole, so
    /// that a new key must be placed on one side or the other.
    #[allow(clippy::type_complexity)]
    fn of_the_run(&self) -> impl PartialEq + '_ {
        let Settings {
            cwd,
            shutdown,
            stop: _,
            env,
            user,
            group,
            identity,
            chroot,
            umask,
            rlimits,
            log,
            ready,
            after: _,
            check: _,
            app,
            listen,
        } = self;
        ((cwd, shutdown, env, user, group), (identity, chroot, umask, rlimits), (log, ready, app, listen))
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::NONE
    }
}

/// What [`ServiceSpec::settings`] gives for a spec of `cmd=` alone.
static NO_SETTINGS: Settings = Settings::NONE;

impl ServiceSpec {
    pub fn new(argv: Words, settings: Settings) -> ServiceSpec {
        let settings = (settings != Settings::NONE).then(|| alloc::boxed::Box::new(settings));
        ServiceSpec { argv, settings }
    }

    /// Every key but `cmd`.
    pub fn settings(&self) -> &Settings {
        self.settings.as_deref().unwrap_or(&NO_SETTINGS)
    }

    /// Every key but `cmd`, to complete (made at first use).
    pub fn settings_mut(&mut self) -> &mut Settings {
        self.settings.get_or_insert_with(alloc::boxed::Box::default)
    }

    pub fn policy(&self) -> &StopPolicy {
        &self.settings().stop
    }

    /// The services that must be ready before this one starts.
    pub fn after(&self) -> &[String] {
        self.settings().after.as_ref().map_or(&[], |after| &after.names)
    }

    pub fn check(&self) -> Option<&HealthCheck> {
        self.settings().check.as_ref()
    }

    pub fn shutdown(&self) -> bool {
        self.settings().shutdown
    }

    /// The working directory.
    pub fn cwd(&self) -> &str {
        self.settings().cwd.as_deref().unwrap_or(DEFAULT_CWD)
    }

    /// Whether a service running `self` runs as `other` asks: everything but the stop
    /// policy, `after=` and the health check (which apply to the next stop, the next
    /// start and the next check) is the same.
    pub fn runs_like(&self, other: &ServiceSpec) -> bool {
        self.argv == other.argv && self.settings().of_the_run() == other.settings().of_the_run()
    }
}

/// `log=PATH` (with its rotation) or `log=-`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogTarget {
    File {
        path: String,
        max_size: u64,
        keep: u32,
    },
    /// going's own stdout, each line prefixed with the service name.
    Stdout,
}

/// `log_size` when the file does not say.
pub const DEFAULT_LOG_SIZE: u64 = 1024 * 1024;
/// `log_keep` when the file does not say.
pub const DEFAULT_LOG_KEEP: u32 = 5;
/// The most rotated files `log_keep` may ask for.
pub const MAX_LOG_KEEP: u32 = 1000;
/// The smallest `log_size`: a rotation per line would be no log at all.
pub const MIN_LOG_SIZE: u64 = 4096;

/// Why a file is not a service. `line` is 1-based; 0 means the whole file.
#[derive(Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub line: usize,
    pub message: String,
}

impl ConfigError {
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        ConfigError { line, message: message.into() }
    }
}

/// `web:3: unknown key "usr"`, or `web: missing "cmd"` for the whole file.
pub struct Located<'a>(pub &'a str, pub &'a ConfigError);

impl fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Located(name, error) = self;
        match error.line {
            0 => write!(f, "{name}: {}", error.message),
            line => write!(f, "{name}:{line}: {}", error.message),
        }
    }
}

/// Sets `key` to `value` in a list where a later entry for the same key wins
/// (`env=`, `rlimit=`, `.env`), keeping the order in which keys were last set.
pub fn set_latest<K: PartialEq, V>(list: &mut Vec<(K, V)>, key: K, value: V) {
    list.retain(|(existing, _)| *existing != key);
    list.push((key, value));
}

/// Splits `cmd` into words as a POSIX shell would, without any expansion.
pub fn split_words(text: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == ' ' || c == '\t' {
            words.extend(word.take());
            continue;
        }
        let current = word.get_or_insert_with(String::new);
        match c {
            '\'' => loop {
                match chars.next() {
                    Some('\'') => break,
                    Some(c) => current.push(c),
                    None => return Err("unterminated single quote in cmd; close it with '"),
                }
            },
            '"' => loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => match chars.next() {
                        Some(c @ ('$' | '`' | '"' | '\\')) => current.push(c),
                        Some(c) => current.extend(['\\', c]),
                        None => return Err("unterminated double quote in cmd; close it with \""),
                    },
                    Some(c) => current.push(c),
                    None => return Err("unterminated double quote in cmd; close it with \""),
                }
            },
            '\\' => match chars.next() {
                Some(c) => current.push(c),
                None => return Err("backslash at the end of cmd escapes nothing; remove it or write \\\\"),
            },
            c => current.push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The lines of the keys whose checks happen after parsing (against the
/// file system or going's own user), so that their errors can name the line.
/// 0 where the key is absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyLines {
    pub log: usize,
    /// The first of `user=`, `group=` and `chroot=`: what needs going to run as root.
    pub privileged: usize,
}

/// The lines of a service file, Procfile or `.env` that say something: (line number,
/// trimmed text), with blank lines and `#` comments skipped and a trailing CR dropped.
/// A NUL byte cannot reach exec (C strings end at it): it is an error at its line.
pub fn content_lines(text: &str) -> impl Iterator<Item = Result<(usize, &str), ConfigError>> {
    text.split('\n').enumerate().filter_map(|(index, raw)| {
        let (line, content) = (index + 1, raw.strip_suffix('\r').unwrap_or(raw).trim());
        match content.contains('\0') {
            true => Some(Err(ConfigError::at(line, "contains a NUL byte"))),
            false => (!content.is_empty() && !content.starts_with('#')).then_some(Ok((line, content))),
        }
    })
}

/// Parses the contents of one service file.
pub fn parse(bytes: &[u8]) -> Result<ServiceFile, ConfigError> {
    parse_with_lines(bytes).map(|(file, _)| file)
}

/// Parses the contents of one service file, with the lines of [`KeyLines`].
pub fn parse_with_lines(bytes: &[u8]) -> Result<(ServiceFile, KeyLines), ConfigError> {
    if bytes.len() > MAX_FILE_SIZE {
        return Err(ConfigError::at(0, format!("file is larger than {MAX_FILE_SIZE} bytes")));
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let text = core::str::from_utf8(bytes).map_err(|error| {
        let line = 1 + bytes[..error.valid_up_to()].iter().filter(|&&b| b == b'\n').count();
        ConfigError::at(line, "not valid UTF-8; save the file as UTF-8")
    })?;
    let mut draft = Draft::default();
    for said in content_lines(text) {
        let (line, content) = said?;
        let Some((key, value)) = content.split_once('=') else {
            return Err(ConfigError::at(line, "expected key=value"));
        };
        let (key, value) = (key.trim(), value.trim());
        if value.is_empty() {
            return Err(ConfigError::at(line, format!("empty value for \"{key}\"")));
        }
        if draft.take(line, key, value)? {
            return Err(ConfigError::at(line, format!("duplicate key \"{key}\"")));
        }
    }
    draft.finish()
}

/// A service file as its lines are read: each key as its line gives it, before
/// what several keys decide together ([`Draft::finish`]).
#[derive(Default)]
struct Draft {
    argv: Option<(usize, Words)>,
    cwd: Option<String>,
    procfile: Option<String>,
    /// The keys that go straight into the spec.
    settings: Settings,
    shutdown: Option<bool>,
    stop_signal: Option<i32>,
    stop_timeout: Option<u64>,
    restart: Option<Restart>,
    success_exit: Option<Vec<i32>>,
    log_path: Option<(usize, String)>,
    log_size: Option<(usize, u64)>,
    log_keep: Option<(usize, u64)>,
    after: Option<After>,
    ready: Option<ReadyWhen>,
    ready_line: usize,
    check: Option<Words>,
    check_interval: Option<(usize, u64)>,
    check_timeout: Option<(usize, u64)>,
    check_retries: Option<(usize, u32)>,
    lines: KeyLines,
}

impl Draft {
    /// Takes `key=value` from line `line`; true when the key was given before.
    fn take(&mut self, line: usize, key: &str, value: &str) -> Result<bool, ConfigError> {
        let at_line = |message: String| ConfigError::at(line, message);
        if matches!(key, "user" | "group" | "chroot") && self.lines.privileged == 0 {
            self.lines.privileged = line;
        }
        if key == "log" {
            self.lines.log = line;
        }
        let taken = match key {
            "cmd" => self.argv.replace((line, parse_cmd(value).map_err(|m| at_line(m.into()))?)).is_some(),
            "cwd" => self.cwd.replace(parse_absolute("cwd", value).map_err(at_line)?).is_some(),
            "procfile" => self.procfile.replace(parse_absolute("procfile", value).map_err(at_line)?).is_some(),
            "chroot" => self.settings.chroot.replace(parse_absolute("chroot", value).map_err(at_line)?).is_some(),
            "user" => self.settings.user.replace((line, value.to_string())).is_some(),
            "group" => self.settings.group.replace((line, value.to_string())).is_some(),
            "umask" => self.settings.umask.replace(parse_umask(value).map_err(|m| at_line(m.into()))?).is_some(),
            "env" => {
                let (name, value) = parse_env(value).map_err(|m| at_line(m.into()))?;
                set_latest(&mut self.settings.env, name, value);
                false
            }
            "log" => self.log_path.replace((line, parse_log_path(value).map_err(at_line)?)).is_some(),
            "log_size" => self
                .log_size
                .replace((line, parse_number(key, value, MIN_LOG_SIZE, u64::MAX).map_err(at_line)?))
                .is_some(),
            "log_keep" => self
                .log_keep
                .replace((line, parse_number(key, value, 0, MAX_LOG_KEEP.into()).map_err(at_line)?))
                .is_some(),
            "shutdown" => self.shutdown.replace(parse_yes_no(key, value).map_err(at_line)?).is_some(),
            "stop_signal" => self.stop_signal.replace(parse_stop_signal(value).map_err(at_line)?).is_some(),
            "stop_timeout" => self.stop_timeout.replace(parse_stop_timeout(value).map_err(at_line)?).is_some(),
            "restart" => self.restart.replace(parse_restart(value).map_err(at_line)?).is_some(),
            "success_exit" => self.success_exit.replace(parse_success_exit(value).map_err(at_line)?).is_some(),
            "ready" => {
                self.ready_line = line;
                self.ready.replace(parse_ready(value).map_err(at_line)?).is_some()
            }
            "listen" => {
                let address = parse_listen(value).map_err(at_line)?;
                if self.settings.listen.iter().any(|listen| listen.address == address) {
                    return Err(at_line(format!("listen={address} is named twice; keep one")));
                }
                if self.settings.listen.len() == MAX_LISTEN {
                    return Err(at_line(format!("at most {MAX_LISTEN} listen= lines")));
                }
                self.settings.listen.push(Listen { address, line });
                false
            }
            "check" => {
                let argv = parse_cmd(value).map_err(|message| at_line(message.replace("cmd", "check")))?;
                self.check.replace(argv).is_some()
            }
            "check_interval" => {
                let interval = parse_seconds(key, value, 100, MAX_CHECK_SECONDS * 1000).map_err(at_line)?;
                self.check_interval.replace((line, interval)).is_some()
            }
            "check_timeout" => {
                let timeout = parse_seconds(key, value, 100, MAX_CHECK_SECONDS * 1000).map_err(at_line)?;
                self.check_timeout.replace((line, timeout)).is_some()
            }
            "check_retries" => {
                let retries = parse_number(key, value, 1, 100).map_err(at_line)? as u32;
                self.check_retries.replace((line, retries)).is_some()
            }
            "after" => {
                let names = parse_after(value).map_err(at_line)?;
                self.after.get_or_insert_with(|| After { line, names: Vec::new() }).names.extend(names);
                false
            }
            "rlimit" => {
                let (resource, limit) = parse_rlimit(value).map_err(at_line)?;
                set_latest(&mut self.settings.rlimits, resource, limit);
                false
            }
            _ => {
                let message = format!("unknown key \"{key}\"; known keys are {KNOWN_KEYS}");
                return Err(ConfigError::at(line, message));
            }
        };
        Ok(taken)
    }

    /// The file, once every line is read: the keys that go together checked, defaults filled in.
    fn finish(self) -> Result<(ServiceFile, KeyLines), ConfigError> {
        let Draft {
            argv, cwd, procfile, mut settings, shutdown, stop_signal, stop_timeout, restart, success_exit, ..
        } = self;
        let Draft { log_path, log_size, log_keep, after, ready, ready_line, check, lines, .. } = self;
        let Draft { check_interval, check_timeout, check_retries, .. } = self;
        settings.log = match (log_path, log_size.or(log_keep)) {
            (Some((_, path)), _) if path != "-" => Some(LogTarget::File {
                path,
                max_size: log_size.map_or(DEFAULT_LOG_SIZE, |(_, size)| size),
                keep: log_keep.map_or(DEFAULT_LOG_KEEP, |(_, keep)| keep as u32),
            }),
            (_, Some((line, _))) => {
                return Err(ConfigError::at(line, "log_size and log_keep need log=PATH"));
            }
            (Some(_), None) => Some(LogTarget::Stdout),
            (None, None) => None,
        };
        settings.ready = ready.unwrap_or(ReadyWhen::Exec);
        if let (ReadyWhen::Fd(number), count @ 1..) = (settings.ready, settings.listen.len()) {
            let last = 2 + count as u16;
            if number <= last {
                let message = format!(
                    "ready=fd:{number} would be a listen= socket (descriptors 3 to {last}); choose one above {last}"
                );
                return Err(ConfigError::at(ready_line, message));
            }
        }
        settings.after = after;
        settings.check = match (check, check_interval.or(check_timeout).or(check_retries.map(|(line, _)| (line, 0)))) {
            (None, Some((line, _))) => {
                return Err(ConfigError::at(
                    line,
                    "check_interval, check_timeout and check_retries need check=COMMAND",
                ));
            }
            (None, None) => None,
            (Some(argv), _) => {
                let interval = check_interval.map_or(DEFAULT_CHECK_INTERVAL, |(_, interval)| interval);
                let timeout = match check_timeout {
                    Some((line, timeout)) if timeout > interval => {
                        return Err(ConfigError::at(line, "check_timeout must not be longer than check_interval"));
                    }
                    Some((_, timeout)) => timeout,
                    None => DEFAULT_CHECK_TIMEOUT.min(interval),
                };
                let retries = check_retries.map_or(DEFAULT_CHECK_RETRIES, |(_, retries)| retries);
                Some(HealthCheck { argv, interval, timeout, retries })
            }
        };
        settings.shutdown = shutdown.unwrap_or(false);
        let stop = &mut settings.stop;
        stop.signal = stop_signal.unwrap_or(stop.signal);
        stop.timeout = stop_timeout.unwrap_or(stop.timeout);
        stop.restart = restart.unwrap_or(stop.restart);
        stop.success_exit = success_exit.unwrap_or_default();
        let file = match (argv, procfile) {
            (Some((_, argv)), None) => {
                settings.cwd = compact_cwd(cwd.as_deref().unwrap_or(DEFAULT_CWD));
                ServiceFile::Command(ServiceSpec::new(argv, settings))
            }
            (None, Some(_)) if !settings.listen.is_empty() => {
                let line = settings.listen[0].line;
                return Err(ConfigError::at(line, "listen= is for a service file with cmd=, not a Procfile app"));
            }
            (None, Some(path)) => {
                settings.cwd = cwd.map(String::into_boxed_str);
                ServiceFile::Procfile(alloc::boxed::Box::new(ProcfileApp { path, settings }))
            }
            (Some((line, _)), Some(_)) => {
                return Err(ConfigError::at(line, "cmd and procfile exclude each other; keep one"));
            }
            (None, None) => return Err(ConfigError::at(0, "missing \"cmd\"; add a line cmd=/path/to/program")),
        };
        Ok((file, lines))
    }
}

const KNOWN_KEYS: &str = "cmd, cwd, env, user, group, chroot, umask, rlimit, log, log_size, log_keep, shutdown, \
stop_signal, stop_timeout, restart, success_exit, ready, after, check, check_interval, check_timeout, check_retries, \
listen and procfile";

/// `tcp:HOST:PORT` (an IPv4 address, a bracketed IPv6 one, or `*` or nothing for
/// every address) or `unix:/absolute/path`.
fn parse_listen(value: &str) -> Result<Address, String> {
    let usage = || "listen must be tcp:HOST:PORT (HOST an IPv4 address, [IPv6] or * for all) or unix:/absolute/path";
    if let Some(path) = value.strip_prefix("unix:") {
        return match path.starts_with('/') && !path.ends_with('/') && path.len() < 108 {
            true => Ok(Address::Unix(path.into())),
            false => Err("listen=unix: needs an absolute path of a file, shorter than 108 bytes".into()),
        };
    }
    let (host, port) = value.strip_prefix("tcp:").and_then(|rest| rest.rsplit_once(':')).ok_or_else(usage)?;
    let port = match port.parse::<u16>() {
        Ok(port @ 1..) => port,
        _ => return Err(format!("listen port must be from 1 to 65535, not {port:?}")),
    };
    let host = match host {
        "" | "*" => None,
        bracketed if bracketed.starts_with('[') && bracketed.ends_with(']') => {
            let v6 = bracketed[1..bracketed.len() - 1].parse::<core::net::Ipv6Addr>().map_err(|_| usage())?;
            Some(core::net::IpAddr::V6(v6))
        }
        v4 => Some(core::net::IpAddr::V4(v4.parse().map_err(|_| usage())?)),
    };
    Ok(Address::Tcp { host, port })
}

/// `QUIT` or `SIGQUIT`, one of [`STOP_SIGNALS`].
fn parse_stop_signal(value: &str) -> Result<i32, String> {
    let name = value.strip_prefix("SIG").unwrap_or(value);
    match STOP_SIGNALS.iter().find(|(known, _)| *known == name) {
        Some(&(_, number)) => Ok(number),
        None => {
            Err("stop_signal must be one of TERM, INT, QUIT, HUP, USR1, USR2, WINCH, KILL (SIG may precede)".into())
        }
    }
}

fn parse_stop_timeout(value: &str) -> Result<u64, String> {
    parse_seconds("stop_timeout", value, 0, MAX_STOP_TIMEOUT * 1000)
}

/// Whole or decimal seconds (`30`, `0.5`, at most three decimals) as milliseconds,
/// from `min` to `max` milliseconds.
fn parse_seconds(key: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    let shown = crate::clock::exact_seconds;
    let error = || format!("{key} must be seconds from {} to {}, such as 5 or 0.5", shown(min), shown(max));
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    let digits = |text: &str| text.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 3 || value.ends_with('.') {
        return Err(error());
    }
    let seconds: u64 = whole.parse().map_err(|_| error())?;
    let millis = fraction.bytes().zip([100, 10, 1]).map(|(digit, scale)| u64::from(digit - b'0') * scale).sum::<u64>();
    let total = seconds.saturating_mul(1000).saturating_add(millis);
    if !(min..=max).contains(&total) {
        return Err(error());
    }
    Ok(total)
}

fn parse_restart(value: &str) -> Result<Restart, String> {
    match value {
        "always" => Ok(Restart::Always),
        "on-failure" => Ok(Restart::OnFailure),
        "never" => Ok(Restart::Never),
        _ => Err("restart must be always, on-failure or never".into()),
    }
}

/// `2` or `2 3 143`: exit statuses from 0 to 255.
fn parse_success_exit(value: &str) -> Result<Vec<i32>, String> {
    let error = || "success_exit must be exit statuses from 0 to 255, such as 2 or 2 3".to_string();
    value.split_ascii_whitespace().map(|word| word.parse::<u8>().map(i32::from).map_err(|_| error())).collect()
}

/// `fd:N` with N in [`READY_FDS`], or `notify`.
fn parse_ready(value: &str) -> Result<ReadyWhen, String> {
    let fd = value.strip_prefix("fd:").and_then(|number| number.parse::<u16>().ok());
    match (value, fd) {
        ("notify", _) => Ok(ReadyWhen::Notify),
        (_, Some(fd)) if READY_FDS.contains(&fd) => Ok(ReadyWhen::Fd(fd)),
        _ => Err("ready must be fd:N (N from 3 to 1023) or notify".into()),
    }
}

/// `db cache`: service names, as the directory holds them (a Procfile's as `app.web`).
fn parse_after(value: &str) -> Result<Vec<String>, String> {
    let names: Vec<String> = value.split_ascii_whitespace().map(String::from).collect();
    match names.iter().find(|name| name.contains('/') || name.starts_with('.')) {
        Some(name) => Err(format!("after names services: {name:?} cannot be a service's name")),
        None => Ok(names),
    }
}

fn parse_yes_no(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(format!("{key} must be yes or no")),
    }
}

fn parse_log_path(value: &str) -> Result<String, String> {
    match value {
        "-" => Ok(value.to_string()),
        path if path.starts_with('/') && !path.ends_with('/') => Ok(path.to_string()),
        _ => Err("log must be an absolute file path, or - for going's stdout".to_string()),
    }
}

fn parse_number(key: &str, value: &str, min: u64, max: u64) -> Result<u64, String> {
    match value.parse() {
        Ok(number) if (min..=max).contains(&number) => Ok(number),
        _ => Err(format!("{key} must be a whole number from {min} to {max}")),
    }
}

fn parse_cmd(value: &str) -> Result<Words, &'static str> {
    let words = split_words(value)?;
    match words.first() {
        Some(program) if !program.is_empty() => Ok(Words::new(&words)),
        _ => Err("cmd names no program"),
    }
}

/// A spec's `cwd` as [`Settings`] keeps it: `/` as `None`.
pub fn compact_cwd(cwd: &str) -> Option<alloc::boxed::Box<str>> {
    (cwd != DEFAULT_CWD).then(|| cwd.into())
}

fn parse_absolute(key: &str, value: &str) -> Result<String, String> {
    match value.starts_with('/') {
        true => Ok(value.to_string()),
        false => Err(format!("{key} must be an absolute path")),
    }
}

fn parse_env(value: &str) -> Result<(String, String), &'static str> {
    match value.split_once('=') {
        Some(("", _)) => Err("env needs a variable name: env=NAME=VALUE"),
        Some((name, value)) => Ok((name.to_string(), value.to_string())),
        None => Err("env needs NAME=VALUE: write env=NAME= for an empty value"),
    }
}

fn parse_umask(value: &str) -> Result<u32, &'static str> {
    match u32::from_str_radix(value, 8) {
        Ok(mask) if mask <= 0o777 && value.len() <= 4 => Ok(mask),
        _ => Err("umask must be octal, from 000 to 777"),
    }
}

fn parse_limit(text: &str) -> Option<Option<u64>> {
    match text {
        "unlimited" => Some(None),
        number => number.parse().ok().map(Some),
    }
}

/// `nofile 1024`, `nofile 1024:4096`, `core unlimited`.
fn parse_rlimit(value: &str) -> Result<(Resource, Rlimit), String> {
    let usage = "rlimit needs RESOURCE VALUE or RESOURCE SOFT:HARD, each a number or unlimited";
    let Some((name, limits)) = value.split_once([' ', '\t']) else {
        return Err(usage.to_string());
    };
    let Some(&(_, resource)) = RLIMIT_NAMES.iter().find(|(known, _)| *known == name) else {
        return Err(format!(
            "unknown rlimit resource \"{name}\"; known are nofile nproc core as fsize memlock stack cpu data"
        ));
    };
    let (soft, hard) = limits.trim().split_once(':').unwrap_or((limits.trim(), limits.trim()));
    let (Some(current), Some(maximum)) = (parse_limit(soft), parse_limit(hard)) else {
        return Err(usage.to_string());
    };
    if current.unwrap_or(u64::MAX) > maximum.unwrap_or(u64::MAX) {
        return Err(format!("rlimit {name}: soft limit {soft} is above hard limit {hard}"));
    }
    Ok((resource, Rlimit { current, maximum }))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file that must be a `cmd=` service, parsed.
    fn parse(bytes: &[u8]) -> Result<ServiceSpec, ConfigError> {
        match super::parse(bytes)? {
            ServiceFile::Command(spec) => Ok(spec),
            ServiceFile::Procfile(app) => panic!("a procfile= file: {app:?}"),
        }
    }

    fn words(text: &str) -> Vec<String> {
        split_words(text).unwrap()
    }

    fn error(text: &str) -> ConfigError {
        parse(text.as_bytes()).unwrap_err()
    }

    #[test]
    fn words_split_on_blanks_and_keep_shell_characters() {
        assert_eq!(words("  /bin/echo a;b  c|d > e & "), ["/bin/echo", "a;b", "c|d", ">", "e", "&"]);
    }

    #[test]
    fn single_quotes_keep_everything_literally() {
        assert_eq!(
            words(r#"sh -c 'echo 1 && sleep 5 && echo "2" \n'"#),
            ["sh", "-c", r#"echo 1 && sleep 5 && echo "2" \n"#]
        );
    }

    #[test]
    fn double_quotes_escape_only_dollar_backtick_quote_backslash() {
        assert_eq!(words(r#""\$HOME \` \" \\ \n $PATH""#), [r#"$HOME ` " \ \n $PATH"#]);
    }

    #[test]
    fn backslash_outside_quotes_escapes_the_next_character() {
        assert_eq!(words(r"a\ b \'c\' \\"), ["a b", "'c'", r"\"]);
    }

    #[test]
    fn adjacent_quoted_parts_make_one_word_and_empty_quotes_a_word() {
        assert_eq!(words(r#"a'b'"c"d '' """#), ["abcd", "", ""]);
    }

    #[test]
    fn unterminated_quotes_and_trailing_backslash_are_errors() {
        assert!(split_words("'abc").is_err());
        assert!(split_words("\"abc").is_err());
        assert!(split_words("\"abc\\").is_err());
        assert!(split_words("abc\\").is_err());
    }

    #[test]
    fn minimal_file_gives_cmd_and_default_cwd() {
        let spec = parse(b"cmd=/bin/sleep 1000\n").unwrap();
        assert_eq!(spec.argv, ["/bin/sleep", "1000"]);
        assert_eq!(spec.cwd(), "/");
    }

    #[test]
    fn comments_blank_lines_bom_crlf_and_whitespace_are_ignored() {
        let text = "\u{feff}# a comment\r\n\r\n   # indented comment\r\n  cmd  =  /bin/echo a#b  \r\ncwd=/tmp\r\n";
        let spec = parse(text.as_bytes()).unwrap();
        assert_eq!(spec.argv, ["/bin/echo", "a#b"]);
        assert_eq!(spec.cwd(), "/tmp");
    }

    #[test]
    fn value_is_split_at_the_first_equals_sign() {
        assert_eq!(parse(b"cmd=/bin/env A=B").unwrap().argv, ["/bin/env", "A=B"]);
    }

    #[test]
    fn stop_policy_keys_parse_and_do_not_count_as_a_change_of_the_run() {
        let text = "cmd=/bin/web\nstop_signal=SIGQUIT\nstop_timeout=0.25\nrestart=on-failure\nsuccess_exit=2 143\n";
        let spec = parse(text.as_bytes()).unwrap();
        let expected =
            StopPolicy { signal: 3, timeout: 250, restart: Restart::OnFailure, success_exit: Vec::from([2, 143]) };
        assert_eq!(spec.policy(), &expected);
        assert!(spec.policy().is_success(0) && spec.policy().is_success(143) && !spec.policy().is_success(1));
        let plain = parse(b"cmd=/bin/web\n").unwrap();
        assert_eq!(plain.policy(), &StopPolicy::DEFAULT);
        assert!(plain.settings.is_none(), "a file of cmd= alone takes no box beyond its words");
        assert_eq!(core::mem::size_of::<ServiceSpec>(), 24);
        assert!(plain.runs_like(&spec) && plain != spec);
        assert!(!plain.runs_like(&parse(b"cmd=/bin/web2\n").unwrap()));
        for (value, millis) in [("0", 0), ("30", 30_000), ("1.5", 1_500), ("0.005", 5), ("3600", 3_600_000)] {
            let spec = parse(format!("cmd=/bin/x\nstop_timeout={value}\n").as_bytes()).unwrap();
            assert_eq!(spec.policy().timeout, millis, "{value}");
        }
        for signal in ["TERM", "INT", "QUIT", "HUP", "USR1", "USR2", "WINCH", "KILL", "SIGWINCH"] {
            assert!(parse(format!("cmd=/bin/x\nstop_signal={signal}\n").as_bytes()).is_ok(), "{signal}");
        }
    }

    #[test]
    fn bad_stop_policy_values_are_errors_on_their_line() {
        let signals = "stop_signal must be one of TERM, INT, QUIT, HUP, USR1, USR2, WINCH, KILL (SIG may precede)";
        assert_eq!(error("cmd=/bin/x\nstop_signal=STOP\n"), ConfigError::at(2, signals));
        assert_eq!(error("cmd=/bin/x\nstop_signal=15\n"), ConfigError::at(2, signals));
        let timeout = "stop_timeout must be seconds from 0 to 3600, such as 5 or 0.5";
        for value in ["3600.001", "3601", "-1", "1.2345", "abc", ".5", "5.", "1e3", "99999999999999999999"] {
            assert_eq!(error(&format!("cmd=/bin/x\nstop_timeout={value}\n")), ConfigError::at(2, timeout), "{value}");
        }
        assert_eq!(
            error("cmd=/bin/x\nrestart=sometimes\n"),
            ConfigError::at(2, "restart must be always, on-failure or never")
        );
        let exits = "success_exit must be exit statuses from 0 to 255, such as 2 or 2 3";
        assert_eq!(error("cmd=/bin/x\nsuccess_exit=256\n"), ConfigError::at(2, exits));
        assert_eq!(error("cmd=/bin/x\nsuccess_exit=2,3\n"), ConfigError::at(2, exits));
        assert_eq!(
            error("cmd=/bin/x\nrestart=never\nrestart=always\n"),
            ConfigError::at(3, "duplicate key \"restart\"")
        );
    }

    #[test]
    fn ready_and_after_parse_and_after_does_not_count_as_a_change_of_the_run() {
        let spec = parse(b"cmd=/bin/web\nready=fd:3\nafter=db cache\nafter=app.worker\n").unwrap();
        assert_eq!(spec.settings().ready, ReadyWhen::Fd(3));
        assert_eq!(spec.after(), ["db", "cache", "app.worker"]);
        assert_eq!(spec.settings().after.as_ref().unwrap().line, 3);
        assert_eq!(parse(b"cmd=/bin/web\nready=notify\n").unwrap().settings().ready, ReadyWhen::Notify);
        assert_eq!(parse(b"cmd=/bin/web\n").unwrap().settings().ready, ReadyWhen::Exec);
        let plain = parse(b"cmd=/bin/web\nready=fd:3\n").unwrap();
        assert!(plain.runs_like(&spec), "after= applies to the next start");
        assert!(!plain.runs_like(&parse(b"cmd=/bin/web\nready=fd:4\n").unwrap()));
    }

    #[test]
    fn bad_ready_and_after_values_are_errors_on_their_line() {
        let ready = "ready must be fd:N (N from 3 to 1023) or notify";
        for value in ["fd:2", "fd:1024", "fd:", "fd:x", "notify=1", "exec", "fd:-3"] {
            assert_eq!(error(&format!("cmd=/bin/x\nready={value}\n")), ConfigError::at(2, ready), "{value}");
        }
        assert_eq!(error("cmd=/bin/x\nready=fd:3\nready=notify\n"), ConfigError::at(3, "duplicate key \"ready\""));
        assert_eq!(
            error("cmd=/bin/x\nafter=db ../etc\n"),
            ConfigError::at(2, "after names services: \"../etc\" cannot be a service's name")
        );
    }

    #[test]
    fn listen_addresses_parse_in_order_and_bad_ones_are_errors_on_their_line() {
        let spec = parse(b"cmd=/bin/web\nlisten=tcp:*:80\nlisten=tcp:127.0.0.1:8080\nlisten=tcp:[::1]:443\nlisten=tcp::81\nlisten=unix:/run/web.sock\n").unwrap();
        let shown: Vec<String> = spec.settings().listen.iter().map(|listen| listen.address.to_string()).collect();
        assert_eq!(shown, ["tcp:*:80", "tcp:127.0.0.1:8080", "tcp:[::1]:443", "tcp:*:81", "unix:/run/web.sock"]);
        assert_eq!(spec.settings().listen[4].line, 6);
        let usage = "listen must be tcp:HOST:PORT (HOST an IPv4 address, [IPv6] or * for all) or unix:/absolute/path";
        for value in ["80", "tcp:80", "udp:*:80", "tcp:localhost:80", "tcp:::1:80", "tcp:1.2.3:80"] {
            assert_eq!(error(&format!("cmd=/bin/x\nlisten={value}\n")), ConfigError::at(2, usage), "{value}");
        }
        for port in ["0", "65536", "http", ""] {
            let message = format!("listen port must be from 1 to 65535, not {port:?}");
            assert_eq!(error(&format!("cmd=/bin/x\nlisten=tcp:*:{port}\n")), ConfigError::at(2, message), "{port}");
        }
        let unix = "listen=unix: needs an absolute path of a file, shorter than 108 bytes";
        assert_eq!(error("cmd=/bin/x\nlisten=unix:web.sock\n"), ConfigError::at(2, unix));
        assert_eq!(
            error("cmd=/bin/x\nlisten=tcp:*:80\nlisten=tcp::80\n"),
            ConfigError::at(3, "listen=tcp:*:80 is named twice; keep one")
        );
        let collision = "ready=fd:4 would be a listen= socket (descriptors 3 to 4); choose one above 4";
        assert_eq!(error("cmd=/bin/x\nready=fd:4\nlisten=tcp:*:80\nlisten=tcp:*:81\n"), ConfigError::at(2, collision));
        assert!(parse(b"cmd=/bin/x\nready=fd:5\nlisten=tcp:*:80\nlisten=tcp:*:81\n").is_ok());
        let many: String = (1..=9).map(|port| format!("listen=tcp:*:{port}\n")).collect();
        assert_eq!(error(&format!("cmd=/bin/x\n{many}")), ConfigError::at(10, "at most 8 listen= lines"));
        let procfile = super::parse(b"procfile=/srv/Procfile\nlisten=tcp:*:80\n").unwrap_err();
        assert_eq!(procfile, ConfigError::at(2, "listen= is for a service file with cmd=, not a Procfile app"));
        // Moving a line changes nothing of the run; changing an address does.
        let moved = parse(b"cmd=/bin/web\n\n# port\nlisten=tcp:*:80\nlisten=tcp:127.0.0.1:8080\nlisten=tcp:[::1]:443\nlisten=tcp::81\nlisten=unix:/run/web.sock\n").unwrap();
        assert!(spec.runs_like(&moved));
        assert!(!spec.runs_like(&parse(b"cmd=/bin/web\nlisten=tcp:*:80\n").unwrap()));
    }

    #[test]
    fn check_keys_parse_with_their_defaults_and_do_not_count_as_a_change_of_the_run() {
        let spec = parse(b"cmd=/bin/web\ncheck=/bin/probe --quick\n").unwrap();
        let check = spec.check().unwrap();
        assert_eq!(
            (&check.argv, check.interval, check.timeout, check.retries),
            (&Words::new(&["/bin/probe", "--quick"]), 10_000, 5_000, 3)
        );
        let short = parse(b"cmd=/bin/web\ncheck=/bin/probe\ncheck_interval=2\ncheck_retries=5\n").unwrap();
        let short = short.check().unwrap();
        assert_eq!(
            (short.interval, short.timeout, short.retries),
            (2_000, 2_000, 5),
            "the timeout is at most the interval"
        );
        let written = parse(b"cmd=/bin/web\ncheck=/bin/probe\ncheck_interval=0.5\ncheck_timeout=0.25\n").unwrap();
        assert_eq!(written.check().map(|c| (c.interval, c.timeout)), Some((500, 250)));
        assert!(parse(b"cmd=/bin/web\n").unwrap().runs_like(&spec));
    }

    #[test]
    fn bad_check_keys_are_errors_on_their_line() {
        let interval = "check_interval must be seconds from 0.1 to 86400, such as 5 or 0.5";
        for value in ["0", "0.05", "x", "86401", "-1"] {
            assert_eq!(
                error(&format!("cmd=/bin/x\ncheck=/bin/y\ncheck_interval={value}\n")),
                ConfigError::at(3, interval),
                "{value}"
            );
        }
        assert_eq!(
            error("cmd=/bin/x\ncheck=/bin/y\ncheck_interval=1\ncheck_timeout=2\n"),
            ConfigError::at(4, "check_timeout must not be longer than check_interval")
        );
        assert_eq!(
            error("cmd=/bin/x\ncheck_retries=2\n"),
            ConfigError::at(2, "check_interval, check_timeout and check_retries need check=COMMAND")
        );
        assert_eq!(
            error("cmd=/bin/x\ncheck=/bin/y\ncheck_retries=0\n"),
            ConfigError::at(3, "check_retries must be a whole number from 1 to 100")
        );
        assert_eq!(
            error("cmd=/bin/x\ncheck='/bin/y\n"),
            ConfigError::at(2, "unterminated single quote in check; close it with '")
        );
    }

    #[test]
    fn each_error_names_its_line() {
        assert_eq!(
            error("cmd=/bin/true\n\nusr=root\n"),
            ConfigError::at(
                3,
                "unknown key \"usr\"; known keys are cmd, cwd, env, user, group, chroot, umask, rlimit, log, log_size, log_keep, shutdown, stop_signal, stop_timeout, restart, success_exit, ready, after, check, check_interval, check_timeout, check_retries, listen and procfile"
            )
        );
        assert_eq!(error("cmd=/bin/true\ncmd=/bin/false\n"), ConfigError::at(2, "duplicate key \"cmd\""));
        assert_eq!(error("cmd=/bin/true\njust words\n"), ConfigError::at(2, "expected key=value"));
        assert_eq!(error("cmd=\n"), ConfigError::at(1, "empty value for \"cmd\""));
        assert_eq!(error("cmd=/bin/echo 'oops\n").line, 1);
        assert_eq!(error("cmd=''\n"), ConfigError::at(1, "cmd names no program"));
        assert_eq!(error("cmd=/bin/true\ncwd=tmp\n"), ConfigError::at(2, "cwd must be an absolute path"));
        assert_eq!(error("cmd=/bin/a\0b\n"), ConfigError::at(1, "contains a NUL byte"));
    }

    #[test]
    fn env_entries_keep_file_order_and_a_later_name_wins() {
        let spec = parse(b"cmd=/bin/true\nenv=A=1\nenv=B=x=y\nenv=A=2\nenv=EMPTY=\n").unwrap();
        let env: Vec<(&str, &str)> = spec.settings().env.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(env, [("B", "x=y"), ("A", "2"), ("EMPTY", "")]);
        assert_eq!(error("cmd=/bin/true\nenv==1\n"), ConfigError::at(2, "env needs a variable name: env=NAME=VALUE"));
        assert_eq!(error("cmd=/bin/true\nenv=NAME\n").line, 2);
    }

    #[test]
    fn user_group_chroot_and_umask_are_kept_with_their_lines() {
        let spec = parse(b"cmd=/bin/true\nuser=www\ngroup=100\nchroot=/srv/jail\numask=027\n").unwrap();
        assert_eq!(spec.settings().user, Some((2, "www".to_string())));
        assert_eq!(spec.settings().group, Some((3, "100".to_string())));
        assert_eq!(spec.settings().chroot.as_deref(), Some("/srv/jail"));
        assert_eq!(spec.settings().umask, Some(0o27));
        assert_eq!(error("cmd=/bin/true\numask=0800\n"), ConfigError::at(2, "umask must be octal, from 000 to 777"));
        assert_eq!(error("cmd=/bin/true\nchroot=jail\n"), ConfigError::at(2, "chroot must be an absolute path"));
        assert_eq!(error("cmd=/bin/true\nuser=a\nuser=b\n"), ConfigError::at(3, "duplicate key \"user\""));
    }

    #[test]
    fn rlimits_take_one_value_or_soft_and_hard() {
        let spec = parse(b"cmd=/bin/true\nrlimit=nofile 1024:4096\nrlimit=core unlimited\nrlimit=cpu 10\n").unwrap();
        assert_eq!(
            spec.settings().rlimits,
            [
                (Resource::Nofile, Rlimit { current: Some(1024), maximum: Some(4096) }),
                (Resource::Core, Rlimit { current: None, maximum: None }),
                (Resource::Cpu, Rlimit { current: Some(10), maximum: Some(10) }),
            ]
        );
        let usage = "rlimit needs RESOURCE VALUE or RESOURCE SOFT:HARD, each a number or unlimited";
        assert_eq!(error("cmd=/bin/true\nrlimit=nofile\n"), ConfigError::at(2, usage));
        assert_eq!(error("cmd=/bin/true\nrlimit=nofile lots\n"), ConfigError::at(2, usage));
        assert_eq!(error("cmd=/bin/true\nrlimit=files 10\n").line, 2);
        assert_eq!(
            error("cmd=/bin/true\nrlimit=nofile 100:10\n"),
            ConfigError::at(2, "rlimit nofile: soft limit 100 is above hard limit 10")
        );
        assert!(parse(b"cmd=/bin/true\nrlimit=nofile 10:unlimited\n").is_ok());
        assert!(parse(b"cmd=/bin/true\nrlimit=nofile unlimited:10\n").is_err());
    }

    #[test]
    fn log_to_a_file_with_rotation_or_to_stdout() {
        let spec = parse(b"cmd=/bin/true\nlog=/var/log/web.log\n").unwrap();
        let default =
            LogTarget::File { path: "/var/log/web.log".into(), max_size: DEFAULT_LOG_SIZE, keep: DEFAULT_LOG_KEEP };
        assert_eq!(spec.settings().log, Some(default));
        let spec = parse(b"cmd=/bin/true\nlog_keep=2\nlog=/l\nlog_size=10000\n").unwrap();
        assert_eq!(spec.settings().log, Some(LogTarget::File { path: "/l".into(), max_size: 10000, keep: 2 }));
        assert_eq!(parse(b"cmd=/bin/true\nlog=-\n").unwrap().settings().log, Some(LogTarget::Stdout));
        assert_eq!(parse(b"cmd=/bin/true\n").unwrap().settings().log, None);
        assert_eq!(error("cmd=/bin/true\nlog=web.log\n").line, 2);
        assert_eq!(
            error("cmd=/bin/true\nlog_size=100000\n"),
            ConfigError::at(2, "log_size and log_keep need log=PATH")
        );
        assert_eq!(
            error("cmd=/bin/true\nlog=-\nlog_keep=3\n"),
            ConfigError::at(3, "log_size and log_keep need log=PATH")
        );
        assert_eq!(
            error("cmd=/bin/true\nlog=/l\nlog_size=10\n"),
            ConfigError::at(3, format!("log_size must be a whole number from 4096 to {}", u64::MAX))
        );
        assert_eq!(
            error("cmd=/bin/true\nlog=/l\nlog_keep=-1\n"),
            ConfigError::at(3, "log_keep must be a whole number from 0 to 1000")
        );
    }

    #[test]
    fn missing_cmd_is_an_error_of_the_whole_file() {
        assert_eq!(error("# nothing\ncwd=/\n").line, 0);
        assert_eq!(error("").line, 0);
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let error = parse(b"cmd=/bin/true\n# caf\xE9\n").unwrap_err();
        assert_eq!(error.line, 2);
    }

    #[test]
    fn file_over_the_size_limit_is_refused() {
        let mut text = b"cmd=/bin/true\n".to_vec();
        text.resize(MAX_FILE_SIZE + 1, b'\n');
        assert_eq!(parse(&text).unwrap_err().line, 0);
        text.truncate(MAX_FILE_SIZE);
        assert!(parse(&text).is_ok());
    }

    #[test]
    fn located_errors_print_file_and_line() {
        let error = ConfigError::at(3, "unknown key \"usr\"");
        assert_eq!(format!("{}", Located("web", &error)), "web:3: unknown key \"usr\"");
        let error = ConfigError::at(0, "missing");
        assert_eq!(format!("{}", Located("web", &error)), "web: missing");
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_bytes_give_a_spec_or_an_error_never_a_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
                let lines = bytes.split(|&b| b == b'\n').count();
                match crate::config::parse(&bytes) {
                    // A Procfile service has its commands in the Procfile.
                    Ok(ServiceFile::Procfile(app)) => prop_assert!(app.path.starts_with('/')),
                    Ok(ServiceFile::Command(spec)) => prop_assert!(!spec.argv.program().is_empty()),
                    Err(error) => prop_assert!(error.line <= lines),
                }
            }

            #[test]
            fn any_key_value_text_parses_or_names_a_line(text in "([a-z_]{1,8}=[ -~]{0,20}\n){0,12}") {
                if let Err(error) = parse(text.as_bytes()) {
                    prop_assert!(error.line <= text.lines().count());
                }
            }

            #[test]
            fn split_words_never_panics(text in "\\PC{0,200}") {
                let _ = split_words(&text);
            }

            #[test]
            fn plain_words_and_single_quoted_words_come_back_as_written(
                words in proptest::collection::vec("[^'\\x00]{0,12}", 1..8)
            ) {
                let quoted: Vec<String> = words.iter().map(|word| format!("'{word}'")).collect();
                prop_assert_eq!(split_words(&quoted.join(" ")).unwrap(), words);
            }
        }
    }
}
