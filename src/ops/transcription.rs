//! StartMeetingTranscription and StopMeetingTranscription.

use std::sync::Arc;

use super::{meeting_of, Service};
use crate::domain::ids::MeetingId;
use crate::domain::transcription::TranscriptionConfiguration;
use crate::domain::types::Caller;
use crate::events::envelope::{EventFacts, EventType, TranscriptionRef};
use crate::model::{
    ServiceFailureException, StartMeetingTranscriptionError, StopMeetingTranscriptionError,
    UnprocessableEntityException,
};
use crate::store;

/// A transcription event's facts: the region (when the configuration names
/// one) and the configuration as a JSON string.
fn transcription_facts(event_type: EventType, configuration: &str) -> EventFacts {
    let region = serde_json::from_str::<TranscriptionConfiguration>(configuration)
        .ok()
        .and_then(|c| {
            c.engine_transcribe_settings
                .and_then(|s| s.region)
                .or(c.engine_transcribe_medical_settings.and_then(|s| s.region))
        });
    EventFacts {
        event_type,
        attendee: None,
        transcription: Some(TranscriptionRef {
            region,
            configuration: configuration.to_string(),
            message: None,
        }),
    }
}

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
        let (outbox, clock) = (self.outbox().clone(), self.clock().clone());
        store::write(self.store(), move |tx| {
            let (caller, meeting_id, stored) = (caller.clone(), meeting_id.clone(), stored.clone());
            let (outbox, clock) = (outbox.clone(), clock.clone());
            Box::pin(async move {
                let meeting =
                    meeting_of::<StartMeetingTranscriptionError>(tx, &caller, &meeting_id).await?;
                tx.set_transcription(&meeting_id, &stored, crate::now_ms())
                    .await?;
                // Also sent when the configuration of a running transcription changes.
                let facts = transcription_facts(EventType::TranscriptionStarted, &stored);
                let now = clock.now_ms(caller.account_id.as_str());
                outbox.emit(tx, &meeting, facts, now).await?;
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
        let (outbox, clock) = (self.outbox().clone(), self.clock().clone());
        store::write(self.store(), move |tx| {
            let (caller, meeting_id) = (caller.clone(), meeting_id.clone());
            let (outbox, clock) = (outbox.clone(), clock.clone());
            Box::pin(async move {
                let meeting =
                    meeting_of::<StopMeetingTranscriptionError>(tx, &caller, &meeting_id).await?;
                let running = tx.transcription(&meeting_id).await?;
                if tx.clear_transcription(&meeting_id).await? {
                    let conf = running.as_deref().unwrap_or("{}");
                    let facts = transcription_facts(EventType::TranscriptionStopped, conf);
                    let now = clock.now_ms(caller.account_id.as_str());
                    outbox.emit(tx, &meeting, facts, now).await?;
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
