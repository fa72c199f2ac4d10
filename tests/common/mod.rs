//! Drives the real going binary against temporary service directories.
//!
//! Every wait is a poll with a deadline: fast on a quiet machine, still right
//! on a busy one. going's log is its stderr, kept in a file; where the
//! machine has a syslog socket, going runs in a private mount namespace in
//! which /dev/log is not one, so that its lines still reach that file.
#![allow(dead_code)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub const GOING: &str = env!("CARGO_BIN_EXE_going");
pub const GOINGCTL: &str = env!("CARGO_BIN_EXE_goingctl");

/// Generous: a busy 2-core CI machine can be slow, and a passing test never waits this long.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// Polls `check` until it gives a value or the deadline passes.
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("going-test-{}-{label}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Writes a service file with mode 0644.
pub fn write_service(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    fs::write(&path, text).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
}

/// A running going with its own service directory and log file.
pub struct Going {
    pub child: Child,
    pub services: TempDir,
    pub work: TempDir,
    status: Option<ExitStatus>,
    /// The cgroup it was started in, removed after it.
    cgroup: Option<TestCgroup>,
}

/// A fresh cgroup2 cgroup for one going (and a later one on the same
/// directories), as a service manager would give it: going makes its
/// `going/` and `services/` in there. Dropped, it kills whatever is left in
/// it and is removed.
pub struct TestCgroup(PathBuf);

static CGROUPS: AtomicUsize = AtomicUsize::new(0);

impl TestCgroup {
    /// `None` where this machine has no cgroup2 hierarchy the tests can write.
    pub fn new() -> Option<TestCgroup> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let mount = going::cgroups::cgroup2_mount(&mountinfo)?.to_owned();
        let own = fs::read_to_string("/proc/self/cgroup").ok()?;
        let own = going::cgroups::own_cgroup(&own)?.trim_end().trim_end_matches('/').to_owned();
        let parent = PathBuf::from(format!("{mount}{own}"));
        remove_stale_test_cgroups(&parent);
        let n = CGROUPS.fetch_add(1, Ordering::SeqCst);
        let path = parent.join(format!("going-test-{}-{n}", std::process::id()));
        fs::create_dir(&path).ok()?;
        Some(TestCgroup(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Whether any process is in the cgroup or below it.
    pub fn populated(&self) -> bool {
        fs::read_to_string(self.0.join("cgroup.events")).is_ok_and(|events| events.contains("populated 1"))
    }
}

/// The cgroups of test runs whose process is gone: a killed test leaves them.
fn remove_stale_test_cgroups(parent: &Path) {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| {
        for entry in fs::read_dir(parent).into_iter().flatten().flatten() {
            let name = entry.file_name().into_string().unwrap_or_default();
            let Some(pid) = name.strip_prefix("going-test-").and_then(|rest| rest.split('-').next()) else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                drop(TestCgroup(entry.path()));
            }
        }
    });
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = fs::write(self.0.join("cgroup.kill"), "1");
        let start = Instant::now();
        while self.populated() && start.elapsed() < DEADLINE {
            std::thread::sleep(Duration::from_millis(5));
        }
        remove_cgroup_tree(&self.0);
    }
}

/// Removes a cgroup and the cgroups below it, deepest first.
fn remove_cgroup_tree(path: &Path) {
    for entry in fs::read_dir(path).into_iter().flatten().flatten() {
        if entry.file_type().is_ok_and(|kind| kind.is_dir()) {
            remove_cgroup_tree(&entry.path());
        }
    }
    let _ = fs::remove_dir(path);
}

