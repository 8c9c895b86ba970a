//! Operator-precedence parser: Prolog text to terms.
//!
//! Arguments of compound terms and list elements may be terms of any priority up to 1200, as in
//! SWI-Prolog (`f(a:-b)` reads); `,` and `|` end them. Right-nested chains of `xfy` operators
//! (`a, b, c, ...`) are parsed iteratively; other nesting is limited to [`MAX_NESTING`] levels
//! (about 4 KiB of stack per level in debug builds, much less in release builds).

use crate::atom::{Atom, AtomTable, BAR, COMMA, CURLY, NIL};
use crate::cell::{push_list, push_struct, push_var, Cell, Stored};
use crate::lexer::{Lexer, SyntaxErr, Tok, Token};
use crate::ops::{OpType, Ops};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// Maximum nesting depth of brackets and operators (protects the host stack).
pub(crate) const MAX_NESTING: usize = 200;

/// How double-quoted text is read.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum DoubleQuotes {
    Codes,
    Chars,
    Atom,
}

/// A term read from text.
pub(crate) struct ReadTerm {
    /// `roots[0]` is the term.
    pub(crate) stored: Stored,
    /// Named variables in order of first occurrence, with their cell index in `stored`.
    pub(crate) var_names: Vec<(String, u32)>,
}

pub(crate) struct Reader<'a, 'b> {
    lex: Lexer<'a>,
    atoms: &'b mut AtomTable,
    ops: &'b Ops,
    dq: DoubleQuotes,
    cells: Vec<Cell>,
    var_names: Vec<(String, u32)>,
    stop_comma: bool,
    depth: usize,
}

type R<T> = Result<T, SyntaxErr>;

enum ErrMsg {
    Msg(&'static str),
    UnexpectedPunct(char),
    Expected(char),
    ExpectedSep(char),
}
use ErrMsg::{Expected, ExpectedSep, Msg, UnexpectedPunct};

impl<'a, 'b> Reader<'a, 'b> {
    pub(crate) fn new(
        src: &'a str,
        atoms: &'b mut AtomTable,
        ops: &'b Ops,
        dq: DoubleQuotes,
    ) -> Self {
        Reader {
            lex: Lexer::new(src),
            atoms,
            ops,
            dq,
            cells: Vec::new(),
            var_names: Vec::new(),
            stop_comma: false,
            depth: 0,
        }
    }

    /// Take the lexer back out (to continue reading with new tables).
    pub(crate) fn into_lexer(self) -> Lexer<'a> {
        self.lex
    }

    pub(crate) fn with_lexer(
        lex: Lexer<'a>,
        atoms: &'b mut AtomTable,
        ops: &'b Ops,
        dq: DoubleQuotes,
    ) -> Self {
        Reader {
            lex,
            atoms,
            ops,
            dq,
            cells: Vec::new(),
            var_names: Vec::new(),
            stop_comma: false,
            depth: 0,
        }
    }

    fn err<T>(&self, t: &Token, msg: &str) -> R<T> {
        Err(SyntaxErr {
            line: t.line,
            column: t.column,
            message: msg.into(),
        })
    }

    /// Read the next clause or term terminated by `.`; `None` at end of input. With
    /// `eof_ends`, the end of input also ends the term (for queries).
    pub(crate) fn read(&mut self, eof_ends: bool) -> R<Option<ReadTerm>> {
        self.cells.clear();
        self.var_names.clear();
        self.stop_comma = false;
        self.depth = 0;
        if matches!(self.lex.peek()?.tok, Tok::Eof) {
            return Ok(None);
        }
        let (t, _) = self.parse(1200)?;
        let end = self.lex.next_token()?;
        match end.tok {
            Tok::End => {}
            Tok::Eof if eof_ends => {}
            Tok::Eof => return self.err(&end, "end of file in clause (missing `.`?)"),
            _ => return self.err(&end, "operator expected"),
        }
        let cells = core::mem::take(&mut self.cells);
        let nvars = cells
            .iter()
            .enumerate()
            .filter(|(i, c)| **c == Cell::Ref(*i as u32))
            .count() as u32;
        Ok(Some(ReadTerm {
            stored: Stored {
                cells,
                roots: vec![t],
                nvars,
            },
            var_names: core::mem::take(&mut self.var_names),
        }))
    }

