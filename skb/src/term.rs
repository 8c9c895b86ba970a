//! Public, owned terms.

use crate::atom::{AtomTable, DOT, NIL};
use crate::cell::{deref, push_var, Cell};
use crate::ops::Ops;
use crate::writer::{write_term, Node, TermView, WriteOpts};
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// A Prolog term owned by Rust code: query answers and programmatically added facts.
///
/// Proper lists are [`Term::List`] (the empty list is `Term::List(vec![])`); a partial or
/// improper list is a chain of `Compound("[|]", [Head, Tail])`. `Term::Atom("[]")` is the quoted
/// atom `'[]'`, which (as in SWI-Prolog 7) differs from the empty list.
///
/// Dropping and comparing terms does not recurse, so answers with very deep terms are fine;
/// `Clone` and `Debug` do recurse.
#[derive(Clone, Debug, Eq)]
pub enum Term {
    /// An unbound variable; the number identifies it within one answer.
    Var(u64),
    Atom(String),
    Int(i64),
    List(Vec<Term>),
    Compound(String, Vec<Term>),
}

impl Term {
    pub fn atom(name: &str) -> Term {
        Term::Atom(name.to_string())
    }
    pub fn int(v: i64) -> Term {
        Term::Int(v)
    }
    pub fn list(items: impl IntoIterator<Item = Term>) -> Term {
        Term::List(items.into_iter().collect())
    }
    /// `name(args...)`; with no arguments this is the atom `name`.
    pub fn compound(name: &str, args: impl IntoIterator<Item = Term>) -> Term {
        let args: Vec<Term> = args.into_iter().collect();
        if args.is_empty() {
            Term::Atom(name.to_string())
        } else {
            Term::Compound(name.to_string(), args)
        }
    }
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Term::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_atom(&self) -> Option<&str> {
        match self {
            Term::Atom(a) => Some(a),
            _ => None,
        }
    }
    pub fn as_list(&self) -> Option<&[Term]> {
        match self {
            Term::List(v) => Some(v),
            _ => None,
        }
    }
    /// Integers of a proper list of integers.
    pub fn as_int_list(&self) -> Option<Vec<i64>> {
        self.as_list()?.iter().map(Term::as_int).collect()
    }
    /// Name and arguments of a compound term (atoms have no arguments).
    pub fn functor(&self) -> Option<(&str, &[Term])> {
        match self {
            Term::Compound(n, a) => Some((n, a)),
            Term::Atom(n) => Some((n, &[])),
            _ => None,
        }
    }
    /// Argument `i` (0-based) of a compound term.
    pub fn arg(&self, i: usize) -> Option<&Term> {
        match self {
            Term::Compound(_, a) => a.get(i),
            _ => None,
        }
    }
    /// Is this a compound `name/arity`?
    pub fn is(&self, name: &str, arity: usize) -> bool {
        match self {
            Term::Compound(n, a) => n == name && a.len() == arity,
            Term::Atom(n) => arity == 0 && n == name,
            _ => false,
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        let mut stack = match self {
            Term::List(v) | Term::Compound(_, v) if !v.is_empty() => core::mem::take(v),
            _ => return,
        };
        while let Some(mut t) = stack.pop() {
            if let Term::List(v) | Term::Compound(_, v) = &mut t {
                stack.append(v);
            }
        }
    }
}

impl PartialEq for Term {
    fn eq(&self, other: &Term) -> bool {
        let mut stack = alloc::vec![(self, other)];
        while let Some((a, b)) = stack.pop() {
            match (a, b) {
                (Term::Var(x), Term::Var(y)) if x == y => {}
                (Term::Int(x), Term::Int(y)) if x == y => {}
                (Term::Atom(x), Term::Atom(y)) if x == y => {}
                (Term::List(x), Term::List(y)) if x.len() == y.len() => {
                    stack.extend(x.iter().zip(y.iter()));
                }
                (Term::Compound(f, x), Term::Compound(g, y)) if f == g && x.len() == y.len() => {
                    stack.extend(x.iter().zip(y.iter()));
                }
                _ => return false,
            }
        }
        true
    }
}

/// Writer access to public terms.
#[derive(Clone, Copy)]
pub(crate) enum TRef<'a> {
    T(&'a Term),
    ListFrom(&'a [Term]),
}

pub(crate) struct TermViewOf<'a>(core::marker::PhantomData<&'a ()>);

impl<'a> TermView for TermViewOf<'a> {
    type T = TRef<'a>;
    fn node(&self, t: TRef<'a>) -> Node<'_> {
        let t = match t {
            TRef::T(Term::List(v)) => TRef::ListFrom(v.as_slice()),
            t => t,
        };
        match t {
            TRef::ListFrom([]) => Node::Atom("[]", true),
            TRef::ListFrom(_) | TRef::T(Term::List(_)) => Node::Compound("[|]", 2, false),
            TRef::T(Term::Var(n)) => Node::Var(*n),
            TRef::T(Term::Atom(a)) => Node::Atom(a, false),
            TRef::T(Term::Int(i)) => Node::Int(*i),
            TRef::T(Term::Compound(n, a)) => Node::Compound(n, a.len(), false),
        }
    }
    fn arg(&self, t: TRef<'a>, i: usize) -> TRef<'a> {
        let t = match t {
            TRef::T(Term::List(v)) => TRef::ListFrom(v.as_slice()),
            t => t,
        };
        match t {
            TRef::ListFrom(s) => {
                if i == 0 {
                    TRef::T(&s[0])
                } else {
                    TRef::ListFrom(&s[1..])
                }
            }
            TRef::T(Term::Compound(_, a)) => TRef::T(&a[i]),
            t => t,
        }
    }
}

pub(crate) fn render_public(t: &Term, ops: &Ops, opts: WriteOpts) -> String {
    let mut s = String::new();
    write_term(
        &TermViewOf(core::marker::PhantomData),
        TRef::T(t),
        ops,
        opts,
        &mut s,
        usize::MAX,
    );
    s
}

impl fmt::Display for Term {
    /// The term as `writeq/1` writes it with the standard operators.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render_public(self, &Ops::new(), WriteOpts::WRITEQ))
    }
}

/// Convert a heap term to a public term (no recursion on the Rust stack); `None` beyond
/// `budget` nodes (cyclic terms).
pub(crate) fn term_from_heap(
    heap: &[Cell],
    atoms: &AtomTable,
    root: Cell,
    mut budget: usize,
) -> Option<Term> {
    enum Work {
        Visit(Cell),
        Build(String, usize),
        BuildList(usize),
    }
    let mut work = alloc::vec![Work::Visit(root)];
    let mut vals: Vec<Term> = Vec::new();
    while let Some(w) = work.pop() {
        budget = budget.checked_sub(1)?;
        match w {
            Work::Visit(c) => match deref(heap, c) {
                Cell::Ref(a) => vals.push(Term::Var(a as u64)),
                Cell::Atom(NIL) => vals.push(Term::List(Vec::new())),
                Cell::Atom(a) => vals.push(Term::Atom(atoms.name(a).to_string())),
                Cell::Int(i) => vals.push(Term::Int(i)),
                Cell::Str(p) => {
                    let Cell::Fun(f, n) = heap[p as usize] else {
                        vals.push(Term::List(Vec::new()));
                        continue;
                    };
                    if f == DOT && n == 2 {
                        let mut elems = Vec::new();
                        let mut t = Cell::Str(p);
                        loop {
                            budget = budget.checked_sub(1)?;
                            match t {
                                Cell::Str(q) if heap[q as usize] == Cell::Fun(DOT, 2) => {
                                    elems.push(heap[q as usize + 1]);
                                    t = deref(heap, heap[q as usize + 2]);
                                }
                                _ => break,
                            }
                        }
                        if t == Cell::Atom(NIL) {
                            work.push(Work::BuildList(elems.len()));
                            for e in elems.into_iter().rev() {
                                work.push(Work::Visit(e));
                            }
                            continue;
                        }
                    }
                    work.push(Work::Build(atoms.name(f).to_string(), n as usize));
                    for i in (1..=n).rev() {
                        work.push(Work::Visit(heap[(p + i) as usize]));
                    }
                }
                Cell::Fun(..) => vals.push(Term::List(Vec::new())),
            },
            Work::Build(name, n) => {
                let args = vals.split_off(vals.len() - n);
                vals.push(Term::Compound(name, args));
            }
            Work::BuildList(n) => {
                let items = vals.split_off(vals.len() - n);
                vals.push(Term::List(items));
            }
        }
    }
    vals.pop()
}

/// Put a public term onto a store (no recursion on the Rust stack).
pub(crate) fn term_to_heap(store: &mut Vec<Cell>, atoms: &mut AtomTable, t: &Term) -> Cell {
    let mut vars: BTreeMap<u64, Cell> = BTreeMap::new();
    // (term, slot to fill or usize::MAX for the root)
    let mut work: Vec<(&Term, usize)> = alloc::vec![(t, usize::MAX)];
    let mut root = Cell::Atom(NIL);
    while let Some((t, slot)) = work.pop() {
        let c = match t {
            Term::Var(n) => *vars.entry(*n).or_insert_with(|| push_var(store)),
            Term::Atom(a) => Cell::Atom(atoms.intern(a)),
            Term::Int(i) => Cell::Int(*i),
            Term::List(items) => {
                let mut first = Cell::Atom(NIL);
                let mut prev_tail: Option<usize> = None;
                for it in items {
                    let q = store.len();
                    store.push(Cell::Fun(DOT, 2));
                    store.push(Cell::Atom(NIL));
                    store.push(Cell::Atom(NIL));
                    match prev_tail {
                        Some(pt) => store[pt] = Cell::Str(q as u32),
                        None => first = Cell::Str(q as u32),
                    }
                    prev_tail = Some(q + 2);
                    work.push((it, q + 1));
                }
                first
            }
            Term::Compound(name, args) if args.is_empty() => Cell::Atom(atoms.intern(name)),
            Term::Compound(name, args) => {
                let q = store.len();
                store.push(Cell::Fun(atoms.intern(name), args.len() as u32));
                for _ in args {
                    store.push(Cell::Atom(NIL));
                }
                for (i, a) in args.iter().enumerate() {
                    work.push((a, q + 1 + i));
                }
                Cell::Str(q as u32)
            }
        };
        if slot == usize::MAX {
            root = c;
        } else {
            store[slot] = c;
        }
    }
    root
}
