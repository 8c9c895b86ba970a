//! URPC bindings between programs, connected by name through the monitors.
//!
//! A server offers a name ([`offer`], a registration in the replicated name service); a
//! client anywhere [`connect`]s: it retypes a frame of its own RAM, maps it, and asks its
//! monitor to send a copy of the Frame capability to the server's domain (through the
//! server's monitor, which puts it into a free slot of the server's CSpace and queues it
//! for the server). The server's [`accept`] maps the frame too: both then talk over the
//! URPC channel in it (client side A, server side B), with no monitor or kernel on the
//! message path. Receivers poll, yielding between polls.

use caps::abi::CapError;
use urpc::{Config, Endpoint, Message, PageChannel, Side};

use crate::monitor::{self, MonError};
use crate::time::Deadline;
use crate::vspace::{self, Mapped};

/// Why a binding could not be made or used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindError {
    /// A monitor request failed.
    Monitor(MonError),
    /// Getting or mapping the channel frame failed.
    Cap(CapError),
    /// The channel memory is unusable.
    Channel,
    /// Nothing arrived in time.
    Timeout,
}

/// One end of a binding.
pub struct Binding {
    ep: Endpoint<'static, 31>,
    frame: Mapped,
}

fn endpoint(frame: &Mapped, side: Side) -> Result<Endpoint<'static, 31>, BindError> {
    // SAFETY: the frame is mapped read-write at `vaddr` for the rest of the program (it is
    // never unmapped while the binding lives), and only the two ends use it, each its side.
    let mem = unsafe { PageChannel::from_raw(frame.vaddr as *const PageChannel) }
        .map_err(|_| BindError::Channel)?;
    Ok(mem.endpoint(side, Config::default()))
}

/// Offer a service under `name`.
pub fn offer(name: &str) -> Result<(), BindError> {
    monitor::register(name, 0).map_err(BindError::Monitor)
}

/// Wait (yielding, at most `timeout_ms`) for a client of `name` and return the binding
/// to it.
pub fn accept(name: &str, timeout_ms: u64) -> Result<Binding, BindError> {
    let deadline = Deadline::after_ms(timeout_ms);
    loop {
        match monitor::request_wait(monitor::op::ACCEPT, 0, name.as_bytes()) {
            Ok(w) => {
                let slot = w.first().copied().unwrap_or(0) as u32;
                let frame = vspace::map_frame(slot).map_err(BindError::Cap)?;
                let ep = endpoint(&frame, Side::B)?;
                return Ok(Binding { ep, frame });
            }
            Err(MonError::NotFound) if !deadline.passed() => crate::syscall::yield_now(),
            Err(MonError::NotFound) => return Err(BindError::Timeout),
            Err(e) => return Err(BindError::Monitor(e)),
        }
    }
}

/// Connect to the service offered under `name`, waiting (yielding, at most `timeout_ms`)
/// for the name to appear.
pub fn connect(name: &str, timeout_ms: u64) -> Result<Binding, BindError> {
    let mut found = false;
    let deadline = Deadline::after_ms(timeout_ms);
    while !deadline.passed() {
        if monitor::lookup(name).is_ok() {
            found = true;
            break;
        }
        crate::syscall::yield_now();
    }
    if !found {
        return Err(BindError::Timeout);
    }
    let frame = vspace::new_frame().map_err(BindError::Cap)?;
    let ep = endpoint(&frame, Side::A)?;
    monitor::request_wait(monitor::op::BIND, u64::from(frame.slot), name.as_bytes())
        .map_err(BindError::Monitor)?;
    Ok(Binding { ep, frame })
}

impl Binding {
    /// Send `msg`, yielding while the ring is full.
    pub fn send(&mut self, msg: &Message) -> Result<(), BindError> {
        loop {
            match self.ep.try_send(msg) {
                Ok(_) => return Ok(()),
                Err(urpc::SendError::Full) => crate::syscall::yield_now(),
                Err(_) => return Err(BindError::Channel),
            }
        }
    }

