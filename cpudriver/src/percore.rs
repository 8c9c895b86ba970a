//! Per-core data, reached through the GS base.
//!
//! Each core has one [`PerCore`] record, allocated from that core's own memory by whoever
//! boots the core and then touched only by that core. `gs:[0]` holds the record's own
//! address, so [`current`] is one load. Nothing in it is shared: the record is the
//! container of the core's kernel state (heap, frame pool, identity).

use alloc::boxed::Box;
use core::cell::{Cell, RefCell};
use core::sync::atomic::{AtomicU64, Ordering};
use physmem::FrameAllocator;

use crate::arch::apic::LocalApic;
use crate::arch::cpu::{rdmsr, wrmsr, IA32_GS_BASE, IA32_KERNEL_GS_BASE};
use crate::dispatcher::Scheduler;

/// A core's own kernel state.
#[repr(C)]
pub struct PerCore {
    /// Address of this record; must stay the first field (read as `gs:[0]`).
    self_ptr: *const PerCore,
    /// Kernel stack pointer to load on `syscall` entry (read by the entry stub at `gs:[8]`).
    pub syscall_rsp: Cell<u64>,
    /// Scratch slot for the user stack pointer during `syscall` entry (`gs:[16]`).
    pub user_rsp_scratch: Cell<u64>,
    /// How this core's programs enter the kernel (`abi::SYSCALL_GATE_*`), chosen by
    /// [`crate::arch::syscall::choose_gate`] when the core starts.
    pub syscall_gate: Cell<u32>,
    /// Dense core number (0 is the boot core).
    pub core_id: u32,
    /// Local APIC id of the core.
    pub apic_id: u32,
    /// NUMA node (proximity domain) of the core (known once the topology is).
    pub node: Cell<u32>,
    /// Virtual address at which all physical memory is mapped.
    pub phys_offset: u64,
    /// The core's pool of physical frames.
    pub frames: RefCell<FrameAllocator>,
    /// The core's kernel heap.
    pub heap: RefCell<linked_list_allocator::Heap>,
    /// How to reach the core's local APIC, once enabled.
    pub apic: Cell<Option<LocalApic>>,
    /// TSC frequency in Hz (measured by the boot core, copied to each core at start).
    pub tsc_hz: Cell<u64>,
    /// Local APIC timer interrupts taken.
    pub timer_ticks: Cell<u64>,
    /// Notification IPIs taken.
    pub notify_ipis: Cell<u64>,
    /// Physical address of the core's kernel top-level page table.
    pub kernel_pml4: Cell<u64>,
    /// The core's dispatchers and run queue.
    pub sched: RefCell<Scheduler>,
    /// Syscalls served on this core.
    pub syscalls: Cell<u64>,
    /// The core's monitor has reported in.
    pub reported_in: Cell<bool>,
    /// Where the core publishes its counters on every timer tick (a line of its boot
    /// record, read by the boot core).
    pub published: Cell<Option<&'static CoreCounters>>,
    /// This core's capability state.
    pub caps: RefCell<Option<crate::capspace::CoreCaps>>,
    /// This core's kernel channel to the boot core (APs only).
    pub kchan: RefCell<Option<crate::kchan::KEndpoint>>,
    /// Kernel work run on every timer tick of this core (the boot core's boot progress).
    pub tick_hook: RefCell<Option<Box<dyn FnMut()>>>,
    /// The ramdisk (programs are loaded from it).
    pub ramdisk: Cell<&'static [u8]>,
    /// The dispatcher id of this core's monitor, once started.
    pub monitor: Cell<Option<u32>>,
    /// Where the monitor mesh's directory is.
    pub mesh: Cell<Option<crate::mesh::Mesh>>,
    /// The machine's facts for the SKB (the boot core only; empty elsewhere).
    pub facts: RefCell<alloc::string::String>,
    /// Dispatchers started from `boot.cfg` (the boot waits for them to end).
    pub boot_programs: RefCell<alloc::vec::Vec<u32>>,
    /// Spanned tables and message-based shootdowns in flight.
    pub tlb: RefCell<crate::tlb::TlbState>,
    /// IPI shootdown request numbers (used from the interrupt handler).
    pub tlb_mailbox: crate::tlb::Mailbox,
    /// Device interrupt vectors bound to drivers of this core.
    pub irqs: RefCell<crate::irq::Irqs>,
    /// The I/O APICs (the boot core only: it alone programs them).
    pub ioapics: RefCell<alloc::vec::Vec<crate::arch::ioapic::IoApic>>,
    /// ISA interrupt source overrides (the boot core only).
    pub isa_overrides: RefCell<alloc::vec::Vec<crate::arch::ioapic::IsaOverride>>,
    /// PCI Express ECAM windows from the MCFG (boot core only): device memory the Kernel
    /// capability's holder may make DevFrames over, for the PCI driver.
    pub pci_segments: RefCell<alloc::vec::Vec<abi::PciSegment>>,
    /// PCI host bridges' root buses from the ACPI namespace (boot core only).
    pub pci_roots: RefCell<alloc::vec::Vec<abi::PciRootBus>>,
    /// This core's kernel log and program output, newest [`KLOG_BYTES`] (`KernelOp
    /// KLOG`, the shell's `dmesg`). Empty (keeping nothing) until [`crate::init_core`]
    /// gives it memory from the core's heap.
    pub klog: RefCell<logring::LogRing<alloc::vec::Vec<u8>>>,
}

