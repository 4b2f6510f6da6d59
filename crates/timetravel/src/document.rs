//! A stream's document: each event's `data` applied in order as an RFC
//! 7396 JSON Merge Patch onto the document so far (`null` removes a
//! field; data that is not an object replaces the whole document). The
//! write set comes from the patch itself: only the members it names can
//! change, so an event costs the size of its data, not of the document.

use serde_json::Value;

use crate::pointer;
use crate::writeset::{self, LeafChange};

/// The document before any event.
pub fn init() -> Value {
    Value::Object(Default::default())
}

/// Applies `patch` to `doc` and returns what it changed. Only the
/// members the patch names are compared, so the cost is the size of
/// those members, not of the document.
pub fn apply(doc: &mut Value, patch: &Value) -> Vec<LeafChange> {
    let mut out = Vec::new();
    let Value::Object(members) = patch else {
        writeset::walk(Some(doc), Some(patch), &mut String::new(), &mut out);
        *doc = patch.clone();
        return out;
    };
    if !doc.is_object() {
        // Not a document yet (data that was not an object): compare whole.
        let before = doc.clone();
        json_patch::merge(doc, patch);
        writeset::walk(Some(&before), Some(doc), &mut String::new(), &mut out);
        return out;
    }
    let leaf_before = (!writeset::is_container(doc)).then(|| doc.clone());
    let mut at = String::new();
    if let Value::Object(target) = doc {
        for (key, value) in members {
            let before = target.get(key).cloned();
            let mut child = target.remove(key).unwrap_or(Value::Null);
            json_patch::merge(&mut child, value);
            let after = (!value.is_null()).then_some(child);
            pointer::push(&mut at, key);
            writeset::walk(before.as_ref(), after.as_ref(), &mut at, &mut out);
            at.clear();
            if let Some(child) = after {
                target.insert(key.clone(), child);
            }
        }
    }
    let leaf_after = (!writeset::is_container(doc)).then(|| doc.clone());
    if leaf_before != leaf_after {
        out.push(LeafChange { pointer: String::new(), old: leaf_before, new: leaf_after });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The document and its write set agree with RFC 7396 and with a
    /// whole-value diff.
    fn check(doc: Value, patch: Value) {
        let mut want = doc.clone();
        json_patch::merge(&mut want, &patch);
        let mut got = doc.clone();
        let changes = apply(&mut got, &patch);
        assert_eq!(got, want, "merge of {patch} onto {doc}");
        let mut sorted = changes.clone();
        sorted.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        let mut whole = writeset::changes(Some(&doc), Some(&want));
        whole.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        assert_eq!(sorted, whole, "write set of {patch} onto {doc}");
    }

    #[test]
    fn merge_patches_and_their_write_sets() {
        check(json!({}), json!({"a": 1}));
        check(json!({"a": {"b": 1}}), json!({"a": {"b": null}}));
        check(json!({"a": {"b": 1}}), json!({"a": 3}));
        check(json!({"a": 3}), json!({"a": {"b": {"c": 1}}}));
        check(json!({"a": [1, 2]}), json!({"a": [3]}));
        check(json!({"a": 1}), json!([1]));
        check(json!([1]), json!({"b": 2}));
        check(json!({"a": 1}), json!({"a": null, "b": null}));
        check(json!({"a": {}}), json!({"a": {"x": null}}));
        check(json!({"a": {"x": 1}}), json!({"a": {"x": null}, "b": {}}));
    }
}
