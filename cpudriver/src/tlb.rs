//! TLB shootdown for address spaces that span cores.
//!
//! A program spans cores by giving its dispatchers on other cores its capability-window
//! page table (one VNode, linked into every dispatcher's own top-level table at
//! [`abi::CAP_WINDOW`]): the page-table memory is shared, each core's TLB caches it on its
//! own. The core owning the table records, per table, the cores that link it (a *span*,
//! [`TlbState::span_add`], told by the monitors). Only the owner core can change the table
//! (the copies on other cores lack the write right), so every cleared entry of a spanned
//! table passes through this module on the owner core before the memory behind it can be
//! used again.
//!
//! Two ways to reach the other cores:
//! - **IPI** (the conventional shared-memory design): the initiating CPU driver writes the
//!   request into a line of each target's *shootdown block*, sends the target a
//!   [`TLB_VECTOR`] interrupt and spins until every target has written its acknowledgement
//!   into the initiator's block. While it spins it serves requests addressed to itself, so
//!   two cores shooting at each other cannot deadlock. Every implicit unmap (delete or
//!   revoke of a mapped capability) uses it.
//! - **Messages through the monitors** (unicast, broadcast, multicast, NUMA-aware
//!   multicast; [`abi::tlb`]): the kernel clears the entries and its own TLB, blocks the
//!   calling dispatcher and queues the request for the local monitor
//!   ([`abi::kop::TLB_NEXT`]); the monitors invalidate on their cores
//!   ([`abi::kop::TLB_INVALIDATE`]) and acknowledge by message; when every core has, the
//!   monitor reports completion ([`abi::kop::TLB_DONE`]) and the caller resumes. The caller
//!   being blocked until then is what keeps the frame from being reused early: only the
//!   owner core can retype or free it, and only through that program.
//!
//! The shootdown blocks are cross-core message memory like the URPC channels: allocated by
//! the boot core (one per core, from that core's pool, listed in the mesh directory); line
//! `i` of core `t`'s block is written only by initiator `i`, line `cores + t` of core
//! `i`'s block only by target `t`.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use crate::arch::cpu::rdtsc;
use crate::percore::PerCore;

/// Interrupt vector of shootdown requests.
pub const TLB_VECTOR: u8 = 0xf1;

/// Above this many pages a full flush is cheaper than `invlpg` per page.
const FULL_FLUSH_PAGES: u64 = 32;

/// How long an initiator waits for a core before declaring it dead (in TSC seconds).
const ACK_PATIENCE_S: u64 = 2;

/// One cache line of a shootdown block.
#[repr(C, align(64))]
struct Line {
    seq: AtomicU64,
    va: AtomicU64,
    pages: AtomicU64,
}

/// Bytes of one core's shootdown block on a machine of `cores` cores.
pub fn block_bytes(cores: u32) -> u64 {
    2 * 64 * u64::from(cores)
}

/// A request for the monitor (message-based protocols).
#[derive(Clone, Copy, Debug)]
pub struct Request {
    /// Identifies the shootdown in [`abi::kop::TLB_DONE`].
    pub token: u64,
    /// First virtual address.
    pub va: u64,
    /// Number of pages.
    pub pages: u64,
    /// Protocol ([`abi::tlb`]).
    pub protocol: u64,
    /// Cores to reach ([`abi::tlb::core_words`]), this one excluded.
    pub cores: [u64; 2],
}

/// The cores linking one shared table, and where it is linked.
struct Span {
    va: u64,
    cores: BTreeSet<u32>,
}

/// This core's shootdown state.
#[derive(Default)]
pub struct TlbState {
    spans: BTreeMap<u64, Span>,
    queue: VecDeque<Request>,
    waiting: BTreeMap<u64, (u32, u64, Request)>,
    next_token: u64,
}

/// Per-core request numbers and what was last served, kept apart from [`TlbState`] so that
/// the interrupt handler never needs its borrow.
#[derive(Default)]
pub struct Mailbox {
    seq: core::cell::Cell<u64>,
    seen: core::cell::RefCell<Vec<u64>>,
}

impl TlbState {
    /// Record that core `core` links the table at physical `table`, at virtual `va`.
    pub fn span_add(&mut self, table: u64, va: u64, core: u32) {
        self.spans
            .entry(table)
            .or_insert_with(|| Span {
                va,
                cores: BTreeSet::new(),
            })
            .cores
            .insert(core);
    }

    /// Where the table at `table` is linked and the other cores linking it, if any.
    pub fn span_of(&self, table: u64) -> Option<(u64, Vec<u32>)> {
        self.spans
            .get(&table)
            .filter(|s| !s.cores.is_empty())
            .map(|s| (s.va, s.cores.iter().copied().collect()))
    }

    /// Queue a message-based shootdown for the monitor on behalf of dispatcher
    /// `dispatcher`; returns its token.
    pub fn queue(&mut self, dispatcher: u32, mut r: Request, now: u64) -> u64 {
        self.next_token += 1;
        r.token = self.next_token;
        self.queue.push_back(r);
        self.waiting.insert(r.token, (dispatcher, now, r));
        r.token
    }

    /// The next queued request (for the monitor).
    pub fn next_request(&mut self) -> Option<Request> {
        self.queue.pop_front()
    }

    /// Shootdown `token` is complete: the waiting dispatcher and when it started.
    pub fn complete(&mut self, token: u64) -> Option<(u32, u64)> {
        self.waiting.remove(&token).map(|(d, t0, _)| (d, t0))
    }

