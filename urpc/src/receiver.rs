//! The receiving half of a ring.

use crate::error::{ProtocolError, RecvError};
use crate::header::{seq_of, Frag, Header, FIRST_FRAG_BYTES, SLOT_BYTES, VALID};
use crate::memory::{Ring, PAYLOAD_WORDS};
use crate::message::{unpack, Message};
use crate::sync::{fence, spin_hint, Ordering};
use crate::{Config, FlowControl};

/// Result of [`Receiver::arm_notify`].
#[must_use = "blocking after `MessagePending` would sleep with a message in the ring"]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Armed {
    /// The ring is empty and the request is published: the caller may block until notified.
    Armed,
    /// Something arrived meanwhile (the request was withdrawn): receive instead of blocking.
    MessagePending,
}

/// A message received by [`Receiver::recv_bytes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Received {
    /// The message type.
    pub tag: u16,
    /// Bytes written to the start of the caller's buffer.
    pub len: usize,
}

#[derive(Clone, Copy, Debug)]
struct Incoming {
    tag: u16,
    total: usize,
    filled: usize,
}

/// Receiving half of a ring. Owns the ring's control line.
pub struct Receiver<'a, const N: usize = { crate::DEFAULT_SLOTS }> {
    ring: &'a Ring<N>,
    /// Position of the next slot to consume.
    pos: u64,
    /// `pos % N`.
    idx: usize,
    /// Epoch mode: last consumed count published in the control line.
    published: u64,
    ack_interval: u64,
    /// Generation of the last notification request.
    wake_gen: u64,
    armed: bool,
    /// Fragmented message being reassembled.
    reasm: Option<Incoming>,
    config: Config,
}

