//! The no-libc runtime's system layer: the only room of the library where
//! `unsafe` lives (spawn's child side makes safe rustix calls only).
//!
//! Raw system calls made here because rustix does not expose them publicly
//! (they live only in its deliberately hidden runtime module, or are listed
//! in `rustix::not_implemented`):
//!
//! | call | why going needs it |
//! | --- | --- |
//! | `rt_sigprocmask` | block exactly SIGCHLD/TERM/INT/HUP before the signalfd exists; empty the child's mask |
//! | `rt_sigaction` | undo dispositions inherited through exec (SIG_IGN survives it): going's handled signals to default and SIGPIPE ignored at start, every signal to default in the child |
//! | `signalfd4` | signals become readable data in the event loop; no handlers |
//! | `clone`, `clone3` | fork a service's process, with clone3 for CLONE_INTO_CGROUP and no exit signal, sharing going's descriptor table until it takes a small one of its own (CLONE_FILES) |
//! | `execve` | run the service |
//! | `close_range` | mark fds inherited from going's parent close-on-exec at start; give a child its own small descriptor table |
//! | `kcmp` | tell whether a child still shares going's descriptor table |
//! | `exit_group` | leave, from the daemon or from a child whose exec failed |
//!
//! The other half of the runtime, what only a program without libc needs
//! (the entry `_start`, the allocator, the panic handler and the `mem*`
//! functions the compiler emits calls to), lives in the going binary
//! (`src/bin/going.rs`): the library never calls upwards, and std programs
//! (goingctl, the tests, the fuzz target) link it as it is.
#![allow(unsafe_code)]

use core::ffi::CStr;
use rustix::fd::{BorrowedFd, FromRawFd, OwnedFd};
use rustix::io::Errno;
use syscalls::{Sysno, syscall};

/// A kernel signal set: one bit per signal, signal N at bit N-1.
#[derive(Clone, Copy, Default)]
pub struct SignalSet(u64);

impl SignalSet {
    pub fn with(self, signal: rustix::process::Signal) -> Self {
        SignalSet(self.0 | 1 << (signal.as_raw() - 1))
    }
}

// The kernel's sigset_t is 64 bits on every architecture going targets.
const SIGSET_SIZE: usize = 8;
const SIG_SETMASK: usize = 2;
const SFD_NONBLOCK: usize = 0o4000;
const SFD_CLOEXEC: usize = 0o2000000;
const CLOSE_RANGE_CLOEXEC: usize = 1 << 2;
const SIGNAL_COUNT: usize = 64;
const SIGKILL: usize = 9;
const SIGSTOP: usize = 19;

fn errno(error: syscalls::Errno) -> Errno {
    Errno::from_raw_os_error(error.into_raw())
}

/// Blocks exactly `set`, so that those signals wait in the signalfd, and
/// unblocks whatever else the parent left blocked (a blocked SIGSEGV would
/// turn a fault into a hang).
pub fn block_only(set: SignalSet) -> Result<(), Errno> {
    // SAFETY: the kernel reads 8 bytes from a valid pointer; no old set is written.
    unsafe { syscall!(Sysno::rt_sigprocmask, SIG_SETMASK, &set.0 as *const u64, 0, SIGSET_SIZE) }
        .map(drop)
        .map_err(errno)
}

/// What happens to a signal that is not blocked.
#[derive(Clone, Copy)]
pub enum Disposition {
    Default = 0,
    Ignore = 1,
}

/// Sets the disposition of one signal. A parent may have left SIGCHLD ignored
/// (the kernel then reaps children itself and going never sees them exit) or
/// SIGTERM ignored (the signalfd would never hear of it): going undoes that.
pub fn set_disposition(signal: rustix::process::Signal, disposition: Disposition) -> Result<(), Errno> {
    // struct kernel_sigaction { handler, flags, restorer, mask }: SIG_DFL is 0, SIG_IGN 1; no flags
    // (SA_NOCLDWAIT off).
    let action = [disposition as u64, 0, 0, 0];
    // SAFETY: the kernel reads a kernel_sigaction from a valid pointer and writes no old one.
    unsafe { syscall!(Sysno::rt_sigaction, signal.as_raw() as usize, action.as_ptr(), 0, SIGSET_SIZE) }
        .map(drop)
        .map_err(errno)
}

