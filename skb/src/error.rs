//! Error types.

use crate::atom::*;
use crate::cell::{copy_out, deref, push_struct, push_var, Cell, Stored};
use crate::db::Db;
use crate::writer::{write_term, WriteOpts};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Which resource limit a query ran into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// More inference steps than [`crate::Limits::max_steps`].
    Steps,
    /// More term-store cells than [`crate::Limits::max_cells`].
    Memory,
    /// More pending goals plus choicepoints than [`crate::Limits::max_depth`].
    Depth,
    /// A term too large to copy or write (also what a cyclic term, which unification without
    /// occurs check can create, runs into).
    TermSize,
}

/// Everything that can go wrong in the SKB. Prolog errors that are not caught by `catch/3`
/// arrive here, classified by their ISO error term.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SkbError {
    /// Bad Prolog text, with 1-based line and column.
    Syntax {
        line: usize,
        column: usize,
        message: String,
    },
    /// Call of a predicate that does not exist (`existence_error(procedure, Name/Arity)`).
    UnknownPredicate { name: String, arity: usize },
    /// Other `existence_error(Kind, Culprit)`.
    Existence { kind: String, culprit: String },
    /// `type_error(Expected, Culprit)`.
    Type { expected: String, culprit: String },
    /// `domain_error(Domain, Culprit)`.
    Domain { domain: String, culprit: String },
    /// `instantiation_error`: an argument was unbound where a value was needed.
    Instantiation,
    /// `evaluation_error(What)`: `zero_divisor`, `int_overflow`, `undefined`.
    Evaluation(String),
    /// `representation_error(What)`.
    Representation(String),
    /// `permission_error(Action, Type, Culprit)`.
    Permission {
        action: String,
        kind: String,
        culprit: String,
    },
    /// The query exceeded a configured limit (not catchable by `catch/3`).
    ResourceLimit(Resource),
    /// Any other uncaught ball, written with `writeq`.
    Uncaught(String),
}

impl SkbError {
    /// The ISO error-term name of this error (`type_error`, `existence_error`, ...), as used
    /// for comparing with other Prolog systems.
    pub fn iso_kind(&self) -> &'static str {
        match self {
            SkbError::Syntax { .. } => "syntax_error",
            SkbError::UnknownPredicate { .. } | SkbError::Existence { .. } => "existence_error",
            SkbError::Type { .. } => "type_error",
            SkbError::Domain { .. } => "domain_error",
            SkbError::Instantiation => "instantiation_error",
            SkbError::Evaluation(_) => "evaluation_error",
            SkbError::Representation(_) => "representation_error",
            SkbError::Permission { .. } => "permission_error",
            SkbError::ResourceLimit(_) => "resource_error",
            SkbError::Uncaught(_) => "uncaught",
        }
    }
}

