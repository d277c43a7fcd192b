//! Email templates (tera), embedded in the binary so the drainer does not depend on its working
//! directory. Each template is a folder under `templates/email/<templateName>/` with
//! `subject.txt`, `body.txt` and `body.html`; HTML is autoescaped (tera escapes `.html` only).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tera::{Context, Tera};
use uuid::Uuid;

use super::schedule::{CONTACT_FORM_TEMPLATE, TemplateName};
use crate::meets::entity::{MeetType, Model as Meet};

macro_rules! embedded {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_str!(concat!("../../../templates/", $path)))),*]
    };
}

macro_rules! email_set {
    ($($name:literal),* $(,)?) => {
        &[$(
            (concat!("email/", $name, "/subject.txt"), include_str!(concat!("../../../templates/email/", $name, "/subject.txt"))),
            (concat!("email/", $name, "/body.txt"), include_str!(concat!("../../../templates/email/", $name, "/body.txt"))),
            (concat!("email/", $name, "/body.html"), include_str!(concat!("../../../templates/email/", $name, "/body.html"))),
        )*]
    };
}

const LAYOUTS: &[(&str, &str)] = embedded![
    "email/base.html",
    "email/base.txt",
    "email/meet_details.html",
    "email/meet_details.txt",
];

const SETS: &[(&str, &str)] = email_set![
    "hackathons/registration-confirmation",
    "hackathons/reminder-1",
    "hackathons/reminder-2",
    "hackathons/submission-reminder-1",
    "hackathons/submission-reminder-2",
    "workshops/registration-confirmation",
    "workshops/reminder-1",
    "workshops/reminder-2",
    "contact-form",
    "notifications/welcome",
    "notifications/project-submitted",
    "notifications/badge-awarded",
];

/// Templates of notifications: their data travels with the delivery (`context`).
pub const NOTIFICATION_PREFIX: &str = "notifications/";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub struct Templates {
    tera: Tera,
}

impl Templates {
    pub fn new() -> Result<Self, tera::Error> {
        let mut tera = Tera::new();
        tera.add_raw_templates(LAYOUTS.iter().chain(SETS.iter()).copied())?;
        Ok(Templates { tera })
    }

    /// The tera instance, to register functions or filters, or to replace a template.
    pub fn tera_mut(&mut self) -> &mut Tera {
        &mut self.tera
    }

    /// True when `templates/email/<name>/` exists.
    pub fn has(&self, name: &str) -> bool {
        self.tera
            .contains_template(&format!("email/{name}/subject.txt"))
    }

