//! A Ballista scheduler or executor carrying the retrieval pipeline's
//! nodes: `nodefusion-cluster scheduler …` and `nodefusion-cluster executor
//! …` (see `--help` of each). Run `nodefusion-retrieval --engine ballista
//! --scheduler df://HOST:PORT` against it.

use std::process::ExitCode;

/// jemalloc hands freed memory back to the system; glibc's malloc keeps
/// much of what encoding and collecting free (README, "Memory").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    // Links the retrieval crate, whose nodes register themselves with it.
    let _ = nodefusion_retrieval::pipeline::retrieval_pipeline;
    nodefusion_ballista::cluster::main()
}
