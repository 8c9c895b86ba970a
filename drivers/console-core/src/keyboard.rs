//! PS/2 keyboard decoding: scancode set 1 bytes to the bytes a terminal sends (US layout).
//!
//! [`Keyboard::feed`] takes the bytes read from the keyboard controller one at a time and
//! returns, for a key press, the bytes to pass to the program reading the console:
//!
//! | key                                  | bytes                                         |
//! |--------------------------------------|-----------------------------------------------|
//! | letters, digits, punctuation, space  | ASCII; Shift (either) for the upper symbol; Caps Lock inverts the case of letters |
//! | Ctrl + `@`, letters, `[ \ ] ^ _`     | the control byte (`Ctrl-A` = `0x01`, `Ctrl-C` = `0x03`, `Ctrl-[` = ESC); Ctrl + space = `0x00` |
//! | Enter, keypad Enter                  | `\r`                                          |
//! | Backspace                            | DEL `0x7f`                                    |
//! | Tab / Escape                         | `\t` / `0x1b`                                 |
//! | arrows up / down / right / left      | `ESC [ A` / `B` / `C` / `D`                   |
//! | Home / End                           | `ESC [ H` / `ESC [ F`                         |
//! | Insert / Delete / Page Up / Page Down| `ESC [ 2 ~` / `3 ~` / `5 ~` / `6 ~`           |
//! | keypad `* - + /`                     | the character                                 |
//! | keypad digits and `.`                | the character with Num Lock on (the initial state), else the navigation key printed on them |
//!
//! Releases (bit 7 set) produce nothing; they only release Shift and Ctrl. Caps Lock and
//! Num Lock toggle on press (not again on the keyboard's auto-repeat). Alt, the Windows keys,
//! function keys, Print Screen, the fake shifts some keyboards send around extended keys,
//! the `0xE1` Pause sequence and controller replies (`0xFA`, `0xFE`...) produce nothing.

use core::ops::Deref;

/// Characters of the keys `0x00..=0x39` without Shift (0: not a character key).
const PLAIN: &[u8; 0x3a] =
    b"\0\x1b1234567890-=\x7f\tqwertyuiop[]\r\0asdfghjkl;'`\0\\zxcvbnm,./\0*\0 ";
/// The same with Shift.
const SHIFTED: &[u8; 0x3a] =
    b"\0\x1b!@#$%^&*()_+\x7f\tQWERTYUIOP{}\r\0ASDFGHJKL:\"~\0|ZXCVBNM<>?\0*\0 ";
/// Keypad keys `0x47..=0x53` with Num Lock on.
const KEYPAD: &[u8; 13] = b"789-456+1230.";

/// The bytes one key press produces: at most 4, no allocation. Dereferences to `[u8]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyBytes {
    buf: [u8; 4],
    len: u8,
}

impl KeyBytes {
    /// No bytes.
    pub const EMPTY: KeyBytes = KeyBytes {
        buf: [0; 4],
        len: 0,
    };

    /// The first (at most) 4 bytes of `bytes`.
    fn new(bytes: &[u8]) -> KeyBytes {
        let mut k = KeyBytes::EMPTY;
        let len = bytes.len().min(k.buf.len());
        k.buf[..len].copy_from_slice(&bytes[..len]);
        k.len = len as u8;
        k
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }
}

impl Deref for KeyBytes {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

/// Where a multi-byte scancode stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Prefix {
    #[default]
    None,
    /// After `0xE0`.
    Extended,
    /// Inside a Pause sequence (`0xE1` and two bytes): this many bytes still to skip.
    Pause(u8),
}

/// The decoder's state: pending prefix, modifiers held and lock toggles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Keyboard {
    prefix: Prefix,
    left_shift: bool,
    right_shift: bool,
    left_ctrl: bool,
    right_ctrl: bool,
    caps_lock: bool,
    caps_held: bool,
    num_lock: bool,
    num_held: bool,
}

impl Default for Keyboard {
    fn default() -> Self {
        Keyboard::new()
    }
}

impl Keyboard {
    /// No key held, Caps Lock off, Num Lock on.
    pub const fn new() -> Keyboard {
        Keyboard {
            prefix: Prefix::None,
            left_shift: false,
            right_shift: false,
            left_ctrl: false,
            right_ctrl: false,
            caps_lock: false,
            caps_held: false,
            num_lock: true,
            num_held: false,
        }
    }

