//! The fleet: a dispatcher that keeps the simulated users in a due-time heap
//! and hands due ones to workers, and the worker step each goose user runs.
//!
//! The dispatcher follows the shape: it adds and retires closed-model users to
//! track the target count, and injects open-model arrivals at Poisson times.
//! A worker takes one due user, sends its request through goose, records the
//! outcome against the phase of the intended start, and hands the user back
//! with its next due time.

use std::{
    cmp::Ordering as CmpOrdering,
    collections::BinaryHeap,
    sync::{
        Mutex, OnceLock,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use goose::prelude::{GooseUser, TransactionResult};
use rand::{Rng, SeedableRng, rngs::SmallRng};

use crate::{
    arrivals::Arrivals,
    http::{self, HttpSettings, Urls},
    journeys::{After, JourneyKind, KEPT_IDS, Mix, SimUser, Stage},
    plan::Plan,
    selfcheck::Lag,
    stats::{LATE, Stats},
};

/// How long an idle worker waits for a due user before handing control back to goose.
const IDLE_WAIT: Duration = Duration::from_secs(1);
/// The dispatcher's tick.
const TICK: Duration = Duration::from_millis(1);

/// A simulated user on its way to a worker.
#[derive(Debug)]
pub(crate) struct Due {
    user: SimUser,
    due: Instant,
    /// A fresh open-model arrival (its first request may be dropped if too late).
    arrival: bool,
}

/// A user coming back from a worker.
#[derive(Debug)]
enum Back {
    Again(Due),
    Left { open: bool },
}

struct Entry(Due, u64);

impl PartialEq for Entry {
    fn eq(&self, other: &Entry) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Entry) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // earliest due first out of the max-heap
    fn cmp(&self, other: &Entry) -> CmpOrdering {
        (other.0.due, other.1).cmp(&(self.0.due, self.1))
    }
}

/// Everything the dispatcher and the workers share.
#[derive(Debug)]
pub(crate) struct Engine {
    pub(crate) plan: Plan,
    pub(crate) mix: Mix,
    pub(crate) http: HttpSettings,
    /// The target's URLs, set once the target is known.
    pub(crate) urls: OnceLock<Urls>,
    pub(crate) stats: Stats,
    /// The run second by second, for report.html.
    pub(crate) timeline: crate::timeline::Recorder,
    pub(crate) lag: Lag,
    pub(crate) seed: u64,
    /// Set by the first worker that asks for work: the run's clock starts there.
    t0: OnceLock<Instant>,
    work_tx: Mutex<Option<flume::Sender<Due>>>,
    work_rx: flume::Receiver<Due>,
    back_tx: flume::Sender<Back>,
    back_rx: flume::Receiver<Back>,
    stop_tx: tokio::sync::watch::Sender<bool>,
    /// Closed-model users alive (waiting, queued or in flight).
    pub(crate) closed_users: AtomicU64,
    /// Open-model arrivals still on their journey.
    pub(crate) open_users: AtomicU64,
    /// Workers sending a request right now.
    pub(crate) busy_workers: AtomicU64,
    pub(crate) current_phase: AtomicUsize,
    /// Requests loadbot itself failed to build or send (its bugs, not the server's).
    pub(crate) loadbot_errors: AtomicU64,
}

impl Engine {
    pub(crate) fn new(plan: Plan, mix: Mix, http: HttpSettings, seed: u64) -> Engine {
        let (work_tx, work_rx) = flume::unbounded();
        let (back_tx, back_rx) = flume::unbounded();
        let phases = plan.phases.len();
        Engine {
            plan,
            mix,
            http,
            urls: OnceLock::new(),
            stats: Stats::new(phases),
            timeline: crate::timeline::Recorder::default(),
            lag: Lag::new(),
            seed,
            t0: OnceLock::new(),
            work_tx: Mutex::new(Some(work_tx)),
            work_rx,
            back_tx,
            back_rx,
            stop_tx: tokio::sync::watch::Sender::new(false),
            closed_users: AtomicU64::new(0),
            open_users: AtomicU64::new(0),
            busy_workers: AtomicU64::new(0),
            current_phase: AtomicUsize::new(0),
            loadbot_errors: AtomicU64::new(0),
        }
    }

    /// When the run's clock started, once a worker has asked for work.
    pub(crate) fn started(&self) -> Option<Instant> {
        self.t0.get().copied()
    }

    /// Stops the dispatcher and the workers; in-flight requests are abandoned.
    pub(crate) fn stop(&self) {
        self.stop_tx.send_replace(true);
        if let Ok(mut tx) = self.work_tx.lock() {
            tx.take();
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        *self.stop_tx.borrow()
    }

    /// Resolves once the engine has stopped.
    pub(crate) async fn stopped(&self) {
        let mut rx = self.stop_tx.subscribe();
        let _ = rx.wait_for(|stopped| *stopped).await;
    }

    fn new_user(&self, rng: &mut SmallRng, open: bool, kind: JourneyKind) -> SimUser {
        let mut user = SimUser {
            open,
            journey: kind,
            stage: Stage::Done,
            left: 0,
            inner: 0,
            retries: 0,
            token: None,
            onboarded: false,
            ids: [0; KEPT_IDS],
            id_count: 0,
            cursor: None,
            rng: SmallRng::seed_from_u64(rng.random()),
        };
        self.mix.start(&mut user, kind);
        user
    }

    /// Runs the shape to its end (or until stopped), then stops everything.
    pub(crate) async fn dispatch(&self) {
        let mut started = self.stop_tx.subscribe();
        // wait for the first worker; give up if stopped first
        let t0 = loop {
            if let Some(t0) = self.started() {
                break t0;
            }
            if *started.borrow() {
                return;
            }
            let _ = tokio::time::timeout(Duration::from_millis(5), started.changed()).await;
        };
        let Some(work) = self.work_tx.lock().ok().and_then(|tx| tx.clone()) else {
            return;
        };
        let mut rng = SmallRng::seed_from_u64(self.seed);
        let mut arrivals = Arrivals::new(self.seed ^ 0x9e37_79b9_7f4a_7c15);
        let mut next_arrival = arrivals.next(&self.plan);
        let mut heap: BinaryHeap<Entry> = BinaryHeap::new();
        let mut seq = 0u64;
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        while !self.is_stopped() {
            let scheduled = ticker.tick().await;
            let now = Instant::now();
            self.lag
                .record(now.saturating_duration_since(scheduled.into_std()));
            let t = now - t0;
            if t >= self.plan.total {
                break;
            }
            let phase = self.plan.phase_index(t);
            self.current_phase.store(phase, Ordering::Relaxed);
            for back in self.back_rx.try_iter() {
                match back {
                    Back::Again(due) => {
                        seq += 1;
                        heap.push(Entry(due, seq));
                    }
                    Back::Left { open: true } => {
                        self.open_users.fetch_sub(1, Ordering::Relaxed);
                    }
                    Back::Left { open: false } => {
                        self.closed_users.fetch_sub(1, Ordering::Relaxed);
                    }
                }
            }
            while let Some(at) = next_arrival.filter(|at| *at <= t) {
                let user = self.new_user(&mut rng, true, JourneyKind::NewInstall);
                self.stats.phase(self.plan.phase_index(at)).arrivals += 1;
                self.timeline.arrival(at);
                self.open_users.fetch_add(1, Ordering::Relaxed);
                seq += 1;
                heap.push(Entry(
                    Due {
                        user,
                        due: t0 + at,
                        arrival: true,
                    },
                    seq,
                ));
                next_arrival = arrivals.next(&self.plan);
            }
            let target = self.plan.users_at(t).round().max(0.0) as u64;
            let alive = self.closed_users.load(Ordering::Relaxed);
            let mut retire_debt = alive.saturating_sub(target);
            if alive < target {
                for _ in alive..target {
                    let kind = self.mix.pick(&mut rng);
                    let user = self.new_user(&mut rng, false, kind);
                    // the first think staggers a crowd of new users
                    let due = now + self.mix.think(kind, &mut rng);
                    seq += 1;
                    heap.push(Entry(
                        Due {
                            user,
                            due,
                            arrival: false,
                        },
                        seq,
                    ));
                }
                self.closed_users.store(target, Ordering::Relaxed);
            }
            while heap.peek().is_some_and(|e| e.0.due <= now) {
                let Some(Entry(due, _)) = heap.pop() else {
                    break;
                };
                // users leave as they come due, each with the share of the
                // population that must go: the active ones do not all leave first
                let leaves = !due.user.open
                    && retire_debt > 0
                    && rng.random::<f64>() * (alive.max(1) as f64) < (retire_debt as f64);
                if leaves {
                    retire_debt -= 1;
                    self.closed_users.fetch_sub(1, Ordering::Relaxed);
                    continue;
                }
                if work.send(due).is_err() {
                    break;
                }
            }
        }
        self.stop();
    }

    /// One goose transaction: take a due user, send its request, hand it back.
    pub(crate) async fn work(&self, goose: &mut GooseUser) -> TransactionResult {
        let t0 = *self.t0.get_or_init(Instant::now);
        if self.is_stopped() {
            // let goose's own loop notice its exit command without spinning
            tokio::time::sleep(IDLE_WAIT).await;
            return Ok(());
        }
        // a timer only when there is nothing to do right away
        let next = match self.work_rx.try_recv() {
            Ok(due) => Some(due),
            Err(_) => tokio::select! {
                due = self.work_rx.recv_async() => due.ok(),
                () = tokio::time::sleep(IDLE_WAIT) => None,
            },
        };
        let Some(Due {
            mut user,
            due,
            arrival,
        }) = next
        else {
            return Ok(());
        };
        let picked = Instant::now();
        let lateness = picked.saturating_duration_since(due);
        let phase = self.plan.phase_index(due.saturating_duration_since(t0));
        if arrival && lateness > self.http.client_timeout {
            // a user who waited this long would have given up before the first request
            self.stats.phase(phase).dropped_arrivals += 1;
            let _ = self.back_tx.send(Back::Left { open: true });
            return Ok(());
        }
        if lateness > LATE {
            self.stats.phase(phase).late_starts += 1;
        }
        let Some(urls) = self.urls.get() else {
            return self.hand_back(user, picked, After::Done);
        };
        self.busy_workers.fetch_add(1, Ordering::Relaxed);
        let sent = tokio::select! {
            answer = http::send(goose, &mut user, self.http, urls) => Some(answer),
            () = self.stopped() => None,
        };
        self.busy_workers.fetch_sub(1, Ordering::Relaxed);
        let Some(answer) = sent else {
            self.stats.abandoned_at_stop.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        };
        let finished = Instant::now();
        let answer = match answer {
            Ok(answer) => answer,
            Err(message) => {
                if self.loadbot_errors.fetch_add(1, Ordering::Relaxed) == 0 {
                    eprintln!("loadbot: cannot send a request: {message}");
                }
                // end this journey; the user tries a new one later
                user.stage = Stage::Done;
                return self.hand_back(user, finished, After::Done);
            }
        };
        self.stats.request(
            phase,
            answer.outcome,
            finished.saturating_duration_since(due),
            finished.saturating_duration_since(picked),
        );
        self.timeline.request(
            finished.saturating_duration_since(t0),
            answer.outcome,
            finished.saturating_duration_since(due),
        );
        let after = self.mix.after(&mut user, &answer);
        self.hand_back(user, finished, after)
    }

    fn hand_back(&self, mut user: SimUser, now: Instant, after: After) -> TransactionResult {
        let back = match after {
            After::Next(delay) => Back::Again(Due {
                user,
                due: now + delay,
                arrival: false,
            }),
            After::Done if user.open => Back::Left { open: true },
            After::Done => {
                let kind = self.mix.pick(&mut user.rng);
                self.mix.start(&mut user, kind);
                let due = now + self.mix.think(kind, &mut user.rng);
                Back::Again(Due {
                    user,
                    due,
                    arrival: false,
                })
            }
        };
        // the dispatcher is gone once the run is over
        let _ = self.back_tx.send(back);
        Ok(())
    }
}
