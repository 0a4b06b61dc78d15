//! Working groups: their documents on this node, who may receive them, and
//! the group commands.
//!
//! A group (see `entraide_membership::GroupState`) has six documents, its
//! *shelves* (`entraide_docs::Shelf`): notes, library, calendar, proposals,
//! events and ledger, each with the schema and the authority rules of the
//! alliance's document of the same kind. Only the nodes of its member
//! organisations hold them: a node loads a group's documents once its
//! organisation belongs to the group, offers them only to peers whose
//! organisation belongs to it too ([`Node::shares_with`]), and ignores them
//! from anyone else.

use entraide_docs::{
    Calendar, Charter, DocKind, EPOCH_LEN, Events, Ledger, Library, Part, Proposals, SharedDoc,
    Shelf,
};
use entraide_membership::{DeviceId, GroupState, OpBody};
use serde_json::{Value, json};

use crate::{Node, NodeError, Reply};

/// The documents of one working group.
#[derive(Debug)]
pub(crate) struct GroupDocs {
    pub(crate) notes: Charter,
    pub(crate) library: Library,
    pub(crate) calendar: Calendar,
    pub(crate) proposals: Proposals,
    pub(crate) events: Events,
    pub(crate) ledger: Ledger,
}

impl GroupDocs {
    /// A group's documents holding only their genesis.
    pub(crate) fn genesis(group: [u8; 16], device: [u8; 32], epoch: [u8; EPOCH_LEN]) -> Self {
        let new = |shelf| {
            let mut doc = SharedDoc::new(DocKind::group(group, shelf), device);
            doc.write_as(epoch);
            doc
        };
        Self {
            notes: Charter::new(new(Shelf::Notes)),
            library: Library::new(new(Shelf::Library)),
            calendar: Calendar::new(new(Shelf::Calendar)),
            proposals: Proposals::new(new(Shelf::Proposals)),
            events: Events::new(new(Shelf::Events)),
            ledger: Ledger::new(new(Shelf::Ledger)),
        }
    }

    pub(crate) fn doc_mut(&mut self, shelf: Shelf) -> &mut SharedDoc {
        match shelf {
            Shelf::Notes => self.notes.doc_mut(),
            Shelf::Library => self.library.doc_mut(),
            Shelf::Calendar => self.calendar.doc_mut(),
            Shelf::Proposals => self.proposals.doc_mut(),
            Shelf::Events => self.events.doc_mut(),
            Shelf::Ledger => self.ledger.doc_mut(),
        }
    }
}

impl Node {
    /// Loads a group's documents (and their attestations) from the store,
    /// once. A document that cannot be read is an error, as for the
    /// alliance's (`crate::docs`): the group stays unloaded, never shown
    /// nor written from its genesis in the place of what the store holds.
    pub(crate) fn load_group(&mut self, group: [u8; 16]) -> Result<(), NodeError> {
        if self.docs.groups.contains_key(&group) {
            return Ok(());
        }
        let mut docs = GroupDocs::genesis(group, self.device.0, self.epoch);
        for shelf in Shelf::ALL {
            let kind = DocKind::group(group, shelf);
            *docs.doc_mut(shelf) =
                crate::docs::load_doc(&self.store, kind, self.device.0, self.epoch)?;
        }
        docs.calendar.refresh();
        self.docs.groups.insert(group, docs);
        Ok(())
    }

    /// Every document this node holds: the alliance's and its groups'.
    pub(crate) fn docs_held(&self) -> Vec<DocKind> {
        DocKind::ALL
            .into_iter()
            .chain(
                self.my_groups()
                    .iter()
                    .flat_map(|g| Shelf::ALL.map(|s| DocKind::group(g.id, s))),
            )
            .collect()
    }

    /// The documents of one shelf of each group this organisation belongs to.
    pub(crate) fn group_shelves(&self, shelf: Shelf) -> Vec<DocKind> {
        self.membership
            .state
            .groups_of(&self.org_id)
            .map(|g| DocKind::group(g.id, shelf))
            .collect()
    }

    /// The entries of the libraries of this organisation's groups, with
    /// their group.
    ///
    /// An error if one cannot be read: leaving it out would, among others,
    /// have its files deleted as named by no entry.
    pub(crate) fn group_library_entries(
        &mut self,
    ) -> Result<Vec<([u8; 16], entraide_docs::library::LibraryEntry)>, NodeError> {
        let groups: Vec<[u8; 16]> = self.my_groups().iter().map(|g| g.id).collect();
        let mut out = Vec::new();
        for g in groups {
            self.load_group(g)?;
            if let Some(docs) = self.docs.groups.get(&g) {
                out.extend(docs.library.list().into_iter().map(|e| (g, e)));
            }
        }
        Ok(out)
    }

