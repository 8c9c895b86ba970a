//! The kernel's debug serial port: a 16550 UART on COM1, polled.

use x86_64::instructions::port::Port;

/// I/O base of COM1.
pub const COM1: u16 = 0x3f8;

/// A 16550-compatible UART used for output only.
pub struct Serial {
    base: u16,
}

impl Serial {
    /// A handle on the UART at `base`; call [`Serial::init`] once before use.
    pub const fn new(base: u16) -> Serial {
        Serial { base }
    }

    fn port(&self, offset: u16) -> Port<u8> {
        Port::new(self.base + offset)
    }

    /// Program 115200 baud, 8N1, FIFOs on, interrupts off.
    pub fn init(&mut self) {
        // SAFETY: these are the standard 16550 registers at the UART's I/O base; on a
        // machine without the UART the writes go nowhere.
        unsafe {
            self.port(1).write(0x00); // interrupts off
            self.port(3).write(0x80); // DLAB on
            self.port(0).write(0x01); // divisor 1: 115200 baud
            self.port(1).write(0x00);
            self.port(3).write(0x03); // 8 bits, no parity, one stop bit
            self.port(2).write(0xc7); // FIFO on, cleared, 14-byte threshold
            self.port(4).write(0x03); // DTR, RTS
        }
    }

    /// Send one byte, waiting a bounded time for room in the transmitter.
    pub fn write_byte(&mut self, b: u8) {
        for _ in 0..100_000 {
            // SAFETY: reading the line status register has no side effects.
            if unsafe { self.port(5).read() } & 0x20 != 0 {
                break;
            }
            core::hint::spin_loop();
        }
        // SAFETY: writing the transmit holding register sends the byte.
        unsafe { self.port(0).write(b) };
    }
}

impl core::fmt::Write for Serial {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for b in s.bytes() {
            if b == b'\n' {
                self.write_byte(b'\r');
            }
            self.write_byte(b);
        }
        Ok(())
    }
}
