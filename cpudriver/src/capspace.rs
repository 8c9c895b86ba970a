//! Capabilities in the CPU driver: each core's capability state (`caps::CapState`), the
//! CSpace and address space each program starts with, the `CapInvoke` syscall, and the
//! page-table writes, zeroing and TLB flushes the capability operations ask for.
//!
//! Every core turns all of its memory pool but [`KERNEL_RESERVE`] into RAM capabilities in
//! its kernel CNode (one per contiguous range, at most [`RAM_SLOTS`]). Everything a program
//! is made of is retyped from them: its dispatcher object, its CNodes, its page tables and
//! the Frames of its image and stacks. When the program ends its capabilities are deleted
//! and the memory is the core's to retype again. Each program gets a root CNode of 256
//! slots (addressed with depth 8, no guard) holding:
//!
//! | slot | capability |
//! |---|---|
//! | [`abi::ROOT_SLOT_CNODE`] | the root CNode itself (to name it as a destination) |
//! | [`abi::ROOT_SLOT_RAM`] | [`PROGRAM_RAM`] bytes of RAM to retype |
//! | [`abi::ROOT_SLOT_PT`] | a page-table VNode hooked into the program's address space at [`abi::CAP_WINDOW`] |
//! | [`abi::ROOT_SLOT_PAGECN`] | the page CNode: the VNodes and Frames of its address space (see `vspace`) |
//!
//! A program maps memory only through these: retype RAM into Frames, map a Frame into the PT,
//! and the page appears at `CAP_WINDOW + entry * 4096`. Delete and revoke clear the mappings
//! made through the capabilities they remove.
//!
//! The kernel also keeps a *private* CNode per program, in its kernel CNode, for what the
//! kernel itself relies on: its copy of the program's top-level table (the CR3 it loads),
//! the Frame of its dispatcher frame (which the kernel writes), and the page tables of
//! memory the kernel maps for it (the monitor's channels). The CNode is declared the
//! kernel's (`CapState::protect`), so a program's revoke of its own copy of the top-level
//! table cannot delete the kernel's.

use caps::{CapError, CapState, CapType, Mapping, Origin, Outcome, Retype, Slot};
use physmem::PhysRange;
use x86_64::structures::paging::PageTable;

use crate::percore::{self, PerCore};

/// Memory each core keeps in its frame pool for the kernel; the rest becomes capabilities.
pub const KERNEL_RESERVE: u64 = 2 << 20;
/// Least memory a core needs for capabilities (its monitor takes about 2 MiB).
pub const MIN_CAP_MEMORY: u64 = 4 << 20;
/// Most RAM capabilities (contiguous ranges) a core makes of its pool.
pub const RAM_SLOTS: u32 = 8;
/// RAM each program gets in its root CNode.
pub const PROGRAM_RAM: u64 = 1 << 20;
/// Radix of a program's root CNode (256 slots).
pub const ROOT_RADIX: u8 = 8;
/// Radix of a program's private CNode (64 slots).
pub const PRIVATE_RADIX: u8 = caps::MIN_CNODE_RADIX;
/// Private CNode slot of the kernel's copy of the program's top-level table.
pub const PRIVATE_SLOT_PML4: u32 = 0;
/// First private CNode slot for the rest (the dispatcher frame's Frame, the page tables of
/// memory the kernel maps for the program).
pub const PRIVATE_FIRST_FREE: u32 = 1;
/// Kernel CNode slots.
pub const KERNEL_SLOTS: u32 = 1024;
/// Kernel slot of the core's Kernel capability (programs' CNodes use slots from
/// [`RAM_SLOTS`] on).
const KERNEL_KERNEL_SLOT: u32 = KERNEL_SLOTS - 1;
/// Kernel slot of the unbadged EndPoint to the core's monitor (badged copies go to programs).
const KERNEL_MONITOR_EP_SLOT: u32 = KERNEL_SLOTS - 2;

/// Per-core capability bookkeeping.
pub struct CoreCaps {
    /// The capability state.
    pub state: CapState,
    /// The kernel slots of the core's RAM capabilities.
    ram: alloc::vec::Vec<Slot>,
}

