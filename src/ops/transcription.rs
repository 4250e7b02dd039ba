//! StartMeetingTranscription and StopMeetingTranscription.

use std::sync::Arc;

use super::{meeting_of, Service};
use crate::domain::ids::MeetingId;
use crate::domain::transcription::TranscriptionConfiguration;
use crate::domain::types::Caller;
use crate::model::{
    ServiceFailureException, StartMeetingTranscriptionError, StopMeetingTranscriptionError,
    UnprocessableEntityException,
};
use crate::store;

impl Service {
    /// Starts transcription, or replaces the configuration of the one running.
    pub async fn start_meeting_transcription(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
        configuration: TranscriptionConfiguration,
    ) -> Result<(), StartMeetingTranscriptionError> {
        configuration.validate()?;
        let stored: Arc<str> = serde_json::to_string(&configuration)
            .map_err(|e| ServiceFailureException::new(e.to_string()))?
            .into();
        let caller = caller.clone();
        store::write(self.store(), move |tx| {
            let (caller, meeting_id, stored) = (caller.clone(), meeting_id.clone(), stored.clone());
            Box::pin(async move {
                meeting_of::<StartMeetingTranscriptionError>(tx, &caller, &meeting_id).await?;
                tx.set_transcription(&meeting_id, &stored, crate::now_ms())
                    .await?;
                Ok(())
            })
        })
        .await
    }

    /// Stops transcription; when none is running the answer is UnprocessableEntityException.
    pub async fn stop_meeting_transcription(
        &self,
        caller: &Caller,
        meeting_id: MeetingId,
    ) -> Result<(), StopMeetingTranscriptionError> {
        let caller = caller.clone();
        store::write(self.store(), move |tx| {
            let (caller, meeting_id) = (caller.clone(), meeting_id.clone());
            Box::pin(async move {
                meeting_of::<StopMeetingTranscriptionError>(tx, &caller, &meeting_id).await?;
                if tx.clear_transcription(&meeting_id).await? {
                    Ok(())
                } else {
                    Err(UnprocessableEntityException::new(format!(
                        "Meeting {meeting_id} has no transcription running"
                    ))
                    .into())
                }
            })
        })
        .await
    }
}
