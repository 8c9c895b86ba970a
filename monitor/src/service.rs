//! The monitor's state and event handling: its replica of the global tables, the
//! transactions it coordinates, the requests of its programs (tickets) and of other
//! monitors, and the kernel's events. Nothing here blocks: every step handles what is
//! there and returns.

use alloc::collections::BTreeMap;
use alloc::vec;
use alloc::vec::Vec;

use caps::abi::{CapError, CapIdentity, CapOp, CapRef};
use libos::kernel::{self, Event, KernelError};
use libos::monitor::{status, MonError};
use libos::println;
use libos::time::rdtsc;
use monitor_proto::{
    route, Config, CoreId, DomainId, Effect, MonMsg, Name, Op, Replica, TxId, UpdateError, Vote,
};

use crate::links::{Incoming, Links};

mod admin;
mod irq;
mod tlb;

/// Request kinds between monitors ([`MonMsg::Request`]).
pub mod kind {
    /// Start a program here: payload `"PROGRAM ARGS"`; reply payload = the domain (8 bytes).
    pub const SPAWN: u16 = 1;
    /// Insert a capability copy: payload words `[domain, slot, identity (5 words)]`.
    pub const CAP_INSERT: u16 = 2;
    /// A binding to a service: payload words `[domain, identity (5 words)]` (the channel
    /// frame) then the service name; reply payload = the slot it went into.
    pub const BIND: u16 = 3;
    /// The multicast tree (from the SKB) for the receiving monitor's broadcasts: payload
    /// words `[root, groups, then per group: forwarder, n, n cores]`.
    pub const ROUTE: u16 = 4;
    /// TLB shootdown: payload words `[id, va, pages, n, n cores to forward to]`; answered
    /// by a [`TLB_ACK`] request (not a reply) once this core and those it forwarded to
    /// have dropped the pages.
    pub const TLB_INV: u16 = 5;
    /// Acknowledgement of shootdown `id`: payload words `[id]`.
    pub const TLB_ACK: u16 = 6;
    /// Start a dispatcher sharing the sender's program's capability window: payload = the
    /// page table's identity (5 words) then `"PROGRAM ARGS"`; reply payload = the domain.
    pub const SPAN: u16 = 7;
    /// This core's free memory: reply payload words `[bytes, node]`.
    pub const MEM: u16 = 8;
    /// End a domain of this core: payload words `[domain]`.
    pub const KILL: u16 = 9;
    /// A domain's capabilities: payload words `[domain, first slot]`; reply as
    /// `op::CAPS`.
    pub const CAPS: u16 = 10;
    /// Route a global system interrupt to a vector of a core (to the boot core's monitor,
    /// whose CPU driver programs the I/O APICs; the sending monitor checked the driver's
    /// IrqSrc and IRQ capabilities): payload words `[gsi, core, vector]`; reply payload
    /// words `[gsi]`.
    pub const IRQ_ROUTE: u16 = 11;
    /// The exit status of a domain of this core that ended: payload words `[domain]`;
    /// reply payload words `[status]`.
    pub const EXIT_STATUS: u16 = 12;
    /// This core's in-memory kernel log from a position: payload words `[position]`;
    /// reply payload words as `op::KLOG`.
    pub const KLOG: u16 = 13;
}

/// The domain id of dispatcher `id` of core `core`.
pub fn domain(core: CoreId, id: u32) -> DomainId {
    u64::from(core) << 32 | u64::from(id)
}

/// Why a multicast tree was refused.
#[derive(Clone, Copy, Debug)]
#[allow(dead_code, reason = "the fields are reported through Debug in the log")]
pub enum RouteSetError {
    /// The words do not describe groups.
    Malformed,
    /// The tree is for another root.
    NotMine(u64),
    /// The groups do not form a tree.
    Tree(route::TreeError),
}

/// What to do when a transaction this monitor coordinates completes.
enum Action {
    /// Nothing (fire and forget).
    Nothing,
    /// Resolve a program's ticket.
    Ticket(u64),
    /// The domain table knows dispatcher `id` now: run what waited for it.
    DomainAdded(u32),
    /// A claim for a retype: now retype for dispatcher `caller` (the six request words).
    Retype {
        ticket: u64,
        caller: u32,
        words: [u64; 6],
    },
    /// A distributed revoke: now revoke the caller's own capability.
    Revoke {
        ticket: u64,
        caller: u32,
        cap: u64,
        range: (u64, u64),
    },
}

/// Work waiting for a domain's `AddDomain` to commit.
enum Deferred {
    /// Start this update.
    Start(Op, Action),
    /// Resolve a ticket with these words.
    Ticket(u64, Vec<u64>),
    /// Answer another monitor's spawn request with the domain.
    Reply {
        core: CoreId,
        req: u64,
        domain: DomainId,
    },
    /// The domain ended: remove it.
    Remove,
}

enum DomState {
    Adding(Vec<Deferred>),
    Known,
}

enum Ticket {
    Pending,
    Done(u64, Vec<u64>),
}

