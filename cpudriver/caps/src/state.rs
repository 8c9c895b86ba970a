//! One core's capability state: CNode objects and their slots, the mapping database, the
//! mapping records, and the operations over them.

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::ops::Bound;

use bitflags::bitflags;

use crate::abi::{CapError, CapIdentity, CapRef, CapType, Dest, Rights};
use crate::cap::{
    cnode_bytes, extents_overlap, Capability, ObjKey, Object, Space, VNodeLevel, DISPATCHER_BYTES,
    MAX_CNODE_RADIX, MAX_GSI, MAX_IRQ_VECTOR, MIN_CNODE_RADIX, PAGE_SIZE, USER_PML4_ENTRIES,
    VNODE_BYTES, VNODE_ENTRIES,
};

/// Default limit on live capabilities per core.
pub const DEFAULT_MAX_CAPS: usize = 1 << 20;
/// Default limit on mapping records per core.
pub const DEFAULT_MAX_MAPPINGS: usize = 1 << 20;
/// A physical range `(start, end)`.
type Range = (u64, u64);

/// Most objects one retype may create.
pub const MAX_RETYPE_COUNT: u32 = 1 << MAX_CNODE_RADIX;
/// Most slots the kernel's own CNode may have.
pub const MAX_KERNEL_SLOTS: u32 = 1 << MAX_CNODE_RADIX;

bitflags! {
    /// Per-entry relations to other cores, kept by the monitors (Barrelfish's "remote
    /// relations"). Set on every local copy at once.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct Relations: u8 {
        /// Copies of this object exist on other cores.
        const REMOTE_COPIES = 1 << 0;
        /// Ancestors of this object exist on other cores.
        const REMOTE_ANCESTORS = 1 << 1;
        /// Descendants of this object exist on other cores.
        const REMOTE_DESCENDANTS = 1 << 2;
    }
}

bitflags! {
    /// Flags of a page-table entry to write. `PRESENT` and `USER` are always set.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct PteFlags: u8 {
        /// Writable.
        const WRITABLE = 1 << 0;
        /// Not executable.
        const NO_EXECUTE = 1 << 1;
        /// Uncached (device memory).
        const CACHE_DISABLE = 1 << 2;
    }
}

/// Who asks for an operation. The kernel passes `User` for invocations by programs; the
/// monitor (through its Kernel capability) passes `Monitor` once it has run the distributed
/// protocol, which skips the ownership and remote-relation checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A program's invocation.
    User,
    /// The monitor, after agreement with the other cores.
    Monitor,
}

/// Identity of a CNode object (generation-checked, so stale handles are refused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CNodeId {
    idx: u32,
    gen: u32,
}

/// A slot: a CNode object and an index in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    /// The CNode.
    pub cnode: CNodeId,
    /// The index.
    pub index: u32,
}

/// Handle of a live capability table entry (generation-checked).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct CapId {
    idx: u32,
    gen: u32,
}

/// What retype should make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retype {
    /// Type of the new objects.
    pub new_type: CapType,
    /// Offset in the source (bytes for memory, ports for IO, first vector for IRQ from the
    /// Kernel capability, first port for IO from it).
    pub offset: u64,
    /// Size of each object (bytes for memory, ports for IO; 1 for IRQ; 0 for EndPoint, ID).
    pub object_size: u64,
    /// Number of objects, placed in consecutive destination slots.
    pub count: u32,
}

/// Result of a retype.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Retyped {
    /// First destination slot.
    pub first: Slot,
    /// Number of capabilities made.
    pub count: u32,
    /// Physical range `(base, bytes)` the kernel must zero before anyone can use the new
    /// objects (new Frames, CNodes, VNodes, Dispatchers made from RAM).
    pub zero: Option<(u64, u64)>,
}

/// A mapping record, and the description of the page-table entries to write or clear:
/// entries `first_entry..first_entry + count` of the table at physical `table`, pointing at
/// consecutive pages from `phys`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The object mapped (Frame, DevFrame, or a VNode mapped into its parent table).
    pub source: Object,
    /// Physical base of the table written.
    pub table: u64,
    /// Its level.
    pub table_level: VNodeLevel,
    /// First entry.
    pub first_entry: u32,
    /// Number of consecutive entries.
    pub count: u32,
    /// Physical address for the first entry.
    pub phys: u64,
    /// Entry flags.
    pub flags: PteFlags,
}

/// An object whose last local copy went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freed {
    /// The object.
    pub object: Object,
    /// Its owner core.
    pub owner: u32,
    /// Copies remained on other cores (the object lives on).
    pub remote_copies: bool,
    /// A local ancestor still covers its memory (so the memory is implicitly returned to
    /// that ancestor, which can retype it again).
    pub has_local_ancestor: bool,
    /// Local descendants still use (parts of) it.
    pub has_local_descendants: bool,
}

impl Freed {
    /// Memory of the object, `(base, bytes)`, if it has any.
    pub fn memory(&self) -> Option<(u64, u64)> {
        self.object.phys_range()
    }

    /// Memory that became unreachable and should be handed back to the monitor as a new RAM
    /// capability: a memory object (not device memory) with no local ancestor, no local
    /// descendants and no remote copies.
    pub fn memory_to_return(&self) -> Option<(u64, u64)> {
        if self.remote_copies
            || self.has_local_ancestor
            || self.has_local_descendants
            || matches!(self.object, Object::DevFrame { .. })
        {
            return None;
        }
        self.memory()
    }
}

/// What delete and revoke did: the mappings the kernel must clear (and flush from TLBs), and
/// the objects that are gone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeleteReport {
    /// Number of capabilities deleted (including CNode contents).
    pub deleted: usize,
    /// Mappings removed.
    pub unmapped: Vec<Mapping>,
    /// Objects whose last local copy was deleted, in deletion order.
    pub freed: Vec<Freed>,
}

/// What [`CapState::identify`] answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Identity {
    /// The capability.
    pub cap: Capability,
    /// Its remote relations.
    pub relations: Relations,
    /// Locked by a distributed operation.
    pub locked: bool,
}

impl Identity {
    /// The ABI form.
    pub fn to_abi(&self) -> CapIdentity {
        let mut id = self.cap.identity();
        id.flags = u8::from(self.locked) | self.relations.bits() << 1;
        id
    }
}

struct Cte {
    cap: Capability,
    slot: Option<Slot>,
    rel: Relations,
    locked: bool,
}

struct CNodeObj {
    base: u64,
    slots: Vec<Option<CapId>>,
    /// Held by the kernel (the kernel CNode, and CNodes it declared with
    /// [`CapState::protect`]): a program's revoke never deletes what lies in it.
    kernel_held: bool,
}

struct MapRec {
    cap: CapId,
    m: Mapping,
}

/// A generational arena.
struct Slab<T> {
    entries: Vec<(u32, Option<T>)>,
    free: Vec<u32>,
    live: usize,
}

