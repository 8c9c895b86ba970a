//! A small, tolerant scanner of the ACPI namespace as the DSDT and SSDTs declare it in AML.
//!
//! This is not an interpreter: nothing is executed. The scanner walks the declarations at
//! namespace level (`Scope`, `Device`, `Processor`, `PowerResource`, `ThermalZone`, the bodies
//! of `If`/`Else` blocks, `Name`, `Method`, `OperationRegion`, `Field`, `External`, `Mutex`,
//! `Event`, `Alias`, ...) and records every named object by its absolute path: devices,
//! `Name`s with constant values (integers, strings, packages of those), and methods with what
//! their first statement returns when that is a constant or a call. Method bodies are otherwise
//! skipped by their package length. [`Namespace::eval`] then gives the value of an object when
//! it is a constant, which is all that `\_S5_` and the `_HID`, `_CID`, `_SEG`, `_BBN`, `_PXM`
//! and `_UID` of PCI host bridges need on real firmware.
//!
//! Expressions that stand between declarations (the predicate of an `If`, the operands of an
//! `OperationRegion`) are skipped with a table of operand shapes; the argument count of a method
//! call comes from a first pass over all tables (methods and `External` declarations), since
//! AML does not encode it at the call.
//!
//! Bad input never panics and never loops: every read is bounds-checked, every step consumes
//! input, objects nest at most [`MAX_DEPTH`] deep, and a call chain is followed at most
//! [`MAX_CALL_CHAIN`] steps. What cannot be followed is reported as [`Warning::Aml`] and the
//! rest of the enclosing object (a `Scope`, `Device`, `If`, ... or the table) is skipped; an
//! object whose package length runs past its container is cut at the container's end.

use crate::discover::HEADER_LEN;
use crate::{AmlProblem, PciRoot, PciRootObject, TableSig, Warning};
use alloc::collections::btree_map::{BTreeMap, Entry};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

/// One four-character name segment.
pub(crate) type Seg = [u8; 4];
/// An absolute namespace path (the root is the empty path).
pub(crate) type Path = Vec<Seg>;

/// Deepest nesting of objects and expressions followed.
pub(crate) const MAX_DEPTH: usize = 64;
/// Longest chain of methods returning the result of another method that is followed.
pub(crate) const MAX_CALL_CHAIN: usize = 8;
/// Problems reported per table; more are counted in [`Warning::AmlProblemsDropped`].
pub(crate) const MAX_PROBLEMS_PER_TABLE: usize = 8;
/// Package elements kept per package (the rest are checked, not stored).
const MAX_PACKAGE_VALUES: usize = 16;

/// `EisaId ("PNP0A03")`, PCI host bridge.
pub(crate) const EISA_PNP0A03: u64 = 0x030A_D041;
/// `EisaId ("PNP0A08")`, PCI Express host bridge.
pub(crate) const EISA_PNP0A08: u64 = 0x080A_D041;

const ZERO_OP: u8 = 0x00;
const ONE_OP: u8 = 0x01;
const ALIAS_OP: u8 = 0x06;
const NAME_OP: u8 = 0x08;
const BYTE_PREFIX: u8 = 0x0a;
const WORD_PREFIX: u8 = 0x0b;
const DWORD_PREFIX: u8 = 0x0c;
const STRING_PREFIX: u8 = 0x0d;
const QWORD_PREFIX: u8 = 0x0e;
const SCOPE_OP: u8 = 0x10;
const BUFFER_OP: u8 = 0x11;
const PACKAGE_OP: u8 = 0x12;
const VAR_PACKAGE_OP: u8 = 0x13;
const METHOD_OP: u8 = 0x14;
const EXTERNAL_OP: u8 = 0x15;
const DUAL_NAME_PREFIX: u8 = 0x2e;
const MULTI_NAME_PREFIX: u8 = 0x2f;
const EXT_OP_PREFIX: u8 = 0x5b;
const ROOT_CHAR: u8 = b'\\';
const PARENT_PREFIX: u8 = b'^';
const IF_OP: u8 = 0xa0;
const ELSE_OP: u8 = 0xa1;
const WHILE_OP: u8 = 0xa2;
const RETURN_OP: u8 = 0xa4;
const ONES_OP: u8 = 0xff;

// Extended opcodes (after 0x5b).
const MUTEX_OP: u8 = 0x01;
const EVENT_OP: u8 = 0x02;
const DEBUG_OP: u8 = 0x31;
const OP_REGION_OP: u8 = 0x80;
const DEVICE_OP: u8 = 0x82;
const PROCESSOR_OP: u8 = 0x83;
const POWER_RES_OP: u8 = 0x84;
const THERMAL_ZONE_OP: u8 = 0x85;
const DATA_REGION_OP: u8 = 0x88;

