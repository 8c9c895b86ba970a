//! Device interrupts for user-level drivers. A driver holding an IRQ capability binds its
//! vector on its core ([`caps::CapOp::IrqBind`]) and waits for it ([`caps::CapOp::IrqWait`]):
//! the CPU driver counts each interrupt of a bound vector, acknowledges it at the local
//! APIC, and resumes the waiting driver with the count (switching to it at once, as an
//! interrupt's handler should run soon). Vectors of the kernel's own interrupts (timer,
//! notification, shootdown, APIC error, spurious) cannot be bound.

use alloc::collections::BTreeMap;
use caps::CapError;

/// First vector a device interrupt may use.
pub const FIRST_DEVICE_VECTOR: u32 = 0x30;
/// Last vector a device interrupt may use.
pub const LAST_DEVICE_VECTOR: u32 = 0xef;

/// Whether `v` is a device vector.
pub fn is_device_vector(v: u32) -> bool {
    (FIRST_DEVICE_VECTOR..=LAST_DEVICE_VECTOR).contains(&v)
}

#[derive(Clone, Copy, Debug, Default)]
struct Binding {
    dispatcher: u32,
    pending: u64,
    waiting: bool,
}

/// This core's bound vectors.
#[derive(Default)]
pub struct Irqs {
    bound: BTreeMap<u32, Binding>,
}

impl Irqs {
    /// Deliver `vector` to `dispatcher` from now on (again if it already had it). Another
    /// dispatcher's vector is `Busy`; a kernel vector is `OutOfRange`.
    pub fn bind(&mut self, vector: u32, dispatcher: u32) -> Result<(), CapError> {
        if !is_device_vector(vector) {
            return Err(CapError::OutOfRange);
        }
        match self.bound.get(&vector) {
            Some(b) if b.dispatcher != dispatcher => Err(CapError::Busy),
            Some(_) => Ok(()),
            None => {
                self.bound.insert(
                    vector,
                    Binding {
                        dispatcher,
                        ..Binding::default()
                    },
                );
                Ok(())
            }
        }
    }

    /// `dispatcher` waits for `vector`: `Some(count)` if interrupts came since its last
    /// wait, `None` if it must block (it is resumed by [`Irqs::fire`]).
    pub fn wait(&mut self, vector: u32, dispatcher: u32) -> Result<Option<u64>, CapError> {
        let b = self
            .bound
            .get_mut(&vector)
            .filter(|b| b.dispatcher == dispatcher)
            .ok_or(CapError::InvalidArgument)?;
        if b.pending > 0 {
            return Ok(Some(core::mem::take(&mut b.pending)));
        }
        b.waiting = true;
        Ok(None)
    }

    /// An interrupt on `vector`: the dispatcher to resume and the count, if it waits.
    pub fn fire(&mut self, vector: u32) -> Option<(u32, u64)> {
        let b = self.bound.get_mut(&vector)?;
        b.pending += 1;
        if b.waiting {
            b.waiting = false;
            return Some((b.dispatcher, core::mem::take(&mut b.pending)));
        }
        None
    }

    /// A dispatcher ended: its vectors are free again.
    pub fn forget(&mut self, dispatcher: u32) {
        self.bound.retain(|_, b| b.dispatcher != dispatcher);
    }
}
