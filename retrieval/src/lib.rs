//! The hybrid Hebrew retrieval pipeline of nodefusion, in four parts:
//!
//! | module | what |
//! |---|---|
//! | [`pipeline`] | the pipeline's nodes, the resources and settings they use, the rows they pass, and [`pipeline::retrieval_pipeline`] |
//! | [`app`] | the application: running the pipeline end to end ([`app::run`]), the checks before a run, publishing its outputs, SQL over them, fetching the encoders; the binaries in `src/bin/` are thin command lines over it |
//! | [`data`] | loading passages, queries and ground truths from Parquet through object_store, with the errors bad input gets |
//! | [`dataset`] | building the retrieval datasets (Mishnah citations, ASV cross-lingual) from their public sources |
//!
//! "Benchmark" in this crate means measuring only: the `bench_*` examples
//! measure speed and retrieval quality on the datasets [`dataset`] builds.
#![warn(missing_docs)]

pub mod app;
pub mod data;
pub mod dataset;
pub mod pipeline;
