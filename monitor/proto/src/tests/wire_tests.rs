//! The wire format: round trips, rejection of garbage, recovery.

use alloc::boxed::Box;
use alloc::vec::Vec;

use urpc::Message;

use super::rng::Rng;
use crate::wire::{
    encode, tag, Decoder, MonMsg, Vote, WireError, FORWARD_FIRST_BYTES, MAX_INNER_BYTES,
    MAX_TARGETS,
};
use crate::{CoreId, Name, NameError, Op, TxId, UpdateError, MAX_NAME, MAX_PAYLOAD};

const ERRORS: [UpdateError; 6] = [
    UpdateError::Exists,
    UpdateError::NotFound,
    UpdateError::NotOwner,
    UpdateError::Conflict,
    UpdateError::GaveUp,
    UpdateError::Invalid,
];

fn roundtrip(m: &MonMsg) -> Vec<Message> {
    let parts = encode(m).unwrap_or_else(|e| panic!("{m:?}: {e:?}"));
    assert!(!parts.is_empty());
    let mut d = Decoder::new();
    let (last, init) = parts.split_last().unwrap();
    for p in init {
        assert!((tag::FIRST..=tag::LAST).contains(&p.tag()));
        assert_eq!(d.push(p), Ok(None), "{m:?}");
        assert!(d.in_progress());
    }
    assert_eq!(d.push(last), Ok(Some(m.clone())));
    assert!(!d.in_progress());
    parts
}

/// A random valid name of 1..=32 bytes.
fn random_name(rng: &mut Rng) -> Name {
    let len = 1 + rng.index(MAX_NAME);
    let b: Vec<u8> = (0..len).map(|_| 0x21 + rng.below(0x5e) as u8).collect();
    Name::from_bytes(&b).unwrap()
}

fn random_op(rng: &mut Rng) -> Op {
    let w = |rng: &mut Rng| match rng.below(4) {
        0 => 0,
        1 => u64::MAX,
        _ => rng.next_u64(),
    };
    let range = |rng: &mut Rng| {
        let base = rng.next_u64() >> rng.below(64);
        let size = 1 + rng.below(u64::MAX - base);
        (base, size)
    };
    match rng.below(6) {
        0 => Op::RegisterName {
            name: random_name(rng),
            owner: w(rng),
            port: w(rng),
        },
        1 => Op::UnregisterName {
            name: random_name(rng),
            owner: w(rng),
        },
        2 => Op::AddDomain {
            domain: w(rng),
            program: random_name(rng),
        },
        3 => Op::RemoveDomain { domain: w(rng) },
        4 => {
            let (base, size) = range(rng);
            Op::ClaimObject {
                base,
                size,
                by: rng.next_u64() as u32,
            }
        }
        _ => {
            let (base, size) = range(rng);
            Op::RevokeObject { base, size }
        }
    }
}

/// A random message, now and then a Forward.
pub(super) fn random_msg(rng: &mut Rng) -> MonMsg {
    if rng.chance(1, 6) {
        let count = match rng.below(16) {
            0..=3 => 1,
            4 => MAX_TARGETS - rng.index(3),
            _ => 1 + rng.index(40),
        };
        MonMsg::Forward {
            origin: rng.next_u64() as u32,
            targets: distinct_cores(rng, count),
            inner: Box::new(random_plain(rng)),
        }
    } else {
        random_plain(rng)
    }
}

/// `count` distinct random core ids.
fn distinct_cores(rng: &mut Rng, count: usize) -> Vec<CoreId> {
    let mut out: Vec<CoreId> = Vec::with_capacity(count);
    let mut seen = alloc::collections::BTreeSet::new();
    while out.len() < count {
        let c = if rng.chance(1, 2) {
            rng.below(2048) as u32
        } else {
            rng.next_u64() as u32
        };
        if seen.insert(c) {
            out.push(c);
        }
    }
    out
}

