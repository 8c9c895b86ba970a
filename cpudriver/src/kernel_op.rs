//! The `KernelOp` syscall: what a monitor asks of its own CPU driver. Every operation
//! requires the core's Kernel capability in the caller's root slot
//! [`abi::ROOT_SLOT_KERNEL`] (only the monitor gets one); every argument is still checked,
//! since a monitor is user code too.

use abi::{kop, SysError};
use caps::{CapError, CapRef, Capability, Origin, Relations, Slot};

use crate::arch::idt::TrapFrame;
use crate::percore::PerCore;
use crate::syscall::{current_cspace, ret, write_words};

/// Longest program name or argument string the `SPAWN` operation takes.
const MAX_SPAWN_TEXT: usize = abi::MAX_ARGS;

fn cap_err(f: &mut TrapFrame, e: CapError) {
    ret(f, SysError::CapFailed, e as u64);
}

/// Read `len` bytes of the caller's memory at `va` into `buf` (bounded by its size).
fn read_caller<'a>(pc: &PerCore, va: u64, len: u64, buf: &'a mut [u8]) -> Option<&'a [u8]> {
    let len = usize::try_from(len).ok().filter(|&l| l <= buf.len())?;
    let out = &mut buf[..len];
    pc.sched.borrow_mut().read_current(va, out).then_some(&*out)
}

fn read_words<const N: usize>(pc: &PerCore, va: u64) -> Option<[u64; N]> {
    let mut bytes = [0u8; 64];
    let b = read_caller(pc, va, (N * 8) as u64, &mut bytes)?;
    let mut w = [0u64; N];
    for (i, x) in w.iter_mut().enumerate() {
        *x = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().ok()?);
    }
    Some(w)
}

/// The root CNode slot of dispatcher `id` of this core.
fn root_of(pc: &PerCore, id: u64) -> Option<Slot> {
    let id = u32::try_from(id).ok()?;
    pc.sched
        .borrow()
        .by_id(id)
        .and_then(|d| d.caps)
        .map(|c| c.root)
}

