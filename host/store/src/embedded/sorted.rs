//! A type's objects in the order of an indexed property, read from the index: each value's
//! entries in turn (ascending or descending), then the objects without the value (missing or
//! `null`), which sort last either way. Entries of one value are in id (creation) order, so a
//! descending read walks the values backwards and each value's entries forwards. Where the
//! index cannot give the order (array or object values), there is none.

use super::index::{self, BOOL, NULL, OTHER};
use super::{Embedded, after, failed};
use crate::backend::Objects;
use crate::{Order, Result};
use ::redb::ReadOnlyTable;

type Entries = ReadOnlyTable<&'static [u8], ()>;

/// Entry keys, read lazily.
type Keys = Box<dyn Iterator<Item = Result<Vec<u8>>>>;

/// The objects of the index starting at `head`, in `order`; `None` if it holds unordered values.
pub(super) fn objects(
    objects: ReadOnlyTable<&'static str, &'static [u8]>,
    entries: Entries,
    head: Vec<u8>,
    order: Order,
) -> Result<Option<Objects<'static>>> {
    let other = index::at(&head, OTHER);
    let unordered = (entries.range::<&[u8]>(other.as_slice()..after(&other).as_slice()))
        .map_err(failed("reading an index"))?
        .next()
        .is_some();
    if unordered {
        return Ok(None);
    }
    let head_len = head.len();
    let mut groups = Groups {
        entries,
        head,
        order,
        bound: None,
        values_done: false,
        nulls_done: false,
    };
    let keys = std::iter::from_fn(move || groups.next_group()).flat_map(|group| match group {
        Ok(keys) => keys,
        Err(e) => Box::new(std::iter::once(Err(e))),
    });
    Ok(Some(Embedded::objects_at(objects, keys, move |key| {
        index::id_of_entry(head_len, key)
    })))
}

struct Groups {
    entries: Entries,
    head: Vec<u8>,
    order: Order,
    /// Where the values not read yet start (ascending) or end (descending).
    bound: Option<Vec<u8>>,
    values_done: bool,
    nulls_done: bool,
}

impl Groups {
    /// The keys of the next value's entries, then those of the objects without a value.
    fn next_group(&mut self) -> Option<Result<Keys>> {
        if !self.values_done {
            match self.next_value() {
                Ok(Some(keys)) => return Some(Ok(keys)),
                Ok(None) => self.values_done = true,
                Err(e) => return Some(Err(e)),
            }
        }
        if self.nulls_done {
            return None;
        }
        self.nulls_done = true;
        let (nulls, values) = (index::at(&self.head, NULL), index::at(&self.head, BOOL));
        Some(self.range(&nulls, &values))
    }

    fn next_value(&mut self) -> Result<Option<Keys>> {
        let (first, end) = (index::at(&self.head, BOOL), index::at(&self.head, OTHER));
        let next = match (self.order, &self.bound) {
            (Order::Asc, bound) => {
                let start = bound.as_deref().unwrap_or(&first);
                let mut range = (self.entries.range::<&[u8]>(start..end.as_slice()))
                    .map_err(failed("reading an index"))?;
                range.next()
            }
            (Order::Desc, bound) => {
                let stop = bound.as_deref().unwrap_or(&end);
                let mut range = (self.entries.range::<&[u8]>(first.as_slice()..stop))
                    .map_err(failed("reading an index"))?;
                range.next_back()
            }
        };
        let Some(entry) = next else {
            return Ok(None);
        };
        let (key, _) = entry.map_err(failed("reading an index"))?;
        let value = index::value_prefix(self.head.len(), key.value())?;
        let past = after(&value);
        self.bound = Some(match self.order {
            Order::Asc => past.clone(),
            Order::Desc => value.clone(),
        });
        self.range(&value, &past).map(Some)
    }

    /// The keys from `start` up to `end`, in order.
    fn range(&self, start: &[u8], end: &[u8]) -> Result<Keys> {
        let range =
            (self.entries.range::<&[u8]>(start..end)).map_err(failed("reading an index"))?;
        Ok(Box::new(range.map(|entry| {
            let (key, _) = entry.map_err(failed("reading an index"))?;
            Ok(key.value().to_vec())
        })))
    }
}
