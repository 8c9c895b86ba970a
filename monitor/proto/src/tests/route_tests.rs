//! Multicast routing: trees, fan-out and delivery over random trees, grouping of outboxes,
//! why each core's path must be fixed, and the agreement protocol routed through trees in the
//! simulator.

extern crate std;

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet, VecDeque};
use alloc::vec::Vec;

use super::agree_tests::{random_mix, register_race};
use super::rng::Rng;
use super::sim::{shuffle, Sim};
use super::wire_tests::random_plain;
use crate::route::{
    deliver, fan_out, group_broadcasts, is_broadcast, plan, Delivery, RouteError, Tree, TreeError,
};
use crate::wire::{encode, Decoder, MonMsg, Vote, WireError, MAX_TARGETS};
use crate::{CoreId, Op, ProtoError, Replica, TxId};

fn commit(core: CoreId, seq: u32) -> MonMsg {
    MonMsg::Commit {
        tx: TxId { core, seq },
    }
}

fn fwd(origin: CoreId, targets: &[CoreId], inner: MonMsg) -> MonMsg {
    MonMsg::Forward {
        origin,
        targets: targets.to_vec(),
        inner: Box::new(inner),
    }
}

// ---------------------------------------------------------------------------------------------
// Trees.

#[test]
fn tree_validation() {
    let ok = Tree::new(
        0,
        alloc::vec![
            (9, alloc::vec![8, 9, 10]),
            (0, alloc::vec![1, 0, 2]),
            (5, alloc::vec![5])
        ],
    )
    .unwrap();
    assert_eq!(ok.root(), 0);
    assert_eq!(ok.groups().len(), 3);
    assert_eq!(ok.groups()[0].forwarder(), 9);
    assert_eq!(ok.groups()[1].cores(), [1, 0, 2]);
    assert_eq!(ok.group_of(10).map(|g| g.forwarder()), Some(9));
    assert_eq!(ok.group_of(11), None);
    // Paths from the root: through the forwarder; in its own group through the first other
    // core listed; the relay itself, singletons and cores outside the tree directly.
    assert_eq!(ok.relay(0, 8), Some(9));
    assert_eq!(ok.relay(0, 10), Some(9));
    assert_eq!(ok.relay(0, 9), None);
    assert_eq!(ok.relay(0, 2), Some(1));
    assert_eq!(ok.relay(0, 1), None);
    assert_eq!(ok.relay(0, 5), None);
    assert_eq!(ok.relay(0, 77), None);
    assert_eq!(ok.relay(0, 0), None);
    assert_eq!(Tree::new(3, Vec::new()), Ok(Tree::direct(3)));

    let err = |groups: Vec<(CoreId, Vec<CoreId>)>| Tree::new(0, groups).unwrap_err();
    assert_eq!(
        err(alloc::vec![(4, Vec::new())]),
        TreeError::EmptyGroup { forwarder: 4 }
    );
    assert_eq!(
        err(alloc::vec![(4, alloc::vec![5, 6])]),
        TreeError::ForwarderNotInGroup { forwarder: 4 }
    );
    assert_eq!(
        err(alloc::vec![(0, alloc::vec![1, 2])]),
        TreeError::ForwarderNotInGroup { forwarder: 0 }
    );
    assert_eq!(
        err(alloc::vec![(4, (1..=MAX_TARGETS as u32 + 1).collect())]),
        TreeError::GroupTooLarge {
            forwarder: 4,
            len: MAX_TARGETS + 1
        }
    );
    assert_eq!(
        err(alloc::vec![(4, alloc::vec![4, 5, 4])]),
        TreeError::DuplicateCore(4)
    );
    assert_eq!(
        err(alloc::vec![(4, alloc::vec![4, 5]), (6, alloc::vec![6, 5])]),
        TreeError::DuplicateCore(5)
    );
    assert_eq!(
        err(alloc::vec![(0, alloc::vec![0]), (0, alloc::vec![0, 1])]),
        TreeError::DuplicateCore(0)
    );
    assert_eq!(
        err(alloc::vec![(4, alloc::vec![4, 0])]),
        TreeError::RootInForeignGroup { forwarder: 4 }
    );
    // A group of exactly MAX_TARGETS is fine.
    assert!(Tree::new(0, alloc::vec![(4, (1..=MAX_TARGETS as u32).collect())]).is_ok());
}

