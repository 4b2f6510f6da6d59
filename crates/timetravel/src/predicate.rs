//! Conditions on the value at a pointer, for watch: "when did /balance
//! first go below zero".

use std::cmp::Ordering;

use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    /// The value changed (any leaf at or under the pointer).
    Changed,
    Exists,
    Missing,
}

impl std::str::FromStr for Op {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "lt" => Op::Lt,
            "le" => Op::Le,
            "gt" => Op::Gt,
            "ge" => Op::Ge,
            "changed" => Op::Changed,
            "exists" => Op::Exists,
            "missing" => Op::Missing,
            other => return Err(format!("op {other:?}: use eq, ne, lt, le, gt, ge, changed, exists or missing")),
        })
    }
}

/// An op and, for the comparisons, the value compared with.
#[derive(Debug, Clone, PartialEq)]
pub struct Predicate {
    pub op: Op,
    pub value: Option<Value>,
}

impl Predicate {
    /// Refuses a comparison without a value.
    pub fn new(op: Op, value: Option<Value>) -> Result<Self, String> {
        let needs = matches!(op, Op::Eq | Op::Ne | Op::Lt | Op::Le | Op::Gt | Op::Ge);
        if needs && value.is_none() {
            return Err(format!("op {op:?} compares with a value: give value=<JSON>").to_lowercase());
        }
        if value.as_ref().is_some_and(crate::writeset::is_container) {
            return Err("compare with a single value (a number, string, boolean, null, {} or []), not an object or array that has members".into());
        }
        Ok(Predicate { op, value: if needs { value } else { None } })
    }

    /// From the API's and the CLI's text: an op name and, for the
    /// comparisons, a JSON value (`0`, `"cancelled"`).
    pub fn parse(op: &str, value: Option<&str>) -> Result<Self, String> {
        let op: Op = op.parse()?;
        let value = value
            .map(serde_json::from_str::<Value>)
            .transpose()
            .map_err(|e| format!("value must be JSON (quote a string: \"closed\"): {e}"))?;
        Predicate::new(op, value)
    }

    /// Whether the state predicate holds for `v` (missing: None). Numbers
    /// compare as numbers, strings as strings; values of other kinds, or
    /// of different kinds, are never less or greater. `changed` is not a
    /// state predicate (see [`Predicate::is_change`]).
    pub fn holds(&self, v: Option<&Value>) -> bool {
        let target = self.value.as_ref();
        match self.op {
            Op::Exists => v.is_some(),
            Op::Missing => v.is_none(),
            Op::Changed => false,
            Op::Eq => v == target,
            Op::Ne => v != target,
            Op::Lt => order(v, target) == Some(Ordering::Less),
            Op::Le => matches!(order(v, target), Some(Ordering::Less | Ordering::Equal)),
            Op::Gt => order(v, target) == Some(Ordering::Greater),
            Op::Ge => matches!(order(v, target), Some(Ordering::Greater | Ordering::Equal)),
        }
    }

    /// Whether it holds for a non-empty object or array: it exists, and
    /// is neither equal nor ordered to any value.
    pub fn holds_for_container(&self) -> bool {
        matches!(self.op, Op::Exists | Op::Ne)
    }

    pub fn is_change(&self) -> bool {
        self.op == Op::Changed
    }
}

fn order(a: Option<&Value>, b: Option<&Value>) -> Option<Ordering> {
    match (a?, b?) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn comparisons_hold_only_between_values_of_one_kind() {
        let lt0 = Predicate::new(Op::Lt, Some(json!(0))).unwrap();
        assert!(lt0.holds(Some(&json!(-1.5))));
        assert!(!lt0.holds(Some(&json!(0))));
        assert!(!lt0.holds(Some(&json!("-1"))));
        assert!(!lt0.holds(None));
        assert!(Predicate::new(Op::Ne, Some(json!(1))).unwrap().holds(None));
        assert!(Predicate::new(Op::Gt, None).is_err());
        assert!("between".parse::<Op>().is_err());
    }
}
