//! Unit tests of the operations.

use alloc::vec::Vec;

use crate::abi::{self, pack_guard, CapError as E, CapOp, CapRef, CapType as T, Dest, Rights};
use crate::*;

const RAM_BASE: u64 = 0x100_0000;
const RAM_BYTES: u64 = 0x100_0000;

/// A core with 16 MiB of RAM in kernel slot 0, a root CNode (256 slots) in kernel slot 1,
/// and a user RAM capability for the second half of the memory in root slot 1.
struct Env {
    s: CapState,
    root: Slot,
    rc: CNodeId,
}

impl Env {
    fn new() -> Env {
        let mut s = CapState::new(0, 16);
        let k0 = s.kernel_slot(0);
        let k1 = s.kernel_slot(1);
        s.insert_original(
            k0,
            Object::Ram {
                base: RAM_BASE,
                bytes: RAM_BYTES,
            },
        )
        .unwrap();
        s.retype(
            k0,
            retype(T::Ram, 0, RAM_BYTES / 2, 2),
            s.kernel_slot(2),
            Origin::User,
        )
        .unwrap();
        let r = s
            .retype(
                s.kernel_slot(2),
                retype(T::CNode, 0, cnode_bytes(8), 1),
                k1,
                Origin::User,
            )
            .unwrap();
        assert_eq!(r.zero, Some((RAM_BASE, cnode_bytes(8))));
        let rc = s.cnode_of(k1).unwrap();
        let mut e = Env { s, root: k1, rc };
        // Self reference in slot 0, user RAM in slot 1.
        e.s.copy(k1, e.slot(0)).unwrap();
        e.s.copy(e.s.kernel_slot(3), e.slot(1)).unwrap();
        e.check();
        e
    }

    fn slot(&self, i: u32) -> Slot {
        Slot {
            cnode: self.rc,
            index: i,
        }
    }

    fn check(&self) {
        if let Err(m) = self.s.check_invariants() {
            panic!("invariant broken: {m}");
        }
    }

    /// Retype from root slot `src` into root slots from `dest`.
    fn rt(
        &mut self,
        src: u32,
        ty: T,
        off: u64,
        size: u64,
        n: u32,
        dest: u32,
    ) -> Result<Retyped, E> {
        let r = self.s.retype(
            self.slot(src),
            retype(ty, off, size, n),
            self.slot(dest),
            Origin::User,
        );
        self.check();
        r
    }

    /// A PT (slot 10) and a 4-page Frame (slot 11) from the user RAM.
    fn pt_and_frame(&mut self) {
        self.rt(1, T::VNodePt, 0, 4096, 1, 10).unwrap();
        self.rt(1, T::Frame, 0x4000, 0x4000, 1, 11).unwrap();
    }
}

fn retype(new_type: T, offset: u64, object_size: u64, count: u32) -> Retype {
    Retype {
        new_type,
        offset,
        object_size,
        count,
    }
}

const RW: Rights = Rights::READ.union(Rights::WRITE);

#[test]
fn retype_bounds() {
    let mut e = Env::new();
    let half = RAM_BYTES / 2;
    // Beyond the source, overflowing, unaligned, wrong sizes, zero count.
    assert_eq!(e.rt(1, T::Frame, half, 4096, 1, 20), Err(E::OutOfRange));
    assert_eq!(
        e.rt(1, T::Frame, half - 4096, 4096, 2, 20),
        Err(E::OutOfRange)
    );
    assert_eq!(e.rt(1, T::Frame, 0, 1 << 63, 4, 20), Err(E::OutOfRange));
    assert_eq!(e.rt(1, T::Frame, !0xfff, 4096, 1, 20), Err(E::OutOfRange));
    assert_eq!(
        e.rt(1, T::Frame, 100, 4096, 1, 20),
        Err(E::InvalidAlignment)
    );
    assert_eq!(e.rt(1, T::Frame, 0, 100, 1, 20), Err(E::InvalidSize));
    assert_eq!(e.rt(1, T::Frame, 0, 0, 1, 20), Err(E::InvalidSize));
    assert_eq!(e.rt(1, T::CNode, 0, 3 * 4096, 1, 20), Err(E::InvalidSize));
    assert_eq!(e.rt(1, T::CNode, 0, 2048, 1, 20), Err(E::InvalidSize));
    assert_eq!(e.rt(1, T::VNodePt, 0, 8192, 1, 20), Err(E::InvalidSize));
    assert_eq!(e.rt(1, T::Dispatcher, 0, 8192, 1, 20), Err(E::InvalidSize));
    assert_eq!(e.rt(1, T::Frame, 0, 4096, 0, 20), Err(E::InvalidArgument));
    assert_eq!(e.rt(1, T::Ram, 0, half, 1, 20), Err(E::InvalidSize));
    // Destination: out of range, in use.
    assert_eq!(e.rt(1, T::Frame, 0, 4096, 2, 255), Err(E::OutOfRange));
    assert_eq!(e.rt(1, T::Frame, 0, 4096, 1, 0), Err(E::SlotInUse));
    // Fits exactly.
    let r = e.rt(1, T::Frame, half - 8192, 4096, 2, 20).unwrap();
    assert_eq!(r.count, 2);
    assert_eq!(r.zero, Some((RAM_BASE + half + half - 8192, 8192)));
    assert_eq!(
        e.s.cap(e.slot(21)).unwrap().object,
        Object::Frame {
            base: RAM_BASE + RAM_BYTES - 4096,
            bytes: 4096
        }
    );
    // Nothing half made on failure: the slots after a failed retype are empty.
    assert_eq!(e.s.cap(e.slot(30)), Err(E::EmptySlot));
    assert_eq!(e.s.cap(e.slot(300)), Err(E::OutOfRange));
}

#[test]
fn retype_overlap_with_descendants_fails() {
    let mut e = Env::new();
    e.rt(1, T::Frame, 0, 0x2000, 1, 20).unwrap();
    assert_eq!(
        e.rt(1, T::Frame, 0x1000, 0x1000, 1, 21),
        Err(E::RetypeConflict)
    );
    assert_eq!(e.rt(1, T::CNode, 0, 4096, 1, 21), Err(E::RetypeConflict));
    assert_eq!(e.rt(1, T::Ram, 0, 0x10000, 1, 21), Err(E::RetypeConflict));
    // Next to it is fine.
    e.rt(1, T::Frame, 0x2000, 0x1000, 1, 21).unwrap();
    // A RAM split, then the parent cannot retype over it, but the child can.
    e.rt(1, T::Ram, 0x10000, 0x10000, 1, 22).unwrap();
    assert_eq!(
        e.rt(1, T::VNodePt, 0x10000, 4096, 1, 23),
        Err(E::RetypeConflict)
    );
    e.rt(22, T::VNodePt, 0, 4096, 1, 23).unwrap();
    assert_eq!(e.rt(22, T::VNodePt, 0, 4096, 1, 24), Err(E::RetypeConflict));
    e.rt(22, T::VNodePt, 4096, 4096, 1, 24).unwrap();
    // A copy of the source sees the same descendants.
    e.s.copy(e.slot(1), e.slot(25)).unwrap();
    assert_eq!(e.rt(25, T::Frame, 0, 0x1000, 1, 26), Err(E::RetypeConflict));
    // Frame into sub-frames.
    e.rt(20, T::Frame, 0x1000, 0x1000, 1, 27).unwrap();
    assert_eq!(e.rt(20, T::Frame, 0, 0x2000, 1, 28), Err(E::InvalidSize));
    assert_eq!(e.rt(20, T::Frame, 0, 0x1000, 2, 28), Err(E::RetypeConflict));
}

