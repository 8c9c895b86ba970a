//! Capability values: the object a capability names, its rights and owner, and the
//! derivation relation the mapping database is ordered by.

use crate::abi::{CapError, CapIdentity, CapType, Rights, CAPADDR_BITS};

/// Size of a small page, and the alignment of every memory object.
pub const PAGE_SIZE: u64 = 4096;
/// Bytes of backing memory one CNode slot accounts for.
pub const SLOT_BYTES: u64 = 64;
/// Smallest CNode: 64 slots (one page of backing memory).
pub const MIN_CNODE_RADIX: u8 = 6;
/// Largest CNode: 2^16 slots.
pub const MAX_CNODE_RADIX: u8 = 16;
/// Size of a page-table object.
pub const VNODE_BYTES: u64 = 4096;
/// Entries in a page table.
pub const VNODE_ENTRIES: u32 = 512;
/// Entries of a top-level (PML4) table that mappings may use: the lower half. The upper
/// half maps the kernel in every address space and is never written through capabilities.
pub const USER_PML4_ENTRIES: u32 = 256;
/// Size of a dispatcher object.
pub const DISPATCHER_BYTES: u64 = 4096;
/// Physical addresses (and every memory object's end) stay below this (52-bit physical).
pub const MAX_PHYS: u64 = 1 << 52;
/// Highest interrupt vector.
pub const MAX_IRQ_VECTOR: u32 = 255;

/// Highest global system interrupt (GSI) an [`Object::IrqSrc`] may name. GSIs number the
/// inputs of all I/O APICs; real machines have a few hundred.
pub const MAX_GSI: u32 = 0xffff;

/// Level of a page-table object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VNodeLevel {
    /// Page map level 4 (the root).
    Pml4,
    /// Page directory pointer table.
    Pdpt,
    /// Page directory.
    Pd,
    /// Page table (leaf: maps frames).
    Pt,
}

impl VNodeLevel {
    /// The table a table of this level is mapped into (`None` for the root).
    pub fn parent(self) -> Option<VNodeLevel> {
        match self {
            VNodeLevel::Pml4 => None,
            VNodeLevel::Pdpt => Some(VNodeLevel::Pml4),
            VNodeLevel::Pd => Some(VNodeLevel::Pdpt),
            VNodeLevel::Pt => Some(VNodeLevel::Pd),
        }
    }

    /// The capability type of this level.
    pub fn cap_type(self) -> CapType {
        match self {
            VNodeLevel::Pml4 => CapType::VNodePml4,
            VNodeLevel::Pdpt => CapType::VNodePdpt,
            VNodeLevel::Pd => CapType::VNodePd,
            VNodeLevel::Pt => CapType::VNodePt,
        }
    }

    /// The level of a VNode capability type.
    pub fn from_cap_type(t: CapType) -> Option<VNodeLevel> {
        Some(match t {
            CapType::VNodePml4 => VNodeLevel::Pml4,
            CapType::VNodePdpt => VNodeLevel::Pdpt,
            CapType::VNodePd => VNodeLevel::Pd,
            CapType::VNodePt => VNodeLevel::Pt,
            _ => return None,
        })
    }
}

