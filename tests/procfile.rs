//! A foreman-style app under going: Procfile, .env, PORT, live changes.
mod common;

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// An app directory with a Procfile and a .env, both mode 0644.
fn app(going: &Going, procfile: &str, dotenv: &str) -> PathBuf {
    let dir = going.work.join("app");
    fs::create_dir_all(&dir).unwrap();
    write_app_file(&dir, "Procfile", procfile);
    write_app_file(&dir, ".env", dotenv);
    dir
}

fn write_app_file(dir: &Path, name: &str, text: &str) {
    // Written aside and renamed: the watch sees one completed change.
    let aside = dir.join(format!(".{name}.new"));
    fs::write(&aside, text).unwrap();
    fs::set_permissions(&aside, fs::Permissions::from_mode(0o644)).unwrap();
    fs::rename(aside, dir.join(name)).unwrap();
}

#[test]
fn each_process_type_is_a_service_in_the_app_directory_with_env_and_port() {
    let going = Going::start(&[]);
    let procfile = "# the app\nweb: echo \"$PORT $SECRET $(pwd)\" > web.out; exec sleep 1000\nworker: echo $PORT > worker.out; exec sleep 1000\n";
    let dir = app(&going, procfile, "export SECRET='s3 cret'\n");
    write_service(going.services.path(), "shop", &format!("procfile={}/Procfile\n", dir.display()));
    going.reload();
    going.service_pid("shop.web", 1);
    going.service_pid("shop.worker", 1);
    assert_eq!(wait_file(&dir.join("web.out")), format!("5000 s3 cret {}\n", dir.display()));
    assert_eq!(wait_file(&dir.join("worker.out")), "5100\n");
}

#[test]
fn a_changed_line_restarts_only_its_process_and_a_removed_line_stops_its_process() {
    let going = Going::start(&[]);
    let dir = app(&going, "web: exec sleep 1001\nworker: exec sleep 1002\nclock: exec sleep 1003\n", "");
    write_service(going.services.path(), "shop", &format!("procfile={}/Procfile\n", dir.display()));
    going.reload();
    let (web, worker, clock) =
        (going.service_pid("shop.web", 1), going.service_pid("shop.worker", 1), going.service_pid("shop.clock", 1));
    // No SIGHUP from here on: going watches the Procfile's directory.
    write_app_file(&dir, "Procfile", "web: exec sleep 1001\nworker: exec sleep 2002\nclock: exec sleep 1003\n");
    let new_worker = going.service_pid("shop.worker", 2);
    assert_ne!(new_worker, worker);
    write_app_file(&dir, "Procfile", "web: exec sleep 1001\nworker: exec sleep 2002\n");
    going.wait_log("going: shop.clock: stopped");
    assert!(is_reaped(clock));
    assert!(is_alive(web) && going.count_log("going: shop.web: started") == 1);
    assert_eq!(going.latest_pid("shop.worker"), new_worker);
}

#[test]
fn a_changed_env_restarts_the_processes() {
    let going = Going::start(&[]);
    let dir = app(&going, "web: exec sleep 1001\n", "MODE=a\n");
    write_service(going.services.path(), "shop", &format!("procfile={}/Procfile\n", dir.display()));
    going.reload();
    going.service_pid("shop.web", 1);
    write_app_file(&dir, ".env", "MODE=b\n");
    let web = going.service_pid("shop.web", 2);
    wait_exec(web, "sleep");
    assert!(fs::read(format!("/proc/{web}/environ")).unwrap().windows(6).any(|w| w == b"MODE=b"));
}

#[test]
fn procfile_errors_name_the_procfile_and_line_and_keep_running_processes() {
    let going = Going::start(&[]);
    let dir = app(&going, "web: exec sleep 1001\n", "");
    let procfile = dir.join("Procfile");
    write_service(going.services.path(), "shop", &format!("procfile={}\n", procfile.display()));
    going.reload();
    let web = going.service_pid("shop.web", 1);
    write_app_file(&dir, "Procfile", "web: exec sleep 1001\nweb: exec sleep 9\n");
    going.wait_log(&format!(
        "going: shop: {}:2: duplicate process type \"web\" (not started; running processes keep running)",
        procfile.display()
    ));
    write_app_file(&dir, "Procfile", "web exec sleep 1001\n");
    going.wait_log(&format!("going: shop: {}:1: expected NAME: COMMAND", procfile.display()));
    assert!(is_alive(web));
}

#[test]
fn a_process_named_like_a_service_file_is_an_error_and_the_file_keeps_its_service() {
    let going = Going::start(&[("shop.web", "cmd=/bin/sleep 1005\n")]);
    let file_service = going.service_pid("shop.web", 1);
    let dir = app(&going, "worker: exec sleep 1001\nweb: exec sleep 1002\n", "");
    write_service(going.services.path(), "shop", &format!("procfile={}/Procfile\n", dir.display()));
    going.reload();
    going.service_pid("shop.worker", 1);
    going.wait_log("process type \"web\" would be service shop.web, which a service file already is; rename one");
    assert!(is_alive(file_service));
    assert_eq!(going.count_log("going: shop.web: started"), 1);
}

#[test]
fn procfile_and_env_follow_the_permission_rule() {
    let going = Going::start(&[]);
    let dir = app(&going, "web: exec sleep 1001\n", "A=1\n");
    fs::set_permissions(dir.join(".env"), fs::Permissions::from_mode(0o666)).unwrap();
    write_service(going.services.path(), "shop", &format!("procfile={}/Procfile\n", dir.display()));
    going.reload();
    going.wait_log(&format!("{}/.env: refused: writable by group or others; chmod go-w it", dir.display()));
    assert_eq!(going.count_log("going: shop.web: started"), 0);
}

#[test]
fn log_path_gets_the_process_name() {
    let going = Going::start(&[]);
    let dir = app(&going, "web: echo hello from web; exec sleep 1000\n", "");
    let log = going.work.join("app.log");
    write_service(
        going.services.path(),
        "shop",
        &format!("procfile={}/Procfile\nlog={}\n", dir.display(), log.display()),
    );
    going.reload();
    let per_process = going.work.join("app.web.log");
    wait_for("the web log", || fs::read_to_string(&per_process).ok().filter(|t| t.ends_with(" hello from web\n")));
    assert!(!log.exists());
}
