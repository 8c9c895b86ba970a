//! Agreement: two-phase commit coordinated by the monitor that starts an update.
//!
//! A [`Replica`] is one monitor's share of the protocol: its copy of the [`Tables`], the locks
//! it holds for transactions being prepared, and the transactions it coordinates. It does no
//! I/O and reads no clock: the monitor feeds it messages ([`Replica::handle`]) and the time
//! ([`Replica::tick`]), and drains what it wants sent ([`Replica::take_outbox`]), the finished
//! updates ([`Replica::take_completions`]) and the local work that committed updates demand
//! ([`Replica::take_effects`]). `PROTOCOL.md` beside this crate describes the protocol.
//!
//! Assumptions: membership is fixed; links between members are reliable and FIFO (URPC);
//! monitors do not crash and are trusted (the checks on incoming messages catch bugs, not
//! malice). A dead monitor blocks every update that needs its vote or acknowledgement.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::fmt;

use crate::tables::Tables;
use crate::wire::{MonMsg, Vote};
use crate::{Binding, CoreId, DomainId, Effect, Name, Op, TxId, UpdateError};

/// Tuning of retries after a transaction lost to a concurrent one (a `Busy` vote).
///
/// The delay before attempt `a + 1` is `w + w * rank / n + jitter`, where
/// `w = retry_base << min(a - 1, max_shift)`, `rank` is this core's position among the `n`
/// members (sorted by core id) and `jitter` is a deterministic pseudo-random value below
/// `w / (2n)`. So the window doubles with every lost attempt, and within it lower-ranked
/// cores retry first, at least `w / (2n)` apart: once that gap exceeds a round trip, the
/// lowest-ranked contender prepares alone and wins.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Config {
    /// The first window, in the units of `now` (the monitor passes microseconds).
    pub retry_base: u64,
    /// The window stops doubling after this many lost attempts (clamped to 40).
    pub max_shift: u32,
    /// Attempts before an update completes with [`UpdateError::GaveUp`] (at least 1).
    pub max_attempts: u32,
}

impl Config {
    /// The defaults: a first window of 8 units (microseconds: 8 us), doubling up to
    /// `8 << 14` (131 ms), 64 attempts.
    pub const DEFAULT: Config = Config {
        retry_base: 8,
        max_shift: 14,
        max_attempts: 64,
    };
}

impl Default for Config {
    fn default() -> Self {
        Config::DEFAULT
    }
}

/// Why [`Replica::handle`] refused a message. The replica's state is unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProtoError {
    /// Hello, HelloAck, Request, Reply and Forward are the monitor's business, not the
    /// protocol's.
    NotAgreement,
    /// The sender is not a member.
    NotMember(CoreId),
    /// A message "from" this replica itself.
    FromSelf,
    /// A Prepare, Commit or Abort from a core other than the transaction's coordinator.
    NotCoordinator {
        /// The transaction.
        tx: TxId,
        /// The sender.
        from: CoreId,
    },
    /// A Vote or Ack for a transaction that another core coordinates.
    NotOurs(TxId),
    /// A Vote or Ack for a transaction this replica does not coordinate (or no longer).
    UnknownTx(TxId),
    /// A Prepare of a transaction that is already prepared here.
    AlreadyPrepared(TxId),
    /// A Commit of a transaction that is not prepared here.
    NotPrepared(TxId),
    /// A Vote while the transaction is not collecting votes, or a second one from a member.
    UnexpectedVote(TxId),
    /// An Ack while the transaction is not committing, or a second one from a member.
    UnexpectedAck(TxId),
    /// A Prepare whose update has invalid arguments.
    InvalidOp(UpdateError),
    /// A vote no participant sends (`No(GaveUp)`).
    BadVote(TxId),
}

