//! The live display: one line redrawn on a terminal, plain periodic lines otherwise.

use std::{
    io::{IsTerminal, Write},
    sync::{Arc, atomic::Ordering},
    time::{Duration, Instant},
};

use crate::{engine::Engine, slo::percentile_ms};

/// Redraws until the engine stops; returns once it has.
pub(crate) async fn show(engine: Arc<Engine>) {
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_secs(1)
    } else {
        Duration::from_secs(5)
    };
    let mut last = (Instant::now(), 0u64);
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    while !engine.is_stopped() {
        tokio::select! {
            _ = ticker.tick() => {}
            () = engine.stopped() => break,
        }
        let Some(t0) = engine.started() else { continue };
        let now = Instant::now();
        let total = engine.stats.total_requests.load(Ordering::Relaxed);
        let rate = (total - last.1) as f64 / (now - last.0).as_secs_f64().max(1e-3);
        last = (now, total);
        let phase = engine.current_phase.load(Ordering::Relaxed);
        let p99 = percentile_ms(&engine.stats.phase(phase).ok_latency, 0.99);
        let name = engine
            .plan
            .phases
            .get(phase)
            .map_or("", |p| p.name.as_str());
        let line = format!(
            "{:>6.1}s {:<14} users {:>6} (+{} arriving)  {:>7.0} req/s  p99 {:>8}  errors {}  sheds {}  silent {}",
            (now - t0).as_secs_f64(),
            name,
            engine.closed_users.load(Ordering::Relaxed),
            engine.open_users.load(Ordering::Relaxed),
            rate,
            p99.map_or("-".to_owned(), |v| format!("{v:.1}ms")),
            engine.stats.total_errors.load(Ordering::Relaxed),
            engine.stats.total_shed.load(Ordering::Relaxed),
            engine.stats.total_silent.load(Ordering::Relaxed),
        );
        let mut err = std::io::stderr().lock();
        let _ = if tty {
            write!(err, "\r\x1b[2K{line}")
        } else {
            writeln!(err, "{line}")
        };
        let _ = err.flush();
    }
    if tty {
        let _ = writeln!(std::io::stderr());
    }
}