/// The object a capability refers to, with its fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Object {
    /// Nothing.
    Null,
    /// Untyped memory `[base, base + bytes)`.
    Ram {
        /// Physical base.
        base: u64,
        /// Size in bytes.
        bytes: u64,
    },
    /// Mappable memory.
    Frame {
        /// Physical base.
        base: u64,
        /// Size in bytes.
        bytes: u64,
    },
    /// Mappable device memory.
    DevFrame {
        /// Physical base.
        base: u64,
        /// Size in bytes.
        bytes: u64,
    },
    /// A CNode of `2^radix` slots backed by `[base, base + 2^radix * SLOT_BYTES)`. The guard
    /// belongs to this capability (copies may differ in it, see the crate docs).
    CNode {
        /// Physical base of the backing memory.
        base: u64,
        /// log2 of the number of slots.
        radix: u8,
        /// Guard value matched while resolving an address through this capability.
        guard: u32,
        /// Width of the guard in bits.
        guard_bits: u8,
    },
    /// A page table of the given level at `base`.
    VNode {
        /// Level.
        level: VNodeLevel,
        /// Physical base.
        base: u64,
    },
    /// A dispatcher control block.
    Dispatcher {
        /// Physical base of the DCB.
        base: u64,
        /// Dispatcher id (`base / PAGE_SIZE` when made by retype: unique system-wide).
        id: u64,
    },
    /// An endpoint to a dispatcher; badged endpoints are descendants of the unbadged one.
    EndPoint {
        /// Physical base of the receiving dispatcher's DCB.
        dispatcher_base: u64,
        /// The receiving dispatcher's id.
        dispatcher: u64,
        /// Badge delivered with every message (0 = unbadged).
        badge: u64,
    },
    /// An interrupt vector.
    Irq {
        /// Vector (or line).
        vector: u32,
    },
    /// Interrupt sources (GSIs) `first..=last`.
    IrqSrc {
        /// First GSI.
        first: u32,
        /// Last GSI (inclusive).
        last: u32,
    },
    /// I/O ports `first..=last`.
    Io {
        /// First port.
        first: u16,
        /// Last port (inclusive).
        last: u16,
    },
    /// The core's kernel capability.
    Kernel,
    /// A unique identifier.
    Id {
        /// Core that made it.
        core: u32,
        /// That core's counter.
        counter: u64,
    },
}

/// Address spaces of the mapping database: objects are only related within one space.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Space {
    Phys = 1,
    Io = 2,
    Irq = 3,
    Kernel = 4,
    Id = 5,
    IrqSrc = 6,
}

impl Object {
    /// The capability type.
    pub fn cap_type(&self) -> CapType {
        match self {
            Object::Null => CapType::Null,
            Object::Ram { .. } => CapType::Ram,
            Object::Frame { .. } => CapType::Frame,
            Object::DevFrame { .. } => CapType::DevFrame,
            Object::CNode { .. } => CapType::CNode,
            Object::VNode { level, .. } => level.cap_type(),
            Object::Dispatcher { .. } => CapType::Dispatcher,
            Object::EndPoint { .. } => CapType::EndPoint,
            Object::Irq { .. } => CapType::Irq,
            Object::IrqSrc { .. } => CapType::IrqSrc,
            Object::Io { .. } => CapType::Io,
            Object::Kernel => CapType::Kernel,
            Object::Id { .. } => CapType::Id,
        }
    }

    /// Physical memory range `(base, bytes)` of memory-backed objects (EndPoints have none).
    pub fn phys_range(&self) -> Option<(u64, u64)> {
        match *self {
            Object::Ram { base, bytes }
            | Object::Frame { base, bytes }
            | Object::DevFrame { base, bytes } => Some((base, bytes)),
            Object::CNode { base, radix, .. } => Some((base, cnode_bytes(radix))),
            Object::VNode { base, .. } => Some((base, VNODE_BYTES)),
            Object::Dispatcher { base, .. } => Some((base, DISPATCHER_BYTES)),
            _ => None,
        }
    }

    /// (space, base, size) in the mapping database. EndPoints are points (size 0) at their
    /// dispatcher's base. `None` for Null.
    pub(crate) fn extent(&self) -> Option<(Space, u64, u64)> {
        Some(match *self {
            Object::Null => return None,
            Object::EndPoint {
                dispatcher_base, ..
            } => (Space::Phys, dispatcher_base, 0),
            Object::Irq { vector } => (Space::Irq, u64::from(vector), 1),
            Object::IrqSrc { first, last } => (
                Space::IrqSrc,
                u64::from(first),
                u64::from(last).saturating_sub(u64::from(first)) + 1,
            ),
            Object::Io { first, last } => (
                Space::Io,
                u64::from(first),
                u64::from(last).saturating_sub(u64::from(first)) + 1,
            ),
            Object::Kernel => (Space::Kernel, 0, 1),
            Object::Id { core, .. } => (Space::Id, u64::from(core), 1),
            _ => {
                let (b, s) = self.phys_range()?;
                (Space::Phys, b, s)
            }
        })
    }

