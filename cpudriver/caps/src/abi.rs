//! The capability ABI shared by the CPU driver and user space (libos). Needs neither `alloc`
//! nor anything else from this crate, so user programs can use it as is.
//!
//! # Invocation convention
//! A capability invocation is the syscall [`SYSCALL_CAP_INVOKE`] (the same number as
//! `abi::Syscall::CapInvoke` in `libos/abi`), with
//!
//! | register | contents |
//! |---|---|
//! | `rax` | [`SYSCALL_CAP_INVOKE`] |
//! | `rdi` | the invoked capability, a packed [`CapRef`] |
//! | `rsi` | the operation, a [`CapOp`] number |
//! | `rdx`, `r10`, `r8`, `r9` | arguments `a0..a3`, per operation below |
//!
//! The kernel answers `rax` = 0 (success) or 4 (`SysError::CapFailed`), and `rdx` = the
//! result value on success or the [`CapError`] code on failure.
//!
//! | op | invoked cap | `a0` | `a1` | `a2` | `a3` | `rdx` on success |
//! |---|---|---|---|---|---|---|
//! | [`CapOp::Retype`] (1) | source | [`pack_retype_word`] (type, count) | offset | object size | destination, [`Dest`] | count |
//! | [`CapOp::Copy`] (2) | source | [`Dest`] | | | | 0 |
//! | [`CapOp::Mint`] (3) | source | [`Dest`] | rights mask | badge (EndPoint) or guard (CNode, see [`pack_guard`]) | | 0 |
//! | [`CapOp::Delete`] (4) | the slot to clear | | | | | 0 |
//! | [`CapOp::Revoke`] (5) | the capability kept | | | | | 0 |
//! | [`CapOp::Identify`] (6) | any | user pointer to a [`CapIdentity`] the kernel fills | | | | 0 |
//! | [`CapOp::Map`] (7) | the page table (VNode) written | the Frame/DevFrame/VNode mapped, a [`CapRef`] | [`pack_map_word`] (entry, pages, rights) | offset in the frame (bytes) | | 0 |
//! | [`CapOp::Unmap`] (8) | the page table (VNode) | [`pack_map_word`] (entry, pages, rights ignored) | | | | 0 |
//!
//! Unknown bits anywhere in a packed word are refused with [`CapError::InvalidArgument`].
//!
//! # Capability addresses
//! A [`CapAddr`] is 32 bits; a [`CapRef`] adds a depth: how many of the address's low bits are
//! resolved (1..=32, most significant first). See the crate documentation for the guarded
//! CNode walk. A depth of 32 (encoded as 0 in a packed [`CapRef`]) names a capability at the
//! end of a full path; a smaller depth names a CNode slot part way down, which is how a
//! program names one of its CNode capabilities itself rather than a slot inside that CNode.

use bitflags::bitflags;

/// Syscall number of a capability invocation (`Syscall::CapInvoke` in `libos/abi`).
pub const SYSCALL_CAP_INVOKE: u64 = 7;

/// Capability types, numbered for the ABI. The four page-table levels are distinct types.
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CapType {
    /// The empty capability.
    Null = 0,
    /// Untyped physical memory: can be retyped, never mapped.
    Ram = 1,
    /// Mappable physical memory.
    Frame = 2,
    /// Mappable device memory (never zeroed, never from RAM).
    DevFrame = 3,
    /// A table of capability slots.
    CNode = 4,
    /// x86-64 page map level 4 table.
    VNodePml4 = 5,
    /// Page directory pointer table.
    VNodePdpt = 6,
    /// Page directory.
    VNodePd = 7,
    /// Page table.
    VNodePt = 8,
    /// A dispatcher control block.
    Dispatcher = 9,
    /// An LRPC endpoint to a dispatcher, optionally badged.
    EndPoint = 10,
    /// An interrupt vector.
    Irq = 11,
    /// A range of I/O ports.
    Io = 12,
    /// The core's kernel capability (held by its monitor).
    Kernel = 13,
    /// A unique identifier (core, counter).
    Id = 14,
    /// A range of interrupt sources (global system interrupts, GSIs): the authority to
    /// route those lines of the interrupt controllers to a vector.
    IrqSrc = 15,
}