/// A jail for `chroot=` holding nothing but the program `tests/helpers/HELPER.rs`,
/// built static as `/HELPER`.
pub fn jail_with(helper: &str) -> TempDir {
    let jail = TempDir::new("jail");
    fs::set_permissions(jail.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let source = format!("{}/tests/helpers/{helper}.rs", env!("CARGO_MANIFEST_DIR"));
    let built = Command::new("rustc")
        .args(["-O", "-C", "target-feature=+crt-static", "-o"])
        .arg(jail.join(helper))
        .arg(source)
        .status()
        .unwrap();
    assert!(built.success(), "rustc could not build {helper}");
    jail
}

/// A launcher (see [`Launch::new`]) under which no cgroup2 hierarchy is writable:
/// a private mount namespace where its mount is read-only. going then tracks
/// services by process group, as on a machine without cgroups.
pub fn without_cgroups() -> Vec<String> {
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let remount = going::cgroups::cgroup2_mount(&mountinfo)
        .map(|mount| format!("mount -o remount,bind,ro '{mount}' && "))
        .unwrap_or_default();
    let script = format!("{remount}exec \"$0\" \"$@\"");
    ["unshare", "--mount", "--propagation", "private", "sh", "-c", &script].map(String::from).to_vec()
}

/// A command for `program`, run in a private mount namespace where /dev/log
/// is not a socket when the machine has one, so that going logs to stderr,
/// and in `cgroup` when there is one.
pub fn without_syslog(program: &str) -> Command {
    without_syslog_in(program, None)
}

pub fn without_syslog_in(program: &str, cgroup: Option<&Path>) -> Command {
    let join = match cgroup {
        Some(cgroup) => format!("echo $$ > '{}/cgroup.procs' && ", cgroup.display()),
        None => String::new(),
    };
    if !Path::new("/dev/log").exists() {
        let mut shell = Command::new("sh");
        shell.arg("-c").arg(format!("{join}exec \"$0\" \"$@\"")).arg(program);
        return shell;
    }
    let mut unshare = Command::new("unshare");
    unshare.args(["--mount", "--propagation", "private", "--", "sh", "-c"]);
    unshare.arg(format!("{join}mount --bind /dev/null /dev/log && exec \"$0\" \"$@\"")).arg(program);
    unshare
}

/// The command that runs going with `args`, its stderr into `log`, in `cgroup` if given
/// (a later going on the same directories belongs in the cgroup of the first).
pub fn going_command(args: &[&str], log: &Path, cgroup: Option<&Path>) -> Command {
    let mut command = without_syslog_in(GOING, cgroup);
    // Each going gets its own run directory beside its log, never the shared /run/going.
    command.arg("-r").arg(log.with_file_name("run"));
    command.args(args).stdin(Stdio::null()).stdout(Stdio::null());
    command.stderr(fs::File::create(log).unwrap());
    command
}

/// A fresh service directory holding `services` (name, contents).
pub fn service_dir(services: &[(&str, &str)]) -> TempDir {
    let dir = TempDir::new("services");
    for (name, text) in services {
        write_service(dir.path(), name, text);
    }
    dir
}

/// How a test starts going: through which programs, as whom, with what else.
pub struct Launch {
    pub command: Command,
    services: TempDir,
    work: TempDir,
    cgroup: Option<TestCgroup>,
}

impl Launch {
    /// going with `-d SERVICES -r WORK/run`, its stderr in `WORK/going.log`, run
    /// through `launcher`: programs and their arguments that end by running
    /// the next word (going) with the words after it (`["setpriv",
    /// "--reuid=65534", ...]`, `["sh", "-c", "...; exec \"$0\" \"$@\""]`);
    /// empty for going alone. A later `-r` or `-d` added to `command` wins.
    pub fn new(launcher: &[&str], services: TempDir, work: TempDir) -> Launch {
        Launch::new_in(launcher, services, work, TestCgroup::new())
    }

    /// As [`Launch::new`], in `cgroup` (a fresh one, or a dead going's).
    pub fn new_in(launcher: &[&str], services: TempDir, work: TempDir, cgroup: Option<TestCgroup>) -> Launch {
        let in_cgroup = cgroup.as_ref().map(TestCgroup::path);
        let mut command = match launcher.split_first() {
            None => without_syslog_in(GOING, in_cgroup),
            Some((program, arguments)) => {
                let mut command = without_syslog_in(program, in_cgroup);
                command.args(arguments).arg(GOING);
                command
            }
        };
        command.arg("-d").arg(services.path()).arg("-r").arg(work.join("run"));
        command.stdin(Stdio::null()).stdout(Stdio::null());
        command.stderr(fs::File::create(work.join("going.log")).unwrap());
        Launch { command, services, work, cgroup }
    }

    /// Gives the service directory and its files to `uid`, for a going that runs as that user.
    pub fn owned_by(self, uid: u32) -> Launch {
        let dir = self.services.path();
        let files = fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path());
        for path in std::iter::once(dir.to_owned()).chain(files) {
            std::os::unix::fs::chown(&path, Some(uid), Some(uid)).unwrap();
        }
        self
    }

    /// Starts going without waiting for anything.
    pub fn spawn(mut self) -> Going {
        let child = self.command.spawn().unwrap();
        let mut going = Going::from_parts(child, self.services, self.work);
        going.cgroup = self.cgroup;
        going
    }

    /// Starts going and waits for its first scan: until then it may not have blocked SIGHUP yet.
    pub fn start(self) -> Going {
        let going = self.spawn();
        going.wait_log("going: configuration:");
        going
    }
}

