//! Organisation profiles: what each member organisation says of itself, so
//! that members who do not know each other yet can find who offers what.
//!
//! Schema (automerge):
//! ```text
//! { orgs: { <org id>: { description, address, contact, offers: [str], needs: [str],
//!                       tags: [str], device, updated_at } } }
//! ```
//! An organisation's profile lives under its own id and is written only by
//! its own devices (the authority check, [`crate::authority`]). Each change
//! of a profile writes a whole new profile map in its place, so the fields
//! a reader sees always come from one edit: two devices of one organisation
//! editing at once end with one of the two profiles, the same on every node.

use automerge::transaction::Transactable;
use automerge::{ObjType, ScalarValue};

use crate::doc::Record;
use crate::{Author, DocKind, SharedDoc};

/// Longest description, in characters.
pub const MAX_DESCRIPTION: usize = 2_000;
/// Longest address or contact, in characters.
pub const MAX_LINE: usize = 300;
/// Longest tag, in characters.
pub const MAX_TAG: usize = 50;
/// Most tags in one list.
pub const MAX_TAGS: usize = 30;

/// One organisation's profile.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Profile {
    /// The organisation's id.
    pub org: String,
    /// What it does.
    pub description: String,
    /// Where it is.
    pub address: String,
    /// Whom to ask, and how.
    pub contact: String,
    /// What it can offer others (tags).
    pub offers: Vec<String>,
    /// What it needs (tags).
    pub needs: Vec<String>,
    /// Its trade and territory (tags).
    pub tags: Vec<String>,
    /// When it was last changed, ms (0: never).
    pub updated_at: i64,
}

/// What `org set` changes; `None` keeps the field as it is.
#[derive(Clone, Debug, Default)]
pub struct ProfileEdit {
    /// New description.
    pub description: Option<String>,
    /// New address.
    pub address: Option<String>,
    /// New contact.
    pub contact: Option<String>,
    /// New offers.
    pub offers: Option<Vec<String>>,
    /// New needs.
    pub needs: Option<Vec<String>>,
    /// New trade and territory tags.
    pub tags: Option<Vec<String>>,
}

/// A profile edit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "code", content = "fields", rename_all = "snake_case")]
pub enum ProfileError {
    /// Too long a field.
    #[error("the {field} must be at most {max} characters")]
    TooLong {
        /// Which field.
        field: &'static str,
        /// Its limit.
        max: usize,
    },
    /// An empty or too long tag, or too many.
    #[error("tags must be 1 to {MAX_TAG} characters, at most {MAX_TAGS} per list")]
    Tag,
    /// Nothing to change.
    #[error(
        "nothing to change; give --description, --address, --contact, --offers, --needs or --tag"
    )]
    Empty,
}

/// The profiles document.
#[derive(Debug)]
pub struct Profiles {
    doc: SharedDoc,
}

impl Profiles {
    /// Wraps a profiles document.
    pub fn new(doc: SharedDoc) -> Self {
        debug_assert_eq!(doc.kind().base(), DocKind::Profiles);
        Self { doc }
    }

    /// The underlying document, for storage and sync.
    pub fn doc_mut(&mut self) -> &mut SharedDoc {
        &mut self.doc
    }

