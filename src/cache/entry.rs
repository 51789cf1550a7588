//! One cache entry: `NFCACHE1`, the BLAKE3 hash of the rest, then an Arrow
//! IPC stream holding one row, a column per output of the node.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::datatypes::{Field, Schema};
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;

use crate::node::Node;
use crate::value::Value;

const MAGIC: &[u8; 8] = b"NFCACHE1";
const HEADER: usize = MAGIC.len() + blake3::OUT_LEN;

/// `outputs` (one value per output of `node`) as an entry's bytes.
pub(super) fn encode(node: &Node, outputs: &[Value]) -> Result<Vec<u8>, String> {
    let mut fields = Vec::with_capacity(outputs.len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(outputs.len());
    for (port, value) in node.outputs().iter().zip(outputs) {
        let column = (port.ty.arrow.to_arrow)(std::slice::from_ref(value))
            .map_err(|e| format!("output '{}' does not convert to Arrow: {e}", port.name))?;
        fields.push(Field::new(&port.name, column.data_type().clone(), true));
        columns.push(column);
    }
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| e.to_string())?;
    let mut bytes = vec![0; HEADER];
    let mut writer = StreamWriter::try_new(&mut bytes, &batch.schema()).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.finish().map_err(|e| e.to_string())?;
    drop(writer);
    let checksum = blake3::hash(&bytes[HEADER..]);
    bytes[..MAGIC.len()].copy_from_slice(MAGIC);
    bytes[MAGIC.len()..HEADER].copy_from_slice(checksum.as_bytes());
    Ok(bytes)
}

/// The outputs an entry holds, or why it cannot be used.
pub(super) fn decode(node: &Node, bytes: &[u8]) -> Result<Vec<Value>, String> {
    if bytes.len() < HEADER || &bytes[..MAGIC.len()] != MAGIC {
        return Err(format!("not a cache entry of this version ({} bytes)", bytes.len()));
    }
    let stream = &bytes[HEADER..];
    if blake3::hash(stream).as_bytes() != &bytes[MAGIC.len()..HEADER] {
        return Err("its checksum does not match (truncated or corrupt)".into());
    }
    let mut reader = StreamReader::try_new(stream, None).map_err(|e| e.to_string())?;
    let batch = match reader.next() {
        Some(batch) => batch.map_err(|e| e.to_string())?,
        None => return Err("it holds no row".into()),
    };
    if batch.num_rows() != 1 || batch.num_columns() != node.outputs().len() {
        return Err(format!(
            "it holds {} rows of {} columns",
            batch.num_rows(),
            batch.num_columns()
        ));
    }
    node.outputs()
        .iter()
        .zip(batch.columns())
        .zip(batch.schema().fields())
        .map(|((port, column), field)| {
            if field.name() != &port.name {
                return Err(format!(
                    "it holds '{}' where the node outputs '{}'",
                    field.name(),
                    port.name
                ));
            }
            let mut values = (port.ty.arrow.from_arrow)(column.as_ref())
                .map_err(|e| format!("output '{}' does not read back: {e}", port.name))?;
            values.pop().ok_or_else(|| format!("output '{}' is empty", port.name))
        })
        .collect()
}
