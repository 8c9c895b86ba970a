//! The monitors' wire format: [`MonMsg`] <-> URPC messages (a 16-bit tag and 7 payload
//! words).
//!
//! Every message has a fixed layout in one URPC message, except [`MonMsg::Request`] and
//! [`MonMsg::Reply`], whose opaque payloads (up to [`MAX_PAYLOAD`] bytes) may need a first
//! message plus [`tag::CONTINUATION`] messages. Tags are in `0x4000..=0x40ff`. Words are `u64`;
//! byte strings are packed little-endian into words and zero-padded. The layouts (word 0 first):
//!
//! | tag | message | len | words |
//! |---|---|---|---|
//! | 0x4000 | Hello | 8 | core |
//! | 0x4001 | HelloAck | 8 | core |
//! | 0x4010 | Prepare RegisterName | 56 | tx, name (4 words), owner, port |
//! | 0x4011 | Prepare UnregisterName | 48 | tx, name (4 words), owner |
//! | 0x4012 | Prepare AddDomain | 48 | tx, program (4 words), domain |
//! | 0x4013 | Prepare RemoveDomain | 16 | tx, domain |
//! | 0x4014 | Prepare ClaimObject | 32 | tx, base, size, by |
//! | 0x4015 | Prepare RevokeObject | 24 | tx, base, size |
//! | 0x4020 | Vote | 24 | tx, vote (0 Yes, 1 No, 2 Busy), error (No: 1..=6, else 0) |
//! | 0x4021 | Commit | 8 | tx |
//! | 0x4022 | Abort | 8 | tx |
//! | 0x4023 | Ack | 8 | tx |
//! | 0x4030 | Request | 56 | req, kind \| len << 16, payload bytes 0..40 |
//! | 0x4031 | Reply | 56 | req, status, len, payload bytes 0..32 |
//! | 0x403f | continuation | 1..=56 | the next `min(56, rest)` payload bytes |
//! | 0x4040 | Forward | 8 + min(48, total) | origin \| count << 32 \| inner_len << 48, then the first payload bytes |
//!
//! A [`MonMsg::Forward`]'s payload is `total = 4 * count + inner_len` bytes: the `count`
//! targets (`u32` little-endian each), then the inner message as the records of its own URPC
//! messages (`encode(inner)`), each record a little-endian `u16` tag, a `u8` length and that
//! many bytes. The first message carries the first 48 payload bytes, continuations the rest as
//! for Request/Reply. So a Forward is one multi-part message whatever it carries, and the
//! decoder rejects it whole: no part of a bad Forward is ever taken for a message of its own.
//!
//! `tx` is [`TxId::pack`]. Error codes: 1 Exists, 2 NotFound, 3 NotOwner, 4 Conflict,
//! 5 GaveUp, 6 Invalid. A name is 32 bytes, zero-padded; it ends at the first zero byte.
//! `len` is the URPC message length in bytes and must be exactly the one in the table.
//! A Forward has 1..=[`MAX_TARGETS`] distinct targets and an inner message that is not a
//! Forward, at most [`MAX_INNER_BYTES`] bytes of records.
//! Encoding is canonical: unused bits, padding bytes and payload bytes past the length are
//! zero, and the decoder rejects anything else, so decode(encode(m)) == m and every message
//! the decoder accepts re-encodes to the same words.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use urpc::Message;

use crate::{CoreId, Name, NameError, Op, TxId, UpdateError, MAX_NAME, MAX_PAYLOAD};

