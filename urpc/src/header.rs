//! Encoding and validation of the slot header word (see the crate doc for the bit layout).

use crate::error::ProtocolError;

const SEQ_MASK: u64 = 0xffff_ffff;
const TAG_SHIFT: u32 = 32;
const TAG_MASK: u64 = 0xffff;
const LEN_SHIFT: u32 = 48;
const LEN_MASK: u64 = 0x3f;
const FRAG_SHIFT: u32 = 54;
const FRAG_MASK: u64 = 0x3;
const RESERVED_MASK: u64 = 0x7f << 56;
/// Set in every header a sender writes.
pub(crate) const VALID: u64 = 1 << 63;

/// Payload bytes in one slot.
pub(crate) const SLOT_BYTES: usize = 56;
/// Data bytes carried by a first fragment (word 0 holds the total length).
pub(crate) const FIRST_FRAG_BYTES: usize = 48;

/// Where a slot sits in a (possibly fragmented) message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Frag {
    /// A whole message in one slot.
    Single = 0,
    /// First fragment: word 0 is the total length, then 48 data bytes.
    First = 1,
    /// Middle fragment: 56 data bytes.
    Middle = 2,
    /// Last fragment: 1..=56 data bytes.
    Last = 3,
}

/// A decoded, structurally valid header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    pub seq: u32,
    pub tag: u16,
    pub len: u8,
    pub frag: Frag,
}

impl Header {
    pub(crate) const fn encode(self) -> u64 {
        VALID
            | (self.seq as u64)
            | ((self.tag as u64) << TAG_SHIFT)
            | ((self.len as u64 & LEN_MASK) << LEN_SHIFT)
            | ((self.frag as u64) << FRAG_SHIFT)
    }

    /// Decode a header already known to be valid and to carry the expected sequence number:
    /// checks reserved bits and the per-kind length rules.
    pub(crate) fn decode(raw: u64) -> Result<Header, ProtocolError> {
        if raw & VALID == 0 || raw & RESERVED_MASK != 0 {
            return Err(ProtocolError::BadHeader { raw });
        }
        let frag = match (raw >> FRAG_SHIFT) & FRAG_MASK {
            0 => Frag::Single,
            1 => Frag::First,
            2 => Frag::Middle,
            _ => Frag::Last,
        };
        let len = ((raw >> LEN_SHIFT) & LEN_MASK) as u8;
        let len_ok = match frag {
            Frag::Single => len as usize <= SLOT_BYTES,
            Frag::First => len as usize == FIRST_FRAG_BYTES,
            Frag::Middle => len as usize == SLOT_BYTES,
            Frag::Last => len >= 1 && len as usize <= SLOT_BYTES,
        };
        if !len_ok {
            return Err(ProtocolError::BadHeader { raw });
        }
        Ok(Header {
            seq: (raw & SEQ_MASK) as u32,
            tag: ((raw >> TAG_SHIFT) & TAG_MASK) as u16,
            len,
            frag,
        })
    }
}

/// Sequence number stored in the header word `raw`.
#[inline(always)]
pub(crate) const fn seq_of(raw: u64) -> u32 {
    (raw & SEQ_MASK) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        for frag in [Frag::Single, Frag::First, Frag::Middle, Frag::Last] {
            let len = match frag {
                Frag::Single => 17,
                Frag::First => 48,
                Frag::Middle => 56,
                Frag::Last => 1,
            };
            let h = Header {
                seq: 0xdead_beef,
                tag: 0xabcd,
                len,
                frag,
            };
            let raw = h.encode();
            assert_ne!(raw & VALID, 0);
            assert_eq!(seq_of(raw), 0xdead_beef);
            assert_eq!(Header::decode(raw), Ok(h));
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(Header::decode(0).is_err());
        assert!(Header::decode(u64::MAX).is_err());
        // Reserved bit set.
        let good = Header {
            seq: 1,
            tag: 2,
            len: 3,
            frag: Frag::Single,
        }
        .encode();
        assert!(Header::decode(good | 1 << 60).is_err());
        // Length out of range for a single slot (57..=63).
        assert!(Header::decode(VALID | 57 << LEN_SHIFT).is_err());
        // Middle fragment must be full, first must carry 48, last at least 1.
        assert!(Header::decode(VALID | 2 << FRAG_SHIFT | 55 << LEN_SHIFT).is_err());
        assert!(Header::decode(VALID | 1 << FRAG_SHIFT | 56 << LEN_SHIFT).is_err());
        assert!(Header::decode(VALID | 3 << FRAG_SHIFT).is_err());
    }
}
