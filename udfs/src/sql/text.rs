//! `hebrew_normalize(text)`: the Hebrew normalisation the encoder and the
//! BM25 tokeniser apply, as a scalar function.

use std::sync::Arc;

use datafusion::arrow::array::{Array, AsArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarFunctionArgs, ScalarUDFImpl, Signature, Volatility};

use super::args::{check_count, check_text};
use crate::hebrew::HebrewNormalizer;

const NAME: &str = "hebrew_normalize";

/// `hebrew_normalize(text) -> Utf8`.
#[derive(Debug, PartialEq, Eq, Hash)]
pub(super) struct HebrewNormalize {
    signature: Signature,
}

impl HebrewNormalize {
    pub(super) fn new() -> Self {
        Self {
            signature: Signature::user_defined(Volatility::Immutable),
        }
    }
}

impl ScalarUDFImpl for HebrewNormalize {
    fn name(&self) -> &str {
        NAME
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        check_count(NAME, types, &["text"])?;
        check_text(NAME, 1, "text", &types[0])?;
        Ok(vec![DataType::Utf8])
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let texts = args.args[0].to_array(args.number_rows)?;
        let texts = cast(&texts, &DataType::Utf8)?;
        let normalizer = HebrewNormalizer::default();
        let normalized: StringArray = texts
            .as_string::<i32>()
            .iter()
            .map(|text| text.map(|t| normalizer.normalize(t)))
            .collect();
        debug_assert_eq!(normalized.len(), args.number_rows);
        Ok(ColumnarValue::Array(Arc::new(normalized)))
    }
}
