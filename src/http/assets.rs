//! Files built into the binary (no CDN: the pages work offline).

use axum::{
    http::{HeaderValue, header},
    response::{IntoResponse, Response},
};

/// A file built into the binary (no CDN: the pages work offline), cached for a day.
pub fn static_asset(content_type: &'static str, bytes: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        bytes,
    )
        .into_response()
}
