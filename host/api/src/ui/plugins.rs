//! Plugins: what is installed (size, sha256, kind), uploading one from a file picker and
//! deleting one. An upload is checked and compiled exactly as `PUT /api/plugins/{name}` does.

use super::view::{self, Outcome};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Scoped;
use axum::extract::{Multipart, Path};
use axum::response::Response;
use maud::{Markup, html};

/// `GET /ui/plugins`.
pub(crate) async fn show(Scoped(state): Scoped) -> Response {
    render(&state, None)
}

/// `POST /ui/plugins`: a multipart form with `name` and `file`.
pub(crate) async fn upload(Scoped(state): Scoped, form: Multipart) -> Response {
    let outcome = install(&state, form).await;
    render(&state, Some(outcome))
}

/// `POST /ui/plugins/{name}/delete`.
pub(crate) async fn delete(Scoped(state): Scoped, Path(name): Path<String>) -> Response {
    let outcome =
        crate::plugins::delete(&state, &name).map(|()| format!("Deleted plugin `{name}`."));
    render(&state, Some(outcome))
}

async fn install(state: &AppState, mut form: Multipart) -> Outcome {
    let (mut name, mut bytes) = (None, None);
    while let Some(field) = form.next_field().await.map_err(multipart)? {
        match field.name() {
            Some("name") => name = Some(field.text().await.map_err(multipart)?),
            Some("file") => bytes = Some(field.bytes().await.map_err(multipart)?),
            _ => {}
        }
    }
    let name = name.map(|name| name.trim().to_owned());
    let name = name
        .filter(|name| !name.is_empty())
        .ok_or_else(|| ApiError::bad_request("give the plugin a name"))?;
    let bytes = bytes
        .filter(|bytes| !bytes.is_empty())
        .ok_or_else(|| ApiError::bad_request("choose a .wasm file to upload"))?;
    let info = crate::plugins::install(state, name.clone(), bytes).await?;
    Ok(format!(
        "Installed plugin `{name}` ({} bytes, {}).",
        info.size, info.kind
    ))
}

fn multipart(error: axum::extract::multipart::MultipartError) -> ApiError {
    ApiError::new(
        error.status(),
        format!("the upload failed: {}", error.body_text()),
    )
}

/// The installed plugins' names, sorted.
pub(crate) fn names(state: &AppState) -> Vec<String> {
    let plugins = crate::plugins::by_name(state).into_iter();
    plugins.map(|plugin| plugin.name).collect()
}

fn render(state: &AppState, outcome: Option<Outcome>) -> Response {
    view::page(state, "Plugins", outcome, Ok(body(state)))
}

fn body(state: &AppState) -> Markup {
    let plugins = crate::plugins::by_name(state);
    html! {
        @if plugins.is_empty() {
            p { "No plugins yet." }
        } @else {
            table {
                thead { tr { th { "Name" } th { "Kind" } th { "Size" } th { "sha256" } th { "Uploaded" } th {} } }
                tbody {
                    @for plugin in &plugins {
                        tr data-plugin=(plugin.name) {
                            td { (plugin.name) }
                            td { (plugin.kind) }
                            td { (plugin.size) " bytes" }
                            td { code title=(plugin.sha256) { (plugin.sha256.get(..12).unwrap_or(&plugin.sha256)) "…" } }
                            td { (plugin.uploaded) }
                            td.actions {
                                form method="post" action=(format!("/ui/plugins/{}/delete", plugin.name))
                                    hx-confirm=(format!("Delete plugin {}?", plugin.name)) {
                                    button.danger { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        h2 { "Upload a plugin" }
        form method="post" action="/ui/plugins" enctype="multipart/form-data" {
            label { "Name" input name="name" required pattern=r"[A-Za-z0-9._\-]{1,64}"; }
            label { "Component (.wasm)" input type="file" name="file" accept=".wasm,application/wasm" required; }
            p.hint { "A component of the switchyard:plugin world, or a core module to wrap. Replaces a plugin of the same name." }
            button { "Upload" }
        }
    }
}