/// A constant value as the scanner keeps it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Value {
    /// An integer constant.
    Integer(u64),
    /// A string constant (without its terminating NUL).
    String(Vec<u8>),
    /// A package: its first [`MAX_PACKAGE_VALUES`] elements (nested packages become
    /// [`Value::Other`]).
    Package(Vec<Value>),
    /// Anything else: buffers, references, expressions.
    Other,
}

/// A NameString: absolute (`\`), or relative with some `^` (parent) prefixes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameString {
    root: bool,
    parents: usize,
    segs: Vec<Seg>,
}

impl NameString {
    /// The absolute path this name stands for in `scope`, without the search rules; `None`
    /// when `^` climbs above the root.
    fn resolve(&self, scope: &[Seg]) -> Option<Path> {
        let base = if self.root {
            &[][..]
        } else {
            scope.get(..scope.len().checked_sub(self.parents)?)?
        };
        let mut path = base.to_vec();
        path.extend_from_slice(&self.segs);
        Some(path)
    }

    /// Whether the namespace search rules apply: a single segment without prefixes.
    fn searches(&self) -> bool {
        !self.root && self.parents == 0 && self.segs.len() == 1
    }
}

/// What a method's first statement returns, if it is a `Return`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Body {
    /// `Return (constant)` (or `Return` of something else, as [`Value::Other`]).
    Returns(Value),
    /// `Return (NAME)`: a named object, or the result of calling a method.
    ReturnsName(NameString),
    /// Anything else.
    Other,
}

/// A named object.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Object {
    Device,
    Name(Value),
    Method {
        args: u8,
        body: Body,
    },
    /// An `External` declaration: the object lives in another table (or nowhere).
    External {
        /// Argument count, for methods.
        args: Option<u8>,
    },
    /// Processors, power resources, thermal zones, regions, mutexes, events, aliases.
    Other,
    /// Declared twice differently (e.g. in both branches of an `If`): not a constant.
    Ambiguous,
}

/// The value of a named object, as far as constants go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Eval {
    /// No such object.
    Absent,
    /// A constant.
    Constant(Value),
    /// An object whose value needs an interpreter.
    NotConstant,
}

/// The named objects of the DSDT and SSDTs.
#[derive(Clone, Debug, Default)]
pub(crate) struct Namespace {
    objects: BTreeMap<Path, Object>,
    /// Devices in the order they were first declared.
    devices: Vec<Path>,
}

/// `\A.B.C` for a path (`\` for the root).
pub(crate) fn path_string(path: &[Seg]) -> String {
    let mut s = String::from("\\");
    for (i, seg) in path.iter().enumerate() {
        if i > 0 {
            s.push('.');
        }
        s.extend(seg.iter().map(|&c| char::from(c)));
    }
    s
}

fn child(path: &[Seg], seg: &Seg) -> Path {
    let mut p = path.to_vec();
    p.push(*seg);
    p
}

fn is_lead_char(c: u8) -> bool {
    c.is_ascii_uppercase() || c == b'_'
}

fn valid_seg(seg: &Seg) -> bool {
    is_lead_char(seg[0])
        && seg[1..]
            .iter()
            .all(|&c| is_lead_char(c) || c.is_ascii_digit())
}

/// Whether a NameString starts with this byte.
fn is_name_start(b: u8) -> bool {
    is_lead_char(b)
        || matches!(
            b,
            ROOT_CHAR | PARENT_PREFIX | DUAL_NAME_PREFIX | MULTI_NAME_PREFIX
        )
}

/// Whether a constant is `PNP0A03`/`PNP0A08` (as an EISA id or a string), or a package
/// holding one: `(pci, pcie)`.
fn pci_ids(v: &Value) -> (bool, bool) {
    match v {
        Value::Integer(EISA_PNP0A03) => (true, false),
        Value::Integer(EISA_PNP0A08) => (false, true),
        Value::String(s) if s.eq_ignore_ascii_case(b"PNP0A03") => (true, false),
        Value::String(s) if s.eq_ignore_ascii_case(b"PNP0A08") => (false, true),
        Value::Package(items) => items.iter().fold((false, false), |(a, b), v| {
            let (c, d) = pci_ids(v);
            (a || c, b || d)
        }),
        _ => (false, false),
    }
}

/// An integer-valued object of a device.
enum Int {
    Absent,
    Value(u64),
    NotConstant,
}

