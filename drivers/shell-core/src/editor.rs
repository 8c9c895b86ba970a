//! The line editor: turns terminal input bytes into edited lines.
//!
//! [`LineEditor::feed`] takes one byte received from the terminal, updates the line, and
//! appends to an output buffer the bytes to send back to the terminal so that what it shows
//! stays equal to the prompt followed by the line, with the terminal's cursor at the editor's
//! cursor. The output uses a small VT100 subset: printable ASCII, `\r`, `\n`, BS (`0x08`),
//! BEL (`0x07`, when a key is refused because the line is full), `ESC [ n C` / `ESC [ n D`
//! (cursor right / left by `n`) and `ESC [ K` (erase to the end of the line).
//!
//! Input understood (anything else is ignored; unknown or malformed escape sequences are
//! swallowed whole and leave the line untouched):
//!
//! | input                                   | key                                     |
//! |-----------------------------------------|-----------------------------------------|
//! | printable ASCII `0x20..=0x7e`           | insert at the cursor                    |
//! | DEL `0x7f`, BS `0x08`                   | [`Key::Backspace`]                      |
//! | `ESC [ 3 ~`                             | [`Key::Delete`]                         |
//! | `ESC [ D`, `ESC O D`, Ctrl-B            | [`Key::Left`]                           |
//! | `ESC [ C`, `ESC O C`, Ctrl-F            | [`Key::Right`]                          |
//! | `ESC [ H`, `ESC O H`, `ESC [ 1 ~`, `ESC [ 7 ~`, Ctrl-A | [`Key::Home`]            |
//! | `ESC [ F`, `ESC O F`, `ESC [ 4 ~`, `ESC [ 8 ~`, Ctrl-E | [`Key::End`]             |
//! | `ESC [ A`, `ESC O A`, Ctrl-P            | [`Key::Up`] (older history entry)       |
//! | `ESC [ B`, `ESC O B`, Ctrl-N            | [`Key::Down`] (newer entry / the draft) |
//! | Ctrl-U                                  | [`Key::KillLine`]                       |
//! | Ctrl-K                                  | [`Key::KillToEnd`]                      |
//! | Ctrl-C                                  | [`Key::Interrupt`]                      |
//! | CR, LF (CR LF counts once)              | [`Key::Enter`]                          |
//!
//! Arrow keys with modifiers (`ESC [ 1 ; 5 C`) act as the plain arrow.
//!
//! The editor does not know the prompt or the terminal's width: the caller prints the prompt
//! before the first byte of each line (and after each [`Event`]). Cursor movements are
//! relative and do not cross screen rows, so a prompt plus line wider than the terminal is
//! shown wrongly once it wraps; keep the prompt short (the line is at most [`MAX_LINE`]
//! bytes by default, so 80-column terminals can wrap).

use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;

/// Default maximum length of a line, in bytes (all characters are ASCII).
pub const MAX_LINE: usize = 256;

/// Default number of history entries kept; older entries are dropped.
pub const MAX_HISTORY: usize = 32;

/// Parameter and intermediate bytes of one CSI sequence, at most; a longer sequence is
/// abandoned (its bytes so far are dropped).
const MAX_CSI: usize = 32;

const ESC: u8 = 0x1b;
const BEL: u8 = 0x07;
const BS: u8 = 0x08;

/// An editing key, as decoded from terminal input by [`LineEditor::feed`] or produced directly
/// by a keyboard driver for [`LineEditor::key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// Insert this character at the cursor; only printable ASCII (`0x20..=0x7e`) is accepted,
    /// other values are ignored.
    Char(u8),
    /// Delete the character before the cursor.
    Backspace,
    /// Delete the character under the cursor.
    Delete,
    /// Move the cursor one character left.
    Left,
    /// Move the cursor one character right.
    Right,
    /// Move the cursor to the start of the line.
    Home,
    /// Move the cursor to the end of the line.
    End,
    /// Replace the line with the previous (older) history entry.
    Up,
    /// Replace the line with the next (newer) history entry, or with the line that was being
    /// edited before going up into the history.
    Down,
    /// Clear the whole line.
    KillLine,
    /// Delete from the cursor to the end of the line.
    KillToEnd,
    /// Abandon the line ([`Event::Interrupted`]).
    Interrupt,
    /// Finish the line ([`Event::Line`]).
    Enter,
}

