//! The monitor's URPC links to the other monitors: one channel per peer, mapped by the CPU
//! driver at `abi::MONITOR_CHANNELS + peer * 4096` (the lower-numbered core uses side A).
//! Sending never blocks: a message that does not fit in the ring waits in a per-link
//! backlog and goes out on a later pass. A receiver that sleeps arms its notification flag;
//! a sender that sees it asks the CPU driver for a notification IPI.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use monitor_proto::{wire, CoreId, Decoder, MonMsg, WireError};
use urpc::{Config, Endpoint, Message, Notify, PageChannel, Side};

/// One peer.
struct Link {
    ep: Endpoint<'static, 31>,
    decoder: Decoder,
    backlog: VecDeque<Message>,
}

/// All links of this monitor.
pub struct Links {
    links: BTreeMap<CoreId, Link>,
}

/// What arrived on a link.
pub enum Incoming {
    /// A whole monitor message.
    Msg(MonMsg),
    /// A message that could not be decoded (dropped).
    Bad(WireError),
    /// The channel itself reported a protocol error.
    Channel(urpc::RecvError),
}

impl Links {
    /// Attach to the channel of every peer in `peers`.
    pub fn new(me: CoreId, peers: &[CoreId]) -> Links {
        let mut links = BTreeMap::new();
        for &p in peers.iter().filter(|&&p| p != me) {
            let va = abi::MONITOR_CHANNELS + u64::from(p) * 4096;
            // SAFETY: the CPU driver mapped this core's channel page with `p` here, for the
            // monitor's whole life; the peer's monitor uses the other side only.
            let Ok(mem) = (unsafe { PageChannel::from_raw(va as *const PageChannel) }) else {
                libos::println!("monitor: channel to core {p} unusable");
                continue;
            };
            let side = if me < p { Side::A } else { Side::B };
            links.insert(
                p,
                Link {
                    ep: mem.endpoint(side, Config::default()),
                    decoder: Decoder::new(),
                    backlog: VecDeque::new(),
                },
            );
        }
        Links { links }
    }

    /// Whether there is a link to `peer`.
    pub fn has(&self, peer: CoreId) -> bool {
        self.links.contains_key(&peer)
    }

    /// Queue `msg` for `to` and push out what fits.
    pub fn send(&mut self, to: CoreId, msg: &MonMsg) -> Result<(), WireError> {
        let parts = wire::encode(msg)?;
        self.send_raw(to, parts);
        Ok(())
    }

    /// Queue raw URPC messages for `to` (also for sending deliberately malformed ones).
    pub fn send_raw(&mut self, to: CoreId, parts: Vec<Message>) {
        if let Some(l) = self.links.get_mut(&to) {
            l.backlog.extend(parts);
            flush_link(to, l);
        }
    }

    /// Push out backlogs; true if any remain.
    pub fn flush(&mut self) -> bool {
        let mut left = false;
        for (&p, l) in self.links.iter_mut() {
            flush_link(p, l);
            left |= !l.backlog.is_empty();
        }
        left
    }

    /// Receive everything that is there, calling `f` for each arrival.
    pub fn poll(&mut self, mut f: impl FnMut(CoreId, Incoming)) -> usize {
        let mut n = 0;
        for (&p, l) in self.links.iter_mut() {
            loop {
                match l.ep.try_recv() {
                    Ok(m) => {
                        n += 1;
                        match l.decoder.push(&m) {
                            Ok(Some(msg)) => f(p, Incoming::Msg(msg)),
                            Ok(None) => {}
                            Err(e) => f(p, Incoming::Bad(e)),
                        }
                    }
                    Err(urpc::RecvError::WouldBlock) => break,
                    Err(e) => {
                        n += 1;
                        f(p, Incoming::Channel(e));
                    }
                }
            }
        }
        n
    }

    /// Arm every link's notification before sleeping; true if a message slipped in (then
    /// do not sleep).
    pub fn arm_all(&mut self) -> bool {
        let mut pending = false;
        for l in self.links.values_mut() {
            pending |= l.ep.arm_notify() == urpc::Armed::MessagePending;
        }
        pending
    }

    /// Disarm every link's notification (while busy: senders need not interrupt).
    pub fn disarm_all(&mut self) {
        for l in self.links.values_mut() {
            l.ep.disarm_notify();
        }
    }
}

fn flush_link(peer: CoreId, l: &mut Link) {
    let mut notify = false;
    while let Some(m) = l.backlog.front() {
        match l.ep.try_send(m) {
            Ok(n) => {
                notify |= n == Notify::Needed;
                l.backlog.pop_front();
            }
            Err(urpc::SendError::Full) => break,
            Err(e) => {
                libos::println!("monitor: message to core {peer} dropped: {e:?}");
                l.backlog.pop_front();
            }
        }
    }
    if notify {
        let _ = libos::kernel::notify(peer);
    }
}
