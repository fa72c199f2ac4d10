//! A static program for tests of a `chroot=` that holds nothing else. As
//! `jailed check` it exits 0 only inside the jail (where `/marker` is);
//! otherwise it sleeps until killed.
fn main() {
    if std::env::args().nth(1).as_deref() == Some("check") {
        std::process::exit(if std::path::Path::new("/marker").exists() { 0 } else { 1 });
    }
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1000));
    }
}