/// Opens a close-on-exec, non-blocking signalfd for `set`.
pub fn signalfd(set: SignalSet) -> Result<OwnedFd, Errno> {
    let flags = SFD_NONBLOCK | SFD_CLOEXEC;
    // SAFETY: the kernel reads the 8-byte mask; -1 asks for a new descriptor.
    let fd = unsafe { syscall!(Sysno::signalfd4, -1isize, &set.0 as *const u64, SIGSET_SIZE, flags) }.map_err(errno)?;
    // SAFETY: the kernel just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// The signal number of one `signalfd_siginfo` record read from a signalfd.
pub const SIGNALFD_RECORD_SIZE: usize = 128;

/// Marks every descriptor from 3 up close-on-exec, so that nothing going
/// inherited from its parent reaches a service.
pub fn mark_inherited_fds_close_on_exec() -> Result<(), Errno> {
    // SAFETY: close_range with CLOSE_RANGE_CLOEXEC only sets a flag on descriptors.
    unsafe { syscall!(Sysno::close_range, 3, u32::MAX, CLOSE_RANGE_CLOEXEC) }.map(drop).map_err(errno)
}

/// Descriptor 2, which [`open_standard_fds`] guarantees is open.
pub fn stderr() -> BorrowedFd<'static> {
    // SAFETY: open_standard_fds ran before anything else and going never closes 0, 1 or 2.
    unsafe { BorrowedFd::borrow_raw(2) }
}

/// Descriptor 1; see [`stderr`].
pub fn stdout() -> BorrowedFd<'static> {
    // SAFETY: as for stderr.
    unsafe { BorrowedFd::borrow_raw(1) }
}

/// Makes sure descriptors 0, 1 and 2 are open (on /dev/null when init gave
/// none), so that no file going opens later is mistaken for one of them.
pub fn open_standard_fds() {
    use rustix::fs::{Mode, OFlags, open};
    for _ in 0..3 {
        // open returns the lowest free descriptor: once it is 3 or more, 0-2 are taken.
        match open(c"/dev/null", OFlags::RDWR, Mode::empty()) {
            Ok(fd) if rustix::fd::AsRawFd::as_raw_fd(&fd) > 2 => return,
            Ok(fd) => core::mem::forget(fd),
            Err(_) => return,
        }
    }
}

/// `struct clone_args` of clone3(2), up to `cgroup` (Linux 5.7).
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_FILES: u64 = 0x400;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
const CLOSE_RANGE_UNSHARE: usize = 1 << 1;
const KCMP_FILES: usize = 2;

/// `__WALL` for waitid and waitpid: wait for every child, those with no exit signal yet too.
pub const ALL_CHILDREN: u32 = 0x4000_0000;

