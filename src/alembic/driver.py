"""migcheck's Alembic driver: one long-lived process that runs Alembic commands on request.

Shipped inside the migcheck binary and written to a private temporary directory at run time.
Protocol: one JSON request per line on stdin, one JSON response per line on the protocol
stream (the process's original stdout). Everything else the project prints (env.py, logging,
C extensions) goes to stderr: file descriptor 1 is pointed at stderr before any project code
runs, so stray prints cannot corrupt the protocol.

Requests:  {"op": "upgrade", "target": "<rev>"}   {"op": "downgrade", "target": "<rev>"}
           with "hold": true the command answers {"held": true} before its first revision
           runs and waits for {"op": "release"} (or {"op": "cancel"}: it rolls back)
           {"op": "current"}   {"op": "heads"}   {"op": "stop"}
           (stop answers with "connections": {"opened": N, "reused": M}: see EngineReuse)
Responses: {"ok": true, "ms": 12, ...}  or
           {"ok": false, "error": "...", "kind": "NotImplementedError", "traceback": "..."}
"""

import json
import os
import sys
import time
import traceback

# The protocol stream is a private copy of fd 1; fd 1 itself now writes to stderr.
_proto_fd = os.dup(1)
os.dup2(2, 1)
_proto = os.fdopen(_proto_fd, "w", encoding="utf-8", buffering=1)
sys.stdout = sys.stderr


def send(obj):
    _proto.write(json.dumps(obj, default=str) + "\n")
    _proto.flush()


def fail(exc, ms=None):
    out = {
        "ok": False,
        "kind": type(exc).__name__,
        "error": str(exc) or type(exc).__name__,
        "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
    }
    if ms is not None:
        out["ms"] = ms
    return out


class HoldCancelled(BaseException):
    """Raised in a held command that migcheck cancelled (a BaseException, so that env.py's
    `except Exception` cannot swallow it): the command's transaction rolls back."""


