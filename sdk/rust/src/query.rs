//! A builder for the `find` query shape of `wit/plugin.wit`, so a plugin does not spell
//! operator names and JSON keys by hand.

use serde::Serialize;
use serde_json::Value;

/// A query for [`objects::find`](crate::objects::find) and
/// [`objects::find_page`](crate::objects::find_page): filters (all must match), a sort property
/// and order, limit and offset. Without a limit the host applies the plugin's default row limit;
/// a limit above the plugin's maximum fails with [`Error::LimitExceeded`](crate::Error).
///
/// ```
/// use switchyard_sdk::Query;
///
/// let hot = Query::new()
///     .eq("sensorId", "t1")
///     .gt("value", 30)
///     .sort_desc("value")
///     .limit(10);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Query {
    filters: Vec<Filter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    sort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    order: Option<Order>,
    #[serde(skip_serializing_if = "Option::is_none")]
    limit: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offset: Option<usize>,
}

/// The keys of the structured query shape; an object with none of them is an equality query.
const QUERY_KEYS: [&str; 6] = ["filters", "sort", "order", "limit", "offset", "total"];

/// `query` (any query shape of `wit/plugin.wit`) asking the host to count every match as well:
/// a structured or empty query gets `"total": true`, a bare `{"prop": value}` equality query is
/// moved under `filters` first. Anything else is passed on for the host to reject.
pub(crate) fn with_total(query: Value) -> Value {
    let Value::Object(mut map) = query else {
        return query;
    };
    if map.is_empty() || QUERY_KEYS.iter().any(|key| map.contains_key(*key)) {
        map.insert("total".to_owned(), Value::Bool(true));
        Value::Object(map)
    } else {
        serde_json::json!({"filters": map, "total": true})
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
struct Filter {
    column: String,
    operator: Operator,
    value: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Operator {
    Eq,
    Neq,
    Gt,
    Gte,
    Lt,
    Lte,
    Contains,
    In,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Order {
    Asc,
    Desc,
}

impl Query {
    /// A query that matches every object of the type.
    pub fn new() -> Query {
        Query::default()
    }

    /// Property `column` equals `value`.
    pub fn eq(self, column: impl Into<String>, value: impl Into<Value>) -> Query {
        self.filter(column, Operator::Eq, value.into())
    }

    /// Property `column` differs from `value`.
    pub fn neq(self, column: impl Into<String>, value: impl Into<Value>) -> Query {
        self.filter(column, Operator::Neq, value.into())
    }

    /// Property `column` is greater than `value`.
    pub fn gt(self, column: impl Into<String>, value: impl Into<Value>) -> Query {
        self.filter(column, Operator::Gt, value.into())
    }

    /// Property `column` is greater than or equal to `value`.
    pub fn gte(self, column: impl Into<String>, value: impl Into<Value>) -> Query {
        self.filter(column, Operator::Gte, value.into())
    }

    /// Property `column` is less than `value`.
    pub fn lt(self, column: impl Into<String>, value: impl Into<Value>) -> Query {
        self.filter(column, Operator::Lt, value.into())
    }

    /// Property `column` is less than or equal to `value`.
    pub fn lte(self, column: impl Into<String>, value: impl Into<Value>) -> Query {
        self.filter(column, Operator::Lte, value.into())
    }

    /// Property `column` (a string or a list) contains `value`.
    pub fn contains(self, column: impl Into<String>, value: impl Into<Value>) -> Query {
        self.filter(column, Operator::Contains, value.into())
    }

    /// Property `column` equals one of `values`.
    pub fn is_in<V: Into<Value>>(
        self,
        column: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Query {
        let values = values.into_iter().map(Into::into).collect();
        self.filter(column, Operator::In, Value::Array(values))
    }

    /// Sorts by property `column`, smallest first.
    pub fn sort_asc(self, column: impl Into<String>) -> Query {
        self.sort(column, Order::Asc)
    }

    /// Sorts by property `column`, largest first.
    pub fn sort_desc(self, column: impl Into<String>) -> Query {
        self.sort(column, Order::Desc)
    }

    /// Returns at most `limit` objects (at most the plugin's maximum row limit).
    pub fn limit(mut self, limit: usize) -> Query {
        self.limit = Some(limit);
        self
    }

    /// Skips the first `offset` matching objects.
    pub fn offset(mut self, offset: usize) -> Query {
        self.offset = Some(offset);
        self
    }

    fn filter(mut self, column: impl Into<String>, operator: Operator, value: Value) -> Query {
        self.filters.push(Filter {
            column: column.into(),
            operator,
            value,
        });
        self
    }

    fn sort(mut self, column: impl Into<String>, order: Order) -> Query {
        self.sort = Some(column.into());
        self.order = Some(order);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_the_documented_json_shape() {
        let query = Query::new()
            .eq("sensorId", "t1")
            .gt("value", 30)
            .is_in("room", ["a", "b"])
            .sort_desc("value")
            .limit(10)
            .offset(20);
        assert_eq!(
            serde_json::to_value(&query).unwrap(),
            json!({
                "filters": [
                    {"column": "sensorId", "operator": "eq", "value": "t1"},
                    {"column": "value", "operator": "gt", "value": 30},
                    {"column": "room", "operator": "in", "value": ["a", "b"]},
                ],
                "sort": "value",
                "order": "desc",
                "limit": 10,
                "offset": 20,
            })
        );
    }

    #[test]
    fn every_operator_has_its_wit_name() {
        let query = Query::new()
            .neq("a", 1)
            .gte("a", 1)
            .lt("a", 1)
            .lte("a", 1)
            .contains("a", "x");
        let json = serde_json::to_value(&query).unwrap();
        let operators: Vec<&str> = json["filters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["operator"].as_str().unwrap())
            .collect();
        assert_eq!(operators, ["neq", "gte", "lt", "lte", "contains"]);
    }

    #[test]
    fn an_empty_query_matches_everything() {
        assert_eq!(
            serde_json::to_value(Query::new().sort_asc("n")).unwrap(),
            json!({"filters": [], "sort": "n", "order": "asc"})
        );
    }

    #[test]
    fn with_total_adds_the_flag_to_every_shape() {
        let builder = serde_json::to_value(Query::new().eq("a", 1).limit(5)).unwrap();
        assert_eq!(
            with_total(builder),
            json!({
                "filters": [{"column": "a", "operator": "eq", "value": 1}],
                "limit": 5,
                "total": true,
            })
        );
        assert_eq!(with_total(json!({})), json!({"total": true}));
        assert_eq!(
            with_total(json!({"sensorId": "t1"})),
            json!({"filters": {"sensorId": "t1"}, "total": true})
        );
        assert_eq!(
            with_total(json!({"sort": "n", "total": false})),
            json!({"sort": "n", "total": true})
        );
        assert_eq!(with_total(json!([1])), json!([1]));
    }
}
