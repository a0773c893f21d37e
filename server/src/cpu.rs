//! CPU-bound request work (outfit generation) off the async workers.
//!
//! The runtime has one async worker per core. Work that holds a worker for
//! milliseconds, such as the engine, makes every other task on it wait:
//! admission's queue timer, its fast `503`s, even `accept`. Under overload
//! (debug build, 2 cores) that put the server's own shed time at up to
//! ~130 ms against the contract's 50.
//!
//! [`CpuLane`] is a small pool of plain threads, one per core, fed from a
//! queue. A thread takes the next job as soon as it finishes one, with no
//! async hop in between (a semaphore in front of `spawn_blocking` left the
//! lane idle whenever the async worker that had to hand out the next slot was
//! itself waiting for the CPU: 17% less throughput in a debug build). The
//! queue never grows past what admission lets in (`overload.max_inflight`),
//! and a job whose request was already dropped at its deadline is skipped.

use std::{
    num::NonZeroUsize,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex, mpsc},
};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The pool that runs CPU-bound request work.
#[derive(Debug)]
pub struct CpuLane {
    jobs: mpsc::Sender<Job>,
}

/// The job panicked (its panic was already reported by the panic hook), or
/// the lane's threads are gone.
#[derive(Debug, thiserror::Error)]
#[error("a CPU-bound job did not finish")]
pub struct JobFailed;

impl CpuLane {
    /// A lane of one thread per core the process may use.
    pub fn per_core() -> CpuLane {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        CpuLane::new(cores)
    }

    /// A lane of `threads` threads (at least one). They end once the lane is dropped.
    pub fn new(threads: usize) -> CpuLane {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            let rx = Arc::clone(&rx);
            let spawned = std::thread::Builder::new()
                .name(format!("cpu-lane-{i}"))
                .spawn(move || {
                    loop {
                        // hold the lock only to take a job, not to run it
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        // a panicking job fails its own request, not the thread
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(job));
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a CPU lane thread");
            }
        }
        CpuLane { jobs: tx }
    }

    /// Runs `job` on one of the lane's threads and waits for its result.
    ///
    /// When the caller is dropped before the job started (the request hit its
    /// deadline), the job is skipped.
    pub async fn run<T, F>(&self, job: F) -> Result<T, JobFailed>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move || {
            if tx.is_closed() {
                return;
            }
            let _ = tx.send(job());
        });
        self.jobs.send(job).map_err(|_| JobFailed)?;
        rx.await.map_err(|_| JobFailed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_jobs_run_at_once_than_the_lane_has_threads() {
        let lane = Arc::new(CpuLane::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let jobs: Vec<_> = (0..8)
            .map(|_| {
                let (lane, running, most) = (lane.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    lane.run(move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                    })
                    .await
                })
            })
            .collect();
        for job in jobs {
            job.await.expect("task").expect("job");
        }
        assert_eq!(most.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_async_worker_stays_free_while_a_job_runs() {
        let lane = CpuLane::new(1);
        let job = lane.run(|| std::thread::sleep(Duration::from_millis(300)));
        // a timer on the only async worker still fires on time
        let timer = async {
            let started = std::time::Instant::now();
            tokio::time::sleep(Duration::from_millis(10)).await;
            started.elapsed()
        };
        let (done, waited) = tokio::join!(job, timer);
        done.expect("job");
        assert!(
            waited < Duration::from_millis(150),
            "timer late: {waited:?}"
        );
    }

    #[tokio::test]
    async fn a_panicking_job_is_an_error_and_the_lane_goes_on() {
        let lane = CpuLane::new(1);
        let panicked = lane.run(|| panic!("boom")).await;
        assert!(panicked.is_err());
        assert_eq!(lane.run(|| 7).await.expect("thread still there"), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_job_whose_caller_left_is_skipped() {
        let lane = CpuLane::new(1);
        let ran = Arc::new(AtomicUsize::new(0));
        // keep the only thread busy, then queue a job and drop its caller
        let busy = lane.run(|| std::thread::sleep(Duration::from_millis(100)));
        let counted = ran.clone();
        let dropped = lane.run(move || counted.fetch_add(1, Ordering::SeqCst));
        let (busy, dropped) = tokio::join!(busy, async {
            tokio::time::timeout(Duration::from_millis(10), dropped).await
        });
        busy.expect("busy job");
        assert!(dropped.is_err(), "the caller gave up first");
        // a later job runs after the skipped one
        assert_eq!(lane.run(|| 1).await.expect("lane"), 1);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    }
}
