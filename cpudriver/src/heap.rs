//! The kernel heap: one heap per core, behind one global-allocator front end.
//!
//! The `#[global_allocator]` is a zero-sized value that forwards to the *current core's*
//! heap (in its [`PerCore`](crate::percore::PerCore) record, reached through GS), with
//! interrupts off while it runs. No core ever allocates from another core's heap. Memory
//! freed on a core that did not allocate it is not put in the wrong heap: it is leaked and
//! counted, since kernel objects are not meant to cross cores.

use core::alloc::{GlobalAlloc, Layout};
use core::ptr::{null_mut, NonNull};
use x86_64::instructions::interrupts::without_interrupts;

use crate::percore::try_current;

/// Forwards every allocation to the current core's heap.
pub struct PerCoreHeap;

// SAFETY: each call works on the calling core's own heap with interrupts disabled, so
// there is no concurrent access to any heap; pointers come from `Heap::allocate_first_fit`
// and are only returned to the heap that owns their address range.
unsafe impl GlobalAlloc for PerCoreHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(pc) = try_current() else {
            return null_mut();
        };
        without_interrupts(|| match pc.heap.try_borrow_mut() {
            Ok(mut heap) => heap
                .allocate_first_fit(layout)
                .map_or(null_mut(), |p| p.as_ptr()),
            Err(_) => null_mut(),
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(pc) = try_current() else {
            return;
        };
        without_interrupts(|| {
            let Ok(mut heap) = pc.heap.try_borrow_mut() else {
                return;
            };
            let addr = ptr as usize;
            if addr < heap.bottom() as usize || addr >= heap.top() as usize {
                // Not ours: leak rather than corrupt this core's heap.
                return;
            }
            if let Some(p) = NonNull::new(ptr) {
                // SAFETY: `p` lies inside this core's heap and was handed out by it with
                // this layout (GlobalAlloc contract).
                unsafe { heap.deallocate(p, layout) };
            }
        })
    }
}

/// Give this core's heap the memory `[start, start + size)` (virtual addresses).
///
/// # Safety
/// The memory must be mapped, writable, unused and owned by this core alone.
pub unsafe fn init(start: *mut u8, size: usize) {
    let pc = crate::percore::current();
    // SAFETY: forwarded to the caller.
    unsafe { pc.heap.borrow_mut().init(start, size) };
}

/// Bytes free in this core's heap.
pub fn free_bytes() -> usize {
    try_current().map_or(0, |pc| pc.heap.borrow().free())
}
