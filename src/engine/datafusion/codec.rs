//! Logical and physical extension codecs that write node UDFs as their
//! [`UdfConfig`] and rebuild them from the [registry](crate::registry) on the
//! other side; everything else goes to the wrapped codec.

use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::TableProvider;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, HigherOrderUDF, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_expr_common::physical_expr::proto_decode::PhysicalExprDecodeCtx;
use datafusion::physical_expr_common::physical_expr::proto_encode::PhysicalExprEncodeCtx;
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::{DefaultLogicalExtensionCodec, LogicalExtensionCodec};
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use super::collect::{self, collect_udaf, is_collect};
use super::udf::{NodefusionUdf, UdfConfig};

/// Marks the bytes of a nodefusion UDF, with the format version.
const MAGIC: &[u8] = b"nodefusion-udf/1:";

/// The bytes of the `nf_collect` aggregate, which has no config.
const COLLECT: &[u8] = b"nodefusion-udaf/1:nf_collect";

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

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn datafusion::datasource::file_format::FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn datafusion::datasource::file_format::FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(name, buf).unwrap_or_else(|| self.inner.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf).unwrap_or_else(|| self.inner.try_encode_udf(node, buf))
    }

    fn try_decode_higher_order_function(&self, name: &str, buf: &[u8]) -> Result<Arc<HigherOrderUDF>> {
        self.inner.try_decode_higher_order_function(name, buf)
    }

    fn try_encode_higher_order_function(&self, node: &HigherOrderUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_higher_order_function(node, buf)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.inner.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udaf(node, buf).unwrap_or_else(|| self.inner.try_encode_udaf(node, buf))
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}

/// Serialises physical plans containing node UDFs: the physical twin of
/// [`NodefusionCodec`], for engines that ship physical plans (a Ballista
/// scheduler sends each task's plan to an executor this way).
///
/// ```
/// use std::sync::Arc;
/// use datafusion_proto::physical_plan::{AsExecutionPlan, DefaultPhysicalExtensionCodec};
/// use datafusion_proto::protobuf::PhysicalPlanNode;
/// use nodefusion::{DataFusionEngine, Inputs, NodefusionPhysicalCodec, node, pipeline};
///
/// #[node(output = "y")]
/// fn inc(x: i64) -> i64 { x + 1 }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let p = pipeline![inc::node()].unwrap();
/// let planned = DataFusionEngine::new().plan(&p, &Inputs::new().with("x", 1i64), None).unwrap();
/// let physical = planned.dataframe.create_physical_plan().await.unwrap();
/// let codec = NodefusionPhysicalCodec::wrapping(Arc::new(DefaultPhysicalExtensionCodec {}));
/// let proto = PhysicalPlanNode::try_from_physical_plan(physical, &codec).unwrap();
/// let ctx = datafusion::prelude::SessionContext::new();
/// let back = proto.try_into_physical_plan(&ctx.task_ctx(), &codec).unwrap();
/// assert_eq!(back.schema().fields().len(), 1);
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct NodefusionPhysicalCodec {
    inner: Arc<dyn PhysicalExtensionCodec>,
}

impl NodefusionPhysicalCodec {
    /// A codec handling node UDFs and delegating the rest to `inner`.
    pub fn wrapping(inner: Arc<dyn PhysicalExtensionCodec>) -> Self {
        NodefusionPhysicalCodec { inner }
    }
}

impl PhysicalExtensionCodec for NodefusionPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
        decode_udf(name, buf).unwrap_or_else(|| self.inner.try_decode_udf(name, buf))
    }

    fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udf(node, buf).unwrap_or_else(|| self.inner.try_encode_udf(node, buf))
    }

    fn try_decode_higher_order_function(&self, name: &str, buf: &[u8]) -> Result<Arc<HigherOrderUDF>> {
        self.inner.try_decode_higher_order_function(name, buf)
    }

    fn try_encode_higher_order_function(&self, node: &HigherOrderUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_higher_order_function(node, buf)
    }

    fn try_decode_expr(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn PhysicalExpr>],
        ctx: &PhysicalExprDecodeCtx<'_>,
    ) -> Result<Arc<dyn PhysicalExpr>> {
        self.inner.try_decode_expr(buf, inputs, ctx)
    }

    fn try_encode_expr(
        &self,
        node: &Arc<dyn PhysicalExpr>,
        buf: &mut Vec<u8>,
        ctx: &PhysicalExprEncodeCtx<'_>,
    ) -> Result<()> {
        self.inner.try_encode_expr(node, buf, ctx)
    }

    fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
        decode_udaf(name, buf).unwrap_or_else(|| self.inner.try_decode_udaf(name, buf))
    }

    fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
        encode_udaf(node, buf).unwrap_or_else(|| self.inner.try_encode_udaf(node, buf))
    }

    fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
        self.inner.try_decode_udwf(name, buf)
    }

    fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode_udwf(node, buf)
    }
}

/// A node UDF rebuilt from the bytes [`encode_udf`] wrote; `None` when
/// `name` is not a nodefusion UDF.
fn decode_udf(name: &str, buf: &[u8]) -> Option<Result<Arc<ScalarUDF>>> {
    if let Some(config) = buf.strip_prefix(MAGIC) {
        return Some(
            serde_json::from_slice::<UdfConfig>(config)
                .map_err(|e| DataFusionError::Plan(format!("cannot read the config of UDF '{name}': {e}")))
                .and_then(NodefusionUdf::from_config)
                .map(Arc::new),
        );
    }
    (name.starts_with("node:") || name.starts_with("nf_")).then(|| {
        Err(DataFusionError::Plan(format!(
            "UDF '{name}' comes without its config: the plan was written without nodefusion's codecs"
        )))
    })
}

/// Writes a node UDF as its config; `None` when `node` is not one.
fn encode_udf(node: &ScalarUDF, buf: &mut Vec<u8>) -> Option<Result<()>> {
    let inner: &dyn std::any::Any = node.inner().as_ref();
    let udf = inner.downcast_ref::<NodefusionUdf>()?;
    buf.extend_from_slice(MAGIC);
    Some(serde_json::to_writer(buf, udf.config()).map_err(|e| DataFusionError::External(Box::new(e))))
}

/// `nf_collect` rebuilt from the bytes [`encode_udaf`] wrote; `None` when
/// `name` is not a nodefusion aggregate.
fn decode_udaf(name: &str, buf: &[u8]) -> Option<Result<Arc<AggregateUDF>>> {
    if buf == COLLECT {
        return Some(Ok(Arc::new(collect_udaf())));
    }
    (name == collect::NAME).then(|| {
        Err(DataFusionError::Plan(format!(
            "aggregate '{name}' comes without its marker: the plan was written without nodefusion's codecs"
        )))
    })
}

/// Writes `nf_collect` as its marker; `None` for other aggregates.
fn encode_udaf(node: &AggregateUDF, buf: &mut Vec<u8>) -> Option<Result<()>> {
    is_collect(node).then(|| buf.extend_from_slice(COLLECT)).map(Ok)
}
