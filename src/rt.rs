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
//! | `clone(SIGCHLD)` | fork; aarch64 has no `fork` syscall, `clone` works on both |
//! | `execve` | run the service |
//! | `close_range` | mark fds inherited from going's parent close-on-exec at start |
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

/// Forks. `Ok(None)` in the child, `Ok(Some(pid))` in the parent.
///
/// The child shares nothing with the parent but a copy of its memory: it must
/// make system calls only (no allocation, no logging) and end in [`execve`]
/// or [`exit`].
pub fn fork() -> Result<Option<rustix::process::Pid>, Errno> {
    let sigchld = rustix::process::Signal::CHILD.as_raw() as usize;
    // SAFETY: going is single-threaded and holds no locks across this call, so
    // the child's copy of memory is consistent; argument order differs between
    // x86_64 and aarch64 only in the zeroed ones.
    let pid = unsafe { syscall!(Sysno::clone, sigchld, 0, 0, 0, 0) }.map_err(errno)?;
    Ok(rustix::process::Pid::from_raw(pid as i32))
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

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Forks into the cgroup whose directory is `cgroup` (clone3 with
/// CLONE_INTO_CGROUP): the child is in it from its first instruction, and
/// no migration is paid for. As [`fork`] otherwise.
pub fn fork_into(cgroup: BorrowedFd) -> Result<Option<rustix::process::Pid>, Errno> {
    use rustix::fd::AsRawFd;
    let args = CloneArgs {
        flags: CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: rustix::process::Signal::CHILD.as_raw() as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup.as_raw_fd() as u64,
    };
    // SAFETY: as for `fork`: single-threaded, no locks held, no new stack (the child runs
    // on a copy of the parent's); `args` is a valid clone_args of the size passed.
    let pid = unsafe { syscall!(Sysno::clone3, &args as *const CloneArgs, core::mem::size_of::<CloneArgs>()) }
        .map_err(errno)?;
    Ok(rustix::process::Pid::from_raw(pid as i32))
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

/// In a child: every signal back to its default disposition, then nothing
/// blocked. Dispositions first, so that nothing pending is acted on as ignored.
pub fn reset_signals_for_exec() {
    // struct kernel_sigaction { handler, flags, restorer, mask }: all zero is SIG_DFL.
    let default_action = [0u64; 4];
    for signal in 1..=SIGNAL_COUNT {
        if signal == SIGKILL || signal == SIGSTOP {
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
