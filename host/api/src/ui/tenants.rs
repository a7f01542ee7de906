//! Tenants, the operator's page: each tenant's quotas beside what it uses, its tokens (a new
//! one shown this once), and forms to add a tenant, set its quotas and delete it. Every action
//! is the one `/api/tenants` runs.

use super::view::{self, Outcome};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Scoped;
use crate::tenants;
use axum::Form;
use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;
use serde_json::{Map, Value};
use switchyard_tenants::{Quota, Role};

#[derive(Deserialize)]
pub(crate) struct NewTenant {
    name: String,
}

/// Quotas as `QUOTA=N` words (`plugins=5 objects=1000`; `QUOTA=` unsets one).
#[derive(Deserialize)]
pub(crate) struct QuotaWords {
    quotas: String,
}

#[derive(Deserialize)]
pub(crate) struct NewToken {
    role: Role,
    #[serde(default)]
    note: String,
}

#[derive(Deserialize)]
pub(crate) struct Removal {
    #[serde(default)]
    force: Option<String>,
}

/// `GET /ui/tenants`.
pub(crate) async fn show(Scoped(state): Scoped) -> Response {
    render(&state, None)
}

/// `POST /ui/tenants`.
pub(crate) async fn create(Scoped(state): Scoped, Form(new): Form<NewTenant>) -> Response {
    let name = new.name.trim();
    let outcome = (state.tenants.create(name, Default::default()))
        .map_err(ApiError::from)
        .map(|_| format!("Added tenant `{name}`."));
    render(&state, Some(outcome))
}

/// `POST /ui/tenants/{name}/quotas`.
pub(crate) async fn set_quotas(
    Scoped(state): Scoped,
    Path(name): Path<String>,
    Form(words): Form<QuotaWords>,
) -> Response {
    let outcome = match parse_quotas(&words.quotas) {
        Ok(patch) => tenants::set_quotas(&state, &name, &patch)
            .await
            .map(|_| format!("Set the quotas of `{name}`.")),
        Err(error) => Err(error),
    };
    render(&state, Some(outcome))
}

/// `POST /ui/tenants/{name}/tokens`: the new token is shown in the report, this once.
pub(crate) async fn issue(
    Scoped(state): Scoped,
    Path(name): Path<String>,
    Form(new): Form<NewToken>,
) -> Response {
    let note = Some(new.note.trim().to_owned()).filter(|note| !note.is_empty());
    let outcome = tenants::issue_token(&state, &name, new.role, note, None)
        .await
        .map(|(_, token)| {
            format!("New token of `{name}` (copy it now, it is not shown again): {token}")
        });
    render(&state, Some(outcome))
}

/// `POST /ui/tenants/{name}/tokens/{id}/revoke`.
pub(crate) async fn revoke(
    Scoped(state): Scoped,
    Path((name, id)): Path<(String, String)>,
) -> Response {
    let outcome = tenants::revoke_token(&state, &name, &id)
        .await
        .map(|()| format!("Revoked token `{id}` of `{name}`."));
    render(&state, Some(outcome))
}

/// `POST /ui/tenants/{name}/delete`, with `force` to delete what it holds too.
pub(crate) async fn delete(
    Scoped(state): Scoped,
    Path(name): Path<String>,
    Form(removal): Form<Removal>,
) -> Response {
    let outcome = tenants::delete(&state, &name, removal.force.is_some())
        .await
        .map(|()| format!("Deleted tenant `{name}`."));
    render(&state, Some(outcome))
}

/// `plugins=5 objects=` as a quota patch: a number sets a quota, nothing unsets it.
fn parse_quotas(words: &str) -> Result<Map<String, Value>, ApiError> {
    let mut patch = Map::new();
    for word in words.split_whitespace() {
        let (name, value) = word.split_once('=').ok_or_else(|| {
            ApiError::bad_request(format!("`{word}` is not QUOTA=N (like plugins=5)"))
        })?;
        let value = match value {
            "" => Value::Null,
            value => Value::from(value.parse::<u64>().map_err(|_| {
                ApiError::unprocessable(format!(
                    "quota `{name}` must be a whole number, not `{value}`"
                ))
            })?),
        };
        patch.insert(name.to_owned(), value);
    }
    Ok(patch)
}

fn render(state: &AppState, outcome: Option<Outcome>) -> Response {
    view::page(state, "Tenants", outcome, body(state))
}

fn body(state: &AppState) -> Result<Markup, ApiError> {
    let mut sections = Vec::new();
    for tenant in state.tenants.list() {
        let shown = tenants::view(state, &tenant)?;
        let tokens = state.tenants.tokens(&tenant.name)?;
        let name = &tenant.name;
        let quotas = (Quota::ALL.iter())
            .filter_map(|q| tenant.quotas.get(*q).map(|n| format!("{}={n}", q.name())))
            .collect::<Vec<_>>()
            .join(" ");
        sections.push(html! {
            section.tenant aria-label=(name) {
                h2 { (name) }
                table {
                    thead { tr { th { "Quota" } th { "Used" } th { "Limit" } } }
                    tbody {
                        @for quota in Quota::ALL {
                            @let entry = &shown["usage"][quota.name()];
                            tr {
                                td { (quota.name()) }
                                td { (view::cell(entry.get("used"))) }
                                td { (view::cell(entry.get("limit"))) }
                            }
                        }
                    }
                }
                form method="post" action=(format!("/ui/tenants/{name}/quotas")) {
                    label { "Quotas " input name="quotas" value=(quotas) placeholder="plugins=5 objects=1000"; }
                    button { "Set quotas" }
                }
                h3 { "Tokens" }
                @if tokens.is_empty() {
                    p.hint { "No tokens." }
                } @else {
                    table {
                        thead { tr { th { "Id" } th { "Role" } th { "Note" } th { "Created" } th {} } }
                        tbody {
                            @for token in &tokens {
                                tr {
                                    td { code { (token.id) } }
                                    td { (token.role.name()) }
                                    td { (token.note.as_deref().unwrap_or("")) }
                                    td { (token.created_at) }
                                    td {
                                        form method="post" action=(format!("/ui/tenants/{name}/tokens/{}/revoke", token.id)) {
                                            button { "Revoke" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
                form method="post" action=(format!("/ui/tenants/{name}/tokens")) {
                    label { "Role " select name="role" { option value="admin" { "admin" } option value="viewer" { "viewer" } } }
                    label { "Note " input name="note"; }
                    button { "Issue token" }
                }
                @if name != switchyard_tenants::DEFAULT_TENANT {
                    form method="post" action=(format!("/ui/tenants/{name}/delete")) {
                        label { input type="checkbox" name="force"; " with everything it holds" }
                        button { "Delete tenant" }
                    }
                }
            }
        });
    }
    Ok(html! {
        form method="post" action="/ui/tenants" {
            label { "Name " input name="name" required placeholder="acme"; }
            button { "Add tenant" }
        }
        @for section in sections { (section) }
    })
}
