//! The solver: an iterative goal-stack / choicepoint-stack machine.
//!
//! * Goals waiting to run form linked continuations of [`Frame`]s in an arena (`frames`);
//!   a frame only points at older frames, so backtracking truncates the arena and a finished
//!   frame at the top that no choicepoint can come back to is dropped at once (deterministic
//!   tail calls run in constant frame space).
//! * A choicepoint records the heap, trail and frame-arena heights and the continuation; on
//!   backtracking the trail is undone and everything above those heights is discarded.
//! * Cut barriers are choicepoint-stack heights stored in goal frames.
//! * Nothing here recurses on the Rust stack in proportion to the Prolog program or data.

use crate::atom::*;
use crate::cell::{copy_out, deref, push_list, push_struct, Cell, Stored};
use crate::db::{existence_error_proc, first_arg_key, Clause, ClauseList, Db};
use crate::error::{error_ball, indicator, inst_error, type_error_in, PErr, Res, Resource};
use crate::writer::{Node, TermView};
use crate::Limits;
use alloc::vec::Vec;

pub(crate) const NONE: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
pub(crate) enum FrameKind {
    /// Run a goal with this cut barrier.
    Goal(Cell, u32),
    /// Commit of if-then-else: cut back to this height.
    CutTo(u32),
    /// Soft-cut: disable the else-branch choicepoint at this index.
    SoftCut(u32),
    /// findall/3: record an instance of the template in the choicepoint at this index, fail.
    Collect(Cell, u32),
    /// catch/3 goal finished: deactivate the catch choicepoint at this index.
    ExitCatch(u32),
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct Frame {
    pub(crate) kind: FrameKind,
    pub(crate) next: u32,
}

#[derive(Clone, Copy, Debug)]
enum Trail {
    Bind(u32),
    CatchActive(u32),
}

pub(crate) enum CpKind {
    Clauses {
        goal: Cell,
        clauses: ClauseList,
        next: usize,
    },
    Alt {
        goal: Cell,
        cut_b: u32,
    },
    Disabled,
    Between {
        var: Cell,
        next: i64,
        high: Option<i64>,
    },
    Alts {
        target: Cell,
        alts: Vec<Stored>,
        next: usize,
    },
    Retract {
        head: Cell,
        body: Cell,
        key: (Atom, u32),
        clauses: ClauseList,
        next: usize,
    },
    Findall {
        results: Vec<Stored>,
        size: usize,
        result: Cell,
        tail: Cell,
    },
    Catch {
        catcher: Cell,
        recovery: Cell,
        active: bool,
    },
}

pub(crate) struct Cp {
    pub(crate) kind: CpKind,
    heap: u32,
    trail: u32,
    frames: u32,
    cont: u32,
}

/// View of heap terms for the writer.
pub(crate) struct HeapView<'a> {
    pub(crate) heap: &'a [Cell],
    pub(crate) atoms: &'a AtomTable,
}

impl TermView for HeapView<'_> {
    type T = Cell;
    fn node(&self, t: Cell) -> Node<'_> {
        match deref(self.heap, t) {
            Cell::Ref(a) => Node::Var(a as u64),
            Cell::Atom(a) => Node::Atom(self.atoms.name(a), a == NIL),
            Cell::Int(i) => Node::Int(i),
            Cell::Str(p) => match self.heap[p as usize] {
                Cell::Fun(f, n) => Node::Compound(self.atoms.name(f), n as usize, f == NIL),
                _ => Node::Atom("?", false),
            },
            Cell::Fun(..) => Node::Atom("?", false),
        }
    }
    fn arg(&self, t: Cell, i: usize) -> Cell {
        match deref(self.heap, t) {
            Cell::Str(p) => self.heap[p as usize + 1 + i],
            c => c,
        }
    }
}

pub(crate) struct Machine<'d> {
    pub(crate) db: &'d mut Db,
    pub(crate) heap: Vec<Cell>,
    trail: Vec<Trail>,
    frames: Vec<Frame>,
    pub(crate) cps: Vec<Cp>,
    cont: u32,
    pub(crate) steps: u64,
    extra_cells: usize,
    pub(crate) limits: Limits,
    force_trail: bool,
    ustack: Vec<(Cell, Cell)>,
    hstack: Vec<(Cell, Cell)>,
    env: Vec<Option<Cell>>,
    /// Term-traversal work (unification, comparison, list walks...), counted against
    /// `limits.max_steps` together with `steps`.
    work: core::cell::Cell<u64>,
    /// Set when a traversal ran out of budget (e.g. on a cyclic term); the main loop reports it.
    pub(crate) hit: core::cell::Cell<Option<Resource>>,
}