/// The tags of monitor messages (all in `0x4000..=0x40ff`).
pub mod tag {
    /// First tag of the range reserved for monitor messages.
    pub const FIRST: u16 = 0x4000;
    /// Last tag of the range reserved for monitor messages.
    pub const LAST: u16 = 0x40ff;
    /// [`super::MonMsg::Hello`].
    pub const HELLO: u16 = 0x4000;
    /// [`super::MonMsg::HelloAck`].
    pub const HELLO_ACK: u16 = 0x4001;
    /// Prepare of [`crate::Op::RegisterName`].
    pub const PREPARE_REGISTER: u16 = 0x4010;
    /// Prepare of [`crate::Op::UnregisterName`].
    pub const PREPARE_UNREGISTER: u16 = 0x4011;
    /// Prepare of [`crate::Op::AddDomain`].
    pub const PREPARE_ADD_DOMAIN: u16 = 0x4012;
    /// Prepare of [`crate::Op::RemoveDomain`].
    pub const PREPARE_REMOVE_DOMAIN: u16 = 0x4013;
    /// Prepare of [`crate::Op::ClaimObject`].
    pub const PREPARE_CLAIM: u16 = 0x4014;
    /// Prepare of [`crate::Op::RevokeObject`].
    pub const PREPARE_REVOKE: u16 = 0x4015;
    /// [`super::MonMsg::Vote`].
    pub const VOTE: u16 = 0x4020;
    /// [`super::MonMsg::Commit`].
    pub const COMMIT: u16 = 0x4021;
    /// [`super::MonMsg::Abort`].
    pub const ABORT: u16 = 0x4022;
    /// [`super::MonMsg::Ack`].
    pub const ACK: u16 = 0x4023;
    /// First message of a [`super::MonMsg::Request`].
    pub const REQUEST: u16 = 0x4030;
    /// First message of a [`super::MonMsg::Reply`].
    pub const REPLY: u16 = 0x4031;
    /// Continuation of a Request's, Reply's or Forward's payload.
    pub const CONTINUATION: u16 = 0x403f;
    /// First message of a [`super::MonMsg::Forward`].
    pub const FORWARD: u16 = 0x4040;
}

/// Payload bytes in the first message of a Request.
pub const REQUEST_FIRST_BYTES: usize = 40;
/// Payload bytes in the first message of a Reply.
pub const REPLY_FIRST_BYTES: usize = 32;
/// Payload bytes in a continuation message.
pub const CONTINUATION_BYTES: usize = 56;
/// Payload bytes in the first message of a Forward.
pub const FORWARD_FIRST_BYTES: usize = 48;
/// Targets of a [`MonMsg::Forward`], at most.
pub const MAX_TARGETS: usize = 1024;
/// Bytes of a Forward's inner message records, at most: the longest message, a Reply with a
/// 512-byte payload, is 10 URPC messages of 566 record bytes (10 x 3 header bytes + 56 + 480).
pub const MAX_INNER_BYTES: usize = 566;

/// A message between two monitors.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum MonMsg {
    /// Link check at start: "I am `core`".
    Hello {
        /// The sender's core.
        core: CoreId,
    },
    /// Answer to [`MonMsg::Hello`].
    HelloAck {
        /// The sender's core.
        core: CoreId,
    },
    /// Coordinator -> participant: lock the update's keys and vote.
    Prepare {
        /// The transaction.
        tx: TxId,
        /// The update.
        op: Op,
    },
    /// Participant -> coordinator: the answer to a Prepare.
    Vote {
        /// The transaction.
        tx: TxId,
        /// The answer.
        vote: Vote,
    },
    /// Coordinator -> participant: apply the prepared update and unlock; answer with Ack.
    Commit {
        /// The transaction.
        tx: TxId,
    },
    /// Coordinator -> participant: unlock the update if it is locked here (no answer).
    Abort {
        /// The transaction.
        tx: TxId,
    },
    /// Participant -> coordinator: the Commit is applied.
    Ack {
        /// The transaction.
        tx: TxId,
    },
    /// Opaque request for RPCs the monitor binary defines (spawn, capability copy...).
    Request {
        /// The requester's number for matching the reply.
        req: u64,
        /// The monitor's own request number.
        kind: u16,
        /// Up to [`MAX_PAYLOAD`] bytes.
        payload: Vec<u8>,
    },
    /// Opaque reply to a [`MonMsg::Request`].
    Reply {
        /// The request's number.
        req: u64,
        /// The monitor's own status word.
        status: u64,
        /// Up to [`MAX_PAYLOAD`] bytes.
        payload: Vec<u8>,
    },
    /// Multicast routing ([`crate::route`]): "deliver `inner`, as sent by `origin`, to every
    /// core in `targets`". The receiver delivers `inner` to itself (as if it came from
    /// `origin`) if it is one of the targets, and sends every other target its own copy,
    /// `Forward { origin, targets: [that target], inner }`. Only the origin may ask for
    /// copies: a Forward that arrives from any other core must target exactly its receiver,
    /// so a broadcast takes at most two hops (origin -> forwarder -> target).
    ///
    /// Well-formed (else [`encode`] and the [`Decoder`] refuse it): 1..=[`MAX_TARGETS`]
    /// targets, no duplicates, `inner` not itself a Forward. Whether the cores exist and whether
    /// `origin` is the right sender are the monitor's business ([`crate::route::deliver`]).
    Forward {
        /// The core that sent `inner` (the receiver handles `inner` as coming from it).
        origin: CoreId,
        /// The cores to deliver `inner` to (in the order the copies are to be sent).
        targets: Vec<CoreId>,
        /// The message (not a Forward).
        inner: Box<MonMsg>,
    },
}

