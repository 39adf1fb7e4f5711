//! The throwaway database a chain's pipeline works on: its connections, the runner's applier,
//! snapshots, timeouts, and replays of the ups on a fresh database.

use super::*;

/// A server error that means its disk is full (PostgreSQL SQLSTATE 53100, MySQL/MariaDB
/// errno 28, `Disk full`, MariaDB's `Can't change size of file`): the environment failed,
/// not the migration.
pub(super) fn is_disk_full(message: &str) -> bool {
    let lower = message.to_ascii_lowercase();
    lower.contains("no space left on device")
        || lower.contains("[53100]")
        || lower.contains("disk full")
        || lower.contains("errcode: 28")
        || lower.contains("errno: 28")
        // MariaDB on a full disk when InnoDB extends a file (its errno is garbage).
        || lower.contains("can't change size of file")
}

/// End every other session on the connection's database (and wait until they are gone).
pub(super) async fn end_other_sessions(conn: &mut Conn) -> Result<(), sqlx::Error> {
    match conn {
        Conn::Postgres(c) => {
            sqlx::query(
                "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
                 WHERE datname = current_database() AND pid <> pg_backend_pid()",
            )
            .execute(&mut *c)
            .await?;
        }
        Conn::Mysql(c) => {
            let ids: Vec<u64> = sqlx::query_scalar(
                "SELECT ID FROM information_schema.PROCESSLIST \
                 WHERE DB = DATABASE() AND ID <> CONNECTION_ID()",
            )
            .fetch_all(&mut *c)
            .await?;
            for id in ids {
                // Gone already is fine.
                let _ = sqlx::raw_sql(sqlx::AssertSqlSafe(format!("KILL {id}")))
                    .execute(&mut *c)
                    .await;
            }
        }
    }
    Ok(())
}

/// The session statement that bounds each statement's run time on `engine`.
pub(super) fn statement_timeout_sql(engine: crate::engine::Engine, timeout: Duration) -> String {
    match engine {
        crate::engine::Engine::Postgres => {
            format!("SET statement_timeout = '{}ms'", timeout.as_millis())
        }
        crate::engine::Engine::Mariadb => {
            format!("SET SESSION max_statement_time = {}", timeout.as_secs_f64())
        }
        // MySQL bounds read-only SELECTs only; DDL has no server-side limit there.
        crate::engine::Engine::Mysql => {
            format!("SET SESSION max_execution_time = {}", timeout.as_millis())
        }
    }
}

/// The server's message for a statement cancelled by the timeout set above.
pub(super) fn is_statement_timeout(message: &str) -> bool {
    message.contains("statement timeout")
        || message.contains("max_statement_time")
        || message.contains("maximum statement execution time")
}

/// The throwaway database and the two connections migcheck uses on it: one applies
/// migrations (its session state carries over between migrations, as with the real tools),
/// one reads snapshots with default settings so a migration's `SET search_path` cannot change them.
pub(super) struct Session<'a> {
    pub(super) server: &'a dyn Server,
    pub(super) db: Option<Database>,
    pub(super) apply_conn: Option<Conn>,
    pub(super) snapshot_conn: Option<Conn>,
    /// Incremental snapshots of the current database (PostgreSQL, when it can be set up).
    pub(super) tracker: Option<snapshot::Tracker>,
    pub(super) secrets: Vec<String>,
    pub(super) recorder: Option<Recorder>,
    pub(super) runner: &'a dyn Runner,
    /// The runner at work on the current database.
    pub(super) applier: Option<Box<dyn Applier>>,
    /// SQL the runner executed during each migration's first upgrade, for the lint.
    pub(super) captured: Vec<(String, chain::Script)>,
    pub(super) session_sql: &'a [String],
    pub(super) statement_timeout: Option<Duration>,
    pub(super) migration_timeout: Option<Duration>,
    /// On a shared server: refuse server-wide statements and run as a sandbox role.
    pub(super) sandboxed: bool,
    /// A failure that is the environment's, not the chain's (the server's disk is full):
    /// the run ends with exit 3 once the current mode returns.
    pub(super) fatal: Option<Error>,
    /// A second run of the ups, advanced as replays need it (PostgreSQL): a replay copies it
    /// instead of applying every up again on a fresh database.
    pub(super) shadow: Option<Shadow>,
    /// The shadow could not be used (a copy failed): replays start from scratch.
    pub(super) shadow_off: bool,
    /// Databases a replay left behind, being dropped while the run goes on.
    pub(super) dropping: Vec<tokio::task::JoinHandle<Result<()>>>,
}

