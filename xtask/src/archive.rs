//! Reproducible zip files: entries sorted by name, every timestamp 1980-01-01 00:00, unix
//! modes recorded, deflate at a fixed level, written to a temporary file and renamed into
//! place. Packing the same inputs twice gives the same bytes.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

/// One file in the archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub data: Vec<u8>,
    /// Unix permission bits, e.g. `0o755` for `dispatch`.
    pub mode: u32,
}

impl Entry {
    pub fn file(name: &str, data: Vec<u8>) -> Self {
        Entry {
            name: name.to_owned(),
            data,
            mode: 0o644,
        }
    }

    pub fn executable(name: &str, data: Vec<u8>) -> Self {
        Entry {
            name: name.to_owned(),
            data,
            mode: 0o755,
        }
    }
}

/// Writes `entries` to `path`.
pub fn write(path: &Path, mut entries: Vec<Entry>) -> Result<()> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let dir = path.parent().context("archive path has no directory")?;
    let tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("creating a temporary file in {}", dir.display()))?;
    let mut zip = ZipWriter::new(tmp.reopen()?);
    for entry in entries {
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .compression_level(Some(6))
            .last_modified_time(DateTime::DEFAULT)
            .system(System::Unix)
            .unix_permissions(entry.mode);
        zip.start_file(entry.name.as_str(), options)
            .with_context(|| format!("adding {}", entry.name))?;
        zip.write_all(&entry.data)
            .with_context(|| format!("writing {}", entry.name))?;
    }
    zip.finish().context("finishing the archive")?;
    tmp.persist(path)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn same_entries_same_bytes_whatever_the_order() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.zip"), dir.path().join("b.zip"));
        let entries = vec![
            Entry::executable("dispatch", vec![1; 1000]),
            Entry::file("metadata.yaml", b"name: x\n".to_vec()),
        ];
        write(&a, entries.clone()).unwrap();
        write(&b, entries.into_iter().rev().collect()).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());

        let mut zip = zip::ZipArchive::new(std::fs::File::open(&a).unwrap()).unwrap();
        let names: Vec<String> = (0..zip.len())
            .map(|i| zip.by_index(i).unwrap().name().unwrap().into_owned())
            .collect();
        assert_eq!(names, ["dispatch", "metadata.yaml"]);
        let mut dispatch = zip.by_name("dispatch").unwrap();
        assert_eq!(dispatch.unix_mode().map(|m| m & 0o777), Some(0o755));
        let mut data = Vec::new();
        dispatch.read_to_end(&mut data).unwrap();
        assert_eq!(data, vec![1; 1000]);
    }
}
