//! Multicore bring-up: starting every enabled AP with INIT-SIPI-SIPI through the
//! trampoline, each with its own stack, page table, per-core record and memory pool, and
//! collecting their reports.
//!
//! The boot core and each AP talk through the AP's *boot record*, a block in the AP's own
//! memory pool: the boot core fills in the start parameters before the STARTUP IPI; after
//! that, the AP writes only its own report line (state, counters) and the boot core only
//! reads it. It is a one-way boot-time message channel; no kernel state is shared.

pub mod trampoline;

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use cpudriver::arch::apic::LocalApic;
use cpudriver::arch::cpu::rdtsc;
use cpudriver::arch::tsc;
use cpudriver::percore::{self, CoreCounters, PerCore};
use physmem::{FrameAllocator, FRAME_SIZE};

use trampoline::Trampoline;

/// Size of each AP's kernel stack.
pub const AP_STACK_SIZE: u64 = 64 * 1024;
/// Size of each AP's kernel heap.
pub const AP_HEAP_SIZE: u64 = 4 << 20;

/// States an AP reports in its boot record.
pub mod state {
    /// Not started (or did not come up).
    pub const OFFLINE: u32 = 0;
    /// Running Rust code on its own stack.
    pub const ENTERED: u32 = 1;
    /// Per-core state set up: record, heap, GDT/TSS/IDT, APIC, timer.
    pub const READY: u32 = 2;
    /// Set up failed; the AP halted.
    pub const FAILED: u32 = 3;
}

/// The lines an AP writes: its state and its counters. On their own cache lines so the
/// boot core's reads never share a line with the parameters it wrote.
#[repr(C, align(64))]
pub struct ApReport {
    /// One of [`state`].
    pub state: AtomicU32,
    /// Local APIC timer ticks (divide by 16) per millisecond, as measured by the AP.
    pub timer_per_ms: AtomicU64,
    /// Counters published on every timer tick and notification IPI.
    pub counters: CoreCounters,
}

/// Start parameters for one AP, written by the boot core before the STARTUP IPI.
#[repr(C, align(64))]
pub struct ApBootRecord {
    /// The AP's dense core number.
    pub core_id: u32,
    /// Its APIC id.
    pub apic_id: u32,
    /// Its NUMA node.
    pub node: u32,
    /// Use x2APIC mode.
    pub x2apic: bool,
    /// Virtual address of the xAPIC register page (xAPIC mode).
    pub apic_mmio: u64,
    /// The physical-memory mapping offset.
    pub phys_offset: u64,
    /// TSC frequency measured by the boot core.
    pub tsc_hz: u64,
    /// Top of the AP's kernel stack.
    pub stack_top: u64,
    /// The AP's memory pool (the record, stack and page table are already carved out).
    pub pool: FrameAllocator,
    /// The ramdisk (mapped read-only for every core by the bootloader).
    pub ramdisk: &'static [u8],
    /// Physical address of the kernel channel to the boot core (a zeroed page).
    pub kchan_pa: u64,
    /// The monitor mesh directory.
    pub mesh: Option<cpudriver::mesh::Mesh>,
    /// Written by the AP only.
    pub report: ApReport,
}

/// One AP to start.
#[derive(Clone, Copy, Debug)]
pub struct ApTarget {
    /// Dense core number.
    pub core_id: u32,
    /// APIC id.
    pub apic_id: u32,
    /// NUMA node.
    pub node: u32,
}

/// Result of starting one AP.
pub struct Started {
    /// Which AP.
    pub target: ApTarget,
    /// Its boot record (in the AP's memory), to read its report.
    pub record: &'static ApBootRecord,
}

/// Why an AP was not started or did not come up.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "the fields are reported through Debug in boot logs"
)]
pub enum ApError {
    /// Its pool had no room for the record, stack or page table.
    OutOfMemory,
    /// Its APIC id cannot be addressed in xAPIC mode.
    ApicIdTooLarge(u32),
    /// The IPI could not be sent.
    Ipi(cpudriver::arch::apic::IpiError),
    /// It did not reach the kernel within the time limit.
    Timeout,
}

