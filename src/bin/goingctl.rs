//! goingctl: see and control what going supervises.
//!
//! It reads the status files going keeps in its run directory and writes
//! one-line commands to the control FIFO there (see going(8) in the README).
//! A short-lived tool, so it uses std; what it shares with going (file
//! names, command lines, signal names, /proc parsing) comes from the
//! library's `protocol` and `proc_stat` rooms, so the two cannot drift apart.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use going::config::StopPolicy;
use going::proc_stat::{self, ProcessStat};
use going::protocol::{
    ABOUT_GOING, CONTROL, Control, DEFAULT_RUN_DIR, LOADED, LOCK, MAX_STATUS_FILE, command_line, show_signal,
    signal_number, status,
};

/// How a service stops when its file says nothing: what a status file leaves out.
const DEFAULT: StopPolicy = StopPolicy::DEFAULT;
/// Linux reports CPU time in USER_HZ ticks, 100 a second on every architecture.
const TICKS_PER_SECOND: f64 = 100.0;

const EXIT_UNKNOWN_SERVICE: u8 = 1;
const EXIT_USAGE: u8 = 64;
const EXIT_UNAVAILABLE: u8 = 69;
const EXIT_NO_PERMISSION: u8 = 77;

const USAGE: &str = "usage: goingctl [-r RUNDIR] [status [--json]] [NAME...]
       goingctl [-r RUNDIR] restart|up|down NAME...|--all
       goingctl [-r RUNDIR] signal SIG NAME...|--all
       goingctl [-r RUNDIR] wait [-t SECONDS] NAME...
       goingctl [-r RUNDIR] log [-n LINES] [-f] NAME
  status   show services (the default): state, pid, uptime, restarts, last exit, CPU, RSS, processes,
           and why it is not running (a refused file, a failed start, what it waits for, when it
           restarts), its health (check=), what it said (STATUS=)
  restart  stop (its stop signal, then KILL after its stop timeout) and start again at once, with the backoff reset
  down     stop and keep stopped until up (or until going restarts)
  up       start a service that was put down, or a done or failed one-shot
  signal   send SIG (a name such as HUP, USR1 or WINCH, with or without SIG, or a number) to the process group
  wait     return once every NAME is ready (or, for a one-shot, done); 1 if one failed, waits for what
           cannot become ready by itself (failed, down, refused, missing) or SECONDS passed; with -t, waits
           for going to start too
  log      the last LINES (default 20) of NAME's log= file, then with -f what it writes next, across
           rotation and truncation
  NAME     a service, or a Procfile app: every process of it; --all: every service
  -r DIR   going's run directory (default /run/going)
";

/// A failure that ends goingctl with a message and an exit code.
struct Failure(u8, String);

type Status = BTreeMap<String, String>;

/// A file goingctl reads: never through a symlink at its last step, never blocking
/// on a FIFO, only a regular file, and at most `limit` bytes of it.
fn open_plain(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let flags = libc_flags::NOFOLLOW | libc_flags::NONBLOCK;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(flags).open(path)?;
    match file.metadata()?.is_file() {
        true => Ok(file),
        false => Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file")),
    }
}

/// At most `limit` bytes of a file [`open_plain`] opens, as text; `None` if longer.
fn read_plain(path: &Path, limit: usize) -> Option<String> {
    use std::io::Read;
    let mut text = String::new();
    open_plain(path).ok()?.take(limit as u64 + 1).read_to_string(&mut text).ok()?;
    (text.len() <= limit).then_some(text)
}

/// One service's status file, read from the run directory: a small regular
/// file that starts with `state=`.
fn read_status(run_dir: &Path, name: &str) -> Option<Status> {
    let text = read_plain(&run_dir.join(name), MAX_STATUS_FILE)?;
    Some(status::fields(&text)?.map(|(key, value)| (key.into(), value.into())).collect())
}

/// The open(2) flags std does not name.
mod libc_flags {
    pub const NOFOLLOW: i32 = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    pub const NONBLOCK: i32 = rustix::fs::OFlags::NONBLOCK.bits() as i32;
}

/// The run directory, if goingctl may trust what it finds there: going's
/// rule (owned by root or by goingctl's user, not writable by group or
/// others, not a symlink). What another user could plant there (a status
/// file naming a root-only `log=`) must never be read on their word.
fn trust_run_dir(run_dir: &Path) -> Result<(), Failure> {
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let shown = run_dir.display();
    let dir = match rustix::fs::open(c_path(run_dir)?.as_c_str(), flags, Mode::empty()) {
        Ok(dir) => dir,
        Err(rustix::io::Errno::NOENT) => return Err(not_running(run_dir)),
        Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
            let message = format!("{shown}: refused: not a directory (a symlink is not followed; name the real one)");
            return Err(Failure(EXIT_UNAVAILABLE, message));
        }
        Err(error) => return Err(Failure(EXIT_UNAVAILABLE, format!("{shown}: cannot open: {error}"))),
    };
    let stat = rustix::fs::fstat(&dir).map_err(|error| Failure(EXIT_UNAVAILABLE, format!("{shown}: {error}")))?;
    match going::trust::distrust_reason(&stat, rustix::process::geteuid().as_raw()) {
        Some(reason) => Err(Failure(EXIT_UNAVAILABLE, format!("{shown}: refused: {reason}"))),
        None => Ok(()),
    }
}

fn not_running(run_dir: &Path) -> Failure {
    Failure(EXIT_UNAVAILABLE, format!("going is not running ({})", run_dir.display()))
}

