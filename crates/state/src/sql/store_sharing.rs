//! The [`SqlStore`] methods for sharing one database among engine processes: claims, the
//! process table, the work signal, cap slots and pauses. Pass-throughs to the dialect on the
//! store's runtime (only PostgreSQL does more than the defaults); apart from `store.rs` so
//! that file keeps to the store's own body. Must not hold SQL text.

use crate::sql::dialect::Dialect;
use crate::sql::store::SqlStore;
use tasker_model::{TaskId, TaskerResult};

impl<D: Dialect> SqlStore<D> {
    pub(crate) fn claim_tasks(&self, ids: &[TaskId]) -> TaskerResult<Vec<TaskId>> {
        self.runtime.block_on(self.inner.db.claim(ids))
    }

    /// See `Store::work_signal`: the dialect's listener runs on the store's runtime until the
    /// store closes.
    pub(crate) fn work_signal(&self) -> Option<crossbeam_channel::Receiver<()>> {
        let (wake, signal) = crossbeam_channel::bounded(1);
        let listener = self.inner.db.work_listener(wake)?;
        let mut closing = self.inner.closing.subscribe();
        self.runtime.spawn(async move {
            tokio::select! {
                _ = listener => {}
                _ = closing.wait_for(|closing| *closing) => {}
            }
        });
        Some(signal)
    }

    pub(crate) fn processes(&self) -> TaskerResult<Vec<crate::sharing::ProcessInfo>> {
        self.runtime.block_on(self.inner.db.processes())
    }

    pub(crate) fn release_tasks(&self, ids: &[TaskId]) -> TaskerResult<()> {
        self.runtime.block_on(self.inner.db.release(ids))
    }

    pub(crate) fn claim_available(&self, limit: usize) -> TaskerResult<Vec<TaskId>> {
        self.runtime.block_on(self.inner.db.claim_available(limit))
    }

    pub(crate) fn trade_cap_slots(
        &self,
        release: &[(String, i32)],
        want: &[(String, u32, u32)],
    ) -> TaskerResult<Vec<(String, i32)>> {
        self.runtime
            .block_on(self.inner.db.trade_cap_slots(release, want))
    }

    pub(crate) fn held_cap_slots(&self) -> TaskerResult<(Vec<(String, i32)>, std::time::Duration)> {
        self.runtime.block_on(self.inner.db.held_cap_slots())
    }

    pub(crate) fn shared_pauses(&self) -> TaskerResult<Option<crate::store::SharedPauses>> {
        self.runtime.block_on(self.inner.db.shared_pauses())
    }

    pub(crate) fn share_pause(
        &self,
        namespace: &str,
        template: Option<&str>,
        paused: bool,
    ) -> TaskerResult<()> {
        self.runtime
            .block_on(self.inner.db.share_pause(namespace, template, paused))
    }
}
