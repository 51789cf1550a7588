//! Stateful resources: heavy objects (models, indexes) that travel as their
//! small config and are loaded lazily, once per process per config.
//!
//! A node takes a [`Res<C>`] — just the config — and calls [`Res::get`] when
//! it needs the loaded object. The first call in a process loads it (other
//! threads asking at the same time wait for that one load); later calls share
//! it. A failed load returns an error naming the config and is retried on the
//! next call. A resource no node touches is never loaded.
//!
//! ```
//! use nodefusion::{Res, Resource, BoxError};
//!
//! #[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
//! struct Vocabulary { words: Vec<String> }
//!
//! impl Resource for Vocabulary {
//!     type Loaded = std::collections::HashSet<String>;
//!     fn load(&self) -> Result<Self::Loaded, BoxError> {
//!         Ok(self.words.iter().cloned().collect())
//!     }
//! }
//!
//! let vocab = Res::new(Vocabulary { words: vec!["shalom".into()] });
//! assert!(vocab.get().unwrap().contains("shalom"));
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::node::BoxError;

/// A resource type: a small serialisable config and how to load from it.
pub trait Resource: Serialize + DeserializeOwned + Clone + Debug + Send + Sync + 'static {
    /// The loaded object.
    type Loaded: Send + Sync + 'static;

    /// Loads the object. Called at most once per process per config, unless
    /// it fails (then the next [`Res::get`] tries again).
    fn load(&self) -> Result<Self::Loaded, BoxError>;
}

/// A resource failed to load.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// `load` returned an error.
    #[error("loading resource {resource} failed: {source} (its config: {config})")]
    Load {
        /// The resource type.
        resource: &'static str,
        /// The config, as JSON.
        config: String,
        /// The loader's error.
        source: BoxError,
    },
    /// `load` panicked; the panic was caught.
    #[error("loading resource {resource} panicked: {message} (its config: {config})")]
    Panicked {
        /// The resource type.
        resource: &'static str,
        /// The config, as JSON.
        config: String,
        /// The panic message.
        message: String,
    },
}

/// A resource handle: only the config. Serialises as the config itself.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Res<C>(C);

impl<C: Resource> Res<C> {
    /// A handle for `config`. Loads nothing.
    pub fn new(config: C) -> Self {
        Res(config)
    }

    /// The config.
    pub fn config(&self) -> &C {
        &self.0
    }

    /// The loaded object: loaded now if this process has not loaded it yet.
    pub fn get(&self) -> Result<Arc<C::Loaded>, ResourceError> {
        let slot = slot_for(&self.0);
        let mut loaded = slot.lock();
        if let Some(value) = loaded.as_ref() {
            return Ok(downcast::<C>(value));
        }
        let span = tracing::info_span!("resource_load", resource = std::any::type_name::<C>());
        let _enter = span.enter();
        let started = std::time::Instant::now();
        let value: Arc<C::Loaded> = match std::panic::catch_unwind(AssertUnwindSafe(|| self.0.load())) {
            Ok(Ok(value)) => Arc::new(value),
            Ok(Err(source)) => {
                return Err(ResourceError::Load {
                    resource: std::any::type_name::<C>(),
                    config: config_key(&self.0),
                    source,
                });
            }
            Err(panic) => {
                return Err(ResourceError::Panicked {
                    resource: std::any::type_name::<C>(),
                    config: config_key(&self.0),
                    message: panic_message(panic.as_ref()),
                });
            }
        };
        tracing::info!(
            pid = std::process::id(),
            "loaded resource {} in {:.2?}",
            std::any::type_name::<C>(),
            started.elapsed()
        );
        *loaded = Some(value.clone());
        Ok(value)
    }

    /// Whether this process has loaded the resource.
    pub fn is_loaded(&self) -> bool {
        let key = (TypeId::of::<C>(), config_key(&self.0));
        CACHE.lock().get(&key).is_some_and(|slot| slot.lock().is_some())
    }

    /// Drops this process's loaded copy (it is loaded again on next use).
    pub fn evict(&self) {
        CACHE.lock().remove(&(TypeId::of::<C>(), config_key(&self.0)));
    }
}

type Loaded = Arc<dyn Any + Send + Sync>;
type Slot = Arc<Mutex<Option<Loaded>>>;

static CACHE: LazyLock<Mutex<HashMap<(TypeId, String), Slot>>> = LazyLock::new(Default::default);

fn config_key<C: Serialize>(config: &C) -> String {
    serde_json::to_string(config).unwrap_or_else(|e| format!("<unserialisable config: {e}>"))
}

fn slot_for<C: Resource>(config: &C) -> Slot {
    CACHE
        .lock()
        .entry((TypeId::of::<C>(), config_key(config)))
        .or_default()
        .clone()
}

fn downcast<C: Resource>(value: &Loaded) -> Arc<C::Loaded> {
    // The slot is keyed by `TypeId::of::<C>()`, so the value is a `C::Loaded`.
    value
        .clone()
        .downcast::<C::Loaded>()
        .unwrap_or_else(|_| unreachable!("resource cache slot holds another type"))
}

/// The message of a caught panic.
pub(crate) fn panic_message(panic: &(dyn Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic with a non-string payload".into())
}
