//! Reading Parquet through object_store and DataFusion: the context and URL
//! for a location, the typed read of the columns a table needs, and the
//! errors that name the file (or shard) and row at fault.

use std::collections::BTreeMap;

use datafusion::arrow::array::{Array, RecordBatch, StructArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::DataFusionError;
use datafusion::datasource::listing::ListingTableUrl;
use datafusion::prelude::{ParquetReadOptions, SessionConfig, SessionContext};
use futures::TryStreamExt;
use nodefusion::Data;
use nodefusion_udfs::store::{open_remote, remote_hint, remote_hint_of};
use url::Url;

use super::DataError;

/// The kind of values a column must hold.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    /// Strings (`Utf8`, `LargeUtf8`, `Utf8View`, or a dictionary of them).
    Text,
    /// Integers of any width (or a dictionary of them).
    Integer,
}

impl Kind {
    fn accepts(self, ty: &DataType) -> bool {
        match self {
            Kind::Text => match ty {
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
                DataType::Dictionary(_, values) => self.accepts(values),
                _ => false,
            },
            Kind::Integer => match ty {
                DataType::Dictionary(_, values) => self.accepts(values),
                ty => ty.is_integer(),
            },
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Text => "a string",
            Kind::Integer => "an integer",
        }
    }

    fn target(self) -> DataType {
        match self {
            Kind::Text => DataType::Utf8,
            Kind::Integer => DataType::Int64,
        }
    }
}

/// A DataFusion context that can read `location`: for `s3://` and
/// `http(s)://` URLs the store is registered as indexes open theirs
/// ([`open_remote`]: `AWS_*` variables, bounded waits).
pub fn context_for(location: &str, partitions: usize) -> Result<SessionContext, DataError> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_target_partitions(partitions.max(1)));
    if let Ok(url) = Url::parse(location)
        && url.scheme().len() > 1
        && url.scheme() != "file"
    {
        let bad = |message: String| DataError::Read {
            location: location.into(),
            message,
        };
        let (store, _) = open_remote(&url, &BTreeMap::new()).map_err(bad)?;
        let base = Url::parse(&format!("{}://{}", url.scheme(), url.authority())).map_err(|e| bad(e.to_string()))?;
        ctx.register_object_store(&base, store);
    }
    Ok(ctx)
}

/// The URL DataFusion reads `location` from: a remote URL as given; a local
/// path, or a `file://` URL (percent-decoded, host empty or `localhost`),
/// as the `file://` URL of the absolute path, so that `*`, `?` and `[` in
/// names are characters rather than a glob. A folder's URL ends in `/`, so
/// its shards are listed.
pub fn read_url(location: &str) -> Result<String, DataError> {
    let bad = |message: String| DataError::Read {
        location: location.into(),
        message,
    };
    let local = match Url::parse(location) {
        Ok(url) if url.scheme() == "file" => url
            .to_file_path()
            .map_err(|()| bad("a file:// URL must name a local path (host empty or localhost)".into()))?,
        // One letter is a Windows drive, not a scheme.
        Ok(url) if url.scheme().len() > 1 => return Ok(location.to_string()),
        _ => std::path::PathBuf::from(location),
    };
    let absolute = std::path::absolute(&local).map_err(|e| bad(e.to_string()))?;
    let mut url = Url::from_file_path(&absolute).map_err(|()| bad("not an absolute local path".into()))?;
    if absolute.is_dir() && !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url.to_string())
}

