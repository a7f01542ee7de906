//! The API described as OpenAPI 3.1, built from the same `routes!` registrations as the router
//! (so the document cannot drift from what is served), served at `/api/openapi.json` with
//! Swagger UI at `/api/docs`. Neither needs the token: they describe the API, they hold no data.

use serde::Serialize;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

/// Every error answer.
#[derive(Serialize, ToSchema)]
pub(crate) struct ErrorMessage {
    /// What is wrong, in a sentence that names it.
    pub error: String,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Switchyard",
        description = "Broker clients, subscribers, WebAssembly plugins and stored objects. \
                       Every route but `/health`, `/api/openapi.json`, `/api/docs` and \
                       `/api/devices/publish` needs `Authorization: Bearer <token>`: the \
                       operator's (with `X-Tenant: <name>` to act in a tenant other than \
                       `default`) or a tenant's. `/api/devices/publish` takes a device's own \
                       credentials (HTTP Basic)."
    ),
    modifiers(&BearerToken),
    security(("token" = [])),
    tags(
        (name = "plugins", description = "Upload, configure and remove WebAssembly plugins"),
        (name = "objects", description = "Stored objects of any type, clients and subscribers included"),
        (name = "clients", description = "Publish and subscribe through a broker client"),
        (name = "failed", description = "Replay messages whose callbacks failed"),
        (name = "indexes", description = "Secondary indexes for queries"),
        (name = "devices", description = "Devices of the embedded broker publishing over HTTP with their own credentials"),
        (name = "tenants", description = "Tenants, their quotas and tokens (the operator's token only)"),
        (name = "operate", description = "Health, metrics and plugin logs"),
    )
)]
pub(crate) struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let scheme = HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build();
        components.add_security_scheme("token", SecurityScheme::Http(scheme));
        let basic = HttpBuilder::new().scheme(HttpAuthScheme::Basic).build();
        components.add_security_scheme("device", SecurityScheme::Http(basic));
    }
}
