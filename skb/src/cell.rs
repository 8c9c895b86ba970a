//! The term representation: cells in a flat store.
//!
//! A term lives in a `Vec<Cell>` (the machine's heap, or a [`Stored`] block). A compound term is
//! a [`Cell::Fun`] header followed by its arguments; it is referred to by a [`Cell::Str`] pointing
//! at the header. An unbound variable is a [`Cell::Ref`] pointing at itself; a bound one points
//! (possibly through a chain) at its value. Argument cells are never headers.

use crate::atom::Atom;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// One cell of a term store.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Cell {
    /// Variable reference (self-reference when unbound).
    Ref(u32),
    /// Atom.
    Atom(Atom),
    /// Integer.
    Int(i64),
    /// Compound term: index of its [`Cell::Fun`] header.
    Str(u32),
    /// Compound header: name and arity; the arguments follow.
    Fun(Atom, u32),
}

impl Cell {
    #[inline]
    pub(crate) fn reloc(self, base: u32) -> Cell {
        match self {
            Cell::Ref(i) => Cell::Ref(i + base),
            Cell::Str(i) => Cell::Str(i + base),
            c => c,
        }
    }
}

/// Follow variable bindings in `store`.
#[inline]
pub(crate) fn deref(store: &[Cell], mut c: Cell) -> Cell {
    while let Cell::Ref(a) = c {
        let v = store[a as usize];
        if v == c {
            return c;
        }
        c = v;
    }
    c
}

/// A self-contained, relocatable term block: `Ref(i)` and `Str(i)` index into `cells`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stored {
    pub(crate) cells: Vec<Cell>,
    /// Roots into `cells` (one for a term, two for a clause head and body).
    pub(crate) roots: Vec<Cell>,
    /// Number of distinct variables.
    pub(crate) nvars: u32,
}

impl Stored {
    /// Copy this block onto `heap`, returning the relocated roots' first element.
    pub(crate) fn load_root(&self, heap: &mut Vec<Cell>, i: usize) -> Cell {
        let base = heap.len() as u32;
        heap.extend(self.cells.iter().map(|c| c.reloc(base)));
        self.roots[i].reloc(base)
    }

    /// Copy this block onto `heap`, returning all relocated roots.
    pub(crate) fn load(&self, heap: &mut Vec<Cell>) -> Vec<Cell> {
        let base = heap.len() as u32;
        heap.extend(self.cells.iter().map(|c| c.reloc(base)));
        self.roots.iter().map(|r| r.reloc(base)).collect()
    }

    pub(crate) fn size(&self) -> usize {
        self.cells.len()
    }
}

/// Copies terms out of a store into a fresh [`Stored`] block, sharing variables between all
/// the roots copied through the same copier. No recursion: deep terms are fine.
pub(crate) struct Copier<'a> {
    src: &'a [Cell],
    out: Stored,
    vars: BTreeMap<u32, u32>,
    stack: Vec<(u32, u32, u32)>,
    /// Maximum number of cells to produce (cyclic or huge terms stop the copy).
    cap: usize,
    pub(crate) overflow: bool,
}

impl<'a> Copier<'a> {
    pub(crate) fn new(src: &'a [Cell]) -> Self {
        Copier {
            src,
            out: Stored::default(),
            vars: BTreeMap::new(),
            stack: Vec::new(),
            cap: usize::MAX,
            overflow: false,
        }
    }

    /// A copier that gives up (setting `overflow`) after producing `cap` cells.
    pub(crate) fn with_cap(src: &'a [Cell], cap: usize) -> Self {
        let mut c = Copier::new(src);
        c.cap = cap;
        c
    }

    fn translate(&mut self, c: Cell) -> Cell {
        match deref(self.src, c) {
            Cell::Ref(a) => {
                if let Some(&k) = self.vars.get(&a) {
                    return Cell::Ref(k);
                }
                let k = self.out.cells.len() as u32;
                self.out.cells.push(Cell::Ref(k));
                self.vars.insert(a, k);
                self.out.nvars += 1;
                Cell::Ref(k)
            }
            Cell::Str(p) => {
                let Cell::Fun(f, n) = self.src[p as usize] else {
                    return Cell::Atom(crate::atom::NIL);
                };
                let q = self.out.cells.len() as u32;
                self.out.cells.push(Cell::Fun(f, n));
                self.out
                    .cells
                    .extend(core::iter::repeat_n(Cell::Int(0), n as usize));
                self.stack.push((p, q, n));
                Cell::Str(q)
            }
            c => c,
        }
    }

    /// Copy one more root.
    pub(crate) fn add_root(&mut self, c: Cell) -> Cell {
        let r = self.translate(c);
        while let Some((p, q, n)) = self.stack.pop() {
            if self.out.cells.len() > self.cap {
                self.overflow = true;
                self.stack.clear();
                break;
            }
            for i in 1..=n {
                let v = self.translate(self.src[(p + i) as usize]);
                self.out.cells[(q + i) as usize] = v;
            }
        }
        self.out.roots.push(r);
        r
    }

    pub(crate) fn finish(self) -> Stored {
        self.out
    }
}

/// Copy a single term out of `src`; `None` if it needs more than `cap` cells (or is cyclic).
pub(crate) fn copy_out(src: &[Cell], c: Cell, cap: usize) -> Option<Stored> {
    let mut cp = Copier::with_cap(src, cap);
    cp.add_root(c);
    if cp.overflow {
        None
    } else {
        Some(cp.finish())
    }
}

/// Stored block holding one term built by a closure on a scratch store.
pub(crate) fn build(f: impl FnOnce(&mut Vec<Cell>) -> Cell) -> Stored {
    let mut cells = Vec::new();
    let root = f(&mut cells);
    let nvars = cells
        .iter()
        .enumerate()
        .filter(|(i, c)| **c == Cell::Ref(*i as u32))
        .count() as u32;
    Stored {
        cells,
        roots: alloc::vec![root],
        nvars,
    }
}

/// Push a compound `name(args...)` onto `store`.
pub(crate) fn push_struct(store: &mut Vec<Cell>, name: Atom, args: &[Cell]) -> Cell {
    let p = store.len() as u32;
    store.push(Cell::Fun(name, args.len() as u32));
    store.extend_from_slice(args);
    Cell::Str(p)
}

/// Push a fresh unbound variable onto `store`.
pub(crate) fn push_var(store: &mut Vec<Cell>) -> Cell {
    let a = store.len() as u32;
    store.push(Cell::Ref(a));
    Cell::Ref(a)
}

/// Push a list of `items` ending in `tail` onto `store`.
pub(crate) fn push_list(store: &mut Vec<Cell>, items: &[Cell], tail: Cell) -> Cell {
    let mut t = tail;
    for &it in items.iter().rev() {
        t = push_struct(store, crate::atom::DOT, &[it, t]);
    }
    t
}
