//! Queries: equality and operator filters, sort, limit, offset, total.
//!
//! Parsing lives here for both shapes users send (REST query strings and the JSON body that
//! plugins and `POST .../query` use), together with matching and paging, so both shapes mean
//! exactly the same thing.

use crate::{Error, Object, Result};
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    In,
    /// SQL's `LIKE` on text: `%` any run of characters, `_` one character.
    Like,
    /// `LIKE`, ignoring case.
    Ilike,
}

impl Op {
    const ALL: [(&str, Op); 10] = [
        ("eq", Op::Eq),
        ("neq", Op::Neq),
        ("gt", Op::Gt),
        ("gte", Op::Gte),
        ("lt", Op::Lt),
        ("lte", Op::Lte),
        ("contains", Op::Contains),
        ("in", Op::In),
        ("like", Op::Like),
        ("ilike", Op::Ilike),
    ];

    /// The operator's name, as queries write it.
    pub fn name(self) -> &'static str {
        let named = Op::ALL.iter().find(|(_, op)| *op == self);
        named.map_or("eq", |(name, _)| name)
    }

    /// Parses an operator name, case-insensitively.
    pub fn parse(name: &str) -> Option<Op> {
        Op::ALL
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, op)| *op)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    pub value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Order {
    #[default]
    Asc,
    Desc,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    pub filters: Vec<Filter>,
    pub sort: Option<String>,
    pub order: Order,
    pub limit: Option<usize>,
    pub offset: usize,
    /// Whether [`Page::total`] must count every match. Without it an unsorted query stops
    /// scanning once its page is full, and `total` counts only what was scanned.
    pub total: bool,
}

/// One page of results and how many matched in all.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Page {
    pub result: Vec<Object>,
    pub total: usize,
}

const QUERY_KEYS: [&str; 6] = ["filters", "sort", "order", "limit", "offset", "total"];
const FILTER_KEYS: [&str; 3] = ["column", "operator", "value"];

fn bad(message: String) -> Error {
    Error::BadQuery(message)
}