    /// Take the shootdowns dispatcher `id` waits for out of the monitor's hands.
    fn take_dispatcher(&mut self, id: u32) -> Vec<Request> {
        let mut taken = Vec::new();
        self.waiting.retain(|_, (d, _, r)| {
            let mine = *d == id;
            if mine {
                taken.push(*r);
            }
            !mine
        });
        self.queue
            .retain(|q| !taken.iter().any(|t| t.token == q.token));
        taken
    }
}

/// Invalidate `pages` pages from `va` in this core's TLB.
pub fn invalidate(va: u64, pages: u64) {
    if pages > FULL_FLUSH_PAGES {
        let (frame, flags) = x86_64::registers::control::Cr3::read();
        // SAFETY: writing back the current CR3 only flushes the TLB.
        unsafe { x86_64::registers::control::Cr3::write(frame, flags) };
        return;
    }
    for i in 0..pages {
        let a = va.wrapping_add(i * 4096);
        // SAFETY: invlpg only drops a TLB entry; any address is allowed.
        unsafe { core::arch::asm!("invlpg [{}]", in(reg) a, options(nostack, preserves_flags)) };
    }
}

/// Line `index` of core `core`'s shootdown block.
fn line(pc: &PerCore, core: u32, index: u32) -> Option<&'static Line> {
    let mesh = pc.mesh.get()?;
    let (block, _) = mesh.tlb_pages(pc, core)?;
    if index >= 2 * mesh.cores {
        return None;
    }
    let p = pc.phys_to_virt(block + 64 * u64::from(index)) as *const Line;
    // SAFETY: the boot core allocated the block (zeroed, never freed) with `2 * cores`
    // lines; lines are only accessed through atomics.
    Some(unsafe { &*p })
}

/// Serve the IPI requests addressed to this core: invalidate and acknowledge each new one.
pub fn serve(pc: &PerCore) {
    let Some(mesh) = pc.mesh.get() else {
        return;
    };
    let n = mesh.cores;
    let me = pc.core_id;
    let mut seen = pc.tlb_mailbox.seen.borrow_mut();
    if seen.len() < n as usize {
        seen.resize(n as usize, 0);
    }
    for i in (0..n).filter(|&i| i != me) {
        let Some(req) = line(pc, me, i) else { continue };
        let s = req.seq.load(Ordering::Acquire);
        if s == seen[i as usize] {
            continue;
        }
        invalidate(
            req.va.load(Ordering::Relaxed),
            req.pages.load(Ordering::Relaxed),
        );
        seen[i as usize] = s;
        if let Some(ack) = line(pc, i, n + me) {
            ack.seq.store(s, Ordering::Release);
        }
    }
}

/// Dispatcher `id` is ending (killed while blocked in a message-based shootdown): finish
/// its shootdowns by IPI now, before its memory can be reused. The monitor's later
/// completion finds nothing to complete.
pub fn settle_dispatcher(pc: &PerCore, id: u32) {
    let pending = pc.tlb.borrow_mut().take_dispatcher(id);
    for r in pending {
        let cores: Vec<u32> = abi::tlb::cores_of(r.cores).collect();
        shootdown_ipi(pc, r.va, r.pages, &cores);
    }
}

/// The shootdown interrupt.
pub fn on_interrupt(pc: &PerCore) {
    serve(pc);
}

/// IPI protocol: make every core of `targets` (this one excluded) drop `pages` pages from
/// `va`, and wait until each has acknowledged. Returns the cycles taken. A core that does
/// not answer within [`ACK_PATIENCE_S`] seconds is reported and given up on (it is not
/// running: a core takes interrupts whenever it runs user code or idles).
pub fn shootdown_ipi(pc: &PerCore, va: u64, pages: u64, targets: &[u32]) -> u64 {
    let t0 = rdtsc();
    let (Some(mesh), Some(apic)) = (pc.mesh.get(), pc.apic.get()) else {
        return 0;
    };
    let me = pc.core_id;
    let seq = pc.tlb_mailbox.seq.get() + 1;
    pc.tlb_mailbox.seq.set(seq);
    let mut pending: Vec<u32> = Vec::with_capacity(targets.len());
    for &t in targets.iter().filter(|&&t| t != me) {
        let (Some(req), Some(apic_id)) = (line(pc, t, me), mesh.apic_id(pc, t)) else {
            continue;
        };
        if !mesh.is_online(pc, t) {
            continue;
        }
        req.va.store(va, Ordering::Relaxed);
        req.pages.store(pages, Ordering::Relaxed);
        req.seq.store(seq, Ordering::Release);
        if apic.send_ipi(apic_id, TLB_VECTOR).is_ok() {
            pending.push(t);
        }
    }
    let patience = pc
        .tsc_hz
        .get()
        .max(1_000_000)
        .saturating_mul(ACK_PATIENCE_S);
    while !pending.is_empty() {
        pending.retain(|&t| {
            line(pc, me, mesh.cores + t).is_some_and(|a| a.seq.load(Ordering::Acquire) != seq)
        });
        if pending.is_empty() {
            break;
        }
        serve(pc);
        if rdtsc().wrapping_sub(t0) > patience {
            log::error!(
                "TLB shootdown: cores {pending:?} did not acknowledge within {ACK_PATIENCE_S} s; given up on"
            );
            break;
        }
        core::hint::spin_loop();
    }
    rdtsc().wrapping_sub(t0)
}

/// After entries of the table at physical `table` (`first .. first + count`) were cleared
/// and this core's TLB flushed: if other cores link the table, shoot the entries down there
/// by IPI. Returns the cycles taken (0 when the table is not shared).
pub fn after_clear(pc: &PerCore, table: u64, first: u32, count: u32) -> u64 {
    let span = pc.tlb.borrow().span_of(table);
    match span {
        Some((va, cores)) => {
            shootdown_ipi(pc, va + u64::from(first) * 4096, u64::from(count), &cores)
        }
        None => 0,
    }
}
