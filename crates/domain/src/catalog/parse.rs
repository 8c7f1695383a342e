//! The catalog's TOML, checked as a whole: every error says on which line and why.

use std::collections::HashSet;
use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;

use super::{Catalog, Limits, Model, Pricing, Tier};
use crate::{Money, Name};

/// Why a catalog was refused, and where.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct CatalogError {
    pub line: usize,
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[serde(default)]
    models: Vec<Spanned<RawModel>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawModel {
    id: Spanned<String>,
    name: Spanned<String>,
    context_length: Spanned<i64>,
    created: Option<Spanned<i64>>,
    owned_by: Option<Spanned<String>>,
    pricing: RawPricing,
    limits: Spanned<RawLimits>,
    upstream: Spanned<toml::Value>,
    #[serde(default)]
    tiers: Vec<Spanned<RawTier>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPricing {
    input: Spanned<toml::Value>,
    cached_input: Option<Spanned<toml::Value>>,
    output: Spanned<toml::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    rpm: Spanned<i64>,
    tpm: Spanned<i64>,
    rpd: Spanned<i64>,
    tpd: Spanned<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTier {
    id: Spanned<String>,
    name: Spanned<String>,
    monthly_price: Spanned<toml::Value>,
    limits: Spanned<RawLimits>,
    capacity: Option<Spanned<i64>>,
    #[serde(default)]
    sold_out: bool,
}

/// Turns byte offsets into line numbers.
pub(super) struct Lines<'a>(&'a str);

impl Lines<'_> {
    pub(super) fn error(&self, span: Range<usize>, message: impl Into<String>) -> CatalogError {
        let end = span.start.min(self.0.len());
        CatalogError {
            line: 1 + self.0.as_bytes()[..end]
                .iter()
                .filter(|b| **b == b'\n')
                .count(),
            message: message.into(),
        }
    }
}

pub(super) fn parse(text: &str) -> Result<Catalog, CatalogError> {
    let lines = Lines(text);
    let raw: RawCatalog = toml::from_str(text).map_err(|e| {
        let message = e.message().to_owned();
        match e.span() {
            Some(span) => lines.error(span, message),
            None => CatalogError { line: 1, message },
        }
    })?;
    if raw.models.is_empty() {
        return Err(lines.error(
            0..0,
            "the catalog defines no models: add a [[models]] table",
        ));
    }
    let mut ids = HashSet::new();
    let mut models = Vec::with_capacity(raw.models.len());
    for m in raw.models {
        let span = m.span();
        let model = model(&lines, m.into_inner())?;
        if !ids.insert(model.id.clone()) {
            return Err(lines.error(span, format!("model id '{}' is defined twice", model.id)));
        }
        models.push(model);
    }
    Ok(Catalog { models })
}

fn model(lines: &Lines<'_>, m: RawModel) -> Result<Model, CatalogError> {
    let id = identifier(lines, "model id", m.id)?;
    let name = name(lines, m.name)?;
    let context_length = positive(lines, "context_length", &m.context_length)?;
    let created = match m.created {
        Some(c) if *c.get_ref() < 0 => {
            return Err(lines.error(c.span(), "created must be Unix seconds, not negative"))
        }
        Some(c) => c.into_inner(),
        None => 0,
    };
    let owned_by = match m.owned_by {
        Some(o) => identifier(lines, "owned_by", o)?,
        None => "tollgate".to_owned(),
    };
    let input = price(lines, "pricing.input", &m.pricing.input)?;
    let output = price(lines, "pricing.output", &m.pricing.output)?;
    let cached_input = match &m.pricing.cached_input {
        Some(c) => {
            let cached = price(lines, "pricing.cached_input", c)?;
            if cached > input {
                return Err(lines.error(
                    c.span(),
                    "pricing.cached_input must not be more than pricing.input",
                ));
            }
            cached
        }
        None => input,
    };
    let limits = limits(lines, &m.limits)?;
    let upstream_span = m.upstream.span();
    let upstream = super::upstream::parse(lines, upstream_span, m.upstream.into_inner())?;
    let mut tier_ids = HashSet::new();
    let mut tiers = Vec::with_capacity(m.tiers.len());
    for t in m.tiers {
        let span = t.span();
        let tier = tier(lines, t.into_inner())?;
        if !tier_ids.insert(tier.id.clone()) {
            return Err(lines.error(
                span,
                format!("tier id '{}' is defined twice for model '{id}'", tier.id),
            ));
        }
        tiers.push(tier);
    }
    Ok(Model {
        id,
        name,
        context_length,
        created,
        owned_by,
        pricing: Pricing {
            input,
            cached_input,
            output,
        },
        limits,
        upstream,
        tiers,
    })
}

