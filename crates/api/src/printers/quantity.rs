//! Canonical `resource.Quantity` strings, as upstream's `Quantity.String()` prints them.
//!
//! Upstream prints capacities through `Quantity.String()`, which canonicalizes: `1024Mi` →
//! `1Gi`, `1.5Gi` → `1536Mi`, `1000M` → `1G`, `0.5` → `500m`, an unset quantity → `0`.
//! Objects stored by upstream are already canonical (the API server re-encodes them); berth
//! may hold what the client sent, so the printer canonicalizes itself. Precision is nano
//! units (upstream rounds finer values up to that scale too).

/// The three upstream formats, chosen by the suffix the quantity was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    BinarySI,
    DecimalSI,
    DecimalExponent,
}

/// A parsed quantity: the value in nano units (value × 10⁹) and its format.
struct Parsed {
    nanos: i128,
    format: Format,
}

const NANO: i128 = 1_000_000_000;

/// `Quantity.String()` for the quantity written as `s`; `"0"` for an empty string (the zero
/// Quantity). A string that is not a valid quantity is returned unchanged.
pub(super) fn canonical(s: &str) -> String {
    if s.is_empty() {
        return "0".to_string();
    }
    match parse(s) {
        Some(q) => format(q),
        None => s.to_string(),
    }
}

fn parse(s: &str) -> Option<Parsed> {
    let bytes = s.as_bytes();
    let mut i = 0;
    let negative = match bytes.first() {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let int_start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    let int_digits = &s[int_start..i];
    let mut frac_digits = "";
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        let frac_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        frac_digits = &s[frac_start..i];
    }
    if int_digits.is_empty() && frac_digits.is_empty() {
        return None;
    }
    let (format, base, exp) = suffix(&s[i..])?;

    // mantissa × 10^-frac_len, then × base^exp; all in nano units, rounding up like upstream.
    let digits = format!("{int_digits}{frac_digits}");
    let digits = digits.trim_start_matches('0');
    if digits.len() > 30 {
        return None; // beyond what berth will ever see in a capacity; print it verbatim
    }
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    let frac_len = frac_digits.len() as i32;
    let (num, den) = if base == 2 {
        (
            mantissa.checked_mul(1i128.checked_shl(exp as u32)?)?,
            10i128.checked_pow(frac_len as u32)?,
        )
    } else {
        let e = exp - frac_len;
        if e >= 0 {
            (mantissa.checked_mul(10i128.checked_pow(e as u32)?)?, 1)
        } else {
            (mantissa, 10i128.checked_pow((-e) as u32)?)
        }
    };
    let scaled = num.checked_mul(NANO)?;
    let mut nanos = scaled / den;
    if scaled % den != 0 {
        nanos += 1;
    }
    Some(Parsed {
        nanos: if negative { -nanos } else { nanos },
        format,
    })
}

/// The suffix's format, base (2 or 10) and exponent (of 2 for binary, of 10 for decimal).
fn suffix(s: &str) -> Option<(Format, u32, i32)> {
    let decimal = |e| Some((Format::DecimalSI, 10, e));
    match s {
        "" => decimal(0),
        "n" => decimal(-9),
        "u" => decimal(-6),
        "m" => decimal(-3),
        "k" => decimal(3),
        "M" => decimal(6),
        "G" => decimal(9),
        "T" => decimal(12),
        "P" => decimal(15),
        "E" => decimal(18),
        "Ki" => Some((Format::BinarySI, 2, 10)),
        "Mi" => Some((Format::BinarySI, 2, 20)),
        "Gi" => Some((Format::BinarySI, 2, 30)),
        "Ti" => Some((Format::BinarySI, 2, 40)),
        "Pi" => Some((Format::BinarySI, 2, 50)),
        "Ei" => Some((Format::BinarySI, 2, 60)),
        _ => {
            let rest = s.strip_prefix('e').or_else(|| s.strip_prefix('E'))?;
            let e: i32 = rest.parse().ok()?;
            Some((Format::DecimalExponent, 10, e))
        }
    }
}

fn format(q: Parsed) -> String {
    if q.nanos == 0 {
        return "0".to_string();
    }
    let mut format = q.format;
    if format == Format::BinarySI {
        // Small or fractional binary values print in decimal so nothing is rounded away.
        if q.nanos.abs() < 1024 * NANO || q.nanos % NANO != 0 {
            format = Format::DecimalSI;
        }
    }
    if format == Format::BinarySI {
        let mut amount = q.nanos / NANO;
        let mut exp = 0;
        while amount % 1024 == 0 && exp < 6 {
            amount /= 1024;
            exp += 1;
        }
        let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][exp];
        return format!("{amount}{suffix}");
    }
    // Decimal: strip factors of ten, then bring the exponent to a multiple of three.
    let mut amount = q.nanos;
    let mut exp: i32 = -9;
    while amount % 10 == 0 {
        amount /= 10;
        exp += 1;
    }
    match exp.rem_euclid(3) {
        1 => {
            amount *= 10;
            exp -= 1;
        }
        2 => {
            amount *= 100;
            exp -= 2;
        }
        _ => {}
    }
    if format == Format::DecimalExponent {
        return if exp == 0 {
            amount.to_string()
        } else {
            format!("{amount}e{exp}")
        };
    }
    let suffix = match exp {
        -9 => "n",
        -6 => "u",
        -3 => "m",
        0 => "",
        3 => "k",
        6 => "M",
        9 => "G",
        12 => "T",
        15 => "P",
        18 => "E",
        // Beyond exa: keep the digits in the amount rather than invent a suffix.
        e if e > 18 => {
            return format!("{}E", amount * 10i128.pow((e - 18) as u32));
        }
        _ => "",
    };
    format!("{amount}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::canonical;

    #[test]
    fn canonical_forms_match_upstream() {
        let cases = [
            ("1Gi", "1Gi"),
            ("1024Mi", "1Gi"),
            ("1.5Gi", "1536Mi"),
            ("500Mi", "500Mi"),
            ("512", "512"),
            ("1000M", "1G"),
            ("1500", "1500"),
            ("0.5", "500m"),
            ("100m", "100m"),
            ("0", "0"),
            ("", "0"),
            ("1e3", "1e3"),
            ("10Gi", "10Gi"),
            ("1Ki", "1Ki"),
            ("512Ki", "512Ki"),
            ("2048Ki", "2Mi"),
            ("bogus", "bogus"),
        ];
        for (input, want) in cases {
            assert_eq!(canonical(input), want, "{input}");
        }
    }
}
