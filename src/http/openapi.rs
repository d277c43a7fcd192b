//! The OpenAPI 3.1 document of the HTTP task API (`GET /openapi.json`), generated from the
//! handlers' annotations plus each public kind's argument schema, and `GET /docs`, Swagger UI
//! served from files vendored in `assets/swagger-ui` (npm `swagger-ui-dist`): no CDN, no
//! download at build time.

use axum::{Json, Router, response::Response, routing::get};
use serde_json::Value;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    task_schemas::{
        ErrorBody, ErrorDetail, KindList, KoalatiAnswer, TaskEnvelope, ToolRequestForm,
    },
    tasks::TaskApi,
};
use crate::tasks::service;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "An API token (`mintbean tokens create`), a Koalati JWT, or an admin's \
                         `jwt` session cookie instead",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "mintbean task API", description = "Tasks (jobs) over HTTP, and the Koalati tools-service API."),
    paths(
        super::tasks::list_kinds, super::tasks::create, super::tasks::search, super::tasks::show,
        super::tasks::cancel, super::koalati::request, super::koalati::up, super::koalati::queue,
        super::koalati::time_estimates, super::koalati::project,
    ),
    components(schemas(ErrorBody, ErrorDetail, TaskEnvelope, KindList, KoalatiAnswer, ToolRequestForm)),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
)]
struct ApiDoc;

/// The document, with one `POST /tasks/<kind>` per public kind carrying its argument schema.
pub fn document(api: &TaskApi) -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let generic = doc["paths"]["/tasks/{kind}"]["post"].clone();
    for kind in service::kinds(&api.registry) {
        let mut operation = generic.clone();
        if let Some(params) = operation["parameters"].as_array_mut() {
            params.retain(|p| p["name"] != "kind");
        }
        operation["operationId"] = Value::from(format!("create_{}", kind.kind.replace('.', "_")));
        operation["summary"] = Value::from(format!("Creates a `{}` task", kind.kind));
        operation["requestBody"] = serde_json::json!({
            "required": true,
            "content": { "application/json": { "schema": kind.schema } },
        });
        doc["paths"][format!("/tasks/{}", kind.kind)] = serde_json::json!({ "post": operation });
    }
    doc
}

pub fn routes(api: TaskApi) -> Router {
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
        .route("/docs/swagger-ui.css", get(css))
        .route("/docs/swagger-ui-bundle.js", get(script))
        .route("/docs/start.js", get(start_script))
        .with_state(api)
}

async fn openapi_json(axum::extract::State(api): axum::extract::State<TaskApi>) -> Json<Value> {
    Json(document(&api))
}

const PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>mintbean task API</title>
  <link rel="stylesheet" href="/docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/swagger-ui-bundle.js"></script>
  <script src="/docs/start.js"></script>
</body>
</html>"##;

/// No inline script, so the policy can forbid them all.
const START: &str = "// validatorUrl: null — the default asks validator.swagger.io about the document.
window.ui = SwaggerUIBundle({ url: \"/openapi.json\", dom_id: \"#swagger-ui\", validatorUrl: null });
";

async fn docs_page() -> Response {
    super::assets::html_page(
        PAGE,
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    )
}

async fn start_script() -> Response {
    super::assets::static_asset("text/javascript; charset=utf-8", START.as_bytes())
}

async fn css() -> Response {
    super::assets::static_asset(
        "text/css; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui.css"),
    )
}

async fn script() -> Response {
    super::assets::static_asset(
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js"),
    )
}