fn tier(lines: &Lines<'_>, t: RawTier) -> Result<Tier, CatalogError> {
    let capacity = match &t.capacity {
        Some(c) => Some(positive(lines, "capacity", c).map_err(|e| CatalogError {
            message: format!(
                "{} (omit it for no limit, or set sold_out = true)",
                e.message
            ),
            ..e
        })?),
        None => None,
    };
    Ok(Tier {
        id: identifier(lines, "tier id", t.id)?,
        name: name(lines, t.name)?,
        monthly_price: price(lines, "monthly_price", &t.monthly_price)?,
        limits: limits(lines, &t.limits)?,
        capacity,
        sold_out: t.sold_out,
    })
}

/// Model and tier ids appear in API requests: letters, digits and `. _ : / -`, 1–100 long.
fn identifier(lines: &Lines<'_>, what: &str, raw: Spanned<String>) -> Result<String, CatalogError> {
    let ok = !raw.get_ref().is_empty()
        && raw.get_ref().len() <= 100
        && raw
            .get_ref()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b));
    if ok {
        Ok(raw.into_inner())
    } else {
        Err(lines.error(
            raw.span(),
            format!(
                "{what} '{}' must be 1–100 letters, digits or . _ : / -",
                raw.get_ref()
            ),
        ))
    }
}

fn name(lines: &Lines<'_>, raw: Spanned<String>) -> Result<String, CatalogError> {
    Name::parse("name", raw.get_ref())
        .map(|n| n.as_str().to_owned())
        .map_err(|e| lines.error(raw.span(), e.message))
}

fn positive(lines: &Lines<'_>, what: &str, raw: &Spanned<i64>) -> Result<u64, CatalogError> {
    match u64::try_from(*raw.get_ref()) {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(lines.error(
            raw.span(),
            format!(
                "{what} must be a positive whole number, not {}",
                raw.get_ref()
            ),
        )),
    }
}

fn limits(lines: &Lines<'_>, raw: &Spanned<RawLimits>) -> Result<Limits, CatalogError> {
    let l = raw.get_ref();
    Ok(Limits {
        rpm: positive(lines, "limits.rpm", &l.rpm)?,
        tpm: positive(lines, "limits.tpm", &l.tpm)?,
        rpd: positive(lines, "limits.rpd", &l.rpd)?,
        tpd: positive(lines, "limits.tpd", &l.tpd)?,
    })
}