/// Whether a going serves the run directory: `.going` names a process that is
/// alive and started when it says (a pid may be reused). Nothing in it is a
/// lock another user could hold. From another PID namespace that pid means
/// nothing; going's user (who alone may open `.lock`, mode 0600) then asks
/// whether the lock is held (F_GETLK takes none).
fn ensure_going_runs(run_dir: &Path) -> Result<(), Failure> {
    trust_run_dir(run_dir)?;
    let about = read_plain(&run_dir.join(ABOUT_GOING), MAX_STATUS_FILE).unwrap_or_default();
    let (Some(pid), Some(start_time)) = (status::value(&about, status::PID), status::value(&about, status::START_TIME))
    else {
        return Err(not_running(run_dir));
    };
    if stat_of(pid).is_some_and(|stat| start_time.parse() == Ok(stat.start_time)) {
        return Ok(());
    }
    use rustix::fs::{Mode, OFlags};
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let path = c_path(&run_dir.join(LOCK))?;
    let lock = rustix::fs::open(path.as_c_str(), flags, Mode::empty()).map_err(|_| not_running(run_dir))?;
    let probe = rustix::process::Flock::from(rustix::process::FlockType::ReadLock);
    match rustix::process::fcntl_getlk(&lock, &probe) {
        Ok(Some(_)) => Ok(()),
        _ => Err(not_running(run_dir)),
    }
}

/// How going tracks its services, from `.going`: its cgroups, or why it has none.
fn tracking(run_dir: &Path) -> Option<String> {
    let about = read_plain(&run_dir.join(ABOUT_GOING), MAX_STATUS_FILE)?;
    status::value(&about, status::TRACKING).map(String::from)
}

/// A path as the system calls take it.
fn c_path(path: &Path) -> Result<std::ffi::CString, Failure> {
    std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(path.as_os_str()))
        .map_err(|_| Failure(EXIT_USAGE, "the run directory's path has a NUL byte".into()))
}