#[test]
fn fan_out_example() {
    // Root 0 on node {0, 1, 2}; node {8, 9, 10} forwarded by 9; node {5} alone.
    let t = Tree::new(
        0,
        alloc::vec![
            (9, alloc::vec![8, 9, 10]),
            (5, alloc::vec![5]),
            (0, alloc::vec![0, 1, 2])
        ],
    )
    .unwrap();
    let m = commit(0, 1);
    // Everyone (and `me`, and a core outside the tree, and a duplicate).
    assert_eq!(
        fan_out(&t, 0, &[0, 1, 2, 5, 8, 9, 10, 42, 8], &m),
        [
            (9, fwd(0, &[8, 9, 10], m.clone())),
            (5, m.clone()),
            (1, fwd(0, &[1, 2], m.clone())),
            (42, m.clone()),
        ]
    );
    // The forwarder is not a destination: it still relays (without delivering to itself).
    assert_eq!(
        fan_out(&t, 0, &[10, 8], &m),
        [(9, fwd(0, &[8, 10], m.clone()))]
    );
    // A lone destination goes directly only if it is its group's relay.
    assert_eq!(fan_out(&t, 0, &[9], &m), [(9, m.clone())]);
    assert_eq!(fan_out(&t, 0, &[10], &m), [(9, fwd(0, &[10], m.clone()))]);
    assert_eq!(fan_out(&t, 0, &[2], &m), [(1, fwd(0, &[2], m.clone()))]);
    assert_eq!(fan_out(&t, 0, &[1], &m), [(1, m.clone())]);
    assert!(fan_out(&t, 0, &[0], &m).is_empty());
    assert!(fan_out(&t, 0, &[], &m).is_empty());
    // A Forward is never nested: it goes directly.
    let f = fwd(0, &[8], m.clone());
    assert_eq!(
        fan_out(&t, 0, &[8, 10], &f),
        [(8, f.clone()), (10, f.clone())]
    );
    // Delivery at the forwarder, then at a target.
    let d = deliver(9, 0, fwd(0, &[8, 10], m.clone())).unwrap();
    assert_eq!(
        d,
        Delivery {
            local: None,
            onward: alloc::vec![(8, fwd(0, &[8], m.clone())), (10, fwd(0, &[10], m.clone()))],
        }
    );
    assert_eq!(
        deliver(10, 9, fwd(0, &[10], m.clone())).unwrap(),
        Delivery {
            local: Some((0, m.clone())),
            onward: Vec::new()
        }
    );
}

#[test]
fn deliver_rules() {
    let m = commit(1, 1);
    // Plain messages pass through, from their sender.
    assert_eq!(
        deliver(2, 1, m.clone()),
        Ok(Delivery {
            local: Some((1, m.clone())),
            onward: Vec::new()
        })
    );
    // From the origin: deliver here if a target, copies for the others.
    assert_eq!(
        deliver(2, 1, fwd(1, &[3, 2, 4], m.clone())),
        Ok(Delivery {
            local: Some((1, m.clone())),
            onward: alloc::vec![(3, fwd(1, &[3], m.clone())), (4, fwd(1, &[4], m.clone()))],
        })
    );
    // A relayed copy: for this core only.
    assert_eq!(
        deliver(3, 2, fwd(1, &[3], m.clone())),
        Ok(Delivery {
            local: Some((1, m.clone())),
            onward: Vec::new()
        })
    );
    assert_eq!(deliver(2, 2, m.clone()), Err(RouteError::FromSelf));
    assert_eq!(
        deliver(2, 1, fwd(2, &[3], m.clone())),
        Err(RouteError::OriginIsSelf)
    );
    assert_eq!(
        deliver(2, 1, fwd(1, &[2, 1], m.clone())),
        Err(RouteError::TargetIsOrigin)
    );
    // Only the origin may ask for copies (two hops at most).
    assert_eq!(
        deliver(3, 2, fwd(1, &[3, 4], m.clone())),
        Err(RouteError::TooDeep { from: 2 })
    );
    assert_eq!(
        deliver(3, 2, fwd(1, &[4], m.clone())),
        Err(RouteError::TooDeep { from: 2 })
    );
    // What the wire refuses.
    assert_eq!(
        deliver(2, 1, fwd(1, &[], m.clone())),
        Err(RouteError::Malformed(WireError::EmptyForward))
    );
    assert_eq!(
        deliver(2, 1, fwd(1, &[3, 3], m.clone())),
        Err(RouteError::Malformed(WireError::DuplicateTarget {
            core: 3
        }))
    );
    assert_eq!(
        deliver(2, 1, fwd(1, &[3], fwd(1, &[4], m.clone()))),
        Err(RouteError::Malformed(WireError::NestedForward))
    );
    let many: Vec<CoreId> = (10..11 + MAX_TARGETS as u32).collect();
    assert_eq!(
        deliver(2, 1, fwd(1, &many, m.clone())),
        Err(RouteError::Malformed(WireError::TooManyTargets {
            count: MAX_TARGETS + 1
        }))
    );
}

