//! The boot core's bring-up of the whole machine: time, the local APIC, the topology, the
//! per-core memory split, starting every enabled AP, an IPI round, and the boot summary.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use bootloader_api::info::MemoryRegionKind;
use bootloader_api::BootInfo;
use cpudriver::arch::apic::{self, LocalApic};
use cpudriver::arch::cpu::rdtsc;
use cpudriver::arch::tsc;
use cpudriver::percore;
use cpudriver::trap::NOTIFY_VECTOR;
use physmem::{split_pools, FrameAllocator, NodeCores, PhysRange};

use crate::machine::Machine;
use crate::smp::trampoline::Trampoline;
use crate::smp::{state, ApTarget, Started, Starter};

/// How long an AP may take to enter the kernel after its STARTUP IPIs.
const AP_ENTER_TIMEOUT_MS: u64 = 1000;
/// How long all started APs together may take to finish their set-up.
const AP_READY_TIMEOUT_MS: u64 = 5000;
/// Preferred physical page of the AP trampoline.
const TRAMPOLINE_PREFERRED: u64 = 0x8000;

fn pick_trampoline_page(boot_info: &BootInfo) -> Option<u64> {
    let usable = |pa: u64| {
        boot_info
            .memory_regions
            .iter()
            .any(|r| r.kind == MemoryRegionKind::Usable && r.start <= pa && pa + 4096 <= r.end)
    };
    if usable(TRAMPOLINE_PREFERRED) {
        return Some(TRAMPOLINE_PREFERRED);
    }
    (1..0x100u64).map(|p| p << 12).find(|&pa| usable(pa))
}

fn enable_apic(frames: &mut FrameAllocator, phys_offset: u64) -> LocalApic {
    let x2 = raw_cpuid::CpuId::new()
        .get_feature_info()
        .is_some_and(|f| f.has_x2apic());
    let apic = if x2 {
        LocalApic::X2Apic
    } else {
        // SAFETY: boot core before other cores run; the APIC page is device memory.
        let base =
            unsafe { crate::paging::map_device(frames, phys_offset, 0, apic::physical_base()) }
                .unwrap_or_else(|e| panic!("cannot map the local APIC: {e:?}"));
        LocalApic::XApic { base }
    };
    // SAFETY: the register page is mapped uncached (xAPIC) or the CPU has x2APIC.
    unsafe { apic.enable() }
}

/// Map the I/O APICs (device window slots from 1) for the boot core's CPU driver, which
/// alone programs them; every entry starts masked.
fn map_io_apics(frames: &mut FrameAllocator, phys_offset: u64, machine: &Machine) {
    let pc = percore::current();
    let mut ioapics = pc.ioapics.borrow_mut();
    for (i, &(address, gsi_base)) in machine.io_apics.iter().enumerate().take(8) {
        // SAFETY: boot core before other cores run; the I/O APIC page is device memory.
        let va = match unsafe {
            crate::paging::map_device(frames, phys_offset, 1 + i as u64, u64::from(address))
        } {
            Ok(va) => va + u64::from(address & 0xfff),
            Err(e) => {
                log::warn!("I/O APIC at {address:#x} not mapped: {e:?}");
                continue;
            }
        };
        // SAFETY: `va` maps its registers uncached for good; only this core uses them.
        let a = unsafe { cpudriver::arch::ioapic::IoApic::new(va, gsi_base) };
        for gsi in a.gsi_base..a.gsi_base + a.entries {
            a.mask(gsi);
        }
        log::info!(
            "I/O APIC at {address:#x}: GSIs {}..{}",
            a.gsi_base,
            a.gsi_base + a.entries - 1
        );
        ioapics.push(a);
    }
    *pc.isa_overrides.borrow_mut() = machine.isa_overrides.clone();
    *pc.pci_segments.borrow_mut() = machine.pci_segments.clone();
    *pc.pci_roots.borrow_mut() = machine.pci_roots.clone();
    if let Some(p) = machine.acpi_power {
        cpudriver::arch::power::set_acpi(p);
    }
}

