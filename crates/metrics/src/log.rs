//! What the engine's and the store's own threads have to tell the app (a store that stopped
//! answering, a schedule that could not submit, caps read again), on its way to the app's
//! logger.
//!
//! Those threads never call Ruby, so a message waits in a process-wide queue until a Ruby
//! thread takes it ([`Drain::take`]) and writes it to the engines' loggers. While no drain
//! is attached, after a fork (the parent's drain is not the child's), or when the queue is
//! full, a message goes to stderr as before: none is dropped. Messages are rare (failures
//! and recoveries), so a lock here costs nothing that matters; it must not be used on a
//! per-step path.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How many messages wait for Ruby at most; later ones go to stderr.
const CAPACITY: usize = 1024;

/// How much a message matters, as the Ruby Logger method it is written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    /// The Ruby Logger method's name.
    pub fn name(self) -> &'static str {
        match self {
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
        }
    }
}

/// Writes a message for the app's log: `log_warn!("tasker-core: store {}: {e}", name)`.
#[macro_export]
macro_rules! log_warn {
    ($($arg:tt)*) => { $crate::log::emit($crate::log::Level::Warn, format!($($arg)*)) };
}

/// As [`log_warn!`], for a failure that lost or held back work.
#[macro_export]
macro_rules! log_error {
    ($($arg:tt)*) => { $crate::log::emit($crate::log::Level::Error, format!($($arg)*)) };
}

/// As [`log_warn!`], for news that needs no action (a store answering again).
#[macro_export]
macro_rules! log_info {
    ($($arg:tt)*) => { $crate::log::emit($crate::log::Level::Info, format!($($arg)*)) };
}

/// One process's queue. A forked child gets a new one ([`shared`]): the parent's lock may
/// have been held by a thread the child does not have.
struct Shared {
    pid: u32,
    queue: Mutex<Queue>,
    arrived: Condvar,
}

struct Queue {
    drains: usize,
    messages: VecDeque<(Level, String)>,
    /// Counts [`Drain::interrupt`] calls: a waiting `take` returns when it moves.
    interrupts: u64,
}

/// This process's [`Shared`], leaked; null before the first drain.
static CURRENT: AtomicPtr<Shared> = AtomicPtr::new(std::ptr::null_mut());

/// This process's queue, made (and the parent's forgotten) when `create` and there is none.
fn shared(create: bool) -> Option<&'static Shared> {
    let pid = std::process::id();
    loop {
        let current = CURRENT.load(Ordering::Acquire);
        // SAFETY: a non-null pointer came from `Box::leak` below and is never freed.
        if let Some(s) = unsafe { current.as_ref() } {
            if s.pid == pid {
                return Some(s);
            }
        }
        if !create {
            return None;
        }
        let fresh: &'static mut Shared = Box::leak(Box::new(Shared {
            pid,
            queue: Mutex::new(Queue {
                drains: 0,
                messages: VecDeque::new(),
                interrupts: 0,
            }),
            arrived: Condvar::new(),
        }));
        let fresh = fresh as *mut Shared;
        if CURRENT
            .compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // SAFETY: `fresh` was never shared; another thread installed its own first.
            drop(unsafe { Box::from_raw(fresh) });
        }
    }
}

impl Shared {
    /// The queue; a panic elsewhere while it was held leaves it usable (plain data).
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Queues `message` for a drain, or writes it to stderr when none takes it.
pub fn emit(level: Level, message: String) {
    if let Some(s) = shared(false) {
        let mut q = s.lock();
        if q.drains > 0 && q.messages.len() < CAPACITY {
            q.messages.push_back((level, message));
            s.arrived.notify_all();
            return;
        }
    }
    eprintln!("{message}");
}

/// A Ruby thread's end of the queue; messages are queued while one is attached.
pub struct Drain {
    shared: &'static Shared,
    attached: AtomicBool,
}

impl Drain {
    /// Attaches a drain in this process. One left attached in the parent of a fork does not
    /// count in the child.
    pub fn attach() -> Drain {
        let shared = shared(true).expect("made when asked");
        shared.lock().drains += 1;
        Drain {
            shared,
            attached: AtomicBool::new(true),
        }
    }

    /// How many times [`Drain::interrupt`] was called: read before a wait, so an interrupt
    /// that comes before the wait starts still ends it ([`Drain::take`]).
    pub fn interrupts(&self) -> u64 {
        self.shared.lock().interrupts
    }