/// Counters, printed and given to programs.
#[derive(Default, Clone, Copy)]
pub struct Stats {
    /// Transactions this monitor coordinated that committed.
    pub committed: u64,
    /// That failed.
    pub failed: u64,
    /// Malformed or unexpected messages dropped.
    pub bad: u64,
}

/// The monitor's state once its mesh is up.
pub struct Monitor {
    me: CoreId,
    members: Vec<CoreId>,
    links: Links,
    replica: Replica,
    cycles_per_us: u64,
    tickets: BTreeMap<u64, Ticket>,
    next_ticket: u64,
    actions: BTreeMap<TxId, Action>,
    /// Requests sent to other monitors, by request number: the ticket to resolve.
    requests: BTreeMap<u64, u64>,
    next_req: u64,
    domains: BTreeMap<u32, DomState>,
    /// Ranges of the revokes this monitor coordinates (their local part is done at
    /// completion, on the caller's capability).
    own_revokes: Vec<(u64, u64)>,
    /// Peers that answered the Hello.
    hello_acks: usize,
    /// The multicast tree this monitor's broadcasts (Prepare, Commit, Abort) follow, once
    /// the SKB has computed it; before that, and for everything else, messages go direct.
    tree: Option<route::Tree>,
    /// A tree received while transactions were in flight: installed when none is (every
    /// agreement message of a coordinator to a core must take the same path).
    next_tree: Option<route::Tree>,
    /// Bindings made to this core's services and not yet accepted: (dispatcher, service
    /// name) -> slots of the channel frames.
    accepts: BTreeMap<(u32, Name), alloc::collections::VecDeque<u32>>,
    /// `(dispatcher id, exit status)` of the last `libos::monitor::EXITS_KEPT` dispatchers
    /// of this core that ended, oldest first.
    exits: alloc::collections::VecDeque<(u32, u64)>,
    /// TLB shootdowns in flight.
    tlb: tlb::Shootdowns,
    /// Counters.
    pub stats: Stats,
}

fn update_error(e: UpdateError) -> MonError {
    match e {
        UpdateError::Exists => MonError::Exists,
        UpdateError::NotFound => MonError::NotFound,
        UpdateError::NotOwner => MonError::NotOwner,
        UpdateError::Conflict => MonError::Conflict,
        UpdateError::GaveUp => MonError::GaveUp,
        UpdateError::Invalid => MonError::BadRequest,
    }
}

/// A reply to a program: the status word and the words that follow it.
type Answer = (u64, Vec<u64>);

/// A refused request: the error and its detail words (the capability error code).
type Refusal = (MonError, Vec<u64>);

fn refused((e, w): Refusal) -> Answer {
    (e as u64, w)
}

fn cap_refusal(e: CapError) -> Refusal {
    (MonError::CapFailed, vec![e as u64])
}

/// The answer for a kernel operation's result: its value, or the error.
fn kernel_answer(r: Result<u64, KernelError>) -> Answer {
    match r {
        Ok(v) => (status::OK, vec![v]),
        Err(e) => refused(kernel_error(e)),
    }
}

fn kernel_error(e: KernelError) -> Refusal {
    match e {
        KernelError::Cap(c) => (MonError::CapFailed, vec![c as u64]),
        KernelError::Sys(abi::SysError::NotFound) => (MonError::NotFound, Vec::new()),
        _ => (MonError::BadRequest, Vec::new()),
    }
}

use libos::monitor::{bytes_of, words};

/// The identity of capability `slot` of dispatcher `caller`, about to be copied to another
/// core: from now on it (and its local copies) is marked as having remote copies, so its
/// retype, delete and revoke go through the monitors.
///
/// A capability with descendants on this core is refused (`RevokeFirst`): those retypes are
/// not in the replicated claims, so a retype elsewhere could overlap them.
fn share(caller: u32, slot: u32) -> Result<CapIdentity, Refusal> {
    let cap = libos::cap::root_slot(slot);
    let id = kernel::cap_identify(caller, cap).map_err(kernel_error)?;
    if id.flags & abi::kop::IDENTITY_LOCAL_DESCENDANTS != 0 {
        return Err((MonError::CapFailed, vec![CapError::RevokeFirst as u64]));
    }
    kernel::cap_mark_remote(caller, cap).map_err(kernel_error)?;
    Ok(id)
}

impl Monitor {
    /// The monitor of core `me` with the mesh of `members`.
    pub fn new(me: CoreId, members: Vec<CoreId>) -> Monitor {
        let hz = kernel::tsc_hz().unwrap_or(1_000_000_000).max(1_000_000);
        // Emulated and virtual machines take milliseconds per round trip: start the
        // backoff window at 1 ms (doubling up to about 1 s).
        let config = Config {
            retry_base: 1000,
            max_shift: 10,
            max_attempts: 64,
        };
        let links = Links::new(me, &members);
        Monitor {
            me,
            replica: Replica::with_config(me, &members, config),
            members,
            links,
            cycles_per_us: hz / 1_000_000,
            tickets: BTreeMap::new(),
            next_ticket: 1,
            actions: BTreeMap::new(),
            requests: BTreeMap::new(),
            next_req: 1,
            domains: BTreeMap::new(),
            own_revokes: Vec::new(),
            hello_acks: 0,
            accepts: BTreeMap::new(),
            exits: alloc::collections::VecDeque::new(),
            tree: None,
            next_tree: None,
            tlb: tlb::Shootdowns::default(),
            stats: Stats::default(),
        }
    }

