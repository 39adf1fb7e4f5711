//! `migcheck wait`: until the target accepts connections and has every migration of the chain
//! (nothing pending, nothing dirty), with capped backoff and a progress line on stderr.

use std::time::{Duration, Instant};

use clap::Args;

use super::session::ReadOnlySession;
use super::{inspect, Inputs, TargetArgs, Verdict};
use crate::chain::Format;
use crate::engine::Dialect;
use crate::error::{exit, Result};

#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    #[command(flatten)]
    pub target: TargetArgs,

    /// How long to wait before giving up (exit 3): seconds, or a number with s, m or h.
    #[arg(long, default_value = "300", value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// `300`, `300s`, `5m`, `1h`.
pub fn parse_duration(text: &str) -> std::result::Result<Duration, String> {
    let t = text.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&t[..i], &t[i..]),
        None => (t, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("`{text}`: expected seconds, or a number with s, m or h"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "`{text}`: expected seconds, or a number with s, m or h"
            ))
        }
    };
    Ok(Duration::from_secs_f64(secs))
}

/// The pause before the `attempt`-th retry: 0.5 s, doubling, at most 5 s.
pub fn backoff(attempt: u32) -> Duration {
    let ms = 500u64.saturating_mul(1u64 << attempt.min(10));
    Duration::from_millis(ms.min(5000))
}

/// True when golang-migrate seems to be migrating right now (its version is `dirty` all that
/// time): on PostgreSQL another session holds an advisory lock (golang-migrate's id depends on
/// its version, so any counts); on MySQL/MariaDB another session holds the named lock
/// golang-migrate's MySQL driver takes (`GET_LOCK`, see `checksum::golang_migrate_mysql_lock`).
async fn migration_running(session: &mut ReadOnlySession, table: &str) -> bool {
    let sql = match session.dialect() {
        Dialect::Postgres => {
            "SELECT CAST(count(*) AS TEXT) FROM pg_locks WHERE locktype = 'advisory' \
             AND granted AND pid <> pg_backend_pid()"
                .to_string()
        }
        Dialect::Mysql => {
            let database = session
                .query("SELECT DATABASE()")
                .await
                .ok()
                .and_then(|r| r.first().and_then(|r| r[0].clone()))
                .unwrap_or_default();
            let table = table.rsplit('.').next().unwrap_or(table);
            let name = super::checksum::golang_migrate_mysql_lock(&database, table);
            format!("SELECT CAST(COUNT(IS_USED_LOCK('{name}')) AS CHAR)")
        }
    };
    let rows = session.query(&sql).await.unwrap_or_default();
    rows.first()
        .and_then(|r| r[0].as_deref())
        .is_some_and(|n| n != "0")
}

/// `migcheck wait`.
pub async fn run_wait(args: WaitArgs) -> Result<u8> {
    let started = Instant::now();
    let inputs = Inputs::load(&args.target)?;
    let deadline = started + args.timeout;
    let mut attempt = 0u32;
    let mut missing;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        let opened = tokio::time::timeout(
            remaining
                .min(inputs.connect_timeout)
                .max(Duration::from_millis(100)),
            ReadOnlySession::try_open(inputs.engine, &inputs.url),
        )
        .await
        .unwrap_or_else(|_| Err("no answer".to_string()));
        match opened {
            Err(e) => {
                missing = format!("the database does not accept connections ({e})");
            }
            Ok(mut session) => {
                let report = inspect(&inputs, &mut session, started).await;
                let running = match &report {
                    Ok(r) if r.verdict == Verdict::Problems => {
                        inputs.chain.format == Format::GolangMigrate
                            && r.problems.iter().all(|p| p.kind == "dirty")
                            && migration_running(&mut session, &inputs.table).await
                    }
                    _ => false,
                };
                session.close().await;
                match report {
                    Err(e) => missing = format!("cannot read the version table ({e})"),
                    Ok(report) => {
                        if let Some(path) = &args.target.json {
                            super::write_json(&report, path)?;
                        }
                        match report.verdict {
                            Verdict::UpToDate => {
                                eprintln!(
                                    "migcheck wait: {} is up to date ({} migrations) after {:.1}s",
                                    report.target,
                                    report.migrations.len(),
                                    started.elapsed().as_secs_f64()
                                );
                                return Ok(exit::PASS);
                            }
                            Verdict::Problems if !running => {
                                print!("{}", super::render(&report));
                                eprintln!(
                                    "migcheck wait: giving up: the database needs a person, not time"
                                );
                                return Ok(exit::GATE_FAILED);
                            }
                            Verdict::Problems => {
                                missing = "a migration is running (its version is dirty and a \
                                           migration lock is held)"
                                    .to_string();
                            }
                            Verdict::Pending => {
                                missing = format!(
                                    "{} pending: {}",
                                    report.pending.len(),
                                    report.pending.join(", ")
                                );
                            }
                        }
                    }
                }
            }
        }
        let now = Instant::now();
        if now >= deadline {
            eprintln!(
                "migcheck wait: timed out after {}s; still missing: {missing}",
                args.timeout.as_secs()
            );
            return Ok(exit::ENVIRONMENT);
        }
        let pause = backoff(attempt).min(deadline - now);
        eprintln!(
            "migcheck wait: {:.0}s: {missing}; next look in {:.1}s",
            started.elapsed().as_secs_f64(),
            pause.as_secs_f64()
        );
        tokio::time::sleep(pause).await;
        attempt += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_backoff() {
        assert_eq!(parse_duration("300").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("300s").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("0.5").unwrap(), Duration::from_millis(500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5d").is_err());
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(4), Duration::from_secs(5));
        assert_eq!(backoff(40), Duration::from_secs(5));
    }
}
