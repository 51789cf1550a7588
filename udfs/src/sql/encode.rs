//! `encode_query(text [, model [, style [, precision]]])` and
//! `encode_passage(…)`: token embeddings of texts, batched over each Arrow
//! batch, by a model loaded once per process.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

use datafusion::arrow::array::{Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::config::ConfigOptions;
use datafusion::common::{DataFusionError, Result, ScalarValue};
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::{
    ColumnarValue, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility, lit,
};

use super::args::{arg_error, check_text, literal_text, matrix_type, scalar};
use super::options::SqlOptions;
use crate::colbert::{ColbertEncoder, EncoderConfig, EncoderStyle, Precision, TextKind};

/// An encode function: queries or passages.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct Encode {
    kind: TextKind,
    /// `nodefusion.model`, `nodefusion.encoder_style` and
    /// `nodefusion.encoder_precision` of the session, as set (checked when a
    /// plan uses them).
    model: Option<String>,
    style: String,
    precision: String,
    signature: Signature,
}

impl Encode {
    /// `encode_query` or `encode_passage`, with the default settings.
    pub(super) fn new(kind: TextKind) -> Self {
        let options = SqlOptions::default();
        Self {
            kind,
            model: options.model,
            style: options.encoder_style,
            precision: options.encoder_precision,
            // Stable: the same text encodes the same way within a query; a
            // model replaced on disk is read by the next process.
            signature: Signature::user_defined(Volatility::Stable),
        }
    }

    /// The encoder settings from the literal model (argument 2), style
    /// (argument 3) and precision (argument 4) where given, or else the
    /// session's. `given` is how many arguments the call has: a given one
    /// must be a literal.
    fn config(&self, given: usize, literals: [Option<&ScalarValue>; 3]) -> Result<EncoderConfig> {
        let [model, style, precision] = literals;
        let name = self.name();
        let literal = |position: usize, what: &str, value: Option<&'_ ScalarValue>| -> Result<Option<String>> {
            if given < position {
                return Ok(None);
            }
            literal_text(value)
                .map(|text| Some(text.to_owned()))
                .ok_or_else(|| arg_error(name, position, what, "must be a literal text"))
        };
        let model = match literal(2, "model", model)? {
            Some(dir) => dir,
            None => self.model.clone().ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "{name}: no model: pass its directory as argument 2, or SET nodefusion.model = '<dir>'"
                ))
            })?,
        };
        let style: EncoderStyle = parsed(name, literal(3, "style", style)?, 3, "style", &self.style)?;
        let precision: Precision = parsed(
            name,
            literal(4, "precision", precision)?,
            4,
            "precision",
            &self.precision,
        )?;
        Ok(EncoderConfig {
            precision,
            ..style.config(model)
        })
    }
}

/// The literal argument `position` (`what`) of `function` where the call
/// gives it, else the session's `nodefusion.encoder_<what>`, parsed; an
/// error names whichever was at fault.
fn parsed<T: std::str::FromStr<Err = String>>(
    function: &str,
    literal: Option<String>,
    position: usize,
    what: &str,
    session: &str,
) -> Result<T> {
    match literal {
        Some(text) => text.parse().map_err(|e| arg_error(function, position, what, e)),
        None => session
            .parse()
            .map_err(|e| DataFusionError::Plan(format!("{function}: setting nodefusion.encoder_{what}: {e}"))),
    }
}

impl ScalarUDFImpl for Encode {
    fn name(&self) -> &str {
        match self.kind {
            TextKind::Query => "encode_query",
            TextKind::Document => "encode_passage",
        }
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn coerce_types(&self, types: &[DataType]) -> Result<Vec<DataType>> {
        let name = self.name();
        if !(1..=4).contains(&types.len()) {
            return Err(DataFusionError::Plan(format!(
                "{name} takes 1 to 4 arguments (text [, model [, style [, precision]]]), not {}",
                types.len()
            )));
        }
        check_text(name, 1, "text", &types[0])?;
        for (i, what) in [(1, "model"), (2, "style"), (3, "precision")] {
            if let Some(t) = types.get(i) {
                check_text(name, i + 1, what, t)?;
            }
        }
        // The model, style and precision keep their types: a cast would hide the
        // literals.
        Ok(std::iter::once(DataType::Utf8)
            .chain(types[1..].iter().cloned())
            .collect())
    }

    fn return_type(&self, _types: &[DataType]) -> Result<DataType> {
        Err(DataFusionError::Internal(format!(
            "{}: the return type depends on the model (return_field_from_args)",
            self.name()
        )))
    }

    /// Loads the model (once per process) to learn its token dimension, so
    /// a missing or broken model is an error here, before any row runs.
    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        let literal = |i: usize| args.scalar_arguments.get(i).copied().flatten();
        let config = self.config(args.arg_fields.len(), [literal(1), literal(2), literal(3)])?;
        let encoder = encoder(&config).map_err(|e| self.model_error(&args, e))?;
        Ok(Arc::new(Field::new(self.name(), matrix_type(encoder.dim()), true)))
    }

