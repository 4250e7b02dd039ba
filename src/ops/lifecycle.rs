//! How meetings end: on DeleteMeeting, and by themselves.
//!
//! The rules AWS applies (see the README, "Meetings that end by themselves"):
//! a meeting ends when it reaches its maximum duration, a non-replica meeting
//! ends when no attendee has been connected for the idle limit, and replicas
//! end with their primary. Every rule is judged by the meeting clock
//! ([`MeetingClock`]), never by the wall clock directly, so that test controls
//! can move time forward.
//!
//! [`end_meeting`] is the single place where a meeting ends, inside the
//! transaction that ends it; [`Service::announce_ended`] is the single place
//! that tells the rest of the server afterwards. The first also appends each
//! ended meeting's `MeetingEnded` event to the outbox, in that transaction.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use super::Service;
use crate::domain::clock::MeetingClock;
use crate::domain::ids::{AccountId, MeetingId};
use crate::events::envelope::{EventFacts, EventType};
use crate::events::outbox::Outbox;
use crate::events::DomainEvent;
use crate::store::{self, BoxFuture, MeetingBrief, StoreError, Tx};

/// When meetings end by themselves, and how long their tombstones are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecycleRules {
    /// A meeting ends this long after it was created (`None`: never).
    pub max_duration_ms: Option<i64>,
    /// A non-replica meeting ends after this long with no attendee connected
    /// (`None`: never).
    pub idle_end_ms: Option<i64>,
    /// How long an ended meeting is remembered (its sockets answer 4410 rather
    /// than 4403 for that long).
    pub ended_retention_ms: i64,
}

impl LifecycleRules {
    /// AWS's rules: 24 hours at most, 5 idle minutes.
    pub const AWS: LifecycleRules = LifecycleRules {
        max_duration_ms: Some(24 * 3600 * 1000),
        idle_end_ms: Some(5 * 60 * 1000),
        ended_retention_ms: 24 * 3600 * 1000,
    };
    /// The `dev` rules: 24 hours at most, but no idle end, so that a test
    /// suite that creates a meeting and never connects to it is not surprised.
    pub const DEV: LifecycleRules = LifecycleRules {
        max_duration_ms: Some(24 * 3600 * 1000),
        idle_end_ms: None,
        ended_retention_ms: 24 * 3600 * 1000,
    };
}

impl Default for LifecycleRules {
    fn default() -> Self {
        LifecycleRules::DEV
    }
}

/// Why a meeting ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndReason {
    /// DeleteMeeting.
    Deleted,
    /// It reached the maximum duration.
    MaxDuration,
    /// No attendee was connected for the idle limit.
    Idle,
    /// It was a replica and its primary ended.
    PrimaryEnded,
}

impl EndReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Deleted => "deleted",
            EndReason::MaxDuration => "max-duration",
            EndReason::Idle => "idle",
            EndReason::PrimaryEnded => "primary-ended",
        }
    }
}

/// One meeting that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MeetingEnd {
    pub account_id: AccountId,
    pub meeting_id: MeetingId,
    pub reason: EndReason,
    /// Meeting time of the end, in milliseconds since the epoch.
    pub at_ms: i64,
}

/// Ends a meeting and its replicas inside the caller's transaction: removes
/// them (attendees, tags and transcription go with them) and leaves a
/// tombstone for each. The meeting comes first in the result, then its replicas.
/// Empty when the account has no such meeting.
pub(crate) async fn end_meeting(
    tx: &mut dyn Tx,
    outbox: &Outbox,
    account_id: &AccountId,
    meeting_id: &MeetingId,
    reason: EndReason,
    now_ms: i64,
) -> Result<Vec<MeetingEnd>, StoreError> {
    // What MeetingEnded reports of each, read before they go.
    let mut meetings: Vec<_> = tx
        .meeting(account_id, meeting_id)
        .await?
        .into_iter()
        .collect();
    if !meetings.is_empty() {
        meetings.extend(tx.replica_meetings(account_id, meeting_id).await?);
    }
    let ids = tx.delete_meeting(account_id, meeting_id, now_ms).await?;
    for id in &ids {
        if let Some(m) = meetings.iter().find(|m| &m.meeting_id == id) {
            let facts = EventFacts::meeting(EventType::MeetingEnded);
            outbox.emit(tx, m, facts, now_ms).await?;
        }
    }
    Ok(ids
        .into_iter()
        .enumerate()
        .map(|(i, id)| MeetingEnd {
            account_id: account_id.clone(),
            meeting_id: id,
            reason: if i == 0 {
                reason
            } else {
                EndReason::PrimaryEnded
            },
            at_ms: now_ms,
        })
        .collect())
}