/// A program's capabilities, kept in its dispatcher.
#[derive(Clone, Copy, Debug)]
pub struct ProgramCaps {
    /// The kernel slot holding the program's root CNode capability.
    pub root: Slot,
    /// Physical address of the program's page-table VNode.
    pub pt: u64,
    /// The kernel slot holding the capability to the program's dispatcher object.
    pub dispatcher: Slot,
    /// The dispatcher object's id (what its EndPoints name).
    pub dispatcher_id: u64,
    /// The kernel slot holding the program's private CNode (see the module documentation).
    pub private: Slot,
}

/// Why a core or program could not get its capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CapSetupError {
    /// No memory for the core's RAM capability.
    NoMemory,
    /// The core's capability memory or kernel slots are used up.
    Exhausted,
    /// A capability operation failed.
    Cap(CapError),
}

impl From<CapError> for CapSetupError {
    fn from(e: CapError) -> Self {
        CapSetupError::Cap(e)
    }
}

fn zero(pc: &PerCore, range: Option<(u64, u64)>) {
    if let Some((base, bytes)) = range {
        // SAFETY: the range is memory of a capability the retype just made, inside this
        // core's capability RAM (from its own pool), mapped through the physical-memory map.
        unsafe { core::ptr::write_bytes(pc.phys_to_virt(base), 0, bytes as usize) };
    }
}

impl CoreCaps {
    /// Set up this core's capability state: all of its pool but [`KERNEL_RESERVE`] becomes
    /// RAM capabilities.
    pub fn new(pc: &PerCore) -> Result<CoreCaps, CapSetupError> {
        let mut state = CapState::new(pc.core_id, KERNEL_SLOTS);
        // The device memory this CPU driver knows of: the Kernel capability's holder (the
        // monitor) can make DevFrames over it.
        if let Some(fb) = crate::console::framebuffer::device() {
            let (base, bytes) = fb.pages();
            state.add_device_region(base, bytes);
        }
        for s in pc.pci_segments.borrow().iter() {
            state.add_device_region(s.base, s.bytes());
        }
        let mut pool = pc.frames.borrow_mut();
        let give = pool.free_bytes().saturating_sub(KERNEL_RESERVE) & !0xfff;
        if give < MIN_CAP_MEMORY {
            return Err(CapSetupError::NoMemory);
        }
        let everything = PhysRange {
            start: 0,
            end: !0xfff,
        };
        let taken = pool
            .carve(everything, give)
            .map_err(|_| CapSetupError::NoMemory)?;
        let mut ram = alloc::vec::Vec::new();
        for r in taken.ranges() {
            let slot = state.kernel_slot(ram.len() as u32);
            let object = caps::Object::Ram {
                base: r.start,
                bytes: r.len(),
            };
            if ram.len() < RAM_SLOTS as usize && state.insert_original(slot, object).is_ok() {
                ram.push(slot);
            } else if let Err(e) = pool.add_range(*r) {
                log::warn!("capability memory {r:?} neither used nor returned: {e:?}");
            }
        }
        Ok(CoreCaps { state, ram })
    }

    /// Bytes of the core's RAM capabilities that nothing uses.
    pub fn free_bytes(&self) -> u64 {
        self.ram
            .iter()
            .filter_map(|&s| self.state.free_bytes(s).ok())
            .sum()
    }

    /// Retype one object of `ty` and `size` bytes from the core's RAM into `dest`, at the
    /// first physical address (a multiple of `align`) that no live object overlaps: the
    /// memory of programs that ended is used again. Returns its physical address; the
    /// memory is zeroed.
    pub fn carve(
        &mut self,
        pc: &PerCore,
        ty: CapType,
        size: u64,
        align: u64,
        dest: Slot,
    ) -> Result<u64, CapSetupError> {
        let align = align.max(4096);
        for &src in &self.ram {
            let Some(at) = self.state.find_free(src, size, align)? else {
                continue;
            };
            let base = self
                .state
                .cap(src)?
                .object
                .phys_range()
                .map_or(0, |(b, _)| b);
            let req = Retype {
                new_type: ty,
                offset: at - base,
                object_size: size,
                count: 1,
            };
            let r = self.state.retype(src, req, dest, Origin::User)?;
            zero(pc, r.zero);
            return Ok(at);
        }
        Err(CapSetupError::Exhausted)
    }

