//! The canonical JSON encoding of custody records: compact, object keys in byte order at
//! every depth, strings and numbers as serde_json writes them.
//!
//! The key order is sorted here, explicitly, so that the bytes (and every digest over them)
//! do not depend on how serde_json's `Map` happens to be built: with its `preserve_order`
//! feature, which any crate in the build may turn on, it would keep insertion order.

use serde_json::Value;

/// The canonical bytes of a JSON value (docs/FORMAT.md, "Custody events", "Encoding").
pub fn canonical_json(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write(item, out);
            }
            out.push(b']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                scalar(&Value::String(key.clone()), out);
                out.push(b':');
                write(&map[key], out);
            }
            out.push(b'}');
        }
        other => scalar(other, out),
    }
}

/// null, booleans, numbers and strings: serde_json's own compact form.
fn scalar(value: &Value, out: &mut Vec<u8>) {
    // Writing a scalar JSON value into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn keys_are_sorted_at_every_depth_and_output_is_compact() {
        let value = serde_json::json!({"b": 1, "a": {"y": [true, null, "é\u{1}"], "x": -2.5}});
        let expected = "{\"a\":{\"x\":-2.5,\"y\":[true,null,\"é\\u0001\"]},\"b\":1}";
        assert_eq!(String::from_utf8(canonical_json(&value)).unwrap(), expected);
    }

    proptest! {
        /// Equal to serde_json's own output for maps it keeps sorted: the encoding of every
        /// event written so far is unchanged.
        #[test]
        fn agrees_with_serde_json_over_sorted_maps(keys in proptest::collection::vec("[a-z_]{0,6}", 0..6), n: i64, s in "\\PC{0,12}") {
            let mut map = serde_json::Map::new();
            for (i, k) in keys.iter().enumerate() {
                map.insert(k.clone(), if i % 2 == 0 { Value::from(n) } else { Value::from(s.clone()) });
            }
            let value = Value::Array(vec![Value::Object(map), Value::from(s.clone())]);
            prop_assert_eq!(canonical_json(&value), serde_json::to_vec(&value).unwrap());
        }
    }
}
