# Parley's server binaries in one image; compose.yaml picks the binary per service.
# Build: docker build -t parley .   (the web client is not included: serve web/dist separately
# or mount it and set PARLEY_WEB_DIR on the edges).

FROM rust:1.95-bookworm AS build
# .cargo/config.toml links with mold (-fuse-ld=mold): the build stage needs it.
RUN apt-get update \
 && apt-get install -y --no-install-recommends mold \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The server binaries are the ones binaries.txt lists.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    bins=$(awk '!/^#/ && NF {print $1}' binaries.txt) \
 && cargo build --release --locked $(printf -- '--bin %s ' $bins) \
 && mkdir /out \
 && for b in $bins; do cp "target/release/$b" /out/; done

FROM debian:bookworm-slim
# curl: health checks (/readyz); openssl: the one-shot JWT key generation in compose.yaml.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl openssl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent parley
COPY --from=build /out/ /usr/local/bin/
USER parley
ENV PARLEY_LOG_FORMAT=json
# Every binary drains on SIGTERM (compose's stop signal) within PARLEY_DRAIN_SECONDS.
STOPSIGNAL SIGTERM
