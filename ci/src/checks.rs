//! Checks on the candidate itself: production configuration, capacity arithmetic.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::verdict::Check;

const SCENARIO: &str = "production-config";

/// `/metrics` as a map from `name{labels}` to value.
pub(crate) async fn scrape(base: &str) -> anyhow::Result<BTreeMap<String, f64>> {
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .context("scraping /metrics")?
        .text()
        .await?;
    Ok(parse_metrics(&text))
}

pub(crate) fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_string(), value.parse().ok()?))
        })
        .collect()
}

/// Experimental features and chaos hooks must be off in what ships.
pub(crate) fn features_off(metrics: &BTreeMap<String, f64>) -> Vec<Check> {
    let flags: Vec<(&str, f64)> = metrics
        .iter()
        .filter_map(|(k, v)| {
            let name = k
                .strip_prefix("feature_enabled{name=\"")?
                .strip_suffix("\"}")?;
            Some((name, *v))
        })
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
        let m = parse_metrics(
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
