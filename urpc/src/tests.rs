//! Unit tests of the protocol on one thread (the multi-threaded ones are in `tests/`).

use crate::header::{Frag, Header};
use crate::sync::Ordering;
use crate::*;
use std::vec;
use std::vec::Vec;

fn msg(i: u64) -> Message {
    Message::new(3, [i, !i, i * 3, 4, 5, 6, i ^ 0x55])
}

fn rng(state: &mut u64) -> u64 {
    // xorshift64*
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn pattern(seed: u64, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (seed as usize * 31 + i * 7 + (i >> 8)) as u8)
        .collect()
}

#[test]
fn send_and_receive_in_order() {
    let mem = ChannelMemory::<4>::new();
    let (mut a, mut b) = mem.split();
    assert_eq!(b.try_recv(), Err(RecvError::WouldBlock));
    for i in 0..3 {
        assert_eq!(a.try_send(&msg(i)), Ok(Notify::NotNeeded));
    }
    for i in 0..3 {
        assert_eq!(b.try_recv(), Ok(msg(i)));
    }
    assert_eq!(b.try_recv(), Err(RecvError::WouldBlock));
    // The other direction is independent.
    assert_eq!(a.try_recv(), Err(RecvError::WouldBlock));
    let _ = b
        .try_send(&Message::from_bytes(9, b"pong").unwrap())
        .unwrap();
    let m = a.try_recv().unwrap();
    assert_eq!((m.tag(), m.len()), (9, 4));
    assert_eq!(&m.to_bytes().0[..4], b"pong");
}

