//! A `no_std` program for a bare-metal Cortex-M target whose
//! `#[global_allocator]` is a `static` `AreaHeap` over a `static` area,
//! declared as the README shows. CI builds it with cargo, memalloc a
//! dependency without its default features, proving the declaration, the
//! `alloc` collections over it and the heap's code all build and link for
//! bare metal. It is a link check, not firmware: it has no vector table.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use memalloc::AreaHeap;

const HEAP_BYTES: usize = 64 * 1024;
static mut HEAP_AREA: [u8; HEAP_BYTES] = [0; HEAP_BYTES];

#[global_allocator]
// SAFETY: HEAP_AREA is used by nothing but the heap, for the whole program.
static HEAP: AreaHeap =
    unsafe { AreaHeap::from_raw_parts((&raw mut HEAP_AREA).cast(), HEAP_BYTES) };

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        core::hint::spin_loop();
    }
}

/// The entry point: collections on the heap, then its checker.
#[unsafe(no_mangle)]
pub extern "C" fn Reset() -> ! {
    let mut v: Vec<u32> = Vec::new();
    v.extend(0..1000);
    let ok = v.iter().sum::<u32>() == 499_500
        && HEAP.stats().live_blocks == 1
        && HEAP.check().is_ok();
    drop(v);
    if !ok {
        panic!("the area heap failed");
    }
    loop {
        core::hint::spin_loop();
    }
}
