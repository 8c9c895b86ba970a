//! The system placement rules on concrete machines.

use skb::{Limits, Skb, Term};

/// 32 cores, 4 packages of 8 cores, one NUMA node per package; SLIT distances of a ring:
/// 10 local, 16 to a neighbour, 22 across.
fn machine32() -> Skb {
    let mut skb = Skb::with_system_rules();
    let mut facts = Vec::new();
    for c in 0..32i64 {
        let n = c / 8;
        facts.push(Term::compound(
            "core",
            [Term::int(c), Term::int(2 * c), Term::int(n), Term::int(n)],
        ));
    }
    for a in 0..4i64 {
        for b in 0..4i64 {
            let d = match (a - b).abs() {
                0 => 10,
                2 => 22,
                _ => 16,
            };
            facts.push(Term::compound(
                "node_distance",
                [Term::int(a), Term::int(b), Term::int(d)],
            ));
        }
        facts.push(Term::compound(
            "memory_range",
            [Term::int(a), Term::int(a << 34), Term::int(1 << 34)],
        ));
    }
    let free = [1i64 << 30, 0, 2 << 30, 512 << 20];
    for (n, f) in free.iter().enumerate() {
        facts.push(Term::compound(
            "memory_free",
            [Term::int(n as i64), Term::int(*f)],
        ));
    }
    skb.add_facts_from(&facts).unwrap();
    skb
}

/// 8 cores, 2 packages, 2 nodes, distance 21; facts given as text.
fn machine2() -> Skb {
    let mut skb = Skb::with_system_rules();
    skb.consult(
        "core(0,0,0,0). core(1,1,0,0). core(2,2,0,0). core(3,3,0,0).
         core(4,16,1,1). core(5,17,1,1). core(6,18,1,1). core(7,19,1,1).
         node_distance(0,0,10). node_distance(0,1,21). node_distance(1,0,21). node_distance(1,1,10).
         memory_range(0, 0, 4294967296). memory_range(1, 4294967296, 4294967296).
         pci_device(0, 3, 0, 32902, 4110, 131072, 1).",
    )
    .unwrap();
    skb
}

fn val(skb: &mut Skb, q: &str, var: &str) -> String {
    let s = skb
        .query_once(q, Limits::default())
        .unwrap()
        .unwrap_or_else(|| panic!("no answer: {q}"));
    s.get(var).unwrap().to_string()
}

fn ints(skb: &mut Skb, q: &str, var: &str) -> Vec<i64> {
    let s = skb
        .query_once(q, Limits::default())
        .unwrap()
        .unwrap_or_else(|| panic!("no answer: {q}"));
    s.int_list(var).unwrap()
}

