//! The shared memory of a channel: plain `#[repr(C)]` types, valid when all-zero.

use crate::endpoint::Endpoint;
use crate::receiver::Receiver;
use crate::sender::Sender;
use crate::sync::AtomicU64;
use crate::Config;
#[cfg(not(loom))]
use crate::RawMemoryError;

/// Size of a cache line, and of a slot.
pub const CACHE_LINE: usize = 64;

/// Slots per direction of a default channel (as Barrelfish's monitor channels).
pub const DEFAULT_SLOTS: usize = 32;

/// Payload words in a slot.
pub(crate) const PAYLOAD_WORDS: usize = 7;

/// One message slot: exactly one cache line, 7 payload words then the header word.
#[repr(C, align(64))]
pub(crate) struct Slot {
    pub(crate) words: [AtomicU64; PAYLOAD_WORDS],
    pub(crate) header: AtomicU64,
}

/// The receiver-owned line of a ring: the lazily published consumed count and the notification
/// request. The sender only reads it.
#[repr(C, align(64))]
pub(crate) struct ControlLine {
    /// Epoch mode: number of messages the receiver has consumed, published every ack interval.
    pub(crate) ack: AtomicU64,
    /// Notification request: `generation << 1 | armed`.
    pub(crate) wake: AtomicU64,
}

/// One direction of a channel: `N` slots written by the sender and one control line written by
/// the receiver. `#[repr(C)]`, 64-byte aligned, valid when all-zero.
#[repr(C)]
pub struct Ring<const N: usize = DEFAULT_SLOTS> {
    pub(crate) slots: [Slot; N],
    pub(crate) ctrl: ControlLine,
}

/// Which end of a channel an endpoint is. A's outgoing ring is the first one in memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Sends on the first ring, receives on the second.
    A,
    /// Sends on the second ring, receives on the first.
    B,
}

impl Side {
    /// The other end.
    pub const fn peer(self) -> Side {
        match self {
            Side::A => Side::B,
            Side::B => Side::A,
        }
    }
}

/// The memory of a two-way channel: ring `A -> B` then ring `B -> A`, `N` slots each.
///
/// Place it at any 64-byte aligned address; all-zero bytes are an empty channel. Its size is
/// [`ChannelMemory::SIZE`] (`2 * (N + 1) * 64`).
#[repr(C)]
pub struct ChannelMemory<const N: usize = DEFAULT_SLOTS> {
    rings: [Ring<N>; 2],
}

/// A channel that fills exactly one 4 KiB page (31 slots per direction).
pub type PageChannel = ChannelMemory<31>;

#[cfg(not(loom))]
const _: () = {
    assert!(core::mem::size_of::<Slot>() == CACHE_LINE);
    assert!(core::mem::align_of::<Slot>() == CACHE_LINE);
    assert!(core::mem::size_of::<ControlLine>() == CACHE_LINE);
    assert!(core::mem::size_of::<Ring<32>>() == 33 * CACHE_LINE);
    assert!(core::mem::align_of::<ChannelMemory<32>>() == CACHE_LINE);
    assert!(core::mem::size_of::<PageChannel>() == 4096);
};

impl Slot {
    #[cfg(not(loom))]
    const fn new() -> Slot {
        Slot {
            words: [const { AtomicU64::new(0) }; PAYLOAD_WORDS],
            header: AtomicU64::new(0),
        }
    }

    #[cfg(loom)]
    fn new() -> Slot {
        Slot {
            words: core::array::from_fn(|_| AtomicU64::new(0)),
            header: AtomicU64::new(0),
        }
    }
}

impl ControlLine {
    #[cfg(not(loom))]
    const fn new() -> ControlLine {
        ControlLine {
            ack: AtomicU64::new(0),
            wake: AtomicU64::new(0),
        }
    }

    #[cfg(loom)]
    fn new() -> ControlLine {
        ControlLine {
            ack: AtomicU64::new(0),
            wake: AtomicU64::new(0),
        }
    }
}

impl<const N: usize> Ring<N> {
    /// Compile-time check of `N`, evaluated when an endpoint for this `N` is created.
    pub(crate) const CHECK: () = assert!(
        N >= 2 && N <= 1 << 20,
        "a URPC ring needs between 2 and 2^20 slots"
    );

    /// Bytes of one ring: `(N + 1) * 64`.
    pub const SIZE: usize = core::mem::size_of::<Self>();

    /// An empty ring.
    #[cfg(not(loom))]
    pub const fn new() -> Ring<N> {
        Ring {
            slots: [const { Slot::new() }; N],
            ctrl: ControlLine::new(),
        }
    }

    /// An empty ring.
    #[cfg(loom)]
    pub fn new() -> Ring<N> {
        Ring {
            slots: core::array::from_fn(|_| Slot::new()),
            ctrl: ControlLine::new(),
        }
    }