/// A random tree: 1..=8 nodes of 1..=16 cores with scattered ids, `me` somewhere, a random
/// forwarder per other node, groups in random order, a node now and then left out. Returns
/// the tree, `me`, and every core of every node.
fn random_tree(rng: &mut Rng) -> (Tree, CoreId, Vec<CoreId>) {
    let nodes = 1 + rng.index(8);
    let sizes: Vec<usize> = (0..nodes).map(|_| 1 + rng.index(16)).collect();
    let total: usize = sizes.iter().sum();
    let mut ids: Vec<CoreId> = (0..total as u32).map(|k| k * 5 + 2).collect();
    shuffle(rng, &mut ids);
    let me = ids[rng.index(total)];
    let mut groups = Vec::new();
    let mut rest = &ids[..];
    for &s in &sizes {
        let (node, tail) = rest.split_at(s);
        rest = tail;
        if node.contains(&me) {
            groups.push((me, node.to_vec()));
        } else if !rng.chance(1, 6) {
            groups.push((node[rng.index(s)], node.to_vec()));
        }
    }
    shuffle(rng, &mut groups);
    (Tree::new(me, groups).unwrap(), me, ids)
}

/// One message in flight in the delivery simulation.
struct InFlight {
    from: CoreId,
    to: CoreId,
    msg: MonMsg,
    /// The first core on its path from `me`.
    hop1: CoreId,
}

/// Through the wire and back.
fn wire(m: &MonMsg) -> MonMsg {
    let mut d = Decoder::new();
    let mut got = None;
    for p in encode(m).unwrap() {
        got = d.push(&p).unwrap();
    }
    got.unwrap()
}

