//! The gate's rules, driven by hand: order, aging, depth, caps, pauses, stale entries.

use super::*;
use crate::inflight::AttemptId;
use crate::registry::RegisteredTemplate;
use serde_json::json;
use tasker_model::{StepId, TaskId, TaskTemplate};

fn template(namespace: &str, name: &str, handler: &str) -> Arc<RegisteredTemplate> {
    let yaml = format!(
        "name: {name}\nnamespace_name: {namespace}\nstep_templates:\n - {{name: a, handler_class: {handler}}}\n"
    );
    let t = TaskTemplate::from_yaml(&yaml, "t.yaml").unwrap();
    Arc::new(RegisteredTemplate::compile(t).unwrap())
}

fn step(t: &Arc<RegisteredTemplate>, task: i64, context: serde_json::Value) -> ReadyStep {
    ReadyStep {
        task_id: TaskId(task),
        step_id: StepId(task * 10),
        index: 0,
        attempt: 1,
        // One hand-out per task here: its id follows the task's, as `at` says.
        attempt_id: AttemptId(task as u64),
        retry_limit: 3,
        template: t.clone(),
        task_context: Arc::new(context),
        parent_results: Vec::new(),
        timeout: None,
    }
}

fn at(task: i64) -> InflightStep {
    InflightStep {
        task_id: TaskId(task),
        index: 0,
        attempt: 1,
        id: AttemptId(task as u64),
    }
}

fn ids(steps: &[ReadyStep]) -> Vec<i64> {
    steps.iter().map(|s| s.task_id.0).collect()
}

/// A pause of a namespace, or of one template of it.
fn pause_key(namespace: &str, template: Option<&str>) -> PauseKey {
    PauseKey {
        namespace: namespace.into(),
        template: template.map(Into::into),
    }
}

/// A gate under the limits `json` names (as the engine's `concurrency` setting), deep
/// enough (100) that only those limits hold a step back.
fn limited(json: serde_json::Value) -> Gate {
    Gate::new(Limits::from_json(&json).unwrap(), 100)
}

/// A step of task `task` with an empty context: the gate reads a context only for key caps.
fn plain(t: &Arc<RegisteredTemplate>, task: i64) -> ReadyStep {
    step(t, task, json!({}))
}

/// Holds a plain step of each of `tasks`, in order, at priority 0 and time 0: a line in
/// which only arrival order counts.
fn hold_all(g: &mut Gate, t: &Arc<RegisteredTemplate>, tasks: impl IntoIterator<Item = i64>) {
    for task in tasks {
        g.hold(plain(t, task), 0, false, 0);
    }
}

/// The tasks of the steps a release lets out when neither pool has anything queued.
fn released(g: &mut Gate) -> Vec<i64> {
    ids(&g.release([0, 0]))
}

/// Finishes task `task`'s step, then releases: the tasks whose steps go out after it.
fn finish_and_release(g: &mut Gate, task: i64) -> Vec<i64> {
    g.finished(at(task));
    released(g)
}

/// What [`released`] returns when nothing may go out.
const NOTHING: Vec<i64> = Vec::new();

/// The template of the capped handler most tests use.
fn payments() -> Arc<RegisteredTemplate> {
    template("ns", "t", "PaymentHandler")
}

/// A gate (depth 100) that runs at most `cap` steps of `PaymentHandler` at once.
fn payment_cap(cap: u32) -> Gate {
    limited(json!({"handlers": {"PaymentHandler": cap}}))
}

/// [`payment_cap`] shared with other processes through the store, with its slots fenced: a
/// slot is used only while a read of the store says this process still holds it.
fn fenced_payment_cap(cap: u32) -> Gate {
    let mut g = payment_cap(cap);
    g.share_caps();
    g.fence_slots();
    g
}

/// A gate without limits (depth 10) holding a plain step of each `(task, priority, held at
/// ms)`, in that order: a line that only priority, aging and arrival order rank.
fn ranked(holds: &[(i64, i32, i64)]) -> Gate {
    let t = template("ns", "t", "H");
    let mut g = Gate::new(Limits::default(), 10);
    for &(task, priority, now_ms) in holds {
        g.hold(plain(&t, task), priority, false, now_ms);
    }
    g
}

