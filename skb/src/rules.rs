//! The system rule library (`skb/rules/*.pl`), loaded by [`crate::Skb::with_system_rules`].
//!
//! # Fact schemas
//!
//! All fact predicates are declared dynamic, so a query never fails with an unknown-procedure
//! error because a kind of fact is absent. Numbers are integers; ids are the kernel's.
//!
//! | fact | meaning |
//! |---|---|
//! | `core(Id, ApicId, Package, Node)` | an enabled core: logical id (0 = BSP), local APIC / x2APIC id, package (socket), NUMA node |
//! | `node(Node)` | a NUMA node exists (optional: nodes are also taken from the other facts) |
//! | `node_distance(A, B, D)` | SLIT distance from node A to node B (10 = local); missing: symmetric if the other direction is known, else 20 |
//! | `memory_range(Node, Base, Length)` | physical memory range (bytes) belonging to a node |
//! | `memory_free(Node, Bytes)` | currently free memory of a node (if absent: the sum of its ranges) |
//! | `urpc_latency(A, B, Cycles)` | measured URPC latency between cores A and B (either direction) |
//! | `pci_device(Bus, Dev, Fn, Vendor, DeviceId, Class, Node)` | a PCI function and the NUMA node it is attached to |
//! | `driver(Program, Core)` | a device driver the device manager started, and its core |
//!
//! # Rules
//!
//! | rule | answer |
//! |---|---|
//! | `alloc_node(+Core, -Node)`, `alloc_node(+Core, +Bytes, -Node)` | nearest node with free memory (ties: more free, then lower id) |
//! | `place_dispatchers(+N, -Cores)`, `place_dispatchers(+N, +spread\|pack, -Cores)` | N cores: `spread` round-robin over nodes, alternating packages; `pack` fills a package first |
//! | `multicast_tree(+Root, +Cores, -Tree)`, `multicast_tree(+Root, -Tree)` | NUMA-aware multicast tree, see below |
//! | `multicast_messages(+Tree, -N)` | messages sent by a tree |
//! | `transport(+A, +B, -T)` | `lrpc` on the same core, `urpc` between cores |
//! | `driver_core(+pci(Bus, Dev, Fn), -Core)` | lowest core on the device's node |
//! | `driver_core(+legacy(Device), -Core)` | second core of the boot core's node (the boot core if alone) |
//! | `nearest_core(+Core, +Candidates, -C)` | by measured latency if known, else NUMA distance |
//! | helpers | `core_node/2`, `core_package/2`, `cores/1`, `core_count/1`, `nodes/1`, `cores_on_node/2`, `distance/3`, `core_distance/3`, `node_free/2`, `latency/3` |
//!
//! ## Multicast tree shape
//!
//! `tree(Root, Edges)` with `Edges = [edge(Forwarder, Leaves), ...]`, the messages Root sends
//! in order: one to a forwarder on every remote node that has targets, farthest node first,
//! then one to each target on Root's own node (`edge(Core, [])`). A forwarder sends one
//! message to each of its `Leaves`, in order. The forwarder of a node is the target with the
//! lowest measured URPC latency from Root (if known for all), else the lowest id.
//!
//! ```
//! use skb::{Limits, Skb};
//! let mut skb = Skb::with_system_rules();
//! skb.consult("core(0,0,0,0). core(1,1,0,0). core(2,2,1,1). core(3,3,1,1).
//!              node_distance(0,1,21).").unwrap();
//! let s = skb.query_once("multicast_tree(0, T)", Limits::default()).unwrap().unwrap();
//! assert_eq!(s.get("T").unwrap().to_string(), "tree(0,[edge(2,[3]),edge(1,[])])");
//! ```

/// Rule files shipped with the SKB: (file name, text), loaded in this order.
pub const SYSTEM_RULES: &[(&str, &str)] = &[
    ("topology.pl", include_str!("../rules/topology.pl")),
    ("placement.pl", include_str!("../rules/placement.pl")),
    ("routing.pl", include_str!("../rules/routing.pl")),
];
