//! The going daemon: everything lives in the library; see its crate documentation.
#![no_std]
#![no_main]

// Links the library, whose runtime room provides `_start` and calls `going::daemon::main`.
use going as _;