    /// Map `src` into `table` at `entry` under the capability rules (`caps::CapState::map`)
    /// and write the entries the record describes (tables of this core).
    pub fn map(
        &mut self,
        src: Slot,
        table: Slot,
        entry: u32,
        rights: caps::Rights,
        offset: u64,
        pages: u32,
    ) -> Result<Mapping, CapError> {
        let m = self.state.map(src, table, entry, rights, offset, pages)?;
        apply_mapping(percore::current(), &m, true);
        Ok(m)
    }

    /// The empty slots of the kernel CNode (between the RAM and the monitor EndPoint's).
    fn empty_kernel_slots(&self) -> impl Iterator<Item = Slot> + '_ {
        (RAM_SLOTS..KERNEL_MONITOR_EP_SLOT)
            .map(|i| self.state.kernel_slot(i))
            .filter(|&s| self.state.cap(s).is_err())
    }

    /// Three empty slots of the kernel CNode for a program (freed when it ends).
    fn free_kernel_slots(&self) -> Option<[Slot; 3]> {
        let mut free = self.empty_kernel_slots();
        Some([free.next()?, free.next()?, free.next()?])
    }

    /// Make a new program's CSpace (see the module documentation); its address space is
    /// built by `vspace::AddressSpace::new` from the page and private CNodes.
    pub fn new_program(&mut self, pc: &PerCore) -> Result<ProgramCaps, CapSetupError> {
        let slots = self.free_kernel_slots().ok_or(CapSetupError::Exhausted)?;
        let [root, dispatcher, private] = slots;
        let r = self.fill_program(pc, root, dispatcher, private);
        if r.is_err() {
            // Undo what was made (the CNodes take their contents along).
            for s in slots {
                if self.state.cap(s).is_ok() {
                    let _ = self.state.revoke(s, Origin::User);
                    let _ = self.state.delete(s, Origin::User);
                }
            }
        }
        r
    }

    fn fill_program(
        &mut self,
        pc: &PerCore,
        root: Slot,
        dispatcher: Slot,
        private: Slot,
    ) -> Result<ProgramCaps, CapSetupError> {
        let dcb = self.carve(pc, CapType::Dispatcher, 4096, 4096, dispatcher)?;
        let cnode_bytes = caps::cnode_bytes(ROOT_RADIX);
        self.carve(pc, CapType::CNode, cnode_bytes, cnode_bytes, root)?;
        let cnode = self.state.cnode_of(root)?;
        let slot = |index: u32| Slot { cnode, index };
        self.state.copy(root, slot(abi::ROOT_SLOT_CNODE))?;
        // Page-aligned is enough (retypes name offsets); natural alignment would leave
        // holes a small core cannot afford.
        self.carve(
            pc,
            CapType::Ram,
            PROGRAM_RAM,
            4096,
            slot(abi::ROOT_SLOT_RAM),
        )?;
        let pt = self.carve(pc, CapType::VNodePt, 4096, 4096, slot(abi::ROOT_SLOT_PT))?;
        let pages = caps::cnode_bytes(abi::PAGECN_RADIX);
        self.carve(
            pc,
            CapType::CNode,
            pages,
            pages,
            slot(abi::ROOT_SLOT_PAGECN),
        )?;
        let private_bytes = caps::cnode_bytes(PRIVATE_RADIX);
        self.carve(pc, CapType::CNode, private_bytes, private_bytes, private)?;
        let private_cnode = self.state.cnode_of(private)?;
        self.state.protect(private_cnode)?;
        Ok(ProgramCaps {
            root,
            pt,
            dispatcher,
            dispatcher_id: dcb / 4096,
            private,
        })
    }

    /// Put an EndPoint capability to `server`'s dispatcher (the monitor), badged with
    /// `badge`, into root slot `index` of `client`'s CSpace. The badge tells the monitor who
    /// calls; the client's copy lacks the grant right, so it cannot mint another badge.
    pub fn give_endpoint(
        &mut self,
        client: &ProgramCaps,
        server: &ProgramCaps,
        index: u32,
        badge: u64,
    ) -> Result<(), CapSetupError> {
        let unbadged = self.state.kernel_slot(KERNEL_MONITOR_EP_SLOT);
        if self.state.cap(unbadged).is_err() {
            let req = Retype {
                new_type: CapType::EndPoint,
                offset: 0,
                object_size: 0,
                count: 1,
            };
            self.state
                .retype(server.dispatcher, req, unbadged, Origin::User)?;
        }
        let cnode = self.state.cnode_of(client.root)?;
        let rights = caps::Rights::all() - caps::Rights::GRANT;
        self.state
            .mint(unbadged, Slot { cnode, index }, rights, badge)?;
        Ok(())
    }

    /// Put a copy of the core's Kernel capability into root slot `index` of `program`'s
    /// CSpace (the monitor's).
    pub fn give_kernel(&mut self, program: &ProgramCaps, index: u32) -> Result<(), CapSetupError> {
        let kernel = self.state.kernel_slot(KERNEL_KERNEL_SLOT);
        if self.state.cap(kernel).is_err() {
            self.state.insert_original(kernel, caps::Object::Kernel)?;
        }
        let cnode = self.state.cnode_of(program.root)?;
        self.state.copy(kernel, Slot { cnode, index })?;
        Ok(())
    }

    /// The first empty root slot of the CSpace under `root` from index `from` on.
    pub fn free_slot(&self, root: Slot, from: u32) -> Result<Slot, CapError> {
        let cnode = self.state.cnode_of(root)?;
        let slots = self.state.cnode_slots(cnode).unwrap_or(0);
        (from..slots)
            .map(|index| Slot { cnode, index })
            .find(|&s| self.state.cap(s).is_err())
            .ok_or(CapError::LimitReached)
    }

    /// LRPC capability transfer: copy the capability at `cap` (a packed reference) in the
    /// CSpace under `from` into the first free slot of the CSpace under `to` from
    /// `abi::kop::FIRST_FREE_SLOT` on; returns that slot.
    pub fn transfer(&mut self, from: Slot, cap: u64, to: Slot) -> Result<Slot, CapError> {
        let src = self.state.resolve(from, caps::CapRef::unpack(cap)?)?;
        let dest = self.free_slot(to, abi::kop::FIRST_FREE_SLOT)?;
        self.state.copy(src, dest)?;
        Ok(dest)
    }

    /// Whether the CSpace under `root` holds the Kernel capability in root slot `index`.
    pub fn holds_kernel(&self, root: Slot, index: u32) -> bool {
        self.state
            .cnode_of(root)
            .and_then(|cnode| self.state.cap(Slot { cnode, index }))
            .is_ok_and(|c| c.object == caps::Object::Kernel)
    }

    /// The dispatcher id and badge named by the EndPoint capability `cap` (a packed
    /// reference) in the CSpace under `root`.
    pub fn endpoint_target(&self, root: Slot, cap: u64) -> Result<(u64, u64), CapError> {
        let slot = self.state.resolve(root, caps::CapRef::unpack(cap)?)?;
        match self.state.cap(slot)?.object {
            caps::Object::EndPoint {
                dispatcher, badge, ..
            } => Ok((dispatcher, badge)),
            _ => Err(CapError::WrongType),
        }
    }
}