    fn mk(&mut self, name: &str, args: &[Cell]) -> Cell {
        let a = self.atoms.intern(name);
        push_struct(&mut self.cells, a, args)
    }

    fn parse(&mut self, max: u16) -> R<(Cell, u16)> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            let (line, column) = {
                let t = self.lex.peek()?;
                (t.line, t.column)
            };
            return self.err_at(line, column, Msg("term too deeply nested"));
        }
        let (l, lp) = self.primary(max)?;
        let r = self.infix_loop(l, lp, max);
        self.depth -= 1;
        r
    }

    /// The infix/postfix operator named by the next token, if any.
    fn peek_op_name(&mut self) -> R<Option<String>> {
        let stop = self.stop_comma;
        let t = self.lex.peek()?;
        Ok(match &t.tok {
            Tok::Name(s, _) => Some(s.clone()),
            Tok::Punct(',') if !stop => Some(",".into()),
            Tok::Punct('|') if !stop => Some("|".into()),
            _ => None,
        })
    }

    fn infix_loop(&mut self, mut left: Cell, mut lp: u16, max: u16) -> R<(Cell, u16)> {
        while let Some(name) = self.peek_op_name()? {
            if let Some(def) = self.ops.infix(&name) {
                let (lmax, rmax) = def.arg_max();
                if def.pri <= max && lp <= lmax {
                    self.lex.next_token()?;
                    if def.ty == OpType::Xfy {
                        left = self.xfy_chain(left, name, def.pri)?;
                    } else {
                        let (right, _) = self.parse(rmax)?;
                        left = self.mk(&name, &[left, right]);
                    }
                    lp = def.pri;
                    continue;
                }
            }
            if let Some(def) = self.ops.postfix(&name) {
                let (lmax, _) = def.arg_max();
                if def.pri <= max && lp <= lmax {
                    self.lex.next_token()?;
                    left = self.mk(&name, &[left]);
                    lp = def.pri;
                    continue;
                }
            }
            break;
        }
        Ok((left, lp))
    }

    /// After `left op` with `op` xfy of priority `p`: read `b op2 c op3 ...` iteratively.
    fn xfy_chain(&mut self, left: Cell, first: String, p: u16) -> R<Cell> {
        let mut items = vec![left];
        let mut names = vec![first];
        loop {
            let (r, rp) = self.primary(p)?;
            let (mut r, mut rp) = self.infix_loop(r, rp, p - 1)?;
            let mut more = false;
            if let Some(name) = self.peek_op_name()? {
                if let Some(def) = self.ops.infix(&name) {
                    if def.pri == p && def.ty == OpType::Xfy && rp < p {
                        self.lex.next_token()?;
                        names.push(name);
                        more = true;
                    } else if def.pri == p && rp <= def.arg_max().0 {
                        (r, rp) = self.infix_loop(r, rp, p)?;
                    }
                }
            }
            let _ = rp;
            items.push(r);
            if !more {
                break;
            }
        }
        let mut acc = items.pop().unwrap_or(Cell::Atom(NIL));
        while let Some(l) = items.pop() {
            let name = names.pop().unwrap_or_default();
            let a = if name == "," {
                COMMA
            } else if name == "|" {
                BAR
            } else {
                self.atoms.intern(&name)
            };
            acc = push_struct(&mut self.cells, a, &[l, acc]);
        }
        Ok(acc)
    }

    fn expect(&mut self, c: char) -> R<()> {
        let t = self.lex.next_token()?;
        if t.tok == Tok::Punct(c) {
            Ok(())
        } else {
            self.err_at(t.line, t.column, Expected(c))
        }
    }

    fn var(&mut self, name: String) -> Cell {
        if name == "_" {
            return push_var(&mut self.cells);
        }
        if let Some((_, i)) = self.var_names.iter().find(|(n, _)| *n == name) {
            return Cell::Ref(*i);
        }
        let v = push_var(&mut self.cells);
        if let Cell::Ref(i) = v {
            self.var_names.push((name, i));
        }
        v
    }

    fn codes_term(&mut self, codes: &[u32], mode: DoubleQuotes) -> Cell {
        match mode {
            DoubleQuotes::Codes => {
                let items: Vec<Cell> = codes.iter().map(|&c| Cell::Int(c as i64)).collect();
                push_list(&mut self.cells, &items, Cell::Atom(NIL))
            }
            DoubleQuotes::Chars => {
                let mut items = Vec::new();
                for &c in codes {
                    let mut buf = [0u8; 4];
                    let s = char::from_u32(c).unwrap_or('?').encode_utf8(&mut buf);
                    items.push(Cell::Atom(self.atoms.intern(s)));
                }
                push_list(&mut self.cells, &items, Cell::Atom(NIL))
            }
            DoubleQuotes::Atom => {
                let s: String = codes.iter().filter_map(|&c| char::from_u32(c)).collect();
                Cell::Atom(self.atoms.intern(&s))
            }
        }
    }

    /// Arguments up to `close`, separated by commas.
    fn arg_list(&mut self, close: char) -> R<Vec<Cell>> {
        let saved = self.stop_comma;
        self.stop_comma = true;
        let mut args = Vec::new();
        loop {
            let (a, _) = self.parse(1200)?;
            args.push(a);
            let t = self.lex.next_token()?;
            match t.tok {
                Tok::Punct(',') => continue,
                Tok::Punct(c) if c == close => break,
                _ => return self.err_at(t.line, t.column, ExpectedSep(close)),
            }
        }
        self.stop_comma = saved;
        Ok(args)
    }

    fn primary(&mut self, max: u16) -> R<(Cell, u16)> {
        let t = self.lex.next_token()?;
        match t.tok {
            Tok::Int(u) => {
                if u > i64::MAX as u64 {
                    return self.err(&t, "integer too large (integers are 64-bit)");
                }
                Ok((Cell::Int(u as i64), 0))
            }
            Tok::Var(name) => self.primary_var(name, t.line, t.column),
            Tok::Str(codes) => Ok((self.codes_term(&codes, self.dq), 0)),
            Tok::BackQ(codes) => Ok((self.codes_term(&codes, DoubleQuotes::Codes), 0)),
            Tok::Punct('(') => self.primary_paren(),
            Tok::Punct('[') => self.primary_list(max),
            Tok::Punct('{') => self.primary_curly(max),
            Tok::Punct(c) => self.err_at(t.line, t.column, UnexpectedPunct(c)),
            Tok::End => self.err_at(t.line, t.column, Msg("unexpected end of clause")),
            Tok::Eof => self.err_at(t.line, t.column, Msg("unexpected end of file")),
            Tok::Name(s, quoted) => self.primary_name(s, quoted, max, t.line, t.column),
        }
    }

    #[inline(never)]
    #[cold]
    fn err_at<T>(&self, line: usize, column: usize, m: ErrMsg) -> R<T> {
        let message = match m {
            Msg(s) => s.into(),
            UnexpectedPunct(c) => alloc::format!("unexpected `{c}`"),
            Expected(c) => alloc::format!("expected `{c}`"),
            ExpectedSep(c) => alloc::format!("expected `,` or `{c}`"),
        };
        Err(SyntaxErr {
            line,
            column,
            message,
        })
    }

    #[inline(never)]
    fn primary_var(&mut self, name: String, line: usize, column: usize) -> R<(Cell, u16)> {
        let next = self.lex.peek()?;
        if next.tok == Tok::Punct('(') && !next.layout_before {
            return self.err_at(line, column, Msg("variable used as a functor"));
        }
        Ok((self.var(name), 0))
    }

    #[inline(never)]
    fn primary_paren(&mut self) -> R<(Cell, u16)> {
        let saved = self.stop_comma;
        self.stop_comma = false;
        let (inner, _) = self.parse(1200)?;
        self.stop_comma = saved;
        self.expect(')')?;
        Ok((inner, 0))
    }

    #[inline(never)]
    fn primary_curly(&mut self, max: u16) -> R<(Cell, u16)> {
        if self.lex.peek()?.tok == Tok::Punct('}') {
            self.lex.next_token()?;
            return self.after_atom(CURLY, max);
        }
        let saved = self.stop_comma;
        self.stop_comma = false;
        let (inner, _) = self.parse(1200)?;
        self.stop_comma = saved;
        self.expect('}')?;
        Ok((push_struct(&mut self.cells, CURLY, &[inner]), 0))
    }

    #[inline(never)]
    fn primary_list(&mut self, max: u16) -> R<(Cell, u16)> {
        if self.lex.peek()?.tok == Tok::Punct(']') {
            self.lex.next_token()?;
            return self.after_atom(NIL, max);
        }
        let saved = self.stop_comma;
        self.stop_comma = true;
        let mut items = Vec::new();
        let mut tail = Cell::Atom(NIL);
        loop {
            let (e, _) = self.parse(1200)?;
            items.push(e);
            let t2 = self.lex.next_token()?;
            match t2.tok {
                Tok::Punct(',') => continue,
                Tok::Punct('|') => {
                    let (tl, _) = self.parse(1200)?;
                    tail = tl;
                    self.expect(']')?;
                    break;
                }
                Tok::Punct(']') => break,
                _ => {
                    return self.err_at(t2.line, t2.column, Msg("expected `,`, `|` or `]` in list"))
                }
            }
        }
        self.stop_comma = saved;
        Ok((push_list(&mut self.cells, &items, tail), 0))
    }

    #[inline(never)]
    fn primary_name(
        &mut self,
        s: String,
        quoted: bool,
        max: u16,
        line: usize,
        column: usize,
    ) -> R<(Cell, u16)> {
        let (next_functional, next_int, next_layout, atom_like) = {
            let next = self.lex.peek()?;
            let functional = next.tok == Tok::Punct('(') && !next.layout_before;
            let int = if let Tok::Int(u) = next.tok {
                Some(u)
            } else {
                None
            };
            let atom_like = match &next.tok {
                Tok::Punct(')' | ']' | '}' | ',' | '|') | Tok::End | Tok::Eof => true,
                Tok::Name(n, _) => self.ops.infix(n).is_some() && self.ops.prefix(n).is_none(),
                _ => false,
            };
            (functional, int, next.layout_before, atom_like)
        };
        if next_functional {
            self.lex.next_token()?;
            let args = self.arg_list(')')?;
            return Ok((self.mk(&s, &args), 0));
        }
        if !quoted && s == "-" && !next_layout {
            if let Some(u) = next_int {
                self.lex.next_token()?;
                let v = -(u as i128);
                return Ok((Cell::Int(v as i64), 0));
            }
        }
        if let Some(def) = self.ops.prefix(&s) {
            if !atom_like {
                if def.pri > max {
                    return self.err_at(line, column, Msg("operator priority clash"));
                }
                let (_, argmax) = def.arg_max();
                let (arg, _) = self.parse(argmax)?;
                return Ok((self.mk(&s, &[arg]), def.pri));
            }
        }
        let a = self.atoms.intern(&s);
        Ok((Cell::Atom(a), 0))
    }

    fn after_atom(&mut self, a: Atom, _max: u16) -> R<(Cell, u16)> {
        let next = self.lex.peek()?;
        if next.tok == Tok::Punct('(') && !next.layout_before {
            self.lex.next_token()?;
            let args = self.arg_list(')')?;
            return Ok((push_struct(&mut self.cells, a, &args), 0));
        }
        Ok((Cell::Atom(a), 0))
    }
}