    /// View memory at `ptr` as a ring (for kernel use, where each side maps the frame at its own
    /// virtual address). Checks the pointer for null and 64-byte alignment.
    ///
    /// # Safety
    ///
    /// `ptr` must point to [`Ring::SIZE`] bytes that stay mapped, readable and writable for `'a`,
    /// that were zeroed before first use (or have only ever been used as a `Ring<N>` with the
    /// same `N`), and that nothing accesses during `'a` except through this crate's types, that
    /// is, through atomic operations (the peer core included).
    #[cfg(not(loom))]
    pub unsafe fn from_raw<'a>(ptr: *const Ring<N>) -> Result<&'a Ring<N>, RawMemoryError> {
        check_ptr(ptr as *const u8)?;
        // SAFETY: non-null and aligned (checked above); the caller guarantees the memory is
        // valid for `'a` and only accessed atomically. Every bit pattern is a valid `Ring<N>`
        // (it is built only from `AtomicU64`s and padding), so the reference is to a valid value.
        Ok(unsafe { &*ptr })
    }
}

impl<const N: usize> Default for Ring<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(not(loom))]
fn check_ptr(ptr: *const u8) -> Result<(), RawMemoryError> {
    if ptr.is_null() {
        return Err(RawMemoryError::Null);
    }
    let addr = ptr as usize;
    if !addr.is_multiple_of(CACHE_LINE) {
        return Err(RawMemoryError::Misaligned { addr });
    }
    Ok(())
}

impl<const N: usize> ChannelMemory<N> {
    /// Bytes of channel memory: `2 * (N + 1) * 64`.
    pub const SIZE: usize = core::mem::size_of::<Self>();

    /// An empty channel (usable in a `static`).
    #[cfg(not(loom))]
    pub const fn new() -> ChannelMemory<N> {
        ChannelMemory {
            rings: [Ring::new(), Ring::new()],
        }
    }

    /// An empty channel.
    #[cfg(loom)]
    pub fn new() -> ChannelMemory<N> {
        ChannelMemory {
            rings: [Ring::new(), Ring::new()],
        }
    }

    /// An empty channel on the heap, allocated zeroed (no large stack temporary).
    #[cfg(all(feature = "alloc", not(loom)))]
    pub fn new_boxed() -> alloc::boxed::Box<ChannelMemory<N>> {
        let zeroed = alloc::boxed::Box::<ChannelMemory<N>>::new_zeroed();
        // SAFETY: `ChannelMemory<N>` consists only of `AtomicU64`s and padding, and all-zero
        // bytes are a valid `AtomicU64` (value 0), so the zeroed allocation is initialised.
        unsafe { zeroed.assume_init() }
    }

    /// An empty channel on the heap.
    #[cfg(all(feature = "alloc", loom))]
    pub fn new_boxed() -> alloc::boxed::Box<ChannelMemory<N>> {
        alloc::boxed::Box::new(Self::new())
    }

    /// View memory at `ptr` as a channel (for kernel use: each core maps the channel's frame at
    /// its own virtual address and calls this on its own mapping). Checks the pointer for null
    /// and 64-byte alignment.
    ///
    /// # Safety
    ///
    /// `ptr` must point to [`ChannelMemory::SIZE`] bytes that stay mapped, readable and
    /// writable for `'a`, that were zeroed before first use (or have only ever been used as a
    /// `ChannelMemory<N>` with the same `N`), and that nothing accesses during `'a` except
    /// through this crate's types, that is, through atomic operations (the peer core included).
    #[cfg(not(loom))]
    pub unsafe fn from_raw<'a>(
        ptr: *const ChannelMemory<N>,
    ) -> Result<&'a ChannelMemory<N>, RawMemoryError> {
        check_ptr(ptr as *const u8)?;
        // SAFETY: non-null and aligned (checked above); the caller guarantees the memory is
        // valid for `'a` and only accessed atomically. Every bit pattern is a valid
        // `ChannelMemory<N>` (only `AtomicU64`s and padding), so the reference is to a valid value.
        Ok(unsafe { &*ptr })
    }

    /// The ring that `from` sends on.
    pub fn ring(&self, from: Side) -> &Ring<N> {
        match from {
            Side::A => &self.rings[0],
            Side::B => &self.rings[1],
        }
    }

    /// The endpoint of `side`: a sender on its outgoing ring and a receiver on its incoming one.
    ///
    /// Taking the same side twice is a protocol violation (the two would interleave their
    /// slots) but not unsafe: every access is atomic, so the worst outcome is errors and garbage.
    pub fn endpoint(&self, side: Side, config: Config) -> Endpoint<'_, N> {
        Endpoint::from_parts(
            Sender::new(self.ring(side), config),
            Receiver::new(self.ring(side.peer()), config),
        )
    }

    /// Both endpoints with the default [`Config`]: `(A, B)`.
    pub fn split(&self) -> (Endpoint<'_, N>, Endpoint<'_, N>) {
        self.split_with(Config::DEFAULT)
    }

    /// Both endpoints with the same configuration: `(A, B)`.
    pub fn split_with(&self, config: Config) -> (Endpoint<'_, N>, Endpoint<'_, N>) {
        (
            self.endpoint(Side::A, config),
            self.endpoint(Side::B, config),
        )
    }
}

impl<const N: usize> Default for ChannelMemory<N> {
    fn default() -> Self {
        Self::new()
    }
}
