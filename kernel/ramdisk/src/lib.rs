//! The boot ramdisk: a `cpio` archive in the "newc" format (the one Linux initramfs uses),
//! carrying the user programs and the boot configuration (`boot.cfg`).
//!
//! The reader is `no_std` and never trusts the archive: every header field is parsed with
//! bounds checks and a malformed archive yields a [`RamdiskError`], never a panic. The
//! writer (feature `std`) is used by `xtask` to build the image.
#![cfg_attr(not(any(test, feature = "std")), no_std)]

/// Magic of a newc header.
const MAGIC: &[u8; 6] = b"070701";
/// Size of a newc header: magic plus 13 eight-digit hex fields.
const HEADER_LEN: usize = 110;
/// Name of the archive terminator entry.
const TRAILER: &str = "TRAILER!!!";

/// Why the archive could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RamdiskError {
    /// An entry header at this offset does not start with the newc magic.
    BadMagic(usize),
    /// A header field at this offset is not hexadecimal.
    BadField(usize),
    /// An entry at this offset runs past the end of the archive.
    Truncated(usize),
    /// A file name at this offset is not UTF-8 or not NUL-terminated.
    BadName(usize),
    /// The archive ends without a trailer entry.
    NoTrailer,
}

/// One file of the archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry<'a> {
    /// Path inside the archive.
    pub name: &'a str,
    /// Unix mode bits (file type and permissions).
    pub mode: u32,
    /// File contents.
    pub data: &'a [u8],
}

/// A parsed view of an archive in memory.
#[derive(Clone, Copy, Debug)]
pub struct Ramdisk<'a> {
    bytes: &'a [u8],
}

fn align4(x: usize) -> usize {
    (x + 3) & !3
}

fn hex_field(bytes: &[u8], at: usize) -> Result<u32, RamdiskError> {
    let field = bytes.get(at..at + 8).ok_or(RamdiskError::Truncated(at))?;
    let mut v = 0u32;
    for &c in field {
        let d = (c as char).to_digit(16).ok_or(RamdiskError::BadField(at))?;
        v = (v << 4) | d;
    }
    Ok(v)
}

impl<'a> Ramdisk<'a> {
    /// Check the whole archive and return a view of it.
    pub fn new(bytes: &'a [u8]) -> Result<Self, RamdiskError> {
        let rd = Ramdisk { bytes };
        let mut it = rd.raw_entries();
        loop {
            match it.next_entry()? {
                Some(_) => continue,
                None => return Ok(rd),
            }
        }
    }

    fn raw_entries(&self) -> RawIter<'a> {
        RawIter {
            bytes: self.bytes,
            pos: 0,
        }
    }

    /// The files of the archive (the archive was checked by [`Ramdisk::new`]).
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + 'a {
        let mut it = self.raw_entries();
        core::iter::from_fn(move || it.next_entry().ok().flatten())
    }

    /// The file called `name`, if present.
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.entries().find(|e| e.name == name).map(|e| e.data)
    }
}

struct RawIter<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> RawIter<'a> {
    fn next_entry(&mut self) -> Result<Option<Entry<'a>>, RamdiskError> {
        let at = self.pos;
        let b = self.bytes;
        if at >= b.len() {
            return Err(RamdiskError::NoTrailer);
        }
        let header = b
            .get(at..at + HEADER_LEN)
            .ok_or(RamdiskError::Truncated(at))?;
        if &header[..6] != MAGIC {
            return Err(RamdiskError::BadMagic(at));
        }
        let mode = hex_field(b, at + 14)?;
        let filesize = hex_field(b, at + 54)? as usize;
        let namesize = hex_field(b, at + 94)? as usize;
        let name_at = at + HEADER_LEN;
        let name_end = name_at
            .checked_add(namesize)
            .filter(|&e| e <= b.len() && namesize > 0)
            .ok_or(RamdiskError::Truncated(at))?;
        let raw_name = &b[name_at..name_end];
        let (last, name) = raw_name.split_last().ok_or(RamdiskError::BadName(at))?;
        if *last != 0 {
            return Err(RamdiskError::BadName(at));
        }
        let name = core::str::from_utf8(name).map_err(|_| RamdiskError::BadName(at))?;
        let data_at = align4(name_end);
        let data_end = data_at
            .checked_add(filesize)
            .filter(|&e| e <= b.len())
            .ok_or(RamdiskError::Truncated(at))?;
        self.pos = align4(data_end);
        if name == TRAILER {
            return Ok(None);
        }
        Ok(Some(Entry {
            name,
            mode,
            data: &b[data_at..data_end],
        }))
    }
}

