//! Input checks shared by the domains. Each failure is a `BAD_USER_INPUT` naming its field.

use crate::error::{AppError, AppResult};

/// PostgreSQL text cannot hold NUL characters; refuse them as input errors rather than letting
/// the database fail.
pub fn no_nul(field: &str, value: &str) -> AppResult<()> {
    if value.contains('\0') {
        Err(AppError::bad_input(
            field,
            format!("{field} must not contain NUL characters"),
        ))
    } else {
        Ok(())
    }
}

/// No string or key anywhere in `value` holds a NUL (PostgreSQL's `jsonb` cannot store one).
pub fn json_without_nul(field: &str, value: &serde_json::Value) -> AppResult<()> {
    fn has_nul(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::String(s) => s.contains('\0'),
            serde_json::Value::Array(items) => items.iter().any(has_nul),
            serde_json::Value::Object(map) => map
                .iter()
                .any(|(key, value)| key.contains('\0') || has_nul(value)),
            _ => false,
        }
    }
    if has_nul(value) {
        Err(AppError::bad_input(
            field,
            format!("{field} must not contain NUL characters (\\u0000)"),
        ))
    } else {
        Ok(())
    }
}

/// Trims `value` and checks its length in characters.
pub fn text(field: &str, value: &str, min: usize, max: usize) -> AppResult<String> {
    no_nul(field, value)?;
    let trimmed = value.trim();
    let len = trimmed.chars().count();
    if len < min {
        return Err(if min == 1 {
            AppError::bad_input(field, format!("{field} must not be empty"))
        } else {
            AppError::bad_input(field, format!("{field} must be at least {min} characters"))
        });
    }
    if len > max {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {max} characters"),
        ));
    }
    Ok(trimmed.to_owned())
}

/// Like [`text`] for optional fields: `None` stays `None`.
pub fn optional_text(
    field: &str,
    value: Option<&str>,
    min: usize,
    max: usize,
) -> AppResult<Option<String>> {
    value.map(|v| text(field, v, min, max)).transpose()
}

/// Longest URL accepted anywhere: browsers and proxies handle about this much, and every list
/// of projects or meets would otherwise carry whatever one user stored.
pub const URL_MAX_CHARS: usize = 2048;

/// An absolute http(s) URL of at most [`URL_MAX_CHARS`] characters.
pub fn url(field: &str, value: &str) -> AppResult<String> {
    no_nul(field, value)?;
    let trimmed = value.trim();
    if trimmed.chars().count() > URL_MAX_CHARS {
        return Err(AppError::bad_input(
            field,
            format!("{field} must be at most {URL_MAX_CHARS} characters"),
        ));
    }
    match url::Url::parse(trimmed) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {
            Ok(trimmed.to_owned())
        }
        _ => Err(AppError::bad_input(
            field,
            format!("{field} must be a valid URL (https://...)"),
        )),
    }
}

pub fn email(field: &str, value: &str) -> AppResult<String> {
    let normalised = value.trim().to_lowercase();
    let valid = normalised.len() <= 254
        && email_address::EmailAddress::parse_with_options(
            &normalised,
            email_address::Options::default().without_display_text(),
        )
        .is_ok()
        && normalised
            .rsplit_once('@')
            .is_some_and(|(_, domain)| domain.contains('.'));
    if valid {
        Ok(normalised)
    } else {
        Err(AppError::bad_input(
            field,
            format!("{field} must be a valid email address"),
        ))
    }
}

/// Six hex digits without `#`, stored lower-case.
pub fn hex_colour(field: &str, value: &str) -> AppResult<String> {
    let trimmed = value.trim();
    if trimmed.len() == 6 && trimmed.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(trimmed.to_ascii_lowercase())
    } else {
        Err(AppError::bad_input(
            field,
            format!("{field} must be 6 hex digits without '#', e.g. ff8800"),
        ))
    }
}

pub fn int_range(field: &str, value: i32, min: i32, max: i32) -> AppResult<i32> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::bad_input(
            field,
            format!("{field} must be between {min} and {max}"),
        ))
    }
}

/// An edit that names no field (the Node backend's rule for every `edit…` mutation).
pub fn nothing_to_edit() -> AppError {
    AppError::BadInput {
        field: None,
        message: "Must edit at least one field".into(),
    }
}

/// A delay: seconds, or a number with `s`, `m`, `h` or `d` (at most a year): the task API's
/// `?delay=` and the command lines' durations.
pub fn parse_delay(text: &str) -> Result<std::time::Duration, String> {
    const FORMS: &str = "a delay is a number with a unit: ms, s, m, h or d (5000ms, 30s, 10m, 1h)";
    let text = text.trim();
    let Some(at) = text.find(|c: char| c.is_ascii_alphabetic()) else {
        // AWSuper read a bare number as milliseconds, other tools as seconds: never guessed.
        return Err(format!(
            "{FORMS}; a bare number is refused (AWSuper's `delay=5000` is `5000ms` here)"
        ));
    };
    let (number, unit) = text.split_at(at);
    let seconds_per = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" => 60.0,
        "h" => 3600.0,
        "d" => 86_400.0,
        _ => return Err(FORMS.into()),
    };
    let value: f64 = number.trim().parse().map_err(|_| FORMS)?;
    let seconds = value * seconds_per;
    if !(0.0..=365.0 * 86_400.0).contains(&seconds) {
        return Err("a delay is between 0 and 365 days".into());
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: AppError) -> String {
        match err {
            AppError::BadInput { field, .. } => field.unwrap(),
            other => panic!("expected bad input, got {other:?}"),
        }
    }

    #[test]
    fn nul_characters_are_input_errors() {
        assert_eq!(field_of(text("title", "a\0b", 1, 5).unwrap_err()), "title");
        assert!(email("email", "a\0@example.com").is_err());
    }

    #[test]
    fn text_trims_and_counts_characters() {
        assert_eq!(text("title", "  héllo ", 1, 5).unwrap(), "héllo");
        assert_eq!(field_of(text("title", "   ", 1, 5).unwrap_err()), "title");
        assert!(text("title", "toolong", 1, 5).is_err());
    }

    #[test]
    fn urls_must_be_absolute_http() {
        assert!(url("liveUrl", "https://example.com/x").is_ok());
        assert!(url("liveUrl", "javascript:alert(1)").is_err());
        assert!(url("liveUrl", "example.com").is_err());
        let long = format!("https://example.com/{}", "a".repeat(URL_MAX_CHARS));
        assert!(url("liveUrl", &long).is_err());
    }

    #[test]
    fn emails_are_normalised() {
        assert_eq!(
            email("email", " Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        assert!(email("email", "ada@localhost").is_err());
        assert!(email("email", "not an email").is_err());
        assert!(email("email", "Ada <ada@example.com>").is_err());
    }

    #[test]
    fn hex_colours() {
        assert_eq!(hex_colour("iconHex", "FFaa00").unwrap(), "ffaa00");
        assert!(hex_colour("iconHex", "#ffaa00").is_err());
        assert!(hex_colour("iconHex", "ffaa0g").is_err());
    }
}