impl Namespace {
    /// The paths of the devices, in declaration order (for tests).
    #[cfg(test)]
    pub(crate) fn device_paths(&self) -> Vec<String> {
        self.devices
            .iter()
            .filter(|d| self.objects.get(*d) == Some(&Object::Device))
            .map(|d| path_string(d))
            .collect()
    }

    /// Records a declaration. A second declaration of the same object that differs makes it
    /// [`Object::Ambiguous`]; a real declaration replaces an `External` one.
    fn declare(&mut self, path: Path, object: Object) {
        let is_device = object == Object::Device;
        match self.objects.entry(path) {
            Entry::Vacant(v) => {
                if is_device {
                    self.devices.push(v.key().clone());
                }
                v.insert(object);
            }
            Entry::Occupied(mut o) => match (o.get(), &object) {
                (_, Object::External { .. }) => {}
                (Object::External { .. }, _) => {
                    if is_device {
                        self.devices.push(o.key().clone());
                    }
                    o.insert(object);
                }
                (old, new) if old == new => {}
                _ => {
                    o.insert(Object::Ambiguous);
                }
            },
        }
    }

    /// The path of the object `name` refers to from `scope`, with the namespace search rules
    /// for single segments (the scope, then each parent up to the root).
    fn lookup(&self, name: &NameString, scope: &[Seg]) -> Option<Path> {
        if name.searches() {
            let mut path = scope.to_vec();
            loop {
                path.extend_from_slice(&name.segs);
                if self.objects.contains_key(&path) {
                    return Some(path);
                }
                path.pop();
                path.pop()?;
            }
        }
        let path = name.resolve(scope)?;
        self.objects.contains_key(&path).then_some(path)
    }

    /// The number of arguments a call of `name` from `scope` takes (0 unless it is a method).
    fn method_args(&self, name: &NameString, scope: &[Seg]) -> usize {
        match self.lookup(name, scope).and_then(|p| self.objects.get(&p)) {
            Some(Object::Method { args, .. }) | Some(Object::External { args: Some(args) }) => {
                usize::from(*args)
            }
            _ => 0,
        }
    }

    /// The value of the object at `path`, if it is a constant: a `Name` with a constant value,
    /// or a method whose first statement returns a constant or calls (without arguments)
    /// a method that does.
    pub(crate) fn eval(&self, path: &[Seg]) -> Eval {
        self.eval_chain(path, 0)
    }

    fn eval_chain(&self, path: &[Seg], depth: usize) -> Eval {
        let constant = |v: &Value| match v {
            Value::Other => Eval::NotConstant,
            v => Eval::Constant(v.clone()),
        };
        match self.objects.get(path) {
            None | Some(Object::External { .. }) => Eval::Absent,
            Some(Object::Name(v))
            | Some(Object::Method {
                body: Body::Returns(v),
                ..
            }) => constant(v),
            Some(Object::Method {
                body: Body::ReturnsName(name),
                ..
            }) if depth < MAX_CALL_CHAIN => match self.lookup(name, path) {
                Some(target)
                    if matches!(
                        self.objects.get(&target),
                        Some(Object::Method { args: 0, .. })
                    ) =>
                {
                    self.eval_chain(&target, depth + 1)
                }
                _ => Eval::NotConstant,
            },
            Some(_) => Eval::NotConstant,
        }
    }

    fn integer(&self, device: &[Seg], seg: &Seg) -> Int {
        match self.eval(&child(device, seg)) {
            Eval::Absent => Int::Absent,
            Eval::Constant(Value::Integer(v)) => Int::Value(v),
            _ => Int::NotConstant,
        }
    }

    /// The SLP_TYPa and SLP_TYPb values of `\_S5_`: `Ok(None)` without one, `Err(())` when it
    /// is not a package starting with one or two constants in 0..=7.
    pub(crate) fn s5(&self) -> Result<Option<(u8, u8)>, ()> {
        let items = match self.eval(&[*b"_S5_"]) {
            Eval::Absent => return Ok(None),
            Eval::Constant(Value::Package(items)) => items,
            _ => return Err(()),
        };
        let typ = |v: Option<&Value>| match v {
            Some(&Value::Integer(t)) if t <= 7 => Ok(t as u8),
            _ => Err(()),
        };
        let a = typ(items.first())?;
        let b = if items.len() > 1 {
            typ(items.get(1))?
        } else {
            a
        };
        Ok(Some((a, b)))
    }