/// Every service's name, from the status files.
fn service_names(run_dir: &Path) -> Result<Vec<String>, Failure> {
    let entries = std::fs::read_dir(run_dir).map_err(|error| {
        let message = format!("{}: {error}; is going running with this run directory?", run_dir.display());
        Failure(EXIT_UNAVAILABLE, message)
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| !name.starts_with('.') && name != CONTROL)
        .collect();
    names.sort();
    Ok(names)
}

/// The services a name on the command line stands for: the service of that name, or every
/// process of a Procfile app (`shop` for `shop.web` and `shop.worker`); none if neither.
fn services_named(run_dir: &Path, name: &str, all: &[String]) -> Vec<String> {
    if read_status(run_dir, name).is_some() {
        return Vec::from([name.to_owned()]);
    }
    let app_file = format!("/{name}");
    all.iter()
        .filter(|other| other.starts_with(&going::procfile::process_prefix(name)))
        .filter(|other| {
            let file = read_status(run_dir, other).and_then(|status| status.get(status::FILE).cloned());
            file.is_some_and(|file| file.ends_with(&app_file))
        })
        .cloned()
        .collect()
}

/// `3d 4h`, `2h 5m`, `12m 5s`, `7s`.
fn format_duration(seconds: u64) -> String {
    let (days, hours, minutes) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60);
    match (days, hours, minutes) {
        (0, 0, 0) => format!("{seconds}s"),
        (0, 0, _) => format!("{minutes}m {}s", seconds % 60),
        (0, _, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

/// What /proc says of a running service: CPU seconds, RSS in kB, processes in its group.
struct Usage {
    cpu_seconds: f64,
    rss_kb: u64,
    processes: usize,
}

fn stat_of(pid: &str) -> Option<ProcessStat> {
    proc_stat::parse_stat(&std::fs::read(format!("/proc/{pid}/stat")).ok()?)
}

/// What a service's cgroup says: its processes, CPU (`cpu.stat`) and memory
/// (`memory.current`, else the sum of its processes' RSS).
fn cgroup_usage(cgroup: &str) -> Option<Usage> {
    // Only a cgroup: a path in the cgroup2 hierarchy, read as small plain files.
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = Path::new(going::cgroups::cgroup2_mount(&mountinfo)?);
    let cgroup = Path::new(cgroup);
    if !cgroup.starts_with(mount) || cgroup.components().any(|part| part == std::path::Component::ParentDir) {
        return None;
    }
    const LIMIT: usize = 1 << 20;
    let procs = read_plain(&cgroup.join("cgroup.procs"), LIMIT)?;
    let pids: Vec<&str> = procs.lines().filter(|line| !line.is_empty()).collect();
    let cpu_usec: u64 = read_plain(&cgroup.join("cpu.stat"), LIMIT)
        .and_then(|stat| stat.lines().find_map(|line| line.strip_prefix("usage_usec ")?.trim().parse().ok()))
        .unwrap_or(0);
    let rss_kb = match read_plain(&cgroup.join("memory.current"), LIMIT) {
        Some(bytes) => bytes.trim().parse::<u64>().unwrap_or(0) / 1024,
        None => pids.iter().filter_map(|pid| rss_kb_of(pid)).sum(),
    };
    Some(Usage { cpu_seconds: cpu_usec as f64 / 1e6, rss_kb, processes: pids.len() })
}

fn rss_kb_of(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|value| value.split_whitespace().next()?.parse().ok())
}

fn usage_of(pid: &str) -> Option<Usage> {
    let stat = stat_of(pid)?;
    let rss_kb = rss_kb_of(pid)?;
    let group: i32 = pid.parse().ok()?;
    let processes = std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .filter(|other| stat_of(other).is_some_and(|stat| stat.group == group))
        .count();
    Some(Usage { cpu_seconds: stat.cpu_ticks as f64 / TICKS_PER_SECOND, rss_kb, processes })
}

fn format_rss(kb: u64) -> String {
    match kb {
        kb if kb >= 1024 * 1024 => format!("{:.1}G", kb as f64 / (1024.0 * 1024.0)),
        kb if kb >= 1024 => format!("{:.1}M", kb as f64 / 1024.0),
        kb => format!("{kb}K"),
    }
}

fn json_string(text: &str) -> String {
    let mut quoted = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if (c as u32) < 0x20 => _ = write!(quoted, "\\u{:04x}", c as u32),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// One row of the status table, with everything computed.
struct Row {
    name: String,
    state: String,
    pid: Option<String>,
    uptime_seconds: Option<u64>,
    restarts: String,
    last_exit: Option<String>,
    usage: Option<Usage>,
    /// The stop policy: the status file names it where it is not the default.
    stop_signal: String,
    /// Seconds, validated to be a decimal number.
    stop_timeout: String,
    restart: String,
    /// While waiting: the services it waits for, each with its state (`None`: no such service).
    waiting_for: Vec<(String, Option<String>)>,
    /// Why its file was refused, or why its last start failed.
    error: Option<String>,
    /// In backoff: seconds until its next start.
    restart_in: Option<f64>,
    /// The addresses of its `listen=` sockets.
    listen: Vec<String>,
    /// Seconds from this run's start until it was ready.
    ready_seconds: Option<f64>,
    status_text: Option<String>,
    /// With `check=`: `checking`, `healthy` or `unhealthy`, and the last check.
    health: Option<String>,
    last_check: Option<String>,
    /// The service's file, command and log path (`-` for going's stdout).
    file: Option<String>,
    cmd: Option<String>,
    log: Option<String>,
}

/// A status value that must be a whole number; anything else is shown as unknown.
fn number(status: &Status, key: &str) -> Option<u64> {
    status.get(key)?.parse().ok()
}

fn row(run_dir: &Path, name: &str, status: &Status, now: u64) -> Row {
    let pid = number(status, status::PID).filter(|&pid| pid > 1).map(|pid| pid.to_string());
    let since = number(status, status::SINCE_MONO);
    let waiting_for = status.get(status::WAITING_FOR).map_or_else(Vec::new, |names| {
        let state_of = |name: &str| read_status(run_dir, name).and_then(|status| status.get(status::STATE).cloned());
        names.split(' ').map(|name| (name.to_owned(), state_of(name))).collect()
    });
    let next_start = number(status, status::NEXT_START_MONO);
    let ready = number(status, status::READY_MONO);
    Row {
        name: name.to_owned(),
        state: status.get(status::STATE).cloned().unwrap_or_else(|| "?".into()),
        usage: match status.get(status::CGROUP) {
            Some(cgroup) if pid.is_some() => cgroup_usage(cgroup),
            _ => pid.as_deref().and_then(usage_of),
        },
        pid,
        uptime_seconds: since.map(|since| now.saturating_sub(since) / 1_000_000_000),
        restarts: number(status, status::RESTARTS).unwrap_or(0).to_string(),
        last_exit: status.get(status::LAST_EXIT).cloned(),
        stop_signal: status
            .get(status::STOP_SIGNAL)
            .cloned()
            .unwrap_or_else(|| show_signal(DEFAULT.signal).to_string()),
        stop_timeout: status
            .get(status::STOP_TIMEOUT)
            .filter(|value| is_decimal(value))
            .cloned()
            .unwrap_or_else(|| (DEFAULT.timeout / 1000).to_string()),
        restart: status.get(status::RESTART).cloned().unwrap_or_else(|| DEFAULT.restart.name().into()),
        waiting_for,
        error: status.get(status::ERROR).cloned(),
        restart_in: next_start.map(|next| next.saturating_sub(now) as f64 / 1e9),
        listen: status
            .get(status::LISTEN)
            .map_or_else(Vec::new, |listen| listen.split(' ').map(String::from).collect()),
        ready_seconds: ready.zip(since).map(|(ready, since)| ready.saturating_sub(since) as f64 / 1e9),
        status_text: status.get(status::STATUS_TEXT).cloned(),
        health: status.get(status::HEALTH).cloned(),
        last_check: status.get(status::LAST_CHECK).cloned(),
        file: status.get(status::FILE).cloned(),
        cmd: status.get(status::CMD).cloned(),
        log: status.get(status::LOG).cloned(),
    }
}

/// A dependency's state worth telling beside its name: one that keeps it from being ready.
fn blocking(state: Option<&str>) -> Option<&'static str> {
    match state {
        None => Some("no such service"),
        Some("failed") => Some("failed"),
        Some("backoff") => Some("backoff"),
        Some("down") => Some("down"),
        Some("error") => Some("refused"),
        Some(_) => None,
    }
}

/// Why it is not running or what it does: its error (a refused file, a failed start),
/// `waiting for db (failed), cache`, `restarting in 3.2s`, its health
/// (`unhealthy (last: exit 1)`) and its own `STATUS=` text.
fn info(row: &Row) -> String {
    let mut parts: Vec<String> = row.error.iter().cloned().collect();
    if !row.waiting_for.is_empty() {
        let names: Vec<String> = (row.waiting_for.iter())
            .map(|(name, state)| match blocking(state.as_deref()) {
                Some(why) => format!("{name} ({why})"),
                None => name.clone(),
            })
            .collect();
        parts.push(format!("waiting for {}", names.join(", ")));
    }
    if let Some(seconds) = row.restart_in.filter(|_| row.state == "backoff") {
        parts.push(format!("restarting in {seconds:.1}s"));
    }
    let health = row.health.as_ref().map(|health| match (health.as_str(), &row.last_check) {
        (health, _) if health.starts_with("healthy") => health.to_owned(),
        (_, None) => health.clone(),
        (_, Some(last)) => format!("{health} (last: {last})"),
    });
    parts.extend(health.into_iter().chain(row.status_text.clone()));
    parts.join("; ")
}

/// `5`, `0.5`: what may stand in JSON as a number.
fn is_decimal(text: &str) -> bool {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, "0"));
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction)
}

