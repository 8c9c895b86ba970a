//! Random operations with random arguments over a small CSpace: nothing may panic, and the
//! invariants must hold throughout.

use alloc::vec::Vec;
extern crate std;

use crate::abi::{self, CapError, CapRef, CapType, Dest, Rights};
use crate::*;

/// xorshift64*: fixed seed, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const RAM: u64 = 0x10_0000;
const RAM_BYTES: u64 = 0x20_0000;
const DEV: u64 = 0xfe00_0000;
const ROOT_RADIX: u8 = 6;

struct World {
    s: CapState,
    root: Slot,
    /// Slot handles seen so far (some go stale as CNodes die).
    seen: Vec<Slot>,
}

impl World {
    fn new(core: u32) -> World {
        let mut s = CapState::new(core, 32);
        s.insert_original(
            s.kernel_slot(0),
            Object::Ram {
                base: RAM,
                bytes: RAM_BYTES,
            },
        )
        .unwrap();
        s.insert_original(
            s.kernel_slot(1),
            Object::DevFrame {
                base: DEV,
                bytes: 0x10000,
            },
        )
        .unwrap();
        s.insert_original(s.kernel_slot(2), Object::Kernel).unwrap();
        let root = s.kernel_slot(3);
        s.retype(
            s.kernel_slot(0),
            Retype {
                new_type: CapType::CNode,
                offset: 0,
                object_size: cnode_bytes(ROOT_RADIX),
                count: 1,
            },
            root,
            Origin::Monitor,
        )
        .unwrap();
        let rc = s.cnode_of(root).unwrap();
        // The user gets RAM (the rest of it), the DevFrame and the Kernel cap.
        s.retype(
            s.kernel_slot(0),
            Retype {
                new_type: CapType::Ram,
                offset: 0x10000,
                object_size: RAM_BYTES - 0x10000,
                count: 1,
            },
            Slot {
                cnode: rc,
                index: 1,
            },
            Origin::Monitor,
        )
        .unwrap();
        s.copy(
            s.kernel_slot(1),
            Slot {
                cnode: rc,
                index: 2,
            },
        )
        .unwrap();
        s.copy(
            s.kernel_slot(2),
            Slot {
                cnode: rc,
                index: 3,
            },
        )
        .unwrap();
        s.copy(
            root,
            Slot {
                cnode: rc,
                index: 0,
            },
        )
        .unwrap();
        World {
            s,
            root,
            seen: Vec::new(),
        }
    }

    /// Occupied slots of the root CNode and of the CNodes it holds.
    fn occupied(&self) -> Vec<Slot> {
        let mut v = Vec::new();
        let Ok(rc) = self.s.cnode_of(self.root) else {
            return v;
        };
        for i in 0..64 {
            let s = Slot {
                cnode: rc,
                index: i,
            };
            if let Ok(c) = self.s.cap(s) {
                v.push(s);
                if let Object::CNode { .. } = c.object {
                    if let Ok(inner) = self.s.cnode_of(s) {
                        if inner != rc {
                            let n = self.s.cnode_slots(inner).unwrap_or(0).min(70);
                            v.extend(
                                (0..n)
                                    .map(|j| Slot {
                                        cnode: inner,
                                        index: j,
                                    })
                                    .filter(|s| self.s.cap(*s).is_ok()),
                            );
                        }
                    }
                }
            }
        }
        v
    }

    /// A slot likely to hold a capability.
    fn full_slot(&mut self, r: &mut Rng) -> Slot {
        if r.chance(60) {
            let occ = self.occupied();
            if !occ.is_empty() {
                return occ[r.below(occ.len() as u64) as usize];
            }
        }
        self.slot(r)
    }

    /// An occupied slot whose capability satisfies `f`, if any.
    fn find(&self, r: &mut Rng, f: impl Fn(&Object) -> bool) -> Option<Slot> {
        let occ: Vec<Slot> = self
            .occupied()
            .into_iter()
            .filter(|s| self.s.cap(*s).is_ok_and(|c| f(&c.object)))
            .collect();
        if occ.is_empty() {
            None
        } else {
            Some(occ[r.below(occ.len() as u64) as usize])
        }
    }

