# syntax=docker/dockerfile:1
#
# Muster's container image: the `muster` binary on Debian slim, as a non-root user, nothing else
# but curl for the HEALTHCHECK. One image for every role: `serve` (the default), `migrate` (the
# Kubernetes Job, the ECS migrate task), `canary-check` (the Argo Rollouts analysis), `e2e`.
#
#   docker build -t muster:$(git rev-list --count HEAD) \
#     --build-arg MUSTER_BUILD_NUMBER=$(git rev-list --count HEAD) .
#
# Build from a full clone: build.rs stamps the commit (`/version`, `X-Muster-Build`) from the .git
# directory in the build context (without it the commit reads "unknown"). The build number is a
# required argument (build.rs reads it from the build's environment) rather than the commit
# count, which a shallow CI clone gets wrong.
# Linted by hadolint in .ci/run; docs/deploy-instances.md says how to run it.

# The toolchain CI builds and tests with (Cargo.toml's rust-version is the floor, not the pin).
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------- build
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS build
# Required: build.rs stamps it into the binary (muster --version, /version, X-Muster-Build,
# muster_build_info); whole numbers only, as build.rs accepts.
ARG MUSTER_BUILD_NUMBER
RUN case "${MUSTER_BUILD_NUMBER}" in \
      "" | *[!0-9]*) echo "pass --build-arg MUSTER_BUILD_NUMBER=<a whole number>, e.g. \$(git rev-list --count HEAD)" >&2; exit 1 ;; \
    esac
WORKDIR /src
COPY . .
# The registry and target directories are BuildKit caches, so a rebuild after a source change
# compiles only what changed; the binary is copied out of the cache mount to stay in the layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/src/target,sharing=locked \
    cargo build --release --locked -p muster \
 && cp target/release/muster /usr/local/bin/muster \
 && /usr/local/bin/muster --version

# ---------------------------------------------------------------- run
FROM debian:${DEBIAN_RELEASE}-slim

# curl is the HEALTHCHECK's client: muster has no health subcommand, and a distroless image has
# no shell or client to ask /health with. Nothing else is installed: TLS (Redis, JWKS, AWS) is
# rustls with its own root certificates, and the binary links only glibc.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 muster \
 && useradd --system --uid 10001 --gid muster --home-dir /var/lib/muster --create-home --shell /usr/sbin/nologin muster

COPY --from=build /usr/local/bin/muster /usr/local/bin/muster

# The same number in the environment: the run-time setting of that name, which a deploy may
# still override (a manual rev, letters allowed there).
ARG MUSTER_BUILD_NUMBER

# Inside a container the listeners bind every interface; the orchestrator decides who reaches
# them. 8080 is the public API. 9090 is the admin listener (Prometheus /metrics): deliberately
# not EXPOSEd; only the scraper may reach it (deploy/k8s NetworkPolicy, deploy/aws/ecs.yaml
# security group). MUSTER_MIGRATE stays at its default (true) for `docker run`; the Kubernetes
# and ECS deployments set it to false and migrate in a step of their own before the roll.
ENV MUSTER_LISTEN=0.0.0.0:8080 \
    MUSTER_ADMIN_LISTEN=0.0.0.0:9090 \
    MUSTER_LOG_FORMAT=json \
    MUSTER_BUILD_NUMBER=${MUSTER_BUILD_NUMBER}

# numeric, so Kubernetes' runAsNonRoot can verify it
USER 10001:10001
WORKDIR /var/lib/muster
EXPOSE 8080

# Liveness (/health: the process serves), not readiness: a database outage must not get a
# healthy process restarted. Exec form, no shell: change the port here with MUSTER_LISTEN.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/health"]

# muster handles SIGTERM itself (drain, then exit 0), and starts no child processes to reap,
# so it runs as PID 1 without an init.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/muster"]
CMD ["serve"]