impl<T> Slab<T> {
    const fn new() -> Self {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    fn insert(&mut self, v: T) -> (u32, u32) {
        self.live += 1;
        if let Some(i) = self.free.pop() {
            if let Some(e) = self.entries.get_mut(i as usize) {
                e.0 = e.0.wrapping_add(1);
                e.1 = Some(v);
                return (i, e.0);
            }
        }
        let i = self.entries.len() as u32;
        self.entries.push((0, Some(v)));
        (i, 0)
    }

    fn get(&self, idx: u32, gen: u32) -> Option<&T> {
        match self.entries.get(idx as usize) {
            Some((g, Some(v))) if *g == gen => Some(v),
            _ => None,
        }
    }

    fn get_mut(&mut self, idx: u32, gen: u32) -> Option<&mut T> {
        match self.entries.get_mut(idx as usize) {
            Some((g, Some(v))) if *g == gen => Some(v),
            _ => None,
        }
    }

    fn remove(&mut self, idx: u32, gen: u32) -> Option<T> {
        match self.entries.get_mut(idx as usize) {
            Some((g, v @ Some(_))) if *g == gen => {
                self.live -= 1;
                self.free.push(idx);
                v.take()
            }
            _ => None,
        }
    }

    fn iter(&self) -> impl Iterator<Item = (u32, u32, &T)> {
        self.entries
            .iter()
            .enumerate()
            .filter_map(|(i, (g, v))| v.as_ref().map(|v| (i as u32, *g, v)))
    }
}

type MdbKey = (ObjKey, u32);

/// One core's capability state. See the crate documentation for the model.
pub struct CapState {
    core: u32,
    max_caps: usize,
    max_mappings: usize,
    ctes: Slab<Cte>,
    cnodes: Slab<CNodeObj>,
    cnode_by_base: BTreeMap<u64, CNodeId>,
    mdb: BTreeMap<MdbKey, CapId>,
    mappings: BTreeMap<u64, MapRec>,
    maps_by_cap: BTreeSet<(CapId, u64)>,
    maps_by_entry: BTreeMap<(u64, u32), u64>,
    next_mapping: u64,
    next_id: u64,
    kernel_cnode: CNodeId,
    /// Physical ranges of device memory (base, bytes) the Kernel capability may be
    /// retyped into DevFrames over.
    device_regions: Vec<(u64, u64)>,
}

impl CapState {
    /// Empty state for `core`, with a kernel CNode of `kernel_slots` slots (at most
    /// [`MAX_KERNEL_SLOTS`]) that no program can address: the kernel keeps there the
    /// capabilities it holds itself (boot RAM, each dispatcher's CSpace root).
    pub fn new(core: u32, kernel_slots: u32) -> CapState {
        let mut cnodes = Slab::new();
        let n = kernel_slots.min(MAX_KERNEL_SLOTS) as usize;
        let (idx, gen) = cnodes.insert(CNodeObj {
            base: u64::MAX,
            slots: alloc::vec![None; n],
            kernel_held: true,
        });
        CapState {
            core,
            max_caps: DEFAULT_MAX_CAPS,
            max_mappings: DEFAULT_MAX_MAPPINGS,
            ctes: Slab::new(),
            cnodes,
            cnode_by_base: BTreeMap::new(),
            mdb: BTreeMap::new(),
            mappings: BTreeMap::new(),
            maps_by_cap: BTreeSet::new(),
            maps_by_entry: BTreeMap::new(),
            next_mapping: 1,
            next_id: 1,
            kernel_cnode: CNodeId { idx, gen },
            device_regions: Vec::new(),
        }
    }

    /// Declare `bytes` of device memory (not RAM) at physical `base`: the Kernel
    /// capability can be retyped into DevFrames inside it (the CPU driver declares the
    /// devices it knows of, such as the boot framebuffer).
    pub fn add_device_region(&mut self, base: u64, bytes: u64) {
        self.device_regions.push((base, bytes));
    }

    /// Declare CNode `cnode` the kernel's, like the kernel CNode: a program's revoke
    /// ([`CapState::revoke_by_program`]) never deletes a capability in it. The CPU driver
    /// keeps there what it relies on while a program runs (the top-level page table it
    /// loads into CR3, say), so that the program may hold copies of those capabilities.
    pub fn protect(&mut self, cnode: CNodeId) -> Result<(), CapError> {
        let cn = self
            .cnodes
            .get_mut(cnode.idx, cnode.gen)
            .ok_or(CapError::EmptySlot)?;
        cn.kernel_held = true;
        Ok(())
    }

    /// Set the limits on live capabilities and mapping records.
    pub fn set_limits(&mut self, max_caps: usize, max_mappings: usize) {
        self.max_caps = max_caps;
        self.max_mappings = max_mappings;
    }

    /// This core.
    pub fn core(&self) -> u32 {
        self.core
    }

    /// Number of live capabilities.
    pub fn live_caps(&self) -> usize {
        self.ctes.live
    }

    /// Number of mapping records.
    pub fn live_mappings(&self) -> usize {
        self.mappings.len()
    }

    /// The kernel CNode.
    pub fn kernel_cnode(&self) -> CNodeId {
        self.kernel_cnode
    }

    /// Slot `index` of the kernel CNode.
    pub fn kernel_slot(&self, index: u32) -> Slot {
        Slot {
            cnode: self.kernel_cnode,
            index,
        }
    }

    // ---------------------------------------------------------------- lookups

    fn cte(&self, id: CapId) -> Option<&Cte> {
        self.ctes.get(id.idx, id.gen)
    }

    fn cte_mut(&mut self, id: CapId) -> Option<&mut Cte> {
        self.ctes.get_mut(id.idx, id.gen)
    }

    fn cnode(&self, id: CNodeId) -> Option<&CNodeObj> {
        self.cnodes.get(id.idx, id.gen)
    }

    fn cap_id_at(&self, slot: Slot) -> Result<CapId, CapError> {
        let cn = self.cnode(slot.cnode).ok_or(CapError::EmptySlot)?;
        let e = cn
            .slots
            .get(slot.index as usize)
            .ok_or(CapError::OutOfRange)?;
        e.ok_or(CapError::EmptySlot)
    }

    fn live_cap_at(&self, slot: Slot) -> Result<(CapId, &Cte), CapError> {
        let id = self.cap_id_at(slot)?;
        let cte = self.cte(id).ok_or(CapError::EmptySlot)?;
        Ok((id, cte))
    }

    /// The capability in `slot`.
    pub fn cap(&self, slot: Slot) -> Result<Capability, CapError> {
        Ok(self.live_cap_at(slot)?.1.cap)
    }

    /// The CNode object the CNode capability in `slot` refers to.
    pub fn cnode_of(&self, slot: Slot) -> Result<CNodeId, CapError> {
        match self.cap(slot)?.object {
            Object::CNode { base, .. } => self
                .cnode_by_base
                .get(&base)
                .copied()
                .ok_or(CapError::EmptySlot),
            _ => Err(CapError::WrongType),
        }
    }

    /// Number of slots of a CNode object.
    pub fn cnode_slots(&self, cnode: CNodeId) -> Option<u32> {
        self.cnode(cnode).map(|c| c.slots.len() as u32)
    }

    /// Resolve a capability address in the CSpace whose root CNode capability is in `root`.
    ///
    /// The walk starts at the root capability. At each CNode capability it consumes the
    /// capability's guard bits (which must equal its guard) and then `radix` bits as the slot
    /// index, most significant first. When the depth is used up, that slot is the answer
    /// (empty or not); otherwise the slot must hold a CNode capability and the walk goes on.
    pub fn resolve(&self, root: Slot, r: CapRef) -> Result<Slot, CapError> {
        let depth = u32::from(r.depth);
        if depth == 0 {
            return Err(CapError::InvalidArgument);
        }
        if depth > 32 {
            return Err(CapError::OutOfRange);
        }
        let addr = u64::from(r.addr.0);
        if addr >> depth != 0 {
            return Err(CapError::OutOfRange);
        }
        let root_cte = self.live_cap_at(root).map_err(|_| CapError::InvalidRoot)?.1;
        if !matches!(root_cte.cap.object, Object::CNode { .. }) {
            return Err(CapError::InvalidRoot);
        }
        let mut obj = root_cte.cap.object;
        let mut remaining = depth;
        // Every CNode has a radix of at least MIN_CNODE_RADIX, so this ends within
        // 32 / MIN_CNODE_RADIX steps.
        loop {
            let Object::CNode {
                base,
                radix,
                guard,
                guard_bits,
            } = obj
            else {
                return Err(CapError::WrongType);
            };
            let gb = u32::from(guard_bits);
            let rb = u32::from(radix);
            if rb == 0 || gb + rb > remaining {
                return Err(CapError::DepthMismatch);
            }
            if gb > 0 {
                let g = (addr >> (remaining - gb)) & ((1u64 << gb) - 1);
                if g != u64::from(guard) {
                    return Err(CapError::GuardMismatch);
                }
            }
            remaining -= gb;
            let idx = (addr >> (remaining - rb)) & ((1u64 << rb) - 1);
            remaining -= rb;
            let cid = *self.cnode_by_base.get(&base).ok_or(CapError::EmptySlot)?;
            let slot = Slot {
                cnode: cid,
                index: idx as u32,
            };
            if remaining == 0 {
                if idx as usize >= self.cnode(cid).map_or(0, |c| c.slots.len()) {
                    return Err(CapError::OutOfRange);
                }
                return Ok(slot);
            }
            let (_, next) = self.live_cap_at(slot)?;
            obj = next.cap.object;
            if !matches!(obj, Object::CNode { .. }) {
                return Err(CapError::WrongType);
            }
        }
    }

    /// Resolve a destination: the CNode capability `d.cnode` names, slot `d.index` in it.
    pub fn resolve_dest(&self, root: Slot, d: Dest) -> Result<Slot, CapError> {
        let s = self.resolve(root, d.cnode)?;
        let cnode = self.cnode_of(s)?;
        let n = self.cnode_slots(cnode).unwrap_or(0);
        if d.index >= n {
            return Err(CapError::OutOfRange);
        }
        Ok(Slot {
            cnode,
            index: d.index,
        })
    }