impl CapType {
    /// Every type, in ABI order.
    pub const ALL: [CapType; 16] = [
        CapType::Null,
        CapType::Ram,
        CapType::Frame,
        CapType::DevFrame,
        CapType::CNode,
        CapType::VNodePml4,
        CapType::VNodePdpt,
        CapType::VNodePd,
        CapType::VNodePt,
        CapType::Dispatcher,
        CapType::EndPoint,
        CapType::Irq,
        CapType::Io,
        CapType::Kernel,
        CapType::Id,
        CapType::IrqSrc,
    ];

    /// Is this one of the four page-table types?
    pub fn is_vnode(self) -> bool {
        matches!(
            self,
            CapType::VNodePml4 | CapType::VNodePdpt | CapType::VNodePd | CapType::VNodePt
        )
    }
}

impl From<CapType> for u8 {
    fn from(t: CapType) -> u8 {
        t as u8
    }
}

impl From<CapType> for u64 {
    fn from(t: CapType) -> u64 {
        t as u64
    }
}

impl TryFrom<u8> for CapType {
    type Error = CapError;
    fn try_from(n: u8) -> Result<CapType, CapError> {
        CapType::ALL
            .get(usize::from(n))
            .copied()
            .ok_or(CapError::InvalidType)
    }
}

impl TryFrom<u16> for CapType {
    type Error = CapError;
    fn try_from(n: u16) -> Result<CapType, CapError> {
        u8::try_from(n)
            .map_err(|_| CapError::InvalidType)
            .and_then(CapType::try_from)
    }
}

impl TryFrom<u64> for CapType {
    type Error = CapError;
    fn try_from(n: u64) -> Result<CapType, CapError> {
        u8::try_from(n)
            .map_err(|_| CapError::InvalidType)
            .and_then(CapType::try_from)
    }
}

bitflags! {
    /// Rights carried by a capability. Copies keep them, mint intersects them, retype passes
    /// the source's rights on to the new objects.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
    pub struct Rights: u16 {
        /// Map readable (every mapping needs it).
        const READ = 1 << 0;
        /// Map writable; write a page table (map/unmap into a VNode).
        const WRITE = 1 << 1;
        /// Map executable (otherwise mappings are no-execute).
        const EXECUTE = 1 << 2;
        /// Copy or mint this capability (and, on an EndPoint, send capabilities through it).
        const GRANT = 1 << 3;
        /// Retype this capability into new objects.
        const RETYPE = 1 << 4;
    }
}

impl Rights {
    /// The rights that describe a page mapping.
    pub const MAP_MASK: Rights = Rights::READ.union(Rights::WRITE).union(Rights::EXECUTE);
}