    /// Tie-breaker between objects of the same type and extent that are not copies.
    fn discriminator(&self) -> u64 {
        match *self {
            Object::EndPoint { badge, .. } => badge,
            Object::Id { counter, .. } => counter,
            _ => 0,
        }
    }

    /// Order of types at the same extent: ancestors first.
    fn type_order(&self) -> u8 {
        self.cap_type() as u8
    }

    /// Ordering key in the mapping database (without the unique tie-breaker).
    pub(crate) fn order_key(&self) -> Option<ObjKey> {
        let (space, base, size) = self.extent()?;
        Some(ObjKey {
            space: space as u8,
            base,
            size_rev: !size,
            order: self.type_order(),
            discr: self.discriminator(),
        })
    }

    /// Do both capabilities name the same object (so they are copies)?
    pub fn same_object(&self, other: &Object) -> bool {
        match (self.order_key(), other.order_key()) {
            (Some(a), Some(b)) => a == b,
            _ => false,
        }
    }

    /// Is `self` a (transitive) ancestor of `child` by the derivation rules: same space,
    /// `child` within `self`'s extent, not a copy, and a type that can derive from it.
    pub fn is_ancestor_of(&self, child: &Object) -> bool {
        let (Some((ps, pb, psz)), Some((cs, cb, csz))) = (self.extent(), child.extent()) else {
            return false;
        };
        if ps != cs || self.same_object(child) {
            return false;
        }
        let (pb, psz, cb, csz) = (pb as u128, psz as u128, cb as u128, csz as u128);
        let within = if csz == 0 {
            cb >= pb && (cb < pb + psz || (psz == 0 && cb == pb))
        } else {
            cb >= pb && cb + csz <= pb + psz
        };
        if !within {
            return false;
        }
        use CapType as T;
        match (self.cap_type(), child.cap_type()) {
            (T::Ram, c) => !matches!(c, T::DevFrame),
            (T::Frame, T::Frame)
            | (T::DevFrame, T::DevFrame)
            | (T::Io, T::Io)
            | (T::IrqSrc, T::IrqSrc) => true,
            (T::Dispatcher, T::EndPoint) => cb == pb,
            (T::EndPoint, T::EndPoint) => {
                self.discriminator() == 0 && child.discriminator() != 0 && cb == pb
            }
            _ => false,
        }
    }

    /// Check that the fields are well formed (used for capabilities that enter from outside:
    /// originals made at boot and copies received from other cores).
    pub fn validate(&self) -> Result<(), CapError> {
        fn mem(base: u64, bytes: u64) -> Result<(), CapError> {
            if !base.is_multiple_of(PAGE_SIZE) || !bytes.is_multiple_of(PAGE_SIZE) {
                return Err(CapError::InvalidAlignment);
            }
            if bytes == 0 || base >= MAX_PHYS || bytes > MAX_PHYS - base {
                return Err(CapError::InvalidSize);
            }
            Ok(())
        }
        match *self {
            Object::Null => Err(CapError::WrongType),
            Object::Ram { base, bytes }
            | Object::Frame { base, bytes }
            | Object::DevFrame { base, bytes } => mem(base, bytes),
            Object::CNode {
                base,
                radix,
                guard,
                guard_bits,
            } => {
                if !(MIN_CNODE_RADIX..=MAX_CNODE_RADIX).contains(&radix) {
                    return Err(CapError::InvalidSize);
                }
                if u32::from(radix) + u32::from(guard_bits) > u32::from(CAPADDR_BITS)
                    || u64::from(guard) >> guard_bits != 0
                {
                    return Err(CapError::InvalidArgument);
                }
                mem(base, cnode_bytes(radix))
            }
            Object::VNode { base, .. } => mem(base, VNODE_BYTES),
            Object::Dispatcher { base, .. } => mem(base, DISPATCHER_BYTES),
            Object::EndPoint {
                dispatcher_base, ..
            } => mem(dispatcher_base, DISPATCHER_BYTES),
            Object::Irq { vector } => {
                if vector > MAX_IRQ_VECTOR {
                    Err(CapError::OutOfRange)
                } else {
                    Ok(())
                }
            }
            Object::Io { first, last } => {
                if first > last {
                    Err(CapError::InvalidArgument)
                } else {
                    Ok(())
                }
            }
            Object::IrqSrc { first, last } => {
                if first > last {
                    Err(CapError::InvalidArgument)
                } else if last > MAX_GSI {
                    Err(CapError::OutOfRange)
                } else {
                    Ok(())
                }
            }
            Object::Kernel | Object::Id { .. } => Ok(()),
        }
    }
}