impl Query {
    /// Parses the JSON query shape used by `POST /api/objects/{Type}/query` and by plugins'
    /// `find`: `{"filters": [{"column", "operator", "value"}] | {"prop": value}, "sort",
    /// "order", "limit", "offset", "total"}`, or a bare `{"prop": value}` equality object.
    pub fn from_json(json: &Value) -> Result<Query> {
        let Value::Object(map) = json else {
            return Err(bad(format!("query must be a JSON object, not {json}")));
        };
        if !QUERY_KEYS.iter().any(|key| map.contains_key(*key)) {
            return Ok(Query {
                filters: equality_filters(map),
                ..Query::default()
            });
        }
        if let Some(key) = map.keys().find(|key| !QUERY_KEYS.contains(&key.as_str())) {
            return Err(bad(format!(
                "unknown query key `{key}`; expected filters, sort, order, limit, offset or total \
                 (put property filters under `filters`)"
            )));
        }
        let filters = match map.get("filters") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Object(equal)) => equality_filters(equal),
            Some(Value::Array(list)) => list
                .iter()
                .enumerate()
                .map(|(i, filter)| parse_filter(i, filter))
                .collect::<Result<_>>()?,
            Some(other) => {
                return Err(bad(format!(
                    "`filters` must be a list of {{column, operator, value}} or an object of \
                     property: value, not {other}"
                )));
            }
        };
        let sort = match map.get("sort") {
            None | Some(Value::Null) => None,
            Some(Value::String(prop)) => Some(prop.clone()),
            Some(other) => return Err(bad(format!("`sort` must be a property name, not {other}"))),
        };
        let order = match map.get("order") {
            None | Some(Value::Null) => Order::Asc,
            Some(Value::String(order)) => parse_order("order", order)?,
            Some(other) => {
                return Err(bad(format!("`order` must be `asc` or `desc`, not {other}")));
            }
        };
        let count = |key: &str| match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .map(Some)
                .ok_or_else(|| {
                    bad(format!(
                        "`{key}` must be a non-negative integer, not {value}"
                    ))
                }),
        };
        let total = match map.get("total") {
            None | Some(Value::Null) => false,
            Some(Value::Bool(total)) => *total,
            Some(other) => return Err(bad(format!("`total` must be true or false, not {other}"))),
        };
        Ok(Query {
            filters,
            sort,
            order,
            limit: count("limit")?,
            offset: count("offset")?.unwrap_or(0),
            total,
        })
    }

    /// The query in the shape [`Query::from_json`] reads (without `total`), for plugins.
    pub fn to_json(&self) -> Value {
        let filters = self.filters.iter().map(|filter| {
            serde_json::json!({
                "column": filter.column,
                "operator": filter.op.name(),
                "value": filter.value,
            })
        });
        let mut map = Map::new();
        map.insert("filters".into(), Value::Array(filters.collect()));
        if let Some(sort) = &self.sort {
            map.insert("sort".into(), Value::String(sort.clone()));
            let order = if self.order == Order::Desc {
                "desc"
            } else {
                "asc"
            };
            map.insert("order".into(), order.into());
        }
        if let Some(limit) = self.limit {
            map.insert("limit".into(), limit.into());
        }
        if self.offset > 0 {
            map.insert("offset".into(), self.offset.into());
        }
        Value::Object(map)
    }

    /// Parses REST query-string pairs: `prop=value` equality plus `_sort`, `_order`,
    /// `_limit`, `_offset`. Query strings carry only text, so `?value=21.5` also matches the
    /// number 21.5 and `?isEnabled=true` the boolean.
    pub fn from_params<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Query> {
        let mut query = Query::default();
        for (key, value) in params {
            match key {
                "_sort" => query.sort = Some(value.to_owned()),
                "_order" => query.order = parse_order("_order", value)?,
                "_limit" => query.limit = Some(parse_count(key, value)?),
                "_offset" => query.offset = parse_count(key, value)?,
                _ => query.filters.push(text_equality(key, value)),
            }
        }
        Ok(query)
    }

    /// Whether one object passes every filter.
    pub fn matches(&self, object: &Object) -> bool {
        self.filters.iter().all(|filter| filter.matches(object))
    }

    /// Filters `objects` (in creation order), sorts, and cuts out the requested page. Memory
    /// stays within a few pages whatever the number of matches.
    pub(crate) fn page(&self, objects: impl Iterator<Item = Result<Object>>) -> Result<Page> {
        let matching = objects.filter(|object| match object {
            Ok(object) => self.matches(object),
            Err(_) => true,
        });
        let end = self.limit.map(|l| self.offset.saturating_add(l));
        let Some(sort) = &self.sort else {
            // Unsorted: keep only the window; count past it only when `total` is asked for.
            let mut result = Vec::new();
            let mut total = 0;
            for object in matching {
                if !self.total && end.is_some_and(|end| total >= end) {
                    break;
                }
                let object = object?;
                if total >= self.offset && end.is_none_or(|end| total < end) {
                    result.push(object);
                }
                total += 1;
            }
            return Ok(Page { result, total });
        };
        // Stable sorts, so equal keys stay in creation order; with a limit, sort in batches
        // and keep only the first `end` rows of each.
        let sort_rows = |rows: &mut Vec<Object>| {
            rows.sort_by(|a, b| sort_order(a.get(sort), b.get(sort), self.order));
        };
        let mut result = Vec::new();
        let mut total = 0;
        for object in matching {
            result.push(object?);
            total += 1;
            if let Some(end) = end.filter(|&end| result.len() >= end.saturating_mul(2).max(64)) {
                sort_rows(&mut result);
                result.truncate(end);
            }
        }
        sort_rows(&mut result);
        let end = end.map_or(result.len(), |end| end.min(result.len()));
        let start = self.offset.min(end);
        result.truncate(end);
        result.drain(..start);
        Ok(Page { result, total })
    }
}