    /// Whether this node may send the library file `hash` to the device
    /// `peer`: an entry of the alliance's library names it, or one of a
    /// group both organisations belong to.
    pub fn file_visible_to(&mut self, hash: &[u8; 32], peer: &DeviceId) -> bool {
        let named = match self.named_files() {
            Ok(named) => named,
            Err(e) => {
                tracing::error!(error = %e, "cannot read the library");
                return false;
            }
        };
        if named.alliance.contains(hash) {
            return true;
        }
        let groups: Vec<[u8; 16]> = named
            .groups
            .iter()
            .filter(|(_, h)| h == hash)
            .map(|(g, _)| *g)
            .collect();
        let peer_org = self
            .membership
            .state
            .org_of_device(peer)
            .map(|o| o.id.clone());
        groups.iter().any(|g| {
            peer_org
                .as_deref()
                .is_some_and(|o| self.membership.state.in_group(g, o))
        })
    }

    /// The files the libraries this node holds name, read again only when
    /// one of those libraries (or this organisation's groups) changed.
    fn named_files(&mut self) -> Result<&NamedFiles, NodeError> {
        let mut key = self.docs.library_mut()?.doc_mut().heads();
        let shelves = self.group_shelves(Shelf::Library);
        for kind in &shelves {
            key.extend(self.doc_mut(*kind)?.heads());
        }
        let groups: Vec<u8> = shelves
            .iter()
            .filter_map(|k| k.group_id())
            .flatten()
            .collect();
        key.push(entraide_docs::ChangeHash(*blake3::hash(&groups).as_bytes()));
        let named = match self.docs.named_files.take() {
            Some((at, named)) if at == key => named,
            _ => {
                let alliance = self
                    .docs
                    .library()?
                    .file_hashes()
                    .iter()
                    .filter_map(|h| Self::blob_key(h))
                    .collect();
                let groups = self
                    .group_library_entries()?
                    .into_iter()
                    .filter_map(|(g, e)| Self::blob_key(&e.hash).map(|h| (g, h)))
                    .collect();
                NamedFiles { alliance, groups }
            }
        };
        Ok(&self.docs.named_files.insert((key, named)).1)
    }

    /// A group's documents, loaded.
    pub(crate) fn group_docs(&mut self, group: [u8; 16]) -> Result<&mut GroupDocs, NodeError> {
        self.load_group(group)?;
        Ok(self.docs.group_mut(group))
    }

    /// The library of the alliance (`DocKind::Library`) or of a group.
    pub(crate) fn library_of(&mut self, doc: DocKind) -> Result<&mut Library, NodeError> {
        match doc.group_id() {
            Some(g) => Ok(&mut self.group_docs(g)?.library),
            None => self.docs.library_mut(),
        }
    }

    /// The proposals of the alliance (`DocKind::Proposals`) or of a group.
    pub(crate) fn proposals_of(&mut self, doc: DocKind) -> Result<&mut Proposals, NodeError> {
        match doc.group_id() {
            Some(g) => Ok(&mut self.group_docs(g)?.proposals),
            None => self.docs.proposals_mut(),
        }
    }

    /// A library entry by id, id prefix or title: in the alliance's library
    /// first, then in those of this organisation's groups.
    pub(crate) fn find_library_entry(
        &mut self,
        query: &str,
    ) -> Result<(DocKind, entraide_docs::library::LibraryEntry), NodeError> {
        match self.docs.library()?.get(query) {
            Ok(e) => Ok((DocKind::Library, e)),
            Err(first) => {
                for g in self.my_groups() {
                    let doc = DocKind::group(g.id, Shelf::Library);
                    if let Ok(e) = self.library_of(doc)?.get(query) {
                        return Ok((doc, e));
                    }
                }
                Err(first.into())
            }
        }
    }

    /// The calendars this organisation sees: the alliance's parts, then
    /// its groups' (loaded). The part `query` names (a resource's or a
    /// booking's id) comes first: a search for a whole id then stops there,
    /// having loaded one part.
    pub(crate) fn calendars(&mut self, query: Option<&str>) -> Result<Vec<DocKind>, NodeError> {
        let groups = self.group_shelves(Shelf::Calendar);
        for g in &groups {
            if let Some(id) = g.group_id() {
                self.load_group(id)?;
            }
        }
        let named = query.map(DocKind::calendar_of);
        Ok(named
            .into_iter()
            .chain(
                Part::all()
                    .map(DocKind::Calendar)
                    .filter(|d| Some(*d) != named),
            )
            .chain(groups)
            .collect())
    }

