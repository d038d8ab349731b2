//! Thread-exit hooks that allocate nothing: a `pthread_key_create`
//! destructor on unix, an `FlsAlloc` callback on Windows.
//!
//! ```text
//!   first use on a thread ──▶ ExitHook::arm(this thread's state)
//!                                  │  (key created once per hook, lazily)
//!   thread exit ──▶ C++/Rust TLS destructors ──▶ pthread key destructors ──▶ hook(state)
//! ```
//!
//! glibc runs key destructors after the thread's C++/Rust TLS destructors, so
//! frees made by those still land in the cache the hook then flushes. Setting
//! a key's value allocates nothing for the first 32 keys; beyond that glibc
//! calls `calloc`, which (under `LD_PRELOAD`) re-enters memalloc while the
//! thread is marked BINDING and is served by the central heap directly.

use crate::sync::atomic::{AtomicUsize, Ordering};
use core::ffi::c_void;

/// The signature the platform wants for the exit callback.
#[cfg(unix)]
pub(crate) type ExitFn = unsafe extern "C" fn(*mut c_void);
/// The signature the platform wants for the exit callback.
#[cfg(windows)]
pub(crate) type ExitFn = unsafe extern "system" fn(*mut c_void);

/// Defines an exit callback with the platform's calling convention.
macro_rules! exit_fn {
    ($(#[$m:meta])* fn $name:ident($arg:ident) $body:block) => {
        $(#[$m])*
        #[cfg(unix)]
        unsafe extern "C" fn $name($arg: *mut core::ffi::c_void) $body
        $(#[$m])*
        #[cfg(windows)]
        unsafe extern "system" fn $name($arg: *mut core::ffi::c_void) $body
    };
}
pub(crate) use exit_fn;

/// One exit hook: a lazily created key whose destructor gets the value
/// `arm` stored for the exiting thread.
pub(crate) struct ExitHook {
    /// key + 1; 0 = not created yet; usize::MAX = creation failed.
    key: AtomicUsize,
    on_exit: ExitFn,
}

impl ExitHook {
    pub(crate) const fn new(on_exit: ExitFn) -> Self {
        ExitHook {
            key: AtomicUsize::new(0),
            on_exit,
        }
    }

    /// Makes `on_exit(value)` run when the calling thread exits. Returns
    /// false if the platform refused (no key could be created, or setting
    /// its value failed): the caller must then run the thread uncached,
    /// since nothing would flush or detach its cache at exit.
    pub(crate) fn arm(&self, value: *mut c_void) -> bool {
        let mut key = self.key.load(Ordering::Acquire);
        if key == 0 {
            key = crate::sync::init_once(&self.key, || sys::create(self.on_exit), sys::delete);
            crate::fork::register();
        }
        key != usize::MAX && !test_seam::arm_fails_here() && sys::set(key - 1, value)
    }
}

/// Tests make arming fail on one thread, as exhausted keys or a
/// `pthread_setspecific` ENOMEM would.
#[cfg(test)]
pub(crate) mod test_seam {
    use core::cell::Cell;

    thread_local! {
        static FAIL: Cell<bool> = const { Cell::new(false) };
    }

    /// Makes every later `arm` on this thread fail.
    pub(crate) fn fail_arm_on_this_thread() {
        FAIL.with(|f| f.set(true));
    }

    pub(super) fn arm_fails_here() -> bool {
        FAIL.with(|f| f.get())
    }
}

#[cfg(not(test))]
mod test_seam {
    #[inline(always)]
    pub(super) fn arm_fails_here() -> bool {
        false
    }
}

#[cfg(unix)]
mod sys {
    use super::*;

    pub(super) fn create(on_exit: ExitFn) -> usize {
        let mut key: libc::pthread_key_t = 0;
        // SAFETY: a valid out-pointer and an `extern "C"` destructor.
        if unsafe { libc::pthread_key_create(&mut key, Some(on_exit)) } == 0 {
            key as usize + 1
        } else {
            usize::MAX
        }
    }

    pub(super) fn delete(k: usize) {
        if k != usize::MAX {
            // SAFETY: `k - 1` is a key we created and never published.
            unsafe { libc::pthread_key_delete((k - 1) as libc::pthread_key_t) };
        }
    }

    pub(super) fn set(key: usize, value: *mut c_void) -> bool {
        // SAFETY: a valid key; the value is only handed back to our callback.
        unsafe { libc::pthread_setspecific(key as libc::pthread_key_t, value) == 0 }
    }
}

#[cfg(windows)]
mod sys {
    use super::*;

    const FLS_OUT_OF_INDEXES: u32 = u32::MAX;

    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn FlsAlloc(callback: Option<ExitFn>) -> u32;
        fn FlsFree(index: u32) -> i32;
        fn FlsSetValue(index: u32, value: *mut c_void) -> i32;
    }

    pub(super) fn create(on_exit: ExitFn) -> usize {
        // SAFETY: a valid callback.
        let i = unsafe { FlsAlloc(Some(on_exit)) };
        if i == FLS_OUT_OF_INDEXES {
            usize::MAX
        } else {
            i as usize + 1
        }
    }

    pub(super) fn delete(i: usize) {
        if i != usize::MAX {
            // SAFETY: an index we allocated and never published.
            unsafe { FlsFree((i - 1) as u32) };
        }
    }

    pub(super) fn set(index: usize, value: *mut c_void) -> bool {
        // SAFETY: a valid index; the value is only handed back to our callback.
        unsafe { FlsSetValue(index as u32, value) != 0 }
    }
}