/// Handle `KernelOp` for the current dispatcher.
pub fn dispatch(pc: &PerCore, f: &mut TrapFrame) {
    let Some(root) = current_cspace(pc) else {
        return ret(f, SysError::NotPermitted, 0);
    };
    let permitted = pc
        .caps
        .borrow()
        .as_ref()
        .is_some_and(|c| c.holds_kernel(root, abi::ROOT_SLOT_KERNEL));
    if !permitted {
        return ret(f, SysError::NotPermitted, 0);
    }
    let (a0, a1, a2, a3) = (f.rsi, f.rdx, f.r10, f.r8);
    match f.rdi {
        kop::CORES => {
            let n = pc.mesh.get().map_or(1, |m| m.cores);
            ret(f, SysError::Ok, u64::from(n));
        }
        kop::ONLINE => {
            let Some(mesh) = pc.mesh.get() else {
                // A machine of one core: only this one.
                return if a0 == 0 {
                    ret(f, SysError::Ok, 1 << pc.core_id)
                } else {
                    ret(f, SysError::BadArgument, 0)
                };
            };
            if !mesh.published(pc) {
                return ret(f, SysError::NotFound, 0);
            }
            match usize::try_from(a0)
                .ok()
                .and_then(|w| mesh.online_word(pc, w))
            {
                Some(w) => ret(f, SysError::Ok, w),
                None => ret(f, SysError::BadArgument, 0),
            }
        }
        kop::NOTIFY => {
            let target = u32::try_from(a0).ok();
            let mesh = pc.mesh.get();
            let apic_id = target.zip(mesh).and_then(|(c, m)| {
                (c != pc.core_id && m.is_online(pc, c))
                    .then(|| m.apic_id(pc, c))
                    .flatten()
            });
            match (apic_id, pc.apic.get()) {
                (Some(id), Some(apic)) => {
                    if apic.send_ipi(id, crate::trap::NOTIFY_VECTOR).is_err() {
                        return ret(f, SysError::BadArgument, 0);
                    }
                    ret(f, SysError::Ok, 0)
                }
                _ => ret(f, SysError::BadArgument, 0),
            }
        }
        kop::SPAWN => {
            let mut name = [0u8; MAX_SPAWN_TEXT];
            let mut args = [0u8; MAX_SPAWN_TEXT];
            let (Some(name), Some(args)) = (
                read_caller(pc, a0, a1, &mut name),
                read_caller(pc, a2, a3, &mut args),
            ) else {
                return ret(f, SysError::BadAddress, 0);
            };
            let (Ok(name), Ok(args)) = (core::str::from_utf8(name), core::str::from_utf8(args))
            else {
                return ret(f, SysError::BadArgument, 0);
            };
            let window = f.r9;
            match crate::loader::spawn(name, args) {
                Ok(id) => {
                    if let Err(e) = crate::loader::give_monitor_endpoint(id) {
                        log::warn!("spawned dispatcher {id} has no monitor endpoint: {e:?}");
                    }
                    if window != 0 {
                        // A spanned dispatcher: the shared window before it first runs.
                        span_window(pc, f, u64::from(id), window);
                        if f.rax != SysError::Ok as u64 {
                            log::warn!("spanned dispatcher {id} runs without a shared window");
                            return;
                        }
                    }
                    ret(f, SysError::Ok, u64::from(id))
                }
                Err(crate::loader::LoadError::NotFound(_)) => ret(f, SysError::NotFound, 0),
                Err(crate::loader::LoadError::Spawn(
                    crate::dispatcher::SpawnError::Elf(_)
                    | crate::dispatcher::SpawnError::ArgsTooLong,
                )) => ret(f, SysError::BadArgument, 0),
                Err(e) => {
                    log::warn!("spawn of `{name}` failed: {e:?}");
                    ret(f, SysError::NoResources, 0)
                }
            }
        }
        kop::EVENT => {
            let mut sched = pc.sched.borrow_mut();
            let Some((kind, id, status)) = sched.take_event() else {
                drop(sched);
                return ret(f, SysError::NotFound, 0);
            };
            let mut len = 0u64;
            if kind == kop::event::EXITED
                && a0 != 0
                && sched.write_current(a0, &status.to_le_bytes())
            {
                len = 8;
            }
            if kind == kop::event::STARTED && a0 != 0 {
                let name = sched
                    .name_of(id)
                    .map(alloc::string::String::from)
                    .unwrap_or_default();
                let n = name.len().min(32);
                if sched.write_current(a0, &name.as_bytes()[..n]) {
                    len = n as u64;
                }
            }
            drop(sched);
            ret(f, SysError::Ok, kind << 56 | len << 40 | u64::from(id))
        }
        kop::TSC_HZ => ret(f, SysError::Ok, pc.tsc_hz.get()),
        kop::FACTS => {
            let facts = pc.facts.borrow();
            let bytes = facts.as_bytes();
            let start = usize::try_from(a2).unwrap_or(usize::MAX).min(bytes.len());
            let len = usize::try_from(a1).unwrap_or(0).min(bytes.len() - start);
            let chunk = &bytes[start..start + len];
            let ok = chunk.is_empty() || pc.sched.borrow_mut().write_current(a0, chunk);
            drop(facts);
            if ok {
                ret(f, SysError::Ok, len as u64)
            } else {
                ret(f, SysError::BadAddress, 0)
            }
        }
        kop::KLOG => {
            let len = usize::try_from(a1.min(kop::KLOG_MAX_READ)).unwrap_or(0);
            let mut out = alloc::vec![0u8; len];
            let chunk = pc.klog.borrow().read(a2, &mut out);
            let ok = chunk.len == 0 || pc.sched.borrow_mut().write_current(a0, &out[..chunk.len]);
            if ok {
                ret(f, SysError::Ok, chunk.from << 16 | chunk.len as u64)
            } else {
                ret(f, SysError::BadAddress, 0)
            }
        }
        kop::CAP_IDENTIFY => {
            let Some(droot) = root_of(pc, a0) else {
                return ret(f, SysError::NotFound, 0);
            };
            let id = {
                let caps = pc.caps.borrow();
                let Some(c) = caps.as_ref() else {
                    return cap_err(f, CapError::InvalidRoot);
                };
                CapRef::unpack(a1)
                    .and_then(|r| c.state.resolve(droot, r))
                    .and_then(|s| {
                        let mut id = c.state.identify(s)?.to_abi();
                        // For the monitor: whether descendants exist on this core.
                        if !c.state.relatives(s)?.1.is_empty() {
                            id.flags |= kop::IDENTITY_LOCAL_DESCENDANTS;
                        }
                        Ok(id)
                    })
            };
            match id {
                Ok(id) => {
                    if write_words(pc, a2, &id.to_words()) {
                        ret(f, SysError::Ok, 0)
                    } else {
                        ret(f, SysError::BadAddress, 0)
                    }
                }
                Err(e) => cap_err(f, e),
            }
        }
        kop::CAP_INSERT => {
            let Some(droot) = root_of(pc, a0) else {
                return ret(f, SysError::NotFound, 0);
            };
            let Some(words) = read_words::<5>(pc, a1) else {
                return ret(f, SysError::BadAddress, 0);
            };
            let identity = caps::abi::CapIdentity::from_words(words);
            let r = Capability::try_from(&identity).and_then(|cap| {
                let mut caps = pc.caps.borrow_mut();
                let c = caps.as_mut().ok_or(CapError::InvalidRoot)?;
                let cnode = c.state.cnode_of(droot)?;
                let index = if a2 == kop::ANY_SLOT {
                    c.free_slot(droot, kop::FIRST_FREE_SLOT)?.index
                } else {
                    u32::try_from(a2).map_err(|_| CapError::OutOfRange)?
                };
                c.state
                    .insert_copy(Slot { cnode, index }, cap, Relations::REMOTE_COPIES)
                    .map(|()| index)
            });
            match r {
                Ok(index) => ret(f, SysError::Ok, u64::from(index)),
                Err(e) => cap_err(f, e),
            }
        }
        kop::CAP_MARK_REMOTE => {
            let Some(droot) = root_of(pc, a0) else {
                return ret(f, SysError::NotFound, 0);
            };
            let mut caps = pc.caps.borrow_mut();
            let r = caps.as_mut().ok_or(CapError::InvalidRoot).and_then(|c| {
                let slot = c.state.resolve(droot, CapRef::unpack(a1)?)?;
                let rel = c.state.relations(slot)?;
                let rel = match a2 {
                    0 => rel | Relations::REMOTE_COPIES,
                    1 => rel - (Relations::REMOTE_COPIES | Relations::REMOTE_DESCENDANTS),
                    _ => return Err(CapError::InvalidArgument),
                };
                c.state.set_relations(slot, rel)
            });
            drop(caps);
            match r {
                Ok(()) => ret(f, SysError::Ok, 0),
                Err(e) => cap_err(f, e),
            }
        }
        kop::CAP_REVOKE_RANGE => {
            let mut caps = pc.caps.borrow_mut();
            let r = caps
                .as_mut()
                .ok_or(CapError::InvalidRoot)
                .and_then(|c| c.state.revoke_range(a0, a1));
            match r {
                Ok(report) => {
                    crate::capspace::apply_delete(pc, &report);
                    drop(caps);
                    ret(f, SysError::Ok, report.deleted as u64)
                }
                Err(e) => {
                    drop(caps);
                    cap_err(f, e)
                }
            }
        }
        kop::CAP_INVOKE => {
            let Some(droot) = root_of(pc, a0) else {
                return ret(f, SysError::NotFound, 0);
            };
            let Some([cap, op, x0, x1, x2, x3]) = read_words::<6>(pc, a1) else {
                return ret(f, SysError::BadAddress, 0);
            };
            // Identify would write into the target's memory: not offered here.
            if op == caps::abi::CapOp::Identify as u64 {
                return cap_err(f, CapError::InvalidOperation);
            }
            match crate::capspace::invoke_as(droot, cap, op, [x0, x1, x2, x3], Origin::Monitor) {
                Ok(v) => ret(f, SysError::Ok, v),
                Err(e) => cap_err(f, e),
            }
        }
        kop::SPAN_ADD => {
            let cores = pc.mesh.get().map_or(1, |m| m.cores);
            let Ok(core) = u32::try_from(a1) else {
                return ret(f, SysError::BadArgument, 0);
            };
            if core >= cores || core == pc.core_id {
                return ret(f, SysError::BadArgument, 0);
            }
            let pt = u32::try_from(a0)
                .ok()
                .and_then(|id| pc.sched.borrow().by_id(id).and_then(|d| d.caps))
                .map(|c| c.pt);
            match pt {
                Some(pt) => {
                    pc.tlb.borrow_mut().span_add(pt, abi::CAP_WINDOW, core);
                    ret(f, SysError::Ok, 0)
                }
                None => ret(f, SysError::NotFound, 0),
            }
        }
        kop::IRQ_ROUTE => irq_route(pc, f, a0, a1, a2),
        kop::ISA_GSI => match u8::try_from(a0) {
            Ok(irq) if irq < 16 && !pc.ioapics.borrow().is_empty() => {
                let gsi = crate::arch::ioapic::isa_gsi(irq, &pc.isa_overrides.borrow());
                ret(f, SysError::Ok, u64::from(gsi))
            }
            Ok(irq) if irq < 16 => ret(f, SysError::NotFound, 0),
            _ => ret(f, SysError::BadArgument, 0),
        },
        kop::FRAMEBUFFER => {
            let Some(d) = crate::console::framebuffer::device() else {
                return ret(f, SysError::NotFound, 0);
            };
            let words = d.to_words();
            if !write_words(pc, a0, &words) {
                return ret(f, SysError::BadAddress, 0);
            }
            if a1 == 1 {
                crate::console::release_framebuffer();
            }
            ret(f, SysError::Ok, 0)
        }
        kop::PCI_SEGMENT => {
            let seg = usize::try_from(a1)
                .ok()
                .and_then(|i| pc.pci_segments.borrow().get(i).copied());
            let Some(s) = seg else {
                return ret(f, SysError::NotFound, 0);
            };
            if !write_words(pc, a0, &s.to_words()) {
                return ret(f, SysError::BadAddress, 0);
            }
            ret(f, SysError::Ok, 0)
        }
        kop::PCI_ROOT => {
            let root = usize::try_from(a1)
                .ok()
                .and_then(|i| pc.pci_roots.borrow().get(i).copied());
            let Some(r) = root else {
                return ret(f, SysError::NotFound, 0);
            };
            if !write_words(pc, a0, &r.to_words()) {
                return ret(f, SysError::BadAddress, 0);
            }
            ret(f, SysError::Ok, 0)
        }
        kop::PLACE => {
            let place = pc
                .mesh
                .get()
                .zip(u32::try_from(a0).ok())
                .and_then(|(m, c)| Some((m.apic_id(pc, c)?, m.place(pc, c)?)));
            match place {
                Some((apic, (package, node))) => {
                    ret(f, SysError::Ok, kop::pack_place(apic, package, node))
                }
                None => ret(f, SysError::BadArgument, 0),
            }
        }
        kop::SHUTDOWN => {
            log::info!(
                "core {}: {} requested by the monitor (status {a1})",
                pc.core_id,
                if a0 == 1 { "reset" } else { "power-off" }
            );
            match a0 {
                0 => crate::arch::power::power_off(a1 == 0),
                1 => crate::arch::power::reset(),
                _ => ret(f, SysError::BadArgument, 0),
            }
        }
        kop::LOG_LEVEL => {
            let level = match a0 {
                1 => log::LevelFilter::Error,
                2 => log::LevelFilter::Warn,
                3 => log::LevelFilter::Info,
                4 => log::LevelFilter::Debug,
                5 => log::LevelFilter::Trace,
                _ => return ret(f, SysError::BadArgument, 0),
            };
            log::set_max_level(level);
            ret(f, SysError::Ok, 0)
        }
        kop::KILL => {
            let Ok(id) = u32::try_from(a0) else {
                return ret(f, SysError::BadArgument, 0);
            };
            if Some(id) == pc.monitor.get() {
                return ret(f, SysError::NotPermitted, 0);
            }
            if pc.sched.borrow_mut().kill_id(id) {
                log::info!("core {}: dispatcher {id} killed by request", pc.core_id);
                ret(f, SysError::Ok, 0)
            } else {
                ret(f, SysError::NotFound, 0)
            }
        }
        kop::MEM_FREE => {
            let caps = pc.caps.borrow().as_ref().map_or(0, |c| c.free_bytes());
            ret(f, SysError::Ok, pc.frames.borrow().free_bytes() + caps)
        }
        kop::CAP_GIVE => {
            let Some(droot) = root_of(pc, a0) else {
                return ret(f, SysError::NotFound, 0);
            };
            let sroot = match a3 {
                0 => Some(root),
                n => root_of(pc, n - 1),
            };
            let Some(sroot) = sroot else {
                return ret(f, SysError::NotFound, 0);
            };
            let mut caps = pc.caps.borrow_mut();
            let r = caps.as_mut().ok_or(CapError::InvalidRoot).and_then(|c| {
                let src = c.state.resolve(sroot, CapRef::unpack(a1)?)?;
                let index = u32::try_from(a2).map_err(|_| CapError::OutOfRange)?;
                let cnode = c.state.cnode_of(droot)?;
                c.state.copy(src, Slot { cnode, index })
            });
            drop(caps);
            match r {
                Ok(()) => ret(f, SysError::Ok, 0),
                Err(e) => cap_err(f, e),
            }
        }
        kop::TLB_NEXT => {
            let r = pc.tlb.borrow_mut().next_request();
            let Some(r) = r else {
                return ret(f, SysError::NotFound, 0);
            };
            let words = [r.token, r.va, r.pages, r.protocol, r.cores[0], r.cores[1]];
            if write_words(pc, a0, &words) {
                ret(f, SysError::Ok, 0)
            } else {
                // Not lost: with the monitor's bad pointer the program would otherwise
                // stay blocked for good; the kernel carries it out by IPI instead.
                let waiting = pc.tlb.borrow_mut().complete(r.token);
                if let Some((id, _)) = waiting {
                    let cores: alloc::vec::Vec<u32> = abi::tlb::cores_of(r.cores).collect();
                    let c = crate::tlb::shootdown_ipi(pc, r.va, r.pages, &cores);
                    pc.sched.borrow_mut().end_wait(id, SysError::Ok, c);
                }
                ret(f, SysError::BadAddress, 0)
            }
        }
        kop::TLB_INVALIDATE => {
            if a0 >= abi::USER_END {
                return ret(f, SysError::BadArgument, 0);
            }
            crate::tlb::invalidate(a0, a1);
            ret(f, SysError::Ok, 0)
        }
        kop::TLB_DONE => {
            let done = pc.tlb.borrow_mut().complete(a0);
            match done {
                Some((id, t0)) => {
                    let cycles = crate::arch::cpu::rdtsc().wrapping_sub(t0);
                    pc.sched.borrow_mut().end_wait(id, SysError::Ok, cycles);
                    ret(f, SysError::Ok, cycles)
                }
                None => ret(f, SysError::NotFound, 0),
            }
        }
        _ => ret(f, SysError::BadArgument, 0),
    }
}

