//! Line editor tests. Every test runs the editor's output through a small terminal model
//! ([`Term`]) and checks that the screen shows the prompt and the line with the cursor in the
//! right place.

use super::*;
use alloc::string::ToString;
use alloc::vec;

const PROMPT: &[u8] = b"> ";

/// A terminal understanding exactly the VT100 subset the editor may send, on an unbounded
/// screen width. Anything else in the output fails the test.
struct Term {
    rows: Vec<Vec<u8>>,
    col: usize,
}

impl Term {
    fn new() -> Self {
        let mut t = Term {
            rows: vec![Vec::new()],
            col: 0,
        };
        t.write(PROMPT);
        t
    }

    fn row(&self) -> &[u8] {
        self.rows.last().map(Vec::as_slice).unwrap_or(&[])
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            i += 1;
            let row = self.rows.last_mut().unwrap();
            match b {
                0x20..=0x7e => {
                    if row.len() < self.col {
                        row.resize(self.col, b' ');
                    }
                    if self.col < row.len() {
                        row[self.col] = b;
                    } else {
                        row.push(b);
                    }
                    self.col += 1;
                }
                b'\r' => self.col = 0,
                b'\n' => self.rows.push(Vec::new()),
                BS => {
                    assert!(self.col > 0, "BS at column 0");
                    self.col -= 1;
                }
                BEL => {}
                ESC => {
                    assert_eq!(bytes.get(i), Some(&b'['), "ESC not followed by [");
                    i += 1;
                    let start = i;
                    while i < bytes.len() && bytes[i].is_ascii_digit() {
                        i += 1;
                    }
                    let n: usize = if i == start {
                        1
                    } else {
                        core::str::from_utf8(&bytes[start..i])
                            .unwrap()
                            .parse()
                            .unwrap()
                    };
                    assert!(n > 0, "zero count in a cursor movement");
                    let fin = bytes.get(i).copied();
                    i += 1;
                    match fin {
                        Some(b'C') => self.col += n,
                        Some(b'D') => {
                            assert!(self.col >= n, "cursor moved left past column 0");
                            self.col -= n;
                        }
                        Some(b'K') => {
                            assert_eq!(i - start, 1, "ESC [ K takes no count");
                            row.truncate(self.col);
                        }
                        other => panic!("unexpected CSI final {other:?}"),
                    }
                }
                other => panic!("unexpected output byte {other:#x}"),
            }
        }
    }
}

/// An editor, its terminal, and the events so far.
struct Rig {
    ed: LineEditor,
    term: Term,
    events: Vec<Event>,
    /// Output of the last `feed`/`send` call.
    last_out: Vec<u8>,
}

impl Rig {
    fn new() -> Self {
        Self::with(LineEditor::new())
    }

    fn with(ed: LineEditor) -> Self {
        Rig {
            ed,
            term: Term::new(),
            events: Vec::new(),
            last_out: Vec::new(),
        }
    }

    /// Feeds bytes, checking the screen after each one.
    fn send(&mut self, bytes: &[u8]) -> &mut Self {
        self.last_out.clear();
        for &b in bytes {
            let mut out = Vec::new();
            let ev = self.ed.feed(b, &mut out);
            self.after(out, ev);
        }
        self
    }

    fn key(&mut self, k: Key) -> &mut Self {
        self.last_out.clear();
        let mut out = Vec::new();
        let ev = self.ed.key(k, &mut out);
        self.after(out, ev);
        self
    }

    fn after(&mut self, out: Vec<u8>, ev: Option<Event>) {
        self.term.write(&out);
        self.last_out.extend_from_slice(&out);
        if let Some(ev) = ev {
            assert!(self.term.row().is_empty(), "event but not on a fresh row");
            assert_eq!(self.term.col, 0);
            self.events.push(ev);
            self.term.write(PROMPT);
        }
        self.check();
    }

    fn check(&self) {
        let ed = &self.ed;
        assert!(ed.cursor() <= ed.len() && ed.len() <= ed.max_len());
        assert!(ed.line().bytes().all(|b| (0x20..=0x7e).contains(&b)));
        assert_eq!(ed.line().len(), ed.len());
        let mut want = PROMPT.to_vec();
        want.extend_from_slice(ed.line().as_bytes());
        assert_eq!(
            self.term.row(),
            want.as_slice(),
            "screen {:?} != {:?}",
            core::str::from_utf8(self.term.row()),
            ed.line()
        );
        assert_eq!(self.term.col, PROMPT.len() + ed.cursor(), "screen cursor");
    }