/// A participant's answer to a Prepare.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Vote {
    /// Valid here; the keys are now locked for the transaction.
    Yes,
    /// Invalid against this replica's state (nothing locked).
    No(UpdateError),
    /// A key is locked by another transaction (nothing locked).
    Busy,
}

/// Why a message cannot be encoded or decoded.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum WireError {
    /// A tag that is not a monitor message.
    UnknownTag(u16),
    /// The URPC message length is not the one of the tag's layout.
    BadLength {
        /// The tag.
        tag: u16,
        /// The length received.
        len: usize,
    },
    /// A field has a value out of range (or non-zero padding).
    BadField {
        /// The tag.
        tag: u16,
        /// Which field.
        field: &'static str,
    },
    /// A name field is not a valid [`Name`].
    BadName {
        /// The tag.
        tag: u16,
        /// Why.
        err: NameError,
    },
    /// The update's arguments are invalid ([`Op::check_args`]).
    InvalidOp {
        /// The tag.
        tag: u16,
        /// Why ([`UpdateError::Invalid`]).
        err: UpdateError,
    },
    /// A payload longer than [`MAX_PAYLOAD`].
    TooLong {
        /// Its length.
        len: usize,
    },
    /// A continuation while no multi-part message is being received.
    UnexpectedContinuation,
    /// A continuation whose length is not the expected `min(56, rest)`; the partial message
    /// is dropped.
    BadContinuation {
        /// Bytes expected.
        expected: usize,
        /// Bytes received.
        got: usize,
    },
    /// A message other than a continuation while a multi-part message was being received:
    /// both the partial message and this one are dropped.
    Interrupted {
        /// The interrupting message's tag.
        tag: u16,
    },
    /// A Forward without targets.
    EmptyForward,
    /// A Forward with more than [`MAX_TARGETS`] targets.
    TooManyTargets {
        /// The number of targets.
        count: usize,
    },
    /// A Forward listing a core twice.
    DuplicateTarget {
        /// The core.
        core: CoreId,
    },
    /// A Forward whose inner message is a Forward.
    NestedForward,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::UnknownTag(t) => write!(f, "unknown tag {t:#06x}"),
            WireError::BadLength { tag, len } => write!(f, "tag {tag:#06x}: bad length {len}"),
            WireError::BadField { tag, field } => write!(f, "tag {tag:#06x}: bad {field}"),
            WireError::BadName { tag, err } => write!(f, "tag {tag:#06x}: {err}"),
            WireError::InvalidOp { tag, err } => write!(f, "tag {tag:#06x}: {err}"),
            WireError::TooLong { len } => {
                write!(f, "payload of {len} bytes (at most {MAX_PAYLOAD})")
            }
            WireError::UnexpectedContinuation => write!(f, "continuation without a start"),
            WireError::BadContinuation { expected, got } => {
                write!(f, "continuation of {got} bytes, expected {expected}")
            }
            WireError::Interrupted { tag } => {
                write!(f, "multi-part message interrupted by tag {tag:#06x}")
            }
            WireError::EmptyForward => write!(f, "forward without targets"),
            WireError::TooManyTargets { count } => {
                write!(f, "forward to {count} targets (at most {MAX_TARGETS})")
            }
            WireError::DuplicateTarget { core } => write!(f, "forward lists core {core} twice"),
            WireError::NestedForward => write!(f, "forward inside a forward"),
        }
    }
}

