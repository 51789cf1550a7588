//! Node errors that cross a process boundary as text.
//!
//! A distributed engine (Ballista) reports a task's failure to the client
//! as a string, formatted by layers that quote and escape as they like. A
//! node UDF rebuilt from a serialised plan therefore appends a *tag* to the
//! message of each node error it raises: the error's kind and fields as
//! JSON, hex-encoded so that no escaping can alter it. The client finds the
//! tag in whatever text reaches it and gets back the same [`Error`] the
//! embedded engines give.
//!
//! ```
//! use nodefusion::Error;
//! use nodefusion::engine::wire;
//!
//! let failed = Error::NodeFailed { node: "all/divide".into(), item: Some(2), source: "by zero".into() };
//! let text = format!("Job 7 failed: Task failed: External({:?})", wire::tag(&failed).unwrap());
//! let back = wire::find(&text).unwrap();
//! assert_eq!(back.to_string(), failed.to_string());
//! assert!(matches!(back, Error::NodeFailed { item: Some(2), .. }));
//! ```

use serde::{Deserialize, Serialize};

use crate::error::Error;

const OPEN: &str = "[nodefusion-error:";
const CLOSE: char = ']';

/// The errors of a node call, as data.
#[derive(Serialize, Deserialize)]
pub(crate) enum Portable {
    NodeFailed {
        node: String,
        item: Option<usize>,
        message: String,
    },
    NodePanicked {
        node: String,
        item: Option<usize>,
        message: String,
    },
    BatchLength {
        node: String,
        expected: usize,
        returned: usize,
    },
    BatchColumns {
        node: String,
        expected: usize,
        returned: usize,
    },
    MapLengthMismatch {
        node: String,
        item: Option<usize>,
        lists: Vec<(String, usize)>,
    },
    Engine {
        message: String,
    },
    Internal {
        message: String,
    },
}

impl Portable {
    pub(crate) fn of(error: &Error) -> Option<Portable> {
        Some(match error {
            Error::NodeFailed { node, item, source } => Portable::NodeFailed {
                node: node.clone(),
                item: *item,
                message: source.to_string(),
            },
            Error::NodePanicked { node, item, message } => Portable::NodePanicked {
                node: node.clone(),
                item: *item,
                message: message.clone(),
            },
            Error::BatchLength {
                node,
                expected,
                returned,
            } => Portable::BatchLength {
                node: node.clone(),
                expected: *expected,
                returned: *returned,
            },
            Error::BatchColumns {
                node,
                expected,
                returned,
            } => Portable::BatchColumns {
                node: node.clone(),
                expected: *expected,
                returned: *returned,
            },
            Error::MapLengthMismatch { node, item, lists } => Portable::MapLengthMismatch {
                node: node.clone(),
                item: *item,
                lists: lists.clone(),
            },
            Error::Engine { message, .. } => Portable::Engine {
                message: message.clone(),
            },
            Error::Conversion { .. } | Error::DataFusion(_) | Error::Cache { .. } => Portable::Engine {
                message: error.to_string(),
            },
            Error::Internal(message) => Portable::Internal {
                message: message.clone(),
            },
            _ => return None,
        })
    }

    pub(crate) fn into_error(self) -> Error {
        match self {
            Portable::NodeFailed { node, item, message } => Error::NodeFailed {
                node,
                item,
                source: message.into(),
            },
            Portable::NodePanicked { node, item, message } => Error::NodePanicked { node, item, message },
            Portable::BatchLength {
                node,
                expected,
                returned,
            } => Error::BatchLength {
                node,
                expected,
                returned,
            },
            Portable::BatchColumns {
                node,
                expected,
                returned,
            } => Error::BatchColumns {
                node,
                expected,
                returned,
            },
            Portable::MapLengthMismatch { node, item, lists } => Error::MapLengthMismatch { node, item, lists },
            Portable::Engine { message } => Error::Engine {
                engine: "executor",
                message,
            },
            Portable::Internal { message } => Error::Internal(message),
        }
    }
}

/// The error's message followed by its tag; `None` for kinds that a node
/// call does not raise.
pub fn tag(error: &Error) -> Option<String> {
    let json = serde_json::to_vec(&Portable::of(error)?).ok()?;
    let mut text = format!("{error} {OPEN}");
    for byte in json {
        text.push_str(&format!("{byte:02x}"));
    }
    text.push(CLOSE);
    Some(text)
}

/// The error whose tag occurs first in `text`, if any.
pub fn find(text: &str) -> Option<Error> {
    let start = text.find(OPEN)? + OPEN.len();
    let hex = &text[start..start + text[start..].find(CLOSE)?];
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    serde_json::from_slice::<Portable>(&bytes)
        .ok()
        .map(Portable::into_error)
}

/// A node error whose text (`Display` and `Debug` alike) carries its tag.
pub(crate) struct Tagged {
    text: String,
}

impl Tagged {
    /// `error` tagged, or `None` for kinds that are not tagged.
    pub(crate) fn new(error: &Error) -> Option<Tagged> {
        tag(error).map(|text| Tagged { text })
    }
}

impl std::fmt::Display for Tagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::fmt::Debug for Tagged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Tagged {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tagged_kind_comes_back_with_its_fields_through_escaping() {
        let errors = vec![
            Error::NodeFailed {
                node: "a/b".into(),
                item: None,
                source: "quote \" and ] bracket".into(),
            },
            Error::NodePanicked {
                node: "n".into(),
                item: Some(9),
                message: "boom".into(),
            },
            Error::BatchLength {
                node: "n".into(),
                expected: 3,
                returned: 2,
            },
            Error::BatchColumns {
                node: "n".into(),
                expected: 1,
                returned: 2,
            },
            Error::MapLengthMismatch {
                node: "m".into(),
                item: Some(1),
                lists: vec![("xs".into(), 2), ("ys".into(), 3)],
            },
        ];
        for error in errors {
            let tagged = tag(&error).unwrap();
            // As Ballista reports it: Debug-quoted inside another message.
            let text = format!("Job 1 failed: {:?}", format!("External({tagged})"));
            let back = find(&text).expect("the tag survives quoting");
            assert_eq!(back.to_string(), error.to_string());
            assert_eq!(std::mem::discriminant(&back), std::mem::discriminant(&error));
        }
    }

    #[test]
    fn text_without_a_whole_tag_has_no_error() {
        assert!(find("Job 1 failed: connection reset").is_none());
        assert!(find("x [nodefusion-error:7b2").is_none());
        assert!(find("x [nodefusion-error:zz]").is_none());
    }
}