    /// A slot likely to be empty.
    fn free_slot(&mut self, r: &mut Rng) -> Slot {
        if r.chance(70) {
            if let Ok(rc) = self.s.cnode_of(self.root) {
                for _ in 0..8 {
                    let s = Slot {
                        cnode: rc,
                        index: r.below(64) as u32,
                    };
                    if self.s.cap(s).is_err() {
                        return s;
                    }
                }
            }
        }
        self.slot(r)
    }

    /// Any slot handle: in the root, in a CNode it holds, in the kernel CNode, or one seen
    /// before (maybe stale).
    fn slot(&mut self, r: &mut Rng) -> Slot {
        let root_cnode = self.s.cnode_of(self.root).ok();
        let pick = r.below(100);
        let slot = match (pick, root_cnode) {
            (0..=69, Some(rc)) => Slot {
                cnode: rc,
                index: r.below(66) as u32,
            },
            (70..=84, Some(rc)) => {
                let inner = self
                    .s
                    .cnode_of(Slot {
                        cnode: rc,
                        index: r.below(64) as u32,
                    })
                    .ok();
                match inner {
                    Some(c) => Slot {
                        cnode: c,
                        index: r.below(70) as u32,
                    },
                    None => self.s.kernel_slot(r.below(34) as u32),
                }
            }
            (85..=89, _) | (_, None) => self.s.kernel_slot(r.below(34) as u32),
            _ => match self.seen.len() {
                0 => self.s.kernel_slot(0),
                n => self.seen[r.below(n as u64) as usize],
            },
        };
        if self.seen.len() < 256 {
            self.seen.push(slot);
        } else {
            let i = r.below(256) as usize;
            self.seen[i] = slot;
        }
        slot
    }
}

fn cap_type(r: &mut Rng) -> CapType {
    if r.chance(60) {
        [
            CapType::Ram,
            CapType::Frame,
            CapType::CNode,
            CapType::VNodePt,
            CapType::VNodePd,
            CapType::Dispatcher,
            CapType::EndPoint,
            CapType::DevFrame,
        ][r.below(8) as usize]
    } else {
        CapType::ALL[r.below(CapType::ALL.len() as u64) as usize]
    }
}

fn size(r: &mut Rng) -> u64 {
    match r.below(10) {
        0..=3 => 4096 << r.below(4),
        4 => cnode_bytes(MIN_CNODE_RADIX + r.below(3) as u8),
        5 => 0,
        6 => 1 + r.below(8),
        7 => r.next(),
        _ => 4096 * (1 + r.below(40)),
    }
}

fn offset(r: &mut Rng) -> u64 {
    match r.below(10) {
        0..=6 => 4096 * r.below(600),
        7 => r.below(64),
        8 => r.next(),
        _ => 0,
    }
}

fn rights(r: &mut Rng) -> Rights {
    if r.chance(50) {
        Rights::all()
    } else {
        Rights::from_bits_truncate(r.next() as u16)
    }
}

fn origin(r: &mut Rng) -> Origin {
    if r.chance(80) {
        Origin::User
    } else {
        Origin::Monitor
    }
}

fn object(r: &mut Rng) -> Object {
    let base = RAM + 4096 * r.below(600);
    match r.below(9) {
        0 => Object::Frame {
            base,
            bytes: 4096 << r.below(3),
        },
        1 => Object::Ram {
            base,
            bytes: 4096 << r.below(5),
        },
        2 => Object::VNode {
            level: VNodeLevel::Pt,
            base,
        },
        3 => Object::Dispatcher {
            base,
            id: r.below(4),
        },
        4 => Object::EndPoint {
            dispatcher_base: base,
            dispatcher: base / 4096,
            badge: r.below(3),
        },
        5 => Object::Io {
            first: r.below(100) as u16,
            last: r.below(200) as u16,
        },
        6 => Object::Irq {
            vector: r.below(300) as u32,
        },
        7 => Object::IrqSrc {
            first: r.below(40) as u32,
            last: r.below(80) as u32,
        },
        _ => Object::Frame {
            base: r.next() & !0xfff,
            bytes: r.next() & !0xfff,
        },
    }
}

