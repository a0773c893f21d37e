//! Projections to the spike: what a cost per request measured at CI scale
//! means at the production peak, in plain sentences.
//!
//! The peak rate is the fleet's; memory, tasks and CPU are per server (the
//! fleet's rate shared by `instances`), connections are counted across the
//! fleet against every pool and the database.

use serde::Serialize;

use super::{human_bytes, human_count, human_duration, human_seconds, tasks_per_requests};

const DAY_S: f64 = 86_400.0;

/// The production peak a measurement is projected to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Projection {
    /// Requests per second across the fleet at the peak.
    pub peak_requests_per_s: f64,
    /// What the peak is, for the sentences ("appstore-spike at 50000 users").
    pub scenario: String,
    /// Servers sharing the peak.
    pub instances: u32,
    /// Each server's pool size.
    pub pool_per_instance: f64,
    /// Connections the database takes from the servers (max_connections less reserved).
    pub database_max: Option<f64>,
}

impl Projection {
    /// One server's share of the peak rate.
    pub fn per_instance_rate(&self) -> f64 {
        self.peak_requests_per_s / f64::from(self.instances.max(1))
    }

    /// Pooled connections across the fleet.
    pub fn pool_total(&self) -> f64 {
        f64::from(self.instances) * self.pool_per_instance
    }

    /// "at the peak of appstore-spike at 50000 users (50,000 requests/s, 12,500 per server)".
    pub fn at_peak(&self) -> String {
        if self.instances > 1 {
            format!(
                "at the peak of {} ({} requests/s, {} per server)",
                self.scenario,
                human_count(self.peak_requests_per_s),
                human_count(self.per_instance_rate())
            )
        } else {
            format!(
                "at the peak of {} ({} requests/s)",
                self.scenario,
                human_count(self.peak_requests_per_s)
            )
        }
    }
}

/// What one request costs, measured at CI scale (`None`: not measured).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PerRequestCosts {
    /// Which requests ("outfits" reads "per outfits request"); `None`: any request.
    pub kind: Option<String>,
    /// Heap bytes retained per request (settled points).
    pub bytes_retained: Option<f64>,
    /// Tasks left alive per request.
    pub tasks_left: Option<f64>,
    /// Seconds a pooled connection is held per request (Σ hold time / requests).
    pub connection_seconds: Option<f64>,
    /// CPU seconds per request.
    pub cpu_seconds: Option<f64>,
}

/// One sentence per measured cost, at the peak of `p`; `memory_limit_bytes`
/// (per server) adds when memory runs out.
pub fn project(
    costs: &PerRequestCosts,
    p: &Projection,
    memory_limit_bytes: Option<f64>,
) -> Vec<String> {
    let mut out = Vec::new();
    let rate = p.per_instance_rate();
    if !(rate.is_finite() && rate > 0.0) {
        return out;
    }
    let per = costs
        .kind
        .as_deref()
        .map_or("per request".to_string(), |k| format!("per {k} request"));
    let at_peak = p.at_peak();
    if let Some(b) = costs.bytes_retained.filter(|b| b.is_finite() && *b > 0.0) {
        let per_s = b * rate;
        let day = human_bytes(per_s * DAY_S);
        let what = match memory_limit_bytes.filter(|l| *l > 0.0) {
            Some(limit) => format!(
                "this server runs out of its {} in {}; {day} a day",
                human_bytes(limit),
                human_duration(limit / per_s)
            ),
            None => format!("this server grows by {day} a day"),
        };
        out.push(format!("retains {} {per}: {at_peak} {what}", bytes_text(b)));
    }
    if let Some(t) = costs.tasks_left.filter(|t| t.is_finite() && *t > 0.0) {
        let one = tasks_per_requests(t).replace("requests", &requests_word(costs));
        out.push(format!(
            "leaves {one}: {at_peak} that is {} tasks a day per server",
            human_count(t * rate * DAY_S)
        ));
    }
    if let Some(c) = costs
        .connection_seconds
        .filter(|c| c.is_finite() && *c > 0.0)
    {
        let busy = c * p.peak_requests_per_s;
        let db = p
            .database_max
            .map_or(String::new(), |m| format!("; the database takes {m:.0}"));
        out.push(format!(
            "holds a pooled connection {} {per}: {at_peak} that keeps {:.1} connections busy \
             across the fleet ({:.1} per server) of {:.0} pooled{db}",
            human_seconds(c),
            busy,
            busy / f64::from(p.instances.max(1)),
            p.pool_total()
        ));
    }
    if let Some(cpu) = costs.cpu_seconds.filter(|c| c.is_finite() && *c > 0.0) {
        out.push(format!(
            "costs {} of CPU {per}: {at_peak} that is {:.1} cores per server",
            human_seconds(cpu),
            cpu * rate
        ));
    }
    out
}

fn requests_word(costs: &PerRequestCosts) -> String {
    costs
        .kind
        .as_deref()
        .map_or("requests".into(), |k| format!("{k} requests"))
}

/// "3.1 B", "1.5 KiB": bytes per request keep a decimal below a KiB.
fn bytes_text(b: f64) -> String {
    if b < 1024.0 {
        format!("{b:.1} B")
    } else {
        human_bytes(b)
    }
}
