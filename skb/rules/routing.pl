% SKB system rules: message routing (multicast trees, transports).

% multicast_tree(+Root, +Cores, -Tree): a NUMA-aware multicast tree from Root to Cores
% (Root itself and duplicates in Cores are ignored).
%
%   Tree = tree(Root, Edges)
%   Edges = [edge(Forwarder, Leaves), ...]: the messages Root sends, in order. Root sends one
%       message to Forwarder, which sends one message to each core in Leaves, in order.
%
% Root sends first to one forwarder on every remote node that has targets, farthest node
% first (by distance/3; ties by lower node id), and then directly to its own node's targets
% as edge(Core, []). The forwarder of a node is the target there with the lowest measured
% URPC latency from Root (if all are known), else the lowest id; its leaves are the other
% targets on that node, ascending.
multicast_tree(Root, Cores, tree(Root, Edges)) :-
    core_node(Root, Home),
    sort(Cores, Targets0),
    exclude(==(Root), Targets0, Targets),
    findall(N, ( member(C, Targets), core_node(C, N) ), Ns0),
    sort(Ns0, Nodes),
    exclude(==(Home), Nodes, Remote),
    findall(NegD-N, ( member(N, Remote), distance(Home, N, D), NegD is -D ), Keyed0),
    msort(Keyed0, Keyed),
    findall(edge(F, Leaves),
            ( member(_-N, Keyed),
              findall(C, ( member(C, Targets), core_node(C, N) ), OnNode),
              nearest_core(Root, OnNode, F),
              exclude(==(F), OnNode, Leaves) ),
            RemoteEdges),
    findall(edge(C, []), ( member(C, Targets), core_node(C, Home) ), LocalEdges),
    append(RemoteEdges, LocalEdges, Edges).

% multicast_tree(+Root, -Tree): to every other core.
multicast_tree(Root, Tree) :- cores(Cs), multicast_tree(Root, Cs, Tree).

% multicast_messages(+Tree, -N): number of messages the tree sends in total.
multicast_messages(tree(_, Edges), N) :-
    findall(K, ( member(edge(_, Ls), Edges), length(Ls, L), K is L + 1 ), Ks),
    sum_list(Ks, N).

% transport(?A, ?B, -T): transport between two cores: lrpc on the same core, urpc otherwise.
transport(A, B, T) :-
    core(A, _, _, _), core(B, _, _, _),
    ( A == B -> T = lrpc ; T = urpc ).
