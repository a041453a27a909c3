//! The dispatch gate: which handed-out step may go to a worker's queue now, and in what
//! order (issue 17: priority, concurrency limits, pause and resume).
//!
//! The orchestrator offers every step it hands out. On the fast path (nothing held in its
//! lane, nothing paused, the queue shallower than its depth; for a capped step also its caps
//! this process's alone, nothing waiting anywhere and room in each cap: [`Gate::pass`]) the
//! step goes straight to its queue, as before the gate existed. Otherwise it is held here, in a
//! priority queue per lane (thread pool, Ractor pool, task routes), and released when
//! there is room: the orchestrator calls [`Gate::release`] when workers take steps or
//! steps finish. A step whose namespace or template is paused, or one of whose caps is
//! full, is parked apart (it occupies no worker) until a resume or a finish frees it.
//!
//! Depth: a pool's queue is kept as deep as its workers take at once, [`QUEUED_BATCHES`]
//! batches per worker (the pool says how many workers and how big a batch when it starts,
//! [`Gate::set_depth`]); [`DEPTH`] until then. A step handed out ahead of an urgent one waits
//! either in a worker's hands or in that queue, so an urgent step starts after at most
//! `workers × batch × QUEUED_BATCHES` steps that were queued before it (plus those the
//! workers already held), not after everything queued in bulk before it.
//!
//! Order: higher effective priority first, then first come first served. Effective
//! priority = task priority + seconds waited in the gate × [`AGING_PER_SECOND`], so a
//! low-priority step is not starved: it overtakes a step [`AGING_PER_SECOND`]⁻¹ seconds
//! younger per priority point. Since every held step ages at the same rate, the order
//! of two held steps never changes, and one rank fixed on entry orders the heap.
//!
//! Shared caps (a store several processes share, PostgreSQL): a cap's limit is then for
//! every process together, and a process may let out only as many of a cap's steps as it
//! holds slots of it in the database ([`Gate::share_caps`], `limits.rs`). A step parked for
//! want of a slot asks for more ([`Gate::trade`] gathers what to ask and what to hand back;
//! the orchestrator's broker thread trades with the store and answers with
//! [`Gate::granted`]). A step's caps are checked in one order (by name, the same in every
//! process), and it parks on the first whose slots are all in use here. A slot is kept while
//! steps of this process are parked on its cap, or parked on a later cap of theirs having
//! found this one free (so a step needing two caps does not hand back the first while it
//! asks for the second, then the second while it asks for the first again); otherwise it
//! is handed back, so an idle process holds none. Since a step waits only on caps after
//! those it keeps, two processes never wait on each other (no deadlock).
//!
//! A held step stays handed out (in flight, `in_process`): the task rules do not know the
//! gate exists. It must not send anything itself: it returns steps to the orchestrator.

mod broker;
mod fence;
mod limits;
mod linger;
mod slots;
#[cfg(test)]
mod tests;

pub use broker::{CapAnswer, CapBroker, CapTrade, HeldRead};
pub use fence::READ_AGAIN;
use limits::KEY_CAP_PREFIX;
pub use limits::{Cap, Limits};
pub use linger::linger_limit;

use crate::inflight::InflightStep;
use crate::work::ReadyStep;
use rustc_hash::FxHashMap;
use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// Most steps kept queued for a pool whose workers and batch size the gate was not told
/// (`take_steps` callers without a pool): deep enough that takers never wait for a refill.
pub const DEPTH: usize = 256;

/// Batches per worker a pool's queue holds once the gate knows the pool
/// ([`Gate::set_depth`]): one for each worker to take while the start of its last batch is
/// still on its way to the orchestrator (which refills the queue on it), one to spare. On
/// the no-op throughput bench, depths of one batch, two and 256 steps per 4 workers did not
/// differ beyond the noise, and two cost 0.5 % more instructions per step than 256
/// (docs/benchmarks.md, "Dispatch gate").
pub const QUEUED_BATCHES: usize = 2;

/// The queue depth for a pool of `workers` taking up to `batch` steps at a time.
pub fn pool_depth(workers: usize, batch: usize) -> usize {
    workers
        .max(1)
        .saturating_mul(batch.max(1))
        .saturating_mul(QUEUED_BATCHES)
}

/// How much a held step's priority grows per second it waits.
pub const AGING_PER_SECOND: i64 = 1;

/// What a pause names: a whole namespace, or one template (by name) in a namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PauseKey {
    pub namespace: String,
    pub template: Option<String>,
}