    fn now(&self) -> u64 {
        rdtsc() / self.cycles_per_us.max(1)
    }

    /// Number of monitors in the mesh (this one included).
    pub fn members(&self) -> usize {
        self.members.len()
    }

    /// Say hello to every peer.
    pub fn greet(&mut self) {
        for &p in &self.members {
            if p != self.me {
                let _ = self.links.send(p, &MonMsg::Hello { core: self.me });
            }
        }
    }

    /// Whether every peer answered the hello.
    pub fn mesh_up(&self) -> bool {
        self.hello_acks + 1 >= self.members.len()
    }

    /// Handle everything that is there; true if anything happened.
    pub fn step(&mut self) -> bool {
        let mut busy = self.kernel_events();
        busy |= self.tlb_step();
        let mut arrived = Vec::new();
        busy |= self.links.poll(|from, m| arrived.push((from, m))) > 0;
        for (from, m) in arrived {
            self.incoming(from, m);
        }
        let now = self.now();
        self.replica.tick(now);
        busy |= self.drain_replica();
        self.install_tree();
        self.links.flush();
        busy
    }

    /// Before sleeping: arm the links; false if something arrived meanwhile.
    /// Not while shootdown traffic is recent (the monitor polls then).
    pub fn may_sleep(&mut self) -> bool {
        !self.tlb_lingering()
            && !self.links.arm_all()
            && !self.links.flush()
            && self.tlb_may_sleep()
    }

    /// Stop asking for notifications while running.
    pub fn awake(&mut self) {
        self.links.disarm_all();
        self.tlb_awake();
    }

    fn ticket(&mut self) -> u64 {
        let t = self.next_ticket;
        self.next_ticket += 1;
        self.tickets.insert(t, Ticket::Pending);
        t
    }

    fn resolve(&mut self, ticket: u64, status: u64, words: Vec<u64>) {
        if let Some(t) = self.tickets.get_mut(&ticket) {
            *t = Ticket::Done(status, words);
        }
    }

    fn start(&mut self, op: Op, action: Action) {
        let now = self.now();
        let tx = self.replica.start(op, now);
        self.actions.insert(tx, action);
        self.drain_replica();
    }

    // ------------------------------------------------------------------ kernel events

    fn kernel_events(&mut self) -> bool {
        let mut any = false;
        while let Some(ev) = kernel::next_event() {
            any = true;
            match ev {
                Event::Started(id, name) => {
                    let program = Name::new(&name).or_else(|_| Name::new("unnamed"));
                    let Ok(program) = program else { continue };
                    self.domains.insert(id, DomState::Adding(Vec::new()));
                    let op = Op::AddDomain {
                        domain: domain(self.me, id),
                        program,
                    };
                    self.start(op, Action::DomainAdded(id));
                }
                Event::Exited(id, status) => {
                    self.exits.push_back((id, status));
                    if self.exits.len() > libos::monitor::EXITS_KEPT {
                        self.exits.pop_front();
                    }
                    // Bindings it never accepted die with it.
                    self.accepts.retain(|(d, _), _| *d != id);
                    match self.domains.get_mut(&id) {
                        Some(DomState::Adding(waiting)) => waiting.push(Deferred::Remove),
                        _ => {
                            self.domains.remove(&id);
                            let op = Op::RemoveDomain {
                                domain: domain(self.me, id),
                            };
                            self.start(op, Action::Nothing);
                        }
                    }
                }
                Event::Unknown(v) => println!("monitor: unknown kernel event {v:#x}"),
            }
        }
        any
    }

    /// Run `d` now if dispatcher `id` is known, else when its `AddDomain` commits.
    fn when_known(&mut self, id: u32, d: Deferred) {
        match self.domains.get_mut(&id) {
            Some(DomState::Adding(waiting)) => waiting.push(d),
            _ => self.run_deferred(id, d),
        }
    }

    fn run_deferred(&mut self, id: u32, d: Deferred) {
        match d {
            Deferred::Start(op, action) => self.start(op, action),
            Deferred::Ticket(t, w) => self.resolve(t, status::OK, w),
            Deferred::Reply { core, req, domain } => {
                let msg = MonMsg::Reply {
                    req,
                    status: status::OK,
                    payload: bytes_of(&[domain]),
                };
                let _ = self.links.send(core, &msg);
            }
            Deferred::Remove => {
                self.domains.remove(&id);
                let op = Op::RemoveDomain {
                    domain: domain(self.me, id),
                };
                self.start(op, Action::Nothing);
            }
        }
    }

    // ------------------------------------------------------------------ the replica

