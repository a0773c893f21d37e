//! Heap profiling: jemalloc's sampling profiler, compiled in and inactive.
//!
//! A leak written the ordinary way grows a `Vec`, a `String` or a map: the
//! live allocation count stays flat and the bytes rise in doubling steps, so
//! counters alone cannot say where. jemalloc can: once activated it records
//! the stack of about one allocation per `2^lg_sample` bytes allocated, and a
//! dump lists the live sampled bytes per stack. The release gate activates
//! it, dumps a profile at two quiet points and diffs them; the stacks that
//! grew are the site. Dumps are pprof (gzipped protobuf, symbolized here,
//! where the binary's line tables are), so `pprof -diff_base` reads them too.
//!
//! Inactive, the profiler costs a counter per allocation and records nothing
//! ([`crate::alloc::MALLOC_CONF`] turns it on, inactive). This module writes
//! jemalloc's documented `mallctl` names, which is `unsafe`.
#![allow(unsafe_code)]

mod pprof;

use tikv_jemalloc_ctl::raw;

/// The sampling interval the gate asks for: 2^12 = 4 KiB, so any buffer that
/// has grown to a few KiB is in the profile with near certainty.
pub const GATE_LG_SAMPLE: u8 = 12;

/// Why the profiler cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum HeapProfError {
    #[error(
        "heap profiling is not available in this process (jemalloc without `prof:true` in its malloc_conf)"
    )]
    Unavailable,
    #[error("the profiler is not active: activate it first")]
    Inactive,
    #[error("jemalloc refused {0}")]
    Ctl(&'static str, #[source] tikv_jemalloc_ctl::Error),
    #[error("dumping the profile")]
    Dump(#[source] anyhow::Error),
}

/// Whether jemalloc was started with profiling compiled in and enabled.
pub fn available() -> bool {
    // SAFETY: "opt.prof" is documented as readable and a bool.
    unsafe { raw::read::<bool>(b"opt.prof\0") }.unwrap_or(false)
}

/// Whether the profiler is recording.
pub fn active() -> bool {
    // SAFETY: "prof.active" is documented as readable and a bool.
    available() && unsafe { raw::read::<bool>(b"prof.active\0") }.unwrap_or(false)
}

/// Starts recording afresh, one sample per `2^lg_sample` bytes on average
/// (earlier samples are discarded).
pub fn activate(lg_sample: u8) -> Result<(), HeapProfError> {
    if !available() {
        return Err(HeapProfError::Unavailable);
    }
    // SAFETY: "prof.reset" is documented as writable and a size_t (the new lg_sample).
    unsafe { raw::write(b"prof.reset\0", usize::from(lg_sample)) }
        .map_err(|e| HeapProfError::Ctl("prof.reset", e))?;
    // SAFETY: "prof.active" is documented as writable and a bool.
    unsafe { raw::write(b"prof.active\0", true) }
        .map_err(|e| HeapProfError::Ctl("prof.active", e))?;
    tracing::info!(lg_sample, "heap profiling activated");
    Ok(())
}

/// Stops recording; what was sampled stays until the next activation.
pub fn deactivate() -> Result<(), HeapProfError> {
    if !available() {
        return Err(HeapProfError::Unavailable);
    }
    // SAFETY: "prof.active" is documented as writable and a bool.
    unsafe { raw::write(b"prof.active\0", false) }
        .map_err(|e| HeapProfError::Ctl("prof.active", e))?;
    tracing::info!("heap profiling deactivated");
    Ok(())
}

/// The live sampled heap as a symbolized pprof profile (`inuse_space`, bytes).
pub async fn dump_pprof() -> Result<Vec<u8>, HeapProfError> {
    if !active() {
        return Err(HeapProfError::Inactive);
    }
    let ctl = jemalloc_pprof::PROF_CTL
        .as_ref()
        .ok_or(HeapProfError::Unavailable)?
        .clone();
    // symbolizing reads the binary's line tables: not on an async worker
    tokio::task::spawn_blocking(move || {
        let profile = ctl.blocking_lock().dump_profile()?;
        pprof::encode(&profile)
    })
    .await
    .map_err(|e| HeapProfError::Dump(e.into()))?
    .map_err(HeapProfError::Dump)
}
