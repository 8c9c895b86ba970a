//! # URPC: cache-line message channels between cores
//!
//! This crate is the message transport of the multikernel: the only memory that one core writes
//! and another reads after boot is channel memory built from the types here. It is `no_std`
//! (`core` only), runs unchanged in the kernel (two cores, one physical frame mapped on both) and
//! on the host (two threads, one heap allocation), where it is unit-tested, stress-tested and
//! model-checked with `loom`.
//!
//! ## Shape of a channel
//!
//! A channel ([`ChannelMemory`]) is two one-way rings ([`Ring`]), `A -> B` and `B -> A`. Each side
//! takes an [`Endpoint`] (a [`Sender`] on its outgoing ring plus a [`Receiver`] on its incoming
//! ring) with [`ChannelMemory::endpoint`] or [`ChannelMemory::split`]. A ring is `N` slots
//! (default 32, as for Barrelfish's monitor channels) followed by one control line:
//!
//! ```text
//! Ring<N>, #[repr(C)], every line 64-byte aligned
//!   slot 0      [ w0 w1 w2 w3 w4 w5 w6 | header ]   written by the sender only (epoch mode)
//!   ...
//!   slot N-1    [ w0 w1 w2 w3 w4 w5 w6 | header ]
//!   control     [ ack | wake | (padding)        ]   written by the receiver only
//! ```
//!
//! Sender-owned and receiver-owned words never share a cache line. `ChannelMemory<N>` is
//! `2 * (N + 1) * 64` bytes (4352 for N = 32; [`PageChannel`], N = 31, fills exactly one 4 KiB
//! page). **All-zero memory is a valid, empty channel**, so the kernel can hand out zeroed frames;
//! the two sides must only agree on `N` and on the [`Config`] (flow-control mode).
//!
//! ## Slot and header
//!
//! A slot is exactly one cache line: 7 payload words then the header word (word 7). The header:
//!
//! | bits  | field | meaning |
//! |-------|-------|---------|
//! | 0-31  | seq   | low 32 bits of the message's position in the ring's stream (0, 1, 2, ...) |
//! | 32-47 | tag   | message type, chosen by the user |
//! | 48-53 | len   | payload bytes in this slot (0..=56; a first fragment carries 48) |
//! | 54-55 | frag  | 0 single, 1 first, 2 middle, 3 last fragment |
//! | 56-62 | -     | reserved, must be zero |
//! | 63    | valid | set in every header a sender writes; clear in zeroed or consumed slots |
//!
//! The sequence number is this design's epoch: Barrelfish's 2009 UMP kept one epoch bit that
//! flips at every wrap; keeping 32 bits of the position costs nothing more (the header is one
//! word either way) and lets the receiver tell "the message I expect" from "last lap's message"
//! from "garbage", which one bit cannot.
//!
//! Longer byte payloads ([`Sender::try_send_bytes`] / [`Receiver::recv_bytes`]) are fragments on
//! consecutive slots with the same tag: a *first* fragment whose word 0 is the total length in
//! bytes (> 56) followed by 48 data bytes, *middle* fragments of 56 bytes and a *last* fragment of
//! 1..=56 bytes. Bytes are packed little-endian into words.
//!
//! ## Ordering argument
//!
//! The sender stores the 7 payload words (Relaxed), then the header (Release). The receiver loads
//! the header (Acquire); if it carries the expected sequence number, the payload stores happen
//! before everything the receiver does next, so its Relaxed payload loads see this message's
//! words and not an older lap's. Flow control (below) guarantees the sender does not store the
//! next lap's payload into the slot until the receiver has finished reading it: the receiver's
//! reads are sequenced before its Release publication of progress, which the sender Acquires
//! before reusing the slot. A message is thus seen whole or not at all. Every shared word is an
//! atomic, so a buggy or malicious peer writing anything, at any time, into the channel memory
//! can produce wrong *values* and typed errors ([`ProtocolError`]), never undefined behaviour or
//! a panic.
//!
//! ## Flow control ([`FlowControl`])
//!
//! * [`FlowControl::EpochAck`] (default, the 2009 design): only the sender writes slots. The
//!   receiver counts consumed messages and publishes the count in its control line's `ack` word
//!   lazily, every `ack_interval` messages (default `N / 2`). The sender keeps a private copy of
//!   the last ack it read and reloads the `ack` word only when its private view says the ring is
//!   full, so in steady state the hot path touches no shared counter: the sender's line moves to
//!   the receiver once per message and the control line moves back once per `N / 2` messages.
//!   Progress is guaranteed for any `ack_interval <= N`: if the sender sees the ring full, at
//!   least `N - ack_interval + 1` messages are unread, and reading them publishes an ack.
//! * [`FlowControl::UsedBit`] (the 2017 design): the receiver clears the header of each slot it
//!   consumes (Release), and the sender checks that the slot's header is clear (Acquire) before
//!   reusing it. No ack word; but both sides write every slot line. Selectable so that the two can
//!   be measured against each other (see [`bench`](mod@bench) and the `urpc-host-bench` binary).
//!
//! Piggybacking acks on reverse traffic is not implemented: the lazy `ack` word already costs one
//! line transfer per half ring.
//!
//! ## Blocking and notification
//!
//! Receivers poll ([`Receiver::try_recv`], [`Receiver::recv_poll`]) for a bounded time; to block
//! they call [`Receiver::arm_notify`], which writes a fresh *armed generation* into the control
//! line's `wake` word, executes a SeqCst fence and re-checks the ring. If a message already
//! arrived it disarms and says so ([`Armed::MessagePending`]); otherwise the caller may block
//! until notified. A sender with [`Config::notify_check`] set executes a SeqCst fence after
//! writing a header and reads `wake`; if it sees a generation it has not yet notified, the send
//! returns [`Notify::Needed`] and the caller (the OS) must send the IPI. The two fences make the
//! classic store-buffer race impossible: either the sender sees the armed flag or the receiver's
//! re-check sees the message, so no wakeup is lost; each armed generation asks for at most one
//! IPI. Receiving a message disarms automatically. Senders that talk to receivers that never
//! block can turn `notify_check` off and save the fence.
//!
//! ## Example
//!
//! ```
//! use urpc::{Armed, ChannelMemory, Message, Notify, RecvError};
//!
//! let mem = ChannelMemory::<32>::new(); // or new_boxed(), or from_raw() on a zeroed frame
//! let (mut a, mut b) = mem.split();
//!
//! // One slot: a tag and up to 7 words / 56 bytes.
//! assert_eq!(a.try_send(&Message::new(1, [1, 2, 3, 4, 5, 6, 7])), Ok(Notify::NotNeeded));
//! assert_eq!(b.try_recv().unwrap().words()[6], 7);
//!
//! // Longer payloads are fragmented and reassembled.
//! let big = [0xab_u8; 1000];
//! assert!(b.try_send_bytes(2, &big).unwrap().complete);
//! let mut buf = [0u8; 1024];
//! let got = a.recv_bytes(&mut buf).unwrap();
//! assert_eq!((got.tag, got.len), (2, 1000));
//!
//! // Poll for a while, then ask to be notified before blocking.
//! assert_eq!(b.receiver().recv_spin(100), Err(RecvError::WouldBlock));
//! assert_eq!(b.arm_notify(), Armed::Armed);
//! // The sender learns that it must send an IPI.
//! assert_eq!(a.try_send(&Message::from_bytes(3, b"wake up").unwrap()), Ok(Notify::Needed));
//! ```
//!
//! ## Kernel use
//!
//! One side zeroes a frame of [`ChannelMemory::SIZE`] bytes; each core maps it wherever it likes
//! and calls [`ChannelMemory::from_raw`] on its own mapping, then takes the endpoint of its side
//! ([`Side::A`] or [`Side::B`]). The [`bench`](mod@bench) module holds the measurement routines (cache-line
//! ping-pong, URPC round trip, pipelined throughput) that run the same on the host and in the
//! kernel, given a cycle counter.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