/// A random message other than a Forward.
pub(super) fn random_plain(rng: &mut Rng) -> MonMsg {
    let tx = TxId::unpack(rng.next_u64());
    let payload = |rng: &mut Rng| {
        let len = match rng.below(4) {
            0 => MAX_PAYLOAD,
            1 => rng.index(60),
            _ => rng.index(MAX_PAYLOAD + 1),
        };
        (0..len).map(|_| rng.next_u64() as u8).collect::<Vec<u8>>()
    };
    match rng.below(10) {
        0 => MonMsg::Hello {
            core: rng.next_u64() as u32,
        },
        1 => MonMsg::HelloAck {
            core: rng.next_u64() as u32,
        },
        2 => MonMsg::Prepare {
            tx,
            op: random_op(rng),
        },
        3 => MonMsg::Vote {
            tx,
            vote: match rng.below(3) {
                0 => Vote::Yes,
                1 => Vote::Busy,
                _ => Vote::No(ERRORS[rng.index(ERRORS.len())]),
            },
        },
        4 => MonMsg::Commit { tx },
        5 => MonMsg::Abort { tx },
        6 => MonMsg::Ack { tx },
        7 | 8 => MonMsg::Request {
            req: rng.next_u64(),
            kind: rng.next_u64() as u16,
            payload: payload(rng),
        },
        _ => MonMsg::Reply {
            req: rng.next_u64(),
            status: rng.next_u64(),
            payload: payload(rng),
        },
    }
}

#[test]
fn every_variant_round_trips() {
    let tx = TxId {
        core: u32::MAX,
        seq: 7,
    };
    let long = Name::new("abcdefghijklmnopqrstuvwxyz012345").unwrap();
    let short = Name::new("~").unwrap();
    let mut msgs = alloc::vec![
        MonMsg::Hello { core: 0 },
        MonMsg::Hello { core: u32::MAX },
        MonMsg::HelloAck { core: 31 },
        MonMsg::Commit { tx },
        MonMsg::Abort { tx },
        MonMsg::Ack { tx },
        MonMsg::Vote {
            tx,
            vote: Vote::Yes
        },
        MonMsg::Vote {
            tx,
            vote: Vote::Busy
        },
    ];
    for e in ERRORS {
        msgs.push(MonMsg::Vote {
            tx,
            vote: Vote::No(e),
        });
    }
    for n in [&long, &short] {
        for op in [
            Op::RegisterName {
                name: n.clone(),
                owner: u64::MAX,
                port: u64::MAX,
            },
            Op::UnregisterName {
                name: n.clone(),
                owner: 0,
            },
            Op::AddDomain {
                domain: u64::MAX,
                program: n.clone(),
            },
        ] {
            msgs.push(MonMsg::Prepare { tx, op });
        }
    }
    for op in [
        Op::RemoveDomain { domain: 1 << 40 },
        Op::ClaimObject {
            base: 0,
            size: u64::MAX,
            by: u32::MAX,
        },
        Op::ClaimObject {
            base: u64::MAX - 1,
            size: 1,
            by: 0,
        },
        Op::RevokeObject { base: 0, size: 1 },
        Op::RevokeObject {
            base: 1 << 63,
            size: (1 << 63) - 1,
        },
    ] {
        msgs.push(MonMsg::Prepare { tx, op });
    }
    // Every payload length, both kinds.
    for len in 0..=MAX_PAYLOAD {
        let payload: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
        msgs.push(MonMsg::Request {
            req: len as u64,
            kind: u16::MAX,
            payload: payload.clone(),
        });
        msgs.push(MonMsg::Reply {
            req: u64::MAX,
            status: len as u64,
            payload,
        });
    }
    for m in &msgs {
        let parts = roundtrip(m);
        let expect = match m {
            MonMsg::Request { payload, .. } => 1 + payload.len().saturating_sub(40).div_ceil(56),
            MonMsg::Reply { payload, .. } => 1 + payload.len().saturating_sub(32).div_ceil(56),
            _ => 1,
        };
        assert_eq!(parts.len(), expect, "{m:?}");
    }
    // Max-size payloads: 10 and 10 messages.
    let max = MonMsg::Request {
        req: 0,
        kind: 0,
        payload: alloc::vec![0xff; MAX_PAYLOAD],
    };
    assert_eq!(encode(&max).unwrap().len(), 10);
}

#[test]
fn random_messages_round_trip() {
    let mut rng = Rng::new(1);
    for _ in 0..3000 {
        roundtrip(&random_msg(&mut rng));
    }
}

