% Library predicates of the SKB engine, written in Prolog.
% Helpers start with '$' so they do not clash with user predicates.

once(G) :- call(G), !.
ignore(G) :- (call(G) -> true ; true).
forall(C, A) :- \+ (call(C), \+ call(A)).
repeat.
repeat :- repeat.

append([], L, L).
append([H|T], L, [H|R]) :- append(T, L, R).

append(Ls, L) :- '$append_all'(Ls, L).
'$append_all'([], []).
'$append_all'([L|Ls], As) :- append(L, Ws, As), '$append_all'(Ls, Ws).

member(X, [Y|Ys]) :- '$member'(Ys, X, Y).
'$member'(_, X, X).
'$member'([Y|Ys], X, _) :- '$member'(Ys, X, Y).

memberchk(X, L) :- member(X, L), !.

length(L, N) :-
    '$skip_list'(L, Len, Tail),
    (   Tail == []
    ->  N = Len
    ;   var(Tail)
    ->  Tail \== N,
        '$length_partial'(Tail, N, Len)
    ;   throw(error(type_error(list, L), context(length/2, _)))
    ).
'$length_partial'(Tail, N, Len) :-
    integer(N), !,
    (   N >= Len
    ->  M is N - Len, '$make_list'(M, Tail)
    ;   N >= 0 -> fail
    ;   throw(error(domain_error(not_less_than_zero, N), context(length/2, _)))
    ).
'$length_partial'(Tail, N, Len) :-
    var(N), !,
    '$length_gen'(Tail, Len, N).
'$length_partial'(_, N, _) :-
    throw(error(type_error(integer, N), context(length/2, _))).
'$length_gen'([], N, N).
'$length_gen'([_|T], N0, N) :- N1 is N0 + 1, '$length_gen'(T, N1, N).

reverse(L, R) :- '$reverse'(L, [], R).
'$reverse'([], A, A).
'$reverse'([H|T], A, R) :- '$reverse'(T, [H|A], R).

nth0(I, L, E) :- '$nth'(I, L, E, 0).
nth1(I, L, E) :- '$nth'(I, L, E, 1).
'$nth'(I, L, E, B) :-
    integer(I), !,
    Skip is I - B,
    Skip >= 0,
    '$nth_fixed'(Skip, L, E).
'$nth'(I, L, E, B) :-
    var(I), !,
    '$nth_gen'(L, E, B, I).
'$nth'(I, _, _, _) :-
    throw(error(type_error(integer, I), context(nth0/3, _))).
'$nth_fixed'(0, [E|_], E) :- !.
'$nth_fixed'(N, [_|T], E) :- N1 is N - 1, '$nth_fixed'(N1, T, E).
'$nth_gen'([H|_], H, B, B).
'$nth_gen'([_|T], E, B0, I) :- B1 is B0 + 1, '$nth_gen'(T, E, B1, I).

last([X|Xs], L) :- '$last'(Xs, X, L).
'$last'([], L, L).
'$last'([X|Xs], _, L) :- '$last'(Xs, X, L).

sum_list(Xs, S) :- '$sum_list'(Xs, 0, S).
'$sum_list'([], S, S).
'$sum_list'([X|Xs], S0, S) :- S1 is S0 + X, '$sum_list'(Xs, S1, S).
sumlist(Xs, S) :- sum_list(Xs, S).

max_list([X|Xs], M) :- '$max_list'(Xs, X, M).
'$max_list'([], M, M).
'$max_list'([X|Xs], M0, M) :- M1 is max(M0, X), '$max_list'(Xs, M1, M).
min_list([X|Xs], M) :- '$min_list'(Xs, X, M).
'$min_list'([], M, M).
'$min_list'([X|Xs], M0, M) :- M1 is min(M0, X), '$min_list'(Xs, M1, M).

max_member(M, L) :- '$max_member'(L, M).
'$max_member'([H|T], M) :- '$max_member_'(T, H, M).
'$max_member_'([], M, M).
'$max_member_'([H|T], M0, M) :- ( H @> M0 -> '$max_member_'(T, H, M) ; '$max_member_'(T, M0, M) ).
min_member(M, L) :- '$min_member'(L, M).
'$min_member'([H|T], M) :- '$min_member_'(T, H, M).
'$min_member_'([], M, M).
'$min_member_'([H|T], M0, M) :- ( H @< M0 -> '$min_member_'(T, H, M) ; '$min_member_'(T, M0, M) ).