    /// Writes the session's model, style and precision into the call as
    /// literals, so that a plan run elsewhere (a Ballista executor, which
    /// does not see this session's settings) encodes with the same model.
    fn simplify(&self, mut args: Vec<Expr>, _info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        if args.len() >= 4 {
            return Ok(ExprSimplifyResult::Original(args));
        }
        if args.len() == 1 {
            match &self.model {
                Some(model) => args.push(lit(model.as_str())),
                None => return Ok(ExprSimplifyResult::Original(args)),
            }
        }
        if args.len() == 2 {
            args.push(lit(self.style.as_str()));
        }
        args.push(lit(self.precision.as_str()));
        let function = Arc::new(ScalarUDF::new_from_impl(self.clone()));
        Ok(ExprSimplifyResult::Simplified(Expr::ScalarFunction(
            ScalarFunction::new_udf(function, args),
        )))
    }

    fn with_updated_config(&self, config: &ConfigOptions) -> Option<ScalarUDF> {
        let options = config.extensions.get::<SqlOptions>()?;
        if options.model == self.model
            && options.encoder_style == self.style
            && options.encoder_precision == self.precision
        {
            return None;
        }
        Some(ScalarUDF::new_from_impl(Self {
            kind: self.kind,
            model: options.model.clone(),
            style: options.encoder_style.clone(),
            precision: options.encoder_precision.clone(),
            signature: self.signature.clone(),
        }))
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let literal = |i: usize| args.args.get(i).and_then(scalar);
        let encoder = encoder(&self.config(args.args.len(), [literal(1), literal(2), literal(3)])?)
            .map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.name())))?;
        let texts = cast(&args.args[0].to_array(args.number_rows)?, &DataType::Utf8)?;
        let texts = texts.as_string::<i32>();
        let present: Vec<&str> = texts.iter().flatten().collect();
        let encoded = match self.kind {
            TextKind::Query => encoder.encode_queries_batch(&present),
            TextKind::Document => encoder.encode_documents_batch(&present),
        }
        .map_err(|e| DataFusionError::Execution(format!("{}: {e}", self.name())))?;
        Ok(ColumnarValue::Array(matrices(texts, encoded, encoder.dim())?))
    }
}

impl Encode {
    /// A model that cannot be loaded, blamed on argument 2 or the setting.
    fn model_error(&self, args: &ReturnFieldArgs, e: crate::colbert::ColbertError) -> DataFusionError {
        match (args.arg_fields.len(), &e) {
            (_, crate::colbert::ColbertError::Config { field: "precision", .. }) => {
                DataFusionError::Plan(format!("{}: precision: {e}", self.name()))
            }
            (1, _) => DataFusionError::Plan(format!("{}: the model of nodefusion.model: {e}", self.name())),
            _ => arg_error(self.name(), 2, "model", e),
        }
    }
}

/// The encoders this process loaded, by their settings.
static ENCODERS: LazyLock<Mutex<HashMap<EncoderConfig, Arc<ColbertEncoder>>>> = LazyLock::new(Default::default);

/// The encoder `config` describes, loaded on first use.
fn encoder(config: &EncoderConfig) -> crate::colbert::Result<Arc<ColbertEncoder>> {
    let mut encoders = ENCODERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(encoder) = encoders.get(config) {
        return Ok(encoder.clone());
    }
    let encoder = Arc::new(config.load()?);
    encoders.insert(config.clone(), encoder.clone());
    Ok(encoder)
}

/// The token matrices of `texts`' rows: `encoded` holds one per non-NULL
/// text, in order; a NULL text gives NULL.
fn matrices(
    texts: &datafusion::arrow::array::StringArray,
    encoded: Vec<crate::colbert::TokenEmbeddings>,
    dim: usize,
) -> Result<ArrayRef> {
    let mut values = Vec::with_capacity(encoded.iter().map(|e| e.data.len()).sum());
    let mut offsets = Vec::with_capacity(texts.len() + 1);
    offsets.push(0i32);
    let mut encoded = encoded.into_iter();
    for row in 0..texts.len() {
        if texts.is_valid(row) {
            let e = encoded
                .next()
                .ok_or_else(|| DataFusionError::Internal("the encoder returned fewer texts than given".into()))?;
            values.extend_from_slice(&e.data);
        }
        let tokens = i32::try_from(values.len() / dim)
            .map_err(|_| DataFusionError::Execution("a batch's token matrices exceed 2^31 tokens".into()))?;
        offsets.push(tokens);
    }
    let DataType::List(item) = matrix_type(dim) else {
        unreachable!("a token matrix is a list")
    };
    let DataType::FixedSizeList(value, _) = item.data_type() else {
        unreachable!("a token is a fixed-size list")
    };
    let tokens = FixedSizeListArray::try_new(value.clone(), dim as i32, Arc::new(Float32Array::from(values)), None)?;
    let nulls = texts.nulls().filter(|n| n.null_count() > 0).cloned();
    Ok(Arc::new(ListArray::try_new(
        item,
        OffsetBuffer::new(offsets.into()),
        Arc::new(tokens),
        nulls,
    )?))
}
