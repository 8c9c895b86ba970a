//! Probe modes for TLB shootdown across a program spanning cores (its capability window
//! shared with dispatchers on other cores through `monitor::span`):
//!
//! * `tlb-test ROUNDS`: readers on every other core keep reading a page of the shared
//!   window; each round the page is unmapped with each protocol in turn and its frame reused
//!   at once (deleted, retyped again from the same RAM and filled with poison through
//!   another entry). After the unmap returns, a reader's read must fault: a read that
//!   succeeds, or sees the poison, is a stale TLB entry.
//! * `tlb-bench COUNTS`: unmap latency for every protocol with the address space spanning
//!   the first N cores, for each N of the comma-separated COUNTS; lines
//!   `tlb-bench: protocol=P cores=N runs=R median=C p10=C p90=C min=C`, then
//!   `tlb-bench: done`.
//! * `tlb-reader` / `tlb-idle`: the spanned dispatchers of the two modes above.

use alloc::format;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use caps::abi::{CapType, Rights};
use libos::cap::{self, root_slot};
use libos::monitor;
use libos::println;
use libos::time::{rdtsc, Deadline};

use crate::mon::members;

/// Window entries: the control page, the page under test, the page the frame is reused at.
const CONTROL_ENTRY: u16 = 0;
const DATA_ENTRY: u16 = 1;
const REUSE_ENTRY: u16 = 2;
/// Root slots of the control frame and the data frame.
const CONTROL_SLOT: u32 = 40;
const DATA_SLOT: u32 = 41;
/// Offsets in the program's RAM capability of the control and data frames.
const CONTROL_RAM: u64 = 512 << 10;
const DATA_RAM: u64 = 516 << 10;
/// What a read that faulted returns (set by the fault handler).
const FAULTED: u64 = 0xdead_fa17_dead_fa17;
/// Poison written into the reused frame.
const POISON: u64 = 0x9013_5013_9013_5013;
/// Long enough for anything under emulation on a loaded host, in milliseconds.
const PATIENCE: u64 = 120_000;
/// Most cores the control page has room for.
const MAX_READERS: usize = 128;

/// The control page, shared by every dispatcher of the program.
#[repr(C)]
struct Control {
    /// The round the data page is mapped for (readers wait for it).
    round: AtomicU64,
    /// The last round whose unmap has returned.
    unmapped: AtomicU64,
    /// Set when the readers should end.
    stop: AtomicU64,
    _pad: [u64; 5],
    /// Per core: the last round it has read the data page in.
    ready: [AtomicU64; MAX_READERS],
    /// Per core: the last round its read faulted in after the unmap.
    faulted: [AtomicU64; MAX_READERS],
    /// Per core: stale reads seen (a read that succeeded after the unmap returned).
    stale: [AtomicU64; MAX_READERS],
    /// Per core: set when it has ended its work.
    done: [AtomicU64; MAX_READERS],
}

fn control() -> &'static Control {
    let va = abi::CAP_WINDOW + u64::from(CONTROL_ENTRY) * 4096;
    // SAFETY: the control frame is mapped read-write at this window entry for the whole
    // run by the initiator before any reader starts (readers share the window); all
    // fields are atomics.
    unsafe { &*(va as *const Control) }
}

fn data_va(entry: u16) -> u64 {
    abi::CAP_WINDOW + u64::from(entry) * 4096
}

/// Read a word that may fault: the fault handler turns a fault into [`FAULTED`].
fn read_probe(va: u64) -> u64 {
    let v: u64;
    // SAFETY: a plain load; if the page is not mapped the fault handler skips this 3-byte
    // instruction with rax = FAULTED.
    unsafe {
        core::arch::asm!("mov rax, qword ptr [rcx]", in("rcx") va, out("rax") v, options(nostack));
    }
    v
}