/// Write or clear the page-table entries of a mapping record. A table linked into its
/// parent gets a present, writable, user entry: the last level decides the access.
fn apply_mapping(pc: &PerCore, m: &Mapping, set: bool) {
    let table = pc.phys_to_virt(m.table) as *mut PageTable;
    for i in 0..m.count {
        let idx = (m.first_entry + i) as usize;
        if idx >= 512 {
            break;
        }
        let mut value = 0u64;
        if set && matches!(m.source, caps::Object::VNode { .. }) {
            value = m.phys | 1 | 2 | 4;
        } else if set {
            value = (m.phys + u64::from(i) * 4096) | 1 | 4; // present, user
            if m.flags.contains(caps::PteFlags::WRITABLE) {
                value |= 2;
            }
            if m.flags.contains(caps::PteFlags::CACHE_DISABLE) {
                value |= 0x10;
            }
            if m.flags.contains(caps::PteFlags::NO_EXECUTE) {
                value |= 1 << 63;
            }
        }
        // SAFETY: `m.table` is the physical address of a page-table VNode of this core (the
        // capability rules checked the entry range), reached through the physical-memory
        // mapping; entries are plain 64-bit words.
        unsafe { core::ptr::write_volatile((table as *mut u64).add(idx), value) };
    }
}