numlist(L, H, R) :- L =< H, '$numlist'(L, H, R).
'$numlist'(H, H, [H]) :- !.
'$numlist'(L, H, [L|T]) :- L1 is L + 1, '$numlist'(L1, H, T).

select(X, [X|T], T).
select(X, [H|T], [H|R]) :- select(X, T, R).
selectchk(X, L, R) :- select(X, L, R), !.
select(X, Xs, Y, Ys) :- '$select4'(Xs, X, Y, Ys).
'$select4'([X|T], X, Y, [Y|T]).
'$select4'([H|T], X, Y, [H|T2]) :- '$select4'(T, X, Y, T2).

exclude(_, [], []).
exclude(P, [H|T], R) :- ( call(P, H) -> R = R1 ; R = [H|R1] ), exclude(P, T, R1).
include(_, [], []).
include(P, [H|T], R) :- ( call(P, H) -> R = [H|R1] ; R = R1 ), include(P, T, R1).
partition(_, [], [], []).
partition(P, [H|T], I, E) :-
    (   call(P, H) -> I = [H|I1], E = E1 ; I = I1, E = [H|E1] ),
    partition(P, T, I1, E1).

maplist(_, []).
maplist(P, [A|As]) :- call(P, A), maplist(P, As).
maplist(_, [], []).
maplist(P, [A|As], [B|Bs]) :- call(P, A, B), maplist(P, As, Bs).
maplist(_, [], [], []).
maplist(P, [A|As], [B|Bs], [C|Cs]) :- call(P, A, B, C), maplist(P, As, Bs, Cs).
maplist(_, [], [], [], []).
maplist(P, [A|As], [B|Bs], [C|Cs], [D|Ds]) :- call(P, A, B, C, D), maplist(P, As, Bs, Cs, Ds).

foldl(G, L, V0, V) :- '$foldl'(L, G, V0, V).
'$foldl'([], _, V, V).
'$foldl'([X|Xs], G, V0, V) :- call(G, X, V0, V1), '$foldl'(Xs, G, V1, V).
foldl(G, L1, L2, V0, V) :- '$foldl'(L1, L2, G, V0, V).
'$foldl'([], [], _, V, V).
'$foldl'([X|Xs], [Y|Ys], G, V0, V) :- call(G, X, Y, V0, V1), '$foldl'(Xs, Ys, G, V1, V).
foldl(G, L1, L2, L3, V0, V) :- '$foldl'(L1, L2, L3, G, V0, V).
'$foldl'([], [], [], _, V, V).
'$foldl'([X|Xs], [Y|Ys], [Z|Zs], G, V0, V) :-
    call(G, X, Y, Z, V0, V1), '$foldl'(Xs, Ys, Zs, G, V1, V).

delete([], _, []).
delete([H|T], X, R) :- ( H \= X -> R = [H|R1] ; R = R1 ), delete(T, X, R1).
subtract([], _, []).
subtract([H|T], L, R) :- ( memberchk(H, L) -> R = R1 ; R = [H|R1] ), subtract(T, L, R1).
intersection([], _, []).
intersection([H|T], L, R) :- ( memberchk(H, L) -> R = [H|R1] ; R = R1 ), intersection(T, L, R1).
union([], L, L).
union([H|T], L, R) :- ( memberchk(H, L) -> R = R1 ; R = [H|R1] ), union(T, L, R1).
list_to_set(L, S) :- '$lts'(L, [], S).
'$lts'([], _, []).
'$lts'([H|T], Seen, R) :-
    (   '$memberchk_eq'(H, Seen) -> R = R1 ; R = [H|R1] ),
    '$lts'(T, [H|Seen], R1).
'$memberchk_eq'(X, [Y|Ys]) :- ( X == Y -> true ; '$memberchk_eq'(X, Ys) ).

permutation([], []).
permutation(L, [H|T]) :- select(H, L, R), permutation(R, T).

flatten(List, Flat) :- '$flatten'(List, [], Flat0), !, Flat = Flat0.
'$flatten'(Var, Tl, [Var|Tl]) :- var(Var), !.
'$flatten'([], Tl, Tl) :- !.
'$flatten'([Hd|Tl], Tail, List) :- !,
    '$flatten'(Hd, FlatHeadTail, List),
    '$flatten'(Tl, Tail, FlatHeadTail).
