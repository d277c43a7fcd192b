//! The errors resolvers answer with. An [`AppError`] becomes a GraphQL error carrying its code in
//! `extensions.code` (and `field`, `retryAfter`); internal details stay in the log. Resolvers
//! return [`Result`], so `?` works on services' `AppResult` and on async-graphql's own results
//! alike (async-graphql's `custom-error-conversion` feature turns off its blanket
//! `From<Display>` conversion, which would otherwise silently drop the code).

use mintbean_core::error::AppError;

/// A resolver's error: async-graphql's, built from an [`AppError`] where there was one.
#[derive(Debug)]
pub struct Error(pub async_graphql::Error);

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The GraphQL error of an application error.
pub fn gql(err: AppError) -> async_graphql::Error {
    err.log("GraphQL");
    let mut gql = async_graphql::Error::new(err.public_message());
    let mut extensions = async_graphql::ErrorExtensionValues::default();
    extensions.set("code", err.code());
    if let AppError::BadInput {
        field: Some(field), ..
    } = &err
    {
        extensions.set("field", field.as_str());
    }
    if let AppError::TooManyRequests {
        retry_after_secs, ..
    } = &err
    {
        extensions.set("retryAfter", *retry_after_secs);
    }
    gql.extensions = Some(extensions);
    gql
}

impl From<AppError> for Error {
    fn from(err: AppError) -> Self {
        Error(gql(err))
    }
}

impl From<async_graphql::Error> for Error {
    fn from(err: async_graphql::Error) -> Self {
        Error(err)
    }
}

impl From<Error> for async_graphql::Error {
    fn from(err: Error) -> Self {
        err.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::DbErr;

    #[test]
    fn bad_input_keeps_code_and_field() {
        let gql = gql(AppError::bad_input("email", "Email is invalid"));
        assert_eq!(gql.message, "Email is invalid");
        let ext = gql.extensions.unwrap();
        assert_eq!(
            ext.get("code"),
            Some(&async_graphql::Value::from("BAD_USER_INPUT"))
        );
        assert_eq!(ext.get("field"), Some(&async_graphql::Value::from("email")));
    }

    #[test]
    fn internal_errors_never_leak_details() {
        let gql = gql(AppError::from(DbErr::Custom(
            "relation \"users\" does not exist".into(),
        )));
        assert_eq!(gql.message, "Internal server error");
        assert_eq!(
            gql.extensions.unwrap().get("code"),
            Some(&async_graphql::Value::from("INTERNAL_SERVER_ERROR"))
        );
    }
}
