//! The shell in batch mode (what `cargo xtask run --batch` does): every command with good
//! and bad input, on 4 cores. A batch powers the machine off at its end, cleanly if every
//! command succeeded and with a failed status otherwise; `shutdown` ends it early and
//! `reboot` resets the machine (QEMU, started with `-no-reboot`, then exits).

use integration_tests::{boot, machine, Machine, Run};
use std::time::Duration;
use xtask::qemu::Exit;

const LIMIT: Duration = Duration::from_secs(300);

fn machine4() -> Machine {
    let mut m = machine(4);
    m.numa_nodes = 4;
    m
}

fn batch(name: &str, cmds: &str) -> Run {
    let args = format!("shell --batch {cmds}");
    let r = boot(name, &machine4(), &[("run@0", &args)], LIMIT);
    r.assert_lacks("PANIC");
    r
}

#[test]
fn shell_commands() {
    let r = batch(
        "shell-commands",
        "help; echo hello shell; cores; ps; mem; caps monitor; skb core(C,A,P,N); \
         spawn probe hello --core 1; spawn probe hello --all; lspci; log info",
    );
    r.assert_success()
        .assert_contains("shell: $ help")
        .assert_contains("list the commands")
        .assert_contains("shell: hello shell")
        .assert_contains("core  apic  package  node  monitor")
        .assert_contains("shell: 4 cores")
        .assert_contains("programs")
        .assert_contains("free MiB")
        .assert_contains("shell: monitor (0:0):")
        // Another core's monitor answers for its own, a page of capabilities at a time.
        .assert_contains("shell: monitor (3:0):")
        .assert_contains("  Kernel")
        .assert_contains("  Frame ")
        .assert_contains("shell: core(3,")
        .assert_contains("shell: 4 solutions")
        .assert_contains("shell: started probe on core 1 as 1:")
        .assert_contains("shell: started probe on core 3 as 3:")
        .assert_contains("Host bridge [0600]: 8086:29c0")
        .assert_contains("shell: log level info")
        .assert_contains("shell: batch done: 11 commands, 0 failed");
    // The page CNode: the tables and Frames the monitor's address space is made of.
    assert!(
        r.lines_with("VNodePml4")
            .any(|l| l.split_whitespace().any(|w| w == "5.0")),
        "`caps monitor` lists page CNode slot 5.0, the top-level table"
    );
    // `spawn --all` started one probe on every core.
    let hello = r.lines_with("probe: hello from core").count();
    assert_eq!(hello, 5, "one probe on core 1, then one on each of 4 cores");
}

#[test]
fn shell_bad_input_is_reported_and_the_batch_fails() {
    let r = batch(
        "shell-bad-input",
        "bogus; cores extra; caps; caps nosuch; spawn nosuch; spawn probe --core 99; \
         kill 0x900000001; kill zz; wait 0x900000001; wait zz; log loud; bench foo; \
         bench urpc now; skb foo((; dmesg 99; dmesg x; echo \"open",
    );
    assert_eq!(
        *r.exit(),
        Exit::KernelFailure,
        "a batch with failed commands ends with a failed status"
    );
    r.assert_contains("shell: error: unknown command `bogus`")
        .assert_contains("shell: $ cores extra")
        .assert_contains("shell: error: caps: no program `nosuch`")
        .assert_contains("shell: error: spawn nosuch on core 0: NotFound")
        .assert_contains("shell: error: spawn probe on core 99: NoSuchCore")
        .assert_contains("shell: $ kill 0x900000001")
        .assert_contains("shell: $ kill zz")
        .assert_contains("shell: $ log loud")
        .assert_contains("shell: $ bench foo")
        .assert_contains("shell: $ bench urpc now")
        .assert_contains("shell: error: Query(")
        .assert_contains("shell: $ wait 0x900000001")
        .assert_contains("shell: $ wait zz")
        .assert_contains("shell: error: dmesg: core 99: NoSuchCore")
        .assert_contains("shell: error: dmesg: bad argument `x`")
        .assert_contains("shell: batch done: 17 commands, 17 failed");
    assert_eq!(r.lines_with("shell: error:").count(), 17);
}

