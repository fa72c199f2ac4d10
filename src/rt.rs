//! The no-libc runtime: the only room where `unsafe` lives, besides the
//! child side of `spawn`.
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
//! When built as the daemon (not under `cfg(test)`, where std provides all
//! of this) the room also holds the program entry `_start`, the allocator,
//! the panic handler and the `mem*` functions the compiler emits calls to.
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
    unsafe {
        syscall!(
            Sysno::rt_sigaction,
            signal.as_raw() as usize,
            action.as_ptr(),
            0,
            SIGSET_SIZE
        )
    }
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
    unsafe { syscall!(Sysno::close_range, 3, u32::MAX, CLOSE_RANGE_CLOEXEC) }
        .map(drop)
        .map_err(errno)
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

/// Ends the process at once: no destructors, nothing flushed (going buffers nothing).
pub fn exit(code: i32) -> ! {
    // SAFETY: exit_group does not return.
    let _ = unsafe { syscall!(Sysno::exit_group, code) };
    unreachable!()
}

/// Program entry, allocator, panic handler and the functions the compiler
/// expects libc to provide: only in the daemon, std brings its own to tests
/// and to the fuzz target (feature `hosted`).
#[cfg(not(any(test, feature = "hosted")))]
mod entry {
    use alloc::vec::Vec;
    use core::ffi::{CStr, c_char};

    #[global_allocator]
    static ALLOCATOR: rustix_dlmalloc::GlobalDlmalloc = rustix_dlmalloc::GlobalDlmalloc;

    // The kernel starts us with argc, argv[], NULL, envp[] at the stack pointer;
    // clear the frame pointer for debuggers and align the stack as the ABI requires.
    #[cfg(target_arch = "x86_64")]
    core::arch::global_asm!(
        ".globl _start",
        "_start:",
        "xor ebp, ebp",
        "mov rdi, rsp",
        "and rsp, -16",
        "call {entry}",
        "ud2",
        entry = sym start,
    );

    #[cfg(target_arch = "aarch64")]
    core::arch::global_asm!(
        ".globl _start",
        "_start:",
        "mov x29, xzr",
        "mov x30, xzr",
        "mov x0, sp",
        "bl {entry}",
        "udf #0",
        entry = sym start,
    );

    unsafe extern "C" fn start(stack: *const usize) -> ! {
        // SAFETY: the kernel's initial stack holds argc followed by argc argv pointers.
        let args: Vec<&'static CStr> = unsafe {
            let argc = *stack;
            let argv = stack.add(1) as *const *const c_char;
            (0..argc).map(|i| CStr::from_ptr(*argv.add(i))).collect()
        };
        super::exit(crate::daemon::main(&args))
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        use core::fmt::Write;
        let mut line = alloc::string::String::new();
        let _ = writeln!(line, "going: BUG: {}", info.message());
        let _ = rustix::io::write(super::stderr(), line.as_bytes());
        super::exit(101)
    }

    // The prebuilt liballoc refers to these even with panic=abort; never called.
    #[unsafe(no_mangle)]
    extern "C" fn rust_eh_personality() {}

    #[unsafe(no_mangle)]
    extern "C" fn _Unwind_Resume() -> ! {
        super::exit(101)
    }

    // The mem* functions: rep movsb/stosb, never loops LLVM could turn back into calls.
    #[cfg(target_arch = "x86_64")]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcpy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        // SAFETY: the caller guarantees n valid, non-overlapping bytes at both ends.
        unsafe {
            core::arch::asm!("rep movsb", inout("rcx") n => _, inout("rdi") dest => _,
                inout("rsi") src => _, options(nostack, preserves_flags));
        }
        dest
    }

    #[cfg(target_arch = "x86_64")]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memmove(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
        if (dest as usize).wrapping_sub(src as usize) >= n {
            // SAFETY: dest is below src or past its end: a forward copy reads before it writes.
            return unsafe { memcpy(dest, src, n) };
        }
        // SAFETY: dest overlaps src from above: copy backwards from the last byte, then
        // restore the direction flag the ABI requires clear.
        unsafe {
            core::arch::asm!("std", "rep movsb", "cld", inout("rcx") n => _,
                inout("rdi") dest.add(n).wrapping_sub(1) => _,
                inout("rsi") src.add(n).wrapping_sub(1) => _, options(nostack));
        }
        dest
    }

    #[cfg(target_arch = "x86_64")]
    #[unsafe(no_mangle)]
    unsafe extern "C" fn memset(dest: *mut u8, byte: i32, n: usize) -> *mut u8 {
        // SAFETY: the caller guarantees n writable bytes at dest.
        unsafe {
            core::arch::asm!("rep stosb", inout("rcx") n => _, inout("rdi") dest => _,
                in("al") byte as u8, options(nostack, preserves_flags));
        }
        dest
    }

    #[unsafe(no_mangle)]
    unsafe extern "C" fn memcmp(left: *const u8, right: *const u8, n: usize) -> i32 {
        for i in 0..n {
            // SAFETY: the caller guarantees n readable bytes at both pointers.
            let (a, b) = unsafe { (*left.add(i), *right.add(i)) };
            if a != b {
                return a as i32 - b as i32;
            }
        }
        0
    }

    #[unsafe(no_mangle)]
    unsafe extern "C" fn strlen(text: *const u8) -> usize {
        let mut length = 0;
        // SAFETY: the caller guarantees a NUL-terminated string; the volatile read
        // keeps LLVM from recognising this loop as strlen and calling itself.
        while unsafe { core::ptr::read_volatile(text.add(length)) } != 0 {
            length += 1;
        }
        length
    }

    #[unsafe(no_mangle)]
    unsafe extern "C" fn bcmp(left: *const u8, right: *const u8, n: usize) -> i32 {
        // SAFETY: same contract as memcmp.
        unsafe { memcmp(left, right, n) }
    }
}
