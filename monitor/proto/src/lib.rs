//! # monitor-proto: how the monitors keep the global OS state consistent
//!
//! Every core runs a user-mode monitor, and the monitors are connected all-to-all by URPC
//! channels. Each monitor holds a replica of the global state that must agree everywhere:
//!
//! * the **name service**: service names bound to the domain (program instance) offering
//!   them, with an owner-chosen port word;
//! * the **domains**: every program instance in the system and its program's name;
//! * the **claims**: physical ranges being retyped, so that two cores never retype
//!   overlapping memory, and revocation, which every core must carry out locally.
//!
//! This crate is the pure logic of that: no I/O, no clock, `no_std` + `alloc`, unit-tested on
//! the host with a deterministic network simulator. The monitor binary calls it from its event
//! loop: it decodes received URPC messages ([`wire::Decoder`]), feeds them to its
//! [`Replica`] ([`Replica::handle`]), passes the time ([`Replica::tick`]), encodes and sends
//! what [`Replica::take_outbox`] returns ([`wire::encode`]), executes the [`Effect`]s of
//! committed updates and reports completions ([`Replica::take_completions`]) to the programs
//! that asked.
//!
//! Updates ([`Op`]) are agreed by two-phase commit coordinated by the monitor that starts
//! them, with per-key locks and retries with backoff under contention ([`agree`]); their
//! sequential meaning is in [`tables`]. A coordinator's broadcasts can go through a NUMA-aware
//! multicast tree of forwarders ([`route`]): [`route::plan`] turns an outbox into sends and
//! [`route::deliver`] unpacks what arrives. `PROTOCOL.md` in this crate's directory is the full
//! description: message layouts, protocol steps, locking, backoff, error rules, scope.
#![no_std]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

extern crate alloc;

pub mod agree;
mod name;
mod op;
pub mod route;
pub mod tables;
pub mod wire;

#[cfg(test)]
mod tests;

pub use agree::{Config, ProtoError, Replica};
pub use name::{Name, NameError};
pub use op::{Binding, Effect, Key, Op, TxId, UpdateError};
pub use route::{Delivery, RouteError, Tree, TreeError};
pub use tables::Tables;
pub use wire::{Decoder, MonMsg, Vote, WireError};

/// A core, as the CPU drivers number them.
pub type CoreId = u32;

/// A program instance system-wide: `(core << 32) | dispatcher id on that core`.
pub type DomainId = u64;

/// Bytes of a name, at most.
pub const MAX_NAME: usize = 32;

/// Bytes of a Request/Reply payload, at most.
pub const MAX_PAYLOAD: usize = 512;
