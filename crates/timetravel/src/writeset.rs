//! What an event changed: the leaves of the state whose value differs
//! before and after it. A leaf is a scalar or an empty object or array;
//! a non-empty container is the sum of its leaves, so replacing
//! `{"a": {"b": 1}}` with `{"a": 5}` is two changes: `/a/b` from 1 to
//! missing and `/a` from missing to 5. Blame of any pointer is then the
//! newest change at or under it.

use serde::Serialize;
use serde_json::Value;

use crate::pointer;

/// One leaf whose value changed; `None` is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeafChange {
    pub pointer: String,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// The leaves that differ between `before` and `after`, in pointer
/// order within each object (arrays by index).
pub fn changes(before: Option<&Value>, after: Option<&Value>) -> Vec<LeafChange> {
    let mut out = Vec::new();
    walk(before, after, &mut String::new(), &mut out);
    out
}

/// Adds the changes between `before` and `after`, both at `at`.
pub fn walk(before: Option<&Value>, after: Option<&Value>, at: &mut String, out: &mut Vec<LeafChange>) {
    if before == after {
        return;
    }
    let (b_inner, a_inner) = (before.filter(|v| is_container(v)), after.filter(|v| is_container(v)));
    let (b_leaf, a_leaf) = (before.filter(|v| !is_container(v)), after.filter(|v| !is_container(v)));
    if b_leaf != a_leaf {
        out.push(LeafChange { pointer: at.clone(), old: b_leaf.cloned(), new: a_leaf.cloned() });
    }
    if b_inner.is_none() && a_inner.is_none() {
        return;
    }
    let len = at.len();
    let mut child = |token: &str, b: Option<&Value>, a: Option<&Value>, out: &mut Vec<LeafChange>| {
        pointer::push(at, token);
        walk(b, a, at, out);
        at.truncate(len);
    };
    match (b_inner, a_inner) {
        (Some(Value::Array(b)), Some(Value::Array(a))) => {
            for i in 0..b.len().max(a.len()) {
                child(&i.to_string(), b.get(i), a.get(i), out);
            }
        }
        _ => {
            // Objects, or a container replaced by another kind: every
            // child of either side.
            for (token, b) in children(b_inner) {
                child(&token, Some(b), child_of(a_inner, &token), out);
            }
            for (token, a) in children(a_inner) {
                if child_of(b_inner, &token).is_none() {
                    child(&token, None, Some(a), out);
                }
            }
        }
    }
}

/// A non-empty object or array: its value is its leaves.
pub fn is_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => !m.is_empty(),
        Value::Array(a) => !a.is_empty(),
        _ => false,
    }
}

fn children(v: Option<&Value>) -> Vec<(String, &Value)> {
    match v {
        Some(Value::Object(m)) => m.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Some(Value::Array(a)) => a.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => Vec::new(),
    }
}

fn child_of<'a>(v: Option<&'a Value>, token: &str) -> Option<&'a Value> {
    match v {
        Some(Value::Object(m)) => m.get(token),
        Some(Value::Array(a)) => token.parse::<usize>().ok().and_then(|i| a.get(i)),
        _ => None,
    }
}

/// Every leaf of `value` with its pointer: the spec [`changes`] meets
/// (its changes are exactly the leaves whose values differ).
pub fn leaves(value: &Value) -> std::collections::BTreeMap<String, Value> {
    fn go(v: &Value, at: &mut String, out: &mut std::collections::BTreeMap<String, Value>) {
        if !is_container(v) {
            out.insert(at.clone(), v.clone());
            return;
        }
        let len = at.len();
        for (token, child) in children(Some(v)) {
            pointer::push(at, &token);
            go(child, at, out);
            at.truncate(len);
        }
    }
    let mut out = std::collections::BTreeMap::new();
    go(value, &mut String::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_container_replaced_by_a_scalar_is_its_leaves_removed_and_the_scalar_set() {
        let got = changes(Some(&json!({"a": {"b": 1, "c": [2]}, "d": 1})), Some(&json!({"a": 5, "d": 1})));
        let want = vec![
            LeafChange { pointer: "/a".into(), old: None, new: Some(json!(5)) },
            LeafChange { pointer: "/a/b".into(), old: Some(json!(1)), new: None },
            LeafChange { pointer: "/a/c/0".into(), old: Some(json!(2)), new: None },
        ];
        assert_eq!(got, want);
        assert!(changes(Some(&json!({"x": [1, {}]})), Some(&json!({"x": [1, {}]}))).is_empty());
        assert_eq!(
            changes(None, Some(&json!({}))),
            vec![LeafChange { pointer: "".into(), old: None, new: Some(json!({})) }]
        );
    }
}
