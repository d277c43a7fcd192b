//! Building the MIME message: multipart/alternative (text + HTML), inside multipart/mixed with
//! the calendar invite when there is one.

use lettre::{
    Message,
    message::{Attachment, Mailbox, MultiPart, header::ContentType},
};

use super::templates::Rendered;

pub struct Outgoing<'a> {
    pub from: &'a Mailbox,
    pub to: Mailbox,
    pub message_id: &'a str,
    pub rendered: Rendered,
    pub invite: Option<String>,
}

pub fn build(outgoing: Outgoing<'_>) -> Result<Message, String> {
    let alternative =
        MultiPart::alternative_plain_html(outgoing.rendered.text, outgoing.rendered.html);
    let body = match outgoing.invite {
        Some(ics) => MultiPart::mixed().multipart(alternative).singlepart(
            Attachment::new("invite.ics".into()).body(
                ics,
                ContentType::parse("text/calendar; method=PUBLISH; charset=UTF-8")
                    .map_err(|e| format!("calendar content type: {e}"))?,
            ),
        ),
        None => alternative,
    };
    Message::builder()
        .from(outgoing.from.clone())
        .to(outgoing.to)
        .subject(outgoing.rendered.subject)
        .message_id(Some(outgoing.message_id.to_owned()))
        .multipart(body)
        .map_err(|e| format!("could not build the message: {e}"))
}
