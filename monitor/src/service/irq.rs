//! Device interrupt routing for drivers. A driver asks its monitor to route an interrupt
//! line to a vector on the driver's core and shows two capabilities: an IrqSrc capability
//! naming the line (a global system interrupt, GSI), the authority over the source, and
//! an IRQ capability naming the vector, the destination (Barrelfish's IRQSrc and IRQDest).
//! Only the boot core's CPU driver programs the I/O APICs, so other monitors forward the
//! checked request to core 0's monitor ([`kind::IRQ_ROUTE`]). Who may route which line is
//! therefore decided by who holds its IrqSrc capability: the device manager gives each
//! driver the lines of its device only.

use alloc::vec;
use alloc::vec::Vec;
use caps::abi::{CapRef, CapType};
use libos::kernel;
use libos::monitor::{words, MonError};

use super::{kernel_error, kind, Answer, Monitor, Refusal};
use monitor_proto::CoreId;

/// The core whose CPU driver programs the I/O APICs.
const BOOT_CORE: CoreId = 0;

impl Monitor {
    /// [`libos::monitor::op::IRQ_ROUTE`] from dispatcher `caller`: source `index` of the
    /// IrqSrc capability in message word 0, to the vector of the IRQ capability in word 1.
    pub(super) fn irq_route(
        &mut self,
        caller: u32,
        index: u64,
        msg: &[u8],
    ) -> Result<Answer, Refusal> {
        let bad = || (MonError::BadRequest, Vec::new());
        let wrong_type = || {
            (
                MonError::CapFailed,
                vec![caps::abi::CapError::InvalidType as u64],
            )
        };
        let (src, irq) = match words(msg)[..] {
            [src, irq, ..] => (src, irq),
            _ => return Err(bad()),
        };
        let src = CapRef::unpack(src).map_err(|_| bad())?;
        let irq = CapRef::unpack(irq).map_err(|_| bad())?;
        let src = kernel::cap_identify(caller, src).map_err(kernel_error)?;
        let irq = kernel::cap_identify(caller, irq).map_err(kernel_error)?;
        if src.cap_type != CapType::IrqSrc as u8 || irq.cap_type != CapType::Irq as u8 {
            return Err(wrong_type());
        }
        if index >= src.bytes {
            return Err((
                MonError::CapFailed,
                vec![caps::abi::CapError::OutOfRange as u64],
            ));
        }
        let (gsi, core, vector) = (src.base + index, u64::from(self.me), irq.base);
        self.here_or_ask(BOOT_CORE, kind::IRQ_ROUTE, &[gsi, core, vector], |m| {
            m.irq_route_here(gsi, core, vector)
        })
    }

    /// Program the route (boot core only): reply words `[gsi]`.
    pub(super) fn irq_route_here(
        &mut self,
        gsi: u64,
        core: u64,
        vector: u64,
    ) -> Result<Vec<u64>, Refusal> {
        let (Ok(gsi), Ok(core), Ok(vector)) = (
            u32::try_from(gsi),
            u32::try_from(core),
            u32::try_from(vector),
        ) else {
            return Err((MonError::BadRequest, Vec::new()));
        };
        let gsi = kernel::irq_route(gsi, core, vector).map_err(kernel_error)?;
        Ok(vec![u64::from(gsi)])
    }
}