fn update_error_code(e: UpdateError) -> u64 {
    match e {
        UpdateError::Exists => 1,
        UpdateError::NotFound => 2,
        UpdateError::NotOwner => 3,
        UpdateError::Conflict => 4,
        UpdateError::GaveUp => 5,
        UpdateError::Invalid => 6,
    }
}

fn update_error_from_code(c: u64) -> Option<UpdateError> {
    Some(match c {
        1 => UpdateError::Exists,
        2 => UpdateError::NotFound,
        3 => UpdateError::NotOwner,
        4 => UpdateError::Conflict,
        5 => UpdateError::GaveUp,
        6 => UpdateError::Invalid,
        _ => return None,
    })
}

/// Pack up to `8 * out.len()` bytes little-endian into `out` (the rest stays as it is).
fn pack_bytes(out: &mut [u64], bytes: &[u8]) {
    for (w, chunk) in out.iter_mut().zip(bytes.chunks(8)) {
        let mut b = [0u8; 8];
        for (d, s) in b.iter_mut().zip(chunk) {
            *d = *s;
        }
        *w = u64::from_le_bytes(b);
    }
}

/// Unpack words little-endian into bytes.
fn unpack_bytes(words: &[u64]) -> Vec<u8> {
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn name_words(n: &Name) -> [u64; 4] {
    let mut w = [0u64; 4];
    pack_bytes(&mut w, n.padded());
    w
}

fn msg(tag: u16, words: &[u64]) -> Result<Message, WireError> {
    Message::from_words(tag, words).map_err(|_| WireError::TooLong {
        len: words.len().saturating_mul(8),
    })
}

/// Encode a message as one or more URPC messages, to be sent consecutively on one link
/// (nothing else may be sent on that link in between). Fails for a payload over
/// [`MAX_PAYLOAD`] bytes or an update with invalid arguments.
pub fn encode(m: &MonMsg) -> Result<Vec<Message>, WireError> {
    let one = |tag, words: &[u64]| msg(tag, words).map(|m| alloc::vec![m]);
    match m {
        MonMsg::Hello { core } => one(tag::HELLO, &[*core as u64]),
        MonMsg::HelloAck { core } => one(tag::HELLO_ACK, &[*core as u64]),
        MonMsg::Prepare { tx, op } => encode_prepare(*tx, op).map(|m| alloc::vec![m]),
        MonMsg::Vote { tx, vote } => {
            let (v, e) = match vote {
                Vote::Yes => (0, 0),
                Vote::No(e) => (1, update_error_code(*e)),
                Vote::Busy => (2, 0),
            };
            one(tag::VOTE, &[tx.pack(), v, e])
        }
        MonMsg::Commit { tx } => one(tag::COMMIT, &[tx.pack()]),
        MonMsg::Abort { tx } => one(tag::ABORT, &[tx.pack()]),
        MonMsg::Ack { tx } => one(tag::ACK, &[tx.pack()]),
        MonMsg::Request { req, kind, payload } => {
            check_len(payload)?;
            let mut w = [0u64; 7];
            w[0] = *req;
            w[1] = *kind as u64 | ((payload.len() as u64) << 16);
            let first = payload.get(..REQUEST_FIRST_BYTES).unwrap_or(payload);
            pack_bytes(&mut w[2..], first);
            multi(Message::new(tag::REQUEST, w), payload, REQUEST_FIRST_BYTES)
        }
        MonMsg::Reply {
            req,
            status,
            payload,
        } => {
            check_len(payload)?;
            let mut w = [0u64; 7];
            w[0] = *req;
            w[1] = *status;
            w[2] = payload.len() as u64;
            let first = payload.get(..REPLY_FIRST_BYTES).unwrap_or(payload);
            pack_bytes(&mut w[3..], first);
            multi(Message::new(tag::REPLY, w), payload, REPLY_FIRST_BYTES)
        }
        MonMsg::Forward {
            origin,
            targets,
            inner,
        } => encode_forward(*origin, targets, inner),
    }
}

/// Check the rules of a well-formed Forward: 1..=[`MAX_TARGETS`] distinct targets, an inner
/// message that is not a Forward.
pub(crate) fn check_forward(targets: &[CoreId], inner: &MonMsg) -> Result<(), WireError> {
    if matches!(inner, MonMsg::Forward { .. }) {
        return Err(WireError::NestedForward);
    }
    if targets.is_empty() {
        return Err(WireError::EmptyForward);
    }
    if targets.len() > MAX_TARGETS {
        return Err(WireError::TooManyTargets {
            count: targets.len(),
        });
    }
    let mut sorted = targets.to_vec();
    sorted.sort_unstable();
    match sorted.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(WireError::DuplicateTarget { core: w[0] }),
        None => Ok(()),
    }
}

