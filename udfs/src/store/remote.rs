//! Remote object stores as nodefusion opens them, for input data and
//! indexes alike: configured from the environment, with bounded waits, and
//! with errors that say what to do.
//!
//! | variable                          | default | meaning                                  |
//! |-----------------------------------|---------|------------------------------------------|
//! | `NODEFUSION_CONNECT_TIMEOUT_SECS` | 5       | connecting to the server                 |
//! | `NODEFUSION_REQUEST_TIMEOUT_SECS` | 30      | one request, from connecting to its end  |
//! | `NODEFUSION_RETRIES`              | 2       | retries of a failed or timed-out request |
//!
//! A server that accepts connections and never answers therefore fails a
//! read after about `request × (retries + 1)` seconds, not object_store's
//! default of three minutes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::http::HttpBuilder;
use object_store::path::Path;
use object_store::{BackoffConfig, ClientConfigKey, ObjectStore, ObjectStoreScheme, RetryConfig};
use url::Url;

/// How long remote reads and writes may wait.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RemoteTimeouts {
    /// Connecting to the server.
    pub connect: Duration,
    /// One request, from connecting until its body is read.
    pub request: Duration,
    /// Retries of a request that failed or timed out.
    pub retries: usize,
}

impl Default for RemoteTimeouts {
    fn default() -> Self {
        RemoteTimeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(30),
            retries: 2,
        }
    }
}

impl RemoteTimeouts {
    /// The defaults (connect 5 s, request 30 s, 2 retries), overridden by
    /// `NODEFUSION_CONNECT_TIMEOUT_SECS`, `NODEFUSION_REQUEST_TIMEOUT_SECS`
    /// and `NODEFUSION_RETRIES`.
    ///
    /// ```
    /// let timeouts = nodefusion_udfs::store::RemoteTimeouts::from_env().unwrap();
    /// assert!(timeouts.request >= timeouts.connect);
    /// ```
    pub fn from_env() -> Result<Self, String> {
        let defaults = RemoteTimeouts::default();
        let seconds = |name: &str, default: Duration| -> Result<Duration, String> {
            match std::env::var(name) {
                Ok(text) => text
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|s| s.is_finite() && *s > 0.0)
                    .map(Duration::from_secs_f64)
                    .ok_or_else(|| format!("{name}={text:?} is not a positive number of seconds")),
                Err(_) => Ok(default),
            }
        };
        let retries = match std::env::var("NODEFUSION_RETRIES") {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| format!("NODEFUSION_RETRIES={text:?} is not a whole number"))?,
            Err(_) => defaults.retries,
        };
        Ok(RemoteTimeouts {
            connect: seconds("NODEFUSION_CONNECT_TIMEOUT_SECS", defaults.connect)?,
            request: seconds("NODEFUSION_REQUEST_TIMEOUT_SECS", defaults.request)?,
            retries,
        })
    }

    fn retry(&self) -> RetryConfig {
        RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(100),
                max_backoff: Duration::from_secs(2),
                base: 2.0,
            },
            max_retries: self.retries,
            retry_timeout: self.request * (self.retries as u32 + 1),
        }
    }

    fn client_config(&self) -> [(ClientConfigKey, String); 2] {
        [
            (
                ClientConfigKey::ConnectTimeout,
                format!("{}ms", self.connect.as_millis()),
            ),
            (ClientConfigKey::Timeout, format!("{}ms", self.request.as_millis())),
        ]
    }
}

/// Opens the object store of a remote `url` (`s3://…`, `http(s)://…`) and
/// the path it names in it. S3 is configured from the `AWS_*` variables,
/// then `options` (object_store's keys, e.g. `aws_region`); an `http://` URL
/// allows plain HTTP. Waits are bounded by [`RemoteTimeouts::from_env`].
///
/// ```
/// use std::collections::BTreeMap;
/// let url = url::Url::parse("https://example.com/data/passages.parquet").unwrap();
/// let (_store, path) = nodefusion_udfs::store::open_remote(&url, &BTreeMap::new()).unwrap();
/// assert_eq!(path.as_ref(), "data/passages.parquet");
/// ```
pub fn open_remote(url: &Url, options: &BTreeMap<String, String>) -> Result<(Arc<dyn ObjectStore>, Path), String> {
    let timeouts = RemoteTimeouts::from_env()?;
    let (scheme, path) = ObjectStoreScheme::parse(url).map_err(|e| e.to_string())?;
    let path = Path::parse(path).map_err(|e| e.to_string())?;
    let store: Arc<dyn ObjectStore> = match scheme {
        ObjectStoreScheme::Http => {
            let mut builder = HttpBuilder::new()
                .with_url(&url[..url::Position::BeforePath])
                .with_retry(timeouts.retry());
            for (key, value) in timeouts.client_config() {
                builder = builder.with_config(key, value);
            }
            if url.scheme() == "http" {
                builder = builder.with_config(ClientConfigKey::AllowHttp, "true");
            }
            for (key, value) in options {
                if let Ok(key) = key.to_ascii_lowercase().parse() {
                    builder = builder.with_config(key, value);
                }
            }
            Arc::new(builder.build().map_err(|e| e.to_string())?)
        }
        ObjectStoreScheme::AmazonS3 => {
            let mut builder = AmazonS3Builder::from_env()
                .with_url(url.as_str())
                .with_retry(timeouts.retry());
            for (key, value) in timeouts.client_config() {
                builder = builder.with_config(AmazonS3ConfigKey::Client(key), value);
            }
            for (key, value) in options {
                let key = key
                    .to_ascii_lowercase()
                    .parse()
                    .map_err(|_| format!("'{key}' is not an S3 option"))?;
                builder = builder.with_config(key, value);
            }
            Arc::new(builder.build().map_err(|e| e.to_string())?)
        }
        _ => {
            return Err(format!(
                "{}:// locations are not supported by this build (local paths, file://, s3://, http:// and https:// are)",
                url.scheme()
            ));
        }
    };
    Ok((store, path))
}

/// [`remote_hint`] of an error and every error that caused it (a timeout
/// often shows only in a source's message).
pub fn remote_hint_of(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut text = String::new();
    let mut next = Some(error);
    while let Some(e) = next {
        text.push_str(&e.to_string());
        text.push('\n');
        next = e.source();
    }
    remote_hint(&text)
}

/// The one-line reason, if `error` (a remote store's message) is one users
/// meet often: no credentials, or a server that did not answer in time.
///
/// ```
/// let hint = nodefusion_udfs::store::remote_hint(
///     "Generic S3 error: error sending request for url (http://169.254.169.254/latest/api/token)",
/// );
/// assert!(hint.unwrap().starts_with("no AWS credentials"));
/// ```
pub fn remote_hint(error: &str) -> Option<String> {
    if error.contains("/latest/api/token") || error.contains("/latest/meta-data/iam/security-credentials") {
        return Some(
            "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_SKIP_SIGNATURE=true for a public bucket); \
             without them the instance-metadata service was asked and gave none"
                .into(),
        );
    }
    let lower = error.to_ascii_lowercase();
    if lower.contains("timed out") || lower.contains("timeout") || lower.contains("deadline") {
        let t = RemoteTimeouts::from_env().unwrap_or_default();
        return Some(format!(
            "no answer in time ({:.0} s per request, {} retries; NODEFUSION_REQUEST_TIMEOUT_SECS and NODEFUSION_RETRIES wait longer)",
            t.request.as_secs_f64(),
            t.retries
        ));
    }
    None
}
