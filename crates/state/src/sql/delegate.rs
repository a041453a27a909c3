//! `delegate_store!`: the public SQL stores' `Store` impl, every method passed through to
//! their [`SqlStore`](crate::sql::store::SqlStore), so both share one body. Must not hold
//! logic: a method here only forwards.

/// `impl Store for $store`, a public wrapper whose field `0` is a [`SqlStore`]: every method
/// passes through, so both wrappers share one body. The methods are a table of signatures,
/// one line each, that the `@impl` arm turns into forwarding methods: those under `store:`
/// call the `SqlStore`, those under `db:` its database; the two under `by_hand:` read the
/// sharing settings.
macro_rules! delegate_store {
    ($store:ty) => {
        const _: () = {
            use $crate::change::Change;
            use $crate::insights::{AnalyticsMetrics, HealthCounts, SlowQuery};
            use $crate::insights::{SlowestStep, SlowestStepGroup, SlowestTask};
            use $crate::listing::{TaskFilter, TaskListing};
            use $crate::retention::Purged;
            use $crate::sharing::{ProcessInfo, Role};
            use $crate::store::{Commit, Durability, HealthDelivery, SharedPauses, TaskView};
            use std::time::Duration;
            use tasker_model::{State, StepId, TaskId, TaskTemplate, TaskerResult, Timestamp};

            $crate::sql::delegate::delegate_store!(@impl $store;
            store:
                fn apply(batch: Vec<Change>, durability: Durability) -> Commit;
                fn make_durable() -> Commit;
                fn register_template(template: &TaskTemplate) -> TaskerResult<()>;
                fn allocate_ids(steps: u32) -> TaskerResult<(TaskId, Vec<StepId>)>;
                fn task(id: TaskId) -> TaskerResult<Option<TaskView>>;
                fn task_state(id: TaskId) -> TaskerResult<Option<State>>;
                fn task_with_identity(identity_hash: &str) -> TaskerResult<Option<TaskId>>;
                fn duplicate_of(task: TaskId) -> Option<TaskId>;
                fn unfinished_tasks() -> TaskerResult<Vec<TaskId>>;
                fn health_counts(now: Timestamp) -> TaskerResult<HealthCounts>;
                fn count_health_in_background(now: Timestamp, deliver: HealthDelivery)
                    -> TaskerResult<()>;
                fn analytics_metrics(since: Timestamp, now: Timestamp)
                    -> TaskerResult<AnalyticsMetrics>;
                fn throughput(from: Timestamp, to: Timestamp, buckets: u32)
                    -> TaskerResult<Vec<(u64, u64)>>;
                fn slowest_steps(query: &SlowQuery) -> TaskerResult<Vec<SlowestStep>>;
                fn slowest_step_groups(query: &SlowQuery) -> TaskerResult<Vec<SlowestStepGroup>>;
                fn slowest_tasks(query: &SlowQuery) -> TaskerResult<Vec<SlowestTask>>;
                fn purge_finished(before: Timestamp, limit: usize) -> TaskerResult<Purged>;
                fn expired_finished(before: Timestamp, limit: usize) -> TaskerResult<Vec<TaskId>>;
                fn purge_expired(before: Timestamp, ids: &[TaskId]) -> TaskerResult<Purged>;
                fn list_tasks(filter: &TaskFilter) -> TaskerResult<Vec<TaskListing>>;
                fn task_of_step(step: StepId) -> TaskerResult<Option<TaskId>>;
                fn claim_tasks(ids: &[TaskId]) -> TaskerResult<Vec<TaskId>>;
                fn claim_available(limit: usize) -> TaskerResult<Vec<TaskId>>;
                fn release_tasks(ids: &[TaskId]) -> TaskerResult<()>;
                fn trade_cap_slots(release: &[(String, i32)], want: &[(String, u32, u32)])
                    -> TaskerResult<Vec<(String, i32)>>;
                fn held_cap_slots() -> TaskerResult<(Vec<(String, i32)>, Duration)>;
                fn shared_pauses() -> TaskerResult<Option<SharedPauses>>;
                fn share_pause(namespace: &str, template: Option<&str>, paused: bool)
                    -> TaskerResult<()>;
                fn work_signal() -> Option<crossbeam_channel::Receiver<()>>;
                fn processes() -> TaskerResult<Vec<ProcessInfo>>;
                fn close();
                fn describe() -> String;
            db:
                fn defers_durability() -> bool;
                fn take_lost_tasks() -> Vec<TaskId>;
                fn set_capacity(slots: usize);
                fn set_steps_in_flight(steps: usize);
            by_hand:
                fn shares_tasks(&self) -> bool {
                    self.0.inner.db.sharing().is_some()
                }
                fn leaves_new_tasks_unclaimed(&self) -> bool {
                    let sharing = self.0.inner.db.sharing();
                    sharing.is_some_and(|s| s.role == Role::Client)
                }
            );
        };
    };
    (@impl $store:ty;
    store: $(fn $s:ident($($sa:ident: $st:ty),*) $(-> $sr:ty)?;)*
    db: $(fn $d:ident($($da:ident: $dt:ty),*) $(-> $dr:ty)?;)*
    by_hand: $($hand:tt)*
    ) => {
        impl $crate::store::Store for $store {
            $(fn $s(&self, $($sa: $st),*) $(-> $sr)? {
                self.0.$s($($sa),*)
            })*
            $(fn $d(&self, $($da: $dt),*) $(-> $dr)? {
                self.0.inner.db.$d($($da),*)
            })*
            $($hand)*
        }
    };
}
pub(crate) use delegate_store;