impl Going {
    /// Starts going on a fresh directory holding `services` (name, contents).
    pub fn start(services: &[(&str, &str)]) -> Going {
        Going::start_in(service_dir(services))
    }

    /// As [`Going::start`], where no cgroup2 hierarchy is writable ([`without_cgroups`]).
    pub fn start_without_cgroups(services: &[(&str, &str)]) -> Going {
        let launcher = without_cgroups();
        let launcher: Vec<&str> = launcher.iter().map(String::as_str).collect();
        Launch::new(&launcher, service_dir(services), TempDir::new("work")).start()
    }

    pub fn start_in(services: TempDir) -> Going {
        Launch::new(&[], services, TempDir::new("work")).start()
    }

    /// Wraps a going started some other way.
    pub fn from_parts(child: Child, services: TempDir, work: TempDir) -> Going {
        Going { child, services, work, status: None, cgroup: None }
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// The cgroup it was started in, if the machine let the tests make one.
    pub fn cgroup(&self) -> Option<&Path> {
        self.cgroup.as_ref().map(TestCgroup::path)
    }

    /// Takes its cgroup, for a later going on the same directories; it is no longer removed with this one.
    pub fn take_cgroup(&mut self) -> Option<TestCgroup> {
        self.cgroup.take()
    }

    pub fn log(&self) -> String {
        fs::read_to_string(self.work.join("going.log")).unwrap_or_default()
    }

    /// The run directory the harness gave this going.
    pub fn run_dir(&self) -> PathBuf {
        self.work.join("run")
    }

    /// Runs goingctl against this going's run directory: exit code, stdout, stderr.
    pub fn goingctl(&self, args: &[&str]) -> (i32, String, String) {
        let output = Command::new(GOINGCTL).arg("-r").arg(self.run_dir()).args(args).output().unwrap();
        let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
        (output.status.code().unwrap(), text(output.stdout), text(output.stderr))
    }

    /// A key of a service's status file, once the file is there.
    pub fn status_key(&self, name: &str, key: &str) -> Option<String> {
        let text = fs::read_to_string(self.run_dir().join(name)).ok()?;
        text.lines().find_map(|line| line.strip_prefix(&format!("{key}="))).map(str::to_owned)
    }

    /// Waits until the service's status file says `state`.
    pub fn wait_state(&self, name: &str, state: &str) {
        wait_for(&format!("{name} to be {state}; log:\n{}", self.log()), || {
            (self.status_key(name, "state")? == state).then_some(())
        });
    }

    /// Waits until going has logged a line containing `text`.
    pub fn wait_log(&self, text: &str) {
        wait_for(&format!("log line {text:?}; log so far:\n{}", self.log()), || {
            self.log().contains(text).then_some(())
        });
    }

    /// How many of going's log lines contain `text`.
    pub fn count_log(&self, text: &str) -> usize {
        self.log().lines().filter(|line| line.contains(text)).count()
    }

    pub fn signal(&self, signal: rustix::process::Signal) {
        signal_pid(self.pid(), signal);
    }

    /// The pid of the service's process: going logs `NAME: started with pid N`.
    /// Waits for the `nth` start (1-based) of that service.
    pub fn service_pid(&self, name: &str, nth: usize) -> i32 {
        let prefix = format!("going: {name}: started with pid ");
        wait_for(&format!("start {nth} of {name}; log so far:\n{}", self.log()), || {
            let log = self.log();
            let line = log.lines().filter(|line| line.starts_with(&prefix)).nth(nth - 1)?;
            line[prefix.len()..].trim().parse().ok()
        })
    }

    /// The pid of the latest start of the service.
    pub fn latest_pid(&self, name: &str) -> i32 {
        let starts = self.count_log(&format!("going: {name}: started with pid "));
        self.service_pid(name, starts.max(1))
    }

    /// Sends SIGHUP and waits until going has logged the rescan.
    pub fn reload(&self) {
        let before = self.count_log("going: configuration:");
        self.signal(rustix::process::Signal::HUP);
        wait_for("the reload to be logged", || (self.count_log("going: configuration:") > before).then_some(()));
    }

    /// Waits until going exits and returns its status.
    pub fn wait_exit(&mut self) -> ExitStatus {
        if let Some(status) = self.status {
            return status;
        }
        let status = wait_for("going to exit", || self.child.try_wait().unwrap());
        self.status = Some(status);
        status
    }

    /// SIGTERM, then its exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(rustix::process::Signal::TERM);
        self.wait_exit()
    }
}

