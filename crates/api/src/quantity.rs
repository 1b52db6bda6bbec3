//! `resource.Quantity` strings → integers, for the scheduler (resources) and the volume binder (capacities).
//!
//! Grammar (apimachinery `resource.ParseQuantity`): an optionally signed decimal number (`1`,
//! `0.5`, `.5`, `5.`) followed by at most one suffix: binary SI (`Ki Mi Gi Ti Pi Ei`), decimal SI
//! (`n u m k M G T P E`, empty) or a decimal exponent (`e3`, `E-2`). Upstream's `Value()` and
//! `MilliValue()` round *up* (toward +∞) when the quantity has more precision than asked for, so
//! `0.5m` CPU is 1 milli-CPU and `1.5` bytes is 2 bytes; [`Quantity::milli`] and
//! [`Quantity::value`] keep that rounding.

use std::fmt;

/// A parsed quantity, held as its value in thousandths (rounded up), which is exact for every
/// quantity the scheduler compares (cpu in millicores, bytes, counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Quantity {
    milli: i128,
}

/// Why a string is not a quantity. The text follows upstream's `ErrFormatWrong` /
/// `ErrNumeric` messages.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QuantityError {
    #[error("quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")]
    Format,
    #[error("unable to parse quantity's suffix")]
    Suffix,
    #[error("quantity is too large")]
    Overflow,
}

impl Quantity {
    pub const ZERO: Quantity = Quantity { milli: 0 };

    pub fn from_milli(milli: i128) -> Quantity {
        Quantity { milli }
    }

    pub fn from_value(value: i64) -> Quantity {
        Quantity { milli: i128::from(value) * 1000 }
    }

    /// Parse a quantity string (see the module docs for the grammar).
    pub fn parse(s: &str) -> Result<Quantity, QuantityError> {
        let s = s.trim();
        let (negative, rest) = match s.as_bytes().first() {
            Some(b'-') => (true, &s[1..]),
            Some(b'+') => (false, &s[1..]),
            _ => (false, s),
        };
        let number_len = rest.bytes().take_while(|b| b.is_ascii_digit() || *b == b'.').count();
        let (number, suffix) = rest.split_at(number_len);
        let (int_part, frac_part) = match number.split_once('.') {
            Some((i, f)) => (i, f),
            None => (number, ""),
        };
        if (int_part.is_empty() && frac_part.is_empty()) || frac_part.contains('.') {
            return Err(QuantityError::Format);
        }
        let digits: String = format!("{int_part}{frac_part}");
        let mut mantissa: i128 = 0;
        for b in digits.bytes() {
            mantissa = mantissa
                .checked_mul(10)
                .and_then(|m| m.checked_add(i128::from(b - b'0')))
                .ok_or(QuantityError::Overflow)?;
        }
        // value = mantissa * 10^exp10 * 2^exp2, with exp10 starting at -(fraction digits).
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
            other => {
                let exp = other.strip_prefix('e').or_else(|| other.strip_prefix('E')).ok_or(QuantityError::Suffix)?;
                let unsigned = exp.strip_prefix(['+', '-']).unwrap_or(exp);
                if unsigned.is_empty() || !unsigned.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(QuantityError::Suffix);
                }
                let e: i32 = exp.parse().map_err(|_| QuantityError::Overflow)?;
                exp10 = exp10.checked_add(e).ok_or(QuantityError::Overflow)?;
            }
        }
        // Thousandths: one more factor 10^3, then round up whatever precision is left.
        exp10 += 3;
        let mut numerator = mantissa.checked_shl(exp2).filter(|v| v >> exp2 == mantissa).ok_or(QuantityError::Overflow)?;
        let mut denominator: i128 = 1;
        if exp10 >= 0 {
            let factor = 10i128.checked_pow(exp10 as u32).ok_or(QuantityError::Overflow)?;
            numerator = numerator.checked_mul(factor).ok_or(QuantityError::Overflow)?;
        } else if numerator != 0 {
            // Past 10^38 the value is below one thousandth whatever the mantissa (it has < 39
            // digits), so it rounds up to exactly 1 (or down to 0 when negative).
            denominator = 10i128.checked_pow(exp10.unsigned_abs()).unwrap_or(i128::MAX);
        }
        let magnitude = if negative {
            // Rounding toward +inf truncates negative values.
            -(numerator / denominator)
        } else {
            numerator / denominator + i128::from(numerator % denominator != 0)
        };
        Ok(Quantity { milli: magnitude })
    }

    /// The quantity in thousandths, rounded up (`MilliValue()`).
    pub fn milli(self) -> i128 {
        self.milli
    }

    /// The quantity in whole units, rounded up (`Value()`).
    pub fn value(self) -> i128 {
        self.milli.div_euclid(1000) + i128::from(self.milli.rem_euclid(1000) != 0)
    }

    pub fn is_zero(self) -> bool {
        self.milli == 0
    }
}

impl std::ops::Add for Quantity {
    type Output = Quantity;
    fn add(self, other: Quantity) -> Quantity {
        Quantity { milli: self.milli.saturating_add(other.milli) }
    }
}

impl std::ops::AddAssign for Quantity {
    fn add_assign(&mut self, other: Quantity) {
        self.milli = self.milli.saturating_add(other.milli);
    }
}

impl std::ops::Sub for Quantity {
    type Output = Quantity;
    fn sub(self, other: Quantity) -> Quantity {
        Quantity { milli: self.milli.saturating_sub(other.milli) }
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.milli % 1000 == 0 {
            write!(f, "{}", self.milli / 1000)
        } else {
            write!(f, "{}m", self.milli)
        }
    }
}

/// Parse an API quantity. The API server validated every stored quantity, so a string that does
/// not parse can only come from a corrupt object; it counts as zero rather than failing the whole
/// scheduling decision.
pub fn parse_or_zero(q: &k8s_openapi::apimachinery::pkg::api::resource::Quantity) -> Quantity {
    Quantity::parse(&q.0).unwrap_or(Quantity::ZERO)
}
