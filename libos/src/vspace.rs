//! Virtual-memory management built on capabilities: frames retyped from the program's RAM
//! capability and mapped through its page-table VNode, so that page `e` of the table
//! appears at `abi::CAP_WINDOW + e * 4096`. The program's low slots, table entries and RAM
//! are left to the program itself; this allocator hands out root slots from
//! [`FIRST_SLOT`], table entries from [`FIRST_ENTRY`] and RAM from [`FIRST_RAM`] on.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use caps::abi::{CapError, CapRef, CapType, Rights};

use crate::cap::{self, root_slot};

/// First root slot this allocator uses (slots from `abi::kop::FIRST_FREE_SLOT` on are for
/// capabilities the monitor delivers).
pub const FIRST_SLOT: u32 = 128;
/// First page-table entry this allocator uses.
pub const FIRST_ENTRY: u32 = 128;
/// Offset in the program's RAM capability of the first frame this allocator makes.
pub const FIRST_RAM: u64 = 768 << 10;
/// End of the program's RAM capability (`capspace::PROGRAM_RAM` in the CPU driver).
const RAM_END: u64 = 1 << 20;

static NEXT_SLOT: AtomicU32 = AtomicU32::new(FIRST_SLOT);
static NEXT_ENTRY: AtomicU32 = AtomicU32::new(FIRST_ENTRY);
static NEXT_RAM: AtomicU64 = AtomicU64::new(FIRST_RAM);

/// A mapped frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapped {
    /// The root slot of its Frame capability.
    pub slot: u32,
    /// The page-table entry it is mapped at.
    pub entry: u32,
    /// Its virtual address.
    pub vaddr: u64,
}

/// A free root slot.
pub fn alloc_slot() -> Result<u32, CapError> {
    let s = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
    if s >= ::abi::kop::FIRST_FREE_SLOT {
        return Err(CapError::LimitReached);
    }
    Ok(s)
}

/// Reserve `pages` consecutive free entries of the capability window for the caller to
/// map and unmap itself (with `cap::map`/`cap::unmap` on `abi::ROOT_SLOT_PT`); returns the
/// first entry.
pub fn reserve(pages: u16) -> Result<u32, CapError> {
    let n = u32::from(pages.max(1));
    let entry = NEXT_ENTRY.fetch_add(n, Ordering::Relaxed);
    if entry + n > 512 {
        return Err(CapError::LimitReached);
    }
    Ok(entry)
}

/// Map the Frame capability in root slot `slot` (one page, read-write) at the next free
/// page-table entry.
pub fn map_frame(slot: u32) -> Result<Mapped, CapError> {
    map_pages(slot, 1)
}

/// Map the first `pages` pages of the Frame or DevFrame in root slot `slot` read-write at
/// consecutive free entries of the capability window.
pub fn map_pages(slot: u32, pages: u16) -> Result<Mapped, CapError> {
    let entry = reserve(pages)?;
    let pt = root_slot(::abi::ROOT_SLOT_PT);
    cap::map(
        pt,
        root_slot(slot),
        entry as u16,
        pages.max(1),
        Rights::READ | Rights::WRITE,
        0,
    )?;
    Ok(Mapped {
        slot,
        entry,
        vaddr: ::abi::CAP_WINDOW + u64::from(entry) * 4096,
    })
}

/// Retype a fresh page of the program's RAM into a Frame and map it (zeroed).
pub fn new_frame() -> Result<Mapped, CapError> {
    let off = NEXT_RAM.fetch_add(4096, Ordering::Relaxed);
    if off + 4096 > RAM_END {
        return Err(CapError::LimitReached);
    }
    let slot = alloc_slot()?;
    cap::retype(
        root_slot(::abi::ROOT_SLOT_RAM),
        CapType::Frame,
        off,
        4096,
        1,
        slot,
    )?;
    map_frame(slot)
}

/// Unmap a frame mapped by [`map_frame`] or [`new_frame`].
pub fn unmap(m: &Mapped) -> Result<(), CapError> {
    cap::unmap(root_slot(::abi::ROOT_SLOT_PT), m.entry as u16, 1).map(|_| ())
}

/// The capability reference of root slot `slot`.
pub fn slot_ref(slot: u32) -> CapRef {
    root_slot(slot)
}
