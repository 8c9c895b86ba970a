//! Splitting physical memory into per-core pools, each from the core's own NUMA node.
//!
//! Policy: the free memory of each node is divided equally among the cores of that node.
//! A core whose node has no memory (a memoryless node) is assigned to the nearest node that
//! has memory (by the caller's distance function) and shares that node's memory equally
//! with its cores; its pool is marked non-local. Memory of nodes that have no cores stays in
//! the source allocator, with the boot core.

extern crate alloc;

use crate::{FrameAllocator, FrameError, PhysRange, FRAME_SIZE};
use alloc::vec::Vec;

/// The cores of one NUMA node and the physical ranges the firmware assigns to it.
#[derive(Clone, Copy, Debug)]
pub struct NodeCores<'a> {
    /// Proximity domain of the node.
    pub node: u32,
    /// Physical memory ranges of the node (from SRAT, or all memory without SRAT).
    pub ranges: &'a [PhysRange],
    /// Core ids (the OS's dense core numbers) on this node.
    pub cores: &'a [u32],
}

/// One core's pool.
#[derive(Clone, Debug)]
pub struct PoolPlan {
    /// The core that owns the pool.
    pub core: u32,
    /// The node the memory comes from.
    pub node: u32,
    /// False when the core's own node had no memory and the pool comes from another node.
    pub local: bool,
    /// The frames of the pool.
    pub frames: FrameAllocator,
}

/// Why pools could not be planned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolPlanError {
    /// No node that has cores also has memory.
    NoMemory,
    /// Carving a pool failed.
    Frame(FrameError),
}

impl From<FrameError> for PoolPlanError {
    fn from(e: FrameError) -> Self {
        PoolPlanError::Frame(e)
    }
}

/// Carve one pool per core out of `source`. `distance(a, b)` gives the NUMA distance between
/// two proximity domains. Pools are returned in the order of the cores in `nodes`.
pub fn split_pools(
    source: &mut FrameAllocator,
    nodes: &[NodeCores<'_>],
    distance: impl Fn(u32, u32) -> u32,
) -> Result<Vec<PoolPlan>, PoolPlanError> {
    let free_in = |src: &FrameAllocator, n: &NodeCores<'_>| -> u64 {
        n.ranges.iter().map(|r| src.free_bytes_in(*r)).sum()
    };
    // Which node each node's cores take memory from.
    let has_mem: Vec<bool> = nodes
        .iter()
        .map(|n| free_in(source, n) >= FRAME_SIZE)
        .collect();
    let mut home: Vec<usize> = Vec::with_capacity(nodes.len());
    for (i, n) in nodes.iter().enumerate() {
        if has_mem[i] {
            home.push(i);
            continue;
        }
        let nearest = (0..nodes.len())
            .filter(|&j| has_mem[j])
            .min_by_key(|&j| (distance(n.node, nodes[j].node), j));
        match nearest {
            Some(j) => home.push(j),
            None if n.cores.is_empty() => home.push(i),
            None => return Err(PoolPlanError::NoMemory),
        }
    }
    // How many cores share each memory node.
    let mut sharers = alloc::vec![0u64; nodes.len()];
    for (i, n) in nodes.iter().enumerate() {
        sharers[home[i]] += n.cores.len() as u64;
    }
    let shares: Vec<u64> = nodes
        .iter()
        .enumerate()
        .map(|(j, n)| match sharers[j] {
            0 => 0,
            k => (free_in(source, n) / k) & !(FRAME_SIZE - 1),
        })
        .collect();

    let mut plans = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        let j = home[i];
        for &core in n.cores {
            let mut frames = FrameAllocator::new();
            let mut want = shares[j];
            for r in nodes[j].ranges {
                if want == 0 {
                    break;
                }
                let take = source.free_bytes_in(*r).min(want);
                if take == 0 {
                    continue;
                }
                let part = source.carve(*r, take)?;
                for p in part.ranges() {
                    frames.add_range(*p)?;
                }
                want -= take;
            }
            plans.push(PoolPlan {
                core,
                node: nodes[j].node,
                local: i == j,
                frames,
            });
        }
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MB: u64 = 1 << 20;

    fn dist(a: u32, b: u32) -> u32 {
        if a == b {
            10
        } else {
            10 + 10 * a.abs_diff(b)
        }
    }

    #[test]
    fn four_nodes_eight_cores_each() {
        let mut src = FrameAllocator::new();
        src.add_range(PhysRange::new(MB, 4096 * MB - MB)).unwrap();
        let node_ranges: Vec<[PhysRange; 1]> = (0..4)
            .map(|n| [PhysRange::new(n * 1024 * MB, 1024 * MB)])
            .collect();
        let cores: Vec<Vec<u32>> = (0..4).map(|n| (n * 8..n * 8 + 8).collect()).collect();
        let nodes: Vec<NodeCores> = (0..4)
            .map(|n| NodeCores {
                node: n as u32,
                ranges: &node_ranges[n],
                cores: &cores[n],
            })
            .collect();
        let plans = split_pools(&mut src, &nodes, dist).unwrap();
        assert_eq!(plans.len(), 32);
        for p in &plans {
            assert!(p.local);
            assert_eq!(p.node, p.core / 8);
            let r = node_ranges[p.node as usize][0];
            for f in p.frames.ranges() {
                assert!(f.start >= r.start && f.end <= r.end, "{p:?}");
            }
            assert!(p.frames.free_bytes() >= 127 * MB);
        }
        // Node 0 lost its first MiB to firmware; everything else is handed out.
        assert!(src.free_bytes() < 32 * FRAME_SIZE);
    }

    #[test]
    fn memoryless_node_borrows_from_nearest() {
        let mut src = FrameAllocator::new();
        src.add_range(PhysRange::new(0, 64 * MB)).unwrap();
        src.add_range(PhysRange::new(128 * MB, 64 * MB)).unwrap();
        let r0 = [PhysRange::new(0, 64 * MB)];
        let r1: [PhysRange; 0] = [];
        let r2 = [PhysRange::new(128 * MB, 64 * MB)];
        let (c0, c1, c2) = ([0u32], [1u32], [2u32, 3]);
        let nodes = [
            NodeCores {
                node: 0,
                ranges: &r0,
                cores: &c0,
            },
            NodeCores {
                node: 1,
                ranges: &r1,
                cores: &c1,
            },
            NodeCores {
                node: 2,
                ranges: &r2,
                cores: &c2,
            },
        ];
        // Node 1 is nearer to node 2 here.
        let plans = split_pools(&mut src, &nodes, |a, b| match (a.min(b), a.max(b)) {
            (x, y) if x == y => 10,
            (1, 2) => 15,
            _ => 30,
        })
        .unwrap();
        assert_eq!(plans.len(), 4);
        assert_eq!(plans[0].frames.free_bytes(), 64 * MB);
        assert!(!plans[1].local);
        assert_eq!(plans[1].node, 2);
        for p in &plans[1..] {
            assert_eq!(p.node, 2);
            assert!(p.frames.free_bytes() >= 21 * MB);
        }
    }

    #[test]
    fn no_memory_anywhere_is_an_error() {
        let mut src = FrameAllocator::new();
        let r: [PhysRange; 0] = [];
        let c = [0u32];
        let nodes = [NodeCores {
            node: 0,
            ranges: &r,
            cores: &c,
        }];
        assert_eq!(
            split_pools(&mut src, &nodes, dist).unwrap_err(),
            PoolPlanError::NoMemory
        );
    }
}