    fn line(&self) -> &str {
        self.ed.line()
    }

    fn cursor(&self) -> usize {
        self.ed.cursor()
    }

    fn lines(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Line(l) => Some(l.clone()),
                Event::Interrupted => None,
            })
            .collect()
    }
}

const LEFT: &[u8] = b"\x1b[D";
const RIGHT: &[u8] = b"\x1b[C";
const UP: &[u8] = b"\x1b[A";
const DOWN: &[u8] = b"\x1b[B";
const DEL: &[u8] = b"\x1b[3~";

#[test]
fn typing_and_enter() {
    let mut r = Rig::new();
    r.send(b"echo hi");
    assert_eq!(r.line(), "echo hi");
    assert_eq!(r.cursor(), 7);
    assert_eq!(r.last_out, b"echo hi");
    r.send(b"\r");
    assert_eq!(r.events, vec![Event::Line("echo hi".to_string())]);
    assert_eq!(r.last_out, b"\r\n");
    assert_eq!(r.line(), "");
    assert_eq!(r.cursor(), 0);
}

#[test]
fn enter_variants() {
    let mut r = Rig::new();
    r.send(b"a\r\nb\nc\rd\n\re\r\r");
    assert_eq!(r.lines(), vec!["a", "b", "c", "d", "", "e", ""]);
    // CR, then something else, then LF: two Enters.
    let mut r = Rig::new();
    r.send(b"\rx\n");
    assert_eq!(r.lines(), vec!["", "x"]);
    // LF LF is two lines.
    let mut r = Rig::new();
    r.send(b"\n\n");
    assert_eq!(r.lines(), vec!["", ""]);
}

#[test]
fn empty_enter() {
    let mut r = Rig::new();
    r.send(b"\r");
    assert_eq!(r.events, vec![Event::Line(String::new())]);
}

#[test]
fn backspace_del_and_bs() {
    let mut r = Rig::new();
    r.send(b"abc").send(b"\x7f");
    assert_eq!(r.line(), "ab");
    assert_eq!(r.last_out, b"\x08\x1b[K");
    r.send(b"\x08");
    assert_eq!(r.line(), "a");
    r.send(b"\x7f").send(b"\x7f\x08");
    assert_eq!(r.line(), "");
    assert!(r.last_out.is_empty(), "backspace at column 0 does nothing");
}

#[test]
fn backspace_in_the_middle() {
    let mut r = Rig::new();
    r.send(b"abcd").send(LEFT).send(LEFT).send(b"\x7f");
    assert_eq!(r.line(), "acd");
    assert_eq!(r.cursor(), 1);
    assert_eq!(r.last_out, b"\x08cd\x1b[K\x1b[2D");
}

#[test]
fn delete_key() {
    let mut r = Rig::new();
    r.send(b"abcd").send(b"\x01").send(DEL);
    assert_eq!(r.line(), "bcd");
    assert_eq!(r.cursor(), 0);
    assert_eq!(r.last_out, b"bcd\x1b[K\x1b[3D");
    r.send(RIGHT).send(RIGHT).send(DEL);
    assert_eq!(r.line(), "bc");
    assert_eq!(r.cursor(), 2);
    r.send(DEL);
    assert_eq!(r.line(), "bc", "delete at the end does nothing");
    assert!(r.last_out.is_empty());
}

#[test]
fn left_right() {
    let mut r = Rig::new();
    r.send(b"ab").send(LEFT);
    assert_eq!(r.cursor(), 1);
    assert_eq!(r.last_out, LEFT);
    r.send(LEFT).send(LEFT);
    assert_eq!(r.cursor(), 0);
    assert!(r.last_out.is_empty(), "left at the start does nothing");
    r.send(RIGHT);
    assert_eq!(r.cursor(), 1);
    assert_eq!(r.last_out, RIGHT);
    r.send(RIGHT).send(RIGHT);
    assert_eq!(r.cursor(), 2);
    assert!(r.last_out.is_empty(), "right at the end does nothing");
    // SS3 arrows and Ctrl-B / Ctrl-F.
    r.send(b"\x1bOD");
    assert_eq!(r.cursor(), 1);
    r.send(b"\x1bOC");
    assert_eq!(r.cursor(), 2);
    r.send(b"\x02\x02");
    assert_eq!(r.cursor(), 0);
    r.send(b"\x06");
    assert_eq!(r.cursor(), 1);
    // Ctrl-Right (with a modifier parameter) acts as Right.
    r.send(b"\x1b[1;5C");
    assert_eq!(r.cursor(), 2);
    assert_eq!(r.line(), "ab");
}

