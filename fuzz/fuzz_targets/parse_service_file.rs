//! Any bytes as a service file: a spec or an error, never a panic.
#![no_main]

use going::config::ServiceFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match going::config::parse(bytes) {
        Ok(ServiceFile::Procfile(app)) => assert!(app.path.starts_with('/')),
        Ok(ServiceFile::Command(spec)) => assert!(!spec.argv.program().is_empty()),
        Err(error) => assert!(error.line <= bytes.split(|&b| b == b'\n').count()),
    }
    if let Ok(text) = std::str::from_utf8(bytes) {
        let _ = going::config::split_words(text);
    }
});
