//! What the live page shows, read from the store in one go: who is on call now per
//! schedule, the open alert groups, recent events, recent escalations with their timelines
//! and write-backs, recent deliveries and the dead letter queue with their attempt logs. Rendering is [`super::render`]'s job.

use crate::oncall::{Oncall, WhoIsOnCall};
use crate::store::{
    AlertGroup, Delivery, DeliveryQuery, DeliveryState, Escalation, Event, EventQuery, Store,
    StoreError,
};

/// How much of each list the page shows; enough to watch, small enough to re-read every
/// second or two.
const EVENTS: usize = 20;
const ESCALATIONS: usize = 6;
const DELIVERIES: usize = 15;
const DEAD_LETTERS: usize = 20;
const ALERT_GROUPS: usize = 20;
/// Write-backs and other deliveries looked at per escalation's event.
const DELIVERIES_PER_EVENT: usize = 20;

/// An escalation with what the page shows beside it.
pub struct EscalationView {
    /// With its `timeline`.
    pub escalation: Escalation,
    /// The event that started it (gone only if the store was edited by hand).
    pub event: Option<Event>,
    /// The Merge write-backs of its outcome (deliveries of the `escalation` pipeline).
    pub write_backs: Vec<Delivery>,
}

pub struct Snapshot {
    /// Who each schedule has on call now, in the schedules' order.
    pub on_call: Vec<WhoIsOnCall>,
    /// Alerts firing or acknowledged, not yet resolved, newest first.
    pub alert_groups: Vec<AlertGroup>,
    pub events: Vec<Event>,
    pub escalations: Vec<EscalationView>,
    /// Newest first, each with its `attempt_log`.
    pub deliveries: Vec<Delivery>,
    /// The dead letter queue, newest first, each with its `attempt_log`.
    pub dead_letters: Vec<Delivery>,
}

/// The pipeline name the voice engine gives write-back jobs.
const WRITE_BACK_PIPELINE: &str = "escalation";

pub async fn load(store: &Store, oncall: &Oncall) -> Result<Snapshot, StoreError> {
    let now = chrono::Utc::now();
    let on_call = oncall
        .schedules()
        .filter_map(|schedule| oncall.who(&schedule.name, now).ok())
        .collect();
    let alert_groups = store.open_alert_groups(ALERT_GROUPS).await?;
    let events = store
        .list_events(EventQuery {
            event_type: None,
            after: None,
            limit: EVENTS,
        })
        .await?
        .data;

    let mut escalations = Vec::new();
    for listed in store.list_escalations(None, None, ESCALATIONS).await?.data {
        let Ok(id) = listed.id.parse() else { continue };
        let Some(escalation) = store.get_escalation(id).await? else {
            continue;
        };
        let (event, write_backs) = match escalation.event_id.parse() {
            Ok(event_id) => {
                let deliveries = store
                    .list_deliveries(DeliveryQuery {
                        event_id: Some(event_id),
                        limit: DELIVERIES_PER_EVENT,
                        ..DeliveryQuery::default()
                    })
                    .await?
                    .data;
                let write_backs = deliveries
                    .into_iter()
                    .filter(|d| d.pipeline == WRITE_BACK_PIPELINE)
                    .collect();
                (store.get_event(event_id).await?, write_backs)
            }
            Err(_) => (None, Vec::new()),
        };
        escalations.push(EscalationView {
            escalation,
            event,
            write_backs,
        });
    }

    let deliveries = with_attempts(
        store,
        DeliveryQuery {
            limit: DELIVERIES,
            ..DeliveryQuery::default()
        },
    )
    .await?;
    let dead_letters = with_attempts(
        store,
        DeliveryQuery {
            state: Some(DeliveryState::Dead),
            limit: DEAD_LETTERS,
            ..DeliveryQuery::default()
        },
    )
    .await?;
    Ok(Snapshot {
        on_call,
        alert_groups,
        events,
        escalations,
        deliveries,
        dead_letters,
    })
}

/// The deliveries of `query`, each read again for its attempt log.
async fn with_attempts(store: &Store, query: DeliveryQuery) -> Result<Vec<Delivery>, StoreError> {
    let mut detailed = Vec::new();
    for listed in store.list_deliveries(query).await?.data {
        // Gone between the two reads only if deleted; the listed row is still worth showing.
        let delivery = store.get_delivery(listed.id).await?.unwrap_or(listed);
        detailed.push(delivery);
    }
    Ok(detailed)
}
