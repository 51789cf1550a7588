//! A cached node's call: keys per row, lookups, the node on the misses
//! alone, results stored and merged back in row order (see
//! [the cache](crate::cache)).

use std::cell::RefCell;
use std::ops::Range;

use super::{Called, HeldRows, NodeCallSite, RowSource, fetch};
use crate::cache::{Cache, Key};
use crate::error::{Error, bug};
use crate::node::Node;
use crate::value::Value;

/// The key of every row (`None` when a value cannot be encoded: then
/// nothing is cached for this call). Values shared by neighbouring rows
/// (a constant input) are hashed once.
fn keys(node: &Node, path: &str, columns: &[Vec<Value>], rows: usize) -> Option<Vec<Key>> {
    let mut per_input: Vec<Vec<[u8; 32]>> = Vec::with_capacity(columns.len());
    for (port, column) in node.inputs().iter().zip(columns) {
        let mut hashes: Vec<[u8; 32]> = Vec::with_capacity(rows);
        for (row, value) in column.iter().enumerate() {
            if row > 0 && value.same(&column[row - 1]) {
                hashes.push(hashes[row - 1]);
                continue;
            }
            let mut hasher = blake3::Hasher::new();
            match port.ty.fingerprint(value, &mut hasher) {
                Some(Ok(())) => hashes.push(*hasher.finalize().as_bytes()),
                Some(Err(problem)) => {
                    tracing::warn!(node = path, port = %port.name, "not cached: {problem}");
                    return None;
                }
                None => {
                    tracing::warn!(node = path, port = %port.name, "not cached: a value of another type");
                    return None;
                }
            }
        }
        per_input.push(hashes);
    }
    let mut prefix = blake3::Hasher::new();
    prefix.update(b"nodefusion-cache/1\0");
    prefix.update(&(node.id().len() as u64).to_le_bytes());
    prefix.update(node.id().as_bytes());
    prefix.update(&node.version().to_le_bytes());
    Some(
        (0..rows)
            .map(|row| {
                let mut hasher = prefix.clone();
                for (port, hashes) in node.inputs().iter().zip(&per_input) {
                    hasher.update(&(port.name.len() as u64).to_le_bytes());
                    hasher.update(port.name.as_bytes());
                    hasher.update(&hashes[row]);
                }
                Key(*hasher.finalize().as_bytes())
            })
            .collect(),
    )
}

/// Calls `site`'s node on rows `0..rows` of `source` through `cache`.
pub(super) fn call(
    site: &NodeCallSite<'_>,
    cache: &Cache,
    source: &dyn RowSource,
    rows: usize,
) -> Result<Called, Error> {
    let node = site.node;
    let columns = fetch(source, 0..rows)?;
    let Some(keys) = keys(node, site.path, &columns, rows) else {
        return site
            .uncached()
            .call(&Owned::new(columns, source, (0..rows).collect()), rows);
    };
    let mut found = cache.lookup(node, site.path, &keys);
    let misses: Vec<usize> = (0..rows).filter(|&row| found[row].is_none()).collect();
    let hits = (rows - misses.len()) as u64;
    (site.advance)(hits, hits);

    // The misses' values, handed to the node; the hits' are let go.
    let miss_columns: Vec<Vec<Value>> = columns
        .into_iter()
        .map(|column| {
            column
                .into_iter()
                .zip(&found)
                .filter(|(_, hit)| hit.is_none())
                .map(|(value, _)| value)
                .collect()
        })
        .collect();
    let item_of = |row: usize| misses.get(row).and_then(|&row| (site.item_of)(row));
    let computed = NodeCallSite {
        item_of: &item_of,
        ..site.uncached()
    }
    .call(&Owned::new(miss_columns, source, misses.clone()), misses.len())?;

    let mut computed_rows: Vec<std::vec::IntoIter<Value>> = computed.outputs.into_iter().map(Vec::into_iter).collect();
    let mut outputs: Vec<Vec<Value>> = vec![Vec::with_capacity(rows); node.outputs().len()];
    let mut stored = Vec::with_capacity(misses.len());
    for (row, hit) in found.iter_mut().enumerate() {
        let values = match hit.take() {
            Some(values) => values,
            None => {
                let values: Vec<Value> = computed_rows
                    .iter_mut()
                    .map(|column| column.next().ok_or_else(|| bug!("a computed row is missing")))
                    .collect::<Result<_, _>>()?;
                stored.push((keys[row], values.clone()));
                values
            }
        };
        for (column, value) in outputs.iter_mut().zip(values) {
            column.push(value);
        }
    }
    cache.store(node, site.path, stored);
    Ok(Called {
        outputs,
        calls: computed.calls,
        hits,
    })
}

/// Rows already fetched, each handed out once; asked again (a failed
/// batch retried row by row), they are fetched afresh from the source.
struct Owned<'a> {
    held: RefCell<HeldRows>,
    source: &'a dyn RowSource,
    /// Each row's row in `source`.
    rows: Vec<usize>,
}

impl<'a> Owned<'a> {
    fn new(columns: Vec<Vec<Value>>, source: &'a dyn RowSource, rows: Vec<usize>) -> Self {
        Owned {
            held: RefCell::new(HeldRows::new(columns)),
            source,
            rows,
        }
    }
}

impl RowSource for Owned<'_> {
    fn rows(&self, range: Range<usize>) -> Result<Vec<Vec<Value>>, Error> {
        let mut held = self.held.borrow_mut();
        if held.holds(&range) {
            return held.take(range);
        }
        let mut out: Vec<Vec<Value>> = vec![Vec::with_capacity(range.len()); held.columns()];
        for &row in &self.rows[range] {
            for (column, fetched) in out.iter_mut().zip(fetch(self.source, row..row + 1)?) {
                column.extend(fetched);
            }
        }
        Ok(out)
    }
}
