//! The sending half of a ring.

use crate::error::{ProtocolError, SendError};
use crate::header::{Frag, Header, FIRST_FRAG_BYTES, SLOT_BYTES, VALID};
use crate::memory::{Ring, PAYLOAD_WORDS};
use crate::message::{pack, Message};
use crate::sync::{fence, Ordering};
use crate::{Config, FlowControl};

/// Whether the caller must notify the receiver (send it an IPI) after a send.
#[must_use = "a receiver may be blocked waiting for this notification"]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Notify {
    /// The receiver is not waiting for a notification (or was already notified).
    NotNeeded,
    /// The receiver armed a notification request that this sender has not yet answered: notify.
    Needed,
}

impl Notify {
    /// `true` for [`Notify::Needed`].
    pub const fn is_needed(self) -> bool {
        matches!(self, Notify::Needed)
    }

    /// `Needed` if either is.
    pub const fn or(self, other: Notify) -> Notify {
        if self.is_needed() || other.is_needed() {
            Notify::Needed
        } else {
            Notify::NotNeeded
        }
    }
}

/// Outcome of a [`Sender::try_send_bytes`] call that wrote at least one slot.
#[must_use = "check `complete` and `notify`"]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BytesSent {
    /// All fragments are in the ring. If `false`, the ring filled up part-way: call again with
    /// the same tag and bytes to continue.
    pub complete: bool,
    /// Whether the receiver must be notified now (also when not complete: the receiver has to
    /// drain the ring for the rest to fit).
    pub notify: Notify,
}

#[derive(Clone, Copy, Debug)]
struct Outgoing {
    tag: u16,
    total: usize,
    offset: usize,
}

/// Sending half of a ring. Owns the ring's slots (in epoch mode no one else writes them).
pub struct Sender<'a, const N: usize = { crate::DEFAULT_SLOTS }> {
    ring: &'a Ring<N>,
    /// Position (count of slots written so far) of the next slot.
    pos: u64,
    /// `pos % N`.
    idx: usize,
    /// Epoch mode: last consumed count read from the receiver's control line.
    acked: u64,
    /// Last armed `wake` value answered with [`Notify::Needed`].
    last_wake: u64,
    /// Fragmented send in progress.
    out: Option<Outgoing>,
    config: Config,
}

impl<'a, const N: usize> Sender<'a, N> {
    /// Longest byte payload [`Sender::try_send_bytes`] accepts.
    pub const MAX_BYTES: usize = u32::MAX as usize;

