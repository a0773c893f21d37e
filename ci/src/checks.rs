//! Checks on the candidate itself: production configuration, capacity arithmetic.

use anyhow::Context;
use chaos::metrics::Series;

use crate::verdict::Check;

const SCENARIO: &str = "production-config";

/// `/metrics`, parsed by the leak detectors' own parser.
pub(crate) async fn scrape(base: &str) -> anyhow::Result<Vec<Series>> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .context("scraping /metrics")?
        .text()
        .await?;
    Ok(chaos::metrics::parse(&text))
}

/// The value of the first series called `name`.
pub(crate) fn value(metrics: &[Series], name: &str) -> Option<f64> {
    metrics.iter().find(|s| s.name == name).map(|s| s.value)
}

/// Experimental features and chaos hooks must be off in what ships.
pub(crate) fn features_off(metrics: &[Series]) -> Vec<Check> {
    let flags: Vec<(&str, f64)> = metrics
        .iter()
        .filter(|s| s.name == "feature_enabled")
        .filter_map(|s| Some((s.label("name")?, s.value)))
        .collect();
    if flags.is_empty() {
        return vec![Check::fail(
            SCENARIO,
            "feature flags exported",
            "the candidate exports no feature_enabled metric, so its flags cannot be checked",
        )];
    }
    flags
        .into_iter()
        .map(|(name, v)| {
            let check = format!("{name} off");
            if v == 0.0 {
                Check::pass(SCENARIO, &check, format!("feature_enabled{{name=\"{name}\"}} = 0"))
            } else {
                Check::fail(
                    SCENARIO,
                    &check,
                    format!(
                        "feature_enabled{{name=\"{name}\"}} = {v}: an experimental feature is on in the production configuration"
                    ),
                )
            }
        })
        .collect()
}

/// Instances x pool size must stay below what the database accepts, less its
/// reserved connections.
pub(crate) fn capacity(
    instances: u32,
    pool_max: Option<f64>,
    database: Option<(u64, u64)>,
) -> Check {
    let name = "capacity arithmetic";
    let Some(pool) = pool_max else {
        return Check::fail(
            SCENARIO,
            name,
            "the candidate exports no db_pool_max_connections",
        );
    };
    let pool = pool as u64;
    match database {
        None => Check::pass(
            SCENARIO,
            name,
            format!("embedded database; {instances} instance(s) x pool {pool}"),
        ),
        Some((max, reserved)) => {
            let need = u64::from(instances) * pool;
            let have = max.saturating_sub(reserved);
            let detail = format!(
                "{instances} instance(s) x pool {pool} = {need} connections; the database takes {max} less {reserved} reserved = {have}"
            );
            if need < have {
                Check::pass(SCENARIO, name, detail)
            } else {
                Check::fail(SCENARIO, name, detail)
            }
        }
    }
}

/// `(max_connections, reserved)` of a PostgreSQL or MySQL server; `None` for SQLite.
pub(crate) async fn database_limits(url: &str) -> anyhow::Result<Option<(u64, u64)>> {
    use sqlx::{Connection, Row};
    if url.starts_with("postgres") {
        let mut conn = sqlx::PgConnection::connect(url).await?;
        let max: String = sqlx::query("SHOW max_connections")
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
        let reserved: String = sqlx::query("SHOW superuser_reserved_connections")
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
        Ok(Some((max.parse()?, reserved.parse()?)))
    } else if url.starts_with("mysql") || url.starts_with("mariadb") {
        let mut conn = sqlx::MySqlConnection::connect(url).await?;
        let max: u64 = sqlx::query("SELECT CAST(@@max_connections AS UNSIGNED)")
            .fetch_one(&mut conn)
            .await?
            .try_get(0)?;
        // MySQL keeps one extra connection for a SUPER user
        Ok(Some((max, 1)))
    } else {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Status;

    #[test]
    fn a_feature_left_on_fails_naming_it() {
        let m = chaos::metrics::parse(
            "# TYPE feature_enabled gauge\nfeature_enabled{name=\"chaos\"} 0\nfeature_enabled{name=\"taste_model\"} 1\n",
        );
        let checks = features_off(&m);
        let failed: Vec<_> = checks
            .iter()
            .filter(|c| c.status == Status::Failed)
            .collect();
        assert_eq!(failed.len(), 1);
        assert!(failed[0].name.contains("taste_model"));
    }

    #[test]
    fn capacity_needs_headroom_below_the_reserved_connections() {
        assert_eq!(
            capacity(4, Some(16.0), Some((100, 3))).status,
            Status::Passed
        );
        assert_eq!(
            capacity(7, Some(16.0), Some((100, 3))).status,
            Status::Failed
        );
        // 6 x 16 = 96 = 99 - 3: no room left, so it fails
        assert_eq!(
            capacity(6, Some(16.0), Some((99, 3))).status,
            Status::Failed
        );
        assert_eq!(capacity(1, Some(16.0), None).status, Status::Passed);
        assert_eq!(capacity(1, None, None).status, Status::Failed);
    }
}