class EngineReuse:
    """One connection for every command, reset to a new session's state between them.

    `alembic upgrade` in production is a new process, and env.py builds a new Engine
    (usually with NullPool): a new connection, a new server backend and SQLAlchemy's dialect
    initialisation, 20-30 ms for every command, which the driver runs three times per
    revision. Here `create_engine` (and `engine_from_config`, which calls it) return the Engine
    made earlier for the same URL and arguments, with a pool that keeps its one connection.
    What a new connection would not inherit is undone when env.py gives it back:
    `DISCARD ALL` (settings, role, temporary tables, prepared statements, advisory locks,
    LISTEN). Defaults a new connection would read again (`ALTER DATABASE/ROLE … SET`) are
    watched: when `pg_db_role_setting` changes, the Engine is disposed and the next command
    starts afresh, dialect included.

    Only PostgreSQL through psycopg (3) or psycopg2, synchronous, with the default pool or
    NullPool; anything else gets what it asked for. psycopg's automatic server-side prepared
    statements are off on these connections (`DISCARD ALL` would drop them under it).
    MIGCHECK_ALEMBIC_FRESH_CONNECTIONS=1 turns this off.
    """

    DRIVERS = ("psycopg", "psycopg2")
    KEEP = 4  # engines kept at once; env.py's arguments rarely change between commands
    # The defaults a new connection of this login role to this database starts from.
    FINGERPRINT = (
        "SELECT coalesce(md5(string_agg(s.setdatabase::text || '/' || s.setrole::text || '/' "
        "|| array_to_string(s.setconfig, ','), ';' ORDER BY s.setdatabase, s.setrole)), '') "
        "FROM pg_catalog.pg_db_role_setting s "
        "WHERE s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database d "
        "WHERE d.datname = pg_catalog.current_database())) "
        "AND s.setrole IN (0, (SELECT r.oid FROM pg_catalog.pg_roles r WHERE r.rolname = session_user))"
    )

    def __init__(self, sqlalchemy):
        import sqlalchemy.engine.create as create_module
        from sqlalchemy import pool

        self.sa = sqlalchemy
        self.pool = pool
        self.original = create_module.create_engine
        self.cache = {}  # key -> [engine, stale]
        self.opened = 0
        self.reused = 0
        self.checkouts = 0
        for module in (sqlalchemy, sqlalchemy.engine, create_module):
            module.create_engine = self.create_engine

    def key(self, url, kwargs):
        try:
            parsed = self.sa.engine.make_url(url)
        except Exception:
            return None
        if parsed.get_backend_name() != "postgresql" or parsed.get_driver_name() not in self.DRIVERS:
            return None
        poolclass = kwargs.get("poolclass")
        if poolclass not in (None, self.pool.NullPool, self.pool.QueuePool) or "pool" in kwargs or "creator" in kwargs:
            return None
        rest = {k: v for k, v in kwargs.items() if k != "poolclass"}
        if list(rest) == ["_coerce_config"]:
            rest = {}  # engine_from_config's flag, a no-op without other options
        try:
            return parsed.render_as_string(hide_password=False) + "\n" + repr(sorted(rest.items()))
        except Exception:
            return None

    def create_engine(self, url, **kwargs):
        key = self.key(url, kwargs)
        if key is None:
            return self.original(url, **kwargs)
        found = self.cache.get(key)
        if found is not None and not found[1]:
            self.cache[key] = self.cache.pop(key)  # most recently used last
            return found[0]
        if found is not None:
            self.drop(key)
        args = dict(kwargs)
        args.update(poolclass=self.pool.QueuePool, pool_size=1, max_overflow=-1)
        engine = self.original(url, **args)
        entry = [engine, False]
        self.watch(engine, entry)
        self.cache[key] = entry
        while len(self.cache) > self.KEEP:
            self.drop(next(iter(self.cache)))
        return engine

    def watch(self, engine, entry):
        reuse = self

        def on_connect(dbapi_conn, record):
            reuse.opened += 1
            if hasattr(dbapi_conn, "prepare_threshold"):
                dbapi_conn.prepare_threshold = None
            record.info["migcheck_fingerprint"] = reuse.fingerprint(dbapi_conn)

        def on_checkout(dbapi_conn, record, proxy):
            reuse.checkouts += 1

        def on_checkin(dbapi_conn, record):
            if dbapi_conn is None:
                return
            try:
                before = dbapi_conn.autocommit
                dbapi_conn.autocommit = True
                cursor = dbapi_conn.cursor()
                cursor.execute("DISCARD ALL")
                cursor.close()
                dbapi_conn.autocommit = before
                if reuse.fingerprint(dbapi_conn) != record.info.get("migcheck_fingerprint"):
                    entry[1] = True
            except Exception as exc:  # a broken connection: never hand it out again
                entry[1] = True
                record.invalidate(exc)

        self.sa.event.listen(engine, "connect", on_connect)
        self.sa.event.listen(engine, "checkout", on_checkout)
        self.sa.event.listen(engine, "checkin", on_checkin)

    def fingerprint(self, dbapi_conn):
        before = dbapi_conn.autocommit
        dbapi_conn.autocommit = True
        cursor = dbapi_conn.cursor()
        try:
            cursor.execute(self.FINGERPRINT)
            return cursor.fetchone()[0]
        finally:
            cursor.close()
            dbapi_conn.autocommit = before

    def owns(self, engine):
        return any(entry[0] is engine for entry in self.cache.values())

    def drop(self, key):
        engine, _ = self.cache.pop(key)
        try:
            engine.dispose()
        except Exception:
            pass

    def after_command(self, failed):
        """Start afresh after a failed command, or once the defaults a connection reads changed."""
        for key, (engine, stale) in list(self.cache.items()):
            if failed or stale:
                self.drop(key)

    def close(self):
        self.after_command(True)

    def counts(self):
        # A checkout that opened no connection used one a previous command had.
        return {"opened": self.opened, "reused": max(self.checkouts - self.opened, 0)}