#[test]
fn home_end_all_spellings() {
    let homes: [&[u8]; 6] = [
        b"\x1b[H",
        b"\x1b[1~",
        b"\x1b[7~",
        b"\x1bOH",
        b"\x01",
        b"\x1b[1;2H",
    ];
    let ends: [&[u8]; 5] = [b"\x1b[F", b"\x1b[4~", b"\x1b[8~", b"\x1bOF", b"\x05"];
    for home in homes {
        let mut r = Rig::new();
        r.send(b"hello").send(LEFT).send(home);
        assert_eq!(r.cursor(), 0, "{home:?}");
        assert_eq!(r.last_out, b"\x1b[4D");
        r.send(home);
        assert!(r.last_out.is_empty(), "home at the start does nothing");
        assert_eq!(r.line(), "hello");
    }
    for end in ends {
        let mut r = Rig::new();
        r.send(b"hello").send(b"\x01").send(RIGHT).send(end);
        assert_eq!(r.cursor(), 5, "{end:?}");
        assert_eq!(r.last_out, b"\x1b[4C");
        r.send(end);
        assert!(r.last_out.is_empty());
        assert_eq!(r.line(), "hello");
    }
}

#[test]
fn insert_in_the_middle() {
    let mut r = Rig::new();
    r.send(b"helo").send(LEFT).send(b"l");
    assert_eq!(r.line(), "hello");
    assert_eq!(r.cursor(), 4);
    assert_eq!(r.last_out, b"lo\x1b[D");
    r.send(b"\x01").send(b"say ");
    assert_eq!(r.line(), "say hello");
    assert_eq!(r.cursor(), 4);
    r.send(b"\r");
    assert_eq!(
        r.lines(),
        vec!["say hello"],
        "enter mid-line takes the whole line"
    );
}

#[test]
fn kill_line() {
    let mut r = Rig::new();
    r.send(b"spawn foo").send(LEFT).send(LEFT).send(b"\x15");
    assert_eq!(r.line(), "");
    assert_eq!(r.cursor(), 0);
    assert_eq!(r.last_out, b"\x1b[7D\x1b[K");
    r.send(b"\x15");
    assert!(r.last_out.is_empty());
    r.send(b"ps\r");
    assert_eq!(r.lines(), vec!["ps"]);
}

#[test]
fn kill_to_end() {
    let mut r = Rig::new();
    r.send(b"abcdef")
        .send(b"\x01")
        .send(RIGHT)
        .send(RIGHT)
        .send(b"\x0b");
    assert_eq!(r.line(), "ab");
    assert_eq!(r.cursor(), 2);
    assert_eq!(r.last_out, b"\x1b[K");
    r.send(b"\x0b");
    assert!(r.last_out.is_empty());
}

#[test]
fn ctrl_c_abandons_the_line() {
    let mut r = Rig::new();
    r.send(b"reboot").send(LEFT).send(b"\x03");
    assert_eq!(r.events, vec![Event::Interrupted]);
    assert_eq!(r.line(), "");
    assert_eq!(r.cursor(), 0);
    assert_eq!(r.term.rows[0], b"> reboot^C");
    r.send(UP);
    assert_eq!(r.line(), "", "an abandoned line is not in the history");
    r.send(b"ps\r");
    assert_eq!(r.lines(), vec!["ps"]);
}

#[test]
fn line_length_is_bounded() {
    let mut r = Rig::with(LineEditor::with_limits(4, 8));
    r.send(b"abcd");
    r.send(b"e");
    assert_eq!(r.line(), "abcd");
    assert_eq!(r.last_out, [BEL]);
    r.send(b"\x01x");
    assert_eq!(r.line(), "abcd");
    assert_eq!(r.cursor(), 0);
    r.send(DEL).send(b"x");
    assert_eq!(r.line(), "xbcd");
    let mut r = Rig::new();
    r.send(&[b'x'; 300]);
    assert_eq!(r.ed.len(), MAX_LINE);
}

