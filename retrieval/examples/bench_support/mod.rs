//! Small parts of the pipeline benchmark that do not measure anything: a
//! scratch directory, the Parquet shard writer, the peak-memory reading and
//! the local HTTP server ([`http_server`]).

pub mod http_server;

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use nodefusion::BoxError;
use nodefusion_retrieval::app::write_parquet;
use nodefusion_retrieval::data::Passage;

/// A fresh directory under the system temp directory, removed when dropped.
pub struct ScratchDir(PathBuf);

impl ScratchDir {
    /// Creates `<tmp>/nodefusion-bench-<pid>-<nanos>`.
    pub fn new() -> Result<Self, BoxError> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("nodefusion-bench-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(Self(dir))
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `passages` as `count` Parquet files `part-000.parquet`, … in `dir`
/// (created if needed), in order, sizes differing by at most one row.
/// Returns the file names.
pub fn write_shards(passages: &[Passage], dir: &Path, count: usize) -> Result<Vec<String>, BoxError> {
    if count == 0 || passages.len() < count {
        return Err(format!("cannot split {} passages into {count} non-empty shards", passages.len()).into());
    }
    let (base, extra) = (passages.len() / count, passages.len() % count);
    let mut names = Vec::with_capacity(count);
    let mut start = 0;
    for i in 0..count {
        let end = start + base + usize::from(i < extra);
        let name = format!("part-{i:03}.parquet");
        let path = dir.join(&name);
        write_parquet(&passages[start..end], &path).map_err(|e| format!("writing {}: {e}", path.display()))?;
        names.push(name);
        start = end;
    }
    Ok(names)
}

/// The process's peak resident memory (`VmHWM` of `/proc/self/status`) in
/// bytes; `None` where that file does not exist (not Linux).
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// `12.3 MiB` style, or `n/a`.
pub fn format_mib(bytes: Option<u64>) -> String {
    bytes.map_or("n/a".into(), |b| format!("{:.0} MiB", b as f64 / (1024.0 * 1024.0)))
}
