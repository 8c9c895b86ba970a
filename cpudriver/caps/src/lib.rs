//! The capability system's rules: what the CPU driver checks on every capability invocation,
//! as pure logic over one core's state (no hardware access), so that it is unit-tested on
//! the host and linked into the kernel unchanged. `no_std` + `alloc`.
//!
//! # Types
//! A [`Capability`] is an [`Object`] (type plus fields), [`Rights`] and the owner core:
//!
//! | type | fields | made by |
//! |---|---|---|
//! | RAM | base, bytes | boot (memory map); retype of RAM |
//! | Frame | base, bytes | retype of RAM or of a Frame |
//! | DevFrame | base, bytes | boot (device memory); retype of a DevFrame (never from RAM) |
//! | CNode | backing base, radix (2^radix slots of 64 bytes), guard | retype of RAM |
//! | VNode | level (PML4, PDPT, PD, PT), base | retype of RAM |
//! | Dispatcher | base, id (= base / 4096) | retype of RAM (4 KiB) |
//! | EndPoint | dispatcher base and id, badge | retype of a Dispatcher; mint adds a badge |
//! | IRQ | vector | boot; retype of the Kernel cap |
//! | IrqSrc | interrupt sources (GSIs) first..=last | retype of the Kernel cap or of an IrqSrc cap |
//! | IO | ports first..=last | boot; retype of the Kernel cap or of an IO cap |
//! | Kernel | | boot |
//! | ID | core, counter | retype of the Kernel cap |
//!
//! Rights: Read/Write/Execute govern mappings (and Write on a VNode is needed to map into
//! it), Grant is needed to copy or mint, Retype to retype. Retype passes the source's rights
//! on; mint can only remove rights (asking for more is [`CapError::InsufficientRights`]).
//!
//! # CSpace addressing (guarded, seL4 style)
//! A program's CSpace is a tree of CNodes under a root CNode capability. A capability
//! address is a 32-bit [`abi::CapAddr`] plus a depth (how many low bits to resolve). The walk
//! ([`CapState::resolve`]) starts at the root capability; at each CNode capability it first
//! consumes that capability's *guard* bits (which must equal its guard value, else
//! [`CapError::GuardMismatch`]), then `radix` bits as the slot index. When the depth is used
//! up, that slot is the result; otherwise the slot must hold a CNode capability (else
//! [`CapError::EmptySlot`] / [`CapError::WrongType`]) and the walk continues. Depths that end
//! inside a guard or index are [`CapError::DepthMismatch`]; address bits above the depth are
//! [`CapError::OutOfRange`]. Guards belong to capabilities, not CNodes: mint on a CNode
//! capability sets one ([`abi::pack_guard`]). CNodes have at least 64 slots, so a walk takes
//! at most five steps.
//!
//! The usual layout is Barrelfish's two levels: a root CNode of 2^8 slots minted with a
//! 16-bit zero guard, whose slots hold L2 CNodes of 2^8 slots. Then address
//! `l1 << 8 | l2` at depth 32 names slot `l2` of the L2 CNode in root slot `l1`, and address
//! `l1` at depth 24 names root slot `l1` itself (to pass that CNode as a destination).
//!
//! The kernel keeps its own capabilities (boot RAM, each dispatcher's CSpace root) in a
//! *kernel CNode* that no address can reach ([`CapState::kernel_slot`]). Operations take
//! [`Slot`]s; the kernel turns user addresses into slots with [`CapState::resolve`] and
//! [`CapState::resolve_dest`], or calls [`CapState::invoke`] with the raw registers.
//!
//! # Mapping database
//! Every live capability has an entry in an ordered map keyed by (space, base address, size
//! *descending*, type, discriminator, unique index). Spaces are physical memory, I/O ports,
//! IRQ vectors, interrupt sources, the kernel cap and IDs; EndPoints are points (size 0) at their dispatcher's
//! base, with the badge as discriminator; IDs use their counter. Derivation is implicit, as
//! in Barrelfish: A is an ancestor of B if they are in the same space, B lies within A's
//! extent, they are not copies, and B's type can derive from A's (RAM → anything in memory
//! but DevFrame; Frame → Frame; DevFrame → DevFrame; Dispatcher → EndPoint; unbadged
//! EndPoint → badged; IO → IO; IrqSrc → IrqSrc). Copies have equal keys up to the unique index, so they sit
//! together; the ordering puts every ancestor before its descendants, so the descendants of
//! an entry are found by scanning forward from its copies while entries start inside its
//! extent. This also covers copies that arrive from other cores: their local relations
//! follow from the key alone, without parent links to maintain.
//!
//! Per entry the database keeps [`Relations`] (remote copies, remote ancestors, remote
//! descendants) and a lock bit, and each capability records its owner core. On one core
//! alone these stay clear and the owner is the core itself.
//!
//! # Operations
//! - [`CapState::find_free`], [`CapState::free_bytes`]: where in a memory capability a
//!   retype still fits, and how much of it is unused.
//! - [`CapState::retype`]: new objects from part of a source; the region must lie inside
//!   the source, be aligned (4 KiB for memory), with power-of-two CNode sizes, fixed VNode
//!   and Dispatcher sizes, and must not overlap any existing descendant of the source
//!   ([`CapError::RetypeConflict`]). Returns the physical range the kernel must zero.
//! - [`CapState::copy`], [`CapState::mint`]: same object; mint shrinks rights and can set a
//!   badge once on an EndPoint (or a guard on a CNode capability).
//! - [`CapState::delete`]: clears a slot; the last local copy of an object reports it freed
//!   (with its memory and whether an ancestor still covers it); a CNode's contents go with
//!   it, iteratively; mappings made through the capability, and mappings inside a freed
//!   VNode, are reported so the kernel clears them.
//! - [`CapState::revoke`]: deletes every other copy and every descendant, iteratively.
//! - [`CapState::identify`]: describes a capability.
//! - [`CapState::map`], [`CapState::unmap`]: the rules of mapping Frames/DevFrames into page
//!   tables and tables into their parents (never into the kernel's upper half of a PML4,
//!   [`USER_PML4_ENTRIES`]); a [`Mapping`] record (capability → table, first
//!   entry, count) is kept so that delete and revoke report the entries to clear. The page
//!   tables themselves are written by the kernel from the returned description.
//!
//! Every operation returns a typed [`CapError`]; none panics on any input (a fuzz test drives
//! 10^5 random operations and checks [`CapState::check_invariants`]).
//!
//! # What the distributed protocol adds
//! The monitors (another crate) make retype, delete and revoke correct across cores. The
//! hooks are here: a program's retype of an object owned elsewhere answers
//! [`CapError::NotOwner`]; retype, revoke and last-copy delete of objects with remote
//! copies/descendants (or owned elsewhere) answer [`CapError::RetryThroughMonitor`]; a
//! locked object (a protocol in flight) answers [`CapError::Busy`]. The monitor sets the
//! relations ([`CapState::set_relations`]), owner ([`CapState::set_owner`]) and lock
//! ([`CapState::lock`]), inserts capabilities received from other cores
//! ([`CapState::insert_copy`]), and, once agreement is reached, performs the local part with
//! [`Origin::Monitor`]. [`CapError::RevokeFirst`] is the answer of the owner's retype
//! protocol when another core holds conflicting descendants. Capabilities travel between
//! monitors as the five words of [`abi::CapIdentity::to_words`]; the receiver rebuilds them
//! with `Capability::try_from(&CapIdentity)`, which checks every field.
//!
//! # Costs
//! Lookups, copy, mint, map and unmap are logarithmic in the number of capabilities on the
//! core. Retype and revoke scan the source's descendants; delete of a last copy scans the
//! entries before it in its space to tell whether an ancestor remains (revoke avoids that
//! scan while the revoked capability lives). An interval tree with per-subtree maximum end
//! (Barrelfish's MDB) would make that last scan logarithmic too.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod abi;
mod cap;
mod invoke;
mod state;

#[cfg(test)]
mod fuzz;
#[cfg(test)]
mod tests;

pub use abi::{CapAddr, CapError, CapOp, CapRef, CapType, Dest, Rights};
pub use cap::{
    cnode_bytes, Capability, Object, VNodeLevel, DISPATCHER_BYTES, MAX_CNODE_RADIX, MAX_GSI,
    MAX_IRQ_VECTOR, MAX_PHYS, MIN_CNODE_RADIX, PAGE_SIZE, SLOT_BYTES, USER_PML4_ENTRIES,
    VNODE_BYTES, VNODE_ENTRIES,
};
pub use invoke::Outcome;
pub use state::{
    CNodeId, CapState, DeleteReport, Freed, Identity, Mapping, Origin, PteFlags, Relations, Retype,
    Retyped, Slot, DEFAULT_MAX_CAPS, DEFAULT_MAX_MAPPINGS, MAX_KERNEL_SLOTS, MAX_RETYPE_COUNT,
};
