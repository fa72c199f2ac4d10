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
//! | `clone`, `clone3` | fork a service's process, with clone3 for CLONE_INTO_CGROUP and no exit signal; once going's descriptor table is large, from a short-lived helper in going's memory, on going's stack below the frame that waits for it (CLONE_VM, CLONE_VFORK, which needs a few lines of assembly), as going's child (CLONE_PARENT) |
//! | `execve` | run the service |
//! | `close_range` | mark fds inherited from going's parent close-on-exec at start; give a child its own small descriptor table |
//! | `exit_group` | leave, from the daemon or from a child whose exec failed |
//!
//! The other half of the runtime, what only a program without libc needs
//! (the entry `_start`, the allocator, the panic handler and the `mem*`
//! functions the compiler emits calls to), lives in the going binary
//! (`src/bin/going.rs`): the library never calls upwards, and std programs
//! (goingctl, the tests, the fuzz target) link it as it is.
#![allow(unsafe_code)]

use core::convert::Infallible;
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

const CLONE_VM: u64 = 0x100;
const CLONE_FILES: u64 = 0x400;
const CLONE_VFORK: u64 = 0x4000;
const CLONE_PARENT: u64 = 0x8000;
const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
const CLOSE_RANGE_UNSHARE: usize = 1 << 1;

/// Where the child of [`spawn`] enters: it calls the closure `closure` points to.
extern "C" fn enter_child<F: FnMut() -> Infallible>(closure: *mut core::ffi::c_void) -> ! {
    // SAFETY: `closure` is the `&mut F` spawn passed, alive while the parent waits in spawn.
    let child = unsafe { &mut *closure.cast::<F>() };
    match child() {}
}

/// Starts a process that runs `child` in going's own memory, while going
/// waits until it has exited (CLONE_VM | CLONE_VFORK, as posix_spawn does):
/// no page table is copied and no page of going's is made copy-on-write.
/// It runs on going's own stack, below the frame going waits in: going's
/// stack is at least 128 kB from the start (the kernel's floor) and grows
/// on demand, so the child needs no mapping of its own, nor does going's
/// peak memory grow by one. It has no exit signal (nor has what it forks with
/// [`fork_beside`]): it is reaped by a wait with `__WALL`. With `share_fds` the child shares going's descriptor
/// table too (CLONE_FILES), and must call [`unshare_fds_below`] before it
/// changes any descriptor.
///
/// # Safety
///
/// `child` runs in going's memory while going is suspended: it must make
/// system calls only (no allocation, no logging), may write only what it
/// captured, must end in [`exit`], and must not wait on anything another
/// user or a file system controls (going waits for it).
pub unsafe fn spawn<F: FnMut() -> Infallible>(share_fds: bool, child: &mut F) -> Result<rustix::process::Pid, Errno> {
    let flags = CLONE_VM | CLONE_VFORK | if share_fds { CLONE_FILES } else { 0 };
    let entry: extern "C" fn(*mut core::ffi::c_void) -> ! = enter_child::<F>;
    let closure = (child as *mut F).cast::<core::ffi::c_void>();
    // SAFETY: CLONE_VFORK is asked for; the caller keeps its part of this function's contract.
    let pid = unsafe { vfork_below(flags as usize, entry, closure) };
    match pid {
        raw @ 1.. => Ok(rustix::process::Pid::from_raw(raw as i32).expect("BUG: a positive pid")),
        error => Err(Errno::from_raw_os_error(-(error as i32))),
    }
}

/// Forks a child of the caller's parent (CLONE_PARENT): called in a child of
/// [`spawn`], it makes going's own child, which going does not wait for.
/// The new process has a copy of the caller's memory, as after fork(2), and
/// the caller's exit signal: none, so its exit sends going no SIGCHLD (its
/// pidfd tells it, [`crate::reaper`]). With `cgroup` it is born in that
/// cgroup (clone3, CLONE_INTO_CGROUP). `Ok(None)` in the new process.
pub fn fork_beside(cgroup: Option<BorrowedFd>) -> Result<Option<rustix::process::Pid>, Errno> {
    fork_with(CLONE_PARENT, cgroup)
}