    /// A sender on a fresh (zeroed, never used) ring.
    pub fn new(ring: &'a Ring<N>, config: Config) -> Sender<'a, N> {
        #[allow(clippy::let_unit_value)]
        let () = Ring::<N>::CHECK;
        Sender {
            ring,
            pos: 0,
            idx: 0,
            acked: 0,
            last_wake: 0,
            out: None,
            config,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> Config {
        self.config
    }

    /// Turn the notification check on or off (see [`Config::notify_check`]).
    pub fn set_notify_check(&mut self, on: bool) {
        self.config.notify_check = on;
    }

    /// Number of slots written so far (messages plus fragments).
    pub fn sent(&self) -> u64 {
        self.pos
    }

    /// Whether a fragmented send is part-way through.
    pub fn fragment_in_progress(&self) -> bool {
        self.out.is_some()
    }

    /// Send one message if a slot is free.
    pub fn try_send(&mut self, msg: &Message) -> Result<Notify, SendError> {
        if self.out.is_some() {
            return Err(SendError::FragmentInProgress);
        }
        if !self.slot_free()? {
            return Err(SendError::Full);
        }
        self.write(msg.tag(), msg.len() as u8, Frag::Single, msg.words());
        Ok(self.check_notify())
    }

    /// Send one message, polling while the ring is full for as long as `keep_trying` says so.
    pub fn send_poll<F: FnMut() -> bool>(
        &mut self,
        msg: &Message,
        mut keep_trying: F,
    ) -> Result<Notify, SendError> {
        loop {
            match self.try_send(msg) {
                Err(SendError::Full) if keep_trying() => crate::sync::spin_hint(),
                r => return r,
            }
        }
    }

    /// Send a byte payload of any length up to [`Sender::MAX_BYTES`]: in one slot if it fits in
    /// 56 bytes, otherwise as fragments.
    ///
    /// Writes as many fragments as there are free slots. `Err(SendError::Full)` means nothing was
    /// written; `Ok` with `complete == false` means the ring filled part-way: call again with the
    /// same `tag` and `data` (nothing else can be sent meanwhile) to continue.
    pub fn try_send_bytes(&mut self, tag: u16, data: &[u8]) -> Result<BytesSent, SendError> {
        if data.len() > Self::MAX_BYTES {
            return Err(SendError::TooLong {
                len: data.len(),
                max: Self::MAX_BYTES,
            });
        }
        let mut st = match self.out {
            Some(st) => {
                if st.tag != tag || st.total != data.len() {
                    return Err(SendError::FragmentInProgress);
                }
                st
            }
            None if data.len() <= SLOT_BYTES => {
                let notify = self.try_send(&Message::from_bytes(tag, data)?)?;
                return Ok(BytesSent {
                    complete: true,
                    notify,
                });
            }
            None => Outgoing {
                tag,
                total: data.len(),
                offset: 0,
            },
        };
        let mut wrote = false;
        while st.offset < st.total {
            match self.slot_free() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    // Keep the progress made so far consistent with what is in the ring.
                    self.out = Some(st);
                    return Err(e.into());
                }
            }
            let mut words = [0u64; PAYLOAD_WORDS];
            let rest = data.get(st.offset..).unwrap_or(&[]);
            let (frag, n) = if st.offset == 0 {
                words[0] = st.total as u64;
                (Frag::First, FIRST_FRAG_BYTES)
            } else if rest.len() > SLOT_BYTES {
                (Frag::Middle, SLOT_BYTES)
            } else {
                (Frag::Last, rest.len())
            };
            let start = if frag == Frag::First { 1 } else { 0 };
            pack(&mut words, start, &rest[..n.min(rest.len())]);
            self.write(tag, n as u8, frag, &words);
            st.offset += n;
            wrote = true;
        }
        if !wrote {
            self.out = Some(st);
            return Err(SendError::Full);
        }
        let complete = st.offset >= st.total;
        self.out = if complete { None } else { Some(st) };
        Ok(BytesSent {
            complete,
            notify: self.check_notify(),
        })
    }

    /// Whether the next slot may be written. Epoch mode reads the receiver's ack only when the
    /// private view says the ring is full.
    #[inline]
    fn slot_free(&mut self) -> Result<bool, ProtocolError> {
        match self.config.flow {
            FlowControl::EpochAck => {
                if self.pos.wrapping_sub(self.acked) < N as u64 {
                    return Ok(true);
                }
                // Acquire: the receiver's reads of the slots it acknowledges happen before our
                // overwriting them.
                let ack = self.ring.ctrl.ack.load(Ordering::Acquire);
                if ack.wrapping_sub(self.acked) > self.pos.wrapping_sub(self.acked) {
                    return Err(ProtocolError::BadAck { ack });
                }
                self.acked = ack;
                Ok(self.pos.wrapping_sub(ack) < N as u64)
            }
            FlowControl::UsedBit => {
                // Acquire: pairs with the receiver's Release clear, so its payload reads
                // happen before our overwrite.
                let h = self.ring.slots[self.idx].header.load(Ordering::Acquire);
                Ok(h & VALID == 0)
            }
        }
    }

    /// Write the next slot: payload first, header last with Release.
    #[inline]
    fn write(&mut self, tag: u16, len: u8, frag: Frag, words: &[u64; PAYLOAD_WORDS]) {
        let slot = &self.ring.slots[self.idx];
        for (dst, &w) in slot.words.iter().zip(words.iter()) {
            dst.store(w, Ordering::Relaxed);
        }
        let header = Header {
            seq: self.pos as u32,
            tag,
            len,
            frag,
        };
        slot.header.store(header.encode(), Ordering::Release);
        self.pos = self.pos.wrapping_add(1);
        self.idx += 1;
        if self.idx == N {
            self.idx = 0;
        }
    }

    /// After writing: does the receiver want a notification we have not yet asked for?
    #[inline]
    fn check_notify(&mut self) -> Notify {
        if !self.config.notify_check {
            return Notify::NotNeeded;
        }
        // SeqCst fence between our header store and our load of `wake`, matching the one in
        // `Receiver::arm_notify` between its store of `wake` and its re-check of the header:
        // at least one of the two loads sees the other side's store.
        fence(Ordering::SeqCst);
        let wake = self.ring.ctrl.wake.load(Ordering::Relaxed);
        if wake & 1 != 0 && wake != self.last_wake {
            self.last_wake = wake;
            Notify::Needed
        } else {
            Notify::NotNeeded
        }
    }
}

impl<const N: usize> core::fmt::Debug for Sender<'_, N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Sender")
            .field("slots", &N)
            .field("pos", &self.pos)
            .field("acked", &self.acked)
            .field("fragment_in_progress", &self.out.is_some())
            .field("config", &self.config)
            .finish()
    }
}