impl<'d> Machine<'d> {
    pub(crate) fn new(db: &'d mut Db, limits: Limits) -> Self {
        Machine {
            db,
            heap: Vec::new(),
            trail: Vec::new(),
            frames: Vec::new(),
            cps: Vec::new(),
            cont: NONE,
            steps: 0,
            extra_cells: 0,
            limits,
            force_trail: false,
            ustack: Vec::new(),
            hstack: Vec::new(),
            env: Vec::new(),
            work: core::cell::Cell::new(0),
            hit: core::cell::Cell::new(None),
        }
    }

    /// Count one unit of traversal work; false (and `hit` set) when the step budget is gone.
    #[inline]
    pub(crate) fn tick(&self) -> bool {
        let w = self.work.get() + 1;
        self.work.set(w);
        if self.steps.saturating_add(w) > self.limits.max_steps {
            self.hit.set(Some(Resource::Steps));
            false
        } else {
            true
        }
    }

    /// Record that a traversal needed more memory than allowed.
    pub(crate) fn too_big(&self) {
        self.hit.set(Some(Resource::Memory));
    }

    fn check_hit(&self) -> Res<()> {
        match self.hit.get() {
            Some(r) => Err(PErr::Limit(r)),
            None => Ok(()),
        }
    }

    /// Cells still available under the memory limit.
    pub(crate) fn cells_left(&self) -> usize {
        self.limits
            .max_cells
            .saturating_sub(self.heap.len() + self.extra_cells)
    }

    /// Copy a heap term out (bounded by the memory limit).
    pub(crate) fn copy(&self, c: Cell) -> Res<Stored> {
        copy_out(&self.heap, c, self.cells_left()).ok_or(PErr::Limit(Resource::TermSize))
    }

    /// Start solving `goal` (already on the heap).
    pub(crate) fn start(&mut self, goal: Cell) {
        self.cont = NONE;
        self.push_goal(goal, 0);
    }

