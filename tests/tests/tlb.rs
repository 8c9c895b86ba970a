//! TLB shootdown in a program spanning cores, at 4 and at 32 cores: readers on every other
//! core keep reading a page of the shared capability window while the owner unmaps it with
//! each protocol (IPI, unicast, broadcast, package multicast, NUMA-aware multicast) and
//! reuses the frame at once; after every unmap each reader's next read faults and none sees
//! the reused frame. Wrong unmaps and spans are refused and the system goes on.

use integration_tests::{boot_system, numa4_machine, Run};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(420);

fn run(name: &str, cores: u32, cfg: &[(&str, &str)]) -> Run {
    let r = boot_system(name, &numa4_machine(cores), cfg, LIMIT);
    r.assert_lacks("STALE").assert_lacks("FAILED");
    r
}

fn readers(cores: u32, passes: u32) {
    let name = format!("tlb-readers-{cores}");
    let args = format!("probe tlb-test {passes}");
    let r = run(&name, cores, &[("run@0", &args)]);
    let unmaps = 5 * passes;
    r.assert_contains(&format!("tlb-test: readers spanned to cores 1..{cores}"))
        .assert_contains(&format!(
            "tlb-test: PASS: {unmaps} unmaps with frame reuse, readers on {} cores, no stale read",
            cores - 1
        ));
    for (i, p) in ["ipi", "unicast", "broadcast", "multicast", "numa"]
        .iter()
        .enumerate()
    {
        r.assert_contains(&format!("tlb-test: round {} ({p}, pass 1)", i + 1));
    }
    // Every spanned reader ended cleanly.
    let ended = r
        .lines_with("dispatcher 1 (probe) exited with status 0")
        .count();
    assert!(
        ended >= cores as usize,
        "[{name}] {ended} probes ended with status 0, expected {cores}"
    );
}

#[test]
fn shootdown_readers_4() {
    readers(4, 2);
}

#[test]
fn shootdown_readers_32() {
    readers(32, 1);
}

#[test]
fn bad_unmaps_refused_4() {
    let r = run("tlb-bad-4", 4, &[("run@2", "probe tlb-bad")]);
    r.assert_contains("tlb-bad: unknown protocol: refused (Err(Sys(BadArgument)))")
        .assert_contains("tlb-bad: entry beyond the table: refused")
        .assert_contains("tlb-bad: empty entry: refused")
        .assert_contains("tlb-bad: span to a missing core: refused (Err(NoSuchCore))")
        .assert_contains("tlb-bad: span to its own core: refused (Err(NoSuchCore))")
        .assert_contains("tlb-unmap-other on core 0: unmap of the shared window: Err(Cap(")
        .assert_contains("tlb-bad: the owner's unmap still works")
        .assert_contains("tlb-bad: PASS");
}

#[test]
fn window_outlives_its_owner_4() {
    // A program on core 2 keeps the run going while the orphaned reader notices.
    let r = run(
        "tlb-orphan-4",
        4,
        &[("run@0", "probe tlb-orphan"), ("run@2", "probe spin 3000")],
    );
    r.assert_contains("tlb-orphan: owner on core 0 ends before its reader")
        .assert_contains("of an ending program kept: still linked on cores [1]")
        .assert_contains("tlb-orphan-reader on core 1: window gone after its owner ended");
}