/// What a key did, beyond editing the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Enter was pressed: the completed line (possibly empty). The editor starts a new, empty
    /// line; the terminal's cursor is at the start of a fresh row.
    Line(String),
    /// Ctrl-C: the line was abandoned (`^C` was echoed). The editor starts a new, empty line;
    /// the terminal's cursor is at the start of a fresh row.
    Interrupted,
}

/// Where the escape-sequence decoder is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decode {
    /// Not in an escape sequence.
    Ground,
    /// After ESC.
    Escape,
    /// After `ESC [`: `param` is the first numeric parameter (saturating), `more` says a `;`
    /// was seen (later parameters are ignored), `odd` says the sequence has private or
    /// intermediate bytes (it is then ignored), `len` counts its bytes.
    Csi {
        param: Option<u16>,
        more: bool,
        odd: bool,
        len: usize,
    },
    /// After `ESC O`.
    Ss3,
}

/// A line editor with history; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct LineEditor {
    /// The line: printable ASCII only, `buf.len() <= max_line`.
    buf: Vec<u8>,
    /// Cursor position, `cursor <= buf.len()`.
    cursor: usize,
    max_line: usize,
    /// Oldest first; no empty entries, no two equal neighbours.
    history: VecDeque<String>,
    max_history: usize,
    /// Index into `history` of the entry shown, while browsing.
    browsing: Option<usize>,
    /// The line being edited when browsing started.
    draft: Vec<u8>,
    decode: Decode,
    /// The previous input byte was CR (so an LF now is its partner, not a second Enter).
    after_cr: bool,
}

impl Default for LineEditor {
    fn default() -> Self {
        Self::new()
    }
}

impl LineEditor {
    /// An editor for lines of at most [`MAX_LINE`] bytes keeping [`MAX_HISTORY`] entries.
    pub fn new() -> Self {
        Self::with_limits(MAX_LINE, MAX_HISTORY)
    }

    /// An editor for lines of at most `max_line` bytes keeping `max_history` history entries
    /// (0 disables history).
    pub fn with_limits(max_line: usize, max_history: usize) -> Self {
        LineEditor {
            buf: Vec::new(),
            cursor: 0,
            max_line,
            history: VecDeque::new(),
            max_history,
            browsing: None,
            draft: Vec::new(),
            decode: Decode::Ground,
            after_cr: false,
        }
    }

    /// The line as edited so far.
    pub fn line(&self) -> &str {
        // Only printable ASCII is ever inserted, so this never fails.
        core::str::from_utf8(&self.buf).unwrap_or("")
    }

    /// The cursor position, in bytes from the start of the line (`<= len()`).
    pub fn cursor(&self) -> usize {
        self.cursor
    }

    /// The length of the line, in bytes (`<= max_len()`).
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// Whether the line is empty.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The maximum length of a line, in bytes.
    pub fn max_len(&self) -> usize {
        self.max_line
    }

