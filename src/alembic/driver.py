"""migcheck's Alembic driver: one long-lived process that runs Alembic commands on request.

Shipped inside the migcheck binary and written to a private temporary directory at run time.
Protocol: one JSON request per line on stdin, one JSON response per line on the protocol
stream (the process's original stdout). Everything else the project prints (env.py, logging,
C extensions) goes to stderr: file descriptor 1 is pointed at stderr before any project code
runs, so stray prints cannot corrupt the protocol.

Requests:  {"op": "upgrade", "target": "<rev>"}   {"op": "downgrade", "target": "<rev>"}
           {"op": "current"}   {"op": "heads"}   {"op": "stop"}
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
    state = {"steps": None, "current": None, "preamble": None}

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
                send({"ok": True, "ms": 0})
                return 0
            elif op in ("upgrade", "downgrade"):
                target = req.get("target")
                if not isinstance(target, str) or not target:
                    raise ValueError("%s needs a target" % op)
                state["steps"] = []
                state["current"] = None
                state["preamble"] = []
                error = None
                try:
                    fn = command.upgrade if op == "upgrade" else command.downgrade
                    fn(make_config(), target)
                except BaseException as exc:
                    error = exc
                    if state["current"] is not None:
                        state["current"]["failed"] = True
                steps, preamble = state["steps"], state["preamble"]
                state["steps"] = None
                state["current"] = None
                state["preamble"] = None
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
            ms = round((time.perf_counter() - start) * 1000, 3)
            send(fail(exc, ms))
            if isinstance(exc, KeyboardInterrupt):
                return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
