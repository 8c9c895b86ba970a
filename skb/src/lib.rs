//! # SKB: the System Knowledge Base
//!
//! A small Prolog engine plus the placement rules of the multikernel. At boot the kernel and
//! monitors add facts about the machine (cores, packages, NUMA nodes and distances, memory,
//! PCI devices, measured URPC latencies); programs then ask placement questions: which NUMA node
//! to allocate from for a core, where to put new dispatchers, which multicast tree reaches a set
//! of cores, which transport to use between two cores.
//!
//! The crate is `no_std` + `alloc` and builds for `x86_64-unknown-none`; the `std` feature adds
//! [`cli::cli_main`] (the host command line behind `cargo xtask skb`).
//!
//! ## Engine
//!
//! [`Skb`] holds a clause database. [`Skb::consult`] loads Prolog text, [`Skb::add_fact`] /
//! [`Skb::add_facts_from`] add ground facts programmatically, and [`Skb::query`] /
//! [`Skb::solutions`] run a goal under [`Limits`] (inference steps, term-store cells,
//! pending goals plus choicepoints), so a runaway query ends with
//! [`SkbError::ResourceLimit`] instead of hanging. Every solution is available as the goal
//! instantiated and written like SWI-Prolog's `writeq/1` ([`Solution::text`]) and as
//! structured bindings ([`Solution::get`], [`Solution::int`], [`Solution::atom`], ...).
//!
//! The solver is a goal-stack / choicepoint-stack machine; neither the solver nor unification,
//! comparison, copying or writing recurse on the Rust stack, so deep Prolog recursion and long
//! lists are bounded only by the limits. The reader limits bracket/operator nesting to 200
//! levels (right-nested `xfy` chains such as long conjunctions are read iteratively).
//!
//! ### Supported Prolog
//!
//! * Syntax: atoms (plain, symbolic, quoted with ISO escapes), variables, 64-bit integers
//!   (decimal, `0x`/`0o`/`0b`, `0'c`, `_` digit groups), lists incl. `[H|T]`, `{}`/curly terms,
//!   `%` and `/* */` comments, SWI-Prolog's default operator table and `op/3`. Double-quoted
//!   text is a list of character codes by default (`set_prolog_flag(double_quotes, chars|atom)`
//!   changes that); back-quoted text is always codes. There are **no floats** (a float literal
//!   is a syntax error, and `X is 7/2` raises `evaluation_error(undefined)`; exact `/` gives an
//!   integer) and no strings as a separate type. Integer overflow raises
//!   `evaluation_error(int_overflow)` (SWI-Prolog would switch to big integers).
//! * Control: `,` `;` `->` `*->` `\+` `!` (cut is local to `call/N`, the condition of `->`,
//!   `\+`, `findall/3` and `catch/3`, transparent through `,` and `;`), `call/1..8`, `not/1`,
//!   `catch/3`, `throw/1`, `findall/3,4`, `forall/2`, `once/1`, `ignore/1`,
//!   `aggregate_all/3` (`count`, `count(T)`, `sum`, `max`, `min`, `max(X,W)`, `min(X,W)`, `bag`,
//!   `set`). Not supported: `bagof/3`, `setof/3`, DCG (`-->`), modules, streams, strings.
//! * Builtins: unification and comparison (`=`, `\=`, `==`, `\==`, `@<`... `compare/3`), type
//!   tests, `is/2` and arithmetic comparison (`+ - * // / mod rem div min max abs sign gcd msb
//!   ** ^ << >> /\ \/ xor \`), `between/3`, `succ/2`, `plus/3`, `functor/3`, `arg/3`, `=../2`,
//!   `copy_term/2`, `msort/2`, `sort/2`, `sort/4`, `keysort/2`, `predsort/3`, `length/2`,
//!   `assert/1`, `asserta/1`, `assertz/1`, `retract/1`, `retractall/1`, `abolish/1`,
//!   `clause/2`, `dynamic/1`, atom/text builtins (`atom_codes/2`, `atom_chars/2`,
//!   `char_code/2`, `atom_length/2`, `atom_number/2`, `number_codes/2`, `atom_concat/3`,
//!   `atomic_list_concat/2,3`, `sub_atom/5`, `upcase_atom/2`, `term_to_atom/2`), output
//!   (`write/1`, `writeq/1`, `print/1`, `write_canonical/1`, `nl/0`, `tab/1`, `format/1,2`; the
//!   text is collected in a buffer, see [`Skb::take_output`]), `op/3`, `current_op/3`,
//!   `nb_setval/2`, `nb_getval/2`, `term_variables/2`, `numbervars/3`, `current_predicate/1`.
//! * Library (in Prolog): `append/2,3`, `member/2`, `memberchk/2`, `reverse/2`, `nth0/3`,
//!   `nth1/3`, `last/2`, `min_list/2`, `max_list/2`, `sum_list/2`, `sumlist/2`, `numlist/3`,
//!   `select/3`, `selectchk/3`, `exclude/3`, `include/3`, `partition/4`, `maplist/2..5`,
//!   `foldl/4..6`, `delete/3`, `subtract/3`, `intersection/3`, `union/3`, `list_to_set/2`,
//!   `sort/4`, `max_member/2`, `min_member/2`, `pairs_keys_values/3`, `pairs_keys/2`,
//!   `pairs_values/2`, `flatten/2`, `permutation/2`, `select/4`, `numlist/3`, `repeat/0`.
//!
//! Variables in answers are written `_G<n>`. Memory: there is no garbage collector; clause
//! heads are matched against the stored clause without copying, but every call leaves its
//! body goals on the heap until backtracking (about 10 cells per call of a typical recursive
//! list predicate); failure-driven loops and backtracking reclaim everything.
//!
//! Clauses loaded with [`Skb::consult`] are added to what is there (several texts may define
//! clauses of one predicate). A user definition of a library predicate replaces it. As in
//! SWI-Prolog, `assert`/`retract` on a predicate defined only by consulted clauses raises a
//! permission error unless it was declared `:- dynamic`; facts added through
//! [`Skb::add_fact`] are dynamic. Clause iteration follows the logical update view.
//!
//! ## Rules
//!
//! [`Skb::with_system_rules`] also loads the placement rules shipped in `skb/rules/`; see
//! [`rules`] for the fact schemas they use and the answers they give.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod arith;
mod atom;
mod builtins;
mod cell;
#[cfg(feature = "std")]
pub mod cli;
mod db;
mod error;
pub mod facts;
mod lexer;
mod machine;
mod ops;
mod order;
mod reader;
pub mod rules;
mod term;
mod writer;

