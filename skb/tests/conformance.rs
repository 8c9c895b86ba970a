//! Conformance suite: every program + query runs in the SKB and in SWI-Prolog (the oracle),
//! and every answer line must match, in order. SWI-Prolog prints
//! `forall(Goal, (writeq(Goal), nl))`; the SKB prints [`skb::Solution::text`]. Errors are
//! compared by their ISO error-term name only. Unbound variables are normalized (`_123`,
//! `_G123` become `_V1`, `_V2`, ... per line).
//!
//! SWI-Prolog must be installed (`apt-get install -y swi-prolog-nox`); without it the tests fail.

use skb::{Limits, Skb, SkbError};
use std::path::PathBuf;
use std::process::Command;

struct Case {
    program: &'static str,
    query: &'static str,
}

const fn c(program: &'static str, query: &'static str) -> Case {
    Case { program, query }
}

const CASES: &[Case] = &[
    // --- arithmetic
    c("", "X is 1 + 2 * 3 - 4"),
    c("", "X is 7 // 2, Y is -7 // 2, Z is 7 mod -2, W is -7 rem 2, V is -7 mod 2"),
    c("", "X is min(3, 4) + max(3, 4) + abs(-5)"),
    c("", "X is 1 << 10, Y is 1024 >> 3, Z is 5 /\\ 3, W is 5 \\/ 3, V is xor(5, 3), U is \\ 5"),
    c("", "X is -(3), Y is - 3, Z is 3 - -3"),
    c("", "X is 2 ** 10, Y is 2 ^ 10, Z is (-2) ^ 3"),
    c("", "X is 1 / 0"),
    c("", "X is 1 mod 0"),
    c("", "X is foo + 1"),
    c("", "X is Y + 1"),
    c("", "1 + 2 =:= 3, 2 * 3 =\\= 5, 1 < 2, 2 =< 2, 3 > 2, 3 >= 3"),
    c("", "X = 5, (X > 3 -> Y = big ; Y = small)"),
    c("", "X is 12 / 4, Y is -12 / 4"),
    c("", "X is gcd(12, 18), Y is sign(-3), Z is msb(1000)"),
    c("", "X is 10 div 3, Y is -10 div 3, Z is -10 // 3"),
    c("", "succ(X, 4), succ(3, Y), plus(2, Z, 5)"),
    c("", "X = 3, Y is X * X + 2 * X + 1, Y =:= (X + 1) ^ 2"),
    c("", "X is 1 + a"),
    c("", "X is max(2, 3) * min(-2, -3), Y is truncate(7), Z is abs(-9223372036854775807)"),
    // --- lists
    c("", "append(X, Y, [1,2,3])"),
    c("", "append([1,2], [3], L), reverse(L, R)"),
    c("", "length(L, N), N >= 2, !"),
    c("", "length([a,b,c], N)"),
    c("", "length(L, 2), L = [a|_]"),
    c("", "nth0(I, [a,b,c], E)"),
    c("", "nth1(2, [a,b,c], E), nth0(5, [a], F)"),
    c("", "last([1,2,3], X), sum_list([1,2,3], S), max_list([3,1,4], M), min_list([3,1,4], N)"),
    c("", "msort([b, 2, a, f(x), 1, Z, g(a, b), 'B', []], L)"),
    c("", "sort([c, a, b, a, c], L)"),
    c("", "sort(0, @>=, [1, 3, 2, 3], L), sort(0, @=<, [1, 3, 2, 3], M)"),
    c("", "sort(1, @<, [f(2, a), f(1, b), f(2, c)], L)"),
    c("", "sort(0, @>, [c-1, a-2, b-3, a-2], L)"),
    c(
        "cmp_len(O, A, B) :- atom_length(A, LA), atom_length(B, LB), compare(O, LA-A, LB-B).",
        "predsort(cmp_len, [abc, a, ab, b, a], L)",
    ),
    c("", "select(b, [a,b,c], R)"),
    c("", "select(X, [1,2,3], R)"),
    c("", "member(X, [1,2,3]), X >= 2"),
    c("", "memberchk(b, [a,b,c,b])"),
    c("", "numlist(1, 5, L), sumlist(L, S)"),
    c(
        "gt2(X) :- X > 2.",
        "include(gt2, [1,2,3,4], I), exclude(gt2, [1,2,3,4], E), partition(gt2, [4,1,3], P, Q)",
    ),
    c("", "maplist(succ, [1,2,3], L)"),
    c("add(X, A0, A) :- A is A0 + X.", "foldl(add, [1,2,3], 0, S)"),
    c("", "keysort([b-1, a-2, b-0, a-1], L)"),
    c("", "list_to_set([a, b, a, c, b], S)"),
    c("", "subtract([1,2,3,4], [2,4], R), intersection([1,2,3], [3,1], I), union([1,2], [2,3], U)"),
    c("", "delete([a, b, a, c], a, L)"),
    c("", "permutation([1,2,3], P)"),
    c("", "flatten([1, [2, [3, 4]], [], 5], F)"),
    c("", "pairs_keys_values(P, [a, b], [1, 2]), pairs_values(P, Vs)"),
    c("", "max_member(M, [3, 1, 4]), min_member(N, [b, a, c])"),
    c("", "length(L, -1)"),
    c("", "msort(a, L)"),
    // --- atoms and text
    c("", "atom_length(abc, N), atom_chars(X, [h, i]), atom_codes(hi, C)"),
    c("", "atom_concat(X, Y, abc)"),
    c("", "atom_concat(abc, def, X), atom_concat(X, ghi, Y)"),
    c("", "atomic_list_concat([a, b, 1], X), atomic_list_concat(L, ',', 'x,y,z')"),
    c("", "sub_atom(hello, B, 2, A, Sub)"),
    c("", "upcase_atom('hello World', U), term_to_atom(f('A', \"b\", 1-2), T)"),
    c("", "number_codes(N, \"42\"), atom_number('17', M), atom_length(123, L)"),
    c("", "atom_length(X, N)"),
    c("", "atom_length(f(x), N)"),
    c("", "atom_codes(X, Y)"),
    c("", "findall(E, catch(number_codes(X, \"3x\"), error(E, _), true), Es)"),
    c("", "char_code(C, 0'a), atom_chars(abc, L), X = \"\""),
    c("", "atom_to_term('foo(X, Y, X)', T, B)"),
    // --- cut, control
    c("t(1). t(2). t(3). a(X) :- t(X), X >= 2, !.", "a(X)"),
    c("t(1). t(2). b(X) :- ( t(X), ! ; X = 9 ).", "b(X)"),
    c("t(1). t(2). t(3). c(X) :- t(X), ( X =:= 2 -> ! ; true ).", "c(X)"),
    c("d(X) :- call((member(X, [1,2,3]), !)). d(9).", "d(X)"),
    c("e(X) :- \\+ \\+ (X = 1), var(X).", "e(X)"),
    c("f(X) :- member(X, [1,2,3]), X > 1, !, true. f(0).", "f(X)"),
    c("g(X) :- ( member(X, [1,2,3]) *-> true ; X = none ). g2(X) :- ( fail *-> true ; X = none ).", "g(X) ; g2(X)"),
    c("h(X) :- ( X = 1 ; X = 2 ), !. h(3).", "h(X)"),
    c("k(X, Y) :- member(X, [1,2]), ( member(Y, [a,b]), ! ; Y = c ).", "k(X, Y)"),
    c("n(X) :- G = !, member(X, [1,2]), G. n(3).", "n(X)"),
    c("", "findall(X-Y, (member(X, [1,2]), member(Y, [a,b])), L)"),
    c("", "findall(X, (member(X, [1,2,3]), !), L)"),
    c("t(1). t(2). t(3).", "forall(t(X), X > 0)"),
    c("p :- fail. p.", "p"),
    c("", "once(member(X, [a,b]))"),
    c("", "ignore(fail), X = 1"),
    c("", "(true ; X = 2), (X == 2 -> true ; X = 1)"),
    c("", "G = (X = 1 ; X = 2), call(G)"),
    c("", "call(1)"),
    c("", "call(foo, a)"),
    c("", "foo(1, 2)"),
    c("", "X = 1, (X == 1 -> Y = a ; X == 2 -> Y = b ; Y = c)"),
    // --- exceptions
    c("q(1). q(2).", "catch((q(X), X > 1, throw(found(X))), found(Y), true)"),
    c("", "catch(throw(my), Other, true)"),
    c("", "findall(E, catch(atom_length(X, L), error(E, _), true), Es)"),
    c("", "findall(PI, catch(foo(1), error(existence_error(procedure, PI), _), true), L)"),
    c("", "findall(E, catch(X is 1 / 0, error(E, _), true), L)"),
    c("", "throw(ball)"),
    c("", "catch(member(X, [1,2]), _, true)"),
    // --- between
    c("", "between(1, 3, X)"),
    c("", "between(1, inf, X), X * X > 50, !"),
    c("", "between(3, 1, X)"),
    c("", "X = 3, between(1, 5, X)"),
    c("", "between(1, 100000, X), X >= 100000"),
    c("", "between(1, a, X)"),
    // --- negation
    c("p(1). p(2).", "\\+ p(3), \\+ \\+ p(1)"),
    c("p(1). p(2).", "X = 3, \\+ p(X)"),
    c("", "not(member(x, [a]))"),
    c("", "a \\= b, \\+ a \\= a, f(X) \\= g(X)"),
    c("", "X \\= 1"),
    // --- assert / retract
    c(":- dynamic(cnt/1). cnt(0).", "retract(cnt(N)), N1 is N + 1, assertz(cnt(N1)), cnt(X)"),
    c(":- dynamic(f/1).", "assertz(f(1)), assertz(f(2)), asserta(f(0)), findall(X, f(X), L)"),
    c(":- dynamic(f/1). f(1). f(2). f(3).", "retract(f(2)), findall(X, f(X), L)"),
    c(":- dynamic(f/1). f(1). f(2). f(3).", "retract(f(X))"),
    c(":- dynamic(f/1). f(1). f(2).", "retractall(f(_)), \\+ f(_)"),
    c(":- dynamic(r/2).", "assertz((r(X, Y) :- Y is X * 2)), r(3, Z)"),
    c(":- dynamic(g/1). g(1). g(2).", "g(X), assertz(g(3))"),
    c("", "assertz(foo(1)), foo(X)"),
    c(":- dynamic(h/1).", "h(X)"),
    c("k(1).", "assertz(k(2))"),
    c("p(X) :- q(X), r(X). p(1).", "clause(p(A), B)"),
    c(":- dynamic(s/1).", "assertz(s(1)), retract(s(1)), assertz(s(2)), findall(X, s(X), L)"),
    // --- terms, comparison, types
    c("", "X =.. [foo, 1, 2], functor(X, N, A), arg(2, X, Arg)"),
    c("", "functor(T, point, 3)"),
    c("", "copy_term(f(X, Y, X), C)"),
    c("", "compare(O, 1, a), compare(P, f(a), g), compare(Q, b, a), compare(R, f(a, b), g(a))"),
    c("", "X = f(Y), Y = 2, X == f(2), X \\== f(3), a @< b, 1 @< a, f(a) @> a"),
    c("", "msort([f(b), g(a), f(a, b), 3, -1, abc, 'B', \"x\"], L)"),
    c(
        "",
        "atom(a), \\+ atom([]), atomic([]), \\+ atom(1), integer(1), atomic(a), compound(f(x)), var(_), nonvar(a), is_list([a]), \\+ is_list([a|_]), callable(foo)",
    ),
    c("", "arg(N, f(a, b), A)"),
    c("", "arg(x, f(a), A)"),
    c("", "X = f(a, B), B = b, X = f(A, b)"),
    c("", "term_variables(f(X, g(Y, X), Z), Vs)"),
    // --- operators and printing
    c("", "X = (a :- b, c ; d -> e)"),
    c("", "X = f(-1), Y = - 1, Z = -(-(1)), W = 1 - -1, V = a- (-a)"),
    c("", "X = ['hello world', 'A', [], '[]', {}, 'don''t', 'a\\nb', '\\\\', '']"),
    c("", "X = (a , b), Y = f((a , b)), Z = f((a :- b)), W = [(a :- b)]"),
    c("", "X = {a, b}, Y = '{}'(x), Z = [a|b], W = '[|]'(1, [])"),
    c(":- op(700, xfx, ===>).", "X = (a ===> b), X =.. L"),
    c(":- op(200, xfy, ^^). :- op(9, fy, qq).", "X = (a ^^ b ^^ c), Y = qq qq a"),
    c("", "X = f(;, '|', '[]', [], {}, ',', !)"),
    c("", "X = (- (1)), Y = (- a), Z = (\\+ a), W = - (- (a))"),
    c("", "X = 0'a, Y = 0x1F, Z = 0b101, W = 0o17, V = \"ab\""),
    c("", "X = (a:b:c), Y = (a=b), Z = (1 + 2) * 3 - 4"),
    c("", "X = - (- a), Y = - (1 + 2), Z = 2 - (3 - 4), W = (2 - 3) - 4"),
    c("", "X = (p :- \\+ q), Y = (a = (b = c)), Z = ((a = b) = c)"),
    c("", "X = f(a- (:-)), Y = - (-), Z = (\\+ (-)), W = [-, +, *]"),
    c("", "X = (- 2) ^ 2, Y = - (2 ^ 2), Z = (-2) ^ 2, W = 2 ** -1"),
    c("", "X = 'hello'(world), Y = 'Hello'(world), Z = 'a b'(c), W = [](x)"),
    c("", "X = (a , b , c), Y = (a ; b ; c), Z = (a -> b ; c), W = (a | b)"),
    c("", "X = dynamic(foo/1), Y = (:- dynamic foo/1), Z = f(a rem b, a mod b, a xor b)"),
    c("", "X = '$VAR'(1), Y = '$VAR'(27), Z = f('$VAR'(0), 'x')"),
    c("", "X = 'ÿ', Y = 'Éa', Z = aé, W = 'hello\\tworld'"),
    c("", "X = [a, 'B'|'C'], Y = [[1], [2, [3]]], Z = f([])"),
    c("", "X = (1 = 2), Y = (a @< b), Z = (a =.. b), W = (- a = b)"),
    // --- output builtins
    c("", "format(\"~w-~q-~a~n\", [f(x), 'A', b])"),
    c("", "format(\"~d ~D ~2d~n\", [42, 1234567, 314])"),
    c("", "forall(member(X, [1,2]), (write(X), nl))"),
    c("", "writeq(['A'-1, \"s\", - 1]), nl, print(f(x)), nl, write_canonical([a, 'B'|c]), nl"),
    // --- aggregation
    c(
        "",
        "findall(X, member(X, []), L), aggregate_all(count, member(_, [a, b]), C), aggregate_all(sum(X), member(X, [1, 2, 3]), S)",
    ),
    c(
        "",
        "aggregate_all(max(X), member(X, [1, 3, 2]), M), aggregate_all(bag(X), member(X, [b, a]), B), aggregate_all(set(X), member(X, [b, a, b]), St)",
    ),
    c("", "aggregate_all(max(X), member(X, []), M)"),
    c("", "aggregate_all(max(X, Y), member(X-Y, [1-a, 3-b, 2-c]), M)"),
    // --- more control and database
    c("t(1). t(2). t(3).", "\\+ (t(X), X > 2, !, fail)"),
    c("", "catch(catch(throw(a), b, true), X, true)"),
    c("", "catch((member(X, [1,2,3]), X >= 2, throw(got(X))), got(Y), true)"),
    c(":- dynamic(r/1). r(X) :- X > 1, X < 5.", "retract((r(A) :- B))"),
    c("a(1). a(2). b(2). b(3).", "a(X), \\+ \\+ b(X)"),
    c("", "findall(X-L, (member(X, [2,1]), findall(Y, between(1, X, Y), L)), R)"),
    c("", "X = f(_, _), copy_term(X, Y), X \\== Y"),
    c("p(1, a). p(2, b). p(3, a).", "aggregate_all(count, p(_, a), N), aggregate_all(bag(K), p(K, a), Ks)"),
    c("", "length([a|T], 3), T = [b|_]"),
    c("", "atom_chars(X, ['1', '2']), atom_length(X, L), atom(X)"),
    c("", "sort(2, @>=, [p(a, 1), p(b, 3), p(c, 2), p(d, 3)], L)"),
    c("", "last([a], X), nth0(0, [z], Y), nth1(I, [a, b, a], a)"),
    // --- deep recursion
    c(
        "len([], 0). len([_|T], N) :- len(T, N0), N is N0 + 1.",
        "findall(N, (numlist(1, 20000, L), len(L, N)), R)",
    ),
    c(
        "count(N, N) :- !. count(I, N) :- I1 is I + 1, count(I1, N).",
        "findall(x, count(0, 100000), R)",
    ),
    c(
        "nrev([], []). nrev([H|T], R) :- nrev(T, RT), append(RT, [H], R).",
        "numlist(1, 30, L), nrev(L, R)",
    ),
    c(
        "fib(0, 0). fib(1, 1). fib(N, F) :- N > 1, A is N - 1, B is N - 2, fib(A, FA), fib(B, FB), F is FA + FB.",
        "fib(15, F)",
    ),
    c(
        "queens(N, Qs) :- numlist(1, N, Ns), permutation(Ns, Qs), safe(Qs). safe([]). safe([Q|Qs]) :- no_attack(Q, Qs, 1), safe(Qs). no_attack(_, [], _). no_attack(Q, [Q1|Qs], D) :- Q =\\= Q1 + D, Q =\\= Q1 - D, D1 is D + 1, no_attack(Q, Qs, D1).",
        "queens(6, Qs)",
    ),
];