/// Why the shadow could not serve a replay.
pub(super) enum ShadowFailure {
    /// An up failed on it: the replay failed, as one from scratch would.
    Replay(Error),
    /// The shadow or its copy could not be made: replay from scratch instead.
    Copy(Error),
}

/// The shadow database: ups only, never a down, `applied` of them so far.
pub(super) struct Shadow {
    parts: Attached,
    applied: usize,
    /// An up that failed on it: every later replay fails the same way.
    failed: Option<String>,
}

/// A throwaway database with what the session holds on it.
pub(super) struct Attached {
    pub(super) db: Option<Database>,
    pub(super) apply_conn: Option<Conn>,
    pub(super) snapshot_conn: Option<Conn>,
    pub(super) tracker: Option<snapshot::Tracker>,
    pub(super) applier: Option<Box<dyn Applier>>,
}

impl Attached {
    /// Close the connections and the applier; the database, if any, is the caller's.
    pub(super) async fn release(self) -> Option<Database> {
        if let Some(applier) = self.applier {
            applier.close().await;
        }
        for conn in [self.apply_conn, self.snapshot_conn].into_iter().flatten() {
            conn.close().await;
        }
        self.db
    }

    pub(super) async fn close(self, server: &dyn Server) -> Result<()> {
        let _dropping = timing::enter(Bucket::Databases);
        if let Some(db) = self.release().await {
            db.drop_database(server).await?;
        }
        Ok(())
    }
}

