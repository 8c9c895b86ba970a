//! The program's heap: a first-fit allocator over a region in the program's own data
//! (user memory; one heap per program, nothing shared with other programs or the kernel).

use core::cell::UnsafeCell;
use linked_list_allocator::LockedHeap;

/// Size of every program's heap.
pub const HEAP_SIZE: usize = 512 * 1024;

#[repr(C, align(4096))]
struct HeapSpace(UnsafeCell<[u8; HEAP_SIZE]>);

// SAFETY: the bytes are only ever reached through the allocator below, which hands out
// disjoint blocks under its own lock.
unsafe impl Sync for HeapSpace {}

static SPACE: HeapSpace = HeapSpace(UnsafeCell::new([0; HEAP_SIZE]));

#[global_allocator]
static ALLOCATOR: LockedHeap = LockedHeap::empty();

/// Give the allocator its memory (once, at program start).
pub(crate) fn init() {
    // SAFETY: called once before any allocation; SPACE lives for the whole program and is
    // used by nothing but the allocator.
    unsafe { ALLOCATOR.lock().init(SPACE.0.get() as *mut u8, HEAP_SIZE) };
}

/// Bytes free in the heap.
pub fn free_bytes() -> usize {
    ALLOCATOR.lock().free()
}

/// Whether the allocator's lock is held. An LRPC entry runs on the receiving dispatcher
/// while its own thread may have been preempted inside the allocator: it must not
/// allocate then (it would spin forever on a lock whose holder cannot run).
pub fn is_busy() -> bool {
    ALLOCATOR.try_lock().is_none()
}