#[test]
fn derivation_is_found() {
    let mut e = Env::new();
    e.rt(1, T::Ram, 0, 0x10000, 2, 20).unwrap();
    e.rt(20, T::Frame, 0, 0x1000, 4, 30).unwrap();
    e.rt(30, T::Frame, 0, 0x800 * 2, 1, 40).unwrap_err();
    e.rt(1, T::Dispatcher, 0x20000, 4096, 1, 50).unwrap();
    e.rt(50, T::EndPoint, 0, 0, 1, 51).unwrap();
    e.s.copy(e.slot(30), e.slot(60)).unwrap();

    let (copies, desc, anc) = e.s.relatives(e.slot(20)).unwrap();
    assert!(copies.is_empty());
    let mut want: Vec<Slot> = (30..34).map(|i| e.slot(i)).collect();
    want.push(e.slot(60));
    let mut got = desc.clone();
    got.sort();
    want.sort();
    assert_eq!(got, want);
    assert!(anc);
    let (copies, desc, anc) = e.s.relatives(e.slot(30)).unwrap();
    assert_eq!(copies, [e.slot(60)]);
    assert!(desc.is_empty());
    assert!(anc);
    let (_, desc, _) = e.s.relatives(e.slot(1)).unwrap();
    assert_eq!(desc.len(), 2 + 4 + 1 + 1 + 1);
    let (_, desc, _) = e.s.relatives(e.slot(50)).unwrap();
    assert_eq!(desc, [e.slot(51)]);
    // The original RAM in the kernel CNode is everyone's ancestor; it has none.
    let (_, _, anc) = e.s.relatives(e.s.kernel_slot(0)).unwrap();
    assert!(!anc);
}

#[test]
fn revoke_removes_every_descendant_and_reports_mappings() {
    let mut e = Env::new();
    e.rt(1, T::Ram, 0, 0x100000, 1, 20).unwrap();
    e.rt(20, T::VNodePt, 0, 4096, 1, 21).unwrap();
    e.rt(20, T::Frame, 0x10000, 0x10000, 1, 22).unwrap();
    e.rt(22, T::Frame, 0, 0x1000, 4, 23).unwrap();
    e.rt(20, T::CNode, 0x20000, 4096, 1, 27).unwrap();
    let inner = e.s.cnode_of(e.slot(27)).unwrap();
    // A descendant kept inside a descendant CNode, and a copy elsewhere.
    e.s.copy(
        e.slot(23),
        Slot {
            cnode: inner,
            index: 5,
        },
    )
    .unwrap();
    e.s.copy(e.slot(20), e.slot(28)).unwrap();
    let m1 = e.s.map(e.slot(23), e.slot(21), 0, RW, 0, 1).unwrap();
    let m2 =
        e.s.map(e.slot(22), e.slot(21), 10, Rights::READ, 0x3000, 2)
            .unwrap();
    assert_eq!(m2.phys, RAM_BASE + RAM_BYTES / 2 + 0x13000);
    assert_eq!(e.s.live_mappings(), 2);
    let before = e.s.live_caps();

    let rep = e.s.revoke(e.slot(20), Origin::User).unwrap();
    e.check();
    // 28 (copy), 21, 22, 23..27, 27's CNode content.
    assert_eq!(rep.deleted, 1 + 1 + 1 + 4 + 1 + 1);
    assert_eq!(e.s.live_caps(), before - rep.deleted);
    assert_eq!(e.s.live_mappings(), 0);
    assert_eq!(rep.unmapped.len(), 2);
    assert!(rep.unmapped.contains(&m1) && rep.unmapped.contains(&m2));
    for i in 21..=28 {
        assert_eq!(e.s.cap(e.slot(i)), Err(E::EmptySlot), "slot {i}");
    }
    let (copies, desc, _) = e.s.relatives(e.slot(20)).unwrap();
    assert!(copies.is_empty() && desc.is_empty());
    // The region is free again.
    e.rt(20, T::Frame, 0, 0x100000 / 2, 2, 21).unwrap();
}

#[test]
fn rights_only_shrink_on_mint() {
    let mut e = Env::new();
    e.rt(1, T::Frame, 0, 0x1000, 1, 20).unwrap();
    e.s.mint(e.slot(20), e.slot(21), Rights::READ | Rights::GRANT, 0)
        .unwrap();
    assert_eq!(
        e.s.mint(e.slot(21), e.slot(22), Rights::READ | Rights::WRITE, 0),
        Err(E::InsufficientRights)
    );
    e.s.mint(e.slot(21), e.slot(22), Rights::READ, 0).unwrap();
    assert_eq!(e.s.cap(e.slot(22)).unwrap().rights, Rights::READ);
    // Without Grant it cannot be copied at all.
    assert_eq!(e.s.copy(e.slot(22), e.slot(23)), Err(E::InsufficientRights));
    assert_eq!(
        e.s.mint(e.slot(22), e.slot(23), Rights::READ, 0),
        Err(E::InsufficientRights)
    );
    // Minted copies are copies: same object.
    let (copies, _, _) = e.s.relatives(e.slot(20)).unwrap();
    assert_eq!(copies.len(), 2);
    // No badge on frames.
    assert_eq!(
        e.s.mint(e.slot(20), e.slot(23), Rights::READ, 7),
        Err(E::WrongType)
    );
    // Read-only RAM makes read-only frames, and those cannot map writable.
    e.s.mint(e.slot(1), e.slot(24), Rights::READ | Rights::RETYPE, 0)
        .unwrap();
    e.rt(24, T::Frame, 0x100000, 0x1000, 1, 25).unwrap();
    assert_eq!(
        e.s.cap(e.slot(25)).unwrap().rights,
        Rights::READ | Rights::RETYPE
    );
    e.rt(1, T::VNodePt, 0x200000, 4096, 1, 26).unwrap();
    assert_eq!(
        e.s.map(e.slot(25), e.slot(26), 0, RW, 0, 1),
        Err(E::InsufficientRights)
    );
    e.s.map(e.slot(25), e.slot(26), 0, Rights::READ, 0, 1)
        .unwrap();
    e.check();
}

#[test]
fn endpoint_badges() {
    let mut e = Env::new();
    e.rt(1, T::Dispatcher, 0, 4096, 1, 20).unwrap();
    e.rt(20, T::EndPoint, 0, 0, 1, 21).unwrap();
    assert_eq!(e.rt(20, T::EndPoint, 0, 0, 1, 22), Err(E::RetypeConflict));
    assert_eq!(
        e.rt(20, T::EndPoint, 0, 4096, 1, 22),
        Err(E::InvalidArgument)
    );
    e.s.mint(e.slot(21), e.slot(22), Rights::all(), 42).unwrap();
    e.s.mint(e.slot(21), e.slot(23), Rights::all(), 43).unwrap();
    assert_eq!(
        e.s.mint(e.slot(22), e.slot(24), Rights::all(), 44),
        Err(E::BadgeAlreadySet)
    );
    e.s.mint(e.slot(22), e.slot(24), Rights::READ, 0).unwrap();
    let Object::EndPoint {
        badge, dispatcher, ..
    } = e.s.cap(e.slot(24)).unwrap().object
    else {
        panic!()
    };
    assert_eq!((badge, dispatcher), (42, (RAM_BASE + RAM_BYTES / 2) / 4096));
    e.check();
    // Revoking a badged endpoint removes only its copies.
    let rep = e.s.revoke(e.slot(22), Origin::User).unwrap();
    assert_eq!(rep.deleted, 1);
    assert!(e.s.cap(e.slot(23)).is_ok());
    // Revoking the unbadged one removes every badged one.
    let rep = e.s.revoke(e.slot(21), Origin::User).unwrap();
    assert_eq!(rep.deleted, 2);
    e.check();
}

