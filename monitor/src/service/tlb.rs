//! TLB shootdowns through the monitors, and spanning programs across cores.
//!
//! The CPU driver queues a message-based shootdown ([`kernel::tlb_next`]) after clearing the
//! entries and its own TLB; this monitor reaches every other core of the address space by
//! the protocol the program chose, each reached monitor drops the entries from its core's
//! TLB ([`kernel::tlb_invalidate`]) and acknowledges, and once every core has, the kernel
//! is told ([`kernel::tlb_done`]) and the program resumes.
//!
//! - **unicast**: one `TLB_INV` request per core over its own channel, one ack each;
//! - **broadcast**: one line in this monitor's broadcast page (`abi::MONITOR_BROADCAST`),
//!   which every monitor polls; each target acks over its channel. One broadcast is in
//!   flight per monitor (later ones wait);
//! - **multicast**: one `TLB_INV` per package to its first target core, which forwards it
//!   to the other targets of its package, gathers their acks and sends one back;
//! - **NUMA-aware multicast**: the same along the SKB's `multicast_tree` for this core
//!   (groups by node, farthest first); without a tree yet, the package multicast.
//!
//! Sleeping monitors are woken as for any message (a notification IPI when the receiver
//! armed its channel); for broadcasts, each monitor publishes in its broadcast page whether
//! it sleeps, and the sender wakes the sleeping targets. After shootdown traffic a monitor
//! keeps polling for [`LINGER_US`] before it sleeps again, as the paper's monitors poll.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use core::sync::atomic::{fence, AtomicU64, Ordering};

use libos::kernel::{self, TlbRequest};
use libos::monitor::{bytes_of, status, words, MonError};
use libos::time::rdtsc;
use monitor_proto::{CoreId, MonMsg};

use super::{kind, Answer, Monitor, Refusal};

/// How long a monitor keeps polling after shootdown traffic, in microseconds.
pub const LINGER_US: u64 = 20_000;

/// The published part of a monitor's broadcast page.
#[repr(C, align(64))]
struct BcastLine {
    seq: AtomicU64,
    id: AtomicU64,
    va: AtomicU64,
    pages: AtomicU64,
    cores: [AtomicU64; 2],
}

/// Second line of the page: whether the owner sleeps.
#[repr(C, align(64))]
struct SleepLine {
    sleeping: AtomicU64,
}

fn bcast_line(core: CoreId) -> &'static BcastLine {
    let va = abi::MONITOR_BROADCAST + u64::from(core) * 4096;
    // SAFETY: the CPU driver mapped every core's broadcast page here for the monitor's
    // whole life (zeroed at boot); it is only accessed through atomics.
    unsafe { &*(va as *const BcastLine) }
}

fn sleep_line(core: CoreId) -> &'static SleepLine {
    let va = abi::MONITOR_BROADCAST + u64::from(core) * 4096 + 64;
    // SAFETY: as in `bcast_line`, the second cache line of the same page.
    unsafe { &*(va as *const SleepLine) }
}

/// What an outstanding id completes when its last ack arrives.
enum Done {
    /// The kernel's shootdown `token`.
    Kernel(u64),
    /// A relayed part: ack `id` to core `to`.
    Relay { to: CoreId, id: u64 },
}

struct Outstanding {
    missing: usize,
    done: Done,
}

/// This monitor's shootdown state.
#[derive(Default)]
pub struct Shootdowns {
    outstanding: BTreeMap<u64, Outstanding>,
    next_id: u64,
    /// Broadcasts waiting for the line (one in flight).
    bcast_queue: VecDeque<TlbRequest>,
    bcast_busy: Option<u64>,
    bcast_seq: u64,
    /// Per peer: the last broadcast seen.
    bcast_seen: BTreeMap<CoreId, u64>,
    /// Core -> package, learnt from the kernel once.
    packages: BTreeMap<CoreId, u32>,
    /// TSC of the last shootdown traffic.
    last: u64,
}

impl Monitor {
    /// Kernel requests and broadcasts of others; true if anything happened.
    pub(super) fn tlb_step(&mut self) -> bool {
        let mut any = false;
        while let Some(r) = kernel::tlb_next() {
            any = true;
            self.tlb_start(r);
        }
        any |= self.tlb_poll_broadcasts();
        if any {
            self.tlb.last = rdtsc();
        }
        any
    }

