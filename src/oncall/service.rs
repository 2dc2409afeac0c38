//! The running on-call service: the schedules from the settings, the overrides from the
//! store, and the lookups everything else makes.
//!
//! Lookups never touch the store: each schedule's overrides are cached in memory (those
//! ending within the last [`CACHE_BEHIND`] or later), replaced whole after every change this
//! node makes, and, on a shared PostgreSQL store, reloaded as soon as another node announces
//! a change (`LISTEN klaxon_overrides`), with a reload every [`RELOAD_EVERY`] in case a
//! notification was lost. A lookup is a read lock, an `Arc` clone and the pure maths of
//! [`Schedule::who`].
//!
//! Calendar layers given by URL are fetched when the server starts and then every
//! `refresh`; a failed fetch keeps the shifts of the last good one (none before the first)
//! and is logged. Calendar files are read again on the same clock.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde::Serialize;

use super::overrides::{Override, Overrides};
use super::schedule::{Answer, Reason};
use super::settings::{self, CalendarFeed, CalendarSource, OncallSettings};
use super::zone::Instant;
use super::{Member, Schedule};
use crate::store::overrides::OverrideRow;
use crate::store::{Store, StoreError};

/// Overrides that ended longer ago than this are not cached (nor answered for).
pub const CACHE_BEHIND: TimeDelta = TimeDelta::days(90);
/// A reload of the override cache even without a notification.
pub const RELOAD_EVERY: Duration = Duration::from_secs(30);
/// The longest override accepted.
const MAX_OVERRIDE: TimeDelta = TimeDelta::days(366);
const MAX_NOTE_CHARS: usize = 500;
/// How long a calendar fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(20);
/// The largest calendar accepted from a URL.
const MAX_CALENDAR_BYTES: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum OncallError {
    #[error("no schedule named {0:?}")]
    UnknownSchedule(String),
    #[error("{0:?} is not a key of [people]")]
    UnknownPerson(String),
    #[error("an override must end after it starts, and last at most a year")]
    BadRange,
    #[error("the note is longer than {MAX_NOTE_CHARS} characters")]
    NoteTooLong,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who is on call for a schedule at an instant, as the API answers.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct WhoIsOnCall {
    pub schedule: String,
    #[schema(value_type = String, format = DateTime)]
    pub at: Instant,
    /// `null` when nobody is on call.
    pub person: Option<OnCallPerson>,
    pub reason: Reason,
    /// When this answer may next change; `null` when nothing later is known.
    #[schema(value_type = Option<String>, format = DateTime)]
    pub until: Option<Instant>,
}

/// The person on call.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OnCallPerson {
    /// The `[people]` key.
    pub key: String,
    pub name: Option<String>,
    /// +E.164.
    pub phone: String,
}

/// The on-call service; cheap to clone.
#[derive(Clone)]
pub struct Oncall {
    inner: Arc<Inner>,
}

struct Inner {
    settings: OncallSettings,
    store: Option<Store>,
    /// Overrides by schedule name; a change replaces a schedule's whole list.
    cache: RwLock<HashMap<String, Overrides>>,
}

impl Oncall {
    /// The service over `settings`, with no overrides yet and no background work: what tests
    /// and the benchmark start from (see [`Oncall::start`] for the server's).
    pub fn new(settings: OncallSettings, store: Option<Store>) -> Oncall {
        Oncall {
            inner: Arc::new(Inner {
                settings,
                store,
                cache: RwLock::new(HashMap::new()),
            }),
        }
    }

    /// The server's service: overrides loaded, calendar URLs fetched once, and the reloads
    /// running until `stop`.
    pub async fn start(
        settings: OncallSettings,
        store: Store,
        stop: tokio::sync::watch::Receiver<bool>,
    ) -> Result<Oncall, StoreError> {
        let oncall = Oncall::new(settings, Some(store));
        oncall.reload_overrides().await?;
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .ok();
        for feed in oncall.feeds() {
            if let (CalendarSource::Url(_), Some(client)) = (&feed.source, &client) {
                refresh(&feed, client).await;
            }
        }
        if !oncall.inner.settings.schedules.is_empty() {
            tokio::spawn(oncall.clone().watch_overrides(stop.clone()));
            for feed in oncall.feeds() {
                if let Some(client) = client.clone() {
                    tokio::spawn(refresh_every(feed, client, stop.clone()));
                }
            }
        }
        Ok(oncall)
    }

    fn feeds(&self) -> Vec<CalendarFeed> {
        self.inner
            .settings
            .schedules
            .values()
            .flat_map(|s| s.calendars.iter().cloned())
            .collect()
    }

