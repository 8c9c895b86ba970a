//! Standard order of terms: Var < Number < Atom < Compound; compounds by arity, then name, then
//! arguments left to right. Atoms compare by their text (code point order).

use crate::cell::{deref, Cell};
use crate::machine::Machine;
use core::cmp::Ordering;

fn rank(c: Cell) -> u8 {
    match c {
        Cell::Ref(_) => 0,
        Cell::Int(_) => 1,
        Cell::Atom(crate::atom::NIL) => 2,
        Cell::Atom(_) => 3,
        _ => 4,
    }
}

impl Machine<'_> {
    /// Compare two terms in the standard order (no recursion on the Rust stack).
    pub(crate) fn compare(&self, a: Cell, b: Cell) -> Ordering {
        let heap = &self.heap;
        let mut stack = alloc::vec![(a, b)];
        while let Some((x, y)) = stack.pop() {
            if !self.tick() || stack.len() > self.limits.max_cells {
                if stack.len() > self.limits.max_cells {
                    self.too_big();
                }
                return Ordering::Equal;
            }
            let x = deref(heap, x);
            let y = deref(heap, y);
            let (rx, ry) = (rank(x), rank(y));
            if rx != ry {
                return rx.cmp(&ry);
            }
            let o = match (x, y) {
                (Cell::Ref(i), Cell::Ref(j)) => i.cmp(&j),
                (Cell::Int(i), Cell::Int(j)) => i.cmp(&j),
                (Cell::Atom(p), Cell::Atom(q)) => {
                    if p == q {
                        Ordering::Equal
                    } else {
                        self.db.atoms.name(p).cmp(self.db.atoms.name(q))
                    }
                }
                (Cell::Str(p), Cell::Str(q)) => {
                    if p == q {
                        continue;
                    }
                    let (Cell::Fun(f, n), Cell::Fun(g, m)) = (heap[p as usize], heap[q as usize])
                    else {
                        return Ordering::Equal;
                    };
                    let o = n.cmp(&m).then_with(|| {
                        if f == g {
                            Ordering::Equal
                        } else {
                            self.db.atoms.name(f).cmp(self.db.atoms.name(g))
                        }
                    });
                    if o == Ordering::Equal {
                        for i in (1..=n).rev() {
                            stack.push((heap[(p + i) as usize], heap[(q + i) as usize]));
                        }
                    }
                    o
                }
                _ => Ordering::Equal,
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    }
}
