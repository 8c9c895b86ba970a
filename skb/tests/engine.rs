//! Engine tests: answers, errors, limits, deep recursion, and fuzzing for panics.

use skb::{Limits, Resource, Skb, SkbError, Term};

/// Replace variable names `_G123` by `_`.
fn norm(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '_' && chars.peek() == Some(&'G') {
            chars.next();
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
        }
    }
    out
}

fn answers(skb: &mut Skb, q: &str) -> Vec<String> {
    match skb.query(q, Limits::default()) {
        Ok(v) => v.iter().map(|s| norm(s.text())).collect(),
        Err(e) => vec![format!("ERROR {e}")],
    }
}

fn one(program: &str, q: &str) -> Vec<String> {
    let mut skb = Skb::new();
    skb.consult(program).expect("consult");
    answers(&mut skb, q)
}

fn err(program: &str, q: &str, limits: Limits) -> SkbError {
    let mut skb = Skb::new();
    skb.consult(program).expect("consult");
    match skb.query(q, limits) {
        Ok(v) => panic!("expected an error, got {} answers", v.len()),
        Err(e) => e,
    }
}

#[test]
fn answers_and_bindings() {
    let mut skb = Skb::new();
    skb.consult(
        "edge(a, b). edge(b, c). path(X, Y) :- edge(X, Y). path(X, Y) :- edge(X, Z), path(Z, Y).",
    )
    .unwrap();
    let sols = skb.query("path(a, Where)", Limits::default()).unwrap();
    assert_eq!(sols.len(), 2);
    assert_eq!(sols[0].text(), "path(a,b)");
    assert_eq!(sols[1].atom("Where"), Some("c"));
    let s = skb
        .query_once("X = [1, 2, 3], Y = f(a, \"hi\")", Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(s.int_list("X"), Some(vec![1, 2, 3]));
    assert_eq!(s.get("Y").unwrap().to_string(), "f(a,[104,105])");
    assert_eq!(s.bindings().len(), 2);
    assert!(skb.query_once("fail", Limits::default()).unwrap().is_none());
}

#[test]
fn programmatic_facts() {
    let mut skb = Skb::new();
    let facts = (0..4).map(|i| {
        Term::compound(
            "core",
            [
                Term::int(i),
                Term::int(i * 2),
                Term::int(0),
                Term::int(i / 2),
            ],
        )
    });
    assert_eq!(skb.add_facts_from(facts).unwrap(), 4);
    let s = skb
        .query_once("findall(C, core(C, _, _, 1), L)", Limits::default())
        .unwrap()
        .unwrap();
    assert_eq!(s.int_list("L"), Some(vec![2, 3]));
    // Added facts are dynamic: rules may update them.
    assert_eq!(
        answers(
            &mut skb,
            "retract(core(3, _, _, _)), aggregate_all(count, core(_, _, _, _), N)"
        ),
        vec!["retract(core(3,6,0,1)),aggregate_all(count,core(_,_,_,_),3)"]
    );
    assert_eq!(skb.retract_all("core", 4), 3);
    assert_eq!(answers(&mut skb, "core(_, _, _, _)"), Vec::<String>::new());
    assert!(matches!(
        skb.add_fact(&Term::int(3)),
        Err(SkbError::Type { .. })
    ));
    assert!(matches!(
        skb.add_fact(&Term::compound("is", [Term::int(1), Term::int(1)])),
        Err(SkbError::Permission { .. })
    ));
}

#[test]
fn long_loops_and_deep_recursion() {
    // Failure-driven loop over 100 000 solutions.
    assert_eq!(
        one("", "(between(1, 100000, X), fail ; true)"),
        vec!["between(1,100000,_),fail;true"]
    );
    // Non-tail recursion over a 10 000- and a 100 000-element list.
    let p = "len([], 0). len([_|T], N) :- len(T, N0), N is N0 + 1.";
    assert_eq!(
        one(p, "numlist(1, 10000, L), len(L, N), N == 10000").len(),
        1
    );
    let mut skb = Skb::new();
    skb.consult(p).unwrap();
    // (No garbage collector: every clause call leaves its copy on the heap until backtracking,
    // about 25 cells per level here.)
    let big = Limits {
        max_cells: 16_000_000,
        ..Limits::default()
    };
    let s = skb
        .query_once("numlist(1, 100000, L), len(L, N)", big)
        .unwrap()
        .unwrap();
    assert_eq!(s.int("N"), Some(100000));
    // Tail recursion with a cut runs in constant frame space.
    let c = "count(N, N) :- !. count(I, N) :- I1 is I + 1, count(I1, N).";
    assert_eq!(one(c, "count(0, 200000)").len(), 1);
    // Deep terms: build, copy, compare, print, collect, return.
    let mk = "mk(0, a) :- !. mk(N, f(T)) :- N1 is N - 1, mk(N1, T).";
    let mut skb = Skb::new();
    skb.consult(mk).unwrap();
    let s = skb
        .query_once(
            "mk(100000, T), copy_term(T, C), T == C, findall(T, true, [D]), D = C, term_to_atom(T, A), atom_length(A, Len), msort([T, C], _)",
            Limits { max_cells: 16_000_000, ..Limits::default() },
        )
        .unwrap()
        .unwrap();
    assert_eq!(s.int("Len"), Some(100000 * 3 + 1));
    assert!(s.text().len() > 600000);
}

#[test]
fn resource_limits() {
    let tight = Limits {
        max_steps: 100_000,
        max_cells: 200_000,
        max_depth: 10_000,
    };
    assert_eq!(
        err("loop :- loop.", "loop", tight),
        SkbError::ResourceLimit(Resource::Steps)
    );
    assert_eq!(
        err(
            "grow(X) :- grow([X|X]).",
            "grow(a)",
            Limits {
                max_steps: u64::MAX,
                ..tight
            }
        ),
        SkbError::ResourceLimit(Resource::Memory)
    );
    assert_eq!(
        err(
            "deep(N) :- N1 is N + 1, deep(N1), N1 > 0.",
            "deep(0)",
            Limits {
                max_steps: u64::MAX,
                max_cells: usize::MAX,
                ..tight
            }
        ),
        SkbError::ResourceLimit(Resource::Depth)
    );
    assert_eq!(
        err("", "length(L, 100000000)", tight),
        SkbError::ResourceLimit(Resource::Memory)
    );
    assert_eq!(
        err(
            "",
            "findall(X, between(1, 1000000, X), L)",
            Limits {
                max_steps: u64::MAX,
                ..tight
            }
        ),
        SkbError::ResourceLimit(Resource::Memory)
    );
    // Limits are not catchable.
    assert_eq!(
        err("loop :- loop.", "catch(loop, _, true)", tight),
        SkbError::ResourceLimit(Resource::Steps)
    );
    // Default limits end an infinite loop too.
    assert!(matches!(
        err("loop :- loop.", "loop", Limits::default()),
        SkbError::ResourceLimit(_)
    ));
}

#[test]
fn typed_errors() {
    let d = Limits::default();
    assert_eq!(
        err("", "foo(1, 2)", d),
        SkbError::UnknownPredicate {
            name: "foo".into(),
            arity: 2
        }
    );
    assert_eq!(
        err("", "X is 1 // 0", d),
        SkbError::Evaluation("zero_divisor".into())
    );
    assert_eq!(
        err("", "X is 9223372036854775807 + 1", d),
        SkbError::Evaluation("int_overflow".into())
    );
    assert_eq!(
        err("", "X is 3 * 4611686018427387904", d),
        SkbError::Evaluation("int_overflow".into())
    );
    assert_eq!(
        err("", "X is 7 / 2", d),
        SkbError::Evaluation("undefined".into())
    );
    assert_eq!(err("", "X is Y + 1", d), SkbError::Instantiation);
    assert_eq!(err("", "atom_length(f(x), L)", d).iso_kind(), "type_error");
    assert_eq!(
        err("", "X is foo + 1", d),
        SkbError::Type {
            expected: "evaluable".into(),
            culprit: "foo/0".into()
        }
    );
    assert_eq!(
        err("", "throw(custom(1))", d),
        SkbError::Uncaught("custom(1)".into())
    );
    assert_eq!(
        err("p(1).", "assertz(p(2))", d).iso_kind(),
        "permission_error"
    );
    // Syntax errors carry line and column.
    let mut skb = Skb::new();
    match skb.consult("ok(1).\nbad(X :- .\n") {
        Err(SkbError::Syntax { line, column, .. }) => assert_eq!((line, column), (2, 10)),
        other => panic!("{other:?}"),
    }
    match skb.consult("x(1.5).") {
        Err(SkbError::Syntax {
            line: 1,
            column: 3,
            message,
        }) => assert!(message.contains("floating")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(skb.query("foo(", d), Err(SkbError::Syntax { .. })));
    assert!(matches!(
        skb.consult("x(99999999999999999999)."),
        Err(SkbError::Syntax { .. })
    ));
    assert!(matches!(
        skb.consult("a --> b."),
        Err(SkbError::Syntax { .. })
    ));
    // The error ends the query but earlier answers are delivered.
    let mut skb = Skb::new();
    let items: Vec<_> = skb
        .solutions("member(X, [1, 0, 2]), Y is 1 // X", d)
        .unwrap()
        .collect();
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    assert_eq!(items[1], Err(SkbError::Evaluation("zero_divisor".into())));
}

#[test]
fn deep_nesting_in_text_is_a_syntax_error_not_a_crash() {
    let mut skb = Skb::new();
    let deep = format!("x({}a{}).", "f(".repeat(100_000), ")".repeat(100_000));
    assert!(matches!(skb.consult(&deep), Err(SkbError::Syntax { .. })));
    let deep = format!("x({}a{}).", "(".repeat(100_000), ")".repeat(100_000));
    assert!(matches!(skb.consult(&deep), Err(SkbError::Syntax { .. })));
    let deep = format!("x({}a).", "- ".repeat(100_000));
    assert!(matches!(skb.consult(&deep), Err(SkbError::Syntax { .. })));
    // Moderate nesting is fine, and long conjunctions and lists are read iteratively.
    let ok = format!("x({}a{}).", "f(".repeat(150), ")".repeat(150));
    skb.consult(&ok).unwrap();
    let body: Vec<String> = (0..20000).map(|i| format!("X{} = {i}", i % 50)).collect();
    skb.consult(&format!("big :- {}.", body.join(", "))).err();
    let list: Vec<String> = (0..100000).map(|i| i.to_string()).collect();
    skb.consult(&format!("biglist([{}]).", list.join(",")))
        .unwrap();
    assert_eq!(
        answers(&mut skb, "biglist(L), length(L, N), N == 100000").len(),
        1
    );
}

#[test]
fn output_and_output_buffer() {
    let mut skb = Skb::new();
    let n = skb
        .query(
            "forall(member(X, [a, 'B']), (writeq(X), nl)), format(\"~w and ~a~n\", [f(Y), b])",
            Limits::default(),
        )
        .unwrap()
        .len();
    assert_eq!(n, 1);
    let out = skb.take_output();
    assert!(out.starts_with("a\n'B'\nf(_G"), "{out}");
    assert!(out.ends_with(") and b\n"), "{out}");
}

#[test]
fn logical_update_view_and_retract() {
    let mut skb = Skb::new();
    skb.consult(":- dynamic q/1. q(1). q(2).").unwrap();
    assert_eq!(
        answers(&mut skb, "q(X), assertz(q(3)), fail ; findall(X, q(X), L)"),
        vec!["q(_),assertz(q(3)),fail;findall(_,q(_),[1,2,3,3])"]
    );
    assert_eq!(
        answers(&mut skb, "retract(q(3)), fail ; findall(X, q(X), L)"),
        vec!["retract(q(3)),fail;findall(_,q(_),[1,2])"]
    );
}

/// Small fixed-seed PRNG (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const TOKENS: &[&str] = &[
    "a",
    "b",
    "X",
    "Y",
    "_",
    "1",
    "-1",
    "0'a",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    "|",
    ".",
    " ",
    "\n",
    ":-",
    "->",
    ";",
    "!",
    "\\+",
    "=",
    "is",
    "+",
    "-",
    "*",
    "//",
    "mod",
    "f(",
    "g(",
    "'q a'",
    "\"s\"",
    "%c\n",
    "/*",
    "*/",
    "member(",
    "append(",
    "findall(",
    "between(",
    "call(",
    "catch(",
    "throw(",
    "assertz(",
    "retract(",
    "length(",
    "msort(",
    "sort(",
    "nth0(",
    "atom_codes(",
    "functor(",
    "arg(",
    "=..",
    "copy_term(",
    "p(",
    "p",
    "fail",
    "true",
    "0x1F",
    "9223372036854775807",
    "<",
    ">=",
    "=:=",
    "@<",
    "==",
    "\\=",
    "format(",
    "'~w'",
    "op(",
    "700",
    "xfx",
    "sub_atom(",
    "atom_concat(",
];

fn random_text(r: &mut Rng, n: usize) -> String {
    (0..n)
        .map(|_| TOKENS[r.below(TOKENS.len())])
        .collect::<Vec<_>>()
        .join(if r.below(2) == 0 { "" } else { " " })
}

#[test]
fn fuzz_reader_and_solver_never_panic() {
    let mut r = Rng(0x00c0_ffee_1234_5678);
    let limits = Limits {
        max_steps: 20_000,
        max_cells: 100_000,
        max_depth: 5_000,
    };
    let base = "p(1). p(2). p(X) :- X = a. q([H|T], H, T). r(X) :- p(X), !. :- dynamic d/1.";
    let mut ok = 0;
    for i in 0..1500 {
        let mut skb = Skb::new();
        skb.consult(base).unwrap();
        // Random program text.
        let len = 1 + r.below(30);
        let text = random_text(&mut r, len);
        let _ = skb.consult(&text);
        // Random query text.
        let len = 1 + r.below(20);
        let q = random_text(&mut r, len);
        if let Ok(sols) = skb.solutions(&q, limits) {
            for s in sols.take(50).flatten() {
                ok += 1;
                // Whatever we print must read back.
                let t = s.text().to_string();
                assert!(
                    skb_reparse(&t),
                    "case {i}: cannot read back {t:?} (query {q:?})"
                );
            }
        }
    }
    assert!(ok > 0, "no successful random queries");
}

fn skb_reparse(t: &str) -> bool {
    let mut skb = Skb::new();
    skb.parse_term(t).is_ok()
}

#[test]
fn fuzz_well_formed_goals() {
    // Random goals built from well-formed pieces exercise builtins with odd argument types.
    let mut r = Rng(42);
    let args = [
        "X", "Y", "a", "[]", "[a,b]", "[1,2|T]", "f(X)", "1", "-3", "'A b'", "\"ab\"", "_",
        "[X|Y]", "0",
    ];
    let preds = [
        ("atom_codes", 2),
        ("atom_chars", 2),
        ("atom_length", 2),
        ("atom_concat", 3),
        ("sub_atom", 5),
        ("functor", 3),
        ("arg", 3),
        ("=..", 2),
        ("copy_term", 2),
        ("msort", 2),
        ("sort", 2),
        ("sort", 4),
        ("keysort", 2),
        ("length", 2),
        ("nth0", 3),
        ("nth1", 3),
        ("last", 2),
        ("sum_list", 2),
        ("max_list", 2),
        ("between", 3),
        ("succ", 2),
        ("plus", 3),
        ("is", 2),
        ("<", 2),
        ("compare", 3),
        ("findall", 3),
        ("forall", 2),
        ("assertz", 1),
        ("retract", 1),
        ("atom_number", 2),
        ("number_codes", 2),
        ("char_code", 2),
        ("atomic_list_concat", 3),
        ("term_to_atom", 2),
        ("upcase_atom", 2),
        ("reverse", 2),
        ("append", 3),
        ("member", 2),
        ("select", 3),
        ("msort", 2),
        ("format", 2),
        ("call", 2),
        ("catch", 3),
        ("numlist", 3),
        ("aggregate_all", 3),
    ];
    let limits = Limits {
        max_steps: 20_000,
        max_cells: 100_000,
        max_depth: 5_000,
    };
    let mut skb = Skb::new();
    for i in 0..3000 {
        let (p, n) = preds[r.below(preds.len())];
        let a: Vec<&str> = (0..n).map(|_| args[r.below(args.len())]).collect();
        let q = format!("'{p}'({})", a.join(", "));
        if i % 100 == 0 {
            skb = Skb::new();
        }
        if let Ok(sols) = skb.solutions(&q, limits) {
            for s in sols.take(20) {
                let _ = s;
            }
        }
    }
}

#[test]
fn skb_is_send_and_user_definitions_replace_library_ones() {
    fn send<T: Send>() {}
    send::<Skb>();
    send::<skb::Solution>();
    let mut skb = Skb::new();
    skb.consult("member(X, [X|_]) :- !.").unwrap();
    assert_eq!(
        answers(&mut skb, "member(X, [a, b])"),
        vec!["member(a,[a,b])"]
    );
}