/// Errors of capability operations, numbered for the ABI (`rdx` when `rax` is `CapFailed`).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CapError {
    /// The capability is of the wrong type for the operation (also: a non-CNode in an
    /// address path, a retype between types that cannot derive from each other).
    WrongType = 1,
    /// The slot (or a slot on the address path) holds no capability.
    EmptySlot = 2,
    /// The destination slot (or page-table entry) is already in use.
    SlotInUse = 3,
    /// A slot index, address, entry index or sub-range is out of bounds.
    OutOfRange = 4,
    /// The capability lacks a right the operation needs, or a mint asked for more rights.
    InsufficientRights = 5,
    /// Retype: the source already has descendants overlapping the requested region.
    RetypeConflict = 6,
    /// The object overlaps an unrelated capability (insertion of an original/remote cap).
    Overlap = 7,
    /// An object size is not allowed for the type (not a power of two, too small, equal to
    /// the source so that it would be a copy, an overflow...).
    InvalidSize = 8,
    /// An address or offset is not aligned as required.
    InvalidAlignment = 9,
    /// An argument is malformed (unknown bits, zero count, ...).
    InvalidArgument = 10,
    /// The object has descendants on another core: revoke first (answered by the monitors'
    /// retype protocol).
    RevokeFirst = 11,
    /// The capability is owned by another core: the operation goes through the owner.
    NotOwner = 12,
    /// The capability is locked by a distributed operation in progress: retry later.
    Busy = 13,
    /// A capacity limit was reached (capability table, mappings, retype count).
    LimitReached = 14,
    /// Address resolution: a CNode guard did not match.
    GuardMismatch = 15,
    /// Address resolution: the depth ended inside a CNode's guard/radix bits.
    DepthMismatch = 16,
    /// Mint: the capability already carries a badge (or guard).
    BadgeAlreadySet = 17,
    /// Unmap: nothing is mapped exactly there.
    NotMapped = 18,
    /// The capability has copies or descendants on other cores: ask the monitor.
    RetryThroughMonitor = 19,
    /// Unknown operation number.
    InvalidOperation = 20,
    /// Unknown capability type number.
    InvalidType = 21,
    /// The CSpace root slot does not hold a CNode.
    InvalidRoot = 22,
}

impl CapError {
    /// Every error, in ABI order.
    pub const ALL: [CapError; 22] = [
        CapError::WrongType,
        CapError::EmptySlot,
        CapError::SlotInUse,
        CapError::OutOfRange,
        CapError::InsufficientRights,
        CapError::RetypeConflict,
        CapError::Overlap,
        CapError::InvalidSize,
        CapError::InvalidAlignment,
        CapError::InvalidArgument,
        CapError::RevokeFirst,
        CapError::NotOwner,
        CapError::Busy,
        CapError::LimitReached,
        CapError::GuardMismatch,
        CapError::DepthMismatch,
        CapError::BadgeAlreadySet,
        CapError::NotMapped,
        CapError::RetryThroughMonitor,
        CapError::InvalidOperation,
        CapError::InvalidType,
        CapError::InvalidRoot,
    ];
}

impl From<CapError> for u64 {
    fn from(e: CapError) -> u64 {
        e as u64
    }
}

impl TryFrom<u64> for CapError {
    type Error = u64;
    /// Decode an error code; gives the number back if it is not one.
    fn try_from(n: u64) -> Result<CapError, u64> {
        if n == 0 {
            return Err(n);
        }
        usize::try_from(n - 1)
            .ok()
            .and_then(|i| CapError::ALL.get(i).copied())
            .ok_or(n)
    }
}

impl core::fmt::Display for CapError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(self, f)
    }
}

/// Capability invocation operations (`rsi` of [`SYSCALL_CAP_INVOKE`]).
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapOp {
    /// Create new objects from (part of) the invoked capability.
    Retype = 1,
    /// Copy the invoked capability into a destination slot.
    Copy = 2,
    /// Copy with fewer rights and/or a badge (EndPoint) or guard (CNode).
    Mint = 3,
    /// Clear the invoked slot.
    Delete = 4,
    /// Delete every copy and descendant of the invoked capability, except itself.
    Revoke = 5,
    /// Describe the invoked capability.
    Identify = 6,
    /// Map a Frame/DevFrame/VNode into the invoked page table.
    Map = 7,
    /// Remove a mapping from the invoked page table.
    Unmap = 8,
    /// Read an I/O port of the invoked IO capability: `a0` = port, `a1` = width in bytes
    /// (1, 2 or 4); the value comes back in `rdx`.
    IoIn = 9,
    /// Write `a2` to an I/O port of the invoked IO capability: `a0` = port, `a1` = width.
    IoOut = 10,
    /// Deliver the invoked IRQ capability's vector on this core to the calling dispatcher
    /// (until it ends); a vector has one receiver.
    IrqBind = 11,
    /// Wait for the invoked IRQ capability's vector (bound by the caller): returns at once
    /// with the number of interrupts since the last wait if any came, else blocks until one
    /// does or, if `a0` is not 0, until `a0` milliseconds passed (then returns 0).
    IrqWait = 12,
}

