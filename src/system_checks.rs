//! What a parsed service file needs from the system before it can run:
//! its log directory there and trusted, going running as root for `user=`,
//! `group=` and `chroot=`, and those accounts looked up. After this a
//! [`ServiceFile`]'s specs can always run as they are.

use crate::accounts;
use crate::config::{ConfigError, KeyLines, LogTarget, ServiceFile};
use crate::paths::split_parent;
use crate::trust::{distrust_reason, own_uid};
use alloc::format;
use alloc::string::{String, ToString};
use core::ffi::CStr;
use rustix::fs::{FileType, Mode, OFlags};

/// Completes `file` from the system, or says which line cannot be satisfied.
pub fn complete(file: &mut ServiceFile, lines: KeyLines, accounts: &mut AccountFiles) -> Result<(), ConfigError> {
    let settings = file.settings();
    if let Some(LogTarget::File { path, .. }) = &settings.log {
        check_log_directory(split_parent(path).0).map_err(|message| ConfigError::at(lines.log, message))?;
    }
    if settings.user.is_none() && settings.group.is_none() && settings.chroot.is_none() {
        return Ok(());
    }
    if own_uid() != 0 {
        return Err(ConfigError::at(lines.privileged, "user=, group= and chroot= need going to run as root"));
    }
    let (passwd, group) = accounts.load();
    let identity = accounts::resolve(settings.user.as_ref(), settings.group.as_ref(), passwd, group)?;
    file.settings_mut().identity = identity;
    Ok(())
}

/// going writes log files as its user: whoever else may write in their
/// directory could plant a symlink there.
fn check_log_directory(directory: &str) -> Result<(), String> {
    let problem = match rustix::fs::stat(directory) {
        Ok(stat) if !FileType::from_raw_mode(stat.st_mode).is_dir() => Some("is not a directory".to_string()),
        Ok(stat) => distrust_reason(&stat, own_uid()).map(|reason| format!("refused: {reason}")),
        Err(_) => Some("does not exist; create it".to_string()),
    };
    match problem {
        Some(problem) => Err(format!("log directory {directory} {problem}")),
        None => Ok(()),
    }
}

/// /etc/passwd and /etc/group, read once per scan and only when a file needs them.
#[derive(Default)]
pub struct AccountFiles(Option<(String, String)>);

/// Account files larger than this are read no further (about 40 000 users).
const MAX_ACCOUNT_FILE: usize = 4 << 20;

impl AccountFiles {
    fn load(&mut self) -> (&str, &str) {
        let (passwd, group) = self.0.get_or_insert_with(|| (read_text(c"/etc/passwd"), read_text(c"/etc/group")));
        (passwd, group)
    }
}

/// A whole text file, or nothing when it cannot be read (every lookup then fails with its own error).
fn read_text(path: &CStr) -> String {
    let Ok(file) = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()) else {
        return String::new();
    };
    let bytes = crate::trust::read_limited(&file, MAX_ACCOUNT_FILE).unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}
