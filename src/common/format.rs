//! The body format of SNS alert messages, chosen per topic (env or rules file).

/// The body format of alert messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MessageFormat {
    /// `{"version":"1","alert":{…classification…},"finding":{…raw finding…}}`.
    #[default]
    Json,
    /// The Amazon Q Developer in chat applications custom-notification schema, so alerts
    /// render natively in Slack or Teams channels subscribed through it.
    Chatbot,
}

impl std::str::FromStr for MessageFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "json" | "" => Ok(MessageFormat::Json),
            "chatbot" | "amazon-q" | "q" => Ok(MessageFormat::Chatbot),
            other => Err(format!(
                "unknown message format {other:?}: use json or chatbot"
            )),
        }
    }
}
