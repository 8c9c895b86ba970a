//! Interned atoms.
//!
//! Every atom is a small index into an [`AtomTable`]. A fixed set of atoms that the engine itself
//! needs is interned first, in a known order, so they are compile-time constants.
//!
//! The empty list `[]` is a reserved constant distinct from the quoted atom `'[]'` (as in
//! SWI-Prolog 7 and later): [`NIL`] has the name `[]` but is never returned by
//! [`AtomTable::intern`].

use alloc::boxed::Box;
use alloc::collections::BTreeMap;
use alloc::vec::Vec;

/// An interned atom.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub(crate) struct Atom(pub(crate) u32);

macro_rules! predefined_atoms {
    ($($name:ident => $text:expr,)*) => {
        #[allow(non_camel_case_types, clippy::upper_case_acronyms, dead_code)]
        #[repr(u32)]
        enum AtomIndex { $($name,)* }
        $(
            #[allow(dead_code)]
            pub(crate) const $name: Atom = Atom(AtomIndex::$name as u32);
        )*
        const PREDEFINED: &[&str] = &[$($text,)*];
    };
}

predefined_atoms! {
    NIL => "[]",
    DOT => "[|]",
    CURLY => "{}",
    COMMA => ",",
    SEMI => ";",
    BAR => "|",
    ARROW => "->",
    SOFT_ARROW => "*->",
    NECK => ":-",
    TRUE => "true",
    FAIL => "fail",
    FALSE => "false",
    CUT => "!",
    NOT_PROVABLE => "\\+",
    NOT => "not",
    CALL => "call",
    FINDALL => "findall",
    CATCH => "catch",
    THROW => "throw",
    MINUS => "-",
    PLUS => "+",
    SLASH => "/",
    EQUALS => "=",
    VAR_FUNCTOR => "$VAR",
    ERROR => "error",
    CONTEXT => "context",
    TYPE_ERROR => "type_error",
    DOMAIN_ERROR => "domain_error",
    INSTANTIATION_ERROR => "instantiation_error",
    EVALUATION_ERROR => "evaluation_error",
    EXISTENCE_ERROR => "existence_error",
    PERMISSION_ERROR => "permission_error",
    REPRESENTATION_ERROR => "representation_error",
    SYNTAX_ERROR => "syntax_error",
    RESOURCE_ERROR => "resource_error",
    PROCEDURE => "procedure",
    INTEGER => "integer",
    ATOM => "atom",
    ATOMIC => "atomic",
    CALLABLE => "callable",
    LIST => "list",
    COMPOUND => "compound",
    EVALUABLE => "evaluable",
    CHARACTER => "character",
    CHARACTER_CODE => "character_code",
    ZERO_DIVISOR => "zero_divisor",
    INT_OVERFLOW => "int_overflow",
    UNDEFINED => "undefined",
    NOT_LESS_THAN_ZERO => "not_less_than_zero",
    MODIFY => "modify",
    STATIC_PROCEDURE => "static_procedure",
    LESS => "<",
    GREATER => ">",
    EMPTY => "",
    END_OF_FILE => "end_of_file",
    OP => "op",
    MAX_ARITY => "max_arity",
    OPERATOR_PRIORITY => "operator_priority",
    OPERATOR_SPECIFIER => "operator_specifier",
    ORDER => "order",
    FLAG => "flag",
    FLAG_VALUE => "flag_value",
    CODES => "codes",
    CHARS => "chars",
    STRING => "string",
    FORMAT => "format",
    KEY => "key",
    PAIR => "pair",
    VARIABLE => "variable",
    NUMBER => "number",
    PREDICATE_INDICATOR => "predicate_indicator",
    TERM_SIZE => "term_size",
}

/// Table of interned atom names.
#[derive(Clone)]
pub(crate) struct AtomTable {
    names: Vec<Box<str>>,
    map: BTreeMap<Box<str>, Atom>,
}

impl AtomTable {
    pub(crate) fn new() -> Self {
        let mut t = AtomTable {
            names: Vec::new(),
            map: BTreeMap::new(),
        };
        for (i, name) in PREDEFINED.iter().enumerate() {
            t.names.push((*name).into());
            if i != NIL.0 as usize {
                t.map.insert((*name).into(), Atom(i as u32));
            }
        }
        t
    }

    /// The atom with this name (never [`NIL`]).
    pub(crate) fn intern(&mut self, name: &str) -> Atom {
        if let Some(a) = self.map.get(name) {
            return *a;
        }
        let a = Atom(self.names.len() as u32);
        self.names.push(name.into());
        self.map.insert(name.into(), a);
        a
    }

    pub(crate) fn name(&self, a: Atom) -> &str {
        &self.names[a.0 as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predefined_atoms_have_their_names() {
        let mut t = AtomTable::new();
        assert_eq!(t.name(NIL), "[]");
        assert_eq!(t.name(COMMA), ",");
        assert_eq!(t.intern("[|]"), DOT);
        assert_ne!(t.intern("[]"), NIL);
        assert_eq!(t.intern("true"), TRUE);
        assert_eq!(t.name(PREDICATE_INDICATOR), "predicate_indicator");
    }
}
