#!/usr/bin/env python3
"""Generated golang-migrate chains for the benchmarks (scripts/bench-*.sh).

  gen-chain.py growing OUT N [postgres|mariadb]
      N migrations, each creating one table (a key, a foreign key to the previous table, a
      NOT NULL column with a default, an index; a view every tenth); each down drops it.
  gen-chain.py wide OUT STEPS
      PostgreSQL: a 390-table schema in 10 migrations, then STEPS migrations that each touch
      one table (odd: add a table; even: add a column, rename a column under a view, add an
      index), to time a snapshot after a one-table step of a ~400-table schema.
"""

import os
import sys


def write(d, name, up, down):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name + ".up.sql"), "w") as f:
        f.write(up)
    with open(os.path.join(d, name + ".down.sql"), "w") as f:
        f.write(down)


def table(t, parent, engine="postgres"):
    if engine == "postgres":
        fk = f" REFERENCES public.t{parent}" if parent is not None else ""
        sql = (f"CREATE TABLE public.t{t} (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
               f"parent_id bigint{fk}, name text NOT NULL DEFAULT '', "
               f"created_at timestamptz NOT NULL DEFAULT now());\n"
               f"CREATE INDEX t{t}_name ON public.t{t} (name);\n")
        if t % 10 == 0:
            sql += f"CREATE VIEW public.v{t} AS SELECT id, name FROM public.t{t};\n"
        return sql
    fk = f", FOREIGN KEY (parent_id) REFERENCES t{parent} (id)" if parent is not None else ""
    sql = (f"CREATE TABLE t{t} (id bigint AUTO_INCREMENT PRIMARY KEY, parent_id bigint, "
           f"name varchar(100) NOT NULL DEFAULT '', "
           f"created_at timestamp(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6){fk});\n"
           f"CREATE INDEX t{t}_name ON t{t} (name);\n")
    if t % 10 == 0:
        sql += f"CREATE VIEW v{t} AS SELECT id, name FROM t{t};\n"
    return sql


def drop(t, engine="postgres"):
    schema = "public." if engine == "postgres" else ""
    view = f"DROP VIEW {schema}v{t};\n" if t % 10 == 0 else ""
    return view + f"DROP TABLE {schema}t{t};\n"


def growing(out, n, engine):
    for t in range(n):
        parent = t - 1 if t else None
        write(out, f"{t + 1:06}_t{t}", table(t, parent, engine), drop(t, engine))


def wide(out, steps):
    for m in range(10):
        ts = range(m * 39, (m + 1) * 39)
        write(out, f"{m + 1:06}_wide_{m}", "".join(table(t, t - 1 if t else None) for t in ts),
              "".join(drop(t) for t in reversed(ts)))
    for s in range(steps):
        n = 11 + s
        if s % 2 == 0:
            t = 390 + s // 2
            write(out, f"{n:06}_add_t{t}",
                  f"CREATE TABLE public.t{t} (id bigint PRIMARY KEY, t5_id bigint REFERENCES public.t5, note text);\n"
                  f"CREATE INDEX t{t}_note ON public.t{t} (note);\n",
                  f"DROP TABLE public.t{t};\n")
        else:
            k = (s // 2) * 10
            write(out, f"{n:06}_alter_t{k}",
                  f"ALTER TABLE public.t{k} ADD COLUMN score int NOT NULL DEFAULT 0;\n"
                  f"ALTER TABLE public.t{k} RENAME COLUMN name TO title;\n"
                  f"CREATE INDEX t{k}_score ON public.t{k} (score);\n",
                  f"DROP INDEX public.t{k}_score;\n"
                  f"ALTER TABLE public.t{k} RENAME COLUMN title TO name;\n"
                  f"ALTER TABLE public.t{k} DROP COLUMN score;\n")


def main(argv):
    if len(argv) >= 4 and argv[1] == "growing":
        growing(argv[2], int(argv[3]), argv[4] if len(argv) > 4 else "postgres")
    elif len(argv) == 4 and argv[1] == "wide":
        wide(argv[2], int(argv[3]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