    fn drain_replica(&mut self) -> bool {
        let mut any = false;
        loop {
            let out = self.replica.take_outbox();
            let done = self.replica.take_completions();
            let effects = self.replica.take_effects();
            if out.is_empty() && done.is_empty() && effects.is_empty() {
                return any;
            }
            any = true;
            // Effects first: a participant's Ack (in the outbox) must follow its local work.
            for e in effects {
                self.effect(e);
            }
            let out = match &self.tree {
                Some(t) => route::plan(t, self.me, out),
                None => out,
            };
            for (to, m) in out {
                if let Err(e) = self.links.send(to, &m) {
                    println!("monitor: cannot encode a message to core {to}: {e:?}");
                }
            }
            for (tx, r) in done {
                if r.is_ok() {
                    self.stats.committed += 1;
                } else {
                    self.stats.failed += 1;
                }
                let action = self.actions.remove(&tx).unwrap_or(Action::Nothing);
                self.complete(action, r);
            }
        }
    }

    fn effect(&mut self, e: Effect) {
        match e {
            Effect::RevokeLocal { base, size } => {
                if self.own_revokes.contains(&(base, size)) {
                    return;
                }
                match kernel::cap_revoke_range(base, size) {
                    Ok(n) => println!(
                        "monitor: revoke of [{base:#x}, {:#x}) deleted {n} capabilities on core {}",
                        base + size,
                        self.me
                    ),
                    Err(e) => println!("monitor: local revoke of {base:#x} failed: {e:?}"),
                }
            }
            Effect::DomainRemoved { .. } => {}
        }
    }

    fn complete(&mut self, action: Action, r: Result<(), UpdateError>) {
        match action {
            Action::Nothing => {
                if let Err(e) = r {
                    println!("monitor: update failed: {e}");
                }
            }
            Action::Ticket(t) => match r {
                Ok(()) => self.resolve(t, status::OK, Vec::new()),
                Err(e) => self.resolve(t, update_error(e) as u64, Vec::new()),
            },
            Action::DomainAdded(id) => {
                if let Err(e) = r {
                    println!("monitor: domain {id} not added: {e}");
                }
                if let Some(DomState::Adding(waiting)) = self.domains.insert(id, DomState::Known) {
                    for d in waiting {
                        self.run_deferred(id, d);
                    }
                }
            }
            Action::Retype {
                ticket,
                caller,
                words: w,
            } => match r {
                Ok(()) => {
                    let res = kernel::cap_invoke(
                        caller,
                        w[0],
                        CapOp::Retype as u64,
                        [w[1], w[2], w[3], w[4]],
                    );
                    let (s, w) = kernel_answer(res);
                    self.resolve(ticket, s, w)
                }
                Err(e) => self.resolve(ticket, update_error(e) as u64, Vec::new()),
            },
            Action::Revoke {
                ticket,
                caller,
                cap,
                range,
            } => {
                self.own_revokes.retain(|x| *x != range);
                match r {
                    Ok(()) => {
                        let res = kernel::cap_invoke(caller, cap, CapOp::Revoke as u64, [0; 4]);
                        if let Ok(c) = CapRef::unpack(cap) {
                            let _ = kernel::cap_clear_remote(caller, c);
                        }
                        let (s, w) = kernel_answer(res);
                        self.resolve(ticket, s, w)
                    }
                    Err(e) => self.resolve(ticket, update_error(e) as u64, Vec::new()),
                }
            }
        }
    }

    // ------------------------------------------------------------------ other monitors

    fn incoming(&mut self, link: CoreId, m: Incoming) {
        let msg = match m {
            Incoming::Msg(msg) => msg,
            Incoming::Bad(e) => {
                self.stats.bad += 1;
                println!("monitor: dropped a malformed message from core {link}: {e:?}");
                return;
            }
            Incoming::Channel(e) => {
                self.stats.bad += 1;
                println!("monitor: channel from core {link} reported {e:?}; message dropped");
                return;
            }
        };
        // A forwarded message: relay the copies at once (before anything later on this
        // link), then handle ours as coming from its origin.
        let (from, msg) = match route::deliver(self.me, link, msg) {
            Ok(d) => {
                for (to, m) in d.onward {
                    if self.links.has(to) {
                        let _ = self.links.send(to, &m);
                    }
                }
                match d.local {
                    Some(x) => x,
                    None => return,
                }
            }
            Err(e) => {
                self.stats.bad += 1;
                println!("monitor: dropped a bad forward from core {link}: {e:?}");
                return;
            }
        };
        match msg {
            MonMsg::Hello { core } => {
                if core != from {
                    self.stats.bad += 1;
                    println!("monitor: hello from core {from} claims to be core {core}; dropped");
                    return;
                }
                let _ = self.links.send(from, &MonMsg::HelloAck { core: self.me });
            }
            MonMsg::HelloAck { core } => {
                if core == from {
                    self.hello_acks += 1;
                }
            }
            MonMsg::Request { req, kind, payload } => self.request_from(from, req, kind, &payload),
            MonMsg::Reply {
                req,
                status,
                payload,
            } => match self.requests.remove(&req) {
                Some(t) => self.resolve(t, status, words(&payload)),
                None => {
                    self.stats.bad += 1;
                    println!("monitor: unexpected reply {req} from core {from}; dropped");
                }
            },
            other => {
                let now = self.now();
                if let Err(e) = self.replica.handle(from, other, now) {
                    self.stats.bad += 1;
                    println!("monitor: dropped an unexpected message from core {from}: {e:?}");
                }
                self.drain_replica();
            }
        }
    }

