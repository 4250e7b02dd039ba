//! StartMeetingTranscription and StopMeetingTranscription.

use super::{meeting_of, Service};
use crate::domain::transcription::TranscriptionConfiguration;
use crate::domain::types::Caller;
use crate::domain::{validate, ApiError, ApiResult, ErrorKind};
use crate::store;

impl Service {
    /// Starts transcription, or replaces the configuration of the one running.
    pub async fn start_meeting_transcription(
        &self,
        caller: &Caller,
        meeting_id: String,
        configuration: TranscriptionConfiguration,
    ) -> ApiResult<()> {
        validate::guid("MeetingId", &meeting_id)?;
        configuration.validate()?;
        let stored = serde_json::to_string(&configuration)
            .map_err(|e| ApiError::service_failure(e.to_string()))?;
        let caller = caller.clone();
        store::write(self.store(), move |tx| {
            meeting_of(tx, &caller, &meeting_id)?;
            tx.set_transcription(&meeting_id, &stored, crate::now_ms())?;
            Ok(())
        })
        .await
    }

    /// Stops transcription; when none is running the answer is UnprocessableEntityException.
    pub async fn stop_meeting_transcription(
        &self,
        caller: &Caller,
        meeting_id: String,
    ) -> ApiResult<()> {
        validate::guid("MeetingId", &meeting_id)?;
        let caller = caller.clone();
        store::write(self.store(), move |tx| {
            meeting_of(tx, &caller, &meeting_id)?;
            if tx.clear_transcription(&meeting_id)? {
                Ok(())
            } else {
                Err(ApiError::new(
                    ErrorKind::UnprocessableEntity,
                    format!("Meeting {meeting_id} has no transcription running"),
                ))
            }
        })
        .await
    }

    /// The active transcription configuration of a meeting, if any.
    pub async fn meeting_transcription(
        &self,
        caller: &Caller,
        meeting_id: String,
    ) -> ApiResult<Option<TranscriptionConfiguration>> {
        let caller = caller.clone();
        store::read(self.store(), move |tx| {
            meeting_of(tx, &caller, &meeting_id)?;
            match tx.transcription(&meeting_id)? {
                None => Ok(None),
                Some(raw) => serde_json::from_str(&raw).map(Some).map_err(|e| {
                    ApiError::service_failure(format!("stored transcription is unreadable: {e}"))
                }),
            }
        })
        .await
    }
}