/// Forks a child of going's, as [`fork_beside`] does from a helper, but from going itself:
/// the child has a copy of going's memory and its whole descriptor table, and no exit signal.
pub fn fork_child(cgroup: Option<BorrowedFd>) -> Result<Option<rustix::process::Pid>, Errno> {
    fork_with(0, cgroup)
}

fn fork_with(flags: u64, cgroup: Option<BorrowedFd>) -> Result<Option<rustix::process::Pid>, Errno> {
    use rustix::fd::AsRawFd;
    // No exit signal: with CLONE_PARENT it is the caller's (the kernel refuses one given here);
    // without, the child's exit is seen through its pidfd ([`crate::reaper`]).
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
        // SAFETY: as above; x86_64 takes flags, stack (none), then three pointers left zero.
        None => unsafe { syscall!(Sysno::clone, flags as usize, 0, 0, 0, 0) },
    };
    Ok(rustix::process::Pid::from_raw(pid.map_err(errno)? as i32))
}

/// Makes the clone system call with `flags` (the older clone(2), on every
/// kernel), for a child that starts on the caller's stack, below the
/// caller's frame, and calls `entry(arg)` there.
/// Returns the child's pid, or minus the errno.
///
/// # Safety
///
/// `flags` must hold CLONE_VFORK: the parent then waits in this call, so the
/// child alone runs in the shared memory and the stack below the parent's
/// frame is free for it; `arg` must stay valid for `entry` until the call
/// returns.
#[cfg(target_arch = "x86_64")]
unsafe fn vfork_below(
    flags: usize,
    entry: extern "C" fn(*mut core::ffi::c_void) -> !,
    arg: *mut core::ffi::c_void,
) -> isize {
    let result: isize;
    // SAFETY: the caller's contract. Without `nostack` the block may use the stack below
    // the stack pointer (the compiler keeps no red zone there), so the child's stack starts
    // 256 bytes below it, 16-byte aligned as a call expects. The parent continues after the
    // syscall with every register but rax, rcx, rsi and r11 kept. The child starts at the
    // same instruction on that stack with rax 0 and the parent's other registers: it calls
    // entry(arg) and never comes back.
    unsafe {
        core::arch::asm!(
            "lea rsi, [rsp - 256]",
            "and rsi, -16",
            "syscall",
            "test rax, rax",
            "jnz 2f",
            "xor ebp, ebp",
            "mov rdi, r12",
            "call r13",
            "ud2",
            "2:",
            inlateout("rax") Sysno::clone as isize => result,
            in("rdi") flags,
            out("rsi") _,
            in("rdx") 0usize,
            in("r10") 0usize,
            in("r8") 0usize,
            in("r12") arg,
            in("r13") entry,
            lateout("rcx") _,
            lateout("r11") _,
        );
    }
    result
}

#[cfg(not(target_arch = "x86_64"))]
compile_error!("going starts services through a clone trampoline written for x86_64 only (rt::vfork_below)");

/// In a child that shares going's descriptor table: gives it a table of its
/// own holding only descriptors below `first`, so that what it changes
/// is its own, and the copy costs as much for 10 services as for 10,000.
/// In a child with a copy of going's table ([`fork_child`]): closes the
/// descriptors from `first` up.
pub fn unshare_fds_below(first: u32) -> Result<(), Errno> {
    // SAFETY: close_range takes numbers and flags only.
    unsafe { syscall!(Sysno::close_range, first, u32::MAX, CLOSE_RANGE_UNSHARE) }.map(drop).map_err(errno)
}

/// Whether the kernel has `close_range(CLOSE_RANGE_UNSHARE)` (Linux 5.9):
/// asked of going's own table, which is not shared, so nothing is copied or closed.
pub fn can_unshare_fds() -> bool {
    // SAFETY: close_range takes numbers and flags only; the range holds no descriptor.
    unsafe { syscall!(Sysno::close_range, u32::MAX, u32::MAX, CLOSE_RANGE_UNSHARE) }.is_ok()
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