/// `first..=last` of an identity's `base` and `bytes` (a count: ports, interrupt sources),
/// each fitting `T`.
fn inclusive_range<T: TryFrom<u64>>(id: &CapIdentity) -> Result<(T, T), CapError> {
    let last = id
        .bytes
        .checked_sub(1)
        .and_then(|n| n.checked_add(id.base))
        .ok_or(CapError::OutOfRange)?;
    match (T::try_from(id.base), T::try_from(last)) {
        (Ok(first), Ok(last)) => Ok((first, last)),
        _ => Err(CapError::OutOfRange),
    }
}

/// Bytes of backing memory of a CNode with `2^radix` slots.
pub fn cnode_bytes(radix: u8) -> u64 {
    SLOT_BYTES << radix.min(MAX_CNODE_RADIX)
}

/// Mapping-database order of an object: space, base, size descending, type, discriminator.
/// Ancestors sort before their descendants; copies are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct ObjKey {
    pub space: u8,
    pub base: u64,
    pub size_rev: u64,
    pub order: u8,
    pub discr: u64,
}

impl ObjKey {
    pub fn size(&self) -> u64 {
        !self.size_rev
    }
}

/// A capability: an object, the rights to it, and the core that owns the object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Capability {
    /// The object and its fields.
    pub object: Object,
    /// Rights.
    pub rights: Rights,
    /// The core that owns the object (runs the agreement protocols for it).
    pub owner: u32,
}

impl Capability {
    /// The ABI description of this capability (flags left zero).
    pub fn identity(&self) -> CapIdentity {
        let mut id = CapIdentity {
            cap_type: self.object.cap_type() as u8,
            flags: 0,
            rights: self.rights.bits(),
            owner: self.owner,
            ..CapIdentity::default()
        };
        match self.object {
            Object::Null | Object::Kernel => {}
            Object::Ram { base, bytes }
            | Object::Frame { base, bytes }
            | Object::DevFrame { base, bytes } => {
                id.base = base;
                id.bytes = bytes;
            }
            Object::CNode {
                base,
                radix,
                guard,
                guard_bits,
            } => {
                id.base = base;
                id.bytes = cnode_bytes(radix);
                id.badge = crate::abi::pack_guard(guard, guard_bits);
                id.extra = 1 << radix;
            }
            Object::VNode { base, .. } => {
                id.base = base;
                id.bytes = VNODE_BYTES;
            }
            Object::Dispatcher { base, id: d } => {
                id.base = base;
                id.bytes = DISPATCHER_BYTES;
                id.extra = d;
            }
            Object::EndPoint {
                dispatcher_base,
                dispatcher,
                badge,
            } => {
                id.base = dispatcher_base;
                id.badge = badge;
                id.extra = dispatcher;
            }
            Object::Irq { vector } => id.base = u64::from(vector),
            Object::Io { first, last } => {
                id.base = u64::from(first);
                id.bytes = u64::from(last) - u64::from(first.min(last)) + 1;
            }
            Object::IrqSrc { first, last } => {
                id.base = u64::from(first);
                id.bytes = u64::from(last) - u64::from(first.min(last)) + 1;
            }
            Object::Id { core, counter } => {
                id.base = u64::from(core);
                id.extra = counter;
            }
        }
        id
    }
}

impl TryFrom<&CapIdentity> for Capability {
    type Error = CapError;