#[test]
fn type_checks() {
    let mut e = Env::new();
    e.pt_and_frame();
    // Mapping RAM, a CNode, or into a non-table fails.
    assert_eq!(
        e.s.map(e.slot(1), e.slot(10), 0, RW, 0, 1),
        Err(E::WrongType)
    );
    assert_eq!(
        e.s.map(e.slot(0), e.slot(10), 0, RW, 0, 1),
        Err(E::WrongType)
    );
    assert_eq!(
        e.s.map(e.slot(11), e.slot(11), 0, RW, 0, 1),
        Err(E::WrongType)
    );
    // Retyping a frame into a CNode, VNode, RAM; RAM into DevFrame or EndPoint.
    assert_eq!(e.rt(11, T::CNode, 0, 4096, 1, 20), Err(E::WrongType));
    assert_eq!(e.rt(11, T::VNodePt, 0, 4096, 1, 20), Err(E::WrongType));
    assert_eq!(e.rt(11, T::Ram, 0, 4096, 1, 20), Err(E::WrongType));
    assert_eq!(
        e.rt(1, T::DevFrame, 0x100000, 4096, 1, 20),
        Err(E::WrongType)
    );
    assert_eq!(e.rt(1, T::EndPoint, 0, 0, 1, 20), Err(E::WrongType));
    assert_eq!(e.rt(1, T::Null, 0, 4096, 1, 20), Err(E::WrongType));
    assert_eq!(e.rt(1, T::Kernel, 0, 4096, 1, 20), Err(E::WrongType));
    assert_eq!(e.rt(0, T::Frame, 0, 4096, 1, 20), Err(E::WrongType));
    // Frames go into PTs only; tables one level up only.
    e.rt(1, T::VNodePd, 0x100000, 4096, 1, 12).unwrap();
    e.rt(1, T::VNodePdpt, 0x101000, 4096, 1, 13).unwrap();
    assert_eq!(
        e.s.map(e.slot(11), e.slot(12), 0, RW, 0, 1),
        Err(E::WrongType)
    );
    assert_eq!(
        e.s.map(e.slot(10), e.slot(13), 0, RW, 0, 1),
        Err(E::WrongType)
    );
    assert_eq!(
        e.s.map(e.slot(13), e.slot(12), 0, RW, 0, 1),
        Err(E::WrongType)
    );
    let m = e.s.map(e.slot(10), e.slot(12), 3, RW, 0, 1).unwrap();
    assert_eq!(
        (m.phys, m.first_entry, m.table_level),
        (
            e.s.cap(e.slot(10)).unwrap().object.phys_range().unwrap().0,
            3,
            VNodeLevel::Pd
        )
    );
    assert_eq!(
        e.s.map(e.slot(10), e.slot(12), 4, RW, 0, 2),
        Err(E::InvalidArgument)
    );
    assert_eq!(
        e.s.map(e.slot(10), e.slot(12), 4, RW, 4096, 1),
        Err(E::InvalidArgument)
    );
    e.check();
}

#[test]
fn map_rules_and_unmap() {
    let mut e = Env::new();
    e.pt_and_frame();
    let (pt, fr) = (e.slot(10), e.slot(11));
    assert_eq!(e.s.map(fr, pt, 512, RW, 0, 1), Err(E::OutOfRange));
    assert_eq!(e.s.map(fr, pt, 510, RW, 0, 3), Err(E::OutOfRange));
    assert_eq!(e.s.map(fr, pt, 0, RW, 0, 0), Err(E::InvalidArgument));
    assert_eq!(e.s.map(fr, pt, 0, RW, 0, 5), Err(E::OutOfRange));
    assert_eq!(e.s.map(fr, pt, 0, RW, 0x1000, 4), Err(E::OutOfRange));
    assert_eq!(e.s.map(fr, pt, 0, RW, !0xfff, 1), Err(E::OutOfRange));
    assert_eq!(e.s.map(fr, pt, 0, RW, 0x800, 1), Err(E::InvalidAlignment));
    assert_eq!(
        e.s.map(fr, pt, 0, Rights::WRITE, 0, 1),
        Err(E::InvalidArgument)
    );
    assert_eq!(
        e.s.map(fr, pt, 0, Rights::READ | Rights::GRANT, 0, 1),
        Err(E::InvalidArgument)
    );
    let m =
        e.s.map(fr, pt, 100, RW | Rights::EXECUTE, 0x1000, 3)
            .unwrap();
    assert_eq!(m.flags, PteFlags::WRITABLE);
    assert_eq!((m.first_entry, m.count), (100, 3));
    assert_eq!(e.s.map(fr, pt, 102, RW, 0, 1), Err(E::SlotInUse));
    assert_eq!(e.s.map(fr, pt, 98, RW, 0, 3), Err(E::SlotInUse));
    let m2 = e.s.map(fr, pt, 103, Rights::READ, 0, 1).unwrap();
    assert_eq!(m2.flags, PteFlags::NO_EXECUTE);
    e.s.map(fr, pt, 97, Rights::READ, 0, 3).unwrap();
    e.check();
    // A table without Write cannot be written.
    e.s.mint(pt, e.slot(12), Rights::READ, 0).unwrap();
    assert_eq!(
        e.s.map(fr, e.slot(12), 0, Rights::READ, 0, 1),
        Err(E::InsufficientRights)
    );
    assert_eq!(e.s.unmap(e.slot(12), 100, 3), Err(E::InsufficientRights));
    // Unmap needs the exact mapping.
    assert_eq!(e.s.unmap(pt, 101, 1), Err(E::NotMapped));
    assert_eq!(e.s.unmap(pt, 100, 2), Err(E::NotMapped));
    assert_eq!(e.s.unmap(pt, 600, 2), Err(E::OutOfRange));
    assert_eq!(e.s.unmap(fr, 100, 3), Err(E::WrongType));
    assert_eq!(e.s.unmap(pt, 100, 3), Ok(m));
    assert_eq!(e.s.unmap(pt, 100, 3), Err(E::NotMapped));
    assert_eq!(e.s.mappings_of(fr).unwrap().len(), 2);
    e.check();
    // Deleting the page table (last copy once the read-only one is gone) reports the rest.
    e.s.delete(e.slot(12), Origin::User).unwrap();
    let rep = e.s.delete(pt, Origin::User).unwrap();
    assert_eq!(rep.unmapped.len(), 2);
    assert_eq!(e.s.live_mappings(), 0);
    e.check();
    // Device frames map uncached.
    let k = e.s.kernel_slot(5);
    e.s.insert_original(
        k,
        Object::DevFrame {
            base: 0xfee0_0000,
            bytes: 0x1000,
        },
    )
    .unwrap();
    e.rt(1, T::VNodePt, 0, 4096, 1, 10).unwrap();
    let m = e.s.map(k, e.slot(10), 0, RW, 0, 1).unwrap();
    assert_eq!(
        m.flags,
        PteFlags::WRITABLE | PteFlags::NO_EXECUTE | PteFlags::CACHE_DISABLE
    );
    assert_eq!(m.phys, 0xfee0_0000);
    // Deleting the frame capability used for a mapping reports it.
    let rep = e.s.delete(k, Origin::User).unwrap();
    assert_eq!(rep.unmapped, [m]);
    assert_eq!(
        rep.freed[0].memory_to_return(),
        None,
        "device memory is not RAM"
    );
    e.check();
}

