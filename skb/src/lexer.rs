//! Tokenizer for Prolog text.

use alloc::string::String;
use alloc::vec::Vec;

/// A syntax error with its 1-based position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SyntaxErr {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Tok {
    /// Atom name; `quoted` when written in single quotes.
    Name(String, bool),
    Var(String),
    /// Non-negative integer literal (may exceed `i64::MAX` by one for `-9223372036854775808`).
    Int(u64),
    /// Double-quoted string, as character codes.
    Str(Vec<u32>),
    /// Back-quoted string, as character codes.
    BackQ(Vec<u32>),
    /// One of `( ) [ ] { } , |`.
    Punct(char),
    /// The end token `.`.
    End,
    Eof,
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// Whitespace or a comment came right before this token.
    pub(crate) layout_before: bool,
    pub(crate) line: usize,
    pub(crate) column: usize,
}

pub(crate) fn is_symbol_char(c: char) -> bool {
    matches!(
        c,
        '+' | '-'
            | '*'
            | '/'
            | '\\'
            | '^'
            | '<'
            | '>'
            | '='
            | '~'
            | ':'
            | '.'
            | '?'
            | '@'
            | '#'
            | '&'
            | '$'
    )
}

pub(crate) fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// Can `c` start an unquoted atom made of letters and digits?
pub(crate) fn is_atom_start(c: char) -> bool {
    c.is_lowercase() || (c.is_alphabetic() && !c.is_uppercase() && !c.is_ascii())
}

pub(crate) fn is_var_start(c: char) -> bool {
    c == '_' || c.is_uppercase()
}

pub(crate) struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    col: usize,
    peeked: Option<Token>,
}