    /// Check that `count` slots from `dest` exist and are empty, and that they fit the limit.
    fn check_dest(&self, dest: Slot, count: u32) -> Result<(), CapError> {
        let cn = self.cnode(dest.cnode).ok_or(CapError::EmptySlot)?;
        let end = u64::from(dest.index) + u64::from(count);
        if end > cn.slots.len() as u64 {
            return Err(CapError::OutOfRange);
        }
        if cn.slots[dest.index as usize..end as usize]
            .iter()
            .any(Option::is_some)
        {
            return Err(CapError::SlotInUse);
        }
        if self.ctes.live.saturating_add(count as usize) > self.max_caps {
            return Err(CapError::LimitReached);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- MDB queries

    fn key_of(cap: &Capability, id: CapId) -> Option<MdbKey> {
        cap.object.order_key().map(|k| (k, id.idx))
    }

    /// Local copies of `obj` (including the one asked about, if it is live).
    fn copies(&self, obj: &Object) -> Vec<CapId> {
        let Some(k) = obj.order_key() else {
            return Vec::new();
        };
        self.mdb
            .range((k, 0)..=(k, u32::MAX))
            .map(|(_, &c)| c)
            .collect()
    }

    fn has_copy(&self, obj: &Object) -> bool {
        let Some(k) = obj.order_key() else {
            return false;
        };
        self.mdb.range((k, 0)..=(k, u32::MAX)).next().is_some()
    }

    fn has_other_copy(&self, obj: &Object, me: CapId) -> bool {
        let Some(k) = obj.order_key() else {
            return false;
        };
        self.mdb
            .range((k, 0)..=(k, u32::MAX))
            .any(|(_, &c)| c != me)
    }

    /// Entries after the copies of `obj` that may be its descendants: the ones starting
    /// inside its extent.
    fn window(&self, obj: &Object) -> impl Iterator<Item = (&ObjKey, CapId)> + '_ {
        let k = obj.order_key();
        let (space, base, end) = match k {
            Some(k) => (k.space, k.base, k.base.saturating_add(k.size())),
            None => (0, 0, 0),
        };
        let lo = k.map(|k| (k, u32::MAX));
        let it = lo.map(|lo| self.mdb.range((Bound::Excluded(lo), Bound::Unbounded)));
        it.into_iter()
            .flatten()
            .take_while(move |((ek, _), _)| ek.space == space && (ek.base < end || ek.base == base))
            .map(|((ek, _), &c)| (ek, c))
    }

    /// Local descendants of `obj`, in MDB order.
    fn descendants(&self, obj: &Object) -> Vec<CapId> {
        self.window(obj)
            .filter(|(_, c)| {
                self.cte(*c)
                    .is_some_and(|e| obj.is_ancestor_of(&e.cap.object))
            })
            .map(|(_, c)| c)
            .collect()
    }

    fn has_descendants(&self, obj: &Object) -> bool {
        self.window(obj).any(|(_, c)| {
            self.cte(c)
                .is_some_and(|e| obj.is_ancestor_of(&e.cap.object))
        })
    }

    /// Does a local ancestor of `obj` exist? (Scans the entries before it in its space.)
    fn has_ancestor(&self, obj: &Object) -> bool {
        let Some(k) = obj.order_key() else {
            return false;
        };
        self.mdb
            .range(..(k, 0))
            .rev()
            .take_while(|((ek, _), _)| ek.space == k.space)
            .any(|(_, &c)| {
                self.cte(c)
                    .is_some_and(|e| e.cap.object.is_ancestor_of(obj))
            })
    }

    /// Does a local descendant of `obj` overlap `[base, base + size)` (a point if size 0)?
    fn descendant_overlaps(&self, obj: &Object, base: u64, size: u64) -> bool {
        self.window(obj).any(|(ek, c)| {
            extents_overlap(ek.base, ek.size(), base, size)
                && self
                    .cte(c)
                    .is_some_and(|e| obj.is_ancestor_of(&e.cap.object))
        })
    }

    /// Local entries of positive size overlapping `obj`'s extent (same space), other than
    /// copies, ancestors and descendants of it.
    fn unrelated_overlaps(&self, obj: &Object) -> bool {
        let Some(k) = obj.order_key() else {
            return false;
        };
        let size = k.size();
        if size == 0 {
            return false;
        }
        let end = k.base.saturating_add(size);
        let lo = ObjKey {
            space: k.space,
            base: 0,
            size_rev: 0,
            order: 0,
            discr: 0,
        };
        let hi = ObjKey {
            space: k.space,
            base: end,
            size_rev: 0,
            order: 0,
            discr: 0,
        };
        self.mdb.range((lo, 0)..(hi, 0)).any(|((ek, _), &c)| {
            ek.size() != 0
                && extents_overlap(ek.base, ek.size(), k.base, size)
                && self.cte(c).is_some_and(|e| {
                    let o = &e.cap.object;
                    !(o.same_object(obj) || o.is_ancestor_of(obj) || obj.is_ancestor_of(o))
                })
        })
    }

    /// Local copies, descendants and ancestors of the capability in `slot` (for the monitor
    /// and for tests): `(copies other than itself, descendants, has a local ancestor)`.
    pub fn relatives(&self, slot: Slot) -> Result<(Vec<Slot>, Vec<Slot>, bool), CapError> {
        let (id, cte) = self.live_cap_at(slot)?;
        let obj = cte.cap.object;
        let to_slots = |ids: Vec<CapId>| -> Vec<Slot> {
            ids.into_iter()
                .filter(|c| *c != id)
                .filter_map(|c| self.cte(c).and_then(|e| e.slot))
                .collect()
        };
        Ok((
            to_slots(self.copies(&obj)),
            to_slots(self.descendants(&obj)),
            self.has_ancestor(&obj),
        ))
    }

    // ---------------------------------------------------------------- entry management

    fn insert_cte(&mut self, cap: Capability, slot: Slot, rel: Relations) -> Result<(), CapError> {
        let Some(k) = cap.object.order_key() else {
            return Err(CapError::WrongType);
        };
        let cn = self
            .cnodes
            .get_mut(slot.cnode.idx, slot.cnode.gen)
            .ok_or(CapError::EmptySlot)?;
        let e = cn
            .slots
            .get_mut(slot.index as usize)
            .ok_or(CapError::OutOfRange)?;
        if e.is_some() {
            return Err(CapError::SlotInUse);
        }
        let (idx, gen) = self.ctes.insert(Cte {
            cap,
            slot: Some(slot),
            rel,
            locked: false,
        });
        let id = CapId { idx, gen };
        *e = Some(id);
        self.mdb.insert((k, idx), id);
        Ok(())
    }

    fn remove_mapping(&mut self, mid: u64) -> Option<Mapping> {
        let rec = self.mappings.remove(&mid)?;
        self.maps_by_cap.remove(&(rec.cap, mid));
        self.maps_by_entry.remove(&(rec.m.table, rec.m.first_entry));
        Some(rec.m)
    }

    /// Delete every capability in `work` and, through CNodes whose last copy goes, whatever
    /// they hold. Iterative: the work list lives on the heap.
    ///
    /// `hint` is an object known to be an ancestor of much of `work` (the revoked one): while
    /// it lives, it answers "has a local ancestor" without a scan.
    fn destroy(&mut self, mut work: Vec<CapId>, report: &mut DeleteReport, hint: Option<Object>) {
        while let Some(id) = work.pop() {
            let Some(cte) = self.ctes.remove(id.idx, id.gen) else {
                continue;
            };
            report.deleted += 1;
            if let Some(s) = cte.slot {
                if let Some(cn) = self.cnodes.get_mut(s.cnode.idx, s.cnode.gen) {
                    if let Some(e) = cn.slots.get_mut(s.index as usize) {
                        if *e == Some(id) {
                            *e = None;
                        }
                    }
                }
            }
            if let Some(k) = Self::key_of(&cte.cap, id) {
                self.mdb.remove(&k);
            }
            let made: Vec<u64> = self
                .maps_by_cap
                .range((id, 0)..=(id, u64::MAX))
                .map(|&(_, m)| m)
                .collect();
            for m in made {
                if let Some(m) = self.remove_mapping(m) {
                    report.unmapped.push(m);
                }
            }
            let obj = cte.cap.object;
            if self.has_copy(&obj) {
                continue;
            }
            match obj {
                Object::CNode { base, .. } => {
                    if let Some(cid) = self.cnode_by_base.remove(&base) {
                        if let Some(cn) = self.cnodes.remove(cid.idx, cid.gen) {
                            for c in cn.slots.into_iter().flatten() {
                                if let Some(e) = self.cte_mut(c) {
                                    e.slot = None;
                                }
                                work.push(c);
                            }
                        }
                    }
                }
                Object::VNode { base, .. } => {
                    let inside: Vec<u64> = self
                        .maps_by_entry
                        .range((base, 0)..=(base, u32::MAX))
                        .map(|(_, &m)| m)
                        .collect();
                    for m in inside {
                        if let Some(m) = self.remove_mapping(m) {
                            report.unmapped.push(m);
                        }
                    }
                }
                _ => {}
            }
            report.freed.push(Freed {
                object: obj,
                owner: cte.cap.owner,
                remote_copies: cte.rel.contains(Relations::REMOTE_COPIES),
                has_local_ancestor: hint
                    .is_some_and(|h| h.is_ancestor_of(&obj) && self.has_copy(&h))
                    || self.has_ancestor(&obj),
                has_local_descendants: self.has_descendants(&obj),
            });
        }
    }

    // ---------------------------------------------------------------- boot and monitor

    /// Put an original capability (from the boot memory map, device memory, the IRQ and I/O
    /// port spaces, the Kernel capability) into `dest`, with all rights, owned by this core.
    /// Memory and I/O originals must not overlap anything already known.
    pub fn insert_original(&mut self, dest: Slot, object: Object) -> Result<(), CapError> {
        if !matches!(
            object,
            Object::Ram { .. }
                | Object::Frame { .. }
                | Object::DevFrame { .. }
                | Object::Irq { .. }
                | Object::IrqSrc { .. }
                | Object::Io { .. }
                | Object::Kernel
        ) {
            return Err(CapError::WrongType);
        }
        object.validate()?;
        self.check_dest(dest, 1)?;
        if let Some((space, base, size)) = object.extent() {
            if matches!(space, Space::Phys | Space::Io | Space::IrqSrc)
                && self.any_overlap(space, base, size)
            {
                return Err(CapError::Overlap);
            }
        }
        let cap = Capability {
            object,
            rights: Rights::all(),
            owner: self.core,
        };
        self.insert_cte(cap, dest, Relations::empty())
    }

    fn any_overlap(&self, space: Space, base: u64, size: u64) -> bool {
        let end = base.saturating_add(size);
        let k = |b| ObjKey {
            space: space as u8,
            base: b,
            size_rev: 0,
            order: 0,
            discr: 0,
        };
        self.mdb
            .range((k(0), 0)..(k(end), 0))
            .any(|((ek, _), _)| extents_overlap(ek.base, ek.size(), base, size))
    }

    /// Put a capability received from another core into `dest` (the monitor's side of a
    /// cross-core copy), with the relations the protocol established. CNodes cannot move
    /// between cores. Refused if it overlaps a local capability it is not related to.
    pub fn insert_copy(
        &mut self,
        dest: Slot,
        cap: Capability,
        rel: Relations,
    ) -> Result<(), CapError> {
        if matches!(cap.object, Object::Null | Object::CNode { .. }) {
            return Err(CapError::WrongType);
        }
        cap.object.validate()?;
        self.check_dest(dest, 1)?;
        if self.unrelated_overlaps(&cap.object) {
            return Err(CapError::Overlap);
        }
        // Local copies must describe the same object, owned by the same core; a dispatcher
        // and the endpoints to it must agree on its id.
        for c in self.copies(&cap.object) {
            if let Some(e) = self.cte(c) {
                if strip_guard(e.cap.object) != strip_guard(cap.object) {
                    return Err(CapError::Overlap);
                }
                if e.cap.owner != cap.owner {
                    return Err(CapError::InvalidArgument);
                }
            }
        }
        let point = match cap.object {
            Object::Dispatcher { base, id } => Some((base, id)),
            Object::EndPoint {
                dispatcher_base,
                dispatcher,
                ..
            } => Some((dispatcher_base, dispatcher)),
            _ => None,
        };
        if let Some((base, id)) = point {
            if self.dispatcher_ids_at(base).any(|i| i != id) {
                return Err(CapError::Overlap);
            }
        }
        self.insert_cte(cap, dest, rel)
    }

    /// Dispatcher ids named by the local Dispatchers at `base` and EndPoints to `base`.
    fn dispatcher_ids_at(&self, base: u64) -> impl Iterator<Item = u64> + '_ {
        let disp = Object::Dispatcher { base, id: 0 }.order_key();
        let ep = Object::EndPoint {
            dispatcher_base: base,
            dispatcher: 0,
            badge: 0,
        }
        .order_key();
        let eps = ep.map(|k| {
            let hi = ObjKey {
                discr: u64::MAX,
                ..k
            };
            self.mdb.range((k, 0)..=(hi, u32::MAX))
        });
        let ds = disp.map(|k| self.mdb.range((k, 0)..=(k, u32::MAX)));
        ds.into_iter()
            .flatten()
            .chain(eps.into_iter().flatten())
            .filter_map(|(_, c)| match self.cte(*c)?.cap.object {
                Object::Dispatcher { id, .. } => Some(id),
                Object::EndPoint { dispatcher, .. } => Some(dispatcher),
                _ => None,
            })
    }

