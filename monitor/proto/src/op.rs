//! Updates to the replicated state, their outcomes and their keys (what they lock).

use core::fmt;

use crate::{CoreId, DomainId, Name};

/// A transaction: the coordinating core and a sequence number it chose. A retry of the same
/// update keeps its `TxId`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Hash)]
pub struct TxId {
    /// The coordinator (the core whose monitor started the update).
    pub core: CoreId,
    /// The coordinator's sequence number.
    pub seq: u32,
}

impl TxId {
    /// `(core << 32) | seq`.
    pub const fn pack(self) -> u64 {
        ((self.core as u64) << 32) | self.seq as u64
    }

    /// The inverse of [`TxId::pack`] (every `u64` is a `TxId`).
    pub const fn unpack(w: u64) -> TxId {
        TxId {
            core: (w >> 32) as u32,
            seq: w as u32,
        }
    }
}

impl fmt::Display for TxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.core, self.seq)
    }
}

/// Updates to the replicated state.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Op {
    /// Bind `name` to a service offered by `owner` (a domain) with an owner-chosen `port`
    /// word. Fails with `Exists` if the name is bound, `NotFound` if `owner` is not a domain
    /// (added by [`Op::AddDomain`] and not removed).
    RegisterName {
        /// The service name.
        name: Name,
        /// The domain offering it.
        owner: DomainId,
        /// The owner's word (an endpoint, a port number...), stored and returned as is.
        port: u64,
    },
    /// Remove the binding (only by its owner): `NotFound` if unbound, `NotOwner` if bound by
    /// another domain.
    UnregisterName {
        /// The service name.
        name: Name,
        /// Who asks (must be the binding's owner).
        owner: DomainId,
    },
    /// A new program instance exists (`Exists` if the domain id is in use).
    AddDomain {
        /// The instance.
        domain: DomainId,
        /// The program's name.
        program: Name,
    },
    /// A program instance ended: remove it and every name it owns (`NotFound` if unknown).
    RemoveDomain {
        /// The instance.
        domain: DomainId,
    },
    /// Claim the physical range `[base, base+size)` for retyping by core `by`: `Conflict` if
    /// it overlaps a claimed range, `Invalid` if `size` is 0 or the end overflows.
    ClaimObject {
        /// First byte.
        base: u64,
        /// Bytes (> 0, `base + size` must not overflow).
        size: u64,
        /// The claiming core.
        by: CoreId,
    },
    /// Revoke: every replica drops the claims that lie wholly inside `[base, base+size)` and
    /// every monitor deletes its local capabilities to objects inside the range
    /// ([`Effect::RevokeLocal`]). Never fails against the state; `Invalid` as for claims.
    RevokeObject {
        /// First byte.
        base: u64,
        /// Bytes.
        size: u64,
    },
}

/// Why an update failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UpdateError {
    /// The name or domain is already there.
    Exists,
    /// The name or domain (or a binding's owner domain) is not there.
    NotFound,
    /// The name is bound by another domain.
    NotOwner,
    /// The range overlaps a claimed range.
    Conflict,
    /// Kept losing to concurrent updates, gave up after the configured number of attempts.
    GaveUp,
    /// The operation's arguments are invalid (zero size, overflow...).
    Invalid,
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            UpdateError::Exists => "already exists",
            UpdateError::NotFound => "not found",
            UpdateError::NotOwner => "not the owner",
            UpdateError::Conflict => "overlaps a claimed range",
            UpdateError::GaveUp => "gave up after repeated conflicts",
            UpdateError::Invalid => "invalid arguments",
        })
    }
}

/// What a monitor must do locally when a committed update is applied to its replica (on every
/// replica, the coordinator's included).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Effect {
    /// Delete this core's capabilities to objects inside `[base, base+size)`.
    RevokeLocal {
        /// First byte.
        base: u64,
        /// Bytes.
        size: u64,
    },
    /// The domain is gone (its names were dropped with it).
    DomainRemoved {
        /// The instance.
        domain: DomainId,
    },
}

