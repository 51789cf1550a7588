//! The faults of the retrieval application, one variant each.

use std::path::PathBuf;
use std::process::ExitStatus;

use datafusion::arrow::error::ArrowError;
use datafusion::common::DataFusionError;
use datafusion::parquet::errors::ParquetError;
use nodefusion::PipelineError;
use nodefusion::arrow_convert::ArrowConversionError;
use nodefusion_udfs::colbert::ColbertError;
use nodefusion_udfs::store::StoreError;

use crate::data::DataError;
use crate::dataset::DatasetError;

/// The retrieval application failed: a flag it refuses, a folder it cannot
/// use, a setup script, the data, the pipeline, or writing its outputs.
///
/// The message is what the CLI prints after `error: `; it already holds the
/// message of the error the variant wraps, which is kept as its source.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A count flag is 0 (`--top-k`, `--rerank-k`, `--partitions`).
    #[error("{flag} must be at least 1")]
    AtLeastOne {
        /// The flag, e.g. `--top-k`.
        flag: &'static str,
    },
    /// The fine-tuning settings are out of range, or name nothing to
    /// train on.
    #[error("fine-tuning: {0}")]
    FineTune(#[source] Box<nodefusion_udfs::finetune::FineTuneError>),
    /// `--fine-tune` with the `sql` subcommand, whose script names its model.
    #[error("--fine-tune is for a pipeline run; the sql subcommand encodes with the model it is given")]
    FineTuneInScript,
    /// `--scheduler` or `--partitions` without `--engine ballista`.
    #[error("--scheduler and --partitions are for --engine ballista")]
    BallistaOnly,
    /// Some of `--passages`, `--queries` and `--ground-truths` but not all.
    #[error("give all of --passages, --queries and --ground-truths, or none (the default dataset)")]
    PartialData,
    /// `--index-folder` is empty.
    #[error("--index-folder is empty; name the folder the indexes go to")]
    IndexFolderEmpty,
    /// `--index-folder` is the filesystem's root.
    #[error("--index-folder '{folder}' is the filesystem's root; name a folder for the indexes")]
    IndexFolderRoot {
        /// The folder as given.
        folder: String,
    },
    /// The index folder could not be opened or read.
    #[error(transparent)]
    IndexFolder(Box<StoreError>),
    /// The index folder holds indexes of a run and they are not to be
    /// replaced.
    #[error(
        "indexes already exist in '{folder}' ({}); pass --override (RunOptions::overwrite) to replace them",
        .names.join(", ")
    )]
    IndexesExist {
        /// The index folder.
        folder: String,
        /// The run's indexes found there.
        names: Vec<String>,
    },
    /// Indexes were published into the folder while this run built its own.
    #[error(
        "indexes appeared in '{uri}' while this run built its own (another run?); nothing was replaced; pass --override to replace them"
    )]
    IndexesAppeared {
        /// The index folder.
        uri: String,
    },
    /// Publishing the run's index set failed; the outputs were put back.
    #[error("{source}; nothing was replaced")]
    Publish {
        /// Why it failed.
        source: Box<StoreError>,
    },
    /// `--output` is not a folder this process can write.
    #[error("--output '{}' is not a folder this run can write: {source}", .path.display())]
    OutputFolder {
        /// The output folder.
        path: PathBuf,
        /// Why it cannot be written.
        source: std::io::Error,
    },
    /// The fine-tuned models could not be listed or removed.
    #[error("cannot list or remove the fine-tuned models in {}: {source}", .path.display())]
    KeptModels {
        /// The models directory, or the model that could not be removed.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A folder could not be created.
    #[error("cannot create {}: {source}", .path.display())]
    CreateFolder {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A file could not be written (or renamed into place).
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A Parquet file could not be written.
    #[error("cannot write {}: {source}", .path.display())]
    WriteParquet {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ParquetError,
    },
    /// A written output could not replace the previous one; the previous
    /// outputs were put back.
    #[error("cannot put {} in place: {source}; the previous outputs are back", .path.display())]
    PutInPlace {
        /// The output file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Rows do not convert to Arrow.
    #[error(transparent)]
    Convert(Box<ArrowConversionError>),
    /// Rows converted to an Arrow array that is not a struct array, so not
    /// a table.
    #[error("rows must be structs")]
    NotStructs,
    /// The encoder's model directory lacks a file the encoder needs.
    #[error("the encoder's model directory is not usable: {0}")]
    ModelDir(#[source] Box<ColbertError>),
    /// No setup script of that name is embedded in the binary.
    #[error("no embedded setup script '{name}'")]
    UnknownScript {
        /// The name asked for.
        name: String,
    },
    /// `bash` could not be started for a setup script.
    #[error("cannot run bash for the setup script {name}: {source}")]
    StartScript {
        /// The script.
        name: String,
        /// Why.
        source: std::io::Error,
    },
    /// A setup script exited with a failure.
    #[error("the setup script {name} failed ({status}); its output above says why (it needs bash, python3 and pip)")]
    ScriptFailed {
        /// The script.
        name: String,
        /// How it exited.
        status: ExitStatus,
    },
    /// `--sql` does not parse.
    #[error("--sql does not parse: {0}")]
    SqlParse(#[source] DataFusionError),
    /// `--sql` holds more (or fewer) statements than one.
    #[error("--sql takes one query, found {0} statements")]
    SqlStatements(usize),
    /// `--sql` is a statement other than a query.
    #[error("--sql takes a read-only query (SELECT, WITH or VALUES); other statements are refused")]
    SqlNotReadOnly,
    /// Running the `--sql` query over the results failed.
    #[error(transparent)]
    Sql(DataFusionError),
    /// The SQL script file could not be read.
    #[error("cannot read the SQL script {path}: {source}")]
    ScriptRead {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The SQL script names a `${placeholder}` the run does not fill.
    #[error("the SQL script names ${{{name}}}, which is not one of {known}")]
    ScriptPlaceholder {
        /// The unknown name.
        name: String,
        /// The names there are.
        known: String,
    },
    /// A statement of the SQL script failed to parse, plan or run.
    #[error("SQL script, statement {number} ({start}…): {source}")]
    Script {
        /// 1-based.
        number: usize,
        /// Its first words.
        start: String,
        /// What DataFusion (or a retrieval function) said.
        source: DataFusionError,
    },
    /// The query's result could not be formatted as a table.
    #[error(transparent)]
    Table(ArrowError),
    /// The input data could not be read or is invalid.
    #[error(transparent)]
    Data(Box<DataError>),
    /// The default dataset could not be fetched or built.
    #[error(transparent)]
    Dataset(Box<DatasetError>),
    /// The pipeline's wiring is wrong.
    #[error(transparent)]
    Pipeline(Box<PipelineError>),
    /// The pipeline's run failed (a node, an engine).
    #[error(transparent)]
    Run(Box<nodefusion::Error>),
    /// The async runtime could not be started.
    #[error(transparent)]
    Runtime(std::io::Error),
}

/// `?` on the errors the application passes on (boxed: they are large and
/// the application's result should stay small).
macro_rules! from_boxed {
    ($($variant:ident($source:ty)),* $(,)?) => {
        $(impl From<$source> for AppError {
            fn from(source: $source) -> Self {
                AppError::$variant(Box::new(source))
            }
        })*
    };
}

from_boxed!(
    Convert(ArrowConversionError),
    Data(DataError),
    Dataset(DatasetError),
    Pipeline(PipelineError),
    Run(nodefusion::Error),
);
