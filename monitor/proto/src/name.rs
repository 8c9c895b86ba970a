//! Short names: service names and program names.

use core::fmt;

use crate::MAX_NAME;

/// A short name (service name or program name): 1..=[`MAX_NAME`] bytes of printable ASCII
/// (0x21..=0x7e, so no spaces and no NUL). Every `Name` value is valid: the only ways to make
/// one check it.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub struct Name {
    /// The bytes, zero-padded after `len`.
    bytes: [u8; MAX_NAME],
    /// Bytes in use, 1..=MAX_NAME.
    len: u8,
}

/// Why a string is not a [`Name`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NameError {
    /// Zero bytes.
    Empty,
    /// More than [`MAX_NAME`] bytes (the length given).
    TooLong(usize),
    /// A byte outside 0x21..=0x7e at this index.
    BadByte {
        /// Position of the byte.
        index: usize,
        /// The byte.
        byte: u8,
    },
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::Empty => write!(f, "empty name"),
            NameError::TooLong(n) => write!(f, "name of {n} bytes (at most {MAX_NAME})"),
            NameError::BadByte { index, byte } => {
                write!(f, "byte {byte:#04x} at {index} is not printable ASCII")
            }
        }
    }
}

impl Name {
    /// A name from a string.
    pub fn new(s: &str) -> Result<Name, NameError> {
        Name::from_bytes(s.as_bytes())
    }

    /// A name from bytes (same rules as [`Name::new`]).
    pub fn from_bytes(b: &[u8]) -> Result<Name, NameError> {
        if b.is_empty() {
            return Err(NameError::Empty);
        }
        if b.len() > MAX_NAME {
            return Err(NameError::TooLong(b.len()));
        }
        if let Some((index, &byte)) = b
            .iter()
            .enumerate()
            .find(|(_, c)| !(0x21..=0x7e).contains(*c))
        {
            return Err(NameError::BadByte { index, byte });
        }
        let mut bytes = [0u8; MAX_NAME];
        for (d, s) in bytes.iter_mut().zip(b) {
            *d = *s;
        }
        Ok(Name {
            bytes,
            len: b.len() as u8,
        })
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        // Always valid ASCII; the fallback is unreachable.
        core::str::from_utf8(self.as_bytes()).unwrap_or("")
    }

    /// The name's bytes (1..=MAX_NAME).
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len as usize).unwrap_or(&[])
    }

    /// The name zero-padded to [`MAX_NAME`] bytes (its wire form).
    pub fn padded(&self) -> &[u8; MAX_NAME] {
        &self.bytes
    }

    /// A name from its zero-padded form: the name ends at the first zero byte, and every byte
    /// after it must be zero too.
    pub fn from_padded(p: &[u8; MAX_NAME]) -> Result<Name, NameError> {
        let len = p.iter().position(|&b| b == 0).unwrap_or(MAX_NAME);
        let (name, rest) = p.split_at(len);
        if let Some(i) = rest.iter().position(|&b| b != 0) {
            return Err(NameError::BadByte {
                index: len + i,
                byte: rest.get(i).copied().unwrap_or(0),
            });
        }
        Name::from_bytes(name)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
