//! The heaviest root-to-leaf path, by dynamic programming over the topological order: the
//! critical path by recorded time.
//!
//! Paths compare by `(total weight, number of steps)` rather than weight alone, which
//! matters when weights tie — most often when none are recorded yet: the answer is then the
//! longest path rather than a lone root. (The longest path by step count alone is
//! [`Dag::longest_path`], read off the levels.)

use crate::dag::Dag;

/// The path maximising `(sum of weight, number of steps)`, root first, and its total weight.
/// Ties go to the earlier end step, then at each join to the earlier parent, so the answer
/// is stable. Steps on or after a cycle are not considered. `weight` must be finite and ≥ 0
/// (callers sanitise recorded durations). Linear in steps + edges.
pub(crate) fn heaviest_path(dag: &Dag, weight: impl Fn(u32) -> f64) -> (Vec<u32>, f64) {
    /// Best path ending at a step: its weight, its step count, the parent it comes through.
    #[derive(Clone, Copy)]
    struct Best {
        total: f64,
        steps: u32,
        via: u32,
    }
    const NONE: u32 = u32::MAX;
    // `a` beats `b`: heavier, else longer, else (the caller checks) earlier.
    fn beats(a: &Best, b: &Best) -> Option<bool> {
        if a.total != b.total {
            Some(a.total > b.total)
        } else if a.steps != b.steps {
            Some(a.steps > b.steps)
        } else {
            None
        }
    }

    let mut best = vec![
        Best {
            total: 0.0,
            steps: 0,
            via: NONE,
        };
        dag.len()
    ];
    let mut end: Option<u32> = None;
    for &v in dag.topological_order() {
        // Kahn's order holds only steps whose parents are all ordered, so every parent's
        // entry is final here.
        let mut pick = NONE;
        for &p in dag.parents_of(v) {
            if pick == NONE || beats(&best[p as usize], &best[pick as usize]).unwrap_or(p < pick) {
                pick = p;
            }
        }
        let base = if pick == NONE {
            Best {
                total: 0.0,
                steps: 0,
                via: NONE,
            }
        } else {
            best[pick as usize]
        };
        let here = Best {
            total: base.total + weight(v),
            steps: base.steps + 1,
            via: pick,
        };
        best[v as usize] = here;
        end = match end {
            Some(e) if !beats(&here, &best[e as usize]).unwrap_or(v < e) => Some(e),
            _ => Some(v),
        };
    }

    let Some(end) = end else {
        return (Vec::new(), 0.0);
    };
    let mut path = vec![end];
    let mut at = end;
    while best[at as usize].via != NONE {
        at = best[at as usize].via;
        path.push(at);
    }
    path.reverse();
    (path, best[end as usize].total)
}
