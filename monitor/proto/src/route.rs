//! Multicast routing of a coordinator's broadcasts through a NUMA-aware two-level tree.
//!
//! The System Knowledge Base groups the cores by NUMA node and picks, for each remote node, a
//! *forwarder* there; the root (the sending monitor) sends one message per group, farthest
//! node first, and each group's first receiver fans the message out on its own node. Here:
//!
//! * [`Tree`] is that answer for one root, validated;
//! * [`fan_out`] turns "send `msg` to these cores" into the root's sends: per group one
//!   [`MonMsg::Forward`] (or the plain message when its relay is the only destination);
//! * [`deliver`] is what every monitor does with an incoming message: unpack a Forward, hand
//!   its inner message to itself if it is a target, and relay copies to the other targets;
//! * [`group_broadcasts`] and [`plan`] turn a [`crate::Replica`]'s outbox into sends.
//!
//! **Fixed paths.** Which way `me` reaches a core ([`Tree::relay`]) depends only on the tree,
//! `me` and that core, never on the other destinations of a message: if the group's relay is
//! not a destination it still receives the Forward and only relays it (it is not among the
//! targets); a lone destination that is not the relay still goes through the relay. So all of
//! one origin's messages to a core travel the same path, and arrive in the order sent (every
//! link is FIFO and a relay sends its copies in the order the Forwards arrive). The agreement
//! protocol needs that order; `PROTOCOL.md` (section 7) shows how it breaks with paths that
//! depend on the destination set.

use alloc::boxed::Box;
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;
use core::fmt;

use crate::wire::{check_forward, MonMsg, WireError, MAX_TARGETS};
use crate::CoreId;

/// One group of a [`Tree`]: the cores of one NUMA node and the one that receives first.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Group {
    forwarder: CoreId,
    cores: Vec<CoreId>,
}

impl Group {
    /// The core that receives the group's Forward and fans it out (the root itself for the
    /// root's own group).
    pub fn forwarder(&self) -> CoreId {
        self.forwarder
    }

    /// The group's cores, in the order given (the forwarder included).
    pub fn cores(&self) -> &[CoreId] {
        &self.cores
    }

    /// The core through which `me` reaches this group: the forwarder, or if that is `me`
    /// (the root's own group), the first other core listed. `None` if the group is just `me`.
    pub fn relay(&self, me: CoreId) -> Option<CoreId> {
        if self.forwarder != me {
            Some(self.forwarder)
        } else {
            self.cores.iter().copied().find(|&c| c != me)
        }
    }
}

/// A validated multicast tree for one root: groups of cores, each with its forwarder.
///
/// Every core is in at most one group; each forwarder is one of its group's cores; the root
/// may only be in its own group, whose forwarder is the root. Groups are kept in the order
/// given (the SKB lists the farthest node first), which is the order [`fan_out`] sends in.
/// Cores in no group are reached directly. A root whose own cores should be reached directly
/// rather than through one of them lists each of them as a group of its own.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Tree {
    root: CoreId,
    groups: Vec<Group>,
    /// Core -> index of its group.
    index: BTreeMap<CoreId, usize>,
}

/// Why [`Tree::new`] refused the groups.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TreeError {
    /// A group without cores.
    EmptyGroup {
        /// Its forwarder.
        forwarder: CoreId,
    },
    /// A group's forwarder is not one of its cores.
    ForwarderNotInGroup {
        /// The forwarder.
        forwarder: CoreId,
    },
    /// A group of more than [`MAX_TARGETS`] cores (its Forward could not be encoded).
    GroupTooLarge {
        /// Its forwarder.
        forwarder: CoreId,
        /// Its size.
        len: usize,
    },
    /// A core listed twice (in one group or in two).
    DuplicateCore(CoreId),
    /// The root is in a group whose forwarder is another core.
    RootInForeignGroup {
        /// That group's forwarder.
        forwarder: CoreId,
    },
}

impl fmt::Display for TreeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TreeError::EmptyGroup { forwarder } => write!(f, "group of {forwarder} is empty"),
            TreeError::ForwarderNotInGroup { forwarder } => {
                write!(f, "forwarder {forwarder} is not in its group")
            }
            TreeError::GroupTooLarge { forwarder, len } => {
                write!(
                    f,
                    "group of {forwarder} has {len} cores (at most {MAX_TARGETS})"
                )
            }
            TreeError::DuplicateCore(c) => write!(f, "core {c} listed twice"),
            TreeError::RootInForeignGroup { forwarder } => {
                write!(f, "the root is in the group of {forwarder}")
            }
        }
    }
}

