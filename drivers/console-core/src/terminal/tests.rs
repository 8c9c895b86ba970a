use super::*;

fn term(cols: usize, rows: usize, input: &[u8]) -> Terminal {
    let mut t = Terminal::new(cols, rows);
    t.feed(input);
    t
}

fn screen(t: &Terminal) -> Vec<String> {
    (0..t.rows()).map(|r| t.row_text(r)).collect()
}

/// A small deterministic pseudo-random generator (xorshift64*) for the robustness tests.
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub(crate) fn byte(&mut self) -> u8 {
        (self.next() >> 56) as u8
    }
}

#[test]
fn printable_and_high_bytes() {
    let t = term(10, 2, b"hi \x80\xff~");
    assert_eq!(t.row_text(0), "hi ??~");
    assert_eq!(t.cell(0, 0), Some('h'));
    assert_eq!(t.cell(10, 0), None);
    assert_eq!(t.cell(0, 2), None);
    assert_eq!(t.cursor(), (6, 0));
    assert_eq!((t.cols(), t.rows()), (10, 2));
}

#[test]
fn cr_lf_and_bare_lf() {
    let t = term(10, 4, b"ab\r\ncd\nef\rX");
    assert_eq!(screen(&t), ["ab", "cd", "Xf", ""]);
    assert_eq!(t.cursor(), (1, 2));
}

#[test]
fn backspace_moves_without_erasing() {
    let t = term(10, 1, b"abc\x08\x08");
    assert_eq!(t.row_text(0), "abc");
    assert_eq!(t.cursor(), (1, 0));
    let t = term(10, 1, b"\x08\x08x");
    assert_eq!(t.row_text(0), "x");
}

#[test]
fn tabs_stop_at_multiples_of_eight_and_the_last_column() {
    let t = term(20, 1, b"\tx\ty");
    assert_eq!(t.cell(8, 0), Some('x'));
    assert_eq!(t.cell(16, 0), Some('y'));
    let mut t = term(20, 1, b"1234567\t");
    assert_eq!(t.cursor(), (8, 0));
    t.feed(b"\t\t\t");
    assert_eq!(t.cursor(), (19, 0));
}

#[test]
fn wrapping_is_deferred() {
    let mut t = term(4, 3, b"abcd");
    assert_eq!(t.cursor(), (3, 0));
    assert_eq!(t.row_text(1), "");
    t.feed(b"\r\nx");
    assert_eq!(screen(&t), ["abcd", "x", ""]);
    let t = term(4, 3, b"abcdef");
    assert_eq!(screen(&t), ["abcd", "ef", ""]);
    assert_eq!(t.cursor(), (2, 1));
}

#[test]
fn editor_backspace_at_the_right_margin() {
    // The line editor erases the last character with BS, ESC [ K.
    let t = term(4, 2, b"abcd\x08\x1b[K");
    assert_eq!(t.row_text(0), "abc");
    assert_eq!(t.cursor(), (3, 0));
}

#[test]
fn scrolling_moves_content_up() {
    let mut t = term(5, 3, b"1\r\n2\r\n3");
    t.take_damage();
    t.feed(b"\r\n4");
    assert_eq!(screen(&t), ["2", "3", "4"]);
    assert_eq!(t.cursor(), (1, 2));
    assert!(t.take_damage().all);
    t.feed(b"\n\n\n\n");
    assert_eq!(screen(&t), ["", "", ""]);
}

#[test]
fn erase_in_line() {
    let t = term(10, 1, b"abcdef\x1b[3D\x1b[K");
    assert_eq!(t.row_text(0), "abc");
    assert_eq!(t.cursor(), (3, 0));
    let t = term(10, 1, b"abcdef\x1b[3D\x1b[1K");
    assert_eq!(t.row_text(0), "    ef");
    let t = term(10, 1, b"abcdef\x1b[3D\x1b[2K");
    assert_eq!(t.row_text(0), "");
    assert_eq!(t.cursor(), (3, 0));
}

#[test]
fn cursor_movement_defaults_and_clamps() {
    let mut t = term(10, 5, b"abcdef\x1b[D");
    assert_eq!(t.cursor(), (5, 0));
    t.feed(b"\x1b[0D");
    assert_eq!(t.cursor(), (4, 0));
    t.feed(b"\x1b[100D");
    assert_eq!(t.cursor(), (0, 0));
    t.feed(b"\x1b[3C\x1b[C");
    assert_eq!(t.cursor(), (4, 0));
    t.feed(b"\x1b[99C");
    assert_eq!(t.cursor(), (9, 0));
    t.feed(b"\x1b[2B");
    assert_eq!(t.cursor(), (9, 2));
    t.feed(b"\x1b[B\x1b[9B");
    assert_eq!(t.cursor(), (9, 4));
    t.feed(b"\x1b[A");
    assert_eq!(t.cursor(), (9, 3));
    t.feed(b"\x1b[99999999999999999999A");
    assert_eq!(t.cursor(), (9, 0));
}