#[test]
fn wrap_around_many_laps() {
    for flow in [FlowControl::EpochAck, FlowControl::UsedBit] {
        let mem = ChannelMemory::<4>::new();
        let (mut a, mut b) = mem.split_with(Config::with_flow(flow));
        let mut next_send = 0u64;
        let mut next_recv = 0u64;
        // Uneven batches so that the positions drift across the ring boundary.
        for round in 0..200u64 {
            for _ in 0..(round % 4 + 1) {
                match a.try_send(&msg(next_send)) {
                    Ok(_) => next_send += 1,
                    Err(SendError::Full) => break,
                    Err(e) => panic!("{e}"),
                }
            }
            for _ in 0..(round % 3 + 1) {
                match b.try_recv() {
                    Ok(m) => {
                        assert_eq!(m, msg(next_recv), "{flow:?}");
                        next_recv += 1;
                    }
                    Err(RecvError::WouldBlock) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
        while let Ok(m) = b.try_recv() {
            assert_eq!(m, msg(next_recv));
            next_recv += 1;
        }
        assert_eq!(next_send, next_recv);
        assert!(next_send > 100);
    }
}

#[test]
fn full_ring_epoch_lazy_ack() {
    let mem = ChannelMemory::<4>::new();
    let (mut a, mut b) = mem.split();
    for i in 0..4 {
        let _ = a.try_send(&msg(i)).unwrap();
    }
    assert_eq!(a.try_send(&msg(4)), Err(SendError::Full));
    // One consumed: not yet published (ack interval 2), still full.
    assert_eq!(b.try_recv(), Ok(msg(0)));
    assert_eq!(a.try_send(&msg(4)), Err(SendError::Full));
    // Two consumed: published, two slots free.
    assert_eq!(b.try_recv(), Ok(msg(1)));
    let _ = a.try_send(&msg(4)).unwrap();
    let _ = a.try_send(&msg(5)).unwrap();
    assert_eq!(a.try_send(&msg(6)), Err(SendError::Full));
    // flush_ack publishes early.
    assert_eq!(b.try_recv(), Ok(msg(2)));
    b.receiver().flush_ack();
    let _ = a.try_send(&msg(6)).unwrap();
    for i in 3..7 {
        assert_eq!(b.try_recv(), Ok(msg(i)));
    }
}

#[test]
fn full_ring_ack_interval_one_and_n() {
    for (interval, frees_after) in [(1, 1), (4, 4), (100, 4)] {
        let mem = ChannelMemory::<4>::new();
        let (mut a, mut b) = mem.split_with(Config::DEFAULT.ack_interval(interval));
        for i in 0..4 {
            let _ = a.try_send(&msg(i)).unwrap();
        }
        for k in 1..=4 {
            b.try_recv().unwrap();
            let free = a.try_send(&msg(10 + k)).is_ok();
            assert_eq!(free, k >= frees_after, "interval {interval} after {k}");
            if free {
                break;
            }
        }
    }
}

#[test]
fn full_ring_used_bit() {
    let mem = ChannelMemory::<4>::new();
    let (mut a, mut b) = mem.split_with(Config::with_flow(FlowControl::UsedBit));
    for i in 0..4 {
        let _ = a.try_send(&msg(i)).unwrap();
    }
    assert_eq!(a.try_send(&msg(4)), Err(SendError::Full));
    assert_eq!(b.try_recv(), Ok(msg(0)));
    let _ = a.try_send(&msg(4)).unwrap();
    assert_eq!(a.try_send(&msg(5)), Err(SendError::Full));
    for i in 1..5 {
        assert_eq!(b.try_recv(), Ok(msg(i)));
    }
    // Consumed slots are cleared.
    let ring = mem.ring(Side::A);
    assert!(ring
        .slots
        .iter()
        .all(|s| s.header.load(Ordering::Relaxed) == 0));
}

/// Send `data` through a ring of `N` slots, draining at the receiver whenever the sender is
/// stuck, and check it arrives whole.
fn fragment_roundtrip<const N: usize>(flow: FlowControl, tag: u16, data: &[u8]) {
    let mem = ChannelMemory::<N>::new();
    let (mut a, mut b) = mem.split_with(Config::with_flow(flow));
    let mut buf = vec![0u8; data.len() + 3];
    let mut got = None;
    loop {
        match a.try_send_bytes(tag, data) {
            Ok(BytesSent { complete: true, .. }) => break,
            Ok(BytesSent {
                complete: false, ..
            })
            | Err(SendError::Full) => {
                // Can't send anything else meanwhile.
                assert_eq!(a.try_send(&msg(0)), Err(SendError::FragmentInProgress));
                assert_eq!(
                    a.try_send_bytes(tag.wrapping_add(1), data),
                    Err(SendError::FragmentInProgress)
                );
                match b.recv_bytes(&mut buf) {
                    Err(RecvError::WouldBlock) => {}
                    Ok(r) => got = Some(r),
                    Err(e) => panic!("{e}"),
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    let r = match got {
        Some(r) => r,
        None => b.recv_bytes(&mut buf).unwrap(),
    };
    assert_eq!(
        r,
        Received {
            tag,
            len: data.len()
        }
    );
    assert_eq!(&buf[..data.len()], data);
    assert_eq!(b.recv_bytes(&mut buf), Err(RecvError::WouldBlock));
    assert!(!b.receiver().fragment_in_progress());
    assert!(!a.sender().fragment_in_progress());
}

#[test]
fn fragments_all_lengths() {
    for flow in [FlowControl::EpochAck, FlowControl::UsedBit] {
        for len in (0..300).chain([559, 560, 561, 1000, 4096, 10_000]) {
            let data = pattern(len as u64, len);
            fragment_roundtrip::<4>(flow, 0x1234, &data);
            fragment_roundtrip::<32>(flow, 7, &data);
        }
    }
}

#[test]
fn fragmented_messages_interleave_with_single() {
    let mem = ChannelMemory::<32>::new();
    let (mut a, mut b) = mem.split();
    let long = pattern(1, 200);
    let _ = a.try_send(&msg(1)).unwrap();
    assert!(a.try_send_bytes(5, &long).unwrap().complete);
    assert!(a.try_send_bytes(6, b"short").unwrap().complete);
    let _ = a.try_send(&msg(2)).unwrap();

    assert_eq!(b.try_recv(), Ok(msg(1)));
    // try_recv refuses fragments and consumes nothing.
    assert_eq!(b.try_recv(), Err(RecvError::Fragmented));
    let mut small = [0u8; 100];
    assert_eq!(
        b.recv_bytes(&mut small),
        Err(RecvError::BufferTooSmall { needed: 200 })
    );
    let mut buf = [0u8; 256];
    assert_eq!(b.recv_bytes(&mut buf), Ok(Received { tag: 5, len: 200 }));
    assert_eq!(&buf[..200], &long[..]);
    let mut tiny = [0u8; 3];
    assert_eq!(
        b.recv_bytes(&mut tiny),
        Err(RecvError::BufferTooSmall { needed: 5 })
    );
    assert_eq!(b.recv_bytes(&mut buf), Ok(Received { tag: 6, len: 5 }));
    assert_eq!(&buf[..5], b"short");
    // recv_bytes takes single-slot messages too.
    assert_eq!(b.recv_bytes(&mut buf), Ok(Received { tag: 3, len: 56 }));
    assert_eq!(b.try_recv(), Err(RecvError::WouldBlock));
}

#[test]
fn partial_reassembly_resumes() {
    let mem = ChannelMemory::<4>::new();
    let (mut a, mut b) = mem.split();
    let data = pattern(9, 300); // 48 + 4 * 56 + 28: 6 slots
    let first = a.try_send_bytes(1, &data).unwrap();
    assert!(!first.complete);
    let mut buf = vec![0u8; 300];
    assert_eq!(b.recv_bytes(&mut buf), Err(RecvError::WouldBlock));
    assert!(b.receiver().fragment_in_progress());
    assert_eq!(b.try_recv(), Err(RecvError::Fragmented));
    assert!(a.try_send_bytes(1, &data).unwrap().complete);
    // A buffer too short for the message in progress is refused without consuming.
    assert_eq!(
        b.recv_bytes(&mut [0u8; 10]),
        Err(RecvError::BufferTooSmall { needed: 300 })
    );
    assert_eq!(b.recv_bytes(&mut buf), Ok(Received { tag: 1, len: 300 }));
    assert_eq!(buf, data);
}

#[test]
fn oversized_sends_rejected() {
    let m = Message::from_bytes(0, &[0; 57]);
    assert_eq!(m, Err(SendError::TooLong { len: 57, max: 56 }));
}

/// Write a slot directly, as a (possibly malicious) peer would.
fn poke<const N: usize>(ring: &Ring<N>, idx: usize, header: u64, words: [u64; 7]) {
    let s = &ring.slots[idx];
    for (w, v) in s.words.iter().zip(words) {
        w.store(v, Ordering::Relaxed);
    }
    s.header.store(header, Ordering::Release);
}

fn hdr(seq: u32, tag: u16, len: u8, frag: Frag) -> u64 {
    Header {
        seq,
        tag,
        len,
        frag,
    }
    .encode()
}

#[test]
fn garbage_headers_are_errors() {
    let mem = ChannelMemory::<4>::new();
    let ring = mem.ring(Side::A);
    let (_a, mut b) = mem.split();
    let mut buf = [0u8; 512];

    // Reserved bits set: error, not consumed (sticky).
    poke(ring, 0, hdr(0, 1, 8, Frag::Single) | 1 << 60, [0; 7]);
    let bad = RecvError::Protocol(ProtocolError::BadHeader {
        raw: hdr(0, 1, 8, Frag::Single) | 1 << 60,
    });
    assert_eq!(b.try_recv(), Err(bad));
    assert_eq!(b.recv_bytes(&mut buf), Err(bad));
    assert_eq!(b.receiver().received(), 0);

    // Wrong sequence number.
    poke(ring, 0, hdr(77, 1, 8, Frag::Single), [0; 7]);
    assert_eq!(
        b.try_recv(),
        Err(RecvError::Protocol(ProtocolError::BadSequence {
            expected: 0,
            found: 77
        }))
    );
    // Previous lap's sequence number in epoch mode reads as empty.
    poke(
        ring,
        0,
        hdr(0u32.wrapping_sub(4), 1, 8, Frag::Single),
        [0; 7],
    );
    assert_eq!(b.try_recv(), Err(RecvError::WouldBlock));

    // A middle fragment with no first: consumed, error.
    poke(ring, 0, hdr(0, 1, 56, Frag::Middle), [0; 7]);
    assert_eq!(b.try_recv(), Err(RecvError::Fragmented));
    assert_eq!(
        b.recv_bytes(&mut buf),
        Err(RecvError::Protocol(ProtocolError::UnexpectedFragment))
    );
    assert_eq!(b.receiver().received(), 1);

    // A first fragment announcing a total that fits one slot: consumed, error.
    poke(ring, 1, hdr(1, 1, 48, Frag::First), [40, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        b.recv_bytes(&mut buf),
        Err(RecvError::Protocol(ProtocolError::BadLength))
    );

    // First fragment, then a last whose length doesn't add up.
    poke(ring, 2, hdr(2, 1, 48, Frag::First), [100, 0, 0, 0, 0, 0, 0]);
    poke(ring, 3, hdr(3, 1, 10, Frag::Last), [0; 7]);
    assert_eq!(
        b.recv_bytes(&mut buf),
        Err(RecvError::Protocol(ProtocolError::BadLength))
    );
    assert!(!b.receiver().fragment_in_progress());

    // First fragment, then a middle with another tag.
    poke(ring, 0, hdr(4, 1, 48, Frag::First), [200, 0, 0, 0, 0, 0, 0]);
    poke(ring, 1, hdr(5, 2, 56, Frag::Middle), [0; 7]);
    assert_eq!(
        b.recv_bytes(&mut buf),
        Err(RecvError::Protocol(ProtocolError::TagMismatch {
            expected: 1,
            found: 2
        }))
    );

    // First fragment, then a new single message: error, the single message survives.
    poke(ring, 2, hdr(6, 1, 48, Frag::First), [200, 0, 0, 0, 0, 0, 0]);
    poke(ring, 3, hdr(7, 9, 8, Frag::Single), [42, 0, 0, 0, 0, 0, 0]);
    assert_eq!(
        b.recv_bytes(&mut buf),
        Err(RecvError::Protocol(ProtocolError::UnexpectedFragment))
    );
    let m = b.try_recv().unwrap();
    assert_eq!((m.tag(), m.len(), m.word(0)), (9, 8, Some(42)));

    // A first fragment announcing an absurd total.
    poke(
        ring,
        0,
        hdr(8, 1, 48, Frag::First),
        [u64::MAX, 0, 0, 0, 0, 0, 0],
    );
    assert_eq!(
        b.recv_bytes(&mut buf),
        Err(RecvError::Protocol(ProtocolError::BadLength))
    );
    assert_eq!(b.receiver().received(), 9);
}

#[test]
fn random_garbage_never_panics() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for flow in [FlowControl::EpochAck, FlowControl::UsedBit] {
        let mem = ChannelMemory::<4>::new();
        let (mut a, mut b) = mem.split_with(Config::with_flow(flow));
        let mut buf = [0u8; 300];
        for round in 0..20_000 {
            // Scribble over a random word of the whole channel memory.
            let ring = mem.ring(if rng(&mut seed) & 1 == 0 {
                Side::A
            } else {
                Side::B
            });
            let r = rng(&mut seed);
            let v = match r % 4 {
                0 => r,
                // Plausible headers: valid bit, small fields, near-expected sequence numbers.
                1 => hdr(
                    (r >> 8) as u32 % 16,
                    (r >> 40) as u16 % 3,
                    (r >> 50) as u8 % 64,
                    [Frag::Single, Frag::First, Frag::Middle, Frag::Last][(r >> 60) as usize & 3],
                ),
                2 => r % 400,
                _ => 0,
            };
            let slot = (r >> 20) as usize % 5;
            let word = (r >> 30) as usize % 8;
            if slot == 4 {
                [&ring.ctrl.ack, &ring.ctrl.wake][word & 1].store(v, Ordering::Relaxed);
            } else if word == 7 {
                ring.slots[slot].header.store(v, Ordering::Release);
            } else {
                ring.slots[slot].words[word].store(v, Ordering::Relaxed);
            }
            // And use the channel as normal; any result but a panic is fine.
            let _ = a.try_send(&msg(round));
            let _ = a.try_send_bytes(1, &[7; 150]);
            let _ = b.try_recv();
            let _ = b.recv_bytes(&mut buf);
            let _ = b.recv_bytes(&mut buf[..10]);
            let _ = b.arm_notify();
            let _ = a.try_recv();
        }
    }
}

#[test]
fn corrupt_ack_is_an_error() {
    let mem = ChannelMemory::<4>::new();
    let (mut a, _b) = mem.split();
    for i in 0..4 {
        let _ = a.try_send(&msg(i)).unwrap();
    }
    // Acknowledging more than was sent.
    mem.ring(Side::A).ctrl.ack.store(5, Ordering::Release);
    assert_eq!(
        a.try_send(&msg(4)),
        Err(SendError::Protocol(ProtocolError::BadAck { ack: 5 }))
    );
    mem.ring(Side::A).ctrl.ack.store(2, Ordering::Release);
    let _ = a.try_send(&msg(4)).unwrap();
    // Going backwards.
    let _ = a.try_send(&msg(5)).unwrap();
    mem.ring(Side::A).ctrl.ack.store(1, Ordering::Release);
    assert_eq!(
        a.try_send(&msg(6)),
        Err(SendError::Protocol(ProtocolError::BadAck { ack: 1 }))
    );
}

#[test]
fn notification_flag() {
    let mem = ChannelMemory::<4>::new();
    let (mut a, mut b) = mem.split();
    // Nobody waiting.
    assert_eq!(a.try_send(&msg(0)), Ok(Notify::NotNeeded));
    // Message pending: arming is refused and withdrawn.
    assert_eq!(b.arm_notify(), Armed::MessagePending);
    assert!(!b.receiver().is_armed());
    assert_eq!(a.try_send(&msg(1)), Ok(Notify::NotNeeded));
    b.try_recv().unwrap();
    b.try_recv().unwrap();
    // Empty: armed; the next send asks for a notification, once.
    assert_eq!(b.arm_notify(), Armed::Armed);
    assert!(b.receiver().is_armed());
    assert_eq!(a.try_send(&msg(2)), Ok(Notify::Needed));
    assert_eq!(a.try_send(&msg(3)), Ok(Notify::NotNeeded));
    // Receiving disarms.
    b.try_recv().unwrap();
    assert!(!b.receiver().is_armed());
    b.try_recv().unwrap();
    // A new request generation is answered again, also by a fragmented send.
    assert_eq!(b.arm_notify(), Armed::Armed);
    let sent = a.try_send_bytes(1, &[1; 100]).unwrap();
    assert_eq!(sent.notify, Notify::Needed);
    let mut buf = [0u8; 100];
    b.recv_bytes(&mut buf).unwrap();
    // Disarming by hand: no notification.
    assert_eq!(b.arm_notify(), Armed::Armed);
    b.disarm_notify();
    assert_eq!(a.try_send(&msg(4)), Ok(Notify::NotNeeded));
    b.try_recv().unwrap();
    // With the check off, never.
    a.sender().set_notify_check(false);
    assert_eq!(b.arm_notify(), Armed::Armed);
    assert_eq!(a.try_send(&msg(5)), Ok(Notify::NotNeeded));
}

#[test]
fn zeroed_memory_is_an_empty_channel() {
    // A 64-byte aligned, zeroed buffer standing in for a fresh frame.
    #[repr(C, align(64))]
    struct Frame([u8; PageChannel::SIZE]);
    let mut frame = std::boxed::Box::new(Frame([0; PageChannel::SIZE]));
    let ptr = frame.as_mut() as *mut Frame as *const PageChannel;
    // SAFETY: `frame` is 4096 zeroed, aligned bytes that outlive `mem`, accessed only through
    // `mem` meanwhile.
    let mem = unsafe { PageChannel::from_raw(ptr) }.unwrap();
    let (mut a, mut b) = mem.split();
    for i in 0..100 {
        let _ = a.try_send(&msg(i)).unwrap();
        assert_eq!(b.try_recv(), Ok(msg(i)));
        let _ = b.try_send(&msg(i + 1000)).unwrap();
        assert_eq!(a.try_recv(), Ok(msg(i + 1000)));
    }
    // Two independent mappings of the same memory (as two cores would have) see one channel.
    // SAFETY: as above.
    let view2 = unsafe { PageChannel::from_raw(ptr) }.unwrap();
    let mut b2 = view2.endpoint(Side::B, Config::DEFAULT);
    // b2 starts from position 0 while the ring is at 100: last lap's slots read as empty or as
    // an error, never as a message.
    assert!(b2.try_recv().is_err());
}

#[test]
fn from_raw_checks_pointer() {
    // SAFETY: both pointers are rejected before any dereference.
    unsafe {
        assert_eq!(
            ChannelMemory::<4>::from_raw(core::ptr::null()).err(),
            Some(RawMemoryError::Null)
        );
        assert_eq!(
            ChannelMemory::<4>::from_raw(0x1008 as *const _).err(),
            Some(RawMemoryError::Misaligned { addr: 0x1008 })
        );
    }
}

#[cfg(feature = "alloc")]
#[test]
fn boxed_channel() {
    let mem = ChannelMemory::<32>::new_boxed();
    let (mut a, mut b) = mem.split();
    let _ = a.try_send(&msg(1)).unwrap();
    assert_eq!(b.try_recv(), Ok(msg(1)));
}

#[test]
fn layout() {
    assert_eq!(ChannelMemory::<32>::SIZE, 2 * 33 * 64);
    assert_eq!(Ring::<32>::SIZE, 33 * 64);
    let mem = ChannelMemory::<4>::new();
    let base = &mem as *const _ as usize;
    let ring_b = mem.ring(Side::B) as *const _ as usize;
    assert_eq!(ring_b - base, 5 * 64);
    let ctrl = &mem.ring(Side::A).ctrl as *const _ as usize;
    assert_eq!(ctrl - base, 4 * 64);
    let hdr = &mem.ring(Side::A).slots[1].header as *const _ as usize;
    assert_eq!(hdr - base, 64 + 56);
}

#[test]
fn recv_poll_gives_up() {
    let mem = ChannelMemory::<4>::new();
    let (mut a, mut b) = mem.split();
    let mut polls = 0;
    assert_eq!(
        b.recv_poll(|| {
            polls += 1;
            polls < 10
        }),
        Err(RecvError::WouldBlock)
    );
    assert_eq!(polls, 10);
    assert_eq!(b.receiver().recv_spin(5), Err(RecvError::WouldBlock));
    let _ = a.try_send(&msg(7)).unwrap();
    assert_eq!(b.receiver().recv_spin(5), Ok(msg(7)));
    let mut buf = [0u8; 64];
    assert_eq!(
        b.receiver().recv_bytes_poll(&mut buf, || false),
        Err(RecvError::WouldBlock)
    );
}
