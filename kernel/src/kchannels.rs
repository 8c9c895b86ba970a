//! The boot core's ends of the kernel channels: one URPC channel to every other core,
//! checked with a round trip at boot, and used to drive the URPC benchmark.

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

use cpudriver::arch::apic::LocalApic;
use cpudriver::arch::cpu::rdtsc;
use cpudriver::arch::tsc;
use cpudriver::kchan::{self, tag, KEndpoint};
use cpudriver::trap::NOTIFY_VECTOR;
use urpc::{Message, Notify, Side};

use crate::smp::{state, ApBootRecord};

/// The boot core's link to one other core.
pub struct Link {
    /// The other core's number.
    pub core_id: u32,
    /// Its APIC id (for notification IPIs).
    pub apic_id: u32,
    /// The boot core's end of the channel.
    pub ep: KEndpoint,
}

/// Why a message exchange failed.
#[derive(Debug)]
pub enum LinkError {
    /// The ring stayed full.
    Full,
    /// No reply within the time limit.
    Timeout,
    /// The channel reported a protocol error or an unexpected reply.
    Bad,
}

impl Link {
    /// Send `msg`, notifying the other core when its receiver is armed.
    pub fn send(&mut self, apic: LocalApic, msg: &Message) -> Result<(), LinkError> {
        for _ in 0..10_000_000u32 {
            match self.ep.try_send(msg) {
                Ok(Notify::Needed) => {
                    let _ = apic.send_ipi(self.apic_id, NOTIFY_VECTOR);
                    return Ok(());
                }
                Ok(Notify::NotNeeded) => return Ok(()),
                Err(urpc::SendError::Full) => core::hint::spin_loop(),
                Err(_) => return Err(LinkError::Bad),
            }
        }
        Err(LinkError::Full)
    }

    /// Wait up to `ms` milliseconds for a message.
    pub fn recv(&mut self, hz: u64, ms: u64) -> Result<Message, LinkError> {
        let deadline = rdtsc() + tsc::ms_to_cycles(hz, ms);
        match self.ep.recv_poll(|| rdtsc() < deadline) {
            Ok(m) => Ok(m),
            Err(urpc::RecvError::WouldBlock) => Err(LinkError::Timeout),
            Err(_) => Err(LinkError::Bad),
        }
    }
}

/// Attach to the kernel channel of every ready AP.
pub fn attach(ready: &[&'static ApBootRecord]) -> Vec<Link> {
    ready
        .iter()
        .filter(|r| r.report.state.load(Ordering::Acquire) == state::READY)
        .filter_map(|r| {
            // SAFETY: the boot core allocated this page for the AP's channel; the AP uses
            // side B, the boot core side A, and the page lives forever.
            let ep = unsafe { kchan::attach(r.kchan_pa, Side::A) };
            if ep.is_none() {
                log::error!("core {}: kernel channel memory unusable", r.core_id);
            }
            ep.map(|ep| Link {
                core_id: r.core_id,
                apic_id: r.apic_id,
                ep,
            })
        })
        .collect()
}

/// Check a round trip on every link; returns how many answered, the median round trip in
/// cycles (including the notification IPI that wakes the other core), and each answering
/// core's round trip.
pub fn round_trips(links: &mut [Link], apic: LocalApic, hz: u64) -> (usize, u64, Vec<(u32, u64)>) {
    let mut ok = 0;
    let mut cycles = Vec::new();
    let mut per_core = Vec::new();
    for l in links.iter_mut() {
        let t0 = rdtsc();
        let seq = 0x5eed_0000 + l.core_id as u64;
        let ping = Message::new(tag::PING, [seq, t0, 0, 0, 0, 0, 0]);
        let r = l.send(apic, &ping).and_then(|()| l.recv(hz, 1000));
        match r {
            Ok(m) if m.tag() == tag::PONG && m.words()[0] == seq => {
                ok += 1;
                let c = rdtsc() - t0;
                cycles.push(c);
                per_core.push((l.core_id, c));
            }
            Ok(m) => log::error!(
                "core {}: wrong reply {:#x} to the URPC ping",
                l.core_id,
                m.tag()
            ),
            Err(e) => log::error!("core {}: no URPC round trip: {e:?}", l.core_id),
        }
    }
    cycles.sort_unstable();
    (
        ok,
        cycles.get(cycles.len() / 2).copied().unwrap_or(0),
        per_core,
    )
}