    /// Every device whose `_HID` or `_CID` is `PNP0A03` or `PNP0A08`, in declaration order.
    pub(crate) fn pci_roots(&self, warnings: &mut Vec<Warning>) -> Vec<PciRoot> {
        let mut roots = Vec::new();
        for device in &self.devices {
            if self.objects.get(device) != Some(&Object::Device) {
                continue;
            }
            let (mut pci, mut pcie) = (false, false);
            for id in [b"_HID", b"_CID"] {
                if let Eval::Constant(v) = self.eval(&child(device, id)) {
                    let (a, b) = pci_ids(&v);
                    pci |= a;
                    pcie |= b;
                }
            }
            if !(pci || pcie) {
                continue;
            }
            let path = path_string(device);
            let mut not_constant = Vec::new();
            let mut field =
                |object: PciRootObject, seg: &Seg, default: Option<u64>, max: u64| match self
                    .integer(device, seg)
                {
                    Int::Absent => default,
                    Int::Value(v) if v <= max => Some(v),
                    Int::Value(value) => {
                        warnings.push(Warning::PciRootValueRange {
                            path: path.clone(),
                            object,
                            value,
                        });
                        None
                    }
                    Int::NotConstant => {
                        not_constant.push(object);
                        None
                    }
                };
            let segment = field(PciRootObject::Seg, b"_SEG", Some(0), 0xffff);
            let bus = field(PciRootObject::Bbn, b"_BBN", Some(0), 0xff);
            let proximity_domain = field(PciRootObject::Pxm, b"_PXM", None, u64::from(u32::MAX));
            let uid = match self.eval(&child(device, b"_UID")) {
                Eval::Constant(Value::Integer(v)) => Some(v),
                Eval::Absent | Eval::Constant(Value::String(_)) => None,
                _ => {
                    not_constant.push(PciRootObject::Uid);
                    None
                }
            };
            roots.push(PciRoot {
                path,
                pcie,
                segment: segment.map(|v| v as u16),
                bus: bus.map(|v| v as u8),
                proximity_domain: proximity_domain.map(|v| v as u32),
                uid,
                not_constant,
            });
        }
        roots
    }
}

/// Where and why the scanner stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stop {
    offset: usize,
    problem: AmlProblem,
}

fn stop(offset: usize, problem: AmlProblem) -> Stop {
    Stop { offset, problem }
}

/// The operands of an opcode, for skipping it.
#[derive(Clone, Copy)]
enum Arg {
    /// A TermArg.
    Term,
    /// A SuperName or Target (a name, local, arg, `Debug`, null name or reference expression).
    Super,
    /// A NameString (never a call).
    Name,
    /// Fixed bytes.
    Bytes(usize),
}

/// Operand shapes of the one-byte opcodes without a package length.
fn shape(op: u8) -> Option<&'static [Arg]> {
    use Arg::{Bytes, Name, Super, Term};
    Some(match op {
        ALIAS_OP => &[Name, Name],
        NAME_OP => &[Name, Term],
        EXTERNAL_OP => &[Name, Bytes(2)],
        0x70 | 0x9d => &[Term, Super], // Store, CopyObject
        0x71 | 0x75 | 0x76 | 0x87 | 0x8e => &[Super], // RefOf, Increment, Decrement, SizeOf, ObjectType
        0x72..=0x74 | 0x77 | 0x79..=0x7f | 0x84 | 0x85 | 0x88 | 0x9c => &[Term, Term, Super],
        0x78 => &[Term, Term, Super, Super],         // Divide
        0x80..=0x82 | 0x96..=0x99 => &[Term, Super], // Not, FindSet*Bit, To*
        0x83 | 0x92 | RETURN_OP => &[Term],          // DerefOf, LNot, Return
        0x86 => &[Super, Term],                      // Notify
        0x89 => &[Term, Bytes(1), Term, Bytes(1), Term, Term], // Match
        0x8a..=0x8d | 0x8f => &[Term, Term, Name],   // Create*Field
        0x90 | 0x91 | 0x93..=0x95 => &[Term, Term],  // LAnd, LOr, LEqual, LGreater, LLess
        0x9e => &[Term, Term, Term, Super],          // Mid
        0x9f | 0xa3 | 0xa5 | 0xcc => &[],            // Continue, Noop, Break, BreakPoint
        _ => return None,
    })
}

