//! Read access to physical memory, and the `acpi` crate's [`acpi::Handler`] on top of it.
//!
//! The kernel hands over a [`PhysMemory`]; the crate checks every range it is about to read
//! with [`PhysMemory::is_readable`] before it maps it (itself or through the `acpi` crate), so
//! a corrupt table pointer or length is a warning rather than a wild read.

use acpi::{Handler, PciAddress, PhysicalMapping};
use core::ptr::NonNull;

/// Read-only access to physical memory.
///
/// # Safety
///
/// Whenever `is_readable(phys, len)` returns true, `virt(phys)` must return a non-null
/// pointer valid for reads of `len` bytes (no alignment is required), and those bytes must
/// stay mapped and unchanged for as long as this value or any clone of it lives.
/// `is_readable` must give the same answer for the same range every time it is asked.
pub unsafe trait PhysMemory: Clone {
    /// Whether the physical range `[phys, phys + len)` can be read.
    fn is_readable(&self, phys: u64, len: usize) -> bool;

    /// The address at which physical address `phys` can be read. Only called for addresses
    /// for which [`PhysMemory::is_readable`] just returned true.
    fn virt(&self, phys: u64) -> *const u8;
}

/// Physical memory mapped at a fixed virtual offset, as the kernel has it: physical address
/// `p` is readable at virtual address `offset + p` for every `p < phys_end`.
#[derive(Clone, Copy, Debug)]
pub struct OffsetMapped {
    offset: u64,
    phys_end: u64,
}

impl OffsetMapped {
    /// Physical memory `[0, phys_end)` mapped at virtual `offset`.
    ///
    /// # Safety
    ///
    /// Every physical address below `phys_end` must be mapped readable at `offset + address`
    /// for as long as the value (or a copy) is in use, and the ACPI tables must not change
    /// meanwhile. `phys_end` may be `u64::MAX` if the caller cannot bound it, at the cost of
    /// trusting every table pointer in the firmware's tables.
    pub const unsafe fn new(offset: u64, phys_end: u64) -> Self {
        OffsetMapped { offset, phys_end }
    }
}

// SAFETY: `new`'s contract says `[0, phys_end)` is mapped readable at `offset`; `is_readable`
// admits only ranges inside it whose virtual addresses neither overflow nor start at null.
unsafe impl PhysMemory for OffsetMapped {
    fn is_readable(&self, phys: u64, len: usize) -> bool {
        let Some(end) = phys.checked_add(len as u64) else {
            return false;
        };
        let Some(virt_end) = self.offset.checked_add(end) else {
            return false;
        };
        end <= self.phys_end && self.offset + phys != 0 && usize::try_from(virt_end).is_ok()
    }

    fn virt(&self, phys: u64) -> *const u8 {
        self.offset.wrapping_add(phys) as usize as *const u8
    }
}

/// A byte slice standing in for physical memory starting at physical address `base` (the
/// host tools' synthetic images).
#[derive(Clone, Copy, Debug)]
pub struct SliceMemory<'a> {
    base: u64,
    bytes: &'a [u8],
}

impl<'a> SliceMemory<'a> {
    /// `bytes[i]` is physical address `base + i`.
    pub const fn new(base: u64, bytes: &'a [u8]) -> Self {
        SliceMemory { base, bytes }
    }
}

// SAFETY: `is_readable` admits only ranges inside the borrowed slice, which lives (immutably
// borrowed, so unchanged) as long as the value; `virt` of such an address points into it.
unsafe impl PhysMemory for SliceMemory<'_> {
    fn is_readable(&self, phys: u64, len: usize) -> bool {
        let Some(start) = phys.checked_sub(self.base) else {
            return false;
        };
        let Ok(start) = usize::try_from(start) else {
            return false;
        };
        start
            .checked_add(len)
            .is_some_and(|end| end <= self.bytes.len())
    }

    fn virt(&self, phys: u64) -> *const u8 {
        let off = phys.wrapping_sub(self.base) as usize;
        self.bytes.as_ptr().wrapping_add(off)
    }
}

/// The `acpi` crate's handler over a [`PhysMemory`]. Mapping is free (memory is already
/// mapped) and unmapping does nothing. Everything else the trait asks for (port and PCI I/O,
/// timing) is for the AML interpreter, which this crate does not use: reads give all-ones,
/// writes and waits do nothing.
#[derive(Clone, Debug)]
pub(crate) struct AcpiHandler<M: PhysMemory> {
    pub(crate) mem: M,
}

/// Backing for a mapping request that fails the readability check: unreachable because every
/// request is checked first ([`map`]), but it keeps the handler from ever producing a null
/// pointer.
static ZERO_PAGE: [u8; 4096] = [0; 4096];

