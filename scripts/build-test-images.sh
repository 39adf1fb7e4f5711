#!/usr/bin/env bash
# Build local stand-ins for the official postgres/mariadb Docker images from
# Debian packages, for running migcheck's docker-provider tests on machines
# that cannot reach a container registry.
#
#   scripts/build-test-images.sh [--force] [postgres] [mariadb]
#
# Images built (both by default):
#   migcheck-test/postgres:15     Debian bookworm postgresql-15
#   migcheck-test/mariadb:10.11   Debian bookworm mariadb-server
#
# Environment:
#   MIGCHECK_IMAGE_CACHE     cache directory (default /var/cache/migcheck-images)
#   MIGCHECK_DEBIAN_MIRROR   Debian mirror (default: the one in /etc/apt/sources.list*)
#   MIGCHECK_DEBIAN_SUITE    Debian suite (default bookworm)
#   MIGCHECK_FORCE_REBUILD=1 same as --force (re-installs packages; the base rootfs is kept)
#   MIGCHECK_BUILD_JOBS=1    build the images one after the other (default: concurrently)
#
# An image is rebuilt only when it is missing or when its recorded content
# hash (ENV MIGCHECK_IMAGE_HASH, hash of this script and docker/<image>/*)
# differs. The debootstrapped base rootfs, each image's installed rootfs and
# the downloaded .debs are cached under MIGCHECK_IMAGE_CACHE.
set -euo pipefail

PROG=build-test-images
SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
REPO_ROOT=$(cd "$(dirname "$SCRIPT_PATH")/.." && pwd)
DOCKER_DIR=$REPO_ROOT/docker

CACHE=${MIGCHECK_IMAGE_CACHE:-/var/cache/migcheck-images}
SUITE=${MIGCHECK_DEBIAN_SUITE:-bookworm}
FORCE=${MIGCHECK_FORCE_REBUILD:-0}

# Bump when the way the base rootfs is prepared changes (invalidates the cache).
BASE_REV=1
# Bump when the per-image package installation/trimming changes.
INSTALL_REV=2

log() { printf '[%s] %s\n' "$PROG" "$*" >&2; }
die() { printf '[%s] error: %s\n' "$PROG" "$*" >&2; exit 1; }

usage() {
    sed -n '2,/^set -euo/p' "$SCRIPT_PATH" | sed '$d' | sed 's/^# \{0,1\}//'
}

# ---------------------------------------------------------------- images ---
# name|tag|debian packages|exposed port|extra env (space separated K=V)
image_spec() {
    case "$1" in
        postgres)
            IMG_NAME=migcheck-test/postgres
            IMG_TAG=15
            IMG_PACKAGES="postgresql-15"
            IMG_PORT=5432
            IMG_VOLUME=/var/lib/postgresql/data
            # Like the official image: fast shutdown, even with clients connected.
            IMG_STOPSIGNAL=SIGINT
            IMG_ENV=(
                "PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                "PGDATA=/var/lib/postgresql/data"
                "PG_MAJOR=15"
                "LANG=C.UTF-8"
            )
            ;;
        mariadb)
            IMG_NAME=migcheck-test/mariadb
            IMG_TAG=10.11
            IMG_PACKAGES="mariadb-server"
            IMG_PORT=3306
            IMG_VOLUME=/var/lib/mysql
            IMG_STOPSIGNAL=SIGTERM
            IMG_ENV=(
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
                "LANG=C.UTF-8"
            )
            ;;
        *) die "unknown image '$1' (expected: postgres, mariadb)" ;;
    esac
}

# --------------------------------------------------------------- options ---
TARGETS=()
for arg in "$@"; do
    case "$arg" in
        -f|--force) FORCE=1 ;;
        -h|--help) usage; exit 0 ;;
        postgres|mariadb) TARGETS+=("$arg") ;;
        *) die "unknown argument '$arg' (try --help)" ;;
    esac
done
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(postgres mariadb)

# ------------------------------------------------------------- preflight ---
command -v docker >/dev/null 2>&1 \
    || die "docker CLI not found: install Docker to build the test images"
docker info >/dev/null 2>&1 \
    || die "cannot talk to the Docker daemon (is it running? DOCKER_HOST=${DOCKER_HOST:-unset})"

sha256_stdin() { sha256sum | cut -c1-64; }