#[test]
fn history_navigation() {
    let mut r = Rig::new();
    r.send(b"one\rtwo\rthree\r");
    assert_eq!(r.ed.history().collect::<Vec<_>>(), ["one", "two", "three"]);
    r.send(b"dra").send(LEFT);
    r.send(UP);
    assert_eq!(r.line(), "three");
    assert_eq!(r.cursor(), 5);
    r.send(UP);
    assert_eq!(r.line(), "two");
    r.send(UP);
    assert_eq!(r.line(), "one");
    r.send(UP);
    assert_eq!(r.line(), "one", "up at the oldest entry stays");
    assert!(r.last_out.is_empty());
    r.send(DOWN);
    assert_eq!(r.line(), "two");
    r.send(DOWN).send(DOWN);
    assert_eq!(
        r.line(),
        "dra",
        "down past the newest entry restores the draft"
    );
    assert_eq!(r.cursor(), 3);
    r.send(DOWN);
    assert_eq!(r.line(), "dra");
    assert!(r.last_out.is_empty(), "down when not browsing does nothing");
    // SS3 and Ctrl-P / Ctrl-N.
    r.send(b"\x1bOA");
    assert_eq!(r.line(), "three");
    r.send(b"\x10");
    assert_eq!(r.line(), "two");
    r.send(b"\x0e");
    assert_eq!(r.line(), "three");
    r.send(b"\x1bOB");
    assert_eq!(r.line(), "dra");
}

#[test]
fn history_of_empty_draft_and_empty_history() {
    let mut r = Rig::new();
    r.send(UP).send(DOWN);
    assert_eq!(r.line(), "");
    assert!(r.last_out.is_empty());
    r.send(b"x\r").send(UP);
    assert_eq!(r.line(), "x");
    r.send(DOWN);
    assert_eq!(r.line(), "");
}

#[test]
fn editing_a_recalled_line() {
    let mut r = Rig::new();
    r.send(b"spawn foo\r");
    r.send(UP).send(b" --all");
    assert_eq!(r.line(), "spawn foo --all");
    r.send(b"\r");
    assert_eq!(r.lines(), vec!["spawn foo", "spawn foo --all"]);
    assert_eq!(
        r.ed.history().collect::<Vec<_>>(),
        ["spawn foo", "spawn foo --all"],
        "the recalled entry itself is unchanged"
    );
    // Edits to a recalled entry are dropped when moving on in the history.
    r.send(UP).send(b"\x15xyz").send(UP);
    assert_eq!(r.line(), "spawn foo");
    r.send(DOWN);
    assert_eq!(r.line(), "spawn foo --all");
    r.send(b"\x01").send(DEL).send(b"S\r");
    assert_eq!(
        r.lines().last().map(String::as_str),
        Some("Spawn foo --all")
    );
}

#[test]
fn history_skips_blanks_and_repeats() {
    let mut r = Rig::new();
    r.send(b"ps\rps\r\r   \rmem\rps\r");
    assert_eq!(r.ed.history().collect::<Vec<_>>(), ["ps", "mem", "ps"]);
}

#[test]
fn history_is_bounded() {
    let mut r = Rig::new();
    for i in 0..40 {
        r.send(alloc::format!("cmd{i}\r").as_bytes());
    }
    let h: Vec<_> = r.ed.history().collect();
    assert_eq!(h.len(), MAX_HISTORY);
    assert_eq!(h[0], "cmd8");
    assert_eq!(h[MAX_HISTORY - 1], "cmd39");
    for _ in 0..100 {
        r.send(UP);
    }
    assert_eq!(r.line(), "cmd8");
    let mut r = Rig::with(LineEditor::with_limits(16, 0));
    r.send(b"a\r").send(UP);
    assert_eq!(r.line(), "");
    assert_eq!(r.ed.history().count(), 0);
}

#[test]
fn unknown_escapes_are_swallowed() {
    let cases: [&[u8]; 12] = [
        b"\x1b[5~",        // Page Up
        b"\x1b[2~",        // Insert
        b"\x1b[~",         // no parameter
        b"\x1b[99999999~", // huge parameter
        b"\x1b[?25h",      // private
        b"\x1b[ q",        // intermediate
        b"\x1b[Z",         // Shift-Tab
        b"\x1bx",          // Alt-x
        b"\x1bOP",         // F1
        b"\x1b[15;2~",     // Shift-F5
        b"\x1b[3;5~",      // Ctrl-Delete: acts as Delete, at the end: nothing
        b"\x1b[>0c",       // device attributes
    ];
    for seq in cases {
        let mut r = Rig::new();
        r.send(b"ab").send(seq).send(b"c");
        assert_eq!(r.line(), "abc", "{seq:?}");
        assert_eq!(r.cursor(), 3);
        assert!(r.events.is_empty());
    }
}

