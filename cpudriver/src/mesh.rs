//! The monitor mesh: one URPC channel between the monitors of every pair of cores.
//!
//! The boot core allocates, before it starts any other core, a *mesh directory* and one
//! zeroed page of channel memory per unordered pair of cores (all-to-all, as Barrelfish's
//! monitors are connected: a broadcast or a multicast tree then needs no forwarding through
//! core 0, and each pair's ring is written by one sender only). The page of the pair
//! `(a, b)`, `a < b`, comes from core `b`'s own memory pool. Each CPU driver maps the pages
//! of its core's pairs into its monitor at [`abi::MONITOR_CHANNELS`]` + peer * 4096`; the
//! monitor with the lower core number uses side A.
//!
//! The directory is written by the boot core only: the APIC ids and channel addresses
//! before any AP starts, the bitmap of cores that came up (and the `published` flag, last,
//! with release ordering) once bring-up is over. Other cores only read it. Like the channel
//! pages, it is memory for cross-core messaging, not shared kernel state.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::percore::PerCore;

/// Most cores the mesh supports.
pub const MAX_CORES: usize = 1024;

/// Start of the directory (the APIC id and channel tables follow it).
#[repr(C, align(64))]
pub struct DirectoryHeader {
    /// Number of cores the tables describe.
    pub cores: u32,
    /// Non-zero once `online` is final.
    pub published: AtomicU32,
    /// Cores that came up: bit `c % 64` of word `c / 64`.
    pub online: [AtomicU64; MAX_CORES / 64],
}

/// Where a core finds the directory.
#[derive(Clone, Copy, Debug)]
pub struct Mesh {
    /// Physical address of the directory.
    pub pa: u64,
    /// Number of cores.
    pub cores: u32,
}

/// Bytes of a directory for `cores` cores: header, APIC ids, channel pages, then per core
/// its shootdown block, its monitor's broadcast page and its place (package, node).
pub fn directory_bytes(cores: u32) -> u64 {
    let n = cores as u64;
    core::mem::size_of::<DirectoryHeader>() as u64
        + 4 * n
        + 8 * pairs(cores)
        + 8 * PER_CORE_WORDS as u64 * n
}

/// Words per core in the directory's per-core table.
const PER_CORE_WORDS: usize = 3;

/// Number of unordered pairs of `cores` cores.
pub fn pairs(cores: u32) -> u64 {
    let n = cores as u64;
    n * n.saturating_sub(1) / 2
}

fn pair_index(a: u32, b: u32) -> u64 {
    let (lo, hi) = if a < b { (a, b) } else { (b, a) };
    let hi = hi as u64;
    hi * (hi - 1) / 2 + lo as u64
}

impl Mesh {
    fn base(&self, pc: &PerCore) -> *mut u8 {
        pc.phys_to_virt(self.pa)
    }

