//! Boot foundation: both firmwares boot, and faults end the run with a failure status and a
//! useful message.

use integration_tests::{boot, machine, Firmware};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn bios_boot_reaches_ready() {
    let run = boot("bios-smp1", &machine(1), &[], LIMIT);
    run.assert_success()
        .assert_contains("[c00 INFO ] multikernel booting")
        .assert_contains("syscall MSRs loaded");
    run.ready_line();
}

#[test]
fn uefi_boot_reaches_ready() {
    let mut m = machine(4);
    m.firmware = Firmware::Uefi;
    let run = boot("uefi-smp4", &m, &[], LIMIT);
    run.assert_success().assert_contains("cores=4/4");
    run.ready_line();
}

#[test]
fn panic_exits_with_failure_and_location() {
    let run = boot("inject-panic", &machine(1), &[("inject", "panic")], LIMIT);
    run.assert_kernel_failure()
        .assert_contains("kernel panic on core 0 at kernel/src/inject.rs")
        .assert_contains("injected panic")
        .assert_contains("backtrace:")
        .assert_lacks("system ready");
}

#[test]
fn page_fault_reports_address_and_error_code() {
    let run = boot(
        "inject-page-fault",
        &machine(1),
        &[("inject", "page-fault")],
        LIMIT,
    );
    run.assert_kernel_failure().assert_contains(
        "page fault at address 0x7fffdeadb000 (error code 0x0: page not present, read, kernel)",
    );
}

#[test]
fn double_fault_runs_on_its_own_stack() {
    let run = boot(
        "inject-double-fault",
        &machine(1),
        &[("inject", "double-fault")],
        LIMIT,
    );
    run.assert_kernel_failure()
        .assert_contains("CPU exception 8 (double fault)");
}

#[test]
fn invalid_opcode_is_reported() {
    let run = boot(
        "inject-ud2",
        &machine(1),
        &[("inject", "invalid-opcode")],
        LIMIT,
    );
    run.assert_kernel_failure()
        .assert_contains("CPU exception 6 (invalid opcode)");
}

#[test]
fn bad_boot_config_is_reported_and_ignored() {
    let run = boot(
        "bad-boot-cfg",
        &machine(1),
        &[("no_such_key", "1"), ("log", "loud"), ("inject", "meteor")],
        LIMIT,
    );
    run.assert_success()
        .assert_contains("boot.cfg: ignored: UnknownKey(\"no_such_key\")")
        .assert_contains("boot.cfg: ignored: BadValue(\"log\", \"loud\")")
        .assert_contains("boot.cfg: ignored: BadValue(\"inject\", \"meteor\")");
    run.ready_line();
}
