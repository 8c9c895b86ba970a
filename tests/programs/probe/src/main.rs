//! A user program that misbehaves on purpose, started on every core by the isolation tests
//! (`run=probe MODE` in boot.cfg). Modes:
//!
//! * `hello`: print and exit 0;
//! * `kernel-read`: read kernel memory (must be killed by a page fault);
//! * `null-write`: write to address 0 (killed);
//! * `privileged`: execute `hlt` in ring 3 (killed by a general protection fault);
//! * `fuzz N`: make N syscalls with random numbers and arguments, including wild
//!   pointers, and report how many failed (the kernel must survive and answer each);
//! * `fault-handler`: install a fault handler, fault, skip the faulting instruction and go on;
//! * `caps`: capability invocations: forged addresses, mapping without a capability, retype,
//!   map, and revoke removing the mappings made from derived capabilities;
//! * `vspace`: the address space is made of the capabilities in the page CNode; extend it
//!   with a PD, PT and Frame of its own, and delete the PD (see `vspace`);
//! * `lrpc N`: N LRPC calls to the core's monitor, checked, then the null-syscall and LRPC
//!   round-trip costs as `BENCH-JSON` lines;
//! * `urpc-bench N` / `urpc-echo NAME` (see `urpc`): user-level URPC round trips to a core
//!   of the same package and to one of the farthest node, as `BENCH-JSON` lines;
//! * `spin MS`: compute for about MS milliseconds of timer ticks (preemption test);
//! * `threads`: preemptive and yielding user-level threads, joined, and their error cases;
//! * monitor modes (see `mon`): `spawn-all`, `name-race`, `doomed`, `stale-check CORE`,
//!   `garbage CORE`, `xrevoke`, `cap-sink`, `bind-server NAME CLIENTS`,
//!   `bind-client NAME COUNT`, `skb-query N GOAL`, `skb-bench N`, `tree-race`, `spawn-many N`;
//! * TLB shootdown modes (see `tlb`): `tlb-test ROUNDS`, `tlb-bench COUNTS`, and the
//!   `tlb-bad`, `tlb-orphan`, and the spanned dispatchers `tlb-reader`, `tlb-idle`,
//!   `tlb-unmap-other`, `tlb-orphan-reader`.
#![no_std]
#![no_main]

extern crate alloc;

mod mon;
mod threads;
mod tlb;
mod urpc;
mod vspace;

use libos::println;
use libos::syscall::raw_syscall;
use libos::time::rdtsc;

libos::entry!(main);

/// Length of the `mov rax, [reg]` the fault-handler mode skips (REX.W 8B /r).
const FAULTING_INSN_LEN: u64 = 3;

