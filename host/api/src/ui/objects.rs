//! The object browser: any type's objects with equality filters, sort and paging; a JSON
//! editor for one object; creating and deleting objects. Writes go through the same checks
//! as the REST API, and an edit is saved only onto the version it was made from. The console
//! is the administrator's: it shows and changes objects as they are, without the tenant's
//! lifecycle hooks (which rule the doors apps and devices use), so a hook can never hide from
//! the people who attach it what it keeps from everyone else.

use super::view::{self, Outcome, cell, columns};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Scoped;
use crate::objects::{id_of, write};
use axum::Form;
use axum::extract::{Path, Query};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value};
use switchyard_store::{Object, Order};

/// Objects per page.
const PAGE: usize = 25;
/// Properties shown as columns; the editor shows them all.
const MAX_COLUMNS: usize = 8;

#[derive(Deserialize, Default)]
pub(crate) struct Browse {
    #[serde(rename = "type", default)]
    type_name: String,
    /// `prop=value` pairs joined by `&`, as in a query string.
    #[serde(default)]
    filter: String,
    #[serde(default)]
    sort: String,
    #[serde(default)]
    desc: Option<String>,
    #[serde(default)]
    offset: usize,
}

#[derive(Deserialize)]
pub(crate) struct NewObject {
    #[serde(rename = "type")]
    type_name: String,
    properties: String,
}

#[derive(Deserialize)]
pub(crate) struct Edited {
    properties: String,
    version: u64,
}

/// `GET /ui/objects?type=&filter=&sort=&desc=&offset=`.
pub(crate) async fn browse(Scoped(state): Scoped, Query(browse): Query<Browse>) -> Response {
    view::page(&state, "Objects", None, browser(&state, &browse))
}

/// `POST /ui/objects`: creates an object from JSON, then shows its type.
pub(crate) async fn create(Scoped(state): Scoped, Form(new): Form<NewObject>) -> Response {
    let outcome = create_from_json(&state, &new.type_name, &new.properties)
        .await
        .map(|object| format!("Created {} `{}`.", new.type_name, id_of(&object)));
    let browse = Browse {
        type_name: new.type_name,
        ..Browse::default()
    };
    view::page(&state, "Objects", Some(outcome), browser(&state, &browse))
}

/// `GET /ui/objects/{id}`: the JSON editor.
pub(crate) async fn edit(Scoped(state): Scoped, Path(id): Path<String>) -> Response {
    view::page(&state, "Objects", None, editor(&state, &id, None))
}

/// `POST /ui/objects/{id}`: saves an edit made on `version` as a merge of what changed, so
/// properties the page never showed (secrets) stay as they are.
pub(crate) async fn save(
    Scoped(state): Scoped,
    Path(id): Path<String>,
    Form(edited): Form<Edited>,
) -> Response {
    let outcome = save_edit(&state, &id, &edited)
        .await
        .map(|()| format!("Saved `{id}`."));
    // After a failure the editor keeps what was typed, so nothing is lost.
    let typed = outcome.is_err().then_some(edited.properties.as_str());
    view::page(&state, "Objects", Some(outcome), editor(&state, &id, typed))
}

/// `POST /ui/objects/{id}/delete`, then shows the rest of its type.
pub(crate) async fn delete(Scoped(state): Scoped, Path(id): Path<String>) -> Response {
    let type_name = state
        .store
        .get(&id)
        .ok()
        .flatten()
        .map(|object| view::text(&object, "type").to_owned())
        .unwrap_or_default();
    let outcome = remove(&state, &id).await;
    let browse = Browse {
        type_name,
        ..Browse::default()
    };
    view::page(&state, "Objects", Some(outcome), browser(&state, &browse))
}

/// Parses `properties` as a JSON object and stores it as a new `type_name`, on disk.
pub(crate) async fn create_from_json(
    state: &AppState,
    type_name: &str,
    properties: &str,
) -> Result<Object, ApiError> {
    insert(state, type_name, Value::Object(parse(properties)?)).await
}

