//! The `growth-rounds` step: rounds of load with the candidate idle between
//! them, for the defects that hide in a busy heap.
//!
//! Under load the heap churns by more than a leak of a few bytes a request
//! adds, so the continuous detectors cannot see it. An idle server holds only
//! what it kept. So the step runs loadbot once per round, waits after each
//! round until nothing is in flight, and reads at that quiet point the
//! counters (live heap, tasks, every in-use gauge) and a jemalloc heap profile
//! (the candidate's profiler, activated through its admin API). Then:
//!
//! - memory: the heap and the profiled sites that grew from the first quiet
//!   point to the last, the site named as project `file:line` frames, and the
//!   profiles written as `heap-first.pb.gz` / `heap-last.pb.gz`;
//! - tasks: tasks that grew with the requests, naming the busy routes;
//! - every in-use gauge back to its idle value at the last quiet point;
//! - connection holds per site, projected to the production peak by Little's law;
//! - polls of request futures that blocked an async worker, per route.
//!
//! The first round warms the server up (pools, caches, the profiler's own
//! symbol tables) and is not judged.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use chaos::{
    detect::{self, Budgets, Projection, SettledPoint},
    heap::{self, HeapProfile},
    metrics::Sample,
};

use crate::{
    candidate::Candidate,
    loadrun,
    verdict::{Check, Status},
};

/// The step's name in reports.
pub(crate) const STEP: &str = "growth-rounds";

/// How the rounds run.
#[derive(Debug, Clone)]
pub(crate) struct Rounds {
    pub(crate) file: PathBuf,
    pub(crate) users: u32,
    /// One round's length, as loadbot's `--duration`.
    pub(crate) round: &'static str,
    /// Judged rounds, after the warm-up round.
    pub(crate) rounds: usize,
    /// A stall: a request whose longest poll took longer than this.
    pub(crate) poll_bound: Duration,
    /// The smallest growth of one profiled site that is retained memory.
    pub(crate) site_floor_bytes: f64,
}

/// A stall: a request whose longest poll held its worker longer than this.
/// Tokio's guidance is at most 10-100 µs between awaits; the outfit engine's
/// legitimate compute on the gate's catalog takes well under a millisecond in
/// release and about 1 ms at the debug profile's opt-level 1. Two
/// milliseconds clears that with margin and is still shorter than any
/// blocking call a person would notice writing ("a few ms").
pub(crate) const POLL_BOUND: Duration = Duration::from_millis(2);

/// The whole idle heap's floors: it moved by up to 41 KB (3.2 B per request)
/// between the quiet points of a healthy server, so the total catches leaks of
/// about 10 B per request anywhere, and the profiled sites the small ones.
pub(crate) const TOTAL_NOISE_BYTES: f64 = 128.0 * 1024.0;
pub(crate) const TOTAL_BYTES_PER_REQUEST: f64 = 8.0;

/// The share of a route's requests past [`POLL_BOUND`] that fails it. A
/// blocking call on the route's path blocks every request (100% in the twin);
/// a healthy debug build on this 2-core machine, load generator beside it,
/// had 0-0.4%, and up to 1.4% with a second gate running at the same time.
pub(crate) const STALL_SHARE: f64 = 0.05;

/// The smallest growth of one profiled site judged as retained memory: six
/// times the sampling interval of 1 KiB, and about twice what any site of a
/// healthy server grew across the rounds (high-water marks of pool
/// connections and span slabs, up to 3.2 KiB measured; `scripts/growth-bench.sh`).
pub(crate) const SITE_FLOOR_BYTES: f64 = 6144.0;

/// The production peak the costs are projected to: the main job's
/// `loadbot spike --users 50000` on `appstore-spike.toml`.
pub(crate) const PEAK_USERS: f64 = 50_000.0;
const PEAK_SCENARIO: &str = "appstore-spike.toml";

/// A fresh admin token for one candidate (32 hex digits).
pub(crate) fn admin_token() -> String {
    use crate::suite::rand_u64;
    format!("{:016x}{:016x}", rand_u64(), rand_u64())
}

