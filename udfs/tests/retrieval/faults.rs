//! Faults while writing an index: an upload interrupted at any of its
//! parts, or a later file that fails, leaves the previous generation
//! readable and nothing of the failed one.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use futures::stream::BoxStream;
use nodefusion_udfs::lookup::EmbeddingLookup;
use nodefusion_udfs::maxsim::DocEmbeddings;
use nodefusion_udfs::store::{IndexLocation, LoadIndex};
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, PutMultipartOptions,
    PutOptions, PutPayload, PutResult, Result, UploadPart,
};

/// An in-memory store whose multipart uploads fail at one step: each part
/// is a step, and completing the upload is the last.
#[derive(Debug, Default)]
struct FailingUploads {
    inner: InMemory,
    fail_at: Arc<AtomicUsize>,
    steps: Arc<AtomicUsize>,
    /// A file name whose single-part write fails.
    fail_put: std::sync::Mutex<Option<String>>,
}

impl fmt::Display for FailingUploads {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailingUploads({})", self.inner)
    }
}

fn interrupted() -> object_store::Error {
    object_store::Error::Generic {
        store: "FailingUploads",
        source: "connection reset while uploading".into(),
    }
}

#[async_trait]
impl ObjectStore for FailingUploads {
    async fn put_opts(&self, location: &Path, payload: PutPayload, opts: PutOptions) -> Result<PutResult> {
        let failing = self.fail_put.lock().unwrap().clone();
        if failing.is_some_and(|name| location.filename() == Some(name.as_str())) {
            return Err(interrupted());
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(&self, location: &Path, opts: PutMultipartOptions) -> Result<Box<dyn MultipartUpload>> {
        Ok(Box::new(FailingUpload {
            inner: self.inner.put_multipart_opts(location, opts).await?,
            fail_at: self.fail_at.clone(),
            steps: self.steps.clone(),
        }))
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(&self, locations: BoxStream<'static, Result<Path>>) -> BoxStream<'static, Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        self.inner.copy_opts(from, to, options).await
    }
}

#[derive(Debug)]
struct FailingUpload {
    inner: Box<dyn MultipartUpload>,
    fail_at: Arc<AtomicUsize>,
    steps: Arc<AtomicUsize>,
}

impl FailingUpload {
    fn fails_now(&self) -> bool {
        self.steps.fetch_add(1, Ordering::SeqCst) == self.fail_at.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl MultipartUpload for FailingUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        if self.fails_now() {
            return Box::pin(async { Err(interrupted()) });
        }
        self.inner.put_part(data)
    }

    async fn complete(&mut self) -> Result<PutResult> {
        if self.fails_now() {
            return Err(interrupted());
        }
        self.inner.complete().await
    }

    async fn abort(&mut self) -> Result<()> {
        self.inner.abort().await
    }
}

/// `docs` documents of `tokens` tokens of 128 values each.
fn lookup(docs: usize, tokens: usize, seed: f32) -> EmbeddingLookup {
    let doc: Vec<f32> = (0..tokens * 128).map(|i| ((i as f32) * 0.001 + seed).sin()).collect();
    let embeddings = DocEmbeddings::from_docs(128, &vec![doc; docs]).unwrap();
    let ids: Vec<String> = (0..docs).map(|i| format!("doc-{i}")).collect();
    EmbeddingLookup::new(embeddings, &ids).unwrap()
}

#[test]
fn an_upload_interrupted_at_any_part_leaves_the_previous_generation_and_nothing_else() {
    let store = Arc::new(FailingUploads::default());
    store.fail_at.store(usize::MAX, Ordering::SeqCst);
    let location = IndexLocation::from_store("memory:///lookup", store.clone(), Path::from("lookup"));
    let previous = lookup(3, 4, 0.5);
    previous.write(&location, false).unwrap();
    let objects = || -> Vec<String> {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let mut listed: Vec<String> = runtime
            .block_on(futures::TryStreamExt::try_collect::<Vec<_>>(store.inner.list(None)))
            .unwrap()
            .into_iter()
            .map(|m| m.location.to_string())
            .collect();
        listed.sort();
        listed
    };
    let published = objects();

    // 700 documents of 100 tokens: 35.8 MB of tokens, uploaded in 3 parts.
    let large = lookup(700, 100, 1.5);
    let steps = 3 + 1;
    for fail_at in 0..steps {
        store.steps.store(0, Ordering::SeqCst);
        store.fail_at.store(fail_at, Ordering::SeqCst);
        let error = large.write(&location, true).unwrap_err().to_string();
        assert!(
            error.contains("tokens.f32") && error.contains("connection reset"),
            "{error}"
        );
        let loaded = EmbeddingLookup::load(&location).unwrap();
        assert_eq!(loaded.docs().len(), 3, "step {fail_at}");
        assert_eq!(loaded.docs().tokens(), previous.docs().tokens());
        assert_eq!(objects(), published, "step {fail_at} left objects behind");
    }
    store.fail_at.store(usize::MAX, Ordering::SeqCst);
    // A later file fails after the large one was uploaded: that goes too.
    *store.fail_put.lock().unwrap() = Some("ids.str".into());
    let error = large.write(&location, true).unwrap_err().to_string();
    assert!(error.contains("ids.str"), "{error}");
    assert_eq!(objects(), published, "a failed later file left objects behind");
    *store.fail_put.lock().unwrap() = None;

    store.steps.store(0, Ordering::SeqCst);
    large.write(&location, true).unwrap();
    assert_eq!(
        store.steps.load(Ordering::SeqCst),
        steps,
        "the upload has the expected steps"
    );
    assert_eq!(
        EmbeddingLookup::load(&location).unwrap().docs().tokens(),
        large.docs().tokens()
    );
}