    /// The directory header.
    pub fn header<'a>(&self, pc: &'a PerCore) -> &'a DirectoryHeader {
        // SAFETY: the boot core allocated the directory (page-aligned, zeroed, never freed)
        // and only touches its header through atomics after other cores started.
        unsafe { &*(self.base(pc) as *const DirectoryHeader) }
    }

    fn apic_ptr(&self, pc: &PerCore) -> *mut u32 {
        // SAFETY: the APIC id table follows the header inside the directory.
        unsafe {
            self.base(pc)
                .add(core::mem::size_of::<DirectoryHeader>())
                .cast()
        }
    }

    fn channel_ptr(&self, pc: &PerCore) -> *mut u64 {
        let off = core::mem::size_of::<DirectoryHeader>() + 4 * self.cores as usize;
        // SAFETY: the channel table follows the APIC id table inside the directory; the
        // offset is a multiple of 4 and the table is read with unaligned reads.
        unsafe { self.base(pc).add(off).cast() }
    }

    fn per_core_ptr(&self, pc: &PerCore) -> *mut u64 {
        let off = core::mem::size_of::<DirectoryHeader>()
            + 4 * self.cores as usize
            + 8 * pairs(self.cores) as usize;
        // SAFETY: the per-core table follows the channel table inside the directory; it is
        // read and written with unaligned accesses.
        unsafe { self.base(pc).add(off).cast() }
    }

    /// Physical addresses of core `c`'s shootdown block (kernel memory for the IPI
    /// protocol, see [`crate::tlb`]) and of its monitor's broadcast page.
    pub fn tlb_pages(&self, pc: &PerCore, c: u32) -> Option<(u64, u64)> {
        if c >= self.cores {
            return None;
        }
        let i = PER_CORE_WORDS * c as usize;
        // SAFETY: inside the per-core table; written before this core started.
        let (block, bcast) = unsafe {
            let p = self.per_core_ptr(pc);
            (p.add(i).read_unaligned(), p.add(i + 1).read_unaligned())
        };
        (block != 0 && bcast != 0).then_some((block, bcast))
    }

    /// Core `c`'s package and NUMA node.
    pub fn place(&self, pc: &PerCore, c: u32) -> Option<(u32, u32)> {
        if c >= self.cores {
            return None;
        }
        let i = PER_CORE_WORDS * c as usize + 2;
        // SAFETY: inside the per-core table; written before this core started.
        let w = unsafe { self.per_core_ptr(pc).add(i).read_unaligned() };
        Some(((w >> 32) as u32, w as u32))
    }

    /// Boot core, before other cores start: record core `c`'s package and node.
    pub fn set_place(&self, pc: &PerCore, c: u32, package: u32, node: u32) {
        if c < self.cores {
            let i = PER_CORE_WORDS * c as usize + 2;
            // SAFETY: inside the per-core table of the (exclusively owned) directory.
            unsafe {
                self.per_core_ptr(pc)
                    .add(i)
                    .write_unaligned(u64::from(package) << 32 | u64::from(node))
            };
        }
    }

    /// Boot core, before other cores start: record core `c`'s shootdown block and
    /// broadcast page.
    pub fn set_tlb_pages(&self, pc: &PerCore, c: u32, block: u64, bcast: u64) {
        if c < self.cores {
            let i = PER_CORE_WORDS * c as usize;
            // SAFETY: inside the per-core table of the (exclusively owned) directory.
            unsafe {
                let p = self.per_core_ptr(pc);
                p.add(i).write_unaligned(block);
                p.add(i + 1).write_unaligned(bcast);
            }
        }
    }

    /// The APIC id of core `c`.
    pub fn apic_id(&self, pc: &PerCore, c: u32) -> Option<u32> {
        if c >= self.cores {
            return None;
        }
        // SAFETY: `c` is inside the table; the boot core wrote it before this core started.
        Some(unsafe { self.apic_ptr(pc).add(c as usize).read_volatile() })
    }

    /// Physical address of the channel page between cores `a` and `b`.
    pub fn channel_pa(&self, pc: &PerCore, a: u32, b: u32) -> Option<u64> {
        if a == b || a >= self.cores || b >= self.cores {
            return None;
        }
        // SAFETY: the index is inside the pair table; written before this core started.
        let pa = unsafe {
            self.channel_ptr(pc)
                .add(pair_index(a, b) as usize)
                .read_unaligned()
        };
        (pa != 0).then_some(pa)
    }

    /// Whether the boot core has published the set of cores that came up.
    pub fn published(&self, pc: &PerCore) -> bool {
        self.header(pc).published.load(Ordering::Acquire) != 0
    }

    /// Word `w` of the bitmap of cores that came up (only meaningful once published).
    pub fn online_word(&self, pc: &PerCore, w: usize) -> Option<u64> {
        self.header(pc)
            .online
            .get(w)
            .map(|x| x.load(Ordering::Acquire))
    }

    /// Whether core `c` came up (and the bitmap is published).
    pub fn is_online(&self, pc: &PerCore, c: u32) -> bool {
        self.published(pc)
            && self
                .online_word(pc, c as usize / 64)
                .is_some_and(|w| w & (1 << (c % 64)) != 0)
    }

    /// Boot core, before other cores start: fill in the tables of a zeroed directory.
    pub fn init(&self, pc: &PerCore, apic_ids: &[u32], mut channel: impl FnMut(u32, u32) -> u64) {
        let n = self.cores;
        // SAFETY: the header is at the start of the (zeroed, exclusively owned) directory.
        unsafe { (self.base(pc) as *mut u32).write(n) };
        for (c, id) in apic_ids.iter().enumerate().take(n as usize) {
            // SAFETY: inside the APIC id table.
            unsafe { self.apic_ptr(pc).add(c).write_volatile(*id) };
        }
        for b in 1..n {
            for a in 0..b {
                let pa = channel(a, b);
                // SAFETY: inside the pair table.
                unsafe {
                    self.channel_ptr(pc)
                        .add(pair_index(a, b) as usize)
                        .write_unaligned(pa)
                };
            }
        }
    }

    /// Boot core, after bring-up: publish which cores came up.
    pub fn publish(&self, pc: &PerCore, online: impl Iterator<Item = u32>) {
        let h = self.header(pc);
        for c in online {
            if let Some(w) = h.online.get(c as usize / 64) {
                w.fetch_or(1 << (c % 64), Ordering::Relaxed);
            }
        }
        h.published.store(1, Ordering::Release);
    }
}
