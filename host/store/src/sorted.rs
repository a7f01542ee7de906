//! Sorted pages read in index order: a query sorted by an indexed property, with a limit,
//! walks the index from the first value in the requested order and loads objects only until
//! its page is full, instead of loading and sorting every object of the type.
//!
//! The order is the one [`Query::page`] sorts in: values ascending (or descending), objects
//! with the property missing or `null` last either way, and equal values in creation order.
//! The index holds those last in front and keeps equal values in id (creation) order, so
//! descending pages read each value's entries forwards. Where the index cannot give that order
//! (array or object values, numbers it stores as equal that are not), the query is answered
//! the usual way instead.

use crate::index::Entries;
use crate::query::sort_order;
use crate::{Object, Order, Page, Query, Result, props};
use std::cmp::Ordering;

/// What a sorted read found.
pub(crate) enum Sorted {
    Page(Page),
    /// The index cannot give this query's order; read it the usual way.
    Unordered,
}

/// Reads the page of `query` (sorted by the indexed `property`, with a limit) from
/// `entries`; `load` gives the committed object an index entry points at.
pub(crate) fn page(
    entries: &Entries,
    query: &Query,
    limit: usize,
    mut load: impl FnMut(sled::IVec) -> Result<Option<Object>>,
) -> Result<Sorted> {
    if entries.has_unordered()? {
        return Ok(Sorted::Unordered);
    }
    let property = entries.property();
    let mut page = Page {
        result: Vec::with_capacity(limit),
        total: 0,
    };
    let mut groups = entries.groups(query.order);
    while page.result.len() < limit {
        let Some(group) = groups.next() else { break };
        let mut first: Option<serde_json::Value> = None;
        for key in group?.keys() {
            let Some(mut object) = load(key?)? else {
                continue;
            };
            props::strip_secrets(&mut object);
            let value = object.get(property).cloned();
            match &first {
                None => first = Some(value.unwrap_or_default()),
                Some(first) => {
                    if sort_order(Some(first), value.as_ref(), Order::Asc) != Ordering::Equal {
                        return Ok(Sorted::Unordered);
                    }
                }
            }
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
    }
    Ok(Sorted::Page(page))
}
