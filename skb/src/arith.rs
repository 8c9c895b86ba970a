//! Integer arithmetic for `is/2` and comparison. 64-bit integers; overflow raises
//! `evaluation_error(int_overflow)`. There are no floats: `/` gives an integer when the
//! division is exact and raises `evaluation_error(undefined)` otherwise.

use crate::atom::*;
use crate::cell::{push_struct, Cell};
use crate::error::{inst_error, PErr, Res};
use crate::machine::Machine;
use alloc::vec::Vec;

enum Task {
    Eval(Cell),
    Apply(Atom, u32),
}

impl Machine<'_> {
    fn not_evaluable(&mut self, name: Atom, arity: u32) -> PErr {
        let mark = self.heap.len();
        let pi = push_struct(
            &mut self.heap,
            SLASH,
            &[Cell::Atom(name), Cell::Int(arity as i64)],
        );
        let e = self.type_error(EVALUABLE, pi);
        self.heap.truncate(mark);
        e
    }

    /// Evaluate an arithmetic expression.
    pub(crate) fn eval(&mut self, expr: Cell) -> Res<i64> {
        let mut tasks = alloc::vec![Task::Eval(expr)];
        let mut vals: Vec<i64> = Vec::new();
        while let Some(t) = tasks.pop() {
            if !self.tick() {
                return Err(PErr::Limit(crate::Resource::Steps));
            }
            match t {
                Task::Eval(c) => match self.deref(c) {
                    Cell::Int(i) => vals.push(i),
                    Cell::Ref(_) => return Err(inst_error()),
                    Cell::Atom(a) => {
                        let v = match self.db.atoms.name(a) {
                            "max_tagged_integer" => (1i64 << 60) - 1,
                            "min_tagged_integer" => -(1i64 << 60),
                            "max_integer" => i64::MAX,
                            "min_integer" => i64::MIN,
                            "epsilon" | "inf" | "nan" | "pi" | "e" | "random" | "cputime"
                            | "realtime" => return Err(self.eval_error(UNDEFINED)),
                            _ => {
                                if a == NIL {
                                    return Err(self.type_error(EVALUABLE, Cell::Atom(a)));
                                }
                                return Err(self.not_evaluable(a, 0));
                            }
                        };
                        vals.push(v);
                    }
                    Cell::Str(p) => {
                        let Cell::Fun(f, n) = self.heap[p as usize] else {
                            return Err(inst_error());
                        };
                        if f == DOT && n == 2 {
                            // "[X]" evaluates X
                            let tail = self.deref(self.arg_at(p, 1));
                            if tail != Cell::Atom(NIL) {
                                let c = self.deref(c);
                                return Err(self.type_error(EVALUABLE, c));
                            }
                            tasks.push(Task::Eval(self.arg_at(p, 0)));
                            continue;
                        }
                        if n > 2 {
                            return Err(self.not_evaluable(f, n));
                        }
                        tasks.push(Task::Apply(f, n));
                        for i in (0..n as usize).rev() {
                            tasks.push(Task::Eval(self.arg_at(p, i)));
                        }
                    }
                    Cell::Fun(..) => return Err(inst_error()),
                },
                Task::Apply(f, n) => {
                    let v = if n == 1 {
                        let x = vals.pop().unwrap_or(0);
                        self.apply1(f, x)?
                    } else {
                        let y = vals.pop().unwrap_or(0);
                        let x = vals.pop().unwrap_or(0);
                        self.apply2(f, x, y)?
                    };
                    vals.push(v);
                }
            }
        }
        Ok(vals.pop().unwrap_or(0))
    }

    fn overflow(&mut self) -> PErr {
        self.eval_error(INT_OVERFLOW)
    }

    fn apply1(&mut self, f: Atom, x: i64) -> Res<i64> {
        let r = match self.db.atoms.name(f) {
            "-" => x.checked_neg(),
            "+" => Some(x),
            "abs" => x.checked_abs(),
            "sign" => Some(x.signum()),
            "min" | "max" => return Err(self.not_evaluable(f, 1)),
            "\\" => Some(!x),
            "msb" => {
                if x <= 0 {
                    return Err(self.type_error_not_less_than_one(x));
                }
                Some(63 - x.leading_zeros() as i64)
            }
            "succ" => x.checked_add(1),
            "plus" => Some(x),
            "truncate" | "integer" | "floor" | "ceiling" | "round" => Some(x),
            _ => return Err(self.not_evaluable(f, 1)),
        };
        match r {
            Some(v) => Ok(v),
            None => Err(self.overflow()),
        }
    }

    fn type_error_not_less_than_one(&mut self, x: i64) -> PErr {
        let a = self.db.atoms.intern("not_less_than_one");
        self.error2(TYPE_ERROR, a, Cell::Int(x))
    }

    fn apply2(&mut self, f: Atom, x: i64, y: i64) -> Res<i64> {
        let name = self.db.atoms.name(f);
        let zero_div = matches!(name, "//" | "mod" | "rem" | "div" | "/") && y == 0;
        if zero_div {
            return Err(self.eval_error(ZERO_DIVISOR));
        }
        let r = match name {
            "+" => x.checked_add(y),
            "-" => x.checked_sub(y),
            "*" => x.checked_mul(y),
            "//" => x.checked_div(y),
            "rem" => x.checked_rem(y),
            "mod" => x
                .checked_rem_euclid(y)
                .map(|r| if y < 0 && r != 0 { r + y } else { r }),
            "div" => {
                let q = x.checked_div(y);
                q.map(|q| {
                    if (x % y != 0) && ((x < 0) != (y < 0)) {
                        q - 1
                    } else {
                        q
                    }
                })
            }
            "/" => {
                if x.checked_rem(y) == Some(0) {
                    x.checked_div(y)
                } else if x.checked_rem(y).is_none() {
                    None
                } else {
                    return Err(self.eval_error(UNDEFINED));
                }
            }
            "min" => Some(x.min(y)),
            "max" => Some(x.max(y)),
            "/\\" => Some(x & y),
            "\\/" => Some(x | y),
            "xor" => Some(x ^ y),
            "<<" => {
                if y < 0 {
                    Some(x >> (-y).min(63))
                } else if y >= 64 {
                    if x == 0 {
                        Some(0)
                    } else {
                        None
                    }
                } else {
                    let r = x.wrapping_shl(y as u32);
                    if r >> y == x {
                        Some(r)
                    } else {
                        None
                    }
                }
            }
            ">>" => {
                if y < 0 {
                    let s = y.checked_neg().unwrap_or(64);
                    if s >= 64 {
                        if x == 0 {
                            Some(0)
                        } else {
                            None
                        }
                    } else {
                        let r = x.wrapping_shl(s as u32);
                        if r >> s == x {
                            Some(r)
                        } else {
                            None
                        }
                    }
                } else {
                    Some(x >> y.min(63))
                }
            }
            "**" | "^" => {
                if y < 0 {
                    match x {
                        1 => Some(1),
                        -1 => Some(if y % 2 == 0 { 1 } else { -1 }),
                        0 => return Err(self.eval_error(ZERO_DIVISOR)),
                        _ => return Err(self.eval_error(UNDEFINED)),
                    }
                } else if y > u32::MAX as i64 {
                    match x {
                        0 | 1 => Some(x),
                        -1 => Some(if y % 2 == 0 { 1 } else { -1 }),
                        _ => None,
                    }
                } else {
                    x.checked_pow(y as u32)
                }
            }
            "gcd" => {
                let (mut a, mut b) = (x.unsigned_abs(), y.unsigned_abs());
                while b != 0 {
                    (a, b) = (b, a % b);
                }
                i64::try_from(a).ok()
            }
            "truncate" | "atan2" | "copysign" | "log" => return Err(self.not_evaluable(f, 2)),
            _ => return Err(self.not_evaluable(f, 2)),
        };
        match r {
            Some(v) => Ok(v),
            None => Err(self.overflow()),
        }
    }
}