/// Forks a child of going's, with a copy of going's memory and no exit signal
/// (its exit is seen through its pidfd, [`crate::reaper`]); with `cgroup` it is
/// born in that cgroup (clone3, CLONE_INTO_CGROUP). With `share_fds` it shares
/// going's descriptor table (CLONE_FILES) and must call [`unshare_fds_below`]
/// before it changes any descriptor; otherwise it has a copy of the whole
/// table. `Ok(None)` in the new process.
pub fn fork_child(share_fds: bool, cgroup: Option<BorrowedFd>) -> Result<Option<rustix::process::Pid>, Errno> {
    use rustix::fd::AsRawFd;
    let flags = if share_fds { CLONE_FILES } else { 0 };
    let pid = match cgroup {
        Some(cgroup) => {
            let args = CloneArgs {
                flags: flags | CLONE_INTO_CGROUP,
                pidfd: 0,
                child_tid: 0,
                parent_tid: 0,
                exit_signal: 0,
                stack: 0,
                stack_size: 0,
                tls: 0,
                set_tid: 0,
                set_tid_size: 0,
                cgroup: cgroup.as_raw_fd() as u64,
            };
            let size = core::mem::size_of::<CloneArgs>();
            // SAFETY: no CLONE_VM and no stack: fork's semantics, the new process returns here on a
            // copy of the caller's memory; `args` is a valid clone_args of the size passed.
            unsafe { syscall!(Sysno::clone3, &args as *const CloneArgs, size) }
        }
        // SAFETY: as above; x86_64 takes flags (exit signal 0 in the low byte), stack (none),
        // then three pointers left zero.
        None => unsafe { syscall!(Sysno::clone, flags as usize, 0, 0, 0, 0) },
    };
    Ok(rustix::process::Pid::from_raw(pid.map_err(errno)? as i32))
}

/// Whether process `pid` still shares going's descriptor table (kcmp(2),
/// KCMP_FILES): false once it has a table of its own, has exited or is gone.
/// The kernel compares two pointers; nothing waits.
pub fn shares_fds(pid: rustix::process::Pid) -> bool {
    let going = rustix::process::getpid().as_raw_nonzero().get() as usize;
    let pid = pid.as_raw_nonzero().get() as usize;
    // SAFETY: kcmp takes numbers only.
    let same = unsafe { syscall!(Sysno::kcmp, going, pid, KCMP_FILES, 0, 0) };
    same == Ok(0)
}

/// In a child that shares going's descriptor table: gives it a table of its
/// own holding only descriptors below `first`, so that what it changes
/// is its own, and the copy costs as much for 10 services as for 10,000.
pub fn unshare_fds_below(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range takes numbers and flags only.
    unsafe { syscall!(Sysno::close_range, first, u32::MAX, CLOSE_RANGE_UNSHARE) }.map(drop).map_err(errno)
}

/// In a child that is about to exec: closes descriptors `first` to `last`, if
/// there are any (slots of other starts, which it never uses).
pub fn close_fds(first: i32, last: i32) {
    if first <= last {
        // SAFETY: close_range takes numbers and flags only; the caller owns nothing in the range.
        let _ = unsafe { syscall!(Sysno::close_range, first, last, 0) };
    }
}

/// Whether a child can share going's descriptor table and be seen to have
/// taken its own: the kernel has `close_range(CLOSE_RANGE_UNSHARE)` (Linux
/// 5.9; asked of going's own table, which is not shared, so nothing is
/// copied or closed), and kcmp(2) says a child that shares it does. Asked of
/// a real child, which has going's credentials and security context, as
/// every child has until after it took its own table: a kernel without
/// kcmp, a security module that denies it, or a going that may not inspect
/// its own children (not dumpable, without CAP_SYS_PTRACE) answers no here,
/// so that a refusal later can only mean a child changed its credentials.
pub fn can_share_fds() -> bool {
    use rustix::process::{WaitId, WaitIdOptions};
    // SAFETY: close_range takes numbers and flags only; the range holds no descriptor.
    let unshare = unsafe { syscall!(Sysno::close_range, u32::MAX, u32::MAX, CLOSE_RANGE_UNSHARE) };
    if unshare.is_err() {
        return false;
    }
    let Ok((read, write)) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC) else { return false };
    // The child waits, on going's table, until going closes the pipe's write end (which the
    // child shares: if going died first, the wait ends after a second).
    let child = match fork_child(true, None) {
        Ok(None) => {
            let mut ended = [rustix::event::PollFd::new(&read, rustix::event::PollFlags::IN)];
            let _ = rustix::event::poll(&mut ended, Some(&rustix::time::Timespec { tv_sec: 1, tv_nsec: 0 }));
            exit(0)
        }
        Ok(Some(child)) => child,
        Err(_) => return false,
    };
    let seen = shares_fds(child);
    drop(write);
    // No exit signal: only a wait for every kind of child finds it.
    let _ = rustix::process::waitid(
        WaitId::Pid(child),
        WaitIdOptions::EXITED | WaitIdOptions::from_bits_retain(ALL_CHILDREN),
    );
    seen
}