#[test]
fn malformed_escapes_do_not_eat_control_keys() {
    // A control byte in the middle of a sequence drops the sequence and counts.
    let mut r = Rig::new();
    r.send(b"ab\x1b[1\r");
    assert_eq!(r.lines(), vec!["ab"]);
    let mut r = Rig::new();
    r.send(b"ab\x1b\x7f");
    assert_eq!(r.line(), "a");
    let mut r = Rig::new();
    r.send(b"ab\x1bO\x03");
    assert_eq!(r.events, vec![Event::Interrupted]);
    // ESC restarts a sequence.
    let mut r = Rig::new();
    r.send(b"ab\x1b[\x1b[D");
    assert_eq!(r.cursor(), 1);
    let mut r = Rig::new();
    r.send(b"ab\x1b\x1b[D");
    assert_eq!(r.cursor(), 1);
    // Bytes above 0x7e inside a sequence.
    let mut r = Rig::new();
    r.send(b"ab\x1b[\xc3\xa9D");
    assert_eq!(r.line(), "abD");
}

#[test]
fn overlong_escape_is_dropped() {
    let mut r = Rig::new();
    let mut seq = b"\x1b[".to_vec();
    seq.extend_from_slice(&[b'1'; 40]);
    r.send(&seq);
    assert_eq!(
        r.line(),
        "1111111",
        "digits after the dropped sequence are typed"
    );
    r.send(b"\x15x");
    assert_eq!(r.line(), "x");
}

#[test]
fn non_ascii_and_other_controls_ignored() {
    let mut r = Rig::new();
    r.send(b"a\xc3\xa9\x00\x04\x09\x0c\x1a\xffb");
    assert_eq!(r.line(), "ab");
    r.key(Key::Char(0x80)).key(Key::Char(b'\n'));
    assert_eq!(r.line(), "ab");
}

#[test]
fn key_api() {
    let mut r = Rig::new();
    for c in b"lspcx" {
        r.key(Key::Char(*c));
    }
    r.key(Key::Backspace)
        .key(Key::Char(b'i'))
        .key(Key::Home)
        .key(Key::Delete);
    assert_eq!(r.line(), "spci");
    r.key(Key::End).key(Key::Enter);
    assert_eq!(r.lines(), vec!["spci"]);
    r.key(Key::Up).key(Key::Interrupt);
    assert_eq!(r.events.last(), Some(&Event::Interrupted));
}

#[test]
fn redraw_restores_the_screen() {
    let mut r = Rig::new();
    r.send(b"kill 0x42").send(LEFT).send(LEFT);
    // The shell prints a message, then a new prompt, then asks for a redraw.
    r.term.write(b"\r\nmessage\r\n");
    r.term.write(PROMPT);
    let mut out = Vec::new();
    r.ed.redraw(&mut out);
    r.term.write(&out);
    r.check();
    assert_eq!(out, b"kill 0x42\x1b[2D");
}

#[test]
fn default_is_new() {
    let ed = LineEditor::default();
    assert_eq!(ed.max_len(), MAX_LINE);
    assert!(ed.is_empty());
}

/// xorshift64: a fixed pseudo-random sequence.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

/// Bytes that make escape sequences and edits likely.
const INTERESTING: &[u8] =
    b"\x1b\x1b\x1b[[[O0123456789;~~ABCDHF?\r\n\x7f\x08\x01\x05\x03\x15\x0babc ";

fn fuzz(ed: LineEditor, seed: u64, n: usize) -> Rig {
    let mut rng = XorShift(seed);
    let mut r = Rig::with(ed);
    let mut bytes = Vec::with_capacity(n);
    for _ in 0..n {
        let x = rng.next();
        let b = if x & 1 == 0 {
            (x >> 8) as u8
        } else {
            INTERESTING[((x >> 8) % INTERESTING.len() as u64) as usize]
        };
        bytes.push(b);
    }
    // `send` checks the screen and the invariants after every byte.
    r.send(&bytes);
    r
}

#[test]
fn fuzz_100k_random_bytes() {
    let r = fuzz(LineEditor::new(), 0x9e37_79b9_7f4a_7c15, 100_000);
    assert!(r.ed.history().count() <= MAX_HISTORY);
    assert!(!r.events.is_empty());
    for l in r.lines() {
        assert!(l.len() <= MAX_LINE);
    }
}

#[test]
fn fuzz_small_limits() {
    for seed in 1..=5u64 {
        let r = fuzz(LineEditor::with_limits(8, 3), seed, 20_000);
        assert!(r.ed.history().count() <= 3);
        for l in r.lines() {
            assert!(l.len() <= 8);
        }
    }
}