fn encode_forward(
    origin: CoreId,
    targets: &[CoreId],
    inner: &MonMsg,
) -> Result<Vec<Message>, WireError> {
    check_forward(targets, inner)?;
    let parts = encode(inner)?;
    let mut payload: Vec<u8> = Vec::with_capacity(4 * targets.len() + MAX_INNER_BYTES);
    for t in targets {
        payload.extend_from_slice(&t.to_le_bytes());
    }
    let start = payload.len();
    for p in &parts {
        let (bytes, n) = p.to_bytes();
        payload.extend_from_slice(&p.tag().to_le_bytes());
        payload.push(n as u8);
        payload.extend_from_slice(bytes.get(..n).unwrap_or(&[]));
    }
    let inner_len = payload.len() - start;
    if inner_len > MAX_INNER_BYTES {
        // Cannot happen: no message encodes to more.
        return Err(WireError::BadField {
            tag: tag::FORWARD,
            field: "inner length",
        });
    }
    let w0 = origin as u64 | (targets.len() as u64) << 32 | (inner_len as u64) << 48;
    let mut head = Vec::with_capacity(8 + FORWARD_FIRST_BYTES);
    head.extend_from_slice(&w0.to_le_bytes());
    head.extend_from_slice(payload.get(..FORWARD_FIRST_BYTES).unwrap_or(&payload));
    let first = Message::from_bytes(tag::FORWARD, &head)
        .map_err(|_| WireError::TooLong { len: head.len() })?;
    multi(first, &payload, FORWARD_FIRST_BYTES)
}

fn check_len(payload: &[u8]) -> Result<(), WireError> {
    if payload.len() > MAX_PAYLOAD {
        Err(WireError::TooLong { len: payload.len() })
    } else {
        Ok(())
    }
}

/// The first message followed by continuations carrying `payload[first_bytes..]`.
fn multi(first: Message, payload: &[u8], first_bytes: usize) -> Result<Vec<Message>, WireError> {
    let mut out = alloc::vec![first];
    let rest = payload.get(first_bytes..).unwrap_or(&[]);
    for chunk in rest.chunks(CONTINUATION_BYTES) {
        out.push(
            Message::from_bytes(tag::CONTINUATION, chunk)
                .map_err(|_| WireError::TooLong { len: chunk.len() })?,
        );
    }
    Ok(out)
}

