//! Exact comparison of `resource.Quantity` strings, as upstream's `Quantity.Cmp` does when
//! the binder compares a volume's capacity with a claim's request.

use std::cmp::Ordering;

/// The quantity in nano units (value × 10⁹), exact for every suffix upstream accepts;
/// `None` when the string is not a quantity. Values beyond i128 saturate (no storage size
/// comes near).
pub(crate) fn nanos(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    let (negative, rest) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let digits_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
    let (number, suffix) = rest.split_at(digits_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    // value = mantissa × 10^exp10 × 2^exp2
    let mut mantissa: i128 = 0;
    for c in int_part.chars().chain(frac_part.chars()) {
        mantissa = mantissa.saturating_mul(10).saturating_add(c.to_digit(10)? as i128);
    }
    let mut exp10: i32 = -(frac_part.len() as i32);
    let mut exp2: u32 = 0;
    match suffix {
        "" => {}
        "n" => exp10 -= 9,
        "u" => exp10 -= 6,
        "m" => exp10 -= 3,
        "k" => exp10 += 3,
        "M" => exp10 += 6,
        "G" => exp10 += 9,
        "T" => exp10 += 12,
        "P" => exp10 += 15,
        "E" => exp10 += 18,
        "Ki" => exp2 = 10,
        "Mi" => exp2 = 20,
        "Gi" => exp2 = 30,
        "Ti" => exp2 = 40,
        "Pi" => exp2 = 50,
        "Ei" => exp2 = 60,
        e if e.starts_with(['e', 'E']) => exp10 += e[1..].parse::<i32>().ok()?,
        _ => return None,
    }
    let mut v = mantissa.saturating_mul(1i128 << exp2);
    let mut scale = exp10 + 9;
    while scale > 0 {
        v = v.saturating_mul(10);
        scale -= 1;
    }
    while scale < 0 {
        // Upstream rounds sub-nano precision up; capacities never get there.
        v = (v + 9) / 10;
        scale += 1;
    }
    Some(if negative { -v } else { v })
}

/// `a.Cmp(b)`; an unparsable or missing quantity counts as zero (upstream's zero Quantity).
pub(crate) fn cmp(a: Option<&str>, b: Option<&str>) -> Ordering {
    let v = |q: Option<&str>| q.and_then(nanos).unwrap_or(0);
    v(a).cmp(&v(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly() {
        assert_eq!(nanos("1Gi"), Some(1_073_741_824 * 1_000_000_000));
        assert_eq!(nanos("1024Mi"), nanos("1Gi"));
        assert_eq!(nanos("1.5Gi"), nanos("1536Mi"));
        assert_eq!(nanos("1G"), Some(1_000_000_000 * 1_000_000_000));
        assert_eq!(nanos("1e3"), nanos("1k"));
        assert_eq!(nanos("500m"), Some(500_000_000));
        assert_eq!(nanos("abc"), None);
        assert_eq!(nanos("1Qi"), None);
        assert_eq!(cmp(Some("1Gi"), Some("1G")), Ordering::Greater);
        assert_eq!(cmp(None, Some("1")), Ordering::Less);
    }
}
