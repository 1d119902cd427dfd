# Floe's image: the server, `floe worker`, and script mode's sandbox runtime.
#   docker build -t floe .
#   docker run -p 50051:50051 -e FLOE_TOKEN=… floe serve --listen 0.0.0.0:50051
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs ./
COPY proto proto
COPY src src
RUN cargo build --release --locked && cp target/release/floe /usr/local/bin/floe

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 10001 floe
COPY --from=build /usr/local/bin/floe /usr/local/bin/floe
USER floe
WORKDIR /home/floe
# Script mode's pinned Python runtime (polars, pyarrow, pyiceberg, bubblewrap), built once here.
RUN floe setup
EXPOSE 50051
ENTRYPOINT ["floe"]
CMD ["serve", "--listen", "0.0.0.0:50051"]