/// The production peak: the spike scenario's request rate at [`PEAK_USERS`]
/// (by its think times), the deployment's instances, the candidate's pool and
/// the database's limit.
pub(crate) async fn projection(
    cx: &crate::suite::Context<'_>,
    candidate: &Candidate,
) -> Projection {
    let spike = scenarios::Scenario::from_file(&cx.scenarios_dir.join(PEAK_SCENARIO))
        .or_else(|_| scenarios::Scenario::appstore_spike());
    let rate = spike
        .ok()
        .and_then(|s| s.request_rate(PEAK_USERS))
        .unwrap_or(0.0);
    let pool = match crate::checks::scrape(&candidate.url).await {
        Ok(m) => crate::checks::value(&m, "db_pool_max_connections").unwrap_or(0.0),
        Err(_) => 0.0,
    };
    let database_max = crate::checks::database_limits(&candidate.database_url)
        .await
        .ok()
        .flatten()
        .map(|(max, reserved)| max.saturating_sub(reserved) as f64);
    Projection {
        peak_requests_per_s: rate,
        scenario: format!("appstore-spike at {PEAK_USERS:.0} users"),
        instances: cx.instances,
        pool_per_instance: pool,
        database_max,
    }
}

/// What the step needs besides the candidate.
#[derive(Debug)]
pub(crate) struct Setting<'a> {
    pub(crate) loadbot: &'a Path,
    pub(crate) admin_token: &'a str,
    pub(crate) budgets: &'a Budgets,
    pub(crate) projection: &'a Projection,
    pub(crate) dir: &'a Path,
}

/// One quiet point: the scrape, and the heap profile when there is one.
struct Quiet {
    sample: Sample,
    profile: Option<(Vec<u8>, HeapProfile)>,
}

/// Runs the rounds and judges them.
///
/// The order matters. A warm-up round fills pools and caches. A timing round
/// follows with the profiler still off, because sampling allocations costs
/// every poll and hold time: the stall and hold judges read its figures.
/// Then the profiler starts and the judged rounds run. Profiles are dumped at
/// the first judged quiet point and the last only, since a dump keeps symbol
/// tables the heap readings would otherwise count as growth.
pub(crate) async fn run(candidate: &Candidate, r: &Rounds, s: &Setting<'_>) -> Vec<Check> {
    let started = Instant::now();
    let client = reqwest::Client::new();
    let url = candidate.url.as_str();
    let before = match quiet_point(&client, url, None, started).await {
        Ok(q) => q.sample,
        Err(e) => return vec![inconclusive("quiet point", e)],
    };
    let mut timing = Vec::with_capacity(2);
    for round in 0..2 {
        // the warm-up runs more users than any later round: what grows with
        // concurrency (pool connections, span slabs, buffers) reaches its
        // high-water mark before anything is judged
        let users = if round == 0 {
            WARMUP_USERS * r.users
        } else {
            r.users
        };
        if let Err(e) = load_round(candidate, r, s, round, users).await {
            return vec![inconclusive("load round", format!("round {round}: {e:#}"))];
        }
        match quiet_point(&client, url, None, started).await {
            Ok(q) => timing.push(q.sample),
            Err(e) => {
                return vec![inconclusive(
                    "quiet point",
                    format!("after round {round}: {e}"),
                )];
            }
        }
    }
    let profiler = activate_profiler(&client, url, s.admin_token).await;
    let mut points = Vec::with_capacity(r.rounds);
    for i in 0..r.rounds {
        let round = i + 2;
        if let Err(e) = load_round(candidate, r, s, round, r.users).await {
            return vec![inconclusive("load round", format!("round {round}: {e:#}"))];
        }
        let dump = (i == 0 || i + 1 == r.rounds) && profiler.is_ok();
        let token = dump.then_some(s.admin_token);
        match quiet_point(&client, url, token, started).await {
            Ok(q) => points.push(q),
            Err(e) => {
                return vec![inconclusive(
                    "quiet point",
                    format!("after round {round}: {e}"),
                )];
            }
        }
    }
    let took = started.elapsed().as_secs_f64();
    let mut checks = vec![
        memory_check(&points, &profiler, r, s),
        tasks_check(&points, s.budgets, s.projection),
        gauges_check(&before, &points, s.budgets),
        holds_check(&timing[0], &timing[1], s.projection),
        stalls_check(&timing[0], &timing[1], r.poll_bound, s.budgets),
    ];
    for check in &mut checks {
        check.seconds = took;
    }
    checks
}

fn inconclusive(name: &str, detail: impl Into<String>) -> Check {
    Check::new(STEP, name, Status::Inconclusive, detail)
}