impl Tree {
    /// Validate the SKB's answer for `root`: `(forwarder, cores)` per group.
    pub fn new(root: CoreId, groups: Vec<(CoreId, Vec<CoreId>)>) -> Result<Tree, TreeError> {
        let mut index = BTreeMap::new();
        let mut out = Vec::with_capacity(groups.len());
        for (k, (forwarder, cores)) in groups.into_iter().enumerate() {
            if cores.is_empty() {
                return Err(TreeError::EmptyGroup { forwarder });
            }
            if cores.len() > MAX_TARGETS {
                return Err(TreeError::GroupTooLarge {
                    forwarder,
                    len: cores.len(),
                });
            }
            if !cores.contains(&forwarder) {
                return Err(TreeError::ForwarderNotInGroup { forwarder });
            }
            if forwarder != root && cores.contains(&root) {
                return Err(TreeError::RootInForeignGroup { forwarder });
            }
            for &c in &cores {
                if index.insert(c, k).is_some() {
                    return Err(TreeError::DuplicateCore(c));
                }
            }
            out.push(Group { forwarder, cores });
        }
        Ok(Tree {
            root,
            groups: out,
            index,
        })
    }

    /// A tree without groups: everything is sent directly.
    pub fn direct(root: CoreId) -> Tree {
        Tree {
            root,
            groups: Vec::new(),
            index: BTreeMap::new(),
        }
    }

    /// The root this tree was built for.
    pub fn root(&self) -> CoreId {
        self.root
    }

    /// The groups, in sending order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The group of `core`, if it is in the tree.
    pub fn group_of(&self, core: CoreId) -> Option<&Group> {
        self.index.get(&core).and_then(|&k| self.groups.get(k))
    }

    /// The core through which [`fan_out`] from `me` reaches `core`, or `None` if it sends to
    /// `core` directly (`core` is its group's relay, or in no group). Depends on nothing else,
    /// in particular not on a message's other destinations.
    pub fn relay(&self, me: CoreId, core: CoreId) -> Option<CoreId> {
        self.group_of(core)
            .and_then(|g| g.relay(me))
            .filter(|&r| r != core && core != me)
    }
}

/// The sends by which `me` delivers `msg` to exactly the cores in `dests` (duplicates and `me`
/// itself are ignored), in order: for each group of the tree with destinations, one message to
/// the group's relay ([`Group::relay`]): `msg` itself if the relay is the group's only
/// destination, else `Forward { origin: me, targets: the group's destinations, inner: msg }`
/// (the relay delivers to itself only if it is a target). Then `msg` directly to each
/// destination in no group. Never sends to `me`; sends at most one message per group with
/// destinations; each core's path is [`Tree::relay`], fixed whatever `dests` is.
///
/// `msg` should not be a Forward (Forwards do not nest); if it is, it is sent directly to each
/// destination.
pub fn fan_out(tree: &Tree, me: CoreId, dests: &[CoreId], msg: &MonMsg) -> Vec<(CoreId, MonMsg)> {
    let mut want: BTreeSet<CoreId> = dests.iter().copied().filter(|&d| d != me).collect();
    let mut out = Vec::new();
    if !matches!(msg, MonMsg::Forward { .. }) {
        for g in &tree.groups {
            let targets: Vec<CoreId> = g.cores.iter().copied().filter(|c| want.remove(c)).collect();
            let Some(relay) = g.relay(me) else {
                continue;
            };
            match targets.as_slice() {
                [] => {}
                [only] if *only == relay => out.push((relay, msg.clone())),
                _ => out.push((
                    relay,
                    MonMsg::Forward {
                        origin: me,
                        targets,
                        inner: Box::new(msg.clone()),
                    },
                )),
            }
        }
    }
    for &d in dests {
        if want.remove(&d) {
            out.push((d, msg.clone()));
        }
    }
    out
}

/// What a monitor does with an incoming message ([`deliver`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Delivery {
    /// The message for this monitor and the core it comes from (a Forward's origin), if it is
    /// for this monitor at all (a relay that is not a target only relays).
    pub local: Option<(CoreId, MonMsg)>,
    /// Copies to send on, in order: send them before handling anything that arrives later on
    /// the same link, so that each origin's messages keep their order along their path.
    pub onward: Vec<(CoreId, MonMsg)>,
}

/// Why [`deliver`] refused a message.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RouteError {
    /// A message "from" this monitor itself.
    FromSelf,
    /// A Forward whose origin is this monitor.
    OriginIsSelf,
    /// A Forward whose targets include its origin.
    TargetIsOrigin,
    /// A Forward relayed by a core other than its origin that does not target exactly this
    /// monitor: only the origin asks for relaying, so paths are at most two hops.
    TooDeep {
        /// The relaying core.
        from: CoreId,
    },
    /// A Forward that could not be encoded (nested, no targets, too many, duplicates); the
    /// decoder never produces one.
    Malformed(WireError),
}

impl fmt::Display for RouteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteError::FromSelf => write!(f, "message from self"),
            RouteError::OriginIsSelf => write!(f, "forward of our own message"),
            RouteError::TargetIsOrigin => write!(f, "forward back to its origin"),
            RouteError::TooDeep { from } => {
                write!(f, "core {from} relays a forward for other cores")
            }
            RouteError::Malformed(e) => write!(f, "malformed forward: {e}"),
        }
    }
}

