//! How many unfinished steps lie downstream of each step, for every step at once.
//!
//! Counting the transitive descendants of *every* node has no linear algorithm in general
//! (descendant sets overlap wherever branches merge), and a breadth-first search per step is
//! O(steps × edges): seconds for 10,000 steps. Instead the targets (the unfinished steps) are
//! taken in blocks of [`BLOCK`] in topological order, and one backward pass per block
//! computes, for every step, a bit mask of the block's targets it reaches: a step's mask is
//! the OR of its children's. That is O(steps × edges / BLOCK) word operations over a
//! working set of one mask per step, which stays in cache.
//!
//! Three facts keep the passes short. Descendants come later in topological order, so a
//! pass stops at its block's last target, and a step's children (sorted) are read only up to
//! there. Only steps downstream of an unsatisfied step (the `relevant` ones) can have
//! unfinished descendants worth counting, so they alone are renumbered into the dense arrays
//! the passes sweep, and a task that is mostly done costs little. And a mask is written only
//! by a pass whose block ends at or after it, with blocks going forwards, so masks past the
//! current block's end still hold zero: nothing is cleared between passes.
//!
//! The same masks give the blocked steps of each error step, so error chains cost no second
//! traversal; they are gathered in per-error bit sets over step indices, which come out in
//! step order without sorting.

use crate::dag::Dag;

/// Words per mask: 16 (1,024 targets a pass, two cache lines per step) measured fastest on
/// 10,000-step chain-like, wide and layered graphs, against 2, 4 and 8.
const W: usize = 16;
/// Targets per pass.
const BLOCK: usize = 64 * W;

type Mask = [u64; W];

/// Marks a step whose descendants are not listed.
pub(crate) const NOT_LISTED: u32 = u32::MAX;

/// Descendant counts, and lists for some steps.
pub(crate) struct Reach {
    /// Per step: how many target steps are strictly downstream of it (0 unless relevant).
    pub counts: Vec<u32>,
    /// Per listed slot: the target steps strictly downstream of it, in step order.
    pub lists: Vec<Vec<u32>>,
}

/// Counts, for every relevant step, the target steps strictly downstream of it; lists them
/// for the steps `slot` maps to a slot (`0..slots`). `dag` must be acyclic. `target`,
/// `relevant` and `slot` are per step; every child of a relevant step must be relevant.
pub(crate) fn downstream_targets(
    dag: &Dag,
    target: &[bool],
    relevant: &[bool],
    slot: &[u32],
    slots: usize,
) -> Reach {
    let mut counts = vec![0u32; dag.len()];
    let g = Compact::new(dag, target, relevant, slot);
    if g.targets.is_empty() {
        return Reach {
            counts,
            lists: vec![Vec::new(); slots],
        };
    }
    let mut work = Work {
        masks: vec![[0; W]; g.nodes.len()],
        counts: vec![0; g.nodes.len()],
        sets: vec![vec![0; dag.len().div_ceil(64)]; slots],
    };
    for (block, chunk) in g.targets.chunks(BLOCK).enumerate() {
        g.pass(block, chunk, &mut work);
    }
    for (q, &v) in g.nodes.iter().enumerate() {
        counts[v as usize] = work.counts[q];
    }
    let lists = work.sets.iter().map(|set| members(set)).collect();
    Reach { counts, lists }
}

/// What the passes write.
struct Work {
    /// Per compact index: the current block's targets it reaches (itself included).
    masks: Vec<Mask>,
    /// Per compact index: targets strictly downstream, summed over the blocks so far.
    counts: Vec<u32>,
    /// Per listed slot: a bit set over step indices.
    sets: Vec<Vec<u64>>,
}

/// The relevant steps renumbered `0..len` in topological order, so a pass is one backward
/// sweep over dense arrays with no steps to skip.
struct Compact {
    /// Step of each compact index.
    nodes: Vec<u32>,
    child_offsets: Vec<usize>,
    /// Children as compact indices, ascending per step.
    children: Vec<u32>,
    /// Per compact index: its rank among the targets, or `u32::MAX`.
    rank: Vec<u32>,
    /// Per compact index: its list slot, or [`NOT_LISTED`].
    slot: Vec<u32>,
    /// Targets as compact indices, ascending.
    targets: Vec<u32>,
}