impl PauseKey {
    fn covers(&self, step: &ReadyStep) -> bool {
        *self.namespace == *step.template.namespace
            && self
                .template
                .as_deref()
                .is_none_or(|t| t == &*step.template.task_name)
    }
}

/// One held step.
#[derive(Debug)]
struct Held {
    /// priority × 1000 − milliseconds since the gate began, at entry: higher goes first.
    rank: i64,
    seq: u64,
    lane: usize,
    caps: Vec<Cap>,
    step: ReadyStep,
}

impl Held {
    fn at(&self) -> InflightStep {
        self.step.inflight()
    }
}

impl PartialEq for Held {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Held {}
impl PartialOrd for Held {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Held {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank
            .cmp(&other.rank)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// Counts one more step out against cap `name` (cloning its name only for its first).
fn count_in(running: &mut FxHashMap<Arc<str>, u32>, name: &Arc<str>) {
    match running.get_mut(name) {
        Some(n) => *n += 1,
        None => {
            running.insert(name.clone(), 1);
        }
    }
}

/// Lanes: 0 the thread pool's queue, 1 the Ractor pool's, 2 task routes (no depth limit).
const LANES: usize = 3;
const ROUTED: usize = 2;

/// See the module documentation.
#[derive(Debug)]
pub struct Gate {
    limits: Limits,
    /// Most steps kept queued, per pool (lanes 0 and 1).
    depth: [usize; 2],
    epoch: Instant,
    seq: u64,
    lanes: [BinaryHeap<Held>; LANES],
    /// Held steps by where they belong → their entry's `seq` (an entry whose seq is not
    /// here any more is stale: its step was taken back).
    held: FxHashMap<InflightStep, u64>,
    pauses: Vec<PauseKey>,
    parked_paused: Vec<Held>,
    parked_capped: HashMap<Arc<str>, BinaryHeap<Held>>,
    /// Steps out (queued or running) per cap (FxHash: looked up per capped step).
    running: FxHashMap<Arc<str>, u32>,
    /// The caps each released step counts against, until it is reported.
    holding: FxHashMap<InflightStep, Vec<Cap>>,
    /// The caps of attempts the engine stopped waiting for, until their handlers return
    /// (`linger.rs`), each with the token of its lingering, oldest first (the same
    /// attempt number can linger twice after a task retry or step reset).
    lingering: FxHashMap<InflightStep, Vec<(Vec<Cap>, u64)>>,
    /// `Some` when caps are shared with other processes: the slots held per cap.
    slots: Option<HashMap<Arc<str>, Vec<i32>>>,
    /// Caps a step parked on for want of a slot, not asked for yet (with their limits).
    wants: HashMap<Arc<str>, u32>,
    /// Caps asked for and not answered yet (no second request meanwhile).
    asked: HashSet<Arc<str>>,
    /// Slots to hand back with the next trade.
    returns: Vec<(Arc<str>, i32)>,
    /// Caps whose slots may be more than this process needs, looked at by the next trade
    /// (after the refill that follows has let out the steps those slots were freed for).
    settle: HashSet<Arc<str>>,
    /// Per cap, the steps parked on a later cap of theirs that found this one free: its
    /// slots are kept for them.
    passed: HashMap<Arc<str>, u32>,
    /// `Some` when slots are used only while a read of the store says they are still held
    /// (`fence.rs`).
    fence: Option<fence::Fence>,
}

impl Gate {
    /// A gate enforcing `limits`, keeping at most `depth` steps queued per pool until
    /// [`Gate::set_depth`] says otherwise.
    pub fn new(limits: Limits, depth: usize) -> Gate {
        Gate {
            limits,
            depth: [depth.max(1); 2],
            epoch: Instant::now(),
            seq: 0,
            lanes: Default::default(),
            held: FxHashMap::default(),
            pauses: Vec::new(),
            parked_paused: Vec::new(),
            parked_capped: HashMap::new(),
            running: FxHashMap::default(),
            holding: FxHashMap::default(),
            lingering: FxHashMap::default(),
            slots: None,
            wants: HashMap::new(),
            asked: HashSet::new(),
            returns: Vec::new(),
            settle: HashSet::new(),
            passed: HashMap::new(),
            fence: None,
        }
    }

    /// Milliseconds since the gate began (the clock aging reads).
    pub fn now_ms(&self) -> i64 {
        self.epoch.elapsed().as_millis() as i64
    }

