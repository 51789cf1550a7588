//! A minimal read-only HTTP/1.1 file server on `127.0.0.1`, enough for
//! object_store's `HttpStore` (and so DataFusion) to list and read Parquet
//! files from it:
//!
//! - `PROPFIND` (WebDAV, `Depth: 0`, `1` or `infinity`): a `207 Multi-Status`
//!   listing with sizes, which `HttpStore::list` turns into object metadata;
//! - `HEAD` and `GET`, with single byte ranges (`bytes=a-b`, `bytes=a-`,
//!   `bytes=-n`) answered `206 Partial Content`.
//!
//! Every request waits the configured latency before it is answered, to
//! emulate an object store's time to first byte (loopback has none), and is
//! counted per method.
//!
//! It is written on tokio's `TcpListener` rather than hyper because the
//! workspace builds hyper without its `server` feature: enabling it would
//! rebuild hyper, reqwest, object_store and DataFusion a second time for the
//! examples. It serves plain file names only (ASCII letters, digits, `.`,
//! `-`, `_`; no `..`), keeps connections alive, and never writes.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Objects never change while served: one fixed modification time (RFC 1123).
const LAST_MODIFIED: &str = "Thu, 01 Jan 2026 00:00:00 GMT";
/// Longest request head (request line and headers) accepted.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// Longest request body accepted (and discarded).
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A running server; stops when dropped.
pub struct HttpServer {
    runtime: Option<tokio::runtime::Runtime>,
    addr: SocketAddr,
    state: Arc<State>,
}

struct State {
    root: PathBuf,
    latency_us: AtomicU64,
    requests: Mutex<BTreeMap<String, usize>>,
}

impl HttpServer {
    /// Serves the files under `root` on `127.0.0.1` at a free port, on its
    /// own two-thread runtime (so it may be started inside another one).
    pub fn start(root: &Path) -> io::Result<Self> {
        let root = root.canonicalize()?;
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bench-http")
            .enable_all()
            .build()?;
        let state = Arc::new(State {
            root,
            latency_us: AtomicU64::new(0),
            requests: Mutex::new(BTreeMap::new()),
        });
        let listener = {
            let _context = runtime.enter();
            TcpListener::from_std(listener)?
        };
        let accept_state = state.clone();
        runtime.spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    // E.g. out of file descriptors: wait instead of spinning.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let state = accept_state.clone();
                tokio::spawn(async move {
                    // A broken connection only ends that connection.
                    let _ = serve_connection(stream, &state).await;
                });
            }
        });
        Ok(Self {
            runtime: Some(runtime),
            addr,
            state,
        })
    }

    /// `http://127.0.0.1:<port>`, without a trailing slash.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets the delay before each request is answered.
    pub fn set_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.state.latency_us.store(micros, Ordering::Relaxed);
    }

    /// Requests answered since the last call, per method; resets the counts.
    pub fn take_request_counts(&self) -> BTreeMap<String, usize> {
        std::mem::take(&mut *self.state.requests.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

struct Request {
    method: String,
    target: String,
    headers: BTreeMap<String, String>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

struct Response {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Vec<u8>,
    /// For `HEAD`: the length the body would have.
    length: Option<usize>,
}

impl Response {
    fn new(status: u16, reason: &'static str) -> Self {
        Self {
            status,
            reason,
            headers: Vec::new(),
            body: Vec::new(),
            length: None,
        }
    }

    fn text(status: u16, reason: &'static str, text: &str) -> Self {
        let mut response = Self::new(status, reason);
        response.headers.push(("Content-Type", "text/plain".into()));
        response.body = format!("{text}\n").into_bytes();
        response
    }
}

async fn serve_connection(stream: TcpStream, state: &State) -> io::Result<()> {
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let request = match read_request(&mut reader).await {
            Ok(Some(request)) => request,
            Ok(None) => return Ok(()),
            Err(e) => {
                let response = Response::text(400, "Bad Request", &e.to_string());
                write_response(&mut write, response, true).await?;
                return Ok(());
            }
        };
        let latency = state.latency_us.load(Ordering::Relaxed);
        if latency > 0 {
            tokio::time::sleep(Duration::from_micros(latency)).await;
        }
        *state
            .requests
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(request.method.clone())
            .or_default() += 1;
        let close = request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let response = respond(&state.root, &request).await;
        write_response(&mut write, response, close).await?;
        if close {
            return Ok(());
        }
    }
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// Reads one line of the request head into `line`, keeping the head within
/// [`MAX_HEAD_BYTES`]; returns the bytes read (0 at end of stream).
async fn read_head_line<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    line: &mut String,
    head_bytes: &mut usize,
) -> io::Result<usize> {
    line.clear();
    let room = (MAX_HEAD_BYTES - *head_bytes) as u64 + 1;
    let n = reader.take(room).read_line(line).await?;
    *head_bytes += n;
    if *head_bytes > MAX_HEAD_BYTES {
        return Err(invalid(format!("request head longer than {MAX_HEAD_BYTES} bytes")));
    }
    Ok(n)
}

/// Reads one request; `None` when the client closed the connection cleanly.
async fn read_request<R: AsyncBufRead + Unpin>(reader: &mut R) -> io::Result<Option<Request>> {
    let mut line = String::new();
    let mut head_bytes = 0;
    if read_head_line(reader, &mut line, &mut head_bytes).await? == 0 {
        return Ok(None);
    }
    let mut parts = line.split_whitespace();
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid(format!("malformed request line {:?}", line.trim_end())));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(invalid(format!("unsupported protocol {version}")));
    }
    let (method, target) = (method.to_string(), target.to_string());
    let mut headers = BTreeMap::new();
    loop {
        if read_head_line(reader, &mut line, &mut head_bytes).await? == 0 {
            return Err(invalid("connection closed inside the request head".into()));
        }
        let header = line.trim_end_matches(['\r', '\n']);
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            return Err(invalid(format!("malformed header {header:?}")));
        };
        headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
    }
    if headers.contains_key("transfer-encoding") {
        return Err(invalid("chunked request bodies are not supported".into()));
    }
    if let Some(length) = headers.get("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
        if length > MAX_BODY_BYTES {
            return Err(invalid(format!("request body longer than {MAX_BODY_BYTES} bytes")));
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
    }
    Ok(Some(Request {
        method,
        target,
        headers,
    }))
}

