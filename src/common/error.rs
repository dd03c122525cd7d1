//! The error of a wrong setting, shared by every layer that reads one from the environment.

/// A setting that is wrong: names the setting and the problem, never a secret value.
#[derive(Debug, Clone, thiserror::Error)]
#[error("configuration error: {setting}: {problem}")]
pub struct SetupError {
    /// The variable (or secret member) at fault.
    pub setting: String,
    /// What is wrong and what to do.
    pub problem: String,
}

impl SetupError {
    /// The error of `setting`.
    pub fn new(setting: impl Into<String>, problem: impl Into<String>) -> Self {
        SetupError {
            setting: setting.into(),
            problem: problem.into(),
        }
    }
}