    /// Whether shootdown traffic was recent enough to keep polling.
    pub(super) fn tlb_lingering(&self) -> bool {
        let linger = self.cycles_per_us.saturating_mul(LINGER_US);
        self.tlb.last != 0 && rdtsc().wrapping_sub(self.tlb.last) < linger
    }

    /// Before sleeping: say so in the broadcast page, then look once more (a broadcast
    /// written before the flag was seen is found here). False if one arrived.
    pub(super) fn tlb_may_sleep(&mut self) -> bool {
        sleep_line(self.me).sleeping.store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        if self.tlb_poll_broadcasts() {
            sleep_line(self.me).sleeping.store(0, Ordering::SeqCst);
            return false;
        }
        true
    }

    /// Awake again.
    pub(super) fn tlb_awake(&mut self) {
        sleep_line(self.me).sleeping.store(0, Ordering::Relaxed);
    }

    fn tlb_new_id(&mut self, missing: usize, done: Done) -> u64 {
        self.tlb.next_id += 1;
        let id = self.tlb.next_id;
        self.tlb
            .outstanding
            .insert(id, Outstanding { missing, done });
        id
    }

    fn package_of(&mut self, c: CoreId) -> u32 {
        if let Some(&p) = self.tlb.packages.get(&c) {
            return p;
        }
        let p = kernel::place(c).map_or(u32::MAX, |(p, _)| p);
        self.tlb.packages.insert(c, p);
        p
    }

    fn send_inv(&mut self, to: CoreId, id: u64, va: u64, pages: u64, relay: &[CoreId]) {
        let mut w = Vec::with_capacity(4 + relay.len());
        w.extend_from_slice(&[id, va, pages, relay.len() as u64]);
        w.extend(relay.iter().map(|&c| u64::from(c)));
        let msg = MonMsg::Request {
            req: 0,
            kind: kind::TLB_INV,
            payload: bytes_of(&w),
        };
        if self.links.send(to, &msg).is_err() {
            libos::println!("monitor: shootdown message to core {to} not sent");
        }
    }

    fn send_ack(&mut self, to: CoreId, id: u64) {
        let msg = MonMsg::Request {
            req: 0,
            kind: kind::TLB_ACK,
            payload: bytes_of(&[id]),
        };
        if self.links.send(to, &msg).is_err() {
            libos::println!("monitor: shootdown ack to core {to} not sent");
        }
    }

    /// Start the kernel's request `r`.
    fn tlb_start(&mut self, r: TlbRequest) {
        let targets: Vec<CoreId> = abi::tlb::cores_of(r.cores)
            .filter(|&c| c != self.me && self.links.has(c))
            .collect();
        if targets.is_empty() {
            self.tlb_finish(r.token);
            return;
        }
        match r.protocol {
            abi::tlb::BROADCAST => {
                self.tlb.bcast_queue.push_back(r);
                self.tlb_next_broadcast();
            }
            abi::tlb::MULTICAST => {
                let groups = self.package_groups(&targets);
                self.tlb_send_groups(r, groups);
            }
            abi::tlb::NUMA => {
                let groups = match &self.tree {
                    Some(tree) => tree_groups(tree, self.me, &targets),
                    None => self.package_groups(&targets),
                };
                self.tlb_send_groups(r, groups);
            }
            _ => {
                let id = self.tlb_new_id(targets.len(), Done::Kernel(r.token));
                for t in targets {
                    self.send_inv(t, id, r.va, r.pages, &[]);
                }
            }
        }
    }

    /// Targets grouped by package: (first target of the package, the others).
    fn package_groups(&mut self, targets: &[CoreId]) -> Vec<(CoreId, Vec<CoreId>)> {
        let mut by_pkg: BTreeMap<u32, Vec<CoreId>> = BTreeMap::new();
        for &t in targets {
            let p = self.package_of(t);
            by_pkg.entry(p).or_default().push(t);
        }
        let mine = self.package_of(self.me);
        let mut groups = Vec::new();
        for (p, cores) in by_pkg {
            if p == mine {
                // This package's cores are reached directly ("forwarded locally" here).
                groups.extend(cores.into_iter().map(|c| (c, Vec::new())));
            } else {
                let (first, rest) = cores.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
                groups.push((first, rest.to_vec()));
            }
        }
        groups
    }

