//! Console byte streams between a terminal driver (the serial driver, the framebuffer and
//! keyboard driver) and the program that owns the terminal (the shell), over a URPC
//! [`Binding`](crate::binding::Binding).
//!
//! The driver offers the console under its name ([`SERIAL`], [`FRAMEBUFFER`]); a client
//! [`Console::connect`]s and then writes output and reads input as byte messages tagged
//! [`DATA`]. The driver side is [`ConsoleServer`]: the newest client owns the console (a
//! restarted shell takes over from the one before it); input that arrives without a client
//! is kept, up to [`INPUT_BUFFER`] bytes, the oldest dropped first. [`ConsoleServer::serve`]
//! is a console driver's loop around its [`Terminal`] device.

use alloc::collections::VecDeque;

use caps::abi::{CapError, CapRef};
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
/// How long [`Console::write`] waits for the driver to take a chunk, in milliseconds.
pub const WRITE_PATIENCE_MS: u64 = 5_000;
/// How often a driver looks for a new client, in milliseconds.
const ACCEPT_EVERY_MS: u64 = 200;
/// How long a driver keeps polling after traffic, in milliseconds (so that echoes of typed
/// keys are not delayed by a timer tick).
const LINGER_MS: u64 = 30;
/// How long an idle driver sleeps in its interrupt wait before it looks at the client's
/// output again, in milliseconds.
const IDLE_WAIT_MS: u64 = 10;

/// The device behind a console: a UART, a keyboard and a screen.
pub trait Terminal {
    /// Why the device failed.
    type Error;
    /// Pass what the device received to `console` ([`ConsoleServer::input`]); whether
    /// anything came.
    fn receive(&mut self, console: &mut ConsoleServer) -> Result<bool, Self::Error>;
    /// Show output of the client.
    fn transmit(&mut self, bytes: &[u8]) -> Result<(), Self::Error>;
    /// Everything the client wrote so far has been transmitted (a screen redraws now).
    fn flush(&mut self) -> Result<(), Self::Error> {
        Ok(())
    }
}

/// Why [`ConsoleServer::serve`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServeError<E> {
    /// The device failed.
    Device(E),
    /// Waiting for the device's interrupt failed.
    Irq(CapError),
}

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

    /// Write `bytes` (any length), yielding while the driver catches up; `Timeout` when the
    /// driver has taken nothing for [`WRITE_PATIENCE_MS`] (it has ended or hangs: the
    /// console is lost).
    pub fn write(&mut self, bytes: &[u8]) -> Result<(), BindError> {
        for chunk in bytes.chunks(MAX_WRITE) {
            self.binding
                .send_bytes_within(DATA, chunk, WRITE_PATIENCE_MS)?;
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
        })
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
            let Ok(msg) = Message::from_bytes(DATA, &self.input.make_contiguous()[..n]) else {
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

    /// A console driver's loop (returns only when the device or the interrupt wait
    /// fails): take new clients, pass the device's input on, transmit the client's output.
    /// It sleeps in `IrqWait` on `irq` (bound by the caller) with a 10 ms timeout, the
    /// timeout being how the client's output is noticed, and after traffic polls, yielding,
    /// for 30 ms. The device is read on every round, whether or not its interrupt was
    /// seen (a byte that came while the line was being routed raises no new edge).
    pub fn serve<T: Terminal>(&mut self, dev: &mut T, irq: CapRef) -> ServeError<T::Error> {
        let mut linger = Deadline::after_ms(0);
        loop {
            let mut busy = self.poll_clients();
            match dev.receive(self) {
                Ok(got) => busy |= got,
                Err(e) => return ServeError::Device(e),
            }
            busy |= self.flush_input();
            let mut wrote = false;
            while let Some(out) = self.output() {
                wrote = true;
                if let Err(e) = dev.transmit(out) {
                    return ServeError::Device(e);
                }
            }
            if wrote {
                busy = true;
                if let Err(e) = dev.flush() {
                    return ServeError::Device(e);
                }
            }
            if busy {
                linger = Deadline::after_ms(LINGER_MS);
            }
            if !linger.passed() {
                crate::syscall::yield_now();
                continue;
            }
            if let Err(e) = crate::cap::irq_wait_timeout(irq, IDLE_WAIT_MS) {
                return ServeError::Irq(e);
            }
        }
    }
}