/// Random trees and destination sets: delivery through `fan_out` then `deliver` at every
/// receiver (relays included, every message through the wire) reaches every destination
/// exactly once with `me` as the origin and nobody else; `me` sends one message per group
/// with destinations (plus one per destination outside the tree); relays only send inside
/// their group, and only what came from `me`; every core's path is `Tree::relay`.
#[test]
fn random_trees_deliver_exactly_once() {
    let mut rng = Rng::new(0x7733);
    let (mut relay_only, mut lone_via_relay, mut forwards) = (0, 0, 0);
    for _ in 0..1500 {
        let (tree, me, cores) = random_tree(&mut rng);
        for _ in 0..8 {
            let p = [10, 50, 90, 100][rng.index(4)];
            let mut dests: Vec<CoreId> = cores
                .iter()
                .copied()
                .filter(|_| rng.below(100) < p)
                .collect();
            if rng.chance(1, 4) {
                dests.push(me);
            }
            if rng.chance(1, 4) && !dests.is_empty() {
                dests.push(dests[rng.index(dests.len())]);
            }
            if rng.chance(1, 4) {
                dests.push(100_000 + rng.below(3) as u32);
            }
            shuffle(&mut rng, &mut dests);
            let want: BTreeSet<CoreId> = dests.iter().copied().filter(|&d| d != me).collect();
            let msg = random_plain(&mut rng);

            let first = fan_out(&tree, me, &dests, &msg);
            let touched: BTreeSet<CoreId> = want
                .iter()
                .map(|&d| tree.group_of(d).map_or(d, |g| g.forwarder()))
                .collect();
            assert_eq!(first.len(), touched.len(), "one message per group touched");
            let mut queue: VecDeque<InFlight> = first
                .into_iter()
                .map(|(to, msg)| InFlight {
                    from: me,
                    to,
                    msg,
                    hop1: to,
                })
                .collect();
            let mut got: BTreeMap<CoreId, Vec<(CoreId, MonMsg)>> = BTreeMap::new();
            while let Some(f) = queue.pop_front() {
                assert_ne!(f.to, f.from, "message to self");
                if let MonMsg::Forward { targets, .. } = &f.msg {
                    forwards += 1;
                    if f.from == me && !targets.contains(&f.to) {
                        relay_only += 1;
                        if targets.len() == 1 {
                            lone_via_relay += 1;
                        }
                    }
                }
                let msg = wire(&f.msg);
                assert_eq!(msg, f.msg);
                let d = deliver(f.to, f.from, msg).unwrap();
                if let Some((origin, inner)) = d.local {
                    assert_eq!(
                        f.hop1,
                        tree.relay(me, f.to).unwrap_or(f.to),
                        "path of {}",
                        f.to
                    );
                    got.entry(f.to).or_default().push((origin, inner));
                }
                if !d.onward.is_empty() {
                    assert_eq!(f.from, me, "only first hops relay");
                    let g = tree.group_of(f.to).expect("relays are in the tree");
                    for (t, m) in d.onward {
                        assert!(g.cores().contains(&t), "relay {} sent outside", f.to);
                        queue.push_back(InFlight {
                            from: f.to,
                            to: t,
                            msg: m,
                            hop1: f.hop1,
                        });
                    }
                }
            }
            assert_eq!(got.keys().copied().collect::<BTreeSet<_>>(), want);
            for v in got.values() {
                assert_eq!(v, &[(me, msg.clone())]);
            }
        }
    }
    // The interesting cases happened.
    assert!(
        relay_only > 100 && lone_via_relay > 100 && forwards > 10_000,
        "{relay_only} {lone_via_relay} {forwards}"
    );
}

// ---------------------------------------------------------------------------------------------
// Grouping an outbox.

#[test]
fn group_broadcasts_examples() {
    let (a, b) = (commit(1, 1), commit(1, 2));
    let v = MonMsg::Vote {
        tx: TxId { core: 7, seq: 0 },
        vote: Vote::Yes,
    };
    assert_eq!(
        group_broadcasts(alloc::vec![
            (2, a.clone()),
            (3, a.clone()),
            (4, a.clone()),
            (7, v.clone())
        ]),
        [
            (alloc::vec![2, 3, 4], a.clone()),
            (alloc::vec![7], v.clone())
        ]
    );
    // Merged across a message to another core.
    assert_eq!(
        group_broadcasts(alloc::vec![(2, a.clone()), (3, b.clone()), (4, a.clone())]),
        [(alloc::vec![2, 4], a.clone()), (alloc::vec![3], b.clone())]
    );
    // Not across a message to the same core, nor a core twice in one group.
    assert_eq!(
        group_broadcasts(alloc::vec![(2, a.clone()), (2, b.clone()), (2, a.clone())]),
        [
            (alloc::vec![2], a.clone()),
            (alloc::vec![2], b.clone()),
            (alloc::vec![2], a.clone())
        ]
    );
    assert_eq!(
        group_broadcasts(alloc::vec![(2, a.clone()), (2, a.clone())]),
        [(alloc::vec![2], a.clone()), (alloc::vec![2], a.clone())]
    );
    // A broadcast stays one group even when one of its cores cannot join an earlier group.
    assert_eq!(
        group_broadcasts(alloc::vec![
            (3, a.clone()),
            (3, b.clone()),
            (2, a.clone()),
            (3, a.clone())
        ]),
        [
            (alloc::vec![3], a.clone()),
            (alloc::vec![3], b.clone()),
            (alloc::vec![2, 3], a.clone())
        ]
    );
    assert!(group_broadcasts(Vec::new()).is_empty());
}

