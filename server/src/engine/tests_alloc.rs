//! Proves the hot scoring loop does not allocate, with a per-thread counting allocator.
#![allow(clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use super::*;
use crate::domain::{Context, Occasion, Weather};

thread_local! {
    /// Allocations made by the current thread (const-initialised: no allocation itself).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    // `try_with`: the slot may already be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// Counts allocations per thread, delegating everything to `System`.
struct Counting;

#[allow(unsafe_code)]
// SAFETY: every method forwards its (caller-guaranteed) arguments unchanged to `System`.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        bump();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        bump();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn score_batch_does_not_allocate_after_warm_up() {
    let catalog = Catalog::new(synthetic::catalog(5_000, 21));
    let profiles = synthetic::profiles(4, 22);
    // every other planner carries a taste bias: folded in at construction, it must not cost the loop
    let bias: Vec<f32> = (0..catalog.len())
        .map(|i| (i % 7) as f32 * 0.1 - 0.3)
        .collect();
    let planners: Vec<Planner<'_>> = profiles
        .iter()
        .zip([Weather::Cold, Weather::Hot, Weather::Rain, Weather::Mild])
        .enumerate()
        .map(|(i, (p, weather))| {
            let ctx = Context {
                occasion: Occasion::Everyday,
                weather,
            };
            Planner::with_bias(&catalog, p, ctx, (i % 2 == 1).then_some(&bias[..]))
        })
        .collect();
    let mut buf = vec![Scored::EMPTY; 1024];
    let mut rng = WyRand::new(5);
    // Warm-up (first touches, lazily built tables).
    for p in &planners {
        p.score_batch(&mut rng, &mut buf);
    }

    // The counter does see allocations on this thread.
    let before = allocations();
    std::hint::black_box(vec![0u8; 64]);
    assert!(allocations() > before, "counting allocator is not active");

    let before = allocations();
    let mut produced = 0;
    for _ in 0..50 {
        for p in &planners {
            produced += p.score_batch(&mut rng, &mut buf);
        }
    }
    let after = allocations();
    assert!(produced > 100_000, "only {produced} valid outfits");
    assert_eq!(after - before, 0, "hot loop allocated");
}
