//! Device interrupt routing for drivers. A driver holding an IRQ capability asks its
//! monitor to route an ISA interrupt line to that capability's vector on the driver's
//! core; only the boot core's CPU driver programs the I/O APICs, so other monitors forward
//! the request to core 0's monitor ([`kind::IRQ_ROUTE`]).
//!
//! Holding an IRQ capability (a vector) is what authorises the request; interrupt lines
//! themselves are not capabilities (yet), so two drivers could claim one line, the later
//! route winning.

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
    /// [`libos::monitor::op::IRQ_ROUTE`] from dispatcher `caller`: line `line`, message
    /// word 0 = the caller's IRQ capability.
    pub(super) fn irq_route(
        &mut self,
        caller: u32,
        line: u64,
        msg: &[u8],
    ) -> Result<Answer, Refusal> {
        let bad = || (MonError::BadRequest, Vec::new());
        let packed = *words(msg).first().ok_or_else(bad)?;
        if line >= 16 {
            return Err(bad());
        }
        let cap = CapRef::unpack(packed).map_err(|_| bad())?;
        let id = kernel::cap_identify(caller, cap).map_err(kernel_error)?;
        if id.cap_type != CapType::Irq as u8 {
            return Err((
                MonError::CapFailed,
                vec![caps::abi::CapError::InvalidType as u64],
            ));
        }
        let (core, vector) = (u64::from(self.me), id.base);
        self.here_or_ask(BOOT_CORE, kind::IRQ_ROUTE, &[line, core, vector], |m| {
            m.irq_route_here(line, core, vector)
        })
    }

    /// Program the route (boot core only): reply words `[gsi]`.
    pub(super) fn irq_route_here(
        &mut self,
        line: u64,
        core: u64,
        vector: u64,
    ) -> Result<Vec<u64>, Refusal> {
        let (Ok(line), Ok(core), Ok(vector)) = (
            u32::try_from(line),
            u32::try_from(core),
            u32::try_from(vector),
        ) else {
            return Err((MonError::BadRequest, Vec::new()));
        };
        let gsi = kernel::irq_route(line, core, vector, false).map_err(kernel_error)?;
        Ok(vec![u64::from(gsi)])
    }
}