#[test]
fn higher_priority_first_then_first_come() {
    let mut g = ranked(&[(1, 0, 0), (2, 5, 0), (3, 0, 0), (4, 5, 0)]);
    assert_eq!(released(&mut g), vec![2, 4, 1, 3]);
    assert!(g.is_idle());
    assert_eq!(g.held_count(), 0);
}

#[test]
fn aging_lets_an_old_low_priority_step_overtake() {
    // Priority 0 held 3 s before a priority-2 step: 3 s of aging beat 2 points (task 1
    // before 2), but not 5 (task 3 first).
    let mut g = ranked(&[(1, 0, 0), (2, 2, 3_000), (3, 5, 3_000)]);
    assert_eq!(released(&mut g), vec![3, 1, 2]);
}

#[test]
fn depth_limits_what_goes_out_and_the_fast_path_respects_it() {
    let t = template("ns", "t", "H");
    let mut g = Gate::new(Limits::default(), 2);
    assert!(g.pass(&plain(&t, 1), false, 1));
    assert!(!g.pass(&plain(&t, 1), false, 2));
    // Routes have no depth.
    assert!(g.pass(&plain(&t, 1), true, 99));
    hold_all(&mut g, &t, 1..=4);
    assert_eq!(ids(&g.release([1, 0])), vec![1]);
    // Something is held: a new step may not jump the line.
    assert!(!g.pass(&plain(&t, 9), false, 0));
    assert_eq!(released(&mut g), vec![2, 3]);
    assert_eq!(released(&mut g), vec![4]);
    assert!(g.pass(&plain(&t, 9), false, 0));
}

#[test]
fn a_sized_pool_keeps_its_own_depth_and_the_other_pool_the_default() {
    let t = template("ns", "t", "H");
    let mut g = Gate::new(Limits::default(), DEPTH);
    assert_eq!(pool_depth(4, 16), 4 * 16 * QUEUED_BATCHES);
    assert_eq!(pool_depth(0, 0), QUEUED_BATCHES);
    g.set_depth(0, pool_depth(1, 2));
    assert_eq!(g.depth(0), 2 * QUEUED_BATCHES);
    assert_eq!(g.depth(1), DEPTH);
    let depth = g.depth(0);
    assert!(g.pass(&plain(&t, 1), false, depth - 1));
    assert!(!g.pass(&plain(&t, 1), false, depth));
    hold_all(&mut g, &t, 1..=10);
    assert_eq!(g.release([0, 0]).len(), depth);
    assert_eq!(g.release([depth, 0]).len(), 0);
}

#[test]
fn a_full_cap_parks_steps_until_one_finishes() {
    let t = payments();
    let other = template("ns", "u", "Other");
    let mut g = payment_cap(2);
    // A step no cap applies to passes (a capped one with room does too: see
    // a_capped_step_with_room_passes_counted_and_never_past_its_cap).
    assert!(g.pass(&plain(&other, 1), false, 0));
    hold_all(&mut g, &t, 1..=5);
    g.hold(plain(&other, 6), 0, false, 0);
    assert_eq!(released(&mut g), vec![1, 2, 6]);
    assert!(g.is_idle(), "the capped ones are parked, not in a lane");
    assert_eq!(released(&mut g), NOTHING);
    assert_eq!(finish_and_release(&mut g, 1), vec![3]);
    g.finished(at(2));
    assert_eq!(finish_and_release(&mut g, 3), vec![4, 5]);
    assert_eq!(g.held_count(), 0);
}

#[test]
fn a_capped_step_with_room_passes_counted_and_never_past_its_cap() {
    let t = payments();
    let mut g = payment_cap(2);
    assert!(g.pass(&plain(&t, 1), false, 0));
    assert!(g.pass(&plain(&t, 2), false, 0));
    // Full: the third is held, and parked when the gate looks at it.
    assert!(!g.pass(&plain(&t, 3), false, 0));
    g.hold(plain(&t, 3), 0, false, 0);
    assert_eq!(released(&mut g), NOTHING);
    // Room again, but step 3 waited first: a new step does not pass it.
    g.finished(at(1));
    assert!(!g.pass(&plain(&t, 4), false, 0));
    assert_eq!(released(&mut g), vec![3]);
    // Full again (2 and 3 out); a forgotten step's cap is free like a finished one's.
    assert!(!g.pass(&plain(&t, 4), false, 0));
    g.forget(at(2));
    assert!(g.pass(&plain(&t, 4), false, 0));
    assert!(!g.pass(&plain(&t, 5), false, 0));
    // The queue's depth and a pause still stop it.
    g.finished(at(3));
    assert!(!g.pass(&plain(&t, 5), false, 100));
    g.pause(pause_key("ns", None));
    assert!(!g.pass(&plain(&t, 5), false, 0));
}

