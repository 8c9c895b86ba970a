//! Trap dispatch: the one place every exception and interrupt arrives, on the core that
//! took it. Faults in the kernel are reported with everything needed to find them (core,
//! vector name, RIP, error code, CR2 for page faults) and end in a panic.

use crate::arch::apic::{ERROR_VECTOR, SPURIOUS_VECTOR, TIMER_VECTOR};
use crate::arch::idt::TrapFrame;
use crate::percore;

/// Vector of the notification IPI: how one core wakes another (the URPC notification path).
pub const NOTIFY_VECTOR: u8 = 0xf0;

/// Architectural exception names, by vector.
const EXCEPTION_NAMES: [&str; 32] = [
    "divide error",
    "debug",
    "non-maskable interrupt",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved (15)",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point error",
    "virtualization exception",
    "control protection exception",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "hypervisor injection exception",
    "VMM communication exception",
    "security exception",
    "reserved (31)",
];

/// The name of an exception vector, or "interrupt" for vectors 32 and up.
pub fn vector_name(vector: u64) -> &'static str {
    EXCEPTION_NAMES
        .get(vector as usize)
        .copied()
        .unwrap_or("interrupt")
}

/// Decoded page-fault error code bits.
fn page_fault_cause(code: u64) -> (&'static str, &'static str, &'static str) {
    let present = if code & 1 != 0 {
        "protection violation"
    } else {
        "page not present"
    };
    let access = if code & 16 != 0 {
        "instruction fetch"
    } else if code & 2 != 0 {
        "write"
    } else {
        "read"
    };
    let mode = if code & 4 != 0 { "user" } else { "kernel" };
    (present, access, mode)
}

/// Called by the common trap path with the saved registers.
pub extern "C" fn dispatch(frame: &mut TrapFrame) {
    let Ok(vector) = u8::try_from(frame.vector) else {
        panic!("trap stub pushed impossible vector {}", frame.vector);
    };
    if frame.from_user() {
        return user_trap(vector, frame);
    }
    match vector {
        0..=31 => kernel_fault(frame),
        SPURIOUS_VECTOR => {}
        TIMER_VECTOR => {
            eoi();
            percore::on_tick();
        }
        NOTIFY_VECTOR => {
            let pc = percore::current();
            pc.notify_ipis.set(pc.notify_ipis.get() + 1);
            if let Some(p) = pc.published.get() {
                p.publish(pc);
            }
            eoi();
            crate::kchan::poll();
        }
        crate::tlb::TLB_VECTOR => {
            crate::tlb::on_interrupt(percore::current());
            eoi();
        }
        ERROR_VECTOR => {
            log::error!("local APIC error interrupt");
            eoi();
        }
        v if crate::irq::is_device_vector(u32::from(v)) => {
            eoi();
            crate::syscall::device_interrupt(u32::from(v), None);
        }
        v => {
            log::warn!("unexpected interrupt vector {v} at rip {:#x}", frame.rip);
            eoi();
        }
    }
}

/// `int 0x80`: the `int` system call gate's instruction.
const INT_SYSCALL: [u8; 2] = [0xcd, abi::SYSCALL_INT_VECTOR];
/// `syscall`.
const SYSCALL: [u8; 2] = [0x0f, 0x05];

