//! Operator table (SWI-Prolog's default operators; extended with `op/3`).

use alloc::collections::BTreeMap;
use alloc::string::String;

/// Operator type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OpType {
    Xfx,
    Xfy,
    Yfx,
    Fy,
    Fx,
    Xf,
    Yf,
}

impl OpType {
    pub(crate) fn parse(s: &str) -> Option<OpType> {
        Some(match s {
            "xfx" => OpType::Xfx,
            "xfy" => OpType::Xfy,
            "yfx" => OpType::Yfx,
            "fy" => OpType::Fy,
            "fx" => OpType::Fx,
            "xf" => OpType::Xf,
            "yf" => OpType::Yf,
            _ => return None,
        })
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            OpType::Xfx => "xfx",
            OpType::Xfy => "xfy",
            OpType::Yfx => "yfx",
            OpType::Fy => "fy",
            OpType::Fx => "fx",
            OpType::Xf => "xf",
            OpType::Yf => "yf",
        }
    }

    pub(crate) fn class(self) -> OpClass {
        match self {
            OpType::Xfx | OpType::Xfy | OpType::Yfx => OpClass::Infix,
            OpType::Fy | OpType::Fx => OpClass::Prefix,
            OpType::Xf | OpType::Yf => OpClass::Postfix,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum OpClass {
    Prefix,
    Infix,
    Postfix,
}

/// One operator definition: priority and type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct OpDef {
    pub(crate) pri: u16,
    pub(crate) ty: OpType,
}

impl OpDef {
    /// Maximum priorities of the (left, right) arguments.
    pub(crate) fn arg_max(self) -> (u16, u16) {
        let p = self.pri;
        match self.ty {
            OpType::Xfx => (p - 1, p - 1),
            OpType::Xfy => (p - 1, p),
            OpType::Yfx => (p, p - 1),
            OpType::Fy => (0, p),
            OpType::Fx => (0, p - 1),
            OpType::Xf => (p - 1, 0),
            OpType::Yf => (p, 0),
        }
    }
}

/// Definitions of one name as prefix, infix and postfix operator.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct OpEntry {
    pub(crate) prefix: Option<OpDef>,
    pub(crate) infix: Option<OpDef>,
    pub(crate) postfix: Option<OpDef>,
}

/// The operator table.
#[derive(Clone, Debug)]
pub(crate) struct Ops {
    map: BTreeMap<String, OpEntry>,
}

const DEFAULT_OPS: &[(u16, &str, &[&str])] = &[
    (1200, "xfx", &[":-", "-->", "=>"]),
    (1200, "fx", &[":-", "?-"]),
    (1105, "xfy", &["|"]),
    (1100, "xfy", &[";"]),
    (1050, "xfy", &["->", "*->"]),
    (1000, "xfy", &[","]),
    (990, "xfx", &[":="]),
    (900, "fy", &["\\+"]),
    (
        700,
        "xfx",
        &[
            "=", "\\=", "==", "\\==", "@<", "@>", "@=<", "@>=", "=..", "is", "=:=", "=\\=", "<",
            ">", "=<", ">=", ">:<", ":<", "as", "=@=", "\\=@=",
        ],
    ),
    (600, "xfy", &[":"]),
    (500, "yfx", &["+", "-", "/\\", "\\/", "xor"]),
    (500, "fx", &["?"]),
    (
        400,
        "yfx",
        &[
            "*", "/", "//", "rdiv", "<<", ">>", "mod", "rem", "div", "divmod",
        ],
    ),
    (200, "xfx", &["**"]),
    (200, "xfy", &["^"]),
    (200, "fy", &["-", "+", "\\"]),
    (100, "yfx", &["."]),
    (1, "fx", &["$"]),
    (
        1150,
        "fx",
        &[
            "dynamic",
            "discontiguous",
            "initialization",
            "meta_predicate",
            "module_transparent",
            "multifile",
            "public",
            "thread_local",
            "table",
        ],
    ),
];

impl Ops {
    pub(crate) fn new() -> Self {
        let mut ops = Ops {
            map: BTreeMap::new(),
        };
        for (pri, ty, names) in DEFAULT_OPS {
            let ty = OpType::parse(ty).unwrap_or(OpType::Xfx);
            for n in names.iter() {
                if *n == "divmod" {
                    continue;
                }
                ops.add(n, *pri, ty);
            }
        }
        ops
    }

    /// Define (or with priority 0, remove) an operator.
    pub(crate) fn add(&mut self, name: &str, pri: u16, ty: OpType) {
        let e = self.map.entry(name.into()).or_default();
        let def = if pri == 0 {
            None
        } else {
            Some(OpDef { pri, ty })
        };
        match ty.class() {
            OpClass::Prefix => e.prefix = def,
            OpClass::Infix => e.infix = def,
            OpClass::Postfix => e.postfix = def,
        }
    }

    pub(crate) fn prefix(&self, name: &str) -> Option<OpDef> {
        self.map.get(name).and_then(|e| e.prefix)
    }

    pub(crate) fn infix(&self, name: &str) -> Option<OpDef> {
        self.map.get(name).and_then(|e| e.infix)
    }

    pub(crate) fn postfix(&self, name: &str) -> Option<OpDef> {
        self.map.get(name).and_then(|e| e.postfix)
    }

    /// Is `name` an operator of any kind?
    pub(crate) fn is_op(&self, name: &str) -> bool {
        self.map
            .get(name)
            .is_some_and(|e| e.prefix.is_some() || e.infix.is_some() || e.postfix.is_some())
    }

    /// All definitions, for `current_op/3`.
    pub(crate) fn all(&self) -> impl Iterator<Item = (&str, OpDef)> {
        self.map.iter().flat_map(|(n, e)| {
            [e.prefix, e.infix, e.postfix]
                .into_iter()
                .flatten()
                .map(move |d| (n.as_str(), d))
        })
    }
}