#[test]
fn encode_rejects_what_decode_would() {
    let long = alloc::vec![0u8; MAX_PAYLOAD + 1];
    assert_eq!(
        encode(&MonMsg::Request {
            req: 0,
            kind: 0,
            payload: long.clone()
        }),
        Err(WireError::TooLong { len: 513 })
    );
    assert_eq!(
        encode(&MonMsg::Reply {
            req: 0,
            status: 0,
            payload: long
        }),
        Err(WireError::TooLong { len: 513 })
    );
    let tx = TxId { core: 1, seq: 1 };
    for op in [
        Op::ClaimObject {
            base: 1,
            size: 0,
            by: 0,
        },
        Op::ClaimObject {
            base: u64::MAX,
            size: 1,
            by: 0,
        },
        Op::RevokeObject { base: 0, size: 0 },
        Op::RevokeObject {
            base: 2,
            size: u64::MAX - 1,
        },
    ] {
        assert!(matches!(
            encode(&MonMsg::Prepare { tx, op }),
            Err(WireError::InvalidOp {
                err: UpdateError::Invalid,
                ..
            })
        ));
    }
}

/// One crafted bad message each, then the decoder still decodes a valid one.
#[test]
fn decoder_rejects_garbage_and_recovers() {
    let m = |tag, words: &[u64]| Message::from_words(tag, words).unwrap();
    let name_w = u64::from_le_bytes(*b"name\0\0\0\0");
    let cases: Vec<(Message, WireError)> = alloc::vec![
        (m(0x1234, &[]), WireError::UnknownTag(0x1234)),
        (m(0x40fe, &[1]), WireError::UnknownTag(0x40fe)),
        (
            m(tag::CONTINUATION, &[1]),
            WireError::UnexpectedContinuation
        ),
        (
            m(tag::COMMIT, &[1, 2]),
            WireError::BadLength {
                tag: tag::COMMIT,
                len: 16
            }
        ),
        (
            Message::from_bytes(tag::ACK, &[1, 2, 3]).unwrap(),
            WireError::BadLength {
                tag: tag::ACK,
                len: 3
            }
        ),
        (
            m(tag::HELLO, &[1 << 32]),
            WireError::BadField {
                tag: tag::HELLO,
                field: "core"
            }
        ),
        (
            m(tag::VOTE, &[1, 3, 0]),
            WireError::BadField {
                tag: tag::VOTE,
                field: "vote"
            }
        ),
        (
            m(tag::VOTE, &[1, 1, 7]),
            WireError::BadField {
                tag: tag::VOTE,
                field: "error"
            }
        ),
        (
            m(tag::VOTE, &[1, 1, 0]),
            WireError::BadField {
                tag: tag::VOTE,
                field: "error"
            }
        ),
        (
            m(tag::VOTE, &[1, 0, 1]),
            WireError::BadField {
                tag: tag::VOTE,
                field: "error"
            }
        ),
        (
            m(tag::PREPARE_REMOVE_DOMAIN, &[1]),
            WireError::BadLength {
                tag: tag::PREPARE_REMOVE_DOMAIN,
                len: 8
            }
        ),
        (
            m(tag::PREPARE_CLAIM, &[1, 0, 0, 1]),
            WireError::InvalidOp {
                tag: tag::PREPARE_CLAIM,
                err: UpdateError::Invalid
            }
        ),
        (
            m(tag::PREPARE_CLAIM, &[1, 1, 1, 1 << 32]),
            WireError::BadField {
                tag: tag::PREPARE_CLAIM,
                field: "by"
            }
        ),
        (
            m(tag::PREPARE_REVOKE, &[1, u64::MAX, 1]),
            WireError::InvalidOp {
                tag: tag::PREPARE_REVOKE,
                err: UpdateError::Invalid
            }
        ),
        (
            m(tag::PREPARE_UNREGISTER, &[1, 0, 0, 0, 0, 5]),
            WireError::BadName {
                tag: tag::PREPARE_UNREGISTER,
                err: NameError::Empty
            }
        ),
        (
            m(tag::PREPARE_UNREGISTER, &[1, name_w, 0, 0, 1 << 56, 5]),
            WireError::BadName {
                tag: tag::PREPARE_UNREGISTER,
                err: NameError::BadByte { index: 31, byte: 1 }
            }
        ),
        (
            m(tag::PREPARE_ADD_DOMAIN, &[1, 0x20, 0, 0, 0, 5]),
            WireError::BadName {
                tag: tag::PREPARE_ADD_DOMAIN,
                err: NameError::BadByte {
                    index: 0,
                    byte: 0x20
                }
            }
        ),
        (
            m(tag::PREPARE_REGISTER, &[1, 0x7f41, 0, 0, 0, 5, 6]),
            WireError::BadName {
                tag: tag::PREPARE_REGISTER,
                err: NameError::BadByte {
                    index: 1,
                    byte: 0x7f
                }
            }
        ),
        (
            Message::new(tag::REQUEST, [1, 513 << 16, 0, 0, 0, 0, 0]),
            WireError::TooLong { len: 513 }
        ),
        (
            Message::new(tag::REQUEST, [1, 1 << 32, 0, 0, 0, 0, 0]),
            WireError::BadField {
                tag: tag::REQUEST,
                field: "kind/len"
            }
        ),
        (
            Message::new(tag::REQUEST, [1, 1 << 16, 0x100, 0, 0, 0, 0]),
            WireError::BadField {
                tag: tag::REQUEST,
                field: "padding"
            }
        ),
        (
            Message::new(tag::REPLY, [1, 0, u64::MAX, 0, 0, 0, 0]),
            WireError::TooLong { len: usize::MAX }
        ),
        (
            Message::new(tag::REPLY, [1, 0, 0, 0, 0, 0, 1]),
            WireError::BadField {
                tag: tag::REPLY,
                field: "padding"
            }
        ),
        (
            m(tag::REPLY, &[1, 0, 0]),
            WireError::BadLength {
                tag: tag::REPLY,
                len: 24
            }
        ),
    ];
    let good = MonMsg::Commit {
        tx: TxId { core: 3, seq: 4 },
    };
    let good_parts = encode(&good).unwrap();
    let mut d = Decoder::new();
    for (msg, want) in &cases {
        assert_eq!(d.push(msg), Err(*want), "{msg:?}");
        assert!(!d.in_progress());
        assert_eq!(d.push(&good_parts[0]), Ok(Some(good.clone())));
    }
}