impl fmt::Display for SkbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkbError::Syntax {
                line,
                column,
                message,
            } => write!(f, "syntax error at {line}:{column}: {message}"),
            SkbError::UnknownPredicate { name, arity } => {
                write!(f, "unknown procedure {name}/{arity}")
            }
            SkbError::Existence { kind, culprit } => write!(f, "{kind} {culprit} does not exist"),
            SkbError::Type { expected, culprit } => {
                write!(f, "type error: expected {expected}, found {culprit}")
            }
            SkbError::Domain { domain, culprit } => {
                write!(f, "domain error: expected {domain}, found {culprit}")
            }
            SkbError::Instantiation => write!(
                f,
                "instantiation error: argument is not sufficiently instantiated"
            ),
            SkbError::Evaluation(w) => write!(f, "arithmetic evaluation error: {w}"),
            SkbError::Representation(w) => write!(f, "representation error: {w}"),
            SkbError::Permission {
                action,
                kind,
                culprit,
            } => write!(f, "no permission to {action} {kind} {culprit}"),
            SkbError::ResourceLimit(r) => write!(f, "resource limit exceeded: {r:?}"),
            SkbError::Uncaught(b) => write!(f, "unhandled exception: {b}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SkbError {}

/// Internal error: a Prolog ball (catchable) or a resource limit.
#[derive(Debug)]
pub(crate) enum PErr {
    Ball(Stored),
    Limit(Resource),
}

pub(crate) type Res<T> = Result<T, PErr>;

/// Build `error(Formal, _)` on top of `store` (restored afterwards) and copy it out.
pub(crate) fn error_ball(store: &mut Vec<Cell>, f: impl FnOnce(&mut Vec<Cell>) -> Cell) -> Stored {
    let mark = store.len();
    let formal = f(store);
    let ctx = push_var(store);
    let e = push_struct(store, ERROR, &[formal, ctx]);
    let s = copy_out(store, e, 1 << 20).unwrap_or_else(|| {
        crate::cell::build(|s| {
            let f = push_struct(s, RESOURCE_ERROR, &[Cell::Atom(TERM_SIZE)]);
            let ctx = push_var(s);
            push_struct(s, ERROR, &[f, ctx])
        })
    });
    store.truncate(mark);
    s
}

pub(crate) fn type_error_in(store: &mut Vec<Cell>, ty: Atom, culprit: Cell) -> PErr {
    PErr::Ball(error_ball(store, |s| {
        push_struct(s, TYPE_ERROR, &[Cell::Atom(ty), culprit])
    }))
}

pub(crate) fn inst_error() -> PErr {
    PErr::Ball(error_ball(&mut Vec::new(), |_| {
        Cell::Atom(INSTANTIATION_ERROR)
    }))
}

pub(crate) fn permission_error_in(
    store: &mut Vec<Cell>,
    action: Atom,
    ty: Atom,
    culprit: Cell,
) -> PErr {
    PErr::Ball(error_ball(store, |s| {
        push_struct(
            s,
            PERMISSION_ERROR,
            &[Cell::Atom(action), Cell::Atom(ty), culprit],
        )
    }))
}

/// Name/Arity indicator on `store`.
pub(crate) fn indicator(store: &mut Vec<Cell>, name: Atom, arity: u32) -> Cell {
    push_struct(store, SLASH, &[Cell::Atom(name), Cell::Int(arity as i64)])
}

fn text(db: &Db, cells: &[Cell], c: Cell) -> String {
    let mut s = String::new();
    write_term(
        &crate::machine::HeapView {
            heap: cells,
            atoms: &db.atoms,
        },
        c,
        &db.ops,
        WriteOpts::WRITEQ,
        &mut s,
        1 << 20,
    );
    s
}

/// Classify an uncaught ball.
pub(crate) fn from_ball(db: &Db, ball: &Stored) -> SkbError {
    let cells = &ball.cells;
    let root = deref(cells, ball.roots[0]);
    let args = |c: Cell| -> Option<(Atom, Vec<Cell>)> {
        match deref(cells, c) {
            Cell::Str(p) => {
                let Cell::Fun(f, n) = cells[p as usize] else {
                    return None;
                };
                Some((
                    f,
                    (1..=n)
                        .map(|i| deref(cells, cells[(p + i) as usize]))
                        .collect(),
                ))
            }
            Cell::Atom(a) => Some((a, Vec::new())),
            _ => None,
        }
    };
    let uncaught = || SkbError::Uncaught(text(db, cells, root));
    let Some((ERROR, eargs)) = args(root) else {
        return uncaught();
    };
    if eargs.len() != 2 {
        return uncaught();
    }
    let Some((kind, fargs)) = args(eargs[0]) else {
        return uncaught();
    };
    let t = |i: usize| text(db, cells, fargs[i]);
    let name = |i: usize| match fargs[i] {
        Cell::Atom(a) => db.atoms.name(a).to_string(),
        c => text(db, cells, c),
    };
    match (kind, fargs.len()) {
        (INSTANTIATION_ERROR, 0) => SkbError::Instantiation,
        (TYPE_ERROR, 2) => SkbError::Type {
            expected: name(0),
            culprit: t(1),
        },
        (DOMAIN_ERROR, 2) => SkbError::Domain {
            domain: name(0),
            culprit: t(1),
        },
        (EVALUATION_ERROR, 1) => SkbError::Evaluation(name(0)),
        (REPRESENTATION_ERROR, 1) => SkbError::Representation(name(0)),
        (PERMISSION_ERROR, 3) => SkbError::Permission {
            action: name(0),
            kind: name(1),
            culprit: t(2),
        },
        (EXISTENCE_ERROR, 2) => {
            if fargs[0] == Cell::Atom(PROCEDURE) {
                if let Some((SLASH, pi)) = args(fargs[1]) {
                    if let (Cell::Atom(n), Cell::Int(a)) = (pi[0], pi[1]) {
                        return SkbError::UnknownPredicate {
                            name: db.atoms.name(n).to_string(),
                            arity: a as usize,
                        };
                    }
                }
            }
            SkbError::Existence {
                kind: name(0),
                culprit: t(1),
            }
        }
        (SYNTAX_ERROR, 1) => SkbError::Syntax {
            line: 0,
            column: 0,
            message: name(0),
        },
        _ => uncaught(),
    }
}