/// What the boot core knows once the other cores are up.
pub struct BootStatus {
    /// The summary so far (`cores=.. nodes=.. madt_entries=..`).
    pub summary: String,
    /// Boot records of the APs that reached READY.
    pub ready: Vec<&'static crate::smp::ApBootRecord>,
    /// The boot core's kernel channels to them.
    pub links: Vec<crate::kchannels::Link>,
}

/// Bring up every core.
pub fn bring_up(boot_info: &BootInfo, mut frames: FrameAllocator, phys_offset: u64) -> BootStatus {
    let pc = percore::current();
    let tsc_info = tsc::calibrate().unwrap_or_else(|| {
        log::error!("no way to measure the TSC (no CPUID frequency, no PIT); assuming 2 GHz");
        tsc::TscInfo {
            hz: 2_000_000_000,
            source: tsc::TscSource::Pit,
            invariant: false,
        }
    });
    let hz = tsc_info.hz;
    pc.tsc_hz.set(hz);
    log::info!(
        "TSC: {} MHz ({:?}), invariant: {}",
        hz / 1_000_000,
        tsc_info.source,
        tsc_info.invariant
    );

    let apic = enable_apic(&mut frames, phys_offset);
    pc.apic.set(Some(apic));
    let timer_per_ms = cpudriver::start_timer(apic, hz);
    log::info!(
        "local APIC: {} mode, id {}, timer {} kHz (divide 16), {} Hz tick",
        if apic == LocalApic::X2Apic {
            "x2APIC"
        } else {
            "xAPIC"
        },
        apic.id(),
        timer_per_ms,
        cpudriver::TIMER_HZ
    );

    let machine = crate::discover::machine(boot_info, phys_offset, apic.id());
    let enabled = machine.cores.len();
    pc.node.set(machine.cores[0].node);
    map_io_apics(&mut frames, phys_offset, &machine);

    // Per-core memory pools, each from the core's own node.
    let core_lists: Vec<Vec<u32>> = machine
        .nodes
        .iter()
        .map(|n| {
            machine
                .cores
                .iter()
                .filter(|c| c.node == n.node)
                .map(|c| c.core_id)
                .collect()
        })
        .collect();
    let node_cores: Vec<NodeCores> = machine
        .nodes
        .iter()
        .zip(&core_lists)
        .map(|(n, cores)| NodeCores {
            node: n.node,
            ranges: &n.ranges,
            cores,
        })
        .collect();
    let mut plans = split_pools(&mut frames, &node_cores, |a, b| machine.distance(a, b))
        .unwrap_or_else(|e| panic!("cannot split memory into per-core pools: {e:?}"));
    plans.sort_by_key(|p| p.core);
    for p in &plans {
        log::info!(
            "memory: core {:2} gets {:5} MiB from node {}{}",
            p.core,
            p.frames.free_bytes() >> 20,
            p.node,
            if p.local {
                ""
            } else {
                " (remote: its node has no memory)"
            }
        );
    }
    let mut pools: Vec<Option<FrameAllocator>> =
        plans.into_iter().map(|p| Some(p.frames)).collect();
    // The boot core keeps its pool plus what no core took (memory of core-less nodes).
    if let Some(own) = pools.first_mut().and_then(Option::take) {
        for r in own.ranges() {
            if let Err(e) = frames.add_range(*r) {
                log::warn!("boot core pool: range {r:?} dropped: {e:?}");
            }
        }
    }

    let mesh = build_mesh(&mut frames, &mut pools, &machine);
    pc.mesh.set(mesh);

    // The trampoline page, identity-mapped so paging can be switched on under it.
    let Some(tramp_pa) = pick_trampoline_page(boot_info) else {
        log::error!("no free page below 1 MiB for the AP trampoline: booting one core");
        return boot_core_only(frames, mesh, &machine);
    };
    let flags = x86_64::structures::paging::PageTableFlags::WRITABLE;
    // SAFETY: boot core before other cores start; identity-mapping free low memory.
    if let Err(e) =
        unsafe { crate::paging::map_page(&mut frames, phys_offset, tramp_pa, tramp_pa, flags) }
    {
        log::error!("cannot map the AP trampoline: {e:?}; booting one core");
        return boot_core_only(frames, mesh, &machine);
    }
    // SAFETY: the page is usable low memory, now identity-mapped, used by nothing else.
    let trampoline = unsafe { Trampoline::install(tramp_pa, phys_offset) }
        .unwrap_or_else(|e| panic!("AP trampoline: {e:?}"));

    let mut started: Vec<Started> = Vec::new();
    {
        let mut starter = Starter {
            trampoline: &trampoline,
            apic,
            bsp_frames: &mut frames,
            phys_offset,
            tsc_hz: hz,
            timeout_ms: AP_ENTER_TIMEOUT_MS,
            ramdisk: crate::programs::ramdisk(boot_info),
            mesh,
        };
        for c in machine.cores.iter().skip(1) {
            let Some(pool) = pools.get_mut(c.core_id as usize).and_then(Option::take) else {
                log::error!("core {} (APIC id {}): no memory pool", c.core_id, c.apic_id);
                continue;
            };
            let t = ApTarget {
                core_id: c.core_id,
                apic_id: c.apic_id,
                node: c.node,
            };
            match starter.start(t, pool) {
                Ok(s) => started.push(s),
                Err(e) => log::error!(
                    "core {} (APIC id {}) did not start: {e:?}; going on without it",
                    c.core_id,
                    c.apic_id
                ),
            }
        }
    }

    // Wait for every started AP to report READY.
    let deadline = rdtsc() + tsc::ms_to_cycles(hz, AP_READY_TIMEOUT_MS);
    let mut ready = 1;
    for s in &started {
        let r = &s.record.report;
        while r.state.load(Ordering::Acquire) == state::ENTERED && rdtsc() < deadline {
            core::hint::spin_loop();
        }
        match r.state.load(Ordering::Acquire) {
            state::READY => ready += 1,
            st => log::error!(
                "core {} (APIC id {}) did not finish set-up (state {st})",
                s.target.core_id,
                s.target.apic_id
            ),
        }
    }
    // SAFETY: every AP that started has left the trampoline (it runs on its own stack in
    // the kernel), so nothing executes the identity-mapped page any more.
    unsafe { crate::paging::unmap_page(phys_offset, tramp_pa) };

    ipi_round(apic, &started, hz);
    *pc.frames.borrow_mut() = frames;
    let ready_records: Vec<&'static crate::smp::ApBootRecord> = started
        .iter()
        .filter(|s| s.record.report.state.load(Ordering::Acquire) == state::READY)
        .map(|s| s.record)
        .collect();
    if let Some(m) = mesh {
        let online = core::iter::once(0).chain(ready_records.iter().map(|r| r.core_id));
        m.publish(pc, online);
    }
    let mut links = crate::kchannels::attach(&ready_records);
    let (answered, median, per_core) = crate::kchannels::round_trips(&mut links, apic, hz);
    *pc.facts.borrow_mut() = facts(&machine, &ready_records, &per_core);
    log::info!(
        "URPC: core 0 has a channel to {} cores; round trip ok on {answered} (median {median} cycles, including the IPI wake-up)",
        links.len()
    );
    BootStatus {
        summary: alloc::format!(
            "{} urpc={answered}/{}",
            summary(&machine, ready, enabled),
            ready_records.len()
        ),
        ready: ready_records,
        links,
    }
}