#[test]
fn delete_of_last_copy_frees() {
    let mut e = Env::new();
    e.rt(1, T::Frame, 0, 0x2000, 1, 20).unwrap();
    e.s.copy(e.slot(20), e.slot(21)).unwrap();
    let rep = e.s.delete(e.slot(20), Origin::User).unwrap();
    assert_eq!(rep.deleted, 1);
    assert!(rep.freed.is_empty());
    let rep = e.s.delete(e.slot(21), Origin::User).unwrap();
    assert_eq!(rep.freed.len(), 1);
    let f = rep.freed[0];
    assert_eq!(f.memory(), Some((RAM_BASE + RAM_BYTES / 2, 0x2000)));
    assert!(f.has_local_ancestor && !f.has_local_descendants);
    assert_eq!(f.memory_to_return(), None);
    // The region is retypeable again.
    e.rt(1, T::Frame, 0, 0x2000, 1, 20).unwrap();
    assert_eq!(e.s.delete(e.slot(21), Origin::User), Err(E::EmptySlot));
    // An original with nothing around it: its memory goes back to the monitor.
    let k = e.s.kernel_slot(6);
    e.s.insert_original(
        k,
        Object::Ram {
            base: 0x4000_0000,
            bytes: 0x10000,
        },
    )
    .unwrap();
    let rep = e.s.delete(k, Origin::User).unwrap();
    assert_eq!(
        rep.freed[0].memory_to_return(),
        Some((0x4000_0000, 0x10000))
    );
    e.check();
}

#[test]
fn cnode_delete_is_recursive_and_iterative() {
    let mut e = Env::new();
    // A chain of 2000 CNodes, each holding the next, the first in root slot 20.
    e.rt(1, T::Ram, 0, 0x400000, 1, 2).unwrap();
    let mut prev = e.slot(20);
    e.s.retype(e.slot(2), retype(T::CNode, 0, 4096, 1), prev, Origin::User)
        .unwrap();
    for i in 1..1000u64 {
        let inner = e.s.cnode_of(prev).unwrap();
        let dest = Slot {
            cnode: inner,
            index: 3,
        };
        e.s.retype(
            e.slot(2),
            retype(T::CNode, i * 4096, 4096, 1),
            dest,
            Origin::User,
        )
        .unwrap();
        // A frame and a self reference in each.
        let f = Slot {
            cnode: inner,
            index: 4,
        };
        e.s.retype(
            e.slot(1),
            retype(T::Frame, 0x400000 + i * 4096, 4096, 1),
            f,
            Origin::User,
        )
        .unwrap();
        e.s.copy(
            prev,
            Slot {
                cnode: inner,
                index: 0,
            },
        )
        .unwrap();
        prev = dest;
    }
    e.check();
    let before = e.s.live_caps();
    // The self references keep every CNode alive; deleting the outer cap alone frees nothing
    // (a cycle), but revoking the RAM they come from takes them all.
    let rep = e.s.delete(e.slot(20), Origin::User).unwrap();
    assert_eq!(rep.deleted, 1);
    e.check();
    let rep = e.s.revoke(e.slot(2), Origin::User).unwrap();
    e.check();
    assert_eq!(
        rep.freed
            .iter()
            .filter(|f| matches!(f.object, Object::CNode { .. }))
            .count(),
        1000
    );
    assert_eq!(e.s.live_caps(), before - 1 - rep.deleted);
    // Frames inside went too (their slots are gone) even though they came from elsewhere.
    assert_eq!(
        rep.freed
            .iter()
            .filter(|f| matches!(f.object, Object::Frame { .. }))
            .count(),
        999
    );

    // Without self references, deleting the outermost cap frees the whole chain.
    let mut prev = e.slot(20);
    e.s.retype(e.slot(2), retype(T::CNode, 0, 4096, 1), prev, Origin::User)
        .unwrap();
    for i in 1..1000u64 {
        let inner = e.s.cnode_of(prev).unwrap();
        let dest = Slot {
            cnode: inner,
            index: 63,
        };
        e.s.retype(
            e.slot(2),
            retype(T::CNode, i * 4096, 4096, 1),
            dest,
            Origin::User,
        )
        .unwrap();
        prev = dest;
    }
    let rep = e.s.delete(e.slot(20), Origin::User).unwrap();
    assert_eq!(rep.deleted, 1000);
    assert_eq!(rep.freed.len(), 1000);
    e.check();

    // Deleting the root CNode's last user-visible capability keeps it alive while the
    // kernel holds one; deleting that too empties the CSpace.
    let rep = e.s.delete(e.slot(0), Origin::User).unwrap();
    assert!(rep.freed.is_empty());
    let rep = e.s.delete(e.root, Origin::User).unwrap();
    assert!(rep.deleted >= 3);
    assert!(e.s.resolve(e.root, CapRef::with_depth(1, 8)).is_err());
    e.check();
}

#[test]
fn cnode_addressing_errors() {
    let mut e = Env::new();
    let root = e.root;
    // Root radix 8, no guard: depth 8 names root slots.
    assert_eq!(e.s.resolve(root, CapRef::with_depth(1, 8)), Ok(e.slot(1)));
    assert_eq!(
        e.s.resolve(root, CapRef::with_depth(0x100, 8)),
        Err(E::OutOfRange)
    );
    assert_eq!(
        e.s.resolve(root, CapRef::with_depth(1, 0)),
        Err(E::InvalidArgument)
    );
    assert_eq!(
        e.s.resolve(root, CapRef::with_depth(1, 33)),
        Err(E::OutOfRange)
    );
    assert_eq!(
        e.s.resolve(root, CapRef::with_depth(1, 5)),
        Err(E::DepthMismatch)
    );
    // Going on through an empty slot or a non-CNode.
    assert_eq!(
        e.s.resolve(root, CapRef::with_depth(5 << 8, 16)),
        Err(E::EmptySlot)
    );
    assert_eq!(
        e.s.resolve(root, CapRef::with_depth(1 << 8, 16)),
        Err(E::WrongType)
    );
    // Through the self reference in slot 0: the same CNode again.
    assert_eq!(
        e.s.resolve(root, CapRef::with_depth(0x0001, 16)),
        Ok(e.slot(1))
    );
    // An L2 CNode in slot 7 with 256 slots; a guarded root for full 32-bit addresses.
    e.rt(1, T::CNode, 0, cnode_bytes(8), 1, 7).unwrap();
    let l2 = e.s.cnode_of(e.slot(7)).unwrap();
    e.s.copy(
        e.slot(1),
        Slot {
            cnode: l2,
            index: 9,
        },
    )
    .unwrap();
    assert_eq!(
        e.s.resolve(root, CapRef::with_depth(7 << 8 | 9, 16)),
        Ok(Slot {
            cnode: l2,
            index: 9
        })
    );
    // Depth ends in the middle of the L2 index.
    assert_eq!(
        e.s.resolve(root, CapRef::with_depth(7 << 4, 12)),
        Err(E::DepthMismatch)
    );
    let g = e.s.kernel_slot(4);
    e.s.mint(root, g, Rights::all(), pack_guard(0, 16)).unwrap();
    assert_eq!(
        e.s.resolve(g, CapRef::full(7 << 8 | 9)),
        Ok(Slot {
            cnode: l2,
            index: 9
        })
    );
    assert_eq!(e.s.resolve(g, CapRef::with_depth(7, 24)), Ok(e.slot(7)));
    assert_eq!(
        e.s.resolve(g, CapRef::full(1 << 20 | 7 << 8 | 9)),
        Err(E::GuardMismatch)
    );
    assert_eq!(
        e.s.resolve(g, CapRef::with_depth(7, 8)),
        Err(E::DepthMismatch)
    );
    // A guard cannot be set twice, nor be too wide, nor on other types.
    assert_eq!(
        e.s.mint(g, e.s.kernel_slot(5), Rights::all(), pack_guard(0, 8)),
        Err(E::BadgeAlreadySet)
    );
    assert_eq!(
        e.s.mint(root, e.s.kernel_slot(5), Rights::all(), pack_guard(0, 25)),
        Err(E::InvalidArgument)
    );
    // Roots that are not CNodes, or empty.
    assert_eq!(e.s.resolve(e.slot(1), CapRef::full(0)), Err(E::InvalidRoot));
    assert_eq!(
        e.s.resolve(e.s.kernel_slot(9), CapRef::full(0)),
        Err(E::InvalidRoot)
    );
    // Destinations.
    let d = |a, depth, index| Dest {
        cnode: CapRef::with_depth(a, depth),
        index,
    };
    assert_eq!(
        e.s.resolve_dest(g, d(7, 24, 200)),
        Ok(Slot {
            cnode: l2,
            index: 200
        })
    );
    assert_eq!(e.s.resolve_dest(g, d(7, 24, 256)), Err(E::OutOfRange));
    assert_eq!(e.s.resolve_dest(g, d(1, 24, 0)), Err(E::WrongType));
    assert_eq!(e.s.resolve_dest(g, d(8, 24, 0)), Err(E::EmptySlot));
    e.check();
}

