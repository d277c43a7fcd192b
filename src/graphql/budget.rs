//! Stops building an answer once it is known to be too large. The size cap
//! (`GRAPHQL_MAX_RESPONSE_BYTES`) is checked on the serialized answer, but a fan-out query
//! (`meets { registrants { registeredMeets { … } } }`) would first build the whole tree: seconds
//! of CPU and hundreds of MB. This extension adds up an estimate of each field's bytes as it
//! resolves (its name and, for a leaf, its value) and, once past the cap, refuses every field
//! not yet started, so the rest of the tree is never built. The request is then refused as a
//! whole (`RESPONSE_TOO_LARGE`), as when the serialized answer is over the cap.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use async_graphql::{
    ErrorExtensionValues, ServerError, ServerResult, Value,
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo},
};

pub const TOO_LARGE: &str = "RESPONSE_TOO_LARGE";

pub struct AnswerBudget {
    pub limit: usize,
}

impl ExtensionFactory for AnswerBudget {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Budget {
            limit: self.limit,
            used: AtomicUsize::new(0),
        })
    }
}

struct Budget {
    limit: usize,
    used: AtomicUsize,
}

/// A lower estimate of a field's bytes in the JSON answer: `"name":` and its value (children
/// count for themselves).
fn estimate(name: &str, value: &Value) -> usize {
    let own = match value {
        Value::String(s) => s.len() + 2,
        Value::Object(_) | Value::List(_) => 2,
        Value::Null => 4,
        _ => 1,
    };
    name.len() + 4 + own
}

#[async_graphql::async_trait::async_trait]
impl Extension for Budget {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if self.used.load(Ordering::Relaxed) > self.limit {
            let mut error = ServerError::new(
                format!(
                    "The answer would be larger than {} bytes; ask for fewer fields or items",
                    self.limit
                ),
                None,
            );
            let mut extensions = ErrorExtensionValues::default();
            extensions.set("code", TOO_LARGE);
            error.extensions = Some(extensions);
            return Err(error);
        }
        let name = info.alias.unwrap_or(info.name);
        let value = next.run(ctx, info).await?;
        if let Some(value) = &value {
            self.used
                .fetch_add(estimate(name, value), Ordering::Relaxed);
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    static RESOLVED: AtomicUsize = AtomicUsize::new(0);

    struct Item(usize);

    #[Object]
    impl Item {
        async fn name(&self) -> String {
            RESOLVED.fetch_add(1, Ordering::Relaxed);
            format!("item number {}", self.0)
        }
    }

    struct Query;

    #[Object]
    impl Query {
        async fn items(&self) -> Vec<Item> {
            (0..100_000).map(Item).collect()
        }
    }

    #[tokio::test]
    async fn an_answer_past_the_limit_stops_being_built() {
        let schema = Schema::build(Query, EmptyMutation, EmptySubscription)
            .extension(AnswerBudget { limit: 10_000 })
            .finish();
        let response = schema.execute("{ items { name } }").await;
        let resolved = RESOLVED.load(Ordering::Relaxed);
        assert!(resolved < 2_000, "{resolved} of 100 000 names built");
        assert!(response.errors.iter().any(|e| {
            e.extensions
                .as_ref()
                .and_then(|x| x.get("code"))
                .is_some_and(|c| *c == Value::String(TOO_LARGE.into()))
        }));
    }
}
