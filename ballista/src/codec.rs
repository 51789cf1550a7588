//! The plan codecs every process of a cluster uses: nodefusion's, wrapping
//! Ballista's own.
//!
//! Ballista encodes a job's logical plan on the client and decodes it on
//! the scheduler, which encodes each task's physical plan for the
//! executors. Node UDFs travel as their config at both levels, so client,
//! scheduler and executors all need both codecs.

use std::sync::Arc;

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::PhysicalExtensionCodec;
use nodefusion::{NodefusionCodec, NodefusionPhysicalCodec};

/// The logical codec: node UDFs as their config, the rest as Ballista
/// encodes it.
pub fn logical_codec() -> Arc<dyn LogicalExtensionCodec> {
    Arc::new(NodefusionCodec::wrapping(Arc::new(
        BallistaLogicalExtensionCodec::default(),
    )))
}

/// The physical codec: node UDFs as their config, the rest (shuffle
/// readers and writers among it) as Ballista encodes it.
pub fn physical_codec() -> Arc<dyn PhysicalExtensionCodec> {
    Arc::new(NodefusionPhysicalCodec::wrapping(Arc::new(
        BallistaPhysicalExtensionCodec::default(),
    )))
}