#[test]
fn distributed_hooks() {
    let mut e = Env::new();
    e.rt(1, T::Frame, 0, 0x1000, 1, 20).unwrap();
    // Locked: everything but identify is busy.
    e.s.lock(e.slot(1)).unwrap();
    assert_eq!(e.s.lock(e.slot(1)), Err(E::Busy));
    assert_eq!(e.rt(1, T::Frame, 0x1000, 0x1000, 1, 21), Err(E::Busy));
    assert_eq!(e.s.copy(e.slot(1), e.slot(21)), Err(E::Busy));
    assert_eq!(e.s.delete(e.slot(1), Origin::User), Err(E::Busy));
    assert_eq!(e.s.revoke(e.slot(1), Origin::User), Err(E::Busy));
    assert!(e.s.identify(e.slot(1)).unwrap().locked);
    // Revoking an ancestor of a locked capability is busy too (nothing deleted).
    assert_eq!(
        e.s.revoke(e.s.kernel_slot(0), Origin::Monitor),
        Err(E::Busy)
    );
    e.s.unlock(e.slot(1)).unwrap();
    // Remote relations send programs to the monitor.
    e.s.set_relations(e.slot(1), Relations::REMOTE_DESCENDANTS)
        .unwrap();
    assert_eq!(
        e.s.relations(e.s.kernel_slot(3)),
        Ok(Relations::REMOTE_DESCENDANTS)
    );
    assert_eq!(
        e.rt(1, T::Frame, 0x1000, 0x1000, 1, 21),
        Err(E::RetryThroughMonitor)
    );
    assert_eq!(
        e.s.revoke(e.slot(1), Origin::User),
        Err(E::RetryThroughMonitor)
    );
    e.s.retype(
        e.slot(1),
        retype(T::Frame, 0x1000, 0x1000, 1),
        e.slot(21),
        Origin::Monitor,
    )
    .unwrap();
    e.s.set_relations(e.slot(20), Relations::REMOTE_COPIES)
        .unwrap();
    assert_eq!(
        e.s.delete(e.slot(20), Origin::User),
        Err(E::RetryThroughMonitor)
    );
    e.s.copy(e.slot(20), e.slot(22)).unwrap();
    assert_eq!(e.s.relations(e.slot(22)), Ok(Relations::REMOTE_COPIES));
    e.s.delete(e.slot(20), Origin::User).unwrap();
    let rep = e.s.delete(e.slot(22), Origin::Monitor).unwrap();
    assert!(rep.freed[0].remote_copies);
    // Owned elsewhere: no retype from here.
    e.s.set_relations(e.slot(1), Relations::empty()).unwrap();
    e.s.set_owner(e.slot(1), 3).unwrap();
    assert_eq!(e.s.cap(e.s.kernel_slot(3)).unwrap().owner, 3);
    assert_eq!(e.rt(1, T::Frame, 0x2000, 0x1000, 1, 23), Err(E::NotOwner));
    e.s.set_owner(e.slot(1), 0).unwrap();
    // Capabilities from other cores: unrelated overlaps refused, related ones accepted.
    let frame = |base, bytes| Capability {
        object: Object::Frame { base, bytes },
        rights: Rights::all(),
        owner: 2,
    };
    let base = RAM_BASE + RAM_BYTES / 2;
    // Inside the user RAM: a descendant, fine. Over the CNode region: unrelated.
    e.s.insert_copy(
        e.slot(30),
        frame(base + 0x8000, 0x1000),
        Relations::REMOTE_COPIES,
    )
    .unwrap();
    assert_eq!(
        e.s.insert_copy(e.slot(31), frame(RAM_BASE, 0x1000), Relations::empty()),
        Err(E::Overlap)
    );
    // A bigger frame around it is its ancestor: fine too. Partial overlap is not.
    e.s.insert_copy(e.slot(31), frame(base + 0x7000, 0x2000), Relations::empty())
        .unwrap();
    e.rt(1, T::Frame, 0x10000, 0x2000, 1, 32).unwrap();
    assert_eq!(
        e.s.insert_copy(
            e.slot(33),
            frame(base + 0x11000, 0x2000),
            Relations::empty()
        ),
        Err(E::Overlap)
    );
    let pt = Capability {
        object: Object::VNode {
            level: VNodeLevel::Pt,
            base: base + 0x10000,
        },
        rights: Rights::all(),
        owner: 2,
    };
    assert_eq!(
        e.s.insert_copy(e.slot(33), pt, Relations::empty()),
        Err(E::Overlap)
    );
    e.s.delete(e.slot(31), Origin::Monitor).unwrap();
    assert_eq!(
        e.s.insert_copy(e.slot(31), frame(base + 1, 0x1000), Relations::empty()),
        Err(E::InvalidAlignment)
    );
    // Originals must not overlap anything.
    assert_eq!(
        e.s.insert_original(
            e.slot(31),
            Object::Ram {
                base,
                bytes: 0x1000
            }
        ),
        Err(E::Overlap)
    );
    assert_eq!(
        e.s.insert_original(e.slot(31), Object::Dispatcher { base: 0, id: 0 }),
        Err(E::WrongType)
    );
    // The received frame is a descendant of the local RAM: retype over it conflicts.
    assert_eq!(
        e.rt(1, T::Frame, 0x8000, 0x1000, 1, 31),
        Err(E::RetypeConflict)
    );
    e.check();
}

#[test]
fn kernel_cap_retypes() {
    let mut e = Env::new();
    let k = e.s.kernel_slot(7);
    e.s.insert_original(k, Object::Kernel).unwrap();
    let d = e.slot(40);
    e.s.retype(k, retype(T::Irq, 32, 1, 4), d, Origin::User)
        .unwrap();
    assert_eq!(
        e.s.cap(e.slot(43)).unwrap().object,
        Object::Irq { vector: 35 }
    );
    assert_eq!(
        e.s.retype(k, retype(T::Irq, 255, 1, 2), e.slot(50), Origin::User),
        Err(E::OutOfRange)
    );
    e.s.retype(k, retype(T::Io, 0x3f8, 8, 1), e.slot(50), Origin::User)
        .unwrap();
    assert_eq!(
        e.s.cap(e.slot(50)).unwrap().object,
        Object::Io {
            first: 0x3f8,
            last: 0x3ff
        }
    );
    e.rt(50, T::Io, 0, 1, 2, 51).unwrap();
    assert_eq!(e.rt(50, T::Io, 1, 1, 1, 53), Err(E::RetypeConflict));
    assert_eq!(e.rt(50, T::Io, 0, 8, 1, 53), Err(E::InvalidSize));
    assert_eq!(e.rt(50, T::Io, 7, 2, 1, 53), Err(E::OutOfRange));
    e.s.retype(k, retype(T::Id, 0, 0, 2), e.slot(60), Origin::User)
        .unwrap();
    let a = e.s.cap(e.slot(60)).unwrap().object;
    let b = e.s.cap(e.slot(61)).unwrap().object;
    assert_ne!(a, b);
    assert!(matches!(a, Object::Id { core: 0, .. }));
    let rep = e.s.revoke(e.slot(50), Origin::User).unwrap();
    assert_eq!(rep.deleted, 2);
    e.check();
}

