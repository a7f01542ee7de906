//! Secondary indexes of the embedded engine: for a declared type and property, one entry per
//! object of the type, keyed by the property's value, written in the same transaction as the
//! object. A query with an equality, `in` or range filter on an indexed property scans just the
//! matching entries instead of every object of the type, and a page sorted by the property reads
//! them in order.
//!
//! Type names here are scoped to their tenant (`<tenant>\0<type>`, see `super::scoped`), so
//! every key and every declared index belongs to one tenant.
//!
//! Entries are `<scoped type>/<property length><property><value><id>`, with the value in an
//! order-preserving, self-delimiting encoding: null (and a missing property) < false < true <
//! numbers (by value) < strings (by bytes) < arrays and objects (not searchable). The index only
//! narrows the candidates: every candidate is checked against the whole query, so a value the
//! encoding conflates (integers beyond 2^53) is never a wrong answer.

use crate::{Error, Filter, Object, Op, Result};
use parking_lot::RwLock;
use serde_json::Value;
use std::collections::BTreeMap;
use std::ops::Bound;

pub(super) const NULL: u8 = 1;
pub(super) const BOOL: u8 = 2;
const NUMBER: u8 = 3;
const STRING: u8 = 4;
pub(super) const OTHER: u8 = 5;

/// The declared indexes, as stored, and whether each is ready: writes keep the entries of every
/// declared index, queries use only those whose existing objects are all indexed.
#[derive(Default)]
pub(super) struct Catalogue {
    by_type: RwLock<BTreeMap<String, BTreeMap<String, bool>>>,
}

/// A key range of one index to scan.
pub(super) type Range = (Bound<Vec<u8>>, Bound<Vec<u8>>);

impl Catalogue {
    /// Every declared property of `type_name`, ready or not: what a write keeps entries for.
    pub(super) fn of(&self, type_name: &str) -> Vec<String> {
        let by_type = self.by_type.read();
        (by_type.get(type_name)).map_or_else(Vec::new, |props| props.keys().cloned().collect())
    }

    /// Whether queries may use the index of `property` on `type_name`.
    pub(super) fn is_ready(&self, type_name: &str, property: &str) -> bool {
        let by_type = self.by_type.read();
        by_type.get(type_name).and_then(|props| props.get(property)) == Some(&true)
    }

    /// Every ready index whose scoped type starts with `scope`, as (type without the scope,
    /// property).
    pub(super) fn all(&self, scope: &str) -> Vec<(String, String)> {
        let by_type = self.by_type.read();
        (by_type.iter())
            .filter_map(|(t, props)| Some((t.strip_prefix(scope)?, props)))
            .flat_map(|(t, props)| {
                (props.iter().filter(|(_, ready)| **ready))
                    .map(move |(p, _)| (t.to_owned(), p.clone()))
            })
            .collect()
    }

    /// Forgets every index whose scoped type starts with `scope`.
    pub(super) fn forget_scope(&self, scope: &str) {
        let mut by_type = self.by_type.write();
        by_type.retain(|t, _| !t.starts_with(scope));
    }

    /// Records an index as declared (`ready`: usable by queries); false if it was already
    /// there in that state.
    pub(super) fn set(&self, type_name: &str, property: &str, ready: bool) -> bool {
        let mut by_type = self.by_type.write();
        let props = by_type.entry(type_name.to_owned()).or_default();
        props.insert(property.to_owned(), ready) != Some(ready)
    }

    /// Forgets an index; false if there was none.
    pub(super) fn forget(&self, type_name: &str, property: &str) -> bool {
        let mut by_type = self.by_type.write();
        (by_type.get_mut(type_name)).is_some_and(|props| props.remove(property).is_some())
    }

