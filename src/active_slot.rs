//! The process-wide heap's fast-path handle to a thread's cache: one
//! pointer-sized thread-local word that holds the thread's [`CacheSlot`]
//! while the slot is ACTIVE, and the shared closed slot
//! ([`CLOSED_SLOT`](crate::slot::CLOSED_SLOT)) in every other state.
//!
//! ```text
//!   fast path:  p = word (one load, no test, no call) ─▶ pop / push on p's lists
//!               p = this thread's slot (ACTIVE): the cache's own lists
//!               p = CLOSED_SLOT: every list empty and without room, so the
//!                   pop and the push fail, write nothing ─▶ slow path
//!   slow path:  word = CLOSED_SLOT ; slot.slow(...) ; word = slot if ACTIVE
//!   exit hook:  word = CLOSED_SLOT ; slot.exit_flush(...)
//! ```
//!
//! Why a word of its own: with it the fast path makes one load, instead of
//! loading the state and computing the cache's address; and since the word
//! is never null, the list's own test (empty for a pop, full for a push)
//! is the only one.
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
//! the only writers): the word names its thread's slot only while that slot
//! is ACTIVE, and the closed slot otherwise (its initial value). It is set
//! to the slot only on the way out of a slow path that left the slot
//! ACTIVE, and back to the closed slot before every slow path and before
//! the exit flush, so a call that re-enters memalloc from inside a slow
//! path fails its fast path and never touches the cache in use.

#[cfg(all(feature = "override", target_os = "linux", target_arch = "x86_64"))]
mod imp {
    use crate::slot::{CLOSED_SLOT, CacheSlot};
    use core::arch::{asm, global_asm};

    // One 8-byte thread-local word whose initial value is the closed
    // slot's address (a relocation in the TLS image, which the dynamic
    // loader applies before any thread copies it). Hidden: it is not part
    // of the library's interface, and every object file of this crate
    // reaches it through the initial-exec GOT entry below.
    global_asm!(
        ".pushsection .tdata.memalloc_active_slot,\"awT\",@progbits",
        ".p2align 3",
        ".globl memalloc_active_slot",
        ".hidden memalloc_active_slot",
        ".type memalloc_active_slot,@object",
        ".size memalloc_active_slot,8",
        "memalloc_active_slot:",
        ".quad {closed}",
        ".popsection",
        closed = sym CLOSED_SLOT,
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
    use crate::slot::{CLOSED_SLOT, CacheSlot};
    use core::cell::Cell;

    std::thread_local! {
        /// The word, as an ordinary thread-local (no destructor, no lazy
        /// initialisation: a plain TLS access), naming the closed slot at
        /// thread start.
        static ACTIVE_SLOT: Cell<*const CacheSlot> = const { Cell::new(&CLOSED_SLOT.0) };
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