fn swipl() -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("swipl"))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => p,
        None => panic!(
            "SWI-Prolog (`swipl`) is not on PATH; the SKB conformance suite needs it as the \
             oracle. Install it with: apt-get install -y swi-prolog-nox"
        ),
    }
}

/// Replace variable names `_123` / `_G123` by `_V1`, `_V2`, ... in order of appearance.
fn normalize(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let prev_ok = i == 0 || !(chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '_' && prev_ok {
            let mut j = i + 1;
            if j < chars.len() && chars[j] == 'G' {
                j += 1;
            }
            let start = j;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            let end_ok = j == chars.len() || !(chars[j].is_alphanumeric() || chars[j] == '_');
            if j > start && end_ok {
                let name: String = chars[i..j].iter().collect();
                let k = match names.iter().position(|n| *n == name) {
                    Some(k) => k,
                    None => {
                        names.push(name);
                        names.len() - 1
                    }
                };
                out.push_str(&format!("_V{}", k + 1));
                i = j;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn run_ours(case: &Case) -> Vec<String> {
    let mut skb = Skb::new();
    if let Err(e) = skb.consult(case.program) {
        return vec![format!("CONSULT ERROR {e}")];
    }
    let mut lines = Vec::new();
    let mut text = String::new();
    match skb.solutions(case.query, Limits::default()) {
        Err(e) => text.push_str(&error_line(&e)),
        Ok(mut sols) => {
            while let Some(r) = sols.next() {
                text.push_str(&sols.take_output());
                match r {
                    Ok(s) => {
                        text.push_str(s.text());
                        text.push('\n');
                    }
                    Err(e) => text.push_str(&error_line(&e)),
                }
            }
            text.push_str(&sols.take_output());
        }
    }
    for l in text.lines() {
        lines.push(normalize(l));
    }
    lines
}

fn error_line(e: &SkbError) -> String {
    match e {
        SkbError::Uncaught(b) => format!("THROW {b}\n"),
        e => format!("ERROR {}\n", e.iso_kind()),
    }
}

fn run_swi(swipl: &PathBuf, dir: &std::path::Path, i: usize, case: &Case) -> Vec<String> {
    let file = dir.join(format!("case{i}.pl"));
    let text = format!(
        ":- set_prolog_flag(double_quotes, codes).\n{}\n\
         conf_run__ :- ConfGoal__ = ({}), catch(forall(ConfGoal__, (writeq(ConfGoal__), nl)), ConfErr__, conf_err__(ConfErr__)).\n\
         conf_err__(error(F, _)) :- !, ( compound(F) -> functor(F, N, _) ; N = F ), write('ERROR '), write(N), nl.\n\
         conf_err__(E) :- write('THROW '), writeq(E), nl.\n",
        case.program, case.query
    );
    std::fs::write(&file, text).expect("write case file");
    let out = Command::new("timeout")
        .arg("20")
        .arg(swipl)
        .args(["-q", "-g", "conf_run__", "-t", "halt"])
        .arg(&file)
        .output()
        .expect("run swipl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(normalize)
        .collect()
}

#[test]
fn conformance_against_swi_prolog() {
    let swipl = swipl();
    let dir = std::env::temp_dir().join(format!("skb-conformance-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut failures = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let ours = run_ours(case);
        let theirs = run_swi(&swipl, &dir, i, case);
        if ours != theirs {
            failures.push(format!(
                "case {i}: {} ?- {}\n  skb: {:?}\n  swi: {:?}",
                case.program, case.query, ours, theirs
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    println!(
        "conformance: {} of {} queries match SWI-Prolog",
        CASES.len() - failures.len(),
        CASES.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} queries differ from SWI-Prolog:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn normalizer_renames_variables() {
    assert_eq!(
        normalize("f(_123,_G7,_123,a_1,'_x')"),
        "f(_V1,_V2,_V1,a_1,'_x')"
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

const ATOMS: &[&str] = &[
    "a",
    "b",
    "B",
    "hello world",
    "[]",
    "{}",
    "-",
    "+",
    "*",
    ",",
    "|",
    ";",
    "!",
    ":-",
    "\\+",
    "=",
    "is",
    "mod",
    "dynamic",
    "don't",
    "\n",
    "-->",
    "ab1",
    "_x",
    "é",
    "",
    "/*",
    ".",
    "\\",
    "^",
    "->",
    ":",
    "@",
    "$VAR",
];

const FUNCTORS: &[(&str, usize)] = &[
    ("-", 1),
    ("-", 2),
    ("+", 2),
    ("*", 2),
    ("^", 2),
    ("**", 2),
    (":-", 2),
    (":-", 1),
    (",", 2),
    (";", 2),
    ("->", 2),
    ("=", 2),
    ("\\+", 1),
    ("is", 2),
    (":", 2),
    ("\\", 1),
    ("{}", 1),
    ("[|]", 2),
    ("[|]", 2),
    ("f", 1),
    ("g", 2),
    ("h", 3),
    ("mod", 2),
    ("dynamic", 1),
    ("$VAR", 1),
    ("a b", 1),
    ("=..", 2),
    ("|", 2),
    ("?-", 1),
    ("+", 1),
    ("@", 1),
    ("<", 2),
];

fn quoted(s: &str) -> String {
    let mut o = String::from("'");
    for ch in s.chars() {
        match ch {
            '\'' => o.push_str("\\'"),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c => o.push(c),
        }
    }
    o.push('\'');
    o
}

/// A random term in canonical syntax (every atom quoted, no operators).
fn random_term(r: &mut Rng, depth: usize) -> String {
    let k = if depth == 0 { r.below(2) } else { r.below(5) };
    match k {
        0 => {
            let a = ATOMS[r.below(ATOMS.len())];
            if a == "[]" && r.below(2) == 0 {
                "[]".to_string()
            } else {
                quoted(a)
            }
        }
        1 => {
            // (SWI-Prolog writes -2^63, a big integer there, without operator spacing.)
            let v = [
                0i64,
                1,
                2,
                -1,
                -7,
                42,
                9_223_372_036_854_775_807,
                -9_223_372_036_854_775_807,
            ];
            v[r.below(v.len())].to_string()
        }
        _ => {
            let (name, arity) = FUNCTORS[r.below(FUNCTORS.len())];
            let args: Vec<String> = (0..arity).map(|_| random_term(r, depth - 1)).collect();
            if name == "$VAR" && r.below(2) == 0 {
                return format!("'$VAR'({})", r.below(60));
            }
            format!("{}({})", quoted(name), args.join(","))
        }
    }
}

#[test]
fn writeq_of_random_terms_matches_swi_prolog() {
    let swipl = swipl();
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let terms: Vec<String> = (0..400).map(|_| random_term(&mut rng, 4)).collect();
    let dir = std::env::temp_dir().join(format!("skb-writeq-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("terms.pl");
    let mut text = String::new();
    for t in &terms {
        text.push_str(&format!("t({t}).\n"));
    }
    std::fs::write(&file, &text).expect("write terms");
    let out = Command::new("timeout")
        .arg("60")
        .arg(&swipl)
        .args([
            "-q",
            "-g",
            "forall(t(X), (writeq(X), nl, writeq(t(X)), nl))",
            "-t",
            "halt",
        ])
        .arg(&file)
        .output()
        .expect("run swipl");
    let _ = std::fs::remove_dir_all(&dir);
    let swi: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(
        swi.len(),
        2 * terms.len(),
        "swipl output: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut skb = Skb::new();
    skb.consult(&text).expect("consult terms");
    let sols = skb.query("t(X)", Limits::default()).expect("query");
    let mut bad = Vec::new();
    for (i, t) in terms.iter().enumerate() {
        // Through the public Term type.
        let parsed = skb.parse_term(t).expect("parse");
        let ours = skb.render(&parsed);
        if ours != swi[2 * i] {
            bad.push(format!("{t}\n  skb: {ours}\n  swi: {}", swi[2 * i]));
        }
        // Through the engine's own heap (as an argument).
        if sols[i].text() != swi[2 * i + 1] {
            bad.push(format!(
                "t({t})\n  skb: {}\n  swi: {}",
                sols[i].text(),
                swi[2 * i + 1]
            ));
        }
        // What we write must read back as the same term ('$VAR' terms print as variables).
        let back = skb.parse_term(&ours).expect("read back");
        if back != parsed && !t.contains("'$VAR'") {
            bad.push(format!("{t}\n  round trip of {ours} gave {back:?}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{} differences:\n{}",
        bad.len(),
        bad.join("\n")
    );
}
