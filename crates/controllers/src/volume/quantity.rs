//! Comparison of `resource.Quantity` strings, as upstream's `Quantity.Cmp` does when the binder
//! compares a volume's capacity with a claim's request; parsing is `berth_api::quantity`'s.

use std::cmp::Ordering;

use berth_api::quantity::Quantity;

/// `a.Cmp(b)`; an unparsable or missing quantity counts as zero (upstream's zero Quantity).
pub(crate) fn cmp(a: Option<&str>, b: Option<&str>) -> Ordering {
    let v = |q: Option<&str>| q.and_then(|s| Quantity::parse(s).ok()).unwrap_or(Quantity::ZERO);
    v(a).cmp(&v(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Option<Quantity> {
        Quantity::parse(s).ok()
    }

    #[test]
    fn compares_exactly() {
        assert_eq!(q("1Gi").map(Quantity::value), Some(1_073_741_824));
        assert_eq!(q("1024Mi"), q("1Gi"));
        assert_eq!(q("1.5Gi"), q("1536Mi"));
        assert_eq!(q("1G").map(Quantity::value), Some(1_000_000_000));
        assert_eq!(q("1e3"), q("1k"));
        assert_eq!(q("500m").map(Quantity::milli), Some(500));
        assert_eq!(q("abc"), None);
        assert_eq!(q("1Qi"), None);
        assert_eq!(cmp(Some("1Gi"), Some("1G")), Ordering::Greater);
        assert_eq!(cmp(None, Some("1")), Ordering::Less);
    }
}