pub use error::{Resource, SkbError};
pub use term::Term;

use alloc::string::String;
use alloc::vec::Vec;
use cell::Cell;
use core::borrow::Borrow;
use db::Db;
use error::PErr;
use lexer::Lexer;
use machine::Machine;
use reader::Reader;
use writer::WriteOpts;

/// The built-in library predicates, written in Prolog.
const BOOT_LIBRARY: &str = include_str!("boot.pl");

/// Per-query resource limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Maximum number of inference steps (goals run plus choicepoints resumed).
    pub max_steps: u64,
    /// Maximum number of term cells (16 bytes each) on the heap plus `findall/3` results.
    pub max_cells: usize,
    /// Maximum number of pending goal frames plus choicepoints.
    pub max_depth: usize,
}

impl Default for Limits {
    /// 10 million steps, 4 million cells (64 MiB), 1 million frames.
    fn default() -> Self {
        Limits {
            max_steps: 10_000_000,
            max_cells: 4_000_000,
            max_depth: 1_000_000,
        }
    }
}

impl Limits {
    /// Limits suitable for small queries on a kernel heap: 1 million steps, 256 Ki cells
    /// (4 MiB), 100 000 frames.
    pub const SMALL: Limits = Limits {
        max_steps: 1_000_000,
        max_cells: 262_144,
        max_depth: 100_000,
    };
}