    /// Answer request `req` of core `to`. A reply that cannot be encoded (a payload over
    /// `MAX_PAYLOAD`) becomes a `BadRequest` refusal, so the asker is not left waiting.
    fn reply(&mut self, to: CoreId, req: u64, status: u64, payload: Vec<u8>) {
        let msg = MonMsg::Reply {
            req,
            status,
            payload,
        };
        if let Err(e) = self.links.send(to, &msg) {
            println!("monitor: reply to core {to} (request {req}) not sent: {e}");
            let refusal = MonMsg::Reply {
                req,
                status: MonError::BadRequest as u64,
                payload: Vec::new(),
            };
            let _ = self.links.send(to, &refusal);
        }
    }

    /// Answer request `req` of core `from` with the domain of dispatcher `r` once its
    /// domain is in the replicated table, or with the refusal now.
    fn reply_when_started(&mut self, from: CoreId, req: u64, r: Result<u32, Refusal>) {
        match r {
            Ok(id) => {
                let d = Deferred::Reply {
                    core: from,
                    req,
                    domain: domain(self.me, id),
                };
                self.when_known(id, d);
            }
            Err((s, extra)) => self.reply(from, req, s as u64, bytes_of(&extra)),
        }
    }

    fn request_from(&mut self, from: CoreId, req: u64, kind: u16, payload: &[u8]) {
        match kind {
            kind::SPAWN => {
                let text = core::str::from_utf8(payload).unwrap_or("");
                let r = self.spawn_here(text).map_err(|e| (e, Vec::new()));
                self.reply_when_started(from, req, r);
            }
            kind::CAP_INSERT => {
                let w = words(payload);
                let r = match w.as_slice() {
                    [dom, slot, id @ ..] if id.len() == 5 && *dom >> 32 == u64::from(self.me) => {
                        let mut iw = [0u64; 5];
                        iw.copy_from_slice(id);
                        let identity = CapIdentity::from_words(iw);
                        match u32::try_from(*slot) {
                            Ok(slot) => kernel::cap_insert(*dom as u32, &identity, slot)
                                .map_err(kernel_error),
                            Err(_) => Err((MonError::BadRequest, Vec::new())),
                        }
                    }
                    _ => Err((MonError::BadRequest, Vec::new())),
                };
                match r {
                    Ok(()) => self.reply(from, req, status::OK, Vec::new()),
                    Err((s, extra)) => self.reply(from, req, s as u64, bytes_of(&extra)),
                }
            }
            kind::ROUTE => match self.set_route(payload) {
                Ok(()) => self.reply(from, req, status::OK, Vec::new()),
                Err(e) => {
                    println!("monitor: bad route from core {from}: {e:?}");
                    self.reply(from, req, MonError::BadRequest as u64, Vec::new())
                }
            },
            kind::BIND => {
                let r = self.bind_here(payload);
                match r {
                    Ok(slot) => self.reply(from, req, status::OK, bytes_of(&[u64::from(slot)])),
                    Err((s, extra)) => self.reply(from, req, s as u64, bytes_of(&extra)),
                }
            }
            kind::TLB_INV | kind::TLB_ACK => {
                let r = if kind == kind::TLB_INV {
                    self.tlb_inv_from(from, payload)
                } else {
                    self.tlb_ack_from(from, payload)
                };
                if r.is_err() {
                    self.stats.bad += 1;
                    println!("monitor: bad shootdown message from core {from}; dropped");
                }
            }
            kind::MEM
            | kind::KILL
            | kind::CAPS
            | kind::IRQ_ROUTE
            | kind::EXIT_STATUS
            | kind::KLOG => {
                let w = words(payload);
                let r = match (kind, w.as_slice()) {
                    (kind::MEM, []) => self.mem_here(),
                    (kind::EXIT_STATUS, [d]) => self.exit_status_here(*d),
                    (kind::IRQ_ROUTE, [gsi, core, vector]) => {
                        self.irq_route_here(*gsi, *core, *vector)
                    }
                    (kind::KILL, [d]) => self.kill_here(*d).map(|()| Vec::new()),
                    (kind::KLOG, [pos]) => self.klog_here(*pos),
                    (kind::CAPS, [d, from]) => self.caps_here(*d, *from),
                    _ => Err((MonError::BadRequest, Vec::new())),
                };
                match r {
                    Ok(w) => self.reply(from, req, status::OK, bytes_of(&w)),
                    Err((s, extra)) => self.reply(from, req, s as u64, bytes_of(&extra)),
                }
            }
            kind::SPAN => {
                let r = self.span_here(payload);
                self.reply_when_started(from, req, r);
            }
            k => {
                self.stats.bad += 1;
                println!("monitor: unknown request kind {k} from core {from}; refused");
                self.reply(from, req, MonError::BadRequest as u64, Vec::new());
            }
        }
    }

