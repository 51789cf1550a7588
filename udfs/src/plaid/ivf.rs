//! The inverted file: for each centroid, the ascending ids of the documents
//! with a token of that code, stored as LEB128 varints of the gaps (the
//! first id as is), so a list of `n` documents over a collection of `N`
//! takes about `n · log2(N / n) / 7` bytes instead of `4n`. Lists are decoded
//! on the fly at search time; loading only validates them.

use bytes::Bytes;

use crate::store::Array;

#[derive(Clone)]
pub(crate) struct InvertedFile {
    /// `num_centroids + 1` byte offsets into `lists`.
    pub(crate) offsets: Array<u64>,
    pub(crate) lists: Bytes,
}

impl InvertedFile {
    /// From per-centroid ascending, unique document ids.
    pub(crate) fn from_lists<'a>(lists: impl Iterator<Item = &'a [u32]>) -> Self {
        let mut bytes = Vec::new();
        let mut offsets = vec![0u64];
        for list in lists {
            let mut prev = 0u32;
            for &d in list {
                write_varint(&mut bytes, d - prev);
                prev = d;
            }
            offsets.push(bytes.len() as u64);
        }
        Self {
            offsets: Array::from_vec(offsets),
            lists: Bytes::from(bytes),
        }
    }

    /// Appends the documents of centroid `c` to `out`.
    pub(crate) fn extend_docs(&self, c: usize, out: &mut Vec<u32>) {
        let (a, b) = (self.offsets[c] as usize, self.offsets[c + 1] as usize);
        let mut bytes = &self.lists[a..b];
        let mut prev = 0u32;
        while let Some((gap, rest)) = read_varint(bytes) {
            prev = prev.wrapping_add(gap);
            out.push(prev);
            bytes = rest;
        }
    }

    /// Checks offsets and lists; returns the number of (centroid, document)
    /// entries, or what is wrong.
    pub(crate) fn validate(&self, num_centroids: usize, num_docs: usize) -> Result<u64, String> {
        let o = &self.offsets;
        if o.len() != num_centroids + 1
            || o[0] != 0
            || o.windows(2).any(|w| w[0] > w[1])
            || o[num_centroids] != self.lists.len() as u64
        {
            return Err(format!(
                "expected {} non-decreasing offsets from 0 to {}, the size of ivf.doc",
                num_centroids + 1,
                self.lists.len()
            ));
        }
        let mut entries = 0u64;
        for c in 0..num_centroids {
            let mut bytes = &self.lists[o[c] as usize..o[c + 1] as usize];
            // The list's bytes are where ivf.off says: either file may be at fault.
            let list = || format!("the list of centroid {c} (bytes {}..{} by ivf.off)", o[c], o[c + 1]);
            let mut prev: Option<u64> = None;
            while !bytes.is_empty() {
                let (gap, rest) = read_varint(bytes).ok_or_else(|| format!("malformed varint in {}", list()))?;
                let id = prev.map_or(gap as u64, |p| p + gap as u64);
                if prev.is_some() && gap == 0 {
                    return Err(format!("repeated document {id} in {}", list()));
                }
                if id >= num_docs as u64 {
                    return Err(format!("expected document ids < {num_docs}, found {id} in {}", list()));
                }
                prev = Some(id);
                entries += 1;
                bytes = rest;
            }
        }
        Ok(entries)
    }
}

fn write_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// One varint and the rest; `None` at the end or on a malformed value.
#[inline]
fn read_varint(bytes: &[u8]) -> Option<(u32, &[u8])> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().enumerate().take(5) {
        v |= ((b & 0x7F) as u64) << (7 * i);
        if b & 0x80 == 0 {
            return u32::try_from(v).ok().map(|v| (v, &bytes[i + 1..]));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_round_trip() {
        let lists: Vec<Vec<u32>> = vec![vec![0, 1, 300, 70_000], vec![], vec![u32::MAX - 1]];
        let ivf = InvertedFile::from_lists(lists.iter().map(|l| l.as_slice()));
        assert_eq!(ivf.validate(3, u32::MAX as usize), Ok(5));
        for (c, l) in lists.iter().enumerate() {
            let mut out = Vec::new();
            ivf.extend_docs(c, &mut out);
            assert_eq!(&out, l);
        }
        assert!(
            ivf.validate(3, 1000)
                .unwrap_err()
                .contains("expected document ids < 1000")
        );
    }
}