impl fmt::Display for ProtoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtoError::NotAgreement => write!(f, "not an agreement message"),
            ProtoError::NotMember(c) => write!(f, "core {c} is not a member"),
            ProtoError::FromSelf => write!(f, "message from self"),
            ProtoError::NotCoordinator { tx, from } => {
                write!(f, "tx {tx}: core {from} is not its coordinator")
            }
            ProtoError::NotOurs(tx) => write!(f, "tx {tx} is coordinated elsewhere"),
            ProtoError::UnknownTx(tx) => write!(f, "tx {tx} unknown"),
            ProtoError::AlreadyPrepared(tx) => write!(f, "tx {tx} already prepared"),
            ProtoError::NotPrepared(tx) => write!(f, "tx {tx} not prepared"),
            ProtoError::UnexpectedVote(tx) => write!(f, "tx {tx}: unexpected vote"),
            ProtoError::UnexpectedAck(tx) => write!(f, "tx {tx}: unexpected ack"),
            ProtoError::InvalidOp(e) => write!(f, "prepare of an invalid update: {e}"),
            ProtoError::BadVote(tx) => write!(f, "tx {tx}: invalid vote"),
        }
    }
}

/// What the coordinator knows of one member's answer in the current phase.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    /// Nothing heard yet.
    Pending,
    /// Voted Yes (holds the lock), or acknowledged the commit.
    Yes,
    /// Voted No or Busy (holds nothing).
    Refused,
    /// This replica itself.
    Me,
}

/// What happens once every vote of an aborted attempt has arrived.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AfterAbort {
    /// Already completed with an error: forget the transaction.
    Done,
    /// Start the next attempt at this time.
    Retry(u64),
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Phase {
    /// Waiting to (re)try; nothing outstanding.
    Backoff { retry_at: u64 },
    /// Prepare sent; collecting one vote per participant. Once `abort` is set the attempt is
    /// decided (Abort sent) and the remaining votes are only counted.
    Voting {
        slots: Vec<Slot>,
        outstanding: usize,
        abort: Option<AfterAbort>,
    },
    /// Applied here and Commit sent; collecting one Ack per participant.
    Committing {
        slots: Vec<Slot>,
        outstanding: usize,
    },
}

/// A transaction this replica coordinates.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Coordinated {
    op: Op,
    /// Attempts started so far (the current one included).
    attempt: u32,
    phase: Phase,
}

/// One monitor's replica of the global state and its side of the agreement protocol.
#[derive(Clone, Debug)]
pub struct Replica {
    me: CoreId,
    /// Sorted, without duplicates, `me` included.
    members: Vec<CoreId>,
    config: Config,
    tables: Tables,
    /// Keys locked here, by transaction (ours while we prepare them, and others' that we
    /// voted Yes for).
    locks: BTreeMap<TxId, Op>,
    /// Transactions we coordinate.
    txs: BTreeMap<TxId, Coordinated>,
    next_seq: u32,
    outbox: Vec<(CoreId, MonMsg)>,
    completions: Vec<(TxId, Result<(), UpdateError>)>,
    effects: Vec<Effect>,
    /// Every update applied here, in order (for the tests' replay checks).
    #[cfg(test)]
    pub(crate) log: Vec<(TxId, Op)>,
    /// The most attempts any update started here needed (for the tests' statistics).
    #[cfg(test)]
    pub(crate) max_attempt: u32,
}

impl Replica {
    /// A replica for core `me` in the group `members` (sorted and deduplicated; `me` is added
    /// if missing), with the default [`Config`].
    pub fn new(me: CoreId, members: &[CoreId]) -> Replica {
        Replica::with_config(me, members, Config::DEFAULT)
    }

    /// As [`Replica::new`] with a chosen [`Config`].
    pub fn with_config(me: CoreId, members: &[CoreId], config: Config) -> Replica {
        let mut m = members.to_vec();
        m.push(me);
        m.sort_unstable();
        m.dedup();
        Replica {
            me,
            members: m,
            config,
            tables: Tables::new(),
            locks: BTreeMap::new(),
            txs: BTreeMap::new(),
            next_seq: 0,
            outbox: Vec::new(),
            completions: Vec::new(),
            effects: Vec::new(),
            #[cfg(test)]
            log: Vec::new(),
            #[cfg(test)]
            max_attempt: 0,
        }
    }