/// What monitor `me` does with `msg`, received from core `from`: a non-Forward is for `me`,
/// from `from`. A Forward is for `me` from its origin if `me` is a target, and every other
/// target gets a copy `Forward { origin, targets: [it], inner }` (copies are only made of a
/// Forward that comes from its origin). Nothing changes on error.
pub fn deliver(me: CoreId, from: CoreId, msg: MonMsg) -> Result<Delivery, RouteError> {
    if from == me {
        return Err(RouteError::FromSelf);
    }
    let MonMsg::Forward {
        origin,
        targets,
        inner,
    } = msg
    else {
        return Ok(Delivery {
            local: Some((from, msg)),
            onward: Vec::new(),
        });
    };
    check_forward(&targets, &inner).map_err(RouteError::Malformed)?;
    if origin == me {
        return Err(RouteError::OriginIsSelf);
    }
    if targets.contains(&origin) {
        return Err(RouteError::TargetIsOrigin);
    }
    if from != origin && targets != [me] {
        return Err(RouteError::TooDeep { from });
    }
    let onward = targets
        .iter()
        .filter(|&&t| t != me)
        .map(|&t| {
            (
                t,
                MonMsg::Forward {
                    origin,
                    targets: alloc::vec![t],
                    inner: inner.clone(),
                },
            )
        })
        .collect();
    let local = targets.contains(&me).then_some((origin, *inner));
    Ok(Delivery { local, onward })
}

/// Merge the messages of an outbox (as [`crate::Replica::take_outbox`] returns it) that are
/// identical and go to several cores — a transaction's Prepare, Commit or Abort — into one
/// `(destinations, message)` each, so that the monitor calls [`fan_out`] once per message.
/// Groups come in the order of their first message. A run of consecutive identical messages to
/// distinct cores (a broadcast) always ends up in one group.
///
/// **Order.** Per-core order is kept: the messages to any one core come out in the order they
/// went in. A run joins an earlier group of the same message only if none of its cores has a
/// message in that group or any later one (else it starts a new group at the end), so no
/// message moves ahead of an earlier message to its core; and since groups keep their order, a
/// later message to the core stays after it. Only the relative order of messages to
/// *different* cores changes, and nothing can observe that: they travel on different links.
pub fn group_broadcasts(outbox: Vec<(CoreId, MonMsg)>) -> Vec<(Vec<CoreId>, MonMsg)> {
    let mut groups: Vec<(Vec<CoreId>, MonMsg)> = Vec::new();
    // Core -> index of the last group holding a message to it.
    let mut last: BTreeMap<CoreId, usize> = BTreeMap::new();
    let mut it = outbox.into_iter().peekable();
    while let Some((to, msg)) = it.next() {
        // The run: this message to distinct cores.
        let mut run = alloc::vec![to];
        let mut in_run = BTreeSet::from([to]);
        while let Some((c, _)) = it.next_if(|(c, m)| *m == msg && !in_run.contains(c)) {
            in_run.insert(c);
            run.push(c);
        }
        let floor = run
            .iter()
            .filter_map(|c| last.get(c).map(|&k| k + 1))
            .max()
            .unwrap_or(0);
        let join = groups
            .get(floor..)
            .and_then(|gs| gs.iter().rposition(|(_, m)| *m == msg))
            .map(|k| k + floor);
        let k = match join {
            Some(k) => k,
            None => {
                groups.push((Vec::new(), msg));
                groups.len() - 1
            }
        };
        for &c in &run {
            last.insert(c, k);
        }
        if let Some((dests, _)) = groups.get_mut(k) {
            dests.extend(run);
        }
    }
    groups
}

/// Whether [`plan`] sends `msg` through the tree: the coordinator's Prepare, Commit and Abort.
pub fn is_broadcast(msg: &MonMsg) -> bool {
    matches!(
        msg,
        MonMsg::Prepare { .. } | MonMsg::Commit { .. } | MonMsg::Abort { .. }
    )
}

/// The sends for a replica's outbox: every Prepare, Commit and Abort through the tree
/// ([`group_broadcasts`] then [`fan_out`], also for a single destination, so that each core's
/// path stays fixed), everything else (votes, acks, the monitor's own messages) directly.
/// Per-core order along each path is kept (see [`group_broadcasts`]).
pub fn plan(tree: &Tree, me: CoreId, outbox: Vec<(CoreId, MonMsg)>) -> Vec<(CoreId, MonMsg)> {
    let mut out = Vec::new();
    for (dests, msg) in group_broadcasts(outbox) {
        if is_broadcast(&msg) {
            out.extend(fan_out(tree, me, &dests, &msg));
        } else {
            out.extend(
                dests
                    .into_iter()
                    .filter(|&d| d != me)
                    .map(|d| (d, msg.clone())),
            );
        }
    }
    out
}
