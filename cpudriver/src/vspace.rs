//! User address spaces: a top-level table per program whose upper half is the kernel's
//! (shared, supervisor-only) and whose lower half holds the program's own mappings, built
//! from the core's frame pool.

use alloc::vec::Vec;
use physmem::{FrameAllocator, FRAME_SIZE};
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::mapper::{MapToError, TranslateResult};
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as F, PhysFrame, Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

/// Lends a [`FrameAllocator`] to the `x86_64` crate's mapper.
pub struct Frames<'a>(pub &'a mut FrameAllocator);

// SAFETY: frames handed out are free (the allocator never hands a frame out twice) and
// come from usable RAM.
unsafe impl x86_64::structures::paging::FrameAllocator<Size4KiB> for Frames<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        let pa = self.0.alloc_frame().ok()?;
        Some(PhysFrame::containing_address(PhysAddr::new(pa)))
    }
}

/// Why a user mapping failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VSpaceError {
    /// No memory for the page or a page table.
    OutOfMemory,
    /// The address is not a user address.
    NotUser,
    /// Already mapped.
    AlreadyMapped,
}

/// One program's address space.
pub struct AddressSpace {
    /// Physical address of the top-level table.
    pub pml4: u64,
    phys_offset: u64,
    /// Frames allocated for the program's pages and page tables (returned on teardown).
    owned: Vec<u64>,
}

/// First top-level entry of the kernel half.
const KERNEL_HALF_ENTRY: usize = 256;

impl AddressSpace {
    /// A new address space whose kernel half is the currently active one's.
    pub fn new(frames: &mut FrameAllocator, phys_offset: u64) -> Result<AddressSpace, VSpaceError> {
        let pa = frames.alloc_frame().map_err(|_| VSpaceError::OutOfMemory)?;
        let (cur, _) = Cr3::read();
        let src = (phys_offset + cur.start_address().as_u64()) as *const PageTable;
        let dst = (phys_offset + pa) as *mut PageTable;
        // SAFETY: `dst` is a fresh frame mapped through the physical-memory mapping; `src`
        // is the active top-level table. The lower half is cleared, the kernel half copied
        // (its entries are supervisor-only, so user code cannot reach kernel memory).
        unsafe {
            let (dst, src) = (&mut *dst, &*src);
            dst.zero();
            for i in KERNEL_HALF_ENTRY..512 {
                dst[i] = src[i].clone();
            }
        }
        Ok(AddressSpace {
            pml4: pa,
            phys_offset,
            owned: alloc::vec![pa],
        })
    }