impl<'a> Session<'a> {
    pub(super) async fn open(
        server: &'a dyn Server,
        observe: bool,
        runner: &'a dyn Runner,
        session_sql: &'a [String],
        statement_timeout: Option<Duration>,
        sandboxed: bool,
    ) -> Result<Session<'a>> {
        let mut session = Session {
            server,
            db: None,
            apply_conn: None,
            snapshot_conn: None,
            tracker: None,
            secrets: server.admin_url().secrets(),
            recorder: observe.then(Recorder::new),
            runner,
            applier: None,
            captured: Vec::new(),
            session_sql,
            statement_timeout,
            migration_timeout: None,
            sandboxed,
            fatal: None,
            shadow: None,
            shadow_off: false,
            dropping: Vec::new(),
        };
        session.fresh_database().await?;
        Ok(session)
    }

    pub(super) async fn fresh_database(&mut self) -> Result<()> {
        self.close().await?;
        self.open_database().await
    }

    /// What every connection that applies migrations runs first: the statement timeout, the
    /// session SQL, then the tool's version table.
    /// `fresh`: the database is new (a copy already has the tool's version table).
    pub(super) async fn set_up_apply_conn(&self, conn: &mut Conn, fresh: bool) -> Result<()> {
        // Before the session SQL, so that a chain's own runner settings win.
        if let Some(sql) = self
            .statement_timeout
            .map(|t| statement_timeout_sql(self.server.info().engine, t))
        {
            if let Err(e) = conn.execute(&sql).await {
                return Err(Error::environment(
                    format!("cannot set the statement timeout (`{sql}`): {e}"),
                    None,
                ));
            }
        }
        for sql in self.session_sql {
            if let Err(e) = conn.execute(sql).await {
                let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
                let text = match e.as_database_error() {
                    Some(db) => db.message().to_string(),
                    None => e.to_string(),
                };
                let message = redact::scrub(&text, &secrets);
                return Err(Error::Usage(format!(
                    "session SQL `{sql}` failed: {message}"
                )));
            }
        }
        if !fresh {
            return Ok(());
        }
        // After the session setup, so that its search_path decides the schema, as for the tool.
        self.runner
            .prepare_connection(conn, self.server.provider() != "url")
            .await
            .map_err(|message| Error::environment(message, None))
    }

    /// Create a database with its connections and the runner's applier; the session holds none.
    pub(super) async fn open_database(&mut self) -> Result<()> {
        let _creating = timing::enter(Bucket::Databases);
        let db = Database::create(self.server, self.sandboxed).await?;
        self.attach_database(db, true, None).await
    }

    /// Open the connections and the runner's applier on `db` (new when `fresh`, else a copy
    /// or a database reconnected to, whose snapshot state `tracker` carries).
    async fn attach_database(
        &mut self,
        db: Database,
        fresh: bool,
        tracker: Option<snapshot::Tracker>,
    ) -> Result<()> {
        for secret in db.url.secrets() {
            if !self.secrets.contains(&secret) {
                self.secrets.push(secret);
            }
        }
        let mut apply_conn = db.connect().await?;
        if let Err(e) = self.set_up_apply_conn(&mut apply_conn, fresh).await {
            apply_conn.close().await;
            db.drop_database(self.server).await?;
            return Err(e);
        }
        self.apply_conn = Some(apply_conn);
        // The snapshot connection keeps the server's defaults: session SQL cannot change what
        // a snapshot reads.
        let mut snapshot_conn = db.connect().await?;
        // In the throwaway database, which migcheck owns: what incremental snapshots read.
        self.tracker = match tracker {
            Some(mut tracker) => {
                // The session SQL just ran again on this database.
                if !self.session_sql.is_empty() {
                    tracker.unseen_statements();
                }
                Some(tracker)
            }
            None => snapshot::Tracker::install(&mut snapshot_conn, self.sandboxed).await,
        };
        self.snapshot_conn = Some(snapshot_conn);
        tracing::info!(database = %db.name, "throwaway database ready");
        self.applier = Some(self.runner.open(&db).await?);
        self.db = Some(db);
        Ok(())
    }

    pub(super) async fn close(&mut self) -> Result<()> {
        self.close_shadow().await;
        let parts = self.detach();
        let closed = parts.close(self.server).await;
        self.finish_drops().await;
        closed
    }

    /// Wait for the databases being dropped in the background.
    pub(super) async fn finish_drops(&mut self) {
        for handle in std::mem::take(&mut self.dropping) {
            match handle.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!("cannot drop a replaced throwaway database: {e}"),
                Err(e) => tracing::warn!("dropping a replaced throwaway database failed: {e}"),
            }
        }
    }

    /// Drop the shadow database, if there is one.
    pub(super) async fn close_shadow(&mut self) {
        if let Some(shadow) = self.shadow.take() {
            if let Err(e) = shadow.parts.close(self.server).await {
                tracing::warn!("cannot drop the shadow database: {e}");
            }
        }
    }

    pub(super) fn detach(&mut self) -> Attached {
        Attached {
            db: self.db.take(),
            apply_conn: self.apply_conn.take(),
            snapshot_conn: self.snapshot_conn.take(),
            tracker: self.tracker.take(),
            applier: self.applier.take(),
        }
    }

    pub(super) fn attach(&mut self, parts: Attached) {
        self.db = parts.db;
        self.apply_conn = parts.apply_conn;
        self.snapshot_conn = parts.snapshot_conn;
        self.tracker = parts.tracker;
        self.applier = parts.applier;
    }

    /// Tell the runner the step `apply` gets next, before a snapshot (see `Applier::prepare`).
    pub(super) async fn prepare(&mut self, step: &Step) {
        if let Some(applier) = self.applier.as_mut() {
            applier.prepare(step).await;
        }
    }

    pub(super) async fn apply(&mut self, step: &Step) -> Result<Duration, ApplyFailure> {
        self.apply_with(step, None).await
    }

    /// The ups of `steps` applied once, in one run of the tool where the runner has one
    /// (`Applier::catch_up`), else one by one: a split's second database catching up.
    pub(super) async fn catch_up(&mut self, steps: &[Step]) -> Result<(), ApplyFailure> {
        let at_once = match (self.applier.as_mut(), self.apply_conn.is_some()) {
            (Some(applier), true) => {
                let _applying = timing::enter(Bucket::Migrations);
                let run = applier.catch_up(steps);
                // One run of many migrations: the per-migration limit, for each of them.
                let limit = self
                    .migration_timeout
                    .map(|l| l.saturating_mul(u32::try_from(steps.len()).unwrap_or(u32::MAX)));
                match limit {
                    Some(limit) => match tokio::time::timeout(limit, run).await {
                        Ok(outcome) => outcome,
                        Err(_) => match steps.first() {
                            Some(first) => {
                                Some(Err(self.migration_timed_out(first, 0, limit).await))
                            }
                            None => None,
                        },
                    },
                    None => run.await,
                }
            }
            _ => None,
        };
        match at_once {
            Some(outcome) => {
                if let Some(tracker) = self.tracker.as_mut() {
                    // What the run touched is not known step by step.
                    tracker.note(None);
                }
                self.account(outcome).map(|_| ())
            }
            None => {
                for step in steps {
                    self.apply(step).await?;
                }
                Ok(())
            }
        }
    }

    /// The first upgrade of a migration: observed when observation is on, and what the
    /// runner ran is kept for the lint.
    pub(super) async fn apply_first(
        &mut self,
        step: &Step,
        migration: &str,
    ) -> Result<Duration, ApplyFailure> {
        self.apply_with(step, Some(migration)).await
    }

    pub(super) async fn apply_with(
        &mut self,
        step: &Step,
        first_upgrade_of: Option<&str>,
    ) -> Result<Duration, ApplyFailure> {
        let _applying = timing::enter(Bucket::Migrations);
        if self.apply_conn.is_none() || self.applier.is_none() {
            // The last migration ran out of time and its connection was ended.
            if let Err(e) = self.reconnect_apply().await {
                return self.account(Err(ApplyFailure {
                    file: step.file.clone(),
                    line: 1,
                    message: format!("cannot reconnect after a migration timeout: {e}"),
                    detail: String::new(),
                    partially_applied: true,
                    irreversible: false,
                    duration: Duration::ZERO,
                }));
            }
        }
        let limit = self.migration_timeout;
        let running = AtomicUsize::new(0);
        let outcome = {
            let conn = self
                .apply_conn
                .as_mut()
                .expect("session holds a connection while open");
            let applier = self
                .applier
                .as_mut()
                .expect("session holds an applier while open");
            let recorder = match (first_upgrade_of, self.recorder.as_mut()) {
                (Some(id), Some(recorder)) => Some((recorder, Some(id))),
                _ => None,
            };
            let cx = ApplyContext {
                conn,
                recorder,
                running: &running,
                sandboxed: self.sandboxed,
            };
            let fut = applier.apply(cx, step);
            match limit {
                Some(limit) => tokio::time::timeout(limit, fut).await.ok(),
                None => Some(fut.await),
            }
        };
        let result = match outcome {
            Some(Ok(applied)) => {
                if let Some(tracker) = self.tracker.as_mut() {
                    tracker.note(applied.touched.as_ref());
                }
                if let Some(id) = first_upgrade_of {
                    self.captured
                        .extend(applied.ran.into_iter().map(|s| (id.to_string(), s)));
                }
                Ok(applied.took)
            }
            Some(Err(f)) => Err(f),
            None => {
                let index = running.load(Ordering::Relaxed);
                let limit = limit.unwrap_or_default();
                Err(self.migration_timed_out(step, index, limit).await)
            }
        };
        self.account(result)
    }

    /// A migration ran past `--migration-timeout`: end every session on the throwaway
    /// database but the snapshot one (the applying connection, the runner's own), so that the
    /// server stops working on it, and fail the migration at the statement it was running.
    pub(super) async fn migration_timed_out(
        &mut self,
        step: &Step,
        index: usize,
        limit: Duration,
    ) -> ApplyFailure {
        let statement = self.applier.as_ref().and_then(|a| a.statement(step, index));
        let statement = statement.as_ref();
        // Dropped, not closed: they are busy with the statement that ran out of time.
        drop(self.apply_conn.take());
        drop(self.applier.take());
        if let Some(conn) = self.snapshot_conn.as_mut() {
            if let Err(e) = end_other_sessions(conn).await {
                tracing::warn!("cannot end the timed-out migration's session: {e}");
            }
        }
        let mut detail = match statement {
            Some(st) => {
                let excerpt: Vec<&str> = st.sql.lines().take(6).collect();
                format!(
                    "statement at line {}:\n    {}\n",
                    st.line,
                    excerpt.join("\n    ")
                )
            }
            None => String::new(),
        };
        detail.push_str(&format!(
            "hint: raise --migration-timeout ({} s) if this migration is meant to take that long\n",
            limit.as_secs()
        ));
        ApplyFailure {
            file: step.file.clone(),
            line: statement.map_or(1, |s| s.line),
            message: format!(
                "the migration did not finish within --migration-timeout ({} s){}",
                limit.as_secs(),
                if statement.is_some() {
                    "; it was running this statement"
                } else {
                    ""
                }
            ),
            detail,
            partially_applied: true,
            irreversible: false,
            duration: limit,
        }
    }

    /// A new applying connection on the current database (after a timeout ended the last one).
    pub(super) async fn reconnect_apply(&mut self) -> Result<()> {
        let db = self
            .db
            .as_ref()
            .ok_or_else(|| Error::environment("no throwaway database is open".to_string(), None))?;
        if self.apply_conn.is_none() {
            let mut conn = db.connect().await?;
            if let Err(e) = self.set_up_apply_conn(&mut conn, false).await {
                conn.close().await;
                return Err(e);
            }
            if let Some(tracker) = self.tracker.as_mut() {
                tracker.unseen_statements();
            }
            self.apply_conn = Some(conn);
        }
        if self.applier.is_none() {
            self.applier = Some(self.runner.open(db).await?);
        }
        Ok(())
    }

    /// Scrub secrets from the step's failure and add the hints it calls for.
    pub(super) fn account(
        &mut self,
        result: Result<Duration, ApplyFailure>,
    ) -> Result<Duration, ApplyFailure> {
        if result.is_err() {
            // What the failed step did may have rolled back with its DDL log, or not.
            if let Some(tracker) = self.tracker.as_mut() {
                tracker.invalidate();
            }
        }
        result.map_err(|mut f| {
            let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
            if let Some(t) = self
                .statement_timeout
                .filter(|_| is_statement_timeout(&f.message))
            {
                if !f.detail.is_empty() && !f.detail.ends_with('\n') {
                    f.detail.push('\n');
                }
                f.detail.push_str(&format!(
                    "hint: the statement ran longer than --statement-timeout ({} s); raise it if \
                     this migration is meant to take that long\n",
                    t.as_secs()
                ));
            }
            if let Some(hint) = self
                .sandboxed
                .then(|| sandbox::permission_hint(self.server.info().engine, &f.message))
                .flatten()
            {
                if !f.detail.is_empty() && !f.detail.ends_with('\n') {
                    f.detail.push('\n');
                }
                f.detail.push_str(&format!("hint: {hint}\n"));
            }
            f.message = redact::redact_sql_passwords(&redact::scrub(&f.message, &secrets));
            if self.fatal.is_none() && is_disk_full(&f.message) {
                self.fatal = Some(Error::environment(
                    format!(
                        "the database server ran out of disk space while applying {}:{}: {}",
                        f.file.display(),
                        f.line,
                        f.message
                    ),
                    Some(
                        "free space where the server keeps its data (for the local provider: \
                         TMPDIR) and run again; this says nothing about the migration"
                            .to_string(),
                    ),
                ));
            }
            f.detail = redact::redact_sql_passwords(&redact::scrub(&f.detail, &secrets));
            f
        })
    }

    /// The runner's own proof that the step it just deployed works (a verify script).
    pub(super) async fn check_deployed(&mut self, plan: &Plan<'_>) -> Option<CheckReport> {
        let _applying = timing::enter(Bucket::Migrations);
        let mut check = self.applier.as_mut()?.check_deployed(plan).await?;
        let secrets: Vec<&str> = self.secrets.iter().map(String::as_str).collect();
        check.message = redact::scrub(&check.message, &secrets);
        if let Some(detail) = check.detail.as_mut() {
            *detail = redact::scrub(detail, &secrets);
        }
        Some(check)
    }

    pub(super) async fn snapshot(&mut self) -> Result<Snapshot> {
        let _reading = timing::enter(Bucket::Snapshots);
        let conn = self
            .snapshot_conn
            .as_mut()
            .expect("session holds a connection while open");
        match self.tracker.as_mut() {
            Some(tracker) => tracker.take(conn).await,
            None => snapshot::take(conn).await,
        }
    }

    /// Start over on a new database and replay the ups of `plans` (after a failure left the
    /// schema in a state later steps must not build on). Returns the schema before the first
    /// and after each up: a second run of the same SQL, which shows what is not deterministic.
    ///
    /// The replay builds a new database; the session moves to it only when every up applied
    /// again, and otherwise keeps the database it had (an up that cannot run twice on one
    /// server, such as `CREATE ROLE`, does not lose the run its database).
    pub(super) async fn replay(
        &mut self,
        plans: &[Plan<'_>],
        which: Replayed,
    ) -> Result<Vec<Snapshot>> {
        let mut schemas = Vec::new();
        self.replay_each(plans, which, false, &mut |s| schemas.push(s))
            .await?;
        Ok(schemas)
    }

    /// `replay`, handing each schema it keeps to `keep` as it is taken (full mode stores them
    /// compactly); after an error, what `keep` was given is not a whole replay.
    pub(super) async fn replay_each(
        &mut self,
        plans: &[Plan<'_>],
        which: Replayed,
        stay: bool,
        keep: &mut (dyn FnMut(Snapshot) + Send),
    ) -> Result<()> {
        let _replaying = timing::enter(Bucket::Replay);
        tracing::info!(
            migrations = plans.len(),
            "replaying ups on a fresh database"
        );
        let previous = self.detach();
        let outcome = self.replay_here(plans, which, keep).await;
        let discarded = match outcome {
            Ok(_) if !stay => previous,
            _ => {
                let failed = self.detach();
                self.attach(previous);
                failed
            }
        };
        discarded.close(self.server).await?;
        outcome
    }

    /// The replay's schemas before and after the last up of `plans` (not empty).
    ///
    /// `stay`: the caller only wants the second run's schemas (its database already holds the
    /// schema the chain produces: the round trip ended where it began); the session keeps its
    /// database and no copy is made.
    pub(super) async fn replay_ends(
        &mut self,
        plans: &[Plan<'_>],
        stay: bool,
    ) -> Result<(Snapshot, Snapshot)> {
        if self.shadow_possible() {
            match self.replay_from_shadow(plans, stay).await {
                Ok(ends) => return Ok(ends),
                Err(ShadowFailure::Replay(e)) => return Err(e),
                Err(ShadowFailure::Copy(e)) => {
                    // Nothing of the chain's: replay the old way from now on.
                    tracing::warn!("the shadow database cannot serve replays: {e}");
                    self.close_shadow().await;
                    self.shadow_off = true;
                }
            }
        }
        let mut schemas = Vec::new();
        self.replay_each(plans, Replayed::LastTwo, stay, &mut |s| schemas.push(s))
            .await?;
        let last = schemas.pop().unwrap_or_default();
        let before = schemas.pop().unwrap_or_else(|| last.clone());
        Ok((before, last))
    }

    /// Whether replays can copy a shadow database: PostgreSQL copies a database it owns with
    /// `CREATE DATABASE … TEMPLATE`; on MySQL/MariaDB, or as a sandbox role, the ups are
    /// applied again from scratch.
    fn shadow_possible(&self) -> bool {
        !self.shadow_off
            && !self.sandboxed
            && self.server.info().engine == crate::engine::Engine::Postgres
            && std::env::var_os("MIGCHECK_NO_SHADOW").is_none()
    }

    /// `replay_ends` through the shadow: advance it to just before the last up of `plans`
    /// (ups only, a second run of the same SQL), read the schema, apply the last up, read it
    /// again, then move the session to a copy of the shadow (its database is left behind:
    /// it went through a down that did not restore it). The shadow stays for the next replay.
    async fn replay_from_shadow(
        &mut self,
        plans: &[Plan<'_>],
        stay: bool,
    ) -> std::result::Result<(Snapshot, Snapshot), ShadowFailure> {
        let _replaying = timing::enter(Bucket::Replay);
        let Some(last) = plans.len().checked_sub(1) else {
            return Err(ShadowFailure::Copy(Error::environment(
                "nothing to replay",
                None,
            )));
        };
        if let Some(shadow) = &self.shadow {
            if let Some(message) = &shadow.failed {
                return Err(ShadowFailure::Replay(Error::environment(
                    message.clone(),
                    None,
                )));
            }
            if shadow.applied > last {
                return Err(ShadowFailure::Copy(Error::environment(
                    "the shadow database is past this replay",
                    None,
                )));
            }
        }
        let main = self.detach();
        let outcome = self.advance_shadow(plans).await;
        match outcome {
            Ok(ends) if stay => {
                // The second run's schemas are all the caller needs: the shadow goes back to
                // waiting for the next replay, the session to its own database.
                let shadow_parts = self.detach();
                self.attach(main);
                self.shadow = Some(Shadow {
                    parts: shadow_parts,
                    applied: plans.len(),
                    failed: None,
                });
                Ok(ends)
            }
            Ok(ends) => {
                // The shadow's parts are attached now: copy its database for the session.
                match self.copy_shadow(plans.len()).await {
                    Ok(()) => {
                        // What the session's database held is of no more use: it goes in
                        // the background.
                        if let Some(db) = main.release().await {
                            self.dropping.push(db.drop_in_background(self.server));
                        }
                        Ok(ends)
                    }
                    Err(e) => {
                        let shadow = self.detach();
                        self.attach(main);
                        if let Err(e) = shadow.close(self.server).await {
                            tracing::warn!("cannot drop the shadow database: {e}");
                        }
                        Err(ShadowFailure::Copy(e))
                    }
                }
            }
            Err(failure) => {
                // Put the shadow away (poisoned by a failed up, or dropped) and the session back.
                let shadow_parts = self.detach();
                self.attach(main);
                match &failure {
                    ShadowFailure::Replay(e) => {
                        self.shadow = Some(Shadow {
                            parts: shadow_parts,
                            applied: 0,
                            failed: Some(e.to_string()),
                        });
                    }
                    ShadowFailure::Copy(_) => {
                        if let Err(e) = shadow_parts.close(self.server).await {
                            tracing::warn!("cannot drop the shadow database: {e}");
                        }
                    }
                }
                Err(failure)
            }
        }
    }

    /// With the session's own parts detached: attach the shadow (opening it the first time),
    /// apply the ups it lacks and read the schemas around the last one. The shadow's parts
    /// stay attached.
    async fn advance_shadow(
        &mut self,
        plans: &[Plan<'_>],
    ) -> std::result::Result<(Snapshot, Snapshot), ShadowFailure> {
        let applied = match self.shadow.take() {
            Some(shadow) => {
                self.attach(shadow.parts);
                shadow.applied
            }
            None => {
                self.open_database().await.map_err(ShadowFailure::Copy)?;
                0
            }
        };
        let last = plans.len() - 1;
        let mut before = None;
        for (k, plan) in plans.iter().enumerate().skip(applied) {
            if k == last {
                before = Some(self.snapshot().await.map_err(ShadowFailure::Copy)?);
            }
            if let Err(f) = self.apply(&plan.up).await {
                return Err(ShadowFailure::Replay(replay_failed(&f)));
            }
        }
        let after = self.snapshot().await.map_err(ShadowFailure::Copy)?;
        let before = before.unwrap_or_else(|| after.clone());
        Ok((before, after))
    }

    /// The shadow's parts are attached: close its connections (a database being copied has
    /// no sessions), copy it, keep the shadow (reconnected) aside and attach the copy.
    async fn copy_shadow(&mut self, applied: usize) -> Result<()> {
        let Attached {
            db,
            apply_conn,
            snapshot_conn,
            tracker,
            applier,
        } = self.detach();
        let db = db.ok_or_else(|| Error::environment("the shadow database is gone", None))?;
        if let Some(applier) = applier {
            applier.close().await;
        }
        for conn in [apply_conn, snapshot_conn].into_iter().flatten() {
            conn.close().await;
        }
        let copy = {
            let _copying = timing::enter(Bucket::Databases);
            Database::clone_of(self.server, &db).await
        };
        let forked = tracker.as_ref().map(snapshot::Tracker::fork);
        // The shadow, reconnected, whatever the copy did.
        let reopened = self.attach_database(db, false, tracker).await;
        let shadow = self.detach();
        let copy = match (copy, reopened) {
            (Ok(copy), Ok(())) => copy,
            (copy, reopened) => {
                let error = match copy {
                    Ok(copy) => {
                        let _ = copy.drop_database(self.server).await;
                        reopened.err()
                    }
                    Err(e) => Some(e),
                };
                let _ = shadow.close(self.server).await;
                return Err(error.unwrap_or_else(|| {
                    Error::environment("the shadow database could not be copied", None)
                }));
            }
        };
        self.shadow = Some(Shadow {
            parts: shadow,
            applied,
            failed: None,
        });
        self.attach_database(copy, false, forked).await
    }

    pub(super) async fn replay_here(
        &mut self,
        plans: &[Plan<'_>],
        which: Replayed,
        keep: &mut (dyn FnMut(Snapshot) + Send),
    ) -> Result<()> {
        self.open_database().await?;
        // The first state whose schema is kept: the empty database, or the one before the last up.
        let first_kept = match which {
            Replayed::EveryStep => 0,
            Replayed::LastTwo => plans.len().saturating_sub(1),
        };
        if first_kept == 0 {
            keep(self.snapshot().await?);
        }
        for (k, plan) in plans.iter().enumerate() {
            if let Err(f) = self.apply(&plan.up).await {
                return Err(replay_failed(&f));
            }
            if k + 1 >= first_kept {
                keep(self.snapshot().await?);
            }
        }
        Ok(())
    }
}

/// Which schemas a replay keeps. A step-mode mismatch needs only the two around the last up:
/// a snapshot per replayed step would make a long chain with many bad downs quadratic.
#[derive(Clone, Copy)]
pub(super) enum Replayed {
    /// The empty database's and one after each up.
    EveryStep,
    /// The ones before and after the last up.
    LastTwo,
}

/// An up that applied on the first run and failed when the ups were run again.
fn replay_failed(f: &ApplyFailure) -> Error {
    Error::environment(
        format!(
            "{}:{}: an up that applied before failed on replay: {}",
            f.file.display(),
            f.line,
            f.message
        ),
        None,
    )
}
