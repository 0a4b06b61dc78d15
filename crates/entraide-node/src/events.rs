//! Trainings and events with seats, as the command line asks for them: add
//! (booking the room too when one is named), register, cancel a
//! registration, close or open registrations, list, and the attendance
//! list as CSV. The seat rule itself lives in `entraide_docs::events`.

use entraide_docs::events::{Event, NewEvent};
use entraide_docs::time::{format_time, parse_time};
use entraide_docs::{DocKind, Shelf};
use entraide_store::WriteBatch;
use serde_json::{Value, json};

use crate::{Node, NodeError, Reply};

impl Node {
    /// `event add`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn event_add(
        &mut self,
        title: &str,
        from: &str,
        to: &str,
        seats: i64,
        per_org: Option<i64>,
        resource: Option<&str>,
        group: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        // A group's event is for its members only: its room, if named, is
        // looked for in the alliance's and the groups' calendars alike.
        let doc = match group {
            Some(g) => DocKind::group(self.my_group(g)?.id, Shelf::Events),
            None => DocKind::Events,
        };
        let (from_ms, to_ms) = (parse_time(from, self.zone)?, parse_time(to, self.zone)?);
        let id = self.new_record_id()?;
        let new = |resource, booking| NewEvent {
            id: &id,
            title,
            from: from_ms,
            to: to_ms,
            seats,
            per_org,
            resource,
            booking,
        };
        // Checked before the room is booked, so that a refusal books nothing.
        new(None, None).check()?;
        let (resource_id, booking) = match resource {
            Some(r) => {
                let reply = self.book(r, from, to, title.trim(), None, None, None)?;
                let id = reply.json["ids"][0].as_str().map(str::to_owned);
                let resource = reply.json["resource"].as_str().map(str::to_owned);
                (resource, id)
            }
            None => (None, None),
        };
        let author = self.author();
        let now = self.env.now_ms();
        self.events_of(doc)?.add(
            &author,
            now,
            &new(resource_id.as_deref(), booking.as_deref()),
        )?;
        self.persist(doc, WriteBatch::new())?;
        let event = self.events_of(doc)?.get(&id)?;
        let mut text = id.clone();
        if let Some(b) = &booking {
            text += &format!("\nbooked {b}");
        }
        Ok(Reply::new(self.event_json(&event), text))
    }

    /// `event register`.
    pub(crate) fn event_register(
        &mut self,
        event: &str,
        seats: i64,
        names: &str,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let (author, now) = (self.author(), self.env.now_ms());
        let doc = self.find_event_doc(event)?;
        let event = self
            .events_of(doc)?
            .register(&author, now, event, seats, names)?;
        self.persist(doc, WriteBatch::new())?;
        let status = event
            .registration_of(&author.org)
            .map_or("waiting", |r| r.status.name());
        Ok(Reply::new(
            self.event_json(&event),
            format!("{seats} seat(s) for '{}': {status}", event.title),
        ))
    }

    /// `event cancel-registration`.
    pub(crate) fn event_cancel_registration(&mut self, event: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let (author, now) = (self.author(), self.env.now_ms());
        let doc = self.find_event_doc(event)?;
        let event = self
            .events_of(doc)?
            .cancel_registration(&author, now, event)?;
        self.persist(doc, WriteBatch::new())?;
        Ok(Reply::new(
            self.event_json(&event),
            format!("registration for '{}' cancelled", event.title),
        ))
    }

    /// `event close` (`open: false`) and `event open`.
    pub(crate) fn event_set_open(&mut self, event: &str, open: bool) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let (author, now) = (self.author(), self.env.now_ms());
        let doc = self.find_event_doc(event)?;
        let event = self.events_of(doc)?.set_open(&author, now, event, open)?;
        self.persist(doc, WriteBatch::new())?;
        let what = if open { "open" } else { "closed" };
        Ok(Reply::new(
            self.event_json(&event),
            format!("registrations for '{}' are {what}", event.title),
        ))
    }

    /// `event list`.
    pub(crate) fn event_list(&mut self) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let mut events: Vec<(DocKind, Event)> = Vec::new();
        for doc in self.event_docs() {
            events.extend(self.events_of(doc)?.list().into_iter().map(|e| (doc, e)));
        }
        events.sort_by(|(_, a), (_, b)| (a.from, &a.id).cmp(&(b.from, &b.id)));
        let mut text = String::new();
        for (doc, e) in &events {
            let group = self.group_name_of(*doc);
            let closed = if e.closed_at.is_some() {
                ", closed"
            } else {
                ""
            };
            text += &format!(
                "{}  {}{}  {} -> {}  {}/{} seats{closed}\n",
                &e.id[..8],
                e.title,
                group.map(|g| format!(" (group {g})")).unwrap_or_default(),
                format_time(e.from, self.zone),
                format_time(e.to, self.zone),
                e.confirmed_seats(),
                e.seats,
            );
            for r in &e.registrations {
                text += &format!(
                    "    {} {} {}\n",
                    self.org_name(&r.org),
                    r.seats,
                    r.status.name()
                );
            }
        }
        if events.is_empty() {
            text = "no events yet; add one with `entraide event add`".into();
        }
        let json: Vec<Value> = events
            .iter()
            .map(|(doc, e)| {
                let mut j = self.event_json(e);
                j["group"] = json!(self.group_name_of(*doc));
                j
            })
            .collect();
        Ok(Reply::new(Value::Array(json), text.trim_end().to_owned()))
    }

    /// `event attendance`: who comes, as CSV (one row per registration).
    pub(crate) fn event_attendance(&mut self, event: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let doc = self.find_event_doc(event)?;
        let event = self.events_of(doc)?.get(event)?;
        let mut csv = csv::Writer::from_writer(Vec::new());
        let rows = std::iter::once(
            ["event", "from", "organisation", "seats", "status", "names"].map(String::from),
        )
        .chain(event.registrations.iter().map(|r| {
            [
                event.title.clone(),
                format_time(event.from, self.zone),
                self.org_name(&r.org),
                r.seats.to_string(),
                r.status.name().to_owned(),
                r.names.clone(),
            ]
        }));
        for row in rows {
            csv.write_record(&row)
                .map_err(|e| NodeError::io("write", "the attendance list", e))?;
        }
        let bytes = csv
            .into_inner()
            .map_err(|e| NodeError::io("write", "the attendance list", e))?;
        let mut reply = Reply::new(
            json!({"event": event.id, "registrations": event.registrations.len()}),
            format!(
                "{} registration(s) for '{}'",
                event.registrations.len(),
                event.title
            ),
        );
        reply.file = Some(bytes);
        Ok(reply)
    }

    /// An event as the contract shows it.
    fn event_json(&self, e: &Event) -> Value {
        let registrations: Vec<Value> = e
            .registrations
            .iter()
            .map(|r| {
                json!({
                    "org": self.org_name(&r.org),
                    "org_id": r.org,
                    "seats": r.seats,
                    "names": r.names,
                    "status": r.status.name(),
                    "after_close": r.after_close,
                })
            })
            .collect();
        json!({
            "id": e.id,
            "title": e.title,
            "from": format_time(e.from, self.zone),
            "to": format_time(e.to, self.zone),
            "seats": e.seats,
            "per_org": e.per_org,
            "confirmed_seats": e.confirmed_seats(),
            "resource": e.resource,
            "booking": e.booking,
            "org": self.org_name(&e.org),
            "closed": e.closed_at.is_some(),
            "registrations": registrations,
        })
    }
}
