//! User address spaces, built from capabilities: every table and every page of a program's
//! address space is an object retyped from the core's RAM capabilities, and every entry in
//! its lower half was written from a mapping record of the capability rules (`caps::map`).
//!
//! The top-level table (a PML4 VNode) has the kernel's upper half copied in; the rules
//! refuse mappings into that half. The loader puts the capabilities it makes into the
//! program's page CNode (`abi::ROOT_SLOT_PAGECN`), a copy of the top-level table first,
//! so the program holds, and could unmap or remap, the tables and pages it is made of. What the kernel itself relies on stays in the
//! program's private CNode (`capspace`): the table the kernel loads into CR3, the
//! dispatcher frame the kernel writes, and the page tables of memory the kernel shares with
//! the program (the monitor's channels). Nothing is freed here: deleting the program's
//! CNodes (`capspace::destroy_program`) unmaps and frees it all.

use alloc::vec::Vec;
use caps::{CNodeId, CapError, CapType, Rights, Slot, VNodeLevel};
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::mapper::TranslateResult;
use x86_64::structures::paging::{OffsetPageTable, PageTable, PageTableFlags as F, Translate};
use x86_64::VirtAddr;

use crate::capspace::{self, CapSetupError, CoreCaps, ProgramCaps};
use crate::percore::PerCore;

/// Why a user mapping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VSpaceError {
    /// No memory (or no capability slot) for the page or a page table.
    OutOfMemory,
    /// The address is not a user address.
    NotUser,
    /// Already mapped.
    AlreadyMapped,
    /// A capability operation failed.
    Cap(CapError),
}

impl From<CapSetupError> for VSpaceError {
    fn from(e: CapSetupError) -> Self {
        match e {
            CapSetupError::NoMemory | CapSetupError::Exhausted => VSpaceError::OutOfMemory,
            CapSetupError::Cap(CapError::SlotInUse) => VSpaceError::AlreadyMapped,
            CapSetupError::Cap(e) => VSpaceError::Cap(e),
        }
    }
}

impl From<CapError> for VSpaceError {
    fn from(e: CapError) -> Self {
        CapSetupError::Cap(e).into()
    }
}

/// A table the loader made: its level, the first address it covers, its capability and
/// physical address, and whether it is kernel-private.
#[derive(Clone, Copy)]
struct Table {
    level: VNodeLevel,
    base: u64,
    slot: Slot,
    phys: u64,
    private: bool,
}

/// One program's address space.
pub struct AddressSpace {
    /// Physical address of the top-level table.
    pub pml4: u64,
    phys_offset: u64,
    /// The page CNode and the next slot to fill in it.
    pages: (CNodeId, u32),
    /// The private CNode and the next slot to fill in it.
    private: (CNodeId, u32),
    /// The tables made so far (the top-level one first).
    tables: Vec<Table>,
}

/// Bits of address one table of `level` covers (log2).
fn coverage(level: VNodeLevel) -> u32 {
    match level {
        VNodeLevel::Pml4 => 48,
        VNodeLevel::Pdpt => 39,
        VNodeLevel::Pd => 30,
        VNodeLevel::Pt => 21,
    }
}

/// First top-level entry of the kernel half.
const KERNEL_HALF_ENTRY: usize = caps::USER_PML4_ENTRIES as usize;

/// `va .. va + pages * 4096` is page-aligned user memory.
fn user_range(va: u64, pages: u64) -> bool {
    va.is_multiple_of(4096)
        && pages
            .checked_mul(4096)
            .and_then(|b| va.checked_add(b))
            .is_some_and(|end| end <= abi::USER_END)
}

