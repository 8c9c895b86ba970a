//! The CPU driver: the privileged, per-core half of each core's OS instance.
//!
//! Every core runs its own copy of this code over its own state: a [`percore::PerCore`]
//! record reached through the GS base, its own GDT, TSS (with IST stacks), IDT, kernel heap
//! and frame pool. The CPU driver is event-driven and single-threaded: it handles one trap,
//! syscall or interrupt to completion and never shares mutable state with another core.
//! The only memory written by one core and read by another is URPC channel memory, the
//! local APIC, and the debug console (a device, serialised by a lock; see `console`).
//!
//! Hardware-specific code lives in [`arch`]; the rest talks to it through small interfaces.
#![no_std]

extern crate alloc;

pub mod arch;
pub mod bootcfg;
pub mod capspace;
pub mod console;
pub mod dispatcher;
pub mod heap;
pub mod irq;
pub mod kchan;
pub mod kernel_op;
pub mod loader;
pub mod mesh;
pub mod panic;
pub mod percore;
pub mod syscall;
pub mod tlb;
pub mod trap;
pub mod vspace;

/// Set up this core's CPU driver state: GDT and TSS (with IST stacks and `stack_top` as the
/// ring-0 stack), then the IDT. The core's per-core record and heap must be installed.
pub fn init_core(stack_top: u64) {
    let sel = arch::gdt::init(x86_64::VirtAddr::new(stack_top));
    arch::idt::init(sel.kernel_code.0);
    arch::syscall::init(&sel);
    let pc = percore::current();
    pc.syscall_rsp.set(stack_top & !0xf);
    *pc.klog.borrow_mut() = logring::LogRing::new(alloc::vec![0u8; percore::KLOG_BYTES]);
    let hv = arch::syscall::hypervisor();
    let gate = arch::syscall::choose_gate(bootcfg::get().syscall_gate, &hv);
    pc.syscall_gate.set(gate);
    if pc.core_id == 0 && hv.max_leaf != 0 {
        let sig = core::str::from_utf8(&hv.signature).unwrap_or("?");
        log::info!(
            "hypervisor: {:?}{}; system calls through {}",
            sig.trim_end_matches('\0'),
            if hv.pvm { " (PVM)" } else { "" },
            if gate == abi::SYSCALL_GATE_INT {
                "int 0x80"
            } else {
                "syscall"
            }
        );
    }
    let (pml4, _) = x86_64::registers::control::Cr3::read();
    pc.kernel_pml4.set(pml4.start_address().as_u64());
    enable_protection();
}

/// Turn on the CPU's protections where it has them: no-execute, write protection in ring
/// 0, SMEP (the kernel never executes user pages) and SMAP (the kernel never touches user
/// pages by accident; it reads user memory through the physical-memory mapping).
fn enable_protection() {
    use x86_64::registers::control::{Cr0, Cr0Flags, Cr4, Cr4Flags};
    let cpuid = raw_cpuid::CpuId::new();
    let ext = cpuid.get_extended_feature_info();
    let mut cr4 = Cr4::read();
    let wanted = bootcfg::get().smep_smap;
    if wanted && ext.as_ref().is_some_and(|e| e.has_smep()) {
        cr4 |= Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION;
    }
    if wanted && ext.as_ref().is_some_and(|e| e.has_smap()) {
        cr4 |= Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION;
    }
    // SAFETY: SMEP/SMAP only restrict the kernel's access to user pages, which it never
    // makes directly; WP makes read-only pages read-only for the kernel too.
    unsafe {
        Cr4::write(cr4);
        Cr0::update(|f| *f |= Cr0Flags::WRITE_PROTECT);
    }
}

/// Whether SMEP and SMAP are on (for the boot log).
pub fn protections() -> (bool, bool) {
    use x86_64::registers::control::{Cr4, Cr4Flags};
    let cr4 = Cr4::read();
    (
        cr4.contains(Cr4Flags::SUPERVISOR_MODE_EXECUTION_PROTECTION),
        cr4.contains(Cr4Flags::SUPERVISOR_MODE_ACCESS_PREVENTION),
    )
}

/// Leave the boot path for good: run this core's dispatchers (or idle when there are none).
pub fn run_dispatchers() -> ! {
    let mut frame = arch::idt::TrapFrame::default();
    let ready = percore::current()
        .sched
        .borrow_mut()
        .switch_next(&mut frame);
    if !ready {
        syscall::idle_until_runnable(&mut frame);
    }
    arch::idt::enter_user(&frame)
}

/// Timer interrupts per second on every core.
pub const TIMER_HZ: u64 = 100;

/// Calibrate this core's local APIC timer against the TSC (over 10 ms) and start it at
/// [`TIMER_HZ`]. Returns the timer's ticks (divide by 16) per millisecond.
pub fn start_timer(apic: arch::apic::LocalApic, tsc_hz: u64) -> u64 {
    let per_10ms = apic.measure_timer(arch::tsc::ms_to_cycles(tsc_hz, 10)) as u64;
    let per_ms = per_10ms / 10;
    let period = (per_ms * 1000 / TIMER_HZ).clamp(1, u32::MAX as u64) as u32;
    apic.start_periodic_timer(period);
    per_ms
}
