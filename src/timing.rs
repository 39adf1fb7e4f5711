//! Where a verify run's time goes, without threading a stopwatch through every stage.
//!
//! Each chain runs inside [`measure`], which gives it a clock of its own (a tokio task-local
//! scoped to the chain's future, so chains run at once never share one). A stage marks the
//! code it owns with [`enter`]; the time between two marks is charged to the innermost open
//! bucket, so the buckets never overlap and always add up to the chain's wall time. Code
//! outside any bucket is `other`. A bucket can *absorb* what runs inside it: a replay's
//! migrations and snapshots are the replay's time, not the first run's.

use std::cell::RefCell;
use std::time::{Duration, Instant};

/// A stage of a verify run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// Reading the chain: discovery, parsing, graph checks.
    Chain,
    /// `--since`: reading the base from git and judging the history.
    History,
    ServerStart,
    /// Creating and dropping throwaway databases, their connections, Alembic's driver.
    Databases,
    /// Applying migrations (ups and downs), observation excluded.
    Migrations,
    /// Reading locks and rewrites around the statements (observation).
    Observation,
    Snapshots,
    /// Comparing snapshots and writing their diffs.
    Compare,
    /// Starting over on a fresh database after a failure and applying the ups again
    /// (absorbs the migrations, snapshots and databases it runs).
    Replay,
    /// The static rules and their reconciliation with what was observed.
    Lint,
    /// Stopping what the chain started (absorbs the databases it drops).
    Teardown,
    /// Waiting for the second half of the chain, verified at the same time on a second
    /// database, once the first half is done (the second half's own split is reported apart;
    /// in it, this bucket is its catching up: the first half's ups, which it absorbs).
    Parallel,
    Other,
}

impl Bucket {
    const ALL: [Bucket; 13] = [
        Bucket::Chain,
        Bucket::History,
        Bucket::ServerStart,
        Bucket::Databases,
        Bucket::Migrations,
        Bucket::Observation,
        Bucket::Snapshots,
        Bucket::Compare,
        Bucket::Replay,
        Bucket::Lint,
        Bucket::Teardown,
        Bucket::Parallel,
        Bucket::Other,
    ];

    fn index(self) -> usize {
        Bucket::ALL.iter().position(|b| *b == self).unwrap_or(0)
    }

    fn absorbs(self) -> bool {
        matches!(self, Bucket::Replay | Bucket::Teardown | Bucket::Parallel)
    }
}

/// The time of each bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Split {
    totals: [Duration; 13],
}

impl Split {
    pub fn get(&self, bucket: Bucket) -> Duration {
        self.totals[bucket.index()]
    }

    pub fn total(&self) -> Duration {
        self.totals.iter().sum()
    }

    /// Move `d` (at most what `from` holds) from one bucket to another.
    pub fn shift(&mut self, from: Bucket, to: Bucket, d: Duration) {
        let d = d.min(self.totals[from.index()]);
        self.totals[from.index()] -= d;
        self.totals[to.index()] += d;
    }
}

struct Clock {
    /// Open buckets, innermost last; `Other` at the bottom.
    stack: Vec<Bucket>,
    since: Instant,
    split: Split,
}

impl Clock {
    fn charge(&mut self, now: Instant) {
        let top = *self.stack.last().unwrap_or(&Bucket::Other);
        self.split.totals[top.index()] += now.saturating_duration_since(self.since);
        self.since = now;
    }
}

tokio::task_local! {
    static CLOCK: RefCell<Clock>;
}

/// Run `fut` with a clock of its own; its time split (which adds up to its wall time).
pub async fn measure<F: std::future::Future>(fut: F) -> (F::Output, Split) {
    let clock = RefCell::new(Clock {
        stack: vec![Bucket::Other],
        since: Instant::now(),
        split: Split::default(),
    });
    CLOCK
        .scope(clock, async {
            let out = fut.await;
            let split = CLOCK.with(|c| {
                let mut c = c.borrow_mut();
                c.charge(Instant::now());
                c.split
            });
            (out, split)
        })
        .await
}

/// Charge the time from now until the guard drops to `bucket` (nested marks inside it take
/// their own, unless an enclosing bucket absorbs them). Outside [`measure`] it does nothing.
#[must_use = "the bucket closes when the guard drops"]
pub fn enter(bucket: Bucket) -> Guard {
    let open = CLOCK
        .try_with(|c| {
            let mut c = c.borrow_mut();
            c.charge(Instant::now());
            let top = *c.stack.last().unwrap_or(&Bucket::Other);
            let effective = if top.absorbs() { top } else { bucket };
            c.stack.push(effective);
        })
        .is_ok();
    Guard { open }
}

pub struct Guard {
    open: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if self.open {
            let _ = CLOCK.try_with(|c| {
                let mut c = c.borrow_mut();
                c.charge(Instant::now());
                if c.stack.len() > 1 {
                    c.stack.pop();
                }
            });
        }
    }
}

/// Run the synchronous `f` in `bucket`.
pub fn within<T>(bucket: Bucket, f: impl FnOnce() -> T) -> T {
    let _guard = enter(bucket);
    f()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spin(d: Duration) {
        let start = Instant::now();
        while start.elapsed() < d {}
    }

    #[tokio::test]
    async fn buckets_nest_exclusively_and_add_up_to_the_wall_time() {
        let started = Instant::now();
        let ((), split) = measure(async {
            let _m = enter(Bucket::Migrations);
            spin(Duration::from_millis(5));
            within(Bucket::Snapshots, || spin(Duration::from_millis(5)));
            {
                let _r = enter(Bucket::Replay);
                // Absorbed: the replay's own migrations are the replay's.
                within(Bucket::Migrations, || spin(Duration::from_millis(5)));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        let wall = started.elapsed();
        assert!(split.get(Bucket::Migrations) >= Duration::from_millis(5));
        assert!(split.get(Bucket::Snapshots) >= Duration::from_millis(5));
        // 5 ms of sleep and the 5 ms migration it absorbed.
        assert!(split.get(Bucket::Replay) >= Duration::from_millis(10));
        assert!(split.total() <= wall);
        assert_eq!(split.get(Bucket::Compare), Duration::ZERO);
    }

    #[tokio::test]
    async fn chains_run_at_once_keep_their_own_clock() {
        let a = measure(async {
            let _s = enter(Bucket::Snapshots);
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        let b = measure(async {
            let _c = enter(Bucket::Compare);
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        let (((), sa), ((), sb)) = tokio::join!(a, b);
        assert_eq!(sa.get(Bucket::Compare), Duration::ZERO);
        assert_eq!(sb.get(Bucket::Snapshots), Duration::ZERO);
        assert!(sa.get(Bucket::Snapshots) >= Duration::from_millis(20));
        assert!(sb.get(Bucket::Compare) >= Duration::from_millis(20));
    }

    #[test]
    fn outside_a_measured_future_marks_do_nothing() {
        within(Bucket::Lint, || ());
    }
}