# Hash of everything that ends up in an image: this script plus docker/<image>/.
content_hash() {
    local dir=$DOCKER_DIR/$1
    [ -d "$dir" ] || die "missing $dir"
    {
        printf 'script\n'; cat "$SCRIPT_PATH"
        (cd "$dir" && find . -type f -print | LC_ALL=C sort | while read -r f; do
            printf 'file %s %s\n' "$f" "$(stat -c %a "$f")"; cat "$f"
        done)
    } | sha256_stdin
}

image_hash() {
    docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$1" 2>/dev/null \
        | sed -n 's/^MIGCHECK_IMAGE_HASH=//p'
}

declare -A WANT_HASH
PENDING=()
for t in "${TARGETS[@]}"; do
    image_spec "$t"
    WANT_HASH[$t]=$(content_hash "$t")
    have=$(image_hash "$IMG_NAME:$IMG_TAG" || true)
    if [ "$FORCE" != 1 ] && [ "$have" = "${WANT_HASH[$t]}" ]; then
        log "$IMG_NAME:$IMG_TAG is up to date (hash ${have:0:12})"
    else
        if [ -z "$have" ]; then log "$IMG_NAME:$IMG_TAG missing: will build"
        elif [ "$FORCE" = 1 ]; then log "$IMG_NAME:$IMG_TAG: rebuild forced"
        else log "$IMG_NAME:$IMG_TAG is stale (${have:0:12} != ${WANT_HASH[$t]:0:12}): will rebuild"
        fi
        PENDING+=("$t")
    fi