/// [`kop::IRQ_ROUTE`].
fn irq_route(pc: &PerCore, f: &mut TrapFrame, gsi: u64, core: u64, vector: u64) {
    use crate::arch::ioapic::gsi_signal;
    let ioapics = pc.ioapics.borrow();
    if ioapics.is_empty() {
        return ret(f, SysError::NotFound, 0);
    }
    let (Ok(gsi), Ok(vector)) = (u32::try_from(gsi), u8::try_from(vector)) else {
        return ret(f, SysError::BadArgument, 0);
    };
    if !crate::irq::is_device_vector(u32::from(vector)) {
        return ret(f, SysError::BadArgument, 0);
    }
    let dest = pc
        .mesh
        .get()
        .zip(u32::try_from(core).ok())
        .and_then(|(m, c)| m.apic_id(pc, c))
        .or_else(|| (core == u64::from(pc.core_id)).then_some(pc.apic_id));
    let Some(dest) = dest else {
        return ret(f, SysError::BadArgument, 0);
    };
    let signal = gsi_signal(gsi, &pc.isa_overrides.borrow());
    match ioapics.iter().find(|a| a.handles(gsi)) {
        Some(a) => match a.route(gsi, vector, dest, signal) {
            Ok(()) => ret(f, SysError::Ok, u64::from(gsi)),
            Err(_) => ret(f, SysError::BadArgument, 0),
        },
        None => ret(f, SysError::NotFound, 0),
    }
}

