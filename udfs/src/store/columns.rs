//! In-memory columns of index files: little-endian numbers ([`Pod`],
//! [`encode`]), read-only arrays that view loaded bytes in place
//! ([`Array`]), and string tables ([`StringTable`]).

use std::marker::PhantomData;
use std::sync::Arc;

use bytes::Bytes;

/// Plain numbers stored little-endian in index files.
pub(crate) trait Pod: Copy + Send + Sync + 'static {
    const SIZE: usize;
    fn from_le(b: &[u8]) -> Self;
    fn extend_le(self, out: &mut Vec<u8>);
}

macro_rules! pod {
    ($($t:ty),*) => {$(
        impl Pod for $t {
            const SIZE: usize = std::mem::size_of::<$t>();
            fn from_le(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(b);
                <$t>::from_le_bytes(a)
            }
            fn extend_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
pod!(u16, u32, u64, f32);

/// Encodes a slice of numbers as little-endian bytes.
pub(super) fn encode<T: Pod>(values: &[T]) -> Bytes {
    let mut out = Vec::with_capacity(values.len() * T::SIZE);
    for v in values {
        v.extend_le(&mut out);
    }
    Bytes::from(out)
}

/// A read-only array of numbers, either viewing loaded bytes in place or owned.
#[derive(Clone)]
pub(crate) struct Array<T: Pod> {
    repr: ArrayRepr<T>,
}

#[derive(Clone)]
enum ArrayRepr<T> {
    Shared(Bytes, PhantomData<T>),
    Owned(Arc<[T]>),
}

impl<T: Pod> Array<T> {
    pub(crate) fn from_vec(v: Vec<T>) -> Self {
        Self {
            repr: ArrayRepr::Owned(v.into()),
        }
    }

    /// Views `bytes` as `[T]` without copying when aligned on a
    /// little-endian target, else decodes a copy.
    pub(crate) fn from_bytes(bytes: Bytes) -> std::result::Result<Self, String> {
        if !bytes.len().is_multiple_of(T::SIZE) {
            return Err(format!(
                "expected a multiple of {} bytes (an array of {}-byte numbers), found {} bytes",
                T::SIZE,
                T::SIZE,
                bytes.len()
            ));
        }
        let aligned = bytes.as_ptr().align_offset(std::mem::align_of::<T>()) == 0;
        if cfg!(target_endian = "little") && aligned {
            Ok(Self {
                repr: ArrayRepr::Shared(bytes, PhantomData),
            })
        } else {
            let v: Vec<T> = bytes.chunks_exact(T::SIZE).map(T::from_le).collect();
            Ok(Self::from_vec(v))
        }
    }

    pub(crate) fn as_slice(&self) -> &[T] {
        match &self.repr {
            ArrayRepr::Owned(v) => v,
            ArrayRepr::Shared(b, _) => {
                // SAFETY: `from_bytes` only builds this variant on
                // little-endian targets when the pointer is aligned for T and
                // the length is a multiple of size_of::<T>(); T is a plain
                // number type for which every bit pattern is valid; `Bytes`
                // keeps the memory alive and immutable for our lifetime.
                unsafe { std::slice::from_raw_parts(b.as_ptr().cast::<T>(), b.len() / T::SIZE) }
            }
        }
    }

    /// Whether the array views loaded bytes in place (no copy).
    #[cfg(test)]
    pub(crate) fn is_zero_copy(&self) -> bool {
        matches!(self.repr, ArrayRepr::Shared(..))
    }
}

impl<T: Pod> std::ops::Deref for Array<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T: Pod> AsRef<[T]> for Array<T> {
    fn as_ref(&self) -> &[T] {
        self.as_slice()
    }
}

/// A list of strings stored as one UTF-8 blob plus `len + 1` offsets.
#[derive(Clone)]
pub(crate) struct StringTable {
    blob: Bytes,
    offsets: Array<u64>,
}

/// Why stored strings do not form a table, and whether the string data
/// file (rather than its offsets) is at fault.
#[derive(Debug)]
pub(super) struct StringTableError {
    /// Whether the string data (not its offsets) is at fault.
    pub(super) in_data: bool,
    /// What is wrong.
    pub(super) reason: String,
}

impl StringTable {
    pub(crate) fn from_strings<S: AsRef<str>>(items: &[S]) -> Self {
        let mut blob = Vec::new();
        let mut offsets = Vec::with_capacity(items.len() + 1);
        offsets.push(0u64);
        for s in items {
            blob.extend_from_slice(s.as_ref().as_bytes());
            offsets.push(blob.len() as u64);
        }
        Self {
            blob: Bytes::from(blob),
            offsets: Array::from_vec(offsets),
        }
    }

    /// The table of `blob` cut at `offsets`; an error says which of the two
    /// is wrong.
    pub(super) fn new(blob: Bytes, offsets: Array<u64>) -> std::result::Result<Self, StringTableError> {
        let in_offsets = |reason: String| StringTableError { in_data: false, reason };
        if offsets.is_empty() || offsets[0] != 0 {
            return Err(in_offsets("expected offsets starting with 0".into()));
        }
        if offsets.windows(2).any(|w| w[0] > w[1]) {
            return Err(in_offsets("expected non-decreasing offsets".into()));
        }
        let last = offsets[offsets.len() - 1];
        if last != blob.len() as u64 {
            return Err(in_offsets(format!(
                "the last offset is {last}, but the string data file holds {} bytes",
                blob.len()
            )));
        }
        let text = std::str::from_utf8(&blob).map_err(|e| StringTableError {
            in_data: true,
            reason: format!("string data is not UTF-8: {e}"),
        })?;
        if let Some(o) = offsets.iter().find(|&&o| !text.is_char_boundary(o as usize)) {
            return Err(in_offsets(format!("offset {o} is not on a UTF-8 character boundary")));
        }
        Ok(Self { blob, offsets })
    }

    pub(crate) fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub(crate) fn get_bytes(&self, i: usize) -> &[u8] {
        &self.blob[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    pub(crate) fn get(&self, i: usize) -> &str {
        // Validated in `new` / built from `&str`.
        std::str::from_utf8(self.get_bytes(i)).unwrap_or_default()
    }

    /// Position of `s` in a table sorted by bytes.
    pub(crate) fn binary_search(&self, s: &str) -> Option<usize> {
        let (mut lo, mut hi) = (0usize, self.len());
        let key = s.as_bytes();
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.get_bytes(mid).cmp(key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(mid),
            }
        }
        None
    }

    pub(crate) fn blob(&self) -> Bytes {
        self.blob.clone()
    }

    pub(crate) fn offsets_bytes(&self) -> Bytes {
        encode(&self.offsets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_table_round_trips_and_searches() {
        let t = StringTable::from_strings(&["a", "bb", "שלום"]);
        let back = StringTable::new(t.blob(), Array::from_bytes(t.offsets_bytes()).unwrap()).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back.get(2), "שלום");
        assert_eq!(back.binary_search("bb"), Some(1));
        assert_eq!(back.binary_search("c"), None);
    }

    #[test]
    fn misaligned_arrays_are_decoded() {
        let b = encode(&[1.5f32, -2.0]);
        let mut shifted = vec![0u8];
        shifted.extend_from_slice(&b);
        let shifted = Bytes::from(shifted).slice(1..);
        let a = Array::<f32>::from_bytes(shifted).unwrap();
        assert!(!a.is_zero_copy());
        assert_eq!(&*a, &[1.5, -2.0]);
        let aligned = Array::<f32>::from_bytes(Bytes::from(vec![0u8; 8]));
        assert!(aligned.unwrap().is_zero_copy() || !cfg!(target_endian = "little"));
    }
}