    /// The history, oldest entry first.
    pub fn history(&self) -> impl Iterator<Item = &str> + '_ {
        self.history.iter().map(String::as_str)
    }

    /// Takes one byte received from the terminal. Appends to `out` the bytes to send to the
    /// terminal, and returns an [`Event`] when a line is finished or abandoned. Any byte
    /// sequence is accepted.
    pub fn feed(&mut self, b: u8, out: &mut Vec<u8>) -> Option<Event> {
        let after_cr = core::mem::replace(&mut self.after_cr, b == b'\r');
        let key = self.decode(b, after_cr)?;
        self.key(key, out)
    }

    /// Applies one key, for input that does not come as terminal bytes (a keyboard driver).
    /// Appends to `out` the bytes to send to the terminal and returns an [`Event`] when a line
    /// is finished or abandoned.
    pub fn key(&mut self, key: Key, out: &mut Vec<u8>) -> Option<Event> {
        match key {
            Key::Char(c) => self.insert(c, out),
            Key::Backspace => self.backspace(out),
            Key::Delete => self.delete(out),
            Key::Left => {
                if self.cursor > 0 {
                    self.cursor -= 1;
                    move_left(out, 1);
                }
            }
            Key::Right => {
                if self.cursor < self.buf.len() {
                    self.cursor += 1;
                    move_right(out, 1);
                }
            }
            Key::Home => {
                move_left(out, self.cursor);
                self.cursor = 0;
            }
            Key::End => {
                move_right(out, self.buf.len() - self.cursor);
                self.cursor = self.buf.len();
            }
            Key::Up => self.history_up(out),
            Key::Down => self.history_down(out),
            Key::KillLine => {
                if !self.buf.is_empty() {
                    self.replace_line(Vec::new(), out);
                }
            }
            Key::KillToEnd => {
                if self.cursor < self.buf.len() {
                    self.buf.truncate(self.cursor);
                    erase_to_end(out);
                }
            }
            Key::Interrupt => {
                move_right(out, self.buf.len() - self.cursor);
                out.extend_from_slice(b"^C\r\n");
                self.reset_line();
                return Some(Event::Interrupted);
            }
            Key::Enter => {
                out.extend_from_slice(b"\r\n");
                let line = String::from_utf8(core::mem::take(&mut self.buf)).unwrap_or_default();
                self.remember(&line);
                self.reset_line();
                return Some(Event::Line(line));
            }
        }
        None
    }

    /// Writes the line to `out` and puts the terminal's cursor at the editor's cursor,
    /// assuming the terminal's cursor is just after a freshly printed prompt. For redrawing
    /// the line after the shell printed something in the middle of editing.
    pub fn redraw(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.buf);
        move_left(out, self.buf.len() - self.cursor);
    }

    /// Decodes one input byte; `after_cr` says the previous byte was CR.
    fn decode(&mut self, b: u8, after_cr: bool) -> Option<Key> {
        match self.decode {
            Decode::Ground => {}
            Decode::Escape => match b {
                b'[' => {
                    self.decode = Decode::Csi {
                        param: None,
                        more: false,
                        odd: false,
                        len: 0,
                    };
                    return None;
                }
                b'O' => {
                    self.decode = Decode::Ss3;
                    return None;
                }
                // Alt + key, or a two-byte escape we do not know: swallow it.
                0x20..=0x7e => {
                    self.decode = Decode::Ground;
                    return None;
                }
                // A control byte interrupts the sequence and counts on its own.
                _ => self.decode = Decode::Ground,
            },
            Decode::Csi {
                param,
                more,
                odd,
                len,
            } => {
                let grown = len + 1;
                if grown > MAX_CSI && matches!(b, 0x20..=0x3f) {
                    // Too long to be anything we know: drop it.
                    self.decode = Decode::Ground;
                    return None;
                }
                match b {
                    b'0'..=b'9' => {
                        let param = if more {
                            param
                        } else {
                            let digit = u16::from(b - b'0');
                            Some(param.unwrap_or(0).saturating_mul(10).saturating_add(digit))
                        };
                        self.decode = Decode::Csi {
                            param,
                            more,
                            odd,
                            len: grown,
                        };
                        return None;
                    }
                    b';' => {
                        self.decode = Decode::Csi {
                            param,
                            more: true,
                            odd,
                            len: grown,
                        };
                        return None;
                    }
                    // Private parameter bytes and intermediate bytes: a sequence we ignore.
                    0x20..=0x2f | 0x3a..=0x3f => {
                        self.decode = Decode::Csi {
                            param,
                            more,
                            odd: true,
                            len: grown,
                        };
                        return None;
                    }
                    0x40..=0x7e => {
                        self.decode = Decode::Ground;
                        return if odd { None } else { csi_key(b, param) };
                    }
                    // Malformed: drop the sequence, the byte counts on its own.
                    _ => self.decode = Decode::Ground,
                }
            }
            Decode::Ss3 => {
                self.decode = Decode::Ground;
                if (0x20..=0x7e).contains(&b) {
                    return match b {
                        b'A' => Some(Key::Up),
                        b'B' => Some(Key::Down),
                        b'C' => Some(Key::Right),
                        b'D' => Some(Key::Left),
                        b'H' => Some(Key::Home),
                        b'F' => Some(Key::End),
                        _ => None,
                    };
                }
                // A control byte interrupts the sequence and counts on its own.
            }
        }
        // Ground state.
        match b {
            ESC => {
                self.decode = Decode::Escape;
                None
            }
            0x20..=0x7e => Some(Key::Char(b)),
            0x7f | BS => Some(Key::Backspace),
            b'\r' => Some(Key::Enter),
            b'\n' if after_cr => None,
            b'\n' => Some(Key::Enter),
            0x01 => Some(Key::Home),
            0x02 => Some(Key::Left),
            0x03 => Some(Key::Interrupt),
            0x05 => Some(Key::End),
            0x06 => Some(Key::Right),
            0x0b => Some(Key::KillToEnd),
            0x0e => Some(Key::Down),
            0x10 => Some(Key::Up),
            0x15 => Some(Key::KillLine),
            _ => None,
        }
    }

    fn insert(&mut self, c: u8, out: &mut Vec<u8>) {
        if !(0x20..=0x7e).contains(&c) {
            return;
        }
        if self.buf.len() >= self.max_line {
            out.push(BEL);
            return;
        }
        self.buf.insert(self.cursor, c);
        self.cursor += 1;
        out.push(c);
        let tail = &self.buf[self.cursor..];
        out.extend_from_slice(tail);
        move_left(out, tail.len());
    }

    fn backspace(&mut self, out: &mut Vec<u8>) {
        if self.cursor == 0 {
            return;
        }
        self.cursor -= 1;
        self.buf.remove(self.cursor);
        out.push(BS);
        self.redraw_tail(out);
    }

    fn delete(&mut self, out: &mut Vec<u8>) {
        if self.cursor == self.buf.len() {
            return;
        }
        self.buf.remove(self.cursor);
        self.redraw_tail(out);
    }

    /// Redraws from the cursor to the end of the line, erases what was beyond it, and puts the
    /// terminal's cursor back.
    fn redraw_tail(&self, out: &mut Vec<u8>) {
        let tail = &self.buf[self.cursor..];
        out.extend_from_slice(tail);
        erase_to_end(out);
        move_left(out, tail.len());
    }

    /// Replaces the whole line with `new`, leaving the cursor at its end.
    fn replace_line(&mut self, mut new: Vec<u8>, out: &mut Vec<u8>) {
        new.truncate(self.max_line);
        move_left(out, self.cursor);
        out.extend_from_slice(&new);
        erase_to_end(out);
        self.cursor = new.len();
        self.buf = new;
    }

    fn history_up(&mut self, out: &mut Vec<u8>) {
        let pos = match self.browsing {
            None if self.history.is_empty() => return,
            None => {
                self.draft = self.buf.clone();
                self.history.len() - 1
            }
            Some(0) => return,
            Some(p) => p - 1,
        };
        self.show_entry(pos, out);
    }

    fn history_down(&mut self, out: &mut Vec<u8>) {
        let Some(p) = self.browsing else {
            return;
        };
        if p + 1 < self.history.len() {
            self.show_entry(p + 1, out);
        } else {
            self.browsing = None;
            let draft = core::mem::take(&mut self.draft);
            self.replace_line(draft, out);
        }
    }

    fn show_entry(&mut self, pos: usize, out: &mut Vec<u8>) {
        let Some(entry) = self.history.get(pos) else {
            self.browsing = None;
            return;
        };
        let entry = entry.as_bytes().to_vec();
        self.browsing = Some(pos);
        self.replace_line(entry, out);
    }

    /// Adds a finished line to the history (not blank lines, not a repeat of the last entry).
    fn remember(&mut self, line: &str) {
        if self.max_history == 0 || line.trim().is_empty() {
            return;
        }
        if self.history.back().map(String::as_str) == Some(line) {
            return;
        }
        while self.history.len() >= self.max_history {
            self.history.pop_front();
        }
        self.history.push_back(String::from(line));
    }

    fn reset_line(&mut self) {
        self.buf.clear();
        self.cursor = 0;
        self.browsing = None;
        self.draft.clear();
    }
}

