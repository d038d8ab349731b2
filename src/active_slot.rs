//! The process-wide heap's fast-path handle to a thread's cache: one
//! pointer-sized thread-local word that holds the thread's [`CacheSlot`]
//! while the slot is ACTIVE, and null in every other state.
//!
//! ```text
//!   fast path:  p = word (one load, no call)
//!               p null ─▶ slow path      p ─▶ CacheSlot (state ACTIVE) ─▶ pop / push
//!   slow path:  word = null ; slot.slow(...) ; word = slot if ACTIVE
//!   exit hook:  word = null ; slot.exit_flush(...)
//! ```
//!
//! Why a word of its own: with it the fast path makes one load and one
//! test, instead of loading the state and computing the cache's address.
//! And the slot itself is a `thread_local!`, which a shared library
//! reaches through the general-dynamic TLS model, a call to
//! `__tls_get_addr` on every access. In the `override` build this word is
//! defined in assembly so that the library reaches it with the
//! initial-exec model instead (one `%fs`-relative load). The model each
//! artefact uses, and why it is safe:
//!
//! - built with the `override` feature on x86-64 Linux (the library that
//!   `LD_PRELOAD` loads, and the `.a` and `.rlib` of that build): the
//!   initial-exec word. A preloaded library is loaded at start-up, so its
//!   TLS sits in the static TLS block that every thread gets; in an
//!   executable (the `.a`, the `.rlib`) the linker relaxes the access to
//!   local-exec. The library is marked `STATIC_TLS`, so its whole TLS
//!   segment (about 2 KiB: the thread cache) must fit in static TLS: a
//!   `dlopen` of it after start-up gets that room only from glibc's
//!   reserve (`glibc.rtld.optional_static_tls`, 512 bytes by default) and
//!   otherwise fails at load with "cannot allocate memory in static TLS
//!   block", never later. Programs that load memalloc with `dlopen` use
//!   the plain library;
//! - every other build, including the plain `libmemalloc.so` that a
//!   program may `dlopen`: a `const`-initialised `thread_local!` cell,
//!   whose model the toolchain picks (local-exec in executables, one
//!   load; general-dynamic in shared libraries, where `dlopen` always
//!   works).
//!
//! Invariant (`slot::ActiveWord`, kept by the slot's `*_through` methods,
//! the only writers): the word is non-null only while its thread's slot is
//! ACTIVE, and then it points to that slot. It is set only on the way out
//! of a slow path that left the slot ACTIVE, and cleared before every slow
//! path and before the exit flush, so a call that re-enters memalloc from
//! inside a slow path sees null and never touches the cache in use.

#[cfg(all(feature = "override", target_os = "linux", target_arch = "x86_64"))]
mod imp {
    use crate::slot::CacheSlot;
    use core::arch::{asm, global_asm};

    // One 8-byte, zero-initialised thread-local word. Hidden: it is not
    // part of the library's interface, and every object file of this
    // crate reaches it through the initial-exec GOT entry below.
    global_asm!(
        ".pushsection .tbss.memalloc_active_slot,\"awT\",@nobits",
        ".p2align 3",
        ".globl memalloc_active_slot",
        ".hidden memalloc_active_slot",
        ".type memalloc_active_slot,@object",
        ".size memalloc_active_slot,8",
        "memalloc_active_slot:",
        ".zero 8",
        ".popsection",
    );

    /// The word's value for the calling thread.
    #[inline(always)]
    pub(crate) fn get() -> *const CacheSlot {
        let p: *const CacheSlot;
        // SAFETY: reads the calling thread's copy of the word through its
        // thread-pointer offset (initial-exec); the word exists for every
        // thread that can run this code (module docs) and is only ever
        // written by its own thread.
        unsafe {
            asm!(
                "mov {p}, qword ptr [rip + memalloc_active_slot@GOTTPOFF]",
                "mov {p}, qword ptr fs:[{p}]",
                p = out(reg) p,
                options(nostack, preserves_flags, readonly, pure),
            );
        }
        p
    }

    /// Sets the word for the calling thread.
    #[inline(always)]
    pub(crate) fn set(slot: *const CacheSlot) {
        // SAFETY: writes the calling thread's own copy of the word, as in
        // `get`.
        unsafe {
            asm!(
                "mov {off}, qword ptr [rip + memalloc_active_slot@GOTTPOFF]",
                "mov qword ptr fs:[{off}], {slot}",
                off = out(reg) _,
                slot = in(reg) slot,
                options(nostack, preserves_flags),
            );
        }
    }
}

#[cfg(not(all(feature = "override", target_os = "linux", target_arch = "x86_64")))]
mod imp {
    use crate::slot::CacheSlot;
    use core::cell::Cell;
    use core::ptr;

    std::thread_local! {
        /// The word, as an ordinary thread-local (no destructor, no lazy
        /// initialisation: a plain TLS access).
        static ACTIVE_SLOT: Cell<*const CacheSlot> = const { Cell::new(ptr::null()) };
    }

    /// The word's value for the calling thread.
    #[inline(always)]
    pub(crate) fn get() -> *const CacheSlot {
        ACTIVE_SLOT.with(|w| w.get())
    }

    /// Sets the word for the calling thread.
    #[inline(always)]
    pub(crate) fn set(slot: *const CacheSlot) {
        ACTIVE_SLOT.with(|w| w.set(slot))
    }
}

pub(crate) use imp::{get, set};