impl From<CapOp> for u64 {
    fn from(op: CapOp) -> u64 {
        op as u64
    }
}

impl TryFrom<u64> for CapOp {
    type Error = CapError;
    fn try_from(n: u64) -> Result<CapOp, CapError> {
        Ok(match n {
            1 => CapOp::Retype,
            2 => CapOp::Copy,
            3 => CapOp::Mint,
            4 => CapOp::Delete,
            5 => CapOp::Revoke,
            6 => CapOp::Identify,
            7 => CapOp::Map,
            8 => CapOp::Unmap,
            9 => CapOp::IoIn,
            10 => CapOp::IoOut,
            11 => CapOp::IrqBind,
            12 => CapOp::IrqWait,
            _ => return Err(CapError::InvalidOperation),
        })
    }
}

/// A capability address: up to 32 bits, resolved most significant bit first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct CapAddr(pub u32);

/// Number of bits in a [`CapAddr`].
pub const CAPADDR_BITS: u8 = 32;

/// A capability address with the number of its low bits to resolve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CapRef {
    /// The address.
    pub addr: CapAddr,
    /// How many low bits of `addr` to resolve, 1..=32.
    pub depth: u8,
}

impl CapRef {
    /// A full-depth (32-bit) reference.
    pub const fn full(addr: u32) -> CapRef {
        CapRef {
            addr: CapAddr(addr),
            depth: CAPADDR_BITS,
        }
    }

    /// A reference resolving only the low `depth` bits of `addr`.
    pub const fn with_depth(addr: u32, depth: u8) -> CapRef {
        CapRef {
            addr: CapAddr(addr),
            depth,
        }
    }

    /// Pack as `addr | depth << 32`, with depth 32 encoded as 0.
    pub fn pack(self) -> u64 {
        let d = if self.depth == CAPADDR_BITS {
            0
        } else {
            self.depth
        };
        u64::from(self.addr.0) | u64::from(d) << 32
    }

    /// Unpack; refuses unknown bits and depths above 32.
    pub fn unpack(w: u64) -> Result<CapRef, CapError> {
        if w >> 40 != 0 {
            return Err(CapError::InvalidArgument);
        }
        let d = ((w >> 32) & 0xff) as u8;
        let depth = if d == 0 { CAPADDR_BITS } else { d };
        if depth > CAPADDR_BITS {
            return Err(CapError::OutOfRange);
        }
        Ok(CapRef {
            addr: CapAddr(w as u32),
            depth,
        })
    }
}

/// A destination: the CNode capability `cnode` names, slot `index` in it (and the following
/// slots when an operation creates several capabilities).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dest {
    /// The CNode capability.
    pub cnode: CapRef,
    /// First slot index in it (24 bits in the packed form).
    pub index: u32,
}

/// Largest slot index a packed [`Dest`] can carry.
pub const DEST_INDEX_MAX: u32 = (1 << 24) - 1;

impl Dest {
    /// Pack as `cnode.pack() | index << 40`; `None` if the index does not fit 24 bits.
    pub fn pack(self) -> Option<u64> {
        if self.index > DEST_INDEX_MAX {
            return None;
        }
        Some(self.cnode.pack() | u64::from(self.index) << 40)
    }

    /// Unpack.
    pub fn unpack(w: u64) -> Result<Dest, CapError> {
        let index = (w >> 40) as u32;
        let cnode = CapRef::unpack(w & ((1 << 40) - 1))?;
        Ok(Dest { cnode, index })
    }
}

