//! The clause database.

use crate::atom::*;
use crate::builtins::{builtin_table, Builtin};
use crate::cell::{deref, push_struct, Cell, Copier, Stored};
use crate::error::{error_ball, indicator, inst_error, permission_error_in, type_error_in, PErr};
use crate::ops::Ops;
use crate::reader::DoubleQuotes;
use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, Ordering};

/// First-argument index key.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Key {
    Atom(Atom),
    Int(i64),
    Fun(Atom, u32),
}

pub(crate) fn key_of(store: &[Cell], c: Cell) -> Option<Key> {
    match deref(store, c) {
        Cell::Atom(a) => Some(Key::Atom(a)),
        Cell::Int(i) => Some(Key::Int(i)),
        Cell::Str(p) => match store[p as usize] {
            Cell::Fun(f, n) => Some(Key::Fun(f, n)),
            _ => None,
        },
        _ => None,
    }
}

/// Key of the first argument of goal/head `c`.
pub(crate) fn first_arg_key(store: &[Cell], c: Cell) -> Option<Key> {
    match deref(store, c) {
        Cell::Str(p) => key_of(store, store[p as usize + 1]),
        _ => None,
    }
}

/// A stored clause: `code.roots = [head, body]`; `goals` are the body's top-level conjuncts
/// (cells of `code`), run in order.
#[derive(Debug)]
pub(crate) struct Clause {
    pub(crate) code: Stored,
    pub(crate) goals: Vec<Cell>,
    pub(crate) key: Option<Key>,
    pub(crate) erased: AtomicBool,
}