/// Flush this core's TLB (non-global entries) by reloading CR3.
fn flush_tlb() {
    let (frame, flags) = x86_64::registers::control::Cr3::read();
    // SAFETY: writing back the current CR3 only flushes the TLB.
    unsafe { x86_64::registers::control::Cr3::write(frame, flags) };
}

/// Clear the entries of `mappings` and flush this core's TLB; with `remote`, also shoot
/// the entries of tables other cores link down there (IPI protocol).
fn clear_mappings(pc: &PerCore, mappings: &[Mapping], remote: bool) {
    for m in mappings {
        apply_mapping(pc, m, false);
    }
    if mappings.is_empty() {
        return;
    }
    flush_tlb();
    if remote {
        for m in mappings {
            crate::tlb::after_clear(pc, m.table, m.first_entry, m.count);
        }
    }
}

/// Act on the result of a delete or revoke: clear the mappings, flush the TLB, and shoot
/// the entries of tables other cores link down there too (IPI protocol).
pub fn apply_delete(pc: &PerCore, report: &caps::DeleteReport) {
    clear_mappings(pc, &report.unmapped, true);
}

/// Unmap for [`abi::Syscall::TlbUnmap`]: the capability rules' unmap of entries
/// `entry .. entry + pages` of the table at capability address `cap`, the entries cleared
/// and this core's TLB flushed; the other cores are the caller's business. Returns the
/// cleared mapping.
pub fn unmap_local(root: Slot, cap: u64, entry: u16, pages: u16) -> Result<Mapping, CapError> {
    let pc = percore::current();
    let mut slot = pc.caps.borrow_mut();
    let core_caps = slot.as_mut().ok_or(CapError::InvalidRoot)?;
    let word = caps::abi::pack_map_word(entry, pages, caps::Rights::empty());
    match core_caps.state.invoke_as(
        root,
        cap,
        caps::CapOp::Unmap as u64,
        [word, 0, 0, 0],
        Origin::User,
    )? {
        Outcome::Unmapped(m) => {
            clear_mappings(pc, core::slice::from_ref(&m), false);
            Ok(m)
        }
        _ => Err(CapError::InvalidOperation),
    }
}

/// What a capability invocation leaves for the syscall layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invoked {
    /// Done; the value for `rdx`.
    Value(u64),
    /// Bind interrupt vector (scheduler business).
    IrqBind(u32),
    /// Wait for interrupt vector (scheduler business).
    IrqWait(u32),
}

/// The `CapInvoke` syscall for the current dispatcher, whose root CNode is `root`:
/// `(cap, op, args)` from the registers. Returns what is left to do, or the capability
/// error. `write_identity` copies an identity to the caller's memory.
pub fn invoke(
    root: Slot,
    cap: u64,
    op: u64,
    args: [u64; 4],
    write_identity: impl FnOnce(u64, &[u64; 5]) -> bool,
) -> Result<Invoked, CapError> {
    invoke_with(root, cap, op, args, Origin::User, write_identity)
}

/// [`invoke`] on behalf of the monitor (`Origin::Monitor`), for operations the monitors
/// have agreed on; identify and the interrupt operations are not offered.
pub fn invoke_as(
    root: Slot,
    cap: u64,
    op: u64,
    args: [u64; 4],
    origin: Origin,
) -> Result<u64, CapError> {
    match invoke_with(root, cap, op, args, origin, |_, _| false)? {
        Invoked::Value(v) => Ok(v),
        Invoked::IrqBind(_) | Invoked::IrqWait(_) => Err(CapError::InvalidOperation),
    }
}