/// A value as a terminal may show it: control characters (escape sequences) become `?`.
fn printable(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { '?' } else { c }).collect()
}

fn print_table(rows: &[Row], colour: bool) {
    let width = rows.iter().map(|row| row.name.len()).max().unwrap_or(4).max(4);
    println!(
        "{:width$}  {:8}  {:>7}  {:>7}  {:>8}  {:12}  {:>8}  {:>6}  {:>5}  INFO",
        "NAME", "STATE", "PID", "UPTIME", "RESTARTS", "LAST EXIT", "CPU", "RSS", "PROCS"
    );
    for row in rows {
        let state = match (colour, row.state.as_str()) {
            (false, state) => format!("{:8}", printable(state)),
            (true, state @ ("up" | "done")) => format!("\x1b[32m{state:8}\x1b[0m"),
            (true, state @ ("backoff" | "starting" | "waiting")) => format!("\x1b[33m{state:8}\x1b[0m"),
            (true, state) => format!("\x1b[31m{:8}\x1b[0m", printable(state)),
        };
        let dash = || "-".to_owned();
        let (cpu, rss, processes) = match &row.usage {
            Some(usage) => {
                (format!("{:.2}s", usage.cpu_seconds), format_rss(usage.rss_kb), usage.processes.to_string())
            }
            None => (dash(), dash(), dash()),
        };
        println!(
            "{:width$}  {state}  {:>7}  {:>7}  {:>8}  {:12}  {:>8}  {:>6}  {:>5}  {}",
            printable(&row.name),
            row.pid.clone().unwrap_or_else(dash),
            row.uptime_seconds.map_or_else(dash, format_duration),
            row.restarts,
            row.last_exit.as_deref().map_or_else(dash, printable),
            cpu,
            rss,
            processes,
            printable(&info(row)),
        );
    }
}

/// A value of `--json`'s objects.
enum Json {
    Null,
    /// A number, written as it is.
    Number(String),
    Text(String),
    List(Vec<String>),
}

impl Json {
    fn text(value: Option<&str>) -> Json {
        value.map_or(Json::Null, |value| Json::Text(value.to_owned()))
    }

    fn number(value: Option<impl std::fmt::Display>) -> Json {
        value.map_or(Json::Null, |value| Json::Number(value.to_string()))
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Null => out.push_str("null"),
            Json::Number(number) => out.push_str(number),
            Json::Text(text) => out.push_str(&json_string(text)),
            Json::List(items) => {
                let items: Vec<String> = items.iter().map(|item| json_string(item)).collect();
                let _ = write!(out, "[{}]", items.join(","));
            }
        }
    }
}