/// The System Knowledge Base's facts about this machine: the cores that came up (id, APIC
/// id, package, node), the nodes, their distances and memory, and the URPC round trips from
/// core 0 measured just now (for the SKB service, through the monitor of core 0).
fn facts(
    machine: &Machine,
    ready: &[&'static crate::smp::ApBootRecord],
    latencies: &[(u32, u64)],
) -> String {
    let mut f = skb::facts::Facts::new("the boot core's discovery and measurements");
    let up = |c: u32| c == 0 || ready.iter().any(|r| r.core_id == c);
    for c in machine.cores.iter().filter(|c| up(c.core_id)) {
        f.core(c.core_id, c.apic_id, c.package, c.node);
    }
    for n in &machine.nodes {
        f.node(n.node);
    }
    for a in &machine.nodes {
        for b in &machine.nodes {
            f.node_distance(a.node, b.node, machine.distance(a.node, b.node));
        }
    }
    for n in &machine.nodes {
        for r in &n.ranges {
            f.memory_range(n.node, r.start, r.end - r.start);
        }
        let bytes: u64 = n.ranges.iter().map(|r| r.end - r.start).sum();
        if bytes > 0 {
            f.memory_free(n.node, bytes);
        }
    }
    for &(c, cycles) in latencies {
        f.urpc_latency(0, c, cycles);
    }
    f.into_text()
}

/// Allocate the monitor mesh (see `cpudriver::mesh`): the directory from the boot core's
/// memory, the channel page of each pair `(a, b)`, `a < b`, from core `b`'s pool. None (and
/// monitors without channels) if memory runs out.
fn build_mesh(
    frames: &mut FrameAllocator,
    pools: &mut [Option<FrameAllocator>],
    machine: &Machine,
) -> Option<cpudriver::mesh::Mesh> {
    let pc = percore::current();
    let n = u32::try_from(machine.cores.len()).ok()?;
    if n as usize > cpudriver::mesh::MAX_CORES {
        log::error!(
            "monitor mesh: {n} cores is more than {}",
            cpudriver::mesh::MAX_CORES
        );
        return None;
    }
    let pages = cpudriver::mesh::directory_bytes(n).div_ceil(4096);
    let Ok(pa) = frames.alloc(pages) else {
        log::error!("monitor mesh: no memory for the directory");
        return None;
    };
    // SAFETY: fresh frames of the boot core, mapped through the physical-memory mapping.
    unsafe { core::ptr::write_bytes(pc.phys_to_virt(pa), 0, (pages * 4096) as usize) };
    let mesh = cpudriver::mesh::Mesh { pa, cores: n };
    let apic_ids: Vec<u32> = machine.cores.iter().map(|c| c.apic_id).collect();
    let mut failed = 0;
    // Message memory of core `c`: zeroed pages from its own pool (zero is an empty
    // channel, no shootdown request, nothing acknowledged).
    let mut zeroed = |c: u32, pages: u64| {
        let pool = match pools.get_mut(c as usize).and_then(Option::as_mut) {
            Some(p) => p,
            None => &mut *frames,
        };
        let pa = pool.alloc(pages).ok()?;
        // SAFETY: fresh frames, mapped through the physical-memory mapping.
        unsafe { core::ptr::write_bytes(pc.phys_to_virt(pa), 0, (pages * 4096) as usize) };
        Some(pa)
    };
    mesh.init(pc, &apic_ids, |_, b| {
        zeroed(b, 1).unwrap_or_else(|| {
            failed += 1;
            0
        })
    });
    for c in &machine.cores {
        mesh.set_place(pc, c.core_id, c.package, c.node);
    }
    // Each core's shootdown block and broadcast page.
    let block_pages = cpudriver::tlb::block_bytes(n).div_ceil(4096);
    for c in 0..n {
        match (zeroed(c, block_pages), zeroed(c, 1)) {
            (Some(block), Some(bcast)) => mesh.set_tlb_pages(pc, c, block, bcast),
            _ => failed += 1,
        }
    }
    if failed > 0 {
        log::error!("monitor mesh: {failed} channel or shootdown pages could not be allocated");
    }
    log::info!(
        "monitor mesh: {} channels for {n} cores ({} KiB), directory at {pa:#x}",
        cpudriver::mesh::pairs(n),
        cpudriver::mesh::pairs(n) * 4
    );
    Some(mesh)
}

/// When no other core can be started: the boot core keeps its frames, publishes a mesh of
/// itself alone and the machine's facts (without latencies), and goes on by itself.
fn boot_core_only(
    frames: FrameAllocator,
    mesh: Option<cpudriver::mesh::Mesh>,
    machine: &Machine,
) -> BootStatus {
    let pc = percore::current();
    *pc.frames.borrow_mut() = frames;
    if let Some(m) = mesh {
        m.publish(pc, core::iter::once(0));
    }
    *pc.facts.borrow_mut() = facts(machine, &[], &[]);
    BootStatus {
        summary: summary(machine, 1, machine.cores.len()),
        ready: Vec::new(),
        links: Vec::new(),
    }
}

/// Send one notification IPI to every ready AP and wait until each has taken it.
fn ipi_round(apic: LocalApic, started: &[Started], hz: u64) {
    let ready: Vec<&Started> = started
        .iter()
        .filter(|s| s.record.report.state.load(Ordering::Acquire) == state::READY)
        .collect();
    let ipis = |s: &Started| s.record.report.counters.ipis.load(Ordering::Acquire);
    let before: Vec<u64> = ready.iter().map(|s| ipis(s)).collect();
    for s in &ready {
        if let Err(e) = apic.send_ipi(s.target.apic_id, NOTIFY_VECTOR) {
            log::error!("IPI to core {}: {e:?}", s.target.core_id);
        }
    }
    let deadline = rdtsc() + tsc::ms_to_cycles(hz, 1000);
    let mut answered = 0;
    for (s, b) in ready.iter().zip(before) {
        while ipis(s) == b && rdtsc() < deadline {
            core::hint::spin_loop();
        }
        if ipis(s) != b {
            answered += 1;
        } else {
            log::error!(
                "core {} did not take its notification IPI",
                s.target.core_id
            );
        }
    }
    log::info!(
        "IPI round: {answered}/{} cores took a notification IPI (vector {NOTIFY_VECTOR:#x})",
        ready.len()
    );
}

fn summary(machine: &Machine, booted: usize, enabled: usize) -> String {
    format!(
        "cores={booted}/{enabled} nodes={} madt_entries={}",
        machine.nodes.len(),
        machine.madt_entries
    )
}

/// How long the boot core waits for every monitor to report in and every `run=` program to
/// end (generous: emulated machines on a loaded host are slow).
const MONITOR_TIMEOUT_MS: u64 = 60_000;

/// Once the boot core runs dispatchers: on every tick, check whether every core's monitor
/// has reported in (the `ReportIn` syscall) and every program started from `boot.cfg`
/// (`run=`) has ended; then print the `system ready` line (and end a batch run under QEMU,
/// unless an interactive shell was started).
pub fn announce_when_ready(status: BootStatus, entry_tsc: u64) {
    let pc = percore::current();
    let hz = pc.tsc_hz.get().max(1000);
    let started = rdtsc();
    let mut done = false;
    *pc.tick_hook.borrow_mut() = Some(alloc::boxed::Box::new(move || {
        if done {
            return;
        }
        let me = percore::current();
        let own_live = percore::boot_programs_live(me).unwrap_or(usize::MAX);
        let own = usize::from(me.reported_in.get());
        let counters = || status.ready.iter().map(|r| &r.report.counters);
        let up = counters()
            .filter(|c| c.monitor_up.load(Ordering::Acquire) != 0)
            .count();
        let busy = usize::from(own_live > 0)
            + counters()
                .filter(|c| c.live.load(Ordering::Acquire) > 0)
                .count();
        let all = status.ready.len() + 1;
        let timed_out = rdtsc() - started > tsc::ms_to_cycles(hz, MONITOR_TIMEOUT_MS);
        if (own + up < all || busy > 0) && !timed_out {
            return;
        }
        if busy > 0 {
            log::error!("programs from boot.cfg still running on {busy} cores");
        }
        done = true;
        if own + up < all {
            log::error!("only {} of {all} monitors reported in", own + up);
        }
        let ms = (rdtsc() - entry_tsc) / (hz / 1000);
        log::info!(
            "system ready: {} monitors={}/{all} boot_ms={ms}",
            status.summary,
            own + up
        );
        // With an interactive shell the run ends when its user powers off.
        let cfg = cpudriver::bootcfg::get();
        if cfg.qemu_exit && cfg.shell == Default::default() {
            cpudriver::arch::qemu::exit_success();
        }
    }));
}

/// Ranges of memory in the memory map (for machines without SRAT: all of it is node 0).
pub fn all_memory(boot_info: &BootInfo) -> Vec<PhysRange> {
    boot_info
        .memory_regions
        .iter()
        .filter(|r| r.kind == MemoryRegionKind::Usable)
        .map(|r| PhysRange {
            start: r.start,
            end: r.end,
        })
        .collect()
}
