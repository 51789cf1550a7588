//! A value's canonical encoding, fed straight into a hash: a serde
//! serializer that writes a type tag, then the value's bytes (numbers in
//! little-endian, strings and sequences with their lengths, struct fields
//! and enum variants with their names). Two values have the same encoding
//! exactly when they serialise the same way, floats compared by their bits
//! (so `NaN` is not `null`, and `-0.0` is not `0.0`).
//!
//! Maps are encoded in iteration order: a `HashMap` input hashes
//! differently from run to run (its results are then cached but rarely
//! found); a `BTreeMap` is stable.

use std::any::Any;

use serde::ser::{self, Serialize};

use crate::arrow_convert::Floats;
use crate::value::{Data, Value};

/// Feeds `value`'s canonical encoding into `hasher`.
pub(crate) fn fingerprint<T: Serialize + ?Sized>(value: &T, hasher: &mut blake3::Hasher) -> Result<(), Unencodable> {
    value.serialize(Encoder(hasher))
}

/// [`fingerprint`] of a `T` value (`None` if it holds another type); float
/// matrices ([`Floats`], `Vec<Floats>`) are hashed as their bytes rather
/// than one serde call per float.
pub(crate) fn fingerprint_value<T: Data>(
    value: &Value,
    hasher: &mut blake3::Hasher,
) -> Option<Result<(), Unencodable>> {
    let typed = value.downcast_ref::<T>()?;
    let any: &dyn Any = typed;
    if let Some(floats) = any.downcast_ref::<Floats>() {
        hash_floats(floats, hasher);
    } else if let Some(matrices) = any.downcast_ref::<Vec<Floats>>() {
        Encoder(hasher).len(35, Some(matrices.len()));
        for floats in matrices {
            hash_floats(floats, hasher);
        }
    } else {
        return Some(fingerprint(typed, hasher));
    }
    Some(Ok(()))
}

fn hash_floats(floats: &[f32], hasher: &mut blake3::Hasher) {
    Encoder(hasher).len(36, Some(floats.len()));
    let mut buffer = [0u8; 4096];
    for chunk in floats.chunks(buffer.len() / 4) {
        for (bytes, x) in buffer.chunks_exact_mut(4).zip(chunk) {
            bytes.copy_from_slice(&x.to_le_bytes());
        }
        hasher.update(&buffer[..chunk.len() * 4]);
    }
}

/// A value's `Serialize` implementation failed.
#[derive(Debug, thiserror::Error)]
#[error("the value cannot be encoded for the cache key: {0}")]
pub(crate) struct Unencodable(String);

impl ser::Error for Unencodable {
    fn custom<M: std::fmt::Display>(message: M) -> Self {
        Unencodable(message.to_string())
    }
}

struct Encoder<'a>(&'a mut blake3::Hasher);

impl<'a> Encoder<'a> {
    fn tag(&mut self, tag: u8) {
        self.0.update(&[tag]);
    }

    fn bytes(&mut self, tag: u8, bytes: &[u8]) {
        self.tag(tag);
        self.0.update(&(bytes.len() as u64).to_le_bytes());
        self.0.update(bytes);
    }

    fn len(&mut self, tag: u8, len: Option<usize>) {
        self.tag(tag);
        // An unknown length is closed by an end tag instead.
        self.0.update(&len.map_or(u64::MAX, |l| l as u64).to_le_bytes());
    }

    /// Opens the `len` fields of a tuple or struct variant (`tag` tells
    /// which), named and numbered.
    fn variant(mut self, tag: u8, index: u32, variant: &'static str, len: usize) -> Compound<'a> {
        self.bytes(tag, variant.as_bytes());
        self.0.update(&index.to_le_bytes());
        self.len(26, Some(len));
        Compound::new(self.0, false)
    }
}

macro_rules! number {
    ($($method:ident($ty:ty) = $tag:literal;)*) => {
        $(fn $method(mut self, v: $ty) -> Result<(), Unencodable> {
            self.tag($tag);
            self.0.update(&v.to_le_bytes());
            Ok(())
        })*
    };
}

impl<'a> ser::Serializer for Encoder<'a> {
    type Ok = ();
    type Error = Unencodable;
    type SerializeSeq = Compound<'a>;
    type SerializeTuple = Compound<'a>;
    type SerializeTupleStruct = Compound<'a>;
    type SerializeTupleVariant = Compound<'a>;
    type SerializeMap = Compound<'a>;
    type SerializeStruct = Compound<'a>;
    type SerializeStructVariant = Compound<'a>;

    number! {
        serialize_i8(i8) = 1; serialize_i16(i16) = 2; serialize_i32(i32) = 3; serialize_i64(i64) = 4;
        serialize_i128(i128) = 5; serialize_u8(u8) = 6; serialize_u16(u16) = 7; serialize_u32(u32) = 8;
        serialize_u64(u64) = 9; serialize_u128(u128) = 10; serialize_f32(f32) = 11; serialize_f64(f64) = 12;
    }

    fn serialize_bool(mut self, v: bool) -> Result<(), Unencodable> {
        self.tag(if v { 13 } else { 14 });
        Ok(())
    }

    fn serialize_char(mut self, v: char) -> Result<(), Unencodable> {
        self.tag(15);
        self.0.update(&u32::from(v).to_le_bytes());
        Ok(())
    }

    fn serialize_str(mut self, v: &str) -> Result<(), Unencodable> {
        self.bytes(16, v.as_bytes());
        Ok(())
    }

    fn serialize_bytes(mut self, v: &[u8]) -> Result<(), Unencodable> {
        self.bytes(17, v);
        Ok(())
    }