fn capref(r: &mut Rng) -> u64 {
    match r.below(10) {
        0..=5 => CapRef::with_depth(r.below(64) as u32, ROOT_RADIX).pack(),
        6..=7 => CapRef::with_depth(r.below(1 << 12) as u32, 2 * ROOT_RADIX).pack(),
        8 => CapRef::with_depth(r.below(1 << 16) as u32, r.below(40) as u8).pack(),
        _ => r.next(),
    }
}

fn dest(r: &mut Rng) -> u64 {
    if r.chance(90) {
        Dest {
            cnode: CapRef::with_depth(0, ROOT_RADIX),
            index: r.below(66) as u32,
        }
        .pack()
        .unwrap_or(0)
    } else {
        r.next()
    }
}

#[derive(Default)]
struct Tally {
    ok: [u32; 16],
    err: [u32; 16],
    why: [[u32; 23]; 16],
}

impl Tally {
    fn add<T>(&mut self, op: usize, res: &Result<T, CapError>) {
        if res.is_ok() {
            self.ok[op] += 1;
        } else {
            self.err[op] += 1;
            if let Err(e) = res {
                self.why[op][u64::from(*e) as usize] += 1;
            }
        }
    }
}

fn step(w: &mut World, r: &mut Rng, t: &mut Tally) {
    let op = r.below(16) as usize;
    match op {
        0 | 1 => {
            let dst = w.free_slot(r);
            let sensible = if r.chance(60) {
                w.find(r, |o| {
                    matches!(
                        o,
                        Object::Ram { .. } | Object::Frame { .. } | Object::DevFrame { .. }
                    )
                })
            } else {
                None
            };
            let (src, req) = match sensible.and_then(|s| Some((s, w.s.cap(s).ok()?))) {
                Some((s, c)) => {
                    let (_, bytes) = c.object.phys_range().unwrap_or((0, 4096));
                    let ty = match c.object {
                        Object::Ram { .. } => [
                            CapType::Ram,
                            CapType::Frame,
                            CapType::Frame,
                            CapType::CNode,
                            CapType::VNodePt,
                            CapType::VNodePt,
                            CapType::VNodePd,
                            CapType::Dispatcher,
                        ][r.below(8) as usize],
                        Object::Frame { .. } => CapType::Frame,
                        _ => CapType::DevFrame,
                    };
                    let size = match ty {
                        CapType::CNode => cnode_bytes(MIN_CNODE_RADIX),
                        CapType::Ram | CapType::Frame | CapType::DevFrame => 4096 << r.below(3),
                        _ => 4096,
                    };
                    let pages = (bytes / 4096).max(1);
                    let req = Retype {
                        new_type: ty,
                        offset: 4096 * r.below(pages),
                        object_size: size,
                        count: 1 + r.below(2) as u32,
                    };
                    (s, req)
                }
                None => (
                    w.full_slot(r),
                    Retype {
                        new_type: cap_type(r),
                        offset: offset(r),
                        object_size: size(r),
                        count: if r.chance(90) {
                            1 + r.below(4) as u32
                        } else {
                            r.next() as u32
                        },
                    },
                ),
            };
            let res = w.s.retype(src, req, dst, origin(r));
            if let Ok(done) = &res {
                assert_eq!(done.count, req.count);
                assert!(w.s.cap(dst).is_ok());
            }
            t.add(op, &res);
        }
        2 => {
            let (src, dst) = (w.full_slot(r), w.free_slot(r));
            let res = w.s.copy(src, dst);
            if res.is_ok() {
                assert!(w
                    .s
                    .cap(src)
                    .unwrap()
                    .object
                    .same_object(&w.s.cap(dst).unwrap().object));
            }
            t.add(op, &res);
        }
        3 => {
            let (src, dst) = (w.full_slot(r), w.free_slot(r));
            let rg = rights(r);
            let badge = match r.below(4) {
                0 => abi::pack_guard(r.below(4) as u32, r.below(4) as u8),
                1 => r.next(),
                _ => 0,
            };
            let before = w.s.cap(src).ok();
            let res = w.s.mint(src, dst, rg, badge);
            if res.is_ok() {
                let new = w.s.cap(dst).unwrap();
                assert!(before.unwrap().rights.contains(new.rights));
            }
            t.add(op, &res);
        }
        4 => {
            let s = w.full_slot(r);
            let res = w.s.delete(s, origin(r));
            if res.is_ok() {
                assert_eq!(w.s.cap(s).err(), Some(CapError::EmptySlot));
            }
            t.add(op, &res);
        }
        5 => {
            let s = w.full_slot(r);
            let res = w.s.revoke(s, origin(r));
            if res.is_ok() {
                if let Ok((copies, desc, _)) = w.s.relatives(s) {
                    assert!(copies.is_empty() && desc.is_empty());
                }
            }
            t.add(op, &res);
        }
        6 => {
            let s = w.slot(r);
            let res = w.s.identify(s);
            if let Ok(id) = &res {
                let a = id.to_abi();
                assert_eq!(a.cap_type, id.cap.object.cap_type() as u8);
            }
            t.add(op, &res);
        }
        7 | 8 => {
            let (src, table) = if r.chance(60) {
                let f = w.find(r, |o| {
                    matches!(
                        o,
                        Object::Frame { .. }
                            | Object::DevFrame { .. }
                            | Object::VNode {
                                level: VNodeLevel::Pt,
                                ..
                            }
                    )
                });
                let t = w.find(r, |o| matches!(o, Object::VNode { .. }));
                match (f, t) {
                    (Some(f), Some(t)) => (f, t),
                    _ => (w.full_slot(r), w.full_slot(r)),
                }
            } else {
                (w.full_slot(r), w.full_slot(r))
            };
            let entry = match r.below(10) {
                0..=5 => r.below(8) as u32,
                6..=8 => r.below(520) as u32,
                _ => r.next() as u32,
            };
            let rg = if r.chance(50) {
                Rights::READ | Rights::WRITE
            } else {
                rights(r)
            };
            let off = if r.chance(80) {
                4096 * r.below(4)
            } else {
                r.next()
            };
            let pages = if r.chance(90) {
                1 + r.below(4) as u32
            } else {
                r.next() as u32
            };
            let res = w.s.map(src, table, entry, rg, off, pages);
            t.add(op, &res);
        }
        9 => {
            let table = match w.find(r, |o| matches!(o, Object::VNode { .. })) {
                Some(t) if r.chance(70) => t,
                _ => w.full_slot(r),
            };
            let mut entry = if r.chance(60) {
                r.below(8) as u32
            } else {
                r.below(520) as u32
            };
            let mut pages = 1 + r.below(4) as u32;
            let mut table = table;
            // Often: undo a mapping that exists, through a capability to its table.
            if r.chance(60) {
                let occ = w.occupied();
                let made: Vec<Mapping> = occ
                    .iter()
                    .flat_map(|s| w.s.mappings_of(*s).unwrap_or_default())
                    .collect();
                if !made.is_empty() {
                    let m = made[r.below(made.len() as u64) as usize];
                    let tables: Vec<Slot> = occ
                        .into_iter()
                        .filter(|s| {
                            w.s.cap(*s).is_ok_and(|c| {
                                c.object
                                    == Object::VNode {
                                        level: m.table_level,
                                        base: m.table,
                                    }
                            })
                        })
                        .collect();
                    if !tables.is_empty() {
                        table = tables[r.below(tables.len() as u64) as usize];
                        entry = m.first_entry;
                        pages = m.count;
                    }
                }
            }
            let res = w.s.unmap(table, entry, pages);
            if let Ok(m) = &res {
                assert_eq!((m.first_entry, m.count), (entry, pages));
            }
            t.add(op, &res);
        }
        10 => {
            let s = w.full_slot(r);
            let core = w.s.core();
            let res = match r.below(10) {
                0 => w.s.lock(s),
                1 => {
                    w.s.set_relations(s, Relations::from_bits_truncate(r.next() as u8))
                }
                2 => w.s.set_owner(s, r.below(3) as u32),
                3..=5 => w.s.set_relations(s, Relations::empty()),
                6 => w.s.set_owner(s, core),
                _ => w.s.unlock(s),
            };
            t.add(op, &res);
        }
        11 => {
            let s = w.slot(r);
            let cap = Capability {
                object: object(r),
                rights: rights(r),
                owner: r.below(3) as u32,
            };
            let res =
                w.s.insert_copy(s, cap, Relations::from_bits_truncate(r.next() as u8));
            t.add(op, &res);
        }
        12..=14 => {
            // Raw invocations, half structured, half noise.
            let root = w.root;
            let cap = capref(r);
            let opn = if r.chance(90) {
                1 + r.below(8)
            } else {
                r.next()
            };
            let args = if r.chance(70) {
                [
                    match opn {
                        1 => abi::pack_retype_word(cap_type(r), 1 + r.below(3) as u32),
                        2 | 3 => dest(r),
                        7 => capref(r),
                        8 => abi::pack_map_word(
                            r.below(520) as u16,
                            1 + r.below(3) as u16,
                            Rights::empty(),
                        ),
                        _ => r.next(),
                    },
                    match opn {
                        1 => offset(r),
                        3 => u64::from(rights(r).bits()),
                        7 => abi::pack_map_word(
                            r.below(520) as u16,
                            1 + r.below(3) as u16,
                            rights(r) & Rights::MAP_MASK,
                        ),
                        _ => r.next(),
                    },
                    match opn {
                        1 => size(r),
                        3 => r.below(3),
                        7 => 4096 * r.below(3),
                        _ => r.next(),
                    },
                    if opn == 1 { dest(r) } else { r.next() },
                ]
            } else {
                [r.next(), r.next(), r.next(), r.next()]
            };
            let res = w.s.invoke(root, cap, opn, args);
            t.add(op, &res);
        }
        _ if r.chance(50) => {
            // A gap find_free reports takes a retype of that size there.
            let s = w.full_slot(r);
            let size = (1 + r.below(8)) * 4096;
            let align = 4096 << r.below(4);
            let res = w.s.find_free(s, size, align);
            if let (Ok(Some(at)), Ok(c)) = (res, w.s.cap(s)) {
                assert_eq!(at % align, 0);
                let (base, bytes) = c.object.phys_range().unwrap_or((0, 0));
                assert!(
                    at >= base && at + size <= base + bytes,
                    "{at:#x} outside {c:?}"
                );
                let dst = w.free_slot(r);
                let req = Retype {
                    new_type: CapType::Frame,
                    offset: at - base,
                    object_size: size,
                    count: 1,
                };
                let got = w.s.retype(s, req, dst, Origin::User);
                assert!(
                    got != Err(CapError::RetypeConflict),
                    "find_free answered {at:#x} for {size:#x} in {c:?}, retype said {got:?}"
                );
                t.add(op, &got);
            }
            t.add(op, &res);
        }
        _ => {
            let res =
                w.s.resolve(w.root, CapRef::unpack(capref(r)).unwrap_or(CapRef::full(0)));
            t.add(op, &res);
        }
    }
}

