//! `GET /graphql` in a browser: GraphiQL, served entirely by mintbean (vendored from the npm
//! registry into `assets/graphiql/`), so it works on a machine or intranet without internet.

use axum::{
    Router,
    response::{Html, IntoResponse, Response},
    routing::get,
};

const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>mintbean GraphQL</title>
  <link rel="stylesheet" href="/graphiql/graphiql.min.css">
  <style>body { margin: 0; } #graphiql { height: 100vh; }</style>
</head>
<body>
  <div id="graphiql">Loading GraphiQL…</div>
  <script src="/graphiql/react.production.min.js"></script>
  <script src="/graphiql/react-dom.production.min.js"></script>
  <script src="/graphiql/graphiql.min.js"></script>
  <script src="/graphiql/start.js"></script>
</body>
</html>"#;

pub fn page() -> Response {
    Html(PAGE).into_response()
}

pub fn routes() -> Router {
    let js = |bytes: &'static [u8]| {
        move || async move { super::assets::static_asset("text/javascript; charset=utf-8", bytes) }
    };
    Router::new()
        .route(
            "/graphiql/graphiql.min.css",
            get(|| async {
                super::assets::static_asset(
                    "text/css; charset=utf-8",
                    include_bytes!("../../assets/graphiql/graphiql.min.css"),
                )
            }),
        )
        .route(
            "/graphiql/graphiql.min.js",
            get(js(include_bytes!("../../assets/graphiql/graphiql.min.js"))),
        )
        .route(
            "/graphiql/react.production.min.js",
            get(js(include_bytes!(
                "../../assets/graphiql/react.production.min.js"
            ))),
        )
        .route(
            "/graphiql/react-dom.production.min.js",
            get(js(include_bytes!(
                "../../assets/graphiql/react-dom.production.min.js"
            ))),
        )
        .route(
            "/graphiql/start.js",
            get(js(include_bytes!("../../assets/graphiql/start.js"))),
        )
}