/// Prices are decimal strings (`"0.85"`) or whole numbers; a TOML float is refused, because a
/// binary fraction cannot hold most prices exactly.
fn price(
    lines: &Lines<'_>,
    what: &'static str,
    raw: &Spanned<toml::Value>,
) -> Result<Money, CatalogError> {
    match raw.get_ref() {
        toml::Value::String(s) => {
            Money::parse_usd(what, s).map_err(|e| lines.error(raw.span(), format!("{what}: {}", e.message)))
        }
        toml::Value::Integer(n) if *n >= 0 => Money::parse_usd(what, &n.to_string())
            .map_err(|e| lines.error(raw.span(), format!("{what}: {}", e.message))),
        toml::Value::Float(f) => Err(lines.error(
            raw.span(),
            format!("{what} must be written as a string, e.g. \"{f}\": money is never a floating-point number"),
        )),
        other => Err(lines.error(
            raw.span(),
            format!("{what} must be an amount in USD written as a string like \"0.85\", not {other}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
[[models]]
id = "m1"
name = "Model One"
context_length = 8192
upstream = { base_url = "https://api.example.com/v1/", api_key = "sk-up" }
pricing = { input = "1.25", output = 2 }
limits = { rpm = 1, tpm = 2, rpd = 3, tpd = 4 }

[[models.tiers]]
id = "t1"
name = "Tier"
monthly_price = "10"
limits = { rpm = 5, tpm = 6, rpd = 7, tpd = 8 }
"#;

    #[test]
    fn a_good_catalog_parses_into_exact_amounts() {
        let c = parse(GOOD).unwrap();
        let m = &c.models()[0];
        assert_eq!(m.pricing.input, Money::from_micros(1_250_000));
        assert_eq!(m.pricing.cached_input, Money::from_micros(1_250_000));
        assert_eq!(m.pricing.output, Money::from_micros(2_000_000));
        let super::super::Upstream::Http(up) = &m.upstream else {
            panic!("not http")
        };
        assert_eq!(up.base_urls, ["https://api.example.com/v1"]);
        assert_eq!(up.api_key.as_deref(), Some("sk-up"));
        assert_eq!(m.owned_by, "tollgate");
        assert_eq!(m.tiers[0].capacity, None);
        assert!(!m.tiers[0].sold_out);
        assert_eq!(m.tiers[0].monthly_price, Money::from_micros(10_000_000));
    }

    fn refused(text: &str) -> CatalogError {
        parse(text).expect_err("should be refused")
    }

    #[test]
    fn bad_catalogs_are_refused_with_line_and_reason() {
        let cases: &[(&str, &str, usize, &str)] = &[
            (
                "pricing = { input = \"1.25\"",
                "pricing = { input = 0.85",
                7,
                "floating-point",
            ),
            ("input = \"1.25\"", "input = \"-1\"", 7, "pricing.input"),
            (
                "input = \"1.25\"",
                "input = \"0.0000001\"",
                7,
                "six decimals",
            ),
            (
                "output = 2 }",
                "output = 2, cached_input = \"9\" }",
                7,
                "cached_input",
            ),
            ("rpm = 1,", "rpm = 0,", 8, "limits.rpm must be a positive"),
            ("id = \"m1\"", "id = \"m 1\"", 3, "model id 'm 1'"),
            (
                "name = \"Model One\"",
                "name = \"\"",
                4,
                "Name must not be empty",
            ),
            (
                "context_length = 8192",
                "context_length = -5",
                5,
                "context_length",
            ),
            (
                "upstream = {",
                "upstream = \"openai\" #",
                6,
                "upstream must be",
            ),
            ("base_url = \"https", "base_url = \"ftp", 6, "base_url"),
            (
                "monthly_price = \"10\"",
                "monthly_price = 10.5",
                13,
                "floating-point",
            ),
            (
                "monthly_price = \"10\"",
                "monthly_price = \"10\"\ncapacity = 0",
                14,
                "capacity",
            ),
            (
                "name = \"Tier\"",
                "name = \"Tier\"\nlimit = 3",
                13,
                "unknown field `limit`",
            ),
            (
                "context_length = 8192\n",
                "",
                2,
                "missing field `context_length`",
            ),
            ("[[models.tiers]]", "[[models.tiers]\n", 10, ""),
        ];
        for (from, to, line, reason) in cases {
            assert!(GOOD.contains(from), "{from}");
            let text = GOOD.replacen(from, to, 1);
            let err = refused(&text);
            assert_eq!(err.line, *line, "{to}: {err}");
            assert!(err.message.contains(reason), "{to}: {err}");
        }
    }

    #[test]
    fn duplicates_and_emptiness_are_refused() {
        let twice = format!(
            "{GOOD}\n{}",
            &GOOD[GOOD.find("[[models]]").unwrap()..GOOD.find("[[models.tiers]]").unwrap()]
        );
        let err = refused(&twice);
        assert!(err.message.contains("'m1' is defined twice"), "{err}");
        assert_eq!(err.line, 16, "{err}");
        let tier_twice = format!(
            "{GOOD}\n{}",
            &GOOD[GOOD.find("[[models.tiers]]").unwrap()..]
        );
        assert!(refused(&tier_twice)
            .message
            .contains("tier id 't1' is defined twice"));
        assert!(refused("").message.contains("no models"));
        assert!(refused("title = 1").message.contains("unknown field"));
    }
}