    /// Remote relations of the capability in `slot`.
    pub fn relations(&self, slot: Slot) -> Result<Relations, CapError> {
        Ok(self.live_cap_at(slot)?.1.rel)
    }

    fn for_each_copy(&mut self, slot: Slot, mut f: impl FnMut(&mut Cte)) -> Result<(), CapError> {
        let (_, cte) = self.live_cap_at(slot)?;
        let obj = cte.cap.object;
        for c in self.copies(&obj) {
            if let Some(e) = self.cte_mut(c) {
                f(e);
            }
        }
        Ok(())
    }

    /// Set the remote relations of the capability in `slot` and all its local copies.
    pub fn set_relations(&mut self, slot: Slot, rel: Relations) -> Result<(), CapError> {
        self.for_each_copy(slot, |e| e.rel = rel)
    }

    /// Record a new owner core for the object in `slot` (all local copies).
    pub fn set_owner(&mut self, slot: Slot, owner: u32) -> Result<(), CapError> {
        self.for_each_copy(slot, |e| e.cap.owner = owner)
    }

    /// Lock the object in `slot` (all local copies) for a distributed operation: until
    /// unlocked, every operation on it but identify answers [`CapError::Busy`].
    pub fn lock(&mut self, slot: Slot) -> Result<(), CapError> {
        if self.live_cap_at(slot)?.1.locked {
            return Err(CapError::Busy);
        }
        self.for_each_copy(slot, |e| e.locked = true)
    }

    /// Unlock the object in `slot` (all local copies).
    pub fn unlock(&mut self, slot: Slot) -> Result<(), CapError> {
        self.for_each_copy(slot, |e| e.locked = false)
    }

    // ---------------------------------------------------------------- operations

    /// The lowest physical address `a`, a multiple of `align` (a power of two, at least a
    /// page), such that `[a, a + size)` lies inside the memory capability in `src` and
    /// overlaps none of its local descendants: where a retype of `size` bytes fits.
    /// `Ok(None)` when there is no such gap.
    ///
    /// One pass over the descendants, so the kernel does not have to try offsets one by
    /// one; [`CapState::retype`] still checks the result.
    pub fn find_free(&self, src: Slot, size: u64, align: u64) -> Result<Option<u64>, CapError> {
        let (base, end, used) = self.used_ranges(src)?;
        if size == 0 || !align.is_power_of_two() || align < PAGE_SIZE {
            return Err(CapError::InvalidArgument);
        }
        let up = |a: u64| a.checked_add(align - 1).map(|a| a & !(align - 1));
        let mut cursor = up(base);
        for (s, e) in used {
            let Some(c) = cursor else { return Ok(None) };
            if e <= c {
                continue;
            }
            if c.checked_add(size).is_some_and(|ce| ce <= s) {
                break;
            }
            cursor = up(e.max(c));
        }
        Ok(cursor.filter(|c| c.checked_add(size).is_some_and(|ce| ce <= end)))
    }

    /// Bytes of the memory capability in `src` that none of its local descendants covers
    /// (what retypes of it can still use, fragmentation aside).
    pub fn free_bytes(&self, src: Slot) -> Result<u64, CapError> {
        let (base, end, used) = self.used_ranges(src)?;
        let mut covered = 0;
        let mut reach = base;
        for (s, e) in used {
            let (s, e) = (s.max(reach), e.min(end));
            if e > s {
                covered += e - s;
                reach = e;
            }
        }
        Ok(end - base - covered)
    }