    /// Install the multicast tree in `payload` (see [`kind::ROUTE`]) for this monitor's
    /// broadcasts, now if no transaction of ours is in flight, else once none is.
    fn set_route(&mut self, payload: &[u8]) -> Result<(), RouteSetError> {
        let w = words(payload);
        let bad = RouteSetError::Malformed;
        let (&root, rest) = w.split_first().ok_or(bad)?;
        let (&n, mut rest) = rest.split_first().ok_or(bad)?;
        let mut groups = Vec::new();
        for _ in 0..n.min(1024) {
            let (&fw, r) = rest.split_first().ok_or(bad)?;
            let (&k, r) = r.split_first().ok_or(bad)?;
            let k = usize::try_from(k).map_err(|_| bad)?;
            let cores = r.get(..k).ok_or(bad)?;
            groups.push((fw as CoreId, cores.iter().map(|&c| c as CoreId).collect()));
            rest = &r[k..];
        }
        if root != u64::from(self.me) {
            return Err(RouteSetError::NotMine(root));
        }
        let tree = route::Tree::new(self.me, groups).map_err(RouteSetError::Tree)?;
        self.next_tree = Some(tree);
        self.install_tree();
        Ok(())
    }

    /// Switch to the pending tree if no transaction this monitor coordinates is in flight.
    fn install_tree(&mut self) {
        if self.next_tree.is_some() && self.replica.pending() == 0 {
            self.tree = self.next_tree.take();
            let n = self.tree.as_ref().map_or(0, |t| t.groups().len());
            println!(
                "monitor on core {}: broadcasts follow the SKB's multicast tree ({n} groups)",
                self.me
            );
        }
    }

    /// A binding to a service of this core: put the channel frame into the service's
    /// CSpace and queue it for the service's `accept`.
    fn bind_here(&mut self, payload: &[u8]) -> Result<u32, Refusal> {
        let bad = || (MonError::BadRequest, Vec::new());
        let head = payload.get(..48).ok_or_else(bad)?;
        let w = words(head);
        let name = Name::from_bytes(&payload[48..]).map_err(|_| bad())?;
        let dom = w[0];
        if dom >> 32 != u64::from(self.me) {
            return Err(bad());
        }
        // The service must still hold the name.
        match self.replica.lookup(&name) {
            Some(b) if b.owner == dom => {}
            _ => return Err((MonError::NotFound, Vec::new())),
        }
        let mut iw = [0u64; 5];
        iw.copy_from_slice(&w[1..6]);
        let identity = CapIdentity::from_words(iw);
        if identity.cap_type != caps::abi::CapType::Frame as u8 || identity.bytes != 4096 {
            return Err((MonError::CapFailed, vec![CapError::WrongType as u64]));
        }
        let slot = kernel::cap_insert_any(dom as u32, &identity).map_err(kernel_error)?;
        self.accepts
            .entry((dom as u32, name))
            .or_default()
            .push_back(slot);
        Ok(slot)
    }

    fn spawn_here(&mut self, text: &str) -> Result<u32, MonError> {
        self.spawn_here_with(text, None)
    }

    /// Start `"PROGRAM ARGS"` here, spanned with capability window `window` if given.
    fn spawn_here_with(
        &mut self,
        text: &str,
        window: Option<&CapIdentity>,
    ) -> Result<u32, MonError> {
        let text = text.trim();
        let (prog, args) = text.split_once(' ').unwrap_or((text, ""));
        let r = match window {
            Some(w) => kernel::spawn_spanned(prog, args.trim(), w),
            None => kernel::spawn(prog, args.trim()),
        };
        match r {
            Ok(id) => {
                // Its Started event: the domain is being added from now on.
                self.kernel_events();
                Ok(id)
            }
            Err(KernelError::Sys(abi::SysError::NotFound)) => Err(MonError::NotFound),
            Err(e) => {
                println!("monitor: cannot start `{text}`: {e:?}");
                Err(MonError::SpawnFailed)
            }
        }
    }

    fn send_request(&mut self, to: CoreId, kind: u16, payload: Vec<u8>, ticket: u64) {
        let req = self.next_req;
        self.next_req += 1;
        self.requests.insert(req, ticket);
        let msg = MonMsg::Request { req, kind, payload };
        if let Err(e) = self.links.send(to, &msg) {
            self.requests.remove(&req);
            println!("monitor: request to core {to} not sent: {e:?}");
            self.resolve(ticket, MonError::BadRequest as u64, Vec::new());
        }
    }

    // ------------------------------------------------------------------ programs

