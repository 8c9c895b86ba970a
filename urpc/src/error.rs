//! Typed errors. Nothing in this crate panics on what the peer writes into channel memory.

use core::fmt;

/// The peer broke the protocol (or the channel memory is corrupt).
///
/// Errors about a slot's header or sequence number leave that slot in place: the ring cannot be
/// trusted past it, and every later receive reports the same error (tear the channel down).
/// Errors about fragment order or lengths consume the offending slot and drop any partially
/// reassembled message, so the receiver resynchronises at the next message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolError {
    /// A header with reserved bits set, or a length impossible for its fragment kind.
    BadHeader {
        /// The header word as read.
        raw: u64,
    },
    /// A valid-looking header whose sequence number is neither the expected one nor (in epoch
    /// mode) the previous lap's.
    BadSequence {
        /// Low 32 bits of the position the receiver expected.
        expected: u32,
        /// Sequence number found in the slot.
        found: u32,
    },
    /// A middle or last fragment with no message in progress, or a new message starting before
    /// the previous one's last fragment.
    UnexpectedFragment,
    /// A fragment whose tag differs from its first fragment's.
    TagMismatch {
        /// Tag of the first fragment.
        expected: u16,
        /// Tag found.
        found: u16,
    },
    /// Fragment lengths that do not add up to the announced total, or a bad total.
    BadLength,
    /// The receiver published an ack outside `[last ack, sent]`.
    BadAck {
        /// The ack word as read.
        ack: u64,
    },
}

/// Why a send did not happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SendError {
    /// No free slot: the receiver has not consumed (or, in epoch mode, not yet acknowledged)
    /// enough. Nothing was written; try again later.
    Full,
    /// The payload is too long for this kind of send.
    TooLong {
        /// Bytes offered.
        len: usize,
        /// Maximum for this kind of send.
        max: usize,
    },
    /// A fragmented send is in progress: finish it (call [`crate::Sender::try_send_bytes`] again
    /// with the same tag and bytes) before sending anything else.
    FragmentInProgress,
    /// The peer's control line holds nonsense.
    Protocol(ProtocolError),
}

/// Why a receive returned no message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecvError {
    /// Nothing (more) to receive yet. A partially received fragmented message is kept and
    /// continued by the next call.
    WouldBlock,
    /// The next slot is a fragment of a longer message: use [`crate::Receiver::recv_bytes`].
    /// Nothing was consumed.
    Fragmented,
    /// The caller's buffer is shorter than the message. Nothing was consumed; call again with a
    /// buffer of at least `needed` bytes.
    BufferTooSmall {
        /// Total length of the message in bytes.
        needed: usize,
    },
    /// The peer broke the protocol.
    Protocol(ProtocolError),
}

/// Why [`crate::ChannelMemory::from_raw`] refused a pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RawMemoryError {
    /// The pointer is null.
    Null,
    /// The pointer is not 64-byte aligned.
    Misaligned {
        /// The address given.
        addr: usize,
    },
}

impl From<ProtocolError> for SendError {
    fn from(e: ProtocolError) -> Self {
        SendError::Protocol(e)
    }
}

impl From<ProtocolError> for RecvError {
    fn from(e: ProtocolError) -> Self {
        RecvError::Protocol(e)
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProtocolError::BadHeader { raw } => write!(f, "malformed slot header {raw:#018x}"),
            ProtocolError::BadSequence { expected, found } => {
                write!(f, "sequence number {found} where {expected} was expected")
            }
            ProtocolError::UnexpectedFragment => f.write_str("fragment out of order"),
            ProtocolError::TagMismatch { expected, found } => {
                write!(f, "fragment tag {found} in a message tagged {expected}")
            }
            ProtocolError::BadLength => f.write_str("fragment lengths inconsistent"),
            ProtocolError::BadAck { ack } => write!(f, "impossible acknowledgement {ack}"),
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full => f.write_str("ring full"),
            SendError::TooLong { len, max } => {
                write!(f, "payload of {len} bytes exceeds the maximum of {max}")
            }
            SendError::FragmentInProgress => f.write_str("a fragmented send is in progress"),
            SendError::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::WouldBlock => f.write_str("no message available"),
            RecvError::Fragmented => f.write_str("next message is fragmented; use recv_bytes"),
            RecvError::BufferTooSmall { needed } => {
                write!(f, "buffer too small: message is {needed} bytes")
            }
            RecvError::Protocol(e) => write!(f, "protocol error: {e}"),
        }
    }
}

impl fmt::Display for RawMemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RawMemoryError::Null => f.write_str("null channel memory pointer"),
            RawMemoryError::Misaligned { addr } => {
                write!(f, "channel memory at {addr:#x} is not 64-byte aligned")
            }
        }
    }
}

impl core::error::Error for ProtocolError {}
impl core::error::Error for SendError {}
impl core::error::Error for RecvError {}
impl core::error::Error for RawMemoryError {}
