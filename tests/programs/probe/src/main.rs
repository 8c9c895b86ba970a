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
//! * `spin MS`: compute for about MS milliseconds of timer ticks (preemption test).
#![no_std]
#![no_main]

use libos::println;
use libos::syscall::raw_syscall;

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
                    r % 12
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
