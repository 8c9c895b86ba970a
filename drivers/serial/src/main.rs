//! The serial driver: COM1's 16550 UART as the serial console ([`libos::console::SERIAL`]).
//!
//! The device manager starts it on the core the SKB chose, with an IO capability for the
//! UART's eight ports (root slot [`IO_SLOT`]), an IRQ capability for one vector (root
//! slot [`IRQ_SLOT`]) and an IrqSrc capability for COM1's interrupt line (ISA IRQ 4's GSI,
//! root slot [`IRQ_SRC_SLOT`]). It binds the vector, asks its monitor to route the line to
//! it through the I/O APIC, and turns on the receive interrupt. Received bytes go to the
//! console's client (the shell); the client's output is written to the transmitter, a
//! lone `\n` as `\r\n`.
//!
//! Its loop is `libos::console`'s [`ConsoleServer::serve`] (an `IrqWait` with a 10 ms
//! timeout, polling for a while after traffic). The CPU drivers' log also goes to
//! COM1's transmitter (the kernel's debug console), so log lines and console output can
//! interleave; nothing else reads the receiver.
#![no_std]
#![no_main]

extern crate alloc;

use caps::abi::{CapError, CapRef};
use libos::cap;
use libos::console::{ConsoleServer, ServeError, Terminal};
use libos::println;

libos::entry!(main);

/// Root slot of the IO capability for the UART's ports.
pub const IO_SLOT: u32 = 10;
/// Root slot of the IRQ capability.
pub const IRQ_SLOT: u32 = 11;
/// Root slot of the IrqSrc capability for COM1's interrupt line.
pub const IRQ_SRC_SLOT: u32 = 12;
/// COM1's ISA interrupt line (what the IrqSrc capability's GSI carries).
const ISA_LINE: u8 = 4;
/// Transmitter polls before a byte is given up (a UART that never empties its holding
/// register is broken or absent).
const TX_SPINS: u32 = 100_000;

/// Register offsets from the first port.
mod reg {
    /// Receive buffer (read) / transmit holding (write).
    pub const DATA: u16 = 0;
    /// Interrupt enable.
    pub const IER: u16 = 1;
    /// FIFO control (write).
    pub const FCR: u16 = 2;
    /// Modem control.
    pub const MCR: u16 = 4;
    /// Line status.
    pub const LSR: u16 = 5;
}

/// Line status: a received byte is waiting.
const LSR_DATA_READY: u32 = 0x01;
/// Line status: the transmit holding register is empty.
const LSR_THR_EMPTY: u32 = 0x20;

/// Why the UART could not be used.
#[derive(Clone, Copy, Debug)]
enum UartError {
    /// A port access through the IO capability failed.
    Port(CapError),
    /// The transmitter never became ready.
    TxStuck,
}

impl core::fmt::Display for UartError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            UartError::Port(e) => write!(f, "port access refused ({e:?})"),
            UartError::TxStuck => f.write_str("the transmitter never became ready"),
        }
    }
}

struct Uart {
    io: CapRef,
    base: u16,
}

impl Uart {
    fn read(&self, r: u16) -> Result<u32, UartError> {
        cap::io_in(self.io, self.base + r, 1).map_err(UartError::Port)
    }

    fn write(&self, r: u16, v: u8) -> Result<(), UartError> {
        cap::io_out(self.io, self.base + r, 1, u32::from(v)).map_err(UartError::Port)
    }

    /// FIFOs on, receive interrupt on, OUT2 (which gates the interrupt line on PCs).
    fn enable_receive_interrupt(&self) -> Result<(), UartError> {
        self.write(reg::FCR, 0xc7)?;
        self.write(reg::MCR, 0x0b)?;
        self.write(reg::IER, 0x01)
    }

    /// Every byte the receiver holds, into `out`; how many.
    fn receive(&self, out: &mut [u8]) -> Result<usize, UartError> {
        let mut n = 0;
        while n < out.len() && self.read(reg::LSR)? & LSR_DATA_READY != 0 {
            out[n] = self.read(reg::DATA)? as u8;
            n += 1;
        }
        Ok(n)
    }

    fn send_byte(&self, b: u8) -> Result<(), UartError> {
        for _ in 0..TX_SPINS {
            if self.read(reg::LSR)? & LSR_THR_EMPTY != 0 {
                return self.write(reg::DATA, b);
            }
            core::hint::spin_loop();
        }
        Err(UartError::TxStuck)
    }

    /// Send `bytes`, a `\n` not after `\r` as `\r\n`.
    fn send(&self, bytes: &[u8], last: &mut u8) -> Result<(), UartError> {
        for &b in bytes {
            if b == b'\n' && *last != b'\r' {
                self.send_byte(b'\r')?;
            }
            self.send_byte(b)?;
            *last = b;
        }
        Ok(())
    }
}

/// How long the driver waits for its capabilities, in milliseconds.
const CAP_PATIENCE_MS: u64 = 10_000;

fn main() -> i32 {
    let (Some(io), Some(irq), Some(src)) = (
        cap::wait_for(IO_SLOT, CAP_PATIENCE_MS),
        cap::wait_for(IRQ_SLOT, CAP_PATIENCE_MS),
        cap::wait_for(IRQ_SRC_SLOT, CAP_PATIENCE_MS),
    ) else {
        println!("seriald: no IO, IRQ or IrqSrc capability for the UART");
        return 1;
    };
    let base = match cap::identify(io) {
        Ok(id) => id.base as u16,
        Err(e) => {
            println!("seriald: IO capability unusable: {e:?}");
            return 1;
        }
    };
    let uart = Uart { io, base };
    if let Err(e) = cap::irq_bind(irq) {
        println!("seriald: cannot bind the interrupt vector: {e:?}");
        return 1;
    }
    let gsi = match libos::monitor::irq_route(src, 0, irq) {
        Ok(g) => g,
        Err(e) => {
            println!("seriald: interrupt line {ISA_LINE} not routed: {e:?}");
            return 1;
        }
    };
    if let Err(e) = uart.enable_receive_interrupt() {
        println!("seriald: UART at {base:#x} unusable: {e}");
        return 1;
    }
    let mut console = match ConsoleServer::offer(libos::console::SERIAL) {
        Ok(c) => c,
        Err(e) => {
            println!("seriald: cannot offer the serial console: {e:?}");
            return 1;
        }
    };
    println!(
        "seriald: UART at {base:#x}, IRQ {ISA_LINE} (GSI {gsi}) on core {}, console `{}` offered",
        libos::core_id(),
        libos::console::SERIAL
    );
    let mut term = SerialTerminal {
        uart: &uart,
        last_out: 0,
    };
    match console.serve(&mut term, irq) {
        ServeError::Device(e) => println!("seriald: {e}"),
        ServeError::Irq(e) => println!("seriald: waiting for the interrupt failed: {e:?}"),
    }
    1
}

/// The UART as the console's device: what it received, and where output goes.
struct SerialTerminal<'a> {
    uart: &'a Uart,
    /// The last byte sent (a `\n` after `\r` is not expanded again).
    last_out: u8,
}

impl Terminal for SerialTerminal<'_> {
    type Error = UartError;

    fn receive(&mut self, console: &mut ConsoleServer) -> Result<bool, UartError> {
        let mut rx = [0u8; 64];
        let mut got = false;
        loop {
            match self.uart.receive(&mut rx)? {
                0 => return Ok(got),
                n => {
                    console.input(&rx[..n]);
                    got = true;
                }
            }
        }
    }

    fn transmit(&mut self, bytes: &[u8]) -> Result<(), UartError> {
        self.uart.send(bytes, &mut self.last_out)
    }
}