async fn write_response<W: AsyncWrite + Unpin>(writer: &mut W, response: Response, close: bool) -> io::Result<()> {
    let length = response.length.unwrap_or(response.body.len());
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {length}\r\n",
        response.status, response.reason
    );
    for (name, value) in &response.headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    out.push_str(if close {
        "Connection: close\r\n\r\n"
    } else {
        "Connection: keep-alive\r\n\r\n"
    });
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response.body);
    writer.write_all(&bytes).await?;
    writer.flush().await
}

/// The file-system path and the URL path segments of a request target, or
/// `None` when it names anything but plain names under the root.
fn resolve(root: &Path, target: &str) -> Option<(PathBuf, Vec<String>)> {
    let path = target.split(['?', '#']).next()?.strip_prefix('/')?;
    let mut segments = Vec::new();
    for segment in path.split('/').filter(|s| !s.is_empty()) {
        let plain = segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !plain || segment == "." || segment == ".." {
            return None;
        }
        segments.push(segment.to_string());
    }
    let file = segments.iter().fold(root.to_path_buf(), |p, s| p.join(s));
    Some((file, segments))
}

async fn respond(root: &Path, request: &Request) -> Response {
    let Some((path, segments)) = resolve(root, &request.target) else {
        return Response::text(404, "Not Found", "not a plain path under the root");
    };
    let result = match request.method.as_str() {
        "GET" | "HEAD" => get(&path, request).await,
        "PROPFIND" => propfind(&path, &segments, request.header("depth").unwrap_or("infinity")).await,
        _ => {
            let mut response = Response::text(405, "Method Not Allowed", "read-only server");
            response.headers.push(("Allow", "GET, HEAD, PROPFIND".into()));
            Ok(response)
        }
    };
    result.unwrap_or_else(|e| match e.kind() {
        io::ErrorKind::NotFound => Response::text(404, "Not Found", "no such file"),
        _ => Response::text(500, "Internal Server Error", &e.to_string()),
    })
}