fn invoke_with(
    root: Slot,
    cap: u64,
    op: u64,
    args: [u64; 4],
    origin: Origin,
    write_identity: impl FnOnce(u64, &[u64; 5]) -> bool,
) -> Result<Invoked, CapError> {
    let pc = percore::current();
    let mut slot = pc.caps.borrow_mut();
    let core_caps = slot.as_mut().ok_or(CapError::InvalidRoot)?;
    let outcome = core_caps.state.invoke_as(root, cap, op, args, origin)?;
    let mut value = outcome.value();
    match &outcome {
        Outcome::Retyped(r) => zero(pc, r.zero),
        Outcome::Done => {}
        Outcome::Deleted(report) => apply_delete(pc, report),
        Outcome::Identified(id) => {
            if !write_identity(args[0], &id.to_words()) {
                return Err(CapError::InvalidArgument);
            }
        }
        Outcome::Mapped(m) => apply_mapping(pc, m, true),
        Outcome::Unmapped(m) => clear_mappings(pc, core::slice::from_ref(m), true),
        Outcome::Io {
            port,
            width,
            write,
            value: v,
        } => value = u64::from(crate::arch::cpu::port_io(*port, *width, *write, *v)),
        Outcome::IrqBind { vector } => return Ok(Invoked::IrqBind(*vector)),
        Outcome::IrqWait { vector } => return Ok(Invoked::IrqWait(*vector)),
    }
    Ok(Invoked::Value(value))
}

/// Make the shared page table `cap` (a copy from the owner core, inserted without the
/// write right) the capability window of program `p` in place of its own table: the old
/// table's capability is deleted, the copy put into root slot [`abi::ROOT_SLOT_PT`].
/// Returns the shared table's physical address (the caller links it).
pub fn adopt_window(p: &ProgramCaps, mut cap: caps::Capability) -> Result<u64, CapError> {
    let base = match cap.object {
        caps::Object::VNode {
            level: caps::VNodeLevel::Pt,
            base,
        } => base,
        _ => return Err(CapError::WrongType),
    };
    cap.rights.remove(caps::Rights::WRITE);
    let pc = percore::current();
    let mut slot = pc.caps.borrow_mut();
    let c = slot.as_mut().ok_or(CapError::InvalidRoot)?;
    let cnode = c.state.cnode_of(p.root)?;
    let dest = Slot {
        cnode,
        index: abi::ROOT_SLOT_PT,
    };
    let report = c.state.delete(dest, Origin::Monitor)?;
    apply_delete(pc, &report);
    c.state
        .insert_copy(dest, cap, caps::Relations::REMOTE_COPIES)?;
    Ok(base)
}

/// Delete a program's CSpace (its root CNode and everything in it) when it ends.
///
/// A capability-window page table that other cores still link (a spanned program whose
/// owner ends first) is not freed: a copy of its capability stays in a kernel slot, so
/// the memory is never reused while a spanned dispatcher's MMU may walk it (its entries
/// are cleared, and shot down there, as the program's frames go).
pub fn destroy_program(p: &ProgramCaps) {
    let pc = percore::current();
    let mut slot = pc.caps.borrow_mut();
    if let Some(core_caps) = slot.as_mut() {
        if let Some((_, cores)) = pc.tlb.borrow().span_of(p.pt) {
            let pinned = core_caps.state.cnode_of(p.root).and_then(|cnode| {
                let src = Slot {
                    cnode,
                    index: abi::ROOT_SLOT_PT,
                };
                let dest = core_caps
                    .empty_kernel_slots()
                    .next()
                    .ok_or(CapError::LimitReached)?;
                core_caps.state.copy(src, dest)
            });
            match pinned {
                Ok(()) => log::info!(
                    "core {}: window table {:#x} of an ending program kept: still linked on cores {cores:?}",
                    pc.core_id,
                    p.pt
                ),
                Err(e) => log::error!(
                    "core {}: window table {:#x} linked on cores {cores:?} could not be kept: {e:?}",
                    pc.core_id,
                    p.pt
                ),
            }
        }
        for s in [p.root, p.dispatcher, p.private] {
            match core_caps.state.revoke(s, Origin::User).and_then(|r| {
                apply_delete(pc, &r);
                core_caps.state.delete(s, Origin::User)
            }) {
                Ok(report) => apply_delete(pc, &report),
                Err(e) => log::warn!("deleting a program's capabilities: {e:?}"),
            }
        }
    }
}