    /// `(base, end, ranges)` of the memory capability in `src`: the ranges its local
    /// descendants occupy, sorted by start (an EndPoint, a point, occupies one byte).
    fn used_ranges(&self, src: Slot) -> Result<(u64, u64, Vec<Range>), CapError> {
        let (_, cte) = self.live_cap_at(src)?;
        let obj = cte.cap.object;
        let Some((base, bytes)) = obj.phys_range() else {
            return Err(CapError::WrongType);
        };
        let mut used: Vec<Range> = self
            .window(&obj)
            .filter(|(_, c)| {
                self.cte(*c)
                    .is_some_and(|e| obj.is_ancestor_of(&e.cap.object))
            })
            .map(|(k, _)| (k.base, k.base.saturating_add(k.size().max(1))))
            .collect();
        used.sort_unstable();
        Ok((base, base.saturating_add(bytes), used))
    }

    /// Retype (part of) the capability in `src` into `req.count` new objects placed in
    /// consecutive slots from `dest`. See the crate documentation for the allowed
    /// derivations; the region `[offset, offset + object_size * count)` of the source must
    /// not overlap any existing descendant of it.
    pub fn retype(
        &mut self,
        src: Slot,
        req: Retype,
        dest: Slot,
        origin: Origin,
    ) -> Result<Retyped, CapError> {
        let (_, cte) = self.live_cap_at(src)?;
        let cap = cte.cap;
        let rel = cte.rel;
        if cte.locked {
            return Err(CapError::Busy);
        }
        if !cap.rights.contains(Rights::RETYPE) {
            return Err(CapError::InsufficientRights);
        }
        if origin == Origin::User {
            if cap.owner != self.core {
                return Err(CapError::NotOwner);
            }
            if rel.intersects(Relations::REMOTE_COPIES | Relations::REMOTE_DESCENDANTS) {
                return Err(CapError::RetryThroughMonitor);
            }
        }
        if req.count == 0 {
            return Err(CapError::InvalidArgument);
        }
        if req.count > MAX_RETYPE_COUNT {
            return Err(CapError::LimitReached);
        }
        let plan = self.plan_retype(&cap.object, &req)?;
        if let Some((base, size)) = plan.region {
            if self.descendant_overlaps(&cap.object, base, size) {
                return Err(CapError::RetypeConflict);
            }
        }
        self.check_dest(dest, req.count)?;
        let new_rel = if rel.intersects(Relations::REMOTE_COPIES | Relations::REMOTE_ANCESTORS) {
            Relations::REMOTE_ANCESTORS
        } else {
            Relations::empty()
        };
        // Make sure no CNode object already sits at a base we are about to use (cannot happen
        // while the invariants hold, but refuse rather than corrupt).
        for i in 0..req.count {
            if let Object::CNode { base, .. } = plan.object(i) {
                if self.cnode_by_base.contains_key(&base) {
                    return Err(CapError::RetypeConflict);
                }
            }
        }
        for i in 0..req.count {
            let object = match plan.object(i) {
                Object::Id { core, .. } => {
                    let counter = self.next_id;
                    self.next_id += 1;
                    Object::Id { core, counter }
                }
                o => o,
            };
            if let Object::CNode { base, radix, .. } = object {
                let (idx, gen) = self.cnodes.insert(CNodeObj {
                    base,
                    slots: alloc::vec![None; 1usize << radix],
                    kernel_held: false,
                });
                self.cnode_by_base.insert(base, CNodeId { idx, gen });
            }
            let new = Capability {
                object,
                rights: cap.rights,
                owner: self.core,
            };
            let slot = Slot {
                cnode: dest.cnode,
                index: dest.index + i,
            };
            // Checked above: the slot exists and is empty.
            self.insert_cte(new, slot, new_rel)?;
        }
        Ok(Retyped {
            first: dest,
            count: req.count,
            zero: plan.zero,
        })
    }

    fn plan_retype(&self, src: &Object, req: &Retype) -> Result<Plan, CapError> {
        use CapType as T;
        let r = req;
        let count = u64::from(r.count);
        match (*src, r.new_type) {
            (Object::Ram { base, bytes }, T::Ram | T::Frame | T::CNode | T::Dispatcher)
            | (Object::Frame { base, bytes }, T::Frame)
            | (Object::DevFrame { base, bytes }, T::DevFrame) => {
                self.plan_memory(src, base, bytes, r, count)
            }
            (Object::Ram { base, bytes }, t) if t.is_vnode() => {
                self.plan_memory(src, base, bytes, r, count)
            }
            (Object::Dispatcher { base, id }, T::EndPoint) => {
                if r.offset != 0 || r.object_size != 0 || r.count != 1 {
                    return Err(CapError::InvalidArgument);
                }
                Ok(Plan {
                    kind: PlanKind::EndPoint { base, id },
                    region: Some((base, 0)),
                    zero: None,
                })
            }
            (Object::Io { first, last }, T::Io) => {
                let (start, size) = sub_range(u64::from(first), u64::from(last), r, count)?;
                Ok(Plan {
                    kind: PlanKind::Io { start, size },
                    region: Some((start, size * count)),
                    zero: None,
                })
            }
            (Object::IrqSrc { first, last }, T::IrqSrc) => {
                let (start, size) = sub_range(u64::from(first), u64::from(last), r, count)?;
                Ok(Plan {
                    kind: PlanKind::IrqSrc { start, size },
                    region: Some((start, size * count)),
                    zero: None,
                })
            }
            (Object::Kernel, T::IrqSrc) => {
                let (start, size) = units_in(r, count, u64::from(MAX_GSI) + 1)?;
                Ok(Plan {
                    kind: PlanKind::IrqSrc { start, size },
                    region: None,
                    zero: None,
                })
            }
            (Object::Kernel, T::Irq) => {
                if r.object_size != 1 {
                    return Err(CapError::InvalidSize);
                }
                let end = r.offset.checked_add(count).ok_or(CapError::OutOfRange)?;
                if end > u64::from(MAX_IRQ_VECTOR) + 1 {
                    return Err(CapError::OutOfRange);
                }
                Ok(Plan {
                    kind: PlanKind::Irq { start: r.offset },
                    region: None,
                    zero: None,
                })
            }
            (Object::Kernel, T::Io) => {
                let (start, size) = units_in(r, count, 1 << 16)?;
                Ok(Plan {
                    kind: PlanKind::Io { start, size },
                    region: None,
                    zero: None,
                })
            }
            (Object::Kernel, T::DevFrame) => {
                let size = r.object_size;
                if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
                    return Err(CapError::InvalidSize);
                }
                if !r.offset.is_multiple_of(PAGE_SIZE) {
                    return Err(CapError::InvalidArgument);
                }
                let end = size
                    .checked_mul(count)
                    .and_then(|t| t.checked_add(r.offset))
                    .ok_or(CapError::OutOfRange)?;
                let inside = self
                    .device_regions
                    .iter()
                    .any(|&(b, n)| r.offset >= b && end <= b.saturating_add(n));
                if !inside {
                    return Err(CapError::OutOfRange);
                }
                Ok(Plan {
                    kind: PlanKind::Memory {
                        ty: T::DevFrame,
                        start: r.offset,
                        size,
                    },
                    // Like IO and IRQ capabilities, device memory is not carved out of
                    // the Kernel capability: DevFrames over the same memory may coexist.
                    region: None,
                    zero: None,
                })
            }
            (Object::Kernel, T::Id) => {
                if r.offset != 0 || r.object_size != 0 {
                    return Err(CapError::InvalidArgument);
                }
                Ok(Plan {
                    kind: PlanKind::Id { core: self.core },
                    region: None,
                    zero: None,
                })
            }
            _ => Err(CapError::WrongType),
        }
    }