/// Random outboxes over few cores and messages: every core's messages come out in the same
/// order, nothing is lost or added, no group has a core twice, groups are in order of their
/// first message, and every run of one message to distinct cores is one group.
#[test]
fn group_broadcasts_keeps_per_core_order() {
    let mut rng = Rng::new(5);
    let msgs = [commit(1, 1), commit(1, 2), commit(1, 3), commit(2, 1)];
    let mut merged = 0;
    for _ in 0..20_000 {
        let len = rng.index(30);
        let outbox: Vec<(CoreId, usize)> = (0..len)
            .map(|_| (rng.below(6) as u32, rng.index(msgs.len())))
            .collect();
        let groups = group_broadcasts(outbox.iter().map(|&(c, k)| (c, msgs[k].clone())).collect());
        // Per core, the same sequence.
        let per_core = |pairs: &mut dyn Iterator<Item = (CoreId, MonMsg)>| {
            let mut m: BTreeMap<CoreId, Vec<MonMsg>> = BTreeMap::new();
            for (c, x) in pairs {
                m.entry(c).or_default().push(x);
            }
            m
        };
        let before = per_core(&mut outbox.iter().map(|&(c, k)| (c, msgs[k].clone())));
        let after = per_core(
            &mut groups
                .iter()
                .flat_map(|(ds, m)| ds.iter().map(move |&d| (d, m.clone()))),
        );
        assert_eq!(before, after, "{outbox:?}");
        merged += outbox.len() - groups.len();
        // Each outbox entry's group (the k-th message to a core is its k-th occurrence in the
        // groups, as per-core order is kept): in order of first appearance, runs together.
        let mut occurrences: BTreeMap<CoreId, VecDeque<usize>> = BTreeMap::new();
        for (g, (ds, _)) in groups.iter().enumerate() {
            for &d in ds {
                occurrences.entry(d).or_default().push_back(g);
            }
        }
        let group_of: Vec<usize> = outbox
            .iter()
            .map(|(c, _)| occurrences.get_mut(c).unwrap().pop_front().unwrap())
            .collect();
        for g in &groups {
            let set: BTreeSet<_> = g.0.iter().collect();
            assert_eq!(set.len(), g.0.len(), "core twice in a group");
            assert!(!g.0.is_empty());
        }
        let mut first_seen = Vec::new();
        for &g in &group_of {
            if !first_seen.contains(&g) {
                first_seen.push(g);
            }
        }
        assert_eq!(first_seen, (0..groups.len()).collect::<Vec<_>>());
        // Runs (greedy, as a monitor would see a broadcast) land in one group.
        let mut i = 0;
        while i < outbox.len() {
            let mut j = i + 1;
            let mut cores = alloc::vec![outbox[i].0];
            while j < outbox.len() && outbox[j].1 == outbox[i].1 && !cores.contains(&outbox[j].0) {
                cores.push(outbox[j].0);
                j += 1;
            }
            assert!(
                group_of[i..j].iter().all(|&g| g == group_of[i]),
                "{outbox:?}"
            );
            i = j;
        }
    }
    assert!(merged > 10_000, "{merged}");
}

