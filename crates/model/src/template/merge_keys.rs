//! YAML merge keys (`<<: *defaults`) in templates, applied the way Ruby's Psych applies them
//! when Tasker loads the same file, so a template reads the same in both.
//!
//! serde_yaml_ng expands aliases but leaves `<<` as an ordinary key, which then failed the
//! step's decoding ("missing field `handler_class`") for a template Tasker loads. Psych's
//! rules (`Psych::Visitors::ToRuby#revive_hash`), which differ from the YAML 1.1 draft's in
//! one place: keys are taken in order, so a key written *before* `<<` is overridden by the
//! merged mapping, and one written after it overrides the merged value.
//! - `<<: {mapping}` (or an alias of one): its keys are merged in.
//! - `<<: [mappings]`: merged in, the earlier mapping winning where they share a key.
//! - anything else (a scalar, a list holding a non-mapping): kept as a key named `<<`, which
//!   a template ignores as it ignores every key it does not know.
//!
//! Must not decode or judge the template: that is `parse` and `validate`.

use serde_yaml_ng::{Mapping, Value};

/// The key that merges.
const MERGE: &str = "<<";

/// Applies every merge key in `value`, innermost first (a merged mapping's own merges are
/// applied before it is merged, as Psych revives an anchored mapping before its alias).
/// Nesting is bounded by the YAML parser's recursion limit.
pub(super) fn apply_merge_keys(value: &mut Value) {
    match value {
        Value::Sequence(items) => items.iter_mut().for_each(apply_merge_keys),
        Value::Tagged(tagged) => apply_merge_keys(&mut tagged.value),
        Value::Mapping(map) => {
            let entries = std::mem::take(map);
            for (key, mut value) in entries {
                apply_merge_keys(&mut value);
                if key.as_str() != Some(MERGE) {
                    map.insert(key, value);
                    continue;
                }
                match merged(value) {
                    Ok(merged) => merged.into_iter().for_each(|(k, v)| {
                        map.insert(k, v);
                    }),
                    Err(value) => {
                        map.insert(key, value);
                    }
                }
            }
        }
        _ => {}
    }
}

/// What a `<<` value merges in, or the value back when it merges nothing.
fn merged(value: Value) -> Result<Mapping, Value> {
    match value {
        Value::Mapping(mapping) => Ok(mapping),
        Value::Sequence(items) if items.iter().all(Value::is_mapping) => {
            let mut merged = Mapping::new();
            for item in items.into_iter().rev() {
                if let Value::Mapping(mapping) = item {
                    merged.extend(mapping);
                }
            }
            Ok(merged)
        }
        other => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::apply_merge_keys;
    use serde_yaml_ng::Value;

    fn merged(yaml: &str) -> Value {
        let mut value: Value = serde_yaml_ng::from_str(yaml).unwrap();
        apply_merge_keys(&mut value);
        value
    }

    fn yaml(text: &str) -> Value {
        serde_yaml_ng::from_str(text).unwrap()
    }

    // Each expected value is what `YAML.unsafe_load` (Psych 4, Debian's Ruby 3.1) gives.
    #[test]
    fn merges_as_psych_does() {
        let cases = [
            // an alias, then a key of its own that wins
            (
                "d: &d {a: 1, b: 2}\nx: {<<: *d, b: 3}",
                "d: {a: 1, b: 2}\nx: {a: 1, b: 3}",
            ),
            // a key written before `<<` is overridden by the merge (Psych's order)
            ("x: {b: 3, <<: {a: 1, b: 2}}", "x: {b: 2, a: 1}"),
            // a list: the earlier mapping wins
            ("x: {<<: [{a: 1}, {a: 2, c: 3}]}", "x: {a: 1, c: 3}"),
            // a merged mapping's own merge is applied first
            (
                "b: &b {z: 9}\nd: &d {<<: *b, a: 1}\nx: {<<: *d}",
                "b: {z: 9}\nd: {z: 9, a: 1}\nx: {z: 9, a: 1}",
            ),
            // nothing to merge: kept as a key
            ("x: {<<: 5}", "x: {'<<': 5}"),
            ("x: {<<: [{a: 1}, 2]}", "x: {'<<': [{a: 1}, 2]}"),
            // inside lists
            (
                "s: &s {retryable: true}\nl: [{<<: *s, name: a}, {<<: *s, name: b}]",
                "s: {retryable: true}\nl: [{retryable: true, name: a}, {retryable: true, name: b}]",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(merged(input), yaml(expected), "{input}");
        }
    }

    #[test]
    fn leaves_a_document_without_merge_keys_as_it_was() {
        let text = "name: t\nstep_templates:\n  - {name: a, handler_class: A}\n  - [1, {b: 2}]";
        assert_eq!(merged(text), yaml(text));
    }
}
