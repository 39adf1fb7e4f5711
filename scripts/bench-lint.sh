#!/usr/bin/env bash
# Benchmark `migcheck lint` on a generated corpus of 10,000 statements (both dialects, a mix of
# rule-triggering and safe statements). Usage: scripts/bench-lint.sh [STATEMENTS]
# Builds the release binary (honours CARGO_TARGET_DIR).
set -euo pipefail
n=${1:-10000}
target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet
bin="$target/release/migcheck"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/pg" "$work/my"
gen() { # $1 dialect, $2 count, $3 dir
    local d=$1 count=$2 dir=$3 per=20 files=$(( $2 / 20 ))
    for ((f = 1; f <= files; f++)); do
        {
            for ((i = 0; i < per; i++)); do
                k=$(( (f * per + i) % 10 ))
                if [ "$d" = pg ]; then
                    case $k in
                    0) echo "CREATE TABLE t_${f}_$i (id bigint PRIMARY KEY, name text, payload jsonb);" ;;
                    1) echo "ALTER TABLE users ADD COLUMN c_${f}_$i text NOT NULL;" ;;
                    2) echo "CREATE INDEX i_${f}_$i ON orders (customer_id, created_at);" ;;
                    3) echo "ALTER TABLE users ADD COLUMN d_${f}_$i timestamptz DEFAULT now();" ;;
                    4) echo "UPDATE users SET name = 'x' WHERE id = $i;" ;;
                    5) echo "ALTER TABLE orders ADD CONSTRAINT fk_${f}_$i FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;" ;;
                    6) echo "ALTER TABLE users ALTER COLUMN e_$i TYPE bigint;" ;;
                    7) echo "INSERT INTO audit (what, at) VALUES ('m$f', now());" ;;
                    8) echo "ALTER TABLE users ADD CONSTRAINT ck_${f}_$i CHECK (qty > 0);" ;;
                    9) echo "SELECT count(*) FROM users u JOIN orders o ON o.user_id = u.id WHERE o.total > 10;" ;;
                    esac
                else
                    case $k in
                    0) echo "CREATE TABLE t_${f}_$i (id bigint PRIMARY KEY AUTO_INCREMENT, name varchar(40)) ENGINE=InnoDB;" ;;
                    1) echo "ALTER TABLE users ADD COLUMN c_${f}_$i int NOT NULL;" ;;
                    2) echo "ALTER TABLE users ADD INDEX i_${f}_$i (name), ALGORITHM=INPLACE, LOCK=NONE;" ;;
                    3) echo "ALTER TABLE users MODIFY COLUMN m_$i bigint, ALGORITHM=COPY;" ;;
                    4) echo "UPDATE users SET name = 'x' WHERE id = $i;" ;;
                    5) echo "ALTER TABLE orders ADD CONSTRAINT fk_${f}_$i FOREIGN KEY (user_id) REFERENCES users (id);" ;;
                    6) echo "RENAME TABLE a_$i TO b_$i;" ;;
                    7) echo "INSERT INTO audit (what, at) VALUES ('m$f', NOW());" ;;
                    8) echo "ALTER TABLE users DROP COLUMN old_$i;" ;;
                    9) echo "ALTER TABLE users CONVERT TO CHARACTER SET utf8mb4;" ;;
                    esac
                fi
            done
        } >"$dir/$(printf '%06d' "$f")_m.up.sql"
    done
}
gen pg $(( n / 2 )) "$work/pg"
gen my $(( n / 2 )) "$work/my"
stmts=$(cat "$work"/pg/*.sql "$work"/my/*.sql | grep -c ';$')
start=$(date +%s%N)
"$bin" lint "$work/pg" --engine postgres --quiet --json "$work/pg.json" >/dev/null || true
"$bin" lint "$work/my" --engine mysql --quiet --json "$work/my.json" >/dev/null || true
end=$(date +%s%N)
ms=$(( (end - start) / 1000000 ))
findings=$(grep -c '"rule"' "$work/pg.json" "$work/my.json" | awk -F: '{s += $2} END {print s}')
echo "linted $stmts statements ($(ls "$work"/pg | wc -l) + $(ls "$work"/my | wc -l) files, both dialects) in ${ms} ms, $findings findings"