    /// Send `msg` if the ring has room: false when it is full (nothing sent).
    pub fn try_send(&mut self, msg: &Message) -> Result<bool, BindError> {
        match self.ep.try_send(msg) {
            Ok(_) => Ok(true),
            Err(urpc::SendError::Full) => Ok(false),
            Err(_) => Err(BindError::Channel),
        }
    }

    /// A message if one is there.
    pub fn try_recv(&mut self) -> Result<Option<Message>, BindError> {
        match self.ep.try_recv() {
            Ok(m) => Ok(Some(m)),
            Err(urpc::RecvError::WouldBlock) => Ok(None),
            Err(_) => Err(BindError::Channel),
        }
    }

    /// Wait for a message: poll `spins` times, then yield between polls (at most
    /// `timeout_ms`).
    pub fn recv(&mut self, spins: u32, timeout_ms: u64) -> Result<Message, BindError> {
        for _ in 0..spins {
            if let Some(m) = self.try_recv()? {
                return Ok(m);
            }
            core::hint::spin_loop();
        }
        let deadline = Deadline::after_ms(timeout_ms);
        while !deadline.passed() {
            if let Some(m) = self.try_recv()? {
                return Ok(m);
            }
            crate::syscall::yield_now();
        }
        Err(BindError::Timeout)
    }

    /// Send a byte message of any length up to `urpc`'s limit (fragments), yielding while
    /// the ring is full.
    pub fn send_bytes(&mut self, tag: u16, data: &[u8]) -> Result<(), BindError> {
        self.send_bytes_until(tag, data, None)
    }

    /// [`Binding::send_bytes`], giving up with `Timeout` when the message is not all in the
    /// ring after `timeout_ms` (the other end stopped reading, e.g. because it ended). A
    /// message cut short leaves the binding unusable.
    pub fn send_bytes_within(
        &mut self,
        tag: u16,
        data: &[u8],
        timeout_ms: u64,
    ) -> Result<(), BindError> {
        self.send_bytes_until(tag, data, Some(Deadline::after_ms(timeout_ms)))
    }

    fn send_bytes_until(
        &mut self,
        tag: u16,
        data: &[u8],
        deadline: Option<Deadline>,
    ) -> Result<(), BindError> {
        loop {
            match self.ep.try_send_bytes(tag, data) {
                Ok(s) if s.complete => return Ok(()),
                Ok(_) | Err(urpc::SendError::Full) => {
                    if deadline.as_ref().is_some_and(Deadline::passed) {
                        return Err(BindError::Timeout);
                    }
                    crate::syscall::yield_now()
                }
                Err(_) => return Err(BindError::Channel),
            }
        }
    }

    /// A whole byte message if one is there: `(tag, length)` in `buf`. A message that
    /// has only partly arrived stays pending in `buf` (call again with the same buffer).
    pub fn try_recv_bytes(&mut self, buf: &mut [u8]) -> Result<Option<(u16, usize)>, BindError> {
        match self.ep.recv_bytes(buf) {
            Ok(r) => Ok(Some((r.tag, r.len))),
            Err(urpc::RecvError::WouldBlock) => Ok(None),
            Err(_) => Err(BindError::Channel),
        }
    }

    /// Wait for a whole byte message (yielding, at most `timeout_ms`).
    pub fn recv_bytes(
        &mut self,
        buf: &mut [u8],
        timeout_ms: u64,
    ) -> Result<(u16, usize), BindError> {
        let deadline = Deadline::after_ms(timeout_ms);
        loop {
            if let Some(r) = self.try_recv_bytes(buf)? {
                return Ok(r);
            }
            if deadline.passed() {
                return Err(BindError::Timeout);
            }
            crate::syscall::yield_now();
        }
    }

    /// The frame the channel lives in.
    pub fn frame(&self) -> Mapped {
        self.frame
    }
}