fn fault_to_marker(info: &abi::FaultInfo) -> libos::FaultAction {
    let mut regs = info.regs;
    if info.vector == 14 && (abi::CAP_WINDOW..abi::CAP_WINDOW + (2 << 20)).contains(&info.address) {
        regs.rip += 3;
        regs.rax = FAULTED;
        libos::FaultAction::Resume(regs)
    } else {
        libos::FaultAction::Exit(3)
    }
}

fn pattern(round: u64) -> u64 {
    0x5a5a_0000_0000_0000 | round
}

/// Map the frame in `slot` at window entry `entry`, read-write.
fn map(slot: u32, entry: u16) -> Result<(), caps::abi::CapError> {
    let pt = root_slot(abi::ROOT_SLOT_PT);
    cap::map(
        pt,
        root_slot(slot),
        entry,
        1,
        Rights::READ | Rights::WRITE,
        0,
    )
    .map(|_| ())
}

fn fresh_frame(ram_offset: u64, slot: u32) -> Result<(), caps::abi::CapError> {
    cap::retype(
        root_slot(abi::ROOT_SLOT_RAM),
        CapType::Frame,
        ram_offset,
        4096,
        1,
        slot,
    )
    .map(|_| ())
}

fn fill(entry: u16, value: u64) {
    let p = data_va(entry) as *mut u64;
    for i in 0..512 {
        // SAFETY: the page at `entry` is mapped read-write by this program.
        unsafe { p.add(i).write_volatile(value) };
    }
}

/// Set up the control page and span `mode` to cores `from..to`.
fn span_to(cores: core::ops::Range<u32>, mode: &str) -> Result<(), alloc::string::String> {
    for c in cores {
        monitor::span(c, "probe", mode).map_err(|e| format!("span to core {c}: {e:?}"))?;
    }
    Ok(())
}

fn setup_control() -> Result<(), alloc::string::String> {
    fresh_frame(CONTROL_RAM, CONTROL_SLOT).map_err(|e| format!("control frame: {e:?}"))?;
    map(CONTROL_SLOT, CONTROL_ENTRY).map_err(|e| format!("map control frame: {e:?}"))
}

/// Wait until `f` holds for every core in `cores`; false after [`PATIENCE`].
fn wait_all(cores: core::ops::Range<u32>, f: impl Fn(usize) -> bool) -> bool {
    let deadline = Deadline::after_ms(PATIENCE);
    let cores: Vec<usize> = cores.map(|c| c as usize).collect();
    while !deadline.passed() {
        if cores.iter().all(|&c| f(c)) {
            return true;
        }
        core::hint::spin_loop();
    }
    false
}

/// End the spanned dispatchers and wait for them (they must not outlive the window's
/// owner).
fn stop_all(n: u32) {
    let ctl = control();
    ctl.stop.store(1, Ordering::Release);
    if !wait_all(1..n, |c| ctl.done[c].load(Ordering::Acquire) != 0) {
        println!("probe: tlb: some spanned dispatchers did not end");
    }
    // Give their exits time to unlink the window before this program's ends.
    let d = Deadline::after_ms(200);
    while !d.passed() {
        libos::yield_now();
    }
}