/// The meetings whose media another live node of the cluster hosts. Who is
/// connected to them is known on that node only, so the idle rule is left to
/// it: another node would see nobody and end a busy meeting.
pub trait HostedElsewhere: Send + Sync {
    /// The ids of the meetings another node with a fresh heartbeat hosts.
    fn hosted_elsewhere(&self) -> BoxFuture<'_, Result<HashSet<String>, String>>;
}

/// Who is connected to which meeting, and since when a meeting has had nobody:
/// what the idle rule needs. Kept in memory: after a restart, every meeting's
/// idle time starts again from the restart. In a cluster each node knows only
/// the connections it serves; [`HostedElsewhere`] names the meetings it must
/// leave to their host.
#[derive(Default)]
pub struct Presence {
    meetings: Mutex<HashMap<String, PresenceEntry>>,
    elsewhere: OnceLock<Arc<dyn HostedElsewhere>>,
}

impl std::fmt::Debug for Presence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presence")
            .field("meetings", &self.meetings)
            .field("clustered", &self.elsewhere.get().is_some())
            .finish()
    }
}

#[derive(Debug)]
struct PresenceEntry {
    account_id: Option<String>,
    connections: u32,
    /// Meeting time since which nobody has been connected.
    idle_since_ms: i64,
}

impl Presence {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, PresenceEntry>> {
        self.meetings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn created(&self, account_id: &str, meeting_id: &str, at_ms: i64) {
        self.lock()
            .entry(meeting_id.to_string())
            .or_insert(PresenceEntry {
                account_id: Some(account_id.to_string()),
                connections: 0,
                idle_since_ms: at_ms,
            });
    }

    fn connected(&self, meeting_id: &str) {
        let mut all = self.lock();
        let e = all.entry(meeting_id.to_string()).or_insert(PresenceEntry {
            account_id: None,
            connections: 0,
            idle_since_ms: 0,
        });
        e.connections += 1;
    }

    fn disconnected(&self, meeting_id: &str, clock: &MeetingClock) {
        let mut all = self.lock();
        if let Some(e) = all.get_mut(meeting_id) {
            e.connections = e.connections.saturating_sub(1);
            if e.connections == 0 {
                e.idle_since_ms = match &e.account_id {
                    Some(a) => clock.now_ms(a),
                    None => clock.global_now_ms(),
                };
            }
        }
    }

    /// Since when the meeting has had nobody connected (`None`: someone is).
    /// A meeting seen for the first time starts its idle time now.
    fn idle_since(&self, account_id: &str, meeting_id: &str, now_ms: i64) -> Option<i64> {
        let mut all = self.lock();
        let e = all.entry(meeting_id.to_string()).or_insert(PresenceEntry {
            account_id: None,
            connections: 0,
            idle_since_ms: now_ms,
        });
        e.account_id.get_or_insert_with(|| account_id.to_string());
        (e.connections == 0).then_some(e.idle_since_ms)
    }

    /// Another node hosts the meeting at `now_ms`: should it stop (that node
    /// dies), this node counts the idle time from here, not from whatever it
    /// saw before the meeting moved away.
    fn hosted_elsewhere_at(&self, account_id: &str, meeting_id: &str, now_ms: i64) {
        let mut all = self.lock();
        let e = all.entry(meeting_id.to_string()).or_insert(PresenceEntry {
            account_id: Some(account_id.to_string()),
            connections: 0,
            idle_since_ms: now_ms,
        });
        if e.connections == 0 {
            e.idle_since_ms = now_ms;
        }
    }