#[test]
fn decoder_multi_part_errors() {
    let req = MonMsg::Request {
        req: 9,
        kind: 3,
        payload: (0..200).map(|i| i as u8).collect(),
    };
    let parts = encode(&req).unwrap();
    assert_eq!(parts.len(), 4);
    let commit = encode(&MonMsg::Commit {
        tx: TxId { core: 1, seq: 1 },
    })
    .unwrap();
    let mut d = Decoder::new();

    // A new start while one is pending: error, both dropped; then the decoder works again.
    assert_eq!(d.push(&parts[0]), Ok(None));
    assert_eq!(d.push(&parts[1]), Ok(None));
    assert_eq!(
        d.push(&parts[0]),
        Err(WireError::Interrupted { tag: tag::REQUEST })
    );
    assert!(!d.in_progress());
    assert_eq!(d.push(&parts[2]), Err(WireError::UnexpectedContinuation));
    for p in &parts[..3] {
        assert_eq!(d.push(p), Ok(None));
    }
    assert_eq!(d.push(&parts[3]), Ok(Some(req.clone())));

    // A single message interrupting.
    assert_eq!(d.push(&parts[0]), Ok(None));
    assert_eq!(
        d.push(&commit[0]),
        Err(WireError::Interrupted { tag: tag::COMMIT })
    );
    assert!(!d.in_progress());

    // A continuation of the wrong length.
    assert_eq!(d.push(&parts[0]), Ok(None));
    let short = Message::from_bytes(tag::CONTINUATION, &[1; 10]).unwrap();
    assert_eq!(
        d.push(&short),
        Err(WireError::BadContinuation {
            expected: 56,
            got: 10
        })
    );
    assert!(!d.in_progress());
    assert_eq!(d.push(&parts[1]), Err(WireError::UnexpectedContinuation));

    // The last continuation must be exactly the rest (200 - 40 - 2 * 56 = 48 bytes).
    assert_eq!(d.push(&parts[0]), Ok(None));
    assert_eq!(d.push(&parts[1]), Ok(None));
    assert_eq!(d.push(&parts[2]), Ok(None));
    let long = Message::from_bytes(tag::CONTINUATION, &[1; 56]).unwrap();
    assert_eq!(
        d.push(&long),
        Err(WireError::BadContinuation {
            expected: 48,
            got: 56
        })
    );
    assert_eq!(d.push(&commit[0]).map(|m| m.is_some()), Ok(true));
}

