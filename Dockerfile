# syntax=docker/dockerfile:1
# The gateway's image: built from source in the Rust image, run from
# scratch with the binary, the shared libraries it loads, the CA roots and
# an unprivileged user (65532) — no shell, no package manager
# (deploy/container/rootfs.sh). See docs/deployment.md.
#
#   docker build -t lictor .
#   docker run --rm -p 8080:8080 -v lictor-data:/data lictor
#
# BUILT names the stage (or an image) holding /rootfs: the default builds
# it here; `cargo xtask image` builds it from a binary built on the host.
ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm
ARG BUILT=build

FROM ${RUST_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p lictor-server --bin lictor \
 && sh deploy/container/rootfs.sh target/release/lictor /rootfs

FROM ${BUILT} AS built

FROM scratch AS runtime
COPY --from=built /rootfs/system/ /
# COPY gives root what it copies: the data directory is the user's.
COPY --from=built --chown=65532:65532 /rootfs/user/ /
USER 65532:65532
WORKDIR /data
# Listen on every interface inside the container; keep the data in the
# /data volume; JSON logs for the log shipper.
ENV LICTOR_LISTEN=0.0.0.0:8080 \
    LICTOR_DATA_DIR=/data \
    LICTOR_LOG_FORMAT=json \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
VOLUME ["/data"]
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=15s --retries=3 \
    CMD ["/usr/local/bin/lictor", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/lictor"]
CMD ["serve"]