    pub fn render(&self, name: &str, context: &Context) -> Result<Rendered, String> {
        if !self.has(name) {
            return Err(format!("unknown email template `{name}`"));
        }
        let render = |part: &str| {
            self.tera
                .render(&format!("email/{name}/{part}"), context)
                .map_err(|e| {
                    format!(
                        "template `{name}/{part}` failed to render: {}",
                        error_chain(&e)
                    )
                })
        };
        Ok(Rendered {
            // One line: a template must not be able to inject headers.
            subject: render("subject.txt")?
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
            text: render("body.txt")?.trim().to_owned() + "\n",
            html: render("body.html")?,
        })
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The names that must have a template: every name of the Node queue, and the contact form.
pub fn required_names() -> Vec<String> {
    let mut names: Vec<String> = TemplateName::all()
        .iter()
        .map(ToString::to_string)
        .collect();
    names.push(CONTACT_FORM_TEMPLATE.to_owned());
    names.extend(
        ["welcome", "project-submitted", "badge-awarded"]
            .map(|name| format!("{NOTIFICATION_PREFIX}{name}")),
    );
    names
}

#[derive(Serialize)]
pub struct SiteView {
    pub name: String,
    pub url: String,
}

#[derive(Serialize)]
pub struct RecipientView {
    pub first_name: String,
    pub last_name: String,
    pub email: String,
}

#[derive(Serialize)]
pub struct MeetView {
    pub id: Uuid,
    pub title: String,
    pub description: String,
    /// "hackathon", "workshop", "webinar" or "lecture".
    pub kind: String,
    /// e.g. "Saturday, October 10, 2020 at 9:00 AM EDT" in the meet's own zone.
    pub starts: String,
    pub ends: String,
    pub region: String,
    pub url: String,
}

#[derive(Serialize)]
pub struct ContactView {
    pub subject: String,
    pub html: String,
    pub text: String,
    pub received: String,
}

pub fn format_in_zone(instant: DateTime<Utc>, zone: Tz) -> String {
    instant
        .with_timezone(&zone)
        .format("%A, %B %-d, %Y at %-I:%M %p %Z")
        .to_string()
}

pub fn meet_url(frontend_url: &str, meet_id: Uuid) -> String {
    format!("{frontend_url}/meets/{meet_id}")
}

impl MeetView {
    pub fn new(meet: &Meet, frontend_url: &str) -> MeetView {
        let zone = meet.zone();
        MeetView {
            id: meet.id,
            title: meet.title.clone(),
            description: meet.description.clone(),
            kind: match meet.kind() {
                MeetType::Hackathon => "hackathon",
                MeetType::Workshop => "workshop",
                MeetType::Webinar => "webinar",
                MeetType::Lecture => "lecture",
            }
            .into(),
            starts: format_in_zone(meet.start_instant(), zone),
            ends: format_in_zone(meet.end_instant(), zone),
            region: meet.region.clone(),
            url: meet_url(frontend_url, meet.id),
        }
    }
}

pub fn context(
    site: SiteView,
    recipient: Option<RecipientView>,
    meet: Option<MeetView>,
    contact: Option<ContactView>,
) -> Context {
    let mut context = Context::new();
    context.insert("site", &site);
    if let Some(recipient) = recipient {
        context.insert("recipient", &recipient);
    }
    if let Some(meet) = meet {
        context.insert("meet", &meet);
    }
    if let Some(contact) = contact {
        context.insert("contact", &contact);
    }
    context
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(title: &str) -> Context {
        let mut context = meet_sample(title);
        // What the notification jobs store with their deliveries (`email::effects`).
        context.insert(
            "notification",
            &serde_json::json!({
                "project": { "id": Uuid::nil(), "title": title, "url": "https://mintbean.io/projects/1",
                             "source_code_url": "https://github.com/a/b", "live_url": "https://b.example" },
                "author": { "name": "Ada Lovelace" },
                "meet": { "title": "Spring Jam" },
                "badge": { "title": "Gold", "description": "Best in show" },
            }),
        );
        context
    }

    fn meet_sample(title: &str) -> Context {
        context(
            SiteView {
                name: "Mintbean".into(),
                url: "https://mintbean.io".into(),
            },
            Some(RecipientView {
                first_name: "Ada".into(),
                last_name: "Lovelace".into(),
                email: "ada@example.com".into(),
            }),
            Some(MeetView {
                id: Uuid::nil(),
                title: title.into(),
                description: "Build things".into(),
                kind: "hackathon".into(),
                starts: "Saturday, October 10, 2020 at 9:00 AM EDT".into(),
                ends: "Sunday, October 11, 2020 at 9:00 AM EDT".into(),
                region: "America/Toronto".into(),
                url: "https://mintbean.io/meets/1".into(),
            }),
            Some(ContactView {
                subject: "Hi".into(),
                html: "<p>Hello</p>".into(),
                text: "Hello".into(),
                received: "now".into(),
            }),
        )
    }

    #[test]
    fn every_required_template_renders() {
        let templates = Templates::new().unwrap();
        for name in required_names() {
            let rendered = templates
                .render(&name, &sample("Game Jam"))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                !rendered.subject.is_empty() && !rendered.subject.contains('\n'),
                "{name}"
            );
            assert!(rendered.html.contains("<html"), "{name}");
            assert!(!rendered.text.contains('<'), "{name}: {}", rendered.text);
        }
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let templates = Templates::new().unwrap();
        let rendered = templates
            .render("workshops/reminder-1", &sample("Tom & Jerry <script>"))
            .unwrap();
        assert!(
            rendered.html.contains("Tom &amp; Jerry &lt;script&gt;"),
            "{}",
            rendered.html
        );
        assert!(rendered.text.contains("Tom & Jerry <script>"));
        assert_eq!(rendered.subject, "Tomorrow: Tom & Jerry <script>");
        assert!(
            templates
                .render("workshops/nope", &sample("x"))
                .unwrap_err()
                .contains("unknown")
        );
    }

    #[test]
    fn dates_are_shown_in_the_meet_zone() {
        let instant = DateTime::parse_from_rfc3339("2020-10-10T13:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            format_in_zone(instant, chrono_tz::America::Toronto),
            "Saturday, October 10, 2020 at 9:00 AM EDT"
        );
        assert_eq!(
            format_in_zone(instant, chrono_tz::Asia::Kolkata),
            "Saturday, October 10, 2020 at 6:30 PM IST"
        );
    }
}