/// A random URPC message, biased towards monitor tags and plausible lengths.
fn garbage(rng: &mut Rng) -> Message {
    let tag = match rng.below(5) {
        0 => rng.next_u64() as u16,
        1 => tag::CONTINUATION,
        2 => tag::FORWARD,
        _ => tag::FIRST + rng.below(0x41) as u16,
    };
    let mut words = [0u64; 7];
    for w in &mut words {
        *w = match rng.below(5) {
            0 => 0,
            1 => rng.below(8),
            2 => rng.next_u64() & 0xffff_ffff,
            3 => u64::from_le_bytes(*b"svc-name"),
            _ => rng.next_u64(),
        };
    }
    // Plausible Request/Reply heads now and then.
    if rng.chance(1, 4) {
        words[1] = rng.below(600) << 16;
        words[2] = rng.below(600);
    }
    // Plausible Forward heads: few targets, a short inner message, the right length.
    if tag == tag::FORWARD && rng.chance(1, 2) {
        let count = rng.below(4);
        let inner = rng.below(70);
        words[0] = (words[0] & 0xffff_ffff) | count << 32 | inner << 48;
        if rng.chance(3, 4) {
            let n = 8 + ((4 * count + inner) as usize).min(FORWARD_FIRST_BYTES);
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            return Message::from_bytes(tag, &bytes[..n]).unwrap();
        }
    }
    match rng.below(3) {
        0 => Message::new(tag, words),
        1 => Message::from_words(tag, &words[..rng.index(8)]).unwrap(),
        _ => {
            let n = rng.index(57);
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            Message::from_bytes(tag, &bytes[..n]).unwrap()
        }
    }
}

/// Random garbage never panics, and whatever the decoder accepts re-encodes to exactly the
/// URPC messages it came from (the encoding is canonical).
#[test]
fn random_garbage_never_panics() {
    let mut rng = Rng::new(42);
    let mut d = Decoder::new();
    let mut since_start: Vec<Message> = Vec::new();
    let (mut ok, mut err) = (0, 0);
    for _ in 0..200_000 {
        let g = garbage(&mut rng);
        if !d.in_progress() {
            since_start.clear();
        }
        since_start.push(g);
        match d.push(&g) {
            Ok(Some(m)) => {
                ok += 1;
                assert_eq!(encode(&m).unwrap(), since_start, "{m:?}");
            }
            Ok(None) => {}
            Err(_) => err += 1,
        }
    }
    assert!(ok > 100 && err > 1000, "ok {ok} err {err}");
}

/// Garbage between whole valid messages: every valid message decodes, except one whose first
/// part arrives while garbage left a partial message pending (reported as `Interrupted`).
#[test]
fn garbage_interleaved_with_valid_messages() {
    let mut rng = Rng::new(7);
    let mut d = Decoder::new();
    let (mut decoded, mut lost) = (0, 0);
    for _ in 0..20_000 {
        if rng.chance(1, 2) {
            for _ in 0..1 + rng.below(3) {
                let _ = d.push(&garbage(&mut rng));
            }
        }
        let m = random_msg(&mut rng);
        let parts = encode(&m).unwrap();
        let was_pending = d.in_progress();
        let mut got = None;
        for (k, p) in parts.iter().enumerate() {
            match d.push(p) {
                Ok(Some(x)) => got = Some(x),
                Ok(None) => {}
                Err(WireError::Interrupted { .. }) if k == 0 && was_pending => {}
                Err(WireError::UnexpectedContinuation) if k > 0 && was_pending => {}
                Err(e) => panic!("{m:?} part {k}: {e:?}"),
            }
        }
        if was_pending {
            assert_eq!(got, None);
            lost += 1;
        } else {
            assert_eq!(got, Some(m));
            decoded += 1;
        }
        assert!(!d.in_progress());
    }
    assert!(decoded > 10 * lost && lost > 0, "{decoded} {lost}");
}

#[test]
fn names() {
    assert_eq!(Name::new(""), Err(NameError::Empty));
    assert_eq!(Name::new(&"x".repeat(33)), Err(NameError::TooLong(33)));
    assert_eq!(
        Name::new("a b"),
        Err(NameError::BadByte {
            index: 1,
            byte: b' '
        })
    );
    assert_eq!(
        Name::new("é"),
        Err(NameError::BadByte {
            index: 0,
            byte: 0xc3
        })
    );
    let n = Name::new(&"x".repeat(32)).unwrap();
    assert_eq!(n.as_str().len(), 32);
    assert_eq!(Name::from_padded(n.padded()), Ok(n));
    let n = Name::new("fs.root").unwrap();
    assert_eq!(n.as_str(), "fs.root");
    assert_eq!(alloc::format!("{n}"), "fs.root");
    assert!(Name::new("a").unwrap() < Name::new("b").unwrap());
    let t = TxId {
        core: 0xdead,
        seq: 0xbeef,
    };
    assert_eq!(t.pack(), 0xdead_0000_beef);
    assert_eq!(TxId::unpack(t.pack()), t);
}