/// `tlb-test ROUNDS`.
pub fn test(core: u32, rest: &str) -> i32 {
    if core != 0 {
        println!("probe: tlb-test: FAILED: must run on core 0");
        return 1;
    }
    let rounds: u64 = rest.trim().parse().unwrap_or(2);
    let n = members().min(MAX_READERS as u32);
    if let Err(e) = setup_control().and_then(|()| span_to(1..n, "tlb-reader")) {
        println!("probe: tlb-test: FAILED: {e}");
        return 1;
    }
    println!("probe: tlb-test: readers spanned to cores 1..{n}");
    let ctl = control();
    let mut round = 0u64;
    for r in 0..rounds {
        for (p, name) in abi::tlb::NAMES.iter().enumerate() {
            round += 1;
            if let Err(e) =
                fresh_frame(DATA_RAM, DATA_SLOT).and_then(|()| map(DATA_SLOT, DATA_ENTRY))
            {
                println!("probe: tlb-test: FAILED: data frame in round {round}: {e:?}");
                return 1;
            }
            fill(DATA_ENTRY, pattern(round));
            ctl.round.store(round, Ordering::Release);
            if !wait_all(1..n, |c| ctl.ready[c].load(Ordering::Acquire) >= round) {
                println!("probe: tlb-test: FAILED: readers never saw round {round}");
                return 1;
            }
            let cycles = match libos::tlb::unmap(DATA_ENTRY, 1, p as u64) {
                Ok(c) => c,
                Err(e) => {
                    println!("probe: tlb-test: FAILED: unmap ({name}): {e:?}");
                    return 1;
                }
            };
            ctl.unmapped.store(round, Ordering::Release);
            // Reuse the frame at once: delete it, retype the same memory, poison it
            // through another entry.
            let reuse = cap::delete(root_slot(DATA_SLOT))
                .and_then(|_| fresh_frame(DATA_RAM, DATA_SLOT))
                .and_then(|()| map(DATA_SLOT, REUSE_ENTRY));
            if let Err(e) = reuse {
                println!("probe: tlb-test: FAILED: frame reuse in round {round}: {e:?}");
                return 1;
            }
            fill(REUSE_ENTRY, POISON);
            if !wait_all(1..n, |c| ctl.faulted[c].load(Ordering::Acquire) >= round) {
                println!("probe: tlb-test: FAILED: readers never faulted in round {round}");
                return 1;
            }
            let stale: u64 = (1..n as usize)
                .map(|c| ctl.stale[c].load(Ordering::Acquire))
                .sum();
            println!(
                "probe: tlb-test: round {round} ({name}, pass {}): unmap took {cycles} cycles, every reader faulted, stale reads so far {stale}",
                r + 1
            );
            let clean = cap::delete(root_slot(DATA_SLOT));
            if let Err(e) = clean {
                println!("probe: tlb-test: FAILED: delete in round {round}: {e:?}");
                return 1;
            }
        }
    }
    let stale: u64 = (1..n as usize)
        .map(|c| ctl.stale[c].load(Ordering::Acquire))
        .sum();
    stop_all(n);
    if stale == 0 {
        println!("probe: tlb-test: PASS: {round} unmaps with frame reuse, readers on {} cores, no stale read", n - 1);
        0
    } else {
        println!("probe: tlb-test: FAILED: {stale} stale reads");
        1
    }
}

/// `tlb-reader`: read the data page until its unmap, report, repeat.
pub fn reader(core: u32) -> i32 {
    libos::set_fault_handler(fault_to_marker);
    let ctl = control();
    let c = core as usize;
    if c >= MAX_READERS {
        return 1;
    }
    let mut round = 0u64;
    loop {
        // Wait for the next round.
        loop {
            if ctl.stop.load(Ordering::Acquire) != 0 {
                ctl.done[c].store(1, Ordering::Release);
                return 0;
            }
            if ctl.round.load(Ordering::Acquire) > round {
                break;
            }
            core::hint::spin_loop();
        }
        round = ctl.round.load(Ordering::Acquire);
        // Read until the page is there with this round's pattern (the TLB entry is now
        // loaded), then keep reading until a read faults.
        loop {
            let unmapped = ctl.unmapped.load(Ordering::Acquire) >= round;
            let v = read_probe(data_va(DATA_ENTRY));
            if v == FAULTED {
                if unmapped || ctl.ready[c].load(Ordering::Relaxed) >= round {
                    break;
                }
                continue;
            }
            if unmapped || v == POISON {
                // Read through a stale entry after the unmap returned.
                ctl.stale[c].fetch_add(1, Ordering::AcqRel);
                println!("probe: tlb-reader on core {core}: STALE read {v:#x} in round {round}");
                break;
            }
            if v == pattern(round) {
                ctl.ready[c].store(round, Ordering::Release);
            }
        }
        ctl.faulted[c].store(round, Ordering::Release);
    }
}