    /// This replica's core.
    pub fn me(&self) -> CoreId {
        self.me
    }

    /// All members, sorted, this one included.
    pub fn members(&self) -> &[CoreId] {
        &self.members
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Start an update (split-phase): returns its id at once; the outcome comes later through
    /// [`Replica::take_completions`] (possibly before this returns, e.g. for an update that is
    /// invalid against this replica, which sends nothing). `Ok` is reported when every member
    /// has applied the update.
    pub fn start(&mut self, op: Op, now: u64) -> TxId {
        let tx = self.alloc_tx();
        if let Err(e) = op.check_args() {
            self.completions.push((tx, Err(e)));
            return tx;
        }
        self.txs.insert(
            tx,
            Coordinated {
                op,
                attempt: 0,
                phase: Phase::Backoff { retry_at: now },
            },
        );
        self.attempt(tx, now);
        tx
    }

    /// A fresh transaction id (skipping ids still in use after the sequence wraps).
    fn alloc_tx(&mut self) -> TxId {
        loop {
            let tx = TxId {
                core: self.me,
                seq: self.next_seq,
            };
            self.next_seq = self.next_seq.wrapping_add(1);
            if !self.txs.contains_key(&tx) && !self.locks.contains_key(&tx) {
                return tx;
            }
        }
    }

    /// A message from monitor `from`. Agreement messages only (Prepare, Vote, Commit, Abort,
    /// Ack); a malformed or unexpected one is refused with the state unchanged. A
    /// [`MonMsg::Forward`] is unpacked by [`crate::route::deliver`] first: pass its inner
    /// message here with `from` = its origin.
    pub fn handle(&mut self, from: CoreId, msg: MonMsg, now: u64) -> Result<(), ProtoError> {
        if matches!(
            msg,
            MonMsg::Hello { .. }
                | MonMsg::HelloAck { .. }
                | MonMsg::Request { .. }
                | MonMsg::Reply { .. }
                | MonMsg::Forward { .. }
        ) {
            return Err(ProtoError::NotAgreement);
        }
        if from == self.me {
            return Err(ProtoError::FromSelf);
        }
        if self.members.binary_search(&from).is_err() {
            return Err(ProtoError::NotMember(from));
        }
        match msg {
            MonMsg::Prepare { tx, op } => self.on_prepare(from, tx, op),
            MonMsg::Vote { tx, vote } => self.on_vote(from, tx, vote, now),
            MonMsg::Commit { tx } => self.on_commit(from, tx),
            MonMsg::Abort { tx } => self.on_abort(from, tx),
            MonMsg::Ack { tx } => self.on_ack(from, tx),
            _ => Err(ProtoError::NotAgreement),
        }
    }

    /// Start the attempts whose backoff has expired at `now`.
    pub fn tick(&mut self, now: u64) {
        let due: Vec<TxId> = self
            .txs
            .iter()
            .filter(|(_, t)| matches!(t.phase, Phase::Backoff { retry_at } if retry_at <= now))
            .map(|(tx, _)| *tx)
            .collect();
        for tx in due {
            self.attempt(tx, now);
        }
    }

    /// The earliest time at which [`Replica::tick`] has work (a retry is due), if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.txs
            .values()
            .filter_map(|t| match t.phase {
                Phase::Backoff { retry_at } => Some(retry_at),
                _ => None,
            })
            .min()
    }

    /// Messages to send, in order, as `(destination, message)`.
    pub fn take_outbox(&mut self) -> Vec<(CoreId, MonMsg)> {
        core::mem::take(&mut self.outbox)
    }

    /// Finished updates that this replica coordinated.
    pub fn take_completions(&mut self) -> Vec<(TxId, Result<(), UpdateError>)> {
        core::mem::take(&mut self.completions)
    }

