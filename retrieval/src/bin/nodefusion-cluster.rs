//! A Ballista scheduler or executor carrying the retrieval pipeline's
//! nodes and the retrieval SQL functions (`nodefusion_udfs::sql`):
//! `nodefusion-cluster scheduler …` and `nodefusion-cluster executor …`
//! (see `--help` of each). Run `nodefusion-retrieval --engine ballista
//! --scheduler df://HOST:PORT` against it, or SQL in a Ballista session
//! (`BallistaEngine::sql_context`) with the functions registered.

use std::process::ExitCode;

use nodefusion_ballista::cluster::{ClusterFunctions, main_with};

/// jemalloc hands freed memory back to the system; glibc's malloc keeps
/// much of what encoding and collecting free (README, "Memory").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Links the retrieval crate, whose nodes register themselves with it.
    let _ = nodefusion_retrieval::pipeline::retrieval_pipeline;
    main_with(ClusterFunctions {
        scalar: nodefusion_udfs::sql::functions(),
        aggregate: nodefusion_udfs::sql::aggregate_functions(),
    })
}
