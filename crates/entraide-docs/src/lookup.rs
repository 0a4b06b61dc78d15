//! Finding a record from what a user typed: a full id, a unique prefix of an
//! id, or a unique name.

/// What the user typed matched nothing, or more than one record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "code", content = "fields", rename_all = "snake_case")]
pub enum LookupError {
    /// No id starts with it and no name equals it.
    #[error("no {what} matches '{query}'; list them with `entraide {list}`")]
    NotFound {
        /// What was looked for ("resource", "booking"...).
        what: &'static str,
        /// What the user typed.
        query: String,
        /// The command that lists candidates.
        list: &'static str,
    },
    /// Several ids start with it, or several records have that name.
    #[error("'{query}' matches {count} {what}s; give more characters of the id")]
    Ambiguous {
        /// What was looked for.
        what: &'static str,
        /// What the user typed.
        query: String,
        /// How many matched.
        count: usize,
    },
}

/// Resolves `query` among `(id, name)` candidates: an exact id wins, then an
/// exact name (case-insensitive), then a unique id prefix.
pub fn resolve<'a>(
    query: &str,
    candidates: impl IntoIterator<Item = (&'a str, &'a str)> + Clone,
    what: &'static str,
    list: &'static str,
) -> Result<String, LookupError> {
    let query_trimmed = query.trim();
    if query_trimmed.is_empty() {
        return Err(LookupError::NotFound {
            what,
            query: query.to_owned(),
            list,
        });
    }
    if let Some((id, _)) = candidates
        .clone()
        .into_iter()
        .find(|(id, _)| *id == query_trimmed)
    {
        return Ok(id.to_owned());
    }
    let by_name: Vec<&str> = candidates
        .clone()
        .into_iter()
        .filter(|(_, name)| !name.is_empty() && name.eq_ignore_ascii_case(query_trimmed))
        .map(|(id, _)| id)
        .collect();
    let by_prefix: Vec<&str> = candidates
        .into_iter()
        .filter(|(id, _)| id.starts_with(&query_trimmed.to_ascii_lowercase()))
        .map(|(id, _)| id)
        .collect();
    let matches = if by_name.is_empty() {
        by_prefix
    } else {
        by_name
    };
    match matches.as_slice() {
        [one] => Ok((*one).to_owned()),
        [] => Err(LookupError::NotFound {
            what,
            query: query.to_owned(),
            list,
        }),
        many => Err(LookupError::Ambiguous {
            what,
            query: query.to_owned(),
            count: many.len(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const C: [(&str, &str); 3] = [("ab12", "Salle A"), ("ab34", "Salle B"), ("cd56", "Van")];

    #[test]
    fn id_name_and_prefix() {
        assert_eq!(
            resolve("cd56", C, "resource", "resource list").unwrap(),
            "cd56"
        );
        assert_eq!(
            resolve("salle b", C, "resource", "resource list").unwrap(),
            "ab34"
        );
        assert_eq!(
            resolve("ab1", C, "resource", "resource list").unwrap(),
            "ab12"
        );
        assert!(matches!(
            resolve("ab", C, "resource", "resource list"),
            Err(LookupError::Ambiguous { count: 2, .. })
        ));
        assert!(matches!(
            resolve("zz", C, "resource", "resource list"),
            Err(LookupError::NotFound { .. })
        ));
        assert!(resolve("", C, "resource", "resource list").is_err());
    }
}
