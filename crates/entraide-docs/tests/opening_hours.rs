//! Opening hours: parsing and which bookings they allow, across DST.

use chrono_tz::Tz;
use entraide_docs::calendar::OpeningHours;
use entraide_docs::time::parse_time;

const BXL: Tz = chrono_tz::Europe::Brussels;

fn allows(hours: &str, from: &str, to: &str) -> bool {
    let h = OpeningHours::parse(hours).expect("hours");
    h.allows(
        parse_time(from, BXL).expect("from"),
        parse_time(to, BXL).expect("to"),
        BXL,
    )
}

#[test]
fn weekdays_and_windows() {
    let week = "Mo-Fr 08:00-18:00; Sa 09:00-12:30";
    assert!(allows(week, "2026-06-01T08:00", "2026-06-01T18:00")); // Monday, whole day
    assert!(!allows(week, "2026-06-01T07:30", "2026-06-01T09:00"));
    assert!(!allows(week, "2026-06-01T17:00", "2026-06-01T18:30"));
    assert!(allows(week, "2026-06-06T09:00", "2026-06-06T12:30")); // Saturday
    assert!(!allows(week, "2026-06-06T12:00", "2026-06-06T13:00"));
    assert!(!allows(week, "2026-06-07T10:00", "2026-06-07T11:00")); // Sunday
    assert!(!allows(week, "2026-06-01T10:00", "2026-06-02T10:00")); // over two days
    assert!(allows(
        "00:00-24:00",
        "2026-06-07T22:00",
        "2026-06-08T00:00"
    ));
    assert!(allows(
        "Fr-Mo 10:00-12:00",
        "2026-06-07T10:00",
        "2026-06-07T12:00"
    )); // wraps past Sunday
    assert!(allows(
        "Mo,We 10:00-12:00",
        "2026-06-03T10:00",
        "2026-06-03T11:00"
    ));
    assert!(!allows(
        "Mo,We 10:00-12:00",
        "2026-06-02T10:00",
        "2026-06-02T11:00"
    ));
}

#[test]
fn local_time_across_daylight_saving() {
    // Sunday 29 March 2026: 08:00-10:00 local is 06:00-08:00 UTC, not 07:00.
    assert!(allows(
        "Su 08:00-10:00",
        "2026-03-29T08:00",
        "2026-03-29T10:00"
    ));
    assert!(allows(
        "Su 08:00-10:00",
        "2026-10-25T08:00",
        "2026-10-25T10:00"
    ));
}

#[test]
fn bad_hours_are_refused() {
    for bad in [
        "",
        "always",
        "Mo-Fr",
        "Mo-Fr 18:00-08:00",
        "Xx 08:00-10:00",
        "Mo 25:00-26:00",
        "Mo 08:00",
    ] {
        assert!(OpeningHours::parse(bad).is_err(), "{bad:?} accepted");
    }
}
