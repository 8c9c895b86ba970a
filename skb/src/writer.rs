//! Term output in standard syntax, following SWI-Prolog's `writeq/1`, `print/1`, `write/1` and
//! `write_canonical/1` conventions (operators, spacing, quoting).
//!
//! The writer works on any [`TermView`] (the machine's heap or a public [`crate::Term`]) and uses
//! an explicit task stack, so arbitrarily deep terms do not overflow the host stack.

use crate::lexer::{is_alnum, is_atom_start, is_symbol_char};
use crate::ops::Ops;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

/// What a term looks like at its top.
pub(crate) enum Node<'a> {
    /// Unbound variable with a number used to name it `_N`.
    Var(u64),
    /// Atom; `nil` marks the reserved empty list `[]`.
    Atom(&'a str, bool),
    Int(i64),
    /// Name, arity, and whether the name is the reserved `[]`.
    Compound(&'a str, usize, bool),
}

/// Read access to terms for the writer.
pub(crate) trait TermView {
    type T: Copy;
    fn node(&self, t: Self::T) -> Node<'_>;
    /// Argument `i` (0-based) of a compound.
    fn arg(&self, t: Self::T, i: usize) -> Self::T;
}

/// Output options.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriteOpts {
    pub(crate) quoted: bool,
    pub(crate) ignore_ops: bool,
    pub(crate) numbervars: bool,
}

impl WriteOpts {
    pub(crate) const WRITEQ: WriteOpts = WriteOpts {
        quoted: true,
        ignore_ops: false,
        numbervars: true,
    };
    pub(crate) const WRITE: WriteOpts = WriteOpts {
        quoted: false,
        ignore_ops: false,
        numbervars: true,
    };
    pub(crate) const CANONICAL: WriteOpts = WriteOpts {
        quoted: true,
        ignore_ops: true,
        numbervars: false,
    };
}

enum Task<T> {
    Term(T, u16, bool),
    Functor(T),
    InfixOp(T),
    PrefixOp(T, bool),
    Raw(&'static str),
    ListTail(T),
}

/// Does this atom need quotes in `writeq` output?
pub(crate) fn atom_needs_quotes(name: &str, nil: bool) -> bool {
    if nil {
        return false;
    }
    match name {
        "[]" => return true,
        "{}" | "!" | ";" => return false,
        "," | "|" | "" => return true,
        _ => {}
    }
    let mut chars = name.chars();
    let first = chars.next().unwrap_or(' ');
    if is_atom_start(first) {
        return !name.chars().all(is_alnum);
    }
    if name.chars().all(is_symbol_char) {
        return name == "." || name.starts_with("/*");
    }
    true
}

/// Append `name` in single quotes with escapes.
pub(crate) fn push_quoted(out: &mut String, name: &str) {
    out.push('\'');
    for c in name.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:x}\\", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// Text of an atom as written.
pub(crate) fn atom_text(name: &str, nil: bool, quoted: bool) -> String {
    let mut s = String::new();
    if quoted && atom_needs_quotes(name, nil) {
        push_quoted(&mut s, name);
    } else {
        s.push_str(name);
    }
    s
}

struct W<'o> {
    out: &'o mut String,
    last: Option<char>,
    sign_pending: bool,
    after_prefix: bool,
}

impl W<'_> {
    /// Emit a token, separating it from the previous one if they would read as one. Returns
    /// whether a space was put in.
    fn token(&mut self, s: &str) -> bool {
        let Some(f) = s.chars().next() else {
            return false;
        };
        let mut glue = false;
        if let Some(l) = self.last {
            glue = (is_alnum(l) && is_alnum(f))
                || (is_symbol_char(l) && is_symbol_char(f))
                || (self.sign_pending && f.is_ascii_digit())
                || (self.after_prefix && f == '{')
                || (l.is_ascii_digit() && f == '\'');
            if glue {
                self.out.push(' ');
            }
        }
        self.raw(s);
        glue
    }

    fn raw(&mut self, s: &str) {
        self.out.push_str(s);
        if let Some(c) = s.chars().last() {
            self.last = Some(c);
        }
        self.sign_pending = false;
        self.after_prefix = false;
    }

    fn open(&mut self) {
        if self.after_prefix {
            self.out.push(' ');
        }
        self.raw("(");
    }
}

fn var_name(n: i64) -> String {
    let mut s = String::new();
    s.push((b'A' + (n % 26) as u8) as char);
    if n >= 26 {
        let _ = write!(s, "{}", n / 26);
    }
    s
}

