//! Early physical memory: the frame allocator built from the firmware's memory map, and
//! the boot core's per-core record and heap carved from it.

use bootloader_api::info::{MemoryRegionKind, MemoryRegions};
use cpudriver::percore::PerCore;
use physmem::{FrameAllocator, PhysRange, FRAME_SIZE};

/// Memory below this address is left alone: the AP trampoline lives there.
pub const LOW_MEMORY_END: u64 = 1 << 20;

/// Size of the boot core's kernel heap.
const BOOT_HEAP_SIZE: u64 = 16 << 20;

/// A frame allocator holding every usable range of the memory map above 1 MiB.
pub fn frames_from_memory_map(regions: &MemoryRegions) -> FrameAllocator {
    let mut frames = FrameAllocator::new();
    for r in regions
        .iter()
        .filter(|r| r.kind == MemoryRegionKind::Usable)
    {
        let start = r.start.max(LOW_MEMORY_END);
        if start >= r.end {
            continue;
        }
        if let Err(e) = frames.add_range(PhysRange { start, end: r.end }) {
            log::warn!(
                "memory map: range {:#x}..{:#x} not used: {e:?}",
                r.start,
                r.end
            );
        }
    }
    frames
}

/// Allocate the boot core's per-core record from `frames`.
pub fn boot_core_record(
    frames: &mut FrameAllocator,
    phys_offset: u64,
    apic_id: u32,
) -> &'static mut PerCore {
    let size = core::mem::size_of::<PerCore>() as u64;
    let pages = size.div_ceil(FRAME_SIZE);
    let pa = frames
        .alloc(pages)
        .expect("no memory for the boot core's per-core record");
    let ptr = (phys_offset + pa) as *mut PerCore;
    // SAFETY: `pa` is a fresh run of free frames large enough for a PerCore, mapped at
    // `phys_offset + pa`, page-aligned (so aligned for PerCore), and never handed out again.
    unsafe {
        ptr.write(PerCore::new(0, apic_id, 0, phys_offset));
        &mut *ptr
    }
}

/// Give the boot core its heap.
pub fn boot_core_heap(frames: &mut FrameAllocator) {
    let size = BOOT_HEAP_SIZE.min(frames.free_bytes() / 4) & !(FRAME_SIZE - 1);
    let pa = frames
        .alloc(size / FRAME_SIZE)
        .expect("no memory for the boot core's heap");
    let pc = cpudriver::percore::current();
    // SAFETY: fresh frames, mapped through the physical-memory mapping, owned by the boot
    // core alone.
    unsafe { cpudriver::heap::init(pc.phys_to_virt(pa), size as usize) };
}