    pub(crate) fn view(&self) -> HeapView<'_> {
        HeapView {
            heap: &self.heap,
            atoms: &self.db.atoms,
        }
    }

    #[inline]
    pub(crate) fn deref(&self, c: Cell) -> Cell {
        deref(&self.heap, c)
    }

    /// Argument `i` (0-based) of the compound at header index `p`.
    #[inline]
    pub(crate) fn arg_at(&self, p: u32, i: usize) -> Cell {
        self.heap[p as usize + 1 + i]
    }

    fn push_frame(&mut self, kind: FrameKind, next: u32) -> u32 {
        let i = self.frames.len() as u32;
        self.frames.push(Frame { kind, next });
        i
    }

    /// Make `goal` the next thing to run, before the current continuation.
    pub(crate) fn push_goal(&mut self, goal: Cell, cut_b: u32) {
        self.cont = self.push_frame(FrameKind::Goal(goal, cut_b), self.cont);
    }

    fn push_cp(&mut self, kind: CpKind) {
        self.cps.push(Cp {
            kind,
            heap: self.heap.len() as u32,
            trail: self.trail.len() as u32,
            frames: self.frames.len() as u32,
            cont: self.cont,
        });
    }

    fn frame_mark(&self) -> u32 {
        self.cps.last().map_or(0, |c| c.frames)
    }

    /// Remove choicepoints down to `height` (cut).
    pub(crate) fn cut(&mut self, height: u32) {
        let h = height as usize;
        if h < self.cps.len() {
            for cp in &self.cps[h..] {
                if let CpKind::Findall { size, .. } = cp.kind {
                    self.extra_cells -= size;
                }
            }
            self.cps.truncate(h);
        }
    }

    fn pop_cp(&mut self) {
        let n = self.cps.len() as u32;
        self.cut(n.saturating_sub(1));
    }

    // ---------------------------------------------------------------------------------------
    // Bindings

    #[inline]
    fn bind(&mut self, a: u32, v: Cell) {
        self.heap[a as usize] = v;
        let hb = self.cps.last().map_or(0, |c| c.heap);
        if a < hb || self.force_trail {
            self.trail.push(Trail::Bind(a));
        }
    }

    /// Unify two terms; on failure some bindings may remain (the caller backtracks).
    pub(crate) fn unify(&mut self, a: Cell, b: Cell) -> bool {
        let mut stack = core::mem::take(&mut self.ustack);
        stack.clear();
        stack.push((a, b));
        let mut ok = true;
        while let Some((x, y)) = stack.pop() {
            if !self.tick() || stack.len() > self.limits.max_cells {
                self.too_big_if_stack(stack.len());
                ok = false;
                break;
            }
            let x = self.deref(x);
            let y = self.deref(y);
            match (x, y) {
                (Cell::Ref(i), Cell::Ref(j)) => {
                    if i < j {
                        self.bind(j, x)
                    } else if j < i {
                        self.bind(i, y)
                    }
                }
                (Cell::Ref(i), v) => self.bind(i, v),
                (v, Cell::Ref(j)) => self.bind(j, v),
                (Cell::Atom(p), Cell::Atom(q)) => {
                    if p != q {
                        ok = false;
                        break;
                    }
                }
                (Cell::Int(p), Cell::Int(q)) => {
                    if p != q {
                        ok = false;
                        break;
                    }
                }
                (Cell::Str(p), Cell::Str(q)) => {
                    if p == q {
                        continue;
                    }
                    let f = self.heap[p as usize];
                    if f != self.heap[q as usize] {
                        ok = false;
                        break;
                    }
                    let Cell::Fun(_, n) = f else {
                        ok = false;
                        break;
                    };
                    for i in (1..=n).rev() {
                        stack.push((self.heap[(p + i) as usize], self.heap[(q + i) as usize]));
                    }
                }
                _ => {
                    ok = false;
                    break;
                }
            }
        }
        stack.clear();
        self.ustack = stack;
        ok
    }

    fn too_big_if_stack(&self, n: usize) {
        if n > self.limits.max_cells {
            self.too_big();
        }
    }

    /// Would `a` and `b` unify? Leaves no bindings.
    pub(crate) fn unifiable(&mut self, a: Cell, b: Cell) -> bool {
        let mark = self.trail.len();
        let saved = self.force_trail;
        self.force_trail = true;
        let ok = self.unify(a, b);
        self.undo_trail(mark);
        self.force_trail = saved;
        ok
    }

    fn undo_trail(&mut self, mark: usize) {
        while self.trail.len() > mark {
            match self.trail.pop() {
                Some(Trail::Bind(a)) => {
                    if let Some(c) = self.heap.get_mut(a as usize) {
                        *c = Cell::Ref(a);
                    }
                }
                Some(Trail::CatchActive(i)) => {
                    if let Some(Cp {
                        kind: CpKind::Catch { active, .. },
                        ..
                    }) = self.cps.get_mut(i as usize)
                    {
                        *active = true;
                    }
                }
                None => {}
            }
        }
    }

    fn restore_top(&mut self) {
        let Some(cp) = self.cps.last() else { return };
        let (h, t, f, c) = (cp.heap, cp.trail, cp.frames, cp.cont);
        self.undo_trail(t as usize);
        self.heap.truncate(h as usize);
        self.frames.truncate(f as usize);
        self.cont = c;
    }

    // ---------------------------------------------------------------------------------------
    // Errors

    pub(crate) fn type_error(&mut self, ty: Atom, culprit: Cell) -> PErr {
        type_error_in(&mut self.heap, ty, culprit)
    }

    pub(crate) fn error1(&mut self, kind: Atom, what: Atom) -> PErr {
        PErr::Ball(error_ball(&mut self.heap, |s| {
            push_struct(s, kind, &[Cell::Atom(what)])
        }))
    }

    pub(crate) fn error2(&mut self, kind: Atom, what: Atom, culprit: Cell) -> PErr {
        PErr::Ball(error_ball(&mut self.heap, |s| {
            push_struct(s, kind, &[Cell::Atom(what), culprit])
        }))
    }

    pub(crate) fn eval_error(&mut self, what: Atom) -> PErr {
        self.error1(EVALUATION_ERROR, what)
    }

    /// Check that `n` more cells fit in the memory limit.
    pub(crate) fn reserve(&self, n: usize) -> Res<()> {
        if self.heap.len() + self.extra_cells + n > self.limits.max_cells {
            Err(PErr::Limit(Resource::Memory))
        } else {
            Ok(())
        }
    }

    /// Handle a thrown ball: unwind to the newest active matching catch/3.
    fn throw(&mut self, ball: Stored) -> Res<()> {
        loop {
            let Some(i) = self
                .cps
                .iter()
                .rposition(|c| matches!(c.kind, CpKind::Catch { active: true, .. }))
            else {
                return Err(PErr::Ball(ball));
            };
            self.cut(i as u32 + 1);
            self.restore_top();
            let CpKind::Catch {
                catcher, recovery, ..
            } = self.cps[i].kind
            else {
                return Err(PErr::Ball(ball));
            };
            self.pop_cp();
            self.reserve(ball.size())?;
            let b = ball.load_root(&mut self.heap, 0);
            if self.unify(catcher, b) {
                let height = self.cps.len() as u32;
                self.push_goal(recovery, height);
                return Ok(());
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // Main loop

    /// Run until the next solution (`true`) or final failure (`false`).
    pub(crate) fn run(&mut self) -> Res<bool> {
        loop {
            if self.cont == NONE {
                return Ok(true);
            }
            self.steps += 1;
            if self.steps > self.limits.max_steps {
                return Err(PErr::Limit(Resource::Steps));
            }
            if self.heap.len() + self.extra_cells > self.limits.max_cells {
                return Err(PErr::Limit(Resource::Memory));
            }
            if self.frames.len() + self.cps.len() > self.limits.max_depth {
                return Err(PErr::Limit(Resource::Depth));
            }
            let fi = self.cont;
            let f = self.frames[fi as usize];
            self.cont = f.next;
            if fi as usize + 1 == self.frames.len() && fi >= self.frame_mark() {
                self.frames.pop();
            }
            let r = match f.kind {
                FrameKind::Goal(g, cut_b) => self.call(g, cut_b),
                FrameKind::CutTo(h) => {
                    self.cut(h);
                    Ok(true)
                }
                FrameKind::SoftCut(i) => {
                    if let Some(cp) = self.cps.get_mut(i as usize) {
                        cp.kind = CpKind::Disabled;
                    }
                    Ok(true)
                }
                FrameKind::Collect(template, i) => self.collect(template, i).map(|_| false),
                FrameKind::ExitCatch(i) => {
                    if i as usize + 1 == self.cps.len() {
                        self.pop_cp();
                    } else if let Some(Cp {
                        kind: CpKind::Catch { active, .. },
                        ..
                    }) = self.cps.get_mut(i as usize)
                    {
                        *active = false;
                        self.trail.push(Trail::CatchActive(i));
                    }
                    Ok(true)
                }
            };
            self.check_hit()?;
            match r {
                Ok(true) => {}
                Ok(false) => {
                    if !self.backtrack()? {
                        return Ok(false);
                    }
                }
                Err(PErr::Ball(b)) => self.throw(b)?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Resume the newest choicepoint; `false` when there is none left.
    pub(crate) fn backtrack(&mut self) -> Res<bool> {
        loop {
            self.check_hit()?;
            if self.cps.is_empty() {
                return Ok(false);
            }
            self.steps += 1;
            if self.steps > self.limits.max_steps {
                return Err(PErr::Limit(Resource::Steps));
            }
            self.restore_top();
            let i = self.cps.len() - 1;
            match &mut self.cps[i].kind {
                CpKind::Clauses {
                    goal,
                    clauses,
                    next,
                } => {
                    let goal = *goal;
                    let cur = *next;
                    let clause = clauses[cur].clone();
                    let k = first_arg_key(&self.heap, goal);
                    let nn = (cur + 1..clauses.len()).find(|&j| clauses[j].may_match(k));
                    match nn {
                        Some(n) => *next = n,
                        None => self.pop_cp(),
                    }
                    if self.try_clause(goal, &clause, i as u32) {
                        return Ok(true);
                    }
                }
                CpKind::Alt { goal, cut_b } => {
                    let (g, b) = (*goal, *cut_b);
                    self.pop_cp();
                    self.push_goal(g, b);
                    return Ok(true);
                }
                CpKind::Disabled | CpKind::Catch { .. } => self.pop_cp(),
                CpKind::Between { var, next, high } => {
                    let (v, n) = (*var, *next);
                    if *high == Some(n) {
                        self.pop_cp();
                    } else {
                        *next = n + 1;
                    }
                    if self.unify(v, Cell::Int(n)) {
                        return Ok(true);
                    }
                }
                CpKind::Alts { target, alts, next } => {
                    let target = *target;
                    let alt = core::mem::take(&mut alts[*next]);
                    *next += 1;
                    if *next == alts.len() {
                        self.pop_cp();
                    }
                    self.reserve(alt.size())?;
                    let t = alt.load_root(&mut self.heap, 0);
                    if self.unify(target, t) {
                        return Ok(true);
                    }
                }
                CpKind::Retract {
                    head,
                    body,
                    key,
                    clauses,
                    next,
                } => {
                    let (h, b, key) = (*head, *body, *key);
                    let k = first_arg_key(&self.heap, h);
                    let cur = (*next..clauses.len())
                        .find(|&j| clauses[j].may_match(k) && !clauses[j].is_erased());
                    let Some(cur) = cur else {
                        self.pop_cp();
                        continue;
                    };
                    let clause = clauses[cur].clone();
                    *next = cur + 1;
                    if *next >= clauses.len() {
                        self.pop_cp();
                    }
                    self.reserve(clause.code.size())?;
                    let roots = clause.code.load(&mut self.heap);
                    if self.unify(h, roots[0]) && self.unify(b, roots[1]) && !clause.is_erased() {
                        clause.erase();
                        self.db.remove(key, &clause);
                        return Ok(true);
                    }
                }
                CpKind::Findall { .. } => {
                    let Some(Cp {
                        kind:
                            CpKind::Findall {
                                results,
                                size,
                                result,
                                tail,
                            },
                        ..
                    }) = self.cps.pop()
                    else {
                        continue;
                    };
                    self.extra_cells -= size;
                    self.reserve(size + 3 * results.len())?;
                    let items: Vec<Cell> = results
                        .iter()
                        .map(|s| s.load_root(&mut self.heap, 0))
                        .collect();
                    let list = push_list(&mut self.heap, &items, tail);
                    if self.unify(result, list) {
                        return Ok(true);
                    }
                }
            }
        }
    }

    fn collect(&mut self, template: Cell, i: u32) -> Res<()> {
        let s = self.copy(template)?;
        let n = s.size() + 1;
        self.reserve(n)?;
        self.extra_cells += n;
        if let Some(Cp {
            kind: CpKind::Findall { results, size, .. },
            ..
        }) = self.cps.get_mut(i as usize)
        {
            results.push(s);
            *size += n;
        }
        Ok(())
    }

    /// Rename `clause` and unify its head with `goal`; on success its body goals become the
    /// next goals with cut barrier `cut_b`. The head is matched against the stored clause
    /// directly, so only what the body needs (and head structure bound to goal variables) is
    /// built on the heap.
    fn try_clause(&mut self, goal: Cell, clause: &Clause, cut_b: u32) -> bool {
        let code = &clause.code.cells;
        let mut env = core::mem::take(&mut self.env);
        env.clear();
        env.resize(code.len(), None);
        let ok = self.match_head(goal, clause, &mut env);
        if ok {
            for &g in clause.goals.iter().rev() {
                let t = self.instantiate(code, g, &mut env);
                self.push_goal(t, cut_b);
            }
        }
        self.env = env;
        ok
    }

    fn match_head(&mut self, goal: Cell, clause: &Clause, env: &mut [Option<Cell>]) -> bool {
        let code = &clause.code.cells;
        let (Cell::Str(p), Cell::Str(q)) = (self.deref(goal), clause.code.roots[0]) else {
            return true;
        };
        let Cell::Fun(_, n) = code[q as usize] else {
            return false;
        };
        let mut stack = core::mem::take(&mut self.hstack);
        stack.clear();
        for i in (1..=n).rev() {
            stack.push((self.heap[(p + i) as usize], code[(q + i) as usize]));
        }
        let mut ok = true;
        while let Some((h, c)) = stack.pop() {
            if !self.tick() {
                ok = false;
                break;
            }
            match c {
                Cell::Ref(v) => match env[v as usize] {
                    None => env[v as usize] = Some(h),
                    Some(x) => {
                        if !self.unify(x, h) {
                            ok = false;
                            break;
                        }
                    }
                },
                Cell::Str(cq) => match self.deref(h) {
                    Cell::Ref(hv) => {
                        let t = self.instantiate(code, c, env);
                        self.bind(hv, t);
                    }
                    Cell::Str(hp) => {
                        let f = code[cq as usize];
                        if self.heap[hp as usize] != f {
                            ok = false;
                            break;
                        }
                        let Cell::Fun(_, m) = f else {
                            ok = false;
                            break;
                        };
                        for i in (1..=m).rev() {
                            stack.push((self.heap[(hp + i) as usize], code[(cq + i) as usize]));
                        }
                    }
                    _ => {
                        ok = false;
                        break;
                    }
                },
                c => match self.deref(h) {
                    Cell::Ref(hv) => self.bind(hv, c),
                    x => {
                        if x != c {
                            ok = false;
                            break;
                        }
                    }
                },
            }
        }
        stack.clear();
        self.hstack = stack;
        ok
    }

    /// Build a clause subterm on the heap, with clause variables taken from / recorded in `env`.
    fn instantiate(&mut self, code: &[Cell], c: Cell, env: &mut [Option<Cell>]) -> Cell {
        let mut work: Vec<(u32, u32, u32)> = Vec::new();
        let root = self.inst_cell(code, c, env, &mut work);
        while let Some((q, h, n)) = work.pop() {
            for i in 1..=n {
                let v = self.inst_cell(code, code[(q + i) as usize], env, &mut work);
                self.heap[(h + i) as usize] = v;
            }
        }
        root
    }

    #[inline]
    fn inst_cell(
        &mut self,
        code: &[Cell],
        c: Cell,
        env: &mut [Option<Cell>],
        work: &mut Vec<(u32, u32, u32)>,
    ) -> Cell {
        match c {
            Cell::Ref(v) => match env[v as usize] {
                Some(x) => x,
                None => {
                    let a = self.heap.len() as u32;
                    self.heap.push(Cell::Ref(a));
                    env[v as usize] = Some(Cell::Ref(a));
                    Cell::Ref(a)
                }
            },
            Cell::Str(q) => {
                let f = code[q as usize];
                let Cell::Fun(_, n) = f else {
                    return Cell::Atom(NIL);
                };
                let h = self.heap.len() as u32;
                self.heap.push(f);
                self.heap
                    .extend(core::iter::repeat_n(Cell::Atom(NIL), n as usize));
                work.push((q, h, n));
                Cell::Str(h)
            }
            c => c,
        }
    }

    fn call_pred(&mut self, goal: Cell, clauses: ClauseList) -> Res<bool> {
        let k = first_arg_key(&self.heap, goal);
        let Some(first) = clauses.iter().position(|c| c.may_match(k)) else {
            return Ok(false);
        };
        let next = (first + 1..clauses.len()).find(|&j| clauses[j].may_match(k));
        let height = self.cps.len() as u32;
        let clause = clauses[first].clone();
        if let Some(n) = next {
            self.push_cp(CpKind::Clauses {
                goal,
                clauses,
                next: n,
            });
        }
        Ok(self.try_clause(goal, &clause, height))
    }

    // ---------------------------------------------------------------------------------------
    // Calling goals

    /// Decompose a callable term: (name, arity, header index or 0).
    pub(crate) fn callable(&mut self, goal: Cell) -> Res<(Atom, u32, u32)> {
        match self.deref(goal) {
            Cell::Atom(a) => Ok((a, 0, 0)),
            Cell::Str(p) => match self.heap[p as usize] {
                Cell::Fun(f, n) => Ok((f, n, p)),
                _ => Err(inst_error()),
            },
            Cell::Ref(_) => Err(inst_error()),
            c => Err(self.type_error(CALLABLE, c)),
        }
    }

    fn if_then_else(&mut self, c: Cell, t: Cell, e: Cell, cut_b: u32, soft: bool) {
        let h = self.cps.len() as u32;
        self.push_cp(CpKind::Alt { goal: e, cut_b });
        let ft = self.push_frame(FrameKind::Goal(t, cut_b), self.cont);
        let kind = if soft {
            FrameKind::SoftCut(h)
        } else {
            FrameKind::CutTo(h)
        };
        let fc = self.push_frame(kind, ft);
        self.cont = self.push_frame(FrameKind::Goal(c, h + 1), fc);
    }

    /// Add `extra` arguments to callable `g` (for call/N).
    pub(crate) fn add_args(&mut self, g: Cell, extra: &[Cell]) -> Res<Cell> {
        if extra.is_empty() {
            return Ok(g);
        }
        let (name, n, p) = self.callable(g)?;
        let mut args: Vec<Cell> = (0..n as usize).map(|i| self.arg_at(p, i)).collect();
        args.extend_from_slice(extra);
        Ok(push_struct(&mut self.heap, name, &args))
    }

    fn call(&mut self, goal: Cell, cut_b: u32) -> Res<bool> {
        let (name, arity, p) = self.callable(goal)?;
        let key = (name, arity);
        if let Some(&b) = self.db.builtins.get(&key) {
            return match b {
                crate::builtins::Builtin::Det(f) => {
                    let mut args = [Cell::Int(0); 8];
                    let n = (arity as usize).min(8);
                    for (i, a) in args.iter_mut().enumerate().take(n) {
                        *a = self.heap[p as usize + 1 + i];
                    }
                    f(self, &args[..n])
                }
                crate::builtins::Builtin::Control(c) => self.control(c, p, arity, cut_b),
            };
        }
        if let Some(pred) = self.db.preds.get(&key) {
            let clauses = pred.clauses.clone();
            return self.call_pred(goal, clauses);
        }
        Err(existence_error_proc(name, arity))
    }

    fn control(
        &mut self,
        c: crate::builtins::Control,
        p: u32,
        arity: u32,
        cut_b: u32,
    ) -> Res<bool> {
        use crate::builtins::Control as C;
        let a = |m: &Self, i: usize| m.arg_at(p, i);
        match c {
            C::True => Ok(true),
            C::Fail => Ok(false),
            C::Cut => {
                self.cut(cut_b);
                Ok(true)
            }
            C::Conj => {
                let (x, y) = (a(self, 0), a(self, 1));
                self.push_goal(y, cut_b);
                self.push_goal(x, cut_b);
                Ok(true)
            }
            C::Or => {
                let (l, r) = (a(self, 0), a(self, 1));
                if let Cell::Str(q) = self.deref(l) {
                    let f = self.heap[q as usize];
                    if f == Cell::Fun(ARROW, 2) || f == Cell::Fun(SOFT_ARROW, 2) {
                        let (c, t) = (self.arg_at(q, 0), self.arg_at(q, 1));
                        self.if_then_else(c, t, r, cut_b, f == Cell::Fun(SOFT_ARROW, 2));
                        return Ok(true);
                    }
                }
                self.push_cp(CpKind::Alt { goal: r, cut_b });
                self.push_goal(l, cut_b);
                Ok(true)
            }
            C::IfThen | C::SoftIfThen => {
                let (cond, t) = (a(self, 0), a(self, 1));
                let soft = c == C::SoftIfThen;
                self.if_then_else(cond, t, Cell::Atom(FAIL), cut_b, soft);
                Ok(true)
            }
            C::Not => {
                let g = a(self, 0);
                self.if_then_else(g, Cell::Atom(FAIL), Cell::Atom(TRUE), cut_b, false);
                Ok(true)
            }
            C::Call => {
                let g = a(self, 0);
                let extra: Vec<Cell> = (1..arity as usize).map(|i| a(self, i)).collect();
                let g = self.add_args(g, &extra)?;
                self.callable(g)?;
                let h = self.cps.len() as u32;
                self.push_goal(g, h);
                Ok(true)
            }
            C::Findall | C::Findall4 => {
                let (t, g, r) = (a(self, 0), a(self, 1), a(self, 2));
                let tail = if c == C::Findall4 {
                    a(self, 3)
                } else {
                    Cell::Atom(NIL)
                };
                self.check_list_or_partial(r)?;
                self.push_cp(CpKind::Findall {
                    results: Vec::new(),
                    size: 0,
                    result: r,
                    tail,
                });
                let i = self.cps.len() as u32 - 1;
                let fc = self.push_frame(FrameKind::Collect(t, i), NONE);
                self.cont = self.push_frame(FrameKind::Goal(g, i + 1), fc);
                Ok(true)
            }
            C::Catch => {
                let (g, catcher, recovery) = (a(self, 0), a(self, 1), a(self, 2));
                self.push_cp(CpKind::Catch {
                    catcher,
                    recovery,
                    active: true,
                });
                let i = self.cps.len() as u32 - 1;
                self.cont = self.push_frame(FrameKind::ExitCatch(i), self.cont);
                self.push_goal(g, i + 1);
                Ok(true)
            }
            C::Throw => {
                let b = self.deref(a(self, 0));
                if let Cell::Ref(_) = b {
                    return Err(inst_error());
                }
                Err(PErr::Ball(self.copy(b)?))
            }
            C::Between => {
                let (lo, hi, x) = (a(self, 0), a(self, 1), a(self, 2));
                let lo = self.int_arg(lo)?;
                let hi = match self.deref(hi) {
                    Cell::Atom(at) if matches!(self.db.atoms.name(at), "inf" | "infinite") => None,
                    _ => Some(self.int_arg(hi)?),
                };
                match self.deref(x) {
                    Cell::Int(v) => Ok(v >= lo && hi.is_none_or(|h| v <= h)),
                    Cell::Ref(_) => {
                        if hi.is_some_and(|h| h < lo) {
                            return Ok(false);
                        }
                        let var = self.deref(x);
                        self.push_cp(CpKind::Between {
                            var,
                            next: lo,
                            high: hi,
                        });
                        Ok(false)
                    }
                    c => Err(self.type_error(INTEGER, c)),
                }
            }
            C::Retract => {
                let t = a(self, 0);
                let (head, body) = match self.deref(t) {
                    Cell::Str(q) if self.heap[q as usize] == Cell::Fun(NECK, 2) => {
                        (self.arg_at(q, 0), self.arg_at(q, 1))
                    }
                    _ => (t, Cell::Atom(TRUE)),
                };
                let (name, n, _) = self.callable(head)?;
                let key = (name, n);
                if self.db.is_builtin(key) {
                    let pi = indicator(&mut self.heap, name, n);
                    return Err(crate::error::permission_error_in(
                        &mut self.heap,
                        MODIFY,
                        STATIC_PROCEDURE,
                        pi,
                    ));
                }
                let Some(pred) = self.db.preds.get(&key) else {
                    return Ok(false);
                };
                if !pred.dynamic {
                    let pi = indicator(&mut self.heap, name, n);
                    return Err(crate::error::permission_error_in(
                        &mut self.heap,
                        MODIFY,
                        STATIC_PROCEDURE,
                        pi,
                    ));
                }
                let clauses = pred.clauses.clone();
                if clauses.is_empty() {
                    return Ok(false);
                }
                self.push_cp(CpKind::Retract {
                    head,
                    body,
                    key,
                    clauses,
                    next: 0,
                });
                Ok(false)
            }
        }
    }

    /// Offer each of `alts` in turn as a value of `target` (nondeterministic builtins).
    pub(crate) fn alternatives(&mut self, target: Cell, alts: Vec<Stored>) -> Res<bool> {
        if alts.is_empty() {
            return Ok(false);
        }
        self.push_cp(CpKind::Alts {
            target,
            alts,
            next: 0,
        });
        Ok(false)
    }

    pub(crate) fn int_arg(&mut self, c: Cell) -> Res<i64> {
        match self.deref(c) {
            Cell::Int(i) => Ok(i),
            Cell::Ref(_) => Err(inst_error()),
            c => Err(self.type_error(INTEGER, c)),
        }
    }

    /// Partial list or list check (for findall/msort results).
    pub(crate) fn check_list_or_partial(&mut self, c: Cell) -> Res<()> {
        let mut t = self.deref(c);
        loop {
            if !self.tick() {
                return self.check_hit();
            }
            match t {
                Cell::Ref(_) => return Ok(()),
                Cell::Atom(NIL) => return Ok(()),
                Cell::Str(p) if self.heap[p as usize] == Cell::Fun(DOT, 2) => {
                    t = self.deref(self.heap[p as usize + 2]);
                }
                _ => {
                    let c = self.deref(c);
                    return Err(self.type_error(LIST, c));
                }
            }
        }
    }

    /// Clauses of a predicate (for clause/2 and listing).
    pub(crate) fn clauses_of(&self, key: (Atom, u32)) -> Option<ClauseList> {
        self.db.preds.get(&key).map(|p| p.clauses.clone())
    }

    /// Insert a clause term from the heap (assert).
    pub(crate) fn assert_term(&mut self, t: Cell, at_end: bool) -> Res<()> {
        let (key, head, body) = crate::db::clause_parts(self.db, &mut self.heap, t)?;
        if let Some(p) = self.db.preds.get(&key) {
            if !p.dynamic && !p.clauses.is_empty() && !p.library {
                let pi = indicator(&mut self.heap, key.0, key.1);
                return Err(crate::error::permission_error_in(
                    &mut self.heap,
                    MODIFY,
                    STATIC_PROCEDURE,
                    pi,
                ));
            }
        }
        let c = crate::db::make_clause(&self.heap, head, body, self.cells_left())?;
        self.db.insert(key, c, at_end, true);
        Ok(())
    }
}