async fn get(path: &Path, request: &Request) -> io::Result<Response> {
    if tokio::fs::metadata(path).await?.is_dir() {
        return Ok(Response::text(404, "Not Found", "a directory; list it with PROPFIND"));
    }
    let content = tokio::fs::read(path).await?;
    let total = content.len();
    let mut response = match request.header("range") {
        None => {
            let mut response = Response::new(200, "OK");
            response.body = content;
            response
        }
        Some(range) => match parse_range(range, total) {
            Some((start, end)) => {
                let mut response = Response::new(206, "Partial Content");
                response
                    .headers
                    .push(("Content-Range", format!("bytes {start}-{}/{total}", end - 1)));
                response.body = content[start..end].to_vec();
                response
            }
            None => {
                let mut response = Response::new(416, "Range Not Satisfiable");
                response.headers.push(("Content-Range", format!("bytes */{total}")));
                return Ok(response);
            }
        },
    };
    response.headers.push(("Last-Modified", LAST_MODIFIED.into()));
    response.headers.push(("Accept-Ranges", "bytes".into()));
    response
        .headers
        .push(("Content-Type", "application/octet-stream".into()));
    if request.method == "HEAD" {
        response.length = Some(response.body.len());
        response.body.clear();
    }
    Ok(response)
}

/// One byte range of a `total`-byte object as a half-open `(start, end)`;
/// `None` when it is malformed, has several ranges, or is unsatisfiable.
fn parse_range(header: &str, total: usize) -> Option<(usize, usize)> {
    let spec = header.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (first, last) = spec.split_once('-')?;
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => {
            let n: usize = suffix.parse().ok()?;
            (total.saturating_sub(n), total)
        }
        (start, "") => (start.parse().ok()?, total),
        (start, last) => {
            let last: usize = last.parse().ok()?;
            (start.parse().ok()?, last.saturating_add(1).min(total))
        }
    };
    (start < end).then_some((start, end))
}

/// A WebDAV multi-status listing: the resource itself, then (for a
/// directory, unless `Depth: 0`) its entries, recursively for `infinity`.
async fn propfind(path: &Path, segments: &[String], depth: &str) -> io::Result<Response> {
    let recursive = match depth.trim() {
        "0" => None,
        "1" => Some(false),
        "infinity" => Some(true),
        other => {
            return Ok(Response::text(400, "Bad Request", &format!("bad Depth {other:?}")));
        }
    };
    let mut entries = Vec::new();
    let mut pending = vec![(path.to_path_buf(), segments.to_vec(), true)];
    while let Some((path, segments, descend)) = pending.pop() {
        let meta = tokio::fs::metadata(&path).await?;
        let mut href = format!("/{}", segments.join("/"));
        if meta.is_dir() {
            if !href.ends_with('/') {
                href.push('/');
            }
            entries.push((href, None));
            if descend && let Some(recursive) = recursive {
                let mut children = Vec::new();
                let mut dir = tokio::fs::read_dir(&path).await?;
                while let Some(entry) = dir.next_entry().await? {
                    let Ok(name) = entry.file_name().into_string() else {
                        continue;
                    };
                    let mut child = segments.clone();
                    child.push(name);
                    children.push((entry.path(), child, recursive));
                }
                // Popped in name order.
                children.sort_by(|a, b| b.1.cmp(&a.1));
                pending.extend(children);
            }
        } else {
            entries.push((href, Some(meta.len())));
        }
    }
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<multistatus xmlns=\"DAV:\">\n");
    for (href, size) in entries {
        let (length, kind) = match size {
            Some(n) => (format!("<getcontentlength>{n}</getcontentlength>"), "<resourcetype/>"),
            None => (String::new(), "<resourcetype><collection/></resourcetype>"),
        };
        xml.push_str(&format!(
            "<response><href>{href}</href><propstat><prop><getlastmodified>{LAST_MODIFIED}</getlastmodified>\
             {length}{kind}</prop><status>HTTP/1.1 200 OK</status></propstat></response>\n"
        ));
    }
    xml.push_str("</multistatus>\n");
    let mut response = Response::new(207, "Multi-Status");
    response
        .headers
        .push(("Content-Type", "application/xml; charset=utf-8".into()));
    response.body = xml.into_bytes();
    Ok(response)
}
