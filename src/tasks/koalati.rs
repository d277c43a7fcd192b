//! Koalati's dialect, kept out of the engine: the notification it POSTs when a request finishes
//! (`toolSuccess` / `toolError` / `developerError`), as the form body `payload=<JSON>` of
//! webhook endpoints registered with the format [`WEBHOOK_FORMAT`]. (Its HTTP API is
//! `http::koalati`; its waiting-time estimates `tasks::estimates`.)

use chrono::DateTime;
use serde_json::{Value, json};

use engine::webhooks::{DeliverWebhook, STANDARD_FORMAT, WebhookSender};

/// The webhook format of Koalati clients.
pub const WEBHOOK_FORMAT: &str = "koalati-form";

/// Every webhook format endpoints may ask for.
pub const WEBHOOK_FORMATS: [&str; 2] = [STANDARD_FORMAT, WEBHOOK_FORMAT];

/// `sender`, also sending Koalati's form.
pub fn with_webhook_format(sender: WebhookSender) -> WebhookSender {
    sender.with_format(WEBHOOK_FORMAT, form_body)
}

/// `payload=<Koalati's notification as JSON>`, form-encoded.
fn form_body(delivery: &DeliverWebhook) -> (Vec<u8>, &'static str) {
    let payload = notification(&delivery.event_type, &delivery.task).to_string();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload)
        .finish();
    (body.into_bytes(), "application/x-www-form-urlencoded")
}

/// Koalati's notification of a finished request, from the task as the engine reports it.
fn notification(event_type: &str, task: &Value) -> Value {
    let request = json!({
        "id": task["id"],
        "url": task["args"]["url"],
        "tool": task["kind"],
        "priority": task["priority"],
        "received_at": task["createdAt"],
        "processed_at": task["startedAt"],
        "completed_at": task["finishedAt"],
        "processing_time": processing_ms(task),
    });
    let processing_time = processing_ms(task);
    // A page that could not be loaded at all (no answer: DNS, connection, timeout) is Koalati's
    // `requestError`, though the check itself ran to the end. A page that answered, even 404 or
    // 500, was loaded: its status is a result.
    let unloadable = task["result"].is_object()
        && task["result"]["ok"] == false
        && task["result"]["statusCode"].is_null();
    match event_type {
        "task.succeeded" if unloadable => {
            let message = task["result"]["error"]
                .as_str()
                .unwrap_or("the page could not be loaded")
                .to_owned();
            json!({
                "request": request, "message": message, "error": message, "success": false,
                "type": "toolError",
            })
        }
        "task.succeeded" => json!({
            "request": request, "results": task["result"], "processingTime": processing_time,
            "success": true, "type": "toolSuccess",
        }),
        "task.failed" => json!({
            "request": request, "error": task["error"], "success": false, "type": "toolError",
        }),
        _ => json!({
            "request": request, "message": "The tool failed while processing the request",
            "error": task["error"], "type": "developerError",
        }),
    }
}

fn processing_ms(task: &Value) -> Option<i64> {
    let at = |key: &str| {
        task[key]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
    };
    Some((at("finishedAt")? - at("startedAt")?).num_milliseconds())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_success_carries_the_results_and_its_processing_time() {
        let task = json!({
            "id": 7, "kind": "link_check", "priority": 1, "args": { "url": "https://a.example/" },
            "result": { "ok": true }, "createdAt": "2026-12-01T10:00:00Z",
            "startedAt": "2026-12-01T10:00:01Z", "finishedAt": "2026-12-01T10:00:01.250Z",
        });
        let success = notification("task.succeeded", &task);
        assert_eq!(success["type"], "toolSuccess");
        assert_eq!(success["processingTime"], 250);
        assert_eq!(success["request"]["processing_time"], 250);
        assert_eq!(success["request"]["url"], "https://a.example/");
        assert_eq!(notification("task.failed", &task)["success"], false);
        assert_eq!(
            notification("task.handler_error", &task)["type"],
            "developerError"
        );
    }

    #[test]
    fn a_page_that_could_not_be_loaded_is_a_tool_error_and_a_404_is_a_result() {
        let mut task = json!({
            "id": 8, "kind": "link_check", "priority": 1, "args": { "url": "https://gone.example/" },
            "result": { "ok": false, "statusCode": null, "error": "connection refused" },
            "startedAt": "2026-12-01T10:00:01Z", "finishedAt": "2026-12-01T10:00:02Z",
        });
        let unloadable = notification("task.succeeded", &task);
        assert_eq!(
            (unloadable["type"].as_str(), unloadable["success"].as_bool()),
            (Some("toolError"), Some(false))
        );
        assert_eq!(unloadable["message"], "connection refused");
        task["result"] = json!({ "ok": false, "statusCode": 404, "error": null });
        let missing = notification("task.succeeded", &task);
        assert_eq!(missing["type"], "toolSuccess");
        assert_eq!(missing["results"]["statusCode"], 404);
    }
}