impl Compact {
    fn new(dag: &Dag, target: &[bool], relevant: &[bool], slot: &[u32]) -> Compact {
        let nodes: Vec<u32> = dag
            .topological_order()
            .iter()
            .copied()
            .filter(|&v| relevant[v as usize])
            .collect();
        let mut index = vec![u32::MAX; dag.len()];
        for (q, &v) in nodes.iter().enumerate() {
            index[v as usize] = q as u32;
        }
        let mut child_offsets = Vec::with_capacity(nodes.len() + 1);
        let mut children = Vec::with_capacity(dag.edge_count());
        child_offsets.push(0);
        for &v in &nodes {
            let start = children.len();
            children.extend(dag.children_of(v).iter().map(|&c| index[c as usize]));
            children[start..].sort_unstable();
            child_offsets.push(children.len());
        }
        let mut rank = vec![u32::MAX; nodes.len()];
        let mut targets = Vec::new();
        for (q, &v) in nodes.iter().enumerate() {
            if target[v as usize] {
                rank[q] = targets.len() as u32;
                targets.push(q as u32);
            }
        }
        let slot = nodes.iter().map(|&v| slot[v as usize]).collect();
        Compact {
            nodes,
            child_offsets,
            children,
            rank,
            slot,
            targets,
        }
    }

    /// [`Compact::pass_body`], compiled for AVX2 and POPCNT when the CPU has them: counting
    /// bits is much of a pass, and the x86-64 baseline has no popcount instruction.
    fn pass(&self, block: usize, chunk: &[u32], work: &mut Work) {
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt") {
            // SAFETY: the features the function is compiled for were just detected.
            unsafe { self.pass_avx2(block, chunk, work) };
            return;
        }
        self.pass_body(block, chunk, work);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,popcnt")]
    unsafe fn pass_avx2(&self, block: usize, chunk: &[u32], work: &mut Work) {
        self.pass_body(block, chunk, work);
    }

    /// One block of targets (`chunk`, compact indices): every index up to the block's last
    /// target gets the mask of the block's targets strictly below it (counted, and recorded
    /// for listed steps), then its own bit. Blocks must come in increasing order.
    #[inline(always)]
    fn pass_body(&self, block: usize, chunk: &[u32], work: &mut Work) {
        let first_rank = (block * BLOCK) as u32;
        let last = chunk.last().map_or(0, |&t| t as usize);
        let masks = &mut work.masks;
        for q in (0..=last).rev() {
            let mut acc: Mask = [0; W];
            for &c in &self.children[self.child_offsets[q]..self.child_offsets[q + 1]] {
                if c as usize > last {
                    break; // this child and the rest still hold zero
                }
                acc = or(acc, &masks[c as usize]);
            }
            if acc.iter().any(|&w| w != 0) {
                work.counts[q] += acc.iter().map(|w| w.count_ones()).sum::<u32>();
                let s = self.slot[q];
                if s != NOT_LISTED {
                    record(&acc, chunk, &self.nodes, &mut work.sets[s as usize]);
                }
            }
            // Non-targets have rank u32::MAX, which wraps to far past any block.
            let bit = self.rank[q].wrapping_sub(first_rank) as usize;
            if bit < BLOCK {
                acc[bit / 64] |= 1 << (bit % 64);
            }
            masks[q] = acc;
        }
    }
}

/// `a | b`, written so the accumulator stays in registers: an indexed loop over the array
/// made the compiler keep it on the stack, and a join with thousands of parents paid a
/// store-to-load round trip per parent.
#[inline(always)]
fn or(a: Mask, b: &Mask) -> Mask {
    std::array::from_fn(|i| a[i] | b[i])
}

/// Adds the steps of the targets set in `mask` to the bit set `set`.
fn record(mask: &Mask, chunk: &[u32], nodes: &[u32], set: &mut [u64]) {
    for (w, &word) in mask.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if let Some(&t) = chunk.get(w * 64 + b) {
                let step = nodes[t as usize] as usize;
                set[step / 64] |= 1 << (step % 64);
            }
        }
    }
}

/// The members of a bit set, ascending.
fn members(set: &[u64]) -> Vec<u32> {
    let mut out = Vec::new();
    for (w, &word) in set.iter().enumerate() {
        let mut bits = word;
        while bits != 0 {
            out.push((w * 64) as u32 + bits.trailing_zeros());
            bits &= bits - 1;
        }
    }
    out
}
