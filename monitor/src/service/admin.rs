//! Requests for the shell and other tools: the machine's cores, the programs of every core,
//! free memory, killing a program, a program's capabilities, the log level, power.
//! Anything about another core goes to that core's monitor as a request.

use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use libos::kernel;
use libos::monitor::{bytes_of, status, words, MonError};
use monitor_proto::CoreId;

use super::{kernel_error, kind, Answer, Monitor, Refusal};

/// Cores per [`libos::monitor::op::CORES_INFO`] reply (5 words each in 1 KiB).
const CORES_PER_REPLY: u32 = 24;
/// Capabilities per [`libos::monitor::op::CAPS`] reply (4 words each).
const CAPS_PER_REPLY: u32 = 15;
// A reply (next slot, then four words per capability) must fit one monitor message, as
// requests about another core's programs are answered across cores.
const _: () = assert!((1 + 4 * CAPS_PER_REPLY as usize) * 8 <= monitor_proto::MAX_PAYLOAD);
// A KLOG reply (two header words and the text) fits a monitor message too.
const _: () = assert!(16 + libos::monitor::KLOG_CHUNK <= monitor_proto::MAX_PAYLOAD);
/// Root slots, then the page CNode's, as `CAPS` numbers them.
const ROOT_SLOTS: u32 = libos::monitor::CAPS_PAGE_SLOTS_FROM as u32;
const ALL_SLOTS: u32 = libos::monitor::CAPS_SLOTS as u32;

impl Monitor {
    /// Answer a request about core `core`: with `here` if it is this core, else by asking
    /// that core's monitor (request `kind`, payload `words`; the caller gets a ticket).
    pub(super) fn here_or_ask(
        &mut self,
        core: CoreId,
        kind: u16,
        words: &[u64],
        here: impl FnOnce(&mut Self) -> Result<Vec<u64>, Refusal>,
    ) -> Result<Answer, Refusal> {
        if core == self.me {
            return here(self).map(|w| (status::OK, w));
        }
        if !self.links.has(core) {
            return Err((MonError::NoSuchCore, Vec::new()));
        }
        let t = self.ticket();
        self.send_request(core, kind, bytes_of(words), t);
        Ok((status::PENDING, vec![t]))
    }

    /// `[core, apic id, package, node, monitor up]` for cores `first..`, a page at a time.
    pub(super) fn cores_info(&mut self, first: u64) -> Answer {
        let n = kernel::cores().unwrap_or(1);
        let first = u32::try_from(first).unwrap_or(u32::MAX);
        let mut w = Vec::new();
        for c in (first..n).take(CORES_PER_REPLY as usize) {
            let (apic, package, node) = kernel::place_full(c).unwrap_or((u32::MAX, 0, 0));
            let up = self.members.contains(&c);
            w.extend_from_slice(&[
                u64::from(c),
                u64::from(apic),
                u64::from(package),
                u64::from(node),
                u64::from(up),
            ]);
        }
        (status::OK, w)
    }

    /// Lines `DOMAIN PROGRAM` of every domain in the replica, from byte `offset` (at most
    /// 1000 bytes per reply).
    pub fn ps_text(&self, offset: u64) -> Vec<u8> {
        let mut text = alloc::string::String::new();
        for (d, name) in self.replica.domains() {
            let _ = writeln!(
                text,
                "{}:{} {}",
                d >> 32,
                d & 0xffff_ffff,
                core::str::from_utf8(name.as_bytes()).unwrap_or("?")
            );
        }
        let bytes = text.as_bytes();
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(bytes.len());
        let end = (start + 1000).min(bytes.len());
        bytes[start..end].to_vec()
    }

    /// Free memory of core `core`: `[bytes, node]`.
    pub(super) fn mem(&mut self, core: u64) -> Result<Answer, Refusal> {
        let core = CoreId::try_from(core).map_err(|_| (MonError::NoSuchCore, Vec::new()))?;
        self.here_or_ask(core, kind::MEM, &[], |m| m.mem_here())
    }

    pub(super) fn mem_here(&self) -> Result<Vec<u64>, Refusal> {
        let free = kernel::mem_free().map_err(kernel_error)?;
        let node = kernel::place(self.me).map_or(0, |(_, n)| n);
        Ok(vec![free, u64::from(node)])
    }

    /// Core `core`'s kernel log from position `msg[0]` on ([`libos::monitor::op::KLOG`]).
    pub(super) fn klog(&mut self, core: u64, msg: &[u8]) -> Result<Answer, Refusal> {
        let core = CoreId::try_from(core).map_err(|_| (MonError::NoSuchCore, Vec::new()))?;
        let pos = *words(msg)
            .first()
            .ok_or((MonError::BadRequest, Vec::new()))?;
        self.here_or_ask(core, kind::KLOG, &[pos], |m| m.klog_here(pos))
    }

