//! `make install` into a temporary DESTDIR, `make uninstall`, and the man pages' lint.
mod common;

use common::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

fn make(args: &[&str]) -> std::process::Output {
    Command::new("make").current_dir(env!("CARGO_MANIFEST_DIR")).args(args).output().unwrap()
}

#[test]
fn make_install_puts_exactly_the_binaries_and_man_pages_under_destdir_and_uninstall_removes_them() {
    let root = TempDir::new("destdir");
    let destdir = format!("DESTDIR={}", root.path().display());
    // The debug binaries cargo test built: `make install` would otherwise run cargo, which waits on this run's lock.
    let output = make(&["install", &destdir, "PREFIX=/usr", "PROFILE=debug"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let expected = [
        ("usr/sbin/going", 0o755),
        ("usr/sbin/goingctl", 0o755),
        ("usr/share/man/man5/going.5", 0o644),
        ("usr/share/man/man8/going.8", 0o644),
        ("usr/share/man/man8/goingctl.8", 0o644),
    ];
    let mut files = Vec::new();
    let mut todo = vec![root.path().to_owned()];
    while let Some(dir) = todo.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            match path.is_dir() {
                true => todo.push(path),
                false => files.push(path.strip_prefix(root.path()).unwrap().to_str().unwrap().to_owned()),
            }
        }
    }
    files.sort();
    assert_eq!(files, expected.map(|(path, _)| path.to_owned()));
    for (path, mode) in expected {
        let metadata = std::fs::metadata(root.join(path)).unwrap();
        assert_eq!(metadata.permissions().mode() & 0o777, mode, "{path}");
    }
    let installed = root.join("usr/sbin/going");
    let version = Command::new(&installed).arg("-v").output().unwrap();
    assert_eq!(String::from_utf8(version.stdout).unwrap(), concat!("going ", env!("CARGO_PKG_VERSION"), "\n"));

    assert!(make(&["uninstall", &destdir, "PREFIX=/usr", "PROFILE=debug"]).status.success());
    for (path, _) in expected {
        assert!(!Path::new(&root.join(path)).exists(), "{path} left behind");
    }
}

#[test]
fn man_pages_pass_mandoc_lint() {
    assert!(Command::new("mandoc").arg("-V").output().is_ok(), "mandoc is missing: make check installs it");
    let pages = ["man/going.8", "man/going.5", "man/goingctl.8"];
    let output = Command::new("mandoc")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["-T", "lint", "-W", "warning"])
        .args(pages)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && report.is_empty(), "{report}");
}

#[test]
fn make_doc_renders_every_man_page_as_html() {
    let out = TempDir::new("doc");
    let status = Command::new("make")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("doc")
        .arg(format!("DOCDIR={}", out.path().display()))
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    for (page, title) in [("going.8", "GOING(8)"), ("going.5", "GOING(5)"), ("goingctl.8", "GOINGCTL(8)")] {
        let html = std::fs::read_to_string(out.join(&format!("{page}.html"))).unwrap();
        assert!(html.contains(title) && html.contains("<html"), "{page}");
    }
}
