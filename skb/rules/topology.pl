% SKB system rules: machine topology helpers.
%
% Facts (added at boot by the kernel/monitors, see skb::rules for the schemas):
%   core(Id, ApicId, Package, Node)      node(Node)
%   node_distance(A, B, D)               memory_range(Node, Base, Length)
%   memory_free(Node, Bytes)             urpc_latency(A, B, Cycles)
%   pci_device(Bus, Dev, Fn, Vendor, DeviceId, Class, Node)
%   driver(Program, Core)

:- dynamic(core/4).
:- dynamic(node/1).
:- dynamic(node_distance/3).
:- dynamic(memory_range/3).
:- dynamic(memory_free/2).
:- dynamic(urpc_latency/3).
:- dynamic(pci_device/7).
:- dynamic(driver/2).

% core_node(?Core, ?Node): the NUMA node of a core.
core_node(Core, Node) :- core(Core, _, _, Node).

% core_package(?Core, ?Package)
core_package(Core, Package) :- core(Core, _, Package, _).

% cores(-Cores): all core ids, ascending.
cores(Cores) :- findall(C, core(C, _, _, _), Cs), sort(Cs, Cores).

% core_count(-N)
core_count(N) :- cores(Cs), length(Cs, N).

% nodes(-Nodes): all NUMA nodes (from node/1, core/4, memory facts), ascending.
nodes(Nodes) :-
    findall(N, ( node(N) ; core(_, _, _, N) ; memory_range(N, _, _) ; memory_free(N, _) ), Ns),
    sort(Ns, Nodes).

% cores_on_node(+Node, -Cores): cores of a node, ascending.
cores_on_node(Node, Cores) :- findall(C, core(C, _, _, Node), Cs), sort(Cs, Cores).

% distance(+A, +B, -D): NUMA distance (SLIT units: 10 is local). Missing entries are
% symmetric if only one direction is known, and 20 if unknown.
distance(A, A, D) :- !, ( node_distance(A, A, D0) -> D = D0 ; D = 10 ).
distance(A, B, D) :- node_distance(A, B, D0), !, D = D0.
distance(A, B, D) :- node_distance(B, A, D0), !, D = D0.
distance(_, _, 20).

% core_distance(+A, +B, -D): NUMA distance between the nodes of two cores.
core_distance(A, B, D) :- core_node(A, NA), core_node(B, NB), distance(NA, NB, D).

% node_free(?Node, -Bytes): free memory of a node: memory_free/2 if known, otherwise the
% total length of its memory ranges.
node_free(Node, Bytes) :-
    nodes(Nodes), member(Node, Nodes),
    (   memory_free(Node, _)
    ->  aggregate_all(sum(B), memory_free(Node, B), Bytes)
    ;   aggregate_all(sum(L), memory_range(Node, _, L), Bytes)
    ).

% latency(+A, +B, -Cycles): measured URPC latency between two cores (either direction).
latency(A, B, L) :- urpc_latency(A, B, L0), !, L = L0.
latency(A, B, L) :- urpc_latency(B, A, L0), !, L = L0.
