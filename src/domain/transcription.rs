//! Transcription configuration: its shape and every rule it must satisfy.
//!
//! No transcription engine runs in Convene; the configuration is validated,
//! stored while transcription is active, and dropped when it stops.

use serde::{Deserialize, Serialize};

use super::error::{Checked, Invalid};
use super::validate::{self, one_of};

pub const LANGUAGE_CODES: &[&str] = &[
    "en-US", "en-GB", "es-US", "fr-CA", "fr-FR", "en-AU", "it-IT", "de-DE", "pt-BR", "ja-JP",
    "ko-KR", "zh-CN", "th-TH", "hi-IN",
];
pub const VOCABULARY_FILTER_METHODS: &[&str] = &["remove", "mask", "tag"];
pub const REGIONS: &[&str] = &[
    "us-east-2",
    "us-east-1",
    "us-west-2",
    "ap-northeast-2",
    "ap-southeast-2",
    "ap-northeast-1",
    "ca-central-1",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "sa-east-1",
    "auto",
    "us-gov-west-1",
];
pub const PARTIAL_RESULTS_STABILITIES: &[&str] = &["low", "medium", "high"];
pub const CONTENT_IDENTIFICATION_TYPES: &[&str] = &["PII"];
pub const CONTENT_REDACTION_TYPES: &[&str] = &["PII"];
pub const MEDICAL_LANGUAGE_CODES: &[&str] = &["en-US"];
pub const MEDICAL_SPECIALTIES: &[&str] = &[
    "PRIMARYCARE",
    "CARDIOLOGY",
    "NEUROLOGY",
    "ONCOLOGY",
    "RADIOLOGY",
    "UROLOGY",
];
pub const MEDICAL_TYPES: &[&str] = &["CONVERSATION", "DICTATION"];
pub const MEDICAL_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "ap-southeast-2",
    "ca-central-1",
    "eu-west-1",
    "auto",
];
pub const MEDICAL_CONTENT_IDENTIFICATION_TYPES: &[&str] = &["PHI"];

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EngineTranscribeSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocabulary_filter_method: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocabulary_filter_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocabulary_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enable_partial_results_stabilization: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partial_results_stability: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_identification_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_redaction_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pii_entity_types: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_model_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identify_language: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_options: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub preferred_language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocabulary_names: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocabulary_filter_names: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EngineTranscribeMedicalSettings {
    pub language_code: String,
    pub specialty: String,
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vocabulary_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_identification_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TranscriptionConfiguration {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_transcribe_settings: Option<EngineTranscribeSettings>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub engine_transcribe_medical_settings: Option<EngineTranscribeMedicalSettings>,
}

fn opt_one_of(member: &str, value: Option<&str>, allowed: &[&str]) -> Checked<()> {
    value.map_or(Ok(()), |v| one_of(member, v, allowed))
}

fn pattern(
    member: &str,
    value: &str,
    min: usize,
    max: usize,
    allowed: fn(char) -> bool,
    described: &str,
) -> Checked<()> {
    validate::length(member, value, min, max)?;
    match value.chars().find(|c| !allowed(*c)) {
        None => Ok(()),
        Some(c) => Err(Invalid::new(format!(
            "Invalid value for {member}: character {c:?} is not allowed; allowed: {described}"
        ))),
    }
}

fn conflict(message: String) -> Invalid {
    Invalid::new(message)
}

const ENGINE: &str = "TranscriptionConfiguration.EngineTranscribeSettings";
const MEDICAL: &str = "TranscriptionConfiguration.EngineTranscribeMedicalSettings";

/// `TranscriptionConfiguration.EngineTranscribeSettings.<name>`.
fn engine_member(name: &str) -> String {
    format!("{ENGINE}.{name}")
}

impl EngineTranscribeSettings {
    /// Checks each member, then the rules on which members go together.
    pub fn validate(&self) -> Checked<()> {
        self.validate_enums()?;
        self.validate_patterns()?;
        self.validate_combination()
    }

    /// The members whose values come from a fixed list, and the free-text names.
    fn validate_enums(&self) -> Checked<()> {
        let m = engine_member;
        opt_one_of(
            &m("LanguageCode"),
            self.language_code.as_deref(),
            LANGUAGE_CODES,
        )?;
        opt_one_of(
            &m("VocabularyFilterMethod"),
            self.vocabulary_filter_method.as_deref(),
            VOCABULARY_FILTER_METHODS,
        )?;
        for (name, value) in [
            ("VocabularyFilterName", &self.vocabulary_filter_name),
            ("VocabularyName", &self.vocabulary_name),
        ] {
            if let Some(v) = value {
                validate::length(&m(name), v, 0, 4096)?;
            }
        }
        opt_one_of(&m("Region"), self.region.as_deref(), REGIONS)?;
        opt_one_of(
            &m("PartialResultsStability"),
            self.partial_results_stability.as_deref(),
            PARTIAL_RESULTS_STABILITIES,
        )?;
        opt_one_of(
            &m("ContentIdentificationType"),
            self.content_identification_type.as_deref(),
            CONTENT_IDENTIFICATION_TYPES,
        )?;
        opt_one_of(
            &m("ContentRedactionType"),
            self.content_redaction_type.as_deref(),
            CONTENT_REDACTION_TYPES,
        )?;
        opt_one_of(
            &m("PreferredLanguage"),
            self.preferred_language.as_deref(),
            LANGUAGE_CODES,
        )
    }

    /// The members constrained by length and character set.
    fn validate_patterns(&self) -> Checked<()> {
        let m = engine_member;
        if let Some(v) = &self.pii_entity_types {
            pattern(
                &m("PiiEntityTypes"),
                v,
                1,
                300,
                |c| c.is_ascii_uppercase() || "_, ".contains(c),
                "A-Z, _, comma and space",
            )?;
        }
        if let Some(v) = &self.language_model_name {
            pattern(
                &m("LanguageModelName"),
                v,
                1,
                200,
                |c| c.is_ascii_alphanumeric() || "._-".contains(c),
                "letters, digits and ._-",
            )?;
        }
        if let Some(v) = &self.language_options {
            pattern(
                &m("LanguageOptions"),
                v,
                1,
                200,
                |c| c.is_ascii_alphabetic() || "-,".contains(c),
                "letters, - and comma",
            )?;
        }
        for (name, value) in [
            ("VocabularyNames", &self.vocabulary_names),
            ("VocabularyFilterNames", &self.vocabulary_filter_names),
        ] {
            if let Some(v) = value {
                pattern(
                    &m(name),
                    v,
                    1,
                    3000,
                    |c| c.is_ascii_alphanumeric() || ",-._".contains(c),
                    "letters, digits and ,-._",
                )?;
            }
        }
        Ok(())
    }

    /// Which members may, must or must not be given together.
    fn validate_combination(&self) -> Checked<()> {
        let identify = self.identify_language == Some(true);
        if identify && self.language_code.is_some() {
            return Err(conflict(format!(
                "{ENGINE}: LanguageCode cannot be combined with IdentifyLanguage"
            )));
        }
        if !identify && self.language_code.is_none() {
            return Err(conflict(format!(
                "{ENGINE}: give either LanguageCode or IdentifyLanguage"
            )));
        }
        if self.content_identification_type.is_some() && self.content_redaction_type.is_some() {
            return Err(conflict(format!(
                "{ENGINE}: ContentIdentificationType and ContentRedactionType cannot be used together"
            )));
        }
        if self.pii_entity_types.is_some()
            && self.content_identification_type.is_none()
            && self.content_redaction_type.is_none()
        {
            return Err(conflict(format!(
                "{ENGINE}: PiiEntityTypes requires ContentIdentificationType or ContentRedactionType"
            )));
        }
        if self.language_options.is_some() && !identify {
            return Err(conflict(format!(
                "{ENGINE}: LanguageOptions requires IdentifyLanguage"
            )));
        }
        if self.preferred_language.is_some() && (!identify || self.language_options.is_none()) {
            return Err(conflict(format!(
                "{ENGINE}: PreferredLanguage requires IdentifyLanguage and LanguageOptions"
            )));
        }
        if identify && self.language_options.is_none() {
            return Err(conflict(format!(
                "{ENGINE}: IdentifyLanguage requires LanguageOptions"
            )));
        }
        Ok(())
    }
}

impl EngineTranscribeMedicalSettings {
    pub fn validate(&self) -> Checked<()> {
        let m = |name: &str| format!("{MEDICAL}.{name}");
        one_of(
            &m("LanguageCode"),
            &self.language_code,
            MEDICAL_LANGUAGE_CODES,
        )?;
        one_of(&m("Specialty"), &self.specialty, MEDICAL_SPECIALTIES)?;
        one_of(&m("Type"), &self.kind, MEDICAL_TYPES)?;
        if let Some(v) = &self.vocabulary_name {
            validate::length(&m("VocabularyName"), v, 0, 4096)?;
        }
        opt_one_of(&m("Region"), self.region.as_deref(), MEDICAL_REGIONS)?;
        opt_one_of(
            &m("ContentIdentificationType"),
            self.content_identification_type.as_deref(),
            MEDICAL_CONTENT_IDENTIFICATION_TYPES,
        )
    }
}

impl TranscriptionConfiguration {
    pub fn validate(&self) -> Checked<()> {
        match (&self.engine_transcribe_settings, &self.engine_transcribe_medical_settings) {
            (Some(e), None) => e.validate(),
            (None, Some(m)) => m.validate(),
            _ => Err(Invalid::new(
                "Invalid value for TranscriptionConfiguration: give exactly one of EngineTranscribeSettings and EngineTranscribeMedicalSettings",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine(json: &str) -> Checked<()> {
        let e: EngineTranscribeSettings = serde_json::from_str(json).unwrap();
        e.validate()
    }

    #[test]
    fn rules() {
        assert!(engine(r#"{"LanguageCode":"en-US"}"#).is_ok());
        assert!(engine(r#"{"LanguageCode":"xx-XX"}"#).is_err());
        assert!(engine(r"{}").is_err());
        assert!(engine(r#"{"IdentifyLanguage":true,"LanguageOptions":"en-US,fr-FR"}"#).is_ok());
        assert!(engine(r#"{"IdentifyLanguage":true,"LanguageOptions":"en-US,fr-FR","PreferredLanguage":"en-US"}"#).is_ok());
        assert!(engine(
            r#"{"IdentifyLanguage":true,"LanguageCode":"en-US","LanguageOptions":"en-US"}"#
        )
        .is_err());
        assert!(engine(r#"{"LanguageCode":"en-US","LanguageOptions":"en-US"}"#).is_err());
        assert!(engine(r#"{"LanguageCode":"en-US","ContentIdentificationType":"PII","ContentRedactionType":"PII"}"#).is_err());
        assert!(engine(r#"{"LanguageCode":"en-US","PiiEntityTypes":"NAME"}"#).is_err());
        assert!(engine(r#"{"LanguageCode":"en-US","ContentRedactionType":"PII","PiiEntityTypes":"NAME,ADDRESS"}"#).is_ok());
        assert!(engine(r#"{"LanguageCode":"en-US","PartialResultsStability":"medium"}"#).is_ok());
        assert!(engine(r#"{"LanguageCode":"en-US","PartialResultsStability":"max"}"#).is_err());
    }

    #[test]
    fn exactly_one_engine() {
        let both: TranscriptionConfiguration = serde_json::from_str(
            r#"{"EngineTranscribeSettings":{"LanguageCode":"en-US"},"EngineTranscribeMedicalSettings":{"LanguageCode":"en-US","Specialty":"PRIMARYCARE","Type":"DICTATION"}}"#,
        )
        .unwrap();
        assert!(both.validate().is_err());
        assert!(TranscriptionConfiguration::default().validate().is_err());
    }
}
