//! Running Rust without the GVL, interruptibly.
//!
//! A wait that releases the GVL must still honour Thread#kill, Thread#raise, Timeout and
//! Ctrl-C. Ruby asks a blocked thread to stop by calling the unblocking function we pass;
//! ours triggers the wait's `Interrupt`, the wait returns, and [`check_interrupts`] lets Ruby
//! raise or kill once we hold the GVL again and our frames have unwound.

use crate::helpers::errors::{from_panic, to_ruby};
use magnus::Error;
use std::ffi::c_void;
use std::fmt::Display;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::null_mut;
use tasker_engine::engine::Interrupt;
use tasker_model::{TaskerError, TaskerResult};

struct Call<F, R> {
    func: Option<F>,
    result: Option<std::thread::Result<R>>,
}

unsafe extern "C" fn call_func<F: FnOnce() -> R, R>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Call` that `nogvl` keeps alive for the duration of the call.
    let call = unsafe { &mut *(data as *mut Call<F, R>) };
    let func = call.func.take().expect("called once");
    // A panic must not unwind into Ruby's C frames.
    call.result = Some(catch_unwind(AssertUnwindSafe(func)));
    null_mut()
}

unsafe extern "C" fn call_unblock<U: Fn()>(data: *mut c_void) {
    // SAFETY: `data` is the `U` that `nogvl` keeps alive while Ruby may call this.
    let unblock = unsafe { &*(data as *const U) };
    let _ = catch_unwind(AssertUnwindSafe(unblock));
}

/// What a call without the GVL produced: the function's result when it ran to the end, and
/// an error when Ruby raised meanwhile (an interrupt delivered as the GVL came back) or the
/// function panicked. Both can be present: the function finished, then Ruby raised; the
/// caller must then give back whatever the result holds.
pub struct Outcome<R> {
    pub value: Option<R>,
    pub error: Option<Error>,
}

/// Runs `func` with the GVL released; Ruby calls `unblock` (from another thread) to cut it
/// short. `func` must not touch Ruby objects.
pub fn nogvl<F, R, U>(func: F, unblock: U) -> Outcome<R>
where
    F: FnOnce() -> R,
    U: Fn(),
{
    let mut call = Call {
        func: Some(func),
        result: None,
    };
    let call_ptr = &mut call as *mut Call<F, R> as *mut c_void;
    let unblock_ptr = &unblock as *const U as *mut c_void;
    // rb_thread_call_without_gvl checks interrupts on its way out and may raise with a
    // longjmp; rb_protect catches that before it crosses any Rust frame that owns values.
    let protected = magnus::rb_sys::protect(|| {
        // SAFETY: both pointers stay valid until this returns, and the callbacks only cast
        // them back to the types given here.
        unsafe {
            rb_sys::rb_thread_call_without_gvl(
                Some(call_func::<F, R>),
                call_ptr,
                Some(call_unblock::<U>),
                unblock_ptr,
            );
        }
        rb_sys::Qnil as rb_sys::VALUE
    });
    let raised = protected.err();
    match call.result {
        Some(Ok(r)) => Outcome {
            value: Some(r),
            error: raised,
        },
        Some(Err(p)) => Outcome {
            value: None,
            error: Some(raised.unwrap_or_else(|| from_panic(p))),
        },
        None => Outcome {
            value: None,
            error: raised,
        },
    }
}

/// Runs `work` (a store read, a commit wait, a stop) with the GVL released and turns every
/// way it can end into one Ruby result: its `Ok`, its `TaskerError` translated, a panic as
/// `TaskerCore::Error`, or the exception Ruby raised meanwhile. `what` names the work in
/// the message of the last resort, a call Ruby never let run ("`what` was interrupted").
///
/// For work nobody needs to cut short: Ruby's interrupt waits until it returns. A wait that
/// must end on Thread#kill takes [`interruptible`] instead.
pub fn blocking<R>(what: impl Display, work: impl FnOnce() -> TaskerResult<R>) -> Result<R, Error> {
    let outcome = nogvl(work, || {});
    if let Some(e) = outcome.error {
        return Err(e);
    }
    outcome
        .value
        .unwrap_or_else(|| {
            Err(TaskerError::Orchestration(format!(
                "{what} was interrupted"
            )))
        })
        .map_err(to_ruby)
}

/// Runs a wait with the GVL released that Ruby can cut short: its unblocking function
/// triggers the `Interrupt` the wait watches, then runs `also` (to wake what the interrupt
/// alone does not reach). The caller gets the raw [`Outcome`], because a wait that took
/// steps before Ruby raised must hand them back.
pub fn interruptible<R>(work: impl FnOnce(&Interrupt) -> R, also: impl Fn()) -> Outcome<R> {
    let interrupt = Interrupt::default();
    nogvl(
        || work(&interrupt),
        || {
            interrupt.trigger();
            also();
        },
    )
}

/// Lets Ruby act on a pending interrupt (Thread#kill, Thread#raise, a signal). Ruby's
/// non-local exit is captured and returned as an `Error`, so it resumes only after Rust
/// frames have unwound.
pub fn check_interrupts() -> Result<(), Error> {
    magnus::rb_sys::protect(|| {
        // SAFETY: called with the GVL held, inside rb_protect.
        unsafe { rb_sys::rb_thread_check_ints() };
        rb_sys::Qnil as rb_sys::VALUE
    })
    .map(|_| ())
}
