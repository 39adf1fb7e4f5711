# migcheck in a container image:
#
#   docker build -t migcheck .
#   docker run --rm -v "$PWD:/work" migcheck lint db/migrations
#
# Stages, in this order:
#   runtime-base  the runtime image: CA certificates, git (for --since), a non-root user
#   prebuilt      runtime-base + a binary built on the host (target/release/migcheck), for
#                 machines that cannot pull the Rust image, and to check the runtime stage:
#                   docker build --target prebuilt --build-arg RUNTIME_IMAGE=... -t migcheck .
#   builder       compiles this checkout (cargo build --release --locked)
#   runtime       the default (last) stage: runtime-base + the builder's binary
# The builder comes after `prebuilt`, so `--target prebuilt` never needs the Rust image, with the
# classic builder (which builds every stage before the target) as with BuildKit.

ARG RUST_IMAGE=rust:1-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUNTIME_IMAGE} AS runtime-base
# git: `--since`, and a CI pull request's base found by itself, read the history with git. The
# checkout is mounted from the host and owned by another user than the image's: git must not
# refuse it as a "dubious ownership" repository.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates git \
    && rm -rf /var/lib/apt/lists/* \
    && git config --system --add safe.directory '*' \
    && useradd --uid 10001 --user-group --create-home --home-dir /home/migcheck \
        --shell /usr/sbin/nologin migcheck \
    && mkdir -p /work
# Run records (`migcheck cleanup`) go where any user may write, also under `docker run --user`.
ENV XDG_CACHE_HOME=/tmp/cache
USER migcheck
WORKDIR /work
ENTRYPOINT ["migcheck"]
CMD ["--help"]

FROM runtime-base AS prebuilt
# The classic builder builds every stage before its target, so it builds this one on the way to
# `runtime` too: where there is no host binary, the glob (`migchec[k]`, next to a file that is
# always there) copies nothing instead of failing, and the stage says so.
COPY Cargo.toml target/release/migchec[k] /tmp/prebuilt/
USER root
RUN if [ -f /tmp/prebuilt/migcheck ]; then install -m 0755 /tmp/prebuilt/migcheck /usr/local/bin/migcheck; \
    else echo "prebuilt: no target/release/migcheck in the build context; this stage has no binary"; fi \
    && rm -rf /tmp/prebuilt
USER migcheck

FROM ${RUST_IMAGE} AS builder
# libpg_query (PostgreSQL's parser, in C) needs a C compiler, libclang (bindgen) and protoc.
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libclang-dev clang protobuf-compiler \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
    && install -m 0755 target/release/migcheck /usr/local/bin/migcheck

FROM runtime-base AS runtime
COPY --from=builder /usr/local/bin/migcheck /usr/local/bin/migcheck