/// Operand shapes of the extended (0x5b-prefixed) opcodes without a package length.
fn ext_shape(op: u8) -> Option<&'static [Arg]> {
    use Arg::{Bytes, Name, Super, Term};
    Some(match op {
        MUTEX_OP => &[Name, Bytes(1)],
        EVENT_OP => &[Name],
        0x12 => &[Super, Super],                       // CondRefOf
        0x13 => &[Term, Term, Term, Name],             // CreateField
        0x1f => &[Term, Term, Term, Term, Term, Term], // LoadTable
        0x20 => &[Name, Super],                        // Load
        0x21 | 0x22 => &[Term],                        // Stall, Sleep
        0x23 => &[Super, Bytes(2)],                    // Acquire
        0x24 | 0x26 | 0x27 | 0x2a => &[Super],         // Signal, Reset, Release, Unload
        0x25 => &[Super, Term],                        // Wait
        0x28 | 0x29 => &[Term, Super],                 // FromBCD, ToBCD
        0x30 | DEBUG_OP | 0x33 => &[],                 // Revision, Debug, Timer
        0x32 => &[Bytes(5), Term],                     // Fatal
        OP_REGION_OP => &[Name, Bytes(1), Term, Term],
        DATA_REGION_OP => &[Name, Term, Term, Term],
        _ => return None,
    })
}

/// Scans one table into a namespace.
struct Scanner<'a> {
    table: &'a [u8],
    signature: TableSig,
    ns: &'a mut Namespace,
    /// The namespace of the first pass, for method argument counts (`None` in the first pass).
    known: Option<&'a Namespace>,
    problems: Vec<Warning>,
    dropped: usize,
}

impl<'a> Scanner<'a> {
    fn new(
        signature: TableSig,
        table: &'a [u8],
        ns: &'a mut Namespace,
        known: Option<&'a Namespace>,
    ) -> Self {
        Scanner {
            table,
            signature,
            ns,
            known,
            problems: Vec::new(),
            dropped: 0,
        }
    }

    fn run(&mut self) {
        if self.table.len() > HEADER_LEN {
            self.term_list(HEADER_LEN, self.table.len(), &[], 0);
        }
    }

    fn report(&mut self, s: Stop) {
        if self.problems.len() < MAX_PROBLEMS_PER_TABLE {
            self.problems.push(Warning::Aml {
                signature: self.signature,
                offset: s.offset,
                problem: s.problem,
            });
        } else {
            self.dropped += 1;
        }
    }

    /// The namespace to look method argument counts up in.
    fn names(&self) -> &Namespace {
        self.known.unwrap_or(self.ns)
    }

    fn peek(&self, pos: usize, end: usize) -> Result<u8, Stop> {
        if pos < end {
            self.table.get(pos).copied()
        } else {
            None
        }
        .ok_or(stop(pos, AmlProblem::Truncated))
    }

    fn byte(&self, pos: &mut usize, end: usize) -> Result<u8, Stop> {
        let b = self.peek(*pos, end)?;
        *pos += 1;
        Ok(b)
    }

    fn skip(&self, pos: &mut usize, end: usize, n: usize) -> Result<(), Stop> {
        match pos.checked_add(n) {
            Some(e) if e <= end && e <= self.table.len() => {
                *pos = e;
                Ok(())
            }
            _ => Err(stop(*pos, AmlProblem::Truncated)),
        }
    }

    /// A little-endian integer of `n` (at most 8) bytes.
    fn integer(&self, pos: &mut usize, end: usize, n: usize) -> Result<u64, Stop> {
        let mut v = 0u64;
        for i in 0..n.min(8) {
            v |= u64::from(self.byte(pos, end)?) << (8 * i);
        }
        Ok(v)
    }

    /// A NUL-terminated string.
    fn string(&self, pos: &mut usize, end: usize) -> Result<Vec<u8>, Stop> {
        let start = *pos;
        while self.byte(pos, end)? != 0 {}
        Ok(self.table.get(start..*pos - 1).unwrap_or(&[]).to_vec())
    }

    /// A PkgLength: the end of the object it measures (it counts from its own first byte),
    /// whether or not that lies within `end`.
    fn pkg_length_raw(&self, pos: &mut usize, end: usize) -> Result<usize, Stop> {
        let start = *pos;
        let lead = self.byte(pos, end)?;
        let follow = usize::from(lead >> 6);
        let mut len = if follow == 0 {
            usize::from(lead & 0x3f)
        } else {
            usize::from(lead & 0x0f)
        };
        for i in 0..follow {
            len |= usize::from(self.byte(pos, end)?) << (4 + 8 * i);
        }
        let obj_end = start.saturating_add(len);
        if obj_end < *pos {
            return Err(stop(start, AmlProblem::BadLength));
        }
        Ok(obj_end)
    }

    /// A PkgLength inside an expression or value: running past `end` is an error.
    fn pkg_length(&self, pos: &mut usize, end: usize) -> Result<usize, Stop> {
        let start = *pos;
        let obj_end = self.pkg_length_raw(pos, end)?;
        if obj_end > end {
            return Err(stop(start, AmlProblem::LengthOverrun));
        }
        Ok(obj_end)
    }

