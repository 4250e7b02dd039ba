//! In-process domain events: what changed, announced after the change is
//! committed, for the parts of the server that hold live state (the media
//! plane's connections). Operations publish; nothing here knows HTTP or media.

pub mod delivery;
pub mod envelope;
pub mod outbox;
pub mod runtime;
pub mod sinks;

use tokio::sync::broadcast;

use crate::domain::types::Capabilities;

/// Which attendees of a meeting a change applies to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum AttendeeSet {
    /// Exactly these attendees.
    Only(Vec<String>),
    /// Every attendee of the meeting except these.
    AllExcept(Vec<String>),
}

impl AttendeeSet {
    pub fn contains(&self, attendee_id: &str) -> bool {
        match self {
            AttendeeSet::Only(ids) => ids.iter().any(|i| i == attendee_id),
            AttendeeSet::AllExcept(ids) => !ids.iter().any(|i| i == attendee_id),
        }
    }
}

/// A committed change that live connections must follow.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum DomainEvent {
    /// The meeting was deleted (ended), with all its attendees.
    MeetingDeleted { meeting_id: String },
    /// The attendee was deleted.
    AttendeeDeleted {
        meeting_id: String,
        attendee_id: String,
    },
    /// These attendees now have these capabilities.
    CapabilitiesChanged {
        meeting_id: String,
        attendees: AttendeeSet,
        capabilities: Capabilities,
    },
}

/// The broadcast channel of domain events. Cloning shares the channel.
#[derive(Clone)]
pub struct EventBus {
    tx: broadcast::Sender<DomainEvent>,
    /// Where published events also go to reach other nodes (set once, when
    /// the node is part of a cluster).
    relay: std::sync::Arc<std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<DomainEvent>>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(1024);
        EventBus {
            tx,
            relay: std::sync::Arc::default(),
        }
    }

    /// Sends every event published from now on to `relay` as well.
    pub fn relay_to(&self, relay: tokio::sync::mpsc::UnboundedSender<DomainEvent>) {
        let _ = self.relay.set(relay);
    }

    /// Hands an event that another node published to this node's subscribers
    /// (not relayed again).
    pub fn deliver_remote(&self, event: DomainEvent) {
        tracing::debug!(?event, "domain event from another node");
        metrics::counter!("convene_events_received_remote_total").increment(1);
        let _ = self.tx.send(event);
    }

    /// Announces a committed change. Nobody listening is fine.
    pub fn publish(&self, event: DomainEvent) {
        tracing::debug!(?event, "domain event");
        let kind = match &event {
            DomainEvent::MeetingDeleted { .. } => "MeetingDeleted",
            DomainEvent::AttendeeDeleted { .. } => "AttendeeDeleted",
            DomainEvent::CapabilitiesChanged { .. } => "CapabilitiesChanged",
        };
        metrics::counter!("convene_events_published_total", "event" => kind).increment(1);
        if let Some(relay) = self.relay.get() {
            let _ = relay.send(event.clone());
        }
        if let Ok(receivers) = self.tx.send(event) {
            metrics::counter!("convene_events_delivered_total").increment(receivers as u64);
        }
    }

    /// Events published but not yet received by every subscriber.
    pub fn pending(&self) -> usize {
        self.tx.len()
    }

    /// A receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<DomainEvent> {
        self.tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attendee_sets() {
        let only = AttendeeSet::Only(vec!["a".into()]);
        assert!(only.contains("a") && !only.contains("b"));
        let except = AttendeeSet::AllExcept(vec!["a".into()]);
        assert!(!except.contains("a") && except.contains("b"));
    }

    #[tokio::test]
    async fn published_events_reach_subscribers() {
        let bus = EventBus::new();
        bus.publish(DomainEvent::MeetingDeleted {
            meeting_id: "lost".into(),
        });
        let mut rx = bus.subscribe();
        let e = DomainEvent::MeetingDeleted {
            meeting_id: "m".into(),
        };
        bus.publish(e.clone());
        assert_eq!(rx.recv().await.unwrap(), e);
    }
}