    fn plan_memory(
        &self,
        src: &Object,
        base: u64,
        bytes: u64,
        r: &Retype,
        count: u64,
    ) -> Result<Plan, CapError> {
        use CapType as T;
        let size = r.object_size;
        match r.new_type {
            T::Ram | T::Frame | T::DevFrame => {
                if size == 0 || !size.is_multiple_of(PAGE_SIZE) {
                    return Err(CapError::InvalidSize);
                }
            }
            T::CNode => {
                if !size.is_power_of_two()
                    || size < cnode_bytes(MIN_CNODE_RADIX)
                    || size > cnode_bytes(MAX_CNODE_RADIX)
                {
                    return Err(CapError::InvalidSize);
                }
            }
            T::Dispatcher => {
                if size != DISPATCHER_BYTES {
                    return Err(CapError::InvalidSize);
                }
            }
            t if t.is_vnode() => {
                if size != VNODE_BYTES {
                    return Err(CapError::InvalidSize);
                }
            }
            _ => return Err(CapError::WrongType),
        }
        if !r.offset.is_multiple_of(PAGE_SIZE) {
            return Err(CapError::InvalidAlignment);
        }
        if r.new_type == src.cap_type() && size == bytes {
            // The same type over the same range would be a copy, not a descendant.
            return Err(CapError::InvalidSize);
        }
        let total = size.checked_mul(count).ok_or(CapError::OutOfRange)?;
        let end = r.offset.checked_add(total).ok_or(CapError::OutOfRange)?;
        if end > bytes {
            return Err(CapError::OutOfRange);
        }
        let start = base + r.offset;
        let zero = matches!(src, Object::Ram { .. }) && r.new_type != T::Ram;
        Ok(Plan {
            kind: PlanKind::Memory {
                ty: r.new_type,
                start,
                size,
            },
            region: Some((start, total)),
            zero: zero.then_some((start, total)),
        })
    }

    /// Copy the capability in `src` into the empty slot `dest`: same object, same rights.
    /// Needs the Grant right.
    pub fn copy(&mut self, src: Slot, dest: Slot) -> Result<(), CapError> {
        let (_, cte) = self.live_cap_at(src)?;
        let (cap, rel) = (cte.cap, cte.rel);
        if cte.locked {
            return Err(CapError::Busy);
        }
        if !cap.rights.contains(Rights::GRANT) {
            return Err(CapError::InsufficientRights);
        }
        self.check_dest(dest, 1)?;
        self.insert_cte(cap, dest, rel)
    }

    /// Copy with rights `rights` (which must be a subset of the source's: asking for more is
    /// an error) and a badge. A non-zero badge is allowed on an unbadged EndPoint (the result
    /// is a badged EndPoint, a descendant of the unbadged one) and on a CNode capability
    /// without a guard (the badge encodes a guard, see [`crate::abi::pack_guard`]); zero keeps
    /// the source's badge/guard. Needs the Grant right.
    pub fn mint(
        &mut self,
        src: Slot,
        dest: Slot,
        rights: Rights,
        badge: u64,
    ) -> Result<(), CapError> {
        let (_, cte) = self.live_cap_at(src)?;
        let (cap, rel) = (cte.cap, cte.rel);
        if cte.locked {
            return Err(CapError::Busy);
        }
        if !cap.rights.contains(Rights::GRANT) || !cap.rights.contains(rights) {
            return Err(CapError::InsufficientRights);
        }
        let mut new = cap;
        new.rights = rights;
        let mut new_rel = rel;
        if badge != 0 {
            match &mut new.object {
                Object::EndPoint { badge: b, .. } => {
                    if *b != 0 {
                        return Err(CapError::BadgeAlreadySet);
                    }
                    *b = badge;
                    new_rel =
                        if rel.intersects(Relations::REMOTE_COPIES | Relations::REMOTE_ANCESTORS) {
                            Relations::REMOTE_ANCESTORS
                        } else {
                            Relations::empty()
                        };
                }
                Object::CNode {
                    radix,
                    guard,
                    guard_bits,
                    ..
                } => {
                    if *guard_bits != 0 {
                        return Err(CapError::BadgeAlreadySet);
                    }
                    let (g, gb) = crate::abi::unpack_guard(badge)?;
                    if u32::from(gb) + u32::from(*radix) > 32 {
                        return Err(CapError::InvalidArgument);
                    }
                    *guard = g;
                    *guard_bits = gb;
                }
                _ => return Err(CapError::WrongType),
            }
        }
        self.check_dest(dest, 1)?;
        self.insert_cte(new, dest, new_rel)
    }

    /// Delete the capability in `slot`. If it was the last local copy of its object, the
    /// object is reported freed; a CNode's contents are then deleted too (iteratively), a
    /// VNode's mappings are removed. Mappings made through this capability are removed.
    ///
    /// From a program (`Origin::User`), deleting the last local copy of an object owned by
    /// another core or with copies on other cores needs the monitor
    /// ([`CapError::RetryThroughMonitor`]).
    pub fn delete(&mut self, slot: Slot, origin: Origin) -> Result<DeleteReport, CapError> {
        let (id, cte) = self.live_cap_at(slot)?;
        if cte.locked {
            return Err(CapError::Busy);
        }
        if origin == Origin::User
            && !self.has_other_copy(&cte.cap.object, id)
            && (cte.cap.owner != self.core || cte.rel.contains(Relations::REMOTE_COPIES))
        {
            return Err(CapError::RetryThroughMonitor);
        }
        let mut report = DeleteReport::default();
        self.destroy(alloc::vec![id], &mut report, None);
        Ok(report)
    }

    /// Delete every local copy (other than the one in `slot`) and every local descendant of
    /// the capability in `slot`, iteratively, with everything their deletion takes along.
    /// Fails with [`CapError::Busy`] (deleting nothing) if any of them is locked; from a
    /// program, with [`CapError::RetryThroughMonitor`] if copies or descendants exist on
    /// other cores (the monitor runs the two-phase revoke and then calls this with
    /// `Origin::Monitor` on every core).
    pub fn revoke(&mut self, slot: Slot, origin: Origin) -> Result<DeleteReport, CapError> {
        let (obj, targets) = self.revoke_targets(slot, origin)?;
        // Delete in reverse MDB order (descendants before ancestors) as the work list pops.
        let mut report = DeleteReport::default();
        self.destroy(targets, &mut report, Some(obj));
        Ok(report)
    }

    /// [`CapState::revoke`] invoked by a program (what [`CapState::invoke`] does with
    /// `Origin::User`): refused with [`CapError::InsufficientRights`] when it would delete a
    /// capability in the kernel CNode or in a CNode the kernel declared its own
    /// ([`CapState::protect`]), such as the kernel's copy of the program's own root CNode,
    /// which the kernel needs to delete the program's CSpace when it ends.
    pub fn revoke_by_program(&mut self, slot: Slot) -> Result<DeleteReport, CapError> {
        let (obj, targets) = self.revoke_targets(slot, Origin::User)?;
        if targets.iter().any(|c| {
            self.cte(*c)
                .and_then(|e| e.slot)
                .and_then(|s| self.cnode(s.cnode))
                .is_some_and(|cn| cn.kernel_held)
        }) {
            return Err(CapError::InsufficientRights);
        }
        let mut report = DeleteReport::default();
        self.destroy(targets, &mut report, Some(obj));
        Ok(report)
    }

    /// The checks of a revoke, and what it deletes: the other copies and the descendants.
    fn revoke_targets(&self, slot: Slot, origin: Origin) -> Result<(Object, Vec<CapId>), CapError> {
        let (id, cte) = self.live_cap_at(slot)?;
        if cte.locked {
            return Err(CapError::Busy);
        }
        if origin == Origin::User
            && cte
                .rel
                .intersects(Relations::REMOTE_COPIES | Relations::REMOTE_DESCENDANTS)
        {
            return Err(CapError::RetryThroughMonitor);
        }
        let obj = cte.cap.object;
        let mut targets: Vec<CapId> = self.copies(&obj).into_iter().filter(|c| *c != id).collect();
        targets.extend(self.descendants(&obj));
        if targets
            .iter()
            .any(|c| self.cte(*c).is_some_and(|e| e.locked))
        {
            return Err(CapError::Busy);
        }
        Ok((obj, targets))
    }

    /// The local part of a distributed revoke of an object `[base, base + size)` owned by
    /// another core: delete every capability of this core to a physical object lying
    /// inside the range (the revoked object's copies and descendants here), with their
    /// mappings. Objects that merely overlap the range (an ancestor) stay. Locked
    /// capabilities are deleted too: the agreement that led here supersedes local locks.
    pub fn revoke_range(&mut self, base: u64, size: u64) -> Result<DeleteReport, CapError> {
        let end = base.checked_add(size).ok_or(CapError::InvalidSize)?;
        if size == 0 {
            return Err(CapError::InvalidSize);
        }
        let targets: Vec<CapId> = self
            .mdb
            .values()
            .copied()
            .filter(|id| {
                self.cte(*id).is_some_and(|e| {
                    e.cap.object.extent().is_some_and(|(space, b, s)| {
                        space == Space::Phys && b >= base && b.saturating_add(s) <= end
                    })
                })
            })
            .collect();
        let mut report = DeleteReport::default();
        self.destroy(targets, &mut report, None);
        Ok(report)
    }