impl AddressSpace {
    /// A new, empty address space for `program`: its top-level table retyped from the
    /// core's RAM into the private CNode, with the kernel half of the active table copied
    /// in, and a copy for the program in page CNode slot `abi::PAGECN_SLOT_PML4` (the
    /// private CNode is protected: revoking that copy cannot delete the kernel's).
    pub fn new(
        c: &mut CoreCaps,
        pc: &PerCore,
        program: &ProgramCaps,
    ) -> Result<AddressSpace, VSpaceError> {
        let root = c.state.cnode_of(program.root)?;
        let pages = c.state.cnode_of(Slot {
            cnode: root,
            index: abi::ROOT_SLOT_PAGECN,
        })?;
        let private = c.state.cnode_of(program.private)?;
        let slot = Slot {
            cnode: private,
            index: capspace::PRIVATE_SLOT_PML4,
        };
        let pa = c.carve(pc, CapType::VNodePml4, 4096, 4096, slot)?;
        let (cur, _) = Cr3::read();
        let src = pc.phys_to_virt(cur.start_address().as_u64()) as *const PageTable;
        let dst = pc.phys_to_virt(pa) as *mut PageTable;
        // SAFETY: `dst` is the table just retyped (zeroed, no one else uses it), `src` the
        // active top-level table, both reached through the physical-memory mapping. Only the
        // kernel half is copied; its entries are supervisor-only, so user code cannot reach
        // kernel memory, and the capability rules never write that half.
        unsafe {
            let (dst, src) = (&mut *dst, &*src);
            for i in KERNEL_HALF_ENTRY..512 {
                dst[i] = src[i].clone();
            }
        }
        // The program's copy: it may map tables of its own into the lower half.
        c.state.copy(
            slot,
            Slot {
                cnode: pages,
                index: abi::PAGECN_SLOT_PML4,
            },
        )?;
        Ok(AddressSpace {
            pml4: pa,
            phys_offset: pc.phys_offset,
            pages: (pages, abi::PAGECN_SLOT_PML4 + 1),
            private: (private, capspace::PRIVATE_FIRST_FREE),
            tables: alloc::vec![Table {
                level: VNodeLevel::Pml4,
                base: 0,
                slot,
                phys: pa,
                private: true,
            }],
        })
    }

    /// The next empty slot of the page CNode (or, with `private`, of the private CNode).
    fn next_slot(&mut self, private: bool) -> Result<Slot, VSpaceError> {
        let (cnode, next) = if private {
            &mut self.private
        } else {
            &mut self.pages
        };
        let limit = 1u32
            << if private {
                capspace::PRIVATE_RADIX
            } else {
                abi::PAGECN_RADIX
            };
        if *next >= limit {
            return Err(VSpaceError::OutOfMemory);
        }
        *next += 1;
        Ok(Slot {
            cnode: *cnode,
            index: *next - 1,
        })
    }

    /// The table of `level` covering `va`, made and linked into its parent if missing (a
    /// missing last-level table in the private CNode when `private`; tables above it are
    /// always the program's).
    fn table(
        &mut self,
        c: &mut CoreCaps,
        pc: &PerCore,
        va: u64,
        level: VNodeLevel,
        private: bool,
    ) -> Result<Table, VSpaceError> {
        let shift = coverage(level);
        let base = va & !((1u64 << shift) - 1);
        if let Some(t) = self
            .tables
            .iter()
            .find(|t| t.level == level && t.base == base)
        {
            return Ok(*t);
        }
        let parent_level = level.parent().ok_or(VSpaceError::NotUser)?;
        let parent = self.table(c, pc, va, parent_level, false)?;
        let slot = self.next_slot(private)?;
        let phys = c.carve(pc, level.cap_type(), 4096, 4096, slot)?;
        let entry = ((va >> shift) & 511) as u32;
        c.map(slot, parent.slot, entry, Rights::READ, 0, 1)?;
        let t = Table {
            level,
            base,
            slot,
            phys,
            private,
        };
        self.tables.push(t);
        Ok(t)
    }

    /// Retype a Frame of `pages` fresh zeroed pages into the page CNode (the private CNode
    /// with `private`) and map it at user address `va` with `rights` (Read, and Write or
    /// Execute); returns its physical address.
    pub fn map_new(
        &mut self,
        c: &mut CoreCaps,
        pc: &PerCore,
        va: u64,
        pages: u64,
        rights: Rights,
        private: bool,
    ) -> Result<u64, VSpaceError> {
        if pages == 0 || !user_range(va, pages) {
            return Err(VSpaceError::NotUser);
        }
        // The tables for the first page before the Frame (slot order: tables, then pages).
        self.table(c, pc, va, VNodeLevel::Pt, false)?;
        let slot = self.next_slot(private)?;
        let pa = c.carve(pc, CapType::Frame, pages * 4096, 4096, slot)?;
        let mut done = 0;
        while done < pages {
            let a = va + done * 4096;
            let pt = self.table(c, pc, a, VNodeLevel::Pt, false)?;
            let entry = ((a >> 12) & 511) as u32;
            let n = (pages - done).min(u64::from(512 - entry));
            c.map(slot, pt.slot, entry, rights, done * 4096, n as u32)?;
            done += n;
        }
        Ok(pa)
    }

