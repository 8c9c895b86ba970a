//! A validating parser of x86-64 ELF executables, for the CPU driver's program loader.
//!
//! The input is untrusted (a ramdisk file): every field is bounds-checked and a bad file is
//! a typed [`ElfError`], never a panic. The result is the entry point and the loadable
//! segments, each with its virtual range, the part of the file that fills it, and its
//! permissions; the caller allocates, copies and maps.
#![cfg_attr(not(test), no_std)]

/// Why a file cannot be loaded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than an ELF header, or a table runs past the end of the file.
    Truncated,
    /// Not an ELF file.
    BadMagic,
    /// Not 64-bit little-endian x86-64.
    WrongArch,
    /// Not an executable (`ET_EXEC`); position-independent programs are not supported.
    NotExecutable,
    /// A segment's file part is larger than its memory part, or sizes overflow.
    BadSegment,
    /// A segment lies outside the allowed address range.
    OutOfRange,
    /// Two segments overlap.
    Overlap,
    /// More segments than the loader takes.
    TooManySegments,
    /// The entry point is not inside an executable segment.
    BadEntry,
}

/// One `PT_LOAD` segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// First virtual address.
    pub vaddr: u64,
    /// Size in memory (the tail beyond `file_size` is zero).
    pub mem_size: u64,
    /// Offset of the segment's bytes in the file.
    pub file_offset: u64,
    /// Bytes taken from the file.
    pub file_size: u64,
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

/// Maximum number of loadable segments.
pub const MAX_SEGMENTS: usize = 16;

/// A parsed executable.
#[derive(Clone, Debug)]
pub struct Executable {
    /// Entry point.
    pub entry: u64,
    segments: [Segment; MAX_SEGMENTS],
    count: usize,
}

impl Executable {
    /// The loadable segments, sorted by address.
    pub fn segments(&self) -> &[Segment] {
        &self.segments[..self.count]
    }
}