impl<'a, const N: usize> Receiver<'a, N> {
    /// A receiver on a fresh (zeroed, never used) ring.
    pub fn new(ring: &'a Ring<N>, config: Config) -> Receiver<'a, N> {
        #[allow(clippy::let_unit_value)]
        let () = Ring::<N>::CHECK;
        Receiver {
            ring,
            pos: 0,
            idx: 0,
            published: 0,
            ack_interval: config.effective_ack_interval(N),
            wake_gen: 0,
            armed: false,
            reasm: None,
            config,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Number of slots consumed so far (messages plus fragments).
    pub fn received(&self) -> u64 {
        self.pos
    }

    /// Whether a fragmented message is part-way through reassembly.
    pub fn fragment_in_progress(&self) -> bool {
        self.reasm.is_some()
    }

    /// Whether the next slot holds something (a message, a fragment, or garbage that a receive
    /// would report as an error). Consumes nothing.
    pub fn has_message(&self) -> bool {
        !matches!(self.peek(), Ok(None))
    }

    /// Receive one single-slot message if there is one.
    ///
    /// If the next slot is a fragment (or a fragmented message is part-way through), returns
    /// [`RecvError::Fragmented`] without consuming it: use [`Receiver::recv_bytes`].
    pub fn try_recv(&mut self) -> Result<Message, RecvError> {
        if self.reasm.is_some() {
            return Err(RecvError::Fragmented);
        }
        let h = self.peek()?.ok_or(RecvError::WouldBlock)?;
        if h.frag != Frag::Single {
            return Err(RecvError::Fragmented);
        }
        let words = self.read_words();
        self.consume();
        Ok(Message::from_raw_parts(h.tag, h.len, words))
    }

    /// Poll for a message while `keep_polling` returns `true` (called once per empty poll: count
    /// spins or compare a deadline). Then returns [`RecvError::WouldBlock`], and the caller can
    /// [`arm_notify`](Receiver::arm_notify) and block.
    pub fn recv_poll<F: FnMut() -> bool>(
        &mut self,
        mut keep_polling: F,
    ) -> Result<Message, RecvError> {
        loop {
            match self.try_recv() {
                Err(RecvError::WouldBlock) if keep_polling() => spin_hint(),
                r => return r,
            }
        }
    }

    /// [`recv_poll`](Receiver::recv_poll) for at most `max_spins` empty polls.
    pub fn recv_spin(&mut self, max_spins: u64) -> Result<Message, RecvError> {
        let mut n = 0u64;
        self.recv_poll(|| {
            n += 1;
            n <= max_spins
        })
    }

    /// Receive a byte message of any length (single slot or fragments) into `buf`.
    ///
    /// Fragments are consumed as they arrive. If the ring runs dry part-way, returns
    /// [`RecvError::WouldBlock`] and keeps the bytes received so far *in `buf`*: call again
    /// with the same buffer to continue. [`RecvError::BufferTooSmall`] consumes nothing (call
    /// again with a buffer of `needed` bytes). Fragment-order errors drop the partial message.
    pub fn recv_bytes(&mut self, buf: &mut [u8]) -> Result<Received, RecvError> {
        loop {
            let h = self.peek()?.ok_or(RecvError::WouldBlock)?;
            match (h.frag, self.reasm) {
                (Frag::Single, None) => {
                    let len = h.len as usize;
                    let dst = buf
                        .get_mut(..len)
                        .ok_or(RecvError::BufferTooSmall { needed: len })?;
                    let words = self.read_words();
                    unpack(&words, 0, dst);
                    self.consume();
                    return Ok(Received { tag: h.tag, len });
                }
                (Frag::First, None) => {
                    let words = self.read_words();
                    let total = words[0];
                    if total <= SLOT_BYTES as u64 || total > u32::MAX as u64 {
                        self.consume();
                        return Err(ProtocolError::BadLength.into());
                    }
                    let total = total as usize;
                    if total > buf.len() {
                        return Err(RecvError::BufferTooSmall { needed: total });
                    }
                    // `buf.len() >= total > 56`, so this is always `Some`.
                    let dst = buf
                        .get_mut(..FIRST_FRAG_BYTES)
                        .ok_or(RecvError::BufferTooSmall { needed: total })?;
                    unpack(&words, 1, dst);
                    self.consume();
                    self.reasm = Some(Incoming {
                        tag: h.tag,
                        total,
                        filled: FIRST_FRAG_BYTES,
                    });
                }
                (Frag::Middle | Frag::Last, Some(r)) => {
                    if h.tag != r.tag {
                        self.reasm = None;
                        self.consume();
                        return Err(ProtocolError::TagMismatch {
                            expected: r.tag,
                            found: h.tag,
                        }
                        .into());
                    }
                    let end = r.filled + h.len as usize;
                    let last = h.frag == Frag::Last;
                    if (last && end != r.total) || (!last && end >= r.total) {
                        self.reasm = None;
                        self.consume();
                        return Err(ProtocolError::BadLength.into());
                    }
                    if buf.len() < r.total {
                        return Err(RecvError::BufferTooSmall { needed: r.total });
                    }
                    let dst = buf
                        .get_mut(r.filled..end)
                        .ok_or(RecvError::BufferTooSmall { needed: r.total })?;
                    let words = self.read_words();
                    unpack(&words, 0, dst);
                    self.consume();
                    if last {
                        self.reasm = None;
                        return Ok(Received {
                            tag: r.tag,
                            len: r.total,
                        });
                    }
                    self.reasm = Some(Incoming { filled: end, ..r });
                }
                (Frag::Single | Frag::First, Some(_)) => {
                    // A new message started before the last one ended: drop the partial one and
                    // leave this slot to start the next call.
                    self.reasm = None;
                    return Err(ProtocolError::UnexpectedFragment.into());
                }
                (Frag::Middle | Frag::Last, None) => {
                    self.consume();
                    return Err(ProtocolError::UnexpectedFragment.into());
                }
            }
        }
    }

    /// [`recv_bytes`](Receiver::recv_bytes), polling while `keep_polling` returns `true`.
    pub fn recv_bytes_poll<F: FnMut() -> bool>(
        &mut self,
        buf: &mut [u8],
        mut keep_polling: F,
    ) -> Result<Received, RecvError> {
        loop {
            match self.recv_bytes(buf) {
                Err(RecvError::WouldBlock) if keep_polling() => spin_hint(),
                r => return r,
            }
        }
    }

    /// Ask the sender for a notification, before blocking.
    ///
    /// Publishes a new request generation in the control line, fences, and re-checks the ring.
    /// Returns [`Armed::Armed`] if the ring is still empty (block until notified, then receive;
    /// receiving disarms) or [`Armed::MessagePending`] if something arrived (the request is
    /// withdrawn; receive now).
    pub fn arm_notify(&mut self) -> Armed {
        self.wake_gen = self.wake_gen.wrapping_add(1);
        self.ring
            .ctrl
            .wake
            .store((self.wake_gen << 1) | 1, Ordering::Relaxed);
        self.armed = true;
        // SeqCst fence between our store of `wake` and our re-check of the ring, matching the
        // one in the sender between its header store and its load of `wake` (see crate doc).
        fence(Ordering::SeqCst);
        if self.has_message() {
            self.disarm_notify();
            Armed::MessagePending
        } else {
            Armed::Armed
        }
    }

    /// Withdraw a notification request (receiving a message does this automatically).
    pub fn disarm_notify(&mut self) {
        if self.armed {
            self.armed = false;
            self.ring
                .ctrl
                .wake
                .store(self.wake_gen << 1, Ordering::Relaxed);
        }
    }

    /// Whether a notification request is published.
    pub fn is_armed(&self) -> bool {
        self.armed
    }

    /// Epoch mode: publish the consumed count now instead of at the next ack interval.
    pub fn flush_ack(&mut self) {
        if self.config.flow == FlowControl::EpochAck && self.published != self.pos {
            self.ring.ctrl.ack.store(self.pos, Ordering::Release);
            self.published = self.pos;
        }
    }

    /// Header of the next slot if it holds the expected message; `None` if it is empty (zeroed,
    /// consumed, or last lap's).
    #[inline]
    fn peek(&self) -> Result<Option<Header>, ProtocolError> {
        // Acquire: pairs with the sender's Release header store, making its payload visible.
        let raw = self.ring.slots[self.idx].header.load(Ordering::Acquire);
        if raw & VALID == 0 {
            return Ok(None);
        }
        let expected = self.pos as u32;
        let seq = seq_of(raw);
        if seq != expected {
            if self.config.flow == FlowControl::EpochAck && seq == expected.wrapping_sub(N as u32) {
                return Ok(None);
            }
            return Err(ProtocolError::BadSequence {
                expected,
                found: seq,
            });
        }
        Header::decode(raw).map(Some)
    }

    #[inline]
    fn read_words(&self) -> [u64; PAYLOAD_WORDS] {
        let slot = &self.ring.slots[self.idx];
        core::array::from_fn(|i| slot.words[i].load(Ordering::Relaxed))
    }

    /// Release the current slot to the sender and move on.
    #[inline]
    fn consume(&mut self) {
        if self.config.flow == FlowControl::UsedBit {
            // Release: our payload reads happen before the sender's reuse of the slot.
            self.ring.slots[self.idx].header.store(0, Ordering::Release);
        }
        self.pos = self.pos.wrapping_add(1);
        self.idx += 1;
        if self.idx == N {
            self.idx = 0;
        }
        if self.config.flow == FlowControl::EpochAck
            && self.pos.wrapping_sub(self.published) >= self.ack_interval
        {
            // Release: our payload reads happen before the sender's reuse of these slots.
            self.ring.ctrl.ack.store(self.pos, Ordering::Release);
            self.published = self.pos;
        }
        if self.armed {
            self.disarm_notify();
        }
    }
}

impl<const N: usize> core::fmt::Debug for Receiver<'_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Receiver")
            .field("slots", &N)
            .field("pos", &self.pos)
            .field("published", &self.published)
            .field("armed", &self.armed)
            .field("fragment_in_progress", &self.reasm.is_some())
            .field("config", &self.config)
            .finish()
    }
}