def main():
    args = sys.argv[1:]
    opts = {"config": None, "toml": None, "section": "alembic", "url_env": "DATABASE_URL"}
    i = 0
    while i + 1 < len(args):
        key = args[i].lstrip("-").replace("-", "_")
        opts[key] = args[i + 1]
        i += 2

    try:
        import alembic
        import sqlalchemy
        from alembic import command
        from alembic.config import Config
        from alembic.runtime import migration
        from alembic.script import ScriptDirectory
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
    except Exception as exc:  # ImportError, or a broken installation
        send(fail(exc))
        return 3

    url = os.environ.get(opts["url_env"])
    if not url:
        send({"ok": False, "kind": "ConfigError", "error": "the %s environment variable is not set" % opts["url_env"]})
        return 3

    # The project's own imports (models packages) resolve from its folder, as when alembic runs there.
    project_dir = os.path.dirname(os.path.abspath(opts["config"] or opts["toml"]))
    os.chdir(project_dir)
    if project_dir not in sys.path:
        sys.path.insert(0, project_dir)

    def make_config():
        cfg = Config(
            file_=opts["config"],
            toml_file=opts["toml"],
            ini_section=opts["section"],
            stdout=sys.stderr,
        )
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
        return cfg

    # SQL capture: every statement any Engine executes, attributed to the revision step running.
    state = {"steps": None, "current": None, "preamble": None, "hold": False, "released": None}

    def hold():
        """A held command (`"hold": true`) stops here, before its first revision runs, and says
        so; migcheck releases it when the schema snapshot of the previous step is read, so the
        command's own set-up (env.py, the engine, the version table) overlaps that snapshot.
        Nothing the command did so far is committed: a cancelled command rolls back."""
        state["hold"] = False
        send({"ok": True, "held": True})
        line = sys.stdin.readline()
        try:
            req = json.loads(line) if line.strip() else {}
        except ValueError:
            req = {}
        state["released"] = time.perf_counter()
        if req.get("op") != "release":
            raise HoldCancelled("the held command was cancelled")

    def before_cursor_execute(conn, cursor, statement, parameters, context, executemany):
        if state["steps"] is None:
            return
        entry = {"sql": statement}
        if parameters:
            text = repr(parameters)
            entry["params"] = text if len(text) <= 500 else text[:500] + "..."
        if executemany:
            entry["many"] = True
        target = state["current"]["statements"] if state["current"] is not None else state["preamble"]
        target.append(entry)

    event.listen(Engine, "before_cursor_execute", before_cursor_execute)

    # Attribution: Alembic builds one RevisionStep per revision it runs and stores the
    # revision's upgrade/downgrade function in `migration_fn`; wrap it so statements executed
    # while it runs belong to that revision.
    original_init = migration.RevisionStep.__init__

    def step_init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        fn = self.migration_fn
        step = self

        def run(**kw):
            rev = step.revision
            record = {
                "revision": rev.revision,
                "down_revisions": list(rev._versioned_down_revisions),
                "file": str(rev.path),
                "direction": "upgrade" if step.is_upgrade else "downgrade",
                "statements": [],
            }
            if state["hold"]:
                hold()
            if state["steps"] is not None:
                state["steps"].append(record)
                state["current"] = record
            start = time.perf_counter()
            try:
                return fn(**kw)
            finally:
                record["ms"] = round((time.perf_counter() - start) * 1000, 3)

        run.__name__ = getattr(fn, "__name__", "migration")
        self.migration_fn = run

    migration.RevisionStep.__init__ = step_init

    # Speed: every alembic.command builds a new ScriptDirectory, which imports every revision
    # file again (O(revisions) per step). The files do not change during a run, so the driver
    # keeps one ScriptDirectory per configuration; env.py still runs afresh for every command.
    script_dirs = {}
    original_from_config = ScriptDirectory.from_config.__func__

    def cached_from_config(cls, config):
        key = (cls, config.config_file_name, getattr(config, "toml_file_name", None), config.config_ini_section)
        found = script_dirs.get(key)
        if found is None:
            found = original_from_config(cls, config)
            script_dirs[key] = found
        return found

    ScriptDirectory.from_config = classmethod(cached_from_config)

    engines = EngineReuse(sqlalchemy) if os.environ.get("MIGCHECK_ALEMBIC_FRESH_CONNECTIONS") != "1" else None

    def current_heads():
        cfg = make_config()
        engine = sqlalchemy.create_engine(cfg.get_main_option("sqlalchemy.url"), poolclass=sqlalchemy.pool.NullPool)
        try:
            with engine.connect() as conn:
                ctx = migration.MigrationContext.configure(
                    conn, opts={"version_table": version_table(cfg)}
                )
                return sorted(ctx.get_current_heads())
        finally:
            if engines is None or not engines.owns(engine):
                engine.dispose()

    def version_table(cfg):
        # env.py may choose another table name; Alembic has no config key for it, so the driver
        # reads the default unless MIGCHECK_ALEMBIC_VERSION_TABLE says otherwise.
        return os.environ.get("MIGCHECK_ALEMBIC_VERSION_TABLE", "alembic_version")

    send({
        "ok": True,
        "ready": True,
        "alembic": alembic.__version__,
        "sqlalchemy": sqlalchemy.__version__,
        "python": sys.version.split()[0],
        "executable": sys.executable,
    })

    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
        except ValueError as exc:
            send({"ok": False, "kind": "ProtocolError", "error": "bad request: %s" % exc})
            continue
        op = req.get("op")
        start = time.perf_counter()
        try:
            if op == "stop":
                resp = {"ok": True, "ms": 0}
                if engines is not None:
                    resp["connections"] = engines.counts()
                    engines.close()
                send(resp)
                return 0
            elif op in ("upgrade", "downgrade"):
                target = req.get("target")
                if not isinstance(target, str) or not target:
                    raise ValueError("%s needs a target" % op)
                state["steps"] = []
                state["current"] = None
                state["preamble"] = []
                state["hold"] = req.get("hold") is True
                state["released"] = None
                error = None
                try:
                    fn = command.upgrade if op == "upgrade" else command.downgrade
                    fn(make_config(), target)
                except BaseException as exc:
                    error = exc
                    if state["current"] is not None:
                        state["current"]["failed"] = True
                if engines is not None:
                    engines.after_command(error is not None)
                steps, preamble = state["steps"], state["preamble"]
                state["steps"] = None
                state["current"] = None
                state["preamble"] = None
                state["hold"] = False
                # A held command's time counts from its release.
                start = state["released"] or start
                ms = round((time.perf_counter() - start) * 1000, 3)
                resp = fail(error, ms) if error is not None else {"ok": True, "ms": ms}
                resp["steps"] = steps
                resp["other_statements"] = preamble
                send(resp)
                if isinstance(error, KeyboardInterrupt):
                    return 130
            elif op == "current":
                heads = current_heads()
                ms = round((time.perf_counter() - start) * 1000, 3)
                send({"ok": True, "ms": ms, "current": heads})
            elif op == "heads":
                script = ScriptDirectory.from_config(make_config())
                ms = round((time.perf_counter() - start) * 1000, 3)
                send({"ok": True, "ms": ms, "heads": sorted(script.get_heads())})
            else:
                send({"ok": False, "kind": "ProtocolError", "error": "unknown op %r" % (op,)})
        except BaseException as exc:  # SystemExit from env.py, KeyboardInterrupt included
            if engines is not None:
                engines.after_command(True)
            ms = round((time.perf_counter() - start) * 1000, 3)
            send(fail(exc, ms))
            if isinstance(exc, KeyboardInterrupt):
                return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