fn xorshift(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

fn main() -> i32 {
    let core = libos::core_id();
    let args = libos::args();
    let (mode, rest) = args.split_once(' ').unwrap_or((args, ""));
    match mode {
        "hello" => {
            println!("probe: hello from core {core}");
            0
        }
        "kernel-read" => {
            println!("probe: core {core} reading kernel memory");
            // SAFETY: deliberately unsound: the kernel must refuse (page fault, killed).
            let v = unsafe { core::ptr::read_volatile(0xffff_8000_0000_0000 as *const u64) };
            println!("probe: ERROR read kernel memory on core {core}: {v:#x}");
            1
        }
        "null-write" => {
            println!("probe: core {core} writing address 0");
            // SAFETY: deliberately unsound: the page is unmapped, the program is killed.
            unsafe { core::ptr::write_volatile(core::ptr::null_mut::<u64>(), 1) };
            println!("probe: ERROR wrote address 0 on core {core}");
            1
        }
        "privileged" => {
            println!("probe: core {core} executing hlt in ring 3");
            // SAFETY: deliberately unsound: `hlt` in ring 3 raises #GP, the program is killed.
            unsafe { core::arch::asm!("hlt") };
            println!("probe: ERROR executed hlt on core {core}");
            1
        }
        "fault-handler" => {
            libos::set_fault_handler(|info| {
                println!(
                    "probe: fault handler caught vector {} at address {:#x}",
                    info.vector, info.address
                );
                // Skip the faulting 3-byte `mov` and go on.
                let mut regs = info.regs;
                regs.rip += FAULTING_INSN_LEN;
                libos::FaultAction::Resume(regs)
            });
            // SAFETY: deliberately unsound: the read faults; the handler skips it.
            unsafe {
                core::arch::asm!("mov rax, qword ptr [rcx]", in("rcx") 8u64, out("rax") _);
            }
            println!("probe: resumed after the fault on core {core}");
            0
        }
        "caps" => caps_probe(core),
        "vspace" => vspace::probe(core),
        "spawn-all" => mon::spawn_all(core),
        "name-race" => mon::name_race(core),
        "doomed" => mon::doomed(core),
        "stale-check" => mon::stale_check(core, rest.trim().parse().unwrap_or(1)),
        "garbage" => mon::garbage(core, rest.trim().parse().unwrap_or(1)),
        "xrevoke" => mon::xrevoke(core),
        "irq-route" => mon::irq_route(core),
        "cap-sink" => mon::cap_sink(core),
        "threads" => threads::threads(core),
        "tlb-test" => tlb::test(core, rest),
        "tlb-reader" => tlb::reader(core),
        "tlb-idle" => tlb::idle(core),
        "tlb-bench" => tlb::bench(core, rest),
        "tlb-bad" => tlb::bad(core),
        "tlb-unmap-other" => tlb::unmap_other(core),
        "tlb-orphan" => tlb::orphan(core),
        "tlb-orphan-reader" => tlb::orphan_reader(core),
        "bind-server" => mon::bind_server(core, rest),
        "bind-client" => mon::bind_client(core, rest),
        "skb-query" => mon::skb_query(core, rest),
        "skb-bench" => mon::skb_bench(core, rest),
        "tree-race" => mon::tree_race(core),
        "spawn-many" => mon::spawn_many(core, rest),
        "lrpc" => lrpc_probe(core, rest.trim().parse().unwrap_or(1000)),
        "urpc-bench" => urpc::bench(core, rest.trim().parse().unwrap_or(1000)),
        "urpc-echo" => urpc::echo(core, rest.trim()),
        "fuzz" => {
            let n: u64 = rest.trim().parse().unwrap_or(1000);
            let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ ((core as u64 + 1) * 0x1234_5678_9abc_def1);
            let mut failed = 0u64;
            for _ in 0..n {
                let r = xorshift(&mut seed);
                // Mostly numbers near the real ones, sometimes anything; never Exit or
                // Yield-forever (Exit would end the test early).
                let mut nr = if r.is_multiple_of(4) {
                    xorshift(&mut seed)
                } else {
                    r % 14
                };
                if nr == abi::Syscall::Exit as u64 {
                    nr = 0;
                }
                let mut arg = || match xorshift(&mut seed) % 5 {
                    0 => 0,
                    1 => xorshift(&mut seed),
                    2 => 0xffff_8000_0000_0000 + (xorshift(&mut seed) & 0xffff_ffff),
                    3 => xorshift(&mut seed) & 0xffff,
                    _ => 0x40_0000 + (xorshift(&mut seed) & 0xf_ffff),
                };
                let (a, b, c, d, e) = (arg(), arg(), arg(), arg(), arg());
                if nr == abi::Syscall::SetUpcall as u64 {
                    continue; // would replace the runtime's own upcall entry
                }
                let (err, _) = raw_syscall(nr, a, b, c, d, e);
                if err != 0 {
                    failed += 1;
                }
            }
            println!("probe: fuzz on core {core}: {n} syscalls, {failed} refused, kernel alive");
            0
        }
        "spin" => {
            let ms: u64 = rest.trim().parse().unwrap_or(100);
            let start = libos::dispatcher_frame().ticks;
            let mut x = 0u64;
            // Ticks are 10 ms; the frame's tick count is refreshed on every entry.
            while libos::dispatcher_frame().ticks < start + ms / 10 {
                x = x.wrapping_add(1);
                core::hint::spin_loop();
            }
            println!("probe: spun on core {core} through preemption ({x} iterations)");
            0
        }
        other => {
            println!("probe: unknown mode `{other}`");
            2
        }
    }
}

/// The `caps` mode: capability invocations, good and bad.
fn caps_probe(core: u32) -> i32 {
    use caps::abi::{CapError, CapType, Rights};
    use libos::cap::{self, root_slot};
    let ram = root_slot(abi::ROOT_SLOT_RAM);
    let pt = root_slot(abi::ROOT_SLOT_PT);
    let mut bad = 0;
    let mut check = |what: &str, ok: bool| {
        if !ok {
            println!("probe: caps on core {core}: FAILED: {what}");
            bad += 1;
        }
    };
    // Our RAM.
    let id = cap::identify(ram);
    check(
        "identify RAM",
        matches!(id, Ok(i) if i.cap_type == CapType::Ram as u8 && i.bytes == 1 << 20),
    );
    // Forged addresses and operations.
    check(
        "empty slot",
        cap::identify(root_slot(77)) == Err(CapError::EmptySlot),
    );
    let (e, code) = cap::invoke_raw(0xdead_beef, 6, [0; 4]);
    check("forged address refused", e != 0 && code != 0);
    let (e, _) = cap::invoke_raw(root_slot(1).pack(), 99, [0; 4]);
    check("unknown operation refused", e != 0);
    // Mapping without a capability for the memory, or with the wrong type.
    check(
        "map from an empty slot",
        cap::map(pt, root_slot(50), 0, 1, Rights::READ | Rights::WRITE, 0)
            == Err(CapError::EmptySlot),
    );
    check(
        "map RAM directly",
        cap::map(pt, ram, 0, 1, Rights::READ | Rights::WRITE, 0) == Err(CapError::WrongType),
    );
    // Retype a frame, map it, use it.
    check(
        "retype frame",
        cap::retype(ram, CapType::Frame, 0, 4096, 1, 10).is_ok(),
    );
    check(
        "retype overlapping",
        cap::retype(ram, CapType::Frame, 0, 4096, 1, 11) == Err(CapError::RetypeConflict),
    );
    check(
        "map frame",
        cap::map(pt, root_slot(10), 0, 1, Rights::READ | Rights::WRITE, 0).is_ok(),
    );
    let page0 = abi::CAP_WINDOW as *mut u64;
    // SAFETY: entry 0 of our page table now maps our frame at CAP_WINDOW.
    unsafe { page0.write_volatile(0x1234) };
    // SAFETY: as above.
    check("frame readable", unsafe { page0.read_volatile() } == 0x1234);
    // A RAM child, a frame derived from it, mapped; revoking the child removes the mapping.
    check(
        "retype RAM child",
        cap::retype(ram, CapType::Ram, 64 << 10, 64 << 10, 1, 11).is_ok(),
    );
    check(
        "retype derived frame",
        cap::retype(root_slot(11), CapType::Frame, 0, 4096, 1, 12).is_ok(),
    );
    check(
        "map derived frame",
        cap::map(pt, root_slot(12), 1, 1, Rights::READ | Rights::WRITE, 0).is_ok(),
    );
    let page1 = (abi::CAP_WINDOW + 4096) as *mut u64;
    // SAFETY: entry 1 maps the derived frame.
    unsafe { page1.write_volatile(0x5678) };
    check("revoke RAM child", cap::revoke(root_slot(11)).is_ok());
    check(
        "derived frame gone",
        cap::identify(root_slot(12)) == Err(CapError::EmptySlot),
    );
    // SAFETY: entry 0 is still mapped (not derived from the revoked child).
    check(
        "unrelated mapping kept",
        unsafe { page0.read_volatile() } == 0x1234,
    );
    if bad != 0 {
        return 1;
    }
    println!("probe: caps on core {core}: all checks passed; touching the revoked mapping");
    libos::set_fault_handler(|info| {
        println!(
            "probe: revoked mapping gone: fault vector {} at address {:#x}",
            info.vector, info.address
        );
        libos::FaultAction::Exit(0)
    });
    // SAFETY: deliberately touching the page whose mapping the revoke removed: it faults.
    let v = unsafe { page1.read_volatile() };
    println!("probe: caps on core {core}: FAILED: revoked mapping still readable ({v:#x})");
    1
}

/// Make an LRPC call with `call` until the monitor takes it: a call refused because the
/// monitor serves another program's is tried again, up to 10 000 refusals in all (counted
/// in `busy`).
fn until_answered<T>(
    busy: &mut u32,
    mut call: impl FnMut() -> Result<T, libos::lrpc::CallError>,
) -> Result<T, libos::lrpc::CallError> {
    loop {
        let r = call();
        if !matches!(r, Err(libos::lrpc::CallError::Unavailable)) || *busy >= 10_000 {
            return r;
        }
        *busy += 1;
        libos::yield_now();
    }
}

/// The `lrpc N` mode: N calls to the monitor through the EndPoint in root slot 3, checked,
/// then the cost of a null syscall and of an LRPC round trip (median cycles, as BENCH-JSON).
fn lrpc_probe(core: u32, n: usize) -> i32 {
    use libos::cap::root_slot;
    use libos::lrpc::{call, CallError};
    let ep = root_slot(abi::ROOT_SLOT_MONITOR_EP);
    // The monitor may not listen yet when this program starts: wait for it.
    let mut tries = 0;
    while call(ep, 1, 0, 0) == Err(CallError::Unavailable) && tries < 1000 {
        libos::yield_now();
        tries += 1;
    }
    // The monitor serves one call at a time: while it serves another program's (the drivers
    // on this core call it too), a call is refused as unavailable and is tried again (at
    // most 10 000 times in all); `answered` gives the outcome and the cycles of the last try.
    let mut busy = 0;
    let mut answered = |a1: u64| {
        let mut dt = 0;
        let r = until_answered(&mut busy, || {
            let t = rdtsc();
            let r = call(ep, 1, a1, 0);
            dt = rdtsc() - t;
            r
        });
        (r, dt)
    };
    for i in 0..n as u64 {
        match answered(i).0 {
            Ok(v) if v == i + 1 => {}
            other => {
                println!("probe: lrpc on core {core}: FAILED: call {i} gave {other:?}");
                return 1;
            }
        }
    }
    // Calls that must fail: not an EndPoint, an empty slot.
    let not_ep = call(root_slot(abi::ROOT_SLOT_RAM), 1, 0, 0);
    let empty = call(root_slot(99), 1, 0, 0);
    if !matches!(not_ep, Err(CallError::Cap(_))) || !matches!(empty, Err(CallError::Cap(_))) {
        println!(
            "probe: lrpc on core {core}: FAILED: bad endpoints accepted ({not_ep:?}, {empty:?})"
        );
        return 1;
    }
    println!("probe: lrpc on core {core}: {n} calls to the monitor answered");
    // Capability transfer: a Frame goes to the monitor, which describes it.
    if let Err(e) = libos::cap::retype(
        root_slot(abi::ROOT_SLOT_RAM),
        caps::abi::CapType::Frame,
        256 << 10,
        8192,
        1,
        40,
    ) {
        println!("probe: lrpc on core {core}: FAILED: retype for transfer: {e:?}");
        return 1;
    }
    let mut reply = [0u8; 24];
    let mut busy = 0;
    let r = until_answered(&mut busy, || {
        libos::lrpc::call_cap(
            ep,
            libos::monitor::op::CAP_ECHO,
            &[],
            root_slot(40),
            &mut reply,
        )
    });
    let w = |i: usize| u64::from_le_bytes(reply[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    match r {
        Ok((0, 24)) if w(1) == caps::abi::CapType::Frame as u64 && w(2) == 8192 => {
            println!("probe: lrpc on core {core}: capability transferred (Frame, 8192 bytes)")
        }
        other => {
            println!(
                "probe: lrpc on core {core}: FAILED: transfer: {other:?} {:?}",
                [w(0), w(1), w(2)]
            );
            return 1;
        }
    }
    // A bad capability to transfer fails the call before the receiver runs.
    if !matches!(
        libos::lrpc::call_cap(
            ep,
            libos::monitor::op::CAP_ECHO,
            &[],
            root_slot(99),
            &mut reply
        ),
        Err(CallError::Cap(_))
    ) {
        println!("probe: lrpc on core {core}: FAILED: transfer of an empty slot accepted");
        return 1;
    }
    let mut samples = alloc::vec![0u64; n.max(1)];
    for s in samples.iter_mut() {
        let t = rdtsc();
        libos::null_syscall();
        *s = rdtsc() - t;
    }
    report("null_syscall", core, &mut samples);
    // Only answered calls count: a refused one (the monitor busy) is tried again.
    for s in samples.iter_mut() {
        *s = answered(0).1;
    }
    report("lrpc_rtt", core, &mut samples);
    0
}

fn report(kind: &str, core: u32, samples: &mut [u64]) {
    report_with(kind, core, "", samples);
}

/// A `BENCH-JSON` line of `samples` (cycles; sorted here); `extra` is more JSON members,
/// each with a leading comma.
fn report_with(kind: &str, core: u32, extra: &str, samples: &mut [u64]) {
    samples.sort_unstable();
    let n = samples.len();
    println!(
        "BENCH-JSON {{\"kind\":\"{kind}\",\"core\":{core}{extra},\"count\":{n},\"min\":{},\"median\":{},\"p99\":{},\"max\":{}}}",
        samples[0],
        samples[n / 2],
        samples[(n * 99 / 100).min(n - 1)],
        samples[n - 1]
    );
}