fn encode_prepare(tx: TxId, op: &Op) -> Result<Message, WireError> {
    let t = tx.pack();
    let tag = prepare_tag(op);
    op.check_args()
        .map_err(|err| WireError::InvalidOp { tag, err })?;
    match op {
        Op::RegisterName { name, owner, port } => {
            let n = name_words(name);
            msg(tag, &[t, n[0], n[1], n[2], n[3], *owner, *port])
        }
        Op::UnregisterName { name, owner } => {
            let n = name_words(name);
            msg(tag, &[t, n[0], n[1], n[2], n[3], *owner])
        }
        Op::AddDomain { domain, program } => {
            let n = name_words(program);
            msg(tag, &[t, n[0], n[1], n[2], n[3], *domain])
        }
        Op::RemoveDomain { domain } => msg(tag, &[t, *domain]),
        Op::ClaimObject { base, size, by } => msg(tag, &[t, *base, *size, *by as u64]),
        Op::RevokeObject { base, size } => msg(tag, &[t, *base, *size]),
    }
}

fn prepare_tag(op: &Op) -> u16 {
    match op {
        Op::RegisterName { .. } => tag::PREPARE_REGISTER,
        Op::UnregisterName { .. } => tag::PREPARE_UNREGISTER,
        Op::AddDomain { .. } => tag::PREPARE_ADD_DOMAIN,
        Op::RemoveDomain { .. } => tag::PREPARE_REMOVE_DOMAIN,
        Op::ClaimObject { .. } => tag::PREPARE_CLAIM,
        Op::RevokeObject { .. } => tag::PREPARE_REVOKE,
    }
}

/// A multi-part message being received.
#[derive(Clone, Debug)]
struct Partial {
    head: Head,
    total: usize,
    data: Vec<u8>,
}

#[derive(Clone, Copy, Debug)]
enum Head {
    Request {
        req: u64,
        kind: u16,
    },
    Reply {
        req: u64,
        status: u64,
    },
    /// `data` is `count` targets then the inner message's records.
    Forward {
        origin: CoreId,
        count: usize,
    },
}

impl Partial {
    /// The whole message, once `data` holds `total` bytes.
    fn finish(self) -> Result<MonMsg, WireError> {
        Ok(match self.head {
            Head::Request { req, kind } => MonMsg::Request {
                req,
                kind,
                payload: self.data,
            },
            Head::Reply { req, status } => MonMsg::Reply {
                req,
                status,
                payload: self.data,
            },
            Head::Forward { origin, count } => {
                let (t, records) =
                    self.data
                        .split_at_checked(4 * count)
                        .ok_or(WireError::BadField {
                            tag: tag::FORWARD,
                            field: "inner",
                        })?;
                let targets: Vec<CoreId> = t
                    .as_chunks::<4>()
                    .0
                    .iter()
                    .map(|c| u32::from_le_bytes(*c))
                    .collect();
                let inner = decode_records(records)?;
                check_forward(&targets, &inner)?;
                MonMsg::Forward {
                    origin,
                    targets,
                    inner: Box::new(inner),
                }
            }
        })
    }
}

/// The inner message of a Forward from its records (tag, length, bytes), which must be
/// exactly the URPC messages of one message that is not a Forward.
fn decode_records(mut rest: &[u8]) -> Result<MonMsg, WireError> {
    let bad = WireError::BadField {
        tag: tag::FORWARD,
        field: "inner",
    };
    let mut d = Decoder::new();
    let mut out = None;
    while let [t0, t1, n, tail @ ..] = rest {
        let tag = u16::from_le_bytes([*t0, *t1]);
        let n = *n as usize;
        if tag == tag::FORWARD {
            return Err(WireError::NestedForward);
        }
        if out.is_some() || n > CONTINUATION_BYTES || n > tail.len() {
            return Err(bad);
        }
        let (bytes, next) = tail.split_at(n);
        let m = Message::from_bytes(tag, bytes).map_err(|_| bad)?;
        out = d.push(&m)?;
        rest = next;
    }
    match out {
        Some(m) if rest.is_empty() => Ok(m),
        _ => Err(bad),
    }
}