/// Everything the boot core needs to start APs.
pub struct Starter<'a> {
    /// The trampoline in low memory.
    pub trampoline: &'a Trampoline,
    /// The boot core's APIC.
    pub apic: LocalApic,
    /// The boot core's frames (for page tables below 4 GiB).
    pub bsp_frames: &'a mut FrameAllocator,
    /// The physical-memory mapping offset.
    pub phys_offset: u64,
    /// TSC frequency.
    pub tsc_hz: u64,
    /// Time limit for an AP to enter the kernel, in milliseconds.
    pub timeout_ms: u64,
    /// The ramdisk, passed on to every AP.
    pub ramdisk: &'static [u8],
    /// The monitor mesh directory, passed on to every AP.
    pub mesh: Option<cpudriver::mesh::Mesh>,
}

impl Starter<'_> {
    /// Start `t` with memory from `pool` and wait until it runs Rust code on its stack.
    pub fn start(&mut self, t: ApTarget, mut pool: FrameAllocator) -> Result<Started, ApError> {
        let x2apic = self.apic == LocalApic::X2Apic;
        if !x2apic && t.apic_id > 0xfe {
            return Err(ApError::ApicIdTooLarge(t.apic_id));
        }
        let rec_pages = (core::mem::size_of::<ApBootRecord>() as u64).div_ceil(FRAME_SIZE);
        let rec_pa = pool.alloc(rec_pages).map_err(|_| ApError::OutOfMemory)?;
        let kchan_pa = pool.alloc(1).map_err(|_| ApError::OutOfMemory)?;
        // SAFETY: a fresh frame of the AP's pool, mapped through the physical-memory mapping;
        // zeroed memory is an empty channel.
        unsafe { core::ptr::write_bytes((self.phys_offset + kchan_pa) as *mut u8, 0, 4096) };
        let stack_pa = pool
            .alloc(AP_STACK_SIZE / FRAME_SIZE)
            .map_err(|_| ApError::OutOfMemory)?;
        let cr3 = crate::paging::copy_top_level(self.bsp_frames, self.phys_offset)
            .map_err(|_| ApError::OutOfMemory)?;
        let stack_top = self.phys_offset + stack_pa + AP_STACK_SIZE;
        let apic_mmio = match self.apic {
            LocalApic::XApic { base } => base,
            LocalApic::X2Apic => 0,
        };
        let rec_ptr = (self.phys_offset + rec_pa) as *mut ApBootRecord;
        // SAFETY: fresh frames from the AP's pool, mapped through the physical-memory
        // mapping, page-aligned and large enough; the AP has not started, so nothing else
        // accesses them.
        let record: &'static ApBootRecord = unsafe {
            rec_ptr.write(ApBootRecord {
                core_id: t.core_id,
                apic_id: t.apic_id,
                node: t.node,
                x2apic,
                apic_mmio,
                phys_offset: self.phys_offset,
                tsc_hz: self.tsc_hz,
                stack_top,
                pool,
                ramdisk: self.ramdisk,
                kchan_pa,
                mesh: self.mesh,
                report: ApReport {
                    state: AtomicU32::new(state::OFFLINE),
                    timer_per_ms: AtomicU64::new(0),
                    counters: CoreCounters::default(),
                },
            });
            &*rec_ptr
        };
        self.trampoline
            .prepare(cr3, stack_top, ap_entry as *const () as u64, rec_ptr as u64);

        // INIT, 10 ms, STARTUP, 200 us, and a second STARTUP if the AP is not in yet.
        self.apic.send_init(t.apic_id).map_err(ApError::Ipi)?;
        tsc::delay_us(self.tsc_hz, 10_000);
        let page = self.trampoline.sipi_page();
        self.apic
            .send_startup(t.apic_id, page)
            .map_err(ApError::Ipi)?;
        tsc::delay_us(self.tsc_hz, 200);
        if record.report.state.load(Ordering::Acquire) == state::OFFLINE {
            self.apic
                .send_startup(t.apic_id, page)
                .map_err(ApError::Ipi)?;
        }
        let deadline = rdtsc() + tsc::ms_to_cycles(self.tsc_hz, self.timeout_ms);
        while record.report.state.load(Ordering::Acquire) == state::OFFLINE {
            if rdtsc() > deadline {
                return Err(ApError::Timeout);
            }
            core::hint::spin_loop();
        }
        Ok(Started { target: t, record })
    }
}