/// Stores `properties` as a new `type_name`, on disk.
pub(crate) async fn insert(
    state: &AppState,
    type_name: &str,
    properties: Value,
) -> Result<Object, ApiError> {
    crate::tenants::admit(state, type_name)?;
    let object = state.store.create(type_name, properties)?;
    state.store.sync().await?;
    Ok(object)
}

/// Deletes the object `id`, whatever its type, on disk.
pub(crate) async fn remove(state: &AppState, id: &str) -> Outcome {
    if !state.store.delete(id)? {
        return Err(ApiError::not_found(format!("no object with id `{id}`")));
    }
    state.store.sync().await?;
    Ok(format!("Deleted `{id}`."))
}

/// Merges `patch` into the object `id`, on disk.
pub(crate) async fn update(state: &AppState, id: &str, patch: Value) -> Result<(), ApiError> {
    let type_name = type_of(state, id)?;
    write(state, (&type_name, id), None, &Default::default(), |txn| {
        txn.update(id, patch.clone())
    })
    .await?;
    Ok(())
}

/// The properties typed into a form: a JSON object.
fn parse(properties: &str) -> Result<Object, ApiError> {
    match serde_json::from_str(properties) {
        Ok(Value::Object(properties)) => Ok(properties),
        Ok(_) => Err(ApiError::bad_request(
            r#"the properties must be a JSON object, like {"name": "..."}"#,
        )),
        Err(error) => Err(ApiError::bad_request(format!(
            "the properties are not valid JSON: {error}"
        ))),
    }
}

fn type_of(state: &AppState, id: &str) -> Result<String, ApiError> {
    let object = state.store.get(id)?;
    let object = object.ok_or_else(|| ApiError::not_found(format!("no object with id `{id}`")))?;
    Ok(view::text(&object, "type").to_owned())
}

async fn save_edit(state: &AppState, id: &str, edited: &Edited) -> Result<(), ApiError> {
    let edited_props = parse(&edited.properties)?;
    let type_name = type_of(state, id)?;
    let version = Some(edited.version);
    write(
        state,
        (&type_name, id),
        version,
        &Default::default(),
        |txn| {
            let current = txn.get(id)?.unwrap_or_default();
            let patch = changes(&current, &edited_props);
            txn.update(id, Value::Object(patch))
        },
    )
    .await?;
    Ok(())
}

/// Properties only the host writes: an edit leaves them as they are now, whatever the page
/// showed when it was loaded (a client's status may have changed since).
const HOST_KEYS: [&str; 7] = [
    "id",
    "type",
    "version",
    "createdAt",
    "updatedAt",
    "isConnected",
    "lastError",
];