/// The key meant by a CSI sequence with final byte `fin` and first parameter `param`.
fn csi_key(fin: u8, param: Option<u16>) -> Option<Key> {
    match fin {
        b'A' => Some(Key::Up),
        b'B' => Some(Key::Down),
        b'C' => Some(Key::Right),
        b'D' => Some(Key::Left),
        b'H' => Some(Key::Home),
        b'F' => Some(Key::End),
        b'~' => match param {
            Some(1 | 7) => Some(Key::Home),
            Some(3) => Some(Key::Delete),
            Some(4 | 8) => Some(Key::End),
            _ => None,
        },
        _ => None,
    }
}

fn move_left(out: &mut Vec<u8>, n: usize) {
    cursor_move(out, n, b'D');
}

fn move_right(out: &mut Vec<u8>, n: usize) {
    cursor_move(out, n, b'C');
}

/// `ESC [ n dir`; nothing for `n == 0` (VT100 reads a 0 count as 1).
fn cursor_move(out: &mut Vec<u8>, n: usize, dir: u8) {
    if n == 0 {
        return;
    }
    out.extend_from_slice(&[ESC, b'[']);
    if n > 1 {
        push_decimal(out, n);
    }
    out.push(dir);
}

fn erase_to_end(out: &mut Vec<u8>) {
    out.extend_from_slice(&[ESC, b'[', b'K']);
}

fn push_decimal(out: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

#[cfg(test)]
mod tests;