impl Filter {
    /// Whether `object` passes this filter. A missing property counts as `null`.
    pub fn matches(&self, object: &Object) -> bool {
        let actual = object.get(&self.column).unwrap_or(&Value::Null);
        let compare =
            |want: fn(Ordering) -> bool| compare_scalars(actual, &self.value).is_some_and(want);
        match self.op {
            Op::Eq => json_eq(actual, &self.value),
            Op::Neq => !json_eq(actual, &self.value),
            Op::Gt => compare(Ordering::is_gt),
            Op::Gte => compare(Ordering::is_ge),
            Op::Lt => compare(Ordering::is_lt),
            Op::Lte => compare(Ordering::is_le),
            Op::Contains => match (actual, &self.value) {
                (Value::String(text), Value::String(part)) => text.contains(part.as_str()),
                (Value::Array(items), wanted) => items.iter().any(|item| json_eq(item, wanted)),
                _ => false,
            },
            Op::In => self
                .value
                .as_array()
                .is_some_and(|options| options.iter().any(|option| json_eq(actual, option))),
            Op::Like | Op::Ilike => match (actual, &self.value) {
                (Value::String(text), Value::String(pattern)) if self.op == Op::Like => {
                    like(text, pattern)
                }
                (Value::String(text), Value::String(pattern)) => {
                    like(&text.to_lowercase(), &pattern.to_lowercase())
                }
                _ => false,
            },
        }
    }
}

/// SQL's `LIKE`: `%` matches any run of characters, `_` exactly one, `\` makes the next
/// character literal; the whole text must match.
fn like(text: &str, pattern: &str) -> bool {
    let text: Vec<char> = text.chars().collect();
    let pattern: Vec<char> = pattern.chars().collect();
    // Where the last `%` was in the pattern, and the text position it had reached.
    let (mut t, mut p, mut star) = (0, 0, None::<(usize, usize)>);
    while t < text.len() {
        match pattern.get(p) {
            Some('%') => {
                p += 1;
                star = Some((p, t));
                continue;
            }
            Some('_') => {
                (t, p) = (t + 1, p + 1);
                continue;
            }
            Some('\\') if pattern.get(p + 1) == Some(&text[t]) => {
                (t, p) = (t + 1, p + 2);
                continue;
            }
            Some(c) if *c != '\\' && *c == text[t] => {
                (t, p) = (t + 1, p + 1);
                continue;
            }
            _ => {}
        }
        // A mismatch: let the last `%` take one more character, or fail.
        let Some((after, taken)) = star else {
            return false;
        };
        star = Some((after, taken + 1));
        (t, p) = (taken + 1, after);
    }
    pattern[p..].iter().all(|c| *c == '%')
}

fn equality_filters(map: &Map<String, Value>) -> Vec<Filter> {
    map.iter()
        .map(|(column, value)| Filter {
            column: column.clone(),
            op: Op::Eq,
            value: value.clone(),
        })
        .collect()
}

