//! The frame every page shares (navigation, the report of the last action) and the pieces
//! several pages draw: object tables and JSON values.

use crate::AppState;
use crate::error::ApiError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde_json::Value;
use switchyard_store::Object;

/// What an action did: shown above the page it re-renders.
pub(crate) type Outcome = Result<String, ApiError>;

const SECTIONS: [(&str, &str); 8] = [
    ("Clients", "/ui/clients"),
    ("Subscribers", "/ui/subscribers"),
    ("Plugins", "/ui/plugins"),
    ("Objects", "/ui/objects"),
    ("Failed messages", "/ui/failed"),
    ("Logs", "/ui/logs"),
    ("Publish", "/ui/publish"),
    ("Instances", "/ui/instances"),
];

/// A whole page of `state`'s tenant. Its status is the failed action's, else 500 if the page
/// could not be read, else 200; htmx is told to swap error pages in too (`htmx-config`), so
/// the report shows.
pub(crate) fn page(
    state: &AppState,
    title: &str,
    outcome: Option<Outcome>,
    body: Result<Markup, ApiError>,
) -> Response {
    let mut status = StatusCode::OK;
    let report = outcome.map(|outcome| match outcome {
        Ok(done) => html! { p.done role="status" { (done) } },
        Err(error) => {
            status = error.status();
            html! { p.failed role="alert" { (error.message()) } }
        }
    });
    let body = body.unwrap_or_else(|error| {
        status = error.status();
        html! { p.failed role="alert" { (error.message()) } }
    });
    let markup = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="htmx-config" content=r#"{"responseHandling":[{"code":".*","swap":true}]}"#;
                title { (title) " · Switchyard" }
                link rel="stylesheet" href="/ui/assets/style.css";
                script src="/ui/assets/htmx.min.js" {}
            }
            body hx-boost="true" {
                nav {
                    strong { "Switchyard" }
                    @for (name, href) in SECTIONS {
                        a href=(href) aria-current=[(name == title).then_some("page")] { (name) }
                    }
                    (tenant_picker(state, title))
                    form method="post" action="/ui/logout" hx-boost="false" { button { "Sign out" } }
                }
                main {
                    h1 { (title) }
                    @if let Some(report) = report { (report) }
                    (body)
                }
            }
        }
    };
    (status, markup).into_response()
}

/// The tenant shown: for the operator, a choice of every tenant and the tenants page; for a
/// tenant's session, its name.
fn tenant_picker(state: &AppState, title: &str) -> Markup {
    if !state.operator {
        return html! { span.tenant { "Tenant " strong { (state.tenant) } } };
    }
    html! {
        a href="/ui/tenants" aria-current=[(title == "Tenants").then_some("page")] { "Tenants" }
        form.tenant method="post" action="/ui/tenant" hx-boost="false" {
            label {
                "Tenant "
                select name="tenant" {
                    @for tenant in state.tenants.list() {
                        option value=(tenant.name) selected[tenant.name == state.tenant] { (tenant.name) }
                    }
                }
            }
            button { "Switch" }
        }
    }
}

/// A value as one table cell: text as itself, anything else as compact JSON.
pub(crate) fn cell(value: Option<&Value>) -> Markup {
    match value {
        None | Some(Value::Null) => html! {},
        Some(Value::String(text)) => html! { (text) },
        Some(other) => html! { code { (other) } },
    }
}

/// The properties to show as columns for `objects`: `id` first, then the others in the order
/// they first appear, up to `max`.
pub(crate) fn columns(objects: &[Object], max: usize) -> Vec<String> {
    let mut columns = vec!["id".to_owned()];
    for object in objects {
        for key in object.keys() {
            if columns.len() < max && !columns.contains(key) && key != "type" {
                columns.push(key.clone());
            }
        }
    }
    columns
}

/// An object as people call it: its `name` (a subscriber without one: its topic and callback),
/// linked to its page, with its id on hover; the bare id when it is gone.
pub(crate) fn named(state: &AppState, id: &str) -> Markup {
    let object = state.store.get(id).ok().flatten();
    let label = object.as_ref().map(|object| match text(object, "name") {
        "" if object.contains_key("topic") => {
            format!("{} → {}", text(object, "topic"), text(object, "callback"))
        }
        "" => id.to_owned(),
        name => name.to_owned(),
    });
    match label {
        Some(label) => html! { a href=(format!("/ui/objects/{id}")) title=(id) { (label) } },
        None => html! { code { (id) } },
    }
}

/// A string property of `object`, or "".
pub(crate) fn text<'a>(object: &'a Object, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Percent-encodes a query-string value.
pub(crate) fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