/// Write `t` to `out`, giving up (with `...` and `false`) after `max_len` bytes, which is what
/// happens to cyclic terms.
pub(crate) fn write_term<V: TermView>(
    v: &V,
    t: V::T,
    ops: &Ops,
    opts: WriteOpts,
    out: &mut String,
    max_len: usize,
) -> bool {
    let start = out.len();
    let mut w = W {
        out,
        last: None,
        sign_pending: false,
        after_prefix: false,
    };
    let mut stack: Vec<Task<V::T>> = Vec::new();
    stack.push(Task::Term(t, 1200, false));
    while let Some(task) = stack.pop() {
        if w.out.len() - start > max_len {
            w.out.push_str("...");
            return false;
        }
        match task {
            Task::Raw(s) => w.raw(s),
            Task::Functor(t) => {
                if let Node::Compound(name, _, nil) = v.node(t) {
                    let s = atom_text(name, nil, opts.quoted);
                    w.token(&s);
                }
            }
            Task::InfixOp(t) => {
                if let Node::Compound(name, _, _) = v.node(t) {
                    match name {
                        "," => w.raw(","),
                        "|" => w.raw("|"),
                        _ => {
                            // A space before the operator is mirrored after it.
                            let s = atom_text(name, false, opts.quoted);
                            if w.token(&s) {
                                w.raw(" ");
                            }
                        }
                    }
                }
            }
            Task::PrefixOp(t, sign) => {
                if let Node::Compound(name, _, _) = v.node(t) {
                    let s = atom_text(name, false, opts.quoted);
                    w.token(&s);
                    w.after_prefix = true;
                    w.sign_pending = sign;
                }
            }
            Task::ListTail(t) => match v.node(t) {
                Node::Compound("[|]", 2, false) => {
                    w.raw(",");
                    stack.push(Task::ListTail(v.arg(t, 1)));
                    stack.push(Task::Term(v.arg(t, 0), 999, true));
                }
                Node::Atom(_, true) => w.raw("]"),
                _ => {
                    w.raw("|");
                    stack.push(Task::Raw("]"));
                    stack.push(Task::Term(t, 999, true));
                }
            },
            Task::Term(t, prec, is_arg) => match v.node(t) {
                Node::Var(n) => {
                    let s = alloc::format!("_G{n}");
                    w.token(&s);
                }
                Node::Int(i) => {
                    let s = alloc::format!("{i}");
                    w.token(&s);
                }
                Node::Atom(name, nil) => {
                    let embrace =
                        !opts.ignore_ops && !is_arg && prec < 1200 && !nil && ops.is_op(name);
                    let s = atom_text(name, nil, opts.quoted);
                    if embrace {
                        w.open();
                        w.raw(&s);
                        w.raw(")");
                    } else {
                        w.token(&s);
                    }
                }
                Node::Compound(name, arity, nil) => {
                    if nil {
                        // `[](...)`: always canonical.
                        stack.push(Task::Raw(")"));
                        for i in (0..arity).rev() {
                            stack.push(Task::Term(v.arg(t, i), 999, true));
                            if i > 0 {
                                stack.push(Task::Raw(","));
                            }
                        }
                        stack.push(Task::Raw("("));
                        stack.push(Task::Functor(t));
                        continue;
                    }
                    if name == "[|]" && arity == 2 {
                        w.token("[");
                        stack.push(Task::ListTail(v.arg(t, 1)));
                        stack.push(Task::Term(v.arg(t, 0), 999, true));
                        continue;
                    }
                    if name == "{}" && arity == 1 && !opts.ignore_ops {
                        w.token("{");
                        stack.push(Task::Raw("}"));
                        stack.push(Task::Term(v.arg(t, 0), 1200, false));
                        continue;
                    }
                    if name == "$VAR" && arity == 1 && opts.numbervars {
                        if let Node::Int(n) = v.node(v.arg(t, 0)) {
                            if n >= 0 {
                                w.token(&var_name(n));
                                continue;
                            }
                        }
                    }
                    if !opts.ignore_ops {
                        if arity == 2 {
                            if let Some(def) = ops.infix(name) {
                                let (lmax, rmax) = def.arg_max();
                                let embrace = def.pri > prec;
                                if embrace {
                                    w.open();
                                    stack.push(Task::Raw(")"));
                                }
                                stack.push(Task::Term(v.arg(t, 1), rmax, false));
                                stack.push(Task::InfixOp(t));
                                stack.push(Task::Term(v.arg(t, 0), lmax, false));
                                continue;
                            }
                        }
                        if arity == 1 {
                            if let Some(def) = ops.prefix(name) {
                                let (_, amax) = def.arg_max();
                                if def.pri > prec {
                                    w.open();
                                    stack.push(Task::Raw(")"));
                                }
                                let sign = name == "-";
                                stack.push(Task::Term(v.arg(t, 0), amax, false));
                                stack.push(Task::PrefixOp(t, sign));
                                continue;
                            }
                            if let Some(def) = ops.postfix(name) {
                                let (amax, _) = def.arg_max();
                                let embrace = def.pri > prec;
                                if embrace {
                                    w.open();
                                    stack.push(Task::Raw(")"));
                                }
                                stack.push(Task::Functor(t));
                                stack.push(Task::Term(v.arg(t, 0), amax, false));
                                continue;
                            }
                        }
                    }
                    // Canonical form name(args).
                    stack.push(Task::Raw(")"));
                    for i in (0..arity).rev() {
                        stack.push(Task::Term(v.arg(t, i), 999, true));
                        if i > 0 {
                            stack.push(Task::Raw(","));
                        }
                    }
                    stack.push(Task::Raw("("));
                    stack.push(Task::Functor(t));
                }
            },
        }
    }
    true
}