/// Bytes of kernel log each core keeps in memory.
pub const KLOG_BYTES: usize = 16 << 10;

impl PerCore {
    /// A record for core `core_id` with an empty heap and frame pool.
    pub fn new(core_id: u32, apic_id: u32, node: u32, phys_offset: u64) -> PerCore {
        PerCore {
            self_ptr: core::ptr::null(),
            syscall_rsp: Cell::new(0),
            syscall_gate: Cell::new(abi::SYSCALL_GATE_SYSCALL),
            user_rsp_scratch: Cell::new(0),
            core_id,
            apic_id,
            node: Cell::new(node),
            phys_offset,
            frames: RefCell::new(FrameAllocator::new()),
            heap: RefCell::new(linked_list_allocator::Heap::empty()),
            apic: Cell::new(None),
            tsc_hz: Cell::new(0),
            timer_ticks: Cell::new(0),
            notify_ipis: Cell::new(0),
            kernel_pml4: Cell::new(0),
            sched: RefCell::new(Scheduler::default()),
            syscalls: Cell::new(0),
            reported_in: Cell::new(false),
            published: Cell::new(None),
            caps: RefCell::new(None),
            kchan: RefCell::new(None),
            tick_hook: RefCell::new(None),
            ramdisk: Cell::new(&[]),
            monitor: Cell::new(None),
            mesh: Cell::new(None),
            facts: RefCell::new(alloc::string::String::new()),
            boot_programs: RefCell::new(alloc::vec::Vec::new()),
            tlb: RefCell::new(crate::tlb::TlbState::default()),
            tlb_mailbox: crate::tlb::Mailbox::default(),
            irqs: RefCell::new(crate::irq::Irqs::default()),
            ioapics: RefCell::new(alloc::vec::Vec::new()),
            isa_overrides: RefCell::new(alloc::vec::Vec::new()),
            pci_segments: RefCell::new(alloc::vec::Vec::new()),
            pci_roots: RefCell::new(alloc::vec::Vec::new()),
            klog: RefCell::new(logring::LogRing::new(alloc::vec::Vec::new())),
        }
    }

    /// Virtual address of physical address `pa` through the physical-memory mapping.
    pub fn phys_to_virt(&self, pa: u64) -> *mut u8 {
        (self.phys_offset + pa) as *mut u8
    }
}

/// Counters a core publishes for the boot core to read: one cache line written only by the
/// core that owns it.
#[repr(C, align(64))]
#[derive(Default)]
pub struct CoreCounters {
    /// Syscalls served.
    pub syscalls: AtomicU64,
    /// Programs from `boot.cfg` still running.
    pub live: AtomicU64,
    /// Timer interrupts taken.
    pub ticks: AtomicU64,
    /// Notification IPIs taken.
    pub ipis: AtomicU64,
    /// 1 once the core's monitor has reported in.
    pub monitor_up: AtomicU64,
}

