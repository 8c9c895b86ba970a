//! The syscall handler and the scheduling decisions that follow kernel entries from user
//! mode. Every syscall argument is untrusted: pointers are translated through the caller's
//! own page tables (and must be user-accessible), lengths are bounded, unknown numbers get
//! an error code.

use abi::{SysError, Syscall};

use crate::arch::idt::TrapFrame;
use crate::percore;

/// Longest message `Print` takes.
pub const MAX_PRINT: usize = 1024;

pub(crate) fn ret(f: &mut TrapFrame, err: SysError, value: u64) {
    f.rax = err as u64;
    f.rdx = value;
}

/// Handle the syscall in `f` (the caller's saved state); leaves in `f` the state of the
/// dispatcher to resume.
pub fn dispatch(f: &mut TrapFrame) {
    let pc = percore::current();
    pc.syscalls.set(pc.syscalls.get() + 1);
    match Syscall::from_u64(f.rax) {
        Some(Syscall::Null) => ret(f, SysError::Ok, 0),
        Some(Syscall::Print) => {
            let len = (f.rsi as usize).min(MAX_PRINT);
            let mut buf = [0u8; MAX_PRINT];
            let mut sched = pc.sched.borrow_mut();
            if !sched.read_current(f.rdi, &mut buf[..len]) {
                drop(sched);
                return ret(f, SysError::BadAddress, 0);
            }
            let name = sched.current().map(|d| d.name.clone()).unwrap_or_default();
            drop(sched);
            // Control characters (other than newlines and tabs) are shown as '.', so a
            // program cannot drive the console with escape sequences.
            for b in &mut buf[..len] {
                if (*b < 0x20 && *b != b'\n' && *b != b'\t') || *b == 0x7f {
                    *b = b'.';
                }
            }
            let text = core::str::from_utf8(&buf[..len]).unwrap_or("<invalid UTF-8>");
            crate::console::program_line(&name, text.trim_end());
            ret(f, SysError::Ok, len as u64);
        }
        Some(Syscall::CoreId) => {
            let id = pc.sched.borrow_mut().current().map_or(0, |d| d.id);
            ret(f, SysError::Ok, pc.core_id as u64 | (id as u64) << 32);
        }
        Some(Syscall::SetUpcall) => {
            if f.rdi > f.rsi
                || f.rsi > abi::USER_END
                || f.rdx >= abi::USER_END
                || f.r10 >= abi::USER_END
            {
                return ret(f, SysError::BadArgument, 0);
            }
            pc.sched.borrow_mut().set_upcall(f.rdx, f.r10, f.rdi, f.rsi);
            ret(f, SysError::Ok, 0);
        }
        Some(Syscall::Yield) => {
            ret(f, SysError::Ok, 0);
            // The caller resumes right after the syscall; if it is the only runnable
            // dispatcher, the core sleeps until the next interrupt first instead of spinning.
            let mut sched = pc.sched.borrow_mut();
            sched.yield_current(f);
            let alone = sched.runnable() <= 1;
            drop(sched);
            if alone {
                x86_64::instructions::interrupts::enable_and_hlt();
                x86_64::instructions::interrupts::disable();
            }
            reschedule(f);
        }
        Some(Syscall::Exit) => {
            let status = f.rdi;
            let mut sched = pc.sched.borrow_mut();
            if let Some(d) = sched.current() {
                log::info!(
                    "dispatcher {} ({}) exited with status {status}",
                    d.id,
                    d.name
                );
            }
            sched.kill_current(status);
            drop(sched);
            reschedule(f);
        }
        Some(Syscall::CapInvoke) => {
            let root = current_cspace(pc);
            let Some(root) = root else {
                return ret(f, SysError::CapFailed, caps::CapError::InvalidRoot as u64);
            };
            let write = |va: u64, words: &[u64; 5]| write_words(pc, va, words);
            match crate::capspace::invoke(root, f.rdi, f.rsi, [f.rdx, f.r10, f.r8, f.r9], write) {
                Ok(crate::capspace::Invoked::Value(v)) => ret(f, SysError::Ok, v),
                Ok(crate::capspace::Invoked::IrqBind(vector)) => irq_bind(pc, f, vector),
                Ok(crate::capspace::Invoked::IrqWait(vector)) => {
                    let timeout_ms = f.rdx;
                    irq_wait(pc, f, vector, timeout_ms)
                }
                Err(e) => ret(f, SysError::CapFailed, e as u64),
            }
        }
        Some(Syscall::LrpcListen) => {
            if f.rdi >= abi::USER_END || f.rsi >= abi::USER_END {
                return ret(f, SysError::BadArgument, 0);
            }
            pc.sched.borrow_mut().lrpc_listen(f.rdi, f.rsi);
            ret(f, SysError::Ok, 0);
        }
        Some(Syscall::LrpcCall) => {
            let root = current_cspace(pc);
            let target = root.ok_or(caps::CapError::InvalidRoot).and_then(|root| {
                let slot = pc.caps.borrow();
                let c = slot.as_ref().ok_or(caps::CapError::InvalidRoot)?;
                c.endpoint_target(root, f.rdi)
            });
            let (id, badge) = match target {
                Ok(t) => t,
                Err(e) => return ret(f, SysError::CapFailed, e as u64),
            };
            let mut sched = pc.sched.borrow_mut();
            let Some(idx) = sched.by_dispatcher_id(id) else {
                return ret(f, SysError::LrpcUnavailable, 0);
            };
            // Capability transfer: copy into the receiver's CSpace first; undone if the
            // call cannot be made.
            let mut moved = None;
            if f.r9 != 0 {
                let to = sched
                    .dispatchers()
                    .get(idx)
                    .and_then(|d| d.caps)
                    .map(|c| c.root);
                let r = match (root, to, pc.caps.borrow_mut().as_mut()) {
                    (Some(from), Some(to), Some(c)) => c.transfer(from, f.r9, to),
                    _ => Err(caps::CapError::InvalidRoot),
                };
                match r {
                    Ok(slot) => moved = Some(slot),
                    Err(e) => {
                        drop(sched);
                        return ret(f, SysError::CapFailed, e as u64);
                    }
                }
            }
            let args = [f.rsi, f.rdx, f.r10];
            let msg_cap = moved.map_or(0, |s| s.index + 1);
            if sched
                .lrpc_call(f, idx, badge, args, f.r8 as usize, msg_cap)
                .is_err()
            {
                drop(sched);
                if let (Some(slot), Some(c)) = (moved, pc.caps.borrow_mut().as_mut()) {
                    let _ = c.state.delete(slot, caps::Origin::Monitor);
                }
                ret(f, SysError::LrpcUnavailable, 0);
            }
        }
        Some(Syscall::LrpcReply) => {
            let value = f.rdi;
            if pc
                .sched
                .borrow_mut()
                .lrpc_reply(f, value, f.rsi as usize)
                .is_err()
            {
                ret(f, SysError::BadArgument, 0);
            }
        }
        Some(Syscall::ReportIn) => {
            pc.reported_in.set(true);
            if let Some(p) = pc.published.get() {
                p.publish(pc);
            }
            ret(f, SysError::Ok, 0);
        }
        Some(Syscall::KernelOp) => crate::kernel_op::dispatch(pc, f),
        Some(Syscall::TlbUnmap) => tlb_unmap(pc, f),
        None => ret(f, SysError::NoSuchSyscall, 0),
    }
}

