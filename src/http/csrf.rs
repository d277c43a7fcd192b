//! CSRF protection for cookie sessions, after Apollo Server's rule: a browser can send a POST
//! without a CORS preflight only with a "simple" content type (`text/plain`, form, multipart).
//! Such requests are refused unless they carry a custom header, which a cross-site form cannot
//! add. `application/json` requests always trigger a preflight, so they pass.

use axum::http::{HeaderMap, header};

/// Any one of these, non-empty, marks a request as coming from a script that could set headers.
pub const PREFLIGHT_HEADERS: &[&str] = &[
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "x-requested-with",
    "x-csrf-protection",
];

const SIMPLE_CONTENT_TYPES: &[&str] = &[
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

pub fn is_allowed(headers: &HeaderMap) -> bool {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let needs_custom_header = match content_type.as_deref() {
        None | Some("") => true,
        Some(essence) => SIMPLE_CONTENT_TYPES.contains(&essence),
    };
    !needs_custom_header
        || PREFLIGHT_HEADERS.iter().any(|name| {
            headers
                .get(*name)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| !v.trim().is_empty())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.insert(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn json_passes() {
        assert!(is_allowed(&headers(&[(
            "content-type",
            "application/json"
        )])));
        assert!(is_allowed(&headers(&[(
            "content-type",
            "application/json; charset=utf-8"
        )])));
    }

    #[test]
    fn simple_content_types_need_a_custom_header() {
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "Text/Plain;charset=UTF-8",
        ] {
            let mut h = HeaderMap::new();
            h.insert("content-type", HeaderValue::from_str(ct).unwrap());
            assert!(!is_allowed(&h), "{ct}");
            h.insert("apollo-require-preflight", HeaderValue::from_static("true"));
            assert!(is_allowed(&h), "{ct} with header");
        }
        assert!(!is_allowed(&HeaderMap::new()));
        assert!(!is_allowed(&headers(&[
            ("content-type", "text/plain"),
            ("x-requested-with", "")
        ])));
    }
}