impl CoreCounters {
    /// Store the core's current counters.
    pub fn publish(&self, pc: &PerCore) {
        self.syscalls.store(pc.syscalls.get(), Ordering::Relaxed);
        self.ticks.store(pc.timer_ticks.get(), Ordering::Relaxed);
        self.ipis.store(pc.notify_ipis.get(), Ordering::Relaxed);
        self.monitor_up
            .store(u64::from(pc.reported_in.get()), Ordering::Relaxed);
        if let Some(n) = boot_programs_live(pc) {
            self.live.store(n as u64, Ordering::Relaxed);
        }
        core::sync::atomic::fence(Ordering::Release);
    }
}

/// How many of the programs started from `boot.cfg` on this core still run (None if the
/// scheduler is busy right now).
pub fn boot_programs_live(pc: &PerCore) -> Option<usize> {
    let s = pc.sched.try_borrow().ok()?;
    let ids = pc.boot_programs.try_borrow().ok()?;
    Some(ids.iter().filter(|&&id| s.by_id(id).is_some()).count())
}

/// Make `record` this core's per-core record. `record` must live forever and belong to
/// this core alone.
///
/// # Safety
/// Must be called once per core, before anything calls [`current`], with a record that
/// no other core will ever access.
pub unsafe fn install(record: &'static mut PerCore) {
    record.self_ptr = record as *const PerCore;
    let addr = record as *const PerCore as u64;
    // SAFETY: GS base and kernel GS base are architectural MSRs; pointing them at the
    // record is what `current` relies on. The caller guarantees exclusivity.
    unsafe {
        wrmsr(IA32_GS_BASE, addr);
        // User mode sees GS base 0; `swapgs` exchanges the two on every kernel entry/exit.
        wrmsr(IA32_KERNEL_GS_BASE, 0);
    }
}

/// True once [`install`] ran on this core.
pub fn installed() -> bool {
    // SAFETY: reading GS base has no side effects.
    unsafe { rdmsr(IA32_GS_BASE) != 0 }
}

/// This core's record, or `None` before [`install`].
pub fn try_current() -> Option<&'static PerCore> {
    if !installed() {
        return None;
    }
    let ptr: *const PerCore;
    // SAFETY: GS base points at an installed record whose first field is its own address.
    unsafe {
        core::arch::asm!("mov {}, gs:[0]", out(reg) ptr, options(nostack, preserves_flags, readonly));
    }
    // SAFETY: the record lives forever and is only used by this core.
    Some(unsafe { &*ptr })
}

/// This core's record. Panics before [`install`].
pub fn current() -> &'static PerCore {
    try_current().expect("per-core record not installed on this core")
}

/// This core's number, or 0 before its record is installed (the boot core's early boot).
pub fn core_id() -> u32 {
    try_current().map_or(0, |p| p.core_id)
}

/// Work done on every timer tick of this core: publish counters, run the tick hook.
pub fn on_tick() {
    let pc = current();
    pc.timer_ticks.set(pc.timer_ticks.get() + 1);
    if pc.core_id == 0 {
        if let Some(crate::bootcfg::Inject::PanicAfter(ms)) = crate::bootcfg::get().inject {
            if pc.timer_ticks.get() * 1000 / crate::TIMER_HZ >= ms {
                panic!("injected panic after {ms} ms (boot.cfg inject=panic@{ms})");
            }
        }
    }
    crate::syscall::expire_irq_waits(pc);
    if let Some(p) = pc.published.get() {
        p.publish(pc);
    }
    // Take the hook out while it runs, so it may use the per-core record freely.
    let hook = pc.tick_hook.borrow_mut().take();
    if let Some(mut h) = hook {
        h();
        let mut slot = pc.tick_hook.borrow_mut();
        if slot.is_none() {
            *slot = Some(h);
        }
    }
}
