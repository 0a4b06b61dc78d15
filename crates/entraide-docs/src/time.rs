//! Times as users type and read them.
//!
//! Input: `YYYY-MM-DDTHH:MM` in the node's time zone, or full RFC 3339 with an
//! offset. A local time that does not exist (the hour skipped when clocks
//! spring forward) is refused; a local time that happens twice (when clocks
//! fall back) means the first of the two, and RFC 3339 with an offset picks
//! either. Output: RFC 3339 with the zone's offset. Internally every time is
//! milliseconds since the Unix epoch (UTC).

use chrono::{DateTime, LocalResult, NaiveDateTime, TimeZone};
use chrono_tz::Tz;

/// A time the user typed could not be understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize)]
#[serde(tag = "code", content = "fields", rename_all = "snake_case")]
pub enum TimeError {
    /// Neither `YYYY-MM-DDTHH:MM` nor RFC 3339.
    #[error(
        "'{0}' is not a time; write it as YYYY-MM-DDTHH:MM (e.g. 2026-03-14T09:30) or RFC 3339 with an offset"
    )]
    Format(String),
    /// The local time is skipped by a daylight-saving change.
    #[error(
        "{input} does not exist in {zone} (the clocks skip that hour); pick a time outside the change"
    )]
    Nonexistent {
        /// What the user typed.
        input: String,
        /// The zone.
        zone: String,
    },
    /// The time zone name is unknown.
    #[error("unknown time zone '{0}'; use an IANA name such as Europe/Brussels")]
    Zone(String),
}

/// Parses an IANA zone name.
pub fn parse_zone(name: &str) -> Result<Tz, TimeError> {
    name.parse::<Tz>()
        .map_err(|_| TimeError::Zone(name.to_owned()))
}

/// Parses a time typed by a user, in `zone` unless it carries an offset.
pub fn parse_time(input: &str, zone: Tz) -> Result<i64, TimeError> {
    let input = input.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(input) {
        return Ok(t.timestamp_millis());
    }
    let naive = NaiveDateTime::parse_from_str(input, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(input, "%Y-%m-%dT%H:%M:%S"))
        .or_else(|_| NaiveDateTime::parse_from_str(input, "%Y-%m-%d %H:%M"))
        .map_err(|_| TimeError::Format(input.to_owned()))?;
    local_to_ms(naive, zone).ok_or_else(|| TimeError::Nonexistent {
        input: input.to_owned(),
        zone: zone.name().to_owned(),
    })
}

/// A local wall-clock time in `zone` as ms since the epoch; `None` when it
/// does not exist, the earlier instant when it happens twice.
pub fn local_to_ms(naive: NaiveDateTime, zone: Tz) -> Option<i64> {
    match zone.from_local_datetime(&naive) {
        LocalResult::Single(t) => Some(t.timestamp_millis()),
        LocalResult::Ambiguous(first, _) => Some(first.timestamp_millis()),
        LocalResult::None => None,
    }
}

/// The local wall-clock time of an instant.
pub fn ms_to_local(ms: i64, zone: Tz) -> NaiveDateTime {
    zone.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.naive_local())
        .unwrap_or_default()
}

/// Formats ms since the epoch as RFC 3339 with `zone`'s offset, to the second.
pub fn format_time(ms: i64, zone: Tz) -> String {
    match zone.timestamp_millis_opt(ms).single() {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false),
        None => ms.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BXL: Tz = chrono_tz::Europe::Brussels;

    #[test]
    fn local_and_rfc3339() {
        let a = parse_time("2026-06-01T10:00", BXL).unwrap();
        let b = parse_time("2026-06-01T10:00:00+02:00", BXL).unwrap();
        assert_eq!(a, b);
        assert_eq!(format_time(a, BXL), "2026-06-01T10:00:00+02:00");
        let w = parse_time("2026-01-10T10:00", BXL).unwrap();
        assert_eq!(format_time(w, BXL), "2026-01-10T10:00:00+01:00");
    }

    #[test]
    fn spring_forward_gap_is_refused() {
        // 2026-03-29: clocks go from 02:00 to 03:00 in Brussels.
        assert!(matches!(
            parse_time("2026-03-29T02:30", BXL),
            Err(TimeError::Nonexistent { .. })
        ));
        assert!(parse_time("2026-03-29T03:30", BXL).is_ok());
    }

    #[test]
    fn fall_back_takes_the_first() {
        // 2026-10-25: 02:00-03:00 happens twice.
        let t = parse_time("2026-10-25T02:30", BXL).unwrap();
        assert_eq!(format_time(t, BXL), "2026-10-25T02:30:00+02:00");
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            parse_time("tomorrow", BXL),
            Err(TimeError::Format(_))
        ));
        assert!(matches!(
            parse_time("2026-13-01T10:00", BXL),
            Err(TimeError::Format(_))
        ));
        assert!(parse_zone("Mars/Olympus").is_err());
    }
}
