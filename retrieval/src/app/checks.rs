//! The checks a run makes before it reads or encodes anything.

use nodefusion_udfs::store::IndexSet;

use nodefusion_udfs::finetune::FineTuneError;

use super::options::{FineTuneOptions, index_folder, output_folder};
use super::{AppError, RunOptions, runtime};
use crate::pipeline::INDEXES;

/// Checks what can be checked before any passage is encoded: the numbers,
/// the index folder (named, not the filesystem's root, and holding none of
/// this run's indexes unless they are to be replaced) and the output folder
/// (a folder this process can write).
pub fn validate(options: &RunOptions) -> Result<(), AppError> {
    if options.top_k == 0 {
        return Err(AppError::AtLeastOne { flag: "--top-k" });
    }
    if options.rerank_k == 0 {
        return Err(AppError::AtLeastOne { flag: "--rerank-k" });
    }
    if let Some(fine_tune) = &options.fine_tune {
        check_fine_tune(fine_tune)?;
    }
    let folder = index_folder(options);
    if folder.trim().is_empty() {
        return Err(AppError::IndexFolderEmpty);
    }
    if std::path::absolute(&folder).is_ok_and(|path| path.parent().is_none()) {
        return Err(AppError::IndexFolderRoot { folder });
    }
    if !options.overwrite {
        let runtime = runtime()?;
        let set = IndexSet::new(&folder).map_err(|e| AppError::IndexFolder(Box::new(e)))?;
        let existing = runtime
            .block_on(set.published(&INDEXES))
            .map_err(|e| AppError::IndexFolder(Box::new(e)))?;
        if !existing.is_empty() {
            return Err(AppError::IndexesExist {
                folder,
                names: existing,
            });
        }
    }
    let output = output_folder(options);
    let probe = output.join(format!(".write-check-{}", std::process::id()));
    std::fs::create_dir_all(&output)
        .and_then(|()| std::fs::write(&probe, b""))
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| AppError::OutputFolder { path: output, source })?;
    Ok(())
}

/// The training settings, and that there is something to train on.
fn check_fine_tune(fine_tune: &FineTuneOptions) -> Result<(), AppError> {
    let error = |e| AppError::FineTune(Box::new(e));
    fine_tune.config.validate().map_err(error)?;
    if let Some(spans) = &fine_tune.spans {
        spans.validate().map_err(error)?;
    } else if fine_tune.aligned_pairs.is_none() {
        return Err(error(FineTuneError::NoPairs(
            "span pairs are off and no aligned pairs file is given".into(),
        )));
    }
    Ok(())
}
