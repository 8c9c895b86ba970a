//! The kernel log a CPU driver keeps in memory, so that what it logged can be read back
//! after the fact (the shell's `dmesg`), whatever the console shows: after the hand-over of
//! the screen to the user-level console driver the log goes to the serial port only.
//!
//! A [`LogRing`] holds the newest bytes of the log, whole lines only: when a line does not
//! fit, the oldest lines are dropped. Every byte ever written has a position (bytes written
//! before it), so a reader asks for the bytes from position `p` on and learns where what it
//! got starts: later than `p` when the bytes at `p` were dropped meanwhile. Lines longer
//! than [`LogRing::max_line`] are cut to that many bytes, the last one `~`.
//!
//! The ring's memory is given to it ([`LogRing::new`] takes a buffer): the CPU driver
//! allocates it once, from its own heap, before it logs through it.
#![cfg_attr(not(test), no_std)]

/// A ring of whole log lines over a buffer `B` (its bytes). Writes go through
/// [`core::fmt::Write`]; a line ends at `\n`.
pub struct LogRing<B> {
    buf: B,
    /// Position of the oldest byte held (always a line's first byte).
    start: u64,
    /// Position after the newest byte.
    end: u64,
    /// Bytes of the line being written so far.
    line: usize,
}

/// What [`LogRing::read`] copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// Position of the first byte copied (later than asked when those bytes were dropped).
    pub from: u64,
    /// Bytes copied.
    pub len: usize,
}

impl Chunk {
    /// Position after the last byte copied: where to read on.
    pub fn next(&self) -> u64 {
        self.from + self.len as u64
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> LogRing<B> {
    /// An empty ring over `buf` (a ring of 0 bytes keeps nothing).
    pub fn new(buf: B) -> LogRing<B> {
        LogRing {
            buf,
            start: 0,
            end: 0,
            line: 0,
        }
    }

    fn capacity(&self) -> usize {
        self.buf.as_ref().len()
    }

    /// The longest line kept whole: a quarter of the ring.
    pub fn max_line(&self) -> usize {
        self.capacity() / 4
    }

    /// Positions of the oldest byte held and after the newest.
    pub fn span(&self) -> (u64, u64) {
        (self.start, self.end)
    }

    fn at(&self, pos: u64) -> u8 {
        let n = self.capacity() as u64;
        self.buf.as_ref()[(pos % n) as usize]
    }

    /// Drop whole lines from the front until `room` more bytes fit.
    fn make_room(&mut self, room: usize) {
        let n = self.capacity() as u64;
        while self.end - self.start + room as u64 > n {
            // Past the oldest line's `\n`; if the only line held is the one being written
            // (longer than the ring), everything goes.
            let mut p = self.start;
            while p < self.end && self.at(p) != b'\n' {
                p += 1;
            }
            self.start = (p + 1).min(self.end);
            if self.start == self.end {
                break;
            }
        }
    }

    fn push(&mut self, b: u8) {
        let n = self.capacity() as u64;
        if n == 0 {
            return;
        }
        self.make_room(1);
        let i = (self.end % n) as usize;
        self.buf.as_mut()[i] = b;
        self.end += 1;
    }

    /// Append `bytes` (part of a line or several lines).
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        let max = self.max_line();
        for &b in bytes {
            if b == b'\n' {
                self.push(b);
                self.line = 0;
                continue;
            }
            // Cut long lines: the last kept byte becomes `~`.
            if self.line + 1 == max {
                self.push(b'~');
            }
            if self.line + 1 < max {
                self.push(b);
            }
            self.line = self.line.saturating_add(1);
        }
    }

    /// Copy the bytes from position `pos` on into `out` (as many as fit and are held).
    pub fn read(&self, pos: u64, out: &mut [u8]) -> Chunk {
        let from = pos.clamp(self.start, self.end);
        let len = ((self.end - from) as usize).min(out.len());
        for (i, o) in out[..len].iter_mut().enumerate() {
            *o = self.at(from + i as u64);
        }
        Chunk { from, len }
    }
}

impl<B: AsRef<[u8]> + AsMut<[u8]>> core::fmt::Write for LogRing<B> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::fmt::Write;

    fn all(r: &LogRing<Vec<u8>>, pos: u64) -> (u64, String) {
        let mut out = vec![0u8; 1 << 16];
        let c = r.read(pos, &mut out);
        (c.from, String::from_utf8(out[..c.len].to_vec()).unwrap())
    }

    #[test]
    fn lines_are_read_back_from_any_position() {
        let mut r = LogRing::new(vec![0u8; 64]);
        writeln!(r, "one").unwrap();
        writeln!(r, "two {}", 2).unwrap();
        assert_eq!(all(&r, 0), (0, "one\ntwo 2\n".into()));
        assert_eq!(all(&r, 4), (4, "two 2\n".into()));
        // Past the end: nothing, at the end.
        assert_eq!(all(&r, 99), (10, String::new()));
        // Small reads continue where the last one stopped.
        let mut out = [0u8; 3];
        let c = r.read(0, &mut out);
        assert_eq!((c.from, c.len, &out), (0, 3, b"one"));
        let c = r.read(c.next(), &mut out);
        assert_eq!((c.from, c.len, &out), (3, 3, b"\ntw"));
    }

    #[test]
    fn old_lines_make_room_whole() {
        let mut r = LogRing::new(vec![0u8; 32]);
        for i in 0..10 {
            writeln!(r, "line {i}").unwrap();
        }
        // 7 bytes a line; 4 fit in 32 bytes.
        let (from, text) = all(&r, 0);
        assert_eq!(text, "line 6\nline 7\nline 8\nline 9\n");
        assert_eq!(from, 42);
        assert_eq!(r.span(), (42, 70));
        // A reader that was at a dropped position learns where the text now starts.
        assert_eq!(all(&r, 40).0, 42);
    }

    #[test]
    fn long_lines_are_cut_and_a_partial_line_is_kept() {
        let mut r = LogRing::new(vec![0u8; 40]);
        writeln!(r, "{}", "x".repeat(100)).unwrap();
        write!(r, "half").unwrap();
        let (_, text) = all(&r, 0);
        assert_eq!(text, format!("{}~\nhalf", "x".repeat(9)));
        writeln!(r, " done").unwrap();
        assert!(all(&r, 0).1.ends_with("half done\n"));
    }

    #[test]
    fn an_empty_ring_keeps_nothing() {
        let mut r = LogRing::new(Vec::new());
        writeln!(r, "lost").unwrap();
        assert_eq!(all(&r, 0), (0, String::new()));
    }

    #[test]
    fn wrapping_many_times_keeps_the_newest_lines_in_order() {
        let mut r = LogRing::new(vec![0u8; 100]);
        for i in 0..1000 {
            writeln!(r, "{i}").unwrap();
        }
        let (_, text) = all(&r, 0);
        let nums: Vec<u32> = text.lines().map(|l| l.parse().unwrap()).collect();
        assert_eq!(*nums.last().unwrap(), 999);
        assert!(nums.windows(2).all(|w| w[1] == w[0] + 1));
        assert!(text.len() <= 100 && text.len() > 90);
    }
}