    /// A program's request (`caller` = its dispatcher id on this core): `(status, words)`.
    pub fn client(&mut self, caller: u32, op: u64, arg: u64, msg: &[u8]) -> Answer {
        use libos::monitor::op;
        // The caller's Started event may still be queued.
        self.kernel_events();
        let err = |e: MonError| (e as u64, Vec::new());
        match op {
            op::POLL => match self.tickets.get(&arg) {
                Some(Ticket::Pending) => (status::PENDING, vec![arg]),
                Some(Ticket::Done(..)) => match self.tickets.remove(&arg) {
                    Some(Ticket::Done(s, w)) => (s, w),
                    _ => err(MonError::NotFound),
                },
                None => err(MonError::NotFound),
            },
            op::SPAWN => {
                let core = u32::try_from(arg).unwrap_or(u32::MAX);
                let Ok(text) = core::str::from_utf8(msg) else {
                    return err(MonError::BadRequest);
                };
                if core == self.me {
                    match self.spawn_here(text) {
                        Ok(id) => {
                            let t = self.ticket();
                            self.when_known(id, Deferred::Ticket(t, vec![domain(self.me, id)]));
                            (status::PENDING, vec![t])
                        }
                        Err(e) => err(e),
                    }
                } else if self.links.has(core) {
                    let t = self.ticket();
                    self.send_request(core, kind::SPAWN, Vec::from(msg), t);
                    (status::PENDING, vec![t])
                } else {
                    err(MonError::NoSuchCore)
                }
            }
            op::REGISTER | op::UNREGISTER => {
                let Ok(name) = Name::from_bytes(msg) else {
                    return err(MonError::BadRequest);
                };
                let owner = domain(self.me, caller);
                let o = if op == op::REGISTER {
                    Op::RegisterName {
                        name,
                        owner,
                        port: arg,
                    }
                } else {
                    Op::UnregisterName { name, owner }
                };
                let t = self.ticket();
                self.when_known(caller, Deferred::Start(o, Action::Ticket(t)));
                (status::PENDING, vec![t])
            }
            op::LOOKUP => {
                let Ok(name) = Name::from_bytes(msg) else {
                    return err(MonError::BadRequest);
                };
                match self.replica.lookup(&name) {
                    Some(b) => (status::OK, vec![b.owner, b.port]),
                    None => err(MonError::NotFound),
                }
            }
            op::DOMAINS => {
                let ds: Vec<u64> = self.replica.domains().map(|(d, _)| d).take(100).collect();
                let mut w = vec![ds.len() as u64];
                w.extend(ds);
                (status::OK, w)
            }
            op::CAP_SEND => self.cap_send(caller, arg, msg).unwrap_or_else(refused),
            op::BIND => self.bind(caller, arg, msg).unwrap_or_else(refused),
            op::SPAN => self.span(caller, arg, msg).unwrap_or_else(refused),
            op::CORES_INFO => self.cores_info(arg),
            op::MEM => self.mem(arg).unwrap_or_else(refused),
            op::KILL => self.kill(arg).unwrap_or_else(refused),
            op::EXIT_STATUS => self.exit_status(arg).unwrap_or_else(refused),
            op::KLOG => self.klog(arg, msg).unwrap_or_else(refused),
            op::CAPS => self.caps(arg, msg).unwrap_or_else(refused),
            op::LOG => self.log_level(arg).unwrap_or_else(refused),
            op::POWER => self.power(arg, msg).unwrap_or_else(refused),
            op::IRQ_ROUTE => self.irq_route(caller, arg, msg).unwrap_or_else(refused),
            op::ACCEPT => {
                let Ok(name) = Name::from_bytes(msg) else {
                    return err(MonError::BadRequest);
                };
                match self
                    .accepts
                    .get_mut(&(caller, name))
                    .and_then(|q| q.pop_front())
                {
                    Some(slot) => (status::OK, vec![u64::from(slot)]),
                    None => err(MonError::NotFound),
                }
            }
            op::CAP_RETYPE => self.cap_retype(caller, msg).unwrap_or_else(refused),
            op::CAP_REVOKE => self.cap_revoke(caller, arg).unwrap_or_else(refused),
            // Deleting a local copy of an object that lives on in other cores' copies
            // needs no agreement: the object stays, the remote copies stay valid. (Its
            // ownership is not moved to another core when the owner's last copy goes.)
            op::SET_ROUTE => {
                // From the SKB service: the tree for core `arg`'s broadcasts.
                let root = u32::try_from(arg).unwrap_or(u32::MAX);
                if root == self.me {
                    match self.set_route(msg) {
                        Ok(()) => (status::OK, Vec::new()),
                        Err(e) => {
                            println!("monitor: bad route: {e:?}");
                            err(MonError::BadRequest)
                        }
                    }
                } else if self.links.has(root) {
                    let t = self.ticket();
                    self.send_request(root, kind::ROUTE, Vec::from(msg), t);
                    (status::PENDING, vec![t])
                } else {
                    err(MonError::NoSuchCore)
                }
            }
            op::CAP_DELETE => kernel_answer(kernel::cap_invoke(
                caller,
                arg,
                CapOp::Delete as u64,
                [0; 4],
            )),
            op::SEND_GARBAGE => {
                let core = u32::try_from(arg).unwrap_or(u32::MAX);
                if !self.links.has(core) {
                    return err(MonError::NoSuchCore);
                }
                self.send_garbage(core);
                (status::OK, Vec::new())
            }
            op::STATS => {
                let s = self.stats;
                (
                    status::OK,
                    vec![
                        self.members.len() as u64,
                        s.committed,
                        s.failed,
                        s.bad,
                        self.tree.as_ref().map_or(0, |t| t.groups().len() as u64),
                    ],
                )
            }
            _ => err(MonError::BadRequest),
        }
    }