#[test]
fn a_handlers_count_stays_at_zero_and_a_keys_goes_and_both_caps_still_hold() {
    // Issue 17's per-step cost: a handler's (or namespace's) count is not removed at 0 and
    // inserted again by the next step; a key's caps are named per value, so theirs go (or
    // the map would grow with every value ever seen). One step with two caps takes the
    // path that checks every cap before counting any.
    let t = payments();
    let mut g = limited(json!({"handlers": {"PaymentHandler": 1}, "keys": {"account": 1}}));
    let handler: Arc<str> = "handler:PaymentHandler".into();
    let key: Arc<str> = "key:account=7".into();
    for round in 0..3 {
        let task = 1 + round * 2;
        assert!(g.pass(&step(&t, task, json!({"account": 7})), false, 0));
        assert_eq!(g.running.get(&handler), Some(&1));
        assert_eq!(g.running.get(&key), Some(&1));
        // Either cap full stops the next step, and counts nothing for it.
        assert!(!g.pass(&step(&t, task + 1, json!({"account": 7})), false, 0));
        assert!(!g.pass(&plain(&t, task + 1), false, 0));
        assert_eq!(g.running.get(&handler), Some(&1));
        g.finished(at(task));
        assert_eq!(g.running.get(&handler), Some(&0));
        assert_eq!(g.running.get(&key), None);
    }
    // A step with only the handler's cap: one lookup, which sees the kept 0 as room.
    assert!(g.pass(&plain(&t, 20), false, 0));
    assert!(!g.pass(&plain(&t, 21), false, 0));
    assert_eq!(g.running.get(&handler), Some(&1));
    assert_eq!(g.running.len(), 1);
}

#[test]
fn a_step_of_another_lane_does_not_take_the_room_a_waiting_step_was_given() {
    // Review of the fast path: a finish moves the parked step back to its lane before the
    // orchestrator offers the next step; a routed (or Ractor) step of the same cap must not
    // pass it by, or a stream of them would starve the thread pool's step.
    let t = payments();
    let mut g = payment_cap(1);
    assert!(g.pass(&plain(&t, 1), false, 0));
    g.hold(plain(&t, 2), 9, false, 0);
    assert_eq!(released(&mut g), NOTHING);
    g.finished(at(1));
    assert!(!g.pass(&plain(&t, 3), true, 0));
    assert_eq!(released(&mut g), vec![2]);
}

#[test]
fn caps_shared_with_other_processes_never_pass_straight() {
    let t = payments();
    let other = template("ns", "u", "Other");
    let mut g = payment_cap(2);
    g.share_caps();
    // Slots are traded with the store first: the held path, never the fast one.
    assert!(!g.pass(&plain(&t, 1), false, 0));
    assert!(g.pass(&plain(&other, 2), false, 0));
}

#[test]
fn a_step_given_up_keeps_its_caps_until_its_handler_returns() {
    let t = payments();
    let mut g = payment_cap(1);
    hold_all(&mut g, &t, 1..=3);
    assert_eq!(released(&mut g), vec![1]);
    // The engine stops waiting for step 1 (timed out): its handler may still run.
    assert!(g.holds_caps(&at(1)));
    let token = g.linger(at(1)).expect("it held caps");
    assert!(!g.holds_caps(&at(1)) && g.lingers(&at(1)));
    assert_eq!(finish_and_release(&mut g, 1), NOTHING, "still counted");
    // Its handler returns: the cap is free.
    assert!(g.returned(at(1), None));
    assert_eq!(released(&mut g), vec![2]);
    // A limit's timer for an earlier lingering of the same attempt changes nothing.
    assert!(!g.returned(at(1), Some(token)));
    // Step 2 never returns: its linger limit frees the cap, once.
    let token = g.linger(at(2)).expect("it held caps");
    assert!(!g.returned(at(2), Some(token + 1)));
    assert_eq!(released(&mut g), NOTHING);
    assert!(g.returned(at(2), Some(token)));
    assert!(!g.returned(at(2), None));
    assert_eq!(released(&mut g), vec![3]);
    // Nothing lingers for a step without caps.
    assert_eq!(g.linger(at(9)), None);
}

