//! A deterministic network of replicas: one FIFO queue of URPC messages per ordered pair of
//! members, a seeded PRNG choosing which non-empty link delivers next and when time advances.
//! Every message goes through `wire::encode` and the receiving link's `wire::Decoder`.
//! Optionally ([`Sim::set_trees`]) every replica's outbox is routed through a multicast tree
//! (`route::plan`) and every arrival passes `route::deliver`, relays included.

extern crate std;

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;
use std::format;
use std::string::String;

use urpc::Message;

use super::rng::Rng;
use crate::route::{deliver, plan, Tree};
use crate::wire::{encode, Decoder, MonMsg, Vote};
use crate::{Config, CoreId, Effect, Op, Replica, Tables, TxId, UpdateError};

pub type Outcome = Result<(), UpdateError>;

pub struct Sim {
    pub ids: Vec<CoreId>,
    pub reps: Vec<Replica>,
    n: usize,
    /// `links[from * n + to]`.
    links: Vec<VecDeque<Message>>,
    decoders: Vec<Decoder>,
    /// Indices of non-empty links, and each link's position in it (`usize::MAX` if empty).
    nonempty: Vec<usize>,
    pos: Vec<usize>,
    pub now: u64,
    pub rng: Rng,
    /// Deliveries per time unit, on average (time advances with probability 1/(1+rate)).
    pub rate: u64,
    /// Every update started: tx -> (replica index, op).
    pub started: BTreeMap<TxId, (usize, Op)>,
    /// Every completion, in order.
    pub done: BTreeMap<TxId, Outcome>,
    /// Effects per replica, in order.
    pub effects: Vec<Vec<Effect>>,
    pub delivered: u64,
    /// Busy votes delivered (evidence of contention).
    pub busy_votes: u64,
    /// Abort messages delivered.
    pub aborts: u64,
    /// One multicast tree per replica (rooted there), or none: everything direct.
    pub trees: Option<Vec<Tree>>,
    /// Monitor messages sent, per replica (relayed copies included).
    pub sent: Vec<u64>,
    /// Forwards sent (first hops and relayed copies).
    pub forwards: u64,
    /// First-hop Forwards to a relay that is not a target (it only relays).
    pub relay_only: u64,
}

impl Sim {
    /// `n` replicas on cores `3i + 1` (non-contiguous ids exercise the member mapping).
    pub fn new(n: usize, seed: u64) -> Sim {
        Sim::with_config(n, seed, Config::default())
    }

    pub fn with_config(n: usize, seed: u64, config: Config) -> Sim {
        let ids: Vec<CoreId> = (0..n as u32).map(|i| i * 3 + 1).collect();
        let reps = ids
            .iter()
            .map(|&me| Replica::with_config(me, &ids, config))
            .collect();
        Sim {
            reps,
            n,
            links: (0..n * n).map(|_| VecDeque::new()).collect(),
            decoders: (0..n * n).map(|_| Decoder::new()).collect(),
            nonempty: Vec::new(),
            pos: alloc::vec![usize::MAX; n * n],
            now: 0,
            rng: Rng::new(seed),
            rate: 4,
            started: BTreeMap::new(),
            done: BTreeMap::new(),
            effects: (0..n).map(|_| Vec::new()).collect(),
            delivered: 0,
            busy_votes: 0,
            aborts: 0,
            trees: None,
            sent: alloc::vec![0; n],
            forwards: 0,
            relay_only: 0,
            ids,
        }
    }

    pub fn idx(&self, core: CoreId) -> usize {
        self.ids.binary_search(&core).expect("member")
    }

    /// Start `op` at replica `i`.
    pub fn start(&mut self, i: usize, op: Op) -> TxId {
        let now = self.now;
        let tx = self.reps[i].start(op.clone(), now);
        assert!(self.started.insert(tx, (i, op)).is_none(), "tx id reused");
        self.collect(i);
        tx
    }