/// One answer of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Solution {
    text: String,
    goal: Term,
    bindings: Vec<(String, Term)>,
}

impl Solution {
    /// The goal instantiated by this answer, written like SWI-Prolog's `writeq/1`.
    pub fn text(&self) -> &str {
        &self.text
    }
    /// The goal instantiated by this answer.
    pub fn goal(&self) -> &Term {
        &self.goal
    }
    /// Named variables of the query (excluding `_`) with their values, in order of appearance.
    pub fn bindings(&self) -> &[(String, Term)] {
        &self.bindings
    }
    /// The value of a query variable.
    pub fn get(&self, var: &str) -> Option<&Term> {
        self.bindings.iter().find(|(n, _)| n == var).map(|(_, t)| t)
    }
    /// The value of a query variable if it is an integer.
    pub fn int(&self, var: &str) -> Option<i64> {
        self.get(var)?.as_int()
    }
    /// The value of a query variable if it is an atom.
    pub fn atom(&self, var: &str) -> Option<&str> {
        self.get(var)?.as_atom()
    }
    /// The value of a query variable if it is a proper list.
    pub fn list(&self, var: &str) -> Option<&[Term]> {
        self.get(var)?.as_list()
    }
    /// The value of a query variable if it is a proper list of integers.
    pub fn int_list(&self, var: &str) -> Option<Vec<i64>> {
        self.get(var)?.as_int_list()
    }
}

/// The knowledge base: clauses, operators and flags.
pub struct Skb {
    db: Db,
}

impl Default for Skb {
    fn default() -> Self {
        Skb::new()
    }
}

impl Skb {
    /// An empty knowledge base with the builtins and the list library (no system rules).
    pub fn new() -> Skb {
        let mut skb = Skb { db: Db::new() };
        skb.db.loading_library = true;
        let r = skb.consult(BOOT_LIBRARY);
        skb.db.loading_library = false;
        debug_assert!(r.is_ok(), "boot library: {r:?}");
        skb
    }

    /// [`Skb::new`] plus the system placement rules ([`rules::SYSTEM_RULES`]).
    pub fn with_system_rules() -> Skb {
        let mut skb = Skb::new();
        let r = skb.load_system_rules();
        debug_assert!(r.is_ok(), "system rules: {r:?}");
        skb
    }

    /// Load the system placement rules.
    pub fn load_system_rules(&mut self) -> Result<(), SkbError> {
        for (_, text) in rules::SYSTEM_RULES {
            self.consult(text)?;
        }
        Ok(())
    }

    /// Load Prolog text: clauses are added, directives (`:- Goal.`) are run once (a failing
    /// directive is reported as [`SkbError::Uncaught`] `"directive failed: ..."`). Loading
    /// stops at the first error; clauses before it stay loaded.
    pub fn consult(&mut self, text: &str) -> Result<(), SkbError> {
        let mut lex = Lexer::new(text);
        loop {
            let db = &mut self.db;
            let mut r = Reader::with_lexer(lex, &mut db.atoms, &db.ops, db.dq);
            let res = r.read(false);
            lex = r.into_lexer();
            let rt = match res {
                Ok(Some(rt)) => rt,
                Ok(None) => return Ok(()),
                Err(e) => {
                    return Err(SkbError::Syntax {
                        line: e.line,
                        column: e.column,
                        message: e.message,
                    })
                }
            };
            let mut cells = rt.stored.cells;
            let root = rt.stored.roots[0];
            if let Cell::Str(p) = root {
                if let Cell::Fun(f, 1) = cells[p as usize] {
                    if f == atom::NECK || self.db.atoms.name(f) == "?-" {
                        let goal = cells[p as usize + 1];
                        self.run_directive(&cells, goal)?;
                        continue;
                    }
                }
                if let Cell::Fun(f, 2) = cells[p as usize] {
                    if self.db.atoms.name(f) == "-->" {
                        return Err(SkbError::Syntax {
                            line: 0,
                            column: 0,
                            message: "DCG rules (-->) are not supported".into(),
                        });
                    }
                }
            }
            let (key, head, body) =
                db::clause_parts(&self.db, &mut cells, root).map_err(|e| self.convert(e))?;
            let c = db::make_clause(&cells, head, body, usize::MAX).map_err(|e| self.convert(e))?;
            self.db.insert(key, c, true, false);
        }
    }