    /// A PkgLength of a namespace object: running past `end` is reported and the object cut
    /// at `end`.
    fn pkg_length_cut(&mut self, pos: &mut usize, end: usize) -> Result<usize, Stop> {
        let start = *pos;
        let obj_end = self.pkg_length_raw(pos, end)?;
        if obj_end > end {
            self.report(stop(start, AmlProblem::LengthOverrun));
            return Ok(end);
        }
        Ok(obj_end)
    }

    fn name_string(&self, pos: &mut usize, end: usize) -> Result<NameString, Stop> {
        let mut name = NameString {
            root: false,
            parents: 0,
            segs: Vec::new(),
        };
        match self.peek(*pos, end)? {
            ROOT_CHAR => {
                name.root = true;
                *pos += 1;
            }
            PARENT_PREFIX => {
                while self.peek(*pos, end)? == PARENT_PREFIX {
                    name.parents += 1;
                    *pos += 1;
                }
            }
            _ => {}
        }
        let count = match self.peek(*pos, end)? {
            ZERO_OP => {
                *pos += 1;
                0
            }
            DUAL_NAME_PREFIX => {
                *pos += 1;
                2
            }
            MULTI_NAME_PREFIX => {
                *pos += 1;
                usize::from(self.byte(pos, end)?)
            }
            _ => 1,
        };
        for _ in 0..count {
            let at = *pos;
            self.skip(pos, end, 4)?;
            let seg = match self.table.get(at..at + 4) {
                Some(&[a, b, c, d]) => [a, b, c, d],
                _ => return Err(stop(at, AmlProblem::Truncated)),
            };
            if !valid_seg(&seg) {
                return Err(stop(at, AmlProblem::BadName));
            }
            name.segs.push(seg);
        }
        Ok(name)
    }

    /// A NameString that declares an object in `scope`, as an absolute path.
    fn declared_path(&self, pos: &mut usize, end: usize, scope: &[Seg]) -> Result<Path, Stop> {
        let at = *pos;
        self.name_string(pos, end)?
            .resolve(scope)
            .ok_or(stop(at, AmlProblem::BadName))
    }

    /// A term list: namespace objects and statements up to `end`.
    fn term_list(&mut self, mut pos: usize, end: usize, scope: &[Seg], depth: usize) {
        if depth >= MAX_DEPTH {
            if pos < end {
                self.report(stop(pos, AmlProblem::TooDeep));
            }
            return;
        }
        while pos < end {
            if let Err(s) = self.term(&mut pos, end, scope, depth) {
                self.report(s);
                return;
            }
        }
    }

    /// An object with a package length: `body` runs on its contents; a problem inside is
    /// reported and the scan goes on after the object.
    fn bounded(
        &mut self,
        pos: &mut usize,
        end: usize,
        body: impl FnOnce(&mut Self, &mut usize, usize) -> Result<(), Stop>,
    ) -> Result<(), Stop> {
        let obj_end = self.pkg_length_cut(pos, end)?;
        let mut inner = *pos;
        if let Err(s) = body(self, &mut inner, obj_end) {
            self.report(s);
        }
        *pos = obj_end;
        Ok(())
    }