done
if [ ${#PENDING[@]} -eq 0 ]; then
    log "nothing to do"
    exit 0
fi

[ "$(id -u)" = 0 ] || die "building needs root (debootstrap, chroot, mount); re-run with sudo"
command -v chroot >/dev/null 2>&1 || die "chroot not found"
command -v flock >/dev/null 2>&1 || die "flock not found (util-linux)"

detect_mirror() {
    local f uri=
    # deb822 .sources files first, then one-line sources.list entries.
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk -v suite="$SUITE" '
            /^[ \t]*$/ { if (u != "" && s) { print u; exit } u = ""; s = 0; next }
            tolower($1) == "uris:" { u = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) s = 1 }
            END { if (u != "" && s) print u }' "$f" | head -n1)
        [ -n "$uri" ] && { printf '%s\n' "$uri"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        uri=$(awk -v suite="$SUITE" '
            $1 == "deb" { i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                          if ($(i+1) == suite) { print $i; exit } }' "$f")
        [ -n "$uri" ] && { printf '%s\n' "$uri"; return; }
    done
}
MIRROR=${MIGCHECK_DEBIAN_MIRROR:-$(detect_mirror)}
[ -n "$MIRROR" ] || die "could not find a Debian '$SUITE' mirror in /etc/apt/sources.list*; set MIGCHECK_DEBIAN_MIRROR"
MIRROR=${MIRROR%/}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
if ! flock -n 9; then
    log "another build holds $CACHE/.lock; waiting"
    flock 9
fi

# ------------------------------------------------------- cleanup helpers ---
MOUNTS=()   # mount points to unmount on exit (innermost last)
TEMPS=()    # temporary directories to delete on exit
JOBS=()     # background per-image builds (pids)
cleanup() {
    local i
    for i in "${JOBS[@]}"; do kill "$i" 2>/dev/null || true; done
    for i in "${JOBS[@]}"; do wait "$i" 2>/dev/null || true; done
    JOBS=()
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount -l "${MOUNTS[$i]}" 2>/dev/null || true
    done
    MOUNTS=()
    for d in "${TEMPS[@]}"; do
        [ -n "$d" ] && [ -e "$d" ] && rm -rf --one-file-system "$d"
    done
    TEMPS=()
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

do_mount() {  # do_mount <target> <mount args...>
    local target=$1; shift
    mount "$@" "$target"
    MOUNTS+=("$target")
}
unmount_all() {
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount "${MOUNTS[$i]}"; done
    MOUNTS=()
}

# ------------------------------------------------------------ base rootfs ---
BASE_KEY=$(printf '%s\n' "$BASE_REV" "$SUITE" "$MIRROR" "$(dpkg --print-architecture 2>/dev/null || uname -m)" | sha256_stdin)
BASE_DIR=$CACHE/base-$SUITE-${BASE_KEY:0:12}
DEB_CACHE=$CACHE/debs/$SUITE     # debootstrap's .debs; apt's go to $DEB_CACHE/apt-<image>
mkdir -p "$DEB_CACHE"

build_base() {
    command -v debootstrap >/dev/null 2>&1 \
        || die "debootstrap not found: install it (apt-get update && apt-get install -y debootstrap)"
    local tmp
    tmp=$(mktemp -d "$CACHE/tmp.base.XXXXXX"); TEMPS+=("$tmp")
    chmod 755 "$tmp"
    log "debootstrap $SUITE from $MIRROR (minbase) ..."
    local start=$SECONDS
    if ! debootstrap --variant=minbase --cache-dir="$DEB_CACHE" "$SUITE" "$tmp" "$MIRROR" \
            >"$tmp.log" 2>&1; then
        tail -n 30 "$tmp.log" >&2
        rm -f "$tmp.log"
        die "debootstrap failed (full log above)"
    fi
    rm -f "$tmp.log"
    log "debootstrap done in $((SECONDS - start))s"

    # Never start services inside the chroot.
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"
    chmod 755 "$tmp/usr/sbin/policy-rc.d"
    # Keep images small: no docs, man pages or translations, no recommends.
    cat >"$tmp/etc/dpkg/dpkg.cfg.d/90-migcheck-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-exclude=/usr/share/lintian/*
path-exclude=/usr/share/linda/*
EOF
    cat >"$tmp/etc/apt/apt.conf.d/90-migcheck" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
Dpkg::Options { "--force-confdef"; "--force-confold"; };
EOF
    # Same suites as the host (updates/security only if the host has them).
    {
        printf 'deb %s %s main\n' "$MIRROR" "$SUITE"
        if grep -rqs -- "$SUITE-updates" /etc/apt/sources.list /etc/apt/sources.list.d/; then
            printf 'deb %s %s-updates main\n' "$MIRROR" "$SUITE"
        fi
        local sec
        sec=$(grep -rhs -B3 -A3 -- "$SUITE-security" /etc/apt/sources.list /etc/apt/sources.list.d/ \
              | grep -oE 'https?://[^ ]+' | grep -v snapshot | head -n1 || true)
        if [ -n "$sec" ]; then printf 'deb %s %s-security main\n' "${sec%/}" "$SUITE"; fi
    } >"$tmp/etc/apt/sources.list"
    rm -rf "$tmp"/usr/share/doc/* "$tmp"/usr/share/man/* "$tmp"/usr/share/info/* \
           "$tmp"/usr/share/locale/* "$tmp"/var/cache/apt/archives/*.deb
    touch "$tmp/.migcheck-base-complete"
    rm -rf "$BASE_DIR"
    mv "$tmp" "$BASE_DIR"
    local old
    for old in "$CACHE"/base-*; do
        [ "$old" = "$BASE_DIR" ] || rm -rf --one-file-system "$old"
    done
}

# ---------------------------------------------------------- image rootfs ---
# Prepare a chroot for apt: proc, resolv.conf, a .deb cache per image (the
# images are built concurrently and apt locks its archives directory).
enter_chroot_env() {
    local root=$1 debs=$DEB_CACHE/apt-$2
    do_mount "$root/proc" -t proc proc
    mkdir -p "$debs" "$root/var/cache/apt/archives"
    do_mount "$root/var/cache/apt/archives" --bind "$debs"
    rm -f "$root/etc/resolv.conf"
    cp -L /etc/resolv.conf "$root/etc/resolv.conf"
}

apt_in() {  # apt_in <root> <apt-get args...>
    local root=$1; shift
    chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8 apt-get -q "$@"
}

trim_rootfs() {
    local root=$1
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
           "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
           "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
           "$root"/usr/share/locale/* "$root"/tmp/* "$root"/var/tmp/*
    find "$root/var/log" -type f -delete
    rm -f "$root/etc/resolv.conf" "$root/etc/hostname"
    : >"$root/etc/resolv.conf"
    printf 'migcheck-test\n' >"$root/etc/hostname"
}

# Image-specific fix-ups after the package is installed. They run inside the
# chroot: the rootfs holds absolute symlinks (/var/run -> /run) that would
# otherwise resolve on the host.
post_install() {
    local t=$1 root=$2
    case "$t" in
        postgres)
            # Debian's packaging creates a 'main' cluster; the entrypoint runs its own initdb.
            chroot "$root" sh -eu -c '
                rm -rf /etc/postgresql/15 /var/lib/postgresql/15
                mkdir -p /var/lib/postgresql/data /run/postgresql
                chown -R postgres:postgres /var/lib/postgresql /run/postgresql
                chmod 700 /var/lib/postgresql/data
                chmod 2777 /run/postgresql'
            ;;
        mariadb)
            # The package's postinst initialises /var/lib/mysql; the entrypoint does that itself.
            chroot "$root" sh -eu -c '
                rm -rf /var/lib/mysql
                mkdir -p /var/lib/mysql /run/mysqld
                chown -R mysql:mysql /var/lib/mysql /run/mysqld
                chmod 777 /run/mysqld'
            ;;
    esac
}

build_image_rootfs() {  # build_image_rootfs <target> <final dir>
    local t=$1 final=$2 tmp start=$SECONDS
    tmp=$(mktemp -d "$CACHE/tmp.$t.XXXXXX"); TEMPS+=("$tmp")
    # (the copy takes the base directory's mode; apt's _apt sandbox user must reach the lists)
    log "$t: copying base rootfs"
    cp -a "$BASE_DIR/." "$tmp/"
    chmod 755 "$tmp"
    enter_chroot_env "$tmp" "$t"
    log "$t: installing $IMG_PACKAGES"
    # The package lists are not cached, so a fresh 'update' per image is needed anyway.
    apt_in "$tmp" update >/dev/null
    # shellcheck disable=SC2086
    if ! apt_in "$tmp" install -y --no-install-recommends $IMG_PACKAGES >"$tmp.log" 2>&1; then
        tail -n 40 "$tmp.log" >&2; rm -f "$tmp.log"
        die "$t: apt-get install $IMG_PACKAGES failed"
    fi
    rm -f "$tmp.log"
    unmount_all
    post_install "$t" "$tmp"
    trim_rootfs "$tmp"
    touch "$tmp/.migcheck-rootfs-complete"
    rm -rf "$final"
    mv "$tmp" "$final"
    log "$t: rootfs ready in $((SECONDS - start))s ($(du -sh "$final" | cut -f1))"
}

import_image() {  # import_image <target> <rootfs dir>
    local t=$1 root=$2 stage ref="$IMG_NAME:$IMG_TAG" start=$SECONDS
    stage=$(mktemp -d "$CACHE/tmp.stage.$t.XXXXXX"); TEMPS+=("$stage")
    # Files from docker/<target>/ are added on top of the cached rootfs:
    #   entrypoint.sh -> /usr/local/bin/entrypoint.sh
    #   *.cnf         -> /etc/mysql/mariadb.conf.d/ (read after Debian's 50-server.cnf)
    mkdir -p "$stage/usr/local/bin"
    install -m 755 "$DOCKER_DIR/$t/entrypoint.sh" "$stage/usr/local/bin/entrypoint.sh"
    local extra=(./usr/local/bin/entrypoint.sh) f
    for f in "$DOCKER_DIR/$t"/*.cnf; do
        [ -e "$f" ] || continue
        mkdir -p "$stage/etc/mysql/mariadb.conf.d"
        install -m 644 "$f" "$stage/etc/mysql/mariadb.conf.d/$(basename "$f")"
        extra+=("./etc/mysql/mariadb.conf.d/$(basename "$f")")
    done
    local changes=(
        -c "ENTRYPOINT [\"/usr/local/bin/entrypoint.sh\"]"
        -c "CMD [\"$([ "$t" = postgres ] && echo postgres || echo mariadbd)\"]"
        -c "EXPOSE $IMG_PORT"
        -c "VOLUME $IMG_VOLUME"
        -c "ENV MIGCHECK_IMAGE_HASH=${WANT_HASH[$t]}"
    )
    local e
    for e in "${IMG_ENV[@]}"; do changes+=(-c "ENV $e"); done
    local raw="$IMG_NAME:$IMG_TAG-rootfs" old_id
    old_id=$(docker image inspect -f '{{.Id}}' "$ref" 2>/dev/null || true)
    log "$t: importing $raw"
    tar --numeric-owner --exclude=./.migcheck-rootfs-complete -C "$root" -cf - . \
        -C "$stage" "${extra[@]}" \
        | docker import "${changes[@]}" -m "migcheck test image ($t, Debian $SUITE)" - "$raw" >/dev/null
    # 'docker import' cannot set STOPSIGNAL or LABEL; a metadata-only build on
    # top of the imported image can (no registry needed: the base is local).
    if printf 'FROM %s\nSTOPSIGNAL %s\nLABEL %s\n' "$raw" "$IMG_STOPSIGNAL" \
            "org.migcheck.test-image=$t org.migcheck.image-hash=${WANT_HASH[$t]}" \
            | DOCKER_BUILDKIT=0 docker build -q -t "$ref" - >"$stage.build.log" 2>&1; then
        docker rmi "$raw" >/dev/null
    else
        log "warning: docker build failed; $ref keeps the default stop signal (SIGTERM):"
        sed 's/^/    /' "$stage.build.log" >&2
        docker tag "$raw" "$ref"
        docker rmi "$raw" >/dev/null
    fi
    rm -f "$stage.build.log"
    # Drop the image this one replaces (fails harmlessly if a container still uses it).
    if [ -n "$old_id" ] && [ "$old_id" != "$(docker image inspect -f '{{.Id}}' "$ref")" ]; then
        docker rmi "$old_id" >/dev/null 2>&1 || log "$t: previous image ${old_id:7:12} still in use, left in place"
    fi
    log "$t: built $ref in $((SECONDS - start))s ($(docker image inspect -f '{{.Size}}' "$ref" | awk '{printf "%.0f MB", $1/1e6}'))"
}

rootfs_dir() {  # cache directory of a target's installed rootfs
    local key
    image_spec "$1"
    key=$(printf '%s\n' "$BASE_KEY" "$INSTALL_REV" "$IMG_PACKAGES" \
          "$(declare -f post_install trim_rootfs)" | sha256_stdin)
    printf '%s\n' "$CACHE/rootfs-$1-${key:0:12}"
}
rootfs_cached() { [ "$FORCE" != 1 ] && [ -f "$(rootfs_dir "$1")/.migcheck-rootfs-complete" ]; }

build_one() {  # rootfs (cached) + image for one target
    local t=$1 old rootfs
    rootfs=$(rootfs_dir "$t")
    image_spec "$t"
    if rootfs_cached "$t"; then
        log "$t: using cached rootfs $rootfs"
    else
        build_image_rootfs "$t" "$rootfs"
    fi
    import_image "$t" "$rootfs"
    # Drop rootfs caches of older revisions of this image.
    for old in "$CACHE"/rootfs-"$t"-*; do
        [ "$old" = "$rootfs" ] || rm -rf --one-file-system "$old"
    done
}

TOTAL_START=$SECONDS
for t in "${PENDING[@]}"; do
    rootfs_cached "$t" && continue
    if [ ! -f "$BASE_DIR/.migcheck-base-complete" ]; then
        build_base
    else
        log "using cached base rootfs $BASE_DIR"
    fi
    break
done
if [ ${#PENDING[@]} -eq 1 ] || [ "${MIGCHECK_BUILD_JOBS:-2}" = 1 ]; then
    for t in "${PENDING[@]}"; do build_one "$t"; done
else
    # One background job per image; each cleans up its own mounts and temp dirs.
    declare -A JOB_OF
    for t in "${PENDING[@]}"; do
        # shellcheck disable=SC2030,SC2031 # the subshell's own, empty lists
        (
            MOUNTS=(); TEMPS=(); JOBS=()
            trap cleanup EXIT
            trap 'exit 143' TERM
            build_one "$t"
        ) &
        # shellcheck disable=SC2031
        JOBS+=("$!")
        JOB_OF[$t]=$!
    done
    failed=()
    for t in "${PENDING[@]}"; do
        wait "${JOB_OF[$t]}" || failed+=("$t")
    done
    JOBS=()
    [ ${#failed[@]} -eq 0 ] || die "building ${failed[*]} failed (see messages above)"
fi
cleanup
log "done in $((SECONDS - TOTAL_START))s: $(for t in "${TARGETS[@]}"; do image_spec "$t"; printf '%s ' "$IMG_NAME:$IMG_TAG"; done)"