// ---------------------------------------------------------------------------------------------
// Forward.

/// The record bytes of a message inside a Forward (3 per URPC message plus its bytes).
fn inner_bytes(m: &MonMsg) -> usize {
    encode(m).unwrap().iter().map(|p| 3 + p.len()).sum()
}

fn forward(origin: CoreId, targets: Vec<CoreId>, inner: MonMsg) -> MonMsg {
    MonMsg::Forward {
        origin,
        targets,
        inner: Box::new(inner),
    }
}

/// Forwards of every size class round-trip, in `1 + ceil((total - 48) / 56)` URPC messages.
#[test]
fn forward_round_trips() {
    let tx = TxId { core: 9, seq: 3 };
    let inners = alloc::vec![
        MonMsg::Commit { tx },
        MonMsg::Hello { core: 0 },
        MonMsg::Vote {
            tx,
            vote: Vote::No(UpdateError::Exists)
        },
        MonMsg::Prepare {
            tx,
            op: Op::RegisterName {
                name: Name::new("abcdefghijklmnopqrstuvwxyz012345").unwrap(),
                owner: u64::MAX,
                port: 1,
            },
        },
        MonMsg::Request {
            req: 1,
            kind: 2,
            payload: alloc::vec![0xa5; MAX_PAYLOAD],
        },
        MonMsg::Reply {
            req: 1,
            status: 2,
            payload: alloc::vec![0x5a; MAX_PAYLOAD],
        },
        MonMsg::Reply {
            req: 1,
            status: 2,
            payload: Vec::new(),
        },
    ];
    for inner in &inners {
        for count in [
            1,
            2,
            3,
            11,
            12,
            13,
            14,
            25,
            26,
            27,
            100,
            MAX_TARGETS - 1,
            MAX_TARGETS,
        ] {
            let targets: Vec<CoreId> = (0..count as u32).map(|i| i * 7 + 1).rev().collect();
            let m = forward(u32::MAX, targets, inner.clone());
            let parts = roundtrip(&m);
            let total = 4 * count + inner_bytes(inner);
            let expect = 1 + total.saturating_sub(FORWARD_FIRST_BYTES).div_ceil(56);
            assert_eq!(parts.len(), expect, "{count} targets, {inner:?}");
            assert_eq!(parts[0].tag(), tag::FORWARD);
            assert!(parts[1..].iter().all(|p| p.tag() == tag::CONTINUATION));
        }
    }
    // A relayed Commit (one target) is one URPC message; the longest Forward is 84.
    let relay = forward(1, alloc::vec![2], MonMsg::Commit { tx });
    assert_eq!(encode(&relay).unwrap().len(), 1);
    let max_inner = inners.iter().map(inner_bytes).max().unwrap();
    assert_eq!(max_inner, MAX_INNER_BYTES);
    let biggest = forward(1, (0..MAX_TARGETS as u32).collect(), inners[5].clone());
    assert_eq!(encode(&biggest).unwrap().len(), 84);
}

#[test]
fn encode_rejects_bad_forwards() {
    let c = MonMsg::Commit {
        tx: TxId { core: 1, seq: 1 },
    };
    assert_eq!(
        encode(&forward(1, Vec::new(), c.clone())),
        Err(WireError::EmptyForward)
    );
    assert_eq!(
        encode(&forward(1, (0..=MAX_TARGETS as u32).collect(), c.clone())),
        Err(WireError::TooManyTargets {
            count: MAX_TARGETS + 1
        })
    );
    assert_eq!(
        encode(&forward(1, alloc::vec![5, 6, 7, 6], c.clone())),
        Err(WireError::DuplicateTarget { core: 6 })
    );
    assert_eq!(
        encode(&forward(
            1,
            alloc::vec![5],
            forward(1, alloc::vec![6], c.clone())
        )),
        Err(WireError::NestedForward)
    );
    // The inner message's own rules apply.
    assert_eq!(
        encode(&forward(
            1,
            alloc::vec![5],
            MonMsg::Request {
                req: 0,
                kind: 0,
                payload: alloc::vec![0; MAX_PAYLOAD + 1]
            }
        )),
        Err(WireError::TooLong {
            len: MAX_PAYLOAD + 1
        })
    );
}