#[test]
fn interrupt_sources_are_ranges_of_gsis_split_by_retype() {
    let mut e = Env::new();
    let k = e.s.kernel_slot(7);
    e.s.insert_original(k, Object::Kernel).unwrap();
    // The I/O APIC's first 24 inputs, then one line each for two drivers.
    e.s.retype(k, retype(T::IrqSrc, 0, 24, 1), e.slot(40), Origin::User)
        .unwrap();
    assert_eq!(
        e.s.cap(e.slot(40)).unwrap().object,
        Object::IrqSrc { first: 0, last: 23 }
    );
    e.rt(40, T::IrqSrc, 4, 1, 1, 41).unwrap();
    e.rt(40, T::IrqSrc, 1, 1, 1, 42).unwrap();
    assert_eq!(
        e.s.cap(e.slot(41)).unwrap().object,
        Object::IrqSrc { first: 4, last: 4 }
    );
    // A line already given out cannot be given out again, nor the range beyond the end.
    assert_eq!(e.rt(40, T::IrqSrc, 4, 1, 1, 43), Err(E::RetypeConflict));
    assert_eq!(e.rt(40, T::IrqSrc, 0, 2, 12, 43), Err(E::RetypeConflict));
    assert_eq!(e.rt(40, T::IrqSrc, 20, 2, 3, 43), Err(E::OutOfRange));
    assert_eq!(e.rt(40, T::IrqSrc, 0, 24, 1, 43), Err(E::InvalidSize));
    // Interrupt sources are not ports, vectors or memory.
    assert_eq!(e.rt(40, T::Io, 0, 1, 1, 43), Err(E::WrongType));
    assert_eq!(e.rt(40, T::Irq, 0, 1, 1, 43), Err(E::WrongType));
    // From the Kernel capability: only GSIs up to MAX_GSI.
    assert_eq!(
        e.s.retype(
            k,
            retype(T::IrqSrc, u64::from(crate::MAX_GSI), 2, 1),
            e.slot(50),
            Origin::User
        ),
        Err(E::OutOfRange)
    );
    assert_eq!(
        e.s.retype(k, retype(T::IrqSrc, 0, 0, 1), e.slot(50), Origin::User),
        Err(E::InvalidSize)
    );
    // Revoking the range takes the lines given out with it.
    let rep = e.s.revoke(e.slot(40), Origin::User).unwrap();
    assert_eq!(rep.deleted, 2);
    assert_eq!(e.s.cap(e.slot(41)), Err(E::EmptySlot));
    e.check();
}

#[test]
fn invoke_through_the_abi() {
    let mut e = Env::new();
    let root = e.root;
    let cap = |a: u32| CapRef::with_depth(a, 8).pack();
    let dest = |i| {
        Dest {
            cnode: CapRef::with_depth(0, 8),
            index: i,
        }
        .pack()
        .unwrap()
    };
    // Retype: 2 frames of 8 KiB into root slots 20, 21.
    let out =
        e.s.invoke(
            root,
            cap(1),
            CapOp::Retype.into(),
            [abi::pack_retype_word(T::Frame, 2), 0, 0x2000, dest(20)],
        )
        .unwrap();
    assert_eq!(out.value(), 2);
    let out =
        e.s.invoke(root, cap(20), CapOp::Identify.into(), [0; 4])
            .unwrap();
    let Outcome::Identified(id) = out else {
        panic!()
    };
    assert_eq!(id.cap_type, T::Frame as u8);
    assert_eq!((id.base, id.bytes), (RAM_BASE + RAM_BYTES / 2, 0x2000));
    assert_eq!(id.rights, Rights::all().bits());
    // Mint read-only, map into a PT.
    e.s.invoke(
        root,
        cap(20),
        CapOp::Mint.into(),
        [dest(22), Rights::READ.bits().into(), 0, 0],
    )
    .unwrap();
    e.s.invoke(
        root,
        cap(1),
        CapOp::Retype.into(),
        [
            abi::pack_retype_word(T::VNodePt, 1),
            0x10000,
            4096,
            dest(23),
        ],
    )
    .unwrap();
    let w = abi::pack_map_word(7, 2, Rights::READ | Rights::WRITE);
    assert_eq!(
        e.s.invoke(root, cap(23), CapOp::Map.into(), [cap(22), w, 0, 0]),
        Err(E::InsufficientRights)
    );
    let out =
        e.s.invoke(root, cap(23), CapOp::Map.into(), [cap(20), w, 0, 0])
            .unwrap();
    assert!(matches!(out, Outcome::Mapped(m) if m.first_entry == 7 && m.count == 2));
    // Bad words.
    assert_eq!(
        e.s.invoke(root, cap(1), 99, [0; 4]),
        Err(E::InvalidOperation)
    );
    assert_eq!(
        e.s.invoke(root, 1 << 50, CapOp::Delete.into(), [0; 4]),
        Err(E::InvalidArgument)
    );
    assert_eq!(
        e.s.invoke(root, cap(20), CapOp::Mint.into(), [dest(24), 1 << 20, 0, 0]),
        Err(E::InvalidArgument)
    );
    // Revoke via the ABI reports the mapping; delete empties the slot.
    let out =
        e.s.invoke(root, cap(20), CapOp::Revoke.into(), [0; 4])
            .unwrap();
    let Outcome::Deleted(rep) = out else { panic!() };
    assert_eq!(rep.deleted, 1);
    assert!(rep.unmapped.is_empty());
    let out =
        e.s.invoke(root, cap(20), CapOp::Delete.into(), [0; 4])
            .unwrap();
    let Outcome::Deleted(rep) = out else { panic!() };
    assert_eq!(rep.unmapped.len(), 1);
    assert_eq!(
        e.s.invoke(root, cap(20), CapOp::Delete.into(), [0; 4]),
        Err(E::EmptySlot)
    );
    let w = abi::pack_map_word(7, 2, Rights::empty());
    assert_eq!(
        e.s.invoke(root, cap(23), CapOp::Unmap.into(), [w, 0, 0, 0]),
        Err(E::NotMapped)
    );
    e.check();
}

#[test]
fn limits() {
    let mut e = Env::new();
    let live = e.s.live_caps();
    e.s.set_limits(live + 2, 1);
    assert_eq!(e.rt(1, T::Frame, 0, 4096, 3, 20), Err(E::LimitReached));
    e.pt_and_frame();
    assert_eq!(
        e.rt(1, T::Frame, 0x10000, 4096, 1, 20),
        Err(E::LimitReached)
    );
    e.s.map(e.slot(11), e.slot(10), 0, Rights::READ, 0, 1)
        .unwrap();
    assert_eq!(
        e.s.map(e.slot(11), e.slot(10), 1, Rights::READ, 0, 1),
        Err(E::LimitReached)
    );
    assert_eq!(
        e.s.retype(
            e.slot(1),
            retype(T::Frame, 0, 4096, MAX_RETYPE_COUNT + 1),
            e.slot(20),
            Origin::User
        ),
        Err(E::LimitReached)
    );
    e.check();
}

