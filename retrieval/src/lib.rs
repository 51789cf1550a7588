//! The hybrid Hebrew retrieval pipeline of nodefusion: Parquet loading
//! through object_store, the benchmark builders, the pipeline's nodes, and
//! the command-line tool.
#![warn(missing_docs)]

pub mod app;
pub mod benchmark;
pub mod data;
pub mod pipeline;
pub mod setup;