    fn serialize_none(mut self) -> Result<(), Unencodable> {
        self.tag(18);
        Ok(())
    }

    fn serialize_some<T: Serialize + ?Sized>(mut self, value: &T) -> Result<(), Unencodable> {
        self.tag(19);
        value.serialize(self)
    }

    fn serialize_unit(mut self) -> Result<(), Unencodable> {
        self.tag(20);
        Ok(())
    }

    fn serialize_unit_struct(mut self, name: &'static str) -> Result<(), Unencodable> {
        self.bytes(21, name.as_bytes());
        Ok(())
    }

    fn serialize_unit_variant(mut self, _: &'static str, index: u32, variant: &'static str) -> Result<(), Unencodable> {
        self.bytes(22, variant.as_bytes());
        self.0.update(&index.to_le_bytes());
        Ok(())
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        mut self,
        name: &'static str,
        value: &T,
    ) -> Result<(), Unencodable> {
        self.bytes(23, name.as_bytes());
        value.serialize(self)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        mut self,
        _: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unencodable> {
        self.bytes(24, variant.as_bytes());
        self.0.update(&index.to_le_bytes());
        value.serialize(self)
    }

    fn serialize_seq(mut self, len: Option<usize>) -> Result<Compound<'a>, Unencodable> {
        self.len(25, len);
        Ok(Compound::new(self.0, len.is_none()))
    }

    fn serialize_tuple(mut self, len: usize) -> Result<Compound<'a>, Unencodable> {
        self.len(26, Some(len));
        Ok(Compound::new(self.0, false))
    }

    fn serialize_tuple_struct(mut self, name: &'static str, len: usize) -> Result<Compound<'a>, Unencodable> {
        self.bytes(27, name.as_bytes());
        self.len(26, Some(len));
        Ok(Compound::new(self.0, false))
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Unencodable> {
        Ok(self.variant(28, index, variant, len))
    }

    fn serialize_map(mut self, len: Option<usize>) -> Result<Compound<'a>, Unencodable> {
        self.len(29, len);
        Ok(Compound::new(self.0, len.is_none()))
    }

    fn serialize_struct(mut self, name: &'static str, len: usize) -> Result<Compound<'a>, Unencodable> {
        self.bytes(30, name.as_bytes());
        self.len(26, Some(len));
        Ok(Compound::new(self.0, false))
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Compound<'a>, Unencodable> {
        Ok(self.variant(31, index, variant, len))
    }
}

/// The elements or fields of a sequence, tuple, map or struct.
pub(crate) struct Compound<'a> {
    hasher: &'a mut blake3::Hasher,
    /// Whether the length was unknown, so an end tag closes the elements.
    closed_by_tag: bool,
}

impl<'a> Compound<'a> {
    fn new(hasher: &'a mut blake3::Hasher, closed_by_tag: bool) -> Self {
        Compound { hasher, closed_by_tag }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unencodable> {
        value.serialize(Encoder(self.hasher))
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Unencodable> {
        Encoder(self.hasher).bytes(32, key.as_bytes());
        self.element(value)
    }

    fn end(self) -> Result<(), Unencodable> {
        if self.closed_by_tag {
            self.hasher.update(&[33]);
        }
        Ok(())
    }
}

/// The serde traits of sequences and tuples: each element encoded in turn.
macro_rules! elements {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Unencodable;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unencodable> {
                self.element(value)
            }
            fn end(self) -> Result<(), Unencodable> {
                Compound::end(self)
            }
        }
    )*};
}

elements!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// The serde traits of structs: each field encoded with its name.
macro_rules! fields {
    ($($trait:ident),*) => {$(
        impl ser::$trait for Compound<'_> {
            type Ok = ();
            type Error = Unencodable;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Unencodable> {
                self.field(key, value)
            }
            fn skip_field(&mut self, key: &'static str) -> Result<(), Unencodable> {
                Encoder(self.hasher).bytes(34, key.as_bytes());
                Ok(())
            }
            fn end(self) -> Result<(), Unencodable> {
                Compound::end(self)
            }
        }
    )*};
}

fields!(SerializeStruct, SerializeStructVariant);

impl ser::SerializeMap for Compound<'_> {
    type Ok = ();
    type Error = Unencodable;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unencodable> {
        self.element(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unencodable> {
        self.element(value)
    }
    fn end(self) -> Result<(), Unencodable> {
        Compound::end(self)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn hash<T: Serialize + ?Sized>(value: &T) -> blake3::Hash {
        let mut hasher = blake3::Hasher::new();
        fingerprint(value, &mut hasher).unwrap();
        hasher.finalize()
    }

    #[test]
    fn equal_values_hash_equal_and_near_misses_do_not() {
        assert_eq!(hash(&vec!["a".to_string(), "bc".into()]), hash(&vec!["a", "bc"]));
        assert_ne!(hash(&vec!["a", "bc"]), hash(&vec!["ab", "c"]));
        assert_ne!(hash(&Some(f32::NAN)), hash(&None::<f32>));
        assert_ne!(hash(&0.0f32), hash(&-0.0f32));
        assert_ne!(hash(&1i64), hash(&1u64));
        assert_ne!(hash(&(vec![1u8], vec![2u8])), hash(&(vec![1u8, 2], Vec::<u8>::new())));
        let map: BTreeMap<&str, i32> = [("a", 1), ("b", 2)].into();
        assert_eq!(hash(&map), hash(&BTreeMap::from([("b", 2), ("a", 1)])));
    }
}