    /// One term of a term list.
    fn term(
        &mut self,
        pos: &mut usize,
        end: usize,
        scope: &[Seg],
        depth: usize,
    ) -> Result<(), Stop> {
        let at = *pos;
        let op = self.byte(pos, end)?;
        match op {
            SCOPE_OP => self.bounded(pos, end, |s, p, e| {
                let name_at = *p;
                let name = s.name_string(p, e)?;
                // A scope names an existing object: the search rules apply.
                let path = match s.names().lookup(&name, scope) {
                    Some(path) => path,
                    None => name
                        .resolve(scope)
                        .ok_or(stop(name_at, AmlProblem::BadName))?,
                };
                s.term_list(*p, e, &path, depth + 1);
                Ok(())
            }),
            METHOD_OP => self.bounded(pos, end, |s, p, e| {
                let path = s.declared_path(p, e, scope)?;
                let flags = s.byte(p, e)?;
                let body = s.method_body(*p, e, &path);
                s.ns.declare(
                    path,
                    Object::Method {
                        args: flags & 7,
                        body,
                    },
                );
                Ok(())
            }),
            NAME_OP => {
                let path = self.declared_path(pos, end, scope)?;
                let value = self.data(pos, end, scope, depth + 1)?;
                self.ns.declare(path, Object::Name(value));
                Ok(())
            }
            ALIAS_OP => {
                self.name_string(pos, end)?;
                let path = self.declared_path(pos, end, scope)?;
                self.ns.declare(path, Object::Other);
                Ok(())
            }
            EXTERNAL_OP => {
                let path = self.declared_path(pos, end, scope)?;
                let object_type = self.byte(pos, end)?;
                let args = self.byte(pos, end)?;
                // Object type 8 is a method.
                let args = (object_type == 8).then_some(args & 7);
                self.ns.declare(path, Object::External { args });
                Ok(())
            }
            IF_OP => self.bounded(pos, end, |s, p, e| {
                s.skip_term(p, e, scope, depth + 1)?;
                s.term_list(*p, e, scope, depth + 1);
                Ok(())
            }),
            ELSE_OP => self.bounded(pos, end, |s, p, e| {
                s.term_list(*p, e, scope, depth + 1);
                Ok(())
            }),
            EXT_OP_PREFIX => {
                let ext = self.byte(pos, end)?;
                match ext {
                    DEVICE_OP | PROCESSOR_OP | POWER_RES_OP | THERMAL_ZONE_OP => {
                        self.bounded(pos, end, |s, p, e| {
                            let path = s.declared_path(p, e, scope)?;
                            // Processor: id, P_BLK address, P_BLK length; PowerResource:
                            // system level, resource order.
                            let fixed = match ext {
                                PROCESSOR_OP => 6,
                                POWER_RES_OP => 3,
                                _ => 0,
                            };
                            s.skip(p, e, fixed)?;
                            let object = if ext == DEVICE_OP {
                                Object::Device
                            } else {
                                Object::Other
                            };
                            s.ns.declare(path.clone(), object);
                            s.term_list(*p, e, &path, depth + 1);
                            Ok(())
                        })
                    }
                    MUTEX_OP | EVENT_OP | OP_REGION_OP | DATA_REGION_OP => {
                        let path = self.declared_path(pos, end, scope)?;
                        let rest: &[Arg] = match ext {
                            MUTEX_OP => &[Arg::Bytes(1)],
                            EVENT_OP => &[],
                            OP_REGION_OP => &[Arg::Bytes(1), Arg::Term, Arg::Term],
                            _ => &[Arg::Term, Arg::Term, Arg::Term],
                        };
                        self.operands(pos, end, scope, depth, rest)?;
                        self.ns.declare(path, Object::Other);
                        Ok(())
                    }
                    _ => {
                        *pos = at;
                        self.skip_term(pos, end, scope, depth)
                    }
                }
            }
            _ => {
                *pos = at;
                self.skip_term(pos, end, scope, depth)
            }
        }
    }

    /// What a method body (after the flags byte) returns first.
    fn method_body(&self, start: usize, end: usize, method: &[Seg]) -> Body {
        let mut pos = start;
        if self.byte(&mut pos, end) != Ok(RETURN_OP) {
            return Body::Other;
        }
        match self.peek(pos, end) {
            Ok(b) if is_name_start(b) => match self.name_string(&mut pos, end) {
                Ok(name) => Body::ReturnsName(name),
                Err(_) => Body::Other,
            },
            Ok(_) => match self.data(&mut pos, end, method, 1) {
                Ok(v) => Body::Returns(v),
                Err(_) => Body::Other,
            },
            Err(_) => Body::Other,
        }
    }

    /// A data object (the value of a `Name`, a package element, a returned constant).
    fn data(
        &self,
        pos: &mut usize,
        end: usize,
        scope: &[Seg],
        depth: usize,
    ) -> Result<Value, Stop> {
        let at = *pos;
        if depth >= MAX_DEPTH {
            return Err(stop(at, AmlProblem::TooDeep));
        }
        let op = self.byte(pos, end)?;
        Ok(match op {
            ZERO_OP => Value::Integer(0),
            ONE_OP => Value::Integer(1),
            ONES_OP => Value::Integer(u64::MAX),
            BYTE_PREFIX => Value::Integer(self.integer(pos, end, 1)?),
            WORD_PREFIX => Value::Integer(self.integer(pos, end, 2)?),
            DWORD_PREFIX => Value::Integer(self.integer(pos, end, 4)?),
            QWORD_PREFIX => Value::Integer(self.integer(pos, end, 8)?),
            STRING_PREFIX => Value::String(self.string(pos, end)?),
            PACKAGE_OP => {
                let pkg_end = self.pkg_length(pos, end)?;
                let _num_elements = self.byte(pos, pkg_end)?;
                let mut items = Vec::new();
                while *pos < pkg_end {
                    let item = match self.data(pos, pkg_end, scope, depth + 1)? {
                        Value::Package(_) => Value::Other,
                        v => v,
                    };
                    if items.len() < MAX_PACKAGE_VALUES {
                        items.push(item);
                    }
                }
                Value::Package(items)
            }
            b if is_name_start(b) => {
                // A reference to a named object (never a call in a data object).
                *pos = at;
                self.name_string(pos, end)?;
                Value::Other
            }
            _ => {
                *pos = at;
                self.skip_term(pos, end, scope, depth)?;
                Value::Other
            }
        })
    }

