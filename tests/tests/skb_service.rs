//! The System Knowledge Base as a service: started by core 0's monitor with the facts the
//! boot core gathered (including URPC round trips measured at boot), answering placement
//! and routing queries from programs on other cores over URPC bindings, at 4 and 32 cores.

use integration_tests::{boot_system, numa4_machine, Run};
use std::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

fn run(name: &str, cores: u32, cfg: &[(&str, &str)]) -> Run {
    let run = boot_system(name, &numa4_machine(cores), cfg, LIMIT);
    run.assert_lacks("error SkbError");
    run.assert_contains(&format!(
        "skbd: serving `skb` with facts of {cores} cores and {} URPC latencies",
        cores - 1
    ));
    run
}

fn queries(cores: u32) {
    let last = cores - 1;
    let name = format!("skb-service-{cores}");
    let key = format!("run@{last}");
    let goal_last = format!("probe skb-query 3 alloc_node({last}, N)");
    let r = run(
        &name,
        cores,
        &[
            (&key, &goal_last),
            ("run@1", "probe skb-query 1 multicast_tree(0, T)"),
            ("run@2", "probe skb-query 1 place_dispatchers(4, Cs)"),
            ("run@3", "probe skb-query 1 foo(("),
        ],
    );
    // The last core is on the last node (4 nodes, cores split evenly), which has memory.
    r.assert_contains(&format!("skb-query on core {last}: alloc_node({last},3)"));
    // The tree from core 0 reaches every other core: one message per remote node.
    let tree = r
        .lines_with("skb-query on core 1: multicast_tree(0,tree(0,")
        .next()
        .unwrap_or_else(|| panic!("[{name}] no multicast tree answer"));
    let edges = tree.matches("edge(").count();
    assert!(
        edges >= 3,
        "[{name}] a forwarder per remote node at least: {tree}"
    );
    r.assert_contains("skb-query on core 2: place_dispatchers(4,[")
        .assert_contains("skb-query on core 1: 1 solutions")
        // A malformed query gets an error, and the service goes on.
        .assert_contains("skb-query on core 3: foo((: error Query(");
}

#[test]
fn skb_answers_queries_from_other_cores_4() {
    queries(4);
}

#[test]
fn skb_answers_queries_from_other_cores_32() {
    queries(32);
}

/// The monitors broadcast through the multicast trees the SKB computes (`multicast_tree/2`,
/// one message per remote node to a forwarder there): a name race over forwarded agreement
/// messages still has exactly one winner, seen by every core, and the name goes everywhere
/// when the winner ends.
fn tree_race(cores: u32, groups: u32) {
    let name = format!("skb-tree-race-{cores}");
    let r = run(&name, cores, &[("run", "probe tree-race")]);
    for core in 0..cores {
        r.assert_contains(&format!(
            "monitor on core {core}: broadcasts follow the SKB's multicast tree ({groups} groups)"
        ));
    }
    assert_eq!(r.lines_with(": won").count(), 1, "[{name}] one winner");
    assert_eq!(
        r.lines_with("lost (Exists)").count() as u32,
        cores - 1,
        "[{name}] every other core loses"
    );
    assert_eq!(
        r.lines_with("name gone after the winner ended").count() as u32,
        cores - 1,
        "[{name}] no stale name"
    );
}

#[test]
fn monitors_broadcast_through_skb_trees_4() {
    // One core per node: three remote forwarders without leaves.
    tree_race(4, 3);
}

#[test]
fn monitors_broadcast_through_skb_trees_32() {
    // Eight cores per node: seven local cores plus three remote forwarders.
    tree_race(32, 10);
}