    /// Rebuild a capability from its description (as sent between monitors), checking
    /// every field: the inverse of [`Capability::identity`].
    fn try_from(id: &CapIdentity) -> Result<Capability, CapError> {
        let t = CapType::try_from(id.cap_type)?;
        let rights = Rights::from_bits(id.rights).ok_or(CapError::InvalidArgument)?;
        let object = match t {
            CapType::Null => return Err(CapError::WrongType),
            CapType::Ram => Object::Ram {
                base: id.base,
                bytes: id.bytes,
            },
            CapType::Frame => Object::Frame {
                base: id.base,
                bytes: id.bytes,
            },
            CapType::DevFrame => Object::DevFrame {
                base: id.base,
                bytes: id.bytes,
            },
            CapType::CNode => {
                if !id.extra.is_power_of_two() {
                    return Err(CapError::InvalidSize);
                }
                let radix = id.extra.trailing_zeros();
                if radix > u32::from(MAX_CNODE_RADIX) || id.bytes != cnode_bytes(radix as u8) {
                    return Err(CapError::InvalidSize);
                }
                let (guard, guard_bits) = crate::abi::unpack_guard(id.badge)?;
                Object::CNode {
                    base: id.base,
                    radix: radix as u8,
                    guard,
                    guard_bits,
                }
            }
            CapType::VNodePml4 | CapType::VNodePdpt | CapType::VNodePd | CapType::VNodePt => {
                let level = VNodeLevel::from_cap_type(t).ok_or(CapError::InvalidType)?;
                Object::VNode {
                    level,
                    base: id.base,
                }
            }
            CapType::Dispatcher => Object::Dispatcher {
                base: id.base,
                id: id.extra,
            },
            CapType::EndPoint => Object::EndPoint {
                dispatcher_base: id.base,
                dispatcher: id.extra,
                badge: id.badge,
            },
            CapType::Irq => Object::Irq {
                vector: u32::try_from(id.base).map_err(|_| CapError::OutOfRange)?,
            },
            CapType::Io => {
                let (first, last) = inclusive_range(id)?;
                Object::Io { first, last }
            }
            CapType::IrqSrc => {
                let (first, last) = inclusive_range(id)?;
                Object::IrqSrc { first, last }
            }
            CapType::Kernel => Object::Kernel,
            CapType::Id => Object::Id {
                core: u32::try_from(id.base).map_err(|_| CapError::OutOfRange)?,
                counter: id.extra,
            },
        };
        object.validate()?;
        let cap = Capability {
            object,
            rights,
            owner: id.owner,
        };
        // Fields the type does not use must be zero, so that one capability has one encoding.
        let mut canon = cap.identity();
        canon.flags = id.flags;
        if canon != *id {
            return Err(CapError::InvalidArgument);
        }
        Ok(cap)
    }
}