fn parse_filter(i: usize, filter: &Value) -> Result<Filter> {
    let Value::Object(map) = filter else {
        return Err(bad(format!(
            "filter {i} must be an object {{column, operator, value}}, not {filter}"
        )));
    };
    if let Some(key) = map.keys().find(|key| !FILTER_KEYS.contains(&key.as_str())) {
        return Err(bad(format!(
            "filter {i} has unknown key `{key}`; expected column, operator and value"
        )));
    }
    let column = match map.get("column") {
        Some(Value::String(column)) if !column.is_empty() => column.clone(),
        _ => {
            return Err(bad(format!(
                "filter {i} needs a `column` naming a property"
            )));
        }
    };
    let op = match map.get("operator") {
        None => Op::Eq,
        Some(Value::String(name)) => Op::parse(name).ok_or_else(|| {
            bad(format!(
                "filter {i} has unknown operator `{name}`; expected one of \
                 eq, neq, gt, gte, lt, lte, contains, in, like, ilike"
            ))
        })?,
        Some(other) => {
            return Err(bad(format!(
                "filter {i}: `operator` must be a string, not {other}"
            )));
        }
    };
    let value = map
        .get("value")
        .cloned()
        .ok_or_else(|| bad(format!("filter {i} on `{column}` needs a `value`")))?;
    if op == Op::In && !value.is_array() {
        return Err(bad(format!(
            "filter {i} on `{column}`: operator `in` needs a list as its value, not {value}"
        )));
    }
    if matches!(op, Op::Like | Op::Ilike) && !value.is_string() {
        return Err(bad(format!(
            "filter {i} on `{column}`: a `like` pattern must be text, not {value}"
        )));
    }
    Ok(Filter { column, op, value })
}

fn parse_order(key: &str, text: &str) -> Result<Order> {
    if text.eq_ignore_ascii_case("asc") {
        Ok(Order::Asc)
    } else if text.eq_ignore_ascii_case("desc") {
        Ok(Order::Desc)
    } else {
        Err(bad(format!(
            "`{key}` must be `asc` or `desc`, not `{text}`"
        )))
    }
}

fn parse_count(key: &str, text: &str) -> Result<usize> {
    text.parse().map_err(|_| {
        bad(format!(
            "`{key}` must be a non-negative integer, not `{text}`"
        ))
    })
}

/// A query-string equality: the text itself, or the number/boolean/null it spells.
fn text_equality(column: &str, text: &str) -> Filter {
    let scalar = serde_json::from_str::<Value>(text)
        .ok()
        .filter(|v| v.is_number() || v.is_boolean() || v.is_null());
    let (op, value) = match scalar {
        Some(scalar) => (Op::In, Value::Array(vec![Value::from(text), scalar])),
        None => (Op::Eq, Value::from(text)),
    };
    Filter {
        column: column.to_owned(),
        op,
        value,
    }
}

/// JSON equality, except that numbers compare by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y) == Some(Ordering::Equal),
        _ => a == b,
    }
}

/// Order for `gt`/`lt` filters: numbers by value, strings lexicographically (which also
/// orders RFC 3339 timestamps); anything else is incomparable and never matches.
fn compare_scalars(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    }
}

/// Integers compare exactly (f64 loses precision above 2^53); otherwise as floats.
fn compare_numbers(x: &Number, y: &Number) -> Option<Ordering> {
    let integer = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (integer(x), integer(y)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => x.as_f64()?.partial_cmp(&y.as_f64()?),
    }
}

/// Sort order: missing (or null) properties last in either direction; numbers by value,
/// strings lexicographically, booleans false first, different kinds by a fixed rank.
pub(crate) fn sort_order(a: Option<&Value>, b: Option<&Value>, order: Order) -> Ordering {
    match (present(a), present(b)) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Greater,
        (Some(_), None) => Ordering::Less,
        (Some(a), Some(b)) => {
            let ordering = match (a, b) {
                (Value::Number(x), Value::Number(y)) => {
                    compare_numbers(x, y).unwrap_or(Ordering::Equal)
                }
                (Value::String(x), Value::String(y)) => x.cmp(y),
                (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
                _ => rank(a).cmp(&rank(b)),
            };
            match order {
                Order::Asc => ordering,
                Order::Desc => ordering.reverse(),
            }
        }
    }
}

fn present(value: Option<&Value>) -> Option<&Value> {
    value.filter(|v| !v.is_null())
}

fn rank(value: &Value) -> u8 {
    match value {
        Value::Null => 0,
        Value::Bool(_) => 1,
        Value::Number(_) => 2,
        Value::String(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
    }
}
