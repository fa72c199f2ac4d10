//! Release artefacts from the Makefile: a reproducible tarball and a .deb
//! that installs where Debian expects and that lintian finds no error in.
//! Built from the binaries `cargo test` made (PROFILE=debug): a nested
//! cargo would wait on the lock this test run holds.
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const VERSION: &str = env!("CARGO_PKG_VERSION");

fn make(target: &str) {
    let output = Command::new("make").args(["-C", ROOT, target, "PROFILE=debug"]).output().unwrap();
    assert!(output.status.success(), "make {target}: {}", String::from_utf8_lossy(&output.stderr));
}

fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program).args(args).output().unwrap();
    assert!(output.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn make_dist_writes_the_same_tarball_twice_with_its_checksum() {
    let arch = run("uname", &["-m"]);
    let name = format!("going-{VERSION}-{}-linux", arch.trim());
    let tarball = Path::new(ROOT).join("target/dist").join(format!("{name}.tar.gz"));
    make("dist");
    let first = fs::read(&tarball).unwrap();
    make("dist");
    assert!(fs::read(&tarball).unwrap() == first, "two runs of make dist differ");
    let sums = fs::read_to_string(tarball.with_extension("gz.sha256")).unwrap();
    let verified = Command::new("sha256sum")
        .args(["--check", "--status"])
        .arg(tarball.with_extension("gz.sha256"))
        .current_dir(tarball.parent().unwrap())
        .status()
        .unwrap();
    assert!(verified.success(), "{sums}");
    let listing = run("tar", &["tzvf", tarball.to_str().unwrap()]);
    for file in
        ["going", "goingctl", "man/going.5", "man/going.8", "man/goingctl.8", "LICENSE", "README.md", "CHANGELOG.md"]
    {
        assert!(listing.lines().any(|line| line.ends_with(&format!("{name}/{file}"))), "{file} missing:\n{listing}");
    }
    assert!(listing.contains(&format!("{name}/examples/container.d/db")), "{listing}");
    assert!(listing.lines().all(|line| line.split_whitespace().nth(1) == Some("0/0")), "owner 0:\n{listing}");
    assert!(listing.lines().all(|line| line.as_bytes()[5] != b'w' && line.as_bytes()[8] != b'w'), "{listing}");
}

#[test]
fn make_deb_installs_where_debian_expects_and_lintian_finds_no_error_or_warning() {
    make("deb");
    let deb = Path::new(ROOT).join("target/deb").join(format!("going_{VERSION}_amd64.deb"));
    let deb = deb.to_str().unwrap();
    let control = run("dpkg-deb", &["--field", deb]);
    for field in [
        "Package: going".to_string(),
        format!("Version: {VERSION}"),
        "Architecture: amd64".into(),
        "Section: admin".into(),
        "Priority: optional".into(),
        "Maintainer: going developers <going@example.org>".into(),
        "Description: small process supervisor for services and containers".into(),
    ] {
        assert!(control.lines().any(|line| line == field), "{field} not in:\n{control}");
    }
    let installed: u64 =
        control.lines().find_map(|line| line.strip_prefix("Installed-Size: ")).unwrap().parse().unwrap();
    assert!(installed > 100, "{control}");
    // Owners as dpkg would give them, then the files and modes, unpacked into a scratch root.
    let contents = run("dpkg-deb", &["--contents", deb]);
    assert!(contents.lines().all(|line| line.split_whitespace().nth(1) == Some("root/root")), "{contents}");
    let root = TempDir::new("deb-root");
    run("dpkg", &["-x", deb, root.path().to_str().unwrap()]);
    let mode = |path: &str| fs::metadata(root.join(path)).unwrap().permissions().mode() & 0o7777;
    for (path, expected) in [
        ("usr/sbin/going", 0o755),
        ("usr/sbin/goingctl", 0o755),
        ("usr/share/man/man5/going.5.gz", 0o644),
        ("usr/share/man/man8/going.8.gz", 0o644),
        ("usr/share/man/man8/goingctl.8.gz", 0o644),
        ("usr/lib/systemd/system/going.service", 0o644),
        ("usr/share/doc/going/copyright", 0o644),
        ("usr/share/doc/going/changelog.gz", 0o644),
        ("etc/going.d", 0o755),
    ] {
        assert_eq!(mode(path), expected, "{path}");
    }
    assert_eq!(fs::read_dir(root.join("etc/going.d")).unwrap().count(), 0, "an empty /etc/going.d");
    let unit = fs::read_to_string(root.join("usr/lib/systemd/system/going.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/sbin/going") && unit.contains("Delegate=yes"), "{unit}");
    let version = run(root.join("usr/sbin/going").to_str().unwrap(), &["-v"]);
    assert_eq!(version, format!("going {VERSION}\n"), "the stripped binary runs");
    let changelog = run("sh", &["-c", &format!("zcat {}", root.join("usr/share/doc/going/changelog.gz").display())]);
    assert!(changelog.starts_with(&format!("going ({VERSION}) unstable; urgency=medium\n")), "{changelog}");
    let output = Command::new("lintian").arg(deb).output().expect("lintian: make check installs it");
    let said = String::from_utf8(output.stdout).unwrap();
    let bad: Vec<&str> = said.lines().filter(|line| line.starts_with("E:") || line.starts_with("W:")).collect();
    assert!(bad.is_empty(), "lintian:\n{said}");
}