    /// Keeps at most `depth` steps queued for `pool` (0 threads, 1 Ractors) from now on.
    pub fn set_depth(&mut self, pool: usize, depth: usize) {
        self.depth[pool] = depth.max(1);
    }

    /// Most steps kept queued for `pool`.
    pub fn depth(&self, pool: usize) -> usize {
        self.depth[pool]
    }

    /// True when no step waits in a lane (parked steps wait for a resume or a finish).
    pub fn is_idle(&self) -> bool {
        self.lanes.iter().all(BinaryHeap::is_empty)
    }

    /// Whether `step` goes straight to its queue, which holds `queued` steps now (the fast
    /// path); when it does, its caps (if any) are counted from here until
    /// [`Gate::finished`]. A step goes straight when its lane is empty, nothing is paused
    /// and its queue is below its depth; a capped one also needs its caps counted in this
    /// process alone, nothing waiting ahead of it in any lane or parked on a cap (a finish
    /// moves a parked step back to its lane before the next step is offered, and that step
    /// must not take the room it was waiting for), and room in each of its caps: what
    /// [`Gate::hold`] then [`Gate::release`] would do with it, without the heap, the held
    /// map and the clock (issue 17's per-step cost of a limit in use). Caps shared with
    /// other processes always take the held path (slots, fence).
    pub fn pass(&mut self, step: &ReadyStep, routed: bool, queued: usize) -> bool {
        let lane = lane_of(step, routed);
        if !(self.lanes[lane].is_empty()
            && self.pauses.is_empty()
            && (lane == ROUTED || queued < self.depth[lane]))
        {
            return false;
        }
        if self.limits.is_empty() {
            return true;
        }
        if self.slots.is_some() || !self.parked_capped.is_empty() || !self.is_idle() {
            return !self.limits.apply_to(step);
        }
        let caps = self.limits.caps_of(step);
        match &caps[..] {
            [] => return true,
            // One cap (the usual case): its count looked up once, to check and count in.
            [(name, limit)] => match self.running.get_mut(name) {
                Some(n) if *n >= *limit => return false,
                Some(n) => *n += 1,
                None => drop(self.running.insert(name.clone(), 1)),
            },
            _ => {
                let full = caps
                    .iter()
                    .any(|(name, limit)| self.running.get(name).copied().unwrap_or(0) >= *limit);
                if full {
                    return false;
                }
                for (name, _) in &caps {
                    count_in(&mut self.running, name);
                }
            }
        }
        self.holding.insert(step.inflight(), caps);
        true
    }

    /// Holds `step` (of a task of `priority`) until [`Gate::release`] lets it out.
    pub fn hold(&mut self, step: ReadyStep, priority: i32, routed: bool, now_ms: i64) {
        self.seq += 1;
        let held = Held {
            rank: priority as i64 * 1000 / AGING_PER_SECOND.max(1) - now_ms,
            seq: self.seq,
            lane: lane_of(&step, routed),
            caps: self.limits.caps_of(&step),
            step,
        };
        self.held.insert(held.at(), held.seq);
        self.lanes[held.lane].push(held);
    }

    /// The held steps that may go out now, best first: `queued` is how many steps each
    /// pool's queue holds. Caps are counted from here until [`Gate::finished`].
    pub fn release(&mut self, queued: [usize; 2]) -> Vec<ReadyStep> {
        self.unpark_where_room();
        let mut out = Vec::new();
        // Whether shared slots may be used now (`fence.rs`), looked at once per call.
        let mut fenced: Option<bool> = None;
        for lane in 0..LANES {
            let mut room = match lane {
                ROUTED => usize::MAX,
                pool => self.depth[pool].saturating_sub(queued[pool]),
            };
            while room > 0 {
                let Some(h) = self.lanes[lane].pop() else {
                    break;
                };
                if self.held.get(&h.at()) != Some(&h.seq) {
                    continue;
                }
                if self.pauses.iter().any(|p| p.covers(&h.step)) {
                    self.parked_paused.push(h);
                    continue;
                }
                if self.slots.is_some() && !h.caps.is_empty() {
                    if fenced.is_none() {
                        fenced = Some(self.fence_holds());
                    }
                    if fenced == Some(false) {
                        // Not known to hold its slots any more: wait for the store's word.
                        let first = h.caps[0].0.clone();
                        self.parked_capped.entry(first).or_default().push(h);
                        continue;
                    }
                }
                let full = h.caps.iter().find(|(name, limit)| {
                    self.running.get(name).copied().unwrap_or(0) >= self.allowed(name, *limit)
                });
                if let Some((name, limit)) = full {
                    let (name, limit) = (name.clone(), *limit);
                    if self.slots.is_some() {
                        if !self.asked.contains(&name) {
                            self.wants.insert(name.clone(), limit);
                        }
                        for (cap, _) in h.caps.iter().take_while(|(c, _)| *c != name) {
                            *self.passed.entry(cap.clone()).or_default() += 1;
                        }
                    }
                    self.parked_capped.entry(name).or_default().push(h);
                    continue;
                }
                self.held.remove(&h.at());
                for (name, _) in &h.caps {
                    count_in(&mut self.running, name);
                }
                if !h.caps.is_empty() {
                    self.holding.insert(h.at(), h.caps);
                }
                out.push(h.step);
                room -= 1;
            }
        }
        out
    }