    /// `[from, len, the bytes in words]` of this core's kernel log from `pos` on.
    pub(super) fn klog_here(&self, pos: u64) -> Result<Vec<u64>, Refusal> {
        let mut buf = [0u8; libos::monitor::KLOG_CHUNK];
        let (from, len) = kernel::klog(pos, &mut buf).map_err(kernel_error)?;
        let text = &buf[..len.min(buf.len())];
        let mut w = vec![from, text.len() as u64];
        w.extend(words(text));
        Ok(w)
    }

    /// End domain `domain` (on whichever core).
    pub(super) fn kill(&mut self, domain: u64) -> Result<Answer, Refusal> {
        self.here_or_ask((domain >> 32) as CoreId, kind::KILL, &[domain], |m| {
            m.kill_here(domain).map(|()| Vec::new())
        })
    }

    pub(super) fn kill_here(&mut self, domain: u64) -> Result<(), Refusal> {
        if domain >> 32 != u64::from(self.me) {
            return Err((MonError::BadRequest, Vec::new()));
        }
        kernel::kill(domain as u32).map_err(|e| match e {
            kernel::KernelError::Sys(abi::SysError::NotFound) => (MonError::NotFound, Vec::new()),
            e => kernel_error(e),
        })?;
        // Its Exited event removes it from every replica.
        self.kernel_events();
        Ok(())
    }

    /// The exit status of domain `domain` (on whichever core), which ended.
    pub(super) fn exit_status(&mut self, domain: u64) -> Result<Answer, Refusal> {
        self.here_or_ask(
            (domain >> 32) as CoreId,
            kind::EXIT_STATUS,
            &[domain],
            |m| m.exit_status_here(domain),
        )
    }

    pub(super) fn exit_status_here(&mut self, domain: u64) -> Result<Vec<u64>, Refusal> {
        if domain >> 32 != u64::from(self.me) {
            return Err((MonError::BadRequest, Vec::new()));
        }
        // Its Exited event may still be queued.
        self.kernel_events();
        let id = domain as u32;
        // Dispatcher ids are not reused, so the last entry for `id` is its only one.
        match self.exits.iter().rev().find(|(d, _)| *d == id) {
            Some((_, s)) => Ok(vec![*s]),
            None => Err((MonError::NotFound, Vec::new())),
        }
    }

    /// The capabilities of domain `domain` from slot `msg[0]` on:
    /// `[next slot, then per capability: slot, type, base, bytes]`. Slots below
    /// [`ROOT_SLOTS`] are root slots; slot `ROOT_SLOTS + i` is slot `i` of the page CNode
    /// (root slot `abi::ROOT_SLOT_PAGECN`), which holds the tables and Frames the program's
    /// address space was built from.
    pub(super) fn caps(&mut self, domain: u64, msg: &[u8]) -> Result<Answer, Refusal> {
        let from = words(msg).first().copied().unwrap_or(0);
        self.here_or_ask((domain >> 32) as CoreId, kind::CAPS, &[domain, from], |m| {
            m.caps_here(domain, from)
        })
    }

    pub(super) fn caps_here(&self, domain: u64, from: u64) -> Result<Vec<u64>, Refusal> {
        if domain >> 32 != u64::from(self.me) {
            return Err((MonError::BadRequest, Vec::new()));
        }
        let id = domain as u32;
        let mut out = vec![u64::from(ALL_SLOTS)];
        let mut found = 0;
        let from = u32::try_from(from).unwrap_or(ALL_SLOTS);
        for slot in from..ALL_SLOTS {
            let cap = match slot.checked_sub(ROOT_SLOTS) {
                None => libos::cap::root_slot(slot),
                Some(i) => libos::cap::page_slot(i),
            };
            match kernel::cap_identify(id, cap) {
                Ok(c) => {
                    out.extend_from_slice(&[
                        u64::from(slot),
                        u64::from(c.cap_type),
                        c.base,
                        c.bytes,
                    ]);
                    found += 1;
                    if found == CAPS_PER_REPLY {
                        out[0] = u64::from(slot + 1);
                        break;
                    }
                }
                Err(kernel::KernelError::Sys(abi::SysError::NotFound)) => {
                    return Err((MonError::NotFound, Vec::new()))
                }
                Err(_) => {}
            }
        }
        Ok(out)
    }

    /// Set the kernel log level (1 error .. 5 trace).
    pub(super) fn log_level(&self, level: u64) -> Result<Answer, Refusal> {
        kernel::log_level(level).map_err(|_| (MonError::BadRequest, Vec::new()))?;
        Ok((status::OK, Vec::new()))
    }

    /// Power off (`how` = 0) or reset (1), with status `msg[0]`.
    pub(super) fn power(&self, how: u64, msg: &[u8]) -> Result<Answer, Refusal> {
        let st = words(msg).first().copied().unwrap_or(0);
        if how > 1 {
            return Err((MonError::BadRequest, Vec::new()));
        }
        kernel::shutdown(how == 1, st).map_err(kernel_error)?;
        Ok((status::OK, Vec::new()))
    }
}