    /// A resource by id, id prefix or name, with the calendar it is in.
    ///
    /// While some part of the calendar is not loaded, the resource names
    /// each part keeps in the store say which part to read first
    /// (`Docs::resource_named`): a name or an id prefix is found by reading
    /// one part instead of each in turn, and the part read confirms it.
    /// Where they do not say, or the part does not confirm, every calendar
    /// is searched.
    pub(crate) fn find_resource(
        &mut self,
        query: &str,
    ) -> Result<(DocKind, entraide_docs::calendar::Resource), NodeError> {
        let all_loaded = Part::all().all(|p| self.docs.is_loaded(DocKind::Calendar(p)));
        if !all_loaded && let Some(id) = self.docs.resource_named(query) {
            // The names kept may be older than the part: it must read the
            // query as the same resource.
            match self.find_resource_in(query, [DocKind::calendar_of(&id)]) {
                Ok(found) if found.1.id == id => return Ok(found),
                _ => {}
            }
        }
        let calendars = self.calendars(Some(query))?;
        self.find_resource_in(query, calendars)
    }

    /// [`Node::find_resource`] among these calendars, in this order.
    pub(crate) fn find_resource_in(
        &mut self,
        query: &str,
        calendars: impl IntoIterator<Item = DocKind>,
    ) -> Result<(DocKind, entraide_docs::calendar::Resource), NodeError> {
        let mut first = None;
        for doc in calendars {
            match crate::node::calendar_in(&mut self.docs, doc)?.resource(query) {
                Ok(r) => return Ok((doc, r)),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first
            .map(NodeError::from)
            .unwrap_or_else(|| NodeError::Invalid(format!("no resource '{query}'"))))
    }

    /// The calendar a booking (id or id prefix) is in.
    pub(crate) fn find_booking_doc(&mut self, query: &str) -> Result<DocKind, NodeError> {
        let mut first = None;
        for doc in self.calendars(Some(query))? {
            let dir = crate::node::directory(&self.membership.state);
            match crate::node::calendar_in(&mut self.docs, doc)?.booking(query, &dir) {
                Ok(_) => return Ok(doc),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first
            .map(NodeError::from)
            .unwrap_or_else(|| NodeError::Invalid(format!("no booking '{query}'"))))
    }

    /// The ledger of the alliance (`DocKind::Ledger`) or of a group.
    pub(crate) fn ledger_of(&mut self, doc: DocKind) -> Result<&mut Ledger, NodeError> {
        match doc.group_id() {
            Some(g) => Ok(&mut self.group_docs(g)?.ledger),
            None => self.docs.ledger_mut(),
        }
    }

    /// The events documents this organisation sees: the alliance's, then
    /// its groups'.
    pub(crate) fn event_docs(&self) -> Vec<DocKind> {
        std::iter::once(DocKind::Events)
            .chain(self.group_shelves(Shelf::Events))
            .collect()
    }

    /// The events of the alliance (`DocKind::Events`) or of a group.
    pub(crate) fn events_of(&mut self, doc: DocKind) -> Result<&mut Events, NodeError> {
        match doc.group_id() {
            Some(g) => Ok(&mut self.group_docs(g)?.events),
            None => self.docs.events_mut(),
        }
    }

    /// The events document an event (id, prefix or title) is in.
    pub(crate) fn find_event_doc(&mut self, query: &str) -> Result<DocKind, NodeError> {
        let mut first = None;
        for doc in self.event_docs() {
            match self.events_of(doc)?.get(query) {
                Ok(_) => return Ok(doc),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        Err(first
            .map(NodeError::from)
            .unwrap_or_else(|| NodeError::Invalid(format!("no event '{query}'"))))
    }

    /// The name of the group a document belongs to, if it is a group's.
    pub(crate) fn group_name_of(&self, doc: DocKind) -> Option<String> {
        doc.group_id()
            .and_then(|g| self.membership.state.groups.get(&g))
            .map(|g| g.name.clone())
    }

    /// The live groups this organisation belongs to.
    pub(crate) fn my_groups(&self) -> Vec<GroupState> {
        self.membership
            .state
            .groups_of(&self.org_id)
            .cloned()
            .collect()
    }

    /// Whether `org` takes part in exchanging the group's documents: a
    /// member now, or an organisation that left the alliance while it was
    /// one (its node sends its last changes, which count up to the cutoffs
    /// of its departure, and nothing after: the alliance refuses its
    /// connections once it knows).
    fn exchanges(&self, g: &GroupState, org: &str) -> bool {
        g.orgs.contains(org)
            || (!g.dissolved
                && g.ever.contains(org)
                && self
                    .membership
                    .state
                    .orgs
                    .get(org)
                    .is_some_and(|o| o.status == entraide_membership::OrgStatus::Removed))
    }

    /// Whether this node and a node of `peer_org` exchange the group's
    /// documents: both take part, and at least one is a member now.
    fn group_shared(&self, g: &GroupState, peer_org: &str) -> bool {
        self.exchanges(g, &self.org_id)
            && self.exchanges(g, peer_org)
            && (g.orgs.contains(&self.org_id) || g.orgs.contains(peer_org))
    }

    /// Every document this node would share with a peer of `peer_org`
    /// (`None`: the alliance's only): the alliance's, and those of the
    /// groups both organisations take part in.
    pub(crate) fn docs_shared_with_org(&self, peer_org: Option<&str>) -> Vec<DocKind> {
        let mut out = DocKind::ALL.to_vec();
        if let Some(peer) = peer_org {
            for g in self.membership.state.groups.values() {
                if self.group_shared(g, peer) {
                    out.extend(Shelf::ALL.map(|s| DocKind::group(g.id, s)));
                }
            }
        }
        out
    }

    /// The documents this node exchanges with the device `peer`.
    pub fn docs_shared_with(&self, peer: &DeviceId) -> Vec<DocKind> {
        let org = self
            .membership
            .state
            .any_org_of_device(peer)
            .map(|o| o.id.clone());
        self.docs_shared_with_org(org.as_deref())
    }

    /// Whether this node exchanges `doc` with the device `peer`: every
    /// alliance document with every member; a group's only between two
    /// organisations that take part in it, one of them a member now
    /// (see `exchanges`).
    pub fn shares_with(&self, doc: DocKind, peer: &DeviceId) -> bool {
        match doc.group_id() {
            None => true,
            Some(group) => {
                let state = &self.membership.state;
                match (state.groups.get(&group), state.any_org_of_device(peer)) {
                    (Some(g), Some(o)) => self.group_shared(g, &o.id),
                    _ => false,
                }
            }
        }
    }

    /// A group by id, id prefix or name (among those this organisation may
    /// see: every live group).
    pub(crate) fn resolve_group(&self, query: &str) -> Result<GroupState, NodeError> {
        let groups: Vec<(String, &GroupState)> = self
            .membership
            .state
            .groups
            .values()
            .filter(|g| !g.dissolved)
            .map(|g| (g.id_hex(), g))
            .collect();
        let id = entraide_docs::lookup::resolve(
            query,
            groups.iter().map(|(id, g)| (id.as_str(), g.name.as_str())),
            "group",
            "group list",
        )?;
        groups
            .into_iter()
            .find(|(i, _)| *i == id)
            .map(|(_, g)| g.clone())
            .ok_or_else(|| NodeError::Invalid(format!("no group '{query}'")))
    }

    /// A group this organisation belongs to, for writing into its documents.
    pub(crate) fn my_group(&self, query: &str) -> Result<GroupState, NodeError> {
        let g = self.resolve_group(query)?;
        if !g.orgs.contains(&self.org_id) {
            return Err(NodeError::Invalid(format!(
                "your organisation is not a member of the group '{}'",
                g.name
            )));
        }
        Ok(g)
    }

    fn group_json(&self, g: &GroupState) -> Value {
        let mut names: Vec<String> = g.orgs.iter().map(|o| self.org_display_name(o)).collect();
        names.sort();
        json!({
            "id": g.id_hex(),
            "name": g.name,
            "description": g.description,
            "orgs": names,
            "org_ids": g.orgs.iter().collect::<Vec<_>>(),
            "member": g.orgs.contains(&self.org_id),
            "created_by": self.org_display_name(&g.created_by),
        })
    }

    /// `group create`.
    pub(crate) fn group_create(
        &mut self,
        name: &str,
        description: &str,
        orgs: &[String],
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let mut ids = Vec::new();
        for o in orgs {
            let id = self.resolve_org(o)?;
            if id != self.org_id && !ids.contains(&id) {
                ids.push(id);
            }
        }
        let group: [u8; 16] = crate::node::random(&*self.env)?;
        self.append_op(OpBody::GroupCreate {
            group,
            name: name.trim().to_owned(),
            description: description.trim().to_owned(),
            orgs: ids,
        })?;
        let g = self
            .membership
            .state
            .groups
            .get(&group)
            .cloned()
            .ok_or_else(|| NodeError::Invalid("the group was not created".into()))?;
        Ok(Reply::new(self.group_json(&g), g.id_hex()))
    }

    /// `group list`.
    pub(crate) fn group_list(&self) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let groups: Vec<&GroupState> = self
            .membership
            .state
            .groups
            .values()
            .filter(|g| !g.dissolved)
            .collect();
        let mut text = String::new();
        for g in &groups {
            let names: Vec<String> = g.orgs.iter().map(|o| self.org_display_name(o)).collect();
            text += &format!(
                "{}  {}{}: {}\n",
                &g.id_hex()[..8],
                g.name,
                if g.orgs.contains(&self.org_id) {
                    " (member)"
                } else {
                    ""
                },
                names.join(", ")
            );
        }
        if groups.is_empty() {
            text = "no working group yet; create one with `entraide group create`".into();
        }
        let json: Vec<Value> = groups.iter().map(|g| self.group_json(g)).collect();
        Ok(Reply::new(Value::Array(json), text.trim_end().to_owned()))
    }

    /// `group add`, `group remove` and `group leave` (remove with this
    /// organisation).
    pub(crate) fn group_change(
        &mut self,
        group: &str,
        org: Option<&str>,
        add: bool,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let g = self.my_group(group)?;
        let org_id = match org {
            Some(o) => self.resolve_org(o)?,
            None => self.org_id.clone(),
        };
        let body = if add {
            OpBody::GroupAdd {
                group: g.id,
                org_id: org_id.clone(),
            }
        } else {
            OpBody::GroupRemove {
                group: g.id,
                org_id: org_id.clone(),
            }
        };
        self.append_op(body)?;
        let g = self
            .membership
            .state
            .groups
            .get(&g.id)
            .cloned()
            .ok_or_else(|| NodeError::Invalid("no such group".into()))?;
        let text = format!(
            "{} {} {}",
            self.org_display_name(&org_id),
            if add { "joined" } else { "left" },
            g.name
        );
        Ok(Reply::new(self.group_json(&g), text))
    }

    /// `group dissolve` (a coordinator).
    pub(crate) fn group_dissolve(&mut self, group: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let g = self.resolve_group(group)?;
        self.append_op(OpBody::GroupDissolve { group: g.id })?;
        Ok(Reply::new(
            json!({"id": g.id_hex(), "dissolved": true}),
            format!("{} dissolved", g.name),
        ))
    }

    /// `group notes show`: a group's notes, like `charter show`.
    pub(crate) fn group_notes_show(&mut self, group: &str) -> Result<Reply, NodeError> {
        let g = self.my_group(group)?;
        let kind = DocKind::group(g.id, Shelf::Notes);
        let heads = self.doc_mut(kind)?.heads_hex();
        let text = self
            .docs
            .groups
            .get(&g.id)
            .map(|d| d.notes.text())
            .unwrap_or_default();
        Ok(Reply::new(
            json!({"group": g.id_hex(), "text": text, "heads": heads}),
            text.clone(),
        ))
    }

    /// `group notes set`: like `charter set`, with `base` (the heads the
    /// text was taken at) only this edit's own difference is applied, so
    /// that what others wrote since is kept; without, the notes become
    /// `text` by the smallest edit.
    pub(crate) fn group_notes_set(
        &mut self,
        group: &str,
        text: &str,
        base: &[String],
    ) -> Result<Reply, NodeError> {
        let g = self.my_group(group)?;
        crate::node::check_charter_size(text)?;
        let heads: Vec<entraide_docs::ChangeHash> = base
            .iter()
            .map(|h| {
                h.trim().parse().map_err(|_| {
                    NodeError::Invalid(format!(
                        "{h:?} is not a version of the notes: give the heads `entraide group notes {} --json` printed; nothing changed",
                        g.name
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let kind = DocKind::group(g.id, Shelf::Notes);
        self.doc_mut(kind)?;
        let now = self.env.now_ms();
        if let Some(docs) = self.docs.groups.get_mut(&g.id) {
            if heads.is_empty() {
                docs.notes.set_text(now, text);
            } else if docs.notes.edit_from(now, &heads, text).is_none() {
                return Err(NodeError::Invalid(
                    "this node does not know the version of the notes the edit started from; take the text and heads again and reapply the edit; nothing changed".into(),
                ));
            }
        }
        self.persist(kind, entraide_store::WriteBatch::new())?;
        self.group_notes_show(&g.id_hex())
    }
}

/// The files the libraries name ([`Node::file_visible_to`]).
#[derive(Debug, Default)]
pub(crate) struct NamedFiles {
    /// Named by the alliance's library.
    alliance: std::collections::HashSet<[u8; 32]>,
    /// Named by a group's library, with the group.
    groups: Vec<([u8; 16], [u8; 32])>,
}
