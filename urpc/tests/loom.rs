//! Model-checked tests of the ring protocol with `loom`: every interleaving (up to the
//! preemption bound) of sender and receiver, with loom's model of the C++11 memory orderings
//! (so a Relaxed where an Acquire is needed shows up as a stale payload).
//!
//! Run with:
//! `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/h-urpc-loom cargo test -p urpc --release --test loom`
//! (exhaustive by default; `LOOM_MAX_PREEMPTIONS=N` bounds the search).
//!
//! Loom does not model loads that read from stores later in program order of another thread
//! (load buffering), so it cannot show why the receiver's ack store and used-bit clear must be
//! Release; it does check the header Release/Acquire pairing and the notification fences
//! (weakening either makes these tests fail).
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use urpc::{
    Armed, ChannelMemory, Config, FlowControl, Message, Notify, Receiver, RecvError, SendError,
    Sender, Side,
};

/// Exhaustive exploration (no preemption bound) unless `LOOM_MAX_PREEMPTIONS` sets one; these
/// models are small enough to finish in seconds.
fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    loom::model::Builder::new().check(f);
}

/// Every payload word depends on `i`, so a torn or stale slot is caught.
fn msg(i: u64) -> Message {
    Message::new(
        7,
        [i, i + 10, i + 20, i + 30, i + 40, i + 50, i.wrapping_mul(3)],
    )
}

fn send_all<const N: usize>(tx: &mut Sender<'_, N>, count: u64) -> Notify {
    let mut notify = Notify::NotNeeded;
    for i in 0..count {
        loop {
            match tx.try_send(&msg(i)) {
                Ok(n) => {
                    notify = notify.or(n);
                    break;
                }
                Err(SendError::Full) => thread::yield_now(),
                Err(e) => panic!("send {i}: {e}"),
            }
        }
    }
    notify
}

fn recv_all<const N: usize>(rx: &mut Receiver<'_, N>, count: u64) {
    for i in 0..count {
        loop {
            match rx.try_recv() {
                Ok(m) => {
                    assert_eq!(m, msg(i), "message {i}");
                    break;
                }
                Err(RecvError::WouldBlock) => thread::yield_now(),
                Err(e) => panic!("recv {i}: {e}"),
            }
        }
    }
    assert_eq!(rx.try_recv(), Err(RecvError::WouldBlock));
}

/// One sender thread, the receiver on the main thread, `count` messages over `N` slots.
fn one_way<const N: usize>(config: Config, count: u64) {
    model(move || {
        let mem = Arc::new(ChannelMemory::<N>::new());
        let m2 = mem.clone();
        let h = thread::spawn(move || {
            let mut tx = Sender::new(m2.ring(Side::A), config);
            let _ = send_all(&mut tx, count);
        });
        let mut rx = Receiver::new(mem.ring(Side::A), config);
        recv_all(&mut rx, count);
        h.join().unwrap();
    });
}

#[test]
fn epoch_wraps_with_ack_every_slot() {
    // 2 slots, ack after every message: wraps once and a half.
    one_way::<2>(Config::DEFAULT.notify_check(false).ack_interval(1), 3);
}

#[test]
fn epoch_lazy_ack_at_full_ring() {
    // 2 slots, ack only after both: the sender must see the ring full and wait for the lazy ack.
    one_way::<2>(Config::DEFAULT.notify_check(false).ack_interval(2), 4);
}

#[test]
fn epoch_lazy_ack_half_ring() {
    // 4 slots, default ack interval (half the ring), wraps.
    one_way::<4>(Config::DEFAULT.notify_check(false), 5);
}

#[test]
fn used_bit_wraps() {
    one_way::<2>(
        Config::with_flow(FlowControl::UsedBit).notify_check(false),
        3,
    );
}

#[test]
fn fragments_reassemble_across_wrap() {
    model(|| {
        let mem = Arc::new(ChannelMemory::<2>::new());
        let m2 = mem.clone();
        let data: Vec<u8> = (0..130u8).collect(); // first 48 + middle 56 + last 26: 3 slots
        let d2 = data.clone();
        let config = Config::DEFAULT.notify_check(false);
        let h = thread::spawn(move || {
            let mut tx = Sender::new(m2.ring(Side::A), config);
            loop {
                match tx.try_send_bytes(5, &d2) {
                    Ok(s) if s.complete => break,
                    Ok(_) | Err(SendError::Full) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        });
        let mut rx = Receiver::new(mem.ring(Side::A), config);
        let mut buf = [0u8; 200];
        let r = loop {
            match rx.recv_bytes(&mut buf) {
                Ok(r) => break r,
                Err(RecvError::WouldBlock) => thread::yield_now(),
                Err(e) => panic!("{e}"),
            }
        };
        assert_eq!((r.tag, r.len), (5, 130));
        assert_eq!(&buf[..130], &data[..]);
        h.join().unwrap();
    });
}

#[test]
fn notification_is_never_lost() {
    // The receiver polls once, then arms and "blocks" until the sender's "IPI". If the sender
    // could miss the armed flag while the receiver misses the message, the receiver would wait
    // forever and loom would report the execution as non-terminating.
    model(|| {
        let mem = Arc::new(ChannelMemory::<2>::new());
        let ipi = Arc::new(AtomicBool::new(false));
        let (m2, ipi2) = (mem.clone(), ipi.clone());
        let h = thread::spawn(move || {
            let mut tx = Sender::new(m2.ring(Side::A), Config::DEFAULT);
            if send_all(&mut tx, 1) == Notify::Needed {
                ipi2.store(true, Ordering::Release);
            }
        });
        let mut rx = Receiver::new(mem.ring(Side::A), Config::DEFAULT);
        let m = match rx.try_recv() {
            Ok(m) => m,
            Err(RecvError::WouldBlock) => {
                if rx.arm_notify() == Armed::Armed {
                    while !ipi.load(Ordering::Acquire) {
                        thread::yield_now();
                    }
                }
                rx.try_recv().expect("message after notification")
            }
            Err(e) => panic!("{e}"),
        };
        assert_eq!(m, msg(0));
        assert!(!rx.is_armed());
        h.join().unwrap();
    });
}

#[test]
fn round_trips_both_directions() {
    model(|| {
        let mem = Arc::new(ChannelMemory::<2>::new());
        let m2 = mem.clone();
        let config = Config::DEFAULT.notify_check(false).ack_interval(1);
        let h = thread::spawn(move || {
            let mut b = m2.endpoint(Side::B, config);
            for _ in 0..2 {
                let m = loop {
                    match b.try_recv() {
                        Ok(m) => break m,
                        Err(RecvError::WouldBlock) => thread::yield_now(),
                        Err(e) => panic!("{e}"),
                    }
                };
                let _ = b.try_send(&m).expect("reply slot free");
            }
        });
        let mut a = mem.endpoint(Side::A, config);
        for i in 0..2 {
            let _ = a.try_send(&msg(i)).expect("request slot free");
            let r = loop {
                match a.try_recv() {
                    Ok(m) => break m,
                    Err(RecvError::WouldBlock) => thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            };
            assert_eq!(r, msg(i));
        }
        h.join().unwrap();
    });
}
