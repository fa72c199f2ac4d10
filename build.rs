// The daemon has no libc: link it static, without C start files, at a fixed
// address. Only for the binaries: build scripts and tests use std as usual.
fn main() {
    println!("cargo:rustc-link-arg-bin=going=-nostartfiles");
    println!("cargo:rustc-link-arg-bin=going=-nostdlib");
    println!("cargo:rustc-link-arg-bin=going=-static");
    println!("cargo:rustc-link-arg-bin=going=-no-pie");
    // No read-only-after-start page for the GOT: its four entries (32 bytes) took
    // a page of their own. It guards little in a static binary whose function
    // pointers (rustix's vDSO entries) live in the writable .bss anyway.
    println!("cargo:rustc-link-arg-bin=going=-Wl,-z,norelro");
    // going never unwinds (panic = "abort"): leave out the unwind tables.
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/src/bin/going.ld");
    println!("cargo:rustc-link-arg-bin=going=-Wl,-T,{script}");
    println!("cargo:rerun-if-changed=src/bin/going.ld");
    println!("cargo:rerun-if-changed=build.rs");
}
