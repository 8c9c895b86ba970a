//! Monitors and their agreement protocols, at 4 and at 32 cores: spawning on every core
//! from core 0 and from another core, a name registered on one core resolved on all,
//! concurrent conflicting registrations with one winner everywhere, a dead program's
//! entries removed from every replica, malformed messages dropped, and capability
//! operations across cores (copy, concurrent retype with one winner, revoke removing
//! remote descendants and their mappings).

use integration_tests::{boot_system, machine, Machine, Run};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

/// The machine `cargo xtask run` boots by default at 32 cores (4 NUMA nodes, 2 GiB);
/// one node and 1 GiB at 4.
fn machine_for(cores: u32) -> Machine {
    let mut m = machine(cores);
    if cores >= 16 {
        m.numa_nodes = 4;
        m.mem_mb = 2048;
    }
    m
}

fn run(name: &str, cores: u32, cfg: &[(&str, &str)]) -> Run {
    boot_system(name, &machine_for(cores), cfg, LIMIT)
}

fn spawn_everywhere(cores: u32) {
    let from_other = (cores - 1).to_string();
    let key = format!("run@{from_other}");
    let name = format!("mon-spawn-{cores}");
    let r = run(
        &name,
        cores,
        &[("run@0", "probe spawn-all"), (&key, "probe spawn-all")],
    );
    for from in [0, cores - 1] {
        r.assert_contains(&format!(
            "spawn-all from core {from}: started {cores}/{cores}; bad core Err(NoSuchCore), bad program Err(NotFound), bad name Err(NotFound)"
        ))
        .assert_contains(&format!(
            "spawn-all from core {from}: every hello exited with status 0"
        ));
    }
    // Two hellos on every core (one from each spawner).
    for core in 0..cores {
        let line = format!("probe: hello from core {core}");
        let n = r.lines_with(&line).filter(|l| l.ends_with(&line)).count();
        assert_eq!(
            n,
            2,
            "[{name}] core {core} should have run two spawned programs; its lines:\n{}",
            r.lines_with(&format!("[c{core:02} "))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
}

#[test]
fn spawn_on_every_core_from_core_0_and_another_4() {
    spawn_everywhere(4);
}

#[test]
fn spawn_on_every_core_from_core_0_and_another_32() {
    spawn_everywhere(32);
}

/// Every core registers the same name at once: one winner, the same owner seen on every
/// core, and the name gone everywhere once the winner ends.
fn name_race(cores: u32) {
    let name = format!("mon-race-{cores}");
    let r = run(&name, cores, &[("run", "probe name-race")]);
    let won: Vec<&str> = r.lines_with(": won").collect();
    assert_eq!(won.len(), 1, "[{name}] exactly one winner: {won:?}");
    let lost = r.lines_with("lost (Exists)").count();
    assert_eq!(lost as u32, cores - 1, "[{name}] every other core loses");
    let winner_core = won[0]
        .split("race on core ")
        .nth(1)
        .and_then(|s| s.split(':').next())
        .expect("winner line names its core");
    let owners: Vec<&str> = r
        .lines_with("owner core")
        .map(|l| l.split("owner core ").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(
        owners.len() as u32,
        cores - 1,
        "[{name}] every loser reports the owner"
    );
    let first = owners[0];
    assert!(
        owners.iter().all(|o| *o == first),
        "[{name}] every replica names the same owner: {owners:?}"
    );
    assert!(
        first.starts_with(&format!("{winner_core} ")),
        "[{name}] the owner is the winner: {first} vs core {winner_core}"
    );
    r.assert_contains(&format!(
        "race winner on core {winner_core}: all {} others saw it",
        cores - 1
    ));
    assert_eq!(
        r.lines_with("name gone after the winner ended").count() as u32,
        cores - 1,
        "[{name}] no stale name anywhere after the winner ended"
    );
}

#[test]
fn name_registered_once_resolved_everywhere_one_winner_4() {
    name_race(4);
}

#[test]
fn name_registered_once_resolved_everywhere_one_winner_32() {
    name_race(32);
}

/// A program that registers a name and is then killed leaves no entry on another core's
/// replica; malformed messages to a monitor are dropped and logged while updates go on.
fn stale_and_garbage(cores: u32) {
    let name = format!("mon-stale-garbage-{cores}");
    let target = (cores / 2).to_string();
    let stale = format!("probe stale-check {target}");
    let garbage = format!("probe garbage {target}");
    let r = run(&name, cores, &[("run@0", &stale), ("run@1", &garbage)]);
    r.assert_contains(&format!(
        "stale-check on core 0: doomed-{target} removed after its owner died"
    ))
    .assert_contains(&format!("core {target}: program `probe`"))
    .assert_contains(&format!(
        "garbage sent to core {target}; an update afterwards committed"
    ))
    .assert_contains("monitor: dropped a malformed message from core 1: UnknownTag(30583)")
    .assert_contains("monitor: dropped an unexpected message from core 1")
    .assert_contains("monitor: unexpected reply 18446744073709551615 from core 1; dropped");
}

#[test]
fn dead_programs_leave_no_entries_and_bad_messages_are_dropped_4() {
    stale_and_garbage(4);
}

#[test]
fn dead_programs_leave_no_entries_and_bad_messages_are_dropped_32() {
    stale_and_garbage(32);
}

/// Interrupt routing asks for the line's IrqSrc capability and the vector's IRQ
/// capability: requests from a program holding neither are refused and the monitor goes
/// on (the drivers' own routes are checked by the console tests).
#[test]
fn interrupt_routes_need_the_lines_capability() {
    let r = run("mon-irq-route", 4, &[("run@1", "probe irq-route")]);
    r.assert_contains("irq-route: a request without capabilities refused (BadRequest)")
        .assert_contains("irq-route: RAM as the line refused (CapFailed)")
        .assert_contains("irq-route: an empty slot as the line refused (CapFailed)")
        .assert_contains("irq-route: an empty slot as the vector refused (CapFailed)")
        .assert_contains("irq-route: every route without capabilities refused");
}

/// Capabilities across cores: a RAM copy goes to two other cores, which race to retype
/// the same frame (one wins); a retype of that memory on the owner's core is refused;
/// the revoke there deletes the remote copies and descendants and the winner's mapping.
fn cross_core_caps(cores: u32) {
    let name = format!("mon-xrevoke-{cores}");
    let r = run(&name, cores, &[("run@0", "probe xrevoke")]);
    r.assert_contains("xrevoke: RAM copy sent to cores [1, 2]")
        .assert_contains("xrevoke: sharing RAM with local descendants refused");
    assert_eq!(
        r.lines_with("retype won").count(),
        1,
        "[{name}] one sink wins the retype"
    );
    assert_eq!(
        r.lines_with("retype lost (RetypeConflict)").count(),
        1,
        "[{name}] the other sink loses"
    );
    r.assert_contains("shared copy deleted");
    r.assert_contains("xrevoke: retype of the sink's memory here: Err(RetypeConflict)")
        .assert_contains("xrevoke: revoke across cores done")
        .assert_contains("cap-sink: mapping revoked from another core: fault vector 14")
        .assert_contains("xrevoke: memory reusable after the revoke");
    // The remote monitors deleted their copies (and the winner's frame).
    let remote: Vec<&str> = r
        .lines_with("deleted")
        .filter(|l| l.contains("revoke of"))
        .collect();
    assert!(
        remote.iter().any(|l| l.contains("deleted 2 capabilities")),
        "[{name}] the winner's core deletes its copy and its frame: {remote:?}"
    );
}

#[test]
fn capabilities_across_cores_4() {
    cross_core_caps(4);
}

#[test]
fn capabilities_across_cores_32() {
    cross_core_caps(32);
}

/// Programs on different cores connect a URPC binding by name through the monitors (the
/// channel frame's capability travels from client to server) and talk over it directly.
fn bindings(cores: u32) {
    let name = format!("mon-binding-{cores}");
    let last = format!("run@{}", cores - 1);
    let r = run(
        &name,
        cores,
        &[
            ("run@0", "probe bind-server echo 2"),
            ("run@1", "probe bind-client echo 1000"),
            (&last, "probe bind-client echo 1000"),
        ],
    );
    r.assert_contains("bind-server on core 0: served 2 clients, echoed 2000 messages");
    for c in [1, cores - 1] {
        r.assert_contains(&format!(
            "bind-client on core {c}: 1000 round trips over a binding to echo, median"
        ));
    }
}

#[test]
fn bindings_by_name_across_cores_4() {
    bindings(4);
}

#[test]
fn bindings_by_name_across_cores_32() {
    bindings(32);
}

/// Programs that end give their capability memory and kernel slots back: far more
/// programs than fit at once start one after the other on every core.
#[test]
fn ended_programs_release_their_memory_4() {
    let r = run("mon-spawn-many-4", 4, &[("run", "probe spawn-many 30")]);
    for core in 0..4 {
        r.assert_contains(&format!(
            "spawn-many on core {core}: 30 programs started and ended one after the other"
        ));
    }
}