    fn tlb_send_groups(&mut self, r: TlbRequest, groups: Vec<(CoreId, Vec<CoreId>)>) {
        let id = self.tlb_new_id(groups.len(), Done::Kernel(r.token));
        for (head, rest) in groups {
            self.send_inv(head, id, r.va, r.pages, &rest);
        }
    }

    fn tlb_next_broadcast(&mut self) {
        if self.tlb.bcast_busy.is_some() {
            return;
        }
        let Some(r) = self.tlb.bcast_queue.pop_front() else {
            return;
        };
        let targets: Vec<CoreId> = abi::tlb::cores_of(r.cores)
            .filter(|&c| c != self.me && self.links.has(c))
            .collect();
        let id = self.tlb_new_id(targets.len(), Done::Kernel(r.token));
        self.tlb.bcast_busy = Some(id);
        self.tlb.bcast_seq += 1;
        let line = bcast_line(self.me);
        line.id.store(id, Ordering::Relaxed);
        line.va.store(r.va, Ordering::Relaxed);
        line.pages.store(r.pages, Ordering::Relaxed);
        line.cores[0].store(r.cores[0], Ordering::Relaxed);
        line.cores[1].store(r.cores[1], Ordering::Relaxed);
        line.seq.store(self.tlb.bcast_seq, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        for t in targets {
            if sleep_line(t).sleeping.load(Ordering::SeqCst) != 0 {
                let _ = kernel::notify(t);
            }
        }
    }

    /// Look at every other monitor's broadcast line; true if one was new.
    fn tlb_poll_broadcasts(&mut self) -> bool {
        let mut any = false;
        for i in 0..self.members.len() {
            let c = self.members[i];
            if c == self.me {
                continue;
            }
            let line = bcast_line(c);
            let seq = line.seq.load(Ordering::Acquire);
            let seen = self.tlb.bcast_seen.entry(c).or_insert(0);
            if seq == *seen {
                continue;
            }
            *seen = seq;
            any = true;
            let words = [
                line.cores[0].load(Ordering::Relaxed),
                line.cores[1].load(Ordering::Relaxed),
            ];
            let me = self.me as usize;
            if me < 128 && words[me / 64] & (1 << (me % 64)) != 0 {
                let (id, va, pages) = (
                    line.id.load(Ordering::Relaxed),
                    line.va.load(Ordering::Relaxed),
                    line.pages.load(Ordering::Relaxed),
                );
                self.tlb_invalidate(va, pages);
                self.send_ack(c, id);
            }
        }
        any
    }

    fn tlb_invalidate(&mut self, va: u64, pages: u64) {
        if let Err(e) = kernel::tlb_invalidate(va, pages) {
            libos::println!("monitor: TLB invalidation refused: {e:?}");
        }
    }

    fn tlb_finish(&mut self, token: u64) {
        if let Err(e) = kernel::tlb_done(token) {
            libos::println!("monitor: shootdown {token} not completed: {e:?}");
        }
    }

    /// A `TLB_INV` request from `from`: words `[id, va, pages, n, n cores to relay to]`.
    pub(super) fn tlb_inv_from(&mut self, from: CoreId, payload: &[u8]) -> Result<(), Refusal> {
        let w = words(payload);
        let bad = || (MonError::BadRequest, Vec::new());
        let [id, va, pages, n] = *w.get(..4).ok_or_else(bad)? else {
            return Err(bad());
        };
        let n = usize::try_from(n).map_err(|_| bad())?;
        let relay: Vec<CoreId> = w
            .get(4..4usize.checked_add(n).ok_or_else(bad)?)
            .ok_or_else(bad)?
            .iter()
            .map(|&c| u32::try_from(c).map_err(|_| bad()))
            .collect::<Result<_, _>>()?;
        if va >= abi::USER_END || relay.iter().any(|&c| c == self.me || !self.links.has(c)) {
            return Err(bad());
        }
        self.tlb.last = rdtsc();
        self.tlb_invalidate(va, pages);
        if relay.is_empty() {
            self.send_ack(from, id);
        } else {
            let mine = self.tlb_new_id(relay.len(), Done::Relay { to: from, id });
            for c in relay {
                self.send_inv(c, mine, va, pages, &[]);
            }
        }
        Ok(())
    }

    /// A `TLB_ACK` from `from`: words `[id]`.
    pub(super) fn tlb_ack_from(&mut self, from: CoreId, payload: &[u8]) -> Result<(), Refusal> {
        let w = words(payload);
        let &[id] = w.as_slice() else {
            return Err((MonError::BadRequest, Vec::new()));
        };
        let Some(o) = self.tlb.outstanding.get_mut(&id) else {
            libos::println!("monitor: unexpected shootdown ack {id} from core {from}; dropped");
            return Err((MonError::NotFound, Vec::new()));
        };
        self.tlb.last = rdtsc();
        o.missing = o.missing.saturating_sub(1);
        if o.missing > 0 {
            return Ok(());
        }
        let Some(o) = self.tlb.outstanding.remove(&id) else {
            return Ok(());
        };
        match o.done {
            Done::Kernel(token) => {
                if self.tlb.bcast_busy == Some(id) {
                    self.tlb.bcast_busy = None;
                    self.tlb_next_broadcast();
                }
                self.tlb_finish(token);
            }
            Done::Relay { to, id } => self.send_ack(to, id),
        }
        Ok(())
    }

    /// A program's request to span its capability window to core `core`, starting
    /// `text` = `"PROGRAM ARGS"` there.
    pub(super) fn span(&mut self, caller: u32, core: u64, text: &[u8]) -> Result<Answer, Refusal> {
        let core = u32::try_from(core).map_err(|_| (MonError::NoSuchCore, Vec::new()))?;
        if core == self.me || !self.links.has(core) {
            return Err((MonError::NoSuchCore, Vec::new()));
        }
        if core::str::from_utf8(text).is_err() || text.is_empty() {
            return Err((MonError::BadRequest, Vec::new()));
        }
        let id = super::share(caller, abi::ROOT_SLOT_PT)?;
        // Unmaps are shot down there from now on (before the table is linked there).
        kernel::span_add(caller, core).map_err(super::kernel_error)?;
        let mut payload = bytes_of(&id.to_words());
        payload.extend_from_slice(text);
        let t = self.ticket();
        self.send_request(core, kind::SPAN, payload, t);
        Ok((status::PENDING, alloc::vec![t]))
    }

    /// Another monitor's `SPAN` request: start the program here with the shared window.
    pub(super) fn span_here(&mut self, payload: &[u8]) -> Result<u32, Refusal> {
        let bad = || (MonError::BadRequest, Vec::new());
        let head = payload.get(..40).ok_or_else(bad)?;
        let mut iw = [0u64; 5];
        iw.copy_from_slice(&words(head));
        let identity = caps::abi::CapIdentity::from_words(iw);
        if identity.cap_type != caps::abi::CapType::VNodePt as u8 {
            return Err((
                MonError::CapFailed,
                alloc::vec![caps::abi::CapError::WrongType as u64],
            ));
        }
        let text = core::str::from_utf8(&payload[40..]).map_err(|_| bad())?;
        self.spawn_here_with(text, Some(&identity))
            .map_err(|e| (e, Vec::new()))
    }
}

/// The SKB tree's groups restricted to `targets`: per group, its first target (the
/// forwarder if it is one) and the group's other targets; targets in no group go direct.
fn tree_groups(
    tree: &monitor_proto::route::Tree,
    me: CoreId,
    targets: &[CoreId],
) -> Vec<(CoreId, Vec<CoreId>)> {
    let mut groups = Vec::new();
    let mut placed = alloc::collections::BTreeSet::new();
    for g in tree.groups() {
        let mut members: Vec<CoreId> = g
            .cores()
            .iter()
            .copied()
            .filter(|c| *c != me && targets.contains(c))
            .collect();
        if members.is_empty() {
            continue;
        }
        placed.extend(members.iter().copied());
        if g.forwarder() == me {
            // The root's own group: reached directly.
            groups.extend(members.into_iter().map(|c| (c, Vec::new())));
            continue;
        }
        if let Some(pos) = members.iter().position(|&c| c == g.forwarder()) {
            members.swap(0, pos);
        }
        let head = members.remove(0);
        groups.push((head, members));
    }
    for &t in targets.iter().filter(|t| !placed.contains(t)) {
        groups.push((t, Vec::new()));
    }
    groups
}