/// A row as `--json` gives it: goingctl(8) documents every key.
fn json_fields(row: &Row) -> [(&'static str, Json); 23] {
    let usage = row.usage.as_ref();
    [
        ("name", Json::Text(row.name.clone())),
        ("state", Json::Text(row.state.clone())),
        ("pid", Json::number(row.pid.as_ref())),
        ("uptime_seconds", Json::number(row.uptime_seconds)),
        ("restarts", Json::Number(row.restarts.clone())),
        ("last_exit", Json::text(row.last_exit.as_deref())),
        ("cpu_seconds", Json::number(usage.map(|usage| format!("{:.2}", usage.cpu_seconds)))),
        ("rss_kb", Json::number(usage.map(|usage| usage.rss_kb))),
        ("processes", Json::number(usage.map(|usage| usage.processes))),
        ("stop_signal", Json::Text(row.stop_signal.clone())),
        ("stop_timeout", Json::Number(row.stop_timeout.clone())),
        ("restart", Json::Text(row.restart.clone())),
        ("waiting_for", Json::List(row.waiting_for.iter().map(|(name, _)| name.clone()).collect())),
        ("ready_seconds", Json::number(row.ready_seconds.map(|seconds| format!("{seconds:.3}")))),
        ("status_text", Json::text(row.status_text.as_deref())),
        ("health", Json::text(row.health.as_deref())),
        ("last_check", Json::text(row.last_check.as_deref())),
        ("error", Json::text(row.error.as_deref())),
        ("restart_in", Json::number(row.restart_in.map(|seconds| format!("{seconds:.3}")))),
        ("listen", Json::List(row.listen.clone())),
        ("file", Json::text(row.file.as_deref())),
        ("cmd", Json::text(row.cmd.as_deref())),
        ("log", Json::text(row.log.as_deref())),
    ]
}

fn print_json(rows: &[Row]) {
    let mut out = String::from("[");
    for (index, row) in rows.iter().enumerate() {
        out.push_str(if index == 0 { "{" } else { ",{" });
        for (at, (key, value)) in json_fields(row).iter().enumerate() {
            let _ = write!(out, "{}\"{key}\":", if at == 0 { "" } else { "," });
            value.write(&mut out);
        }
        out.push('}');
    }
    println!("{out}]");
}

fn status(run_dir: &Path, args: &[String]) -> Result<u8, Failure> {
    let json = args.iter().any(|arg| arg == "--json");
    let wanted: Vec<&String> = args.iter().filter(|arg| *arg != "--json").collect();
    if let Some(option) = wanted.iter().find(|arg| arg.starts_with('-')) {
        return Err(Failure(EXIT_USAGE, format!("unknown option {option}\n{USAGE}")));
    }
    ensure_going_runs(run_dir)?;
    let names = service_names(run_dir)?;
    let mut code = 0;
    let every = wanted.is_empty();
    let selected: Vec<&String> = match every {
        true => names.iter().collect(),
        false => wanted,
    };
    let now = going::clock::monotonic_nanos();
    let mut rows = Vec::new();
    let mut apps = false;
    for name in selected {
        let services = match every {
            true => Vec::from([name.clone()]),
            false => services_named(run_dir, name, &names),
        };
        apps |= services.len() != 1 || services[0] != *name;
        if services.is_empty() {
            eprintln!("goingctl: no service {name}");
            code = EXIT_UNKNOWN_SERVICE;
        }
        for service in services {
            // A file in the run directory that is no status file is none of going's.
            if let Some(status) = read_status(run_dir, &service) {
                rows.push(row(run_dir, &service, &status, now));
            }
        }
    }
    match (json, &rows[..]) {
        (true, _) => print_json(&rows),
        // One service named: everything about it, as `systemctl status` shows.
        (false, [one]) if !every && !apps => print_detail(run_dir, one)?,
        (false, _) => {
            print_table(&rows, std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none());
            if let Some(tracking) = tracking(run_dir) {
                println!("\ngoing: {}", printable(&tracking));
            }
        }
    }
    Ok(code)
}

/// The detail view of one service: the table's line, every field of its
/// status file, and the last lines of its log.
fn print_detail(run_dir: &Path, row: &Row) -> Result<(), Failure> {
    print_table(std::slice::from_ref(row), std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none());
    println!();
    let status = read_status(run_dir, &row.name).unwrap_or_default();
    let width = status.keys().map(String::len).max().unwrap_or(0);
    for (key, value) in &status {
        println!("  {key:>width$}: {}", printable(value));
    }
    println!();
    match row.log.as_deref() {
        Some("-") => println!("Its output goes to going's stdout (log=-)."),
        Some(path) => {
            println!("The last lines of {path}:");
            for line in last_lines(Path::new(path), 5)? {
                println!("  {}", printable(&String::from_utf8_lossy(&line)));
            }
        }
        None => println!("Its output goes to /dev/null (no log= in its file)."),
    }
    Ok(())
}

/// Opens the control FIFO for writing: never through a symlink, and only a
/// FIFO owned by the run directory's owner (nothing planted by someone else).
fn open_control(run_dir: &Path) -> Result<std::fs::File, Failure> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
    let path = run_dir.join(CONTROL);
    // Non-blocking: with no reader (going not running) open fails with ENXIO instead of hanging.
    let flags = libc_flags::NOFOLLOW | libc_flags::NONBLOCK;
    let fifo = std::fs::OpenOptions::new().write(true).custom_flags(flags).open(&path).map_err(|error| match error
        .kind()
    {
        std::io::ErrorKind::PermissionDenied => Failure(
            EXIT_NO_PERMISSION,
            format!("{}: permission denied; only going's user may control it", path.display()),
        ),
        _ => Failure(EXIT_UNAVAILABLE, format!("{}: cannot open: {error}", path.display())),
    })?;
    let (fifo_meta, dir_meta) = (fifo.metadata(), std::fs::metadata(run_dir));
    let trusted = match (&fifo_meta, &dir_meta) {
        (Ok(fifo), Ok(dir)) => fifo.file_type().is_fifo() && fifo.uid() == dir.uid(),
        _ => false,
    };
    if !trusted {
        let message = format!("{}: not a FIFO of the run directory's owner; not written to", path.display());
        return Err(Failure(EXIT_UNAVAILABLE, message));
    }
    Ok(fifo)
}

fn control(run_dir: &Path, command: &str, args: &[String]) -> Result<u8, Failure> {
    let (control, names) = match (command, args) {
        ("signal", [signal, names @ ..]) => match signal_number(signal) {
            Some(number) => (Control::Signal(number), names),
            None => return Err(Failure(EXIT_USAGE, format!("unknown signal {signal}\n{USAGE}"))),
        },
        ("up", names) => (Control::Up, names),
        ("down", names) => (Control::Down, names),
        (_, names) => (Control::Restart, names),
    };
    if names.is_empty() {
        return Err(Failure(EXIT_USAGE, format!("{command} needs service names or --all\n{USAGE}")));
    }
    ensure_going_runs(run_dir)?;
    let all = service_names(run_dir)?;
    let mut fifo = open_control(run_dir)?;
    let mut code = 0;
    for name in names {
        let services = match name.as_str() {
            "--all" => all.clone(),
            name if name.contains(char::is_whitespace) => Vec::new(),
            name => services_named(run_dir, name, &all),
        };
        if services.is_empty() && name != "--all" {
            eprintln!("goingctl: no service {name}");
            code = EXIT_UNKNOWN_SERVICE;
        }
        for service in services {
            let Some(status) = read_status(run_dir, &service) else { continue };
            if status.get(status::STATE).is_some_and(|state| state == "error") {
                // A refused file runs nothing: there is nothing to act on until it is fixed.
                if name != "--all" {
                    let error = status.get(status::ERROR).map_or("", String::as_str);
                    eprintln!("goingctl: {service}: its file was refused, so nothing runs: {error}");
                    code = EXIT_UNKNOWN_SERVICE;
                }
                continue;
            }
            // One write of a short line: the FIFO keeps it whole (below PIPE_BUF).
            let line = command_line(control, &service);
            if let Err(error) = std::io::Write::write_all(&mut fifo, line.as_bytes()) {
                let message = format!("cannot write to the control FIFO: {error}");
                return Err(Failure(EXIT_UNAVAILABLE, message));
            }
        }
    }
    Ok(code)
}

/// Where a service is, for `wait`.
enum WaitOutcome {
    Ready,
    NotYet(String),
    Failed(String),
}

