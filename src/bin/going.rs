//! The going daemon: the half of the no-libc runtime that only a program
//! needs (entry, allocator, panic handler, the `mem*` functions the compiler
//! emits calls to), and the call into the library's daemon. Everything else
//! lives in the library; see its crate documentation.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use core::ffi::{CStr, c_char};
use going::rt;

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
    rt::exit(going::daemon::main(&args))
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    use core::fmt::Write;
    let mut line = alloc::string::String::new();
    let _ = writeln!(line, "going: BUG: {}", info.message());
    let _ = rustix::io::write(rt::stderr(), line.as_bytes());
    rt::exit(101)
}

// The prebuilt liballoc refers to these even with panic=abort; never called.
#[unsafe(no_mangle)]
extern "C" fn rust_eh_personality() {}

#[unsafe(no_mangle)]
extern "C" fn _Unwind_Resume() -> ! {
    rt::exit(101)
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