    /// Local work demanded by updates applied here, in application order.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        core::mem::take(&mut self.effects)
    }

    /// The binding of `name` in this replica.
    pub fn lookup(&self, name: &Name) -> Option<&Binding> {
        self.tables.lookup(name)
    }

    /// All bindings, in name order.
    pub fn names(&self) -> impl Iterator<Item = &Binding> {
        self.tables.names()
    }

    /// All domains and their program names, in domain order.
    pub fn domains(&self) -> impl Iterator<Item = (DomainId, &Name)> {
        self.tables.domains()
    }

    /// All claims as `(base, size, by)`, in base order.
    pub fn claims(&self) -> impl Iterator<Item = (u64, u64, CoreId)> + '_ {
        self.tables.claims()
    }

    /// This replica's tables.
    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// A deterministic hash of the replicated tables (equal on all replicas at quiescence).
    pub fn digest(&self) -> u64 {
        self.tables.digest()
    }

    /// Transactions in flight that this replica coordinates (waiting to retry, preparing,
    /// committing, or collecting the last votes of an aborted attempt).
    pub fn pending(&self) -> usize {
        self.txs.len()
    }

    /// Transactions holding locks here (this replica's own and others' it voted Yes for).
    pub fn locked(&self) -> usize {
        self.locks.len()
    }

    // ---------------------------------------------------------------------------------
    // Coordinator side.

    /// Whether `op` conflicts with a lock held here by a transaction other than `tx`.
    fn busy(&self, op: &Op, tx: TxId) -> bool {
        self.locks
            .iter()
            .any(|(id, held)| *id != tx && held.conflicts(op))
    }

    /// Start the next attempt of `tx`.
    fn attempt(&mut self, tx: TxId, now: u64) {
        let Some(t) = self.txs.get(&tx) else {
            return;
        };
        let attempt = t.attempt.saturating_add(1);
        #[cfg(test)]
        {
            self.max_attempt = self.max_attempt.max(attempt);
        }
        if self.busy(&t.op, tx) {
            // Lost locally: counts as an attempt.
            let next = self.after_busy(tx, attempt, now);
            match next {
                AfterAbort::Done => {
                    self.txs.remove(&tx);
                }
                AfterAbort::Retry(retry_at) => {
                    if let Some(t) = self.txs.get_mut(&tx) {
                        t.attempt = attempt;
                        t.phase = Phase::Backoff { retry_at };
                    }
                }
            }
            return;
        }
        if let Err(e) = self.tables.validate(&t.op) {
            self.completions.push((tx, Err(e)));
            self.txs.remove(&tx);
            return;
        }
        let op = t.op.clone();
        self.locks.insert(tx, op.clone());
        let (slots, outstanding) = self.fresh_slots();
        if let Some(t) = self.txs.get_mut(&tx) {
            t.attempt = attempt;
            t.phase = Phase::Voting {
                slots,
                outstanding,
                abort: None,
            };
        }
        if outstanding == 0 {
            self.commit(tx);
            return;
        }
        for &m in &self.members {
            if m != self.me {
                self.outbox
                    .push((m, MonMsg::Prepare { tx, op: op.clone() }));
            }
        }
    }

    /// Attempt number `attempt` of `tx` lost to a concurrent transaction: give up (completing
    /// with `GaveUp`) or pick the time of the next attempt.
    fn after_busy(&mut self, tx: TxId, attempt: u32, now: u64) -> AfterAbort {
        if attempt >= self.config.max_attempts {
            self.completions.push((tx, Err(UpdateError::GaveUp)));
            AfterAbort::Done
        } else {
            AfterAbort::Retry(now.saturating_add(self.backoff(tx, attempt)))
        }
    }

    /// The delay after losing attempt `attempt` (see [`Config`]).
    fn backoff(&self, tx: TxId, attempt: u32) -> u64 {
        let shift = attempt.saturating_sub(1).min(self.config.max_shift).min(40);
        let w = self.config.retry_base.max(1).saturating_mul(1u64 << shift);
        let n = self.members.len().max(1) as u64;
        let rank = self.members.binary_search(&self.me).unwrap_or(0) as u64;
        let offset = ((w as u128 * rank as u128) / n as u128) as u64;
        let spread = (w / n / 2).max(1);
        let jitter = mix(tx.pack() ^ ((attempt as u64) << 17) ^ 0x6a09_e667_f3bc_c908) % spread;
        w.saturating_add(offset).saturating_add(jitter)
    }

    /// A phase's answer slots (this replica's own answered, every other pending) and how
    /// many answers are outstanding.
    fn fresh_slots(&self) -> (Vec<Slot>, usize) {
        let slots = self
            .members
            .iter()
            .map(|&m| {
                if m == self.me {
                    Slot::Me
                } else {
                    Slot::Pending
                }
            })
            .collect();
        (slots, self.members.len().saturating_sub(1))
    }

    /// Every vote is Yes: apply here, unlock, send Commit to every participant.
    fn commit(&mut self, tx: TxId) {
        let (slots, outstanding) = self.fresh_slots();
        let Some(t) = self.txs.get_mut(&tx) else {
            return;
        };
        let op = t.op.clone();
        t.phase = Phase::Committing { slots, outstanding };
        self.locks.remove(&tx);
        self.apply(tx, &op);
        if outstanding == 0 {
            self.completions.push((tx, Ok(())));
            self.txs.remove(&tx);
            return;
        }
        for &m in &self.members {
            if m != self.me {
                self.outbox.push((m, MonMsg::Commit { tx }));
            }
        }
    }

    /// Apply a committed update to the tables. It was validated under the locks it holds on
    /// every replica, so it cannot fail here; if it did (a bug), nothing would change.
    #[cfg_attr(not(test), allow(unused_variables))]
    fn apply(&mut self, tx: TxId, op: &Op) {
        if self.tables.apply(op, &mut self.effects).is_ok() {
            #[cfg(test)]
            self.log.push((tx, op.clone()));
        }
    }

    fn on_vote(&mut self, from: CoreId, tx: TxId, vote: Vote, now: u64) -> Result<(), ProtoError> {
        if tx.core != self.me {
            return Err(ProtoError::NotOurs(tx));
        }
        if vote == Vote::No(UpdateError::GaveUp) {
            return Err(ProtoError::BadVote(tx));
        }
        let idx = self
            .members
            .binary_search(&from)
            .map_err(|_| ProtoError::NotMember(from))?;
        let me = self.me;
        let t = self.txs.get_mut(&tx).ok_or(ProtoError::UnknownTx(tx))?;
        let Phase::Voting {
            slots,
            outstanding,
            abort,
        } = &mut t.phase
        else {
            return Err(ProtoError::UnexpectedVote(tx));
        };
        let slot = slots.get_mut(idx).ok_or(ProtoError::UnexpectedVote(tx))?;
        if *slot != Slot::Pending {
            return Err(ProtoError::UnexpectedVote(tx));
        }
        // Accepted: from here on the state changes.
        *slot = if vote == Vote::Yes {
            Slot::Yes
        } else {
            Slot::Refused
        };
        *outstanding = outstanding.saturating_sub(1);
        let attempt = t.attempt;
        if abort.is_none() && vote != Vote::Yes {
            // Decide: abort this attempt. Unlock here and tell every participant that may
            // hold (or is about to take) the lock; its Prepare precedes the Abort on the link.
            let targets: Vec<CoreId> = self
                .members
                .iter()
                .zip(slots.iter())
                .filter(|(&m, s)| m != me && matches!(s, Slot::Pending | Slot::Yes))
                .map(|(&m, _)| m)
                .collect();
            let decided = match vote {
                Vote::No(e) => {
                    self.completions.push((tx, Err(e)));
                    AfterAbort::Done
                }
                _ => self.after_busy(tx, attempt, now),
            };
            if let Some(Coordinated {
                phase: Phase::Voting { abort, .. },
                ..
            }) = self.txs.get_mut(&tx)
            {
                *abort = Some(decided);
            }
            self.locks.remove(&tx);
            for m in targets {
                self.outbox.push((m, MonMsg::Abort { tx }));
            }
        }
        // Every vote in?
        let Some(t) = self.txs.get_mut(&tx) else {
            return Ok(());
        };
        let Phase::Voting {
            outstanding: 0,
            abort,
            ..
        } = t.phase
        else {
            return Ok(());
        };
        match abort {
            None => self.commit(tx),
            Some(AfterAbort::Done) => {
                self.txs.remove(&tx);
            }
            Some(AfterAbort::Retry(at)) => {
                t.phase = Phase::Backoff { retry_at: at };
                if at <= now {
                    self.attempt(tx, now);
                }
            }
        }
        Ok(())
    }

    fn on_ack(&mut self, from: CoreId, tx: TxId) -> Result<(), ProtoError> {
        if tx.core != self.me {
            return Err(ProtoError::NotOurs(tx));
        }
        let idx = self
            .members
            .binary_search(&from)
            .map_err(|_| ProtoError::NotMember(from))?;
        let t = self.txs.get_mut(&tx).ok_or(ProtoError::UnknownTx(tx))?;
        let Phase::Committing { slots, outstanding } = &mut t.phase else {
            return Err(ProtoError::UnexpectedAck(tx));
        };
        let slot = slots.get_mut(idx).ok_or(ProtoError::UnexpectedAck(tx))?;
        if *slot != Slot::Pending {
            return Err(ProtoError::UnexpectedAck(tx));
        }
        *slot = Slot::Yes;
        *outstanding = outstanding.saturating_sub(1);
        if *outstanding == 0 {
            self.completions.push((tx, Ok(())));
            self.txs.remove(&tx);
        }
        Ok(())
    }

    // ---------------------------------------------------------------------------------
    // Participant side.

    fn on_prepare(&mut self, from: CoreId, tx: TxId, op: Op) -> Result<(), ProtoError> {
        if tx.core != from {
            return Err(ProtoError::NotCoordinator { tx, from });
        }
        op.check_args().map_err(ProtoError::InvalidOp)?;
        if self.locks.contains_key(&tx) {
            return Err(ProtoError::AlreadyPrepared(tx));
        }
        let vote = if self.busy(&op, tx) {
            Vote::Busy
        } else {
            match self.tables.validate(&op) {
                Err(e) => Vote::No(e),
                Ok(()) => {
                    self.locks.insert(tx, op);
                    Vote::Yes
                }
            }
        };
        self.outbox.push((from, MonMsg::Vote { tx, vote }));
        Ok(())
    }

    fn on_commit(&mut self, from: CoreId, tx: TxId) -> Result<(), ProtoError> {
        if tx.core != from {
            return Err(ProtoError::NotCoordinator { tx, from });
        }
        let op = self.locks.remove(&tx).ok_or(ProtoError::NotPrepared(tx))?;
        self.apply(tx, &op);
        self.outbox.push((from, MonMsg::Ack { tx }));
        Ok(())
    }

    fn on_abort(&mut self, from: CoreId, tx: TxId) -> Result<(), ProtoError> {
        if tx.core != from {
            return Err(ProtoError::NotCoordinator { tx, from });
        }
        // The coordinator sends Abort to every participant whose vote it has not seen, so an
        // Abort of a transaction not locked here (this replica voted No or Busy) is normal.
        self.locks.remove(&tx);
        Ok(())
    }
}

/// A 64-bit mixing function (splitmix64's finalizer).
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
impl Replica {
    /// A snapshot of everything `handle` must leave unchanged when it refuses a message.
    pub(crate) fn snapshot(&self) -> impl PartialEq + fmt::Debug {
        (
            self.tables.clone(),
            self.locks.clone(),
            self.txs.clone(),
            self.outbox.clone(),
            self.completions.clone(),
            self.effects.clone(),
            self.log.clone(),
        )
    }
}