/// A spanned [`kop::SPAWN`]: dispatcher `id` (not yet run) takes the shared table whose
/// identity is at `va` as its capability window.
fn span_window(pc: &PerCore, f: &mut TrapFrame, id: u64, va: u64) {
    let Some(words) = read_words::<5>(pc, va) else {
        return ret(f, SysError::BadAddress, 0);
    };
    let identity = caps::abi::CapIdentity::from_words(words);
    let cap = match Capability::try_from(&identity) {
        Ok(c) => c,
        Err(e) => return cap_err(f, e),
    };
    let Some((id, program)) = u32::try_from(id).ok().and_then(|id| {
        let sched = pc.sched.borrow();
        let d = sched.by_id(id)?;
        (d.runs == 0).then_some((id, d.caps?))
    }) else {
        return ret(f, SysError::NotFound, 0);
    };
    match crate::capspace::adopt_window(&program, cap) {
        Ok(pt) => match pc.sched.borrow_mut().relink_window(id, pt) {
            Ok(()) => ret(f, SysError::Ok, 0),
            Err(e) => {
                log::warn!("dispatcher {id}: shared window not linked: {e:?}");
                ret(f, SysError::NoResources, 0)
            }
        },
        // If its own table went, so did its mapping: no window rather than a stale one.
        Err(e) => cap_err(f, e),
    }
}