    /// Skips one TermArg (or statement).
    fn skip_term(
        &self,
        pos: &mut usize,
        end: usize,
        scope: &[Seg],
        depth: usize,
    ) -> Result<(), Stop> {
        let at = *pos;
        if depth >= MAX_DEPTH {
            return Err(stop(at, AmlProblem::TooDeep));
        }
        let op = self.byte(pos, end)?;
        match op {
            ZERO_OP | ONE_OP | ONES_OP | 0x60..=0x6e => Ok(()),
            BYTE_PREFIX => self.skip(pos, end, 1),
            WORD_PREFIX => self.skip(pos, end, 2),
            DWORD_PREFIX => self.skip(pos, end, 4),
            QWORD_PREFIX => self.skip(pos, end, 8),
            STRING_PREFIX => self.string(pos, end).map(drop),
            SCOPE_OP | BUFFER_OP | PACKAGE_OP | VAR_PACKAGE_OP | METHOD_OP | IF_OP | ELSE_OP
            | WHILE_OP => {
                *pos = self.pkg_length(pos, end)?;
                Ok(())
            }
            b if is_name_start(b) => {
                *pos = at;
                let name = self.name_string(pos, end)?;
                for _ in 0..self.names().method_args(&name, scope) {
                    self.skip_term(pos, end, scope, depth + 1)?;
                }
                Ok(())
            }
            EXT_OP_PREFIX => {
                let ext = self.byte(pos, end)?;
                match ext {
                    // Field, Device, Processor, PowerResource, ThermalZone, IndexField,
                    // BankField.
                    0x81..=0x87 => {
                        *pos = self.pkg_length(pos, end)?;
                        Ok(())
                    }
                    _ => match ext_shape(ext) {
                        Some(args) => self.operands(pos, end, scope, depth, args),
                        None => Err(stop(
                            at,
                            AmlProblem::UnknownOpcode(
                                u16::from(EXT_OP_PREFIX) << 8 | u16::from(ext),
                            ),
                        )),
                    },
                }
            }
            _ => match shape(op) {
                Some(args) => self.operands(pos, end, scope, depth, args),
                None => Err(stop(at, AmlProblem::UnknownOpcode(u16::from(op)))),
            },
        }
    }

    fn operands(
        &self,
        pos: &mut usize,
        end: usize,
        scope: &[Seg],
        depth: usize,
        args: &[Arg],
    ) -> Result<(), Stop> {
        for arg in args {
            match *arg {
                Arg::Term => self.skip_term(pos, end, scope, depth + 1)?,
                Arg::Super => self.skip_super(pos, end, scope, depth + 1)?,
                Arg::Name => self.name_string(pos, end).map(drop)?,
                Arg::Bytes(n) => self.skip(pos, end, n)?,
            }
        }
        Ok(())
    }

    /// Skips a SuperName or Target: a name (not a call), a local or argument, `Debug`, the
    /// null name, or a reference expression.
    fn skip_super(
        &self,
        pos: &mut usize,
        end: usize,
        scope: &[Seg],
        depth: usize,
    ) -> Result<(), Stop> {
        match self.peek(*pos, end)? {
            ZERO_OP | 0x60..=0x6e => self.skip(pos, end, 1),
            b if is_name_start(b) => self.name_string(pos, end).map(drop),
            EXT_OP_PREFIX if self.peek(*pos + 1, end) == Ok(DEBUG_OP) => self.skip(pos, end, 2),
            _ => self.skip_term(pos, end, scope, depth),
        }
    }
}

/// Scans the DSDT and SSDTs (in that order) into one namespace. Two passes: the first learns
/// the argument counts of methods, the second uses them to skip calls correctly and keeps the
/// result and its problems.
pub(crate) fn scan(tables: &[(TableSig, &[u8])]) -> (Namespace, Vec<Warning>) {
    let mut first = Namespace::default();
    for &(signature, table) in tables {
        Scanner::new(signature, table, &mut first, None).run();
    }
    let mut ns = Namespace::default();
    let mut warnings = vec![];
    for &(signature, table) in tables {
        let mut scanner = Scanner::new(signature, table, &mut ns, Some(&first));
        scanner.run();
        warnings.append(&mut scanner.problems);
        if scanner.dropped > 0 {
            warnings.push(Warning::AmlProblemsDropped {
                signature,
                count: scanner.dropped,
            });
        }
    }
    (ns, warnings)
}