#[test]
fn large_revoke_is_not_quadratic() {
    let mut s = CapState::new(0, MAX_KERNEL_SLOTS);
    let n: u32 = 40_000;
    s.insert_original(
        s.kernel_slot(0),
        Object::Ram {
            base: 0x1000_0000,
            bytes: u64::from(n) * 4096,
        },
    )
    .unwrap();
    s.retype(
        s.kernel_slot(0),
        retype(T::Frame, 0, 4096, n),
        s.kernel_slot(1),
        Origin::User,
    )
    .unwrap();
    assert_eq!(s.live_caps(), n as usize + 1);
    let rep = s.revoke(s.kernel_slot(0), Origin::User).unwrap();
    assert_eq!(rep.deleted, n as usize);
    assert!(rep.freed.iter().all(|f| f.has_local_ancestor));
    s.check_invariants().unwrap();
}

#[test]
fn revoke_range_deletes_what_lies_inside_and_keeps_ancestors() {
    let mut e = Env::new();
    let base = RAM_BASE + RAM_BYTES / 2;
    // A 64 KiB RAM child at the start of the user RAM, and two frames from it, one mapped.
    e.rt(1, T::Ram, 0, 0x10000, 1, 10).unwrap();
    e.rt(10, T::Frame, 0, 0x1000, 2, 11).unwrap();
    e.rt(1, T::VNodePt, 0x20000, 0x1000, 1, 20).unwrap();
    e.s.map(e.slot(11), e.slot(20), 0, RW, 0, 1).unwrap();
    // A frame outside the range stays.
    e.rt(1, T::Frame, 0x30000, 0x1000, 1, 21).unwrap();
    let before = e.s.live_caps();
    let report = e.s.revoke_range(base, 0x10000).unwrap();
    assert_eq!(report.deleted, 3, "the RAM child and its two frames");
    assert_eq!(report.unmapped.len(), 1, "the frame's mapping is cleared");
    assert_eq!(e.s.live_caps(), before - 3);
    for i in [10, 11, 12] {
        assert_eq!(e.s.cap(e.slot(i)).err(), Some(E::EmptySlot));
    }
    // The ancestor (user RAM), the page table and the outside frame stay.
    assert!(e.s.cap(e.slot(1)).is_ok());
    assert!(e.s.cap(e.slot(20)).is_ok());
    assert!(e.s.cap(e.slot(21)).is_ok());
    e.check();
    assert_eq!(e.s.revoke_range(base, 0), Err(E::InvalidSize));
    assert_eq!(e.s.revoke_range(u64::MAX, 2), Err(E::InvalidSize));
}

#[test]
fn port_io_and_irq_operations() {
    let mut e = Env::new();
    let root = e.root;
    let k = e.slot(30);
    e.s.insert_original(k, Object::Kernel).unwrap();
    e.s.retype(k, retype(T::Io, 0x3f8, 8, 1), e.slot(50), Origin::User)
        .unwrap();
    e.s.retype(k, retype(T::Irq, 0x40, 1, 1), e.slot(51), Origin::User)
        .unwrap();
    let cap = |a: u32| CapRef::with_depth(a, 8).pack();
    let io = |s: &mut CapState, op: CapOp, port: u64, width: u64, value: u64| {
        s.invoke(root, cap(50), op as u64, [port, width, value, 0])
    };
    assert_eq!(
        io(&mut e.s, CapOp::IoIn, 0x3fd, 1, 0),
        Ok(Outcome::Io {
            port: 0x3fd,
            width: 1,
            write: false,
            value: 0
        })
    );
    assert_eq!(
        io(&mut e.s, CapOp::IoOut, 0x3f8, 1, 0x41),
        Ok(Outcome::Io {
            port: 0x3f8,
            width: 1,
            write: true,
            value: 0x41
        })
    );
    // Outside the range, straddling its end, bad widths, values too wide.
    assert_eq!(
        io(&mut e.s, CapOp::IoIn, 0x3f7, 1, 0),
        Err(CapError::OutOfRange)
    );
    assert_eq!(
        io(&mut e.s, CapOp::IoIn, 0x3fe, 4, 0),
        Err(CapError::OutOfRange)
    );
    assert_eq!(
        io(&mut e.s, CapOp::IoIn, 0x1_0000, 1, 0),
        Err(CapError::OutOfRange)
    );
    assert_eq!(
        io(&mut e.s, CapOp::IoIn, 0x3f8, 3, 0),
        Err(CapError::InvalidArgument)
    );
    assert_eq!(
        io(&mut e.s, CapOp::IoOut, 0x3f8, 1, 0x100),
        Err(CapError::InvalidArgument)
    );
    // Without the write right only reads are allowed.
    e.s.mint(e.slot(50), e.slot(52), Rights::READ, 0).unwrap();
    assert!(e
        .s
        .invoke(root, cap(52), CapOp::IoIn as u64, [0x3f8, 1, 0, 0])
        .is_ok());
    assert_eq!(
        e.s.invoke(root, cap(52), CapOp::IoOut as u64, [0x3f8, 1, 0, 0]),
        Err(CapError::InsufficientRights)
    );
    // IRQ operations on the IRQ capability only.
    assert_eq!(
        e.s.invoke(root, cap(51), CapOp::IrqBind as u64, [0; 4]),
        Ok(Outcome::IrqBind { vector: 0x40 })
    );
    assert_eq!(
        e.s.invoke(root, cap(51), CapOp::IrqWait as u64, [0; 4]),
        Ok(Outcome::IrqWait { vector: 0x40 })
    );
    assert_eq!(
        e.s.invoke(root, cap(50), CapOp::IrqWait as u64, [0; 4]),
        Err(CapError::WrongType)
    );
    assert_eq!(
        e.s.invoke(root, cap(51), CapOp::IoIn as u64, [0x3f8, 1, 0, 0]),
        Err(CapError::WrongType)
    );
    e.check();
}

#[test]
fn device_frames_from_the_kernel_capability_only_over_device_memory() {
    let mut e = Env::new();
    let k = e.slot(30);
    e.s.insert_original(k, Object::Kernel).unwrap();
    let fb = 0xfd00_0000u64;
    // Nothing declared yet: no device memory at all.
    assert_eq!(
        e.s.retype(
            k,
            retype(T::DevFrame, fb, 4096, 1),
            e.slot(50),
            Origin::User
        ),
        Err(E::OutOfRange)
    );
    e.s.add_device_region(fb, 16 * 4096);
    // Unaligned, sizes not whole pages, beyond the region, straddling its end.
    assert_eq!(
        e.s.retype(
            k,
            retype(T::DevFrame, fb + 8, 4096, 1),
            e.slot(50),
            Origin::User
        ),
        Err(E::InvalidArgument)
    );
    assert_eq!(
        e.s.retype(k, retype(T::DevFrame, fb, 100, 1), e.slot(50), Origin::User),
        Err(E::InvalidSize)
    );
    assert_eq!(
        e.s.retype(k, retype(T::DevFrame, fb, 0, 1), e.slot(50), Origin::User),
        Err(E::InvalidSize)
    );
    assert_eq!(
        e.s.retype(
            k,
            retype(T::DevFrame, fb + 15 * 4096, 8192, 1),
            e.slot(50),
            Origin::User
        ),
        Err(E::OutOfRange)
    );
    assert_eq!(
        e.s.retype(
            k,
            retype(T::DevFrame, !4095, 4096, 4),
            e.slot(50),
            Origin::User
        ),
        Err(E::OutOfRange)
    );
    // The whole region, and a second DevFrame over part of it (device memory is not
    // carved out of the Kernel capability; both are usable).
    e.s.retype(
        k,
        retype(T::DevFrame, fb, 16 * 4096, 1),
        e.slot(50),
        Origin::User,
    )
    .unwrap();
    assert!(matches!(
        e.s.cap(e.slot(50)).unwrap().object,
        Object::DevFrame { base, bytes } if base == fb && bytes == 16 * 4096
    ));
    e.s.retype(
        k,
        retype(T::DevFrame, fb, 4096, 2),
        e.slot(51),
        Origin::User,
    )
    .unwrap();
    e.check();
    e.s.delete(e.slot(50), Origin::User).unwrap();
    assert!(e.s.cap(e.slot(51)).is_ok());
    e.check();
}