#[test]
fn the_same_attempt_lingering_twice_frees_both_caps() {
    // After a task retry or step reset the attempt numbers start again, so the same
    // (task, index, attempt) can be given up twice while the first handler still runs.
    let t = payments();
    let mut g = payment_cap(2);
    let mut tokens = Vec::new();
    for _ in 0..2 {
        g.hold(plain(&t, 1), 0, false, 0);
        assert_eq!(released(&mut g), vec![1]);
        tokens.push(g.linger(at(1)).expect("it held caps"));
        g.finished(at(1));
    }
    hold_all(&mut g, &t, 3..=4);
    assert_eq!(released(&mut g), NOTHING, "both still counted");
    // The first handler returns: one slot is free.
    assert!(g.returned(at(1), None));
    assert!(!g.returned(at(1), Some(tokens[0])), "already freed");
    assert_eq!(released(&mut g), vec![3]);
    // The second one's limit passes: the other slot is free too.
    assert!(g.returned(at(1), Some(tokens[1])));
    assert!(!g.returned(at(1), None));
    assert_eq!(released(&mut g), vec![4]);
}

#[test]
fn a_shared_slot_stays_with_a_step_given_up_until_its_handler_returns() {
    let t = payments();
    let mut g = payment_cap(1);
    g.share_caps();
    g.hold(plain(&t, 1), 0, false, 0);
    assert_eq!(released(&mut g), NOTHING);
    let cap: Arc<str> = "handler:PaymentHandler".into();
    assert_eq!(g.trade().want, vec![(cap.clone(), 1, 1)]);
    g.granted(std::slice::from_ref(&cap), vec![(cap.clone(), 1)]);
    assert_eq!(released(&mut g), vec![1]);
    assert!(g.trade().is_empty());
    g.linger(at(1)).expect("it held caps");
    // Not handed back to the store (another process would take it) while the handler runs.
    assert!(g.trade().release.is_empty());
    assert!(g.returned(at(1), None));
    assert_eq!(g.trade().release, vec![(cap.clone(), 1)]);
}

#[test]
fn a_free_cap_is_not_left_idle_by_a_stale_or_paused_step_unparked_first() {
    let t = payments();
    let other_ns = template("other", "t", "PaymentHandler");
    let mut g = payment_cap(1);
    hold_all(&mut g, &t, 1..=3);
    assert_eq!(released(&mut g), vec![1]);
    // Step 2's task is cancelled while it waits; when 1 finishes, 3 takes the room.
    g.forget(at(2));
    assert_eq!(finish_and_release(&mut g, 1), vec![3]);
    g.finished(at(3));
    // A paused step first in line: the free slot goes to the next one, not to nobody.
    g.hold(plain(&t, 4), 0, false, 0);
    hold_all(&mut g, &other_ns, 5..=6);
    assert_eq!(released(&mut g), vec![4]);
    g.pause(pause_key("other", None));
    g.hold(plain(&t, 7), 0, false, 0);
    assert_eq!(finish_and_release(&mut g, 4), vec![7]);
    g.resume(&pause_key("other", None));
    assert_eq!(finish_and_release(&mut g, 7), vec![5]);
    assert_eq!(finish_and_release(&mut g, 5), vec![6]);
}

#[test]
fn namespace_and_context_key_caps() {
    let t = template("billing", "t", "H");
    let mut g = limited(json!({"namespaces": {"billing": 3}, "keys": {"account": 1}}));
    g.hold(step(&t, 1, json!({"account": 7})), 0, false, 0);
    g.hold(step(&t, 2, json!({"account": 7})), 0, false, 0);
    g.hold(step(&t, 3, json!({"account": "x"})), 0, false, 0);
    hold_all(&mut g, &t, 4..=5);
    // account 7 allows one; the namespace allows three in all.
    assert_eq!(released(&mut g), vec![1, 3, 4]);
    assert_eq!(finish_and_release(&mut g, 1), vec![2]);
    assert_eq!(finish_and_release(&mut g, 4), vec![5]);
}

