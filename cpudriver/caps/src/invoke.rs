//! Decoding of capability invocations from raw syscall registers (see [`crate::abi`]) into
//! the operations of [`CapState`]. Every word is checked; nothing here trusts its input.

use crate::abi::{
    unpack_map_word, unpack_retype_word, CapError, CapIdentity, CapOp, CapRef, Dest, Rights,
};
use crate::cap::Object;
use crate::state::{CapState, DeleteReport, Mapping, Origin, Retype, Retyped, Slot};

/// The result of an invocation, for the kernel to act on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Retype made objects; zero `zero` before returning to user space.
    Retyped(Retyped),
    /// Copy or mint done.
    Done,
    /// Delete or revoke done: clear these mappings (and flush TLBs), drop these objects.
    Deleted(DeleteReport),
    /// Identify: copy this to the user pointer in `a0`.
    Identified(CapIdentity),
    /// Map: write these page-table entries.
    Mapped(Mapping),
    /// Unmap: clear these entries (and flush TLBs).
    Unmapped(Mapping),
    /// Port I/O the capability allows: read (`value` ignored) or write `value`.
    Io {
        /// The port.
        port: u16,
        /// Width in bytes: 1, 2 or 4.
        width: u8,
        /// Whether it is a write.
        write: bool,
        /// The value to write.
        value: u32,
    },
    /// Bind interrupt vector `vector` to the caller.
    IrqBind {
        /// The vector.
        vector: u32,
    },
    /// Wait for interrupt vector `vector`.
    IrqWait {
        /// The vector.
        vector: u32,
    },
}

impl Outcome {
    /// The value returned to the caller in `rdx` on success.
    pub fn value(&self) -> u64 {
        match self {
            Outcome::Retyped(r) => u64::from(r.count),
            _ => 0,
        }
    }
}

impl CapState {
    /// Perform invocation `op` on the capability `cap` (a packed [`CapRef`]) with arguments
    /// `args` (`a0..a3`), in the CSpace whose root CNode capability is in `root`, on behalf
    /// of a program (`Origin::User`).
    pub fn invoke(
        &mut self,
        root: Slot,
        cap: u64,
        op: u64,
        args: [u64; 4],
    ) -> Result<Outcome, CapError> {
        self.invoke_as(root, cap, op, args, Origin::User)
    }

    /// [`CapState::invoke`] on behalf of `origin`: the monitor passes `Origin::Monitor` for
    /// a retype, delete or revoke the monitors have agreed on, which skips the checks for
    /// copies and descendants on other cores.
    pub fn invoke_as(
        &mut self,
        root: Slot,
        cap: u64,
        op: u64,
        args: [u64; 4],
        origin: Origin,
    ) -> Result<Outcome, CapError> {
        let op = CapOp::try_from(op)?;
        let slot = self.resolve(root, CapRef::unpack(cap)?)?;
        let [a0, a1, a2, a3] = args;
        match op {
            CapOp::Retype => {
                let (new_type, count) = unpack_retype_word(a0)?;
                let dest = self.resolve_dest(root, Dest::unpack(a3)?)?;
                let req = Retype {
                    new_type,
                    offset: a1,
                    object_size: a2,
                    count,
                };
                self.retype(slot, req, dest, origin).map(Outcome::Retyped)
            }
            CapOp::Copy => {
                let dest = self.resolve_dest(root, Dest::unpack(a0)?)?;
                self.copy(slot, dest).map(|()| Outcome::Done)
            }
            CapOp::Mint => {
                let dest = self.resolve_dest(root, Dest::unpack(a0)?)?;
                let rights = u16::try_from(a1)
                    .ok()
                    .and_then(Rights::from_bits)
                    .ok_or(CapError::InvalidArgument)?;
                self.mint(slot, dest, rights, a2).map(|()| Outcome::Done)
            }
            CapOp::Delete => self.delete(slot, origin).map(Outcome::Deleted),
            CapOp::Revoke if origin == Origin::User => {
                self.revoke_by_program(slot).map(Outcome::Deleted)
            }
            CapOp::Revoke => self.revoke(slot, origin).map(Outcome::Deleted),
            CapOp::Identify => self.identify(slot).map(|i| Outcome::Identified(i.to_abi())),
            CapOp::Map => {
                let src = self.resolve(root, CapRef::unpack(a0)?)?;
                let (entry, pages, rights) = unpack_map_word(a1)?;
                self.map(src, slot, entry, rights, a2, pages)
                    .map(Outcome::Mapped)
            }
            CapOp::Unmap => {
                let (entry, pages, _) = unpack_map_word(a0)?;
                self.unmap(slot, entry, pages).map(Outcome::Unmapped)
            }
            CapOp::IoIn | CapOp::IoOut => {
                let cap = self.cap(slot)?;
                let write = op == CapOp::IoOut;
                let needed = if write { Rights::WRITE } else { Rights::READ };
                let Object::Io { first, last } = cap.object else {
                    return Err(CapError::WrongType);
                };
                if !cap.rights.contains(needed) {
                    return Err(CapError::InsufficientRights);
                }
                let width = match a1 {
                    1 | 2 | 4 => a1 as u8,
                    _ => return Err(CapError::InvalidArgument),
                };
                let port = u16::try_from(a0).map_err(|_| CapError::OutOfRange)?;
                let end = u32::from(port) + u32::from(width) - 1;
                if port < first || end > u32::from(last) {
                    return Err(CapError::OutOfRange);
                }
                if write && width < 4 && a2 >> (8 * u32::from(width)) != 0 {
                    return Err(CapError::InvalidArgument);
                }
                let value = u32::try_from(a2).map_err(|_| CapError::InvalidArgument)?;
                Ok(Outcome::Io {
                    port,
                    width,
                    write,
                    value,
                })
            }
            CapOp::IrqBind | CapOp::IrqWait => match self.cap(slot)?.object {
                Object::Irq { vector } if op == CapOp::IrqBind => Ok(Outcome::IrqBind { vector }),
                Object::Irq { vector } => Ok(Outcome::IrqWait { vector }),
                _ => Err(CapError::WrongType),
            },
        }
    }
}
