//! Taking on the pauses a shared store (PostgreSQL) keeps for every process, one read at a
//! time (review M2).
//!
//! Several threads of one engine read the shared pauses and hand them to the orchestrator:
//! the claim loop (woken by another process's NOTIFY), `pause`/`resume`/`paused`, and the
//! start. Unserialised, a read that began before a pause was written could reach the
//! orchestrator after the read that saw it, and undo it there; the claim loop, seeing no
//! change since its own last read, would not put it back. So a read and the hand-over of
//! what it read happen under one lock: each read starts after the previous one was applied,
//! sees at least what that one saw, and the last applied is always the newest.
//!
//! It must not decide what a pause holds back (the gate does) nor write pauses.

use crate::gate::PauseKey;
use parking_lot::Mutex;
use tasker_model::TaskerResult;

/// What the store shares, as keys: `None` for a store that shares no pauses.
pub(crate) type Read = Option<Vec<PauseKey>>;

/// See the module documentation.
#[derive(Debug, Default)]
pub(crate) struct PauseReads {
    /// The pauses last handed to the orchestrator (`None` before the first hand-over).
    applied: Mutex<Read>,
}

impl PauseReads {
    /// Reads the shared pauses with `read` and hands them to `apply`, both under the lock.
    /// With `only_changes`, `apply` is skipped (and `None` answered) when the read equals
    /// the last one applied, or when the store shares no pauses.
    pub(crate) fn follow<T>(
        &self,
        only_changes: bool,
        read: impl FnOnce() -> TaskerResult<Read>,
        apply: impl FnOnce(Read) -> TaskerResult<T>,
    ) -> TaskerResult<Option<T>> {
        let mut applied = self.applied.lock();
        let all = read()?;
        if only_changes && (all.is_none() || *applied == all) {
            return Ok(None);
        }
        let answer = apply(all.clone())?;
        *applied = all;
        Ok(Some(answer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossbeam_channel::bounded;
    use std::sync::Arc;
    use std::time::Duration;

    /// A read that began before a pause was written (and is slow to hand over what it read)
    /// never lands after the read that saw the pause. Without the lock the slow read's old
    /// view overwrote the new one.
    #[test]
    fn a_read_begun_earlier_never_overwrites_a_later_one() {
        let key = PauseKey {
            namespace: "billing".into(),
            template: None,
        };
        let reads = Arc::new(PauseReads::default());
        let gate: Arc<Mutex<Vec<Read>>> = Arc::default();
        let (began, began_rx) = bounded::<()>(1);
        let (go, go_rx) = bounded::<()>(1);
        let slow = {
            let (reads, gate) = (reads.clone(), gate.clone());
            std::thread::spawn(move || {
                reads.follow(
                    false,
                    || {
                        began.send(()).unwrap();
                        // Held up until the newer read ran (bounded: with the lock, that read
                        // cannot run before this one is done).
                        let _ = go_rx.recv_timeout(Duration::from_millis(300));
                        Ok(Some(vec![]))
                    },
                    |all| {
                        gate.lock().push(all);
                        Ok(())
                    },
                )
            })
        };
        began_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let fresh = {
            let (reads, gate, key) = (reads.clone(), gate.clone(), key.clone());
            std::thread::spawn(move || {
                reads.follow(
                    false,
                    || {
                        let _ = go.try_send(());
                        Ok(Some(vec![key]))
                    },
                    |all| {
                        gate.lock().push(all);
                        Ok(())
                    },
                )
            })
        };
        slow.join().unwrap().unwrap();
        fresh.join().unwrap().unwrap();
        assert_eq!(gate.lock().last(), Some(&Some(vec![key.clone()])));
        // The claim loop's next look, reading the same, changes nothing.
        let again = reads.follow(true, || Ok(Some(vec![key])), |_| Ok(()));
        assert_eq!(again.unwrap(), None);
    }
}