/// Retype's `a0`: `type | count << 32` (bits 8..32 must be zero).
pub fn pack_retype_word(ty: CapType, count: u32) -> u64 {
    u64::from(ty as u8) | u64::from(count) << 32
}

/// Decode retype's `a0`.
pub fn unpack_retype_word(w: u64) -> Result<(CapType, u32), CapError> {
    if (w >> 8) & 0xff_ffff != 0 {
        return Err(CapError::InvalidArgument);
    }
    let ty = CapType::try_from((w & 0xff) as u8)?;
    Ok((ty, (w >> 32) as u32))
}

/// Map/unmap's word: `entry | pages << 16 | rights << 32` (bits 48.. must be zero).
pub fn pack_map_word(entry: u16, pages: u16, rights: Rights) -> u64 {
    u64::from(entry) | u64::from(pages) << 16 | u64::from(rights.bits()) << 32
}

/// Decode a map/unmap word into (entry, pages, rights).
pub fn unpack_map_word(w: u64) -> Result<(u32, u32, Rights), CapError> {
    if w >> 48 != 0 {
        return Err(CapError::InvalidArgument);
    }
    let rights = Rights::from_bits((w >> 32) as u16).ok_or(CapError::InvalidArgument)?;
    Ok(((w & 0xffff) as u32, ((w >> 16) & 0xffff) as u32, rights))
}

/// Mint's badge word for a CNode capability: the guard value and its width in bits.
pub fn pack_guard(guard: u32, guard_bits: u8) -> u64 {
    u64::from(guard_bits) | u64::from(guard) << 6
}

/// Decode a CNode guard from a mint badge word into (guard, guard bits).
pub fn unpack_guard(w: u64) -> Result<(u32, u8), CapError> {
    let bits = (w & 0x3f) as u8;
    let guard = w >> 6;
    if bits > CAPADDR_BITS || guard >> bits != 0 {
        return Err(CapError::InvalidArgument);
    }
    Ok((guard as u32, bits))
}

/// What [`CapOp::Identify`] writes to user memory.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapIdentity {
    /// [`CapType`] number.
    pub cap_type: u8,
    /// Bit 0: locked by a distributed operation; bits 1..4: remote copies, remote
    /// ancestors, remote descendants.
    pub flags: u8,
    /// [`Rights`] bits.
    pub rights: u16,
    /// Owner core.
    pub owner: u32,
    /// Physical base (memory types), first vector/port, core (ID).
    pub base: u64,
    /// Size in bytes (memory types), number of ports (IO), 0 otherwise.
    pub bytes: u64,
    /// EndPoint badge; CNode guard as in [`pack_guard`].
    pub badge: u64,
    /// Dispatcher id (Dispatcher, EndPoint); slot count (CNode); counter (ID).
    pub extra: u64,
}

impl CapIdentity {
    /// Number of words in [`CapIdentity::to_words`].
    pub const WORDS: usize = 5;

    /// As five words (for messages): `type | flags << 8 | rights << 16 | owner << 32`, then
    /// `base`, `bytes`, `badge`, `extra`.
    pub fn to_words(&self) -> [u64; 5] {
        [
            u64::from(self.cap_type)
                | u64::from(self.flags) << 8
                | u64::from(self.rights) << 16
                | u64::from(self.owner) << 32,
            self.base,
            self.bytes,
            self.badge,
            self.extra,
        ]
    }

    /// From five words (no validation beyond the layout; see
    /// `Capability::try_from(&CapIdentity)` for that).
    pub fn from_words(w: [u64; 5]) -> CapIdentity {
        CapIdentity {
            cap_type: w[0] as u8,
            flags: (w[0] >> 8) as u8,
            rights: (w[0] >> 16) as u16,
            owner: (w[0] >> 32) as u32,
            base: w[1],
            bytes: w[2],
            badge: w[3],
            extra: w[4],
        }
    }
}

