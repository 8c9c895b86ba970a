//! The text terminal: a grid of character cells fed the bytes a program writes.
//!
//! [`Terminal::feed`] interprets its bytes as follows (anything else is ignored; unknown or
//! malformed escape sequences are swallowed whole, also when split across calls):
//!
//! | input                          | effect                                                 |
//! |--------------------------------|--------------------------------------------------------|
//! | printable ASCII `0x20..=0x7e`  | written at the cursor, which advances                  |
//! | bytes `0x80..=0xff`            | written as `?`                                         |
//! | CR `\r`                        | cursor to column 0                                     |
//! | LF `\n`                        | cursor to column 0 of the next row (scrolls at the end)|
//! | BS `0x08`                      | cursor left by one, nothing erased                     |
//! | TAB `\t`                       | cursor to the next multiple of 8 (at most the last column) |
//! | `ESC [ n A` / `B` / `C` / `D`  | cursor up / down / right / left by `n` (default 1), clamped |
//! | `ESC [ row ; col H` (or `f`)   | cursor to the 1-based position (default 1;1), clamped  |
//! | `ESC [ n K`                    | erase to the end (0, default), start (1) or whole (2) of the row |
//! | `ESC [ n J`                    | erase to the end (0, default), start (1) or whole (2) of the screen |
//! | `ESC [ ... m`                  | SGR (colours, bold...): accepted and ignored           |
//!
//! Wrapping is deferred as on a VT100: writing the last column of a row leaves the cursor
//! *past* it, and only the next printable byte moves to the next row, so writing exactly
//! `cols` characters followed by `\r\n` advances one row, not two. While past the end, the
//! cursor is shown on the last column, and BS or `ESC [ n D` count from the column after it
//! (as a line editor that does not know the width expects).
//!
//! Every change is recorded until [`Terminal::take_damage`] returns it as a [`Damage`].

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

const ESC: u8 = 0x1b;
/// Parameters of one CSI sequence kept; further ones are ignored.
const MAX_PARAMS: usize = 4;
/// Largest parameter value kept; larger values saturate.
const MAX_PARAM: u32 = 9999;
const TAB_STOP: usize = 8;
/// Largest number of columns or rows; larger sizes are reduced to it.
pub const MAX_SIZE: usize = 4096;

/// Where the escape sequence parser is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Not in a sequence.
    Ground,
    /// After ESC.
    Escape,
    /// After `ESC [`.
    Csi,
}

/// What changed since the previous [`Terminal::take_damage`]: the rows whose cells changed,
/// and the cursor's previous and current positions (so a renderer can erase the old cursor
/// and draw the new one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Damage {
    /// Every row must be redrawn (after scrolling, clearing the screen, or on the first call).
    pub all: bool,
    rows: Vec<bool>,
    /// The cursor's `(col, row)` at the previous [`Terminal::take_damage`].
    pub old_cursor: (usize, usize),
    /// The cursor's `(col, row)` now.
    pub cursor: (usize, usize),
}

impl Damage {
    /// Whether `row` must be redrawn (false for rows outside the terminal unless
    /// [`Damage::all`]).
    pub fn row(&self, row: usize) -> bool {
        self.all || self.rows.get(row).copied().unwrap_or(false)
    }

    /// The rows to redraw, in increasing order.
    pub fn rows(&self) -> impl Iterator<Item = usize> + '_ {
        (0..self.rows.len()).filter(|&r| self.row(r))
    }

    /// Nothing changed, not even the cursor position.
    pub fn is_empty(&self) -> bool {
        !self.all && !self.rows.contains(&true) && self.old_cursor == self.cursor
    }
}

/// A `cols` x `rows` grid of ASCII cells with a cursor, interpreting a VT100 subset (see the
/// [module documentation](self)).
#[derive(Clone, Debug)]
pub struct Terminal {
    cols: usize,
    rows: usize,
    /// Row-major, `cols * rows` bytes, all printable ASCII.
    cells: Vec<u8>,
    /// `0..=cols`; `cols` means "past the last column" (deferred wrap).
    col: usize,
    /// `0..rows`.
    row: usize,
    state: State,
    params: [u32; MAX_PARAMS],
    /// Index of the parameter being read (`MAX_PARAMS` once they are all used).
    param: usize,
    /// The sequence has private markers or intermediates: ignore it.
    ignore: bool,
    dirty: Vec<bool>,
    all_dirty: bool,
    damage_cursor: (usize, usize),
}

