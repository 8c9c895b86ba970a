//! Physical memory bookkeeping for the multikernel, in a crate that also builds and is
//! unit-tested on the host.
//!
//! * [`FrameAllocator`] keeps a sorted list of free physical ranges with a fixed capacity
//!   (it runs before any heap exists) and hands out page-aligned, contiguous runs of frames.
//!   Freeing coalesces neighbours and refuses double frees.
//! * [`split_pools`] cuts the free memory of each NUMA node into per-core pools, so every
//!   core allocates only from memory that is its own and, where the firmware says so, local
//!   to it.
#![cfg_attr(not(test), no_std)]

pub mod pools;

pub use pools::{split_pools, NodeCores, PoolPlan, PoolPlanError};

/// Size of one physical frame (a 4 KiB page).
pub const FRAME_SIZE: u64 = 4096;

/// A half-open range of physical addresses `[start, end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PhysRange {
    /// First byte of the range.
    pub start: u64,
    /// One past the last byte of the range.
    pub end: u64,
}

impl PhysRange {
    /// A range from `start` of `len` bytes.
    pub const fn new(start: u64, len: u64) -> Self {
        PhysRange {
            start,
            end: start + len,
        }
    }

    /// Length in bytes.
    pub const fn len(&self) -> u64 {
        self.end - self.start
    }

    /// True if the range holds no bytes.
    pub const fn is_empty(&self) -> bool {
        self.end <= self.start
    }

    /// The largest page-aligned range inside this one (may be empty).
    pub fn page_aligned(&self) -> PhysRange {
        let start = align_up(self.start, FRAME_SIZE);
        let end = self.end & !(FRAME_SIZE - 1);
        if end <= start {
            PhysRange { start, end: start }
        } else {
            PhysRange { start, end }
        }
    }

    /// The overlap of two ranges, if any.
    pub fn intersect(&self, other: &PhysRange) -> Option<PhysRange> {
        let start = self.start.max(other.start);
        let end = self.end.min(other.end);
        (start < end).then_some(PhysRange { start, end })
    }
}

/// Round `x` up to a multiple of `align` (a power of two). Saturates at the top.
pub const fn align_up(x: u64, align: u64) -> u64 {
    match x.checked_add(align - 1) {
        Some(v) => v & !(align - 1),
        None => !(align - 1),
    }
}

/// Why a frame operation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// No free run of the requested size and alignment.
    OutOfMemory,
    /// Address or size is not a multiple of [`FRAME_SIZE`], or the alignment is not a power
    /// of two of at least one frame.
    Misaligned,
    /// The range overlaps memory that is already free (a double free or a bad range).
    Overlap,
    /// The allocator's fixed table of ranges is full.
    TooManyRanges,
    /// A request of zero frames.
    Empty,
}

/// Maximum number of disjoint free ranges one allocator tracks.
pub const MAX_RANGES: usize = 128;

/// First-fit allocator over a sorted, coalesced list of free physical ranges.
#[derive(Clone)]
pub struct FrameAllocator {
    ranges: [PhysRange; MAX_RANGES],
    len: usize,
}

impl Default for FrameAllocator {
    fn default() -> Self {
        Self::new()
    }
}

impl core::fmt::Debug for FrameAllocator {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.ranges()).finish()
    }
}

impl FrameAllocator {
    /// An allocator with no memory.
    pub const fn new() -> Self {
        FrameAllocator {
            ranges: [PhysRange { start: 0, end: 0 }; MAX_RANGES],
            len: 0,
        }
    }

    /// The free ranges, sorted by address.
    pub fn ranges(&self) -> &[PhysRange] {
        &self.ranges[..self.len]
    }

    /// Total free bytes.
    pub fn free_bytes(&self) -> u64 {
        self.ranges().iter().map(PhysRange::len).sum()
    }

    /// Add a range of free memory. The range is trimmed to page boundaries; an empty result
    /// is ignored. Overlap with memory already free is refused.
    pub fn add_range(&mut self, range: PhysRange) -> Result<(), FrameError> {
        let r = range.page_aligned();
        if r.is_empty() {
            return Ok(());
        }
        self.insert(r)
    }

    /// Return `count` frames starting at `addr` to the allocator.
    pub fn free(&mut self, addr: u64, count: u64) -> Result<(), FrameError> {
        if count == 0 {
            return Err(FrameError::Empty);
        }
        if !addr.is_multiple_of(FRAME_SIZE) {
            return Err(FrameError::Misaligned);
        }
        let len = count
            .checked_mul(FRAME_SIZE)
            .ok_or(FrameError::Misaligned)?;
        let end = addr.checked_add(len).ok_or(FrameError::Misaligned)?;
        self.insert(PhysRange { start: addr, end })
    }