/// Build an archive from `(name, contents)` pairs (regular files, mode 0644).
#[cfg(any(test, feature = "std"))]
pub fn write_archive<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ino = 1u32;
    let mut push = |out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]| {
        let fields = [
            ino,
            mode,
            0,
            0,
            1,
            0,
            data.len() as u32,
            0,
            0,
            0,
            0,
            name.len() as u32 + 1,
            0,
        ];
        ino += 1;
        out.extend_from_slice(MAGIC);
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        out.resize(align4(out.len()), 0);
        out.extend_from_slice(data);
        out.resize(align4(out.len()), 0);
    };
    for (name, data) in files {
        push(&mut out, name, 0o100644, data);
    }
    push(&mut out, TRAILER, 0, &[]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let a = write_archive([
            ("boot.cfg", &b"qemu_exit=1\n"[..]),
            ("bin/monitor", &[1, 2, 3][..]),
        ]);
        let rd = Ramdisk::new(&a).unwrap();
        let names: Vec<_> = rd.entries().map(|e| e.name).collect();
        assert_eq!(names, ["boot.cfg", "bin/monitor"]);
        assert_eq!(rd.get("bin/monitor"), Some(&[1u8, 2, 3][..]));
        assert_eq!(rd.get("missing"), None);
    }

    #[test]
    fn empty_archive_has_only_trailer() {
        let a = write_archive([]);
        assert_eq!(Ramdisk::new(&a).unwrap().entries().count(), 0);
    }

    #[test]
    fn malformed_archives_are_errors() {
        assert_eq!(Ramdisk::new(&[]).unwrap_err(), RamdiskError::NoTrailer);
        assert_eq!(
            Ramdisk::new(b"hello").unwrap_err(),
            RamdiskError::Truncated(0)
        );
        let good = write_archive([("a", &b"xyz"[..])]);
        let mut bad = good.clone();
        bad[0] = b'1';
        assert_eq!(Ramdisk::new(&bad).unwrap_err(), RamdiskError::BadMagic(0));
        let mut bad = good.clone();
        bad[60] = b'G';
        assert_eq!(Ramdisk::new(&bad).unwrap_err(), RamdiskError::BadField(54));
        // A file size pointing past the end.
        let mut bad = good.clone();
        bad[54..62].copy_from_slice(b"7FFFFFFF");
        assert_eq!(Ramdisk::new(&bad).unwrap_err(), RamdiskError::Truncated(0));
        // Cut off before the trailer.
        assert!(Ramdisk::new(&good[..good.len() - 8]).is_err());
    }

    #[test]
    fn mutated_archives_never_panic() {
        let good = write_archive([("boot.cfg", &b"a=b\n"[..]), ("x", &[0u8; 300][..])]);
        let mut seed = 0x1234_5678_9abc_def1u64;
        for _ in 0..20_000 {
            let mut m = good.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let i = (seed as usize) % m.len();
                m[i] = (seed >> 32) as u8;
            }
            if let Ok(rd) = Ramdisk::new(&m) {
                for e in rd.entries() {
                    let _ = e.data.len();
                }
            }
            let cut = (seed as usize) % good.len();
            let _ = Ramdisk::new(&good[..cut]);
        }
    }
}