#[test]
fn cursor_position() {
    let mut t = term(10, 5, b"\x1b[3;4Hx");
    assert_eq!(t.cell(3, 2), Some('x'));
    t.feed(b"\x1b[H");
    assert_eq!(t.cursor(), (0, 0));
    t.feed(b"\x1b[2H");
    assert_eq!(t.cursor(), (0, 1));
    t.feed(b"\x1b[;5H");
    assert_eq!(t.cursor(), (4, 0));
    t.feed(b"\x1b[99;99f");
    assert_eq!(t.cursor(), (9, 4));
    t.feed(b"\x1b[0;0H");
    assert_eq!(t.cursor(), (0, 0));
}

#[test]
fn erase_in_display() {
    let fill = b"aaa\r\nbbb\r\nccc\x1b[2;2H";
    let t = term(3, 3, &[&fill[..], b"\x1b[J"].concat());
    assert_eq!(screen(&t), ["aaa", "b", ""]);
    let t = term(3, 3, &[&fill[..], b"\x1b[1J"].concat());
    assert_eq!(screen(&t), ["", "  b", "ccc"]);
    let mut t = term(3, 3, &[&fill[..], b"\x1b[2J"].concat());
    assert_eq!(screen(&t), ["", "", ""]);
    assert_eq!(t.cursor(), (1, 1));
    assert!(t.take_damage().all);
}

#[test]
fn sgr_and_unknown_sequences_are_swallowed() {
    let t = term(
        20,
        1,
        b"\x1b[1;31mred\x1b[0m \x1b[mX\x1b[?25lY\x1b[5~Z\x1bOD\x1b7W",
    );
    assert_eq!(t.row_text(0), "red XYZDW");
    // CAN aborts a sequence, ESC restarts one, DEL inside is ignored.
    let t = term(20, 1, b"ab\x1b[3\x18D\x1b[\x1b[\x7f2Dc");
    assert_eq!(t.row_text(0), "acD");
    // A high byte aborts a CSI sequence and is dropped.
    let t = term(20, 1, b"\x1b[2\xffx");
    assert_eq!(t.row_text(0), "x");
    // Controls act inside a sequence.
    let t = term(20, 1, b"ab\x1b[\rCx");
    assert_eq!(t.row_text(0), "ax");
}

#[test]
fn sequences_split_across_feeds() {
    let input = b"hello\x1b[3Dxy\x1b[K\x1b[1;31m!\x1b[2;1Hz\x1b[12C\x1b[0K";
    let whole = term(20, 3, input);
    for split in 0..input.len() {
        let mut t = Terminal::new(20, 3);
        t.feed(&input[..split]);
        t.feed(&input[split..]);
        assert_eq!(screen(&t), screen(&whole), "split at {split}");
        assert_eq!(t.cursor(), whole.cursor());
    }
    let mut t = Terminal::new(20, 3);
    input.iter().for_each(|&b| t.feed(&[b]));
    assert_eq!(screen(&t), ["hexy!", "z", ""]);
    assert_eq!(t.cursor(), (13, 1));
}

#[test]
fn damage_tracks_rows_and_cursor() {
    let mut t = Terminal::new(10, 4);
    let d = t.take_damage();
    assert!(d.all && d.row(3));
    assert!(t.take_damage().is_empty());

    t.feed(b"\x1b[3;1Hab");
    let d = t.take_damage();
    assert!(!d.all);
    assert_eq!(d.rows().collect::<Vec<_>>(), [2]);
    assert_eq!((d.old_cursor, d.cursor), ((0, 0), (2, 2)));
    assert!(!d.row(99));

    t.feed(b"\x1b[D");
    let d = t.take_damage();
    assert_eq!(d.rows().count(), 0);
    assert!(!d.is_empty());
    assert_eq!((d.old_cursor, d.cursor), ((2, 2), (1, 2)));

    t.feed(b"\x1b[H\x1b[K\x1b[4;1Hz");
    assert_eq!(t.take_damage().rows().collect::<Vec<_>>(), [0, 3]);
}

#[test]
fn degenerate_sizes() {
    let mut t = Terminal::new(0, 0);
    assert_eq!((t.cols(), t.rows()), (1, 1));
    t.feed(b"abc\tx\r\n\x08\x1b[5A\x1b[5B\x1b[5C\x1b[1K\x1b[J\x1b[1J");
    assert_eq!(t.cursor(), (0, 0));
    assert_eq!(Terminal::new(usize::MAX, 1).cols(), MAX_SIZE);
}

#[test]
fn random_bytes_never_panic() {
    const INTERESTING: &[u8] = b"[;0123456789ABCDHJKfm?\r\n\x08\t";
    let mut rng = Rng::new(0x5eed);
    for size in [(1, 1), (2, 3), (80, 25), (7, 1)] {
        let mut t = Terminal::new(size.0, size.1);
        for _ in 0..2000 {
            let len = (rng.next() % 16) as usize;
            let bytes: Vec<u8> = (0..len)
                .map(|_| match rng.next() % 4 {
                    // Bias towards the interesting bytes.
                    0 => ESC,
                    1 => INTERESTING[rng.next() as usize % INTERESTING.len()],
                    _ => rng.byte(),
                })
                .collect();
            t.feed(&bytes);
            let (col, row) = t.cursor();
            assert!(col < t.cols() && row < t.rows());
            let d = t.take_damage();
            assert!(d.cursor.0 < t.cols() && d.cursor.1 < t.rows());
        }
        for r in 0..t.rows() {
            assert!(t.row_text(r).bytes().all(|b| (0x20..0x7f).contains(&b)));
        }
    }
}