    /// The index to use for a query's filters and the ranges of it to scan: an equality or
    /// `in` filter's if there is one on an indexed property, else the intersection of the
    /// range filters on the first indexed property that has some; `None` if no index helps.
    pub(super) fn plan(&self, type_name: &str, filters: &[Filter]) -> Option<(String, Vec<Range>)> {
        let ready = |column: &str| self.is_ready(type_name, column);
        let indexed = || filters.iter().filter(|f| ready(&f.column));
        if let Some(exact) = indexed()
            .filter(|f| matches!(f.op, Op::Eq | Op::In))
            .find_map(|f| Some((f.column.clone(), ranges(type_name, f)?)))
        {
            return Some(exact);
        }
        let column = &indexed().find(|f| ranges(type_name, f).is_some())?.column;
        let mut bounds: Option<Range> = None;
        for filter in filters.iter().filter(|f| &f.column == column) {
            let Some(ranges) = ranges(type_name, filter) else {
                continue;
            };
            let Some(range) = ranges.into_iter().next() else {
                return Some((column.clone(), Vec::new()));
            };
            bounds = Some(match bounds {
                None => range,
                Some(both) => (later(both.0, range.0), earlier(both.1, range.1)),
            });
        }
        let nonempty = |(start, end): &Range| match (start, end) {
            (Bound::Included(start), Bound::Excluded(end)) => start < end,
            _ => true,
        };
        Some((
            column.clone(),
            bounds.into_iter().filter(nonempty).collect(),
        ))
    }
}

/// The entry key of one index holding values of one tag (`NULL`, `BOOL`, ...) from here.
pub(super) fn at(head: &[u8], tag: u8) -> Vec<u8> {
    [head, &[tag]].concat()
}

/// An entry's key up to its id: the same for every object with the same value.
pub(super) fn value_prefix(head_len: usize, key: &[u8]) -> Result<Vec<u8>> {
    let id = id_of_entry(head_len, key)?;
    Ok(key[..key.len() - id.len()].to_vec())
}

/// The later of two range starts (both `Included`, as [`ranges`] makes them).
fn later(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (a, b) {
        (Bound::Included(a), Bound::Included(b)) => Bound::Included(a.max(b)),
        (a, _) => a,
    }
}

/// The earlier of two range ends (both `Excluded`, as [`ranges`] makes them).
fn earlier(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (a, b) {
        (Bound::Excluded(a), Bound::Excluded(b)) => Bound::Excluded(a.min(b)),
        (a, _) => a,
    }
}

pub(super) fn definition(type_name: &str, property: &str) -> Vec<u8> {
    [type_name.as_bytes(), b"\0", property.as_bytes()].concat()
}

pub(super) fn split_definition(key: &[u8]) -> Result<(String, String)> {
    let text = std::str::from_utf8(key)
        .map_err(|_| Error::Corrupt(format!("index definition {key:?} is not UTF-8")))?;
    let (type_name, property) = text
        .rsplit_once('\0')
        .ok_or_else(|| Error::Corrupt(format!("index definition `{text}` has no separator")))?;
    Ok((type_name.to_owned(), property.to_owned()))
}

/// Where the entries of one index start.
pub(super) fn head(type_name: &str, property: &str) -> Vec<u8> {
    let length = (property.len() as u32).to_be_bytes();
    [type_name.as_bytes(), b"/", &length, property.as_bytes()].concat()
}

/// The entry of `object` in the index of `property`.
pub(super) fn entry(type_name: &str, property: &str, object: &Object, id: &str) -> Vec<u8> {
    let mut key = head(type_name, property);
    encode(object.get(property), &mut key);
    key.extend_from_slice(id.as_bytes());
    key
}

/// The object id an entry of the index starting with `head` points at.
pub(super) fn id_of_entry(head_len: usize, key: &[u8]) -> Result<&str> {
    let value = &key[head_len.min(key.len())..];
    let length = match value.first() {
        Some(&NULL | &OTHER) => 1,
        Some(&BOOL) => 2,
        Some(&NUMBER) => 9,
        Some(&STRING) => {
            let mut i = 1;
            loop {
                match (value.get(i), value.get(i + 1)) {
                    (Some(0), Some(0)) => break i + 2,
                    (Some(0), Some(_)) => i += 2,
                    (Some(_), _) => i += 1,
                    (None, _) => break value.len(),
                }
            }
        }
        _ => value.len(),
    };
    std::str::from_utf8(&value[length.min(value.len())..])
        .map_err(|_| Error::Corrupt(format!("index entry {key:?} holds no id")))
}

fn encode(value: Option<&Value>, out: &mut Vec<u8>) {
    match value {
        None | Some(Value::Null) => out.push(NULL),
        Some(Value::Bool(b)) => out.extend_from_slice(&[BOOL, u8::from(*b)]),
        Some(Value::Number(n)) => {
            out.push(NUMBER);
            out.extend_from_slice(&ordered(n.as_f64().unwrap_or(0.0)));
        }
        Some(Value::String(s)) => {
            out.push(STRING);
            for &byte in s.as_bytes() {
                out.push(byte);
                if byte == 0 {
                    out.push(0xFF);
                }
            }
            out.extend_from_slice(&[0, 0]);
        }
        Some(_) => out.push(OTHER),
    }
}