/// `dmesg` reads back what each core's CPU driver logged (kernel lines and program output,
/// kept in memory on that core), also after the screen went to the console driver.
#[test]
fn shell_dmesg_shows_each_cores_kernel_log() {
    let r = batch(
        "shell-dmesg",
        "spawn probe hello --core 2; wait 0x200000001; dmesg 2; dmesg",
    );
    r.assert_success()
        // Core 2's log: the probe's output and the kernel's line about its end.
        .assert_contains("shell: core 2: kernel log bytes 0..")
        .assert_contains("shell: [c02 INFO ] probe: probe: hello from core 2")
        .assert_contains("shell: [c02 INFO ] dispatcher 1 (probe) exited with status 0")
        // Every core's newest lines, each from its own core.
        .assert_contains("shell: [c03 INFO ] monitor: monitor alive on core 3")
        .assert_contains("shell: batch done: 4 commands, 0 failed");
    for c in 0..4 {
        r.assert_contains(&format!("shell: core {c}: kernel log bytes "));
    }
    // Each kept line names the core that wrote it.
    let core2: Vec<&str> = r
        .lines_with("shell: ")
        .skip_while(|l| !l.contains("shell: core 2: kernel log bytes 0.."))
        .skip(1)
        .take_while(|l| !l.contains("shell: $ dmesg"))
        .collect();
    assert!(
        core2.len() >= 3 && core2.iter().all(|l| l.contains("shell: [c02 ")),
        "core 2's log holds core 2's lines only: {core2:#?}"
    );
}

#[test]
fn shell_wait_reports_how_a_domain_ended() {
    let r = batch(
        "shell-wait",
        "spawn probe hello --core 2; wait 0x200000001; spawn probe privileged --core 2; \
         wait 0x200000002; wait 0x200000001",
    );
    assert_eq!(
        *r.exit(),
        Exit::KernelFailure,
        "a failed `wait` fails the batch"
    );
    r.assert_contains("shell: 2:1 exited with status 0")
        .assert_contains("shell: error: 2:2 was killed; see the log above")
        .assert_contains("shell: batch done: 5 commands, 1 failed");
    assert_eq!(r.lines_with("shell: 2:1 exited with status 0").count(), 2);
}

#[test]
fn shell_kill_bench_and_shutdown() {
    let r = batch(
        "shell-kill-bench",
        "spawn probe spin 100000 --core 2; kill 0x200000001; ps; bench lrpc; bench tlb; \
         shutdown; echo never",
    );
    r.assert_success()
        .assert_contains("core 2: dispatcher 1 killed by request")
        .assert_contains("shell: killed 2:1")
        .assert_contains("\"kind\":\"lrpc_rtt\"")
        .assert_contains("shell: LRPC benchmark")
        .assert_contains("tlb-bench: protocol=numa cores=4")
        .assert_contains("shell: TLB shootdown benchmark")
        .assert_contains("shell: batch done: 6 commands, 0 failed")
        .assert_lacks("shell: never");
}

#[test]
fn shell_bench_urpc_measures_a_package_neighbour_and_another_node() {
    // 4 cores on 2 sockets (nodes): the benchmark runs on core 3, its package neighbour is
    // core 2 and core 0 is on the other node.
    let m = Machine {
        numa_nodes: 2,
        ..machine(4)
    };
    let r = boot(
        "shell-bench-urpc",
        &m,
        &[("run@0", "shell --batch bench urpc")],
        LIMIT,
    );
    r.assert_lacks("PANIC")
        .assert_success()
        .assert_contains(
            "\"kind\":\"urpc_rtt\",\"core\":3,\"peer\":2,\"relation\":\"same package\",\"count\":1000",
        )
        .assert_contains(
            "\"kind\":\"urpc_rtt\",\"core\":3,\"peer\":0,\"relation\":\"other node\",\"count\":1000",
        )
        .assert_contains("shell: URPC benchmark")
        .assert_lacks("urpc-bench: error")
        .assert_lacks("urpc-echo on core");
}

#[test]
fn shutdown_without_the_exit_device_powers_off_through_acpi_s5() {
    // Without `qemu_exit` the CPU driver powers off as on a real machine: ACPI S5 through
    // the FADT's PM1a_CNT (Q35: port 0x604) with `\_S5_`'s sleep type; QEMU then ends.
    let r = boot(
        "shell-acpi-s5",
        &machine(2),
        &[
            ("qemu_exit", "0"),
            ("shell", "none"),
            ("run@0", "shell --batch echo going; shutdown"),
        ],
        LIMIT,
    );
    r.assert_lacks("PANIC")
        .assert_contains("ACPI power: S5 through PM1a_CNT 0x604 <- 0x2000")
        .assert_contains("shell: going")
        .assert_contains("power-off through ACPI S5: PM1a_CNT 0x604 <- 0x2000")
        .assert_lacks("ACPI S5 did not power the machine off");
    assert!(
        matches!(r.exit(), Exit::Other(Some(0))),
        "QEMU ends by itself when the guest powers off: {:?}",
        r.exit()
    );
}

#[test]
fn shell_reboot_resets_the_machine() {
    let r = batch("shell-reboot", "echo before; reboot; echo never");
    r.assert_contains("shell: before")
        .assert_contains("reset requested by the monitor")
        .assert_lacks("shell: never");
    assert!(
        matches!(r.exit(), Exit::Other(_)),
        "a reset ends QEMU (-no-reboot), not the exit device: {:?}",
        r.exit()
    );
}
