# The nodefusion image: the cluster binary (scheduler | executor, carrying
# the retrieval nodes) and the retrieval CLI, built from this checkout.
# The source stays in the image: the CLI fetches models and the benchmark
# with the scripts under scripts/ on first use (python3 converts e5).
FROM rust:1.95-bookworm
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-pip python3-venv \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p nodefusion-retrieval \
        --bin nodefusion-cluster --bin nodefusion-retrieval \
    && cp target/release/nodefusion-cluster target/release/nodefusion-retrieval /usr/local/bin/ \
    && rm -rf target
# Models, benchmark data and indexes: one volume, mounted at the same path
# in every container, so that a path in a plan means the same file everywhere.
ENV NODEFUSION_CACHE=/data/cache
