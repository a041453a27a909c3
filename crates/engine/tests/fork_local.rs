//! A forked child that frees its copy of an engine (Ruby's GC does, in a Puma or Unicorn
//! worker that inherited one) must not run the engine's destructors over state that belongs
//! to its parent's threads: `ForkLocal` leaks it there. A worker thread waiting for steps at
//! the fork is parked on the engine's stop channel, and crossbeam's debug builds assert that
//! no thread waits on a channel being dropped: the child's drop fails without `ForkLocal` in
//! debug builds (`cargo test`'s profile); a release build, or a worker not yet parked after
//! the 200 ms given it, lets the test pass without testing, never fail by chance.

use std::sync::Arc;
use std::time::Duration;
use tasker_engine::engine::Interrupt;
use tasker_engine::{Engine, EngineOptions, ForkLocal};

/// Forks; the child runs `child` and exits with its answer (1 on a panic); returns the
/// child's wait status.
fn in_child(child: impl FnOnce() -> i32) -> i32 {
    // SAFETY: the child only runs `child` and `_exit`s; it never returns into the test
    // harness, whose other threads do not exist there.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child)).unwrap_or(1);
        unsafe { libc::_exit(code) }
    }
    let mut status = 0;
    // SAFETY: waits for the child forked above.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    status
}

#[test]
fn a_forked_child_leaks_its_copy_of_the_engine_instead_of_dropping_it() {
    // The only reference: the child lets go of the last one, as Ruby's GC does when it
    // frees the engine object (a waiting Ruby thread borrows the engine, it holds no clone).
    let mut only = Some(ForkLocal::new(Arc::new(
        Engine::start(EngineOptions::default()).unwrap(),
    )));
    let borrowed: &Engine = only.as_ref().unwrap();
    let address = borrowed as *const Engine as usize;
    let worker = std::thread::spawn(move || {
        // SAFETY: the engine outlives this thread: the test joins it before letting go.
        let engine = unsafe { &*(address as *const Engine) };
        let _ = engine.take_steps_waiting(1, Duration::from_secs(30), &Interrupt::default());
    });
    // Let the worker park on the engine's channels before the fork copies them.
    std::thread::sleep(Duration::from_millis(200));

    let status = in_child(|| {
        let engine = only.take().unwrap();
        if !engine.forked() {
            return 2;
        }
        drop(engine);
        0
    });
    // Stopped and joined before any assertion: a panic here would free the engine under
    // the worker's borrow.
    let engine = only.take().unwrap();
    let stopped = engine.stop(Duration::from_secs(5));
    let joined = worker.join();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child's drop failed: wait status {status:#x}"
    );
    stopped.unwrap();
    joined.unwrap();
}

#[test]
fn in_the_process_that_made_it_a_fork_local_value_is_dropped() {
    let value = Arc::new(());
    let local = ForkLocal::new(value.clone());
    let copy = local.clone();
    assert_eq!(Arc::strong_count(&value), 3);
    drop(local);
    drop(copy);
    assert_eq!(Arc::strong_count(&value), 1);
}
