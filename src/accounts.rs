//! Users and groups for `user=` and `group=`, from the text of /etc/passwd
//! and /etc/group.
//!
//! With no libc there is no NSS: like busybox, going reads the host's files
//! themselves (when the configuration is loaded, before any chroot). LDAP or
//! systemd-homed users are not seen. Pure: file contents in, identity out.

use crate::config::{ConfigError, Identity};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;

struct PasswdEntry<'a> {
    name: &'a str,
    uid: u32,
    gid: u32,
    home: &'a str,
    shell: &'a str,
}

/// `name:password:uid:gid:gecos:home:shell` lines; malformed lines are skipped.
fn passwd_entries(text: &str) -> impl Iterator<Item = PasswdEntry<'_>> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _, uid, gid, _, home, shell] = fields[..] else {
            return None;
        };
        Some(PasswdEntry { name, uid: uid.parse().ok()?, gid: gid.parse().ok()?, home, shell })
    })
}

/// `name:password:gid:member,member` lines as (name, gid, members).
fn group_entries(text: &str) -> impl Iterator<Item = (&str, u32, &str)> {
    text.lines().filter_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        let [name, _, gid, members] = fields[..] else {
            return None;
        };
        Some((name, gid.parse().ok()?, members))
    })
}

fn find_group(wanted: &str, group_file: &str) -> Option<u32> {
    let by_name = group_entries(group_file).find(|(name, _, _)| *name == wanted).map(|(_, gid, _)| gid);
    by_name.or_else(|| wanted.parse().ok())
}

/// The supplementary groups of `user`: its primary group and every group listing it.
fn groups_of(user: &str, primary: u32, group_file: &str) -> Vec<u32> {
    let mut groups = Vec::from([primary]);
    for (_, gid, members) in group_entries(group_file) {
        if members.split(',').any(|member| member == user) && !groups.contains(&gid) {
            groups.push(gid);
        }
    }
    groups
}

/// The id the kernel reads as "leave it unchanged" in setresuid and
/// setresgid: a service asked to run as it would keep going's root.
pub const NO_CHANGE_ID: u32 = u32::MAX;

/// Resolves `user=` and `group=` (as written, with their lines) against the
/// contents of /etc/passwd and /etc/group.
pub fn resolve(
    user: Option<&(usize, String)>,
    group: Option<&(usize, String)>,
    passwd_file: &str,
    group_file: &str,
) -> Result<Option<Identity>, ConfigError> {
    let identity = resolve_ids(user, group, passwd_file, group_file)?;
    let Some(identity) = identity else { return Ok(None) };
    let line_of = |key: Option<&(usize, String)>| key.map_or(0, |(line, _)| *line);
    if identity.uid == Some(NO_CHANGE_ID) {
        return Err(ConfigError::at(
            line_of(user),
            format!("uid {NO_CHANGE_ID} cannot be used: setuid reads it as \"no change\""),
        ));
    }
    if identity.gid == NO_CHANGE_ID || identity.groups.contains(&NO_CHANGE_ID) {
        let line = line_of(group.or(user));
        return Err(ConfigError::at(
            line,
            format!("gid {NO_CHANGE_ID} cannot be used: setgid reads it as \"no change\""),
        ));
    }
    Ok(Some(identity))
}