    /// Whether Caps Lock is on (for the keyboard's LED).
    pub fn caps_lock(&self) -> bool {
        self.caps_lock
    }

    /// Whether Num Lock is on (for the keyboard's LED).
    pub fn num_lock(&self) -> bool {
        self.num_lock
    }

    /// Decode one scancode byte; the result is empty unless it completes a key press that
    /// produces bytes.
    pub fn feed(&mut self, scancode: u8) -> KeyBytes {
        match (self.prefix, scancode) {
            (Prefix::Pause(n), _) => {
                self.prefix = if n > 1 {
                    Prefix::Pause(n - 1)
                } else {
                    Prefix::None
                };
                KeyBytes::EMPTY
            }
            (_, 0xe0) => {
                self.prefix = Prefix::Extended;
                KeyBytes::EMPTY
            }
            (_, 0xe1) => {
                self.prefix = Prefix::Pause(2);
                KeyBytes::EMPTY
            }
            (prefix, _) => {
                self.prefix = Prefix::None;
                let (code, pressed) = (scancode & 0x7f, scancode & 0x80 == 0);
                if prefix == Prefix::Extended {
                    self.extended(code, pressed)
                } else {
                    self.plain(code, pressed)
                }
            }
        }
    }

    fn plain(&mut self, code: u8, pressed: bool) -> KeyBytes {
        match code {
            0x2a => self.left_shift = pressed,
            0x36 => self.right_shift = pressed,
            0x1d => self.left_ctrl = pressed,
            0x3a => toggle(&mut self.caps_lock, &mut self.caps_held, pressed),
            0x45 => toggle(&mut self.num_lock, &mut self.num_held, pressed),
            _ if !pressed => {}
            0x47..=0x53 if self.num_lock || matches!(code, 0x4a | 0x4e) => {
                return KeyBytes::new(&[KEYPAD[usize::from(code - 0x47)]]);
            }
            0x47..=0x53 => return navigation(code),
            _ => return self.character(code),
        }
        KeyBytes::EMPTY
    }

    fn extended(&mut self, code: u8, pressed: bool) -> KeyBytes {
        match code {
            0x1d => self.right_ctrl = pressed,
            _ if !pressed => {}
            0x1c => return KeyBytes::new(b"\r"),
            0x35 => return KeyBytes::new(b"/"),
            _ => return navigation(code),
        }
        KeyBytes::EMPTY
    }

    fn character(&self, code: u8) -> KeyBytes {
        let Some(&plain) = PLAIN.get(usize::from(code)).filter(|&&c| c != 0) else {
            return KeyBytes::EMPTY;
        };
        let mut c = if self.left_shift || self.right_shift {
            SHIFTED[usize::from(code)]
        } else {
            plain
        };
        if self.caps_lock && plain.is_ascii_lowercase() {
            c ^= 0x20;
        }
        if self.left_ctrl || self.right_ctrl {
            c = match c {
                b'@'..=b'_' | b'a'..=b'z' => c & 0x1f,
                b' ' => 0,
                _ => c,
            };
        }
        KeyBytes::new(&[c])
    }
}

/// A lock key: toggle `on` when pressed, but not on auto-repeat while `held`.
fn toggle(on: &mut bool, held: &mut bool, pressed: bool) {
    if pressed && !*held {
        *on = !*on;
    }
    *held = pressed;
}

/// The sequence of a navigation key (the same codes serve the keypad without Num Lock and
/// the dedicated keys after `0xE0`); empty for other codes.
fn navigation(code: u8) -> KeyBytes {
    KeyBytes::new(match code {
        0x47 => b"\x1b[H",
        0x48 => b"\x1b[A",
        0x49 => b"\x1b[5~",
        0x4b => b"\x1b[D",
        0x4d => b"\x1b[C",
        0x4f => b"\x1b[F",
        0x50 => b"\x1b[B",
        0x51 => b"\x1b[6~",
        0x52 => b"\x1b[2~",
        0x53 => b"\x1b[3~",
        _ => b"",
    })
}

#[cfg(test)]
mod tests;