    /// Describe the capability in `slot`.
    pub fn identify(&self, slot: Slot) -> Result<Identity, CapError> {
        let (_, cte) = self.live_cap_at(slot)?;
        Ok(Identity {
            cap: cte.cap,
            relations: cte.rel,
            locked: cte.locked,
        })
    }

    /// Map `pages` pages of the Frame/DevFrame in `src`, from byte `offset`, into entries
    /// `entry..entry + pages` of the page table (level PT) in `table`; or map the VNode in
    /// `src` (then `pages` = 1, `offset` = 0) into one entry of a table one level up.
    /// `rights` (Read required, Write for a writable mapping, Execute for an executable one)
    /// must be held by `src`; `table` needs Write. Returns the entries to write; the record
    /// is kept so delete/revoke/unmap report it.
    pub fn map(
        &mut self,
        src: Slot,
        table: Slot,
        entry: u32,
        rights: Rights,
        offset: u64,
        pages: u32,
    ) -> Result<Mapping, CapError> {
        let (tid, tcte) = self.live_cap_at(table)?;
        let Object::VNode {
            level: tlevel,
            base: tbase,
        } = tcte.cap.object
        else {
            return Err(CapError::WrongType);
        };
        if tcte.locked {
            return Err(CapError::Busy);
        }
        if !tcte.cap.rights.contains(Rights::WRITE) {
            return Err(CapError::InsufficientRights);
        }
        let (sid, scte) = self.live_cap_at(src)?;
        if scte.locked {
            return Err(CapError::Busy);
        }
        let sobj = scte.cap.object;
        let srights = scte.cap.rights;
        let _ = tid;
        if !Rights::MAP_MASK.contains(rights) || !rights.contains(Rights::READ) {
            return Err(CapError::InvalidArgument);
        }
        if !srights.contains(rights) {
            return Err(CapError::InsufficientRights);
        }
        if entry >= VNODE_ENTRIES {
            return Err(CapError::OutOfRange);
        }
        if pages == 0 {
            return Err(CapError::InvalidArgument);
        }
        if u64::from(entry) + u64::from(pages) > u64::from(VNODE_ENTRIES) {
            return Err(CapError::OutOfRange);
        }
        if tlevel == VNodeLevel::Pml4 && entry + pages > USER_PML4_ENTRIES {
            // The upper half of every top-level table is the kernel's.
            return Err(CapError::OutOfRange);
        }
        let mut flags = PteFlags::empty();
        if rights.contains(Rights::WRITE) {
            flags |= PteFlags::WRITABLE;
        }
        if !rights.contains(Rights::EXECUTE) {
            flags |= PteFlags::NO_EXECUTE;
        }
        let phys = match sobj {
            Object::Frame { base, bytes } | Object::DevFrame { base, bytes } => {
                if tlevel != VNodeLevel::Pt {
                    return Err(CapError::WrongType);
                }
                if !offset.is_multiple_of(PAGE_SIZE) {
                    return Err(CapError::InvalidAlignment);
                }
                let len = u64::from(pages) * PAGE_SIZE;
                if offset > bytes || len > bytes - offset {
                    return Err(CapError::OutOfRange);
                }
                if matches!(sobj, Object::DevFrame { .. }) {
                    flags |= PteFlags::CACHE_DISABLE;
                }
                base + offset
            }
            Object::VNode { level, base } => {
                if level.parent() != Some(tlevel) {
                    return Err(CapError::WrongType);
                }
                if pages != 1 || offset != 0 {
                    return Err(CapError::InvalidArgument);
                }
                base
            }
            _ => return Err(CapError::WrongType),
        };
        // Entries in use: mappings in one table never overlap, so only the last one starting
        // before our end can.
        if let Some((&(_, first), &mid)) = self
            .maps_by_entry
            .range((tbase, 0)..(tbase, entry + pages))
            .next_back()
        {
            let count = self.mappings.get(&mid).map_or(1, |r| r.m.count);
            if first + count > entry {
                return Err(CapError::SlotInUse);
            }
        }
        if self.mappings.len() >= self.max_mappings {
            return Err(CapError::LimitReached);
        }
        let m = Mapping {
            source: sobj,
            table: tbase,
            table_level: tlevel,
            first_entry: entry,
            count: pages,
            phys,
            flags,
        };
        let mid = self.next_mapping;
        self.next_mapping += 1;
        self.mappings.insert(mid, MapRec { cap: sid, m });
        self.maps_by_cap.insert((sid, mid));
        self.maps_by_entry.insert((tbase, entry), mid);
        Ok(m)
    }

    /// Remove the mapping that starts at `entry` and spans exactly `pages` entries of the
    /// page table in `table` (Write needed). Returns the entries to clear.
    pub fn unmap(&mut self, table: Slot, entry: u32, pages: u32) -> Result<Mapping, CapError> {
        let (_, tcte) = self.live_cap_at(table)?;
        let Object::VNode { base, .. } = tcte.cap.object else {
            return Err(CapError::WrongType);
        };
        if tcte.locked {
            return Err(CapError::Busy);
        }
        if !tcte.cap.rights.contains(Rights::WRITE) {
            return Err(CapError::InsufficientRights);
        }
        if entry >= VNODE_ENTRIES {
            return Err(CapError::OutOfRange);
        }
        let mid = *self
            .maps_by_entry
            .get(&(base, entry))
            .ok_or(CapError::NotMapped)?;
        if self.mappings.get(&mid).map(|r| r.m.count) != Some(pages) {
            return Err(CapError::NotMapped);
        }
        self.remove_mapping(mid).ok_or(CapError::NotMapped)
    }

    /// Mappings made through the capability in `slot`.
    pub fn mappings_of(&self, slot: Slot) -> Result<Vec<Mapping>, CapError> {
        let (id, _) = self.live_cap_at(slot)?;
        Ok(self
            .maps_by_cap
            .range((id, 0)..=(id, u64::MAX))
            .filter_map(|(_, m)| self.mappings.get(m).map(|r| r.m))
            .collect())
    }

    // ---------------------------------------------------------------- invariants