/// `tlb-idle`: a spanned dispatcher that only waits for the end.
pub fn idle(core: u32) -> i32 {
    let ctl = control();
    let c = core as usize;
    ctl.ready[c.min(MAX_READERS - 1)].store(1, Ordering::Release);
    while ctl.stop.load(Ordering::Acquire) == 0 {
        libos::yield_now();
    }
    ctl.done[c.min(MAX_READERS - 1)].store(1, Ordering::Release);
    0
}

/// `tlb-bench COUNTS`.
pub fn bench(core: u32, rest: &str) -> i32 {
    if core != 0 {
        println!("probe: tlb-bench: error must run on core 0");
        return 1;
    }
    let n = members().min(MAX_READERS as u32);
    let mut counts: Vec<u32> = rest
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&c| (2..=n).contains(&c))
        .collect();
    counts.sort_unstable();
    counts.dedup();
    if counts.is_empty() {
        counts.push(n.max(2));
    }
    let runs: usize = 15;
    if let Err(e) = setup_control()
        .and_then(|()| fresh_frame(DATA_RAM, DATA_SLOT).map_err(|e| format!("data frame: {e:?}")))
    {
        println!("probe: tlb-bench: error {e}");
        return 1;
    }
    let ctl = control();
    let mut spanned = 1u32;
    for &count in &counts {
        if count > n {
            break;
        }
        if let Err(e) = span_to(spanned..count, "tlb-idle") {
            println!("probe: tlb-bench: error {e}");
            stop_all(spanned);
            return 1;
        }
        if !wait_all(spanned..count, |c| {
            ctl.ready[c].load(Ordering::Acquire) != 0
        }) {
            println!("probe: tlb-bench: error spanned dispatchers did not start");
            return 1;
        }
        spanned = count;
        for (p, name) in abi::tlb::NAMES.iter().enumerate() {
            let mut samples = Vec::with_capacity(runs + 2);
            // Two warm-up runs, then the measured ones.
            for i in 0..runs + 2 {
                if let Err(e) = map(DATA_SLOT, DATA_ENTRY) {
                    println!("probe: tlb-bench: error map: {e:?}");
                    return 1;
                }
                let t0 = rdtsc();
                let r = libos::tlb::unmap(DATA_ENTRY, 1, p as u64);
                let t = rdtsc().wrapping_sub(t0);
                if let Err(e) = r {
                    println!("probe: tlb-bench: error unmap ({name}): {e:?}");
                    return 1;
                }
                if i >= 2 {
                    samples.push(t);
                }
            }
            samples.sort_unstable();
            let pct = |q: usize| samples[(samples.len() - 1) * q / 100];
            println!(
                "probe: tlb-bench: protocol={name} cores={count} runs={runs} median={} p10={} p90={} min={}",
                pct(50),
                pct(10),
                pct(90),
                samples[0]
            );
        }
    }
    stop_all(spanned);
    println!("probe: tlb-bench: done");
    0
}