    fn root(&self) -> Record<'_> {
        Record::new(self.doc.read(), self.doc.root_obj("orgs"))
    }

    /// Every profile written so far, by organisation id.
    pub fn list(&self) -> Vec<Profile> {
        self.root()
            .children()
            .into_iter()
            .map(|(org, r)| Profile {
                org,
                description: r.string("description"),
                address: r.string("address"),
                contact: r.string("contact"),
                offers: r.str_list("offers"),
                needs: r.str_list("needs"),
                tags: r.str_list("tags"),
                updated_at: r.int("updated_at").unwrap_or_default(),
            })
            .collect()
    }

    /// One organisation's profile (empty if it wrote none).
    pub fn get(&self, org: &str) -> Profile {
        self.list()
            .into_iter()
            .find(|p| p.org == org)
            .unwrap_or_else(|| Profile {
                org: org.to_owned(),
                ..Profile::default()
            })
    }

    /// Changes `author`'s organisation's profile; returns it as it now is.
    pub fn set(
        &mut self,
        author: &Author,
        now_ms: i64,
        edit: ProfileEdit,
    ) -> Result<Profile, ProfileError> {
        let ProfileEdit {
            description,
            address,
            contact,
            offers,
            needs,
            tags,
        } = edit;
        if [&description, &address, &contact]
            .iter()
            .all(|f| f.is_none())
            && [&offers, &needs, &tags].iter().all(|f| f.is_none())
        {
            return Err(ProfileError::Empty);
        }
        let old = self.get(&author.org);
        let line = |v: Option<String>, old: String, field, max| match v {
            Some(v) if v.chars().count() > max => Err(ProfileError::TooLong { field, max }),
            Some(v) => Ok(v.trim().to_owned()),
            None => Ok(old),
        };
        let tag_list = |v: Option<Vec<String>>, old: Vec<String>| match v {
            Some(v) => {
                let v: Vec<String> = v.iter().map(|t| t.trim().to_owned()).collect();
                if v.len() > MAX_TAGS
                    || v.iter()
                        .any(|t| t.is_empty() || t.chars().count() > MAX_TAG)
                {
                    Err(ProfileError::Tag)
                } else {
                    Ok(v)
                }
            }
            None => Ok(old),
        };
        let new = Profile {
            org: author.org.clone(),
            description: line(description, old.description, "description", MAX_DESCRIPTION)?,
            address: line(address, old.address, "address", MAX_LINE)?,
            contact: line(contact, old.contact, "contact", MAX_LINE)?,
            offers: tag_list(offers, old.offers)?,
            needs: tag_list(needs, old.needs)?,
            tags: tag_list(tags, old.tags)?,
            updated_at: now_ms,
        };
        let root = self.doc.root_obj("orgs");
        let device = hex::encode(author.device);
        let put = |tx: &mut automerge::AutoCommit| -> Result<(), automerge::AutomergeError> {
            let obj = tx.put_object(&root, author.org.as_str(), ObjType::Map)?;
            tx.put(&obj, "description", new.description.as_str())?;
            tx.put(&obj, "address", new.address.as_str())?;
            tx.put(&obj, "contact", new.contact.as_str())?;
            for (key, list) in [
                ("offers", &new.offers),
                ("needs", &new.needs),
                ("tags", &new.tags),
            ] {
                let l = tx.put_object(&obj, key, ObjType::List)?;
                for (i, t) in list.iter().enumerate() {
                    tx.insert(&l, i, t.as_str())?;
                }
            }
            tx.put(&obj, "device", device.as_str())?;
            tx.put(&obj, "updated_at", ScalarValue::Int(now_ms))?;
            Ok(())
        };
        // Writing plain keys into a map this document holds cannot fail.
        let _ = put(self.doc.write());
        self.doc.commit(now_ms, "org set");
        Ok(self.get(&author.org))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn author(org: &str, device: u8) -> Author {
        Author {
            device: [device; 32],
            org: org.into(),
        }
    }

    #[test]
    fn an_edit_keeps_the_fields_it_does_not_name_and_merges_everywhere() {
        let mut a = Profiles::new(SharedDoc::new(DocKind::Profiles, [1; 32]));
        a.set(
            &author("a", 1),
            1_000,
            ProfileEdit {
                description: Some("Maison médicale".into()),
                offers: Some(vec!["salle".into(), "comptabilité".into()]),
                ..ProfileEdit::default()
            },
        )
        .unwrap();
        let p = a
            .set(
                &author("a", 1),
                2_000,
                ProfileEdit {
                    contact: Some("Ana, 02 555 00 00".into()),
                    ..ProfileEdit::default()
                },
            )
            .unwrap();
        assert_eq!(p.description, "Maison médicale");
        assert_eq!(p.offers, ["salle", "comptabilité"]);
        assert_eq!(p.contact, "Ana, 02 555 00 00");
        let base = a.doc_mut().save();
        let mut b =
            Profiles::new(SharedDoc::load(DocKind::Profiles, [2; 32], [&base[..]]).unwrap());
        b.set(
            &author("b", 2),
            3_000,
            ProfileEdit {
                needs: Some(vec!["salle".into()]),
                ..ProfileEdit::default()
            },
        )
        .unwrap();
        a.doc_mut().merge(b.doc_mut()).unwrap();
        assert_eq!(a.list(), b.list());
        assert_eq!(a.list().len(), 2);
        assert_eq!(a.get("b").needs, ["salle"]);
        assert_eq!(
            a.set(&author("a", 1), 4_000, ProfileEdit::default()),
            Err(ProfileError::Empty)
        );
    }
}