    fn insert(&mut self, r: PhysRange) -> Result<(), FrameError> {
        // Index of the first range that starts after r.start.
        let idx = self.ranges().partition_point(|x| x.start <= r.start);
        if idx > 0 && self.ranges[idx - 1].end > r.start {
            return Err(FrameError::Overlap);
        }
        if idx < self.len && self.ranges[idx].start < r.end {
            return Err(FrameError::Overlap);
        }
        let joins_prev = idx > 0 && self.ranges[idx - 1].end == r.start;
        let joins_next = idx < self.len && self.ranges[idx].start == r.end;
        match (joins_prev, joins_next) {
            (true, true) => {
                self.ranges[idx - 1].end = self.ranges[idx].end;
                self.remove_at(idx);
            }
            (true, false) => self.ranges[idx - 1].end = r.end,
            (false, true) => self.ranges[idx].start = r.start,
            (false, false) => {
                if self.len == MAX_RANGES {
                    return Err(FrameError::TooManyRanges);
                }
                self.ranges.copy_within(idx..self.len, idx + 1);
                self.ranges[idx] = r;
                self.len += 1;
            }
        }
        Ok(())
    }

    fn remove_at(&mut self, idx: usize) {
        self.ranges.copy_within(idx + 1..self.len, idx);
        self.len -= 1;
    }

    /// Allocate `count` contiguous frames whose first address is a multiple of `align`
    /// bytes (a power of two, at least [`FRAME_SIZE`]). Returns the physical address.
    pub fn alloc_aligned(&mut self, count: u64, align: u64) -> Result<u64, FrameError> {
        if count == 0 {
            return Err(FrameError::Empty);
        }
        if !align.is_power_of_two() || align < FRAME_SIZE {
            return Err(FrameError::Misaligned);
        }
        let len = count
            .checked_mul(FRAME_SIZE)
            .ok_or(FrameError::OutOfMemory)?;
        for i in 0..self.len {
            let r = self.ranges[i];
            let start = align_up(r.start, align);
            let Some(end) = start.checked_add(len) else {
                continue;
            };
            if start < r.start || end > r.end {
                continue;
            }
            self.take(i, PhysRange { start, end })?;
            return Ok(start);
        }
        Err(FrameError::OutOfMemory)
    }

    /// Allocate `count` contiguous frames.
    pub fn alloc(&mut self, count: u64) -> Result<u64, FrameError> {
        self.alloc_aligned(count, FRAME_SIZE)
    }

    /// Allocate one frame.
    pub fn alloc_frame(&mut self) -> Result<u64, FrameError> {
        self.alloc(1)
    }

    /// Remove `part` (which lies inside range `i`) from the free list.
    fn take(&mut self, i: usize, part: PhysRange) -> Result<(), FrameError> {
        let r = self.ranges[i];
        let left = PhysRange {
            start: r.start,
            end: part.start,
        };
        let right = PhysRange {
            start: part.end,
            end: r.end,
        };
        match (left.is_empty(), right.is_empty()) {
            (true, true) => self.remove_at(i),
            (false, true) => self.ranges[i] = left,
            (true, false) => self.ranges[i] = right,
            (false, false) => {
                if self.len == MAX_RANGES {
                    return Err(FrameError::TooManyRanges);
                }
                self.ranges[i] = left;
                self.ranges.copy_within(i + 1..self.len, i + 2);
                self.ranges[i + 1] = right;
                self.len += 1;
            }
        }
        Ok(())
    }

    /// Remove exactly `bytes` (rounded up to frames) of free memory lying inside `within`,
    /// lowest addresses first, and return them as a new allocator. Used to carve per-core
    /// pools out of a node's memory. On failure nothing is removed.
    pub fn carve(&mut self, within: PhysRange, bytes: u64) -> Result<FrameAllocator, FrameError> {
        let mut want = align_up(bytes, FRAME_SIZE);
        let mut out = FrameAllocator::new();
        let mut plan = FrameAllocator::new();
        for r in self.ranges() {
            if want == 0 {
                break;
            }
            if let Some(part) = r.intersect(&within) {
                let part = part.page_aligned();
                let take = part.len().min(want);
                if take == 0 {
                    continue;
                }
                plan.insert(PhysRange::new(part.start, take))?;
                want -= take;
            }
        }
        if want != 0 {
            return Err(FrameError::OutOfMemory);
        }
        for p in plan.ranges() {
            let i = self.ranges().partition_point(|x| x.end <= p.start);
            self.take(i, *p)?;
            out.insert(*p)?;
        }
        Ok(out)
    }