    /// Map physical page `pa`, which is not the program's (channel memory the kernel
    /// shares with it), at user address `va`, writable and not executable. The page table
    /// is a private one the program holds no capability to.
    pub fn map_shared(
        &mut self,
        c: &mut CoreCaps,
        pc: &PerCore,
        va: u64,
        pa: u64,
    ) -> Result<(), VSpaceError> {
        if !user_range(va, 1) {
            return Err(VSpaceError::NotUser);
        }
        let pt = self.table(c, pc, va, VNodeLevel::Pt, true)?;
        if !pt.private {
            return Err(VSpaceError::AlreadyMapped);
        }
        let idx = ((va >> 12) & 511) as usize;
        let table = pc.phys_to_virt(pt.phys) as *mut u64;
        // SAFETY: `pt.phys` is a private page table of this address space (its capability
        // is the kernel's alone, so no mapping record covers it), reached through the
        // physical-memory mapping; `idx < 512`.
        unsafe {
            let e = table.add(idx);
            if core::ptr::read_volatile(e) != 0 {
                return Err(VSpaceError::AlreadyMapped);
            }
            let flags = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE | F::NO_EXECUTE;
            core::ptr::write_volatile(e, (pa & !0xfff) | flags.bits());
        }
        Ok(())
    }

    /// Link the page-table VNode in `window` (the program's capability window, its own or a
    /// copy from another core) in as the table covering the 2 MiB at `va`.
    pub fn link_window(
        &mut self,
        c: &mut CoreCaps,
        pc: &PerCore,
        va: u64,
        window: Slot,
    ) -> Result<(), VSpaceError> {
        if !va.is_multiple_of(2 << 20) || !user_range(va, 512) {
            return Err(VSpaceError::NotUser);
        }
        let pd = self.table(c, pc, va, VNodeLevel::Pd, false)?;
        let entry = ((va >> 21) & 511) as u32;
        c.map(window, pd.slot, entry, Rights::READ, 0, 1)?;
        Ok(())
    }

    fn view(&mut self) -> OffsetPageTable<'_> {
        let ptr = (self.phys_offset + self.pml4) as *mut PageTable;
        // SAFETY: the table is this address space's own, mapped through the physical-memory
        // mapping; `&mut self` makes this the only view.
        unsafe { OffsetPageTable::new(&mut *ptr, VirtAddr::new(self.phys_offset)) }
    }

    /// Physical address behind user address `va`, if it is mapped user-accessible (and
    /// writable when `write`).
    pub fn translate_user(&mut self, va: u64, write: bool) -> Option<u64> {
        if va >= abi::USER_END {
            return None;
        }
        match self.view().translate(VirtAddr::new(va)) {
            TranslateResult::Mapped {
                frame,
                offset,
                flags,
            } => {
                let ok =
                    flags.contains(F::USER_ACCESSIBLE) && (!write || flags.contains(F::WRITABLE));
                ok.then(|| frame.start_address().as_u64() + offset)
            }
            _ => None,
        }
    }

    /// Walk `len` bytes of user memory at `va` one piece per page: `f(kernel address of the
    /// piece, bytes before it, its length)`. Every page must be mapped user-accessible (and
    /// writable when `write`); false at the first that is not.
    fn user_pieces(
        &mut self,
        va: u64,
        len: usize,
        write: bool,
        mut f: impl FnMut(*mut u8, usize, usize),
    ) -> bool {
        let mut done = 0usize;
        while done < len {
            let Some(a) = va.checked_add(done as u64) else {
                return false;
            };
            let Some(pa) = self.translate_user(a, write) else {
                return false;
            };
            let n = ((4096 - (a % 4096)) as usize).min(len - done);
            f((self.phys_offset + pa) as *mut u8, done, n);
            done += n;
        }
        true
    }

    /// Copy `out.len()` bytes of user memory at `va` into `out` (checking every page).
    pub fn read_user(&mut self, va: u64, out: &mut [u8]) -> bool {
        self.user_pieces(va, out.len(), false, |piece, done, n| {
            // SAFETY: `piece .. piece + n` lies within one mapped user page, reached through
            // the physical-memory mapping; `done + n <= out.len()`.
            unsafe { core::ptr::copy_nonoverlapping(piece, out[done..].as_mut_ptr(), n) }
        })
    }

    /// Copy `data` into user memory at `va` (every page must be user-writable).
    pub fn write_user(&mut self, va: u64, data: &[u8]) -> bool {
        self.write_user_as(va, data, true)
    }

    /// Copy `data` into user memory at `va`, which must be mapped user-accessible (and
    /// writable when `writable`; the loader fills read-only pages of a program image).
    pub fn write_user_as(&mut self, va: u64, data: &[u8], writable: bool) -> bool {
        self.user_pieces(va, data.len(), writable, |piece, done, n| {
            // SAFETY: `piece .. piece + n` lies within one mapped user page of this address
            // space, reached through the physical-memory mapping; `done + n <= data.len()`.
            unsafe { core::ptr::copy_nonoverlapping(data[done..].as_ptr(), piece, n) }
        })
    }
}
