//! Checking that a charm binary runs on any Ubuntu base: an x86-64 ELF with no program
//! interpreter and no shared libraries. A static-PIE (what the musl target builds) keeps a
//! dynamic section for relocating itself, but needs nothing from the system.

use anyhow::{Result, bail};

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: i64 = 0;
const DT_NEEDED: i64 = 1;
const EM_X86_64: u16 = 62;

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Fails with the reason when `binary` is not a self-contained x86-64 executable.
pub fn check_static(binary: &[u8]) -> Result<()> {
    if binary.get(..4) != Some(b"\x7fELF") {
        bail!("not an ELF file");
    }
    if binary.get(4) != Some(&2) || binary.get(5) != Some(&1) {
        bail!("not a 64-bit little-endian ELF file");
    }
    let truncated = || anyhow::anyhow!("truncated ELF header");
    if u16_at(binary, 0x12).ok_or_else(truncated)? != EM_X86_64 {
        bail!("not an x86-64 binary");
    }
    let phoff = usize::try_from(u64_at(binary, 0x20).ok_or_else(truncated)?)?;
    let phentsize = usize::from(u16_at(binary, 0x36).ok_or_else(truncated)?);
    let phnum = usize::from(u16_at(binary, 0x38).ok_or_else(truncated)?);
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let kind = u32_at(binary, ph).ok_or_else(truncated)?;
        let offset = usize::try_from(u64_at(binary, ph + 8).ok_or_else(truncated)?)?;
        let size = usize::try_from(u64_at(binary, ph + 32).ok_or_else(truncated)?)?;
        let segment = binary
            .get(offset..offset + size)
            .ok_or_else(|| anyhow::anyhow!("program header {i} points outside the file"))?;
        match kind {
            PT_INTERP => {
                let interp = String::from_utf8_lossy(segment);
                bail!(
                    "dynamically linked: it needs the program interpreter {}",
                    interp.trim_end_matches('\0')
                );
            }
            PT_DYNAMIC => {
                let needed = segment
                    .chunks_exact(16)
                    .map(|e| u64_at(e, 0).unwrap_or(0) as i64)
                    .take_while(|tag| *tag != DT_NULL)
                    .filter(|tag| *tag == DT_NEEDED)
                    .count();
                if needed > 0 {
                    bail!("dynamically linked: it needs {needed} shared libraries");
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal ELF64 image with the given program headers `(type, payload)`.
    fn elf(headers: &[(u32, Vec<u8>)]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[0x12..0x14].copy_from_slice(&EM_X86_64.to_le_bytes());
        b[0x20..0x28].copy_from_slice(&64u64.to_le_bytes());
        b[0x36..0x38].copy_from_slice(&56u16.to_le_bytes());
        b[0x38..0x3a].copy_from_slice(&(headers.len() as u16).to_le_bytes());
        let data_start = 64 + 56 * headers.len();
        let mut data: Vec<u8> = Vec::new();
        for (kind, payload) in headers {
            let mut ph = vec![0u8; 56];
            ph[..4].copy_from_slice(&kind.to_le_bytes());
            ph[8..16].copy_from_slice(&((data_start + data.len()) as u64).to_le_bytes());
            ph[32..40].copy_from_slice(&(payload.len() as u64).to_le_bytes());
            b.extend(ph);
            data.extend(payload);
        }
        b.extend(data);
        b
    }

    fn dynamic(tags: &[i64]) -> Vec<u8> {
        tags.iter()
            .flat_map(|t| [t.to_le_bytes(), 0u64.to_le_bytes()].concat())
            .collect()
    }

    #[test]
    fn static_and_static_pie_pass() {
        check_static(&elf(&[(1, vec![0; 8])])).unwrap();
        check_static(&elf(&[(PT_DYNAMIC, dynamic(&[7, 8, DT_NULL, DT_NEEDED]))])).unwrap();
    }

    #[test]
    fn dynamic_binaries_fail_with_the_reason() {
        let interp = elf(&[(PT_INTERP, b"/lib64/ld-linux-x86-64.so.2\0".to_vec())]);
        let err = check_static(&interp).unwrap_err().to_string();
        assert!(err.contains("/lib64/ld-linux-x86-64.so.2"), "{err}");
        let needs = elf(&[(PT_DYNAMIC, dynamic(&[DT_NEEDED, DT_NEEDED, DT_NULL]))]);
        assert!(
            check_static(&needs)
                .unwrap_err()
                .to_string()
                .contains("2 shared")
        );
        assert!(check_static(b"#!/bin/sh\n").is_err());
        let mut truncated = elf(&[(1, vec![0; 8])]);
        truncated.truncate(70);
        assert!(check_static(&truncated).is_err());
    }

    #[test]
    fn this_test_binary_is_dynamic() {
        // Built for the host (glibc) target: a real-world negative.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let err = check_static(&me).unwrap_err().to_string();
        assert!(err.contains("dynamically linked"), "{err}");
    }
}
