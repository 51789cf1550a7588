//! The bridge from blocking code to the async object store API.

use std::future::Future;

use super::{Result, StoreError};

/// Runs an index i/o future to completion from blocking code, inside or
/// outside a tokio runtime (inside one, on a helper thread).
pub(crate) fn block_on<F>(fut: F) -> Result<F::Output>
where
    F: Future + Send,
    F::Output: Send,
{
    fn run<F: Future>(fut: F) -> Result<F::Output> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| StoreError::Runtime(e.to_string()))?;
        Ok(rt.block_on(fut))
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| match s.spawn(|| run(fut)).join() {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        })
    } else {
        run(fut)
    }
}
