//! Behaviour tests of the retrieval stages (one binary: `cargo test -p nodefusion-udfs --test retrieval`).

mod support;

mod bm25;
mod faults;
mod fusion;
mod hebrew;
mod index_set;
mod metrics;
mod persistence;
mod plaid;
mod rerank;
mod reuse;