/// Bit of [`CapIdentity::flags`]: the capability is locked.
pub const IDENTITY_LOCKED: u8 = 1;
/// Bit of [`CapIdentity::flags`]: copies exist on other cores.
pub const IDENTITY_REMOTE_COPIES: u8 = 2;
/// Bit of [`CapIdentity::flags`]: ancestors exist on other cores.
pub const IDENTITY_REMOTE_ANCESTORS: u8 = 4;
/// Bit of [`CapIdentity::flags`]: descendants exist on other cores.
pub const IDENTITY_REMOTE_DESCENDANTS: u8 = 8;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cap_type_round_trips() {
        for t in CapType::ALL {
            assert_eq!(CapType::try_from(u8::from(t)), Ok(t));
            assert_eq!(CapType::try_from(u64::from(t)), Ok(t));
            assert_eq!(CapType::try_from(u16::from(u8::from(t))), Ok(t));
        }
        assert_eq!(CapType::try_from(16u8), Err(CapError::InvalidType));
        assert_eq!(CapType::try_from(0x101u64), Err(CapError::InvalidType));
        assert_eq!(CapType::try_from(u16::MAX), Err(CapError::InvalidType));
    }

    #[test]
    fn error_codes_round_trip() {
        for (i, e) in CapError::ALL.iter().enumerate() {
            assert_eq!(u64::from(*e), i as u64 + 1);
            assert_eq!(CapError::try_from(u64::from(*e)), Ok(*e));
        }
        assert_eq!(CapError::try_from(0), Err(0));
        assert_eq!(CapError::try_from(23), Err(23));
        assert_eq!(CapError::try_from(u64::MAX), Err(u64::MAX));
    }

    #[test]
    fn ops_round_trip() {
        for n in 1..=12u64 {
            assert_eq!(u64::from(CapOp::try_from(n).unwrap()), n);
        }
        assert_eq!(CapOp::try_from(0), Err(CapError::InvalidOperation));
        assert_eq!(CapOp::try_from(13), Err(CapError::InvalidOperation));
    }

    #[test]
    fn packing_round_trips() {
        let r = CapRef::with_depth(0x1234, 24);
        assert_eq!(CapRef::unpack(r.pack()), Ok(r));
        let f = CapRef::full(0xdead_beef);
        assert_eq!(f.pack(), 0xdead_beef);
        assert_eq!(CapRef::unpack(f.pack()), Ok(f));
        assert_eq!(CapRef::unpack(33 << 32), Err(CapError::OutOfRange));
        assert_eq!(CapRef::unpack(1 << 40), Err(CapError::InvalidArgument));

        let d = Dest {
            cnode: CapRef::with_depth(3, 24),
            index: 77,
        };
        assert_eq!(Dest::unpack(d.pack().unwrap()), Ok(d));
        assert_eq!(
            Dest {
                cnode: CapRef::full(0),
                index: 1 << 24
            }
            .pack(),
            None
        );

        assert_eq!(
            unpack_retype_word(pack_retype_word(CapType::Frame, 9)),
            Ok((CapType::Frame, 9))
        );
        assert_eq!(unpack_retype_word(0x100), Err(CapError::InvalidArgument));
        assert_eq!(unpack_retype_word(99), Err(CapError::InvalidType));

        let w = pack_map_word(5, 3, Rights::READ | Rights::WRITE);
        assert_eq!(unpack_map_word(w), Ok((5, 3, Rights::READ | Rights::WRITE)));
        assert_eq!(unpack_map_word(1 << 48), Err(CapError::InvalidArgument));
        assert_eq!(
            unpack_map_word(0x8000 << 32),
            Err(CapError::InvalidArgument)
        );

        assert_eq!(unpack_guard(pack_guard(5, 16)), Ok((5, 16)));
        assert_eq!(
            unpack_guard(pack_guard(5, 2)),
            Err(CapError::InvalidArgument)
        );
        assert_eq!(unpack_guard(40), Err(CapError::InvalidArgument));
    }
}