/// Reads the Parquet file(s) at `location` into rows of `T`, after checking
/// that each `(column, kind)` exists with an acceptable type.
pub(super) async fn read_rows<T: Data>(
    location: &str,
    columns: &[(&str, Kind)],
    partitions: usize,
) -> Result<Vec<T>, DataError> {
    let read_error = |e: &dyn std::fmt::Display| DataError::Read {
        location: location.into(),
        message: e.to_string(),
    };
    let ctx = context_for(location, partitions)?;
    let url = read_url(location)?;
    let df = match ctx.read_parquet(url.clone(), ParquetReadOptions::default()).await {
        Ok(df) => df,
        Err(e) => return Err(read_failure(&ctx, location, &url, &e).await),
    };
    let schema = df.schema().as_arrow().clone();
    let mut select = Vec::new();
    for (name, kind) in columns {
        let field = schema.field_with_name(name).map_err(|_| DataError::MissingColumn {
            location: location.into(),
            column: name.to_string(),
            found: schema.fields().iter().map(|f| f.name().clone()).collect(),
        })?;
        if !kind.accepts(field.data_type()) {
            return Err(DataError::ColumnType {
                location: location.into(),
                column: name.to_string(),
                expected: kind.name(),
                found: field.data_type().clone(),
            });
        }
        select.push(
            datafusion::prelude::cast(datafusion::prelude::col(format!("\"{name}\"")), kind.target()).alias(*name),
        );
    }
    let batches: Vec<RecordBatch> = match df.select(select).map_err(|e| read_error(&e))?.collect().await {
        Ok(batches) => batches,
        Err(e) => return Err(read_failure(&ctx, location, &url, &e).await),
    };
    check_no_nulls(location, &batches)?;
    let mut rows = Vec::new();
    for batch in batches {
        let array = StructArray::from(batch);
        rows.extend(nodefusion::arrow_convert::from_arrow::<T>(&array).map_err(|e| read_error(&e))?);
    }
    Ok(rows)
}

/// The error of a failed read. For a folder, the message names the first
/// shard that fails to read on its own, rather than only the folder.
async fn read_failure(ctx: &SessionContext, location: &str, url: &str, error: &DataFusionError) -> DataError {
    let message = match failing_shard(ctx, url).await {
        Some((shard, shard_error)) => format!("shard {shard}: {shard_error}"),
        None => error.to_string(),
    };
    let message = match remote_hint(&message).or_else(|| remote_hint_of(error)) {
        Some(hint) => format!("{hint}; {message}"),
        None => message,
    };
    DataError::Read {
        location: location.into(),
        message,
    }
}

/// The first shard (in name order) of the folder at `url` that cannot be
/// read alone, with its error.
async fn failing_shard(ctx: &SessionContext, url: &str) -> Option<(String, String)> {
    if !url.ends_with('/') {
        return None;
    }
    let table = ListingTableUrl::parse(url).ok()?;
    let store = ctx.runtime_env().object_store(&table).ok()?;
    let mut files: Vec<String> = store
        .list(Some(table.prefix()))
        .map_ok(|meta| meta.location.to_string())
        .try_collect()
        .await
        .ok()?;
    files.sort();
    for file in files {
        let shard_url = format!("{}{file}", table.object_store().as_str());
        let read = async {
            ctx.read_parquet(shard_url.clone(), ParquetReadOptions::default())
                .await?
                .count()
                .await
        };
        if let Err(e) = read.await {
            let shown = Url::parse(&shard_url)
                .ok()
                .filter(|u| u.scheme() == "file")
                .and_then(|u| u.to_file_path().ok())
                .map_or(shard_url, |path| path.display().to_string());
            return Some((shown, e.to_string()));
        }
    }
    None
}

/// The first null value of any column, by row, as an error.
fn check_no_nulls(location: &str, batches: &[RecordBatch]) -> Result<(), DataError> {
    let Some(schema) = batches.first().map(RecordBatch::schema) else {
        return Ok(());
    };
    for (index, field) in schema.fields().iter().enumerate() {
        let count: usize = batches.iter().map(|b| b.column(index).null_count()).sum();
        if count == 0 {
            continue;
        }
        let mut before = 0;
        for batch in batches {
            let column = batch.column(index);
            if let Some(row) = (0..column.len()).find(|&i| column.is_null(i)) {
                return Err(DataError::Null {
                    location: location.into(),
                    column: field.name().clone(),
                    row: before + row,
                    count,
                });
            }
            before += batch.num_rows();
        }
    }
    Ok(())
}
