//! User mode and isolation: a user program on every core; programs that touch kernel
//! memory, write unmapped memory or run privileged instructions are killed while the core
//! and every other program go on; thousands of random syscalls leave the kernel running.

use integration_tests::{boot, machine, Run};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(180);
const CORES: u32 = 4;

fn run_probe(name: &str, mode: &str) -> Run {
    let run = boot(name, &machine(CORES), &[("run", mode)], LIMIT);
    run.assert_success().assert_lacks("PANIC");
    let ready = run.ready_line().to_string();
    // The monitors were still running after the probes ended: they reported in, and the
    // ready line is only printed once every probe is gone.
    assert!(
        ready.contains(&format!("monitors={CORES}/{CORES}")),
        "[{name}] every monitor should be up: `{ready}`"
    );
    run.assert_lacks("still running");
    run
}

#[test]
fn a_user_program_runs_on_every_core() {
    let run = run_probe("user-hello", "probe hello");
    for core in 0..CORES {
        run.assert_contains(&format!("monitor alive on core {core}"))
            .assert_contains(&format!("probe: hello from core {core}"));
    }
}

#[test]
fn reading_kernel_memory_kills_only_the_program() {
    let run = run_probe("user-kernel-read", "probe kernel-read");
    for core in 0..CORES {
        run.assert_contains(&format!(
            "core {core}: program `probe` (dispatcher 1) killed: page fault at address 0xffff800000000000 (protection violation, read; error code 0x5"
        ));
    }
    run.assert_lacks("ERROR read kernel memory");
}

#[test]
fn writing_unmapped_memory_kills_only_the_program() {
    let run = run_probe("user-null-write", "probe null-write");
    for core in 0..CORES {
        run.assert_contains(&format!(
            "core {core}: program `probe` (dispatcher 1) killed: page fault at address 0x0 (page not present, write; error code 0x6"
        ));
    }
    run.assert_lacks("ERROR wrote address 0");
}

#[test]
fn privileged_instruction_kills_only_the_program() {
    let run = run_probe("user-privileged", "probe privileged");
    for core in 0..CORES {
        run.assert_contains(&format!(
            "core {core}: program `probe` (dispatcher 1) killed: general protection fault"
        ));
    }
    run.assert_lacks("ERROR executed hlt");
}

#[test]
fn random_syscalls_leave_the_kernel_running() {
    let run = run_probe("user-fuzz", "probe fuzz 20000");
    for core in 0..CORES {
        run.assert_contains(&format!("probe: fuzz on core {core}: 20000 syscalls"));
    }
}

#[test]
fn programs_are_preempted_and_resumed() {
    let run = run_probe("user-spin", "probe spin 300");
    for core in 0..CORES {
        run.assert_contains(&format!("probe: spun on core {core} through preemption"));
    }
}

#[test]
fn a_fault_goes_to_the_programs_fault_handler() {
    let run = run_probe("user-fault-handler", "probe fault-handler");
    for core in 0..CORES {
        run.assert_contains(&format!("probe: resumed after the fault on core {core}"));
    }
    run.assert_contains("probe: fault handler caught vector 14 at address 0x8")
        .assert_lacks("killed");
}

#[test]
fn capabilities_guard_memory_and_revoke_removes_mappings() {
    let run = run_probe("user-caps", "probe caps");
    for core in 0..CORES {
        run.assert_contains(&format!(
            "probe: caps on core {core}: all checks passed; touching the revoked mapping"
        ));
    }
    run.assert_contains("probe: revoked mapping gone: fault vector 14 at address 0x600000001000")
        .assert_lacks("FAILED");
}

#[test]
fn address_spaces_are_made_of_capabilities_the_program_can_extend() {
    let run = run_probe("user-vspace", "probe vspace");
    for core in 0..CORES {
        run.assert_contains(&format!(
            "probe: vspace on core {core}: all checks passed; touching the page under the deleted PD"
        ));
    }
    run.assert_contains("probe: vspace on core 0: page CNode holds")
        .assert_contains(
            "probe: page under the deleted PD gone: fault vector 14 at address 0x1900000000",
        )
        .assert_lacks("FAILED")
        .assert_lacks("killed");
}

#[test]
fn lrpc_calls_reach_the_monitor_on_every_core() {
    let run = run_probe("user-lrpc", "probe lrpc 500");
    for core in 0..CORES {
        run.assert_contains(&format!(
            "probe: lrpc on core {core}: 500 calls to the monitor answered"
        ))
        .assert_contains(&format!(
            "probe: lrpc on core {core}: capability transferred (Frame, 8192 bytes)"
        ))
        .assert_contains(&format!("\"kind\":\"lrpc_rtt\",\"core\":{core},"));
    }
    run.assert_lacks("FAILED");
}

#[test]
fn user_level_threads_are_preempted_yield_and_join() {
    let run = run_probe("user-threads", "probe threads");
    for core in 0..CORES {
        run.assert_contains(&format!(
            "probe: threads on core {core}: 4 preempted + 4 yielding threads joined, results ok"
        ));
    }
    run.assert_lacks("FAILED").assert_lacks("killed");
}

#[test]
fn system_calls_also_work_through_the_int_gate() {
    // `syscall=int`: programs enter the kernel with `int 0x80` (what the CPU driver chooses
    // where `syscall` does not reach it, as under a PVM hypervisor), LRPC included.
    let name = "user-int-gate";
    let cfg = [("run", "probe lrpc 300"), ("syscall", "int")];
    let run = boot(name, &machine(CORES), &cfg, LIMIT);
    run.assert_success()
        .assert_lacks("PANIC")
        .assert_lacks("FAILED")
        .assert_lacks("killed")
        .assert_contains("system calls through int 0x80");
    for core in 0..CORES {
        run.assert_contains(&format!(
            "probe: lrpc on core {core}: 300 calls to the monitor answered"
        ))
        .assert_contains(&format!("\"kind\":\"null_syscall\",\"core\":{core},"));
    }
}

#[test]
fn smep_and_smap_are_on_where_the_cpu_has_them() {
    // QEMU's `max` CPU model has SMEP and SMAP (its default model has neither): the kernel
    // never touches user pages through user addresses, so random syscalls with wild
    // pointers and capability-built address spaces work with both on.
    let name = "user-smep-smap";
    let mut m = machine(CORES);
    m.cpu = Some("max".into());
    let run = boot(name, &m, &[("run", "probe fuzz 5000")], LIMIT);
    run.assert_success()
        .assert_lacks("PANIC")
        .assert_contains("SMEP on, SMAP on");
    for core in 0..CORES {
        run.assert_contains(&format!("probe: fuzz on core {core}: 5000 syscalls"));
    }
}