/// Activates the candidate's heap profiler; the reason it could not, otherwise.
async fn activate_profiler(client: &reqwest::Client, url: &str, token: &str) -> Result<(), String> {
    let answer = client
        .post(format!("{url}/admin/heap/profiling"))
        .bearer_auth(token)
        .json(&serde_json::json!({ "active": true, "lg_sample": LG_SAMPLE }))
        .send()
        .await
        .map_err(|e| format!("activating the heap profiler: {e}"))?;
    match answer.status() {
        s if s.is_success() => Ok(()),
        s => Err(format!(
            "the candidate has no heap profiler to activate (POST /admin/heap/profiling answered {s}: {})",
            answer.text().await.unwrap_or_default().trim()
        )),
    }
}

/// One sample per 1 KiB allocated: a buffer of a few KiB is in the profile
/// with near certainty (1 - e^-4 at 4 KiB), at a cost a debug build carries.
const LG_SAMPLE: u8 = 10;

/// The warm-up round's users, in multiples of a judged round's.
const WARMUP_USERS: u32 = 2;

async fn load_round(
    candidate: &Candidate,
    r: &Rounds,
    s: &Setting<'_>,
    round: usize,
    users: u32,
) -> anyhow::Result<()> {
    let dir = s.dir.join(format!("round-{round}"));
    let run = loadrun::LoadRun {
        loadbot: s.loadbot,
        scenario_name: STEP,
        scenario_file: &r.file,
        users,
        duration: r.round,
        workers: None,
        seed: round as u64 + 1,
        report_dir: &dir,
    };
    loadrun::run_inner(&run, &candidate.url).await.map(|_| ())
}

/// How long a candidate may take to go quiet after a round.
const QUIET_WITHIN: Duration = Duration::from_secs(10);
/// Readings at a quiet point; the lowest heap of them is kept (a scrape
/// allocates while it renders).
const READINGS: usize = 3;

