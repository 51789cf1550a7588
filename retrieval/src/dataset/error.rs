//! The error type of the dataset builders.

use std::path::PathBuf;

/// Building a dataset failed. Each variant names the file or command at
/// fault and what was expected of it.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// A file or directory could not be read or listed.
    #[error("cannot read {}: {source}", .path.display())]
    Read {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A file was read but does not have the expected shape.
    #[error("{}: expected {expected}, found {found}", .path.display())]
    Malformed {
        /// The file.
        path: PathBuf,
        /// What the file should contain.
        expected: String,
        /// What it contains instead.
        found: String,
    },
    /// An output file or directory could not be written.
    #[error("cannot write {}: {message}", .path.display())]
    Write {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// Downloading or unpacking the source package failed.
    #[error("fetching {package}: `{command}` failed: {message}")]
    Fetch {
        /// The package being fetched.
        package: &'static str,
        /// The command that failed.
        command: String,
        /// Its exit status and the tail of its error output.
        message: String,
    },
}

impl DatasetError {
    pub(crate) fn read(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Read {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn malformed(path: impl Into<PathBuf>, expected: impl Into<String>, found: impl Into<String>) -> Self {
        Self::Malformed {
            path: path.into(),
            expected: expected.into(),
            found: found.into(),
        }
    }

    pub(crate) fn write(path: impl Into<PathBuf>, message: impl ToString) -> Self {
        Self::Write {
            path: path.into(),
            message: message.to_string(),
        }
    }
}