/// A name binding in the replicated name table.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Binding {
    /// The service name.
    pub name: Name,
    /// The domain offering it.
    pub owner: DomainId,
    /// The owner's word.
    pub port: u64,
}

/// The exclusive end of `[base, base+size)`, or `None` if the range is empty or overflows.
pub(crate) fn range_end(base: u64, size: u64) -> Option<u64> {
    if size == 0 {
        return None;
    }
    base.checked_add(size)
}

impl Op {
    /// Check the arguments alone (no state): `Err(Invalid)` for an empty or overflowing range.
    /// Names are valid by construction.
    pub fn check_args(&self) -> Result<(), UpdateError> {
        match *self {
            Op::ClaimObject { base, size, .. } | Op::RevokeObject { base, size } => {
                range_end(base, size)
                    .map(|_| ())
                    .ok_or(UpdateError::Invalid)
            }
            _ => Ok(()),
        }
    }

    /// Whether two updates touch common state, so that they must not be prepared at the same
    /// time (the second one to reach a replica is told `Busy` there). See [`Op::keys`].
    pub fn conflicts(&self, other: &Op) -> bool {
        let a = self.keys();
        let b = other.keys();
        a.iter()
            .flatten()
            .any(|x| b.iter().flatten().any(|y| x.conflicts(y)))
    }

    /// The keys an update locks: at most two.
    ///
    /// | update | keys |
    /// |---|---|
    /// | RegisterName / UnregisterName | name (exclusive), owner domain (shared) |
    /// | AddDomain / RemoveDomain | domain (exclusive) |
    /// | ClaimObject / RevokeObject | the range (exclusive; ranges conflict when they overlap) |
    ///
    /// The shared domain key makes a name update conflict with removing (or adding) its owner,
    /// so "remove the domain and all its names" and "bind a name to that domain" are ordered
    /// the same way on every replica; two name updates of one owner do not conflict.
    pub fn keys(&self) -> [Option<Key>; 2] {
        match self {
            Op::RegisterName { name, owner, .. } | Op::UnregisterName { name, owner } => [
                Some(Key::Name(name.clone())),
                Some(Key::Domain {
                    domain: *owner,
                    shared: true,
                }),
            ],
            Op::AddDomain { domain, .. } | Op::RemoveDomain { domain } => [
                Some(Key::Domain {
                    domain: *domain,
                    shared: false,
                }),
                None,
            ],
            Op::ClaimObject { base, size, .. } | Op::RevokeObject { base, size } => [
                Some(Key::Range {
                    base: *base,
                    end: range_end(*base, *size).unwrap_or(u64::MAX),
                }),
                None,
            ],
        }
    }
}

/// A lock key of an update (see [`Op::keys`]).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Key {
    /// A name, exclusive.
    Name(Name),
    /// A domain, shared or exclusive.
    Domain {
        /// The domain.
        domain: DomainId,
        /// Shared (compatible with other shared locks of the same domain).
        shared: bool,
    },
    /// The physical range `[base, end)`, exclusive.
    Range {
        /// First byte.
        base: u64,
        /// End (exclusive).
        end: u64,
    },
}

impl Key {
    /// Whether two keys cannot be locked by two transactions at once.
    pub fn conflicts(&self, other: &Key) -> bool {
        match (self, other) {
            (Key::Name(a), Key::Name(b)) => a == b,
            (
                Key::Domain {
                    domain: a,
                    shared: sa,
                },
                Key::Domain {
                    domain: b,
                    shared: sb,
                },
            ) => a == b && !(*sa && *sb),
            (Key::Range { base: b1, end: e1 }, Key::Range { base: b2, end: e2 }) => {
                b1 < e2 && b2 < e1
            }
            _ => false,
        }
    }
}