/// An f64's bytes in an order that sorts like the numbers.
fn ordered(number: f64) -> [u8; 8] {
    let number = if number == 0.0 { 0.0 } else { number };
    let bits = number.to_bits();
    let flipped = if bits >> 63 == 1 {
        !bits
    } else {
        bits | 1 << 63
    };
    flipped.to_be_bytes()
}

/// The key ranges holding every object `filter` can match, if an index can narrow it.
fn ranges(type_name: &str, filter: &Filter) -> Option<Vec<Range>> {
    let head = head(type_name, &filter.column);
    let with = |bytes: &[u8]| [head.as_slice(), bytes].concat();
    let exactly = |value: &Value| -> Option<Range> {
        if matches!(value, Value::Array(_) | Value::Object(_)) {
            return None;
        }
        let mut prefix = head.clone();
        encode(Some(value), &mut prefix);
        let mut end = prefix.clone();
        end.push(0xFF);
        Some((Bound::Included(prefix), Bound::Excluded(end)))
    };
    // Range filters match numbers with numbers and strings with strings only.
    let (kind, next_kind) = match &filter.value {
        Value::Number(_) => (NUMBER, STRING),
        Value::String(_) => (STRING, OTHER),
        _ => (0, 0),
    };
    let at = |tail: u8| {
        let mut key = head.clone();
        encode(Some(&filter.value), &mut key);
        key.push(tail);
        key
    };
    match filter.op {
        Op::Eq => Some(vec![exactly(&filter.value)?]),
        Op::In => filter.value.as_array()?.iter().map(exactly).collect(),
        Op::Neq | Op::Contains | Op::Like | Op::Ilike => None,
        _ if kind == 0 => Some(Vec::new()),
        Op::Gt | Op::Gte => Some(vec![(
            Bound::Included(at(0)),
            Bound::Excluded(with(&[next_kind])),
        )]),
        Op::Lt | Op::Lte => Some(vec![(
            Bound::Included(with(&[kind])),
            Bound::Excluded(at(0xFF)),
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::ops::RangeBounds;

    fn key(value: Value) -> Vec<u8> {
        let object = json!({"p": value});
        entry("T", "p", object.as_object().unwrap(), "id")
    }

    #[test]
    fn entries_sort_like_their_values_and_give_back_their_id() {
        let values = [
            json!(null),
            json!(false),
            json!(true),
            json!(-1e9),
            json!(-2),
            json!(0),
            json!(0.5),
            json!(3),
            json!(1e12),
            json!(""),
            json!("a"),
            json!("a\u{0}b"),
            json!("ab"),
            json!("b"),
            json!([1]),
        ];
        let keys: Vec<Vec<u8>> = values.iter().cloned().map(key).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        let head = head("T", "p").len();
        for key in &keys {
            assert_eq!(id_of_entry(head, key).unwrap(), "id");
        }
    }

    #[test]
    fn ranges_cover_exactly_the_candidates() {
        let filter = |op, value| Filter {
            column: "p".into(),
            op,
            value,
        };
        let contains = |ranges: &[Range], value: Value| {
            let key = key(value);
            (ranges.iter()).any(|(start, end)| {
                RangeBounds::<Vec<u8>>::contains(&(start.as_ref(), end.as_ref()), &key)
            })
        };
        let gt = ranges("T", &filter(Op::Gt, json!(2))).unwrap();
        assert!(contains(&gt, json!(3)) && contains(&gt, json!(2)));
        assert!(!contains(&gt, json!(1)) && !contains(&gt, json!("3")));
        let lt = ranges("T", &filter(Op::Lte, json!("m"))).unwrap();
        assert!(contains(&lt, json!("m")) && contains(&lt, json!("a")));
        assert!(!contains(&lt, json!("ma")) && !contains(&lt, json!(1)));
        let any = ranges("T", &filter(Op::In, json!(["5", 5]))).unwrap();
        assert!(contains(&any, json!(5)) && contains(&any, json!("5")));
        assert!(!contains(&any, json!(6)));
        assert!(ranges("T", &filter(Op::Neq, json!(1))).is_none());
    }
}