    pub fn schedules(&self) -> impl Iterator<Item = &Schedule> {
        self.inner.settings.schedules.values().map(|s| &s.schedule)
    }

    pub fn schedule(&self, name: &str) -> Result<&Schedule, OncallError> {
        self.inner
            .settings
            .schedules
            .get(name)
            .map(|s| &s.schedule)
            .ok_or_else(|| OncallError::UnknownSchedule(name.to_owned()))
    }

    pub fn person(&self, key: &str) -> Option<&Member> {
        self.inner.settings.people.get(key)
    }

    /// The cached overrides of `schedule`.
    pub fn overrides(&self, schedule: &str) -> Overrides {
        let cache = match self.inner.cache.read() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        cache.get(schedule).cloned().unwrap_or_default()
    }

    /// Replaces the cached overrides of `schedule` (the store's reload, or a test's).
    pub fn set_overrides(&self, schedule: &str, overrides: Vec<Override>) {
        let mut cache = match self.inner.cache.write() {
            Ok(cache) => cache,
            Err(poisoned) => poisoned.into_inner(),
        };
        cache.insert(schedule.to_owned(), Overrides::new(overrides));
    }

    /// Who is on call for `schedule` at `at`: the pure answer, from memory.
    pub fn answer(&self, schedule: &str, at: Instant) -> Result<Answer, OncallError> {
        let overrides = self.overrides(schedule);
        Ok(self.schedule(schedule)?.who(at, &overrides))
    }

    /// [`Oncall::answer`] with the person's name and phone, as the API and escalations use it.
    pub fn who(&self, schedule: &str, at: Instant) -> Result<WhoIsOnCall, OncallError> {
        let answer = self.answer(schedule, at)?;
        let person = answer.person.as_deref().map(|key| {
            let member = self.person(key);
            OnCallPerson {
                key: key.to_owned(),
                name: member.and_then(|m| m.name.clone()),
                phone: member.map(|m| m.phone.clone()).unwrap_or_default(),
            }
        });
        Ok(WhoIsOnCall {
            schedule: schedule.to_owned(),
            at,
            person,
            reason: answer.reason,
            until: answer.until,
        })
    }

    /// The iCalendar feed of `schedule`: its shifts from `from` for `weeks` weeks.
    pub fn feed(&self, schedule: &str, from: Instant, weeks: u32) -> Result<String, OncallError> {
        let plan = self.schedule(schedule)?;
        let overrides = self.overrides(schedule);
        let to = from + TimeDelta::weeks(i64::from(weeks));
        let stretches = plan.stretches(from, to, &overrides, 5000);
        Ok(super::feed::render(plan, &stretches, |key| {
            self.person(key).cloned()
        }))
    }

