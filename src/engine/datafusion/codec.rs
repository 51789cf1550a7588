//! A logical extension codec that writes node UDFs as their [`UdfConfig`]
//! and rebuilds them from the [registry](crate::registry) on the other side;
//! everything else goes to the wrapped codec.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::TableProvider;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Extension, LogicalPlan, ScalarUDF};
use datafusion_proto::logical_plan::{DefaultLogicalExtensionCodec, LogicalExtensionCodec};

use super::udf::{NodefusionUdf, UdfConfig};

/// Marks the bytes of a nodefusion UDF, with the format version.
const MAGIC: &[u8] = b"nodefusion-udf/1:";

/// Serialises plans containing node UDFs.
///
/// ```
/// use datafusion_proto::bytes::{logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec};
/// use nodefusion::{DataFusionEngine, Inputs, NodefusionCodec, node, pipeline};
///
/// #[node(output = "y")]
/// fn inc(x: i64) -> i64 { x + 1 }
///
/// fn main() {
///     let p = pipeline![inc::node()].unwrap();
///     let plan = DataFusionEngine::new().logical_plan(&p, &Inputs::new().with("x", 1i64)).unwrap();
///     let codec = NodefusionCodec::default();
///     let bytes = logical_plan_to_bytes_with_extension_codec(&plan, &codec).unwrap();
///     let ctx = datafusion::prelude::SessionContext::new();
///     let back = logical_plan_from_bytes_with_extension_codec(&bytes, &ctx.task_ctx(), &codec).unwrap();
///     assert_eq!(format!("{plan}"), format!("{back}"));
/// }
/// ```
#[derive(Debug, Clone)]
pub struct NodefusionCodec {
    inner: Arc<dyn LogicalExtensionCodec>,
}

impl Default for NodefusionCodec {
    fn default() -> Self {
        Self::wrapping(Arc::new(DefaultLogicalExtensionCodec {}))
    }
}

impl NodefusionCodec {
    /// A codec handling node UDFs and delegating the rest to `inner`.
    pub fn wrapping(inner: Arc<dyn LogicalExtensionCodec>) -> Self {
        NodefusionCodec { inner }
    }
}

impl LogicalExtensionCodec for NodefusionCodec {
    fn try_decode(&self, buf: &[u8], inputs: &[LogicalPlan], ctx: &TaskContext) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        self.inner.try_decode_table_provider(buf, table_ref, schema, ctx)
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        self.inner.try_encode_table_provider(table_ref, node, buf)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        if let Some(config) = buf.strip_prefix(MAGIC) {
            let config: UdfConfig = serde_json::from_slice(config)
                .map_err(|e| DataFusionError::Plan(format!("cannot read the config of UDF '{name}': {e}")))?;
            return NodefusionUdf::from_config(config).map(Arc::new);
        }
        if name.starts_with("node:") || name.starts_with("nf_") {
            return Err(DataFusionError::Plan(format!(
                "UDF '{name}' comes without its config: the plan was written without NodefusionCodec"
            )));
        }
        self.inner.try_decode_udf(name, buf)
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        let inner: &dyn std::any::Any = node.inner().as_ref();
        match inner.downcast_ref::<NodefusionUdf>() {
            Some(udf) => {
                buf.extend_from_slice(MAGIC);
                serde_json::to_writer(buf, udf.config()).map_err(|e| DataFusionError::External(Box::new(e)))
            }
            None => self.inner.try_encode_udf(node, buf),
        }
    }
}
