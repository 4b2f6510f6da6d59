//! JSON Pointers (RFC 6901): building them while walking a value, and
//! the "at or under" relation blame and watch use for containers.

use serde_json::Value;

/// Appends `token` to `pointer` as one escaped reference token.
pub fn push(pointer: &mut String, token: &str) {
    pointer.push('/');
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// True when `pointer` is `prefix` or lies inside it.
pub fn is_at_or_under(pointer: &str, prefix: &str) -> bool {
    prefix.is_empty()
        || pointer == prefix
        || (pointer.len() > prefix.len() && pointer.starts_with(prefix) && pointer.as_bytes()[prefix.len()] == b'/')
}

/// A pointer is "" (the whole value) or a sequence of `/token`s whose
/// escapes are `~0` and `~1` only.
pub fn check(pointer: &str) -> Result<(), String> {
    if !pointer.is_empty() && !pointer.starts_with('/') {
        return Err(format!("pointer {pointer:?} must be empty or start with '/' (RFC 6901)"));
    }
    let mut chars = pointer.chars();
    while let Some(c) = chars.next() {
        if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
            return Err(format!("pointer {pointer:?} has a '~' not followed by 0 or 1 (RFC 6901)"));
        }
    }
    Ok(())
}

/// The value at `pointer` in `value`, if there is one.
pub fn get<'a>(value: &'a Value, pointer: &str) -> Option<&'a Value> {
    value.pointer(pointer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_escaped_and_prefixes_respect_token_boundaries() {
        let mut p = String::new();
        push(&mut p, "a/b");
        push(&mut p, "~x");
        assert_eq!(p, "/a~1b/~0x");
        assert!(is_at_or_under("/a/b", "/a"));
        assert!(is_at_or_under("/a", "/a"));
        assert!(is_at_or_under("/a", ""));
        assert!(!is_at_or_under("/ab", "/a"));
        assert!(!is_at_or_under("/a", "/a/b"));
        assert!(check("/a~0/b~1").is_ok());
        assert!(check("a").is_err());
        assert!(check("/a~2").is_err());
    }
}