/// The URPC messages of a Forward with header fields and payload chosen freely.
fn raw_forward(origin: u32, count: u64, inner_len: u64, payload: &[u8]) -> Vec<Message> {
    let w0 = origin as u64 | count << 32 | inner_len << 48;
    let mut head = w0.to_le_bytes().to_vec();
    head.extend_from_slice(payload.get(..FORWARD_FIRST_BYTES).unwrap_or(payload));
    let mut out = alloc::vec![Message::from_bytes(tag::FORWARD, &head).unwrap()];
    for c in payload.get(FORWARD_FIRST_BYTES..).unwrap_or(&[]).chunks(56) {
        out.push(Message::from_bytes(tag::CONTINUATION, c).unwrap());
    }
    out
}

/// Records of URPC messages, as in a Forward's payload.
fn records(parts: &[Message]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        let (b, n) = p.to_bytes();
        out.extend_from_slice(&p.tag().to_le_bytes());
        out.push(n as u8);
        out.extend_from_slice(&b[..n]);
    }
    out
}

fn targets_bytes(t: &[u32]) -> Vec<u8> {
    t.iter().flat_map(|c| c.to_le_bytes()).collect()
}

/// A Forward with these targets and inner records, its header fields computed.
fn forward_with(targets: &[u32], inner: &[u8]) -> Vec<Message> {
    let mut payload = targets_bytes(targets);
    payload.extend_from_slice(inner);
    raw_forward(7, targets.len() as u64, inner.len() as u64, &payload)
}

/// Every rejection rule of a Forward, detected when its last part arrives (or at its head),
/// and the decoder then decodes a valid message; no part of a bad Forward is ever taken for
/// a message of its own.
#[test]
fn decoder_rejects_bad_forwards() {
    let tx = TxId { core: 3, seq: 4 };
    let commit = encode(&MonMsg::Commit { tx }).unwrap();
    let commit_rec = records(&commit);
    let req = encode(&MonMsg::Request {
        req: 1,
        kind: 1,
        payload: alloc::vec![1; 100],
    })
    .unwrap();
    let nested = encode(&forward(1, alloc::vec![2], MonMsg::Commit { tx })).unwrap();
    let bad_vote = [Message::from_words(tag::VOTE, &[1, 3, 0]).unwrap()];
    let inner = |field| WireError::BadField {
        tag: tag::FORWARD,
        field,
    };
    let many: Vec<u32> = (0..40).collect();
    let mut dup = many.clone();
    dup[39] = 17;
    let cases: Vec<(Vec<Message>, WireError)> = alloc::vec![
        (
            alloc::vec![Message::from_bytes(tag::FORWARD, &[1, 2, 3]).unwrap()],
            WireError::BadLength {
                tag: tag::FORWARD,
                len: 3
            }
        ),
        (raw_forward(7, 0, 11, &commit_rec), WireError::EmptyForward),
        (
            raw_forward(7, MAX_TARGETS as u64 + 1, 11, &[0; 48]),
            WireError::TooManyTargets {
                count: MAX_TARGETS + 1
            }
        ),
        (
            raw_forward(7, 0xffff, 11, &[0; 48]),
            WireError::TooManyTargets { count: 0xffff }
        ),
        (raw_forward(7, 1, 0, &[0; 4]), inner("inner length")),
        (
            raw_forward(7, 1, MAX_INNER_BYTES as u64 + 1, &[0; 48]),
            inner("inner length")
        ),
        // Head one byte short / long.
        (
            alloc::vec![Message::from_bytes(tag::FORWARD, &{
                let mut h = (7u64 | 1 << 32 | 11 << 48).to_le_bytes().to_vec();
                h.extend_from_slice(&[0; 14]);
                h
            })
            .unwrap()],
            WireError::BadLength {
                tag: tag::FORWARD,
                len: 22
            }
        ),
        (
            alloc::vec![Message::from_bytes(tag::FORWARD, &{
                let mut h = (7u64 | 1 << 32 | 11 << 48).to_le_bytes().to_vec();
                h.extend_from_slice(&[0; 16]);
                h
            })
            .unwrap()],
            WireError::BadLength {
                tag: tag::FORWARD,
                len: 24
            }
        ),
        (
            forward_with(&[5, 6, 5], &commit_rec),
            WireError::DuplicateTarget { core: 5 }
        ),
        (
            forward_with(&dup, &commit_rec),
            WireError::DuplicateTarget { core: 17 }
        ),
        (
            forward_with(&[5], &records(&nested)),
            WireError::NestedForward
        ),
        // Truncated record, record too long, extra record, incomplete message.
        (forward_with(&[5], &commit_rec[..10]), inner("inner")),
        (
            forward_with(&many, &{
                let mut r = alloc::vec![0x21, 0x40, 57];
                r.extend_from_slice(&[0; 57]);
                r
            }),
            inner("inner")
        ),
        (
            forward_with(&[5], &records(&[commit[0], commit[0]])),
            inner("inner")
        ),
        (forward_with(&many, &records(&req[..2])), inner("inner")),
        // The inner message's own errors.
        (
            forward_with(&[5], &records(&bad_vote)),
            WireError::BadField {
                tag: tag::VOTE,
                field: "vote"
            }
        ),
        (
            forward_with(
                &[5],
                &records(&[Message::from_words(0x1234, &[1]).unwrap()])
            ),
            WireError::UnknownTag(0x1234)
        ),
        (
            forward_with(&[5], &records(&[req[0], req[2], req[1]])),
            WireError::BadContinuation {
                expected: 56,
                got: 4
            }
        ),
    ];
    let good = MonMsg::Commit {
        tx: TxId { core: 3, seq: 4 },
    };
    let mut d = Decoder::new();
    for (parts, want) in &cases {
        let (last, init) = parts.split_last().unwrap();
        for p in init {
            assert_eq!(d.push(p), Ok(None), "{want:?}");
        }
        assert_eq!(d.push(last), Err(*want), "{parts:?}");
        assert!(!d.in_progress());
        assert_eq!(d.push(&commit[0]), Ok(Some(good.clone())));
    }
    // A valid one built the same way decodes (the helpers are right).
    let ok = forward_with(&many, &records(&req));
    let mut got = None;
    for p in &ok {
        got = d.push(p).unwrap();
    }
    assert!(matches!(got, Some(MonMsg::Forward { ref targets, .. }) if *targets == many));
}