impl<'a> Lexer<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            col: 1,
            peeked: None,
        }
    }

    fn err<T>(&self, line: usize, column: usize, msg: &str) -> Result<T, SyntaxErr> {
        Err(SyntaxErr {
            line,
            column,
            message: msg.into(),
        })
    }

    fn peek_char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_char2(&self) -> Option<char> {
        let mut it = self.src[self.pos..].chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek_char()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    pub(crate) fn peek(&mut self) -> Result<&Token, SyntaxErr> {
        if self.peeked.is_none() {
            let t = self.lex()?;
            self.peeked = Some(t);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    pub(crate) fn next_token(&mut self) -> Result<Token, SyntaxErr> {
        if let Some(t) = self.peeked.take() {
            return Ok(t);
        }
        self.lex()
    }

    /// Skip layout and comments; returns whether any was skipped.
    fn skip_layout(&mut self) -> Result<bool, SyntaxErr> {
        let mut skipped = false;
        loop {
            match self.peek_char() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                    skipped = true;
                }
                Some('%') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                    skipped = true;
                }
                Some('/') if self.peek_char2() == Some('*') => {
                    let (l, c) = (self.line, self.col);
                    self.bump();
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return self.err(l, c, "unterminated block comment"),
                            Some('*') if self.peek_char() == Some('/') => {
                                self.bump();
                                break;
                            }
                            Some(_) => {}
                        }
                    }
                    skipped = true;
                }
                _ => return Ok(skipped),
            }
        }
    }

    fn lex(&mut self) -> Result<Token, SyntaxErr> {
        let layout_before = self.skip_layout()?;
        let (line, column) = (self.line, self.col);
        let mk = |tok| Token {
            tok,
            layout_before,
            line,
            column,
        };
        let Some(c) = self.peek_char() else {
            return Ok(mk(Tok::Eof));
        };
        if c.is_ascii_digit() {
            return self.number(line, column).map(mk);
        }
        if is_var_start(c) {
            let s = self.take_while(is_alnum);
            return Ok(mk(Tok::Var(s)));
        }
        if c.is_alphabetic() {
            let s = self.take_while(is_alnum);
            return Ok(mk(Tok::Name(s, false)));
        }
        match c {
            '(' | ')' | '[' | ']' | '{' | '}' | ',' | '|' => {
                self.bump();
                Ok(mk(Tok::Punct(c)))
            }
            '!' | ';' => {
                self.bump();
                Ok(mk(Tok::Name(c.into(), false)))
            }
            '\'' => {
                self.bump();
                let s = self.quoted('\'', line, column)?;
                Ok(mk(Tok::Name(
                    s.into_iter().filter_map(char::from_u32).collect(),
                    true,
                )))
            }
            '"' => {
                self.bump();
                Ok(mk(Tok::Str(self.quoted('"', line, column)?)))
            }
            '`' => {
                self.bump();
                Ok(mk(Tok::BackQ(self.quoted('`', line, column)?)))
            }
            c if is_symbol_char(c) => {
                if c == '.' {
                    let next = self.peek_char2();
                    if next.is_none_or(|n| n.is_whitespace() || n == '%') {
                        self.bump();
                        return Ok(mk(Tok::End));
                    }
                }
                let s = self.take_while(is_symbol_char);
                Ok(mk(Tok::Name(s, false)))
            }
            _ => self.err(line, column, "illegal character"),
        }
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> String {
        let start = self.pos;
        while let Some(c) = self.peek_char() {
            if !f(c) {
                break;
            }
            self.bump();
        }
        self.src[start..self.pos].into()
    }

    fn number(&mut self, line: usize, column: usize) -> Result<Tok, SyntaxErr> {
        let first = self.bump().unwrap_or('0');
        if first == '0' {
            match self.peek_char() {
                Some('\'') => {
                    // 0'c character code
                    self.bump();
                    return match self.bump() {
                        None => self.err(line, column, "end of file in character code"),
                        Some('\\') => match self.escape(line, column)? {
                            Some(code) => Ok(Tok::Int(code as u64)),
                            None => self.err(line, column, "bad escape in character code"),
                        },
                        Some('\'') => {
                            if self.peek_char() == Some('\'') {
                                self.bump();
                            }
                            Ok(Tok::Int(39))
                        }
                        Some(c) => Ok(Tok::Int(c as u64)),
                    };
                }
                Some(r @ ('x' | 'o' | 'b')) => {
                    let radix = match r {
                        'x' => 16,
                        'o' => 8,
                        _ => 2,
                    };
                    if self.peek_char2().is_some_and(|d| d.is_digit(radix)) {
                        self.bump();
                        return self.digits(radix, 0, line, column);
                    }
                }
                _ => {}
            }
        }
        let v = first.to_digit(10).unwrap_or(0) as u64;
        let t = self.digits(10, v, line, column)?;
        // Reject floating point syntax explicitly.
        if self.peek_char() == Some('.') && self.peek_char2().is_some_and(|d| d.is_ascii_digit()) {
            return self.err(line, column, "floating point numbers are not supported");
        }
        if matches!(self.peek_char(), Some('e' | 'E')) {
            let rest = &self.src[self.pos + 1..];
            let rest = rest.strip_prefix(['+', '-']).unwrap_or(rest);
            if rest.starts_with(|d: char| d.is_ascii_digit()) {
                return self.err(line, column, "floating point numbers are not supported");
            }
        }
        if self.src[self.pos..].starts_with("Inf") || self.src[self.pos..].starts_with("NaN") {
            return self.err(line, column, "floating point numbers are not supported");
        }
        Ok(t)
    }

    fn digits(
        &mut self,
        radix: u32,
        mut v: u64,
        line: usize,
        column: usize,
    ) -> Result<Tok, SyntaxErr> {
        let mut overflow = false;
        loop {
            match self.peek_char() {
                Some(d) if d.is_digit(radix) => {
                    self.bump();
                    let dv = d.to_digit(radix).unwrap_or(0) as u64;
                    match v.checked_mul(radix as u64).and_then(|x| x.checked_add(dv)) {
                        Some(x) => v = x,
                        None => overflow = true,
                    }
                }
                Some('_') if self.peek_char2().is_some_and(|d| d.is_digit(radix)) => {
                    self.bump();
                }
                _ => break,
            }
        }
        if overflow || v > (i64::MAX as u64) + 1 {
            return self.err(line, column, "integer too large (integers are 64-bit)");
        }
        Ok(Tok::Int(v))
    }

    /// After a backslash: the escaped code, or None for a line continuation.
    fn escape(&mut self, line: usize, column: usize) -> Result<Option<u32>, SyntaxErr> {
        let Some(c) = self.bump() else {
            return self.err(line, column, "end of file in escape sequence");
        };
        Ok(Some(match c {
            'n' => 10,
            't' => 9,
            'r' => 13,
            'a' => 7,
            'b' => 8,
            'f' => 12,
            'v' => 11,
            'e' => 27,
            's' => 32,
            '0'..='7' => {
                let mut v = c.to_digit(8).unwrap_or(0);
                while let Some(d) = self.peek_char().and_then(|d| d.to_digit(8)) {
                    self.bump();
                    v = v.saturating_mul(8).saturating_add(d);
                }
                if self.peek_char() == Some('\\') {
                    self.bump();
                }
                v
            }
            'x' => {
                let mut v: u32 = 0;
                while let Some(d) = self.peek_char().and_then(|d| d.to_digit(16)) {
                    self.bump();
                    v = v.saturating_mul(16).saturating_add(d);
                }
                if self.peek_char() == Some('\\') {
                    self.bump();
                }
                v
            }
            '\\' | '\'' | '"' | '`' => c as u32,
            '\n' => return Ok(None),
            _ => return self.err(self.line, self.col, "undefined escape sequence"),
        }))
    }

    fn quoted(&mut self, q: char, line: usize, column: usize) -> Result<Vec<u32>, SyntaxErr> {
        let mut out = Vec::new();
        loop {
            match self.bump() {
                None => return self.err(line, column, "unterminated quoted"),
                Some(c) if c == q => {
                    if self.peek_char() == Some(q) {
                        self.bump();
                        out.push(q as u32);
                    } else {
                        return Ok(out);
                    }
                }
                Some('\\') => {
                    if let Some(code) = self.escape(line, column)? {
                        if char::from_u32(code).is_none() {
                            return self.err(line, column, "illegal character code in escape");
                        }
                        out.push(code);
                    }
                }
                Some(c) => out.push(c as u32),
            }
        }
    }
}
