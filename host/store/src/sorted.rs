//! Sorted pages read in index order: a query sorted by an indexed property, with a limit,
//! reads the type's objects in that order from the engine and loads them only until its page
//! is full, instead of loading and sorting every object of the type.
//!
//! The order is the one [`Query::page`] sorts in: values ascending (or descending), objects
//! with the property missing or `null` last either way, equal values in creation order. An
//! index may store values it cannot tell apart (integers beyond 2^53 as the same float), so
//! each object read is checked to follow the one before it; where one does not, the query is
//! answered the usual way instead.

use crate::backend::Objects;
use crate::query::sort_order;
use crate::types::Schema;
use crate::{Page, Query, Result, props};
use std::cmp::Ordering;

/// What a sorted read found.
pub(crate) enum Sorted {
    Page(Page),
    /// The engine's order is not the query's; read it the usual way.
    Unordered,
}

/// Reads the page of `query` (sorted by `property`, with a limit) from `objects`, every
/// object of the type in the query's order.
pub(crate) fn page(
    schema: &Schema,
    objects: Objects<'_>,
    property: &str,
    query: &Query,
    limit: usize,
) -> Result<Sorted> {
    let mut page = Page {
        result: Vec::with_capacity(limit),
        total: 0,
    };
    let mut last: Option<serde_json::Value> = None;
    for object in objects {
        let mut object = object?;
        props::strip_secrets(schema, &mut object);
        let value = object.get(property).cloned();
        if last.is_some()
            && sort_order(last.as_ref(), value.as_ref(), query.order) == Ordering::Greater
        {
            return Ok(Sorted::Unordered);
        }
        last = Some(value.unwrap_or_default());
        if !query.matches(&object) {
            continue;
        }
        page.total += 1;
        if page.total > query.offset {
            page.result.push(object);
            if page.result.len() == limit {
                break;
            }
        }
    }
    Ok(Sorted::Page(page))
}