/// [`Syscall::TlbUnmap`]: unmap, then shoot the entries down on every other core linking
/// the table, by the protocol the caller chose (the monitor's own calls and spans beyond
/// what a monitor request names always go by IPI).
fn tlb_unmap(pc: &crate::percore::PerCore, f: &mut TrapFrame) {
    let Some(root) = current_cspace(pc) else {
        return ret(f, SysError::CapFailed, caps::CapError::InvalidRoot as u64);
    };
    let protocol = f.r10;
    let (Ok(entry), Ok(pages), true) = (
        u16::try_from(f.rsi),
        u16::try_from(f.rdx),
        protocol <= abi::tlb::NUMA,
    ) else {
        return ret(f, SysError::BadArgument, 0);
    };
    let m = match crate::capspace::unmap_local(root, f.rdi, entry, pages) {
        Ok(m) => m,
        Err(e) => return ret(f, SysError::CapFailed, e as u64),
    };
    let span = pc.tlb.borrow().span_of(m.table);
    let Some((base, cores)) = span else {
        return ret(f, SysError::Ok, 0);
    };
    let va = base + u64::from(m.first_entry) * 4096;
    let count = u64::from(m.count);
    let monitor = pc.monitor.get();
    let caller = pc.sched.borrow().current_id();
    let words = abi::tlb::core_words(&cores);
    let by_monitor = protocol != abi::tlb::IPI && monitor.is_some() && monitor != caller;
    let (Some(words), true) = (words, by_monitor) else {
        let cycles = crate::tlb::shootdown_ipi(pc, va, count, &cores);
        return ret(f, SysError::Ok, cycles);
    };
    ret(f, SysError::Ok, 0);
    let mut sched = pc.sched.borrow_mut();
    let Some(id) = sched.block_current(f) else {
        return;
    };
    let request = crate::tlb::Request {
        token: 0,
        va,
        pages: count,
        protocol,
        cores: words,
    };
    pc.tlb
        .borrow_mut()
        .queue(id, request, crate::arch::cpu::rdtsc());
    // The monitor carries it out now.
    let switched = monitor.is_some_and(|m| sched.switch_to_id(f, m));
    drop(sched);
    if !switched {
        reschedule(f);
    }
}

