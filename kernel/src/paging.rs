//! Page-table helpers over the physical-memory mapping: the boot core edits the kernel's
//! tables (before other cores start) to map device pages and the AP trampoline, and makes
//! each AP's top-level table.

use physmem::FrameAllocator;
use x86_64::registers::control::Cr3;
use x86_64::structures::paging::{
    Mapper, OffsetPageTable, Page, PageTable, PageTableFlags as F, PhysFrame, Size4KiB, Translate,
};
use x86_64::{PhysAddr, VirtAddr};

/// Start of the kernel's device window: fixed virtual addresses for device registers.
pub const DEVICE_WINDOW: u64 = 0xffff_fe00_0000_0000;

/// Why a mapping could not be made.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the fields are reported through Debug in boot logs"
)]
pub enum MapError {
    /// No memory for a page table.
    OutOfMemory,
    /// The page is already mapped to a different frame.
    AlreadyMapped(u64),
    /// The page is mapped with a huge page in the way.
    HugePage,
}

/// The active kernel page table.
///
/// # Safety
/// Only one `OffsetPageTable` may exist at a time; the caller is the boot core before other
/// cores run.
unsafe fn active(phys_offset: u64) -> OffsetPageTable<'static> {
    let (frame, _) = Cr3::read();
    let ptr = (phys_offset + frame.start_address().as_u64()) as *mut PageTable;
    // SAFETY: CR3 points at the active PML4, mapped at `phys_offset + pa`; exclusivity is
    // the caller's promise.
    unsafe { OffsetPageTable::new(&mut *ptr, VirtAddr::new(phys_offset)) }
}

/// The physical address `va` is mapped to in the active kernel tables.
///
/// # Safety
/// As [`active`]: the boot core, before other cores start.
pub unsafe fn translate(phys_offset: u64, va: u64) -> Option<u64> {
    // SAFETY: forwarded to the caller.
    let table = unsafe { active(phys_offset) };
    table.translate_addr(VirtAddr::new(va)).map(|p| p.as_u64())
}

/// Lends a [`FrameAllocator`] to the `x86_64` crate's mapper (for the kernel's own tables).
struct Frames<'a>(&'a mut FrameAllocator);

// SAFETY: frames handed out are free (the allocator never hands a frame out twice) and
// come from usable RAM.
unsafe impl x86_64::structures::paging::FrameAllocator<Size4KiB> for Frames<'_> {
    fn allocate_frame(&mut self) -> Option<PhysFrame> {
        let pa = self.0.alloc_frame().ok()?;
        Some(PhysFrame::containing_address(PhysAddr::new(pa)))
    }
}

/// Map the 4 KiB page at `va` to physical `pa` with `flags` in the active kernel tables.
/// Mapping a page again to the same frame is not an error.
///
/// # Safety
/// The boot core only, before other cores start; the mapping must not alias memory in a
/// way that breaks Rust's rules.
pub unsafe fn map_page(
    frames: &mut FrameAllocator,
    phys_offset: u64,
    va: u64,
    pa: u64,
    flags: F,
) -> Result<(), MapError> {
    // SAFETY: forwarded to the caller.
    let mut table = unsafe { active(phys_offset) };
    if let Some(existing) = table.translate_addr(VirtAddr::new(va)) {
        return if existing.as_u64() == pa {
            Ok(())
        } else {
            Err(MapError::AlreadyMapped(existing.as_u64()))
        };
    }
    let page = Page::<Size4KiB>::containing_address(VirtAddr::new(va));
    let frame = PhysFrame::containing_address(PhysAddr::new(pa));
    // SAFETY: the caller guarantees the mapping is sound.
    let r = unsafe { table.map_to(page, frame, flags | F::PRESENT, &mut Frames(frames)) };
    match r {
        Ok(flush) => {
            flush.flush();
            Ok(())
        }
        Err(x86_64::structures::paging::mapper::MapToError::FrameAllocationFailed) => {
            Err(MapError::OutOfMemory)
        }
        Err(x86_64::structures::paging::mapper::MapToError::PageAlreadyMapped(f)) => {
            Err(MapError::AlreadyMapped(f.start_address().as_u64()))
        }
        Err(x86_64::structures::paging::mapper::MapToError::ParentEntryHugePage) => {
            Err(MapError::HugePage)
        }
    }
}

/// Remove the mapping of the page at `va` from the active kernel tables, if any.
///
/// # Safety
/// The boot core only; nothing may use the page any more.
pub unsafe fn unmap_page(phys_offset: u64, va: u64) {
    // SAFETY: forwarded to the caller.
    let mut table = unsafe { active(phys_offset) };
    let page = Page::<Size4KiB>::containing_address(VirtAddr::new(va));
    if let Ok((_, flush)) = table.unmap(page) {
        flush.flush();
    }
}

/// Map a device register page uncached at `DEVICE_WINDOW + slot * 4096`; returns the
/// virtual address.
///
/// # Safety
/// As [`map_page`]; `pa` must be device memory.
pub unsafe fn map_device(
    frames: &mut FrameAllocator,
    phys_offset: u64,
    slot: u64,
    pa: u64,
) -> Result<u64, MapError> {
    let va = DEVICE_WINDOW + slot * 4096;
    let flags = F::WRITABLE | F::NO_CACHE | F::WRITE_THROUGH | F::NO_EXECUTE;
    // SAFETY: forwarded to the caller.
    unsafe { map_page(frames, phys_offset, va, pa & !0xfff, flags)? };
    Ok(va)
}

/// Make a new top-level table for an AP: a copy of the active one (sharing the kernel's
/// lower-level tables), in a frame below 4 GiB (the trampoline loads CR3 in 32-bit mode).
pub fn copy_top_level(frames: &mut FrameAllocator, phys_offset: u64) -> Result<u64, MapError> {
    let pa = frames.alloc_frame().map_err(|_| MapError::OutOfMemory)?;
    if pa >= 1 << 32 {
        let _ = frames.free(pa, 1);
        return Err(MapError::OutOfMemory);
    }
    let (cur, _) = Cr3::read();
    let src = (phys_offset + cur.start_address().as_u64()) as *const u8;
    let dst = (phys_offset + pa) as *mut u8;
    // SAFETY: both are whole 4 KiB frames mapped through the physical-memory mapping; the
    // destination is freshly allocated, so they do not overlap.
    unsafe { core::ptr::copy_nonoverlapping(src, dst, 4096) };
    Ok(pa)
}