#[test]
fn the_kernel_half_of_a_pml4_cannot_be_mapped_into() {
    let mut e = Env::new();
    e.rt(1, T::VNodePml4, 0, 4096, 1, 10).unwrap();
    e.rt(1, T::VNodePdpt, 0x1000, 4096, 1, 11).unwrap();
    let (pml4, pdpt) = (e.slot(10), e.slot(11));
    let last = USER_PML4_ENTRIES - 1;
    assert_eq!(
        e.s.map(pdpt, pml4, USER_PML4_ENTRIES, Rights::READ, 0, 1),
        Err(E::OutOfRange)
    );
    assert_eq!(
        e.s.map(pdpt, pml4, 511, Rights::READ, 0, 1),
        Err(E::OutOfRange)
    );
    let m = e.s.map(pdpt, pml4, last, Rights::READ, 0, 1).unwrap();
    assert_eq!(
        (m.table_level, m.first_entry, m.phys),
        (VNodeLevel::Pml4, last, RAM_BASE + 0x80_0000 + 0x1000)
    );
    // Lower levels have no such limit.
    e.rt(1, T::VNodePd, 0x2000, 4096, 1, 12).unwrap();
    e.s.map(e.slot(12), pdpt, 511, Rights::READ, 0, 1).unwrap();
    e.check();
}

#[test]
fn find_free_skips_descendants_and_honours_alignment() {
    let mut e = Env::new();
    let ram = e.slot(1);
    let base = RAM_BASE + RAM_BYTES / 2;
    let end = RAM_BASE + RAM_BYTES;
    assert_eq!(e.s.find_free(ram, 4096, 4096), Ok(Some(base)));
    assert_eq!(e.s.free_bytes(ram), Ok(RAM_BYTES / 2));
    // Pages 0, 1 and 3 used: one page fits at 2, two pages only after 3.
    e.rt(1, T::Frame, 0, 0x2000, 1, 10).unwrap();
    e.rt(1, T::VNodePt, 0x3000, 4096, 1, 11).unwrap();
    assert_eq!(e.s.find_free(ram, 4096, 4096), Ok(Some(base + 0x2000)));
    assert_eq!(e.s.find_free(ram, 0x2000, 4096), Ok(Some(base + 0x4000)));
    assert_eq!(
        e.s.find_free(ram, 0x2000, 0x1_0000),
        Ok(Some(base + 0x1_0000))
    );
    assert_eq!(e.s.free_bytes(ram), Ok(RAM_BYTES / 2 - 0x3000));
    // Nested descendants (a Frame inside a Frame) count once.
    e.rt(10, T::Frame, 0, 0x1000, 1, 12).unwrap();
    assert_eq!(e.s.free_bytes(ram), Ok(RAM_BYTES / 2 - 0x3000));
    // The answer is where a retype succeeds.
    let at = e.s.find_free(ram, 0x2000, 4096).unwrap().unwrap();
    e.rt(1, T::Frame, at - base, 0x2000, 1, 13).unwrap();
    // Exactly the rest fits; one page more does not.
    let rest = end - (base + 0x6000);
    assert_eq!(e.s.find_free(ram, rest, 4096), Ok(Some(base + 0x6000)));
    assert_eq!(e.s.find_free(ram, rest + 4096, 4096), Ok(None));
    // Bad requests and non-memory capabilities are errors.
    assert_eq!(e.s.find_free(ram, 0, 4096), Err(E::InvalidArgument));
    assert_eq!(e.s.find_free(ram, 4096, 3), Err(E::InvalidArgument));
    assert_eq!(e.s.find_free(ram, 4096, 512), Err(E::InvalidArgument));
    assert_eq!(e.s.find_free(ram, u64::MAX, 4096), Ok(None));
    assert_eq!(e.s.find_free(e.slot(200), 4096, 4096), Err(E::EmptySlot));
    // Deleting frees the space again.
    for s in [13, 12, 11, 10] {
        e.s.delete(e.slot(s), Origin::User).unwrap();
    }
    assert_eq!(e.s.free_bytes(ram), Ok(RAM_BYTES / 2));
    e.check();
}

#[test]
fn a_programs_revoke_does_not_take_kernel_capabilities() {
    let mut e = Env::new();
    // Root slot 0 is a copy of the root CNode capability the kernel holds in kernel slot 1.
    assert_eq!(e.s.revoke_by_program(e.slot(0)), Err(E::InsufficientRights));
    assert!(e.s.cap(e.root).is_ok());
    // Through the invocation ABI too.
    let root = e.root;
    assert_eq!(
        e.s.invoke(
            root,
            CapRef::with_depth(0, 8).pack(),
            CapOp::Revoke as u64,
            [0; 4]
        ),
        Err(E::InsufficientRights)
    );
    // The same for descendants: a Frame the kernel keeps, retyped from the user's RAM.
    e.s.retype(
        e.slot(1),
        retype(T::Frame, 0, 4096, 1),
        e.s.kernel_slot(9),
        Origin::User,
    )
    .unwrap();
    assert_eq!(e.s.revoke_by_program(e.slot(1)), Err(E::InsufficientRights));
    // What the program alone holds it can still revoke.
    e.rt(1, T::Frame, 0x1000, 0x1000, 1, 10).unwrap();
    e.s.copy(e.slot(10), e.slot(11)).unwrap();
    e.s.revoke_by_program(e.slot(10)).unwrap();
    assert_eq!(e.s.cap(e.slot(11)), Err(E::EmptySlot));
    // Nor from a CNode the kernel declared its own.
    e.rt(1, T::CNode, 0x10000, cnode_bytes(6), 1, 20).unwrap();
    let private = e.s.cnode_of(e.slot(20)).unwrap();
    e.rt(1, T::VNodePml4, 0x20000, 4096, 1, 21).unwrap();
    let kept = Slot {
        cnode: private,
        index: 0,
    };
    e.s.copy(e.slot(21), kept).unwrap();
    e.s.revoke_by_program(e.slot(21)).unwrap();
    assert!(e.s.cap(kept).is_err(), "not protected yet");
    e.s.copy(e.slot(21), kept).unwrap();
    e.s.protect(private).unwrap();
    assert_eq!(
        e.s.revoke_by_program(e.slot(21)),
        Err(E::InsufficientRights)
    );
    assert!(e.s.cap(kept).is_ok());
    e.s.delete(e.slot(21), Origin::User).unwrap();
    assert!(
        e.s.cap(kept).is_ok(),
        "deleting the program's copy leaves the kernel's"
    );
    e.check();
    // The kernel itself, and the monitor acting on an agreement, may.
    e.s.revoke(e.slot(1), Origin::User).unwrap();
    assert_eq!(e.s.cap(e.s.kernel_slot(9)), Err(E::EmptySlot));
    e.check();
}