'$flatten'(NonList, Tl, [NonList|Tl]).

pairs_keys_values([], [], []).
pairs_keys_values([K-V|T], [K|Ks], [V|Vs]) :- pairs_keys_values(T, Ks, Vs).
pairs_keys([], []).
pairs_keys([K-_|T], [K|Ks]) :- pairs_keys(T, Ks).
pairs_values([], []).
pairs_values([_-V|T], [V|Vs]) :- pairs_values(T, Vs).

predsort(P, L, Sorted) :-
    length(L, N),
    (   N < 2
    ->  Sorted = L
    ;   '$predsort'(P, N, L, _, Sorted1), Sorted = Sorted1
    ).
'$predsort'(P, 2, [X1,X2|L], L, R) :- !,
    call(P, Delta, X1, X2),
    '$sort2'(Delta, X1, X2, R).
'$predsort'(_, 1, [X|L], L, [X]) :- !.
'$predsort'(_, 0, L, L, []) :- !.
'$predsort'(P, N, L1, L3, R) :-
    N1 is N // 2, plus(N1, N2, N),
    '$predsort'(P, N1, L1, L2, R1),
    '$predsort'(P, N2, L2, L3, R2),
    '$predmerge'(P, R1, R2, R).
'$sort2'(<, X1, X2, [X1,X2]).
'$sort2'(=, X1, _, [X1]).
'$sort2'(>, X1, X2, [X2,X1]).
'$predmerge'(_, [], R, R) :- !.
'$predmerge'(_, R, [], R) :- !.
'$predmerge'(P, [H1|T1], [H2|T2], Result) :-
    call(P, Delta, H1, H2), !,
    '$predmerge_'(Delta, P, H1, H2, T1, T2, Result).
'$predmerge_'(<, P, H1, H2, T1, T2, [H1|R]) :- '$predmerge'(P, T1, [H2|T2], R).
'$predmerge_'(=, P, H1, _, T1, T2, [H1|R]) :- '$predmerge'(P, T1, T2, R).
'$predmerge_'(>, P, H1, H2, T1, T2, [H2|R]) :- '$predmerge'(P, [H1|T1], T2, R).

aggregate_all(count, G, C) :- !, findall(x, G, L), length(L, C).
aggregate_all(count(T), G, C) :- !, findall(T, G, L), length(L, C).
aggregate_all(sum(E), G, S) :- !, findall(E, G, L), '$sum_exprs'(L, 0, S).
aggregate_all(max(E), G, M) :- !, findall(E, G, L), L = [_|_], '$agg_max'(L, M).
aggregate_all(min(E), G, M) :- !, findall(E, G, L), L = [_|_], '$agg_min'(L, M).
aggregate_all(max(E, W), G, max(M, MW)) :- !,
    findall(E-W, G, L), L = [P|Ps], '$agg_maxw'(Ps, P, M-MW).
aggregate_all(min(E, W), G, min(M, MW)) :- !,
    findall(E-W, G, L), L = [P|Ps], '$agg_minw'(Ps, P, M-MW).
aggregate_all(bag(E), G, L) :- !, findall(E, G, L).
aggregate_all(set(E), G, S) :- !, findall(E, G, L), sort(L, S).
aggregate_all(Spec, _, _) :-
    throw(error(domain_error(aggregate_spec, Spec), context(aggregate_all/3, _))).
'$sum_exprs'([], S, S).
'$sum_exprs'([E|Es], S0, S) :- S1 is S0 + E, '$sum_exprs'(Es, S1, S).
'$agg_max'([X|Xs], M) :- X0 is X, '$max_list'(Xs, X0, M).
'$agg_min'([X|Xs], M) :- X0 is X, '$min_list'(Xs, X0, M).
'$agg_maxw'([], P, P).
'$agg_maxw'([E-W|T], E0-W0, R) :- ( E > E0 -> '$agg_maxw'(T, E-W, R) ; '$agg_maxw'(T, E0-W0, R) ).
'$agg_minw'([], P, P).
'$agg_minw'([E-W|T], E0-W0, R) :- ( E < E0 -> '$agg_minw'(T, E-W, R) ; '$agg_minw'(T, E0-W0, R) ).