/// Do `[a, a + asz)` and `[b, b + bsz)` overlap? Size-0 extents are points.
pub(crate) fn extents_overlap(a: u64, asz: u64, b: u64, bsz: u64) -> bool {
    match (asz == 0, bsz == 0) {
        (true, true) => a == b,
        (true, false) => a >= b && a - b < bsz,
        (false, true) => b >= a && b - a < asz,
        (false, false) => a < b.saturating_add(bsz) && b < a.saturating_add(asz),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_puts_ancestors_first() {
        let ram = Object::Ram {
            base: 0x10000,
            bytes: 0x4000,
        };
        let frame = Object::Frame {
            base: 0x10000,
            bytes: 0x4000,
        };
        let small = Object::Frame {
            base: 0x10000,
            bytes: 0x1000,
        };
        let disp = Object::Dispatcher {
            base: 0x10000,
            id: 16,
        };
        let ep = Object::EndPoint {
            dispatcher_base: 0x10000,
            dispatcher: 16,
            badge: 0,
        };
        let badged = Object::EndPoint {
            dispatcher_base: 0x10000,
            dispatcher: 16,
            badge: 9,
        };
        let k = |o: &Object| o.order_key().unwrap();
        assert!(k(&ram) < k(&frame));
        assert!(k(&frame) < k(&small));
        assert!(k(&disp) < k(&ep));
        assert!(k(&ep) < k(&badged));
        assert!(ram.is_ancestor_of(&frame));
        assert!(ram.is_ancestor_of(&small));
        assert!(frame.is_ancestor_of(&small));
        assert!(!small.is_ancestor_of(&frame));
        assert!(!frame.is_ancestor_of(&frame));
        assert!(disp.is_ancestor_of(&ep));
        assert!(ep.is_ancestor_of(&badged));
        assert!(!badged.is_ancestor_of(&ep));
        assert!(ram.is_ancestor_of(&badged));
        let dev = Object::DevFrame {
            base: 0x10000,
            bytes: 0x1000,
        };
        assert!(!ram.is_ancestor_of(&dev));
    }

    #[test]
    fn identity_round_trips() {
        let objects = [
            Object::Ram {
                base: 0x1000,
                bytes: 0x3000,
            },
            Object::Frame {
                base: 0x2000,
                bytes: 0x1000,
            },
            Object::DevFrame {
                base: 0xfee0_0000,
                bytes: 0x1000,
            },
            Object::CNode {
                base: 0x10000,
                radix: 8,
                guard: 3,
                guard_bits: 4,
            },
            Object::VNode {
                level: VNodeLevel::Pdpt,
                base: 0x5000,
            },
            Object::Dispatcher {
                base: 0x6000,
                id: 6,
            },
            Object::EndPoint {
                dispatcher_base: 0x6000,
                dispatcher: 6,
                badge: 77,
            },
            Object::Irq { vector: 33 },
            Object::IrqSrc { first: 4, last: 4 },
            Object::Io {
                first: 0x3f8,
                last: 0x3ff,
            },
            Object::Kernel,
            Object::Id {
                core: 3,
                counter: 99,
            },
        ];
        for object in objects {
            let cap = Capability {
                object,
                rights: Rights::READ | Rights::GRANT,
                owner: 5,
            };
            let words = cap.identity().to_words();
            let back = CapIdentity::from_words(words);
            assert_eq!(Capability::try_from(&back), Ok(cap), "{object:?}");
        }
        let mut bad = Capability {
            object: Object::Kernel,
            rights: Rights::all(),
            owner: 0,
        }
        .identity();
        bad.base = 1;
        assert_eq!(Capability::try_from(&bad), Err(CapError::InvalidArgument));
        bad.cap_type = 0;
        assert_eq!(Capability::try_from(&bad), Err(CapError::WrongType));
        bad.cap_type = 200;
        assert_eq!(Capability::try_from(&bad), Err(CapError::InvalidType));
        // Any words at all: never a panic.
        let mut x = 0x1234_5678_9abc_def1u64;
        for _ in 0..20000 {
            let mut w = [0u64; 5];
            for v in &mut w {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *v = x;
            }
            w[0] %= 16;
            let _ = Capability::try_from(&CapIdentity::from_words(w));
        }
    }

    #[test]
    fn overlap_of_points_and_ranges() {
        assert!(extents_overlap(0, 10, 5, 10));
        assert!(!extents_overlap(0, 10, 10, 10));
        assert!(extents_overlap(3, 0, 0, 10));
        assert!(!extents_overlap(10, 0, 0, 10));
        assert!(extents_overlap(7, 0, 7, 0));
        assert!(!extents_overlap(u64::MAX - 1, 5, 0, 5));
    }

    #[test]
    fn validation() {
        assert_eq!(
            Object::Ram {
                base: 1,
                bytes: 4096
            }
            .validate(),
            Err(CapError::InvalidAlignment)
        );
        assert_eq!(
            Object::Ram {
                base: MAX_PHYS - 4096,
                bytes: 8192
            }
            .validate(),
            Err(CapError::InvalidSize)
        );
        assert_eq!(
            Object::Io { first: 5, last: 4 }.validate(),
            Err(CapError::InvalidArgument)
        );
        assert_eq!(
            Object::Irq { vector: 256 }.validate(),
            Err(CapError::OutOfRange)
        );
        assert_eq!(
            Object::IrqSrc { first: 9, last: 8 }.validate(),
            Err(CapError::InvalidArgument)
        );
        assert_eq!(
            Object::IrqSrc {
                first: 0,
                last: MAX_GSI + 1
            }
            .validate(),
            Err(CapError::OutOfRange)
        );
        assert!(Object::CNode {
            base: 0,
            radix: 8,
            guard: 0,
            guard_bits: 16
        }
        .validate()
        .is_ok());
        assert_eq!(
            Object::CNode {
                base: 0,
                radix: 8,
                guard: 0,
                guard_bits: 25
            }
            .validate(),
            Err(CapError::InvalidArgument)
        );
    }
}