fn readiness(run_dir: &Path, name: &str) -> WaitOutcome {
    let Some(status) = read_status(run_dir, name) else {
        // Until going has written every status of its first scan, a missing one may be still to come.
        return match run_dir.join(LOADED).exists() {
            true => WaitOutcome::Failed(format!("no service {name}")),
            false => WaitOutcome::NotYet(format!("{name} (going is still starting)")),
        };
    };
    let state = status.get(status::STATE).map_or("?", String::as_str);
    match state {
        "up" | "done" => WaitOutcome::Ready,
        "failed" => {
            let exit = status.get(status::LAST_EXIT).map_or(String::new(), |exit| format!(" ({exit})"));
            WaitOutcome::Failed(format!("{name} failed{exit}"))
        }
        "error" => {
            let error = status.get(status::ERROR).map_or("", String::as_str);
            WaitOutcome::Failed(format!("{name}: its file was refused: {error}"))
        }
        "waiting" => match stuck_dependency(run_dir, &status, &mut Vec::from([name.to_owned()])) {
            Some(why) => WaitOutcome::Failed(format!("{name} waits for {why}, which cannot become ready by itself")),
            None => WaitOutcome::NotYet(format!("{name} (waiting)")),
        },
        state => WaitOutcome::NotYet(format!("{name} ({state})")),
    }
}

/// What a waiting service waits for that cannot become ready unless someone acts:
/// a dependency failed, down, refused or missing, or waiting itself for such a one.
fn stuck_dependency(run_dir: &Path, status: &Status, seen: &mut Vec<String>) -> Option<String> {
    for name in status.get(status::WAITING_FOR)?.split(' ') {
        if seen.iter().any(|other| other == name) {
            continue;
        }
        seen.push(name.to_owned());
        let dependency = read_status(run_dir, name);
        let state = dependency.as_ref().and_then(|status| status.get(status::STATE).map(String::as_str));
        match (state, &dependency) {
            (Some("backoff"), _) => {}
            (Some("waiting"), Some(dependency)) => {
                if let Some(why) = stuck_dependency(run_dir, dependency, seen) {
                    return Some(format!("{name}, which waits for {why}"));
                }
            }
            (state, _) => {
                if let Some(why) = blocking(state) {
                    return Some(format!("{name} ({why})"));
                }
            }
        }
    }
    None
}

/// `wait [-t SECONDS] NAME...`: sleeps on inotify in the run directory
/// (status files are renamed into place), never in a polling loop.
fn wait(run_dir: &Path, args: &[String]) -> Result<u8, Failure> {
    use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
    let (timeout, names) = match args {
        [flag, seconds, names @ ..] if flag == "-t" => match seconds.parse::<f64>() {
            Ok(seconds) if seconds >= 0.0 && seconds.is_finite() => (Some(seconds), names),
            _ => return Err(Failure(EXIT_USAGE, format!("-t needs seconds, such as 5 or 0.5\n{USAGE}"))),
        },
        names => (None, names),
    };
    if names.is_empty() || names.iter().any(|name| name.starts_with('-')) {
        return Err(Failure(EXIT_USAGE, format!("wait needs service names\n{USAGE}")));
    }
    let deadline = timeout.map(|seconds| std::time::Instant::now() + std::time::Duration::from_secs_f64(seconds));
    // With a timeout, a going still starting (an entrypoint's first moments) is waited for too.
    while let Err(not_yet) = ensure_going_runs(run_dir) {
        match deadline {
            Some(deadline) if not_yet.0 == EXIT_UNAVAILABLE && std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            _ => return Err(not_yet),
        }
    }
    let given = names;
    let watcher = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)
        .map_err(|error| Failure(EXIT_UNAVAILABLE, format!("cannot use inotify: {error}")))?;
    let events = WatchFlags::MOVED_TO | WatchFlags::CLOSE_WRITE | WatchFlags::DELETE | WatchFlags::DELETE_SELF;
    inotify::add_watch(&watcher, c_path(run_dir)?.as_c_str(), events)
        .map_err(|error| Failure(EXIT_UNAVAILABLE, format!("{}: cannot watch: {error}", run_dir.display())))?;
    loop {
        // Looked at after the watch is set: no change between the two goes unseen. A
        // Procfile app stands for its processes (looked up each time: going may still be
        // writing its first status files); anything else is waited for by its name.
        let all = service_names(run_dir)?;
        let names = given.iter().flat_map(|name| match services_named(run_dir, name, &all) {
            services if services.is_empty() => Vec::from([name.clone()]),
            services => services,
        });
        let mut waiting = Vec::new();
        for name in names {
            match readiness(run_dir, &name) {
                WaitOutcome::Ready => {}
                WaitOutcome::NotYet(what) => waiting.push(what),
                WaitOutcome::Failed(why) => {
                    eprintln!("goingctl: {why}");
                    return Ok(EXIT_UNKNOWN_SERVICE);
                }
            }
        }
        if waiting.is_empty() {
            return Ok(0);
        }
        ensure_going_runs(run_dir)?;
        let left = deadline.map(|deadline| deadline.saturating_duration_since(std::time::Instant::now()));
        if left.is_some_and(|left| left.is_zero()) {
            let seconds = timeout.unwrap_or(0.0);
            eprintln!("goingctl: timed out after {seconds}s waiting for {}", waiting.join(", "));
            return Ok(EXIT_UNKNOWN_SERVICE);
        }
        let left = left.map(|left| rustix::time::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        });
        let mut ready = [rustix::event::PollFd::new(&watcher, rustix::event::PollFlags::IN)];
        let _ = rustix::event::poll(&mut ready, left.as_ref());
        let mut buffer = [0u8; 4096];
        while rustix::io::read(&watcher, &mut buffer).is_ok_and(|count| count > 0) {}
    }
}