    /// Route every replica's broadcasts through a tree: `node_of[i]` is the NUMA node of
    /// replica `i`; each root's tree has its own node's group (forwarder = root) and one group
    /// per other node with a random forwarder, in random order; with probability
    /// `1/leave_out` (0: never) a group is left out (its cores are then reached directly).
    pub fn set_trees(&mut self, node_of: &[usize], leave_out: u64) {
        let nodes = node_of.iter().max().map_or(0, |m| m + 1);
        let mut trees = Vec::new();
        for root in 0..self.n {
            let mut groups = Vec::new();
            for node in 0..nodes {
                let mut cores: Vec<CoreId> = (0..self.n)
                    .filter(|&i| node_of[i] == node)
                    .map(|i| self.ids[i])
                    .collect();
                if cores.is_empty() {
                    continue;
                }
                shuffle(&mut self.rng, &mut cores);
                let fwd = if node == node_of[root] {
                    self.ids[root]
                } else {
                    if leave_out > 0 && self.rng.chance(1, leave_out) {
                        continue;
                    }
                    cores[self.rng.index(cores.len())]
                };
                groups.push((fwd, cores));
            }
            shuffle(&mut self.rng, &mut groups);
            trees.push(Tree::new(self.ids[root], groups).expect("valid tree"));
        }
        self.trees = Some(trees);
    }

    /// Put `msg` from replica `i` on the link to `to`.
    fn send(&mut self, i: usize, to: CoreId, msg: &MonMsg) {
        let j = self.idx(to);
        assert_ne!(i, j, "message to self");
        let parts = encode(msg).expect("encodable");
        self.sent[i] += 1;
        if let MonMsg::Forward {
            origin, targets, ..
        } = msg
        {
            self.forwards += 1;
            if *origin == self.ids[i] && !targets.contains(&to) {
                self.relay_only += 1;
            }
        }
        let l = i * self.n + j;
        if self.links[l].is_empty() && !parts.is_empty() {
            self.pos[l] = self.nonempty.len();
            self.nonempty.push(l);
        }
        self.links[l].extend(parts);
    }

    /// Move replica `i`'s outbox onto the links, record completions and effects.
    fn collect(&mut self, i: usize) {
        let out = self.reps[i].take_outbox();
        let out = match &self.trees {
            Some(t) => plan(&t[i], self.ids[i], out),
            None => out,
        };
        for (to, msg) in out {
            self.send(i, to, &msg);
        }
        for (tx, r) in self.reps[i].take_completions() {
            assert_eq!(
                tx.core, self.ids[i],
                "completion of a tx coordinated elsewhere"
            );
            assert!(
                self.started.contains_key(&tx),
                "completion of an unknown tx"
            );
            assert!(self.done.insert(tx, r).is_none(), "{tx} completed twice");
            if r.is_ok() {
                for rep in &self.reps {
                    assert!(
                        rep.log.iter().any(|(t, _)| *t == tx),
                        "{tx} completed Ok before {} applied it",
                        rep.me()
                    );
                }
            }
        }
        let e = self.reps[i].take_effects();
        self.effects[i].extend(e);
    }

    fn pop_link(&mut self, l: usize) -> Option<Message> {
        let m = self.links[l].pop_front()?;
        if self.links[l].is_empty() {
            let p = self.pos[l];
            self.nonempty.swap_remove(p);
            if let Some(&moved) = self.nonempty.get(p) {
                self.pos[moved] = p;
            }
            self.pos[l] = usize::MAX;
        }
        Some(m)
    }

    /// Deliver one URPC message from a random non-empty link. False if none.
    pub fn deliver_one(&mut self) -> bool {
        if self.nonempty.is_empty() {
            return false;
        }
        let l = self.nonempty[self.rng.index(self.nonempty.len())];
        let m = self.pop_link(l).expect("non-empty");
        let (from, to) = (l / self.n, l % self.n);
        self.delivered += 1;
        match self.decoders[l].push(&m) {
            Ok(None) => {}
            Ok(Some(msg)) => {
                let d = deliver(self.ids[to], self.ids[from], msg).expect("routable");
                for (t, m) in &d.onward {
                    self.send(to, *t, m);
                }
                let Some((origin, msg)) = d.local else {
                    return true;
                };
                match msg {
                    MonMsg::Vote {
                        vote: Vote::Busy, ..
                    } => self.busy_votes += 1,
                    MonMsg::Abort { .. } => self.aborts += 1,
                    _ => {}
                }
                let now = self.now;
                let r = self.reps[to].handle(origin, msg.clone(), now);
                assert_eq!(r, Ok(()), "replica {} refused {msg:?}", self.ids[to]);
                self.collect(to);
            }
            Err(e) => panic!("decoder error on a valid stream: {e:?}"),
        }
        true
    }

    /// Advance time by one unit (or to the next deadline if nothing is in flight) and tick
    /// every replica.
    pub fn advance(&mut self) {
        self.now += 1;
        if self.nonempty.is_empty() {
            if let Some(d) = self.reps.iter().filter_map(|r| r.next_deadline()).min() {
                self.now = self.now.max(d);
            }
        }
        for i in 0..self.n {
            if self.reps[i].next_deadline().is_some_and(|d| d <= self.now) {
                let now = self.now;
                self.reps[i].tick(now);
                self.collect(i);
            }
        }
    }