    /// Check every structural invariant; `Err` describes the first violation found.
    ///
    /// - slots, table entries and the MDB agree (each live capability sits in exactly one
    ///   slot and one MDB position with its current key);
    /// - every capability is well formed; copies name identical objects (up to a CNode
    ///   capability's guard) and agree on the owner;
    /// - every CNode capability has its CNode object and every CNode object (but the
    ///   kernel's) has a capability;
    /// - any two overlapping memory capabilities are copies or ancestor/descendant (so every
    ///   descendant lies within its ancestor's range and has a type that derives from it);
    /// - mapping records point to live Frame/DevFrame/VNode capabilities, into live tables
    ///   of the right level, within the frame and the table, without overlapping each other.
    pub fn check_invariants(&self) -> Result<(), alloc::string::String> {
        use alloc::format;
        if self.cnode(self.kernel_cnode).is_none() {
            return Err("kernel CNode gone".into());
        }
        if self.mdb.len() != self.ctes.live {
            return Err(format!(
                "mdb has {} entries, {} live caps",
                self.mdb.len(),
                self.ctes.live
            ));
        }
        for (idx, gen, e) in self.ctes.iter() {
            let id = CapId { idx, gen };
            if let Err(err) = e.cap.object.validate() {
                return Err(format!("cap {:?} malformed: {:?}", e.cap, err));
            }
            let Some(s) = e.slot else {
                return Err(format!("cap {:?} in no slot", e.cap));
            };
            let back = self
                .cnode(s.cnode)
                .and_then(|c| c.slots.get(s.index as usize).copied().flatten());
            if back != Some(id) {
                return Err(format!("slot of {:?} does not point back", e.cap));
            }
            let Some(k) = Self::key_of(&e.cap, id) else {
                return Err("null capability stored".into());
            };
            if self.mdb.get(&k) != Some(&id) {
                return Err(format!("{:?} not in the MDB at its key", e.cap));
            }
            if let Object::CNode { base, radix, .. } = e.cap.object {
                let Some(cid) = self.cnode_by_base.get(&base) else {
                    return Err(format!("CNode cap {:?} without object", e.cap));
                };
                let n = self.cnode(*cid).map_or(0, |c| c.slots.len());
                if n != 1usize << radix {
                    return Err(format!("CNode {base:#x} object has {n} slots"));
                }
            }
            for c in self.copies(&e.cap.object) {
                let Some(o) = self.cte(c) else {
                    return Err("dangling MDB entry".into());
                };
                if strip_guard(o.cap.object) != strip_guard(e.cap.object)
                    || o.cap.owner != e.cap.owner
                {
                    return Err(format!("copies differ: {:?} vs {:?}", o.cap, e.cap));
                }
            }
            if let Object::Dispatcher { base, id }
            | Object::EndPoint {
                dispatcher_base: base,
                dispatcher: id,
                ..
            } = e.cap.object
            {
                if self.dispatcher_ids_at(base).any(|i| i != id) {
                    return Err(format!("dispatcher ids disagree at {base:#x}"));
                }
            }
        }
        for (k, id) in &self.mdb {
            match self.cte(*id) {
                Some(e) if Self::key_of(&e.cap, *id).as_ref() == Some(k) => {}
                _ => return Err("MDB entry without matching cap".into()),
            }
        }
        for (idx, gen, cn) in self.cnodes.iter() {
            let cid = CNodeId { idx, gen };
            for (i, s) in cn.slots.iter().enumerate() {
                if let Some(c) = s {
                    let ok = self.cte(*c).is_some_and(|e| {
                        e.slot
                            == Some(Slot {
                                cnode: cid,
                                index: i as u32,
                            })
                    });
                    if !ok {
                        return Err(format!("slot {i} of CNode {:#x} stale", cn.base));
                    }
                }
            }
            if cid != self.kernel_cnode {
                if self.cnode_by_base.get(&cn.base) != Some(&cid) {
                    return Err(format!("CNode object {:#x} not indexed", cn.base));
                }
                let has_cap = self.mdb.values().any(|c| {
                    self.cte(*c).is_some_and(
                        |e| matches!(e.cap.object, Object::CNode { base, .. } if base == cn.base),
                    )
                });
                if !has_cap {
                    return Err(format!("CNode object {:#x} without capability", cn.base));
                }
            }
        }
        if self.cnode_by_base.len() + 1 != self.cnodes.live {
            return Err("CNode index and arena disagree".into());
        }
        // Overlaps in physical memory: each pair is checked from the earlier entry.
        for ((k, _), id) in &self.mdb {
            if k.space != Space::Phys as u8 || k.size() == 0 {
                continue;
            }
            let Some(e) = self.cte(*id) else { continue };
            let end = k.base + k.size();
            let after = self
                .mdb
                .range((Bound::Excluded((*k, u32::MAX)), Bound::Unbounded))
                .take_while(|((ok, _), _)| ok.space == k.space && ok.base < end);
            for ((ok, _), oid) in after {
                if ok.size() == 0 {
                    continue;
                }
                let Some(o) = self.cte(*oid) else { continue };
                if !e.cap.object.is_ancestor_of(&o.cap.object) {
                    return Err(format!(
                        "unrelated overlap: {:?} and {:?}",
                        e.cap.object, o.cap.object
                    ));
                }
            }
        }
        // Mapping records.
        if self.maps_by_cap.len() != self.mappings.len()
            || self.maps_by_entry.len() != self.mappings.len()
        {
            return Err("mapping indexes disagree".into());
        }
        let mut last: Option<(u64, u32)> = None;
        for (&(table, first), mid) in &self.maps_by_entry {
            let Some(r) = self.mappings.get(mid) else {
                return Err("mapping index points nowhere".into());
            };
            if r.m.table != table || r.m.first_entry != first {
                return Err("mapping index key wrong".into());
            }
            if !self.maps_by_cap.contains(&(r.cap, *mid)) {
                return Err("mapping not indexed by cap".into());
            }
            let Some(src) = self.cte(r.cap) else {
                return Err(format!("mapping {:?} of a dead cap", r.m));
            };
            if src.cap.object != r.m.source {
                return Err("mapping source differs from its cap".into());
            }
            if r.m.count == 0 || first + r.m.count > VNODE_ENTRIES {
                return Err("mapping outside its table".into());
            }
            if let Some((t, end)) = last {
                if t == table && end > first {
                    return Err("mappings overlap".into());
                }
            }
            last = Some((table, first + r.m.count));
            let tobj = Object::VNode {
                level: r.m.table_level,
                base: table,
            };
            if !self.has_copy(&tobj) {
                return Err(format!("mapping into dead table {table:#x}"));
            }
            match r.m.source {
                Object::Frame { base, bytes } | Object::DevFrame { base, bytes } => {
                    let len = u64::from(r.m.count) * PAGE_SIZE;
                    if r.m.table_level != VNodeLevel::Pt
                        || r.m.phys < base
                        || r.m.phys + len > base + bytes
                    {
                        return Err(format!("bad frame mapping {:?}", r.m));
                    }
                }
                Object::VNode { level, base } => {
                    if level.parent() != Some(r.m.table_level) || r.m.phys != base || r.m.count != 1
                    {
                        return Err(format!("bad table mapping {:?}", r.m));
                    }
                }
                _ => return Err("mapping of an unmappable type".into()),
            }
        }
        Ok(())
    }
}

/// The object without a CNode capability's guard (which copies may differ in).
fn strip_guard(o: Object) -> Object {
    match o {
        Object::CNode { base, radix, .. } => Object::CNode {
            base,
            radix,
            guard: 0,
            guard_bits: 0,
        },
        x => x,
    }
}

/// `count` objects of `r.object_size` units each from unit `r.offset` of a space of
/// `units` units (I/O ports, interrupt sources): the first unit and the size.
fn units_in(r: &Retype, count: u64, units: u64) -> Result<(u64, u64), CapError> {
    let size = r.object_size;
    if size == 0 {
        return Err(CapError::InvalidSize);
    }
    let end = size
        .checked_mul(count)
        .and_then(|t| t.checked_add(r.offset))
        .ok_or(CapError::OutOfRange)?;
    if end > units {
        return Err(CapError::OutOfRange);
    }
    Ok((r.offset, size))
}

/// [`units_in`] the inclusive range `first..=last`, which a retype must split (a
/// whole-range copy is what `copy` is for).
fn sub_range(first: u64, last: u64, r: &Retype, count: u64) -> Result<(u64, u64), CapError> {
    let n = last - first.min(last) + 1;
    if r.object_size == n {
        return Err(CapError::InvalidSize);
    }
    let (offset, size) = units_in(r, count, n)?;
    Ok((first + offset, size))
}

enum PlanKind {
    Memory { ty: CapType, start: u64, size: u64 },
    EndPoint { base: u64, id: u64 },
    Io { start: u64, size: u64 },
    IrqSrc { start: u64, size: u64 },
    Irq { start: u64 },
    Id { core: u32 },
}

struct Plan {
    kind: PlanKind,
    /// Region of the source the new objects take (checked against existing descendants).
    region: Option<(u64, u64)>,
    zero: Option<(u64, u64)>,
}

impl Plan {
    /// The `i`-th new object (the plan was checked: arithmetic stays in range).
    fn object(&self, i: u32) -> Object {
        let i = u64::from(i);
        match self.kind {
            PlanKind::Memory { ty, start, size } => {
                let base = start + i * size;
                match ty {
                    CapType::Ram => Object::Ram { base, bytes: size },
                    CapType::Frame => Object::Frame { base, bytes: size },
                    CapType::DevFrame => Object::DevFrame { base, bytes: size },
                    CapType::CNode => Object::CNode {
                        base,
                        radix: (size / crate::cap::SLOT_BYTES).trailing_zeros() as u8,
                        guard: 0,
                        guard_bits: 0,
                    },
                    CapType::Dispatcher => Object::Dispatcher {
                        base,
                        id: base / PAGE_SIZE,
                    },
                    t => match VNodeLevel::from_cap_type(t) {
                        Some(level) => Object::VNode { level, base },
                        None => Object::Null,
                    },
                }
            }
            PlanKind::EndPoint { base, id } => Object::EndPoint {
                dispatcher_base: base,
                dispatcher: id,
                badge: 0,
            },
            PlanKind::Io { start, size } => {
                let first = start + i * size;
                Object::Io {
                    first: first as u16,
                    last: (first + size - 1) as u16,
                }
            }
            PlanKind::IrqSrc { start, size } => {
                let first = start + i * size;
                Object::IrqSrc {
                    first: first as u32,
                    last: (first + size - 1) as u32,
                }
            }
            PlanKind::Irq { start } => Object::Irq {
                vector: (start + i) as u32,
            },
            PlanKind::Id { core } => Object::Id { core, counter: 0 },
        }
    }
}