/// `tlb-bad`: wrong unmaps are refused and the system goes on: a protocol that does not
/// exist, an entry beyond the table, an empty entry, a span to a core that does not exist,
/// and an unmap from a spanned dispatcher (its copy of the window lacks the write right).
pub fn bad(core: u32) -> i32 {
    let failed = core::cell::Cell::new(0u32);
    let check = |what: &str, ok: bool, got: &dyn core::fmt::Debug| {
        if ok {
            println!("probe: tlb-bad: {what}: refused ({got:?})");
        } else {
            println!("probe: tlb-bad: FAILED: {what}: {got:?}");
            failed.set(failed.get() + 1);
        }
    };
    if let Err(e) = setup_control() {
        println!("probe: tlb-bad: FAILED: {e}");
        return 1;
    }
    let r = libos::tlb::unmap(CONTROL_ENTRY, 1, 99);
    check(
        "unknown protocol",
        r == Err(libos::tlb::TlbError::Sys(abi::SysError::BadArgument)),
        &r,
    );
    let r = libos::tlb::unmap(600, 1, abi::tlb::IPI);
    check("entry beyond the table", r.is_err(), &r);
    let r = libos::tlb::unmap(DATA_ENTRY, 1, abi::tlb::UNICAST);
    check("empty entry", r.is_err(), &r);
    let r = monitor::span(4096, "probe", "tlb-idle");
    check("span to a missing core", r.is_err(), &r);
    let r = monitor::span(core, "probe", "tlb-idle");
    check("span to its own core", r.is_err(), &r);
    let other = if core == 0 { 1 } else { 0 };
    match monitor::span(other, "probe", "tlb-unmap-other") {
        Ok(_) => {
            let ctl = control();
            if !wait_all(other..other + 1, |c| {
                ctl.done[c].load(Ordering::Acquire) != 0
            }) {
                println!("probe: tlb-bad: FAILED: the spanned dispatcher never answered");
                failed.set(failed.get() + 1);
            } else if ctl.stale[other as usize].load(Ordering::Acquire) != 0 {
                println!(
                    "probe: tlb-bad: FAILED: a spanned dispatcher unmapped the owner's window"
                );
                failed.set(failed.get() + 1);
            }
        }
        Err(e) => {
            println!("probe: tlb-bad: FAILED: span: {e:?}");
            failed.set(failed.get() + 1);
        }
    }
    // The window still works for its owner.
    match libos::tlb::unmap(CONTROL_ENTRY, 1, abi::tlb::IPI) {
        Ok(c) => println!("probe: tlb-bad: the owner's unmap still works ({c} cycles)"),
        Err(e) => {
            println!("probe: tlb-bad: FAILED: the owner's unmap: {e:?}");
            failed.set(failed.get() + 1);
        }
    }
    if failed.get() == 0 {
        println!("probe: tlb-bad: PASS");
        0
    } else {
        1
    }
}

/// `tlb-unmap-other`: a spanned dispatcher tries to unmap the owner's control page.
pub fn unmap_other(core: u32) -> i32 {
    let ctl = control();
    let c = (core as usize).min(MAX_READERS - 1);
    let r = libos::tlb::unmap(CONTROL_ENTRY, 1, abi::tlb::IPI);
    println!("probe: tlb-unmap-other on core {core}: unmap of the shared window: {r:?}");
    if r.is_ok() {
        ctl.stale[c].store(1, Ordering::Release);
    }
    ctl.done[c].store(1, Ordering::Release);
    0
}

/// `tlb-orphan`: span a reader to another core and end without stopping it; the window's
/// table must outlive the owner (kept by the kernel) and the reader must lose the pages.
pub fn orphan(core: u32) -> i32 {
    if let Err(e) = setup_control() {
        println!("probe: tlb-orphan: FAILED: {e}");
        return 1;
    }
    let other = if core == 0 { 1 } else { 0 };
    if let Err(e) = monitor::span(other, "probe", "tlb-orphan-reader") {
        println!("probe: tlb-orphan: FAILED: span: {e:?}");
        return 1;
    }
    let ctl = control();
    if !wait_all(other..other + 1, |c| {
        ctl.ready[c].load(Ordering::Acquire) != 0
    }) {
        println!("probe: tlb-orphan: FAILED: the reader never started");
        return 1;
    }
    println!("probe: tlb-orphan: owner on core {core} ends before its reader");
    0
}

/// `tlb-orphan-reader`: read the control page until it is gone.
pub fn orphan_reader(core: u32) -> i32 {
    libos::set_fault_handler(fault_to_marker);
    let ctl = control();
    ctl.ready[(core as usize).min(MAX_READERS - 1)].store(1, Ordering::Release);
    let deadline = Deadline::after_ms(PATIENCE);
    while !deadline.passed() {
        if read_probe(data_va(CONTROL_ENTRY)) == FAULTED {
            println!("probe: tlb-orphan-reader on core {core}: window gone after its owner ended");
            return 0;
        }
        core::hint::spin_loop();
    }
    println!("probe: tlb-orphan-reader on core {core}: FAILED: the window stayed mapped");
    1
}
