//! The values given to a run and the values it returns.

use std::collections::BTreeMap;

use crate::engine::RunReport;
use crate::error::Error;
use crate::value::{Data, TypeError, TypeInfo, Value};

/// Named input values for a run.
///
/// ```
/// let inputs = nodefusion::Inputs::new().with("x", 5i64).with("name", "a".to_string());
/// assert_eq!(inputs.names().collect::<Vec<_>>(), vec!["name", "x"]);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    values: BTreeMap<String, (Value, TypeInfo)>,
}

impl Inputs {
    /// No inputs.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) input `name`.
    pub fn with<T: Data>(mut self, name: impl Into<String>, value: T) -> Self {
        self.insert(name, value);
        self
    }

    /// Adds (or replaces) input `name`.
    pub fn insert<T: Data>(&mut self, name: impl Into<String>, value: T) {
        self.values
            .insert(name.into(), (Value::new(value), TypeInfo::of::<T>()));
    }

    /// Adds an already type-erased value.
    pub fn insert_value(&mut self, name: impl Into<String>, value: Value, ty: TypeInfo) {
        self.values.insert(name.into(), (value, ty));
    }

    /// The value and type of input `name`.
    pub fn get(&self, name: &str) -> Option<(&Value, TypeInfo)> {
        self.values.get(name).map(|(v, t)| (v, *t))
    }

    /// The input names, sorted.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }
}

/// The values a run produced, and its [`RunReport`].
#[derive(Debug)]
pub struct Outputs {
    values: BTreeMap<String, (Value, TypeInfo)>,
    report: RunReport,
}

impl Outputs {
    pub(crate) fn new(values: BTreeMap<String, (Value, TypeInfo)>, report: RunReport) -> Self {
        Outputs { values, report }
    }

    /// Borrows output `name` as `T`.
    pub fn get<T: Data>(&self, name: &str) -> Result<&T, Error> {
        let (value, ty) = self.values.get(name).ok_or_else(|| self.unknown(name))?;
        value.downcast_ref::<T>().ok_or_else(|| {
            Error::Type(TypeError {
                expected: std::any::type_name::<T>(),
                context: Some(format!("output '{name}' (which is {ty})")),
            })
        })
    }

    /// Takes output `name` as `T`.
    pub fn take<T: Data>(&mut self, name: &str) -> Result<T, Error> {
        self.get::<T>(name)?;
        let (value, _) = self.values.remove(name).ok_or_else(|| self.unknown(name))?;
        value.take::<T>().ok_or_else(|| self.unknown(name))
    }

    /// The type-erased value and type of output `name`.
    pub fn value(&self, name: &str) -> Option<(&Value, TypeInfo)> {
        self.values.get(name).map(|(v, t)| (v, *t))
    }

    /// The output names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.values.keys().map(String::as_str).collect()
    }

    /// Every output as JSON (through serde), for comparisons and display.
    pub fn to_json(&self) -> BTreeMap<String, serde_json::Value> {
        self.values
            .iter()
            .map(|(name, (value, ty))| (name.clone(), ty.to_json(value).unwrap_or(serde_json::Value::Null)))
            .collect()
    }

    /// Per-node statistics of the run.
    pub fn report(&self) -> &RunReport {
        &self.report
    }

    fn unknown(&self, name: &str) -> Error {
        Error::UnknownOutput {
            name: name.into(),
            available: self.values.keys().cloned().collect(),
        }
    }
}
