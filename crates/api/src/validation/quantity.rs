//! Just enough of `resource.Quantity` to compare storage sizes and tell zero and
//! negative values apart; validation never needs exact decimal arithmetic here.

use serde_json::Value;

/// Parse a quantity (`1Gi`, `500M`, `250m`, `1e3`, a bare number) to an approximate f64.
pub fn parse(v: &Value) -> Option<f64> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => return n.as_f64(),
        _ => return None,
    };
    let split = s.find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E').unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    // `1e3` parses as a float; an `E` suffix (exa) is caught by the table below
    let (num, suffix) = match num.parse::<f64>() {
        Ok(_) => (num, suffix),
        Err(_) if num.ends_with(['e', 'E']) => (&num[..num.len() - 1], &s[num.len() - 1..]),
        Err(_) => return None,
    };
    let base: f64 = num.parse().ok()?;
    let mult = match suffix {
        "" => 1.0,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        _ => return None,
    };
    Some(base * mult)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_common_forms() {
        assert_eq!(parse(&json!("1Gi")), Some(1073741824.0));
        assert_eq!(parse(&json!("500M")), Some(5e8));
        assert_eq!(parse(&json!("250m")), Some(0.25));
        assert_eq!(parse(&json!("1E")), Some(1e18));
        assert_eq!(parse(&json!("1e3")), Some(1000.0));
        assert_eq!(parse(&json!(3)), Some(3.0));
        assert_eq!(parse(&json!("abc")), None);
    }
}
