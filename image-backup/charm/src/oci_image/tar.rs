//! A reproducible tar writer: ustar headers, owner root, time 0, entries in the order given.
//!
//! Written here rather than pulled in as a dependency because an image layer needs only
//! directories and regular files, and full control over every header byte is what makes the
//! layer's digest depend on nothing but the content.

/// One entry of the archive.
pub enum Entry<'a> {
    /// A directory, with its path ending in `/`.
    Dir { path: &'a str, mode: u32 },
    File {
        path: &'a str,
        mode: u32,
        content: &'a [u8],
    },
}

/// The whole archive for `entries`, with the two zero blocks that end it.
pub fn archive(entries: &[Entry<'_>]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for entry in entries {
        let (path, mode, content, kind) = match entry {
            Entry::Dir { path, mode } => (*path, *mode, &[][..], b'5'),
            Entry::File {
                path,
                mode,
                content,
            } => (*path, *mode, *content, b'0'),
        };
        out.extend_from_slice(&header(path, mode, content.len() as u64, kind)?);
        out.extend_from_slice(content);
        let padding = (512 - content.len() % 512) % 512;
        out.resize(out.len() + padding, 0);
    }
    out.resize(out.len() + 1024, 0);
    Ok(out)
}

fn header(path: &str, mode: u32, size: u64, kind: u8) -> Result<[u8; 512], String> {
    // ustar: a name of up to 100 bytes, or a prefix of up to 155 and a name of up to 100.
    let (prefix, name) = if path.len() <= 100 {
        ("", path)
    } else {
        let split = path[..path.len().min(156)]
            .rfind('/')
            .filter(|&i| path.len() - i - 1 <= 100)
            .ok_or_else(|| format!("path too long for a tar header: {path:?}"))?;
        (&path[..split], &path[split + 1..])
    };
    if size > 0o77777777777 {
        return Err(format!("{path:?} is too large for a tar header"));
    }
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0); // uid
    octal(&mut h[116..124], 0); // gid
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0); // mtime
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    octal(&mut h[148..155], sum);
    h[155] = b' ';
    Ok(h)
}

/// Zero-padded octal filling the field but its last byte, which is NUL.
fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_tar_reads_it() {
        let long = format!("{}/file", "d".repeat(120));
        let data = archive(&[
            Entry::Dir {
                path: "usr/",
                mode: 0o755,
            },
            Entry::File {
                path: "usr/hello",
                mode: 0o755,
                content: b"hi\n",
            },
            Entry::File {
                path: &long,
                mode: 0o644,
                content: &[7; 1000],
            },
        ])
        .unwrap();
        assert_eq!(data.len() % 512, 0);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a.tar");
        std::fs::write(&file, &data).unwrap();
        let out = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&file)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let listing = String::from_utf8(out.stdout).unwrap();
        let lines: Vec<&str> = listing.lines().collect();
        assert!(lines[0].starts_with("drwxr-xr-x 0/0") && lines[0].ends_with("usr/"));
        assert!(
            lines[1].starts_with("-rwxr-xr-x 0/0") && lines[1].ends_with("usr/hello"),
            "{listing}"
        );
        assert!(
            lines[2].ends_with(&long) && lines[2].contains(" 1000 "),
            "{listing}"
        );
    }

    #[test]
    fn paths_that_cannot_fit_are_refused() {
        let path = "x".repeat(101);
        let err = archive(&[Entry::File {
            path: &path,
            mode: 0o644,
            content: b"",
        }])
        .err()
        .unwrap();
        assert!(err.contains("too long"), "{err}");
    }
}