#[cfg(test)]
extern crate std;

pub mod bench;
mod endpoint;
mod error;
mod header;
mod memory;
mod message;
mod receiver;
mod sender;
mod sync;
#[cfg(all(test, not(loom)))]
mod tests;

pub use endpoint::Endpoint;
pub use error::{ProtocolError, RawMemoryError, RecvError, SendError};
pub use header::Frag;
pub use memory::{ChannelMemory, PageChannel, Ring, Side, CACHE_LINE, DEFAULT_SLOTS};
pub use message::Message;
pub use receiver::{Armed, Received, Receiver};
pub use sender::{BytesSent, Notify, Sender};
pub use sync::spin_hint;

/// How a ring keeps the sender from overwriting unread slots. Both ends of a ring must use the
/// same mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FlowControl {
    /// Sequence-stamped slots written only by the sender; the receiver publishes its consumed
    /// count lazily in its own control line (Barrelfish 2009). The default.
    EpochAck,
    /// The receiver clears each slot's header after reading it; the sender checks the header
    /// before reuse (Barrelfish 2017).
    UsedBit,
}

/// Per-endpoint protocol settings. Both ends of a ring must agree on [`Config::flow`]; the other
/// fields are local choices of one side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Config {
    /// Flow-control mode of both rings of the endpoint.
    pub flow: FlowControl,
    /// Epoch mode: the receiver publishes its consumed count every this many messages.
    /// `0` means the default, half the ring (at least 1); values above `N` are treated as `N`.
    pub ack_interval: usize,
    /// Whether sends check the peer's notification request (costs a SeqCst fence per send).
    /// Needed whenever the peer's receiver may block in [`Receiver::arm_notify`].
    pub notify_check: bool,
}

impl Config {
    /// Epoch + lazy ack, default ack interval, notification check on.
    pub const DEFAULT: Config = Config {
        flow: FlowControl::EpochAck,
        ack_interval: 0,
        notify_check: true,
    };

    /// The default configuration with another flow-control mode.
    pub const fn with_flow(flow: FlowControl) -> Config {
        Config {
            flow,
            ..Config::DEFAULT
        }
    }

    /// This configuration with the notification check turned on or off.
    pub const fn notify_check(self, on: bool) -> Config {
        Config {
            notify_check: on,
            ..self
        }
    }

    /// This configuration with another epoch-mode ack interval.
    pub const fn ack_interval(self, interval: usize) -> Config {
        Config {
            ack_interval: interval,
            ..self
        }
    }

    /// The effective ack interval for a ring of `n` slots.
    pub(crate) const fn effective_ack_interval(&self, n: usize) -> u64 {
        let i = if self.ack_interval == 0 {
            n / 2
        } else if self.ack_interval > n {
            n
        } else {
            self.ack_interval
        };
        if i == 0 {
            1
        } else {
            i as u64
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}
