//! Device interrupts for user-level drivers. A driver holding an IRQ capability binds its
//! vector on its core ([`caps::CapOp::IrqBind`]) and waits for it ([`caps::CapOp::IrqWait`]):
//! the CPU driver counts each interrupt of a bound vector, acknowledges it at the local
//! APIC, and resumes the waiting driver with the count (switching to it at once, as an
//! interrupt's handler should run soon). A wait may carry a timeout in timer ticks, after
//! which the driver resumes with a count of 0 (so a driver can also serve other work, such
//! as output queued by its clients, without a second dispatcher). Vectors of the kernel's
//! own interrupts (timer, notification, shootdown, APIC error, spurious) cannot be bound.

use alloc::collections::BTreeMap;
use caps::CapError;

/// First vector a device interrupt may use.
pub const FIRST_DEVICE_VECTOR: u32 = 0x30;
/// Last vector a device interrupt may use.
pub const LAST_DEVICE_VECTOR: u32 = 0xef;

/// Whether `v` is a device vector (the range, less the `int` system call gate).
pub fn is_device_vector(v: u32) -> bool {
    (FIRST_DEVICE_VECTOR..=LAST_DEVICE_VECTOR).contains(&v)
        && v != u32::from(abi::SYSCALL_INT_VECTOR)
}

#[derive(Clone, Copy, Debug, Default)]
struct Binding {
    dispatcher: u32,
    pending: u64,
    waiting: bool,
    /// Timer tick at which a wait ends without an interrupt (0: none).
    deadline: u64,
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
    /// wait, `None` if it must block (it is resumed by [`Irqs::fire`], or by
    /// [`Irqs::expire`] once the timer tick `deadline` is reached, if not 0).
    pub fn wait(
        &mut self,
        vector: u32,
        dispatcher: u32,
        deadline: u64,
    ) -> Result<Option<u64>, CapError> {
        let b = self
            .bound
            .get_mut(&vector)
            .filter(|b| b.dispatcher == dispatcher)
            .ok_or(CapError::InvalidArgument)?;
        if b.pending > 0 {
            return Ok(Some(core::mem::take(&mut b.pending)));
        }
        b.waiting = true;
        b.deadline = deadline;
        Ok(None)
    }

    /// Timer tick `now`: the dispatchers whose waits have timed out, no longer waiting.
    pub fn expire(&mut self, now: u64) -> impl Iterator<Item = u32> + '_ {
        self.bound.values_mut().filter_map(move |b| {
            let due = b.waiting && b.deadline != 0 && now >= b.deadline;
            due.then(|| {
                b.waiting = false;
                b.dispatcher
            })
        })
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