    fn run_directive(&mut self, cells: &[Cell], goal: Cell) -> Result<(), SkbError> {
        let mut m = Machine::new(&mut self.db, Limits::default());
        m.heap.extend_from_slice(cells);
        m.start(goal);
        match m.run() {
            Ok(true) => Ok(()),
            Ok(false) => {
                let text = m.render(goal, WriteOpts::WRITEQ);
                Err(SkbError::Uncaught(alloc::format!(
                    "directive failed: {text}"
                )))
            }
            Err(e) => {
                drop(m);
                Err(self.convert(e))
            }
        }
    }

    fn convert(&self, e: PErr) -> SkbError {
        match e {
            PErr::Ball(b) => error::from_ball(&self.db, &b),
            PErr::Limit(r) => SkbError::ResourceLimit(r),
        }
    }

    /// Add one clause given as a term (a fact, or `Head :- Body`). Its predicate becomes
    /// dynamic.
    pub fn add_fact(&mut self, fact: &Term) -> Result<(), SkbError> {
        let mut cells = Vec::new();
        let root = term::term_to_heap(&mut cells, &mut self.db.atoms, fact);
        let (key, head, body) =
            db::clause_parts(&self.db, &mut cells, root).map_err(|e| self.convert(e))?;
        let c = db::make_clause(&cells, head, body, usize::MAX).map_err(|e| self.convert(e))?;
        self.db.insert(key, c, true, true);
        Ok(())
    }

    /// Add many facts, e.g. `core(Id, ApicId, Package, Node)` terms built from ACPI tables.
    /// Returns how many were added.
    pub fn add_facts_from<I, T>(&mut self, facts: I) -> Result<usize, SkbError>
    where
        I: IntoIterator<Item = T>,
        T: Borrow<Term>,
    {
        let mut n = 0;
        for f in facts {
            self.add_fact(f.borrow())?;
            n += 1;
        }
        Ok(n)
    }

    /// Remove every clause of `name/arity` (the predicate stays defined, as dynamic). Returns
    /// how many clauses were removed.
    pub fn retract_all(&mut self, name: &str, arity: usize) -> usize {
        let key = (self.db.atoms.intern(name), arity as u32);
        let p = self.db.preds.entry(key).or_default();
        let n = p.clauses.len();
        for c in p.clauses.iter() {
            c.erase();
        }
        p.clauses = Default::default();
        p.dynamic = true;
        p.library = false;
        n
    }

    /// Run `goal` (Prolog text, a final `.` is optional) and collect all answers.
    pub fn query(&mut self, goal: &str, limits: Limits) -> Result<Vec<Solution>, SkbError> {
        self.solutions(goal, limits)?.collect()
    }

    /// The first answer of `goal`, if any.
    pub fn query_once(&mut self, goal: &str, limits: Limits) -> Result<Option<Solution>, SkbError> {
        self.solutions(goal, limits)?.next().transpose()
    }