/// Waits until nothing is in flight or queued and no client is connected
/// (the watcher's own scrape aside), lets background work finish, then reads
/// the counters and, with `token`, a heap profile.
async fn quiet_point(
    client: &reqwest::Client,
    url: &str,
    token: Option<&str>,
    t0: Instant,
) -> Result<Quiet, String> {
    let deadline = Instant::now() + QUIET_WITHIN;
    loop {
        let s = scrape(client, url).await?;
        let idle = s.inflight.unwrap_or(0.0) <= 0.0
            && s.queue_depth.unwrap_or(0.0) <= 0.0
            && s.pool_in_use.unwrap_or(0.0) <= 0.0
            && s.open_connections.unwrap_or(0.0) <= 1.0;
        if idle {
            break;
        }
        if Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut lowest: Option<Sample> = None;
    for _ in 0..READINGS {
        let s = scrape(client, url).await?;
        if lowest.as_ref().is_none_or(|l| {
            s.allocated_bytes.unwrap_or(f64::MAX) < l.allocated_bytes.unwrap_or(f64::MAX)
        }) {
            lowest = Some(s);
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mut sample = lowest.ok_or("no reading")?;
    sample.at_s = t0.elapsed().as_secs_f64();
    let profile = match token {
        Some(token) => Some(profile(client, url, token).await?),
        None => None,
    };
    Ok(Quiet { sample, profile })
}

async fn scrape(client: &reqwest::Client, url: &str) -> Result<Sample, String> {
    let text = client
        .get(format!("{url}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("scraping /metrics: {e}"))?
        .text()
        .await
        .map_err(|e| format!("reading /metrics: {e}"))?;
    Ok(Sample::from_text(0.0, &text))
}

async fn profile(
    client: &reqwest::Client,
    url: &str,
    token: &str,
) -> Result<(Vec<u8>, HeapProfile), String> {
    let bytes = client
        .get(format!("{url}/admin/heap/profile"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .and_then(|r| r.error_for_status())
        .map_err(|e| format!("dumping the heap profile: {e}"))?
        .bytes()
        .await
        .map_err(|e| format!("reading the heap profile: {e}"))?
        .to_vec();
    let decoded = HeapProfile::decode(&bytes).map_err(|e| format!("the heap profile: {e}"))?;
    Ok((bytes, decoded))
}

fn settled(q: &Quiet) -> SettledPoint {
    SettledPoint {
        requests: q.sample.requests,
        live_bytes: q.sample.allocated_bytes.unwrap_or(f64::NAN),
        live_allocations: q.sample.live_allocations.unwrap_or(f64::NAN),
        at_s: q.sample.at_s,
    }
}

/// Requests between the first and the last point.
fn requests_between(points: &[Quiet]) -> f64 {
    match (points.first(), points.last()) {
        (Some(a), Some(b)) => b.sample.requests - a.sample.requests,
        _ => 0.0,
    }
}

/// The heap at the quiet points, and which profiled site kept what it grew.
fn memory_check(
    points: &[Quiet],
    profiler: &Result<(), String>,
    r: &Rounds,
    s: &Setting<'_>,
) -> Check {
    let name = "memory retained across rounds";
    // the first judged point's reading came before the first dump's symbol tables
    let settled_points: Vec<SettledPoint> = points.iter().skip(1).map(settled).collect();
    let coarse = Budgets {
        settled_noise_bytes: TOTAL_NOISE_BYTES,
        min_bytes_per_request: s.budgets.min_bytes_per_request.max(TOTAL_BYTES_PER_REQUEST),
        ..s.budgets.clone()
    };
    let total = detect::judge_settled(&settled_points, &coarse);
    let requests = requests_between(points);
    let profiles: Vec<HeapProfile> = points
        .iter()
        .filter_map(|q| q.profile.as_ref().map(|(_, p)| p.clone()))
        .collect();
    write_profiles(points, s.dir);
    let sites = (profiles.len() >= 2).then(|| heap::growing_sites(&profiles, r.site_floor_bytes));
    let mut parts = vec![total.summary.clone()];
    let mut status = match total.status {
        detect::Status::Pass => Status::Passed,
        detect::Status::Fail => Status::Failed,
        detect::Status::Inconclusive => Status::Inconclusive,
    };
    match (&sites, profiler) {
        (Some(found), _) if !found.growing.is_empty() => {
            status = Status::Failed;
            parts.push(describe_growing(found, requests, s));
        }
        (Some(found), _) => parts.push(format!(
            "no profiled site kept more than {} over {requests:.0} requests (largest: {})",
            detect::human_bytes(found.floor_bytes),
            found.largest.as_ref().map_or("none".into(), |g| format!(
                "{} at {}",
                detect::human_bytes(g.grew),
                g.site.describe(&found.root)
            ))
        )),
        (None, Err(why)) => parts.push(format!("no allocation site can be named: {why}")),
        (None, Ok(())) => {
            parts.push("no allocation site can be named: a profile is missing".into())
        }
    }
    Check::new(STEP, name, status, parts.join("; "))
}

/// "LEAK at SITE: kept 24.0 KiB over 7,000 requests (3.4 B per request); ..."
fn describe_growing(found: &heap::SiteFinding, requests: f64, s: &Setting<'_>) -> String {
    let mut parts = Vec::new();
    for g in found.growing.iter().take(3) {
        let per_request = g.grew / requests.max(1.0);
        let costs = detect::PerRequestCosts {
            kind: None,
            bytes_retained: Some(per_request),
            ..detect::PerRequestCosts::default()
        };
        let projected = detect::project(
            &costs,
            s.projection,
            s.budgets.memory_limit_bytes.map(|b| b as f64),
        );
        parts.push(format!(
            "LEAK at {}: kept {} over {requests:.0} requests ({per_request:.1} B per request; {} -> {}); {}",
            g.site.describe(&found.root),
            detect::human_bytes(g.grew),
            detect::human_bytes(g.before),
            detect::human_bytes(g.after),
            projected.join("; ")
        ));
    }
    parts.push("profiles: heap-first.pb.gz, heap-last.pb.gz (pprof -diff_base)".into());
    parts.join("; ")
}

fn write_profiles(points: &[Quiet], dir: &Path) {
    let first = points.first().and_then(|q| q.profile.as_ref());
    let last = points.last().and_then(|q| q.profile.as_ref());
    for (name, profile) in [("heap-first.pb.gz", first), ("heap-last.pb.gz", last)] {
        if let Some((bytes, _)) = profile {
            let _ = std::fs::write(dir.join(name), bytes);
        }
    }
}

fn status_of(s: detect::Status) -> Status {
    match s {
        detect::Status::Pass => Status::Passed,
        detect::Status::Fail => Status::Failed,
        detect::Status::Inconclusive => Status::Inconclusive,
    }
}

/// Tasks at the quiet points against the requests: a count that rose with
/// them and stayed up is a task per so many requests that never ends.
fn tasks_check(points: &[Quiet], b: &Budgets, p: &Projection) -> Check {
    let name = "tasks across rounds";
    let tasks: Vec<f64> = points.iter().filter_map(|q| q.sample.alive_tasks).collect();
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return inconclusive(name, "no quiet point");
    };
    if tasks.len() != points.len() || tasks.len() < 2 {
        return inconclusive(name, "the candidate exports no tokio_alive_tasks");
    }
    let requests = requests_between(points);
    let (t0, tn) = (tasks[0], tasks[tasks.len() - 1]);
    let allowance = detect::gauges::TASK_TOLERANCE.allowance(t0, b);
    let rising = tasks.windows(2).all(|w| w[1] >= w[0] - 0.5);
    let series = tasks
        .iter()
        .map(|t| format!("{t:.0}"))
        .collect::<Vec<_>>()
        .join(", ");
    if tn - t0 > allowance && rising {
        let per_request = (tn - t0) / requests.max(1.0);
        let routes = detect::route_shares(&first.sample, &last.sample, 3);
        let costs = detect::PerRequestCosts {
            tasks_left: Some(per_request),
            ..detect::PerRequestCosts::default()
        };
        Check::fail(
            STEP,
            name,
            format!(
                "LEAK: tasks grew with the requests and stayed at every quiet point ({series}): \
                 +{:.0} over {requests:.0} requests, {}; routes active: {}; {}",
                tn - t0,
                detect::tasks_per_requests(per_request),
                detect::describe_routes(&routes),
                detect::project(&costs, p, None).join("; ")
            ),
        )
    } else {
        Check::pass(
            STEP,
            name,
            format!(
                "tasks at the quiet points: {series} over {requests:.0} requests (allowance +{allowance:.0})"
            ),
        )
    }
}

/// Every declared in-use gauge at the last quiet point against its reading
/// before the first round, by the detectors' one rule.
fn gauges_check(before: &Sample, points: &[Quiet], b: &Budgets) -> Check {
    let name = "in-use gauges back to idle";
    let Some(last) = points.last() else {
        return inconclusive(name, "no quiet point");
    };
    // the rule's timeline: idle at 0 s, the load from 1 s to 2 s, the quiet
    // point 1 s later, and it again past the settling bound: the gauges had
    // the whole pause to come back, so one not back is a failure
    let mut idle = before.clone();
    idle.at_s = 0.0;
    let mut quiet = last.sample.clone();
    quiet.at_s = 3.0;
    let mut still = quiet.clone();
    still.at_s = 3.0 + b.settle_within.as_secs_f64();
    let samples = [idle, quiet, still];
    let window = detect::LoadWindow {
        start_s: 1.0,
        end_s: Some(2.0),
    };
    let findings: Vec<detect::GaugeFinding> = detect::IN_USE_GAUGES
        .iter()
        .map(|spec| detect::gauges::judge_gauge(spec, &samples, Some(window), b))
        .filter(|f| f.exported)
        .collect();
    let worst = findings
        .iter()
        .map(|f| f.status)
        .max()
        .unwrap_or(detect::Status::Inconclusive);
    let detail = findings
        .iter()
        .map(|f| f.summary.clone())
        .collect::<Vec<_>>()
        .join("; ");
    Check::new(STEP, name, status_of(worst), detail)
}

/// Connection holds per site over the timing round, projected to the peak.
fn holds_check(before: &Sample, after: &Sample, p: &Projection) -> Check {
    let f = detect::judge_holds(before, after, p);
    Check::new(
        STEP,
        "connection holds at the peak",
        status_of(f.status),
        f.summary,
    )
}

/// Requests of the timing round whose longest poll blocked an async worker
/// past the bound: a route fails when more than [`STALL_SHARE`] of its
/// requests did.
fn stalls_check(before: &Sample, after: &Sample, bound: Duration, b: &Budgets) -> Check {
    let b = Budgets {
        stall_max_share: STALL_SHARE,
        ..b.clone()
    };
    let f = detect::judge_stalls_with(before, after, bound.as_secs_f64(), &b);
    Check::new(
        STEP,
        "polls on the async workers",
        status_of(f.status),
        f.summary,
    )
}
