//! A Ballista scheduler or executor carrying the retrieval pipeline's
//! nodes: `nodefusion-cluster scheduler …` and `nodefusion-cluster executor
//! …` (see `--help` of each). Run `nodefusion-retrieval --engine ballista
//! --scheduler df://HOST:PORT` against it.

use std::process::ExitCode;

fn main() -> ExitCode {
    // Links the retrieval crate, whose nodes register themselves with it.
    let _ = nodefusion_retrieval::pipeline::retrieval_pipeline;
    nodefusion_ballista::cluster::main()
}