/// Recognise a system call that reached the kernel as an exception, as it does under a PVM
/// hypervisor running this (not PVM-aware) kernel in emulation, and make it one:
///
/// - `int 0x80` arrives as an invalid opcode at the instruction: step over it.
/// - `syscall` jumps to the entry stub still in user mode, so fetching the stub faults
///   (impossible on hardware: the stub is kernel text, mapped in every address space).
///   RCX holds the return address, as `syscall` defines: if the two bytes before it are a
///   `syscall`, resume there, and switch the core's programs to the `int` gate for good.
///
/// Returns whether `frame` was a system call (then handled).
fn trapped_syscall(pc: &percore::PerCore, vector: u8, frame: &mut TrapFrame) -> bool {
    let at = |va: u64| {
        let mut insn = [0u8; 2];
        pc.sched
            .borrow_mut()
            .read_current(va, &mut insn)
            .then_some(insn)
    };
    match vector {
        6 if at(frame.rip) == Some(INT_SYSCALL) => {
            frame.rip += 2;
        }
        // "Not present": on hardware the stub's page is present (supervisor-only), so a user
        // program jumping there itself faults with the present bit set and is not taken
        // for a system call (nor can it switch its core's gate).
        14 if frame.rip == crate::arch::syscall::entry_address()
            && frame.error_code & 1 == 0
            && frame.rcx >= 2
            && at(frame.rcx - 2) == Some(SYSCALL) =>
        {
            if pc.syscall_gate.get() != abi::SYSCALL_GATE_INT {
                log::warn!(
                    "core {}: `syscall` from user mode jumped to the entry stub without \
                     entering the kernel (a PVM hypervisor?); programs use int 0x80 from now on",
                    pc.core_id
                );
                pc.syscall_gate.set(abi::SYSCALL_GATE_INT);
                pc.sched
                    .borrow_mut()
                    .set_syscall_gate(abi::SYSCALL_GATE_INT);
            }
            frame.rip = frame.rcx;
            frame.rflags = crate::dispatcher::USER_RFLAGS;
        }
        _ => return false,
    }
    crate::syscall::dispatch(frame);
    true
}

/// A trap taken while a dispatcher ran.
fn user_trap(vector: u8, frame: &mut TrapFrame) {
    let pc = percore::current();
    if trapped_syscall(pc, vector, frame) {
        return;
    }
    match vector {
        0..=31 => {
            let what = if vector == 14 {
                let (present, access, _) = page_fault_cause(frame.error_code);
                alloc::format!(
                    "page fault at address {:#x} ({present}, {access}; error code {:#x}, cs {:#x}, rsp {:#x})",
                    crate::arch::cpu::cr2(),
                    frame.error_code,
                    frame.cs,
                    frame.rsp
                )
            } else {
                alloc::format!(
                    "{} (vector {vector}, error code {:#x})",
                    vector_name(vector as u64),
                    frame.error_code
                )
            };
            let address = if vector == 14 {
                crate::arch::cpu::cr2()
            } else {
                0
            };
            crate::syscall::user_fault(frame, &what, address);
        }
        // A system call through the `int` gate: the same registers as `syscall`; it leaves
        // through `iretq` (the frame's vector is not the `syscall` mark).
        abi::SYSCALL_INT_VECTOR => crate::syscall::dispatch(frame),
        TIMER_VECTOR => {
            eoi();
            percore::on_tick();
            pc.sched.borrow_mut().save_preempted(frame);
            crate::syscall::reschedule(frame);
        }
        NOTIFY_VECTOR => {
            pc.notify_ipis.set(pc.notify_ipis.get() + 1);
            if let Some(p) = pc.published.get() {
                p.publish(pc);
            }
            eoi();
            crate::kchan::poll();
            // A notification is for the monitor: it runs now rather than after the current
            // program's time slice (messages between monitors wait for no one's slice).
            if let Some(m) = pc.monitor.get() {
                let mut sched = pc.sched.borrow_mut();
                if sched.current_id() != Some(m) && sched.can_run_id(m) {
                    sched.save_preempted(frame);
                    sched.switch_to_id(frame, m);
                }
            }
        }
        crate::tlb::TLB_VECTOR => {
            crate::tlb::on_interrupt(pc);
            eoi();
        }
        SPURIOUS_VECTOR => {}
        v if crate::irq::is_device_vector(u32::from(v)) => {
            eoi();
            crate::syscall::device_interrupt(u32::from(v), Some(frame));
        }
        _ => eoi(),
    }
}

fn eoi() {
    if let Some(apic) = percore::current().apic.get() {
        apic.eoi();
    }
}

fn kernel_fault(frame: &TrapFrame) -> ! {
    let name = vector_name(frame.vector);
    if frame.vector == 14 {
        let (present, access, mode) = page_fault_cause(frame.error_code);
        panic!(
            "page fault at address {:#x} (error code {:#x}: {present}, {access}, {mode}) rip {:#x} rsp {:#x}",
            crate::arch::cpu::cr2(),
            frame.error_code,
            frame.rip,
            frame.rsp
        );
    }
    panic!(
        "CPU exception {} ({name}) error code {:#x} rip {:#x} rsp {:#x} cs {:#x} rflags {:#x}",
        frame.vector, frame.error_code, frame.rip, frame.rsp, frame.cs, frame.rflags
    );
}
