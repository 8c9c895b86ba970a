//! Built-in predicates.

use crate::atom::*;
use crate::cell::{push_list, push_struct, push_var, Cell, Stored};
use crate::db::PredKey;
use crate::error::{indicator, inst_error, permission_error_in, PErr, Res};
use crate::machine::Machine;
use crate::ops::OpType;
use crate::reader::{DoubleQuotes, Reader};
use crate::writer::{write_term, WriteOpts};
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::cmp::Ordering;

/// Control constructs and nondeterministic builtins, run by the machine itself.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Control {
    True,
    Fail,
    Cut,
    Conj,
    Or,
    IfThen,
    SoftIfThen,
    Not,
    Call,
    Findall,
    Findall4,
    Catch,
    Throw,
    Between,
    Retract,
}

pub(crate) type DetFn = fn(&mut Machine<'_>, &[Cell]) -> Res<bool>;

#[derive(Clone, Copy)]
pub(crate) enum Builtin {
    Det(DetFn),
    Control(Control),
}

pub(crate) fn builtin_table(atoms: &mut AtomTable) -> BTreeMap<PredKey, Builtin> {
    let mut t = BTreeMap::new();
    let mut c = |name: &str, n: u32, b: Control| {
        t.insert((atoms.intern(name), n), Builtin::Control(b));
    };
    use Control as C;
    c("true", 0, C::True);
    c("otherwise", 0, C::True);
    c("fail", 0, C::Fail);
    c("false", 0, C::Fail);
    c("!", 0, C::Cut);
    c(",", 2, C::Conj);
    c(";", 2, C::Or);
    c("|", 2, C::Or);
    c("->", 2, C::IfThen);
    c("*->", 2, C::SoftIfThen);
    c("\\+", 1, C::Not);
    c("not", 1, C::Not);
    for n in 1..=8 {
        c("call", n, C::Call);
    }
    c("findall", 3, C::Findall);
    c("findall", 4, C::Findall4);
    c("catch", 3, C::Catch);
    c("throw", 1, C::Throw);
    c("between", 3, C::Between);
    c("retract", 1, C::Retract);
    let mut d = |name: &str, n: u32, f: DetFn| {
        t.insert((atoms.intern(name), n), Builtin::Det(f));
    };
    d("=", 2, |m, a| Ok(m.unify(a[0], a[1])));
    d("\\=", 2, |m, a| Ok(!m.unifiable(a[0], a[1])));
    d("==", 2, |m, a| Ok(m.compare(a[0], a[1]) == Ordering::Equal));
    d("\\==", 2, |m, a| {
        Ok(m.compare(a[0], a[1]) != Ordering::Equal)
    });
    d("@<", 2, |m, a| Ok(m.compare(a[0], a[1]) == Ordering::Less));
    d("@>", 2, |m, a| {
        Ok(m.compare(a[0], a[1]) == Ordering::Greater)
    });
    d("@=<", 2, |m, a| {
        Ok(m.compare(a[0], a[1]) != Ordering::Greater)
    });
    d("@>=", 2, |m, a| Ok(m.compare(a[0], a[1]) != Ordering::Less));
    d("compare", 3, bi_compare);
    d("var", 1, |m, a| Ok(matches!(m.deref(a[0]), Cell::Ref(_))));
    d("nonvar", 1, |m, a| {
        Ok(!matches!(m.deref(a[0]), Cell::Ref(_)))
    });
    d("atom", 1, |m, a| {
        Ok(matches!(m.deref(a[0]), Cell::Atom(x) if x != NIL))
    });
    d("integer", 1, |m, a| {
        Ok(matches!(m.deref(a[0]), Cell::Int(_)))
    });
    d("number", 1, |m, a| {
        Ok(matches!(m.deref(a[0]), Cell::Int(_)))
    });
    d("float", 1, |_, _| Ok(false));
    d("string", 1, |_, _| Ok(false));
    d("atomic", 1, |m, a| {
        Ok(matches!(m.deref(a[0]), Cell::Atom(_) | Cell::Int(_)))
    });
    d("compound", 1, |m, a| {
        Ok(matches!(m.deref(a[0]), Cell::Str(_)))
    });
    d("callable", 1, |m, a| {
        Ok(matches!(m.deref(a[0]), Cell::Str(_) | Cell::Atom(_)))
    });
    d("is_list", 1, |m, a| Ok(m.proper_list_len(a[0]).is_some()));
    d("ground", 1, |m, a| Ok(m.term_vars(a[0], true).is_empty()));
    d("is", 2, |m, a| {
        let v = m.eval(a[1])?;
        Ok(m.unify(a[0], Cell::Int(v)))
    });
    d("=:=", 2, |m, a| arith_cmp(m, a, |o| o == Ordering::Equal));
    d("=\\=", 2, |m, a| arith_cmp(m, a, |o| o != Ordering::Equal));
    d("<", 2, |m, a| arith_cmp(m, a, |o| o == Ordering::Less));
    d(">", 2, |m, a| arith_cmp(m, a, |o| o == Ordering::Greater));
    d("=<", 2, |m, a| arith_cmp(m, a, |o| o != Ordering::Greater));
    d(">=", 2, |m, a| arith_cmp(m, a, |o| o != Ordering::Less));
    d("succ", 2, bi_succ);
    d("plus", 3, bi_plus);
    d("functor", 3, bi_functor);
    d("arg", 3, bi_arg);
    d("=..", 2, bi_univ);
    d("copy_term", 2, |m, a| {
        let s = m.copy(a[0])?;
        m.reserve(s.size())?;
        let c = s.load_root(&mut m.heap, 0);
        Ok(m.unify(a[1], c))
    });
    d("msort", 2, |m, a| sort_impl(m, a[0], a[1], 0, false, false));
    d("sort", 2, |m, a| sort_impl(m, a[0], a[1], 0, true, false));
    d("sort", 4, bi_sort4);
    d("keysort", 2, bi_keysort);
    d("$skip_list", 3, bi_skip_list);
    d("$make_list", 2, bi_make_list);
    d("assert", 1, |m, a| m.assert_term(a[0], true).map(|_| true));
    d("assertz", 1, |m, a| m.assert_term(a[0], true).map(|_| true));
    d("asserta", 1, |m, a| {
        m.assert_term(a[0], false).map(|_| true)
    });
    d("retractall", 1, bi_retractall);
    d("clause", 2, bi_clause);
    d("abolish", 1, bi_abolish);
    d("atom_codes", 2, |m, a| {
        text_list(m, a, TextKind::Codes, true)
    });
    d("atom_chars", 2, |m, a| {
        text_list(m, a, TextKind::Chars, true)
    });
    d("number_codes", 2, |m, a| {
        text_list(m, a, TextKind::Codes, false)
    });
    d("number_chars", 2, |m, a| {
        text_list(m, a, TextKind::Chars, false)
    });
    d("char_code", 2, bi_char_code);
    d("atom_length", 2, bi_atom_length);
    d("atom_number", 2, bi_atom_number);
    d("atom_concat", 3, bi_atom_concat);
    d("atomic_list_concat", 2, |m, a| {
        let empty = Cell::Atom(EMPTY);
        bi_atomic_list_concat(m, &[a[0], empty, a[1]])
    });
    d("atomic_list_concat", 3, bi_atomic_list_concat);
    d("sub_atom", 5, bi_sub_atom);
    d("upcase_atom", 2, |m, a| case_atom(m, a, true));
    d("downcase_atom", 2, |m, a| case_atom(m, a, false));
    d("term_to_atom", 2, bi_term_to_atom);
    d("atom_to_term", 3, bi_atom_to_term);
    d("write", 1, |m, a| out_term(m, a[0], WriteOpts::WRITE));
    d("print", 1, |m, a| out_term(m, a[0], WriteOpts::WRITEQ));
    d("writeq", 1, |m, a| out_term(m, a[0], WriteOpts::WRITEQ));
    d("write_canonical", 1, |m, a| {
        out_term(m, a[0], WriteOpts::CANONICAL)
    });
    d("writeln", 1, |m, a| {
        out_term(m, a[0], WriteOpts::WRITE)?;
        m.db.output.push('\n');
        Ok(true)
    });
    d("nl", 0, |m, _| {
        m.db.output.push('\n');
        Ok(true)
    });
    d("tab", 1, |m, a| {
        let n = m.eval(a[0])?;
        for _ in 0..n.clamp(0, 10_000) {
            m.db.output.push(' ');
        }
        Ok(true)
    });
    d("format", 1, |m, a| bi_format(m, a[0], Cell::Atom(NIL)));
    d("format", 2, |m, a| bi_format(m, a[0], a[1]));
    d("op", 3, bi_op);
    d("current_op", 3, bi_current_op);
    d("dynamic", 1, bi_dynamic);
    d("discontiguous", 1, |_, _| Ok(true));
    d("ensure_loaded", 1, |_, _| Ok(true));
    d("use_module", 1, |_, _| Ok(true));
    d("use_module", 2, |_, _| Ok(true));
    d("module", 2, |_, _| Ok(true));
    d("garbage_collect", 0, |_, _| Ok(true));
    d("set_prolog_flag", 2, bi_set_flag);
    d("initialization", 1, |m, a| {
        let h = m.cps.len() as u32;
        m.push_goal(a[0], h);
        Ok(true)
    });
    d("nb_setval", 2, bi_setval);
    d("b_setval", 2, bi_setval);
    d("nb_getval", 2, bi_getval);
    d("b_getval", 2, bi_getval);
    d("term_variables", 2, |m, a| {
        let vs = m.term_vars(a[0], false);
        m.reserve(vs.len() * 3)?;
        let l = push_list(&mut m.heap, &vs, Cell::Atom(NIL));
        Ok(m.unify(a[1], l))
    });
    d("numbervars", 3, bi_numbervars);
    d("current_predicate", 1, bi_current_predicate);
    d("halt", 0, |m, _| {
        let h = intern(m, "halt");
        Err(m.error1(EXISTENCE_ERROR, h))
    });
    t
}

fn intern(m: &mut Machine<'_>, s: &str) -> Atom {
    m.db.atoms.intern(s)
}

// -------------------------------------------------------------------------------------------
// Helpers on the machine

impl Machine<'_> {
    /// Length of a proper list.
    pub(crate) fn proper_list_len(&self, c: Cell) -> Option<usize> {
        let mut n = 0;
        let mut t = self.deref(c);
        loop {
            if !self.tick() {
                return None;
            }
            match t {
                Cell::Atom(NIL) => return Some(n),
                Cell::Str(p) if self.heap[p as usize] == Cell::Fun(DOT, 2) => {
                    n += 1;
                    t = self.deref(self.heap[p as usize + 2]);
                }
                _ => return None,
            }
        }
    }

    /// Elements of a proper list (errors for partial lists and non-lists).
    pub(crate) fn list_items(&mut self, c: Cell) -> Res<Vec<Cell>> {
        let mut out = Vec::new();
        let mut t = self.deref(c);
        loop {
            if !self.tick() {
                return Err(PErr::Limit(crate::Resource::Steps));
            }
            match t {
                Cell::Atom(NIL) => return Ok(out),
                Cell::Str(p) if self.heap[p as usize] == Cell::Fun(DOT, 2) => {
                    out.push(self.heap[p as usize + 1]);
                    t = self.deref(self.heap[p as usize + 2]);
                }
                Cell::Ref(_) => return Err(inst_error()),
                _ => {
                    let c = self.deref(c);
                    return Err(self.type_error(LIST, c));
                }
            }
        }
    }

    /// Variables of a term in depth-first left-to-right order (or just the first with `first`).
    pub(crate) fn term_vars(&self, c: Cell, first: bool) -> Vec<Cell> {
        let mut out: Vec<Cell> = Vec::new();
        let mut seen = alloc::collections::BTreeSet::new();
        let mut stack = alloc::vec![c];
        while let Some(x) = stack.pop() {
            if !self.tick() || stack.len() > self.limits.max_cells {
                self.too_big();
                break;
            }
            match self.deref(x) {
                v @ Cell::Ref(a) => {
                    if seen.insert(a) {
                        out.push(v);
                        if first {
                            return out;
                        }
                    }
                }
                Cell::Str(p) => {
                    if let Cell::Fun(_, n) = self.heap[p as usize] {
                        for i in (1..=n).rev() {
                            stack.push(self.heap[(p + i) as usize]);
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    pub(crate) fn atom_arg(&mut self, c: Cell) -> Res<Atom> {
        match self.deref(c) {
            Cell::Atom(a) => Ok(a),
            Cell::Ref(_) => Err(inst_error()),
            c => Err(self.type_error(ATOM, c)),
        }
    }

    /// Text of an atomic term.
    pub(crate) fn text_of(&mut self, c: Cell) -> Res<String> {
        match self.deref(c) {
            Cell::Atom(a) => Ok(self.db.atoms.name(a).to_string()),
            Cell::Int(i) => Ok(i.to_string()),
            Cell::Ref(_) => Err(inst_error()),
            c => Err(self.type_error(ATOMIC, c)),
        }
    }

    pub(crate) fn mk_atom(&mut self, s: &str) -> Cell {
        Cell::Atom(self.db.atoms.intern(s))
    }

    /// Render a heap term.
    pub(crate) fn render(&self, c: Cell, opts: WriteOpts) -> String {
        let mut s = String::new();
        let max = self.cells_left().saturating_mul(16).clamp(1 << 16, 1 << 28);
        if !write_term(&self.view(), c, &self.db.ops, opts, &mut s, max) {
            self.hit.set(Some(crate::Resource::TermSize));
        }
        s
    }

    fn syntax_error(&mut self, msg: &str) -> PErr {
        let a = self.db.atoms.intern(msg);
        self.error1(SYNTAX_ERROR, a)
    }

    /// Parse `text` as one term (optionally ended by `.`) onto the heap, with its variables.
    pub(crate) fn parse_on_heap(&mut self, text: &str) -> Res<(Cell, Vec<(String, Cell)>)> {
        let db = &mut *self.db;
        let mut r = Reader::new(text, &mut db.atoms, &db.ops, db.dq);
        let t = match r.read(true) {
            Ok(Some(t)) => t,
            Ok(None) => {
                return Ok((Cell::Atom(END_OF_FILE), Vec::new()));
            }
            Err(e) => return Err(self.syntax_error(&e.message)),
        };
        self.reserve(t.stored.size())?;
        let base = self.heap.len() as u32;
        let root = t.stored.load_root(&mut self.heap, 0);
        let vars = t
            .var_names
            .into_iter()
            .map(|(n, i)| (n, Cell::Ref(base + i)))
            .collect();
        Ok((root, vars))
    }
}

fn arith_cmp(m: &mut Machine<'_>, a: &[Cell], f: fn(Ordering) -> bool) -> Res<bool> {
    let x = m.eval(a[0])?;
    let y = m.eval(a[1])?;
    Ok(f(x.cmp(&y)))
}

fn bi_compare(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let o = m.compare(a[1], a[2]);
    let s = match o {
        Ordering::Less => LESS,
        Ordering::Equal => EQUALS,
        Ordering::Greater => GREATER,
    };
    match m.deref(a[0]) {
        Cell::Ref(_) => {}
        Cell::Atom(x) if x == LESS || x == EQUALS || x == GREATER => {}
        Cell::Atom(x) => return Err(m.error2(DOMAIN_ERROR, ORDER, Cell::Atom(x))),
        c => return Err(m.type_error(ATOM, c)),
    }
    Ok(m.unify(a[0], Cell::Atom(s)))
}

fn not_less_than_zero(m: &mut Machine<'_>, c: Cell) -> PErr {
    m.error2(TYPE_ERROR, NOT_LESS_THAN_ZERO, c)
}

fn bi_succ(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    match (m.deref(a[0]), m.deref(a[1])) {
        (Cell::Int(x), y) => {
            if x < 0 {
                return Err(not_less_than_zero(m, Cell::Int(x)));
            }
            if !matches!(y, Cell::Ref(_) | Cell::Int(_)) {
                return Err(m.type_error(INTEGER, y));
            }
            let Some(s) = x.checked_add(1) else {
                return Err(m.eval_error(INT_OVERFLOW));
            };
            Ok(m.unify(y, Cell::Int(s)))
        }
        (x @ Cell::Ref(_), Cell::Int(y)) => {
            if y < 0 {
                return Err(not_less_than_zero(m, Cell::Int(y)));
            }
            if y == 0 {
                return Ok(false);
            }
            Ok(m.unify(x, Cell::Int(y - 1)))
        }
        (Cell::Ref(_), Cell::Ref(_)) => Err(inst_error()),
        (Cell::Ref(_), y) => Err(m.type_error(INTEGER, y)),
        (x, _) => Err(m.type_error(INTEGER, x)),
    }
}

fn bi_plus(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let v: Vec<Cell> = a.iter().map(|&c| m.deref(c)).collect();
    for &c in &v {
        if !matches!(c, Cell::Ref(_) | Cell::Int(_)) {
            return Err(m.type_error(INTEGER, c));
        }
    }
    let iv = |c: Cell| if let Cell::Int(i) = c { Some(i) } else { None };
    let r = match (iv(v[0]), iv(v[1]), iv(v[2])) {
        (Some(x), Some(y), _) => x.checked_add(y).map(|s| (v[2], s)),
        (Some(x), None, Some(z)) => z.checked_sub(x).map(|s| (v[1], s)),
        (None, Some(y), Some(z)) => z.checked_sub(y).map(|s| (v[0], s)),
        _ => return Err(inst_error()),
    };
    match r {
        Some((t, s)) => Ok(m.unify(t, Cell::Int(s))),
        None => Err(m.eval_error(INT_OVERFLOW)),
    }
}

fn bi_functor(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    match m.deref(a[0]) {
        Cell::Ref(_) => {
            let name = m.deref(a[1]);
            let n = m.deref(a[2]);
            let n = match n {
                Cell::Int(n) => n,
                Cell::Ref(_) => return Err(inst_error()),
                c => return Err(m.type_error(INTEGER, c)),
            };
            if let Cell::Ref(_) = name {
                return Err(inst_error());
            }
            if n < 0 {
                return Err(m.error2(DOMAIN_ERROR, NOT_LESS_THAN_ZERO, Cell::Int(n)));
            }
            if n == 0 {
                if let Cell::Str(_) = name {
                    return Err(m.type_error(ATOMIC, name));
                }
                return Ok(m.unify(a[0], name));
            }
            let Cell::Atom(f) = name else {
                if let Cell::Str(_) = name {
                    return Err(m.type_error(ATOMIC, name));
                }
                return Err(m.type_error(ATOM, name));
            };
            if n > 1_000_000 {
                return Err(m.error1(REPRESENTATION_ERROR, MAX_ARITY));
            }
            m.reserve(n as usize + 1)?;
            let p = m.heap.len() as u32;
            m.heap.push(Cell::Fun(f, n as u32));
            for i in 0..n as u32 {
                m.heap.push(Cell::Ref(p + 1 + i));
            }
            Ok(m.unify(a[0], Cell::Str(p)))
        }
        Cell::Str(p) => {
            let Cell::Fun(f, n) = m.heap[p as usize] else {
                return Ok(false);
            };
            Ok(m.unify(a[1], Cell::Atom(f)) && m.unify(a[2], Cell::Int(n as i64)))
        }
        c => Ok(m.unify(a[1], c) && m.unify(a[2], Cell::Int(0))),
    }
}

fn bi_arg(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let t = m.deref(a[1]);
    let Cell::Str(p) = t else {
        if let Cell::Ref(_) = t {
            return Err(inst_error());
        }
        return Err(m.type_error(COMPOUND, t));
    };
    let Cell::Fun(_, n) = m.heap[p as usize] else {
        return Ok(false);
    };
    match m.deref(a[0]) {
        Cell::Int(i) => {
            if i < 1 || i > n as i64 {
                return Ok(false);
            }
            let x = m.arg_at(p, i as usize - 1);
            Ok(m.unify(a[2], x))
        }
        Cell::Ref(_) => arg_enumerate(m, a, p, n),
        c => Err(m.type_error(INTEGER, c)),
    }
}

/// arg/3 with unbound N: offer N = 1..n via disjunction goals.
fn arg_enumerate(m: &mut Machine<'_>, a: &[Cell], p: u32, n: u32) -> Res<bool> {
    // Build (N=1, A=Arg1 ; N=2, A=Arg2 ; ...) and run it.
    if n == 0 {
        return Ok(false);
    }
    m.reserve(n as usize * 12)?;
    let mut goal = Cell::Atom(FAIL);
    for i in (1..=n).rev() {
        let x = m.arg_at(p, i as usize - 1);
        let g1 = push_struct(&mut m.heap, EQUALS, &[a[0], Cell::Int(i as i64)]);
        let g2 = push_struct(&mut m.heap, EQUALS, &[a[2], x]);
        let conj = push_struct(&mut m.heap, COMMA, &[g1, g2]);
        goal = if i == n {
            conj
        } else {
            push_struct(&mut m.heap, SEMI, &[conj, goal])
        };
    }
    let h = m.cps.len() as u32;
    m.push_goal(goal, h);
    Ok(true)
}

fn bi_univ(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    match m.deref(a[0]) {
        Cell::Ref(_) => {
            let items = m.list_items(a[1])?;
            let Some(&h) = items.first() else {
                let d = intern(m, "non_empty_list");
                return Err(m.error2(DOMAIN_ERROR, d, Cell::Atom(NIL)));
            };
            let h = m.deref(h);
            if items.len() == 1 {
                if let Cell::Str(_) = h {
                    return Err(m.type_error(ATOMIC, h));
                }
                return Ok(m.unify(a[0], h));
            }
            let f = match h {
                Cell::Atom(f) => f,
                Cell::Ref(_) => return Err(inst_error()),
                c @ Cell::Str(_) => return Err(m.type_error(ATOMIC, c)),
                c => return Err(m.type_error(ATOM, c)),
            };
            m.reserve(items.len())?;
            let t = push_struct(&mut m.heap, f, &items[1..]);
            Ok(m.unify(a[0], t))
        }
        Cell::Str(p) => {
            let Cell::Fun(f, n) = m.heap[p as usize] else {
                return Ok(false);
            };
            let mut items = alloc::vec![Cell::Atom(f)];
            items.extend((0..n as usize).map(|i| m.arg_at(p, i)));
            m.reserve(items.len() * 3)?;
            let l = push_list(&mut m.heap, &items, Cell::Atom(NIL));
            Ok(m.unify(a[1], l))
        }
        c => {
            let l = push_list(&mut m.heap, &[c], Cell::Atom(NIL));
            Ok(m.unify(a[1], l))
        }
    }
}

fn sort_impl(
    m: &mut Machine<'_>,
    list: Cell,
    out: Cell,
    key: usize,
    dedup: bool,
    desc: bool,
) -> Res<bool> {
    let mut items = m.list_items(list)?;
    m.check_list_or_partial(out)?;
    let mut keyed: Vec<(Cell, Cell)> = Vec::with_capacity(items.len());
    for &it in &items {
        let k = if key == 0 {
            it
        } else {
            match m.deref(it) {
                Cell::Str(p) => {
                    let Cell::Fun(_, n) = m.heap[p as usize] else {
                        return Ok(false);
                    };
                    if key > n as usize {
                        let c = m.deref(it);
                        return Err(m.type_error(COMPOUND, c));
                    }
                    m.arg_at(p, key - 1)
                }
                Cell::Ref(_) => return Err(inst_error()),
                c => return Err(m.type_error(COMPOUND, c)),
            }
        };
        keyed.push((k, it));
    }
    {
        let mm: &Machine<'_> = m;
        keyed.sort_by(|x, y| {
            let o = mm.compare(x.0, y.0);
            if desc {
                o.reverse()
            } else {
                o
            }
        });
        if dedup {
            keyed.dedup_by(|y, x| mm.compare(x.0, y.0) == Ordering::Equal);
        }
    }
    items.clear();
    items.extend(keyed.iter().map(|x| x.1));
    m.reserve(items.len() * 3)?;
    let l = push_list(&mut m.heap, &items, Cell::Atom(NIL));
    Ok(m.unify(out, l))
}

fn bi_sort4(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let key = m.int_arg(a[0])?;
    if key < 0 {
        return Err(m.error2(DOMAIN_ERROR, NOT_LESS_THAN_ZERO, Cell::Int(key)));
    }
    let ord = m.atom_arg(a[1])?;
    let (dedup, desc) = match m.db.atoms.name(ord) {
        "@<" => (true, false),
        "@=<" => (false, false),
        "@>" => (true, true),
        "@>=" => (false, true),
        _ => return Err(m.error2(DOMAIN_ERROR, ORDER, Cell::Atom(ord))),
    };
    sort_impl(m, a[2], a[3], key as usize, dedup, desc)
}

fn bi_keysort(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let items = m.list_items(a[0])?;
    for &it in &items {
        match m.deref(it) {
            Cell::Str(p) if m.heap[p as usize] == Cell::Fun(MINUS, 2) => {}
            Cell::Ref(_) => return Err(inst_error()),
            c => return Err(m.type_error(PAIR, c)),
        }
    }
    sort_impl(m, a[0], a[1], 1, false, false)
}

fn bi_skip_list(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let mut n: i64 = 0;
    let mut t = m.deref(a[0]);
    loop {
        if !m.tick() {
            return Err(PErr::Limit(crate::Resource::Steps));
        }
        match t {
            Cell::Str(p) if m.heap[p as usize] == Cell::Fun(DOT, 2) => {
                n += 1;
                t = m.deref(m.heap[p as usize + 2]);
            }
            _ => break,
        }
    }
    Ok(m.unify(a[1], Cell::Int(n)) && m.unify(a[2], t))
}

fn bi_make_list(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let n = m.int_arg(a[0])?;
    if n < 0 {
        return Ok(false);
    }
    m.reserve(n as usize * 4)?;
    let mut items = Vec::with_capacity(n as usize);
    for _ in 0..n {
        items.push(push_var(&mut m.heap));
    }
    let l = push_list(&mut m.heap, &items, Cell::Atom(NIL));
    Ok(m.unify(a[1], l))
}

fn pred_key_of(m: &mut Machine<'_>, head: Cell) -> Res<(Atom, u32)> {
    let (f, n, _) = m.callable(head)?;
    Ok((f, n))
}

fn bi_retractall(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let key = pred_key_of(m, a[0])?;
    if m.db.is_builtin(key) {
        let pi = indicator(&mut m.heap, key.0, key.1);
        return Err(permission_error_in(
            &mut m.heap,
            MODIFY,
            STATIC_PROCEDURE,
            pi,
        ));
    }
    let Some(pred) = m.db.preds.get(&key) else {
        m.db.preds.insert(
            key,
            crate::db::Pred {
                dynamic: true,
                ..Default::default()
            },
        );
        return Ok(true);
    };
    if !pred.dynamic {
        let pi = indicator(&mut m.heap, key.0, key.1);
        return Err(permission_error_in(
            &mut m.heap,
            MODIFY,
            STATIC_PROCEDURE,
            pi,
        ));
    }
    let clauses = pred.clauses.clone();
    for c in clauses.iter() {
        let mark = m.heap.len();
        let roots = c.code.load(&mut m.heap);
        let ok = m.unifiable(a[0], roots[0]);
        m.heap.truncate(mark);
        if ok && !c.is_erased() {
            c.erase();
            m.db.remove(key, c);
        }
    }
    Ok(true)
}

fn bi_abolish(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let t = m.deref(a[0]);
    if let Cell::Str(p) = t {
        if m.heap[p as usize] == Cell::Fun(SLASH, 2) {
            let f = m.atom_arg(m.arg_at(p, 0))?;
            let n = m.int_arg(m.arg_at(p, 1))?;
            let key = (f, n as u32);
            if m.db.is_builtin(key) {
                let pi = indicator(&mut m.heap, key.0, key.1);
                return Err(permission_error_in(
                    &mut m.heap,
                    MODIFY,
                    STATIC_PROCEDURE,
                    pi,
                ));
            }
            m.db.preds.remove(&key);
            return Ok(true);
        }
    }
    Err(m.type_error(PREDICATE_INDICATOR, t))
}

fn bi_clause(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let key = pred_key_of(m, a[0])?;
    if let b @ Cell::Int(_) = m.deref(a[1]) {
        return Err(m.type_error(CALLABLE, b));
    }
    if m.db.is_builtin(key) {
        let pi = indicator(&mut m.heap, key.0, key.1);
        let access = intern(m, "access");
        let private = intern(m, "private_procedure");
        return Err(permission_error_in(&mut m.heap, access, private, pi));
    }
    let Some(clauses) = m.clauses_of(key) else {
        return Ok(false);
    };
    let mut alts = Vec::new();
    for c in clauses.iter() {
        let mut cells = c.code.cells.clone();
        let root = push_struct(&mut cells, NECK, &[c.code.roots[0], c.code.roots[1]]);
        alts.push(Stored {
            cells,
            roots: alloc::vec![root],
            nvars: c.code.nvars,
        });
    }
    let target = push_struct(&mut m.heap, NECK, &[a[0], a[1]]);
    m.alternatives(target, alts)
}

// -------------------------------------------------------------------------------------------
// Atoms and text

#[derive(Clone, Copy, PartialEq)]
enum TextKind {
    Codes,
    Chars,
}

fn parse_int(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty() {
        return None;
    }
    let (radix, digits) = if let Some(r) = digits.strip_prefix("0x") {
        (16, r)
    } else if let Some(r) = digits.strip_prefix("0o") {
        (8, r)
    } else if let Some(r) = digits.strip_prefix("0b") {
        (2, r)
    } else if let Some(r) = digits.strip_prefix("0'") {
        let mut cs = r.chars();
        let c = cs.next()?;
        if cs.next().is_some() {
            return None;
        }
        return Some(if neg { -(c as i64) } else { c as i64 });
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix) || c == '_') {
        return None;
    }
    let digits: String = digits.chars().filter(|&c| c != '_').collect();
    let v = i128::from_str_radix(&digits, radix).ok()?;
    let v = if neg { -v } else { v };
    i64::try_from(v).ok()
}

fn text_list(m: &mut Machine<'_>, a: &[Cell], kind: TextKind, is_atom: bool) -> Res<bool> {
    let x = m.deref(a[0]);
    if !matches!(x, Cell::Ref(_)) {
        if !is_atom && !matches!(x, Cell::Int(_)) {
            return Err(m.type_error(NUMBER, x));
        }
        let s = m.text_of(x)?;
        let items: Vec<Cell> = match kind {
            TextKind::Codes => s.chars().map(|c| Cell::Int(c as i64)).collect(),
            TextKind::Chars => {
                let mut v = Vec::new();
                for c in s.chars() {
                    let mut b = [0u8; 4];
                    v.push(m.mk_atom(c.encode_utf8(&mut b)));
                }
                v
            }
        };
        m.reserve(items.len() * 3)?;
        let l = push_list(&mut m.heap, &items, Cell::Atom(NIL));
        return Ok(m.unify(a[1], l));
    }
    let s = text_from_list(m, a[1], kind)?;
    if is_atom {
        let at = m.mk_atom(&s);
        Ok(m.unify(x, at))
    } else {
        match parse_int(&s) {
            Some(v) => Ok(m.unify(x, Cell::Int(v))),
            None => Err(m.syntax_error("illegal_number")),
        }
    }
}

fn text_from_list(m: &mut Machine<'_>, l: Cell, kind: TextKind) -> Res<String> {
    let items = m.list_items(l)?;
    let mut s = String::new();
    for it in items {
        match (m.deref(it), kind) {
            (Cell::Int(c), _) => match u32::try_from(c).ok().and_then(char::from_u32) {
                Some(ch) => s.push(ch),
                None => return Err(m.error1(REPRESENTATION_ERROR, CHARACTER_CODE)),
            },
            (Cell::Atom(at), _) => {
                let name = m.db.atoms.name(at);
                let mut cs = name.chars();
                match (cs.next(), cs.next()) {
                    (Some(ch), None) => s.push(ch),
                    _ => return Err(m.type_error(CHARACTER, Cell::Atom(at))),
                }
            }
            (Cell::Ref(_), _) => return Err(inst_error()),
            (c, TextKind::Codes) => return Err(m.type_error(INTEGER, c)),
            (c, TextKind::Chars) => return Err(m.type_error(CHARACTER, c)),
        }
    }
    Ok(s)
}

fn bi_char_code(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    match m.deref(a[0]) {
        Cell::Atom(at) => {
            let name = m.db.atoms.name(at);
            let mut cs = name.chars();
            match (cs.next(), cs.next()) {
                (Some(ch), None) => Ok(m.unify(a[1], Cell::Int(ch as i64))),
                _ => Err(m.type_error(CHARACTER, Cell::Atom(at))),
            }
        }
        Cell::Ref(_) => match m.deref(a[1]) {
            Cell::Int(c) => match u32::try_from(c).ok().and_then(char::from_u32) {
                Some(ch) => {
                    let mut b = [0u8; 4];
                    let at = m.mk_atom(ch.encode_utf8(&mut b));
                    Ok(m.unify(a[0], at))
                }
                None => Err(m.error1(REPRESENTATION_ERROR, CHARACTER_CODE)),
            },
            Cell::Ref(_) => Err(inst_error()),
            c => Err(m.type_error(INTEGER, c)),
        },
        c => Err(m.type_error(CHARACTER, c)),
    }
}

fn bi_atom_length(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let s = m.text_of(a[0])?;
    match m.deref(a[1]) {
        Cell::Ref(_) | Cell::Int(_) => {}
        c => return Err(m.type_error(INTEGER, c)),
    }
    if let Cell::Int(n) = m.deref(a[1]) {
        if n < 0 {
            return Err(m.error2(DOMAIN_ERROR, NOT_LESS_THAN_ZERO, Cell::Int(n)));
        }
    }
    Ok(m.unify(a[1], Cell::Int(s.chars().count() as i64)))
}

fn bi_atom_number(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    match m.deref(a[0]) {
        Cell::Ref(_) => match m.deref(a[1]) {
            Cell::Int(i) => {
                let at = m.mk_atom(&i.to_string());
                Ok(m.unify(a[0], at))
            }
            Cell::Ref(_) => Err(inst_error()),
            c => Err(m.type_error(NUMBER, c)),
        },
        Cell::Atom(at) => {
            let s = m.db.atoms.name(at).to_string();
            match parse_int(&s) {
                Some(v) if !s.starts_with('+') && s.trim() == s => Ok(m.unify(a[1], Cell::Int(v))),
                _ => Ok(false),
            }
        }
        c => Err(m.type_error(ATOM, c)),
    }
}

fn bi_atom_concat(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let x = m.deref(a[0]);
    let y = m.deref(a[1]);
    if !matches!(x, Cell::Ref(_)) && !matches!(y, Cell::Ref(_)) {
        let s = m.text_of(x)? + &m.text_of(y)?;
        let at = m.mk_atom(&s);
        return Ok(m.unify(a[2], at));
    }
    let whole = m.text_of(a[2])?;
    let mut alts = Vec::new();
    let mut idx: Vec<usize> = whole.char_indices().map(|(i, _)| i).collect();
    idx.push(whole.len());
    m.reserve(idx.len() * 4)?;
    for &i in &idx {
        let (l, r) = whole.split_at(i);
        let la = m.db.atoms.intern(l);
        let ra = m.db.atoms.intern(r);
        alts.push(crate::cell::build(|s| {
            push_struct(s, COMMA, &[Cell::Atom(la), Cell::Atom(ra)])
        }));
    }
    let target = push_struct(&mut m.heap, COMMA, &[a[0], a[1]]);
    m.alternatives(target, alts)
}

fn bi_atomic_list_concat(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let sep = m.text_of(a[1])?;
    // Join mode if the list is proper and all elements are bound.
    let mut join: Option<Vec<Cell>> = None;
    if m.proper_list_len(a[0]).is_some() {
        let items = m.list_items(a[0])?;
        if items.iter().all(|&c| !matches!(m.deref(c), Cell::Ref(_))) {
            join = Some(items);
        }
    }
    if let Some(items) = join {
        let mut s = String::new();
        for (i, it) in items.iter().enumerate() {
            if i > 0 {
                s.push_str(&sep);
            }
            s.push_str(&m.text_of(*it)?);
        }
        let at = m.mk_atom(&s);
        return Ok(m.unify(a[2], at));
    }
    if sep.is_empty() {
        return Err(inst_error());
    }
    let whole = m.text_of(a[2])?;
    let parts: Vec<Cell> = whole.split(sep.as_str()).map(|p| m.mk_atom(p)).collect();
    m.reserve(parts.len() * 3)?;
    let l = push_list(&mut m.heap, &parts, Cell::Atom(NIL));
    Ok(m.unify(a[0], l))
}

fn bi_sub_atom(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let s = m.text_of(a[0])?;
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let mut alts = Vec::new();
    let sub_known = match m.deref(a[4]) {
        Cell::Ref(_) => None,
        _ => Some(m.text_of(a[4])?.chars().collect::<Vec<char>>()),
    };
    let fixed = |c: Cell, m: &Machine<'_>| match m.deref(c) {
        Cell::Int(i) => Some(i),
        _ => None,
    };
    let (fb, fl, fa) = (fixed(a[1], m), fixed(a[2], m), fixed(a[3], m));
    for b in 0..=n {
        if fb.is_some_and(|x| x != b as i64) {
            continue;
        }
        for l in 0..=n - b {
            if fl.is_some_and(|x| x != l as i64) || fa.is_some_and(|x| x != (n - b - l) as i64) {
                continue;
            }
            if let Some(sub) = &sub_known {
                if sub.len() != l || chars[b..b + l] != sub[..] {
                    continue;
                }
            }
            let text: String = chars[b..b + l].iter().collect();
            let at = m.db.atoms.intern(&text);
            alts.push(crate::cell::build(|st| {
                push_struct(
                    st,
                    COMMA,
                    &[
                        Cell::Int(b as i64),
                        Cell::Int(l as i64),
                        Cell::Int((n - b - l) as i64),
                        Cell::Atom(at),
                    ],
                )
            }));
            if alts.len() > 100_000 {
                return Err(PErr::Limit(crate::Resource::Memory));
            }
        }
    }
    let target = push_struct(&mut m.heap, COMMA, &[a[1], a[2], a[3], a[4]]);
    m.alternatives(target, alts)
}

fn case_atom(m: &mut Machine<'_>, a: &[Cell], up: bool) -> Res<bool> {
    let s = m.text_of(a[0])?;
    let t = if up {
        s.to_uppercase()
    } else {
        s.to_lowercase()
    };
    let at = m.mk_atom(&t);
    Ok(m.unify(a[1], at))
}

fn bi_term_to_atom(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    match m.deref(a[1]) {
        Cell::Ref(_) => {
            let s = m.render(a[0], WriteOpts::WRITEQ);
            let at = m.mk_atom(&s);
            Ok(m.unify(a[1], at))
        }
        _ => {
            let s = m.text_of(a[1])?;
            let (t, _) = m.parse_on_heap(&s)?;
            Ok(m.unify(a[0], t))
        }
    }
}

fn bi_atom_to_term(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let s = m.text_of(a[0])?;
    let (t, vars) = m.parse_on_heap(&s)?;
    let mut items = Vec::new();
    for (name, v) in vars {
        let n = m.mk_atom(&name);
        items.push(push_struct(&mut m.heap, EQUALS, &[n, v]));
    }
    let l = push_list(&mut m.heap, &items, Cell::Atom(NIL));
    Ok(m.unify(a[1], t) && m.unify(a[2], l))
}

fn out_term(m: &mut Machine<'_>, c: Cell, opts: WriteOpts) -> Res<bool> {
    let s = m.render(c, opts);
    m.db.output.push_str(&s);
    Ok(true)
}

fn format_error(m: &mut Machine<'_>, msg: &str) -> PErr {
    let a = m.db.atoms.intern(msg);
    m.error1(FORMAT, a)
}

fn bi_format(m: &mut Machine<'_>, f: Cell, args: Cell) -> Res<bool> {
    let fmt = match m.deref(f) {
        Cell::Atom(_) | Cell::Int(_) => m.text_of(f)?,
        _ => text_from_list(m, f, TextKind::Codes)?,
    };
    let mut args: Vec<Cell> = match m.proper_list_len(args) {
        Some(_) => m.list_items(args)?,
        None => alloc::vec![args],
    };
    args.reverse();
    let mut out = String::new();
    let mut it = fmt.chars().peekable();
    while let Some(c) = it.next() {
        if c != '~' {
            out.push(c);
            continue;
        }
        let mut num: Option<i64> = None;
        if it.peek() == Some(&'*') {
            it.next();
            let Some(x) = args.pop() else {
                return Err(format_error(m, "not enough arguments"));
            };
            num = Some(m.int_arg(x)?);
        } else {
            let mut digits = String::new();
            while let Some(d) = it.peek().filter(|d| d.is_ascii_digit()) {
                digits.push(*d);
                it.next();
            }
            if !digits.is_empty() {
                num = digits.parse().ok();
            }
        }
        let Some(d) = it.next() else {
            return Err(format_error(m, "truncated format directive"));
        };
        let mut next_arg = |m: &mut Machine<'_>| -> Res<Cell> {
            args.pop()
                .ok_or_else(|| format_error(m, "not enough arguments"))
        };
        match d {
            '~' => out.push('~'),
            'n' => {
                for _ in 0..num.unwrap_or(1).clamp(0, 1000) {
                    out.push('\n');
                }
            }
            'w' | 'p' | 'q' | 'a' => {
                let x = next_arg(m)?;
                let opts = if d == 'q' || d == 'p' {
                    WriteOpts::WRITEQ
                } else {
                    WriteOpts::WRITE
                };
                out.push_str(&m.render(x, opts));
            }
            'd' | 'D' => {
                let x = next_arg(m)?;
                let v = match m.deref(x) {
                    Cell::Int(v) => v,
                    Cell::Ref(_) => return Err(inst_error()),
                    c => return Err(m.type_error(INTEGER, c)),
                };
                let mut digits = v.unsigned_abs().to_string();
                let mut frac = String::new();
                if let Some(k) = num.filter(|&k| k > 0) {
                    let k = k as usize;
                    while digits.len() <= k {
                        digits.insert(0, '0');
                    }
                    frac = digits.split_off(digits.len() - k);
                }
                if d == 'D' {
                    let mut g = String::new();
                    for (i, ch) in digits.chars().enumerate() {
                        if i > 0 && (digits.len() - i) % 3 == 0 {
                            g.push(',');
                        }
                        g.push(ch);
                    }
                    digits = g;
                }
                if v < 0 {
                    out.push('-');
                }
                out.push_str(&digits);
                if !frac.is_empty() {
                    out.push('.');
                    out.push_str(&frac);
                }
            }
            's' => {
                let x = next_arg(m)?;
                let s = text_from_list(m, x, TextKind::Codes)?;
                out.push_str(&s);
            }
            'c' => {
                let x = next_arg(m)?;
                let code = m.int_arg(x)?;
                let ch = u32::try_from(code)
                    .ok()
                    .and_then(char::from_u32)
                    .unwrap_or('?');
                for _ in 0..num.unwrap_or(1).clamp(0, 10_000) {
                    out.push(ch);
                }
            }
            'r' => {
                let x = next_arg(m)?;
                let v = m.int_arg(x)?;
                let radix = num.unwrap_or(8);
                if !(2..=36).contains(&radix) {
                    return Err(format_error(m, "bad radix"));
                }
                let mut u = v.unsigned_abs();
                let mut ds = Vec::new();
                loop {
                    ds.push(
                        core::char::from_digit((u % radix as u64) as u32, radix as u32)
                            .unwrap_or('?'),
                    );
                    u /= radix as u64;
                    if u == 0 {
                        break;
                    }
                }
                if v < 0 {
                    out.push('-');
                }
                out.extend(ds.iter().rev());
            }
            'i' => {
                next_arg(m)?;
            }
            't' | '|' | '+' => {}
            _ => return Err(format_error(m, "unknown directive")),
        }
    }
    if !args.is_empty() {
        return Err(format_error(m, "too many arguments"));
    }
    m.db.output.push_str(&out);
    Ok(true)
}

// -------------------------------------------------------------------------------------------
// Database-level directives

fn bi_op(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let p = m.int_arg(a[0])?;
    if !(0..=1200).contains(&p) {
        return Err(m.error2(DOMAIN_ERROR, OPERATOR_PRIORITY, Cell::Int(p)));
    }
    let ty_atom = m.atom_arg(a[1])?;
    let Some(ty) = OpType::parse(m.db.atoms.name(ty_atom)) else {
        return Err(m.error2(DOMAIN_ERROR, OPERATOR_SPECIFIER, Cell::Atom(ty_atom)));
    };
    let names = match m.deref(a[2]) {
        Cell::Atom(x) if x != NIL => alloc::vec![Cell::Atom(x)],
        _ => m.list_items(a[2])?,
    };
    for n in names {
        let at = m.atom_arg(n)?;
        if at == COMMA {
            let op = intern(m, "operator");
            return Err(permission_error_in(&mut m.heap, MODIFY, op, Cell::Atom(at)));
        }
        let name = m.db.atoms.name(at).to_string();
        m.db.ops.add(&name, p as u16, ty);
    }
    Ok(true)
}

fn bi_current_op(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let defs: Vec<(String, u16, &'static str)> =
        m.db.ops
            .all()
            .map(|(n, d)| (n.to_string(), d.pri, d.ty.name()))
            .collect();
    let mut alts = Vec::new();
    for (n, p, t) in defs {
        let na = m.db.atoms.intern(&n);
        let ta = m.db.atoms.intern(t);
        alts.push(crate::cell::build(|s| {
            push_struct(
                s,
                OP,
                &[Cell::Int(p as i64), Cell::Atom(ta), Cell::Atom(na)],
            )
        }));
    }
    let target = push_struct(&mut m.heap, OP, &[a[0], a[1], a[2]]);
    m.alternatives(target, alts)
}

fn bi_dynamic(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let mut stack = alloc::vec![a[0]];
    while let Some(c) = stack.pop() {
        match m.deref(c) {
            Cell::Str(p)
                if m.heap[p as usize] == Cell::Fun(COMMA, 2)
                    || m.heap[p as usize] == Cell::Fun(DOT, 2) =>
            {
                stack.push(m.arg_at(p, 1));
                stack.push(m.arg_at(p, 0));
            }
            Cell::Atom(NIL) => {}
            Cell::Str(p) if m.heap[p as usize] == Cell::Fun(SLASH, 2) => {
                let f = m.atom_arg(m.arg_at(p, 0))?;
                let n = m.int_arg(m.arg_at(p, 1))?;
                let key = (f, n as u32);
                if m.db.is_builtin(key) {
                    let pi = indicator(&mut m.heap, f, n as u32);
                    return Err(permission_error_in(
                        &mut m.heap,
                        MODIFY,
                        STATIC_PROCEDURE,
                        pi,
                    ));
                }
                let pred = m.db.preds.entry(key).or_default();
                if pred.library {
                    *pred = Default::default();
                }
                pred.dynamic = true;
            }
            Cell::Ref(_) => return Err(inst_error()),
            c => return Err(m.type_error(PREDICATE_INDICATOR, c)),
        }
    }
    Ok(true)
}

fn bi_set_flag(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let f = m.atom_arg(a[0])?;
    let v = m.deref(a[1]);
    if m.db.atoms.name(f) == "double_quotes" {
        let dq = match v {
            Cell::Atom(CODES) => DoubleQuotes::Codes,
            Cell::Atom(CHARS) => DoubleQuotes::Chars,
            Cell::Atom(ATOM) => DoubleQuotes::Atom,
            Cell::Atom(STRING) => DoubleQuotes::Codes,
            Cell::Ref(_) => return Err(inst_error()),
            c => return Err(m.error2(DOMAIN_ERROR, FLAG_VALUE, c)),
        };
        m.db.dq = dq;
    }
    Ok(true)
}

fn bi_setval(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let k = m.atom_arg(a[0])?;
    let v = m.copy(a[1])?;
    m.db.globals.insert(k, v);
    Ok(true)
}

fn bi_getval(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let k = m.atom_arg(a[0])?;
    let Some(v) = m.db.globals.get(&k).cloned() else {
        let var = intern(m, "variable");
        return Err(m.error2(EXISTENCE_ERROR, var, Cell::Atom(k)));
    };
    m.reserve(v.size())?;
    let c = v.load_root(&mut m.heap, 0);
    Ok(m.unify(a[1], c))
}

fn bi_numbervars(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let mut n = m.int_arg(a[1])?;
    let vars = m.term_vars(a[0], false);
    m.reserve(vars.len() * 2)?;
    for v in vars {
        let t = push_struct(&mut m.heap, VAR_FUNCTOR, &[Cell::Int(n)]);
        m.unify(v, t);
        n += 1;
    }
    Ok(m.unify(a[2], Cell::Int(n)))
}

fn bi_current_predicate(m: &mut Machine<'_>, a: &[Cell]) -> Res<bool> {
    let keys: Vec<(Atom, u32)> =
        m.db.preds
            .iter()
            .filter(|(_, p)| !p.clauses.is_empty() || p.dynamic)
            .filter(|(_, p)| !p.library)
            .map(|(k, _)| *k)
            .collect();
    let mut alts = Vec::new();
    for (f, n) in keys {
        if m.db.atoms.name(f).starts_with('$') {
            continue;
        }
        alts.push(crate::cell::build(|s| {
            push_struct(s, SLASH, &[Cell::Atom(f), Cell::Int(n as i64)])
        }));
    }
    let t = m.deref(a[0]);
    match t {
        Cell::Ref(_) => {}
        Cell::Str(p) if m.heap[p as usize] == Cell::Fun(SLASH, 2) => {}
        c => return Err(m.type_error(PREDICATE_INDICATOR, c)),
    }
    m.alternatives(t, alts)
}