    /// Step `at` was reported (or taken back, or put back into the gate): its caps are
    /// free, and as many steps parked on them move back to their lanes.
    pub fn finished(&mut self, at: InflightStep) {
        if self.holding.is_empty() {
            return;
        }
        let Some(caps) = self.holding.remove(&at) else {
            return;
        };
        self.free_caps(caps);
    }

    /// Caps of a step that no longer count: as many steps parked on them move back to
    /// their lanes.
    fn free_caps(&mut self, caps: Vec<Cap>) {
        for (name, limit) in caps {
            let running = match self.running.get_mut(&name) {
                Some(n) => {
                    *n = n.saturating_sub(1);
                    *n
                }
                None => 0,
            };
            // A handler's or a namespace's count stays, at 0: there are only as many as the
            // limits name, and removing it for the next step to insert it again was most of
            // a capped step's counting when its steps run one at a time (issue 17). A key's
            // caps are named per value, without bound, so theirs go.
            if running == 0 && name.starts_with(KEY_CAP_PREFIX) {
                self.running.remove(&name);
            }
            let room = self.allowed(&name, limit).saturating_sub(running);
            self.unpark(&name, room);
            if self.slots.is_some() {
                self.settle.insert(name);
            }
        }
    }

    /// Step `at` is no longer handed out (a manual operation moved it): a held entry of it
    /// is dropped when met, its caps are free.
    pub fn forget(&mut self, at: InflightStep) {
        self.held.remove(&at);
        self.finished(at);
    }

    /// Pauses `key`; false when it was paused already.
    pub fn pause(&mut self, key: PauseKey) -> bool {
        if self.pauses.contains(&key) {
            return false;
        }
        self.pauses.push(key);
        self.pauses.sort();
        true
    }

    /// Resumes `key`: its parked steps move back to their lanes (a step another pause
    /// still covers parks again when met). False when it was not paused.
    pub fn resume(&mut self, key: &PauseKey) -> bool {
        let Some(i) = self.pauses.iter().position(|p| p == key) else {
            return false;
        };
        self.pauses.remove(i);
        for h in std::mem::take(&mut self.parked_paused) {
            self.lanes[h.lane].push(h);
        }
        true
    }

    /// What is paused, sorted.
    pub fn paused(&self) -> Vec<PauseKey> {
        self.pauses.clone()
    }

    /// Whether anything is paused (the orchestrator then pulls queued steps back in).
    pub fn any_paused(&self) -> bool {
        !self.pauses.is_empty()
    }

    /// How many steps are held (in lanes or parked, stale entries aside).
    pub fn held_count(&self) -> usize {
        self.held.len()
    }

    /// Drops every held step and count (the engine is stopping: the shutdown sweep hands
    /// back what was held, since it is still in flight).
    pub fn clear(&mut self) {
        self.lanes = Default::default();
        self.held.clear();
        self.parked_paused.clear();
        self.parked_capped.clear();
        self.running.clear();
        self.holding.clear();
        self.lingering.clear();
        // Slots stay held in the store until it closes (their process row goes, and
        // with it its slots): nothing is handed back from a stopping engine.
        if let Some(slots) = &mut self.slots {
            slots.clear();
        }
        self.wants.clear();
        self.asked.clear();
        self.returns.clear();
        self.settle.clear();
        self.passed.clear();
    }
}

fn lane_of(step: &ReadyStep, routed: bool) -> usize {
    if routed {
        ROUTED
    } else {
        step.execution().index()
    }
}
