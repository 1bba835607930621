//! The two pieces of Python the `backup` interface's rules are written in: `pathlib` path
//! normalisation and `str.strip()`.

/// `str(pathlib.PurePosixPath(path))`: repeated and trailing slashes and `.` components go,
/// `..` stays (it is not resolved), a leading `//` stays (POSIX leaves its meaning to the
/// implementation), three or more leading slashes become one, and the empty path is `.`.
pub fn normalise(path: &str) -> String {
    let (root, rest) = if path.starts_with("//") && !path.starts_with("///") {
        ("//", &path[2..])
    } else if let Some(rest) = path.strip_prefix('/') {
        ("/", rest)
    } else {
        ("", path)
    };
    let parts: Vec<&str> = rest
        .split('/')
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    let normalised = format!("{root}{}", parts.join("/"));
    if normalised.is_empty() {
        ".".to_owned()
    } else {
        normalised
    }
}

/// `PurePosixPath(path).is_absolute()`.
pub fn is_absolute(path: &str) -> bool {
    path.starts_with('/')
}

/// Python's `str.strip()` without arguments.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `str.isspace()` for one character: Unicode White_Space (Rust's `is_whitespace`)
/// plus the information separators U+001C..U+001F, which Python counts as whitespace.
fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected values printed by CPython 3.11 (`str(pathlib.PurePosixPath(s))`). CPython 3.10
    /// and 3.12 (the Ubuntu 22.04 and 24.04 bases) split the root and drop empty and `.` parts
    /// the same way.
    #[test]
    fn normalise_like_pathlib() {
        let cases = [
            ("/var/backups", "/var/backups"),
            ("/var/backups/", "/var/backups"),
            ("/var//backups//", "/var/backups"),
            ("//a//b", "//a/b"),
            ("//", "//"),
            ("///", "/"),
            ("///a//b/", "/a/b"),
            ("////a", "/a"),
            ("/./", "/"),
            ("/.", "/"),
            ("/a/./b/.", "/a/b"),
            ("/a/../b", "/a/../b"),
            ("/..", "/.."),
            ("/a/.../b", "/a/.../b"),
            ("/a/.b", "/a/.b"),
            ("", "."),
            (".", "."),
            ("./", "."),
            ("./a", "a"),
            ("a/b/", "a/b"),
            ("a//b", "a/b"),
            ("../a", "../a"),
            ("/a /", "/a "),
            (" /a", " /a"),
            ("/a\\b", "/a\\b"),
            ("/a\nb/", "/a\nb"),
            ("/\u{e9}t\u{e9}/", "/\u{e9}t\u{e9}"),
        ];
        for (input, expected) in cases {
            assert_eq!(normalise(input), expected, "normalise({input:?})");
        }
    }

    #[test]
    fn absolute_means_rooted() {
        assert!(is_absolute(&normalise("/a")));
        assert!(is_absolute(&normalise("//a")));
        assert!(!is_absolute(&normalise("a/b")));
        assert!(!is_absolute(&normalise("")));
        assert!(!is_absolute(&normalise(" /a")));
    }

    /// Every character for which CPython 3.11's `str.isspace()` is true.
    const PYTHON_SPACES: &[u32] = &[
        0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000,
        0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028,
        0x2029, 0x202f, 0x205f, 0x3000,
    ];

    #[test]
    fn whitespace_like_python() {
        for c in (0..=0x10ffff).filter_map(char::from_u32) {
            assert_eq!(
                is_space(c),
                PYTHON_SPACES.contains(&(c as u32)),
                "U+{:04X}",
                c as u32
            );
        }
        assert_eq!(strip("\u{1f} /a \u{3000}\n"), "/a");
        assert_eq!(
            strip("\u{200b}/a"),
            "\u{200b}/a",
            "zero-width space is not whitespace"
        );
    }
}