impl Drop for Going {
    fn drop(&mut self) {
        if self.status.is_none() && self.child.try_wait().ok().flatten().is_none() {
            signal_pid(self.pid(), rustix::process::Signal::TERM);
            let start = Instant::now();
            while self.child.try_wait().ok().flatten().is_none() && start.elapsed() < DEADLINE {
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

pub fn signal_pid(pid: i32, signal: rustix::process::Signal) {
    let pid = rustix::process::Pid::from_raw(pid).unwrap();
    let _ = rustix::process::kill_process(pid, signal);
}

/// Waits until `pid` has finished exec'ing `program`. The exe link changes
/// early in execve, before close-on-exec descriptors are closed and the new
/// environment is in place; a non-empty environ means exec is done.
pub fn wait_exec(pid: i32, program: &str) {
    wait_for(&format!("{pid} to exec {program}"), || {
        fs::read_link(format!("/proc/{pid}/exe")).ok()?.ends_with(program).then_some(())?;
        (!fs::read(format!("/proc/{pid}/environ")).ok()?.is_empty()).then_some(())
    })
}

/// Whether a process exists and is not a zombie.
pub fn is_alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat.rsplit(')').next().unwrap_or("").trim_start().starts_with('Z'),
        Err(_) => false,
    }
}

/// Whether the pid is gone entirely: dead and reaped.
pub fn is_reaped(pid: i32) -> bool {
    !Path::new(&format!("/proc/{pid}")).exists()
}

/// A field of /proc/PID/status, such as `SigBlk`.
pub fn status_field(pid: i32, field: &str) -> String {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|line| line.starts_with(&format!("{field}:"))).unwrap();
    line[field.len() + 1..].trim().to_owned()
}

/// The parent pid of a process.
pub fn parent_of(pid: i32) -> i32 {
    status_field(pid, "PPid").parse().unwrap()
}

/// Waits until a file exists with non-empty contents, and returns them.
pub fn wait_file(path: &Path) -> String {
    wait_for(&format!("{} to be written", path.display()), || {
        fs::read_to_string(path).ok().filter(|text| text.ends_with('\n'))
    })
}