fn u16_at(b: &[u8], off: usize) -> Result<u16, ElfError> {
    let s = b.get(off..off + 2).ok_or(ElfError::Truncated)?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, ElfError> {
    let s = b.get(off..off + 4).ok_or(ElfError::Truncated)?;
    Ok(u32::from_le_bytes(s.try_into().unwrap_or([0; 4])))
}

fn u64_at(b: &[u8], off: usize) -> Result<u64, ElfError> {
    let s = b.get(off..off + 8).ok_or(ElfError::Truncated)?;
    Ok(u64::from_le_bytes(s.try_into().unwrap_or([0; 8])))
}

const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const PF_W: u32 = 2;

/// Parse `file`, accepting only segments inside `[min, end)`.
pub fn parse(file: &[u8], min: u64, end: u64) -> Result<Executable, ElfError> {
    if file.len() < 64 {
        return Err(ElfError::Truncated);
    }
    if &file[..4] != b"\x7fELF" {
        return Err(ElfError::BadMagic);
    }
    // 64-bit, little-endian, x86-64.
    if file[4] != 2 || file[5] != 1 || u16_at(file, 18)? != 62 {
        return Err(ElfError::WrongArch);
    }
    if u16_at(file, 16)? != 2 {
        return Err(ElfError::NotExecutable);
    }
    let entry = u64_at(file, 24)?;
    let phoff = u64_at(file, 32)? as usize;
    let phentsize = u16_at(file, 54)? as usize;
    let phnum = u16_at(file, 56)? as usize;
    if phentsize < 56 {
        return Err(ElfError::Truncated);
    }
    let mut exe = Executable {
        entry,
        segments: [Segment {
            vaddr: 0,
            mem_size: 0,
            file_offset: 0,
            file_size: 0,
            write: false,
            exec: false,
        }; MAX_SEGMENTS],
        count: 0,
    };
    for i in 0..phnum {
        let at = phentsize
            .checked_mul(i)
            .and_then(|x| x.checked_add(phoff))
            .ok_or(ElfError::Truncated)?;
        if at.checked_add(56).is_none_or(|e| e > file.len()) {
            return Err(ElfError::Truncated);
        }
        if u32_at(file, at)? != PT_LOAD {
            continue;
        }
        let flags = u32_at(file, at + 4)?;
        let seg = Segment {
            file_offset: u64_at(file, at + 8)?,
            vaddr: u64_at(file, at + 16)?,
            file_size: u64_at(file, at + 32)?,
            mem_size: u64_at(file, at + 40)?,
            write: flags & PF_W != 0,
            exec: flags & PF_X != 0,
        };
        if seg.mem_size == 0 {
            continue;
        }
        if seg.file_size > seg.mem_size {
            return Err(ElfError::BadSegment);
        }
        let file_end = seg
            .file_offset
            .checked_add(seg.file_size)
            .ok_or(ElfError::BadSegment)?;
        if file_end > file.len() as u64 {
            return Err(ElfError::Truncated);
        }
        let vend = seg
            .vaddr
            .checked_add(seg.mem_size)
            .ok_or(ElfError::OutOfRange)?;
        if seg.vaddr < min || vend > end {
            return Err(ElfError::OutOfRange);
        }
        if exe.count == MAX_SEGMENTS {
            return Err(ElfError::TooManySegments);
        }
        exe.segments[exe.count] = seg;
        exe.count += 1;
    }
    let segs = &mut exe.segments[..exe.count];
    segs.sort_unstable_by_key(|s| s.vaddr);
    for w in segs.windows(2) {
        // Segments may share a page but not bytes.
        if w[0].vaddr + w[0].mem_size > w[1].vaddr {
            return Err(ElfError::Overlap);
        }
    }
    if !exe
        .segments()
        .iter()
        .any(|s| s.exec && s.vaddr <= entry && entry < s.vaddr + s.mem_size)
    {
        return Err(ElfError::BadEntry);
    }
    Ok(exe)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal executable: header, `n` program headers, then `code`.
    fn build(segs: &[(u32, u64, u64, u64)], entry: u64, code: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; 64];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&2u16.to_le_bytes());
        f[18..20].copy_from_slice(&62u16.to_le_bytes());
        f[24..32].copy_from_slice(&entry.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        let data_off = 64 + 56 * segs.len() as u64;
        for &(flags, vaddr, filesz, memsz) in segs {
            let mut ph = vec![0u8; 56];
            ph[0..4].copy_from_slice(&PT_LOAD.to_le_bytes());
            ph[4..8].copy_from_slice(&flags.to_le_bytes());
            ph[8..16].copy_from_slice(&data_off.to_le_bytes());
            ph[16..24].copy_from_slice(&vaddr.to_le_bytes());
            ph[32..40].copy_from_slice(&filesz.to_le_bytes());
            ph[40..48].copy_from_slice(&memsz.to_le_bytes());
            f.extend_from_slice(&ph);
        }
        f.extend_from_slice(code);
        f
    }

    const MIN: u64 = 0x40_0000;
    const END: u64 = 0x8000_0000_0000;

    #[test]
    fn parses_a_good_executable() {
        let f = build(
            &[(PF_X | 4, 0x40_1000, 4, 4), (PF_W | 4, 0x40_2000, 0, 0x100)],
            0x40_1000,
            &[0xcc; 4],
        );
        let e = parse(&f, MIN, END).unwrap();
        assert_eq!(e.entry, 0x40_1000);
        assert_eq!(e.segments().len(), 2);
        assert!(e.segments()[0].exec && !e.segments()[0].write);
        assert!(e.segments()[1].write);
    }

    #[test]
    fn rejects_bad_files() {
        let good = build(&[(PF_X, 0x40_1000, 4, 4)], 0x40_1000, &[0; 4]);
        assert_eq!(
            parse(&good[..10], MIN, END).unwrap_err(),
            ElfError::Truncated
        );
        let mut f = good.clone();
        f[0] = 0;
        assert_eq!(parse(&f, MIN, END).unwrap_err(), ElfError::BadMagic);
        let mut f = good.clone();
        f[18] = 3;
        assert_eq!(parse(&f, MIN, END).unwrap_err(), ElfError::WrongArch);
        let mut f = good.clone();
        f[16] = 3;
        assert_eq!(parse(&f, MIN, END).unwrap_err(), ElfError::NotExecutable);
        // Kernel-half address.
        let f = build(
            &[(PF_X, 0xffff_8000_0000_0000, 4, 4)],
            0xffff_8000_0000_0000,
            &[0; 4],
        );
        assert_eq!(parse(&f, MIN, END).unwrap_err(), ElfError::OutOfRange);
        // File part larger than memory part.
        let f = build(&[(PF_X, 0x40_1000, 8, 4)], 0x40_1000, &[0; 8]);
        assert_eq!(parse(&f, MIN, END).unwrap_err(), ElfError::BadSegment);
        // File part past the end of the file.
        let f = build(&[(PF_X, 0x40_1000, 400, 400)], 0x40_1000, &[0; 4]);
        assert_eq!(parse(&f, MIN, END).unwrap_err(), ElfError::Truncated);
        // Overlapping segments.
        let f = build(
            &[(PF_X, 0x40_1000, 0, 0x2000), (PF_W, 0x40_2000, 0, 16)],
            0x40_1000,
            &[],
        );
        assert_eq!(parse(&f, MIN, END).unwrap_err(), ElfError::Overlap);
        // Entry outside executable code.
        let f = build(&[(PF_W, 0x40_1000, 0, 16)], 0x40_1000, &[]);
        assert_eq!(parse(&f, MIN, END).unwrap_err(), ElfError::BadEntry);
        // Overflowing size.
        let f = build(&[(PF_X, 0x40_1000, 0, u64::MAX)], 0x40_1000, &[]);
        assert_eq!(parse(&f, MIN, END).unwrap_err(), ElfError::OutOfRange);
    }

    #[test]
    fn mutated_files_never_panic() {
        let good = build(
            &[(PF_X | 4, 0x40_1000, 4, 4), (PF_W | 4, 0x40_2000, 0, 0x100)],
            0x40_1000,
            &[0xcc; 4],
        );
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..50_000 {
            let mut m = good.clone();
            for _ in 0..3 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % m.len();
                m[i] = (seed >> 40) as u8;
            }
            let _ = parse(&m, MIN, END);
            let _ = parse(&m[..(seed as usize) % m.len()], MIN, END);
        }
    }
}
