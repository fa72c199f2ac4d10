//! Paths as bytes or text, split without libc.

/// Splits `a/b/c` into `a/b` and `c`; `c` alone has parent `.`, `/c` has `/`;
/// trailing slashes are ignored.
pub fn split_parent_bytes(path: &[u8]) -> (&[u8], &[u8]) {
    let path = match path.iter().rposition(|&b| b != b'/') {
        Some(last) => &path[..=last],
        None => return (b"/", b"/"),
    };
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) => (b"/", &path[1..]),
        Some(slash) => (&path[..slash], &path[slash + 1..]),
        None => (b".", path),
    }
}

/// [`split_parent_bytes`] for text: `/srv/app/Procfile` into `/srv/app` and `Procfile`.
pub fn split_parent(path: &str) -> (&str, &str) {
    let (parent, name) = split_parent_bytes(path.as_bytes());
    // Both are split at an ASCII '/', so they are UTF-8 where the path is.
    let text = |bytes| core::str::from_utf8(bytes).expect("BUG: split at an ASCII byte");
    (text(parent), text(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_and_name_of_paths() {
        assert_eq!(split_parent_bytes(b"/etc/going.d"), (&b"/etc"[..], &b"going.d"[..]));
        assert_eq!(split_parent_bytes(b"/etc/going.d/"), (&b"/etc"[..], &b"going.d"[..]));
        assert_eq!(split_parent_bytes(b"/going.d"), (&b"/"[..], &b"going.d"[..]));
        assert_eq!(split_parent_bytes(b"examples/going.d"), (&b"examples"[..], &b"going.d"[..]));
        assert_eq!(split_parent_bytes(b"going.d"), (&b"."[..], &b"going.d"[..]));
        assert_eq!(split_parent("/srv/app/Procfile"), ("/srv/app", "Procfile"));
        assert_eq!(split_parent("/var/log/web.log"), ("/var/log", "web.log"));
    }
}
