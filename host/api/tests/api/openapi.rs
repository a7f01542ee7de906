//! The OpenAPI document at `/api/openapi.json` lists exactly the routes the README's REST table
//! lists, and the router serves every route the document names.

use crate::common::{TestApp, authorized};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::Value;
use std::collections::BTreeSet;

/// Routes served by Swagger UI itself, not described in the document they serve.
const DOCS: [(&str, &str); 2] = [("GET", "/api/openapi.json"), ("GET", "/api/docs")];

/// `(METHOD, path)` with every path parameter written `{}`.
type Routes = BTreeSet<(String, String)>;

fn normalized(path: &str) -> String {
    let path = path.split('[').next().unwrap_or(path);
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => (in_param, out) = (true, out + "{}"),
            '}' => in_param = false,
            c if !in_param => out.push(c),
            _ => {}
        }
    }
    out
}

/// The first column of the README's REST table: backticked `METHOD[/METHOD...] /path` cells.
fn readme_routes() -> Routes {
    let readme = include_str!("../../../../README.md");
    let table = readme
        .split("## REST API")
        .nth(1)
        .expect("a REST API section");
    let table = table.split("\n## ").next().unwrap_or(table);
    let mut routes = Routes::new();
    for row in table.lines().filter(|l| l.starts_with("| `")) {
        let first = row.split(" | ").next().unwrap_or(row);
        for cell in first.split('`').skip(1).step_by(2) {
            let (methods, path) = cell.split_once(' ').expect("`METHOD /path`");
            for method in methods.split('/') {
                routes.insert((method.to_owned(), normalized(path)));
            }
        }
    }
    routes
}

async fn document(app: &TestApp) -> Value {
    let request = Request::get("/api/openapi.json")
        .body(Body::empty())
        .unwrap();
    let (status, _, bytes) = app.raw(request).await;
    assert_eq!(status, StatusCode::OK, "the document needs no token");
    serde_json::from_slice(&bytes).expect("the document is JSON")
}

fn documented(document: &Value) -> Routes {
    let paths = document["paths"].as_object().expect("paths");
    let mut routes = Routes::new();
    for (path, item) in paths {
        for method in item.as_object().expect("a path item").keys() {
            routes.insert((method.to_uppercase(), normalized(path)));
        }
    }
    routes
}

#[tokio::test]
async fn the_document_lists_exactly_the_routes_of_the_readme() {
    let app = TestApp::new();
    let documented = documented(&document(&app).await);
    let mut listed = readme_routes();
    for (method, path) in DOCS {
        assert!(
            listed.remove(&(method.into(), path.into())),
            "README lists {path}"
        );
    }
    let missing: Vec<_> = listed.difference(&documented).collect();
    let unlisted: Vec<_> = documented.difference(&listed).collect();
    assert!(
        missing.is_empty(),
        "in the README, not the document: {missing:?}"
    );
    assert!(
        unlisted.is_empty(),
        "in the document, not the README: {unlisted:?}"
    );
    assert!(documented.len() >= 20, "{documented:?}");
}

#[tokio::test]
async fn the_router_serves_every_documented_route() {
    let app = TestApp::new();
    for (method, path) in documented(&document(&app).await) {
        let uri = path.replace("{}", "x");
        let request = authorized(Method::from_bytes(method.as_bytes()).unwrap(), &uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let (status, _, body) = app.raw(request).await;
        let body = String::from_utf8_lossy(&body);
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {uri}: {body}"
        );
        assert!(
            !(status == StatusCode::NOT_FOUND && body.contains("no route")),
            "{method} {uri} is documented but not routed: {body}"
        );
    }
}

#[tokio::test]
async fn swagger_ui_is_served_without_the_token() {
    let app = TestApp::new();
    let request = Request::get("/api/docs/").body(Body::empty()).unwrap();
    let (status, headers, body) = app.raw(request).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("html")
    );
    assert!(
        String::from_utf8_lossy(&body).contains("swagger"),
        "Swagger UI's page"
    );
}
