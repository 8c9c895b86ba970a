//! A one-slot message: a tag and up to 56 payload bytes (7 words).

use crate::error::SendError;
use crate::header::SLOT_BYTES;
use crate::memory::PAYLOAD_WORDS;

/// A message that fits in one slot: a 16-bit tag (message type) and up to 56 payload bytes, held
/// as 7 little-endian words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Message {
    tag: u16,
    len: u8,
    words: [u64; PAYLOAD_WORDS],
}

impl Message {
    /// Payload words in a message.
    pub const WORDS: usize = PAYLOAD_WORDS;
    /// Payload bytes in a message.
    pub const MAX_BYTES: usize = SLOT_BYTES;

    /// A message carrying all 7 words (length 56 bytes).
    pub const fn new(tag: u16, words: [u64; PAYLOAD_WORDS]) -> Message {
        Message {
            tag,
            len: SLOT_BYTES as u8,
            words,
        }
    }

    /// A message carrying the first `words.len()` words (at most 7); the rest are zero.
    pub fn from_words(tag: u16, words: &[u64]) -> Result<Message, SendError> {
        if words.len() > PAYLOAD_WORDS {
            return Err(SendError::TooLong {
                len: words.len() * 8,
                max: SLOT_BYTES,
            });
        }
        let mut w = [0; PAYLOAD_WORDS];
        w[..words.len()].copy_from_slice(words);
        Ok(Message {
            tag,
            len: (words.len() * 8) as u8,
            words: w,
        })
    }

    /// A message carrying `bytes` (at most 56), packed little-endian; the rest is zero.
    pub fn from_bytes(tag: u16, bytes: &[u8]) -> Result<Message, SendError> {
        if bytes.len() > SLOT_BYTES {
            return Err(SendError::TooLong {
                len: bytes.len(),
                max: SLOT_BYTES,
            });
        }
        let mut words = [0; PAYLOAD_WORDS];
        pack(&mut words, 0, bytes);
        Ok(Message {
            tag,
            len: bytes.len() as u8,
            words,
        })
    }

    /// Assemble a received message (len already validated to be <= 56).
    pub(crate) const fn from_raw_parts(tag: u16, len: u8, words: [u64; PAYLOAD_WORDS]) -> Self {
        Message { tag, len, words }
    }

    /// The message type.
    pub const fn tag(&self) -> u16 {
        self.tag
    }

    /// Payload length in bytes (0..=56).
    pub const fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether the payload is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// All 7 payload words (words past `len` are whatever the sender put there, zero for
    /// messages built by [`Message::from_bytes`] / [`Message::from_words`]).
    pub const fn words(&self) -> &[u64; PAYLOAD_WORDS] {
        &self.words
    }

    /// Payload word `i`, or `None` past the 7th.
    pub fn word(&self, i: usize) -> Option<u64> {
        self.words.get(i).copied()
    }

    /// Copy the `len` payload bytes into `dst`; returns how many were copied (`min(len,
    /// dst.len())`).
    pub fn copy_bytes_to(&self, dst: &mut [u8]) -> usize {
        let n = self.len().min(dst.len());
        unpack(&self.words, 0, &mut dst[..n]);
        n
    }

    /// The payload bytes as an array plus the length in use.
    pub fn to_bytes(&self) -> ([u8; SLOT_BYTES], usize) {
        let mut b = [0; SLOT_BYTES];
        let n = self.copy_bytes_to(&mut b);
        (b, n)
    }
}

/// Pack `src` little-endian into `dst[start..]`; bytes past the words' end are ignored (callers
/// check lengths first).
pub(crate) fn pack(dst: &mut [u64; PAYLOAD_WORDS], start: usize, src: &[u8]) {
    let words = dst.get_mut(start..).unwrap_or(&mut []);
    for (w, chunk) in words.iter_mut().zip(src.chunks(8)) {
        let mut b = [0u8; 8];
        b[..chunk.len()].copy_from_slice(chunk);
        *w = u64::from_le_bytes(b);
    }
}

/// Unpack words `src[start..]` little-endian into `dst`; bytes past the words' end are left
/// untouched (callers check lengths first).
pub(crate) fn unpack(src: &[u64; PAYLOAD_WORDS], start: usize, dst: &mut [u8]) {
    let words = src.get(start..).unwrap_or(&[]);
    for (w, chunk) in words.iter().zip(dst.chunks_mut(8)) {
        let b = w.to_le_bytes();
        chunk.copy_from_slice(&b[..chunk.len()]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_roundtrip() {
        let data: [u8; 56] = core::array::from_fn(|i| i as u8 * 3);
        for n in 0..=56 {
            let m = Message::from_bytes(7, &data[..n]).unwrap();
            assert_eq!(m.len(), n);
            let (b, len) = m.to_bytes();
            assert_eq!(&b[..len], &data[..n]);
        }
        assert_eq!(
            Message::from_bytes(0, &[0; 57]),
            Err(SendError::TooLong { len: 57, max: 56 })
        );
    }

    #[test]
    fn words() {
        let m = Message::from_words(1, &[1, 2, 3]).unwrap();
        assert_eq!(m.len(), 24);
        assert_eq!(m.words(), &[1, 2, 3, 0, 0, 0, 0]);
        assert_eq!(m.word(2), Some(3));
        assert_eq!(m.word(7), None);
        assert!(Message::from_words(1, &[0; 8]).is_err());
        let mut small = [0u8; 4];
        assert_eq!(m.copy_bytes_to(&mut small), 4);
        assert_eq!(small, [1, 0, 0, 0]);
    }
}
