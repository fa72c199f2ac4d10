//! going keeps a directory of services running.
//!
//! # Design
//!
//! One file per service in a directory (`/etc/going.d/web`: `cmd=/usr/bin/web`),
//! one process per file. going starts them all, respawns each one when it
//! exits, backs off when one crashes in a loop, applies changes to the
//! directory by itself (inotify, or SIGHUP for a forced rescan), and stops
//! everything on SIGTERM. It is meant to be started by init,
//! by systemd, or as PID 1 of a container, and to cost almost nothing: no libc,
//! no std, no threads, a few hundred kilobytes of address space.
//!
//! The decisions live in a pure state machine ([`supervisor`]) that is fed
//! events with the time as a parameter and answers through a small trait of
//! effects. Around it a thin shell ([`daemon`]) runs one event loop: one
//! `epoll_wait` ([`events`]) over a signalfd, an inotify descriptor, the
//! control FIFO, a pidfd per service process, the report pipe of each start
//! under way, the service log pipes and the readiness pipes, each registered once with a token that says what it is,
//! with the earliest deadline of any service as the timeout. Nothing polls on
//! a timer: an idle going sleeps in one system call.
//!
//! Rooms, one concern each:
//!
//! | module | owns |
//! | --- | --- |
//! | [`clock`] | the monotonic and wall clocks, read in one place |
//! | [`config`] | one service file into a spec: `key=value` lines, word splitting, errors with line numbers |
//! | [`config_check`] | `going -n`: the directory read as going would, every error told, nothing started |
//! | [`procfile`] | Procfiles and `.env`: one spec per process type of a foreman-style app |
//! | [`accounts`] | `user=` and `group=` resolved against /etc/passwd and /etc/group |
//! | [`service_dir`] | the directory: which names are services, each read, parsed, completed and (Procfiles) expanded |
//! | [`trust`] | the ownership and mode rule, applied to files and directories as they are opened |
//! | [`system_checks`] | what a parsed file needs from the system: its log directory, root for `user=`, accounts looked up |
//! | [`paths`] | splitting paths without libc |
//! | [`dir_watch`] | inotify on the directory and its parent: when to rescan, which files are still being written |
//! | [`table`] | the service table's storage: stable slots, and indexes by name, pid and deadline kept in step |
//! | [`supervisor`] | the service table and state machine: start, readiness, exit, backoff, reload, stop; its rooms `reload` (what a scan changes), `order` (`after=`), `checks` (`check=`) and `status` (what goingctl is shown) |
//! | [`start_order`] | the graph of `after=`: cycles, and who stops before whom when services stop together |
//! | [`health`] | one service's health check: when the next is due, when one has had its time, what a result means |
//! | [`readiness`] | what services say of their readiness: `ready=fd:N` pipes and the `ready=notify` socket |
//! | [`spawn`] | starting a child (forked sharing going's descriptor table until it takes a small one of its own; never waiting for the child's exec), its setup, exec, its report of a failed step |
//! | [`service_log`] | service output: one pipe per service, timestamped and rotated files, `log=-` |
//! | [`daemon`] | arguments, set-up, and each turn of the event loop |
//! | [`cgroups`] | cgroup v2: going's subtree (named after its run directory), its leaf and one cgroup per service, forked into, signalled, killed, made anew, removed |
//! | [`reaper`] | reaping: each service through its pidfd, orphans through `waitpid(-1)` when SIGCHLD says so |
//! | [`events`] | the epoll set: every descriptor registered once with a token that says what it is |
//! | [`log`] | going's own event lines, to syslog or stderr |
//! | [`protocol`] | what going and goingctl agree on: run directory names, the status file's keys and format, control lines, signal names |
//! | [`run_dir`] | the run directory's trust rule, status files (staged, written once a turn), `.going`, the lock and the control FIFO |
//! | [`listeners`] | `listen=`: the sockets going binds and holds for services across their restarts |
//! | [`leftovers`] | killing what a dead going's services left, when boot id and start time still match |
//! | [`proc_stat`] | a process's state, group, CPU time and start time from /proc; the boot id |
//! | [`console`] | going's own stdout and stderr, written without ever blocking |
//! | [`rt`] | the no-libc runtime's system layer: raw system calls (the only `unsafe` room of the library; the program half, `_start`, allocator, panic handler and `mem*`, lives in `src/bin/going.rs`) |
//!
//! # Signals
//!
//! SIGCHLD, SIGHUP, SIGTERM and SIGINT are set back to their default (a
//! parent may have left them ignored), blocked before anything else and read
//! from a signalfd: no handlers, no flags. Every other signal is unblocked
//! and SIGPIPE ignored. Each service's exit is read from its pidfd; SIGCHLD
//! reaps the rest (going is a child subreaper, so orphaned grandchildren
//! too). SIGHUP forces a rescan of every file (inotify applies changes by
//! itself, reading only the files that changed). SIGTERM and SIGINT stop
//! every service, each its own way (its `stop_signal` and SIGCONT to its
//! process group, SIGKILL after its `stop_timeout` if anything is left),
//! each only after the services `after=` it, and exit 0 once all are gone.
//!
//! # Service files
//!
//! See going(5): `key=value` lines, `#` comments, keys `cmd`
//! (required, split into words like a shell without expansion), `cwd`,
//! `env`, `user`, `group`, `chroot`, `umask`, `rlimit`, `log`, `log_size`,
//! `log_keep`, `shutdown`, `stop_signal`, `stop_timeout`, `restart`,
//! `success_exit`, `ready`, `after`, `check`, `check_interval`,
//! `check_timeout`, `check_retries`, `listen` and `procfile`.
//! Names starting with `.` or ending in `~` are ignored, and so (logged
//! once) are those a package manager or an editor leaves (`.dpkg-old`,
//! `.rpmnew`, `.swp`, ...) and `.disabled`. A file, and the
//! directory, must be owned by root or going's user and not writable by group
//! or others.
//!
//! # Limits
//!
//! | what | limit | over it |
//! | --- | --- | --- |
//! | service file size | 64 KiB ([`config::MAX_FILE_SIZE`]) | the file is refused with an error |
//! | services | 32768 ([`service_dir::MAX_SERVICES`]) | later names are refused with an error |
//! | backoff | 1 s doubling to 30 s ([`supervisor::MAX_BACKOFF`]) | never gives up |
//! | stop timeout | 5 s ([`config::DEFAULT_STOP_TIMEOUT`]) unless `stop_timeout=`, at most 3600 s | SIGKILL to the process group |
//! | control FIFO line | 512 bytes ([`protocol::MAX_COMMAND_LINE`]) | ignored, logged once |
//! | status file read back | 4 KiB ([`protocol::MAX_STATUS_FILE`]) | not a status file: left alone |
//! | rescans | 10 a second ([`daemon::MIN_RESCAN_GAP`]) | the next one waits |
//! | service output line | 4 KiB ([`service_log::MAX_LINE`]) | written in pieces |
//! | service output per wakeup | 64 KiB a pipe ([`service_log::READ_PER_WAKEUP`]) | read at the next wakeup |
//! | `listen=` sockets | 8 a service ([`config::MAX_LISTEN`]) | the file is refused with an error |
//!
//! # Exit codes
//!
//! 0 after a clean stop, or for `-v` and `-h`; a `shutdown=yes` service's
//! own exit code (128 + signal) when it ended and took going down; 64 usage; 65 `going -n` found
//! an error; 71 the signalfd or
//! /dev/null cannot be opened; 72 the directory is missing or unreadable at
//! start; 78 the directory is refused by the ownership rule; 101 a broken
//! internal invariant (a bug). A child whose exec failed exits 127 (not
//! found) or 126 (any other reason) after reporting errno to going.
#![cfg_attr(not(test), no_std)]
#![deny(unsafe_code)]

extern crate alloc;

pub mod accounts;
pub mod cgroups;
pub mod clock;
pub mod config;
pub mod config_check;
pub mod console;
pub mod daemon;
pub mod dir_watch;
pub mod events;
pub mod health;
pub mod leftovers;
pub mod listeners;
pub mod log;
pub mod paths;
pub mod proc_stat;
pub mod procfile;
pub mod protocol;
pub mod readiness;
pub mod reaper;
pub mod rt;
pub mod run_dir;
pub mod service_dir;
pub mod service_log;
pub mod spawn;
pub mod start_order;
pub mod supervisor;
pub mod system_checks;
pub mod table;
pub mod trust;