#[test]
fn pause_parks_and_resume_releases_by_namespace_or_template() {
    let order = template("shop", "order", "H");
    let refund = template("shop", "refund", "H");
    let mut g = Gate::new(Limits::default(), 100);
    let key = pause_key("shop", Some("order"));
    assert!(g.pause(key.clone()));
    assert!(!g.pause(key.clone()));
    assert!(!g.pass(&plain(&refund, 1), false, 0));
    g.hold(plain(&order, 1), 0, false, 0);
    g.hold(plain(&refund, 2), 0, false, 0);
    assert_eq!(released(&mut g), vec![2]);
    let ns = pause_key("shop", None);
    g.pause(ns.clone());
    assert!(g.resume(&key));
    // Still covered by the namespace's pause.
    assert_eq!(released(&mut g), NOTHING);
    assert_eq!(g.paused(), vec![ns.clone()]);
    assert!(g.resume(&ns));
    assert!(!g.resume(&ns));
    assert_eq!(released(&mut g), vec![1]);
}

#[test]
fn forgotten_and_re_held_steps_go_out_once() {
    let t = template("ns", "t", "H");
    let mut g = Gate::new(Limits::default(), 100);
    hold_all(&mut g, &t, 1..=2);
    g.forget(at(1));
    // Step 2 held again (taken back, handed out anew): its old entry is stale.
    g.hold(plain(&t, 2), 0, false, 10);
    assert_eq!(released(&mut g), vec![2]);
    assert!(g.is_idle());
}

#[test]
fn bad_limits_name_the_entry() {
    let e = Limits::from_json(&json!({"handlers": {"Pay": 0}})).unwrap_err();
    assert!(e.to_string().contains("concurrency handlers.Pay"), "{e}");
    let e = Limits::from_json(&json!({"queues": {}})).unwrap_err();
    assert!(e.to_string().contains("concurrency queues"), "{e}");
    let e = Limits::from_json(&json!({"keys": {"a": "x"}})).unwrap_err();
    assert!(e.to_string().contains("keys.a"), "{e}");
    assert!(Limits::from_json(&json!({})).unwrap().is_empty());
}

#[test]
fn shared_caps_go_out_only_on_slots_held_and_hand_them_back_when_unneeded() {
    let t = payments();
    let mut g = payment_cap(2);
    g.share_caps();
    hold_all(&mut g, &t, 1..=3);
    // No slot yet: every step parks, and the gate asks for as many as the cap allows.
    assert_eq!(released(&mut g), NOTHING);
    let trade = g.trade();
    let cap: Arc<str> = "handler:PaymentHandler".into();
    assert!(trade.release.is_empty());
    assert_eq!(trade.want, vec![(cap.clone(), 2, 2)]);
    // Asked once: no second request until answered.
    assert!(g.trade().is_empty());
    // Another process holds one slot: this one gets one.
    assert!(g
        .granted(std::slice::from_ref(&cap), vec![(cap.clone(), 1)])
        .is_empty());
    assert_eq!(released(&mut g), vec![1]);
    // Step 1 finishes: its slot serves step 2, which is still parked, so nothing goes back.
    assert_eq!(finish_and_release(&mut g, 1), vec![2]);
    let trade = g.trade();
    assert!(trade.release.is_empty());
    // A second ask that gets nothing waits for ask_again.
    assert_eq!(trade.want, vec![(cap.clone(), 2, 1)]);
    assert_eq!(
        g.granted(std::slice::from_ref(&cap), vec![]),
        vec![cap.clone()]
    );
    assert!(g.trade().is_empty());
    g.ask_again(std::slice::from_ref(&cap));
    assert_eq!(g.trade().want, vec![(cap.clone(), 2, 1)]);
    assert_eq!(finish_and_release(&mut g, 2), vec![3]);
    // Step 3 finishes and nothing waits: the slot goes back.
    assert_eq!(finish_and_release(&mut g, 3), NOTHING);
    assert_eq!(g.trade().release, vec![(cap.clone(), 1)]);
    assert!(!g.trade_due());
}

