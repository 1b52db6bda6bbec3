use crate::quantity::{Quantity, QuantityError};

#[test]
fn parses_every_suffix_family() {
    // (input, milli value, value)
    let cases: &[(&str, i128, i128)] = &[
        ("0", 0, 0),
        ("1", 1000, 1),
        ("100m", 100, 1),
        ("1500m", 1500, 2),
        ("0.5", 500, 1),
        (".5", 500, 1),
        ("5.", 5000, 5),
        ("+2", 2000, 2),
        ("-1", -1000, -1),
        ("1k", 1_000_000, 1000),
        ("1M", 1_000_000_000, 1_000_000),
        ("2G", 2_000_000_000_000, 2_000_000_000),
        ("1T", 1_000_000_000_000_000, 1_000_000_000_000),
        ("1Ki", 1_024_000, 1024),
        ("128Mi", 134_217_728_000, 134_217_728),
        ("4Gi", 4_294_967_296_000, 4_294_967_296),
        ("1Ti", 1_099_511_627_776_000, 1_099_511_627_776),
        ("1.5Gi", 1_610_612_736_000, 1_610_612_736),
        ("1e3", 1_000_000, 1000),
        ("1E3", 1_000_000, 1000),
        ("12e-3", 12, 1),
        ("1e+2", 100_000, 100),
        ("500u", 1, 1),
        ("1n", 1, 1),
        ("0.1m", 1, 1),
    ];
    for (input, milli, value) in cases {
        let q = Quantity::parse(input).unwrap_or_else(|e| panic!("{input}: {e}"));
        assert_eq!(q.milli(), *milli, "milli of {input}");
        assert_eq!(q.value(), *value, "value of {input}");
    }
}

#[test]
fn rejects_malformed_quantities() {
    assert_eq!(Quantity::parse(""), Err(QuantityError::Format));
    assert_eq!(Quantity::parse("."), Err(QuantityError::Format));
    assert_eq!(Quantity::parse("1.2.3"), Err(QuantityError::Format));
    assert_eq!(Quantity::parse("abc"), Err(QuantityError::Format));
    assert_eq!(Quantity::parse("1K"), Err(QuantityError::Suffix), "only lower-case k is decimal kilo");
    assert_eq!(Quantity::parse("1Kb"), Err(QuantityError::Suffix));
    assert_eq!(Quantity::parse("1e"), Err(QuantityError::Suffix));
    assert_eq!(Quantity::parse("1mi"), Err(QuantityError::Suffix));
    assert_eq!(Quantity::parse("1e400"), Err(QuantityError::Overflow));
}

#[test]
fn compares_across_suffixes() {
    let q = |s| Quantity::parse(s).unwrap();
    assert!(q("1Gi") > q("1G"));
    assert!(q("1000m") == q("1"));
    assert!(q("999Mi") < q("1Gi"));
    assert_eq!(q("1.5").to_string(), "1500m");
    assert_eq!(q("2k").to_string(), "2000");
}
