//! One autodiff pass at a time per process.
//!
//! Burn 0.21's autodiff keeps its graphs in a process-global registry, and a `backward()` ends by
//! sweeping that registry for unused steps. A step that another thread is still building on a
//! reused leaf (a parameter that already went through one backward) can look unused during the
//! sweep and be freed, and that thread's next `backward()` then silently returns no gradient for
//! the parameter (tracel-ai/burn#5573, fixed upstream after 0.21 by #5645). Two trainings or
//! analyses in one process — the test harness runs them side by side — hit it: one of s2h's
//! tests saw the same records give gradients 0.05% apart.
//!
//! Every forward-and-backward in s2h holds [`pass_lock`] from the forward's first op to the
//! backward's end, so no sweep runs while a graph is being built. In a single-threaded program
//! the lock is never contended; the tensor kernels themselves still use every core.

use std::sync::{Mutex, MutexGuard};

static PASS: Mutex<()> = Mutex::new(());

/// Hold this from a forward pass that will be differentiated until its `backward()` returns.
pub fn pass_lock() -> MutexGuard<'static, ()> {
    // The lock guards no data: a pass that panicked leaves nothing half-written.
    PASS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