/// Where every AP enters the kernel, on its own stack, with its boot record.
extern "C" fn ap_entry(record: &'static ApBootRecord) -> ! {
    record.report.state.store(state::ENTERED, Ordering::Release);
    let mut pool = record.pool.clone();
    let failed = |why: &str| -> ! {
        cpudriver::console::emergency_write(format_args!(
            "[c{:02} ERROR] core setup failed: {why}\n",
            record.core_id
        ));
        record.report.state.store(state::FAILED, Ordering::Release);
        cpudriver::arch::cpu::halt_forever()
    };
    let pc_pages = (core::mem::size_of::<PerCore>() as u64).div_ceil(FRAME_SIZE);
    let Ok(pc_pa) = pool.alloc(pc_pages) else {
        failed("no memory for the per-core record")
    };
    let pc_ptr = (record.phys_offset + pc_pa) as *mut PerCore;
    // SAFETY: fresh, page-aligned frames from this core's own pool, mapped through the
    // physical-memory mapping, used by this core alone from now on.
    let pc = unsafe {
        pc_ptr.write(PerCore::new(
            record.core_id,
            record.apic_id,
            record.node,
            record.phys_offset,
        ));
        &mut *pc_ptr
    };
    // SAFETY: first and only installation on this core; the record is this core's.
    unsafe { percore::install(pc) };
    let heap_size = AP_HEAP_SIZE.min(pool.free_bytes() / 2) & !(FRAME_SIZE - 1);
    let Ok(heap_pa) = pool.alloc(heap_size / FRAME_SIZE) else {
        failed("no memory for the heap")
    };
    // SAFETY: fresh frames of this core's pool, mapped, owned by this core alone.
    unsafe {
        cpudriver::heap::init(
            (record.phys_offset + heap_pa) as *mut u8,
            heap_size as usize,
        )
    };
    let pc = percore::current();
    *pc.frames.borrow_mut() = pool;
    pc.tsc_hz.set(record.tsc_hz);
    cpudriver::init_core(record.stack_top);
    let apic = if record.x2apic {
        LocalApic::X2Apic
    } else {
        LocalApic::XApic {
            base: record.apic_mmio,
        }
    };
    // SAFETY: the boot core mapped the APIC page uncached (xAPIC) or checked that the CPU
    // supports x2APIC.
    let apic = unsafe { apic.enable() };
    pc.apic.set(Some(apic));
    let timer_per_ms = cpudriver::start_timer(apic, record.tsc_hz);
    record
        .report
        .timer_per_ms
        .store(timer_per_ms, Ordering::Relaxed);
    pc.published.set(Some(&record.report.counters));
    pc.mesh.set(record.mesh);
    // SAFETY: the boot core allocated this zeroed page for this core's kernel channel and
    // uses only the other side of it.
    match unsafe { cpudriver::kchan::attach(record.kchan_pa, urpc::Side::B) } {
        Some(mut ep) => {
            let _ = ep.arm_notify();
            *pc.kchan.borrow_mut() = Some(ep);
        }
        None => log::error!("kernel channel memory unusable"),
    }
    crate::programs::start_core_programs(record.ramdisk);
    record.report.state.store(state::READY, Ordering::Release);
    cpudriver::run_dispatchers()
}