impl Clause {
    pub(crate) fn is_erased(&self) -> bool {
        self.erased.load(Ordering::Relaxed)
    }
    pub(crate) fn erase(&self) {
        self.erased.store(true, Ordering::Relaxed)
    }
    /// Could this clause match a goal whose first-argument key is `k`?
    #[inline]
    pub(crate) fn may_match(&self, k: Option<Key>) -> bool {
        match (self.key, k) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

pub(crate) type ClauseList = Arc<Vec<Arc<Clause>>>;

#[derive(Debug, Default)]
pub(crate) struct Pred {
    pub(crate) clauses: ClauseList,
    pub(crate) dynamic: bool,
    /// Defined by the built-in library: a user definition replaces it.
    pub(crate) library: bool,
}

pub(crate) type PredKey = (Atom, u32);

/// Everything a query runs against.
pub(crate) struct Db {
    pub(crate) atoms: AtomTable,
    pub(crate) ops: Ops,
    pub(crate) preds: BTreeMap<PredKey, Pred>,
    pub(crate) builtins: BTreeMap<PredKey, Builtin>,
    pub(crate) dq: DoubleQuotes,
    pub(crate) output: String,
    pub(crate) globals: BTreeMap<Atom, Stored>,
    /// Set while the built-in library is loaded: its predicates are marked `library`, and a
    /// later user definition replaces them instead of adding to them.
    pub(crate) loading_library: bool,
}

impl Db {
    pub(crate) fn new() -> Self {
        let mut atoms = AtomTable::new();
        let builtins = builtin_table(&mut atoms);
        Db {
            atoms,
            ops: Ops::new(),
            preds: BTreeMap::new(),
            builtins,
            dq: DoubleQuotes::Codes,
            output: String::new(),
            globals: BTreeMap::new(),
            loading_library: false,
        }
    }

    pub(crate) fn is_builtin(&self, k: PredKey) -> bool {
        self.builtins.contains_key(&k)
    }

    /// Insert a prepared clause.
    pub(crate) fn insert(&mut self, k: PredKey, c: Clause, at_end: bool, dynamic: bool) {
        let loading_library = self.loading_library;
        let pred = self.preds.entry(k).or_default();
        if pred.library && !loading_library {
            *pred = Pred::default();
        }
        if loading_library {
            pred.library = true;
        }
        if dynamic {
            pred.dynamic = true;
        }
        let list = Arc::make_mut(&mut pred.clauses);
        if at_end {
            list.push(Arc::new(c));
        } else {
            list.insert(0, Arc::new(c));
        }
    }

    /// Remove one clause (by identity).
    pub(crate) fn remove(&mut self, k: PredKey, c: &Arc<Clause>) {
        if let Some(p) = self.preds.get_mut(&k) {
            Arc::make_mut(&mut p.clauses).retain(|x| !Arc::ptr_eq(x, c));
        }
    }
}

/// Split a clause term into head and body and check them; returns (key, head, body).
pub(crate) fn clause_parts(
    db: &Db,
    store: &mut Vec<Cell>,
    term: Cell,
) -> Result<(PredKey, Cell, Cell), PErr> {
    let t = deref(store, term);
    let (head, body) = match t {
        Cell::Str(p) if store[p as usize] == Cell::Fun(NECK, 2) => {
            (store[p as usize + 1], store[p as usize + 2])
        }
        _ => (t, Cell::Atom(TRUE)),
    };
    let head = deref(store, head);
    let key = match head {
        Cell::Ref(_) => return Err(inst_error()),
        Cell::Atom(a) => (a, 0),
        Cell::Str(p) => match store[p as usize] {
            Cell::Fun(f, n) => (f, n),
            _ => return Err(inst_error()),
        },
        c => return Err(type_error_in(store, CALLABLE, c)),
    };
    if db.is_builtin(key) || key.0 == NIL {
        let pi = indicator(store, key.0, key.1);
        return Err(permission_error_in(store, MODIFY, STATIC_PROCEDURE, pi));
    }
    // Body goals must be callable.
    let mut stack = alloc::vec![deref(store, body)];
    let mut budget = store.len() + 1024;
    while let Some(g) = stack.pop() {
        budget = budget.saturating_sub(1);
        if budget == 0 {
            return Err(PErr::Limit(crate::error::Resource::TermSize));
        }
        match g {
            Cell::Int(_) => {
                let b = deref(store, body);
                return Err(type_error_in(store, CALLABLE, b));
            }
            Cell::Str(p) => {
                if let Cell::Fun(f, 2) = store[p as usize] {
                    if matches!(f, COMMA | SEMI | ARROW | SOFT_ARROW | BAR) {
                        stack.push(deref(store, store[p as usize + 1]));
                        stack.push(deref(store, store[p as usize + 2]));
                    }
                }
            }
            _ => {}
        }
    }
    Ok((key, head, body))
}

/// Copy a clause out of `store` into a [`Clause`], wrapping variable goals in `call/1`.
/// Fails with a term-size error beyond `cap` cells.
pub(crate) fn make_clause(
    store: &[Cell],
    head: Cell,
    body: Cell,
    cap: usize,
) -> Result<Clause, PErr> {
    let mut cp = Copier::with_cap(store, cap);
    cp.add_root(head);
    cp.add_root(body);
    if cp.overflow {
        return Err(PErr::Limit(crate::error::Resource::TermSize));
    }
    let mut code = cp.finish();
    wrap_var_goals(&mut code);
    let key = first_arg_key(&code.cells, code.roots[0]);
    let mut goals = Vec::new();
    let mut b = code.roots[1];
    loop {
        match b {
            Cell::Str(p) if code.cells[p as usize] == Cell::Fun(COMMA, 2) => {
                goals.push(code.cells[p as usize + 1]);
                b = code.cells[p as usize + 2];
            }
            _ => {
                goals.push(b);
                break;
            }
        }
    }
    goals.retain(|g| *g != Cell::Atom(TRUE));
    Ok(Clause {
        code,
        goals,
        key,
        erased: AtomicBool::new(false),
    })
}

/// In a stored clause, replace variables in goal positions of the body by `call(Var)`.
fn wrap_var_goals(code: &mut Stored) {
    enum Slot {
        Root,
        Arg(usize),
    }
    let mut stack = alloc::vec![Slot::Root];
    while let Some(slot) = stack.pop() {
        let c = match slot {
            Slot::Root => code.roots[1],
            Slot::Arg(i) => code.cells[i],
        };
        match c {
            Cell::Ref(_) => {
                let w = push_struct(&mut code.cells, CALL, &[c]);
                match slot {
                    Slot::Root => code.roots[1] = w,
                    Slot::Arg(i) => code.cells[i] = w,
                }
            }
            Cell::Str(p) => {
                let p = p as usize;
                if let Cell::Fun(f, 2) = code.cells[p] {
                    if matches!(f, COMMA | SEMI | ARROW | SOFT_ARROW | BAR) {
                        stack.push(Slot::Arg(p + 1));
                        stack.push(Slot::Arg(p + 2));
                    }
                }
            }
            _ => {}
        }
    }
}

/// Error term for an unknown procedure.
pub(crate) fn existence_error_proc(name: Atom, arity: u32) -> PErr {
    PErr::Ball(error_ball(&mut Vec::new(), |s| {
        let pi = indicator(s, name, arity);
        push_struct(s, EXISTENCE_ERROR, &[Cell::Atom(PROCEDURE), pi])
    }))
}