/// One log file `goingctl log` shows, and how far it has been read.
struct Followed {
    /// The process type's name for a Procfile app's lines (`web | ...`), else empty.
    prefix: String,
    path: PathBuf,
    file: Option<std::fs::File>,
    /// The inode of `file`: a different one at `path` means it was rotated.
    inode: u64,
    position: u64,
    /// A line read in part, finished by a later read.
    partial: Vec<u8>,
}

/// Reading a log file goingctl's user may not read.
fn not_allowed(path: &Path) -> Failure {
    let message = format!("{}: permission denied; whoever may read the log file may read it here", path.display());
    Failure(EXIT_NO_PERMISSION, message)
}

/// How much of a log file goingctl reads at once: going writes lines of at most 4 KiB.
const LOG_READ: u64 = 1 << 20;

/// The last `count` lines of `path`, reaching back into `path.1` when `path` holds fewer.
fn last_lines(path: &Path, count: usize) -> Result<Vec<Vec<u8>>, Failure> {
    let lines_of = |path: &Path| -> Result<Vec<Vec<u8>>, Failure> {
        use std::io::{Read, Seek};
        let mut file = match open_plain(path) {
            Ok(file) => file,
            Err(error) if error.kind() == std::io::ErrorKind::PermissionDenied => return Err(not_allowed(path)),
            Err(_) => return Ok(Vec::new()),
        };
        // Only the end that can hold `count` lines, not a whole file of any size.
        let tail = LOG_READ.max(count as u64 * 4200);
        let length = file.metadata().map_or(0, |m| m.len());
        let mut bytes = Vec::new();
        let _ = file.seek(std::io::SeekFrom::Start(length.saturating_sub(tail)));
        let _ = file.take(tail).read_to_end(&mut bytes);
        let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
        if lines.last().is_some_and(Vec::is_empty) {
            lines.pop();
        }
        Ok(lines)
    };
    let mut lines = lines_of(path)?;
    if lines.len() < count {
        let mut rotated = path.as_os_str().to_owned();
        rotated.push(".1");
        let mut older = lines_of(Path::new(&rotated))?;
        older.append(&mut lines);
        lines = older;
    }
    let skip = lines.len().saturating_sub(count);
    Ok(lines.split_off(skip))
}

/// A line for a terminal: control characters but tab shown as `\x1b` (as `less` and
/// `journalctl` do), so that a service cannot drive the terminal of whoever reads its log.
fn escape_controls(line: &[u8]) -> Vec<u8> {
    let mut shown = String::new();
    for c in String::from_utf8_lossy(line).chars() {
        match c {
            '\t' => shown.push(c),
            c if c.is_control() => shown.push_str(&format!("\\x{:02x}", c as u32)),
            c => shown.push(c),
        }
    }
    shown.into_bytes()
}

/// Writes one line, prefixed, escaped for a terminal when `terminal`; false once stdout is
/// gone (a closed pipe ends goingctl quietly).
fn emit(out: &mut impl std::io::Write, prefix: &str, line: &[u8], terminal: bool) -> bool {
    let prefix = if prefix.is_empty() { String::new() } else { format!("{prefix} | ") };
    let escaped;
    let line = match terminal {
        true => {
            escaped = escape_controls(line);
            &escaped[..]
        }
        false => line,
    };
    out.write_all(prefix.as_bytes()).and_then(|()| out.write_all(line)).and_then(|()| out.write_all(b"\n")).is_ok()
}

impl Followed {
    fn open(prefix: String, path: PathBuf) -> Followed {
        use std::os::unix::fs::MetadataExt;
        let file = open_plain(&path).ok();
        // An unreadable file was told of by `last_lines` already.
        let (inode, position) =
            file.as_ref().and_then(|file| file.metadata().ok()).map_or((0, 0), |m| (m.ino(), m.len()));
        Followed { prefix, path, file, inode, position, partial: Vec::new() }
    }

    /// Writes what was appended since the last look, following a rotation
    /// (the rest of the old file first) and a truncation (from the start).
    fn catch_up(&mut self, out: &mut impl std::io::Write, terminal: bool) -> bool {
        use std::io::{Read, Seek};
        use std::os::unix::fs::MetadataExt;
        loop {
            if let Some(file) = &mut self.file {
                let length = file.metadata().map_or(0, |m| m.len());
                if length < self.position {
                    self.position = 0;
                    self.partial.clear();
                }
                let mut bytes = Vec::new();
                let read = file.seek(std::io::SeekFrom::Start(self.position)).is_ok()
                    && file.take(LOG_READ).read_to_end(&mut bytes).is_ok();
                if read {
                    self.position += bytes.len() as u64;
                    self.partial.extend_from_slice(&bytes);
                    while let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
                        let line: Vec<u8> = self.partial.drain(..=end).collect();
                        if !emit(out, &self.prefix, &line[..line.len() - 1], terminal) {
                            return false;
                        }
                    }
                    if bytes.len() as u64 == LOG_READ {
                        continue;
                    }
                }
            }
            match std::fs::metadata(&self.path) {
                Ok(now) if now.ino() != self.inode => {
                    // Rotated (or created): the old file was read to its end above.
                    let renamed = Followed::open(std::mem::take(&mut self.prefix), self.path.clone());
                    *self = Followed { position: 0, ..renamed };
                }
                _ => return out.flush().is_ok(),
            }
        }
    }
}

