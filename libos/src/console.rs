//! Console byte streams between a terminal driver (the serial driver, the framebuffer and
//! keyboard driver) and the program that owns the terminal (the shell), over a URPC
//! [`Binding`](crate::binding::Binding).
//!
//! The driver offers the console under its name ([`SERIAL`], [`FRAMEBUFFER`]); a client
//! [`Console::connect`]s and then writes output and reads input as byte messages tagged
//! [`DATA`]. The driver side is [`ConsoleServer`]: the newest client owns the console (a
//! restarted shell takes over from the one before it); input that arrives without a client
//! is kept, up to [`INPUT_BUFFER`] bytes, the oldest dropped first.

use alloc::collections::VecDeque;

use urpc::Message;

use crate::binding::{self, BindError, Binding};
use crate::time::Deadline;

/// The serial console's service name.
pub const SERIAL: &str = "console.serial";
/// The framebuffer console's service name.
pub const FRAMEBUFFER: &str = "console.fb";
/// Tag of a message carrying terminal bytes (either direction).
pub const DATA: u16 = 1;
/// Input bytes a driver keeps while no client reads them.
pub const INPUT_BUFFER: usize = 4096;
/// Most bytes in one output message (`urpc`'s fragment limit is larger; this keeps one
/// write's latency bounded).
pub const MAX_WRITE: usize = 1024;
/// How often a driver looks for a new client, in milliseconds.
const ACCEPT_EVERY_MS: u64 = 200;

/// The client end: a program's terminal.
pub struct Console {
    binding: Binding,
    buf: [u8; MAX_WRITE],
}

impl Console {
    /// Connect to console `name`, waiting at most `timeout_ms` for the driver to offer it.
    pub fn connect(name: &str, timeout_ms: u64) -> Result<Console, BindError> {
        Ok(Console {
            binding: binding::connect(name, timeout_ms)?,
            buf: [0; MAX_WRITE],
        })
    }

    /// Write `bytes` (any length), yielding while the driver catches up.
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), BindError> {
        for chunk in bytes.chunks(MAX_WRITE) {
            self.binding.send_bytes(DATA, chunk)?;
        }
        Ok(())
    }

    /// Input that has arrived, if any (at most [`MAX_WRITE`] bytes at a time).
    pub fn try_read(&mut self) -> Result<Option<&[u8]>, BindError> {
        loop {
            match self.binding.try_recv_bytes(&mut self.buf)? {
                Some((DATA, n)) => return Ok(Some(&self.buf[..n.min(MAX_WRITE)])),
                // Other tags are not part of this protocol: skipped.
                Some(_) => continue,
                None => return Ok(None),
            }
        }
    }
}

/// The driver end: the current client and the input waiting for it.
pub struct ConsoleServer {
    name: &'static str,
    client: Option<Binding>,
    input: VecDeque<u8>,
    next_accept: Deadline,
    buf: [u8; MAX_WRITE],
    dropped: u64,
}

impl ConsoleServer {
    /// Offer console `name`.
    pub fn offer(name: &'static str) -> Result<ConsoleServer, BindError> {
        binding::offer(name)?;
        Ok(ConsoleServer {
            name,
            client: None,
            input: VecDeque::new(),
            next_accept: Deadline::after_ms(0),
            buf: [0; MAX_WRITE],
            dropped: 0,
        })
    }

    /// Whether a client is connected.
    pub fn has_client(&self) -> bool {
        self.client.is_some()
    }

    /// Input bytes dropped so far because no client took them in time.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Take a new client if one connected (checked every 200 ms): it replaces the
    /// current one. Returns true when the client changed.
    pub fn poll_clients(&mut self) -> bool {
        if !self.next_accept.passed() {
            return false;
        }
        self.next_accept = Deadline::after_ms(ACCEPT_EVERY_MS);
        match binding::accept(self.name, 0) {
            Ok(b) => {
                self.client = Some(b);
                true
            }
            Err(_) => false,
        }
    }

    /// Input from the terminal, for the client.
    pub fn input(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.input.len() >= INPUT_BUFFER {
                self.input.pop_front();
                self.dropped += 1;
            }
            self.input.push_back(b);
        }
        self.flush_input();
    }

    /// Pass kept input on to the client, as far as its channel has room. Returns whether
    /// input is still waiting.
    pub fn flush_input(&mut self) -> bool {
        let Some(client) = self.client.as_mut() else {
            return !self.input.is_empty();
        };
        while !self.input.is_empty() {
            let n = self.input.len().min(Message::MAX_BYTES);
            let mut chunk = [0u8; Message::MAX_BYTES];
            for (i, b) in self.input.iter().take(n).enumerate() {
                chunk[i] = *b;
            }
            let Ok(msg) = Message::from_bytes(DATA, &chunk[..n]) else {
                break;
            };
            match client.try_send(&msg) {
                Ok(true) => {
                    self.input.drain(..n);
                }
                Ok(false) => break,
                Err(_) => {
                    // The channel memory is unusable: forget this client.
                    self.client = None;
                    break;
                }
            }
        }
        !self.input.is_empty()
    }

    /// Output from the client, if any (at most [`MAX_WRITE`] bytes at a time).
    pub fn output(&mut self) -> Option<&[u8]> {
        let client = self.client.as_mut()?;
        loop {
            match client.try_recv_bytes(&mut self.buf) {
                Ok(Some((DATA, n))) => return Some(&self.buf[..n.min(MAX_WRITE)]),
                Ok(Some(_)) => continue,
                Ok(None) => return None,
                Err(_) => {
                    self.client = None;
                    return None;
                }
            }
        }
    }
}