/// Valid Forwards with one part changed, dropped or repeated: whatever the decoder accepts is
/// a Forward that re-encodes to exactly the parts it came from (canonical), never a message
/// made of a part of the Forward, and the decoder always recovers.
#[test]
fn mutated_forwards() {
    let mut rng = Rng::new(99);
    let (mut ok, mut err) = (0, 0);
    for _ in 0..20_000 {
        let count = 1 + rng.index(30);
        let m = forward(
            rng.next_u64() as u32,
            distinct_cores(&mut rng, count),
            random_plain(&mut rng),
        );
        let mut parts = encode(&m).unwrap();
        let k = rng.index(parts.len());
        match rng.below(4) {
            0 => {
                parts.remove(k);
            }
            1 => {
                let p = parts[k];
                parts.insert(k, p);
            }
            _ => {
                let (mut b, n) = parts[k].to_bytes();
                if n > 0 {
                    let i = rng.index(n);
                    b[i] ^= 1 << rng.below(8);
                }
                let n = if rng.chance(1, 8) { rng.index(57) } else { n };
                parts[k] = Message::from_bytes(parts[k].tag(), &b[..n]).unwrap();
            }
        }
        let mut d = Decoder::new();
        let mut since: Vec<Message> = Vec::new();
        for p in &parts {
            if !d.in_progress() {
                since.clear();
            }
            since.push(*p);
            match d.push(p) {
                Ok(Some(got)) => {
                    assert!(matches!(got, MonMsg::Forward { .. }), "{got:?}");
                    assert_eq!(encode(&got).unwrap(), since);
                    ok += 1;
                }
                Ok(None) => {}
                Err(_) => err += 1,
            }
        }
        let c = encode(&MonMsg::Ack {
            tx: TxId { core: 1, seq: 2 },
        })
        .unwrap();
        let _ = d.push(&c[0]);
        assert!(!d.in_progress());
        assert!(d.push(&c[0]).unwrap().is_some());
    }
    assert!(ok > 100 && err > 1000, "ok {ok} err {err}");
}