    fn forget(&self, meeting_id: &str) {
        self.lock().remove(meeting_id);
    }
}

impl Service {
    /// The clock meeting rules are judged by.
    pub fn clock(&self) -> &MeetingClock {
        &self.clock
    }

    /// The lifecycle rules in force.
    pub fn lifecycle_rules(&self) -> &LifecycleRules {
        &self.limits.lifecycle
    }

    /// A meeting was created: its idle time starts at its creation.
    pub(crate) fn meeting_created(&self, account_id: &str, meeting_id: &str, at_ms: i64) {
        self.presence.created(account_id, meeting_id, at_ms);
    }

    /// On a cluster: where to learn which meetings other nodes host, whose
    /// idle time this node does not judge. Set once, when the node joins.
    pub fn set_hosted_elsewhere(&self, source: Arc<dyn HostedElsewhere>) {
        let _ = self.presence.elsewhere.set(source);
    }

    /// The meetings the idle rule must skip on this node, those another node
    /// hosts: none off a cluster or without an idle rule. `None` when the
    /// cluster cannot be asked: then every meeting is skipped this time, since
    /// ending a meeting late is better than ending a busy one.
    async fn idle_skipped(&self) -> Option<HashSet<String>> {
        let source = self.presence.elsewhere.get();
        let Some(source) = source.filter(|_| self.limits.lifecycle.idle_end_ms.is_some()) else {
            return Some(HashSet::new());
        };
        match source.hosted_elsewhere().await {
            Ok(ids) => Some(ids),
            Err(e) => {
                tracing::debug!(error = %e, "cannot ask which meetings other nodes host; the idle rule waits");
                None
            }
        }
    }

    /// An attendee's media session joined the meeting.
    pub fn attendee_connected(&self, meeting_id: &str) {
        self.presence.connected(meeting_id);
    }

    /// An attendee's media session left the meeting (or was dropped).
    pub fn attendee_disconnected(&self, meeting_id: &str) {
        self.presence.disconnected(meeting_id, &self.clock);
    }

    /// After the transaction that ended them has committed: tells the rest of
    /// the server (live connections close with 4410), and logs each end.
    pub(crate) fn announce_ended(&self, ended: &[MeetingEnd]) {
        for e in ended {
            tracing::info!(
                account_id = %e.account_id,
                meeting_id = %e.meeting_id,
                reason = e.reason.as_str(),
                "meeting ended"
            );
            self.presence.forget(e.meeting_id.as_str());
            self.publish(DomainEvent::MeetingDeleted {
                meeting_id: e.meeting_id.to_string(),
            });
        }
    }

    /// Whether `m` is due to end. `idle` says whether the idle rule applies
    /// to it on this node (not when another node hosts its media).
    fn due(&self, m: &MeetingBrief, idle: bool) -> Option<EndReason> {
        let rules = &self.limits.lifecycle;
        let now = self.clock.now_ms(m.account_id.as_str());
        if rules
            .max_duration_ms
            .is_some_and(|max| now - m.created_at_ms >= max)
        {
            return Some(EndReason::MaxDuration);
        }
        let idle_end = rules.idle_end_ms?;
        if !idle || m.primary_meeting_id.is_some() {
            return None;
        }
        let since = self
            .presence
            .idle_since(m.account_id.as_str(), m.meeting_id.as_str(), now)?;
        (now - since >= idle_end).then_some(EndReason::Idle)
    }