/// A replica's outbox through `plan`: one message per group for its broadcasts, votes
/// directly.
#[test]
fn plan_routes_a_replica_outbox() {
    let members: Vec<CoreId> = (0..16).collect();
    // Nodes of 4: {0..4}, {4..8}, {8..12}, {12..16}; core 5 is the root.
    let tree_for = |root: CoreId| {
        let groups = (0..4u32)
            .map(|n| {
                let cores: Vec<CoreId> = (4 * n..4 * n + 4).collect();
                let f = if cores.contains(&root) {
                    root
                } else {
                    cores[3]
                };
                (f, cores)
            })
            .collect();
        Tree::new(root, groups).unwrap()
    };
    let mut r = Replica::new(5, &members);
    let tx = r.start(
        Op::AddDomain {
            domain: 1,
            program: crate::Name::new("p").unwrap(),
        },
        0,
    );
    let out = r.take_outbox();
    assert_eq!(out.len(), 15);
    let sends = plan(&tree_for(5), 5, out);
    assert_eq!(sends.len(), 4);
    let prep = MonMsg::Prepare {
        tx,
        op: Op::AddDomain {
            domain: 1,
            program: crate::Name::new("p").unwrap(),
        },
    };
    assert_eq!(sends[0], (3, fwd(5, &[0, 1, 2, 3], prep.clone())));
    assert_eq!(sends[1], (4, fwd(5, &[4, 6, 7], prep.clone())));
    // A participant's vote goes straight back.
    let mut p = Replica::new(9, &members);
    p.handle(5, prep, 0).unwrap();
    let votes = plan(&tree_for(9), 9, p.take_outbox());
    assert_eq!(
        votes,
        [(
            5,
            MonMsg::Vote {
                tx,
                vote: Vote::Yes
            }
        )]
    );
    assert!(is_broadcast(&commit(1, 1)) && !is_broadcast(&votes[0].1));
}

// ---------------------------------------------------------------------------------------------
// Why a core's path must not depend on the destination set: two reorderings that per-link
// FIFO rules out, and that a Forward taking another path than a direct message would allow.

/// The message to `to` in an outbox.
fn to(out: &[(CoreId, MonMsg)], core: CoreId) -> MonMsg {
    out.iter()
        .find(|(c, _)| *c == core)
        .map(|(_, m)| m.clone())
        .unwrap()
}

fn revoke() -> Op {
    Op::RevokeObject {
        base: 0x1000,
        size: 0x1000,
    }
}

/// An Abort overtaking the Prepare of the same attempt leaves the participant locked forever,
/// and the retry's Prepare is refused there.
#[test]
fn abort_overtaking_its_prepare_leaks_a_lock() {
    let m = [1, 2, 3];
    let (mut c, mut x, mut f) = (
        Replica::new(1, &m),
        Replica::new(2, &m),
        Replica::new(3, &m),
    );
    // F holds a conflicting lock of its own (its Prepares stay in flight).
    f.start(revoke(), 0);
    let _ = f.take_outbox();
    let tx = c.start(revoke(), 0);
    let out = c.take_outbox();
    f.handle(1, to(&out, 3), 0).unwrap();
    c.handle(3, to(&f.take_outbox(), 1), 0).unwrap(); // Busy: abort, Abort to X.
    let abort = to(&c.take_outbox(), 2);
    assert_eq!(abort, MonMsg::Abort { tx });
    // The Abort (say, sent directly) overtakes the Prepare (say, through a forwarder).
    x.handle(1, abort, 0).unwrap();
    x.handle(1, to(&out, 2), 0).unwrap();
    c.handle(2, to(&x.take_outbox(), 1), 0).unwrap();
    assert_eq!(
        (c.locked(), x.locked()),
        (0, 1),
        "X keeps a lock nobody will release"
    );
    let t = c.next_deadline().unwrap();
    c.tick(t);
    let retry = to(&c.take_outbox(), 2);
    assert_eq!(x.handle(1, retry, t), Err(ProtoError::AlreadyPrepared(tx)));
}