impl Terminal {
    /// A blank terminal of `cols` x `rows` cells (each clamped to `1..=`[`MAX_SIZE`]) with the
    /// cursor at the top left. Everything counts as damaged until the first
    /// [`Terminal::take_damage`].
    pub fn new(cols: usize, rows: usize) -> Terminal {
        let (cols, rows) = (cols.clamp(1, MAX_SIZE), rows.clamp(1, MAX_SIZE));
        Terminal {
            cols,
            rows,
            cells: vec![b' '; cols * rows],
            col: 0,
            row: 0,
            state: State::Ground,
            params: [0; MAX_PARAMS],
            param: 0,
            ignore: false,
            dirty: vec![false; rows],
            all_dirty: true,
            damage_cursor: (0, 0),
        }
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The cursor's `(col, row)`, always inside the grid.
    pub fn cursor(&self) -> (usize, usize) {
        (self.col.min(self.cols - 1), self.row)
    }

    /// The character in a cell, or `None` outside the grid.
    pub fn cell(&self, col: usize, row: usize) -> Option<char> {
        (col < self.cols && row < self.rows).then(|| char::from(self.cells[row * self.cols + col]))
    }

    /// The text of `row` without trailing spaces (empty outside the grid).
    pub fn row_text(&self, row: usize) -> String {
        let text: String = (0..self.cols).filter_map(|c| self.cell(c, row)).collect();
        String::from(text.trim_end_matches(' '))
    }

    /// Interpret `bytes`. A sequence may be split across calls.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// What changed since the previous call (or since creation), and reset the record.
    pub fn take_damage(&mut self) -> Damage {
        let cursor = self.cursor();
        let damage = Damage {
            all: self.all_dirty,
            rows: core::mem::replace(&mut self.dirty, vec![false; self.rows]),
            old_cursor: self.damage_cursor,
            cursor,
        };
        self.all_dirty = false;
        self.damage_cursor = cursor;
        damage
    }

    fn byte(&mut self, b: u8) {
        match (self.state, b) {
            (_, ESC) => self.state = State::Escape,
            // CAN and SUB abort a sequence.
            (_, 0x18 | 0x1a) => self.state = State::Ground,
            // Other C0 controls act even inside a sequence, as on a VT100.
            (_, 0x00..=0x1f) => self.control(b),
            (State::Ground, 0x20..=0x7e) => self.put(b),
            (State::Ground, 0x80..=0xff) => self.put(b'?'),
            (State::Ground, _) => {}
            (State::Escape, b'[') => {
                self.params = [0; MAX_PARAMS];
                self.param = 0;
                self.ignore = false;
                self.state = State::Csi;
            }
            // Any other escape sequence is two bytes long here; drop it.
            (State::Escape, _) => self.state = State::Ground,
            (State::Csi, b'0'..=b'9') => {
                if let Some(p) = self.params.get_mut(self.param) {
                    *p = (*p * 10 + u32::from(b - b'0')).min(MAX_PARAM);
                }
            }
            (State::Csi, b';') => self.param = (self.param + 1).min(MAX_PARAMS),
            // Sub-parameters, private markers and intermediates: not ours.
            (State::Csi, b':' | b'<'..=b'?' | 0x20..=0x2f) => self.ignore = true,
            (State::Csi, 0x40..=0x7e) => {
                self.state = State::Ground;
                if !self.ignore {
                    self.csi(b);
                }
            }
            (State::Csi, 0x7f) => {}
            (State::Csi, _) => self.state = State::Ground,
        }
    }

    fn control(&mut self, b: u8) {
        match b {
            b'\r' => self.col = 0,
            b'\n' => {
                self.col = 0;
                self.line_feed();
            }
            0x08 => self.col = self.col.saturating_sub(1),
            b'\t' => self.col = ((self.col / TAB_STOP + 1) * TAB_STOP).min(self.cols - 1),
            _ => {}
        }
    }

    /// Parameter `i`, with 0 or absent meaning 1.
    fn count(&self, i: usize) -> usize {
        self.params[i].max(1) as usize
    }

    fn csi(&mut self, command: u8) {
        let last_col = self.cols - 1;
        match command {
            b'A' => {
                self.row = self.row.saturating_sub(self.count(0));
                self.col = self.col.min(last_col);
            }
            b'B' => {
                self.row = (self.row + self.count(0)).min(self.rows - 1);
                self.col = self.col.min(last_col);
            }
            b'C' => self.col = (self.col + self.count(0)).min(last_col),
            b'D' => self.col = self.col.saturating_sub(self.count(0)),
            b'H' | b'f' => {
                self.row = (self.count(0) - 1).min(self.rows - 1);
                self.col = (self.count(1) - 1).min(last_col);
            }
            b'K' => match self.params[0] {
                0 => self.erase(self.row, self.col, self.cols),
                1 => self.erase(self.row, 0, self.col + 1),
                2 => self.erase(self.row, 0, self.cols),
                _ => {}
            },
            b'J' => match self.params[0] {
                0 => {
                    self.erase(self.row, self.col, self.cols);
                    (self.row + 1..self.rows).for_each(|r| self.erase(r, 0, self.cols));
                }
                1 => {
                    (0..self.row).for_each(|r| self.erase(r, 0, self.cols));
                    self.erase(self.row, 0, self.col + 1);
                }
                2 => {
                    self.cells.fill(b' ');
                    self.all_dirty = true;
                }
                _ => {}
            },
            // SGR and everything else: ignored.
            _ => {}
        }
    }

    /// Blank columns `from..to` of `row` (clamped to the grid).
    fn erase(&mut self, row: usize, from: usize, to: usize) {
        let to = to.min(self.cols);
        if from < to && row < self.rows {
            let start = row * self.cols;
            self.cells[start + from..start + to].fill(b' ');
            self.dirty[row] = true;
        }
    }

    fn put(&mut self, b: u8) {
        if self.col >= self.cols {
            self.col = 0;
            self.line_feed();
        }
        self.cells[self.row * self.cols + self.col] = b;
        self.dirty[self.row] = true;
        self.col += 1;
    }

    /// Down one row, scrolling the content up at the last row.
    fn line_feed(&mut self) {
        if self.row + 1 < self.rows {
            self.row += 1;
        } else {
            self.cells.copy_within(self.cols.., 0);
            let last = (self.rows - 1) * self.cols;
            self.cells[last..].fill(b' ');
            self.all_dirty = true;
        }
    }
}

#[cfg(test)]
pub(crate) mod tests;