fn resolve_ids(
    user: Option<&(usize, String)>,
    group: Option<&(usize, String)>,
    passwd_file: &str,
    group_file: &str,
) -> Result<Option<Identity>, ConfigError> {
    let group_id = match group {
        None => None,
        Some((line, name)) => match find_group(name, group_file) {
            Some(gid) => Some(gid),
            None => {
                return Err(ConfigError::at(*line, format!("unknown group \"{name}\" (not in /etc/group)")));
            }
        },
    };
    let Some((line, name)) = user else {
        let env = Vec::new();
        return Ok(group_id.map(|gid| Identity { uid: None, gid, groups: Vec::new(), env }));
    };
    let entry = passwd_entries(passwd_file)
        .find(|entry| entry.name == name)
        .or_else(|| passwd_entries(passwd_file).find(|entry| Some(entry.uid) == name.parse().ok()));
    if let Some(entry) = entry {
        let env = [("HOME", entry.home), ("USER", entry.name), ("LOGNAME", entry.name), ("SHELL", entry.shell)];
        return Ok(Some(Identity {
            uid: Some(entry.uid),
            gid: group_id.unwrap_or(entry.gid),
            groups: groups_of(entry.name, entry.gid, group_file),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }));
    }
    match (name.parse::<u32>(), group_id) {
        (Ok(uid), Some(gid)) => {
            let env = Vec::from([("HOME".to_string(), "/".to_string())]);
            Ok(Some(Identity { uid: Some(uid), gid, groups: Vec::new(), env }))
        }
        (Ok(_), None) => {
            Err(ConfigError::at(*line, format!("user {name} has no passwd entry; add group= to run it without one")))
        }
        (Err(_), _) => Err(ConfigError::at(*line, format!("unknown user \"{name}\" (not in /etc/passwd)"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nweb:x:1001:1001:Web:/srv/web:/bin/sh\nbroken line\n";
    const GROUP: &str = "root:x:0:\nweb:x:1001:\nwww-data:x:33:web,other\nadmins:x:2000:other\n";

    fn user(name: &str) -> Option<(usize, String)> {
        Some((2, name.to_string()))
    }

    fn group(name: &str) -> Option<(usize, String)> {
        Some((3, name.to_string()))
    }

    #[test]
    fn the_no_change_id_is_refused_as_uid_or_gid() {
        let no_change = NO_CHANGE_ID.to_string();
        let error = resolve(user("0").as_ref(), group(&no_change).as_ref(), PASSWD, GROUP).unwrap_err();
        assert_eq!(error.line, 3);
        assert!(error.message.starts_with("gid 4294967295 cannot be used"), "{}", error.message);
        let error = resolve(None, group(&no_change).as_ref(), PASSWD, GROUP).unwrap_err();
        assert_eq!(error.line, 3);
        let error = resolve(user(&no_change).as_ref(), group("0").as_ref(), PASSWD, GROUP).unwrap_err();
        assert_eq!((error.line, error.message.starts_with("uid 4294967295")), (2, true));
    }

    #[test]
    fn nothing_asked_is_no_identity() {
        assert_eq!(resolve(None, None, PASSWD, GROUP), Ok(None));
    }

    #[test]
    fn user_by_name_or_uid_gets_its_gid_groups_and_environment() {
        for name in ["web", "1001"] {
            let identity = resolve(user(name).as_ref(), None, PASSWD, GROUP).unwrap().unwrap();
            assert_eq!((identity.uid, identity.gid, identity.groups.as_slice()), (Some(1001), 1001, &[1001, 33][..]));
            let home = identity.env.iter().find(|(k, _)| k == "HOME").unwrap();
            assert_eq!(home.1, "/srv/web");
            assert_eq!(identity.env.len(), 4);
        }
    }

    #[test]
    fn group_with_user_replaces_only_the_primary_gid() {
        let identity = resolve(user("web").as_ref(), group("admins").as_ref(), PASSWD, GROUP).unwrap().unwrap();
        assert_eq!((identity.uid, identity.gid, identity.groups), (Some(1001), 2000, Vec::from([1001, 33])));
    }

    #[test]
    fn group_alone_sets_the_gid_and_clears_supplementary_groups() {
        let identity = resolve(None, group("33").as_ref(), PASSWD, GROUP).unwrap().unwrap();
        assert_eq!((identity.uid, identity.gid, identity.groups.len()), (None, 33, 0));
    }

    #[test]
    fn numeric_user_without_entry_needs_a_group() {
        let identity = resolve(user("5000").as_ref(), group("5000").as_ref(), PASSWD, GROUP).unwrap().unwrap();
        assert_eq!((identity.uid, identity.gid, identity.groups.len()), (Some(5000), 5000, 0));
        assert_eq!(identity.env, [("HOME".to_string(), "/".to_string())]);
        let error = resolve(user("5000").as_ref(), None, PASSWD, GROUP).unwrap_err();
        assert_eq!(error, ConfigError::at(2, "user 5000 has no passwd entry; add group= to run it without one"));
    }

    #[test]
    fn unknown_names_are_errors_on_their_lines() {
        let error = resolve(user("nobody-here").as_ref(), None, PASSWD, GROUP).unwrap_err();
        assert_eq!(error, ConfigError::at(2, "unknown user \"nobody-here\" (not in /etc/passwd)"));
        let error = resolve(user("web").as_ref(), group("nogroup-here").as_ref(), PASSWD, GROUP).unwrap_err();
        assert_eq!(error, ConfigError::at(3, "unknown group \"nogroup-here\" (not in /etc/group)"));
    }
}
