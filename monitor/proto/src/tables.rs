//! The replicated tables (names, domains, claims) and the sequential semantics of every
//! [`Op`]: validation against the state, and application.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::op::range_end;
use crate::{Binding, CoreId, DomainId, Effect, Name, Op, UpdateError};

/// One replica's copy of the global state. Every monitor holds one; the agreement protocol
/// ([`crate::Replica`]) keeps them equal.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct Tables {
    names: BTreeMap<Name, Binding>,
    domains: BTreeMap<DomainId, Name>,
    /// Claimed ranges by base: `(size, end, by)`. Ranges never overlap, so both bases and ends
    /// are increasing in key order.
    claims: BTreeMap<u64, Claim>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Claim {
    size: u64,
    end: u64,
    by: CoreId,
}

impl Tables {
    /// Empty tables.
    pub fn new() -> Tables {
        Tables::default()
    }

    /// Whether `op` would succeed on these tables now (arguments included).
    pub fn validate(&self, op: &Op) -> Result<(), UpdateError> {
        op.check_args()?;
        match op {
            Op::RegisterName { name, owner, .. } => {
                if self.names.contains_key(name) {
                    Err(UpdateError::Exists)
                } else if !self.domains.contains_key(owner) {
                    Err(UpdateError::NotFound)
                } else {
                    Ok(())
                }
            }
            Op::UnregisterName { name, owner } => match self.names.get(name) {
                None => Err(UpdateError::NotFound),
                Some(b) if b.owner != *owner => Err(UpdateError::NotOwner),
                Some(_) => Ok(()),
            },
            Op::AddDomain { domain, .. } => {
                if self.domains.contains_key(domain) {
                    Err(UpdateError::Exists)
                } else {
                    Ok(())
                }
            }
            Op::RemoveDomain { domain } => {
                if self.domains.contains_key(domain) {
                    Ok(())
                } else {
                    Err(UpdateError::NotFound)
                }
            }
            Op::ClaimObject { base, size, .. } => {
                let end = range_end(*base, *size).ok_or(UpdateError::Invalid)?;
                if self.overlaps_claim(*base, end) {
                    Err(UpdateError::Conflict)
                } else {
                    Ok(())
                }
            }
            Op::RevokeObject { .. } => Ok(()),
        }
    }

    /// Validate `op` and, if it is valid, apply it, appending what the monitor must do locally
    /// to `effects`. An invalid `op` changes nothing.
    pub fn apply(&mut self, op: &Op, effects: &mut Vec<Effect>) -> Result<(), UpdateError> {
        self.validate(op)?;
        match op {
            Op::RegisterName { name, owner, port } => {
                self.names.insert(
                    name.clone(),
                    Binding {
                        name: name.clone(),
                        owner: *owner,
                        port: *port,
                    },
                );
            }
            Op::UnregisterName { name, .. } => {
                self.names.remove(name);
            }
            Op::AddDomain { domain, program } => {
                self.domains.insert(*domain, program.clone());
            }
            Op::RemoveDomain { domain } => {
                self.domains.remove(domain);
                self.names.retain(|_, b| b.owner != *domain);
                effects.push(Effect::DomainRemoved { domain: *domain });
            }
            Op::ClaimObject { base, size, by } => {
                let end = range_end(*base, *size).ok_or(UpdateError::Invalid)?;
                self.claims.insert(
                    *base,
                    Claim {
                        size: *size,
                        end,
                        by: *by,
                    },
                );
            }
            Op::RevokeObject { base, size } => {
                let end = range_end(*base, *size).ok_or(UpdateError::Invalid)?;
                let inside: Vec<u64> = self
                    .claims
                    .range(*base..end)
                    .filter(|(_, c)| c.end <= end)
                    .map(|(b, _)| *b)
                    .collect();
                for b in inside {
                    self.claims.remove(&b);
                }
                effects.push(Effect::RevokeLocal {
                    base: *base,
                    size: *size,
                });
            }
        }
        Ok(())
    }

    /// Whether `[base, end)` overlaps a claimed range.
    fn overlaps_claim(&self, base: u64, end: u64) -> bool {
        // The claim with the greatest base below `end` has the greatest end of all claims
        // starting below `end` (claims do not overlap); it overlaps iff it ends after `base`.
        self.claims
            .range(..end)
            .next_back()
            .is_some_and(|(_, c)| c.end > base)
    }

    /// The binding of `name`.
    pub fn lookup(&self, name: &Name) -> Option<&Binding> {
        self.names.get(name)
    }

    /// All bindings, in name order.
    pub fn names(&self) -> impl Iterator<Item = &Binding> {
        self.names.values()
    }

    /// All domains and their program names, in domain order.
    pub fn domains(&self) -> impl Iterator<Item = (DomainId, &Name)> {
        self.domains.iter().map(|(d, n)| (*d, n))
    }

    /// All claims as `(base, size, by)`, in base order.
    pub fn claims(&self) -> impl Iterator<Item = (u64, u64, CoreId)> + '_ {
        self.claims.iter().map(|(b, c)| (*b, c.size, c.by))
    }

    /// A deterministic 64-bit hash (FNV-1a) of the tables' contents: equal tables have equal
    /// digests on every core and every run.
    pub fn digest(&self) -> u64 {
        let mut h = Fnv::new();
        h.word(self.names.len() as u64);
        for b in self.names.values() {
            h.bytes(b.name.padded());
            h.word(b.owner);
            h.word(b.port);
        }
        h.word(self.domains.len() as u64);
        for (d, n) in &self.domains {
            h.word(*d);
            h.bytes(n.padded());
        }
        h.word(self.claims.len() as u64);
        for (b, c) in &self.claims {
            h.word(*b);
            h.word(c.size);
            h.word(c.by as u64);
        }
        h.0
    }
}

/// FNV-1a, 64 bits.
struct Fnv(u64);

impl Fnv {
    fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    fn bytes(&mut self, b: &[u8]) {
        for &x in b {
            self.0 ^= x as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn word(&mut self, w: u64) {
        self.bytes(&w.to_le_bytes());
    }
}