impl<M: PhysMemory> AcpiHandler<M> {
    fn read<const N: usize>(&self, address: usize) -> [u8; N] {
        let phys = address as u64;
        if !self.mem.is_readable(phys, N) {
            return [0xff; N];
        }
        let mut out = [0u8; N];
        // SAFETY: `is_readable(phys, N)` returned true, so `virt(phys)` is valid for reads of
        // N bytes (PhysMemory's contract); `out` is a distinct local buffer of N bytes.
        unsafe { core::ptr::copy_nonoverlapping(self.mem.virt(phys), out.as_mut_ptr(), N) };
        out
    }
}

impl<M: PhysMemory> Handler for AcpiHandler<M> {
    // Only `map` calls this, after checking the range; an unreadable range (which the
    // consistency required of `PhysMemory` rules out) would get zeros, never a wild pointer.
    unsafe fn map_physical_region<T>(
        &self,
        physical_address: usize,
        size: usize,
    ) -> PhysicalMapping<Self, T> {
        let phys = physical_address as u64;
        let readable = self.mem.is_readable(phys, size);
        let (ptr, size) = if readable {
            (self.mem.virt(phys), size)
        } else {
            (ZERO_PAGE.as_ptr(), size.min(ZERO_PAGE.len()))
        };
        let virtual_start = NonNull::new(ptr.cast_mut())
            .unwrap_or(NonNull::from(&ZERO_PAGE).cast())
            .cast::<T>();
        PhysicalMapping {
            physical_start: physical_address,
            virtual_start,
            region_length: size,
            mapped_length: size,
            handler: self.clone(),
        }
    }

    fn unmap_physical_region<T>(_region: &PhysicalMapping<Self, T>) {}

    fn read_u8(&self, address: usize) -> u8 {
        u8::from_le_bytes(self.read(address))
    }
    fn read_u16(&self, address: usize) -> u16 {
        u16::from_le_bytes(self.read(address))
    }
    fn read_u32(&self, address: usize) -> u32 {
        u32::from_le_bytes(self.read(address))
    }
    fn read_u64(&self, address: usize) -> u64 {
        u64::from_le_bytes(self.read(address))
    }

    fn write_u8(&self, _address: usize, _value: u8) {}
    fn write_u16(&self, _address: usize, _value: u16) {}
    fn write_u32(&self, _address: usize, _value: u32) {}
    fn write_u64(&self, _address: usize, _value: u64) {}

    fn read_io_u8(&self, _port: u16) -> u8 {
        !0
    }
    fn read_io_u16(&self, _port: u16) -> u16 {
        !0
    }
    fn read_io_u32(&self, _port: u16) -> u32 {
        !0
    }
    fn write_io_u8(&self, _port: u16, _value: u8) {}
    fn write_io_u16(&self, _port: u16, _value: u16) {}
    fn write_io_u32(&self, _port: u16, _value: u32) {}

    fn read_pci_u8(&self, _address: PciAddress, _offset: u16) -> u8 {
        !0
    }
    fn read_pci_u16(&self, _address: PciAddress, _offset: u16) -> u16 {
        !0
    }
    fn read_pci_u32(&self, _address: PciAddress, _offset: u16) -> u32 {
        !0
    }
    fn write_pci_u8(&self, _address: PciAddress, _offset: u16, _value: u8) {}
    fn write_pci_u16(&self, _address: PciAddress, _offset: u16, _value: u16) {}
    fn write_pci_u32(&self, _address: PciAddress, _offset: u16, _value: u32) {}

    fn nanos_since_boot(&self) -> u64 {
        0
    }
    fn stall(&self, _microseconds: u64) {}
    fn sleep(&self, _milliseconds: u64) {}
}

/// Maps `len` bytes at `phys` as a `T`, after checking that the range is readable and at least
/// as long as a `T`. `T` must be a `repr(C, packed)` table type (alignment 1), as all of the
/// `acpi` crate's table and entry types are.
pub(crate) fn map<M: PhysMemory, T>(
    handler: &AcpiHandler<M>,
    phys: u64,
    len: usize,
) -> Option<PhysicalMapping<AcpiHandler<M>, T>> {
    if core::mem::align_of::<T>() != 1
        || len < core::mem::size_of::<T>()
        || !handler.mem.is_readable(phys, len)
    {
        return None;
    }
    let address = usize::try_from(phys).ok()?;
    // SAFETY: `[phys, phys + len)` is readable (checked above), at least `size_of::<T>()` long,
    // and `T` has alignment 1, so the mapping's pointer is valid for a `T` and `len` bytes.
    Some(unsafe { handler.map_physical_region::<T>(address, len) })
}

/// The bytes of a mapping made by [`map`].
pub(crate) fn mapped_bytes<M: PhysMemory, T>(
    mapping: &PhysicalMapping<AcpiHandler<M>, T>,
) -> &[u8] {
    // SAFETY: mappings are only made by `map`, which checked that `region_length` bytes from
    // `virtual_start` are readable; they stay mapped and unchanged while the handler inside
    // the mapping lives (PhysMemory's contract), i.e. at least for the borrow of `mapping`.
    unsafe {
        core::slice::from_raw_parts(
            mapping.virtual_start.as_ptr().cast::<u8>(),
            mapping.region_length,
        )
    }
}
