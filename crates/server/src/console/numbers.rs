//! Numbers as console pages show them (issue 14, bug 13): money and big counts with thousands
//! separators — `$10,000.00`, `500,000,000`. Forms read them back (`charge_pages::plain_amount`).

use tollgate_domain::Money;

/// An amount in USD without the sign: `10,000.00`, `0.000125`, `-1,500.00`.
pub fn usd(amount: Money) -> String {
    let plain = amount.to_usd_string();
    let (sign, unsigned) = plain
        .strip_prefix('-')
        .map_or(("", plain.as_str()), |rest| ("-", rest));
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    format!("{sign}{}.{fraction}", group(whole))
}

/// An amount with its sign: `$10,000.00`.
pub fn dollars(amount: Money) -> String {
    format!("${}", usd(amount))
}

/// A count: `500,000,000`. Also the templates' `thousands` filter.
pub fn count(n: impl Into<i128>) -> String {
    let n: i128 = n.into();
    let digits = n.unsigned_abs().to_string();
    let sign = if n < 0 { "-" } else { "" };
    format!("{sign}{}", group(&digits))
}

/// `1234567` → `1,234,567` (ASCII digits only).
fn group(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        let m = Money::from_micros;
        assert_eq!(usd(m(10_000_000_000)), "10,000.00");
        assert_eq!(usd(m(999_990_000)), "999.99");
        assert_eq!(usd(m(125)), "0.000125");
        assert_eq!(usd(m(-1_500_000_000)), "-1,500.00");
        assert_eq!(dollars(m(1_234_567_890_000)), "$1,234,567.89");
        assert_eq!(count(500_000_000), "500,000,000");
        assert_eq!(count(999), "999");
        assert_eq!(count(0), "0");
        assert_eq!(count(-1000), "-1,000");
        assert_eq!(count(i64::MIN), "-9,223,372,036,854,775,808");
        assert_eq!(count(u64::MAX), "18,446,744,073,709,551,615");
    }
}