/// Replaces the process image; returns only on failure.
pub fn execve(path: &CStr, argv: &[*const u8], envp: &[*const u8]) -> Errno {
    debug_assert!(argv.last().is_some_and(|p| p.is_null()));
    debug_assert!(envp.last().is_some_and(|p| p.is_null()));
    // SAFETY: path is NUL-terminated; argv and envp are NULL-terminated arrays of
    // pointers to NUL-terminated strings that the caller keeps alive.
    let result = unsafe { syscall!(Sysno::execve, path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    match result {
        Ok(_) => Errno::NOEXEC,
        Err(error) => errno(error),
    }
}

/// The signals whose disposition is not the default (going handles none, so
/// these are ignored: SIGPIPE, and any its parent left ignored). going never
/// changes a disposition after it set them up, so this is asked once.
pub fn ignored_signals() -> SignalSet {
    let mut ignored = SignalSet::default();
    for signal in 1..=SIGNAL_COUNT {
        if signal == SIGKILL || signal == SIGSTOP {
            continue;
        }
        let mut old = [0u64; 4];
        // SAFETY: with no new action the kernel only writes the old kernel_sigaction into `old`.
        let asked = unsafe { syscall!(Sysno::rt_sigaction, signal, 0, old.as_mut_ptr(), SIGSET_SIZE) };
        if asked.is_ok() && old[0] != 0 {
            ignored.0 |= 1 << (signal - 1);
        }
    }
    ignored
}

/// In a child: the `ignored` signals ([`ignored_signals`]) back to their default
/// disposition (SIG_IGN survives exec; every other one is default already),
/// then nothing blocked. Dispositions first, so that nothing pending is acted on as ignored.
pub fn reset_signals_for_exec(ignored: SignalSet) {
    // struct kernel_sigaction { handler, flags, restorer, mask }: all zero is SIG_DFL.
    let default_action = [0u64; 4];
    for signal in 1..=SIGNAL_COUNT {
        if ignored.0 & (1 << (signal - 1)) == 0 {
            continue;
        }
        // SAFETY: the kernel reads a zeroed kernel_sigaction (SIG_DFL) and writes no old one.
        let _ = unsafe { syscall!(Sysno::rt_sigaction, signal, default_action.as_ptr(), 0, SIGSET_SIZE) };
    }
    let empty = 0u64;
    // SAFETY: the kernel reads 8 bytes from a valid pointer.
    let _ = unsafe { syscall!(Sysno::rt_sigprocmask, SIG_SETMASK, &empty as *const u64, 0, SIGSET_SIZE) };
}

/// Puts `fd` at descriptor `number` as well, open across exec (dup3, or
/// clearing close-on-exec when it is there already).
pub fn dup_onto(fd: BorrowedFd, number: u16) -> Result<(), Errno> {
    use rustix::fd::AsRawFd;
    if fd.as_raw_fd() == i32::from(number) {
        return rustix::io::fcntl_setfd(fd, rustix::io::FdFlags::empty());
    }
    // SAFETY: dup3 takes two descriptor numbers and flags, and touches no memory of ours.
    unsafe { syscall!(Sysno::dup3, fd.as_raw_fd(), number as usize, 0) }.map(drop).map_err(errno)
}

/// Ends the process at once: no destructors, nothing flushed (going buffers nothing).
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group does not return.
    let _ = unsafe { syscall!(Sysno::exit_group, code) };
    unreachable!()
}
