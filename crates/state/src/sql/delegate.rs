//! `delegate_store!`: the public SQL stores' `Store` impl, every method passed through to
//! their [`SqlStore`](crate::sql::store::SqlStore), so both share one body. Must not hold
//! logic: a method here only forwards.

/// `impl Store for $store`, a public wrapper whose field `0` is a [`SqlStore`]: every method
/// passes through, so both wrappers share one body.
macro_rules! delegate_store {
    ($store:ty) => {
        impl $crate::store::Store for $store {
            fn apply(&self, batch: Vec<$crate::change::Change>) -> $crate::store::Commit {
                self.0.apply(batch)
            }
            fn register_template(
                &self,
                template: &tasker_model::TaskTemplate,
            ) -> tasker_model::TaskerResult<()> {
                self.0.register_template(template)
            }
            fn allocate_ids(
                &self,
                steps: u32,
            ) -> tasker_model::TaskerResult<(tasker_model::TaskId, Vec<tasker_model::StepId>)> {
                self.0.allocate_ids(steps)
            }
            fn task(
                &self,
                id: tasker_model::TaskId,
            ) -> tasker_model::TaskerResult<Option<$crate::store::TaskView>> {
                self.0.task(id)
            }
            fn task_state(
                &self,
                id: tasker_model::TaskId,
            ) -> tasker_model::TaskerResult<Option<tasker_model::State>> {
                self.0.task_state(id)
            }
            fn task_with_identity(
                &self,
                identity_hash: &str,
            ) -> tasker_model::TaskerResult<Option<tasker_model::TaskId>> {
                self.0.task_with_identity(identity_hash)
            }
            fn duplicate_of(&self, task: tasker_model::TaskId) -> Option<tasker_model::TaskId> {
                self.0.duplicate_of(task)
            }
            fn unfinished_tasks(&self) -> tasker_model::TaskerResult<Vec<tasker_model::TaskId>> {
                self.0.unfinished_tasks()
            }
            fn health_counts(
                &self,
                now: tasker_model::Timestamp,
            ) -> tasker_model::TaskerResult<$crate::insights::HealthCounts> {
                self.0.health_counts(now)
            }
            fn count_health_in_background(
                &self,
                now: tasker_model::Timestamp,
                deliver: $crate::store::HealthDelivery,
            ) -> tasker_model::TaskerResult<()> {
                self.0.count_health_in_background(now, deliver)
            }
            fn analytics_metrics(
                &self,
                since: tasker_model::Timestamp,
                now: tasker_model::Timestamp,
            ) -> tasker_model::TaskerResult<$crate::insights::AnalyticsMetrics> {
                self.0.analytics_metrics(since, now)
            }
            fn throughput(
                &self,
                from: tasker_model::Timestamp,
                to: tasker_model::Timestamp,
                buckets: u32,
            ) -> tasker_model::TaskerResult<Vec<(u64, u64)>> {
                self.0.throughput(from, to, buckets)
            }
            fn slowest_steps(
                &self,
                query: &$crate::insights::SlowQuery,
            ) -> tasker_model::TaskerResult<Vec<$crate::insights::SlowestStep>> {
                self.0.slowest_steps(query)
            }
            fn slowest_step_groups(
                &self,
                query: &$crate::insights::SlowQuery,
            ) -> tasker_model::TaskerResult<Vec<$crate::insights::SlowestStepGroup>> {
                self.0.slowest_step_groups(query)
            }
            fn slowest_tasks(
                &self,
                query: &$crate::insights::SlowQuery,
            ) -> tasker_model::TaskerResult<Vec<$crate::insights::SlowestTask>> {
                self.0.slowest_tasks(query)
            }
            fn purge_finished(
                &self,
                before: tasker_model::Timestamp,
                limit: usize,
            ) -> tasker_model::TaskerResult<$crate::retention::Purged> {
                self.0.purge_finished(before, limit)
            }
            fn expired_finished(
                &self,
                before: tasker_model::Timestamp,
                limit: usize,
            ) -> tasker_model::TaskerResult<Vec<tasker_model::TaskId>> {
                self.0.expired_finished(before, limit)
            }
            fn purge_expired(
                &self,
                before: tasker_model::Timestamp,
                ids: &[tasker_model::TaskId],
            ) -> tasker_model::TaskerResult<$crate::retention::Purged> {
                self.0.purge_expired(before, ids)
            }
            fn list_tasks(
                &self,
                filter: &$crate::listing::TaskFilter,
            ) -> tasker_model::TaskerResult<Vec<$crate::listing::TaskListing>> {
                self.0.list_tasks(filter)
            }
            fn task_of_step(
                &self,
                step: tasker_model::StepId,
            ) -> tasker_model::TaskerResult<Option<tasker_model::TaskId>> {
                self.0.task_of_step(step)
            }
            fn claim_tasks(
                &self,
                ids: &[tasker_model::TaskId],
            ) -> tasker_model::TaskerResult<Vec<tasker_model::TaskId>> {
                self.0.claim_tasks(ids)
            }
            fn shares_tasks(&self) -> bool {
                self.0.inner.db.sharing().is_some()
            }
            fn leaves_new_tasks_unclaimed(&self) -> bool {
                self.0
                    .inner
                    .db
                    .sharing()
                    .is_some_and(|s| s.role == $crate::sharing::Role::Client)
            }
            fn claim_available(
                &self,
                limit: usize,
            ) -> tasker_model::TaskerResult<Vec<tasker_model::TaskId>> {
                self.0.claim_available(limit)
            }
            fn release_tasks(
                &self,
                ids: &[tasker_model::TaskId],
            ) -> tasker_model::TaskerResult<()> {
                self.0.release_tasks(ids)
            }
            fn trade_cap_slots(
                &self,
                release: &[(String, i32)],
                want: &[(String, u32, u32)],
            ) -> tasker_model::TaskerResult<Vec<(String, i32)>> {
                self.0.trade_cap_slots(release, want)
            }
            fn held_cap_slots(
                &self,
            ) -> tasker_model::TaskerResult<(Vec<(String, i32)>, std::time::Duration)> {
                self.0.held_cap_slots()
            }
            fn shared_pauses(
                &self,
            ) -> tasker_model::TaskerResult<Option<$crate::store::SharedPauses>> {
                self.0.shared_pauses()
            }
            fn share_pause(
                &self,
                namespace: &str,
                template: Option<&str>,
                paused: bool,
            ) -> tasker_model::TaskerResult<()> {
                self.0.share_pause(namespace, template, paused)
            }
            fn take_lost_tasks(&self) -> Vec<tasker_model::TaskId> {
                self.0.inner.db.take_lost_tasks()
            }
            fn work_signal(&self) -> Option<crossbeam_channel::Receiver<()>> {
                self.0.work_signal()
            }
            fn set_capacity(&self, slots: usize) {
                self.0.inner.db.set_capacity(slots)
            }
            fn set_steps_in_flight(&self, steps: usize) {
                self.0.inner.db.set_steps_in_flight(steps)
            }
            fn processes(&self) -> tasker_model::TaskerResult<Vec<$crate::sharing::ProcessInfo>> {
                self.0.processes()
            }
            fn close(&self) {
                self.0.close()
            }
            fn describe(&self) -> String {
                self.0.describe()
            }
        }
    };
}
pub(crate) use delegate_store;