    /// Up to `max` queued messages, waiting up to `timeout` for the first, or until an
    /// interrupt after the `interrupts` reading; none once detached.
    pub fn take(&self, max: usize, timeout: Duration, interrupts: u64) -> Vec<(Level, String)> {
        let deadline = Instant::now() + timeout;
        let mut q = self.shared.lock();
        while q.messages.is_empty() || !self.attached.load(Ordering::Acquire) {
            let left = deadline.saturating_duration_since(Instant::now());
            if q.interrupts != interrupts
                || left.is_zero()
                || !self.attached.load(Ordering::Acquire)
            {
                return Vec::new();
            }
            q = self
                .shared
                .arrived
                .wait_timeout(q, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let n = max.max(1).min(q.messages.len());
        q.messages.drain(..n).collect()
    }

    /// Puts taken messages back at the head of the queue (a taker that could not hand them
    /// on), or writes them to stderr once no drain is attached.
    pub fn give_back(&self, messages: Vec<(Level, String)>) {
        let mut q = self.shared.lock();
        if q.drains > 0 && self.attached.load(Ordering::Acquire) {
            for message in messages.into_iter().rev() {
                q.messages.push_front(message);
            }
            self.shared.arrived.notify_all();
            return;
        }
        drop(q);
        for (_, message) in messages {
            eprintln!("{message}");
        }
    }

    /// Ends every wait in [`Drain::take`] now (Ruby interrupting the thread that waits).
    pub fn interrupt(&self) {
        self.shared.lock().interrupts += 1;
        self.shared.arrived.notify_all();
    }

    /// Stops queueing for this drain, at once (not when the last reference goes): the last
    /// drain writes what is still queued to stderr, and later messages go there directly.
    /// A second call does nothing.
    pub fn detach(&self) {
        if !self.attached.swap(false, Ordering::AcqRel) {
            return;
        }
        let mut q = self.shared.lock();
        q.drains = q.drains.saturating_sub(1);
        if q.drains == 0 {
            let left: Vec<_> = q.messages.drain(..).collect();
            drop(q);
            for (_, message) in left {
                eprintln!("{message}");
            }
        }
        self.shared.arrived.notify_all();
    }
}

impl Drop for Drain {
    /// Detaches. In a forked child, a drain of the parent's is forgotten instead (its lock
    /// may be held by a thread the child does not have).
    fn drop(&mut self) {
        if self.shared.pid == std::process::id() {
            self.detach();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queued() -> usize {
        shared(false).map_or(0, |s| s.lock().messages.len())
    }

    // One test: the queue is the process's, so tests running in parallel would share it.
    #[test]
    fn queues_while_a_drain_is_attached_and_writes_to_stderr_otherwise() {
        emit(Level::Warn, "tasker-core test: to stderr".into());
        let drain = Drain::attach();
        assert!(drain
            .take(10, Duration::ZERO, drain.interrupts())
            .is_empty());
        log_warn!("first {}", 1);
        log_error!("second");
        log_info!("third");
        assert_eq!(
            drain.take(2, Duration::from_millis(10), drain.interrupts()),
            [
                (Level::Warn, "first 1".to_string()),
                (Level::Error, "second".to_string())
            ]
        );
        let waiter = std::thread::spawn(move || {
            let taken = drain.take(10, Duration::from_secs(30), drain.interrupts());
            (drain, taken)
        });
        let (drain, taken) = waiter.join().unwrap();
        assert_eq!(taken, [(Level::Info, "third".to_string())]);
        let waiting =
            std::thread::spawn(move || drain.take(10, Duration::from_secs(30), drain.interrupts()));
        std::thread::sleep(Duration::from_millis(20));
        log_warn!("woken");
        assert_eq!(waiting.join().unwrap(), [(Level::Warn, "woken".into())]);
        log_warn!("tasker-core test: no drain");
        assert_eq!(queued(), 0, "the drain was dropped: stderr");
        let drain = std::sync::Arc::new(Drain::attach());
        // An interrupt before the wait starts still ends it.
        let seen = drain.interrupts();
        drain.interrupt();
        assert!(drain.take(10, Duration::from_secs(30), seen).is_empty());
        let waiting = std::thread::spawn({
            let (drain, seen) = (drain.clone(), drain.interrupts());
            move || drain.take(10, Duration::from_secs(30), seen)
        });
        std::thread::sleep(Duration::from_millis(20));
        drain.interrupt();
        assert!(waiting.join().unwrap().is_empty());
        log_warn!("given back");
        let taken = drain.take(10, Duration::ZERO, drain.interrupts());
        drain.give_back(taken);
        assert_eq!(queued(), 1);
        assert_eq!(drain.take(10, Duration::ZERO, drain.interrupts()).len(), 1);
        drop(drain);
        let drain = Drain::attach();
        for i in 0..CAPACITY + 1 {
            log_warn!("tasker-core test: {i}");
        }
        assert_eq!(queued(), CAPACITY, "the last went to stderr");
        drain.detach();
        assert_eq!(queued(), 0, "written to stderr by the last drain");
        log_warn!("tasker-core test: detached");
        assert!(drain
            .take(10, Duration::from_millis(10), drain.interrupts())
            .is_empty());
        drop(drain);
        assert_eq!(queued(), 0);
    }
}
