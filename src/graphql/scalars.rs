//! Scalars kept identical to the Node schema's, and input values as services take them.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::{SecondsFormat, Utc};

/// An instant, serialised as ISO-8601 in UTC with milliseconds (`2020-10-10T15:00:00.000Z`),
/// the format JavaScript's `Date.toISOString()` produced for the Node backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

impl DateTime {
    pub fn to_iso(&self) -> String {
        self.0.to_rfc3339_opts(SecondsFormat::Millis, true)
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(value: chrono::DateTime<Utc>) -> Self {
        DateTime(value)
    }
}

#[Scalar(name = "DateTime")]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        match &value {
            Value::String(s) => chrono::DateTime::parse_from_rfc3339(s)
                .map(|dt| DateTime(dt.with_timezone(&Utc)))
                .map_err(|_| InputValueError::custom("DateTime must be an ISO-8601 timestamp")),
            _ => Err(InputValueError::expected_type(value)),
        }
    }

    fn to_value(&self) -> Value {
        Value::String(self.to_iso())
    }
}

/// `MaybeUndefined` holds GraphQL's three states of an input field; services take
/// `Option<Option<T>>` (left out, `null`, a value).
pub fn present<T>(value: async_graphql::MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(v) => Some(Some(v)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn serialises_like_javascript_to_iso_string() {
        let dt = DateTime(Utc.with_ymd_and_hms(2020, 10, 10, 15, 0, 0).unwrap());
        assert_eq!(dt.to_value(), Value::from("2020-10-10T15:00:00.000Z"));
        assert_eq!(
            <DateTime as ScalarType>::parse(Value::from("2020-10-10T11:00:00-04:00")).unwrap(),
            dt
        );
        assert!(<DateTime as ScalarType>::parse(Value::from("yesterday")).is_err());
    }
}
