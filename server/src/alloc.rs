//! A counting global allocator: live bytes and live allocation count, exact and cheap.
//!
//! The leak detectors judge memory growth per request; RSS is too coarse to see
//! 3 bytes a call, but a live-allocation count sees every forgotten `Box`.
//! The binary installs it over jemalloc with
//! [`global_allocator!`](crate::global_allocator), which also turns jemalloc's
//! heap profiler on, inactive ([`crate::heapprof`]).
//!
//! This is the one module that needs `unsafe`: `GlobalAlloc` is an unsafe trait.
#![allow(unsafe_code)]

use std::{
    alloc::{GlobalAlloc, Layout},
    sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed},
};

/// jemalloc's start-up options: profiling compiled in, off until asked for.
/// Exported under `_rjem_malloc_conf` by [`global_allocator!`](crate::global_allocator);
/// [`crate::heapprof`] activates and dumps the profiler.
pub const MALLOC_CONF: &[u8] = b"prof:true,prof_active:false,lg_prof_sample:19\0";

/// The allocator under the count, re-exported for [`global_allocator!`](crate::global_allocator).
pub use tikv_jemallocator::Jemalloc;

static LIVE_BYTES: AtomicI64 = AtomicI64::new(0);
static LIVE_ALLOCATIONS: AtomicI64 = AtomicI64::new(0);
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// Wraps an allocator and counts what is live.
#[derive(Debug)]
pub struct Counting<A> {
    inner: A,
}

impl<A> Counting<A> {
    pub const fn new(inner: A) -> Self {
        Counting { inner }
    }
}

// SAFETY: every method forwards to the inner allocator with the caller's
// arguments unchanged; the counters are plain atomics and never allocate.
unsafe impl<A: GlobalAlloc> GlobalAlloc for Counting<A> {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { self.inner.alloc(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let p = unsafe { self.inner.alloc_zeroed(layout) };
        if !p.is_null() {
            note_alloc(layout.size());
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller guarantees `ptr` came from this allocator with `layout`.
        unsafe { self.inner.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as i64, Relaxed);
        LIVE_ALLOCATIONS.fetch_sub(1, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded unchanged; the caller upholds realloc's contract.
        let p = unsafe { self.inner.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            LIVE_BYTES.fetch_add(new_size as i64 - layout.size() as i64, Relaxed);
        }
        p
    }
}

fn note_alloc(size: usize) {
    LIVE_BYTES.fetch_add(size as i64, Relaxed);
    LIVE_ALLOCATIONS.fetch_add(1, Relaxed);
    if !INSTALLED.load(Relaxed) {
        INSTALLED.store(true, Relaxed);
    }
}

/// Live figures, when the counting allocator is the global one in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocStats {
    pub live_bytes: i64,
    pub live_allocations: i64,
}

/// `None` when the process runs without [`Counting`] as its global allocator.
pub fn stats() -> Option<AllocStats> {
    INSTALLED.load(Relaxed).then(|| AllocStats {
        live_bytes: LIVE_BYTES.load(Relaxed),
        live_allocations: LIVE_ALLOCATIONS.load(Relaxed),
    })
}

/// Resident set size of this process from `/proc/self/statm`, in bytes.
pub fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

fn page_size() -> u64 {
    // Every Linux target we run on uses 4 KiB pages for RSS accounting.
    4096
}

/// Declares the server's global allocator: the counting allocator over
/// jemalloc, with heap profiling compiled in and inactive. Every binary that
/// serves (the server, and programs built on its library) invokes it once.
#[macro_export]
macro_rules! global_allocator {
    () => {
        #[global_allocator]
        static GLOBAL: $crate::alloc::Counting<$crate::alloc::Jemalloc> =
            $crate::alloc::Counting::new($crate::alloc::Jemalloc);

        /// jemalloc reads its options from this symbol before `main`.
        #[allow(unsafe_code, non_upper_case_globals)]
        #[unsafe(export_name = "_rjem_malloc_conf")]
        pub static malloc_conf: &[u8] = $crate::alloc::MALLOC_CONF;
    };
}
