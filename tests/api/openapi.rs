//! `/openapi.json` (OpenAPI 3.1 from the code), `/docs` (Swagger UI from vendored files, no
//! network), and schemathesis fuzzing the task API from the document: no server errors.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_document_covers_every_route_and_each_kinds_arguments() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .client
        .get(format!("{}/openapi.json", app.address))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    for path in [
        "/tasks",
        "/tasks/{kind}",
        "/tasks/{kind}/{id}",
        "/tasks/link_check",
        "/tools/request",
        "/status/up",
        "/status/queue",
        "/status/time-estimates",
        "/status/project",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    let schema = &doc["paths"]["/tasks/link_check"]["post"]["requestBody"]["content"]["application/json"]
        ["schema"];
    assert_eq!(schema["required"], serde_json::json!(["url"]));
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[tokio::test]
async fn the_docs_page_loads_only_local_assets() {
    let app = TestApp::spawn().await;
    let page = app
        .client
        .get(format!("{}/docs", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("/docs/start.js"), "{page}");
    let start = app
        .client
        .get(format!("{}/docs/start.js", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(start.contains("SwaggerUIBundle"));
    assert!(
        start.contains("validatorUrl: null"),
        "the default validator is remote"
    );
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    for (asset, kind) in [
        ("/docs/swagger-ui-bundle.js", "javascript"),
        ("/docs/swagger-ui.css", "css"),
    ] {
        let response = app
            .client
            .get(format!("{}{asset}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"].to_str().unwrap();
        assert!(content_type.contains(kind), "{asset}: {content_type}");
        assert!(response.bytes().await.unwrap().len() > 100_000);
    }
}

/// `SCHEMATHESIS` (set by `make test`, which installs it) or `schemathesis` on the PATH.
fn schemathesis() -> String {
    std::env::var("SCHEMATHESIS").unwrap_or_else(|_| "schemathesis".into())
}

#[tokio::test]
async fn schemathesis_finds_no_server_error() {
    let app = TestApp::spawn().await;
    let token = app.api_token(&["*:admin"]).await;
    let run = tokio::process::Command::new(schemathesis())
        .args([
            "run",
            &format!("{}/openapi.json", app.address),
            "--header",
            &format!("Authorization: Bearer {token}"),
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--seed",
            "20261201",
            // One worker: with two, schemathesis 4.32.5 now and then fails in its own schema
            // code (a KeyError in its generation cache) when the machine is busy.
            "--workers",
            "1",
            "--no-color",
        ])
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), run)
        .await
        .expect("schemathesis finished within 5 minutes")
        .unwrap_or_else(|e| {
            panic!(
                "{} did not start ({e}): `make test` installs it",
                schemathesis()
            )
        });
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "schemathesis failed:\n{report}");
    assert!(report.contains("passed"), "{report}");
}