/// Reassembles [`MonMsg`]s from the URPC messages of one link (links are FIFO; use one
/// decoder per peer). Any error drops what was pending, and the decoder then accepts the next
/// valid message. It holds at most one partial message: a payload of [`MAX_PAYLOAD`] bytes,
/// or a Forward's `4 * MAX_TARGETS + MAX_INNER_BYTES`.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    partial: Option<Partial>,
}

impl Decoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Decoder { partial: None }
    }

    /// Whether a multi-part message is partly received.
    pub fn in_progress(&self) -> bool {
        self.partial.is_some()
    }

    /// Take one URPC message: `Ok(Some(m))` when it completes a message, `Ok(None)` when it
    /// starts or continues a multi-part one, `Err` (and nothing pending afterwards) when it
    /// is not valid here.
    pub fn push(&mut self, m: &Message) -> Result<Option<MonMsg>, WireError> {
        let tag = m.tag();
        let Some(mut p) = self.partial.take() else {
            if tag == tag::CONTINUATION {
                return Err(WireError::UnexpectedContinuation);
            }
            return self.start(m);
        };
        if tag != tag::CONTINUATION {
            return Err(WireError::Interrupted { tag });
        }
        let expected = p.total.saturating_sub(p.data.len()).min(CONTINUATION_BYTES);
        if m.len() != expected || expected == 0 {
            return Err(WireError::BadContinuation {
                expected,
                got: m.len(),
            });
        }
        let (bytes, n) = m.to_bytes();
        p.data.extend_from_slice(bytes.get(..n).unwrap_or(&[]));
        if p.data.len() >= p.total {
            p.finish().map(Some)
        } else {
            self.partial = Some(p);
            Ok(None)
        }
    }

    /// Decode a message that is not a continuation, with nothing pending.
    fn start(&mut self, m: &Message) -> Result<Option<MonMsg>, WireError> {
        let tag = m.tag();
        let w = m.words();
        let need = |words: usize| {
            if m.len() == words * 8 {
                Ok(())
            } else {
                Err(WireError::BadLength { tag, len: m.len() })
            }
        };
        let bad = |field| WireError::BadField { tag, field };
        let core = |x: u64, field| CoreId::try_from(x).map_err(|_| bad(field));
        let name = |x: &[u64]| {
            let mut b = [0u8; MAX_NAME];
            for (d, s) in b.iter_mut().zip(unpack_bytes(x)) {
                *d = s;
            }
            Name::from_padded(&b).map_err(|err| WireError::BadName { tag, err })
        };
        let tx = TxId::unpack(w[0]);
        let op = |op: Op| {
            op.check_args()
                .map_err(|err| WireError::InvalidOp { tag, err })?;
            Ok(Some(MonMsg::Prepare { tx, op }))
        };
        match tag {
            tag::HELLO => {
                need(1)?;
                Ok(Some(MonMsg::Hello {
                    core: core(w[0], "core")?,
                }))
            }
            tag::HELLO_ACK => {
                need(1)?;
                Ok(Some(MonMsg::HelloAck {
                    core: core(w[0], "core")?,
                }))
            }
            tag::PREPARE_REGISTER => {
                need(7)?;
                op(Op::RegisterName {
                    name: name(&w[1..5])?,
                    owner: w[5],
                    port: w[6],
                })
            }
            tag::PREPARE_UNREGISTER => {
                need(6)?;
                op(Op::UnregisterName {
                    name: name(&w[1..5])?,
                    owner: w[5],
                })
            }
            tag::PREPARE_ADD_DOMAIN => {
                need(6)?;
                op(Op::AddDomain {
                    program: name(&w[1..5])?,
                    domain: w[5],
                })
            }
            tag::PREPARE_REMOVE_DOMAIN => {
                need(2)?;
                op(Op::RemoveDomain { domain: w[1] })
            }
            tag::PREPARE_CLAIM => {
                need(4)?;
                op(Op::ClaimObject {
                    base: w[1],
                    size: w[2],
                    by: core(w[3], "by")?,
                })
            }
            tag::PREPARE_REVOKE => {
                need(3)?;
                op(Op::RevokeObject {
                    base: w[1],
                    size: w[2],
                })
            }
            tag::VOTE => {
                need(3)?;
                let vote = match (w[1], w[2]) {
                    (0, 0) => Vote::Yes,
                    (2, 0) => Vote::Busy,
                    (1, e) => Vote::No(update_error_from_code(e).ok_or(bad("error"))?),
                    (0 | 2, _) => return Err(bad("error")),
                    _ => return Err(bad("vote")),
                };
                Ok(Some(MonMsg::Vote { tx, vote }))
            }
            tag::COMMIT => {
                need(1)?;
                Ok(Some(MonMsg::Commit { tx }))
            }
            tag::ABORT => {
                need(1)?;
                Ok(Some(MonMsg::Abort { tx }))
            }
            tag::ACK => {
                need(1)?;
                Ok(Some(MonMsg::Ack { tx }))
            }
            tag::REQUEST => {
                need(7)?;
                if w[1] >> 32 != 0 {
                    return Err(bad("kind/len"));
                }
                let kind = w[1] as u16;
                let total = ((w[1] >> 16) & 0xffff) as usize;
                let head = Head::Request { req: w[0], kind };
                self.first_part(head, total, &w[2..], REQUEST_FIRST_BYTES, tag)
            }
            tag::REPLY => {
                need(7)?;
                let total = usize::try_from(w[2]).unwrap_or(usize::MAX);
                let head = Head::Reply {
                    req: w[0],
                    status: w[1],
                };
                self.first_part(head, total, &w[3..], REPLY_FIRST_BYTES, tag)
            }
            tag::FORWARD => self.forward_head(m),
            _ => Err(WireError::UnknownTag(tag)),
        }
    }

    /// The first message of a Request or Reply: `first_bytes` payload bytes in `words`.
    fn first_part(
        &mut self,
        head: Head,
        total: usize,
        words: &[u64],
        first_bytes: usize,
        tag: u16,
    ) -> Result<Option<MonMsg>, WireError> {
        if total > MAX_PAYLOAD {
            return Err(WireError::TooLong { len: total });
        }
        let mut data = unpack_bytes(words);
        let used = total.min(first_bytes);
        if data.get(used..).unwrap_or(&[]).iter().any(|&b| b != 0) {
            return Err(WireError::BadField {
                tag,
                field: "padding",
            });
        }
        data.truncate(used);
        self.begin(Partial { head, total, data })
    }

    /// The first message of a Forward.
    fn forward_head(&mut self, m: &Message) -> Result<Option<MonMsg>, WireError> {
        let tag = tag::FORWARD;
        let (bytes, len) = m.to_bytes();
        let bad_len = WireError::BadLength { tag, len };
        let w0 = bytes
            .first_chunk::<8>()
            .filter(|_| len >= 8)
            .map(|b| u64::from_le_bytes(*b))
            .ok_or(bad_len)?;
        let origin = w0 as u32;
        let count = ((w0 >> 32) & 0xffff) as usize;
        let inner_len = (w0 >> 48) as usize;
        if count == 0 {
            return Err(WireError::EmptyForward);
        }
        if count > MAX_TARGETS {
            return Err(WireError::TooManyTargets { count });
        }
        if inner_len == 0 || inner_len > MAX_INNER_BYTES {
            return Err(WireError::BadField {
                tag,
                field: "inner length",
            });
        }
        let total = 4 * count + inner_len;
        if len != 8 + total.min(FORWARD_FIRST_BYTES) {
            return Err(bad_len);
        }
        let data = bytes.get(8..len).unwrap_or(&[]).to_vec();
        self.begin(Partial {
            head: Head::Forward { origin, count },
            total,
            data,
        })
    }

    /// A multi-part message whose first part is in: finished if that was all, else pending.
    fn begin(&mut self, p: Partial) -> Result<Option<MonMsg>, WireError> {
        if p.data.len() >= p.total {
            p.finish().map(Some)
        } else {
            self.partial = Some(p);
            Ok(None)
        }
    }
}
