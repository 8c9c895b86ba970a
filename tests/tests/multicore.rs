//! Multicore bring-up: every enabled core boots with its own CPU driver state, for several
//! core counts, NUMA layouts, disabled MADT entries, and both firmwares.

use integration_tests::{boot, machine, Firmware, Machine};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(240);

fn boots_all(name: &str, m: &Machine, nodes: u32) {
    let run = boot(name, m, &[], LIMIT);
    run.assert_success()
        .assert_lacks("did not start")
        .assert_lacks("did not finish set-up");
    let ready = run.ready_line();
    let want = format!("cores={0}/{0} nodes={nodes} ", m.smp);
    assert!(
        ready.contains(&want),
        "[{name}] expected `{want}` in `{ready}`"
    );
    let n = m.smp - 1;
    run.assert_contains(&format!("IPI round: {n}/{n} cores took a notification IPI"));
    // Core 0 has a URPC channel to every other core and a round trip worked on each.
    assert!(
        ready.contains(&format!("urpc={n}/{n} ")),
        "[{name}] expected a URPC round trip with every other core: `{ready}`"
    );
    run.assert_contains(&format!(
        "URPC: core 0 has a channel to {n} cores; round trip ok on {n}"
    ));
    // Every AP set up its own state and wrote on the console under its own core number.
    for core in 1..m.smp {
        run.assert_contains(&format!("memory: core {core:2} gets"));
    }
}

#[test]
fn smp1() {
    boots_all("smp1", &machine(1), 1);
}

#[test]
fn smp2() {
    boots_all("smp2", &machine(2), 1);
}

#[test]
fn smp4() {
    boots_all("smp4", &machine(4), 1);
}

#[test]
fn smp8() {
    boots_all("smp8", &machine(8), 1);
}

#[test]
fn smp32_four_numa_nodes_default_machine() {
    let m = Machine {
        mem_mb: 2048,
        numa_nodes: 4,
        ..machine(32)
    };
    boots_all("smp32-numa4", &m, 4);
}

#[test]
fn numa_nodes_get_local_memory() {
    let m = Machine {
        mem_mb: 2048,
        numa_nodes: 4,
        ..machine(8)
    };
    let run = boot("smp8-numa4", &m, &[], LIMIT);
    run.assert_success();
    assert!(run.ready_line().contains("cores=8/8 nodes=4 "));
    // QEMU puts cores 2i and 2i+1 in node i; each core's pool comes from its own node.
    for core in 0..8u32 {
        let node = core / 2;
        run.assert_contains(&format!("memory: core {core:2} gets"));
        let line = run
            .lines_with(&format!("memory: core {core:2} gets"))
            .next()
            .unwrap()
            .to_string();
        assert!(
            line.ends_with(&format!("from node {node}")),
            "core {core} should get memory from node {node}: `{line}`"
        );
    }
}

#[test]
fn disabled_madt_entries_are_not_started() {
    let m = Machine {
        maxcpus: Some(8),
        ..machine(4)
    };
    let run = boot("smp4-maxcpus8", &m, &[], LIMIT);
    run.assert_success().assert_lacks("did not start");
    let ready = run.ready_line();
    assert!(
        ready.contains("cores=4/4 ") && ready.contains("madt_entries=8"),
        "expected 4 of 4 enabled cores started and 8 MADT entries: `{ready}`"
    );
}

#[test]
fn uefi_smp8() {
    let m = Machine {
        firmware: Firmware::Uefi,
        ..machine(8)
    };
    boots_all("uefi-smp8", &m, 1);
}