#[test]
fn alloc_node_on_32_cores() {
    let mut skb = machine32();
    assert_eq!(val(&mut skb, "alloc_node(0, N)", "N"), "0");
    assert_eq!(val(&mut skb, "alloc_node(31, N)", "N"), "3");
    // Node 1 is full: both neighbours are at 16, node 2 has more free memory.
    assert_eq!(val(&mut skb, "alloc_node(8, N)", "N"), "2");
    // Needs 1.5 GiB: only node 2 has that.
    assert_eq!(val(&mut skb, "alloc_node(0, 1610612736, N)", "N"), "2");
    // 3 GiB: nowhere.
    assert!(skb
        .query_once("alloc_node(0, 3221225472, N)", Limits::default())
        .unwrap()
        .is_none());
    // Exactly one answer.
    assert_eq!(
        skb.query("alloc_node(12, N)", Limits::default())
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn place_dispatchers_on_32_cores() {
    let mut skb = machine32();
    assert_eq!(
        ints(&mut skb, "place_dispatchers(4, Cs)", "Cs"),
        vec![0, 8, 16, 24]
    );
    assert_eq!(
        ints(&mut skb, "place_dispatchers(6, Cs)", "Cs"),
        vec![0, 8, 16, 24, 1, 9]
    );
    assert_eq!(
        ints(&mut skb, "place_dispatchers(3, pack, Cs)", "Cs"),
        vec![0, 1, 2]
    );
    assert_eq!(ints(&mut skb, "place_dispatchers(32, Cs)", "Cs").len(), 32);
    assert!(skb
        .query_once("place_dispatchers(33, Cs)", Limits::default())
        .unwrap()
        .is_none());
    assert_eq!(val(&mut skb, "core_count(N)", "N"), "32");
}

#[test]
fn multicast_tree_on_32_cores() {
    let mut skb = machine32();
    let t = val(&mut skb, "multicast_tree(0, T)", "T");
    assert_eq!(
        t,
        "tree(0,[edge(16,[17,18,19,20,21,22,23]),edge(8,[9,10,11,12,13,14,15]),\
         edge(24,[25,26,27,28,29,30,31]),edge(1,[]),edge(2,[]),edge(3,[]),edge(4,[]),\
         edge(5,[]),edge(6,[]),edge(7,[])])"
    );
    assert_eq!(
        val(
            &mut skb,
            "multicast_tree(0, T), multicast_messages(T, N)",
            "N"
        ),
        "31"
    );
    // A subset, from a root on node 2; the root itself is skipped.
    assert_eq!(
        val(
            &mut skb,
            "multicast_tree(17, [17, 3, 1, 18, 9, 30], T)",
            "T"
        ),
        "tree(17,[edge(1,[3]),edge(9,[]),edge(30,[]),edge(18,[])])"
    );
    // Measured latencies choose the forwarder.
    skb.consult("urpc_latency(0, 8, 900). urpc_latency(0, 9, 900). urpc_latency(0, 13, 400).")
        .unwrap();
    assert_eq!(
        val(&mut skb, "multicast_tree(0, [8, 9, 13], T)", "T"),
        "tree(0,[edge(13,[8,9])])"
    );
}

#[test]
fn transport_choice() {
    let mut skb = machine32();
    assert_eq!(val(&mut skb, "transport(3, 3, T)", "T"), "lrpc");
    assert_eq!(val(&mut skb, "transport(3, 4, T)", "T"), "urpc");
    assert_eq!(val(&mut skb, "transport(3, 30, T)", "T"), "urpc");
    assert!(skb
        .query_once("transport(3, 99, T)", Limits::default())
        .unwrap()
        .is_none());
}

#[test]
fn two_node_machine() {
    let mut skb = machine2();
    assert_eq!(val(&mut skb, "alloc_node(5, N)", "N"), "1");
    assert_eq!(val(&mut skb, "alloc_node(2, N)", "N"), "0");
    assert_eq!(
        ints(&mut skb, "place_dispatchers(3, Cs)", "Cs"),
        vec![0, 4, 1]
    );
    assert_eq!(
        ints(&mut skb, "place_dispatchers(5, pack, Cs)", "Cs"),
        vec![0, 1, 2, 3, 4]
    );
    assert_eq!(
        val(&mut skb, "multicast_tree(0, [1, 2, 4, 5, 6], T)", "T"),
        "tree(0,[edge(4,[5,6]),edge(1,[]),edge(2,[])])"
    );
    assert_eq!(
        val(&mut skb, "multicast_tree(6, T)", "T"),
        "tree(6,[edge(0,[1,2,3]),edge(4,[]),edge(5,[]),edge(7,[])])"
    );
    assert_eq!(val(&mut skb, "driver_core(pci(0, 3, 0), C)", "C"), "4");
    assert_eq!(val(&mut skb, "driver_core(legacy(com1), C)", "C"), "1");
    assert_eq!(val(&mut skb, "nodes(Ns)", "Ns"), "[0,1]");
    assert_eq!(val(&mut skb, "node_free(1, B)", "B"), "4294967296");
}

#[test]
fn legacy_driver_on_a_lone_boot_core() {
    let mut skb = Skb::with_system_rules();
    skb.consult("core(0,0,0,0). core(1,1,1,1).").unwrap();
    assert_eq!(val(&mut skb, "driver_core(legacy(ps2), C)", "C"), "0");
}

#[test]
fn rules_without_facts_fail_cleanly() {
    let mut skb = Skb::with_system_rules();
    for q in [
        "alloc_node(0, N)",
        "place_dispatchers(1, Cs)",
        "multicast_tree(0, T)",
        "transport(0, 1, T)",
        "driver_core(legacy(com1), C)",
    ] {
        assert!(
            skb.query_once(q, Limits::default()).unwrap().is_none(),
            "{q}"
        );
    }
}

#[test]
fn placement_latency_32_cores() {
    // Rough timing of the placement rules (printed; run with --nocapture to see it).
    let mut skb = machine32();
    let queries = [
        "alloc_node(13, N)",
        "place_dispatchers(8, Cs)",
        "multicast_tree(0, T)",
        "transport(1, 2, T)",
    ];
    for q in queries {
        let n = 20;
        let start = std::time::Instant::now();
        let mut steps = 0;
        for _ in 0..n {
            let mut sols = skb.solutions(q, Limits::default()).unwrap();
            sols.next().unwrap().unwrap();
            steps = sols.steps();
        }
        let per = start.elapsed() / n;
        println!(
            "{q}: {per:?} per query, {steps} steps ({} build)",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            }
        );
    }
}
