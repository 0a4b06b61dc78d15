//! Organisation profiles, as the command line asks for them: `org show`,
//! `org set` (this organisation's own only) and `org list` (who offers or
//! needs what). The document itself is `entraide_docs::profiles`.

use entraide_docs::DocKind;
use entraide_docs::profiles::{Profile, ProfileEdit};
use entraide_docs::time::format_time;
use entraide_membership::OrgStatus;
use entraide_store::WriteBatch;
use serde_json::{Value, json};

use crate::{Node, NodeError, Reply};

impl Node {
    /// `org show`.
    pub(crate) fn org_show(&mut self, org: &str) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let id = self.resolve_org(org)?;
        let profile = self.docs.profiles()?.get(&id);
        Ok(Reply::new(
            self.profile_json(&profile),
            self.profile_text(&profile),
        ))
    }

    /// `org set`: this organisation's own profile.
    pub(crate) fn org_set(&mut self, edit: ProfileEdit) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let (author, now) = (self.author(), self.env.now_ms());
        let profile = self.docs.profiles_mut()?.set(&author, now, edit)?;
        self.persist(DocKind::Profiles, WriteBatch::new())?;
        Ok(Reply::new(
            self.profile_json(&profile),
            self.profile_text(&profile),
        ))
    }

    /// `org list`: the active members' profiles, those offering (needing,
    /// tagged) `tag` only when asked.
    pub(crate) fn org_list(
        &mut self,
        offers: Option<&str>,
        needs: Option<&str>,
        tag: Option<&str>,
    ) -> Result<Reply, NodeError> {
        self.require_alliance()?;
        let has = |list: &[String], want: Option<&str>| {
            want.is_none_or(|w| {
                let w = w.trim().to_lowercase();
                list.iter().any(|t| t.trim().to_lowercase() == w)
            })
        };
        let active: Vec<String> = self
            .membership
            .state
            .orgs
            .values()
            .filter(|o| o.status == OrgStatus::Active)
            .map(|o| o.id.clone())
            .collect();
        let all = self.docs.profiles()?;
        let profiles: Vec<Profile> = active
            .iter()
            .map(|id| all.get(id))
            .filter(|p| has(&p.offers, offers) && has(&p.needs, needs) && has(&p.tags, tag))
            .collect();
        let text = if profiles.is_empty() {
            "no organisation matches".to_owned()
        } else {
            profiles
                .iter()
                .map(|p| self.profile_text(p))
                .collect::<Vec<_>>()
                .join("\n\n")
        };
        let json = profiles.iter().map(|p| self.profile_json(p)).collect();
        Ok(Reply::new(Value::Array(json), text))
    }

    fn profile_json(&self, p: &Profile) -> Value {
        let member = self.membership.state.orgs.get(&p.org);
        json!({
            "org": self.org_name(&p.org),
            "org_id": p.org,
            "role": member.map(|m| m.role.name()),
            "status": member.map(|m| m.status.name()),
            "description": p.description,
            "address": p.address,
            "contact": p.contact,
            "offers": p.offers,
            "needs": p.needs,
            "tags": p.tags,
            "updated_at": (p.updated_at > 0).then(|| format_time(p.updated_at, self.zone)),
        })
    }

    fn profile_text(&self, p: &Profile) -> String {
        let mut text = self.org_name(&p.org);
        for (label, value) in [
            ("", p.description.clone()),
            ("address: ", p.address.clone()),
            ("contact: ", p.contact.clone()),
            ("offers: ", p.offers.join(", ")),
            ("needs: ", p.needs.join(", ")),
            ("tags: ", p.tags.join(", ")),
        ] {
            if !value.is_empty() {
                text += &format!("\n  {label}{value}");
            }
        }
        text
    }
}