    /// Adds an override; the cache has it when this returns.
    pub async fn add_override(
        &self,
        schedule: &str,
        person: &str,
        (start, end): (Instant, Instant),
        note: Option<String>,
    ) -> Result<Override, OncallError> {
        self.schedule(schedule)?;
        if self.person(person).is_none() {
            return Err(OncallError::UnknownPerson(person.to_owned()));
        }
        if end <= start || end - start > MAX_OVERRIDE {
            return Err(OncallError::BadRange);
        }
        let note = note.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty());
        if note
            .as_ref()
            .is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS)
        {
            return Err(OncallError::NoteTooLong);
        }
        let created = Override {
            id: format!("ovr_{}", uuid::Uuid::now_v7().simple()),
            schedule: schedule.to_owned(),
            person: person.to_owned(),
            start: millis(start.timestamp_millis()),
            end: millis(end.timestamp_millis()),
            note,
            created_at: millis(Utc::now().timestamp_millis()),
        };
        if let Some(store) = &self.inner.store {
            store.insert_override(row_of(&created)).await?;
            self.reload_overrides().await?;
        } else {
            let mut list = self.overrides(schedule).as_slice().to_vec();
            list.push(created.clone());
            self.set_overrides(schedule, list);
        }
        Ok(created)
    }

    /// Removes an override; false when `schedule` has none with that id.
    pub async fn remove_override(&self, schedule: &str, id: &str) -> Result<bool, OncallError> {
        self.schedule(schedule)?;
        let Some(store) = &self.inner.store else {
            let list = self.overrides(schedule).as_slice().to_vec();
            let kept: Vec<_> = list.iter().filter(|o| o.id != id).cloned().collect();
            let removed = kept.len() < list.len();
            self.set_overrides(schedule, kept);
            return Ok(removed);
        };
        let removed = store
            .delete_override(schedule.to_owned(), id.to_owned())
            .await?;
        self.reload_overrides().await?;
        Ok(removed)
    }

    /// The overrides of `schedule` that end after `after`, from the store.
    pub async fn list_overrides(
        &self,
        schedule: &str,
        after: Instant,
    ) -> Result<Vec<Override>, OncallError> {
        self.schedule(schedule)?;
        let Some(store) = &self.inner.store else {
            let list = self.overrides(schedule);
            return Ok(list
                .as_slice()
                .iter()
                .filter(|o| o.end > after)
                .cloned()
                .collect());
        };
        Ok(store
            .list_overrides(Some(schedule.to_owned()), after.timestamp_millis())
            .await?
            .into_iter()
            .map(override_of)
            .collect())
    }

    /// Reads every schedule's recent and coming overrides into the cache.
    pub async fn reload_overrides(&self) -> Result<(), StoreError> {
        let Some(store) = &self.inner.store else {
            return Ok(());
        };
        let since = (Utc::now() - CACHE_BEHIND).timestamp_millis();
        let mut by_schedule: HashMap<String, Vec<Override>> = self
            .inner
            .settings
            .schedules
            .keys()
            .map(|name| (name.clone(), Vec::new()))
            .collect();
        for row in store.list_overrides(None, since).await? {
            if let Some(list) = by_schedule.get_mut(&row.schedule) {
                list.push(override_of(row));
            }
        }
        let fresh = by_schedule
            .into_iter()
            .map(|(name, list)| (name, Overrides::new(list)))
            .collect();
        match self.inner.cache.write() {
            Ok(mut cache) => *cache = fresh,
            Err(poisoned) => *poisoned.into_inner() = fresh,
        }
        Ok(())
    }

    /// Reloads the cache when another node announces a change, and every [`RELOAD_EVERY`].
    async fn watch_overrides(self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let Some(store) = self.inner.store.clone() else {
            return;
        };
        loop {
            tokio::select! {
                _ = store.overrides_changed() => {}
                _ = tokio::time::sleep(RELOAD_EVERY) => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            if let Err(error) = self.reload_overrides().await {
                tracing::warn!(%error, "could not reload on-call overrides; the cached ones stay");
            }
        }
    }
}

/// Re-reads a calendar layer every `refresh` until `stop`.
async fn refresh_every(
    feed: CalendarFeed,
    client: reqwest::Client,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(feed.refresh) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        refresh(&feed, &client).await;
    }
}

/// Reads a calendar layer once; on failure the shifts it had stay.
pub async fn refresh(feed: &CalendarFeed, client: &reqwest::Client) {
    let loaded = match &feed.source {
        CalendarSource::File(path) => settings::load_file(path, feed.zone, &feed.people),
        CalendarSource::Url(url) => match fetch(client, url).await {
            Ok(text) => {
                settings::expand_text(&text, feed.zone, &feed.people).map_err(|e| e.to_string())
            }
            Err(error) => Err(error),
        },
    };
    match loaded {
        Ok(shifts) => {
            tracing::info!(layer = %feed.layer, source = %feed.source, shifts = shifts.len(), "calendar layer loaded");
            let shifts: Arc<[_]> = shifts.into();
            match feed.shifts.write() {
                Ok(mut current) => *current = shifts,
                Err(poisoned) => *poisoned.into_inner() = shifts,
            }
        }
        Err(error) => {
            tracing::warn!(layer = %feed.layer, source = %feed.source, %error, "could not load a calendar layer; its last shifts stay");
        }
    }
}

async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Result<String, String> {
    let response = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| crate::error_text::with_causes(&e.without_url()))?;
    if !response.status().is_success() {
        return Err(format!("answered {}", response.status()));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| crate::error_text::with_causes(&e.without_url()))?;
    if body.len() > MAX_CALENDAR_BYTES {
        return Err(format!("larger than {MAX_CALENDAR_BYTES} bytes"));
    }
    String::from_utf8(body.to_vec()).map_err(|_| "not UTF-8 text".to_owned())
}

fn millis(ms: i64) -> Instant {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn row_of(o: &Override) -> OverrideRow {
    OverrideRow {
        id: o.id.clone(),
        schedule: o.schedule.clone(),
        person: o.person.clone(),
        start_ms: o.start.timestamp_millis(),
        end_ms: o.end.timestamp_millis(),
        note: o.note.clone(),
        created_at_ms: o.created_at.timestamp_millis(),
    }
}

fn override_of(row: OverrideRow) -> Override {
    Override {
        id: row.id,
        schedule: row.schedule,
        person: row.person,
        start: millis(row.start_ms),
        end: millis(row.end_ms),
        note: row.note,
        created_at: millis(row.created_at_ms),
    }
}