/// `log [-n LINES] [-f] NAME`.
fn log(run_dir: &Path, args: &[String]) -> Result<u8, Failure> {
    let usage = || Failure(EXIT_USAGE, format!("log needs one service name\n{USAGE}"));
    let (mut count, mut follow, mut name) = (20, false, None);
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        match arg.as_str() {
            "-f" => follow = true,
            "-n" => {
                let value = rest.next().and_then(|value| value.parse().ok());
                count = value.ok_or_else(|| Failure(EXIT_USAGE, format!("-n needs a number of lines\n{USAGE}")))?;
            }
            option if option.starts_with('-') => return Err(usage()),
            _ if name.is_some() => return Err(usage()),
            given => name = Some(given),
        }
    }
    let name = name.ok_or_else(usage)?;
    ensure_going_runs(run_dir)?;
    // A service, or a Procfile app: each of its process types, prefixed.
    let services: Vec<(String, Status)> = match read_status(run_dir, name) {
        Some(status) => Vec::from([(String::new(), status)]),
        None => services_named(run_dir, name, &service_names(run_dir)?)
            .into_iter()
            .filter_map(|other| Some((other.strip_prefix(&going::procfile::process_prefix(name))?.to_owned(), other)))
            .filter_map(|(kind, other)| Some((kind, read_status(run_dir, &other)?)))
            .collect(),
    };
    if services.is_empty() {
        return Err(Failure(EXIT_UNKNOWN_SERVICE, format!("no service {name}")));
    }
    let mut followed = Vec::new();
    for (prefix, status) in services {
        let shown = if prefix.is_empty() { name.to_owned() } else { format!("{name}.{prefix}") };
        match status.get(status::LOG).map(String::as_str) {
            Some("-") => return Err(Failure(1, format!("{shown}: its output goes to going's stdout (log=-)"))),
            Some(path) if path.starts_with('/') => followed.push(Followed::open(prefix, PathBuf::from(path))),
            _ => return Err(Failure(1, format!("{shown}: its output goes to /dev/null (no log= in its file)"))),
        }
    }
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut out = stdout.lock();
    for each in &followed {
        for line in last_lines(&each.path, count)? {
            if !emit(&mut out, &each.prefix, &line, terminal) {
                return Ok(0);
            }
        }
    }
    if std::io::Write::flush(&mut out).is_err() || !follow {
        return Ok(0);
    }
    follow_logs(followed, &mut out, terminal)
}

/// `log -f`: sleeps on inotify in each log's directory (a rotation renames and
/// creates names there) and writes what each file gains, until stdout is gone.
fn follow_logs(mut followed: Vec<Followed>, out: &mut impl std::io::Write, terminal: bool) -> Result<u8, Failure> {
    use rustix::fs::inotify::{self, CreateFlags, WatchFlags};
    let watcher = inotify::init(CreateFlags::CLOEXEC)
        .map_err(|error| Failure(EXIT_UNAVAILABLE, format!("cannot use inotify: {error}")))?;
    let events = WatchFlags::MODIFY | WatchFlags::CREATE | WatchFlags::MOVED_TO | WatchFlags::MOVED_FROM;
    for each in &followed {
        let dir = each.path.parent().unwrap_or(Path::new("/"));
        inotify::add_watch(&watcher, c_path(dir)?.as_c_str(), events)
            .map_err(|error| Failure(EXIT_UNAVAILABLE, format!("{}: cannot watch: {error}", dir.display())))?;
    }
    let mut buffer = [0u8; 4096];
    loop {
        for each in &mut followed {
            if !each.catch_up(out, terminal) {
                return Ok(0);
            }
        }
        // Blocks until something changes in a log's directory.
        if rustix::io::read(&watcher, &mut buffer).is_err() {
            return Ok(0);
        }
    }
}

fn run(mut args: Vec<String>) -> Result<u8, Failure> {
    let mut run_dir = PathBuf::from(DEFAULT_RUN_DIR);
    if args.first().map(String::as_str) == Some("-r") {
        let Some(path) = args.get(1) else {
            return Err(Failure(EXIT_USAGE, format!("option -r needs a directory\n{USAGE}")));
        };
        run_dir = PathBuf::from(path);
        args.drain(..2);
    }
    match args.first().map(String::as_str) {
        Some("-h" | "--help") => {
            print!("{USAGE}");
            Ok(0)
        }
        None => status(&run_dir, &[]),
        Some("status") => status(&run_dir, &args[1..]),
        Some(command @ ("restart" | "up" | "down" | "signal")) => control(&run_dir, command, &args[1..]),
        Some("wait") => wait(&run_dir, &args[1..]),
        Some("log") => log(&run_dir, &args[1..]),
        Some(option) if option.starts_with('-') && option != "--json" => {
            Err(Failure(EXIT_USAGE, format!("unknown option {option}\n{USAGE}")))
        }
        // `goingctl NAME...` is a status query only when the first name is a service:
        // a mistyped command (`goingctl restrat web`) is a usage error, not a lookup.
        Some("--json") => status(&run_dir, &args),
        Some(name) if !services_named(&run_dir, name, &service_names(&run_dir).unwrap_or_default()).is_empty() => {
            status(&run_dir, &args)
        }
        Some(unknown) => Err(Failure(
            EXIT_USAGE,
            format!("unknown command {unknown:?} (commands: status, restart, up, down, signal, wait, log)\n{USAGE}"),
        )),
    }
}

fn main() -> ExitCode {
    // A closed pipe (`goingctl | head -1`) ends goingctl quietly, as it ends `ls`.
    let _ = going::rt::set_disposition(rustix::process::Signal::PIPE, going::rt::Disposition::Default);
    match run(std::env::args().skip(1).collect()) {
        Ok(code) => ExitCode::from(code),
        Err(Failure(code, message)) => {
            eprintln!("goingctl: {message}");
            ExitCode::from(code)
        }
    }
}
