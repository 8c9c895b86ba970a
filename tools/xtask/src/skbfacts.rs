//! Facts for the SKB from a machine's topology (`cargo xtask skb --acpi DUMP`), in the fact
//! schema of `skb/rules`: `core/4`, `node/1`, `node_distance/3`, `memory_range/3`,
//! `memory_free/2`.

use topology::Topology;

/// The facts a topology yields, as Prolog text. Cores are numbered in MADT order of the
/// enabled entries; packages are the topology's (estimated from proximity domains when no
/// CPUID information is available, as on the host); all memory counts as free.
pub fn facts(t: &Topology) -> String {
    let mut f = skb::facts::Facts::new("the ACPI topology");
    let default_node = t.nodes.first().copied().unwrap_or(0);
    for (i, c) in t.enabled_cpus().enumerate() {
        let node = c.node.unwrap_or(default_node);
        f.core(i as u32, c.apic_id, c.package.unwrap_or(node), node);
    }
    for &n in &t.nodes {
        f.node(n);
    }
    for &a in &t.nodes {
        for &b in &t.nodes {
            f.node_distance(a, b, u32::from(t.distance(a, b)));
        }
    }
    for m in &t.memory {
        f.memory_range(m.node, m.base, m.length);
    }
    for &n in &t.nodes {
        let free: u64 = t.memory_of_node(n).map(|m| m.length).sum();
        if free > 0 {
            f.memory_free(n, free);
        }
    }
    f.into_text()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(name: &str) -> Topology {
        let path = crate::paths::shared().join("acpi").join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (is ../shared beside the repository?)",
                path.display()
            )
        });
        topology::from_acpidump_text(&text, topology::CpuHint::NONE).unwrap()
    }

    #[test]
    fn acpi_facts_answer_placement_queries() {
        for (name, nodes) in [
            ("dell-poweredge-r820.acpidump", 4),
            ("supermicro-h8qg6.acpidump", 8),
            ("fujitsu-primergy.acpidump", 1),
        ] {
            let t = dump(name);
            let mut s = skb::Skb::with_system_rules();
            s.consult(&facts(&t)).unwrap();
            let lim = skb::Limits::default();
            let n = s
                .query_once("findall(C, core(C,_,_,_), L), length(L, N)", lim)
                .unwrap()
                .unwrap();
            assert_eq!(n.int("N"), Some(t.enabled_cpu_count() as i64), "{name}");
            let k = s.query("node(N)", lim).unwrap();
            assert_eq!(k.len(), nodes, "{name}");
            // Every core is told a node to allocate from when the machine has SRAT memory.
            if !t.memory.is_empty() {
                let a = s.query("core(C,_,_,_), \\+ alloc_node(C, _)", lim).unwrap();
                assert!(a.is_empty(), "{name}: cores without an allocation node");
            }
        }
    }
}