/// A step under two shared caps (a namespace's and a context key's) is let out whatever the
/// order in which the store's answers, finishes and retries come: 500 orders drawn from a
/// fixed generator.
#[test]
fn shared_caps_progress_whatever_the_order_of_answers_and_finishes() {
    let t = template("gate_ns", "gate_ns", "H");
    for seed in 0..500u64 {
        let mut rng = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut next = |n: usize| {
            rng = rng
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((rng >> 33) as usize) % n
        };
        let mut g = limited(json!({"namespaces": {"gate_ns": 2}, "keys": {"account": 5}}));
        g.share_caps();
        for i in 1..=8 {
            g.hold(step(&t, i, json!({"account": i % 2})), 0, false, 0);
        }
        let mut db: HashMap<Arc<str>, u32> = HashMap::new();
        let mut inflight: Vec<CapTrade> = Vec::new();
        let mut retry: Vec<Vec<Arc<str>>> = Vec::new();
        let mut running: Vec<InflightStep> = Vec::new();
        let mut done = 0;
        for _ in 0..5000 {
            match next(4) {
                0 => {
                    running.extend(g.release([0, 0]).iter().map(ReadyStep::inflight));
                    let trade = g.trade();
                    if !trade.is_empty() {
                        inflight.push(trade);
                    }
                }
                1 if !inflight.is_empty() => {
                    let trade = inflight.remove(0);
                    for (name, _) in &trade.release {
                        *db.get_mut(name).unwrap() -= 1;
                    }
                    let asked: Vec<Arc<str>> = trade.want.iter().map(|w| w.0.clone()).collect();
                    let mut got = Vec::new();
                    for (name, limit, more) in trade.want {
                        let used = db.entry(name.clone()).or_default();
                        let n = more.min(limit - *used);
                        *used += n;
                        got.extend((0..n).map(|i| (name.clone(), i as i32)));
                    }
                    if !asked.is_empty() {
                        retry.push(g.granted(&asked, got));
                    }
                }
                2 if !running.is_empty() => {
                    let at = running.remove(next(running.len()));
                    g.finished(at);
                    done += 1;
                }
                3 if !retry.is_empty() => {
                    let caps = retry.remove(0);
                    g.ask_again(&caps);
                }
                _ => {}
            }
            if done == 8 {
                break;
            }
        }
        assert_eq!(done, 8, "seed {seed}: {} steps still held", g.held_count());
    }
}

fn seconds(n: u64) -> std::time::Duration {
    std::time::Duration::from_secs(n)
}

/// Review H2: with the lease fence, a capped step goes out only while a read of the store
/// says this process still holds its slots. Once that read has lapsed (the process stalled
/// past its lease) a finish does not let the next step out on the slot it had: the gate
/// asks for a new read first and drops the slots that read does not show (another process
/// took them).
#[test]
fn fenced_slots_are_used_only_while_a_read_says_they_are_still_held() {
    use std::time::{Duration, Instant};
    let t = payments();
    let mut g = fenced_payment_cap(2);
    let cap: Arc<str> = "handler:PaymentHandler".into();
    hold_all(&mut g, &t, 1..=4);
    // Never read: nothing goes out, and the next trade reads.
    assert_eq!(released(&mut g), NOTHING);
    assert!(g.trade().verify);
    assert!(!g.verified(Some((vec![], Instant::now(), seconds(60)))));
    assert_eq!(g.trade().want, vec![(cap.clone(), 2, 2)]);
    g.granted(
        std::slice::from_ref(&cap),
        vec![(cap.clone(), 0), (cap.clone(), 1)],
    );
    assert_eq!(released(&mut g), vec![1, 2]);
    // A read sent a moment ago whose lease had almost run out: as after a SIGSTOP. (Not an
    // Instant long ago: a fresh CI machine may have been up for less than that.)
    g.verified(Some((
        vec![(cap.clone(), 0), (cap.clone(), 1)],
        Instant::now(),
        Duration::from_millis(1),
    )));
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(finish_and_release(&mut g, 1), NOTHING);
    assert!(g.trade().verify);
    // Another process took slot 1 meanwhile: it is dropped, and step 2 still runs on the
    // other, so nothing goes out until step 2 finishes.
    assert!(g.verified(Some((vec![(cap.clone(), 0)], Instant::now(), seconds(60)))));
    assert_eq!(released(&mut g), NOTHING);
    assert_eq!(finish_and_release(&mut g, 2), vec![3]);
    assert_eq!(fence::held_slots(&g)[&cap], vec![0]);
}

