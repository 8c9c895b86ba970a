//! Writing the machine's facts in the schema of the rule library (`skb/rules/topology.pl`):
//! one writer used by the kernel at boot and by `cargo xtask skb --acpi` on the host, so both
//! produce the same text.

use alloc::string::String;
use core::fmt::Write;

/// Accumulates fact lines.
#[derive(Default)]
pub struct Facts {
    text: String,
}

impl Facts {
    /// An empty set of facts, starting with a comment line naming where they come from.
    pub fn new(source: &str) -> Facts {
        let mut f = Facts::default();
        let _ = writeln!(f.text, "% facts from {source}");
        f
    }

    /// `core(Core, ApicId, Package, Node)`.
    pub fn core(&mut self, core: u32, apic_id: u32, package: u32, node: u32) {
        let _ = writeln!(self.text, "core({core}, {apic_id}, {package}, {node}).");
    }

    /// `node(Node)`.
    pub fn node(&mut self, node: u32) {
        let _ = writeln!(self.text, "node({node}).");
    }

    /// `node_distance(A, B, Distance)`.
    pub fn node_distance(&mut self, a: u32, b: u32, d: u32) {
        let _ = writeln!(self.text, "node_distance({a}, {b}, {d}).");
    }

    /// `memory_range(Node, Base, Bytes)`.
    pub fn memory_range(&mut self, node: u32, base: u64, bytes: u64) {
        let _ = writeln!(self.text, "memory_range({node}, {base}, {bytes}).");
    }

    /// `memory_free(Node, Bytes)`.
    pub fn memory_free(&mut self, node: u32, bytes: u64) {
        let _ = writeln!(self.text, "memory_free({node}, {bytes}).");
    }

    /// `urpc_latency(A, B, Cycles)`: a URPC round trip between cores A and B, measured.
    pub fn urpc_latency(&mut self, a: u32, b: u32, cycles: u64) {
        let _ = writeln!(self.text, "urpc_latency({a}, {b}, {cycles}).");
    }

    /// The text.
    pub fn into_text(self) -> String {
        self.text
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn facts_load_and_answer() {
        let mut f = super::Facts::new("a test");
        f.core(0, 0, 0, 0);
        f.core(1, 2, 1, 1);
        f.node(0);
        f.node(1);
        for (a, b, d) in [(0, 0, 10), (0, 1, 20), (1, 0, 20), (1, 1, 10)] {
            f.node_distance(a, b, d);
        }
        f.memory_range(1, 0x1000_0000, 1 << 30);
        f.memory_free(1, 1 << 30);
        f.urpc_latency(0, 1, 900);
        let mut s = crate::Skb::with_system_rules();
        s.consult(&f.into_text()).unwrap();
        let lim = crate::Limits::default();
        let a = s.query_once("alloc_node(0, N)", lim).unwrap().unwrap();
        assert_eq!(
            a.int("N"),
            Some(1),
            "node 0 has no memory: the nearest with some"
        );
        let l = s.query_once("urpc_latency(0, 1, L)", lim).unwrap().unwrap();
        assert_eq!(l.int("L"), Some(900));
    }
}