#[test]
fn random_operations_never_panic_and_keep_invariants() {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut t = Tally::default();
    let mut w = World::new(0);
    const STEPS: u32 = 100_000;
    let mut max_caps = 0;
    for i in 0..STEPS {
        // Start over now and then, and soon after the CSpace root is gone.
        if i % 2000 == 1999 || (w.s.cnode_of(w.root).is_err() && r.chance(5)) {
            w = World::new(r.below(3) as u32);
        }
        step(&mut w, &mut r, &mut t);
        max_caps = max_caps.max(w.s.live_caps());
        if i % 10 == 0 {
            if let Err(m) = w.s.check_invariants() {
                panic!("step {i}: {m}");
            }
        }
    }
    if let Err(m) = w.s.check_invariants() {
        panic!("end: {m}");
    }
    // The fuzzer must reach the interesting paths, not only error returns.
    let names = [
        "retype",
        "retype",
        "copy",
        "mint",
        "delete",
        "revoke",
        "identify",
        "map",
        "map",
        "unmap",
        "monitor",
        "insert_copy",
        "invoke",
        "invoke",
        "invoke",
        "resolve",
    ];
    for (i, n) in names.iter().enumerate() {
        std::println!("{n}: {} ok, {} errors {:?}", t.ok[i], t.err[i], t.why[i]);
    }
    for (i, n) in names.iter().enumerate() {
        assert!(
            t.ok[i] > 20,
            "{n}: only {} successes ({} errors)",
            t.ok[i],
            t.err[i]
        );
        assert!(t.err[i] > 20, "{n}: only {} errors", t.err[i]);
    }
    assert!(max_caps > 30, "state stayed tiny: {max_caps}");
}