/// Review M4: slots of a cap that steps parked on a later cap have passed are kept one per
/// such step, not all of them while any waits.
#[test]
fn a_cap_passed_by_waiting_steps_keeps_one_slot_per_step_and_hands_back_the_rest() {
    let t = template("n", "t", "H");
    let mut g = limited(json!({"handlers": {"H": 3}, "namespaces": {"n": 1}}));
    g.share_caps();
    let h: Arc<str> = "handler:H".into();
    let n: Arc<str> = "namespace:n".into();
    hold_all(&mut g, &t, 1..=3);
    assert_eq!(released(&mut g), NOTHING);
    assert_eq!(g.trade().want, vec![(h.clone(), 3, 3)]);
    g.granted(
        std::slice::from_ref(&h),
        (0..3).map(|s| (h.clone(), s)).collect(),
    );
    // Each step passes H and parks on n.
    assert_eq!(released(&mut g), NOTHING);
    let trade = g.trade();
    assert!(trade.release.is_empty());
    assert_eq!(trade.want, vec![(n.clone(), 1, 1)]);
    g.granted(std::slice::from_ref(&n), vec![(n.clone(), 0)]);
    assert_eq!(released(&mut g), vec![1]);
    assert!(g.trade().release.is_empty());
    // Step 1 finishes, step 2 goes out: two steps of this process need H now, not three.
    assert_eq!(finish_and_release(&mut g, 1), vec![2]);
    assert_eq!(g.trade().release, vec![(h.clone(), 2)]);
}

/// A read showing no lease left (this process was taken for dead) or a failed one is not
/// followed at once by another: the next waits for the orchestrator's timer
/// ([`READ_AGAIN`], `Gate::read_again`), not a statement after statement.
#[test]
fn a_lease_less_or_failed_read_is_not_asked_again_at_once() {
    use std::time::{Duration, Instant};
    let t = payments();
    let mut g = fenced_payment_cap(1);
    g.hold(plain(&t, 1), 0, false, 0);
    assert_eq!(released(&mut g), NOTHING);
    assert!(g.trade().verify);
    assert!(!g.verified(Some((vec![], Instant::now(), Duration::ZERO))));
    let cap: Arc<str> = "handler:PaymentHandler".into();
    let trade = g.trade();
    assert_eq!(
        (trade.verify, trade.want),
        (false, vec![(cap.clone(), 1, 1)])
    );
    g.granted(std::slice::from_ref(&cap), vec![(cap.clone(), 0)]);
    // The slot is not used (no lease), and no second read goes before the timer.
    assert_eq!(released(&mut g), NOTHING);
    assert!(!g.trade().verify, "no second read before the timer");
    g.read_again();
    assert!(g.trade().verify);
    assert!(!g.verified(None));
    assert_eq!(released(&mut g), NOTHING);
    assert!(!g.trade().verify, "no read right after a failed one");
    g.read_again();
    assert!(g.trade().verify);
    assert!(!g.verified(Some((vec![(cap.clone(), 0)], Instant::now(), seconds(60)))));
    assert_eq!(released(&mut g), vec![1]);
}

/// A read that fails once the last one has lapsed (the database out of reach of this
/// process only) tells the orchestrator, once per lapse, to pull queued capped steps back.
#[test]
fn a_lapsed_read_is_reported_once_until_a_read_succeeds() {
    use std::time::{Duration, Instant};
    let mut g = fenced_payment_cap(1);
    assert!(
        !g.lapsed_unseen(),
        "never read: nothing was let out on a read"
    );
    g.verified(Some((vec![], Instant::now(), seconds(3600))));
    assert!(!g.lapsed_unseen(), "still trusted");
    // A read sent an hour ago (or whose lease had run out) has lapsed.
    g.verified(Some((vec![], Instant::now(), Duration::ZERO)));
    assert!(g.lapsed_unseen());
    assert!(!g.lapsed_unseen(), "once per lapse");
    g.verified(None);
    assert!(!g.lapsed_unseen());
    g.verified(Some((vec![], Instant::now(), Duration::ZERO)));
    assert!(g.lapsed_unseen(), "a new lapse after a successful read");
}