    fn cap_send(&mut self, caller: u32, slot: u64, msg: &[u8]) -> Result<Answer, Refusal> {
        let w = words(msg);
        let ([dom, dslot], Ok(slot)) = (
            w.as_slice().try_into().unwrap_or([u64::MAX; 2]),
            u32::try_from(slot),
        ) else {
            return Err((MonError::BadRequest, Vec::new()));
        };
        let core = (dom >> 32) as CoreId;
        if core == self.me {
            // A domain of this core: a plain copy, no remote bookkeeping.
            let (Ok(target), Ok(dslot)) = (u32::try_from(dom & 0xffff_ffff), u32::try_from(dslot))
            else {
                return Err((MonError::BadRequest, Vec::new()));
            };
            let cap = libos::cap::root_slot(slot);
            kernel::cap_give_from(caller, cap, target, dslot).map_err(kernel_error)?;
            return Ok((status::OK, Vec::new()));
        }
        if !self.links.has(core) {
            return Err((MonError::NoSuchCore, Vec::new()));
        }
        let id = share(caller, slot)?;
        let mut payload = vec![dom, dslot];
        payload.extend(id.to_words());
        let t = self.ticket();
        self.send_request(core, kind::CAP_INSERT, bytes_of(&payload), t);
        Ok((status::PENDING, vec![t]))
    }

    fn bind(&mut self, caller: u32, slot: u64, msg: &[u8]) -> Result<Answer, Refusal> {
        let (Ok(name), Ok(slot)) = (Name::from_bytes(msg), u32::try_from(slot)) else {
            return Err((MonError::BadRequest, Vec::new()));
        };
        let Some(owner) = self.replica.lookup(&name).map(|b| b.owner) else {
            return Err((MonError::NotFound, Vec::new()));
        };
        let core = (owner >> 32) as CoreId;
        if core != self.me && !self.links.has(core) {
            return Err((MonError::NoSuchCore, Vec::new()));
        }
        let id = share(caller, slot)?;
        let mut words = vec![owner];
        words.extend(id.to_words());
        let mut payload = bytes_of(&words);
        payload.extend_from_slice(name.as_bytes());
        if core == self.me {
            let s = self.bind_here(&payload)?;
            return Ok((status::OK, vec![u64::from(s)]));
        }
        let t = self.ticket();
        self.send_request(core, kind::BIND, payload, t);
        Ok((status::PENDING, vec![t]))
    }

    fn cap_retype(&mut self, caller: u32, msg: &[u8]) -> Result<Answer, Refusal> {
        let w = words(msg);
        let Ok(w6): Result<[u64; 6], _> = w.as_slice().try_into() else {
            return Err((MonError::BadRequest, Vec::new()));
        };
        let src = CapRef::unpack(w6[0]).map_err(cap_refusal)?;
        let id = kernel::cap_identify(caller, src).map_err(kernel_error)?;
        let (_, count) = caps::abi::unpack_retype_word(w6[1]).map_err(cap_refusal)?;
        let region = w6[3]
            .checked_mul(u64::from(count))
            .and_then(|len| id.base.checked_add(w6[2]).map(|b| (b, len)));
        let Some((base, size)) = region.filter(|(_, len)| *len > 0) else {
            return Err(cap_refusal(CapError::InvalidSize));
        };
        let t = self.ticket();
        self.start(
            Op::ClaimObject {
                base,
                size,
                by: self.me,
            },
            Action::Retype {
                ticket: t,
                caller,
                words: w6,
            },
        );
        Ok((status::PENDING, vec![t]))
    }

    fn cap_revoke(&mut self, caller: u32, cap: u64) -> Result<Answer, Refusal> {
        let c = CapRef::unpack(cap).map_err(cap_refusal)?;
        let id = kernel::cap_identify(caller, c).map_err(kernel_error)?;
        if id.bytes == 0 {
            return Err(cap_refusal(CapError::WrongType));
        }
        let range = (id.base, id.bytes);
        self.own_revokes.push(range);
        let t = self.ticket();
        self.start(
            Op::RevokeObject {
                base: id.base,
                size: id.bytes,
            },
            Action::Revoke {
                ticket: t,
                caller,
                cap,
                range,
            },
        );
        Ok((status::PENDING, vec![t]))
    }

    /// Send core `to` a few malformed and unexpected messages (for the tests of the
    /// monitors' handling of bad input).
    fn send_garbage(&mut self, to: CoreId) {
        let junk = [
            urpc::Message::new(0x7777, [1, 2, 3, 4, 5, 6, 7]),
            urpc::Message::new(0x4000, [u64::MAX; 7]),
        ];
        self.links.send_raw(to, Vec::from(junk));
        let bogus = TxId {
            core: self.me,
            seq: u32::MAX,
        };
        let _ = self.links.send(
            to,
            &MonMsg::Vote {
                tx: bogus,
                vote: Vote::Yes,
            },
        );
        let _ = self.links.send(to, &MonMsg::Commit { tx: bogus });
        let _ = self.links.send(
            to,
            &MonMsg::Reply {
                req: u64::MAX,
                status: 0,
                payload: Vec::new(),
            },
        );
        println!("monitor: sent 5 bad messages to core {to}");
    }
}