    /// Run `goal` lazily: each item is the next answer, or the error that ended the query.
    pub fn solutions(&mut self, goal: &str, limits: Limits) -> Result<Solutions<'_>, SkbError> {
        let db = &mut self.db;
        let mut r = Reader::new(goal, &mut db.atoms, &db.ops, db.dq);
        let rt = match r.read(true) {
            Ok(Some(rt)) => rt,
            Ok(None) => {
                return Err(SkbError::Syntax {
                    line: 1,
                    column: 1,
                    message: "empty query".into(),
                })
            }
            Err(e) => {
                return Err(SkbError::Syntax {
                    line: e.line,
                    column: e.column,
                    message: e.message,
                })
            }
        };
        let mut m = Machine::new(&mut self.db, limits);
        let g = rt.stored.load_root(&mut m.heap, 0);
        let vars = rt
            .var_names
            .into_iter()
            .filter(|(n, _)| !n.starts_with('_'))
            .map(|(n, i)| (n, Cell::Ref(i)))
            .collect();
        m.start(g);
        Ok(Solutions {
            m,
            goal: g,
            vars,
            state: State::Fresh,
        })
    }

    /// Take the text written by `write/1`, `format/2`, ... since the last call.
    pub fn take_output(&mut self) -> String {
        core::mem::take(&mut self.db.output)
    }

    /// Read one term from text (variables become [`Term::Var`]).
    pub fn parse_term(&mut self, text: &str) -> Result<Term, SkbError> {
        let db = &mut self.db;
        let mut r = Reader::new(text, &mut db.atoms, &db.ops, db.dq);
        match r.read(true) {
            Ok(Some(rt)) => Ok(term::term_from_heap(
                &rt.stored.cells,
                &self.db.atoms,
                rt.stored.roots[0],
                usize::MAX,
            )
            .unwrap_or(Term::List(Vec::new()))),
            Ok(None) => Err(SkbError::Syntax {
                line: 1,
                column: 1,
                message: "empty text".into(),
            }),
            Err(e) => Err(SkbError::Syntax {
                line: e.line,
                column: e.column,
                message: e.message,
            }),
        }
    }

    /// Write a term like `writeq/1` with this knowledge base's operators.
    pub fn render(&self, t: &Term) -> String {
        term::render_public(t, &self.db.ops, WriteOpts::WRITEQ)
    }
}

enum State {
    Fresh,
    Running,
    Done,
}

/// Lazy answers of a query (see [`Skb::solutions`]).
pub struct Solutions<'a> {
    m: Machine<'a>,
    goal: Cell,
    vars: Vec<(String, Cell)>,
    state: State,
}

impl Solutions<'_> {
    /// Inference steps used so far.
    pub fn steps(&self) -> u64 {
        self.m.steps
    }

    /// Take the text written by output builtins so far.
    pub fn take_output(&mut self) -> String {
        core::mem::take(&mut self.m.db.output)
    }

    fn solution(&self) -> Result<Solution, SkbError> {
        let heap = &self.m.heap;
        let atoms = &self.m.db.atoms;
        let budget = self.m.limits.max_cells.saturating_mul(2);
        let too_big = SkbError::ResourceLimit(Resource::TermSize);
        let text = self.m.render(self.goal, WriteOpts::WRITEQ);
        if self.m.hit.get().is_some() {
            return Err(too_big);
        }
        let goal = term::term_from_heap(heap, atoms, self.goal, budget).ok_or(too_big.clone())?;
        let mut bindings = Vec::new();
        for (n, c) in &self.vars {
            let t = term::term_from_heap(heap, atoms, *c, budget).ok_or(too_big.clone())?;
            bindings.push((n.clone(), t));
        }
        Ok(Solution {
            text,
            goal,
            bindings,
        })
    }
}

impl Iterator for Solutions<'_> {
    type Item = Result<Solution, SkbError>;

    fn next(&mut self) -> Option<Self::Item> {
        let r = match self.state {
            State::Done => return None,
            State::Fresh => self.m.run(),
            State::Running => match self.m.backtrack() {
                Ok(true) => self.m.run(),
                other => other,
            },
        };
        match r {
            Ok(true) => {
                self.state = State::Running;
                let s = self.solution();
                if s.is_err() {
                    self.state = State::Done;
                }
                Some(s)
            }
            Ok(false) => {
                self.state = State::Done;
                None
            }
            Err(e) => {
                self.state = State::Done;
                Some(Err(match e {
                    PErr::Ball(b) => error::from_ball(self.m.db, &b),
                    PErr::Limit(r) => SkbError::ResourceLimit(r),
                }))
            }
        }
    }
}