/// A retry's Prepare overtaking the previous attempt's Abort: the stale Abort releases the new
/// attempt's lock after the participant voted Yes, and the Commit then finds nothing to apply.
#[test]
fn prepare_overtaking_an_older_abort_loses_a_lock() {
    let m = [1, 2, 3];
    let (mut c, mut x, mut f) = (
        Replica::new(1, &m),
        Replica::new(2, &m),
        Replica::new(3, &m),
    );
    // F's update f holds the range at F and X.
    f.start(revoke(), 0);
    let fo = f.take_outbox();
    x.handle(3, to(&fo, 2), 0).unwrap();
    let x_vote_f = to(&x.take_outbox(), 3);
    // C's attempt 1: Busy at F (decides the abort, Abort to X), then Busy at X.
    let tx = c.start(revoke(), 0);
    let co = c.take_outbox();
    f.handle(1, to(&co, 3), 0).unwrap();
    c.handle(3, to(&f.take_outbox(), 1), 0).unwrap();
    let stale_abort = to(&c.take_outbox(), 2);
    x.handle(1, to(&co, 2), 0).unwrap();
    c.handle(2, to(&x.take_outbox(), 1), 0).unwrap();
    // f commits everywhere; X is free again.
    c.handle(3, to(&fo, 1), 0).unwrap();
    f.handle(2, x_vote_f, 0).unwrap();
    f.handle(1, to(&c.take_outbox(), 3), 0).unwrap();
    let commit_f = f.take_outbox();
    x.handle(3, to(&commit_f, 2), 0).unwrap();
    c.handle(3, to(&commit_f, 1), 0).unwrap();
    f.handle(2, to(&x.take_outbox(), 3), 0).unwrap();
    f.handle(1, to(&c.take_outbox(), 3), 0).unwrap();
    assert_eq!(x.locked(), 0);
    // Attempt 2: its Prepare reaches X before the stale Abort of attempt 1.
    let t = c.next_deadline().unwrap();
    c.tick(t);
    let co = c.take_outbox();
    x.handle(1, to(&co, 2), t).unwrap();
    let x_yes = to(&x.take_outbox(), 1);
    assert_eq!(
        x_yes,
        MonMsg::Vote {
            tx,
            vote: Vote::Yes
        }
    );
    x.handle(1, stale_abort, t).unwrap();
    assert_eq!(x.locked(), 0, "X voted Yes but no longer holds the lock");
    f.handle(1, to(&co, 3), t).unwrap();
    c.handle(2, x_yes, t).unwrap();
    c.handle(3, to(&f.take_outbox(), 1), t).unwrap();
    let commit_c = to(&c.take_outbox(), 2);
    assert_eq!(x.handle(1, commit_c, t), Err(ProtoError::NotPrepared(tx)));
    assert!(c.log.iter().any(|(t, _)| *t == tx));
    assert!(!x.log.iter().any(|(t, _)| *t == tx), "the replicas diverge");
}

// ---------------------------------------------------------------------------------------------
// The agreement protocol through trees.

/// An uncontended update with 32 cores on 4 nodes of 8: the coordinator sends 4 messages per
/// phase instead of 31; every core still gets every message; the total stays 4 (n - 1).
#[test]
fn routed_update_costs() {
    let n = 32;
    let mut sim = Sim::new(n, 1);
    let node_of: Vec<usize> = (0..n).map(|i| i / 8).collect();
    sim.set_trees(&node_of, 0);
    let tx = sim.start(
        13,
        Op::AddDomain {
            domain: 1,
            program: crate::Name::new("p").unwrap(),
        },
    );
    sim.run();
    sim.check_consistent();
    assert_eq!(sim.done[&tx], Ok(()));
    assert_eq!(sim.sent[13], 2 * 4);
    assert_eq!(sim.sent.iter().sum::<u64>(), 4 * (n as u64 - 1));
    // 4 first hops and 27 relayed copies (7 per remote node, 6 on the root's) per phase.
    assert_eq!(sim.forwards, 2 * (4 + 27));
}

#[test]
fn routed_random_mix_4() {
    let relay_only = random_mix(4, 100, 60, 3);
    assert!(relay_only > 0);
}

#[test]
fn routed_random_mix_13() {
    let relay_only = random_mix(13, 40, 80, 4);
    assert!(relay_only > 0);
}

#[test]
fn routed_random_mix_32() {
    let relay_only = random_mix(32, 15, 150, 8);
    assert!(relay_only > 0);
}

#[test]
fn routed_register_race_4_of_16() {
    let relay_only = register_race(16, 4, 150, 4);
    assert!(relay_only > 0);
}

#[test]
fn routed_register_race_32_of_32() {
    let relay_only = register_race(32, 32, 40, 8);
    assert!(relay_only > 0);
}