    /// Ends every meeting whose time has come, by the meeting clock. Returns
    /// what ended (replicas included).
    pub async fn run_lifecycle(&self) -> Result<Vec<MeetingEnd>, StoreError> {
        let rules = &self.limits.lifecycle;
        if rules.max_duration_ms.is_none() && rules.idle_end_ms.is_none() {
            return Ok(Vec::new());
        }
        // With no idle rule, only meetings old enough to reach the maximum
        // duration by the clock of the account furthest ahead can be due.
        let created_by = match (rules.idle_end_ms, rules.max_duration_ms) {
            (None, Some(max)) => {
                let ahead = self
                    .clock
                    .account_offsets()
                    .into_iter()
                    .map(|(_, ms)| ms)
                    .max()
                    .unwrap_or(0)
                    .max(0);
                Some(self.clock.global_now_ms() + ahead - max)
            }
            _ => None,
        };
        let all = store::read(self.store(), move |tx| tx.meeting_briefs(created_by)).await?;
        // On a cluster, asked once per sweep.
        let skipped = self.idle_skipped().await;
        let mut due: Vec<(MeetingBrief, EndReason, bool)> = Vec::new();
        for m in all {
            let idle = match &skipped {
                None => false,
                Some(s) if s.contains(m.meeting_id.as_str()) => {
                    // Hosted elsewhere: should that node die, this one counts
                    // the idle time from now.
                    let now = self.clock.now_ms(m.account_id.as_str());
                    let (account, meeting) = (m.account_id.as_str(), m.meeting_id.as_str());
                    self.presence.hosted_elsewhere_at(account, meeting, now);
                    false
                }
                Some(_) => true,
            };
            if let Some(reason) = self.due(&m, idle) {
                due.push((m, reason, idle));
            }
        }
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let (this, due) = (self.clone(), Arc::new(due));
        let ended = store::write(self.store(), move |tx| {
            let (this, due) = (this.clone(), due.clone());
            Box::pin(async move {
                let mut ended = Vec::new();
                for (m, reason, idle) in due.iter() {
                    // Deleted meanwhile, ended just now as a replica, or joined since.
                    if tx.meeting(&m.account_id, &m.meeting_id).await?.is_none()
                        || this.due(m, *idle) != Some(*reason)
                    {
                        continue;
                    }
                    let now = this.clock.now_ms(m.account_id.as_str());
                    ended.extend(
                        end_meeting(tx, &this.outbox, &m.account_id, &m.meeting_id, *reason, now)
                            .await?,
                    );
                }
                Ok::<_, StoreError>(ended)
            })
        })
        .await?;
        self.announce_ended(&ended);
        Ok(ended)
    }

    /// Forgets meetings that ended longer ago than the retention time. Returns how many.
    pub async fn prune_ended(&self) -> Result<u64, StoreError> {
        let keep = self.limits.lifecycle.ended_retention_ms;
        let global_cutoff = self.clock.global_now_ms() - keep;
        let accounts: Arc<[(AccountId, i64)]> = self
            .clock
            .account_offsets()
            .into_iter()
            .map(|(a, _)| {
                let cutoff = self.clock.now_ms(&a) - keep;
                (AccountId::new(a), cutoff)
            })
            .collect();
        let pruned = store::write(self.store(), move |tx| {
            let accounts = accounts.clone();
            Box::pin(async move {
                let mut n = tx.prune_ended_meetings(None, global_cutoff).await?;
                for (account, cutoff) in accounts.iter() {
                    n += tx.prune_ended_meetings(Some(account), *cutoff).await?;
                }
                Ok::<_, StoreError>(n)
            })
        })
        .await?;
        if pruned > 0 {
            tracing::info!(pruned, "forgot ended meetings past the retention time");
        }
        Ok(pruned)
    }
}

/// Applies the lifecycle rules every `tick` (and prunes tombstones every
/// minute) until the runtime stops.
pub fn spawn(service: Service, tick: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let prune_every = (Duration::from_secs(60).as_millis() / tick.as_millis().max(1)).max(1);
        let mut n: u128 = 0;
        let mut interval = tokio::time::interval(tick);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            if let Err(e) = service.run_lifecycle().await {
                tracing::warn!(error = %e, "lifecycle rules could not be applied; trying again");
            }
            if n % prune_every == 0 {
                if let Err(e) = service.prune_ended().await {
                    tracing::warn!(error = %e, "ended meetings could not be pruned; trying again");
                }
            }
            n += 1;
        }
    })
}