    /// One random step: a delivery, or (sometimes, or when nothing is in flight) time passes.
    pub fn step(&mut self) {
        if self.nonempty.is_empty() || self.rng.chance(1, 1 + self.rate) {
            self.advance();
        } else {
            self.deliver_one();
        }
    }

    pub fn quiet(&self) -> bool {
        self.nonempty.is_empty() && self.reps.iter().all(|r| r.pending() == 0)
    }

    /// Run until nothing is in flight anywhere.
    pub fn run(&mut self) {
        let mut steps = 0u64;
        while !self.quiet() {
            self.step();
            steps += 1;
            assert!(steps < 50_000_000, "no quiescence");
        }
    }

    /// Run, starting `ops` (replica index, op) at random moments along the way.
    pub fn run_with(&mut self, mut ops: VecDeque<(usize, Op)>, spread: u64) {
        while let Some((i, op)) = ops.pop_front() {
            self.start(i, op);
            let k = self.rng.below(spread + 1);
            for _ in 0..k {
                self.step();
            }
        }
        self.run();
    }

    /// The replicas are quiescent and agree: no message, partial message, transaction or lock
    /// left; equal tables and digests; the same committed transactions everywhere, applied in
    /// the same order wherever they conflict; every replica's tables and effects are a
    /// sequential replay of its log; completions match the logs.
    pub fn check_consistent(&self) {
        assert!(self.quiet());
        assert!(self.decoders.iter().all(|d| !d.in_progress()));
        for r in &self.reps {
            assert_eq!(r.locked(), 0, "locks left at {}", r.me());
            assert_eq!(r.pending(), 0);
        }
        let t0 = self.reps[0].tables();
        let d0 = self.reps[0].digest();
        for r in &self.reps {
            assert_eq!(r.tables(), t0, "tables of {} differ", r.me());
            assert_eq!(r.digest(), d0);
        }
        // Replay.
        for (i, r) in self.reps.iter().enumerate() {
            let mut t = Tables::new();
            let mut eff = Vec::new();
            for (tx, op) in &r.log {
                assert_eq!(
                    t.apply(op, &mut eff),
                    Ok(()),
                    "replay of {tx} at {}",
                    r.me()
                );
            }
            assert_eq!(&t, r.tables());
            assert_eq!(eff, self.effects[i], "effects of {}", r.me());
        }
        // Same transactions, conflicting ones in the same order.
        let log0: Vec<(TxId, Op)> = self.reps[0].log.clone();
        let committed: BTreeMap<TxId, usize> = log0
            .iter()
            .enumerate()
            .map(|(k, (tx, _))| (*tx, k))
            .collect();
        assert_eq!(committed.len(), log0.len(), "a tx applied twice");
        let mut pairs = Vec::new();
        for a in 0..log0.len() {
            for b in a + 1..log0.len() {
                if log0[a].1.conflicts(&log0[b].1) {
                    pairs.push((log0[a].0, log0[b].0));
                }
            }
        }
        for r in &self.reps[1..] {
            assert_eq!(r.log.len(), log0.len());
            let pos: BTreeMap<TxId, usize> = r
                .log
                .iter()
                .enumerate()
                .map(|(k, (tx, _))| (*tx, k))
                .collect();
            assert_eq!(pos.len(), r.log.len());
            for (tx, _) in &log0 {
                assert!(pos.contains_key(tx), "{tx} missing at {}", r.me());
            }
            for (a, b) in &pairs {
                assert!(
                    pos[a] < pos[b],
                    "{a} and {b} in different orders at {}",
                    r.me()
                );
            }
        }
        // Completions.
        assert_eq!(
            self.done.len(),
            self.started.len(),
            "not every update completed"
        );
        for (tx, r) in &self.done {
            assert_eq!(r.is_ok(), committed.contains_key(tx), "{tx}: {r:?}");
        }
    }

    /// Outcomes of the given transactions.
    pub fn outcomes(&self, txs: &[TxId]) -> Vec<Outcome> {
        txs.iter().map(|t| self.done[t]).collect()
    }

    #[allow(dead_code)]
    pub fn describe(&self) -> String {
        format!("now {} delivered {}", self.now, self.delivered)
    }
}

/// Fisher-Yates.
pub fn shuffle<T>(rng: &mut Rng, v: &mut [T]) {
    for k in (1..v.len()).rev() {
        v.swap(k, rng.index(k + 1));
    }
}
