% SKB system rules: placement (memory, dispatchers, drivers).

% alloc_node(+Core, -Node): the NUMA node to allocate memory from for Core: the nearest node
% (by distance/3) with free memory; ties go to the node with more free memory, then to the
% lower node id. Fails if no node has free memory.
alloc_node(Core, Node) :- alloc_node(Core, 1, Node).

% alloc_node(+Core, +Bytes, -Node): as alloc_node/2, for a node with at least Bytes free.
alloc_node(Core, Bytes, Node) :-
    core_node(Core, Home),
    findall(D-NegFree-N,
            ( node_free(N, Free), Free >= Bytes, Free > 0,
              distance(Home, N, D), NegFree is -Free ),
            Candidates),
    msort(Candidates, [_-_-Node|_]).

% place_dispatchers(+N, -Cores): N cores for the dispatchers of a new domain, spread.
place_dispatchers(N, Cores) :- place_dispatchers(N, spread, Cores).

% place_dispatchers(+N, +Policy, -Cores)
%   spread: round-robin over NUMA nodes, visiting the nodes so that consecutive picks are on
%           different packages where possible (package 0 node 0, package 1 node 0, ...,
%           package 0 node 1, ...), lowest core ids first within a node.
%   pack:   fill one package (then node) before the next, lowest ids first.
% Fails if the machine has fewer than N cores.
place_dispatchers(N, Policy, Cores) :-
    integer(N), N >= 0,
    placement_order(Policy, All),
    length(Cores, N),
    append(Cores, _, All), !.

placement_order(spread, All) :-
    nodes(Nodes),
    findall(k(Rank, Pkg, Node),
            ( member(Node, Nodes), cores_on_node(Node, [_|_]),
              node_package(Node, Pkg), node_rank(Node, Pkg, Rank) ),
            Keys0),
    msort(Keys0, Keys),
    findall(Cs, ( member(k(_, _, Node), Keys), cores_on_node(Node, Cs) ), Groups),
    interleave(Groups, All).
placement_order(pack, All) :-
    findall(P-Nd-C, core(C, _, P, Nd), Keyed0),
    msort(Keyed0, Keyed),
    findall(C, member(_-_-C, Keyed), All).

% node_package(+Node, -Package): the (lowest) package of the cores on a node.
node_package(Node, Pkg) :-
    findall(P, core(_, _, P, Node), Ps), msort(Ps, [Pkg|_]).

% node_rank(+Node, +Package, -Rank): position of Node among the nodes of its package.
node_rank(Node, Pkg, Rank) :-
    findall(N, ( core(_, _, Pkg, N) ), Ns0), sort(Ns0, Ns),
    nth0(Rank, Ns, Node), !.

% interleave(+Lists, -Merged): round-robin merge: first elements of every list, then the
% second elements, and so on.
interleave(Lists, Merged) :-
    heads_tails(Lists, Heads, Tails),
    (   Heads == []
    ->  Merged = []
    ;   append(Heads, Rest, Merged),
        interleave(Tails, Rest)
    ).

heads_tails([], [], []).
heads_tails([[]|Ls], Hs, Ts) :- !, heads_tails(Ls, Hs, Ts).
heads_tails([[H|T]|Ls], [H|Hs], [T|Ts]) :- heads_tails(Ls, Hs, Ts).

% nearest_core(+Core, +Candidates, -Nearest): the candidate closest to Core: by measured
% URPC latency if known for every candidate, else by NUMA distance, then by id.
nearest_core(Core, Candidates, Nearest) :-
    (   forall(member(C, Candidates), ( C == Core ; latency(Core, C, _) ))
    ->  findall(L-C, ( member(C, Candidates), ( C == Core -> L = 0 ; latency(Core, C, L) ) ), Ks)
    ;   findall(D-C, ( member(C, Candidates), core_distance(Core, C, D) ), Ks)
    ),
    msort(Ks, [_-Nearest|_]).

% driver_core(+pci(Bus, Dev, Fn), -Core): the core to run the driver of a PCI function on:
% the lowest core on the device's node, or core placement by spread order if the node is
% unknown or has no cores.
driver_core(pci(Bus, Dev, Fn), Core) :-
    pci_device(Bus, Dev, Fn, _, _, _, Node),
    (   cores_on_node(Node, [C|_])
    ->  Core = C
    ;   place_dispatchers(1, [Core])
    ), !.

% driver_core(+legacy(Device), -Core): the core to run the driver of a legacy device
% (UART, PS/2 controller, PCI configuration ports) on. They sit behind the chipset of the
% boot core's package, whose I/O APIC delivers their interrupts: the second core of the
% boot core's node (keeping the boot core, which runs the SKB and routes interrupts, free),
% or the boot core on a one-core node.
driver_core(legacy(_), Core) :-
    core_node(0, Node),
    cores_on_node(Node, Cs),
    (   Cs = [_, C|_]
    ->  Core = C
    ;   Cs = [C|_]
    ->  Core = C
    ), !.