    /// Free bytes inside `within`.
    pub fn free_bytes_in(&self, within: PhysRange) -> u64 {
        self.ranges()
            .iter()
            .filter_map(|r| r.intersect(&within))
            .map(|r| r.page_aligned().len())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    fn alloc_with(ranges: &[(u64, u64)]) -> FrameAllocator {
        let mut a = FrameAllocator::new();
        for &(s, l) in ranges {
            a.add_range(PhysRange::new(s, l)).unwrap();
        }
        a
    }

    #[test]
    fn trims_unaligned_ranges() {
        let a = alloc_with(&[(0x1001, 0x3000)]);
        assert_eq!(a.ranges(), &[PhysRange::new(0x2000, 0x2000)]);
        let b = alloc_with(&[(0x1001, 0x100)]);
        assert_eq!(b.ranges(), &[]);
    }

    #[test]
    fn alloc_and_free_coalesce() {
        let mut a = alloc_with(&[(MB, 4 * MB)]);
        let x = a.alloc(1).unwrap();
        let y = a.alloc(2).unwrap();
        assert_eq!(x, MB);
        assert_eq!(y, MB + FRAME_SIZE);
        assert_eq!(a.free_bytes(), 4 * MB - 3 * FRAME_SIZE);
        a.free(x, 1).unwrap();
        assert_eq!(a.ranges().len(), 2);
        a.free(y, 2).unwrap();
        assert_eq!(a.ranges(), &[PhysRange::new(MB, 4 * MB)]);
    }

    #[test]
    fn double_free_and_overlap_refused() {
        let mut a = alloc_with(&[(MB, MB)]);
        let x = a.alloc(4).unwrap();
        a.free(x, 4).unwrap();
        assert_eq!(a.free(x, 1), Err(FrameError::Overlap));
        assert_eq!(
            a.add_range(PhysRange::new(MB + MB / 2, MB)),
            Err(FrameError::Overlap)
        );
        assert_eq!(a.free_bytes(), MB);
    }

    #[test]
    fn bad_requests_are_errors() {
        let mut a = alloc_with(&[(MB, MB)]);
        assert_eq!(a.alloc(0), Err(FrameError::Empty));
        assert_eq!(a.alloc_aligned(1, 3), Err(FrameError::Misaligned));
        assert_eq!(a.alloc_aligned(1, 512), Err(FrameError::Misaligned));
        assert_eq!(a.free(MB + 1, 1), Err(FrameError::Misaligned));
        assert_eq!(a.free(!0xfff, 2), Err(FrameError::Misaligned));
        assert_eq!(a.alloc(1 << 60), Err(FrameError::OutOfMemory));
        assert_eq!(a.alloc(257), Err(FrameError::OutOfMemory));
        assert_eq!(a.free_bytes(), MB);
    }

    #[test]
    fn aligned_allocation_splits_range() {
        let mut a = alloc_with(&[(0x1000, 4 * MB)]);
        let x = a.alloc_aligned(1, 2 * MB).unwrap();
        assert_eq!(x, 2 * MB);
        assert_eq!(a.ranges().len(), 2);
        assert_eq!(a.free_bytes(), 4 * MB - FRAME_SIZE);
    }

    #[test]
    fn exhausts_exactly() {
        let mut a = alloc_with(&[(0, 16 * FRAME_SIZE)]);
        for i in 0..16 {
            assert_eq!(a.alloc_frame().unwrap(), i * FRAME_SIZE);
        }
        assert_eq!(a.alloc_frame(), Err(FrameError::OutOfMemory));
    }

    #[test]
    fn range_table_full_is_an_error() {
        let mut a = FrameAllocator::new();
        for i in 0..MAX_RANGES as u64 {
            a.add_range(PhysRange::new(i * 2 * FRAME_SIZE, FRAME_SIZE))
                .unwrap();
        }
        let next = PhysRange::new(MAX_RANGES as u64 * 2 * FRAME_SIZE, FRAME_SIZE);
        assert_eq!(a.add_range(next), Err(FrameError::TooManyRanges));
        // Filling a hole coalesces and needs no new slot.
        a.add_range(PhysRange::new(FRAME_SIZE, FRAME_SIZE)).unwrap();
        assert_eq!(a.ranges().len(), MAX_RANGES - 1);
    }

    #[test]
    fn carve_takes_from_within_only() {
        let mut a = alloc_with(&[(0, 4 * MB), (8 * MB, 4 * MB)]);
        let node1 = PhysRange::new(2 * MB, 8 * MB);
        let pool = a.carve(node1, 3 * MB).unwrap();
        assert_eq!(pool.free_bytes(), 3 * MB);
        assert_eq!(
            pool.ranges(),
            &[PhysRange::new(2 * MB, 2 * MB), PhysRange::new(8 * MB, MB)]
        );
        assert_eq!(a.free_bytes(), 5 * MB);
        assert_eq!(a.free_bytes_in(node1), MB);
        assert_eq!(a.carve(node1, 2 * MB).unwrap_err(), FrameError::OutOfMemory);
        assert_eq!(a.free_bytes(), 5 * MB);
    }

    #[test]
    fn pseudo_random_alloc_free_keeps_accounting() {
        let total = 64 * MB;
        let mut a = alloc_with(&[(MB, total)]);
        let mut live: [(u64, u64); 64] = [(0, 0); 64];
        let mut seed = 0x9e3779b97f4a7c15u64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let slot = (seed % 64) as usize;
            if live[slot].1 == 0 {
                let n = 1 + (seed >> 8) % 32;
                if let Ok(x) = a.alloc(n) {
                    live[slot] = (x, n);
                }
            } else {
                a.free(live[slot].0, live[slot].1).unwrap();
                live[slot] = (0, 0);
            }
            let used: u64 = live.iter().map(|l| l.1 * FRAME_SIZE).sum();
            assert_eq!(a.free_bytes() + used, total);
        }
    }
}