fn irq_bind(pc: &crate::percore::PerCore, f: &mut TrapFrame, vector: u32) {
    let Some(id) = pc.sched.borrow().current_id() else {
        return ret(f, SysError::BadArgument, 0);
    };
    match pc.irqs.borrow_mut().bind(vector, id) {
        Ok(()) => ret(f, SysError::Ok, 0),
        Err(e) => ret(f, SysError::CapFailed, e as u64),
    }
}

/// Wait for a bound interrupt: at once if some came, else blocked until one does or, if
/// `timeout_ms` is not 0, until that many milliseconds (rounded up to timer ticks) passed.
fn irq_wait(pc: &crate::percore::PerCore, f: &mut TrapFrame, vector: u32, timeout_ms: u64) {
    let Some(id) = pc.sched.borrow().current_id() else {
        return ret(f, SysError::BadArgument, 0);
    };
    let deadline = match timeout_ms {
        0 => 0,
        ms => {
            let ticks = ms.saturating_mul(crate::TIMER_HZ).div_ceil(1000).max(1);
            pc.timer_ticks.get().saturating_add(ticks)
        }
    };
    let r = pc.irqs.borrow_mut().wait(vector, id, deadline);
    match r {
        Ok(Some(n)) => ret(f, SysError::Ok, n),
        Ok(None) => {
            ret(f, SysError::Ok, 0);
            pc.sched.borrow_mut().block_current(f);
            reschedule(f);
        }
        Err(e) => ret(f, SysError::CapFailed, e as u64),
    }
}

/// A device interrupt on `vector`: counted for the driver that bound it, which resumes at
/// once if it waits (`frame`, when a dispatcher was interrupted, is switched to it).
pub fn device_interrupt(vector: u32, frame: Option<&mut TrapFrame>) {
    let pc = crate::percore::current();
    let woken = pc.irqs.borrow_mut().fire(vector);
    let Some((id, n)) = woken else { return };
    let mut sched = pc.sched.borrow_mut();
    if sched.end_wait(id, SysError::Ok, n) {
        if let Some(f) = frame {
            sched.save_preempted(f);
            if !sched.switch_to_id(f, id) {
                drop(sched);
                reschedule(f);
            }
        }
    }
}

/// A timer tick: drivers whose interrupt waits timed out resume with a count of 0.
pub fn expire_irq_waits(pc: &crate::percore::PerCore) {
    let now = pc.timer_ticks.get();
    let mut irqs = pc.irqs.borrow_mut();
    let mut due = irqs.expire(now).peekable();
    if due.peek().is_none() {
        return;
    }
    let mut sched = pc.sched.borrow_mut();
    for id in due {
        sched.end_wait(id, SysError::Ok, 0);
    }
}

/// Copy `words` (at most 8) to the current dispatcher's memory at `va`, little-endian;
/// false if that memory is not the caller's to write.
pub(crate) fn write_words(pc: &crate::percore::PerCore, va: u64, words: &[u64]) -> bool {
    let mut bytes = [0u8; 64];
    let n = words.len().min(8);
    for (i, w) in words[..n].iter().enumerate() {
        bytes[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    pc.sched.borrow_mut().write_current(va, &bytes[..n * 8])
}

/// The root CNode slot of the current dispatcher's CSpace, if it has one.
pub(crate) fn current_cspace(pc: &crate::percore::PerCore) -> Option<caps::Slot> {
    pc.sched
        .borrow_mut()
        .current()
        .and_then(|d| d.caps)
        .map(|c| c.root)
}

/// Put the next runnable dispatcher's state in `f`, idling until there is one.
pub fn reschedule(f: &mut TrapFrame) {
    let found = percore::current().sched.borrow_mut().switch_next(f);
    if !found {
        idle_until_runnable(f);
    }
}

/// Sleep with interrupts on until a dispatcher can run, then put its state in `f`.
pub fn idle_until_runnable(f: &mut TrapFrame) {
    loop {
        x86_64::instructions::interrupts::enable_and_hlt();
        x86_64::instructions::interrupts::disable();
        if percore::current().sched.borrow_mut().switch_next(f) {
            return;
        }
    }
}

/// A fault taken in user mode: delivered to the dispatcher's fault upcall when it has one
/// and was enabled; otherwise the program is killed with a clear message and the core goes
/// on with its other dispatchers.
pub fn user_fault(f: &mut TrapFrame, what: &str, address: u64) {
    let pc = percore::current();
    let mut sched = pc.sched.borrow_mut();
    if sched.deliver_fault(f, f.vector, address) {
        return;
    }
    if let Some(d) = sched.current() {
        log::error!(
            "core {}: program `{}` (dispatcher {}) killed: {what} at rip {:#x}",
            pc.core_id,
            d.name,
            d.id,
            f.rip
        );
    }
    sched.kill_current(abi::EXIT_KILLED);
    drop(sched);
    reschedule(f);
}