/// What turns `current` into `edited`: changed and added properties, and `null` for removed
/// ones.
fn changes(current: &Object, edited: &Object) -> Map<String, Value> {
    let mut patch: Map<String, Value> = edited
        .iter()
        .filter(|(key, value)| current.get(*key) != Some(value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    for key in current.keys().filter(|key| !edited.contains_key(*key)) {
        patch.insert(key.clone(), Value::Null);
    }
    patch.retain(|key, _| !HOST_KEYS.contains(&key.as_str()));
    patch
}

fn browser(state: &AppState, browse: &Browse) -> Result<Markup, ApiError> {
    let types = state.store.types()?;
    let type_name = browse.type_name.trim();
    let page = if type_name.is_empty() {
        None
    } else {
        Some(state.store.query(type_name, &query(browse)?)?)
    };
    let link = |offset: usize| {
        let params = [
            ("type", type_name),
            ("filter", browse.filter.as_str()),
            ("sort", browse.sort.as_str()),
            ("desc", browse.desc.as_deref().unwrap_or("")),
            ("offset", &offset.to_string()),
        ];
        let query: Vec<String> = params
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| format!("{key}={}", view::encode(value)))
            .collect();
        format!("/ui/objects?{}", query.join("&"))
    };
    Ok(html! {
        p.types {
            "Types: "
            @for name in &types { a href=(format!("/ui/objects?type={}", view::encode(name))) { (name) } " " }
        }
        form.filters method="get" action="/ui/objects" {
            label { "Type" input name="type" value=(type_name) list="types" required; }
            datalist #types { @for name in &types { option value=(name) {} } }
            label { "Filter" input name="filter" value=(browse.filter) placeholder="status=open&region=eu"; }
            label { "Sort by" input name="sort" value=(browse.sort) placeholder="createdAt"; }
            label.inline { input type="checkbox" name="desc" value="1" checked[browse.desc.is_some()]; "descending" }
            button { "Show" }
        }
        @if let Some(page) = page {
            @let shown = page.result.len();
            p.count { (format!("{}–{} of {} {type_name}", browse.offset + usize::from(shown > 0), browse.offset + shown, page.total)) }
            @let columns = columns(&page.result, MAX_COLUMNS);
            table.objects {
                thead { tr { @for column in &columns { th { (column) } } } }
                tbody {
                    @for object in &page.result {
                        tr {
                            @for column in &columns {
                                @if column == "id" {
                                    td { a href=(format!("/ui/objects/{}", id_of(object))) { (id_of(object)) } }
                                } @else {
                                    td { (cell(object.get(column))) }
                                }
                            }
                        }
                    }
                }
            }
            nav.pages {
                @if browse.offset > 0 { a href=(link(browse.offset.saturating_sub(PAGE))) { "← Previous" } }
                @if browse.offset + shown < page.total { a href=(link(browse.offset + PAGE)) { "Next →" } }
            }
        }
        h2 { "New object" }
        form method="post" action="/ui/objects" {
            label { "Type" input name="type" value=(type_name) list="types" required; }
            label { "Properties (JSON)" textarea name="properties" rows="5" placeholder=r#"{"name": "..."}"# required {} }
            button { "Create" }
        }
    })
}

fn query(browse: &Browse) -> Result<switchyard_store::Query, ApiError> {
    let pairs = browse
        .filter
        .split('&')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| {
            pair.split_once('=')
                .map(|(key, value)| (key.trim(), value.trim()))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("the filter `{pair}` is not `property=value`"))
                })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut query = switchyard_store::Query::from_params(pairs)?;
    if !browse.sort.trim().is_empty() {
        query.sort = Some(browse.sort.trim().to_owned());
    }
    if browse.desc.is_some() {
        query.order = Order::Desc;
    }
    query.offset = browse.offset;
    query.limit = Some(PAGE);
    query.total = true;
    Ok(query)
}

fn editor(state: &AppState, id: &str, typed: Option<&str>) -> Result<Markup, ApiError> {
    let object = state.store.get(id)?;
    let object = object.ok_or_else(|| ApiError::not_found(format!("no object with id `{id}`")))?;
    let version = object.get("version").and_then(Value::as_u64).unwrap_or(0);
    let type_name = view::text(&object, "type");
    let json = match typed {
        Some(typed) => typed.to_owned(),
        None => serde_json::to_string_pretty(&object).expect("an object serializes"),
    };
    Ok(html! {
        p { a href=(format!("/ui/objects?type={}", view::encode(type_name))) { "← All " (type_name) } }
        form.editor method="post" action=(format!("/ui/objects/{id}")) {
            input type="hidden" name="version" value=(version);
            label { (type_name) " " code { (id) } " (version " (version) ")"
                textarea name="properties" rows="20" spellcheck="false" { (json) } }
            p.hint { "Saved as a merge: remove a property to delete it. Secrets are never shown and stay as they are." }
            button { "Save" }
        }
        form method="post" action=(format!("/ui/objects/{id}/delete")) hx-confirm=(format!("Delete {type_name} {id}?")) {
            button.danger { "Delete" }
        }
    })
}