    fn table(&mut self) -> OffsetPageTable<'_> {
        let ptr = (self.phys_offset + self.pml4) as *mut PageTable;
        // SAFETY: the table is this address space's own, mapped through the physical-memory
        // mapping; `&mut self` makes this the only view.
        unsafe { OffsetPageTable::new(&mut *ptr, VirtAddr::new(self.phys_offset)) }
    }

    /// Map a fresh zeroed page at user address `va`; returns its physical address.
    pub fn map_new_page(
        &mut self,
        frames: &mut FrameAllocator,
        va: u64,
        write: bool,
        exec: bool,
    ) -> Result<u64, VSpaceError> {
        let pa = frames.alloc_frame().map_err(|_| VSpaceError::OutOfMemory)?;
        // SAFETY: a fresh frame mapped through the physical-memory mapping.
        unsafe { core::ptr::write_bytes((self.phys_offset + pa) as *mut u8, 0, 4096) };
        match self.map(frames, va, pa, write, exec) {
            Ok(()) => {
                self.owned.push(pa);
                Ok(pa)
            }
            Err(e) => {
                let _ = frames.free(pa, 1);
                Err(e)
            }
        }
    }

    /// Map physical page `pa` at user address `va` (the caller keeps ownership of `pa`).
    pub fn map(
        &mut self,
        frames: &mut FrameAllocator,
        va: u64,
        pa: u64,
        write: bool,
        exec: bool,
    ) -> Result<(), VSpaceError> {
        if va >= abi::USER_END || !va.is_multiple_of(FRAME_SIZE) {
            return Err(VSpaceError::NotUser);
        }
        let mut flags = F::PRESENT | F::USER_ACCESSIBLE;
        if write {
            flags |= F::WRITABLE;
        }
        if !exec {
            flags |= F::NO_EXECUTE;
        }
        let parents = F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE;
        let page = Page::<Size4KiB>::containing_address(VirtAddr::new(va));
        let frame = PhysFrame::containing_address(PhysAddr::new(pa));
        let mut fa = Frames(frames);
        let mut table = self.table();
        // SAFETY: a user-half mapping in this address space's own tables; the frame belongs
        // to the program.
        let r = unsafe { table.map_to_with_table_flags(page, frame, flags, parents, &mut fa) };
        // Page-table frames taken by the mapper are found again on teardown.
        match r {
            Ok(flush) => {
                flush.ignore();
                Ok(())
            }
            Err(MapToError::FrameAllocationFailed) => Err(VSpaceError::OutOfMemory),
            Err(_) => Err(VSpaceError::AlreadyMapped),
        }
    }

    /// Physical address behind user address `va`, if it is mapped user-accessible (and
    /// writable when `write`).
    pub fn translate_user(&mut self, va: u64, write: bool) -> Option<u64> {
        if va >= abi::USER_END {
            return None;
        }
        match self.table().translate(VirtAddr::new(va)) {
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

    /// Copy `len` bytes of user memory at `va` into `out` (checking every page).
    pub fn read_user(&mut self, va: u64, out: &mut [u8]) -> bool {
        let mut done = 0usize;
        while done < out.len() {
            let Some(a) = va.checked_add(done as u64) else {
                return false;
            };
            let Some(pa) = self.translate_user(a, false) else {
                return false;
            };
            let in_page = (4096 - (a % 4096)) as usize;
            let n = in_page.min(out.len() - done);
            // SAFETY: `pa .. pa + n` lies within one mapped user page, reached through the
            // physical-memory mapping.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    (self.phys_offset + pa) as *const u8,
                    out[done..].as_mut_ptr(),
                    n,
                )
            };
            done += n;
        }
        true
    }

    /// Copy `data` into user memory at `va` (every page must be user-writable).
    pub fn write_user(&mut self, va: u64, data: &[u8]) -> bool {
        let mut done = 0usize;
        while done < data.len() {
            let Some(a) = va.checked_add(done as u64) else {
                return false;
            };
            let Some(pa) = self.translate_user(a, true) else {
                return false;
            };
            let n = ((4096 - (a % 4096)) as usize).min(data.len() - done);
            // SAFETY: `pa .. pa + n` lies within one mapped, user-writable page of this
            // address space, reached through the physical-memory mapping.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    data[done..].as_ptr(),
                    (self.phys_offset + pa) as *mut u8,
                    n,
                )
            };
            done += n;
        }
        true
    }

    /// The top-level and middle tables down to the page directory covering `va`, creating
    /// missing ones from `frames`; returns the page directory's physical address.
    fn page_directory(&mut self, frames: &mut FrameAllocator, va: u64) -> Result<u64, VSpaceError> {
        let mut table = self.pml4;
        for shift in [39u64, 30] {
            let idx = ((va >> shift) & 511) as usize;
            let t = (self.phys_offset + table) as *mut PageTable;
            // SAFETY: `t` is one of this address space's own tables (lower half), mapped
            // through the physical-memory mapping; `&mut self` makes this the only access.
            let entry = unsafe { &mut (&mut *t)[idx] };
            if entry.is_unused() {
                let pa = frames.alloc_frame().map_err(|_| VSpaceError::OutOfMemory)?;
                // SAFETY: a fresh frame, mapped through the physical-memory mapping.
                unsafe { (*((self.phys_offset + pa) as *mut PageTable)).zero() };
                entry.set_addr(
                    PhysAddr::new(pa),
                    F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE,
                );
            } else if entry.flags().contains(F::HUGE_PAGE) {
                return Err(VSpaceError::AlreadyMapped);
            }
            table = entry.addr().as_u64();
        }
        Ok(table)
    }

    /// Hook the page table at physical `pt` (a capability's VNode, not owned by this address
    /// space) in as the table covering the 2 MiB at `va`.
    pub fn link_page_table(
        &mut self,
        frames: &mut FrameAllocator,
        va: u64,
        pt: u64,
    ) -> Result<(), VSpaceError> {
        if va >= abi::USER_END || !va.is_multiple_of(2 << 20) {
            return Err(VSpaceError::NotUser);
        }
        let pd = self.page_directory(frames, va)?;
        let idx = ((va >> 21) & 511) as usize;
        // SAFETY: `pd` is this address space's own page directory, mapped through the
        // physical-memory mapping.
        let entry = unsafe { &mut (&mut *((self.phys_offset + pd) as *mut PageTable))[idx] };
        if !entry.is_unused() {
            return Err(VSpaceError::AlreadyMapped);
        }
        entry.set_addr(
            PhysAddr::new(pt),
            F::PRESENT | F::WRITABLE | F::USER_ACCESSIBLE,
        );
        Ok(())
    }

    /// Undo [`AddressSpace::link_page_table`] (before teardown: the table is not ours).
    pub fn unlink_page_table(&mut self, frames: &mut FrameAllocator, va: u64) {
        if let Ok(pd) = self.page_directory(frames, va) {
            let idx = ((va >> 21) & 511) as usize;
            // SAFETY: as in `link_page_table`.
            unsafe { (&mut *((self.phys_offset + pd) as *mut PageTable))[idx].set_unused() };
        }
    }

    /// Tear the address space down, returning its pages to `frames`. Page-table frames
    /// are found by walking the lower half.
    pub fn destroy(mut self, frames: &mut FrameAllocator) {
        let mut tables = Vec::new();
        let root = (self.phys_offset + self.pml4) as *const PageTable;
        // SAFETY: walking this address space's own lower-half tables through the
        // physical-memory mapping; no other core uses them.
        unsafe {
            let root = &*root;
            for e4 in root.iter().take(KERNEL_HALF_ENTRY) {
                if !e4.flags().contains(F::PRESENT) {
                    continue;
                }
                let pdpt = e4.addr().as_u64();
                tables.push(pdpt);
                let t3 = &*((self.phys_offset + pdpt) as *const PageTable);
                for e3 in t3.iter().filter(|e| e.flags().contains(F::PRESENT)) {
                    let pd = e3.addr().as_u64();
                    tables.push(pd);
                    let t2 = &*((self.phys_offset + pd) as *const PageTable);
                    for e2 in t2.iter().filter(|e| e.flags().contains(F::PRESENT)) {
                        tables.push(e2.addr().as_u64());
                    }
                }
            }
        }
        self.owned.append(&mut tables);
        for pa in self.owned.drain(..) {
            let _ = frames.free(pa, 1);
        }
    }
}
